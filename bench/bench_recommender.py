#!/usr/bin/python3
"""The recommender mode against the issue's targets (README, "Recommending").

For MovieLens latest-small and FilmTrust (../shared/data), a seeded 80/20 split made by bench/split_ratings.py
(seed 1), then nmf_mpi with one fixed setting, chosen before looking at any test set (the issue's serial prototype:
k = 40, lambda = 0.08, lambda_bias = 5, 50 iterations; the defaults of --lambda and --lambda-bias):

    mpirun -np P nmf_mpi -i train -k 40 --iters 50 --tol 0 --test test

on P = 1, 2 and 4 ranks, printing the test RMSE beside LIBMF's figures quoted in the project's issue 10 (measured
there with LIBMF on this kind of machine: squared loss, --nmf, best of a grid chosen on the test set). Then the time
to the target RMSE: the first iteration whose test RMSE meets the target, and the whole-process wall time (mpirun,
reading, iterations; without writing the outputs, which is timed once beside it) of a 2-rank run stopped there, median
of --repeats runs, against 2x LIBMF's 2-thread time from the issue (0.60 s latest-small, 0.16 s FilmTrust). It is
timed under two launcher settings, alternating: Open MPI's defaults and `mpirun --mca pml ob1`, the single-node
setting the README recommends (Open MPI 4.1 starts its default UCX messaging layer in about 0.2 s more here); the
target is judged on the second, and both are printed beside the cost of starting and stopping MPI alone
(`nmf_mpi --version` under the same launcher). The machine's load average is printed before and after: the machine
is shared, and oversubscribed or loaded runs are slow at every collective.

--algo ALGO [ALGO ...] runs the whole measurement for each recommender solver (default: hals), each at its own
defaults (--algo is the only option that changes), and ends with a line per data set comparing their times to
the target.

usage: bench/bench_recommender.py [--build build] [--workdir /tmp/nmf_bench_rec] [--repeats 5] [--algo hals als]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402
from split_ratings import split  # noqa: E402

# (name, file, target test RMSE, LIBMF NMF RMSE, LIBMF bias-only RMSE, LIBMF 2-thread seconds): issue 10's figures.
DATASETS = [
    ("MovieLens latest-small", benchlib.SHARED_DATA / "movielens-latest-small" / "ratings.csv", 0.855, 0.869, 0.864,
     0.60),
    ("FilmTrust", benchlib.SHARED_DATA / "filmtrust" / "ratings.txt", 0.790, 0.812, 0.796, 0.16),
]
SETTING = ["-k", 40, "--iters", 50, "--tol", 0]


def timed_run(binary, ranks, arguments, prefix):
    start = time.monotonic()
    summary = benchlib.run_nmf_summary(binary, ranks, arguments + ["--quiet"], prefix)
    return summary, time.monotonic() - start


MPIRUN = ["mpirun", "-q", "--oversubscribe", "-np", "2"]
SINGLE_NODE = "mpirun --mca pml ob1"
LAUNCHERS = {"mpirun (Open MPI defaults)": MPIRUN, SINGLE_NODE: MPIRUN + ["--mca", "pml", "ob1"]}


def wall_seconds(command):
    start = time.monotonic()
    subprocess.run(command, env=benchlib.MPI_ENV, check=True)
    return time.monotonic() - start


def load():
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=benchlib.ROOT / "build")
    parser.add_argument("--workdir", default="/tmp/nmf_bench_rec")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--algo", nargs="+", default=["hals"], help="recommender solvers to measure (hals, als, ...)")
    args = parser.parse_args()
    binary, workdir = benchlib.prepare(args.build, args.workdir)
    print(f"load average before: {load()}")
    results, skipped = [], []
    times = {}  # (data set, algo) -> median seconds to the target
    for name, path, target, libmf, libmf_bias, libmf_seconds in DATASETS:
        if not path.is_file():
            skipped.append(f"{name}: {path} is not there")
            continue
        suffix = path.suffix
        train, test = workdir / f"{path.parent.name}_train{suffix}", workdir / f"{path.parent.name}_test{suffix}"
        kept, held = split(path, train, test, 0.2, 1)
        for algo in args.algo:
            print(f"\n== {name}, --algo {algo}: {kept} training and {held} test ratings (bench/split_ratings.py, "
                  f"seed 1) ==")
            median = measure(binary, workdir, args.repeats, algo, name, path, train, test, target, libmf, libmf_bias,
                             libmf_seconds, results)
            if median is not None:
                times[(name, algo)] = median
    if len(args.algo) > 1:
        print()
        for name, *_ in DATASETS:
            known = {algo: times[(name, algo)] for algo in args.algo if (name, algo) in times}
            if known:
                print(f"{name}: whole-process seconds to the target on 2 ranks: " +
                      ", ".join(f"{algo} {seconds:.3f}" for algo, seconds in known.items()))
    print(f"\nload average after: {load()}")
    sys.exit(benchlib.report_targets(results, skipped=skipped))


def measure(binary, workdir, repeats, algo, name, path, train, test, target, libmf, libmf_bias, libmf_seconds,
            results):
    """One solver on one data set: the RMSE table on P = 1, 2, 4 and the time to the target on 2 ranks (median of
    `repeats`); returns that median, or None when the target is not reached."""
    tag = f"{path.parent.name}_{algo}"
    label = f"{name} ({algo})"
    print(f"{'P':>3}  {'test RMSE':>9}  {'test MAE':>8}  {'train RMSE':>10}  {'s/iter':>8}  {'wall s':>7}   "
          f"LIBMF NMF {libmf}, bias-only {libmf_bias}; target <= {target}")
    rmse = {}
    history = None
    for ranks in (1, 2, 4):
        summary, wall = timed_run(binary, ranks, ["-i", train, "--test", test, "--algo", algo] + SETTING,
                                  workdir / f"{tag}_p{ranks}")
        if isinstance(summary, str):
            print(summary)
            results.append((f"{label}: P = {ranks} ran", False))
            continue
        rmse[ranks] = summary["rmse_test"]
        if ranks == 2:
            history = summary["history"]
        print(f"{ranks:>3}  {summary['rmse_test']:9.4f}  {summary['mae_test']:8.4f}  {summary['rmse_train']:10.4f}  "
              f"{summary['seconds_per_iteration']:8.4f}  {wall:7.2f}")
        results.append((f"{label}: test RMSE {summary['rmse_test']:.4f} <= {target} at P = {ranks}",
                        summary["rmse_test"] <= target))
    if len(rmse) == 3:
        spread = max(rmse.values()) - min(rmse.values())
        results.append((f"{label}: P = 1, 2, 4 within 0.002 (spread {spread:.5f})", spread <= 0.002))
    if history:
        reached = next((h["iteration"] for h in history if h["rmse_test"] <= target), None)
        if reached is None:
            results.append((f"{label}: the target RMSE is reached at P = 2", False))
            return None
        # Timed without -o (writing and fsync-ing the factor files is not part of reaching the RMSE; on this
        # machine it adds about 1 s), then once with -o for the record. Two launcher settings alternate: Open
        # MPI's defaults, and the single-node setting the README recommends (`--mca pml ob1`: Open MPI 4.1's
        # default UCX messaging layer costs about 0.2 s to start and stop on this machine, shared memory through
        # ob1/vader does not). The target is judged on the single-node setting; both are printed.
        command = [str(binary), "-i", str(train), "--test", str(test), "-k", "40", "--iters", str(reached), "--tol",
                   "0", "--algo", algo, "--quiet"]
        walls = {setting: [] for setting in LAUNCHERS}
        for _ in range(repeats):
            for setting, launcher in LAUNCHERS.items():
                walls[setting].append(wall_seconds(launcher + command))
        summary, with_outputs = timed_run(binary, 2, ["-i", train, "--test", test, "-k", 40, "--iters", reached,
                                                      "--tol", 0, "--algo", algo], workdir / f"{tag}_timed")
        floors = {setting: wall_seconds(launcher + [str(binary), "--version"]) for setting, launcher in LAUNCHERS.items()}
        medians = {setting: statistics.median(values) for setting, values in walls.items()}
        print(f"time to RMSE <= {target} on 2 ranks: iteration {reached}; nmf_mpi's own read "
              f"{summary['read_seconds']:.3f} s, iterations {summary['iteration_seconds']:.3f} s; with -o (default "
              f"launcher) {with_outputs:.3f} s; 2 x LIBMF = {2 * libmf_seconds:.2f} s")
        for setting, values in walls.items():
            print(f"  {setting:<24} whole process median {medians[setting]:.3f} s (runs "
                  f"{', '.join(f'{w:.3f}' for w in values)}); MPI start and stop alone (nmf_mpi --version) "
                  f"{floors[setting]:.3f} s")
        median = medians[SINGLE_NODE]
        results.append((f"{label}: time to target {median:.3f} s ({SINGLE_NODE}) <= 2 x LIBMF's {libmf_seconds} s",
                        median <= 2 * libmf_seconds))
        return median
    return None


if __name__ == "__main__":
    main()
