#!/usr/bin/python3
"""Choosing k by cross-validation on planted matrices: does `nmf_mpi -k LO:HI` find the true rank?

For each true rank r (--planted, default 6 and 12), a planted non-negative matrix X = A0 S0 + noise, 1500 x 1200
(--shape), is drawn with np.random.default_rng(--data-seed, default 1), in this order: A0's values (1500 x r,
uniform on [0, 1)), A0's mask, S0's values (r x 1200), S0's mask, the noise. Each entry of A0 and S0 is kept with
probability 1/2 (mask draw >= 0.5) and set to zero otherwise; the noise is 0.05 x mean(A0 S0) x N(0, 1) per entry
(5% Gaussian noise relative to the mean of the clean product), and X = max(A0 S0 + noise, 0). X is saved as .npy
float64 (kept in --workdir under a name keyed by the generator's arguments and source, benchlib.cached_npy) and
factored at -np 2 (--ranks) by

    nmf_mpi -i X.npy -k LO:HI --algo hals --iters 200 --seed 1 -o PREFIX

The sweep LO:HI goes past the planted rank r on both sides: by default (--k-range auto) it is max(2, r - 4):r + 4,
i.e. 2:10 for r = 6 and 8:16 for r = 12. (The issue swept 2:12, which puts r = 12 at the top of the sweep, where a
rule that always picks the largest k would pass as well; --k-range 2:12 still runs it, but the target below then
fails.)

with the defaults of cross-validation (3 folds, each holding out 10% of the entries) and of the choice of k
(--rank-select se: the smallest k whose mean held-out error is within one standard error, std / sqrt(folds), of
the minimum); nmf_mpi then fits the chosen k on all of X. Printed for each matrix: the per-k table of training and
held-out relative error (mean and std over the folds) from PREFIX_summary.json, the chosen k, the wall time of the
whole run (mpirun included) and nmf_mpi's own total; scripts/plot_rank_selection.py draws PREFIX_rank_selection.csv
into bench/results/rank_selection_planted_r6.png and _r12.png (one per true rank; another --shape, --k-range or
--data-seed adds them to the name, e.g. rank_selection_planted_r12_1500x1200_k2-16_s1.png).

Targets (the issue's): the choice is 6 for the rank-6 matrix and 12 for the rank-12 one; and, so that the first
target can tell a right answer from "always the largest (or smallest) k", the sweep holds values of k below and
above the planted rank. Drawing the figure is checked as well. Exits with status 1 if any target fails.

At the defaults each matrix costs 9 values of k x 3 folds = 27 fits of up to 200 HALS iterations plus the final
fit. --shape, --k-range and --planted make the problem smaller or different
(the targets then compare the choice with the planted rank all the same).

Everything runs with one BLAS thread per process (OPENBLAS_NUM_THREADS=1, set before NumPy is imported).

usage: bench/bench_rank_selection.py [--build-dir build] [--workdir /tmp/nmf_bench_rank_selection] [--ranks 2]
                                     [--iters 200] [--algo hals] [--planted 6,12] [--shape 1500 1200]
                                     [--k-range auto] [--data-seed 1]
"""
import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # before NumPy loads OpenBLAS
os.environ["OMP_NUM_THREADS"] = "1"

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (ROOT, cached_npy, planted_factors_product, prepare, report_targets,  # noqa: E402
                      run_nmf_summary, verdict)

import numpy as np

SHAPE, PLANTED, K_RANGE = (1500, 1200), (6, 12), "auto"
K_MARGIN = 4  # --k-range auto: max(2, r - K_MARGIN):r + K_MARGIN around the planted rank r
NOISE = 0.05  # noise relative to mean(A0 S0)
NMF_SEED = 1
PLOTTER = ROOT / "scripts" / "plot_rank_selection.py"
RESULTS = ROOT / "bench" / "results"




def planted_matrix(seed, shape, rank):
    """X = max(A0 S0 + 0.05 mean(A0 S0) N(0, 1), 0); half of A0's and S0's entries zero (see the docstring)."""
    rng = np.random.default_rng(seed)
    clean = planted_factors_product(rng, shape, rank)
    x = clean + NOISE * clean.mean() * rng.standard_normal(clean.shape)
    np.maximum(x, 0, out=x)
    return x


