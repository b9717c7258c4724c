#!/usr/bin/python3
"""Writes a synthetic rating matrix as whitespace-separated `user item rating` text (read by nmf_mpi --format
ratings), for the recommender benchmarks at scale.

Degrees follow power laws, as in real rating data: user u (before the ids are shuffled) is drawn with probability
proportional to (u + 1)**-USER_EXPONENT and item i with (i + 1)**-ITEM_EXPONENT, and each (user, item) pair is
kept once. Ratings come from a planted low-rank non-negative model plus noise: with U (users x RANK) and V
(RANK x items) drawn from a gamma distribution, the rating of (u, i) is (U V)_ui scaled so that its mean is
about 3.5, plus Gaussian noise (sd NOISE), clipped to 0.5 .. 5 and rounded to halves. Ids are integers, users
1..USERS and items 1..ITEMS in a random order (so the heavy ones are not the first), and the lines are in random
order. Everything is drawn from --seed.

Defaults: 10^7 ratings, 10^6 users, 10^5 items (about 150 MB). The file is cached: `cached_ratings` (and this
script with --out-dir) writes DIR/ratings-KEY.txt, KEY a hash of the arguments and of this source
(benchlib.cache_key), and reuses it when it is already there.

usage: make_ratings.py --out-dir DIR [--ratings N] [--users N] [--items N] [--rank R] [--seed S]
       make_ratings.py --out FILE ...       (write FILE, no cache)
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

USER_EXPONENT = 0.5  # the heaviest of 10^6 users rates about 0.05% of everything: ~5000 ratings
ITEM_EXPONENT = 0.8  # the heaviest of 10^5 items gets about 2% of the ratings
NOISE = 0.5


def power_law_draw(rng, count, size, exponent):
    weights = np.arange(1, count + 1, dtype=np.float64) ** -exponent
    cumulative = np.cumsum(weights)
    cumulative /= cumulative[-1]
    return np.minimum(np.searchsorted(cumulative, rng.random(size)), count - 1)


def generate(path, ratings, users, items, rank, seed):
    """Writes the file (see the module docstring); returns the number of lines written."""
    rng = np.random.default_rng(seed)
    keys = np.empty(0, dtype=np.int64)
    while keys.size < ratings:
        draw = int((ratings - keys.size) * 1.2) + 1000
        u = power_law_draw(rng, users, draw, USER_EXPONENT)
        i = power_law_draw(rng, items, draw, ITEM_EXPONENT)
        keys = np.unique(np.concatenate([keys, u.astype(np.int64) * items + i]))
    keys = rng.permutation(keys)[:ratings]
    user_index, item_index = keys // items, keys % items
    del keys
    user_factors = rng.gamma(1.0, 1.0, size=(users, rank))
    item_factors = rng.gamma(1.0, 1.0, size=(rank, items))
    user_ids = rng.permutation(users) + 1
    item_ids = rng.permutation(items) + 1
    step = 1_000_000
    raw = np.empty(ratings)
    for start in range(0, ratings, step):
        stop = min(ratings, start + step)
        raw[start:stop] = np.einsum("nr,rn->n", user_factors[user_index[start:stop]],
                                    item_factors[:, item_index[start:stop]])
    values = raw * (3.5 / raw.mean()) + rng.normal(0.0, NOISE, size=ratings)
    values = np.round(np.clip(values, 0.5, 5.0) * 2) / 2
    partial = Path(str(path) + ".partial")
    with open(partial, "w") as out:
        for start in range(0, ratings, step):
            stop = min(ratings, start + step)
            us, its, vs = user_ids[user_index[start:stop]], item_ids[item_index[start:stop]], values[start:stop]
            out.write("".join(f"{u} {i} {v:g}\n" for u, i, v in zip(us.tolist(), its.tolist(), vs.tolist())))
    partial.replace(path)
    return ratings


def cached_ratings(directory, ratings=10_000_000, users=1_000_000, items=100_000, rank=10, seed=1):
    """The path of DIRECTORY/ratings-KEY.txt, generated unless it is there already (other ratings-*.txt of the same
    name length, stale keys, are removed)."""
    directory = Path(directory)
    arguments = (ratings, users, items, rank, seed)
    path = directory / f"ratings-{benchlib.cache_key(generate, arguments)}.txt"
    if not path.exists():
        for stale in directory.glob("ratings-*.txt"):
            if stale != path and len(stale.name) == len(path.name):
                stale.unlink()
        generate(path, *arguments)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--out-dir", help="cache directory: writes (or reuses) DIR/ratings-KEY.txt")
    target.add_argument("--out", help="write this file (no cache)")
    parser.add_argument("--ratings", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--rank", type=int, default=10, help="rank of the planted model")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.ratings > args.users * args.items:
        parser.error("more ratings than (user, item) pairs")
    if args.out:
        generate(Path(args.out), args.ratings, args.users, args.items, args.rank, args.seed)
        print(args.out)
    else:
        Path(args.out_dir).mkdir(parents=True, exist_ok=True)
        print(cached_ratings(args.out_dir, args.ratings, args.users, args.items, args.rank, args.seed))


if __name__ == "__main__":
    main()
