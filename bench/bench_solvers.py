#!/usr/bin/python3
"""Solver speed benchmark: als, bpp, hals and mu at P = 1 and 2 ranks against floors, scikit-learn and PLANC.

Two problems are generated deterministically into --workdir (and reused from there when present):
  dense   4000 x 3000, uniform random on [0, 1) (rng.random, seed 4000), NumPy .npy float64, k = 20;
  sparse  20000 x 10000, 2,000,000 distinct positions (1% density, seed 20000), integer values 1..5,
          Matrix Market coordinate (written by a vectorised formatter, not line by line), k = 20.

References, measured in the same run with one thread (OPENBLAS_NUM_THREADS=1, set before NumPy loads):
  floor         the two products an iteration cannot avoid, X S^T and A^T X. Dense: NumPy/OpenBLAS with X
                column-major (np.asfortranarray, as nmf_mpi stores it), each product timed in both
                orientations BLAS can compute it (X @ S.T or S @ X.T; A.T @ X or X.T @ A). Sparse: SciPy,
                X as CSR and as CSC (X @ S^T and X^T @ A with either). The faster variant of each product
                counts; the floor is the sum of the two. Each variant is timed --floor-repeats times before the
                nmf_mpi runs and as many times after them; the median of all samples is used (so a drift of the
                machine's speed during the runs shows up in both the floor and the runs).
  scikit-learn  NMF(n_components=20, solver='cd' and 'mu', init='random', max_iter=--sklearn-iters, tol=0,
                random_state=0): fit time / n_iter_, median of --sklearn-fits fits (nothing subtracted: the
                time includes initialisation and sklearn's own checks).
  PLANC         figures quoted from issue 13 (1 thread per rank, same kind of machine, measured side by side
                there; PLANC is not installed here): dense floor 37.7 ms, hals 40.1 / 20.9, mu 35.5 / 23.3,
                bpp 89.4 / 48.2 ms at P = 1 / 2; sparse SciPy floor 43.0 ms, hals 90.3 / 82.9, bpp 25.7 / 18.6 ms
                (its own uniform 1% data). Since this machine's speed varies, they are also shown "scaled":
                multiplied by (our floor now / the quoted floor).

nmf_mpi runs: `mpirun -np P nmf_mpi -i X -k 20 --algo A --iters 30 --tol 0 --quiet -o PREFIX`, --repeats times
each, interleaved (repeat r runs every algo and P before repeat r + 1 starts, so slow spells of the shared
machine spread over all rows). ms/iteration is the summary's seconds_per_iteration (rank 0's clock over the
iterations, the error evaluated every iteration included, reading the input excluded); medians.

Targets from issue 13 (PASS/FAIL):
  dense   hals, mu at P = 1 <= 1.05 x floor; at P = 2 <= 0.55 x their own P = 1 time
  sparse  bpp <= 1.5 x sparse hals at the same P
PLANC's figures are shown beside ours as the issue quotes them; "PLANC*" scales them by (our floor now / the
floor the issue measured), for reading through this machine's changing speed.

Noise: the machine is shared, and a run at P = 2 needs both cores. Around every measurement the script reads
/proc/stat and its own and its children's CPU time (getrusage), and reports "others": the average number of
cores busy with other processes during it (0 = quiet, 1 = one core taken by someone else). The tables show its
median over the repeats of each row, and "quiet": the median ms/iteration of only the runs that did not have to
share a core -- other processes kept fewer than (cores - P) + --quiet-below (default 0.25) cores busy during them,
i.e. < 0.25 at P = 2 and < 1.25 at P = 1 on 2 cores -- with their count. A run that is not quiet is tried
again, up to --retries times (default 2), and the attempt with the least load from other processes is kept (the
choice looks at the load, never at the time). The targets are judged on the median of all kept runs, as specified; the quiet median is for reading through the noise. The phase breakdown uses the
quiet runs when there is at least one (its 'runs' column says which).

Phase breakdown: the summary's phase_seconds (summed over iterations; the max over ranks) divided by the
iterations, medians of the repeats (of the quiet ones if any), and the rates of two kernels per rank:
  local products  flops per iteration = 2 products x 2 n m k (dense) or 2 x 2 nnz k (sparse), divided by P
                  (each rank multiplies its 1/P of X), over the local_products time;
  gram            2 k^2 (n + m) / P per iteration: the Gram matrices A^T A and S S^T of the rank's n/P rows of A
                  and m/P columns of S, counted as general products (2 k^2 flops per row). nmf_mpi calls dsyrk,
                  which computes the upper triangle only: the arithmetic actually done is k (k + 1) (n + m) / P,
                  about half, so the "gram GF/s" column is a GEMM-equivalent rate.

usage: bench/bench_solvers.py [--build-dir build] [--workdir /tmp/nmf_bench_solvers] [--repeats 3]
                              [--problems dense,sparse] [--algos als,bpp,hals,mu] [--ranks 1,2] [--skip-sklearn]
                              [--retries 2] [--quiet-below 0.25] [--iters 30] [--floor-repeats 10]
                              [--sklearn-fits 3] [--sklearn-iters 30]
"""
import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # before NumPy (and SciPy, scikit-learn) load OpenBLAS
os.environ["OMP_NUM_THREADS"] = "1"

