#!/usr/bin/python3
"""Convergence benchmark: relative error against wall time for kaczmarz, als and hals on Fashion-MNIST.

Fashion-MNIST t10k images (10000 x 784, uint8, dense; ../shared/data/fashion-mnist/ relative to the repo root;
skipped with a message if absent), factored with -k 20 --iters 200 --tol 0 --seed 1 by each --algos solver
(default kaczmarz, als, hals) at each --ranks count (default 1 and 2; the machine has 2 cores). Every run writes
its summary with -o into --workdir, where it is kept; the history in it (one entry per iteration: relative
error and the wall time of the iterations so far, rank 0's clock, input reading excluded) is what is measured.

Reported per (algo, P):
  final      the relative error after the last iteration
  s/iter     seconds per iteration (the summary's seconds_per_iteration), median over --repeats runs; with
             --repeats > 1 also the spread (max - min) / median
  t(e)       seconds until the error first reaches e (the first history entry at or below e), for
             e = 0.40, 0.35, 0.33, 0.325, 0.32; "-" if the run never gets there
  e@t        the error reached after t = 1, 2 and 5 seconds (the last history entry at or before t); marked "*"
             when the run had already finished by then (the value is then its final error)
With repeats, t(e) and e@t are medians over the repeats too. The errors of repeated runs are deterministic
(same seed, same reduction order); the script checks that and says so if they are not.

Then, at each P, the cost of one kaczmarz outer iteration in ALS iterations (ratio of the median seconds per
iteration): the default --kaczmarz-steps (a quarter sweep per subproblem) is meant to make them "about equal".

Last, scripts/plot_convergence.py draws all the summaries (for each (algo, P) the repeat with the median
seconds per iteration) into --plot: error against seconds and against iterations, log scale.

Everything runs with one BLAS thread per process (OPENBLAS_NUM_THREADS=1).

usage: bench/bench_convergence.py [--build-dir build] [--workdir /tmp/nmf_bench_convergence] [--iters 200]
                                  [--k 20] [--ranks 1,2] [--algos kaczmarz,als,hals] [--repeats 1]
                                  [--plot bench/results/convergence_fashion_k20.png]
"""
import argparse
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import EXIT_SKIPPED, FASHION, ROOT, nmf_binary, run_nmf_summary  # noqa: E402

PLOT_SCRIPT = ROOT / "scripts" / "plot_convergence.py"
DEFAULT_PLOT = ROOT / "bench" / "results" / "convergence_fashion_k{k}.png"  # {k}: --k (20 by default)

ERROR_TARGETS = (0.40, 0.35, 0.33, 0.325, 0.32)  # t(e): seconds to first reach each
TIME_POINTS = (1.0, 2.0, 5.0)  # e@t: error reached by each
SEED = 1


def run_nmf(binary, ranks, arguments, prefix):
    """Runs nmf_mpi quietly under mpirun; returns its summary (a dict), or a string describing the failure."""
    return run_nmf_summary(binary, ranks, list(arguments) + ["--quiet"], prefix)


def time_to_reach(history, target):
    """Seconds of the first history entry with relative_error <= target, or None if none has."""
    for entry in history:
        if entry["relative_error"] <= target:
            return entry["seconds"]
    return None


def error_at(history, seconds):
    """(relative error of the last history entry at or before `seconds`, whether the run had ended by then)."""
    reached = [entry for entry in history if entry["seconds"] <= seconds]
    return reached[-1]["relative_error"], len(reached) == len(history)


def median_or_none(values):
    """Median of the values, or None if any run never got there (then none did: the errors are deterministic)."""
    return None if any(v is None for v in values) else statistics.median(values)


