#!/usr/bin/python3
"""Results of two nmf_mpi binaries on the same runs, side by side: the check that a refactoring changed no result.

Runs every configuration below with --before and --after (the same arguments, ranks and seeds) and compares the
summaries: the final relative error, every evaluated iteration's relative error, the iteration count and stop reason,
the held-out errors of a cross-validation sweep and the chosen k, and each restart's error. Prints the largest
relative difference per configuration and overall; exits 1 if any exceeds --rtol (default 1e-12) or a run fails.

Configurations (the solvers' targets in bench_quality.py, plus the paths a refactoring of the loop can break):
  planted 400 x 300 rank 10 (bench_quality's ranks part), k = 10, 30 iterations, every solver at P = 1, 2, 4;
  planted 2000 x 1500 rank 10 (seed 1), k = 10, 300 iterations, bpp and hals at P = 2;
  Fashion-MNIST (if present) k = 20, 200 iterations, every solver at P = 2;
  a sparse 2000 x 1000 Matrix Market file (1% stored), hals, mu and kaczmarz at P = 2 and 4;
  --tol-pg, --eval-every, penalties, --restarts with --groups, and choosing k by cross-validation.

With --speed R it times instead: dense 4000 x 3000 and sparse 20000 x 10000 (1% stored) problems, k = 20, 30
iterations, hals, bpp and kaczmarz at P = 1 and 2, each binary R times, alternating before/after so that the
shared machine's slow spells hit both; it prints the medians of seconds_per_iteration and their ratio
after / before (the before binary is the reference measured in the same run).

usage: bench/compare_results.py --before OLD/nmf_mpi --after NEW/nmf_mpi [--workdir DIR] [--rtol 1e-12]
                                [--speed R] [--only TEXT]
"""
import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import FASHION, cached_npy, planted_factors_product, run_nmf_summary  # noqa: E402

import numpy as np

ALGOS = ("als", "bpp", "hals", "mu", "kaczmarz")


def planted_block(rows, cols, seed):
    """The top-left rows x cols of bench_quality's planted 2000 x 1500 rank-10 matrix of `seed`."""
    return planted_factors_product(np.random.default_rng(seed), (2000, 1500), 10)[:rows, :cols]


def noisy_rank4(seed):
    rng = np.random.default_rng(seed)
    x = planted_factors_product(rng, (300, 240), 4)
    return np.clip(x + 0.05 * x.std() * rng.standard_normal(x.shape), 0, None)


def uniform_dense(rows, cols, seed):
    return np.random.default_rng(seed).random((rows, cols))


def planted(workdir, shape, seed):
    return cached_npy(workdir, f"planted_{shape[0]}x{shape[1]}_s{seed}", planted_block, shape[0], shape[1], seed)


def noisy_planted(workdir):
    return cached_npy(workdir, "noisy_planted_300x240_r4", noisy_rank4, 7)


def sparse_mtx(workdir):
    path = workdir / "sparse_2000x1000_1pct.mtx"
    if not path.exists():
        rng = np.random.default_rng(3)
        n, m, nnz = 2000, 1000, 20000
        flat = rng.choice(n * m, size=nnz, replace=False)
        values = rng.random(nnz) * 5 + 0.1
        lines = [f"{i // m + 1} {i % m + 1} {v!r}" for i, v in zip(flat, values)]
        partial = path.with_name(path.name + ".partial")
        partial.write_text("%%MatrixMarket matrix coordinate real general\n"
                           f"{n} {m} {nnz}\n" + "\n".join(lines) + "\n")
        partial.replace(path)
    return path


def configurations(workdir):
    small = planted(workdir, (400, 300), 1)
    for algo in ALGOS:
        for ranks in (1, 2, 4):
            yield f"planted400 {algo} P={ranks}", ranks, ["-i", small, "-k", 10, "--iters", 30, "--tol", 0,
                                                          "--algo", algo]
    large = planted(workdir, (2000, 1500), 1)
    for algo in ("bpp", "hals"):
        yield f"planted2000 {algo} P=2", 2, ["-i", large, "-k", 10, "--iters", 300, "--tol", 0, "--algo", algo]
    if FASHION.exists():
        for algo in ALGOS:
            yield f"fashion k=20 {algo} P=2", 2, ["-i", FASHION, "-k", 20, "--iters", 200, "--tol", 0, "--algo", algo]
    sparse = sparse_mtx(workdir)
    for algo in ("hals", "mu", "kaczmarz"):
        for ranks in (2, 4):
            yield f"sparse {algo} P={ranks}", ranks, ["-i", sparse, "-k", 8, "--iters", 40, "--tol", 0,
                                                      "--algo", algo]
    yield "tol-pg bpp P=2", 2, ["-i", small, "-k", 10, "--iters", 200, "--tol", 0, "--tol-pg", 1e-4,
                                "--algo", "bpp"]
    yield "tol hals P=2", 2, ["-i", small, "-k", 10, "--iters", 500, "--tol", 1e-7, "--algo", "hals"]
    yield "eval-every 3 hals P=2", 2, ["-i", small, "-k", 10, "--iters", 20, "--tol", 0, "--eval-every", 3,
                                       "--algo", "hals"]
    yield "eval-every 4 kaczmarz P=2", 2, ["-i", small, "-k", 10, "--iters", 22, "--tol", 0, "--eval-every", 4,
                                           "--algo", "kaczmarz"]
    yield "penalties hals P=2", 2, ["-i", small, "-k", 10, "--iters", 30, "--tol", 0, "--l1-A", 0.5, "--l2-S", 0.1,
                                    "--algo", "hals"]
    yield "restarts 4 groups 2 bpp P=4", 4, ["-i", small, "-k", 10, "--iters", 20, "--tol", 0, "--restarts", 4,
                                             "--groups", 2, "--algo", "bpp"]
    noisy = noisy_planted(workdir)
    for algo in ("hals", "als"):
        yield f"cross-validation -k 2:6 {algo} P=2", 2, ["-i", noisy, "-k", "2:6", "--iters", 60, "--tol", 0,
                                                         "--algo", algo]