import argparse
import resource
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ROOT, prepare, run_nmf_summary  # noqa: E402

import numpy as np
import scipy.sparse


PROBLEMS = {
    "dense": dict(n=4000, m=3000, k=20, seed=4000, file="dense_4000x3000.npy"),
    "sparse": dict(n=20000, m=10000, nnz=2_000_000, k=20, seed=20000, file="sparse_20000x10000_1pct.mtx"),
}

# PLANC's figures as issue 13 quotes them ("measured side by side in one run on this kind of machine: 2 cores, 1 BLAS
# thread per rank, medians of 3, k = 20, 30 iterations; peer built from its public source"), ms per iteration:
# the floor the issue measured beside them, and (algo, ranks) -> time. PLANC's sparse bpp ran on its own uniform
# 1% data (not the same entries). PLANC is not built here: these are peer figures, quoted, not measured.
PLANC = {
    "dense": {"floor": 37.7, ("hals", 1): 40.1, ("hals", 2): 20.9, ("mu", 1): 35.5, ("mu", 2): 23.3,
              ("bpp", 1): 89.4, ("bpp", 2): 48.2},
    "sparse": {"floor": 43.0, ("hals", 1): 90.3, ("hals", 2): 82.9, ("bpp", 1): 25.7, ("bpp", 2): 18.6},
}
PHASES = ("local_products", "gram", "collectives", "update", "evaluation")


# ---------------------------------------------------------------------------------------------- noise


class OtherLoad:
    """Average number of cores busy with other processes between start() and cores(): busy time of all cores
    (/proc/stat) minus the CPU time of this process and its waited-for children (getrusage), over the wall time."""

    TICK = os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _busy_seconds():
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
        return (user + nice + system + irq + softirq + steal) / OtherLoad.TICK

    @staticmethod
    def _own_seconds():
        own = 0.0
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
            usage = resource.getrusage(who)
            own += usage.ru_utime + usage.ru_stime
        return own

    def start(self):
        self.wall, self.busy, self.own = time.perf_counter(), self._busy_seconds(), self._own_seconds()
        return self

    def cores(self):
        wall = time.perf_counter() - self.wall
        others = (self._busy_seconds() - self.busy) - (self._own_seconds() - self.own)
        return max(0.0, others / wall) if wall > 0 else 0.0


# ---------------------------------------------------------------------------------------------- inputs