def measure(binary, algo, ranks, args, workdir):
    """Runs (algo, ranks) --repeats times; returns the row of the table as a dict, or a failure string."""
    summaries, paths = [], []
    for repeat in range(args.repeats):
        prefix = workdir / f"fashion_{algo}_k{args.k}_p{ranks}_r{repeat}"
        summary = run_nmf(binary, ranks, ["-i", str(FASHION), "-k", str(args.k), "--algo", algo, "--iters",
                                          str(args.iters), "--tol", "0", "--seed", str(SEED)], prefix)
        if isinstance(summary, str):
            return summary
        summaries.append(summary)
        paths.append(Path(f"{prefix}_summary.json"))
    per_iteration = [s["seconds_per_iteration"] for s in summaries]
    median = statistics.median(per_iteration)
    # the repeat whose seconds per iteration is closest to the median stands for (algo, ranks) in the plot
    typical = min(range(len(summaries)), key=lambda i: abs(per_iteration[i] - median))
    finals = [s["relative_error"] for s in summaries]
    at_time = [[error_at(s["history"], t) for s in summaries] for t in TIME_POINTS]
    return {
        "algo": algo,
        "ranks": ranks,
        "grid": "x".join(map(str, summaries[0]["grid"])),
        "iterations": summaries[0]["iterations"],
        "final": finals[typical],
        "final_spread": max(finals) - min(finals),
        "per_iteration": median,
        "per_iteration_spread": (max(per_iteration) - min(per_iteration)) / median if median > 0 else 0.0,
        "time_to": [median_or_none([time_to_reach(s["history"], e) for s in summaries]) for e in ERROR_TARGETS],
        "error_at": [(statistics.median(e for e, _ in runs), all(ended for _, ended in runs)) for runs in at_time],
        "summary": paths[typical],
        "history": summaries[typical]["history"],
        "update_share": (summaries[typical]["phase_seconds"]["update"]["max"] /
                         summaries[typical]["iteration_seconds"]) if summaries[typical]["iteration_seconds"] else 0.0,
    }


def print_table(rows, repeats):
    spread = repeats > 1
    header = (f"{'algo':<9} {'P':>2} {'grid':>5} {'final err':>9} {'s/iter':>8}" +
              (f" {'spread':>7}" if spread else "") +
              "  " + " ".join(f"{'t(' + format(e, 'g') + ')':>8}" for e in ERROR_TARGETS) +
              "  " + " ".join(f"{'e@' + format(t, 'g') + 's':>8}" for t in TIME_POINTS))
    print(header)
    print("-" * len(header))
    for row in rows:
        if isinstance(row, tuple):  # (algo, ranks, failure)
            print(f"{row[0]:<9} {row[1]:>2} FAILED: {row[2]}")
            continue
        line = (f"{row['algo']:<9} {row['ranks']:>2} {row['grid']:>5} {row['final']:>9.5f} "
                f"{row['per_iteration'] * 1e3:>5.1f} ms")
        if spread:
            line += f" {row['per_iteration_spread']:>7.1%}"
        line += "  " + " ".join(f"{'-' if t is None else format(t, '.2f') + ' s':>8}" for t in row["time_to"])
        line += "  " + " ".join(f"{format(e, '.4f') + ('*' if ended else ' '):>8}" for e, ended in row["error_at"])
        print(line)
    print(f"(s/iter: median of {repeats} run{'s' if repeats > 1 else ''}"
          + ("; spread: (max - min) / median over the repeats" if spread else "")
          + "; t(e): seconds until the relative error first reaches e, '-' never; e@t: error reached by t seconds, "
          "'*' the run had already ended -- its final error; all times are iteration wall time on rank 0)")
    varying = [row for row in rows if isinstance(row, dict) and row["final_spread"] > 0]
    if repeats > 1:
        if varying:
            for row in varying:
                print(f"note: {row['algo']} at P = {row['ranks']}: final errors differ across repeats by "
                      f"{row['final_spread']:.3e} (expected to be deterministic)")
        else:
            print("final errors identical across repeats (deterministic): only the timings vary")


def print_kaczmarz_cost(rows, ranks_list):
    measured = {(row["algo"], row["ranks"]): row for row in rows if isinstance(row, dict)}
    print("\n== cost of one kaczmarz outer iteration in ALS iterations (median s/iter ratio; the default "
          "--kaczmarz-steps claims 'about equal') ==")
    for ranks in ranks_list:
        kaczmarz, als = measured.get(("kaczmarz", ranks)), measured.get(("als", ranks))
        if not kaczmarz or not als:
            print(f"P = {ranks}: needs both kaczmarz and als in --algos (and both runs to succeed)")
            continue
        ratio = kaczmarz["per_iteration"] / als["per_iteration"]
        print(f"P = {ranks}: kaczmarz {kaczmarz['per_iteration'] * 1e3:.1f} ms / als "
              f"{als['per_iteration'] * 1e3:.1f} ms = {ratio:.2f}  (update phase, slowest rank: "
              f"{kaczmarz['update_share']:.0%} of kaczmarz's iteration time, {als['update_share']:.0%} of als's)")


