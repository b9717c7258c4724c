#!/usr/bin/python3
"""Writes a random sparse non-negative matrix in Matrix Market coordinate format, for benchmarks.

Rows can be skewed like rating data (a few heavy users): with --skew s, row i is drawn with probability
proportional to 1 / (i + 1)**s. Duplicate (row, column) pairs are dropped, so the file has exactly the
entries its header declares.

usage: make_sparse_mtx.py OUT.mtx ROWS COLS NNZ [--seed S] [--skew S]
"""
import argparse

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("rows", type=int)
    parser.add_argument("cols", type=int)
    parser.add_argument("nnz", type=int)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skew", type=float, default=0.0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    wanted = args.nnz
    keys = np.empty(0, dtype=np.int64)
    if args.skew > 0:
        weights = 1.0 / np.arange(1, args.rows + 1) ** args.skew
        weights /= weights.sum()
    while keys.size < wanted:
        draw = int((wanted - keys.size) * 1.1) + 16
        if args.skew > 0:
            rows = rng.choice(args.rows, size=draw, p=weights)
        else:
            rows = rng.integers(0, args.rows, size=draw)
        cols = rng.integers(0, args.cols, size=draw)
        keys = np.unique(np.concatenate([keys, rows.astype(np.int64) * args.cols + cols]))
    keys = rng.permutation(keys)[:wanted]
    rows, cols = keys // args.cols + 1, keys % args.cols + 1
    values = rng.integers(1, 11, size=wanted) / 2.0  # ratings-like: 0.5 .. 5.0

    with open(args.out, "w") as out:
        out.write("%%MatrixMarket matrix coordinate real general\n")
        out.write(f"% random benchmark matrix, seed {args.seed}, skew {args.skew}\n")
        out.write(f"{args.rows} {args.cols} {wanted}\n")
        step = 1_000_000
        for start in range(0, wanted, step):
            stop = min(wanted, start + step)
            lines = [f"{r} {c} {v:g}" for r, c, v in zip(rows[start:stop], cols[start:stop], values[start:stop])]
            out.write("\n".join(lines))
            out.write("\n")


if __name__ == "__main__":
    main()
