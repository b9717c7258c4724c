#!/usr/bin/python3
"""Foundation benchmark: ALS speed against the BLAS floor, scaling over ranks, and peak memory per rank.

Everything is measured in the same run on the same machine, and reported as medians and ratios:
  1. Fashion-MNIST (10000 x 784, dense), k = 20, 50 iterations, at P = 1, 2, 4: relative error, seconds per
     iteration, and the ratio to the floor -- the two dgemm products an iteration cannot avoid
     (X S^T and A^T X), timed with NumPy on the same OpenBLAS, one thread.
  2. A synthetic sparse matrix with 10^7 nonzeros in Matrix Market format: the peak RSS of every rank at
     P = 1 and P = 4 (from /usr/bin/time), and the ratio of the largest at P = 4 to the one at P = 1.

usage: bench/bench_foundation.py [--build-dir build] [--repeats 3] [--workdir /tmp/nmf_bench] [--skip-memory]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import FASHION, MPI_ENV, ROOT, nmf_binary  # noqa: E402


def run_nmf(binary, ranks, args, wrap_time=False):
    command = ["mpirun", "--oversubscribe", "-np", str(ranks)]
    if wrap_time:
        command += ["/usr/bin/time", "-f", "peak_rss_kib=%M"]
    command += [str(binary)] + args
    done = subprocess.run(command, env=MPI_ENV, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stderr}")
    return done


def dgemm_floor_seconds(n, m, k, repeats=20):
    """Median seconds of the two products an ALS iteration cannot avoid, X S^T and A^T X, with OpenBLAS on
    one thread (NumPy, the same library nmf_mpi uses). Each product is timed in both orientations BLAS can
    compute it in (X S^T or (S X^T)^T; A^T X or (X^T A)^T), and the faster one counts: the floor is the
    best the library can do, not one particular call."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = np.asfortranarray(rng.random((n, m)))  # column-major, as nmf_mpi stores a dense block
    a = rng.random((n, k))
    s = rng.random((k, m))

    def median_seconds(product):
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            product()
            samples.append(time.perf_counter() - start)
        return statistics.median(samples)

    xst = min(median_seconds(lambda: x @ s.T), median_seconds(lambda: s @ x.T))
    atx = min(median_seconds(lambda: a.T @ x), median_seconds(lambda: x.T @ a))
    return xst + atx


def bench_fashion(binary, repeats, workdir):
    if not FASHION.exists():
        print(f"SKIP Fashion-MNIST: {FASHION} is absent")
        return
    print("== ALS on Fashion-MNIST 10000 x 784 (dense), k = 20, 50 iterations, tol 0 ==")
    floor = dgemm_floor_seconds(10000, 784, 20)
    print(f"floor: X S^T + A^T X with 1-thread OpenBLAS = {floor * 1e3:.1f} ms per iteration (median of 20)")
    print(f"{'ranks':>5} {'grid':>6} {'rel. error':>12} {'s/iter (median)':>16} {'x floor':>8} {'speed-up':>9}")
    base = None
    for ranks in (1, 2, 4):
        per_iteration, errors = [], []
        for r in range(repeats):
            prefix = workdir / f"fm_p{ranks}_{r}"
            run_nmf(binary, ranks, ["-i", str(FASHION), "-k", "20", "--algo", "als", "--iters", "50", "--tol", "0", "--quiet",
                                    "-o", str(prefix)])
            summary = json.loads(Path(f"{prefix}_summary.json").read_text())
            per_iteration.append(summary["seconds_per_iteration"])
            errors.append(summary["relative_error"])
            grid = "x".join(map(str, summary["grid"]))
        median = statistics.median(per_iteration)
        base = base or median
        print(f"{ranks:>5} {grid:>6} {errors[0]:>12.6f} {median * 1e3:>13.1f} ms {median / floor:>8.2f} "
              f"{base / median:>9.2f}")
    print("(4 ranks share 2 cores here: oversubscribed)")


def bench_memory(binary, workdir):
    print("\n== Peak RSS per rank reading a 10^7-nonzero Matrix Market file (1e6 x 2e5), k = 10, 2 iterations ==")
    matrix = workdir / "sparse_1e7.mtx"
    if not matrix.exists():
        subprocess.run([sys.executable, str(ROOT / "bench" / "make_sparse_mtx.py"), str(matrix), "1000000", "200000",
                        "10000000"], check=True)
    peaks = {}
    for ranks in (1, 4):
        done = run_nmf(binary, ranks, ["-i", str(matrix), "-k", "10", "--algo", "als", "--iters", "2", "--quiet"], wrap_time=True)
        per_rank = [int(v) / 1024 for v in re.findall(r"peak_rss_kib=(\d+)", done.stderr)]
        peaks[ranks] = max(per_rank)
        print(f"P = {ranks}: peak RSS per rank (MiB) = {', '.join(f'{v:.0f}' for v in sorted(per_rank))}")
    print(f"largest rank at P = 4 / P = 1: {peaks[4] / peaks[1]:.1%} (target <= 40%)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default=str(ROOT / "build"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", default=None, help="keeps the generated matrix between runs")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    os.environ["OPENBLAS_NUM_THREADS"] = "1"  # before NumPy loads OpenBLAS
    binary = nmf_binary(args.build_dir)
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(args.workdir or scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        bench_fashion(binary, args.repeats, workdir)
        if not args.skip_memory:
            bench_memory(binary, workdir)


if __name__ == "__main__":
    main()
