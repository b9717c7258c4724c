#!/usr/bin/python3
"""Writes a synthetic ratings file (whitespace-separated 'user item rating' lines) with power-law user and item
degrees, for the recommender mode's scale measurements (README, Recommending): user u is drawn with probability
proportional to 1 / (u + 1)**skew, item i likewise, ratings come from a planted model (mean, biases and a
non-negative rank-5 product plus noise) rounded to halves in [0.5, 5]. Duplicate (user, item) pairs are dropped,
so the file has at most RATINGS lines; ids are written as u<number> and i<number> in a shuffled order.

usage: make_ratings.py OUT RATINGS USERS ITEMS [--seed 1] [--skew 0.8]
(the issue's scale case: make_ratings.py big.txt 10000000 1000000 100000)
"""
import argparse

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("ratings", type=int)
    parser.add_argument("users", type=int)
    parser.add_argument("items", type=int)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skew", type=float, default=0.8)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    def power_law(count, size):
        weights = 1.0 / np.arange(1, count + 1) ** args.skew
        return rng.choice(count, size=size, p=weights / weights.sum())

    users = power_law(args.users, args.ratings)
    items = power_law(args.items, args.ratings)
    keys = np.unique(users.astype(np.int64) * args.items + items)
    keys = keys[rng.permutation(len(keys))]
    users, items = keys // args.items, keys % args.items
    k = 5
    a, s = rng.random((args.users, k)).astype(np.float32), rng.random((args.items, k)).astype(np.float32)
    b, c = 0.5 * rng.standard_normal(args.users), 0.4 * rng.standard_normal(args.items)
    chunk = 1 << 20
    with open(args.out, "w") as out:
        for start in range(0, len(keys), chunk):
            u, i = users[start:start + chunk], items[start:start + chunk]
            x = 3 + b[u] + c[i] + np.einsum("ij,ij->i", a[u], s[i]) - k / 4 + 0.5 * rng.standard_normal(len(u))
            x = np.clip(np.round(2 * x) / 2, 0.5, 5)
            out.write("".join(f"u{uu} i{ii} {xx:g}\n" for uu, ii, xx in zip(u.tolist(), i.tolist(), x.tolist())))
    print(f"{args.out}: {len(keys)} ratings, {args.users} x {args.items} possible ids")


if __name__ == "__main__":
    main()