def k_range_for(rank, k_range):
    """nmf_mpi's -k for the planted rank: --k-range itself, or for 'auto' max(2, r - 4):r + 4."""
    return f"{max(2, rank - K_MARGIN)}:{rank + K_MARGIN}" if k_range == "auto" else k_range




def print_table(selection):
    """The per-k cross-validation table of a summary's rank_selection, with the se bound."""
    entries = selection["entries"]
    scored = [e for e in entries if e["folds"] > 0]
    best = min(scored, key=lambda e: e["heldout_error"]) if scored else None
    bound = best["heldout_error"] + best["heldout_std"] / np.sqrt(best["folds"]) if best else None
    header = (f"{'k':>4} {'folds':>5} {'train error':>12} {'(std)':>10} {'held-out error':>15} {'(std)':>10} "
              f"{'- minimum':>10}")
    print(header)
    print("-" * len(header))
    for e in entries:
        marks = []
        if e["k"] == selection["chosen"]:
            marks.append("<- chosen")
        if best is not None and e["k"] == best["k"]:
            marks.append("(held-out minimum)")
        excess = f"{e['heldout_error'] - best['heldout_error']:>+10.2e}" if best is not None and e["folds"] else ""
        print(f"{e['k']:>4} {e['folds']:>5} {e['train_error']:>12.6f} {e['train_std']:>10.2e} "
              f"{e['heldout_error']:>15.6f} {e['heldout_std']:>10.2e} {excess:>10}  {' '.join(marks)}")
    if bound is not None:
        print(f"held-out minimum at k = {best['k']}: {best['heldout_error']:.6f}; one standard error above it "
              f"(std / sqrt({best['folds']})): {bound:.6f}")


