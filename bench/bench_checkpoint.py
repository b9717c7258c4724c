#!/usr/bin/python3
"""Checkpoint cost: seconds per checkpoint written and per checkpoint read (--resume) against seconds per iteration,
at P = 1 and P = 4.

Plain NMF (the default, --mode nmf): on the synthetic 10^7-nonzero Matrix Market file of the memory benchmark
(10^6 x 2*10^5, bench/make_sparse_mtx.py; reused from --workdir if it is there), k = 10, hals, 8 iterations,
--tol 0. A checkpoint holds A (10^6 x 10) and S (2*10^5 x 10): 96 MB of doubles.

Recommender (--mode recommender): on the synthetic rating file of bench/make_ratings.py (power-law degrees;
--ratings of them, default 10^7, over 10^6 users and 10^5 items, cached in --workdir), k = 10, hals, --test-fraction
0.2. A checkpoint holds A, S, both biases and the residual of every training rating (8 bytes each).

For both: a run without checkpoints gives the seconds per iteration (the summary's), a run with --checkpoint-every 2
the seconds of each checkpoint (nmf_mpi's "checkpoint: ... (S s)" lines: 4 per run, the last at the end), and a run
with --resume from that directory (2 more iterations) the seconds of reading it ("--resume: ... (read in S s)").
Each is repeated --repeats times; medians, and their ratios to the iteration, measured in the same run on the same
machine. The writes are every rank at its offset, fsynced, and renamed.

usage: bench/bench_checkpoint.py [--mode nmf|recommender] [--ratings N] [--build-dir build] [--repeats 3]
                                 [--workdir /tmp/nmf_bench]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import MPI_ENV, ROOT, nmf_binary, run_nmf_summary  # noqa: E402
from make_ratings import cached_ratings  # noqa: E402

ITERATIONS = 8


def run_logged(binary, ranks, arguments):
    """stdout of `mpirun -np ranks nmf_mpi arguments` (which must succeed)."""
    command = (["mpirun", "-q", "--oversubscribe", "-np", str(ranks), str(binary)] + [str(a) for a in arguments] +
               ["--log-every", "1000"])
    return subprocess.run(command, env=MPI_ENV, capture_output=True, text=True, check=True).stdout


def measure(binary, ranks, common, workdir):
    """(seconds per iteration, per checkpoint written, per checkpoint read) over one repeat, as lists."""
    summary = run_nmf_summary(binary, ranks, common + ["--iters", ITERATIONS, "--quiet"], workdir / f"plain_np{ranks}")
    if isinstance(summary, str):
        sys.exit(summary)
    checkpoints = workdir / f"checkpoints_np{ranks}"
    shutil.rmtree(checkpoints, ignore_errors=True)
    written = run_logged(binary, ranks, common + ["--iters", ITERATIONS, "--checkpoint-dir", checkpoints,
                                                  "--checkpoint-every", 2])
    resumed = run_logged(binary, ranks, common + ["--iters", ITERATIONS + 2, "--resume", checkpoints])
    shutil.rmtree(checkpoints, ignore_errors=True)
    write_seconds = [float(s) for s in re.findall(r"^checkpoint: iteration \d+ in .* \(([0-9.]+) s\)$", written, re.M)]
    read_seconds = [float(s) for s in re.findall(r"^--resume: iteration \d+ from .*\(read in ([0-9.]+) s\)$", resumed,
                                                 re.M)]
    if len(read_seconds) != 1:
        sys.exit(f"the resumed run did not resume:\n{resumed}")
    return [summary["seconds_per_iteration"]], write_seconds, read_seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("nmf", "recommender"), default="nmf")
    parser.add_argument("--ratings", type=int, default=10_000_000, help="--mode recommender: ratings in the file")
    parser.add_argument("--build-dir", default=str(ROOT / "build"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", default=None, help="keeps the generated input between runs")
    args = parser.parse_args()
    binary = nmf_binary(args.build_dir)
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(args.workdir or scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        if args.mode == "nmf":
            matrix = workdir / "sparse_1e7.mtx"
            if not matrix.exists():
                subprocess.run([sys.executable, str(ROOT / "bench" / "make_sparse_mtx.py"), str(matrix), "1000000",
                                "200000", "10000000"], check=True)
            common = ["-i", matrix, "-k", 10, "--algo", "hals", "--tol", 0]
        else:
            users, items = max(1000, args.ratings // 10), max(100, args.ratings // 100)
            ratings = cached_ratings(workdir, args.ratings, users, items)
            print(f"ratings: {ratings} ({args.ratings} ratings, {users} users, {items} items)")
            common = ["-i", ratings, "-k", 10, "--algo", "hals", "--tol", 0, "--test-fraction", 0.2, "--seed", 1]
        print(f"mode {args.mode}; load average before: {os.getloadavg()}")
        print(f"{'P':>3} {'s / iteration':>14} {'s / checkpoint':>15} {'ratio':>7} {'s / resume read':>16} {'ratio':>7}"
              f"   (medians of {args.repeats})")
        for ranks in (1, 4):
            iteration, write, read = [], [], []
            for _ in range(args.repeats):
                for total, new in zip((iteration, write, read), measure(binary, ranks, common, workdir)):
                    total += new
            it, wr, rd = (statistics.median(v) for v in (iteration, write, read))
            print(f"{ranks:>3} {it:>14.3f} {wr:>15.3f} {wr / it:>7.2f} {rd:>16.3f} {rd / it:>7.2f}"
                  f"   (checkpoints timed: {len(write)} written, {len(read)} read)")
        print(f"load average after: {os.getloadavg()}")
        print("(P = 4 shares 2 cores here: oversubscribed)")


if __name__ == "__main__":
    main()
