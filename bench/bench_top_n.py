#!/usr/bin/python3
"""Top-N lists (--top-n): time against NumPy's dense product and selection on the same factors, in the same run.

A synthetic rating matrix (bench/make_ratings.py: 20000 users, 5000 items, 10^6 ratings, power-law degrees) is
factored with k = 20 for 5 iterations and --top-n 10 at P = 1 and 2, three times each; the summary's
top_n.seconds (scoring, merging and writing the lists) is compared with NumPy on the written factors: A @ S
(OpenBLAS dgemm, one thread), the rated entries set to -inf, np.argpartition and a sort of the N kept, 2000 rows at
a time, and the dgemm alone (the floor of any scoring). Medians are printed. Our scores are a fixed-order loop (for identical lists on any grid, see
include/nmf/kernels/scores.hpp), not dgemm, so the ratio says what that costs.

usage: bench_top_n.py [--build-dir build] [--workdir DIR]
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402
import make_ratings  # noqa: E402

N, K, REPEATS = 10, 20, 3


def numpy_top_n(a, s, rated, n):
    lists = []
    for start in range(0, a.shape[0], 2000):
        scores = a[start:start + 2000] @ s
        block = rated[start:start + 2000]
        scores[block.nonzero()] = -np.inf
        keep = np.argpartition(-scores, n, axis=1)[:, :n]
        kept = np.take_along_axis(scores, keep, axis=1)
        order = np.lexsort((keep, -kept), axis=1)
        lists.append(np.take_along_axis(keep, order, axis=1))
    return np.vstack(lists)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default=str(benchlib.ROOT / "build"))
    parser.add_argument("--workdir", default="/tmp/nmf_bench_top_n")
    args = parser.parse_args()
    binary, workdir = benchlib.prepare(args.build_dir, args.workdir)
    ratings = make_ratings.cached_ratings(workdir, 1_000_000, 20_000, 5_000, 10, 2)
    print(f"input {ratings}; load average {open('/proc/loadavg').read().split()[:3]}")
    ours = {1: [], 2: []}
    for _ in range(REPEATS):
        for ranks in (1, 2):
            summary = benchlib.run_nmf_summary(binary, ranks, ["-i", ratings, "--format", "ratings", "--storage", "sparse",
                                                              "-k", K, "--iters", 5, "--top-n", N, "--quiet"],
                                               workdir / f"np{ranks}")
            if isinstance(summary, str):
                sys.exit(f"FAIL: {summary}")
            ours[ranks].append(summary["top_n"]["seconds"])
    import scipy.sparse
    prefix = workdir / "np1"
    a, s = np.load(f"{prefix}_A.npy"), np.load(f"{prefix}_S.npy")
    users = {u: i for i, u in enumerate(Path(f"{prefix}_rows.txt").read_text().split())}
    items = {t: j for j, t in enumerate(Path(f"{prefix}_cols.txt").read_text().split())}
    data = np.loadtxt(ratings, dtype=str)
    rows = np.array([users[u] for u in data[:, 0]])
    cols = np.array([items[t] for t in data[:, 1]])
    rated = scipy.sparse.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(a.shape[0], s.shape[1]))
    reference, products = [], []
    for _ in range(REPEATS):
        start = time.perf_counter()
        lists = numpy_top_n(a, s, rated, N)
        reference.append(time.perf_counter() - start)
        start = time.perf_counter()
        for first in range(0, a.shape[0], 2000):
            a[first:first + 2000] @ s
        products.append(time.perf_counter() - start)
    csv = Path(f"{prefix}_topn.csv").read_text().splitlines()[1:]
    first_user = [line.split(",")[2] for line in csv[:N]]
    agree = [items[t] for t in first_user] == lists[0].tolist()
    print(f"load average {open('/proc/loadavg').read().split()[:3]}")
    print(f"{a.shape[0]} users x {s.shape[1]} items, k = {K}, N = {N}; medians of {REPEATS}")
    print(f"  numpy (dgemm + argpartition):  {statistics.median(reference):.3f} s")
    print(f"  numpy dgemm A @ S alone:        {statistics.median(products):.3f} s")
    for ranks in (1, 2):
        print(f"  nmf_mpi --top-n, P = {ranks}:     {statistics.median(ours[ranks]):.3f} s  "
              f"({statistics.median(ours[ranks]) / statistics.median(reference):.2f} x numpy)  runs {ours[ranks]}")
    print(f"  the first user's list agrees with numpy's: {agree}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