def draw(rows, args, plot_path):
    """Runs scripts/plot_convergence.py on the summaries. The y range runs from below the lowest error to
    just above the highest one outside iterations 1 and 2, so an overshoot of the first steps (ALS's clamped
    first step reaches about 2) does not squash the rest; what is cut off is named."""
    measured = [row for row in rows if isinstance(row, dict)]
    if not measured:
        print("no summaries to plot")
        return False
    lowest = min(entry["relative_error"] for row in measured for entry in row["history"])
    top = 1.03 * max(entry["relative_error"] for row in measured for entry in row["history"]
                     if entry["iteration"] not in (1, 2))
    if lowest > 0:
        scale = 10.0 ** math.floor(math.log10(0.97 * lowest))
        bottom = math.floor(0.97 * lowest / scale) * scale  # rounded down to one digit, where a tick is labelled
    else:  # an exact fit: no log axis reaches it, let the plot choose
        bottom = top = None
    plot_path.parent.mkdir(parents=True, exist_ok=True)
    title = (f"Fashion-MNIST 10000 x 784, k = {args.k}, --iters {args.iters} --tol 0 --seed {SEED} "
             f"(OPENBLAS_NUM_THREADS=1, {os.cpu_count()} cores)")
    # run through its shebang (/usr/bin/python3, which has matplotlib) rather than this interpreter
    y_range = ["--ylim", f"{bottom:.4g}", f"{top:.4g}"] if top else []
    command = ([str(PLOT_SCRIPT), "--title", title] + y_range + ["-o", str(plot_path)] +
               [str(row["summary"]) for row in measured])
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"plotting failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
        return False
    print(f"\nplot: {plot_path}" + (f" (y from {bottom:.3g} to {top:.3g})" if top else ""))
    for row in measured if top else []:
        above = [entry for entry in row["history"] if entry["relative_error"] > top]
        if above:
            worst = max(above, key=lambda entry: entry["relative_error"])
            print(f"  off the top: {row['algo']} at P = {row['ranks']}, {len(above)} point(s), up to "
                  f"{worst['relative_error']:.3g} at iteration {worst['iteration']}")
    return True


def positive_ints(text):
    try:
        values = [int(v) for v in text.split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default=str(ROOT / "build"))
    parser.add_argument("--workdir", default="/tmp/nmf_bench_convergence", help="the summaries are kept here")
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--ranks", type=positive_ints, default=[1, 2], help="comma-separated rank counts")
    parser.add_argument("--algos", default="kaczmarz,als,hals", help="comma-separated nmf_mpi --algo names")
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs per (algo, P); the table uses the median seconds per iteration")
    parser.add_argument("--plot", default=None,
                        help=f"PNG to draw (default {DEFAULT_PLOT.relative_to(ROOT)} with {{k}} = --k); '' skips it")
    args = parser.parse_args()
    algos = [a for a in args.algos.split(",") if a]
    if not algos:
        parser.error("--algos is empty")
    if args.repeats < 1 or args.iters < 1 or args.k < 1:
        parser.error("--repeats, --iters and --k must be >= 1")
    binary = nmf_binary(args.build_dir)
    if not FASHION.exists():
        print(f"SKIP: {FASHION} is absent")
        return EXIT_SKIPPED  # not a pass: nothing was measured
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if args.plot is None:
        plot_path = Path(str(DEFAULT_PLOT).format(k=args.k))
    else:
        plot_path = Path(args.plot) if args.plot else None

    print(f"nmf_mpi: {binary}; workdir {workdir}; OPENBLAS_NUM_THREADS=1; {os.cpu_count()} cores")
    print(f"\n== Fashion-MNIST 10000 x 784 (dense), k = {args.k}, --iters {args.iters} --tol 0 --seed {SEED}; "
          f"{', '.join(algos)} at P = {', '.join(map(str, args.ranks))}; {args.repeats} run(s) each ==")
    started = time.perf_counter()
    rows = []
    for algo in algos:
        for ranks in args.ranks:
            row = measure(binary, algo, ranks, args, workdir)
            rows.append(row if isinstance(row, dict) else (algo, ranks, row))
    print_table(rows, args.repeats)
    if "kaczmarz" in algos:
        print_kaczmarz_cost(rows, args.ranks)
    plotted = draw(rows, args, plot_path) if plot_path else True
    print(f"({time.perf_counter() - started:.0f} s in all; summaries in {workdir})")
    failed = any(isinstance(row, tuple) for row in rows)
    return 1 if failed or not plotted else 0


if __name__ == "__main__":
    sys.exit(main())
