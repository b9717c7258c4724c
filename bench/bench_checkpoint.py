#!/usr/bin/python3
"""Checkpoint cost: seconds per checkpoint against seconds per iteration, at P = 1 and P = 4.

On the synthetic 10^7-nonzero Matrix Market file of the memory benchmark (10^6 x 2*10^5, bench/make_sparse_mtx.py;
reused from --workdir if it is there), k = 10, hals, 8 iterations, --tol 0: a run without checkpoints gives the
seconds per iteration (the summary's), a run with --checkpoint-every 2 the seconds of each checkpoint (nmf_mpi's
"checkpoint: ... (S s)" lines: 4 per run, the last at the end). Both are repeated --repeats times; medians, and
their ratio, measured in the same run on the same machine. A checkpoint holds A (10^6 x 10) and S (2*10^5 x 10):
96 MB of doubles, written by every rank at its offset, fsynced, and renamed.

usage: bench/bench_checkpoint.py [--build-dir build] [--repeats 3] [--workdir /tmp/nmf_bench]
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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default=str(ROOT / "build"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", default=None, help="keeps the generated matrix between runs")
    args = parser.parse_args()
    binary = nmf_binary(args.build_dir)
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(args.workdir or scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        matrix = workdir / "sparse_1e7.mtx"
        if not matrix.exists():
            subprocess.run([sys.executable, str(ROOT / "bench" / "make_sparse_mtx.py"), str(matrix), "1000000",
                            "200000", "10000000"], check=True)
        common = ["-i", matrix, "-k", 10, "--algo", "hals", "--iters", 8, "--tol", 0]
        print(f"load average before: {os.getloadavg()}")
        print(f"{'P':>3} {'s / iteration':>14} {'s / checkpoint':>15} {'ratio':>7}   (medians of {args.repeats})")
        for ranks in (1, 4):
            iteration, checkpoint = [], []
            for repeat in range(args.repeats):
                summary = run_nmf_summary(binary, ranks, common + ["--quiet"], workdir / f"plain_np{ranks}")
                if isinstance(summary, str):
                    sys.exit(summary)
                iteration.append(summary["seconds_per_iteration"])
                checkpoints = workdir / f"checkpoints_np{ranks}"
                shutil.rmtree(checkpoints, ignore_errors=True)
                command = (["mpirun", "-q", "--oversubscribe", "-np", str(ranks), str(binary)] + [str(a) for a in common] +
                           ["--checkpoint-dir", str(checkpoints), "--checkpoint-every", "2", "--log-every", "1000"])
                done = subprocess.run(command, env=MPI_ENV, capture_output=True, text=True, check=True)
                checkpoint += [float(s) for s in re.findall(r"^checkpoint: iteration \d+ in .* \(([0-9.]+) s\)$",
                                                               done.stdout, re.M)]
                shutil.rmtree(checkpoints, ignore_errors=True)
            it, ck = statistics.median(iteration), statistics.median(checkpoint)
            print(f"{ranks:>3} {it:>14.3f} {ck:>15.3f} {ck / it:>7.2f}   (checkpoints timed: {len(checkpoint)})")
        print(f"load average after: {os.getloadavg()}")
        print("(P = 4 shares 2 cores here: oversubscribed)")


if __name__ == "__main__":
    main()
