#!/usr/bin/python3
"""Restarts over communicator subgroups: wall time of --groups 2 against --groups 1, and the restart table.

The matrix: X, 300 x 200, uniform on [0, 1) from np.random.default_rng(0) (dense, no structure), saved as .npy
float64 in --workdir. Every run factors it with -k 10 --algo hals --iters 300 --tol 0 (a fixed amount of work).

(a) timing  hyperfine (--warmup 1 --runs N, N = --runs, default 10; no shell in between, -N) times whole runs of

                mpirun -q --oversubscribe -np 2 nmf_mpi -i X.npy -k 10 --algo hals --iters 300 --tol 0
                       --restarts 4 --groups G --quiet

            for G = 1 and G = 2, with the environment of bench/benchlib.py (Open MPI as root, one BLAS thread).
            With G = 1 the 4 restarts run one after the other, each on both ranks (a 2 x 1 grid with collectives
            every iteration); with G = 2 each rank is a subgroup of its own that runs 2 restarts on its own copy
            of X. On 2 cores with 2 ranks, groups of 1 rank avoid all inter-rank communication during the
            iterations (only the choice of the best restart and the output exchange data). Reported: median, min
            and max wall time of each (hyperfine's --export-json), and the ratio grouped / ungrouped of the
            medians. The whole run includes mpirun's start-up and MPI_Init, the same for both. Target (the
            issue's): the grouped median is below the ungrouped median.

(b) table   one run each of --restarts 8 --groups 2, --restarts 8 --groups 1 and --restarts 1, all with --seed S
            (--seed, default 3: not nmf_mpi's default of 1, so that restart 0 visibly takes --seed) and -o, read
            back from PREFIX_summary.json. Targets, for each of the two --restarts 8 runs: the restart table has 8
            restarts with 8 distinct seeds; restart 0's seed equals --seed; the relative error of best_restart
            equals the minimum over the table (and the summary's relative_error), and is <= the --restarts 1
            run's relative error (each within 1e-12 relative). And --groups 1 and --groups 2 give the same seeds,
            the same per-restart relative errors within 1e-8 relative (hals is deterministic; only the layout
            differs, 2 x 1 against 1 x 1 grids) and the same best_restart.

Exits with status 1 if any target fails.

usage: bench/bench_restarts.py [--build-dir build] [--workdir /tmp/nmf_bench_restarts] [--runs 10] [--seed 3]
"""
import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # before NumPy loads OpenBLAS
os.environ["OMP_NUM_THREADS"] = "1"

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import MPI_ENV, ROOT, cached_npy, prepare, report_targets, run_nmf_summary, verdict  # noqa: E402

import numpy as np

SHAPE, K, ITERS = (300, 200), 10, 300
TIMED_RESTARTS, TIMED_GROUPS, RANKS = 4, (1, 2), 2
TABLE_RESTARTS = 8
SAME_TOLERANCE, GROUPS_TOLERANCE = 1e-12, 1e-8






def factor_arguments(x_path):
    return ["-i", str(x_path), "-k", str(K), "--algo", "hals", "--iters", str(ITERS), "--tol", "0"]