def plot(summary_prefix, out, title):
    """Draws PREFIX_rank_selection.csv with scripts/plot_rank_selection.py; returns None or the failure."""
    command = [sys.executable, str(PLOTTER), "-o", str(out), "--title", title, f"{summary_prefix}_rank_selection.csv"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        return f"exit {done.returncode}: {' '.join(command)}\n{done.stdout}{done.stderr}"
    return None


def run_planted(binary, workdir, rank, args):
    n, m = args.shape
    k_range = k_range_for(rank, args.k_range)
    print(f"\n== planted rank {rank}: X = A0 S0 + {100 * NOISE:g}% noise, {n} x {m}, half of A0 and S0 zero; "
          f"-k {k_range} --algo {args.algo} --iters {args.iters} --seed {NMF_SEED} at -np {args.ranks} ==")
    x_path = cached_npy(workdir, f"planted_r{rank}_{n}x{m}_s{args.data_seed}", planted_matrix, args.data_seed, (n, m),
                        rank)
    prefix = workdir / "runs" / f"planted_r{rank}"
    started = time.perf_counter()
    summary = run_nmf_summary(binary, args.ranks, ["-i", x_path, "-k", k_range, "--algo", args.algo, "--iters",
                                                   args.iters, "--seed", NMF_SEED, "--quiet"], prefix)
    wall = time.perf_counter() - started
    description = f"planted rank {rank}: chosen k = {rank}"
    inside = f"planted rank {rank}: the sweep -k {k_range} tries k below and above {rank}"
    if isinstance(summary, str):
        print(f"FAILED: {summary}")
        return [(description, False), (inside, False)]
    selection = summary.get("rank_selection")
    if not isinstance(selection, dict):
        print(f"FAILED: {prefix}_summary.json has no rank_selection")
        return [(description, False), (inside, False)]
    print(f"cross-validation: {selection['cv_folds']} folds holding out {selection['cv_fraction']:g} of the entries, "
          f"rule {selection['rule']!r}")
    print_table(selection)
    chosen = selection["chosen"]
    passed = chosen == rank
    print(f"chosen k = {chosen} (planted {rank}): {verdict(passed)}")
    scored_ks = [e["k"] for e in selection["entries"] if e["folds"] > 0]
    # A planted rank at the edge of the sweep would be "found" by a rule that always picks the largest (or the
    # smallest) k: the choice counts only if the sweep scored values of k on both sides of it.
    straddles = bool(scored_ks) and min(scored_ks) < rank < max(scored_ks)
    print(f"k scored: {scored_ks}; below and above the planted {rank}: {verdict(straddles)}")
    print(f"final fit of k = {summary['k']} on all of X: relative error {summary['relative_error']:.6f} after "
          f"{summary['iterations']} iterations ({summary['stop_reason']})")
    print(f"wall time {wall:.1f} s (mpirun included); nmf_mpi's total {summary['seconds']:.1f} s, of which the final "
          f"fit {summary['iteration_seconds']:.2f} s")
    results = [(description, passed), (inside, straddles)]
    if args.no_figures:
        return results
    # the problem draws rank_selection_planted_r6.png and _r12.png; any other shape, range of k or data
    # seed gets its own name rather than replacing them
    variant = "" if (tuple(args.shape) == SHAPE and args.k_range == K_RANGE and args.data_seed == 1) else \
        f"_{n}x{m}_k{k_range.replace(':', '-').replace(',', '-')}_s{args.data_seed}"
    out = RESULTS / f"rank_selection_planted_r{rank}{variant}.png"
    failure = plot(prefix, out, f"Planted rank {rank}: {n} x {m}, {100 * NOISE:g}% noise; nmf_mpi -k {k_range} "
                                f"--algo {args.algo}, {args.ranks} ranks")
    if failure:
        print(f"plot FAILED: {failure}")
    else:
        print(f"figure: {out}")
    results.append((f"planted rank {rank}: figure {out.name} drawn", failure is None))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default=str(ROOT / "build"))
    parser.add_argument("--workdir", default="/tmp/nmf_bench_rank_selection", help="inputs are kept and reused here")
    parser.add_argument("--ranks", type=int, default=2, help="MPI ranks (mpirun -np)")
    parser.add_argument("--iters", type=int, default=200, help="maximum iterations of every fit")
    parser.add_argument("--algo", default="hals", choices=("hals", "als"), help="update rule (cross-validation needs "
                                                                                "hals or als)")
    parser.add_argument("--planted", default=",".join(map(str, PLANTED)), help="true ranks, one matrix each")
    parser.add_argument("--shape", type=int, nargs=2, default=list(SHAPE), metavar=("N", "M"),
                        help="shape of the planted matrices (the issue's: 1500 1200)")
    parser.add_argument("--k-range", default=K_RANGE,
                        help="nmf_mpi's -k: a range LO:HI[:STEP] or a list, the same for every planted rank; auto: "
                             f"max(2, r - {K_MARGIN}):r + {K_MARGIN} for planted rank r")
    parser.add_argument("--data-seed", type=int, default=1, help="seed of the planted matrices")
    parser.add_argument("--no-figures", action="store_true", help="skip the figures (the test suite runs it so)")
    args = parser.parse_args()
    try:
        planted = [int(r) for r in args.planted.split(",") if r]
    except ValueError:
        parser.error(f"--planted {args.planted!r}: expected integers separated by commas")
    if not planted or min(planted) < 1 or max(planted) > min(args.shape):
        parser.error(f"--planted {args.planted!r}: need ranks between 1 and min(N, M) = {min(args.shape)}")
    binary, workdir = prepare(args.build_dir, args.workdir)
    if tuple(args.shape) != SHAPE or args.k_range != K_RANGE or tuple(planted) != PLANTED or args.data_seed != 1:
        print(f"note: not the default problem (shape {args.shape[0]} x {args.shape[1]}, -k {args.k_range}, planted "
              f"{args.planted}, data seed {args.data_seed}; the default: {SHAPE[0]} x {SHAPE[1]}, -k {K_RANGE}, "
              f"planted 6,12, data seed 1)")

    results = []
    started = time.perf_counter()
    for rank in planted:
        results += run_planted(binary, workdir, rank, args)

    return report_targets(results, time.perf_counter() - started)


if __name__ == "__main__":
    sys.exit(main())