def numbers(summary):
    """The results a refactoring must keep, as (name, value) pairs."""
    out = [("relative_error", summary["relative_error"]), ("iterations", summary["iterations"])]
    out += [(f"history[{h['iteration']}]", h["relative_error"]) for h in summary["history"]]
    for h in summary["history"]:
        if "projected_gradient" in h:
            out.append((f"projected_gradient[{h['iteration']}]", h["projected_gradient"]))
    for r in summary.get("restarts", []):
        out.append((f"restart {r['index']}", r["relative_error"]))
    selection = summary.get("rank_selection")
    if selection:
        out.append(("chosen k", selection["chosen"]))
        for e in selection["entries"]:
            out += [(f"k={e['k']} train", e["train_error"]), (f"k={e['k']} held-out", e["heldout_error"])]
    return out


def relative_difference(a, b):
    if a == b:
        return 0.0
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def compare(name, before, after):
    if isinstance(before, str) or isinstance(after, str):
        return math.inf, f"a run failed: {before if isinstance(before, str) else after}"
    if before["stop_reason"] != after["stop_reason"]:
        return math.inf, f"stop reason {before['stop_reason']} -> {after['stop_reason']}"
    old, new = dict(numbers(before)), dict(numbers(after))
    if old.keys() != new.keys():
        return math.inf, f"different records: {sorted(set(old) ^ set(new))[:6]}"
    worst = max(old, key=lambda key: relative_difference(old[key], new[key]))
    return relative_difference(old[worst], new[worst]), f"largest at {worst}: {old[worst]!r} -> {new[worst]!r}"


def speed_inputs(workdir):
    dense = cached_npy(workdir, "dense_4000x3000", uniform_dense, 4000, 3000, 11)
    path = workdir / "sparse_20000x10000_1pct.mtx"
    if not path.exists():
        rng = np.random.default_rng(12)
        n, m, nnz = 20000, 10000, 2000000
        flat = np.unique(rng.integers(0, n * m, size=nnz))
        rows, cols, values = flat // m + 1, flat % m + 1, rng.random(flat.size) + 0.01
        partial = path.with_name(path.name + ".partial")
        with open(partial, "w") as out:
            out.write(f"%%MatrixMarket matrix coordinate real general\n{n} {m} {flat.size}\n")
            np.savetxt(out, np.column_stack([rows, cols, values]), fmt="%d %d %.17g")
        partial.replace(path)
    return {"dense": dense, "sparse": path}


def compare_speed(args):
    import statistics
    inputs = speed_inputs(args.workdir)
    print(f"{'problem':8s} {'algo':9s} {'P':>2s} {'before ms':>10s} {'after ms':>10s} {'after/before':>13s}")
    for problem, path in inputs.items():
        for algo in ("hals", "bpp", "kaczmarz"):
            for ranks in (1, 2):
                arguments = ["-i", path, "-k", 20, "--iters", 30, "--tol", 0, "--algo", algo, "--quiet"]
                times = {"before": [], "after": []}
                for repeat in range(args.speed):
                    for label, binary in (("before", args.before), ("after", args.after)):
                        summary = run_nmf_summary(binary, ranks, arguments, args.workdir / "speed" / label)
                        if isinstance(summary, str):
                            sys.exit(summary)
                        times[label].append(1000 * summary["seconds_per_iteration"])
                before, after = statistics.median(times["before"]), statistics.median(times["after"])
                print(f"{problem:8s} {algo:9s} {ranks:2d} {before:10.2f} {after:10.2f} {after / before:13.3f}",
                      flush=True)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, type=Path)
    parser.add_argument("--after", required=True, type=Path)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/nmf_compare_results"))
    parser.add_argument("--rtol", type=float, default=1e-12)
    parser.add_argument("--speed", type=int, default=0, help="time instead of comparing results, R runs each")
    parser.add_argument("--only", default="", help="only the configurations whose name contains this text")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.speed:
        return compare_speed(args)
    worst_overall, failed = 0.0, 0
    for name, ranks, arguments in configurations(args.workdir):
        if args.only not in name:
            continue
        tag = name.replace(" ", "_").replace("=", "").replace(":", "-")
        before = run_nmf_summary(args.before, ranks, arguments + ["--quiet"], args.workdir / "before" / tag)
        after = run_nmf_summary(args.after, ranks, arguments + ["--quiet"], args.workdir / "after" / tag)
        difference, detail = compare(name, before, after)
        ok = difference <= args.rtol
        failed += not ok
        worst_overall = max(worst_overall, difference)
        final = after["relative_error"] if isinstance(after, dict) else float("nan")
        print(f"{'ok  ' if ok else 'FAIL'} {name:38s} error {final:.10g}  max rel. diff {difference:.2e}  ({detail})",
              flush=True)
    print(f"\nlargest relative difference over every configuration: {worst_overall:.3g} (tolerance {args.rtol:g}); "
          f"{failed} configuration(s) over it")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