def integer_lines(columns):
    """The bytes of lines 'c0 c1 ... \\n', one per index, for equal-length arrays of non-negative integers,
    formatted with NumPy array operations (no Python loop over the lines)."""
    columns = [np.asarray(c, dtype=np.int64) for c in columns]
    powers = 10 ** np.arange(1, 19, dtype=np.int64)
    digits = [1 + np.searchsorted(powers, c, side="right") for c in columns]
    line_length = sum(digits) + len(columns)  # a blank after each field but the last, then '\n'
    ends = np.cumsum(line_length)
    buffer = np.full(int(ends[-1]), ord(" "), dtype=np.uint8)
    buffer[ends - 1] = ord("\n")
    field_start = ends - line_length
    for values, width in zip(columns, digits):
        for place in range(int(width.max())):
            has = width > place
            position = field_start[has] + width[has] - 1 - place
            buffer[position] = ord("0") + (values[has] // 10**place) % 10
        field_start = field_start + width + 1
    return buffer.tobytes()


def write_atomically(path, write):
    """Calls write(temporary path) and renames it to `path`, so an interrupted run leaves no partial input."""
    partial = path.with_name(path.name + ".partial")
    write(partial)
    partial.replace(path)


def dense_problem(workdir, spec):
    """The dense X (C order, as saved) and its file; generated and saved unless the file is there."""
    path = workdir / spec["file"]
    if path.exists():
        x = np.load(path)
        if x.shape == (spec["n"], spec["m"]) and x.dtype == np.float64:
            return x, path
    x = np.random.default_rng(spec["seed"]).random((spec["n"], spec["m"]))
    write_atomically(path, lambda p: np.save(open(p, "wb"), x))
    return x, path


def sparse_problem(workdir, spec):
    """The sparse X (CSR) and its Matrix Market file. The entries are regenerated from the seed (faster than
    parsing the file); the file is written unless one with the same size line is there."""
    n, m, nnz = spec["n"], spec["m"], spec["nnz"]
    rng = np.random.default_rng(spec["seed"])
    keys = np.sort(rng.choice(n * m, size=nnz, replace=False))  # distinct positions, row-major order
    rows, cols = keys // m, keys % m
    values = rng.integers(1, 6, size=nnz)
    x = scipy.sparse.csr_matrix((values.astype(np.float64), (rows, cols)), shape=(n, m))
    path = workdir / spec["file"]
    size_line = f"{n} {m} {nnz}"
    if path.exists():
        with open(path) as f:
            lines = [f.readline().strip() for _ in range(3)]
        if size_line in lines:
            return x, path

    def write(p):
        with open(p, "wb") as out:
            out.write(b"%%MatrixMarket matrix coordinate integer general\n")
            out.write(f"% bench_solvers.py: seed {spec['seed']}, values 1..5\n{size_line}\n".encode())
            out.write(integer_lines([rows + 1, cols + 1, values]))

    write_atomically(path, write)
    return x, path


# ---------------------------------------------------------------------------------------------- references


def samples_of(function, count):
    """Seconds of `count` calls of function() after one warm-up call."""
    function()
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return samples


class Floor:
    """The two products X S^T and A^T X, each in every variant the library offers; the faster variant's median
    counts. Samples accumulate over calls of measure(), so the floor can be measured before and after the runs."""

    def __init__(self, x, k, sparse):
        rng = np.random.default_rng(1)
        n, m = x.shape
        a = rng.random((n, k))  # A, n x k
        s = rng.random((k, m))  # S, k x m
        if sparse:
            xr, xc = x.tocsr(), x.tocsc()
            st = np.ascontiguousarray(s.T)
            self.variants = {
                "X S^T": {"csr X @ S.T": lambda: xr @ st, "csc X @ S.T": lambda: xc @ st},
                "A^T X": {"csr X.T @ A": lambda: xr.T @ a, "csc X.T @ A": lambda: xc.T @ a},
            }
        else:
            xf = np.asfortranarray(x)  # column-major, as nmf_mpi stores a dense block
            self.variants = {
                "X S^T": {"X @ S.T": lambda: xf @ s.T, "S @ X.T": lambda: s @ xf.T},
                "A^T X": {"A.T @ X": lambda: a.T @ xf, "X.T @ A": lambda: xf.T @ a},
            }
        self.samples = {name: [] for product in self.variants.values() for name in product}
        self.batches = []  # (floor of each measure() call alone, other processes' cores meanwhile)

    def measure(self, repeats):
        batch, load = {}, OtherLoad().start()
        for product in self.variants.values():
            for name, function in product.items():
                batch[name] = samples_of(function, repeats)
                self.samples[name] += batch[name]
        self.batches.append((self._floor(batch)[0], load.cores()))

    @staticmethod
    def _best(product, samples):
        medians = {name: statistics.median(samples[name]) for name in product}
        best = min(medians, key=medians.get)
        return best, medians

    def _floor(self, samples):
        total, parts = 0.0, []
        for label, product in self.variants.items():
            best, medians = self._best(product, samples)
            total += medians[best]
            parts.append((label, best, medians))
        return total, parts

    def seconds(self):
        return self._floor(self.samples)[0]

    def describe(self):
        total, parts = self._floor(self.samples)
        lines = []
        for label, best, medians in parts:
            variants = " | ".join(f"{name} {seconds * 1e3:.1f} ms" for name, seconds in medians.items())
            lines.append(f"  {label}: {variants} -> {medians[best] * 1e3:.1f} ms")
        batches = ", ".join(f"{b * 1e3:.1f} ms (others {load:.2f})" for b, load in self.batches)
        count = len(next(iter(self.samples.values())))
        lines.append(f"  floor = {total * 1e3:.1f} ms per iteration (median of {count} samples per variant; "
                     f"batches before/after the runs alone: {batches})")
        return "\n".join(lines)


def sklearn_ms_per_iteration(x, k, solver, iterations, fits):
    """Median over `fits` fits of scikit-learn's NMF fit time / n_iter_, in ms."""
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning

    per_iteration, load = [], OtherLoad().start()
    for _ in range(fits):
        model = NMF(n_components=k, solver=solver, init="random", max_iter=iterations, tol=0, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            model.fit(x)
            elapsed = time.perf_counter() - start
        per_iteration.append(elapsed / model.n_iter_ * 1e3)
    return statistics.median(per_iteration), model.n_iter_, load.cores()


# ---------------------------------------------------------------------------------------------- nmf_mpi


def run_nmf(binary, ranks, arguments, prefix):
    """Runs nmf_mpi under mpirun and returns its summary (a dict), or a string with the error."""
    load = OtherLoad().start()
    result = run_nmf_summary(binary, ranks, arguments, prefix, timeout=3600)
    others = load.cores()
    if isinstance(result, str):
        return result
    for factor in result["outputs"].values():  # only the summary is needed here
        Path(factor).unlink(missing_ok=True)
    result["other_cores"] = others  # not nmf_mpi's: other processes' load during the run (whole run, read included)
    return result


def is_quiet(summary, below):
    """Whether other processes left every rank a core of its own during the run (up to `below` of one core)."""
    return summary["other_cores"] < (os.cpu_count() or 1) - summary["ranks"] + below


def quiet_runs(summaries, below):
    return [s for s in summaries if is_quiet(s, below)]


def run_least_disturbed(binary, ranks, arguments, prefix, retries, below):
    """run_nmf, repeated up to `retries` more times while the run is not quiet; the attempt with the least load
    from other processes is returned, with the number of attempts under "attempts"."""
    best = None
    for attempt in range(1 + retries):
        result = run_nmf(binary, ranks, arguments, prefix.with_name(f"{prefix.name}_a{attempt}"))
        if isinstance(result, str):
            return result
        result["attempts"] = attempt + 1
        if best is None or result["other_cores"] < best["other_cores"]:
            best = result
        if is_quiet(result, below):
            break
    best["attempts"] = attempt + 1
    return best


def median_phases(summaries):
    """ms per iteration of each phase (max over ranks), median over the runs."""
    return {phase: statistics.median(s["phase_seconds"][phase]["max"] / s["iterations"] * 1e3 for s in summaries)
            for phase in PHASES}


def product_flops(name, spec):
    nnz = spec["n"] * spec["m"] if name == "dense" else spec["nnz"]
    return 2 * 2 * nnz * spec["k"]


def gram_flops(spec):
    return 2 * spec["k"] ** 2 * (spec["n"] + spec["m"])


# ---------------------------------------------------------------------------------------------- targets


def targets_for(name, algo, ranks, ms, floor_ms, own_p1_ms, scale, medians):
    """[(description, passed, passed against the scaled PLANC figure or None)] of issue 13's targets."""
    if name == "dense":
        if algo in ("hals", "mu") and ranks == 1:
            return [("<= 1.05 x floor", ms <= 1.05 * floor_ms, None)]
        if algo in ("hals", "mu") and ranks == 2 and own_p1_ms is not None:
            return [("<= 0.55 x own P=1", ms <= 0.55 * own_p1_ms, None)]
    else:
        hals = medians.get(("hals", ranks))
        if algo == "bpp" and hals:
            return [(f"<= 1.5 x sparse hals ({hals:.1f} ms)", ms <= 1.5 * hals, None)]
    return []


def verdict(passed, scaled):
    text = "PASS" if passed else "FAIL"
    if scaled is not None:
        text += f" (scaled {'PASS' if scaled else 'FAIL'})"
    return text


# ---------------------------------------------------------------------------------------------- one problem


def bench_problem(name, args, binary, workdir):
    spec = PROBLEMS[name]
    n, m, k = spec["n"], spec["m"], spec["k"]
    sparse = name == "sparse"
    start = time.perf_counter()
    x, path = (sparse_problem if sparse else dense_problem)(workdir, spec)
    nnz = spec["nnz"] if sparse else n * m
    print(f"\n== {name}: {n} x {m}" + (f", {nnz} nonzeros" if sparse else " dense") +
          f", k = {k}, {args.iters} iterations, tol 0; input {path} ({time.perf_counter() - start:.1f} s to prepare) ==")

    floor = Floor(x, k, sparse)
    floor.measure(args.floor_repeats)

    sklearn = {}
    if not args.skip_sklearn:
        for solver in ("cd", "mu"):
            sklearn[solver] = sklearn_ms_per_iteration(x, k, solver, args.sklearn_iters, args.sklearn_fits)

    runs = {}  # (algo, ranks) -> summaries, or error strings
    for repeat in range(args.repeats):
        for algo in args.algos:
            for ranks in args.ranks:
                prefix = workdir / "runs" / f"{name}_{algo}_p{ranks}_r{repeat}"
                prefix.parent.mkdir(parents=True, exist_ok=True)
                result = run_least_disturbed(binary, ranks, ["-i", str(path), "-k", str(k), "--algo", algo, "--iters",
                                                             str(args.iters), "--tol", "0", "--quiet"], prefix,
                                             args.retries, args.quiet_below)
                if isinstance(result, str):
                    print(f"FAILED {name} {algo} P={ranks} repeat {repeat}: {result}")
                runs.setdefault((algo, ranks), []).append(result)

    floor.measure(args.floor_repeats)
    floor_ms = floor.seconds() * 1e3
    scale = floor_ms / PLANC[name]["floor"]

    print(f"references (1 thread):\n{floor.describe()}")
    print(f"  PLANC's quoted floor {PLANC[name]['floor']:.0f} ms -> scale factor {scale:.2f}: the 'PLANC*' column is "
          f"PLANC's figure x {scale:.2f} (what it would be on this machine today if it tracked the floor)")
    for solver, (ms, iterations, load) in sklearn.items():
        print(f"  scikit-learn NMF solver='{solver}': {ms:.1f} ms/iteration ({ms / floor_ms:.2f} x floor; "
              f"fit time / n_iter_ = {iterations}, median of {args.sklearn_fits} fits; others {load:.2f})")

    kept = [s for summaries in runs.values() for s in summaries if isinstance(s, dict)]
    print(f"nmf_mpi: {len(kept)} runs kept, {sum(is_quiet(s, args.quiet_below) for s in kept)} of them quiet; "
          f"{sum(s['attempts'] - 1 for s in kept)} noisy attempts were tried again")
    header = (f"{'algo':<5} {'P':>2} {'grid':>5} {'ms/iter':>8} {'min..max':>13} {'x floor':>8} {'x P=1':>6} "
              f"{'PLANC':>6} {'x PLANC':>8} {'PLANC*':>7} {'x PLANC*':>9} {'x skl-cd':>9} {'others':>6} {'quiet':>9}  "
              f"{'rel. error':>10}  "
              f"target: verdict")
    print(header)
    print("-" * len(header))
    medians, results = {}, []
    all_medians = {key: statistics.median(s["seconds_per_iteration"] * 1e3 for s in summaries if isinstance(s, dict))
                   for key, summaries in runs.items() if any(isinstance(s, dict) for s in summaries)}
    for algo in args.algos:
        for ranks in args.ranks:
            summaries = [s for s in runs[(algo, ranks)] if isinstance(s, dict)]
            if not summaries:
                print(f"{algo:<5} {ranks:>2} {'':>5} {'FAILED':>8}")
                continue
            times = [s["seconds_per_iteration"] * 1e3 for s in summaries]
            ms = medians[(algo, ranks)] = statistics.median(times)
            own_p1 = medians.get((algo, 1))
            planc = PLANC[name].get((algo, ranks))
            grid = "x".join(map(str, summaries[0]["grid"]))
            cells = [f"{algo:<5} {ranks:>2} {grid:>5} {ms:>8.1f} {min(times):>6.1f}..{max(times):<6.1f} "
                     f"{ms / floor_ms:>8.2f} {(ms / own_p1 if own_p1 else float('nan')):>6.2f}"]
            if planc:
                cells.append(f"{planc:>6.0f} {ms / planc:>8.2f} {planc * scale:>7.1f} {ms / (planc * scale):>9.2f}")
            else:
                cells.append(f"{'-':>6} {'-':>8} {'-':>7} {'-':>9}")
            cells.append(f"{ms / sklearn['cd'][0]:>9.2f}" if "cd" in sklearn else f"{'-':>9}")
            cells.append(f"{statistics.median(s['other_cores'] for s in summaries):>6.2f}")
            quiet = [s["seconds_per_iteration"] * 1e3 for s in quiet_runs(summaries, args.quiet_below)]
            cells.append(f"{statistics.median(quiet):>6.1f} ({len(quiet)})" if quiet else f"{'- (0)':>9}")
            cells.append(f" {summaries[0]['relative_error']:>10.6f} ")
            for description, passed, scaled in targets_for(name, algo, ranks, ms, floor_ms, own_p1, scale, all_medians):
                cells.append(f" {description}: {verdict(passed, scaled)}")
                results.append((f"{name} {algo} P={ranks} {description}", passed, scaled))
            print(" ".join(cells))
    print(f"(ms/iter: median of {args.repeats} runs; x P=1: time at P over the same algo's time at P = 1; PLANC*: "
          f"PLANC's quoted figure scaled by {scale:.2f}; x skl-cd: over scikit-learn's cd solver; others: cores busy with "
          f"other processes during the runs, median; quiet: median ms/iter of the runs with others < cores - P + "
          f"{args.quiet_below} (how many))")

    print(f"\nphase breakdown, {name}: ms per iteration (phase_seconds max over ranks / iterations, median of the "
          f"quiet runs if any, else of all); GF/s per rank")
    header = (f"{'algo':<5} {'P':>2} {'runs':>7} {'products':>9} {'gram':>7} {'collect.':>9} {'update':>8} {'eval.':>7} "
              f"{'sum':>8} {'ms/iter':>8} {'prod GF/s':>10} {'gram GF/s':>10}")
    print(header)
    print("-" * len(header))
    for algo in args.algos:
        for ranks in args.ranks:
            summaries = [s for s in runs[(algo, ranks)] if isinstance(s, dict)]
            if not summaries:
                continue
            quiet = quiet_runs(summaries, args.quiet_below)
            used = quiet or summaries
            phases = median_phases(used)
            iteration_ms = statistics.median(s["seconds_per_iteration"] * 1e3 for s in used)
            runs_label = f"{'quiet' if quiet else 'all'} {len(used)}"
            products_rate = product_flops(name, spec) / ranks / (phases["local_products"] * 1e-3) / 1e9
            gram_rate = gram_flops(spec) / ranks / (phases["gram"] * 1e-3) / 1e9 if phases["gram"] > 0 else float("nan")
            print(f"{algo:<5} {ranks:>2} {runs_label:>7} " + " ".join(f"{phases[p]:>{w}.2f}" for p, w in zip(PHASES, (9, 7, 9, 8, 7))) +
                  f" {sum(phases.values()):>8.2f} {iteration_ms:>8.2f} {products_rate:>10.2f} {gram_rate:>10.2f}")
    print(f"(prod GF/s: {product_flops(name, spec) / 1e9:.2f} GFLOP per iteration "
          f"({'2 x 2 n m k' if not sparse else '2 x 2 nnz k'}) / P per rank, over the local_products time; "
          f"gram GF/s: 2 k^2 (n + m) / P = {gram_flops(spec) / 1e9:.4f} GFLOP / P per rank, GEMM-equivalent "
          f"(dsyrk does about half of it); 'sum' = sum of the phases; ms/iter: median seconds_per_iteration of the same runs)")
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default=str(ROOT / "build"))
    parser.add_argument("--workdir", default="/tmp/nmf_bench_solvers", help="inputs are kept and reused here")
    parser.add_argument("--repeats", type=int, default=3, help="nmf_mpi runs per (problem, algo, P)")
    parser.add_argument("--problems", default="dense,sparse")
    parser.add_argument("--algos", default="als,bpp,hals,mu")
    parser.add_argument("--ranks", default="1,2")
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--floor-repeats", type=int, default=10, help="samples per floor variant, before and after")
    parser.add_argument("--sklearn-fits", type=int, default=3)
    parser.add_argument("--sklearn-iters", type=int, default=30)
    parser.add_argument("--skip-sklearn", action="store_true")
    parser.add_argument("--retries", type=int, default=2, help="extra attempts of a run that was not quiet")
    parser.add_argument("--quiet-below", type=float, default=0.25,
                        help="a run is quiet if other processes kept fewer than (cores - P) + this many cores busy during it")
    args = parser.parse_args()
    args.algos = [a for a in args.algos.split(",") if a]
    args.ranks = [int(r) for r in args.ranks.split(",") if r]
    problems = [p for p in args.problems.split(",") if p]
    for p in problems:
        if p not in PROBLEMS:
            sys.exit(f"unknown problem {p!r}: choose from {', '.join(PROBLEMS)}")
    if 1 not in args.ranks:
        args.ranks.insert(0, 1)  # the 'x P=1' ratios and targets need it
    binary, workdir = prepare(args.build_dir, args.workdir)

    results = []
    for name in problems:
        results += bench_problem(name, args, binary, workdir)

    print("\n== targets ==")
    for description, passed, scaled in results:
        print(f"  {verdict(passed, scaled):<22} {description}")
    print(f"{sum(passed for _, passed, _ in results)} of {len(results)} targets pass")


if __name__ == "__main__":
    main()