def relative_difference(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


# ---------------------------------------------------------------------------------------------- (a)


def part_timing(binary, workdir, x_path, runs):
    print(f"\n== (a) wall time: mpirun -np {RANKS} nmf_mpi -k {K} --algo hals --iters {ITERS} --tol 0 --restarts "
          f"{TIMED_RESTARTS} --groups G on {SHAPE[0]} x {SHAPE[1]}; hyperfine --warmup 1 --runs {runs} ==")
    print(f"note: on 2 cores with {RANKS} ranks, --groups 2 makes subgroups of 1 rank, which avoid all inter-rank "
          f"communication during the iterations; --groups 1 splits every restart over both ranks")
    description = "grouped (--groups 2) median < ungrouped (--groups 1) median wall time"
    if shutil.which("hyperfine") is None:
        print("FAILED: hyperfine is not on PATH")
        return [(description, False)]
    export = workdir / "hyperfine_restarts.json"
    export.unlink(missing_ok=True)
    command = ["hyperfine", "-N", "--style", "basic", "--warmup", "1", "--runs", str(runs), "--export-json",
               str(export)]
    for groups in TIMED_GROUPS:
        nmf = (["mpirun", "-q", "--oversubscribe", "-np", str(RANKS), str(binary)] + factor_arguments(x_path) +
               ["--restarts", str(TIMED_RESTARTS), "--groups", str(groups), "--quiet"])
        command += ["--command-name", f"groups={groups}", " ".join(shlex.quote(part) for part in nmf)]
    sys.stdout.flush()
    done = subprocess.run(command, env=MPI_ENV)  # hyperfine's own report goes straight to the terminal
    if done.returncode != 0 or not export.exists():
        print(f"FAILED: hyperfine exited {done.returncode}: {shlex.join(command)}")
        return [(description, False)]
    results = {r["command"]: r for r in json.loads(export.read_text())["results"]}
    header = f"{'':<11} {'median (s)':>11} {'min (s)':>9} {'max (s)':>9} {'mean (s)':>9} {'std (s)':>9} {'runs':>5}"
    print()
    print(header)
    print("-" * len(header))
    medians = {}
    for groups in TIMED_GROUPS:
        r = results[f"groups={groups}"]
        medians[groups] = r["median"]
        print(f"{'--groups ' + str(groups):<11} {r['median']:>11.4f} {r['min']:>9.4f} {r['max']:>9.4f} "
              f"{r['mean']:>9.4f} {r['stddev'] or 0:>9.4f} {len(r['times']):>5}")
    grouped, ungrouped = medians[2], medians[1]
    passed = grouped < ungrouped
    print(f"ratio of the medians grouped / ungrouped: {grouped / ungrouped:.3f} "
          f"({1000 * (ungrouped - grouped):+.1f} ms saved by grouping); target grouped < ungrouped: {verdict(passed)}")
    print(f"(whole runs: mpirun's start-up and MPI_Init are in both figures; hyperfine's data: {export})")
    return [(description, passed)]


# ---------------------------------------------------------------------------------------------- (b)


def restart_table(summary):
    """The summary's restarts sorted by index, or a string saying what is wrong."""
    table = summary.get("restarts")
    if not isinstance(table, list):
        return "the summary has no restart table ('restarts')"
    return sorted(table, key=lambda r: r["index"])


def check_table(label, summary, seed, single_error):
    """The targets on one --restarts 8 summary; returns (results, table or None)."""
    results = []
    table = restart_table(summary)
    if isinstance(table, str):
        print(f"{label}: FAILED: {table}")
        return [(f"{label}: restart table present", False)], None
    seeds = [r["seed"] for r in table]
    indices = [r["index"] for r in table]
    distinct = len(table) == TABLE_RESTARTS and indices == list(range(TABLE_RESTARTS)) and len(set(seeds)) == len(seeds)
    print(f"{label}: {len(table)} restarts (indices {indices[0]}..{indices[-1]}), {len(set(seeds))} distinct seeds: "
          f"{verdict(distinct)}")
    results.append((f"{label}: {TABLE_RESTARTS} restarts with {TABLE_RESTARTS} distinct seeds", distinct))

    first = table[0]["seed"] == seed if table and table[0]["index"] == 0 else False
    print(f"{label}: restart 0's seed {table[0]['seed']} = --seed {seed}: {verdict(first)}")
    results.append((f"{label}: restart 0's seed equals --seed", first))

    best_index = summary.get("best_restart")
    best = next((r for r in table if r["index"] == best_index), None)
    if best is None:
        print(f"{label}: FAILED: best_restart {best_index!r} is not in the table")
        results.append((f"{label}: best_restart is the minimum of the table", False))
        results.append((f"{label}: best <= the --restarts 1 error", False))
        return results, table
    lowest = min(r["relative_error"] for r in table)
    is_min = (relative_difference(best["relative_error"], lowest) <= SAME_TOLERANCE and
              relative_difference(summary["relative_error"], best["relative_error"]) <= SAME_TOLERANCE)
    print(f"{label}: best_restart = {best_index}, relative error {best['relative_error']:.15g}; minimum over the table "
          f"{lowest:.15g}; summary's relative_error {summary['relative_error']:.15g}: {verdict(is_min)}")
    results.append((f"{label}: best_restart's error is the minimum of the table (and the summary's)", is_min))

    if single_error is None:
        results.append((f"{label}: best <= the --restarts 1 error", False))
    else:
        below = best["relative_error"] <= single_error * (1 + SAME_TOLERANCE)
        print(f"{label}: best-of-{TABLE_RESTARTS} {best['relative_error']:.15g} <= --restarts 1 {single_error:.15g} "
              f"(by {single_error - best['relative_error']:.3e}): {verdict(below)}")
        results.append((f"{label}: best-of-{TABLE_RESTARTS} error <= the --restarts 1 error", below))
    return results, table


def part_table(binary, workdir, x_path, seed):
    print(f"\n== (b) restart table: --restarts {TABLE_RESTARTS} at --groups 2 and 1, and --restarts 1; -k {K} "
          f"--algo hals --iters {ITERS} --tol 0 --seed {seed} at -np {RANKS} ==")
    base = factor_arguments(x_path) + ["--seed", str(seed), "--quiet"]
    runs = {
        "groups 2": run_nmf_summary(binary, RANKS, base + ["--restarts", str(TABLE_RESTARTS), "--groups", "2"],
                                    workdir / "runs" / f"restarts{TABLE_RESTARTS}_g2"),
        "groups 1": run_nmf_summary(binary, RANKS, base + ["--restarts", str(TABLE_RESTARTS), "--groups", "1"],
                                    workdir / "runs" / f"restarts{TABLE_RESTARTS}_g1"),
        "single": run_nmf_summary(binary, RANKS, base + ["--restarts", "1"], workdir / "runs" / "restarts1"),
    }
    results = []
    for name, summary in runs.items():
        if isinstance(summary, str):
            print(f"{name}: FAILED: {summary}")
    single = runs["single"]
    single_error = None if isinstance(single, str) else single["relative_error"]
    if single_error is not None:
        print(f"--restarts 1 --seed {seed}: relative error {single_error:.15g} after {single['iterations']} "
              f"iterations, {single['seconds']:.3f} s in nmf_mpi")

    tables = {}
    for name in ("groups 2", "groups 1"):
        label = f"--restarts {TABLE_RESTARTS} --{name}"
        if isinstance(runs[name], str):
            results.append((f"{label}: ran", False))
            continue
        checked, table = check_table(label, runs[name], seed, single_error)
        results += checked
        tables[name] = table

    g2, g1 = tables.get("groups 2"), tables.get("groups 1")
    description = (f"--groups 1 and 2: same seeds, per-restart errors within {GROUPS_TOLERANCE:g}, "
                   f"same best_restart")
    if g2 is None or g1 is None:
        results.append((description, False))
        return results
    print(f"\n{'restart':>7} {'seed':>21} {'group':>5} {'rel. error --groups 2':>22} {'rel. error --groups 1':>22} "
          f"{'rel. diff':>9} {'iters':>5} {'s (g2)':>7} {'s (g1)':>7}  stop")
    best2, best1 = runs["groups 2"]["best_restart"], runs["groups 1"]["best_restart"]
    worst = 0.0
    for r2, r1 in zip(g2, g1):
        diff = relative_difference(r2["relative_error"], r1["relative_error"])
        worst = max(worst, diff)
        mark = "  <- best" if r2["index"] == best2 else ""
        print(f"{r2['index']:>7} {r2['seed']:>21} {r2['group']:>5} {r2['relative_error']:>22.15g} "
              f"{r1['relative_error']:>22.15g} {diff:>9.1e} {r2['iterations']:>5} {r2['seconds']:>7.3f} "
              f"{r1['seconds']:>7.3f}  {r2['stop_reason']}{mark}")
    same_seeds = [r["seed"] for r in g2] == [r["seed"] for r in g1]
    passed = len(g2) == len(g1) and same_seeds and worst <= GROUPS_TOLERANCE and best2 == best1
    print(f"--groups 1 vs 2: seeds {'identical' if same_seeds else 'DIFFER'}, largest relative difference of the "
          f"errors {worst:.1e} (<= {GROUPS_TOLERANCE:g}), best_restart {best2} and {best1}: {verdict(passed)}")
    results.append((description, passed))
    if single_error is not None:
        first = g2[0]["relative_error"]
        print(f"(restart 0 in the table against the --restarts 1 run, same seed: {first:.15g} and {single_error:.15g}, "
              f"relative difference {relative_difference(first, single_error):.1e}; restart 0 at --groups 2 runs on "
              f"one rank, --restarts 1 on two)")
    print(f"(nmf_mpi's own total time for {TABLE_RESTARTS} restarts: {runs['groups 2']['seconds']:.3f} s at --groups "
          f"2, {runs['groups 1']['seconds']:.3f} s at --groups 1 -- one run each, for information)")
    return results


def random_matrix(shape):
    """Uniform on [0, 1), from np.random.default_rng(0)."""
    return np.random.default_rng(0).random(shape)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default=str(ROOT / "build"))
    parser.add_argument("--workdir", default="/tmp/nmf_bench_restarts", help="inputs are kept and reused here")
    parser.add_argument("--runs", type=int, default=10, help="timed runs of each command (hyperfine --runs)")
    parser.add_argument("--seed", type=int, default=3, help="--seed of the restart-table runs (part b)")
    args = parser.parse_args()
    if args.runs < 2:
        parser.error("--runs must be at least 2 (hyperfine's minimum)")
    binary, workdir = prepare(args.build_dir, args.workdir)
    x_path = cached_npy(workdir, f"random_{SHAPE[0]}x{SHAPE[1]}", random_matrix, SHAPE)

    started = time.perf_counter()
    results = part_timing(binary, workdir, x_path, args.runs)
    results += part_table(binary, workdir, x_path, args.seed)

    return report_targets(results, time.perf_counter() - started)


if __name__ == "__main__":
    sys.exit(main())
