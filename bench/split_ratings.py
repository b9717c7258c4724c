#!/usr/bin/python3
"""Seeded train/test split of a ratings file, for the recommender benchmarks (bench/bench_recommender.py).

Each data line goes to the test file with probability FRACTION, decided by NumPy's PCG64 seeded with SEED, one
draw per data line in file order, so the split depends only on the file, the seed and the fraction. A header
line (as in MovieLens ratings.csv) is copied to both files; blank lines are dropped.

usage: bench/split_ratings.py RATINGS TRAIN TEST [--fraction 0.2] [--seed 1]
"""
import argparse
import sys

import numpy as np


def is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def rating_field(line):
    for separator in ("::", "\t", ","):
        if separator in line:
            fields = line.split(separator)
            return fields[2].strip() if len(fields) > 2 else ""
    fields = line.split()
    return fields[2] if len(fields) > 2 else ""


def split(source, train_path, test_path, fraction, seed):
    with open(source, encoding="utf-8", newline="") as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    header = [lines[0]] if lines and not is_number(rating_field(lines[0])) else []
    data = lines[len(header):]
    to_test = np.random.default_rng(seed).random(len(data)) < fraction
    with open(train_path, "w", encoding="utf-8") as train, open(test_path, "w", encoding="utf-8") as test:
        for out in (train, test):
            out.writelines(h + "\n" for h in header)
        for line, is_test in zip(data, to_test):
            (test if is_test else train).write(line + "\n")
    return len(data) - int(to_test.sum()), int(to_test.sum())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ratings")
    parser.add_argument("train")
    parser.add_argument("test")
    parser.add_argument("--fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not 0 < args.fraction < 1:
        sys.exit("--fraction must be between 0 and 1")
    kept, held = split(args.ratings, args.train, args.test, args.fraction, args.seed)
    print(f"{args.train}: {kept} ratings; {args.test}: {held} ratings")


if __name__ == "__main__":
    main()
