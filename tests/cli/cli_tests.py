#!/usr/bin/env python3
"""Command-line tests of nmf_mpi: bad input is rejected cleanly, and good input is factored correctly.

Run with Debian's Python (numpy, scipy):

    /usr/bin/python3 tests/cli/cli_tests.py --list      # "CASE RANKS" lines: the most MPI ranks the case runs
    /usr/bin/python3 tests/cli/cli_tests.py --binary build/nmf_mpi --mpiexec /usr/bin/mpirun CASE
    /usr/bin/python3 tests/cli/cli_tests.py --binary build/nmf_mpi --mpiexec /usr/bin/mpirun   # every case

A case exits 0 when it passes, 1 with an explanation when it fails, and 77 (EXIT_SKIPPED, ctest's
SKIP_RETURN_CODE in tests/CMakeLists.txt) after printing "SKIP: ..." when the shared data it needs is absent:
a skip is never reported as a pass. NMF_SHARED_DATA overrides where the shared data is looked for.

Every case works in its own temporary directory, writes its own input files (numpy with fixed seeds; Matrix
Market text written by hand, byte by byte) and checks the results against numpy, never against values copied
from the program's output. A case declares the most ranks it runs at once (@case(ranks=4); 2 by default), which
ctest reserves as its PROCESSORS.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from expect_exit import kill_session  # noqa: E402  (tests/expect_exit.py: one copy of the process cleanup)

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("NMF_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
FASHION_MNIST = SHARED_DATA / "fashion-mnist" / "t10k-images-10000x784-uint8.npy"

MPI_ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OPENBLAS_NUM_THREADS": "1",
}
EXIT_SKIPPED = 77  # a case that could not run; tests/CMakeLists.txt sets SKIP_RETURN_CODE to it
TIMEOUT_SECONDS = 60  # every mpirun; running out of it is a hang, and a failure
ERROR_DEADLINE_SECONDS = 20  # a rejected input must be reported well within the timeout

# nmf::ExitCode (include/nmf/error.hpp)
EXIT_USAGE = 2
EXIT_BAD_INPUT = 3
EXIT_OUTPUT_ERROR = 4
EXIT_NAMES = {0: "success", 1: "failure", EXIT_USAGE: "usage", EXIT_BAD_INPUT: "bad_input",
              EXIT_OUTPUT_ERROR: "output_error"}

RTOL_ERROR = 1e-9  # summary relative_error against numpy's
RTOL_RANKS = 1e-8  # factors computed on different numbers of ranks
RTOL_INITIAL = 1e-12  # initial factors (--iters 0) on different numbers of ranks and grids


# --- failures and skips ----------------------------------------------------------------------------------------

class CaseFailure(Exception):
    pass


class CaseSkipped(Exception):
    pass


def describe_run(run):
    def tail(text, limit=4000):
        return text if len(text) <= limit else "... " + text[-limit:]
    return (f"\n  command: {' '.join(run.command)}\n  exit code: {run.returncode}, {run.elapsed:.2f} s"
            f"\n  --- stdout ---\n{tail(run.stdout)}\n  --- stderr ---\n{tail(run.stderr)}")


def check(condition, message, run=None):
    if not condition:
        raise CaseFailure(message + (describe_run(run) if run is not None else ""))


def check_close(actual, expected, rtol, what, run=None):
    check(abs(actual - expected) <= rtol * abs(expected),
          f"{what}: {actual!r} differs from {expected!r} by more than {rtol:g} relative "
          f"(difference {abs(actual - expected):.3g})", run)


def check_same_matrix(x, y, rtol, what):
    check(x.shape == y.shape, f"{what}: shapes {x.shape} and {y.shape} differ")
    scale = max(np.max(np.abs(x)), np.max(np.abs(y)))
    diff = np.max(np.abs(x - y))
    check(diff <= rtol * scale,
          f"{what}: max abs difference {diff:.3g} exceeds {rtol:g} x max abs value {scale:.3g}")


# --- running nmf_mpi ---------------------------------------------------------------------------------------------

class Run:
    def __init__(self, command, returncode, stdout, stderr, elapsed):
        self.command = command
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.elapsed = elapsed


class Context:
    def __init__(self, binary, mpiexec, workdir, max_ranks=None):
        self.binary = binary
        self.max_ranks = max_ranks  # what the case declared (ctest reserves that many PROCESSORS)
        self.mpiexec = mpiexec
        self.workdir = Path(workdir)
        self.indir = self.workdir / "in"
        self.outdir = self.workdir / "out"
        self.indir.mkdir()
        self.outdir.mkdir()

    def run(self, ranks, args, timeout=TIMEOUT_SECONDS):
        """Runs nmf_mpi on `ranks` ranks; returns a Run (returncode, stdout, stderr, elapsed)."""
        check(self.max_ranks is None or ranks <= self.max_ranks,
              f"test bug: the case runs {ranks} ranks but declares {self.max_ranks} (@case(ranks=...))")
        return self.run_command([self.mpiexec, "-np", str(ranks), "--oversubscribe", self.binary] +
                                [str(a) for a in args], timeout)

    def run_mpmd(self, args_per_rank, timeout=TIMEOUT_SECONDS):
        """Runs one nmf_mpi per entry of `args_per_rank`, each with its own arguments (an MPMD launch)."""
        check(self.max_ranks is None or len(args_per_rank) <= self.max_ranks,
              f"test bug: the case runs {len(args_per_rank)} ranks but declares {self.max_ranks} (@case(ranks=...))")
        command = [self.mpiexec, "--oversubscribe"]
        for i, args in enumerate(args_per_rank):
            command += ([":"] if i else []) + ["-np", "1", self.binary] + [str(a) for a in args]
        return self.run_command(command, timeout)

    def run_command(self, command, timeout):
        env = dict(os.environ, **MPI_ENV)
        start = time.monotonic()
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                cwd=self.workdir, start_new_session=True)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)  # mpirun passes it on to its ranks
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            kill_session(proc.pid)  # whatever is left of this mpirun's session, ranks included
            stdout, stderr = proc.communicate()
            run = Run(command, proc.returncode, stdout, stderr, time.monotonic() - start)
            raise CaseFailure(f"HANG: nmf_mpi did not finish within {timeout} s" + describe_run(run))
        return Run(command, proc.returncode, stdout, stderr, time.monotonic() - start)

    def run_ok(self, ranks, args):
        run = self.run(ranks, args)
        check(run.returncode == 0, f"nmf_mpi failed (exit code {run.returncode}), expected success", run)
        check("nmf_mpi: error" not in run.stderr and "fatal" not in run.stderr,
              "a successful run printed an error", run)
        return run


# --- input files -------------------------------------------------------------------------------------------------

class MtxFile:
    """A Matrix Market file written by write_mtx, with the 1-based line numbers of its parts."""

    def __init__(self, path, size_line, first_entry_line):
        self.path = path
        self.size_line = size_line
        self.first_entry_line = first_entry_line

    def entry_line(self, index):
        return self.first_entry_line + index

    def __str__(self):
        return str(self.path)


def write_mtx(path, banner, size_line, entry_lines, comments=("written by tests/cli/cli_tests.py",)):
    """Writes banner, '%' comments, the size line and the entry lines, each ending in '\\n', as given."""
    lines = [banner] + ["% " + c for c in comments] + [size_line] + list(entry_lines)
    Path(path).write_bytes(("\n".join(lines) + "\n").encode("ascii"))
    size_line_number = len(comments) + 2
    return MtxFile(Path(path), size_line_number, size_line_number + 1)


def real_text(value):
    """17 significant digits: the text reads back as exactly the same double."""
    return f"{value:.16e}"


def coordinate_lines(x, field="real", lower_only=False, order=None):
    """'row column value' lines (1-based) of the nonzeros of x, in `order` (a permutation) if given."""
    rows, cols = np.nonzero(np.tril(x) if lower_only else x)
    positions = range(len(rows)) if order is None else order(len(rows))
    lines = []
    for p in positions:
        i, j = rows[p], cols[p]
        if field == "pattern":
            lines.append(f"{i + 1} {j + 1}")
        elif field == "integer":
            lines.append(f"{i + 1} {j + 1} {int(x[i, j])}")
        else:
            lines.append(f"{i + 1} {j + 1} {real_text(x[i, j])}")
    return lines


def shuffled(seed):
    return lambda count: np.random.default_rng(seed).permutation(count)


def write_coordinate(path, x, field="real", symmetry="general", order=None):
    lines = coordinate_lines(x, field, lower_only=symmetry == "symmetric", order=order)
    return write_mtx(path, f"%%MatrixMarket matrix coordinate {field} {symmetry}",
                     f"{x.shape[0]} {x.shape[1]} {len(lines)}", lines)


def write_array(path, x, field="real"):
    values = x.flatten(order="F")  # Matrix Market arrays are column-major
    lines = [str(int(v)) if field == "integer" else real_text(v) for v in values]
    return write_mtx(path, f"%%MatrixMarket matrix array {field} general", f"{x.shape[0]} {x.shape[1]}", lines)


def random_sparse(n, m, density, seed):
    """A non-negative n x m matrix with about density * n * m nonzeros drawn from (0, 10)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, m))
    count = int(round(density * n * m))
    flat = rng.choice(n * m, size=count, replace=False)
    x.flat[flat] = rng.uniform(0.0, 10.0, size=count)
    return x


def random_integer_matrix(n, m, seed, high=256, zero_fraction=0.45):
    """Integer-valued non-negative entries in 1..high-1 (so uint8 holds them), with about zero_fraction zeros."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, high, size=(n, m)).astype(np.float64)
    x[rng.random((n, m)) < zero_fraction] = 0.0
    return x


def small_mtx_lines(entries):
    return [f"{i} {j} {v}" for i, j, v in entries]


# --- results -----------------------------------------------------------------------------------------------------

def load_summary(prefix):
    path = Path(f"{prefix}_summary.json")
    check(path.is_file(), f"missing summary {path}")
    return json.loads(path.read_text())


def load_factors(prefix, output_format="mtx"):
    if output_format == "npy":
        a, s = np.load(f"{prefix}_A.npy"), np.load(f"{prefix}_S.npy")
    else:
        import scipy.io
        a, s = scipy.io.mmread(f"{prefix}_A.mtx"), scipy.io.mmread(f"{prefix}_S.mtx")
    return np.asarray(a, dtype=np.float64), np.asarray(s, dtype=np.float64)


def numpy_error(x, a, s):
    return float(np.linalg.norm(x - a @ s) / np.linalg.norm(x))


def check_factorization(x, prefix, k, output_format="mtx", run=None):
    """Loads A and S, checks shapes and signs, and that the summary's error is numpy's. Returns (A, S, summary)."""
    a, s = load_factors(prefix, output_format)
    summary = load_summary(prefix)
    n, m = x.shape
    check(a.shape == (n, k), f"{prefix}: A has shape {a.shape}, expected {(n, k)}", run)
    check(s.shape == (k, m), f"{prefix}: S has shape {s.shape}, expected {(k, m)}", run)
    check(np.all(a >= 0), f"{prefix}: A has negative entries (min {a.min()})", run)
    check(np.all(s >= 0), f"{prefix}: S has negative entries (min {s.min()})", run)
    check(summary["n"] == n and summary["m"] == m,
          f"{prefix}: summary says {summary['n']} x {summary['m']}, expected {n} x {m}", run)
    check_close(summary["relative_error"], numpy_error(x, a, s), RTOL_ERROR,
                f"{prefix}: summary relative_error vs numpy's ||X - A S||_F / ||X||_F", run)
    return a, s, summary


def error_lines(run):
    return re.findall(r"^nmf_mpi: error: .*$", run.stderr, re.M)


def check_outputs_absent(ctx, run):
    """After a failed run: nothing in the output directory (no factors, summary, *.tmp-* or probe files)
    and no temporary files beside the inputs."""
    left = sorted(p.name for p in ctx.outdir.iterdir())
    check(not left, f"a failed run left files in the output directory: {left}", run)
    temporaries = sorted(p.name for p in ctx.indir.iterdir() if ".tmp-" in p.name or ".probe-" in p.name)
    check(not temporaries, f"a failed run left temporary files: {temporaries}", run)


def expect_error(ctx, args, code, keywords, ranks=2, location=None):
    """Runs nmf_mpi expecting it to fail with exit code `code` and one 'nmf_mpi: error: ' line that
    contains `location` (e.g. 'path:LINE:') and every keyword (case-insensitive)."""
    run = ctx.run(ranks, args)
    check(run.returncode == code,
          f"exit code {run.returncode}, expected {code} ({EXIT_NAMES[code]})", run)
    lines = error_lines(run)
    count = run.stderr.count("nmf_mpi: error:")
    check(len(lines) == 1 and count == 1,
          f"expected the line 'nmf_mpi: error: ...' exactly once on stderr, found it {count} times", run)
    check("fatal" not in run.stderr, "the failure was not agreed by the ranks (a rank aborted the job)", run)
    message = lines[0]
    if location is not None:
        check(str(location) in message, f"the message does not name {location!r}", run)
    for word in keywords:
        check(word.lower() in message.lower(), f"the message does not mention {word!r}", run)
    check(run.elapsed < ERROR_DEADLINE_SECONDS,
          f"the error took {run.elapsed:.1f} s, more than {ERROR_DEADLINE_SECONDS} s", run)
    check_outputs_absent(ctx, run)
    return message


def out_prefix(ctx, name="run"):
    return ctx.outdir / name


def expect_bad_mtx(ctx, banner, size_line, lines, bad_index, keywords, name="bad.mtx", extra_args=()):
    """A Matrix Market file whose entry line `bad_index` (0-based among entry lines) is bad."""
    f = write_mtx(ctx.indir / name, banner, size_line, lines)
    expect_error(ctx, ["-i", f, "-k", "2", "-o", out_prefix(ctx)] + list(extra_args), EXIT_BAD_INPUT, keywords,
                 location=f"{f.path}:{f.entry_line(bad_index)}:")


COORDINATE_REAL = "%%MatrixMarket matrix coordinate real general"
# A valid 4 x 5 matrix; bad cases replace one of its lines.
GOOD_4x5 = [(1, 1, "1.5"), (2, 3, "2.25"), (3, 2, "4"), (4, 5, "0.5"), (2, 4, "3.75")]


def good_4x5_file(ctx, name="good.mtx"):
    return write_mtx(ctx.indir / name, COORDINATE_REAL, "4 5 5", small_mtx_lines(GOOD_4x5))


def with_bad_entry(index, entry):
    entries = list(GOOD_4x5)
    entries[index] = entry
    return small_mtx_lines(entries)


# --- cases -------------------------------------------------------------------------------------------------------

CASES = {}
CASE_RANKS = {}  # the most ranks each case runs at once: ctest gives the case that many PROCESSORS
DEFAULT_CASE_RANKS = 2


def case(function=None, *, ranks=DEFAULT_CASE_RANKS):
    """Registers a case: @case (runs at most 2 ranks at once) or @case(ranks=4). Context.run enforces it."""
    def register(f):
        name = f.__name__[len("case_"):]
        CASES[name] = f
        CASE_RANKS[name] = ranks
        return f
    return register(function) if function is not None else register


# Bad input: each at -np 2, exit code and a single message naming the file, line and problem.

@case
def case_bad_missing_file(ctx):
    path = ctx.indir / "missing.mtx"
    expect_error(ctx, ["-i", path, "-k", "2", "-o", out_prefix(ctx)], EXIT_BAD_INPUT, ["no such file"],
                 location=str(path))


@case
def case_bad_directory(ctx):
    expect_error(ctx, ["-i", ctx.indir, "-k", "2", "-o", out_prefix(ctx)], EXIT_BAD_INPUT, ["directory"],
                 location=str(ctx.indir))


@case
def case_bad_banner(ctx):
    f = write_mtx(ctx.indir / "bad.mtx", "%%MatrixMarkt matrix coordinate real general", "4 5 5",
                  small_mtx_lines(GOOD_4x5))
    expect_error(ctx, ["-i", f, "-k", "2", "-o", out_prefix(ctx)], EXIT_BAD_INPUT, ["not a Matrix Market"],
                 location=f"{f.path}:1:")


@case
def case_bad_size_line(ctx):
    f = write_mtx(ctx.indir / "bad.mtx", COORDINATE_REAL, "4 5", small_mtx_lines(GOOD_4x5),
                  comments=("two comment lines", "before the size line"))
    expect_error(ctx, ["-i", f, "-k", "2", "-o", out_prefix(ctx)], EXIT_BAD_INPUT, ["bad size line", "4 5"],
                 location=f"{f.path}:{f.size_line}:")


@case
def case_bad_count_fewer(ctx):
    f = write_mtx(ctx.indir / "bad.mtx", COORDINATE_REAL, "4 5 6", small_mtx_lines(GOOD_4x5))
    expect_error(ctx, ["-i", f, "-k", "2", "-o", out_prefix(ctx)], EXIT_BAD_INPUT,
                 ["declares 6", "has 5"], location=f"{f.path}:{f.size_line}:")


@case
def case_bad_count_more(ctx):
    f = write_mtx(ctx.indir / "bad.mtx", COORDINATE_REAL, "4 5 4", small_mtx_lines(GOOD_4x5))
    expect_error(ctx, ["-i", f, "-k", "2", "-o", out_prefix(ctx)], EXIT_BAD_INPUT,
                 ["declares 4", "has 5"], location=f"{f.path}:{f.size_line}:")


@case
def case_bad_row_index_zero(ctx):
    expect_bad_mtx(ctx, COORDINATE_REAL, "4 5 5", with_bad_entry(2, (0, 2, "4")), 2,
                   ["row index 0", "out of range"])


@case
def case_bad_index_out_of_range(ctx):
    expect_bad_mtx(ctx, COORDINATE_REAL, "4 5 5", with_bad_entry(3, (4, 6, "0.5")), 3,
                   ["column index 6", "out of range 1..5"])


@case
def case_bad_non_numeric(ctx):
    expect_bad_mtx(ctx, COORDINATE_REAL, "4 5 5", with_bad_entry(1, (2, 3, "abc")), 1, ["'abc'", "not a number"])


@case
def case_bad_nan(ctx):
    expect_bad_mtx(ctx, COORDINATE_REAL, "4 5 5", with_bad_entry(4, (2, 4, "nan")), 4, ["NaN"])


@case
def case_bad_inf(ctx):
    expect_bad_mtx(ctx, COORDINATE_REAL, "4 5 5", with_bad_entry(0, (1, 1, "inf")), 0, ["infinite"])


@case
def case_bad_negative(ctx):
    expect_bad_mtx(ctx, COORDINATE_REAL, "4 5 5", with_bad_entry(3, (4, 5, "-2.5")), 3, ["negative", "-2.5"])


@case
def case_bad_empty_size(ctx):
    f = write_mtx(ctx.indir / "empty.mtx", COORDINATE_REAL, "0 5 0", [])
    expect_error(ctx, ["-i", f, "-k", "1", "-o", out_prefix(ctx)], EXIT_BAD_INPUT, ["empty"],
                 location=f"{f.path}:{f.size_line}:")


@case
def case_bad_empty_no_entries(ctx):
    f = write_mtx(ctx.indir / "empty.mtx", COORDINATE_REAL, "4 5 0", [])
    expect_error(ctx, ["-i", f, "-k", "1", "-o", out_prefix(ctx)], EXIT_BAD_INPUT, ["empty"],
                 location=f"{f.path}:{f.size_line}:")


@case
def case_bad_all_zero(ctx):
    f = write_mtx(ctx.indir / "zero.mtx", COORDINATE_REAL, "4 5 3", small_mtx_lines(
        [(1, 1, "0"), (2, 3, "0.0"), (4, 5, "0e0")]))
    expect_error(ctx, ["-i", f, "-k", "2", "-o", out_prefix(ctx)], EXIT_BAD_INPUT, ["every entry is zero"],
                 location=str(f.path))


@case
def case_bad_k_zero(ctx):
    f = good_4x5_file(ctx)
    expect_error(ctx, ["-i", f, "-k", "0", "-o", out_prefix(ctx)], EXIT_USAGE, ["-k/--rank '0'", "at least 1"])


@case
def case_bad_k_too_large(ctx):
    f = good_4x5_file(ctx)
    expect_error(ctx, ["-i", f, "-k", "5", "-o", out_prefix(ctx)], EXIT_USAGE,
                 ["-k/--rank 5", "min(n, m) = 4", "4 x 5"])


@case
def case_bad_grid_string(ctx):
    f = good_4x5_file(ctx)
    expect_error(ctx, ["-i", f, "-k", "2", "--grid", "3by2", "-o", out_prefix(ctx)], EXIT_USAGE,
                 ["--grid '3by2'", "PRxPC"])


@case
def case_bad_grid_product(ctx):
    f = good_4x5_file(ctx)
    expect_error(ctx, ["-i", f, "-k", "2", "--grid", "2x2", "-o", out_prefix(ctx)], EXIT_USAGE,
                 ["--grid 2x2", "4 ranks", "job has 2"])


@case
def case_bad_grid_too_many_rows(ctx):
    f = write_mtx(ctx.indir / "row.mtx", COORDINATE_REAL, "1 5 2", small_mtx_lines([(1, 2, "1"), (1, 5, "2")]))
    expect_error(ctx, ["-i", f, "-k", "1", "--grid", "2x1", "-o", out_prefix(ctx)], EXIT_USAGE,
                 ["--grid 2x1", "more than the 1 rows"])


@case
def case_bad_grid_auto_too_many_ranks(ctx):
    f = write_mtx(ctx.indir / "one.mtx", COORDINATE_REAL, "1 1 1", small_mtx_lines([(1, 1, "3.5")]))
    expect_error(ctx, ["-i", f, "-k", "1", "-o", out_prefix(ctx)], EXIT_USAGE,
                 ["cannot lay out 2 ranks", "1 x 1"])


@case
def case_bad_output_missing_dir(ctx):
    f = good_4x5_file(ctx)
    missing = ctx.workdir / "nonexistent" / "dir"
    expect_error(ctx, ["-i", f, "-k", "2", "-o", missing / "run"], EXIT_OUTPUT_ERROR, ["does not exist"],
                 location=f"'{missing}'")
    check(not missing.exists(), f"{missing} was created")


@case
def case_bad_output_unwritable(ctx):
    # As root, permission bits do not stop writes, so /proc stands in for an unwritable directory.
    # '/proc' itself exists and is a directory but no file can be created in it (the write probe fails,
    # whatever errno procfs chooses): deterministic "cannot write". '/proc/nmf_out' is never a procfs
    # entry (those are process ids and fixed kernel names): deterministic "does not exist".
    f = good_4x5_file(ctx)
    expect_error(ctx, ["-i", f, "-k", "2", "-o", "/proc/nmf_run"], EXIT_OUTPUT_ERROR,
                 ["cannot write to output directory '/proc'"])
    expect_error(ctx, ["-i", f, "-k", "2", "-o", "/proc/nmf_out/run"], EXIT_OUTPUT_ERROR,
                 ["output directory '/proc/nmf_out' does not exist"])


@case
def case_bad_output_target_is_directory(ctx):
    # PREFIX_A.mtx is a directory: the factor is written under a temporary name, whose rename fails. The
    # run must fail with an output error and leave no temporary file behind.
    f = good_4x5_file(ctx)
    prefix = out_prefix(ctx)
    blocker = Path(f"{prefix}_A.mtx")
    blocker.mkdir()
    run = ctx.run(2, ["-i", f, "-k", "2", "-o", prefix])
    check(run.returncode == EXIT_OUTPUT_ERROR,
          f"exit code {run.returncode}, expected {EXIT_OUTPUT_ERROR} (output_error)", run)
    lines = error_lines(run)
    check(len(lines) == 1 and run.stderr.count("nmf_mpi: error:") == 1,
          "expected the line 'nmf_mpi: error: ...' exactly once on stderr", run)
    check(str(blocker) in lines[0], f"the message does not name {blocker}", run)
    left = sorted(p.name for p in ctx.outdir.iterdir() if p != blocker)
    check(not left, f"the failed write left files in the output directory: {left}", run)


def expect_bad_npy_dtype(ctx, array, descr):
    path = ctx.indir / "bad.npy"
    np.save(path, array)
    expect_error(ctx, ["-i", path, "-k", "2", "-o", out_prefix(ctx)], EXIT_BAD_INPUT,
                 [f"unsupported dtype '{descr}'"], location=f"{path}:")


@case
def case_bad_npy_complex128(ctx):
    expect_bad_npy_dtype(ctx, np.ones((4, 5), dtype=np.complex128), "<c16")


@case
def case_bad_npy_bool(ctx):
    expect_bad_npy_dtype(ctx, np.ones((4, 5), dtype=bool), "|b1")


@case
def case_bad_npy_truncated(ctx):
    path = ctx.indir / "truncated.npy"
    np.save(path, np.ones((40, 30), dtype=np.float64))
    data = path.read_bytes()
    path.write_bytes(data[:-17])  # 40 * 30 * 8 = 9600 data bytes; 9583 remain
    expect_error(ctx, ["-i", path, "-k", "2", "-o", out_prefix(ctx)], EXIT_BAD_INPUT,
                 ["truncated", "9600", "9583"], location=f"{path}:")


@case
def case_bad_npy_negative(ctx):
    # The bad element is in the last row, so the rank that reads it is not rank 0.
    path = ctx.indir / "negative.npy"
    x = np.ones((6, 5), dtype=np.float64)
    x[5, 3] = -2.5
    np.save(path, x)
    expect_error(ctx, ["-i", path, "-k", "2", "-o", out_prefix(ctx)], EXIT_BAD_INPUT,
                 ["[5, 3]", "negative"], location=f"{path}:")


@case
def case_bad_unknown_option(ctx):
    f = good_4x5_file(ctx)
    expect_error(ctx, ["-i", f, "-k", "2", "--bogus", "-o", out_prefix(ctx)], EXIT_USAGE,
                 ["--bogus", "unrecognised"])


@case
def case_bad_option_value(ctx):
    f = good_4x5_file(ctx)
    expect_error(ctx, ["-i", f, "-k", "2", "--iters", "abc", "-o", out_prefix(ctx)], EXIT_USAGE,
                 ["'abc'", "iters", "invalid"])
    expect_error(ctx, ["-i", f, "-k", "abc", "-o", out_prefix(ctx)], EXIT_USAGE, ["-k/--rank 'abc'", "not an integer"])
    for spec, words in (("5:2", ["ends before it starts"]), ("2:3:4:5", ["two or three fields"]),
                        ("3,x", ["'x' is not an integer"])):
        expect_error(ctx, ["-i", f, "-k", spec, "-o", out_prefix(ctx)], EXIT_USAGE, [f"-k/--rank '{spec}'"] + words)


# A coordinate file of more than 3 MB: large enough that 2 or 4 ranks read it in several 1 MB blocks.
LARGE_SHAPE_AND_COUNT = (3000, 2000, 120000)


def large_entry_lines(seed):
    """(flat positions i*m + j, entry lines) of LARGE_SHAPE_AND_COUNT's distinct random entries in [0, 10)."""
    n, m, count = LARGE_SHAPE_AND_COUNT
    rng = np.random.default_rng(seed)
    flat = rng.choice(n * m, size=count, replace=False)
    values = rng.uniform(0.0, 10.0, size=count)
    return flat, [f"{p // m + 1} {p % m + 1} {real_text(v)}" for p, v in zip(flat, values)]


@case(ranks=4)
def case_bad_line_far_into_file(ctx):
    # > 3 MB of entries read in 1 MB blocks: the bad line, near the end, lies in the last rank's range
    # (at -np 2 beyond its first block), so its number comes from lines counted by other ranks and blocks.
    n, m, count = LARGE_SHAPE_AND_COUNT
    flat, lines = large_entry_lines(seed=7)
    bad = count - 5
    lines[bad] = f"{flat[bad] // m + 1} {flat[bad] % m + 1} -7.25"
    f = write_mtx(ctx.indir / "big.mtx", COORDINATE_REAL, f"{n} {m} {count}", lines,
                  comments=("a large matrix", "with a negative value near the end"))
    data = f.path.read_bytes()
    size = len(data)
    data_begin = data.index(b"\n", data.index(f"{n} {m} {count}".encode())) + 1
    bad_offset = data.index(("\n" + lines[bad] + "\n").encode()) + 1
    check(size > 3 << 20, f"test premise: the file has {size} bytes, expected more than 3 MB")
    for ranks in (2, 4):
        last_rank_begin = data_begin + (size - data_begin) * (ranks - 1) // ranks
        first_block = (1 << 20) if ranks == 2 else 0
        check(bad_offset > last_rank_begin + first_block,
              f"test premise: the bad line is not where the last rank reads it at -np {ranks}")
        expect_error(ctx, ["-i", f, "-k", "2", "--read-chunk-mb", "1", "-o", out_prefix(ctx)], EXIT_BAD_INPUT,
                     ["negative", "-7.25"], ranks=ranks, location=f"{f.path}:{f.entry_line(bad)}:")


@case(ranks=4)
def case_bad_first_of_two_bad_lines(ctx):
    # Two bad lines read by different ranks (and, at -np 2, different 1 MB blocks): the earlier one is
    # reported, whichever rank finds its own first.
    n, m, count = LARGE_SHAPE_AND_COUNT
    flat, lines = large_entry_lines(seed=8)
    first, second = count // 4, count - 3
    lines[first] = f"{flat[first] // m + 1} {flat[first] % m + 1} oops"
    lines[second] = f"{flat[second] // m + 1} {flat[second] % m + 1} -1"
    f = write_mtx(ctx.indir / "two.mtx", COORDINATE_REAL, f"{n} {m} {count}", lines)
    for ranks in (2, 4):
        expect_error(ctx, ["-i", f, "-k", "2", "--read-chunk-mb", "1", "-o", out_prefix(ctx)], EXIT_BAD_INPUT,
                     ["'oops'", "not a number"], ranks=ranks, location=f"{f.path}:{f.entry_line(first)}:")


# Nothing lost: outputs are committed as a set, never half-written or mixed, and inputs that cannot be
# factored are refused before anything is allocated or blocks.

def file_hashes(directory):
    """Name -> sha256 of every file in `directory`."""
    import hashlib
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(directory).iterdir())
            if p.is_file()}


def check_summary_matches_files(x, prefix, run=None):
    """The set under `prefix` belongs together: ||X - A S|| / ||X|| of the files is the summary's
    relative_error, and each file's size and CRC-32 are those the summary records."""
    import zlib
    summary = load_summary(prefix)
    a, s = load_factors(prefix)
    check(a.shape[1] == summary["k"] and s.shape[0] == summary["k"],
          f"{prefix}: A is {a.shape} and S is {s.shape}, the summary says k = {summary['k']}", run)
    check_close(summary["relative_error"], numpy_error(x, a, s), RTOL_ERROR,
                f"{prefix}: summary relative_error vs the files' ||X - A S||_F / ||X||_F", run)
    check(set(summary["files"]) >= {"A", "S"}, f"{prefix}: the summary's files are {list(summary['files'])}", run)
    for role, record in summary["files"].items():
        data = Path(record["path"]).read_bytes()
        check(record["algorithm"] == "crc32", f"{role}: algorithm {record['algorithm']!r}", run)
        check(record["bytes"] == len(data), f"{role}: the summary says {record['bytes']} bytes, the file has "
              f"{len(data)}", run)
        check(record["checksum"] == f"{zlib.crc32(data):08x}",
              f"{role}: the summary's checksum {record['checksum']} is not the file's {zlib.crc32(data):08x}", run)
    return summary


def check_no_leftovers(directory, run=None):
    left = sorted(p.name for p in Path(directory).iterdir()
                  if ".tmp-" in p.name or ".old-" in p.name or p.name.endswith(".lock"))
    check(not left, f"temporary, backup or lock files were left behind: {left}", run)


def expect_output_error(ctx, args, keywords, ranks=2):
    """Like expect_error for exit code 4, but the output directory may hold a previous run's files."""
    run = ctx.run(ranks, args)
    check(run.returncode == EXIT_OUTPUT_ERROR, f"exit code {run.returncode}, expected {EXIT_OUTPUT_ERROR}", run)
    lines = error_lines(run)
    check(len(lines) == 1 and run.stderr.count("nmf_mpi: error:") == 1,
          "expected the line 'nmf_mpi: error: ...' exactly once on stderr", run)
    check("fatal" not in run.stderr and "MPI_ABORT" not in run.stderr, "a rank aborted the job", run)
    for word in keywords:
        check(word.lower() in lines[0].lower(), f"the message does not mention {word!r}", run)
    return run


class MountedTmpfs:
    """A tmpfs of `size` mounted on `path` for the with-block; CaseSkipped where mounting is not allowed."""

    def __init__(self, path, size):
        self.path, self.size = Path(path), size

    def __enter__(self):
        self.path.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size}", "tmpfs", str(self.path)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise CaseSkipped(f"cannot mount a tmpfs to fill (needs root): {result.stderr.strip()}")
        return self.path

    def __exit__(self, *exc):
        subprocess.run(["umount", str(self.path)], check=True)


def fill_disk(directory):
    """Writes a filler file until the file system of `directory` is full."""
    import errno
    fd = os.open(Path(directory) / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as error:
        check(error.errno == errno.ENOSPC, f"filling the disk: {error}")
    finally:
        os.close(fd)


@case
def case_nothing_lost_full_disk(ctx):
    # Open MPI 4.1 reports success for a write cut short by a full disk; the outputs on a 64 KiB tmpfs are
    # first written whole (small problem), then a larger problem must fail with exit 4 and leave them as
    # they were; so must any run once the disk is full.
    small, large = ctx.indir / "small.npy", ctx.indir / "large.npy"
    x_small = np.random.default_rng(1).uniform(0, 1, (20, 15))
    np.save(small, x_small)
    np.save(large, np.random.default_rng(2).uniform(0, 1, (400, 300)))  # A alone is ~190 KB as text
    with MountedTmpfs(ctx.workdir / "disk", "64k") as disk:
        prefix = disk / "res"
        ctx.run_ok(2, ["-i", small, "-k", 3, "-o", prefix])
        check_summary_matches_files(x_small, prefix)
        before = file_hashes(disk)
        for ranks in (1, 2):
            run = expect_output_error(ctx, ["-i", large, "-k", 20, "--iters", 1, "-o", prefix],
                                      ["no space left", f"{prefix}_A.mtx"], ranks=ranks)
            check("wrote " not in run.stdout, "a failed run said it wrote the outputs", run)
            check(file_hashes(disk) == before, "the failed run changed the previous outputs", run)
            check_no_leftovers(disk, run)
        fill_disk(disk)
        before = file_hashes(disk)
        expect_output_error(ctx, ["-i", small, "-k", 4, "-o", prefix], ["no space left"])
        check(file_hashes(disk) == before, "a run on a full disk changed the previous outputs")
        check_no_leftovers(disk)
        expect_output_error(ctx, ["-i", small, "-k", 4, "-o", disk / "fresh"], ["no space left"])
        check(not any(p.name.startswith("fresh") for p in disk.iterdir()), "a run on a full disk left files")


@case
def case_nothing_lost_concurrent_runs(ctx):
    # Two runs on one prefix at the same time: the second is refused (the first holds the prefix's lock),
    # or they did not overlap; either way the set left behind is one run's, never a mix.
    from concurrent.futures import ThreadPoolExecutor
    x = random_sparse(60, 40, 0.5, seed=11)
    f = write_coordinate(ctx.indir / "x.mtx", x)
    prefix = out_prefix(ctx)
    refused = 0
    with ThreadPoolExecutor(max_workers=2) as pool:
        for trial in range(20):
            runs = list(pool.map(lambda k: ctx.run(1, ["-i", f, "-k", k, "--iters", 150, "--tol", 0, "--seed",
                                                       trial, "-o", prefix, "--quiet"]), (2, 3)))
            for run in runs:
                check(run.returncode in (0, EXIT_OUTPUT_ERROR), f"trial {trial}: exit code {run.returncode}", run)
                if run.returncode == EXIT_OUTPUT_ERROR:
                    refused += 1
                    check("another run is writing outputs with prefix" in run.stderr and f"{prefix}.lock" in run.stderr,
                          f"trial {trial}: the refusal does not say why", run)
            check(any(run.returncode == 0 for run in runs), f"trial {trial}: neither run succeeded", runs[0])
            check_summary_matches_files(x, prefix, runs[0])
            check_no_leftovers(ctx.outdir, runs[0])
    check(refused > 0, "in 20 trials the two runs never overlapped, so the lock was never tested")


@case
def case_nothing_lost_stale_temporaries_removed(ctx):
    """The temporaries a killed run left of a prefix's files are removed by the next run's commit; a backup kept by a
    crash mid-commit, another prefix's temporaries and files named almost like ours are kept."""
    x = random_sparse(30, 20, 0.5, seed=13)
    f = write_coordinate(ctx.indir / "x.mtx", x)
    prefix = out_prefix(ctx)
    stale = [f"{prefix.name}_A.mtx.tmp-4000001", f"{prefix.name}_S.mtx.tmp-4000001",
             f"{prefix.name}_summary.json.tmp-4000001"]
    kept = [f"{prefix.name}_A.mtx.old-4000001", f"{prefix.name}2_A.mtx.tmp-4000002",
            f"{prefix.name}_A.mtx.tmp-4000001.part", f"{prefix.name}_notes.txt.tmp-4000001"]
    hour_ago = time.time() - 3600
    for name in stale + kept:
        (ctx.outdir / name).write_text("left by a killed run\n")
        os.utime(ctx.outdir / name, (hour_ago, hour_ago))
    run = ctx.run_ok(2, ["-i", f, "-k", 2, "-o", prefix])
    check_summary_matches_files(x, prefix, run)
    left = sorted(p.name for p in ctx.outdir.iterdir())
    check(not any(name in left for name in stale), f"stale temporaries were kept: {left}", run)
    check(all(name in left for name in kept), f"files that are not this prefix's temporaries were removed: {left}",
          run)


@case
def case_nothing_lost_summary_is_directory(ctx):
    # Committing the summary cannot succeed: the new A and S must not replace the old ones.
    x = random_sparse(30, 20, 0.5, seed=12)
    f = write_coordinate(ctx.indir / "x.mtx", x)
    prefix = out_prefix(ctx)
    ctx.run_ok(2, ["-i", f, "-k", 2, "-o", prefix])
    Path(f"{prefix}_summary.json").unlink()
    Path(f"{prefix}_summary.json").mkdir()
    before = file_hashes(ctx.outdir)
    expect_output_error(ctx, ["-i", f, "-k", 3, "-o", prefix], [f"{prefix}_summary.json", "directory"])
    check(file_hashes(ctx.outdir) == before, "the failed run replaced the previous factors")
    check(Path(f"{prefix}_summary.json").is_dir(), "the directory was removed")
    check_no_leftovers(ctx.outdir)


@case
def case_nothing_lost_huge_dimensions(ctx):
    # Declared sizes whose blocks no rank can hold: exit 3 and what would be allocated, before allocating.
    entries = small_mtx_lines([(1, 1, "1"), (2, 2, "2"), (3, 3, "3")])
    square = write_mtx(ctx.indir / "square.mtx", COORDINATE_REAL, "1000000000000 1000000000000 3", entries)
    tall = write_mtx(ctx.indir / "tall.mtx", COORDINATE_REAL, "100000000000 3 3", entries)
    for f, extra in ((square, []), (square, ["--storage", "dense"]), (tall, ["--storage", "dense"]), (tall, [])):
        expect_error(ctx, ["-i", f, "-k", "1", "-o", out_prefix(ctx)] + extra, EXIT_BAD_INPUT,
                     ["would allocate at least", "one rank can use"], location=f"{f.path}:")


@case
def case_nothing_lost_fifo(ctx):
    # Nobody writes the FIFO: opening it would block forever.
    fifo = ctx.indir / "pipe.mtx"
    os.mkfifo(fifo)
    expect_error(ctx, ["-i", fifo, "-k", "2", "-o", out_prefix(ctx)], EXIT_BAD_INPUT,
                 ["FIFO", "not a regular file"], location=f"'{fifo}'")
    expect_error(ctx, ["-i", fifo, "--format", "npy", "-k", "2", "-o", out_prefix(ctx)], EXIT_BAD_INPUT,
                 ["FIFO", "not a regular file"], location=f"'{fifo}'")


@case
def case_nothing_lost_value_too_large(ctx):
    # Finite values whose square overflows a double: refused where they are, not reported later as a
    # failure of the factors.
    expect_bad_mtx(ctx, COORDINATE_REAL, "4 5 5", with_bad_entry(3, (4, 5, "1e200")), 3,
                   ["value 1e+200 is too large", "square"])
    path = ctx.indir / "large.npy"
    x = np.ones((6, 5))
    x[4, 2] = 1e200
    np.save(path, x)
    expect_error(ctx, ["-i", path, "-k", "2", "-o", out_prefix(ctx)], EXIT_BAD_INPUT,
                 ["element [4, 2]", "too large"], location=f"{path}:")
    # Each value's square is finite, their sum is not.
    np.save(path, np.full((6, 5), 1e154))
    expect_error(ctx, ["-i", path, "-k", "2", "-o", out_prefix(ctx)], EXIT_BAD_INPUT, ["overflows"],
                 location=f"{path}")


@case
def case_nothing_lost_nul_byte(ctx):
    # A NUL byte inside a value must not cut the message short: it is shown escaped.
    f = write_mtx(ctx.indir / "nul.mtx", COORDINATE_REAL, "4 5 5", with_bad_entry(2, (3, 2, "3\x004")))
    message = expect_error(ctx, ["-i", f, "-k", "2", "-o", out_prefix(ctx)], EXIT_BAD_INPUT,
                           ["'3\\x004'", "not a number"], location=f"{f.path}:{f.entry_line(2)}:")
    check(message.endswith("not a number"), f"the message is cut short: {message!r}")


# End to end.

@case
def case_e2e_example(ctx):
    """The built-in example (rank 3, zero rows and columns) with the default solver (hals, 100 iterations: about
    3.5e-3 from 0.896 at the start), and with the notebook's als done right and the exact bpp, which reach
    round-off on it (1.5e-6 and 4e-9 measured)."""
    for args, bound in (([], 1e-2), (["--algo", "als"], 1e-5), (["--algo", "bpp"], 1e-7)):
        run = ctx.run_ok(2, args)
        check(run.stdout.count("X =") == 1, "the example should print X once", run)
        check(run.stdout.count("A * S") == 1, "the example should print A * S once", run)
        match = re.search(r"^relative error .*= *(\S+)\s*$", run.stdout, re.M)
        check(match is not None, "no 'relative error ... = VALUE' line", run)
        error = float(match.group(1))
        check(0.0 <= error <= bound, f"the example's relative error {error} with {args} is above {bound}", run)


def ranks_matrix(ctx):
    """The 300 x 200 random sparse matrix (~5% dense) of the end-to-end cases, as a coordinate file."""
    x = random_sparse(300, 200, 0.05, seed=11)
    f = write_coordinate(ctx.indir / "sparse.mtx", x, order=shuffled(12))
    return x, f


def factor_on_ranks(ctx, x, f, output_format):
    k = 5
    results = {}
    for ranks in (1, 2, 4):
        prefix = out_prefix(ctx, f"np{ranks}_{output_format}")
        run = ctx.run_ok(ranks, ["-i", f, "-k", k, "--algo", "als", "--iters", 30, "--tol", 0, "-o", prefix,
                                 "--output-format", output_format])
        a, s, summary = check_factorization(x, prefix, k, output_format, run)
        check(summary["iterations"] == 30, f"-np {ranks}: {summary['iterations']} iterations, expected 30", run)
        results[ranks] = (a, s)
    for ranks in (2, 4):
        check_same_matrix(results[ranks][0], results[1][0], RTOL_RANKS, f"A at -np {ranks} vs -np 1")
        check_same_matrix(results[ranks][1], results[1][1], RTOL_RANKS, f"S at -np {ranks} vs -np 1")
    return results


@case(ranks=4)
def case_e2e_mtx_ranks(ctx):
    x, f = ranks_matrix(ctx)
    factor_on_ranks(ctx, x, f, "mtx")


@case(ranks=4)
def case_e2e_npy_output(ctx):
    x, f = ranks_matrix(ctx)
    npy = factor_on_ranks(ctx, x, f, "npy")
    # The same run written as Matrix Market holds the same numbers (both formats are exact).
    prefix = out_prefix(ctx, "np2_mtx")
    ctx.run_ok(2, ["-i", f, "-k", 5, "--algo", "als", "--iters", 30, "--tol", 0, "-o", prefix])
    a, s = load_factors(prefix, "mtx")
    check_same_matrix(a, npy[2][0], 0.0, "A written as .mtx vs .npy")
    check_same_matrix(s, npy[2][1], 0.0, "S written as .mtx vs .npy")


@case(ranks=4)
def case_e2e_iters0(ctx):
    x, f = ranks_matrix(ctx)
    layouts = [(1, []), (2, []), (4, []), (4, ["--grid", "1x4"]), (4, ["--grid", "2x2"])]
    factors = []
    for ranks, grid in layouts:
        prefix = out_prefix(ctx, f"np{ranks}{''.join(grid)}")
        run = ctx.run_ok(ranks, ["-i", f, "-k", 5, "--iters", 0, "-o", prefix] + grid)
        a, s, summary = check_factorization(x, prefix, 5, run=run)
        if grid:
            expected = [int(d) for d in grid[1].split("x")]
            check(summary["grid"] == expected, f"summary grid {summary['grid']}, expected {expected}", run)
        check(summary["iterations"] == 0, f"{summary['iterations']} iterations, expected 0", run)
        history = summary["history"]
        check(len(history) == 1 and history[0]["iteration"] == 0,
              f"--iters 0: the history should be one entry for iteration 0, got {history}", run)
        factors.append((ranks, grid, a, s))
    _, _, a0, s0 = factors[0]
    for ranks, grid, a, s in factors[1:]:
        check_same_matrix(a, a0, RTOL_INITIAL, f"initial A at -np {ranks} {' '.join(grid)} vs -np 1")
        check_same_matrix(s, s0, RTOL_INITIAL, f"initial S at -np {ranks} {' '.join(grid)} vs -np 1")


SUMMARY_KEYS = ["command", "version", "ranks", "grid", "n", "m", "nnz", "k", "algo", "seed", "iterations",
                "stop_reason", "relative_error", "seconds", "seconds_per_iteration", "history",
                "comm_bytes_per_iteration", "nnz_per_rank"]


def check_summary_keys(summary, x, ranks, grid, k, iterations, run):
    missing = [key for key in SUMMARY_KEYS if key not in summary]
    check(not missing, f"summary lacks keys {missing}", run)
    check(summary["ranks"] == ranks, f"summary ranks {summary['ranks']}, expected {ranks}", run)
    check(isinstance(summary["grid"], list) and len(summary["grid"]) == 2,
          f"summary grid {summary['grid']} is not [pr, pc]", run)
    if grid is not None:
        check(summary["grid"] == grid, f"summary grid {summary['grid']}, expected {grid}", run)
    check(summary["grid"][0] * summary["grid"][1] == ranks, f"summary grid {summary['grid']} is not {ranks} ranks",
          run)
    check(summary["n"] == x.shape[0] and summary["m"] == x.shape[1], "summary n, m do not match X", run)
    check(summary["nnz"] == int(np.count_nonzero(x)),
          f"summary nnz {summary['nnz']}, X has {np.count_nonzero(x)} nonzeros", run)
    check(summary["k"] == k and summary["algo"] == "als" and summary["seed"] == 1,
          f"summary k/algo/seed {summary['k']}/{summary['algo']}/{summary['seed']}, expected {k}/als/1", run)
    check(summary.get("als") == {"ls": "normal"},
          f"the summary's options of als {summary.get('als')}, expected {{'ls': 'normal'}} (its one option)", run)
    check(summary["iterations"] == iterations and summary["stop_reason"] == "max_iterations",
          f"summary iterations/stop_reason {summary['iterations']}/{summary['stop_reason']}", run)
    check(isinstance(summary["command"], str) and "nmf_mpi" in summary["command"] and "--iters" in summary["command"],
          f"summary command {summary['command']!r} is not the command line", run)
    check(summary["seconds"] >= 0 and summary["seconds_per_iteration"] >= 0, "negative seconds in summary", run)
    history = summary["history"]
    check([h["iteration"] for h in history] == list(range(iterations + 1)),
          f"history iterations {[h['iteration'] for h in history]}, expected 0..{iterations}", run)
    for h in history:
        check(set(h) >= {"iteration", "relative_error", "seconds"}, f"history entry {h} lacks keys", run)
    check(history[-1]["relative_error"] == summary["relative_error"],
          "the last history entry's error is not the summary's relative_error", run)
    spread = summary["nnz_per_rank"]
    check(set(spread) >= {"min", "mean", "max"}, f"nnz_per_rank {spread} lacks min/mean/max", run)
    check(spread["min"] <= spread["mean"] <= spread["max"], f"nnz_per_rank {spread} is not ordered", run)
    check_close(spread["mean"] * ranks, float(summary["nnz"]), 1e-12, "nnz_per_rank mean x ranks vs nnz", run)


@case
def case_e2e_summary_keys(ctx):
    x, f = ranks_matrix(ctx)
    version = project_version()
    for ranks, grid in [(1, [1, 1]), (2, None), (2, [1, 2])]:
        prefix = out_prefix(ctx, f"np{ranks}_{grid}")
        args = ["-i", f, "-k", 4, "--algo", "als", "--iters", 3, "--tol", 0, "-o", prefix]
        if grid is not None and ranks > 1:
            args += ["--grid", f"{grid[0]}x{grid[1]}"]
        run = ctx.run_ok(ranks, args)
        summary = load_summary(prefix)
        check_summary_keys(summary, x, ranks, grid, 4, 3, run)
        check(summary["version"] == version, f"summary version {summary['version']}, project is {version}", run)
        comm = summary["comm_bytes_per_iteration"]
        if ranks == 1:
            check(comm == 0, f"comm_bytes_per_iteration {comm} at -np 1, expected 0", run)
        else:
            check(comm > 0, f"comm_bytes_per_iteration {comm} at -np {ranks}, expected > 0", run)


@case(ranks=4)
def case_e2e_transpose(ctx):
    x, f = ranks_matrix(ctx)
    xt = x.T
    for ranks, extra in [(2, []), (4, ["--grid", "2x2"])]:
        prefix = out_prefix(ctx, f"mtx_np{ranks}")
        run = ctx.run_ok(ranks, ["-i", f, "-k", 5, "--iters", 10, "--tol", 0, "--transpose", "-o", prefix] + extra)
        check_factorization(xt, prefix, 5, run=run)  # checks n, m swapped, A (m x k), S (k x n), error
    # The .npy reader transposes in its own way, in both storage orders.
    for order in ("C", "F"):
        path = ctx.indir / f"x_{order}.npy"
        np.save(path, np.asarray(x, order=order))
        for ranks, extra in [(2, []), (4, ["--grid", "2x2"])]:
            prefix = out_prefix(ctx, f"npy{order}_np{ranks}")
            run = ctx.run_ok(ranks, ["-i", path, "-k", 5, "--iters", 10, "--tol", 0, "--transpose", "-o", prefix]
                             + extra)
            check_factorization(xt, prefix, 5, run=run)


def check_initial_error(ctx, x, path, ranks, k=3, extra=()):
    """--iters 0: the summary's error of the initial factors must be numpy's against the intended X."""
    prefix = out_prefix(ctx, f"{Path(path).name}_np{ranks}{''.join(extra)}")
    run = ctx.run_ok(ranks, ["-i", path, "-k", k, "--iters", 0, "-o", prefix] + list(extra))
    _, _, summary = check_factorization(x, prefix, k, run=run)
    check(summary["nnz"] == int(np.count_nonzero(x)),
          f"{path}: summary nnz {summary['nnz']}, X has {np.count_nonzero(x)} nonzeros", run)
    return run, summary


@case(ranks=4)
def case_e2e_formats(ctx):
    x = random_integer_matrix(13, 11, seed=21)
    files = [
        (write_coordinate(ctx.indir / "coord_real.mtx", x, order=shuffled(22)).path, x),
        (write_coordinate(ctx.indir / "coord_integer.mtx", x, field="integer", order=shuffled(23)).path, x),
        (write_array(ctx.indir / "array_real.mtx", x).path, x),
        (write_array(ctx.indir / "array_integer.mtx", x, field="integer").path, x),
    ]
    b = random_integer_matrix(12, 12, seed=24, high=100)
    sym = np.tril(b) + np.tril(b, -1).T
    files.append((write_coordinate(ctx.indir / "symmetric.mtx", sym, symmetry="symmetric", order=shuffled(25)).path,
                  sym))
    pattern = (x != 0).astype(np.float64)
    files.append((write_coordinate(ctx.indir / "pattern.mtx", pattern, field="pattern", order=shuffled(26)).path,
                  pattern))
    for dtype in ("uint8", "int32", "int64", "float32", "float64", ">i4", ">f8"):
        for order in ("C", "F"):
            path = ctx.indir / f"x_{dtype.replace('>', 'be')}_{order}.npy"
            np.save(path, np.asarray(x.astype(dtype), order=order))
            files.append((path, x))
    for path, intended in files:
        check_initial_error(ctx, intended, path, 2)
    for index in (0, 2, 5, 10, 11):  # coordinate, array, pattern, .npy float32 C and Fortran
        path, intended = files[index]
        check_initial_error(ctx, intended, path, 4)
        check_initial_error(ctx, intended, path, 4, extra=["--grid", "2x2"])


@case(ranks=4)
def case_e2e_formats_chunked(ctx):
    # Files of several MB read in 1 MB blocks: entries cut at block and rank boundaries are read once, and
    # array values keep their (row, column) position across blocks and ranks.
    x = random_sparse(700, 400, 0.6, seed=41)
    files = [write_array(ctx.indir / "big_array.mtx", x).path,
             write_coordinate(ctx.indir / "big_coordinate.mtx", x, order=shuffled(42)).path]
    for order in ("C", "F"):
        path = ctx.indir / f"big_{order}.npy"
        np.save(path, np.asarray(x, order=order))
        files.append(path)
    for path in files:
        check(path.stat().st_size > 2 << 20, f"test premise: {path} has fewer than 2 MB")
        for ranks, extra in [(2, []), (4, ["--grid", "2x2"])]:
            check_initial_error(ctx, x, path, ranks, extra=["--read-chunk-mb", "1"] + extra)


@case(ranks=4)
def case_e2e_duplicates(ctx):
    x = random_integer_matrix(20, 16, seed=31, high=50)
    entries = [(i, j, x[i, j]) for i, j in zip(*np.nonzero(x))]
    entries = [entries[p] for p in np.random.default_rng(32).permutation(len(entries))]
    # Split three entries v >= 2 into v - 1.25 and 1.25 (both exact in binary, and their sum is v). The
    # 1.25 goes to the mirrored place in the file, so the two parts are read by different ranks.
    extras = []
    for nominal in (1, len(entries) // 3, len(entries) - 2):
        p = next(q for q in range(nominal, len(entries)) if entries[q][2] >= 2)
        i, j, v = entries[p]
        entries[p] = (i, j, v - 1.25)
        extras.append((len(entries) - p, (i, j, 1.25)))
    for position, entry in sorted(extras, reverse=True):
        entries.insert(position, entry)
    lines = [f"{i + 1} {j + 1} {real_text(v)}" for i, j, v in entries]
    f = write_mtx(ctx.indir / "dups.mtx", COORDINATE_REAL, f"{x.shape[0]} {x.shape[1]} {len(lines)}", lines)
    for ranks, extra in [(2, []), (4, ["--grid", "2x2"]), (2, ["--storage", "dense"])]:
        run, summary = check_initial_error(ctx, x, f.path, ranks, extra=extra)
        warnings = re.findall(r"^nmf_mpi: warning: .*$", run.stderr, re.M)
        check(len(warnings) == 1, f"expected one warning line, got {warnings}", run)
        check(str(f.path) in warnings[0] and re.search(r"\b3 duplicate", warnings[0]) is not None,
              f"the warning does not name the file and the count 3: {warnings[0]!r}", run)
        check(summary.get("duplicates_summed") == 3,
              f"summary duplicates_summed is {summary.get('duplicates_summed')}, expected 3", run)


@case
def case_e2e_tolerance(ctx):
    x, f = ranks_matrix(ctx)
    limit = 200
    prefix = out_prefix(ctx, "tol")
    run = ctx.run_ok(2, ["-i", f, "-k", 5, "--algo", "als", "--iters", limit, "--tol", "1e-3", "-o", prefix])
    summary = load_summary(prefix)
    check(summary["stop_reason"] == "tolerance", f"stop_reason {summary['stop_reason']!r}, expected 'tolerance'", run)
    check(summary["iterations"] < limit, f"{summary['iterations']} iterations: did not stop before {limit}", run)
    objectives = [h["objective"] for h in summary["history"]]
    check(len(objectives) == summary["iterations"] + 1, "the history does not hold every iteration", run)
    # --tol is the change of the objective relative to its previous value.
    changes = [abs(objectives[t - 1] - objectives[t]) / objectives[t - 1] for t in range(1, len(objectives))]
    check(changes[-1] < 1e-3 and all(c >= 1e-3 for c in changes[:-1]),
          f"the run should stop at the first relative change below 1e-3; changes were {changes}", run)
    a, s_factor = load_factors(prefix, "mtx")
    check_close(summary["objective"], 0.5 * np.linalg.norm(x - a @ s_factor) ** 2, RTOL_ERROR,
                "objective (no penalties: half the squared residual)", run)

    prefix = out_prefix(ctx, "notol")
    run = ctx.run_ok(2, ["-i", f, "-k", 5, "--algo", "als", "--iters", 25, "--tol", 0, "-o", prefix])
    summary = load_summary(prefix)
    check(summary["stop_reason"] == "max_iterations",
          f"stop_reason {summary['stop_reason']!r}, expected 'max_iterations'", run)
    check(summary["iterations"] == 25 and len(summary["history"]) == 26,
          f"--tol 0: {summary['iterations']} iterations, expected all 25", run)


@case
def case_e2e_config(ctx):
    x, f = ranks_matrix(ctx)
    prefix = out_prefix(ctx, "from_config")
    config = ctx.indir / "nmf.cfg"
    config.write_text(f"# nmf_mpi options\ninput = {f}\nrank = 4\niters = 3\ntol = 0\noutput = {prefix}\n")
    run = ctx.run_ok(2, ["--config", config])
    summary = load_summary(prefix)
    check(summary["k"] == 4 and summary["iterations"] == 3,
          f"config rank = 4, iters = 3 gave k {summary['k']}, {summary['iterations']} iterations", run)
    check_factorization(x, prefix, 4, run=run)

    override = out_prefix(ctx, "from_command_line")
    run = ctx.run_ok(2, ["--config", config, "-k", 2, "--iters", 5, "-o", override])
    summary = load_summary(override)
    check(summary["k"] == 2 and summary["iterations"] == 5,
          f"-k 2 --iters 5 over the config gave k {summary['k']}, {summary['iterations']} iterations", run)
    check_factorization(x, override, 2, run=run)
    written = sorted(p.name for p in ctx.outdir.iterdir())
    expected = sorted(f"{name}_{part}" for name in ("from_config", "from_command_line")
                      for part in ("A.mtx", "S.mtx", "summary.json"))
    check(written == expected, f"output files {written}, expected {expected}", run)


def project_version():
    text = (REPO_ROOT / "CMakeLists.txt").read_text()
    match = re.search(r"project\(\s*nmf_mpi\s+VERSION\s+([0-9.]+)", text)
    check(match is not None, "cannot find the project version in CMakeLists.txt")
    return match.group(1)



@case
def case_bad_options_differ_between_ranks(ctx):
    """Ranks started with different options (an MPMD launch) would write different prefixes or wait in
    different collectives: refused with one usage error naming the rank, nothing written."""
    f = good_4x5_file(ctx)
    run = ctx.run_mpmd([["-i", f, "-k", 2, "-o", out_prefix(ctx, "first")],
                        ["-i", f, "-k", 2, "-o", out_prefix(ctx, "second")]])
    check(run.returncode == EXIT_USAGE, f"exit code {run.returncode}, expected {EXIT_USAGE} (usage)", run)
    lines = error_lines(run)
    check(len(lines) == 1, f"expected one 'nmf_mpi: error:' line, found {len(lines)}", run)
    check("rank 1" in lines[0] and "same options" in lines[0], "the message does not name rank 1 and the cause", run)
    check_outputs_absent(ctx, run)

@case
def case_e2e_help_version(ctx):
    run = ctx.run_ok(2, ["--help"])
    text = run.stdout
    check(text.count("usage:") == 1, "--help should print once, not once per rank", run)
    for group in ("Input:", "Factorization", "Stopping", "Parallel layout:", "Output:", "Logging:", "General:"):
        check(group in text, f"--help does not show the option group {group!r}", run)
    for option in ("--input", "--format", "--transpose", "--storage", "--read-chunk-mb", "--rank", "--algo",
                   "--iters", "--tol", "--seed", "--grid", "--output", "--output-format", "--print", "--log-every",
                   "--quiet", "--help", "--version", "--config", "--inner", "--l1-A", "--l2-A", "--l1-S", "--l2-S",
                   "--tol-pg", "--time-limit", "--eval-every", "--kaczmarz-steps", "--kaczmarz-block",
                   "--kaczmarz-sampling", "--init", "--svd-oversample", "--svd-power", "--ls"):
        check(re.search(re.escape(option) + r"\b", text) is not None, f"--help does not list {option}", run)
    # The objective is written out, penalties included.
    check("1/2 ||X - A S||_F^2 + l1_A sum(A) + l2_A/2 ||A||_F^2 + l1_S sum(S) + l2_S/2 ||S||_F^2" in text,
          "--help does not write out the objective", run)
    for default in ("--iters N (=100)", "--read-chunk-mb MB (=auto)", "--algo NAME (=hals)", "--tol T (=1e-06)",
                    "--seed S (=1)", "--log-every N (=10)", "--inner N (=1)", "--eval-every N (=1)"):
        check(re.search(re.escape(default).replace(r"\ ", r"\s+"), text) is not None,
              f"--help does not show the default {default!r}", run)

    run = ctx.run_ok(2, ["--version"])
    expected = f"nmf_mpi {project_version()}\n"
    check(run.stdout == expected, f"--version printed {run.stdout!r}, expected {expected!r} once", run)


@case
def case_e2e_solver_table(ctx):
    """Every registered solver and its declared options reach --list-solvers, --help, a config file and the
    summary; the README's table is the one --list-solvers prints (scripts/readme-solver-table.sh rewrites it)."""
    run = ctx.run_ok(2, ["--list-solvers"])
    table = run.stdout
    rows = [line for line in table.splitlines()[2:] if line.startswith("| `")]  # after the header and rule
    check([row.split("`")[1] for row in rows] == ["als", "bpp", "hals", "mu", "kaczmarz"],
          f"--list-solvers rows {rows}", run)
    readme = (REPO_ROOT / "README.md").read_text()
    begin, end = "<!-- solver-table:begin -->\n", "<!-- solver-table:end -->"
    check(begin in readme and end in readme, "the README has no solver-table markers")
    in_readme = readme[readme.index(begin) + len(begin):readme.index(end)]
    check(in_readme == table, "the README's solver table differs from `nmf_mpi --list-solvers`: run "
          "scripts/readme-solver-table.sh", run)
    # A declared option set in a config file reaches the solver and the summary under the solver's name.
    x, f = ranks_matrix(ctx)
    config = ctx.workdir / "run.cfg"
    config.write_text("algo = kaczmarz\nkaczmarz-block = 6\nkaczmarz-sampling = uniform\n")
    prefix = out_prefix(ctx, "config")
    run = ctx.run_ok(2, ["-i", f, "-k", 3, "--iters", 2, "--config", config, "-o", prefix])
    summary = load_summary(prefix)
    check(summary["kaczmarz"] == {"steps": 0, "block": 6, "sampling": "uniform", "relaxation": 0.1, "strata": 8,
                                   "rating_relaxation": 0.02},
          f"the summary's kaczmarz options {summary.get('kaczmarz')}", run)
    check("hals" not in summary, "the summary names the options of a solver that did not run", run)
    # With no --algo: the default, hals, with its declared default.
    run = ctx.run_ok(2, ["-i", f, "-k", 3, "--iters", 2, "-o", prefix])
    summary = load_summary(prefix)
    check(summary["algo"] == "hals" and summary.get("hals") == {"inner": 1},
          f"the default run's summary says algo {summary['algo']} with {summary.get('hals')}, expected hals with "
          "{'inner': 1}", run)


@case
def case_e2e_quiet(ctx):
    x, f = ranks_matrix(ctx)
    prefix = out_prefix(ctx, "quiet")
    run = ctx.run_ok(2, ["-i", f, "-k", 3, "--iters", 5, "--quiet", "-o", prefix])
    check(run.stdout == "", "--quiet printed on stdout", run)
    check_factorization(x, prefix, 3, run=run)


@case
def case_e2e_fashion_mnist(ctx):
    if not FASHION_MNIST.is_file():
        raise CaseSkipped(f"{FASHION_MNIST} is not there")
    x = np.load(FASHION_MNIST).astype(np.float64)
    prefix = out_prefix(ctx, "fashion")
    run = ctx.run_ok(2, ["-i", FASHION_MNIST, "-k", 10, "--iters", 0, "-o", prefix])
    _, _, summary = check_factorization(x, prefix, 10, run=run)
    check(summary["nnz"] == int(np.count_nonzero(x)), "summary nnz does not match the data", run)


# --- rating files (--format ratings) ---------------------------------------------------------------------------

MOVIELENS = SHARED_DATA / "movielens-latest-small" / "ratings.csv"
FILMTRUST = SHARED_DATA / "filmtrust" / "ratings.txt"


def parse_ratings(text, separator, header):
    """The reference reader, in plain Python: ids numbered by first occurrence, the last rating of a pair kept.
    Returns (users, items, {(row, col): rating})."""
    users, items, ratings = {}, {}, {}
    lines = text.splitlines()[1 if header else 0:]
    for line in lines:
        if not line.strip():
            continue
        fields = line.split() if separator is None else [f.strip() for f in line.split(separator)]
        u = users.setdefault(fields[0], len(users))
        i = items.setdefault(fields[1], len(items))
        ratings[(u, i)] = float(fields[2])
    return list(users), list(items), ratings


def check_ratings_run(ctx, path, separator, header, ranks, extra=(), name="ratings"):
    """Factors a rating file and checks the shape, nnz, the id maps and that A S approximates the matrix
    built from the reference reader."""
    users, items, ratings = parse_ratings(Path(path).read_text(), separator, header)
    prefix = out_prefix(ctx, name)
    # Plain NMF of the ratings (missing = 0), whose A S the reference X approximates.
    run = ctx.run_ok(ranks, ["-i", path, "-k", 2, "--iters", 5, "--missing", "zero", "-o", prefix] + list(extra))
    transpose = "--transpose" in extra
    x = np.zeros((len(users), len(items)))
    for (u, i), v in ratings.items():
        x[u, i] = v
    if transpose:
        x, users, items = x.T, items, users
    _, _, summary = check_factorization(x, prefix, 2, run=run)
    check(summary["nnz"] == np.count_nonzero(x), f"summary nnz {summary['nnz']}, expected {np.count_nonzero(x)}", run)
    for suffix, ids in (("rows", users), ("cols", items)):
        text = Path(f"{prefix}_{suffix}.txt").read_text()
        check(text == "".join(i + "\n" for i in ids), f"{prefix}_{suffix}.txt is not the ids in first-occurrence order", run)
        check(suffix == "rows" and "row_ids" in summary["files"] or suffix == "cols" and "col_ids" in summary["files"],
              f"the summary does not list {prefix}_{suffix}.txt", run)
    return run, summary


RATINGS_TAB = ["196\t242\t3\t881250949", "186\t302\t3\t891717742", "22\t377\t1\t878887116",
               "196\t377\t4\t881250950", "22\t242\t5\t878887117", "186\t51\t2\t884182806"]


@case(ranks=4)
def case_e2e_ratings_formats(ctx):
    plain = [line.split("\t")[:3] for line in RATINGS_TAB]
    files = {
        "u.data": ("\n".join(RATINGS_TAB) + "\n", "\t", False),
        "ratings.dat": ("\n".join("::".join(line.split("\t")) for line in RATINGS_TAB) + "\n", "::", False),
        "ratings.csv": ("userId,movieId,rating,timestamp\r\n" +
                        "".join(",".join(line.split("\t")) + "\r\n" for line in RATINGS_TAB), ",", True),
        "ratings.txt": ("".join(f"{u}  {i} {r}\n" for u, i, r in plain), None, False),
        "names.csv": ("user,item,rating\n" + "".join(f"user {u},film {i},{r}\n" for u, i, r in plain), ",", True),
    }
    for name, (text, separator, header) in files.items():
        path = ctx.indir / name
        path.write_text(text)
        for ranks, extra in [(1, []), (2, []), (4, ["--grid", "2x2"]), (2, ["--transpose"])]:
            check_ratings_run(ctx, path, separator, header, ranks, extra + ["--format", "ratings"] * (ranks == 1))


@case(ranks=4)
def case_e2e_ratings_duplicates_keep_last(ctx):
    path = ctx.indir / "dups.txt"
    path.write_text("u1 i1 5\nu2 i1 1\nu1 i2 2\nu1 i1 3\nu2 i2 4\nu1 i1 1.5\n")
    for ranks in (2, 4):
        run, summary = check_ratings_run(ctx, path, None, False, ranks)
        warnings = re.findall(r"^nmf_mpi: warning: .*$", run.stderr, re.M)
        check(len(warnings) == 1 and re.search(r"\b2 duplicate", warnings[0]) and "last" in warnings[0],
              f"expected one warning counting 2 duplicates and saying the last is kept, got {warnings}", run)
        check(summary["duplicates_summed"] == 0, "ratings duplicates must be replaced, not summed", run)


@case(ranks=4)
def case_bad_ratings(ctx):
    good = [f"{u},{i},{(u * i) % 5 + 1}" for u in range(1, 30) for i in range(1, 8)]  # many lines: all ranks read
    for bad, keywords, extra in [("7,3,lots", ["rating 'lots' is not a number"], []),
                                 ("7,3", ["expected 3 or more fields", "found 2"], []),
                                 ("user,item,rating", ["header line in the middle"], []),
                                 (",3,4", ["empty user id"], []),
                                 ("7,,4", ["empty item id"], []),
                                 ("7,3,-2", ["negative rating", "X >= 0", "recommender"], ["--missing", "zero"])]:
        for position in (2, len(good) - 3):
            lines = ["user,item,rating"] + good[:position] + [bad] + good[position:]
            path = ctx.indir / "bad.csv"
            path.write_text("\n".join(lines) + "\n")
            for ranks in (1, 2, 4) if position == 2 else (2, 4):  # one rank reads every line: one position will do
                expect_error(ctx, ["-i", path, "-k", "2", "-o", out_prefix(ctx)] + extra, EXIT_BAD_INPUT, keywords,
                             ranks=ranks, location=f"{path}:{position + 2}:")
    empty = ctx.indir / "empty.txt"
    empty.write_text("")
    header_only = ctx.indir / "header.csv"
    header_only.write_text("userId,movieId,rating\n")
    tab_empty_id = ctx.indir / "tabs.tsv"  # an empty id between two tabs
    tab_empty_id.write_text("u1\ti1\t3\nu2\t\t4\nu3\ti2\t5\n")
    for ranks in (1, 2):
        expect_error(ctx, ["-i", empty, "--format", "ratings", "-k", "2", "-o", out_prefix(ctx)], EXIT_BAD_INPUT,
                     ["empty"], ranks=ranks, location=f"{empty}:1:")
        expect_error(ctx, ["-i", header_only, "-k", "2", "-o", out_prefix(ctx)], EXIT_BAD_INPUT, ["no ratings"],
                     ranks=ranks, location=f"{header_only}:2:")
        expect_error(ctx, ["-i", tab_empty_id, "-k", "2", "-o", out_prefix(ctx)], EXIT_BAD_INPUT, ["empty item id"],
                     ranks=ranks, location=f"{tab_empty_id}:2:")


def shared_ratings(ctx, path, separator, header, n, m, lines, duplicates):
    if not path.is_file():
        raise CaseSkipped(f"{path} is not there")
    text = path.read_text()
    data_lines = [line for line in text.splitlines()[1 if header else 0:] if line.strip()]
    check(len(data_lines) == lines, f"{path} has {len(data_lines)} rating lines, the data README says {lines}")
    for ranks in (1, 2):
        prefix = out_prefix(ctx, f"shared{ranks}")
        run = ctx.run_ok(ranks, ["-i", path, "-k", 3, "--iters", 0, "-o", prefix])
        summary = load_summary(prefix)
        check((summary["n"], summary["m"], summary["nnz"]) == (n, m, lines - duplicates),
              f"summary n, m, nnz = {summary['n']}, {summary['m']}, {summary['nnz']}; expected {n}, {m}, "
              f"{lines - duplicates}", run)
        users, items, ratings = parse_ratings(text, separator, header)
        check(len(ratings) == lines - duplicates and (len(users), len(items)) == (n, m), "reference reader disagrees")
        check(Path(f"{prefix}_rows.txt").read_text() == "".join(u + "\n" for u in users), "row id map differs", run)
        check(Path(f"{prefix}_cols.txt").read_text() == "".join(i + "\n" for i in items), "column id map differs", run)
        if duplicates:
            check(f"{duplicates} duplicate" in run.stderr, f"no warning counting {duplicates} duplicates", run)


@case
def case_e2e_ratings_movielens(ctx):
    shared_ratings(ctx, MOVIELENS, ",", True, 610, 9724, 100836, 0)


@case
def case_e2e_ratings_filmtrust(ctx):
    shared_ratings(ctx, FILMTRUST, None, False, 1508, 2071, 35497, 3)


# --- the recommender mode (README, Recommending) -------------------------------------------------------------

def planted_ratings(seed, users=24, items=18, k=3, observed=0.55):
    """Ratings of a planted model mu + b + c + A S plus noise, rounded to halves in [0.5, 5], on a random mask;
    ids are strings so the id maps matter. Returns [(user, item, rating)] in a shuffled order."""
    rng = np.random.default_rng(seed)
    a, s = rng.random((users, k)), rng.random((k, items))
    x = 3 + 0.5 * rng.standard_normal((users, 1)) + 0.4 * rng.standard_normal((1, items)) + a @ s - k / 4
    x = np.clip(np.round(2 * (x + 0.3 * rng.standard_normal(x.shape))) / 2, 0.5, 5)
    lines = [(f"user{u}", f"item{i}", x[u, i]) for u in range(users) for i in range(items) if rng.random() < observed]
    order = rng.permutation(len(lines))
    return [lines[o] for o in order]


def write_ratings(path, lines):
    path.write_text("".join(f"{u} {i} {r:g}\n" for u, i, r in lines))


def load_recommender(prefix):
    """(A, S, b, c, mu, row ids, col ids, summary) from a recommender run's outputs; the ids are 1-based indices
    (as text) for Matrix Market input, which has no id maps."""
    import scipy.io
    summary = load_summary(prefix)
    a, s = load_factors(prefix)
    b = np.asarray(scipy.io.mmread(f"{prefix}_bias_rows.mtx")).ravel()
    c = np.asarray(scipy.io.mmread(f"{prefix}_bias_cols.mtx")).ravel()
    has_ids = Path(f"{prefix}_rows.txt").exists()
    rows = Path(f"{prefix}_rows.txt").read_text().split() if has_ids else [str(i + 1) for i in range(len(b))]
    cols = Path(f"{prefix}_cols.txt").read_text().split() if has_ids else [str(j + 1) for j in range(len(c))]
    return a, s, b, c, summary["recommender"]["mean"], rows, cols, summary


def numpy_predictions(lines, a, s, b, c, mu, rows, cols, low=-np.inf, high=np.inf):
    """mu + b_i + c_j + a_i . s_j for each (user, item, rating), an unknown id adding nothing, clipped."""
    row_of, col_of = {r: i for i, r in enumerate(rows)}, {c_: j for j, c_ in enumerate(cols)}
    out = []
    for u, i, _ in lines:
        p = mu
        if u in row_of:
            p += b[row_of[u]]
        if i in col_of:
            p += c[col_of[i]]
        if u in row_of and i in col_of:
            p += a[row_of[u]] @ s[:, col_of[i]]
        out.append(min(high, max(low, p)))
    return np.array(out)


def rmse(lines, predictions):
    truth = np.array([r for _, _, r in lines])
    return float(np.sqrt(np.mean((truth - predictions) ** 2)))


def recommender_case_data(ctx, lines, held, common):
    """The first `held` lines to test.txt and the rest to train.txt in ctx.indir, an --iters 0 run of `common` (which
    reads them) for the initial A and the id maps, and the training ratings as a dense x with its mask in that
    order. Returns (train, test, A0, row ids, column ids, x, mask)."""
    test, train = lines[:held], lines[held:]
    write_ratings(ctx.indir / "train.txt", train)
    write_ratings(ctx.indir / "test.txt", test)
    ctx.run_ok(1, common + ["--iters", 0, "-o", out_prefix(ctx, "init")])
    a0, _, _, _, _, rows, cols, _ = load_recommender(out_prefix(ctx, "init"))
    x, mask = np.zeros((len(rows), len(cols))), np.zeros((len(rows), len(cols)), dtype=bool)
    row_of, col_of = {r: i for i, r in enumerate(rows)}, {c: j for j, c in enumerate(cols)}
    for u, i, r in train:
        x[row_of[u], col_of[i]], mask[row_of[u], col_of[i]] = r, True
    return train, test, a0, rows, cols, x, mask


def recommender_start(x, mask, a, k):
    """The start of both reference fits: a copy of the initial A, S = 0, zero biases, mu, the counts per row and
    column."""
    n, m = x.shape
    return a.copy(), np.zeros((k, m)), np.zeros(n), np.zeros(m), x[mask].mean(), mask.sum(1), mask.sum(0)


def bias_step(x, mask, a, s, c, mu, rows, cols, lam_bias):
    """The biases' update of every recommender solver: the row biases, then the column biases with the new ones."""
    r = np.where(mask, x - mu - c[None, :] - a @ s, 0)
    b = r.sum(1) / (lam_bias + rows)
    r = np.where(mask, x - mu - b[:, None] - a @ s, 0)
    return b, r.sum(0) / (lam_bias + cols)


def numpy_ccd(x, mask, a, k, iterations, lam, lam_bias):
    """The recommender model fitted in NumPy by the algorithm the README gives for --algo hals: mu fixed, then per
    iteration the row biases, the column biases, and for each feature the non-negative coordinate of S then A,
    with weighted ridges lambda m_j and lambda n_i. `a` is the initial A (from an --iters 0 run), S starts at 0."""
    a, s, b, c, mu, rows, cols = recommender_start(x, mask, a, k)
    for _ in range(iterations):
        b, c = bias_step(x, mask, a, s, c, mu, rows, cols, lam_bias)
        for f in range(k):
            r = np.where(mask, x - mu - b[:, None] - c[None, :] - a @ s + np.outer(a[:, f], s[f]), 0)
            den = (mask * (a[:, f] ** 2)[:, None]).sum(0)
            scale = lam * cols + den
            s[f] = np.where(scale > 0, np.maximum(0, (r * a[:, f][:, None]).sum(0) / np.where(scale > 0, scale, 1)), 0)
            den = (mask * (s[f] ** 2)[None, :]).sum(1)
            scale = lam * rows + den
            a[:, f] = np.where(scale > 0, np.maximum(0, (r * s[f][None, :]).sum(1) / np.where(scale > 0, scale, 1)), 0)
    return a, s, b, c, mu


@case(ranks=4)
def case_e2e_recommender_numpy(ctx):
    """Our fit equals a NumPy implementation of the same model and algorithm (from our initial A), and the summary's
    RMSEs equal NumPy's from the written factors, biases and id maps, on 1, 2 and 4 ranks."""
    k, iterations = 3, 12
    common = ["-i", ctx.indir / "train.txt", "--test", ctx.indir / "test.txt", "-k", k, "--tol", 0, "--seed", 4]
    train, test, a0, rows, cols, x, mask = recommender_case_data(ctx, planted_ratings(3), 40, common)
    ref_a, ref_s, ref_b, ref_c, ref_mu = numpy_ccd(x, mask, a0, k, iterations, 0.08, 5.0)
    low, high = min(r for _, _, r in train), max(r for _, _, r in train)
    ref_test = rmse(test, numpy_predictions(test, ref_a, ref_s, ref_b, ref_c, ref_mu, rows, cols, low, high))
    for ranks, extra in [(1, []), (2, []), (4, ["--grid", "2x2"]), (4, ["--grid", "4x1"])]:
        prefix = out_prefix(ctx, f"fit{ranks}{''.join(extra)}")
        run = ctx.run_ok(ranks, common + ["--iters", iterations, "-o", prefix] + extra)
        a, s, b, c, mu, rows2, cols2, summary = load_recommender(prefix)
        check(rows2 == rows and cols2 == cols, "id maps differ between runs", run)
        for name, ours, ref in [("A", a, ref_a), ("S", s, ref_s), ("row biases", b, ref_b), ("column biases", c, ref_c)]:
            check(np.allclose(ours, ref, rtol=1e-9, atol=1e-11),
                  f"{name} differ from NumPy's CCD by {np.abs(ours - ref).max():.3g}", run)
        check(np.all(a >= 0) and np.all(s >= 0), "negative factors", run)
        check_close(mu, ref_mu, 1e-14, "global mean", run)
        check_close(summary["rmse_test"], ref_test, 1e-9, "rmse_test vs NumPy's", run)
        ours_train = rmse(train, numpy_predictions(train, a, s, b, c, mu, rows, cols, low, high))
        check_close(summary["rmse_train"], ours_train, 1e-9, "rmse_train vs NumPy's from the outputs", run)
        truth = np.array([r for _, _, r in test])
        ours_mae = float(np.mean(np.abs(truth - numpy_predictions(test, a, s, b, c, mu, rows, cols, low, high))))
        check_close(summary["mae_test"], ours_mae, 1e-9, "mae_test vs NumPy's", run)
        history = summary["history"]
        check(len(history) == iterations + 1 and all("rmse_test" in h for h in history), "history lacks rmse_test", run)
        check(history[-1]["rmse_test"] < history[0]["rmse_test"], "the test RMSE did not improve", run)
        for role in ("bias_rows", "bias_cols", "A", "S", "row_ids", "col_ids"):
            check(role in summary["files"], f"the summary's files lack {role}", run)
        check(re.search(r"train RMSE\s+test RMSE\s+test MAE", run.stdout), "the log lacks the RMSE columns", run)


def scipy_als(x, mask, a, k, iterations, lam, lam_bias):
    """The recommender model fitted by the algorithm the README gives for --algo als, serially with SciPy: mu fixed,
    then per iteration the row biases, the column biases (as numpy_ccd), every column of S and then every row of A
    by scipy.optimize.nnls (Lawson-Hanson, another exact NNLS method than ours) on the augmented system
    [O; sqrt(lambda count) I] f = [y; 0], O the other factor's rows at the observed entries, y the ratings less
    mu and both biases."""
    from scipy.optimize import nnls
    a, s, b, c, mu, rows, cols = recommender_start(x, mask, a, k)

    def solve(other, targets, count):
        if count == 0:
            return np.zeros(k)
        system = np.vstack([other, np.sqrt(lam * count) * np.eye(k)])
        return nnls(system, np.concatenate([targets, np.zeros(k)]), maxiter=50 * k)[0]

    for _ in range(iterations):
        b, c = bias_step(x, mask, a, s, c, mu, rows, cols, lam_bias)
        y = x - mu - b[:, None] - c[None, :]
        for j in range(x.shape[1]):
            s[:, j] = solve(a[mask[:, j]], y[mask[:, j], j], cols[j])
        for i in range(x.shape[0]):
            a[i] = solve(s[:, mask[i]].T, y[i, mask[i]], rows[i])
    return a, s, b, c, mu


@case(ranks=4)
def case_e2e_recommender_als_scipy(ctx):
    """--algo als in the recommender mode equals a serial SciPy ALS of the same model (scipy.optimize.nnls per row on
    the augmented system) to ~1e-9 on 1, 2 and 4 ranks and every kind of grid, and some factor entries sit on the
    bound (the non-negativity is active, so the exact NNLS matters). The summary's RMSE is NumPy's from the outputs."""
    k, iterations = 5, 10
    common = ["-i", ctx.indir / "train.txt", "--test", ctx.indir / "test.txt", "-k", k, "--tol", 0, "--seed", 4,
              "--algo", "als"]
    train, test, a0, rows, cols, x, mask = recommender_case_data(ctx, planted_ratings(7, users=30, items=22), 50,
                                                                 common)
    reference = scipy_als(x, mask, a0, k, iterations, 0.08, 5.0)
    check((reference[0] == 0).any() and (reference[1] == 0).any(),
          "the reference never hits the bound: the case tests nothing")
    for run, _, _, summary in fits_against(ctx, common + ["--iters", iterations], reference, "SciPy's ALS",
                                           (train, test, rows, cols)):
        history = summary["history"]
        check(history[-1]["objective"] < history[1]["objective"], "the objective did not decrease", run)


RECOMMENDER_GRIDS = [(1, []), (2, ["--grid", "1x2"]), (2, ["--grid", "2x1"]), (4, ["--grid", "2x2"]),
                     (4, ["--grid", "4x1"]), (4, ["--grid", "1x4"])]


def fits_against(ctx, args, reference, name, data):
    """Runs nmf_mpi with `args` on 1, 2 and 4 ranks and every kind of grid (RECOMMENDER_GRIDS), checking each fit's
    factors and biases against `reference` (A, S, b, c, mu) to 1e-9, its factors non-negative and its summary's test
    RMSE against the reference's predictions of data = (train, test, row ids, column ids); yields (run, A, S,
    summary) of each for more checks."""
    train, test, rows, cols = data
    ref_a, ref_s, ref_b, ref_c, ref_mu = reference
    low, high = min(r for _, _, r in train), max(r for _, _, r in train)
    ref_test = rmse(test, numpy_predictions(test, ref_a, ref_s, ref_b, ref_c, ref_mu, rows, cols, low, high))
    for ranks, extra in RECOMMENDER_GRIDS:
        prefix = out_prefix(ctx, f"fit{ranks}{''.join(extra)}")
        run = ctx.run_ok(ranks, args + ["-o", prefix] + extra)
        a, s, b, c, mu, *_, summary = load_recommender(prefix)
        for what, ours, ref in [("A", a, ref_a), ("S", s, ref_s), ("row biases", b, ref_b), ("column biases", c, ref_c)]:
            check(np.allclose(ours, ref, rtol=1e-9, atol=1e-9),
                  f"{what} differ from {name} by {np.abs(ours - ref).max():.3g}", run)
        check(np.all(a >= 0) and np.all(s >= 0), "negative factors", run)
        check_close(summary["rmse_test"], ref_test, 1e-9, f"rmse_test vs {name}", run)
        yield run, a, s, summary


STREAM_KACZMARZ = 3  # nmf::RandomStream::kaczmarz (include/nmf/kernels/random.hpp)


def numpy_kaczmarz(x, mask, a, k, iterations, lam, lam_bias, strata, relaxation, seed):
    """The recommender model fitted by the algorithm the README gives for --algo kaczmarz, serially: per iteration the
    biases (as numpy_ccd), then one sweep of B sub-epochs over B x B virtual blocks (rows and columns cut into B even
    parts), sub-epoch t taking the blocks (b, (b + t) mod B) in turn, each block's ratings in the order of
    uniform01(seed, kaczmarz, i m + j); a rating moves s_j, then a_i, by a relaxed projected Kaczmarz step."""
    import bisect
    a, s, b, c, mu, rows, cols = recommender_start(x, mask, a, k)
    s = s.T.copy()
    n, m = x.shape
    row_cuts = [p * n // strata for p in range(strata + 1)]
    col_cuts = [p * m // strata for p in range(strata + 1)]
    blocks = {}
    for i, j in zip(*np.nonzero(mask)):
        block = (bisect.bisect_right(row_cuts[:-1], i) - 1, bisect.bisect_right(col_cuts[:-1], j) - 1)
        key = int(i) * m + int(j)
        blocks.setdefault(block, []).append((uniform01(seed, STREAM_KACZMARZ, key), key, int(i), int(j)))
    for ratings in blocks.values():
        ratings.sort()

    def step(f, o, error):
        return np.maximum(0, f + relaxation * (error * o - lam * f) / (o @ o + lam))

    for _ in range(iterations):
        b, c = bias_step(x, mask, a, s.T, c, mu, rows, cols, lam_bias)
        for t in range(strata):
            for rb in range(strata):
                for _, _, i, j in blocks.get((rb, (rb + t) % strata), []):
                    s[j] = step(s[j], a[i], x[i, j] - mu - b[i] - c[j] - a[i] @ s[j])
                    a[i] = step(a[i], s[j], x[i, j] - mu - b[i] - c[j] - a[i] @ s[j])
    return a, s.T, b, c, mu


@case(ranks=4)
def case_e2e_recommender_kaczmarz_numpy(ctx):
    """--algo kaczmarz in the recommender mode equals a serial NumPy version of its stratified schedule (README,
    Recommending) to ~1e-9, and the fits on 1, 2 and 4 ranks and every kind of grid agree with each other to 1e-12:
    the result does not depend on the number of ranks."""
    k, iterations, strata = 4, 8, 4
    common = ["-i", ctx.indir / "train.txt", "--test", ctx.indir / "test.txt", "-k", k, "--tol", 0, "--seed", 4,
              "--algo", "kaczmarz", "--kaczmarz-strata", strata, "--kaczmarz-rating-relaxation", 0.1]
    train, test, a0, rows, cols, x, mask = recommender_case_data(ctx, planted_ratings(7, users=30, items=22), 50,
                                                                 common)
    reference = numpy_kaczmarz(x, mask, a0, k, iterations, 0.08, 5.0, strata, 0.1, 4)
    first = None
    for run, a, s, summary in fits_against(ctx, common + ["--iters", iterations], reference, "NumPy's Kaczmarz",
                                           (train, test, rows, cols)):
        if first is None:
            first = (a, s)
        check(np.allclose(a, first[0], rtol=0, atol=1e-12) and np.allclose(s, first[1], rtol=0, atol=1e-12),
              "the factors differ from those on 1 rank", run)
        history = summary["history"]
        check(history[-1]["rmse_train"] < 0.8 * history[0]["rmse_train"], "the training RMSE hardly fell", run)


@case(ranks=4)
def case_recommender_kaczmarz_refusals(ctx):
    """Fewer --kaczmarz-strata than ranks and --kaczmarz-steps are refused in the recommender mode, on every rank alike
    (one message, no outputs)."""
    write_ratings(ctx.indir / "r.txt", planted_ratings(7))
    base = ["-i", ctx.indir / "r.txt", "-k", 2, "--algo", "kaczmarz", "-o", out_prefix(ctx)]
    expect_error(ctx, base + ["--kaczmarz-strata", 3], EXIT_USAGE, ["--kaczmarz-strata 3", "4 ranks", "at least 4"],
                 ranks=4)
    expect_error(ctx, base + ["--kaczmarz-steps", 5], EXIT_USAGE, ["--kaczmarz-steps", "recommender mode"], ranks=2)


@case(ranks=2)
def case_e2e_recommender_options(ctx):
    """--test-fraction (rank-independent), --bias off, --clip, negative ratings, ids never seen in training."""
    lines = planted_ratings(5)
    path = ctx.indir / "all.txt"
    write_ratings(path, lines)
    base = ["-i", path, "-k", 3, "--iters", 15, "--tol", 0, "--test-fraction", 0.25, "--seed", 9]
    summaries = {}
    for ranks in (1, 2):
        prefix = out_prefix(ctx, f"split{ranks}")
        run = ctx.run_ok(ranks, base + ["-o", prefix])
        summaries[ranks] = load_summary(prefix)
        rec = summaries[ranks]["recommender"]
        check(rec["test_ratings"] + rec["train_ratings"] == len(lines), "the split loses or adds ratings", run)
        check(0.1 < rec["test_ratings"] / len(lines) < 0.4, f"test share {rec['test_ratings'] / len(lines)}", run)
    check_close(summaries[1]["rmse_test"], summaries[2]["rmse_test"], 1e-9, "--test-fraction RMSE on 1 vs 2 ranks")
    check(summaries[1]["recommender"]["test_ratings"] == summaries[2]["recommender"]["test_ratings"],
          "the split depends on the number of ranks")

    run = ctx.run_ok(2, base + ["--bias", "off", "-o", out_prefix(ctx, "nobias")])
    a, s, b, c, mu, *_ = load_recommender(out_prefix(ctx, "nobias"))
    check(np.all(b == 0) and np.all(c == 0), "--bias off wrote non-zero biases", run)
    check(load_summary(out_prefix(ctx, "nobias"))["rmse_test"] != summaries[2]["rmse_test"], "--bias off changed nothing", run)

    # Clipping can only bring training predictions closer (every training rating lies in the clipping range).
    run = ctx.run_ok(2, base + ["--clip", "none", "-o", out_prefix(ctx, "noclip")])
    noclip = load_summary(out_prefix(ctx, "noclip"))
    clipped = summaries[2]["recommender"]
    check(noclip["recommender"]["clip_low"] is None and 0.5 <= clipped["clip_low"] < clipped["clip_high"] <= 5,
          f"clip range not reported as expected: {clipped['clip_low']}, {clipped['clip_high']}", run)
    check(summaries[2]["rmse_train"] <= noclip["rmse_train"], "clipping made training predictions worse", run)

    # Negative ratings: the biases absorb them; refused only as plain NMF.
    negative = [(u, i, r - 3) for u, i, r in lines]
    write_ratings(ctx.indir / "neg.txt", negative)
    run = ctx.run_ok(2, ["-i", ctx.indir / "neg.txt", "-k", 3, "--iters", 15, "--tol", 0, "--test-fraction", 0.25,
                         "--seed", 9, "-o", out_prefix(ctx, "neg")])
    neg = load_summary(out_prefix(ctx, "neg"))
    check(neg["recommender"]["clip_low"] == clipped["clip_low"] - 3, "clip range of negative ratings", run)
    check(abs(neg["recommender"]["mean"] - (summaries[2]["recommender"]["mean"] - 3)) < 1e-12,
          "the mean of shifted ratings is not shifted", run)
    check(abs(neg["rmse_test"] - summaries[2]["rmse_test"]) < 0.05,
          f"a shift of every rating changed the test RMSE from {summaries[2]['rmse_test']} to {neg['rmse_test']}", run)

    # A test file whose ids never occur in training: counted, warned about, predicted as cold starts.
    write_ratings(ctx.indir / "train.txt", lines)
    write_ratings(ctx.indir / "unseen.txt", [("stranger", "item1", 4), ("user1", "newfilm", 2), ("x", "y", 3.5),
                                             ("user2", "item3", 3)])
    prefix = out_prefix(ctx, "unseen")
    run = ctx.run_ok(2, ["-i", ctx.indir / "train.txt", "--test", ctx.indir / "unseen.txt", "-k", 3, "--iters", 5,
                         "-o", prefix])
    cold = load_summary(prefix)["recommender"]["cold_start_test_ratings"]
    check((cold["unseen_row_ids"], cold["unseen_col_ids"]) == (2, 2), f"unseen ids counted as {cold}", run)
    check(re.search(r"warning: .*unseen\.txt: 2 test ratings have a row id and 2 a column id", run.stderr),
          "no warning counting the unseen ids", run)
    a, s, b, c, mu, rows, cols, summary = load_recommender(prefix)
    test = [("stranger", "item1", 4), ("user1", "newfilm", 2), ("x", "y", 3.5), ("user2", "item3", 3)]
    low, high = summary["recommender"]["clip_low"], summary["recommender"]["clip_high"]
    check_close(summary["rmse_test"], rmse(test, numpy_predictions(test, a, s, b, c, mu, rows, cols, low, high)), 1e-9,
                "cold-start predictions (mean plus the known bias)", run)


@case(ranks=2)
def case_recommender_refusals(ctx):
    lines = planted_ratings(7)
    write_ratings(ctx.indir / "r.txt", lines)
    expect_error(ctx, ["-i", ctx.indir / "r.txt", "-k", 2, "--algo", "mu", "-o", out_prefix(ctx)], EXIT_USAGE,
                 ["mu", "recommender", "hals", "--missing zero"])
    expect_error(ctx, ["-i", ctx.indir / "r.txt", "-k", 2, "--l2-A", 1, "-o", out_prefix(ctx)], EXIT_USAGE,
                 ["--lambda"])
    expect_error(ctx, ["-i", ctx.indir / "r.txt", "-k", 2, "--test", ctx.indir / "r.txt", "--test-fraction", 0.2],
                 EXIT_USAGE, ["exclude"])
    write_ratings(ctx.indir / "neg.txt", [(u, i, r - 3) for u, i, r in lines])
    expect_error(ctx, ["-i", ctx.indir / "neg.txt", "-k", 3, "--missing", "zero", "-o", out_prefix(ctx)],
                 EXIT_BAD_INPUT, ["negative rating", "--missing unobserved"], ranks=2)
    mtx = ctx.indir / "r.mtx"
    mtx.write_text("%%MatrixMarket matrix coordinate real general\n6 5 5\n1 2 4\n3 4 3\n5 5 5\n6 1 1\n2 3 2\n")
    expect_error(ctx, ["-i", mtx, "-k", 2, "--missing", "unobserved", "--test", ctx.indir / "r.txt"], EXIT_USAGE,
                 ["--test", "--test-fraction"])
    run = ctx.run_ok(2, ["-i", mtx, "-k", 2, "--missing", "unobserved", "--iters", 3, "-o", out_prefix(ctx, "mtx")])
    check(load_summary(out_prefix(ctx, "mtx"))["recommender"]["train_ratings"] == 5,
          "Matrix Market stored entries are the observed ratings", run)


def shared_recommender(ctx, path, bound):
    if not path.is_file():
        raise CaseSkipped(f"{path} is not there")
    prefix = out_prefix(ctx, "shared")
    run = ctx.run_ok(2, ["-i", path, "-k", 40, "--iters", 25, "--test-fraction", 0.2, "--seed", 1, "-o", prefix])
    summary = load_summary(prefix)
    check(summary["rmse_test"] < bound, f"test RMSE {summary['rmse_test']:.4f} above {bound}", run)


@case
def case_e2e_recommender_filmtrust(ctx):
    shared_recommender(ctx, FILMTRUST, 0.80)


@case
def case_e2e_recommender_movielens(ctx):
    shared_recommender(ctx, MOVIELENS, 0.87)
# --- the recommender mode: choosing k on held-out ratings, restarts (README, Recommending) ------------------------

MASK32 = 0xFFFFFFFF
STREAM_TEST_SET, STREAM_RATINGS_FOLD = 8, 9  # nmf::RandomStream (include/nmf/kernels/random.hpp)


def philox4x32(counter, key):
    """Philox4x32-10 (Salmon et al. 2011, Random123's defaults), written here from the paper's round function."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for r in range(10):
        if r > 0:
            k0, k1 = (k0 + 0x9E3779B9) & MASK32, (k1 + 0xBB67AE85) & MASK32
        p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & MASK32, (p0 >> 32) ^ c3 ^ k1, p0 & MASK32
    return c0, c1, c2, c3


def uniform01(seed, stream, index):
    """nmf::uniform01: the first two words of Philox4x32-10 at counter (index, stream, lane 0), key = seed, as
    53 bits in [0, 1)."""
    bits = philox4x32((index & MASK32, index >> 32, stream, 0), (seed & MASK32, seed >> 32))
    return (((bits[0] << 32) | bits[1]) >> 11) * 2.0 ** -53


def planted_matrix(seed, n=26, m=20):
    """(n x m ratings, mask) of the planted model of planted_ratings, as a matrix with its observed entries."""
    x = np.zeros((n, m))
    mask = np.zeros((n, m), dtype=bool)
    for u, i, r in planted_ratings(seed, users=n, items=m):
        x[int(u[4:]), int(i[4:])], mask[int(u[4:]), int(i[4:])] = r, True
    return x, mask


def write_observed_mtx(path, x, mask):
    """The observed entries of x (all of shape n x m, so row and column indices are the same in every file)."""
    rows, cols = np.nonzero(mask)
    path.write_text(f"%%MatrixMarket matrix coordinate real general\n{x.shape[0]} {x.shape[1]} {len(rows)}\n" +
                    "".join(f"{i + 1} {j + 1} {real_text(x[i, j])}\n" for i, j in zip(rows, cols)))


def validation_rmse(prefix, x, held_out):
    """RMSE on the held-out entries of the predictions mu + b + c + A S clipped as the summary says, from a fit's
    outputs (a row or column without training ratings has zero factors and bias: a cold start)."""
    import scipy.io
    summary = load_summary(prefix)
    a, s = load_factors(prefix)
    b = np.asarray(scipy.io.mmread(f"{prefix}_bias_rows.mtx")).ravel()
    c = np.asarray(scipy.io.mmread(f"{prefix}_bias_cols.mtx")).ravel()
    rec = summary["recommender"]
    p = np.clip(rec["mean"] + b[:, None] + c[None, :] + a @ s, rec["clip_low"], rec["clip_high"])
    return float(np.sqrt(np.mean((x[held_out] - p[held_out]) ** 2)))


@case(ranks=4)
def case_e2e_recommender_choose_k(ctx):
    """-k with several values and --cv-folds in the recommender mode: the folds (NumPy's Philox of each rating's
    (i, j) and the seed, outside the --test-fraction set) and the table of mean +- sd validation RMSE equal single
    runs of nmf_mpi on each fold's training ratings, scored in NumPy on the held-out fold; the same table and k on
    1, 2 and 4 ranks, with and without --groups; the chosen k is then fitted on all training ratings."""
    x, mask = planted_matrix(11)
    n, m = x.shape
    write_observed_mtx(ctx.indir / "all.mtx", x, mask)
    seed, folds, ks, fraction = 7, 3, [1, 3, 6], 0.2
    common = ["--missing", "unobserved", "--seed", seed, "--iters", 8, "--tol", 0]
    cv_args = ["-i", ctx.indir / "all.mtx", "-k", ",".join(map(str, ks)), "--cv-folds", folds,
               "--test-fraction", fraction] + common
    expect_error(ctx, cv_args[:4] + ["--cv-folds", 1] + common, EXIT_USAGE, ["--cv-folds 1", "2"])
    expect_error(ctx, cv_args + ["--cv-fraction", 0.3], EXIT_USAGE, ["--cv-fraction", "recommender"])
    key = np.arange(n)[:, None] * m + np.arange(m)[None, :]
    test = mask & (np.vectorize(lambda k_: uniform01(seed, STREAM_TEST_SET, int(k_)))(key) < fraction)
    fold = np.vectorize(lambda k_: min(folds - 1, int(uniform01(seed, STREAM_RATINGS_FOLD, int(k_)) * folds)))(key)
    train = mask & ~test
    check(all(5 < (train & (fold == f)).sum() for f in range(folds)), "test bug: a fold without ratings")

    # The reference: each (k, fold) fitted alone on the other folds' ratings (same indices, so the same start).
    reference = {}
    for f in range(folds):
        write_observed_mtx(ctx.indir / f"fold{f}.mtx", x, train & (fold != f))
        for k in ks:
            prefix = out_prefix(ctx, f"single_k{k}_f{f}")
            ctx.run_ok(1, ["-i", ctx.indir / f"fold{f}.mtx", "-k", k, "-o", prefix] + common)
            reference[(k, f)] = validation_rmse(prefix, x, train & (fold == f))
    means = {k: np.mean([reference[(k, f)] for f in range(folds)]) for k in ks}
    chosen = min(ks, key=lambda k: means[k])

    for ranks, extra in [(1, []), (2, []), (2, ["--groups", 2]), (4, ["--grid", "2x2"]), (4, ["--groups", 2])]:
        prefix = out_prefix(ctx, f"cv{ranks}{''.join(map(str, extra))}")
        run = ctx.run_ok(ranks, cv_args + ["-o", prefix] + extra)
        summary = load_summary(prefix)
        selection = summary["rank_selection"]
        check(selection["chosen"] == chosen and summary["k"] == chosen,
              f"chose k = {selection['chosen']}, NumPy's single runs give {chosen}", run)
        for entry in selection["entries"]:
            values = [reference[(entry["k"], f)] for f in range(folds)]
            check(entry["folds"] == folds, "a fold is missing from the table", run)
            check_close(entry["rmse_validation"], np.mean(values), 1e-9, f"mean validation RMSE of k = {entry['k']}", run)
            check_close(entry["rmse_validation_std"], np.std(values, ddof=1), 1e-9, f"its sd (k = {entry['k']})", run)
        check(re.search(rf"chosen k = {chosen}\b", run.stdout), "the log lacks the chosen k", run)
        check("rank_selection" in summary["files"], "PREFIX_rank_selection.csv is not in the summary's files", run)
        # The final fit is a plain fit of the chosen k on all training ratings (the test set is never seen by CV).
        if ranks == 1:
            final = out_prefix(ctx, "final")
            ctx.run_ok(1, ["-i", ctx.indir / "all.mtx", "-k", chosen, "--test-fraction", fraction, "-o", final] + common)
            check_close(summary["rmse_test"], load_summary(final)["rmse_test"], 1e-9, "test RMSE of the final fit", run)
            check_close(summary["rmse_test"], validation_rmse(prefix, x, test), 1e-9, "test RMSE vs NumPy's", run)



@case(ranks=4)
def case_e2e_recommender_restarts(ctx):
    """--restarts in the recommender mode keeps the restart with the lowest training objective: it equals the
    separate single run with that restart's seed (factors and RMSEs), on 1, 2 and 4 ranks with subgroups."""
    lines = planted_ratings(13)
    write_ratings(ctx.indir / "train.txt", lines[30:])
    write_ratings(ctx.indir / "test.txt", lines[:30])
    common = ["-i", ctx.indir / "train.txt", "--test", ctx.indir / "test.txt", "-k", 3, "--iters", 6, "--tol", 0]
    restarts = 4
    runs = {}
    for ranks, extra in [(1, []), (2, ["--groups", 2]), (4, ["--groups", 2]), (4, ["--groups", 4])]:
        prefix = out_prefix(ctx, f"restarts{ranks}{''.join(map(str, extra))}")
        run = ctx.run_ok(ranks, common + ["--seed", 5, "--restarts", restarts, "-o", prefix] + extra)
        runs[(ranks, tuple(extra))] = (prefix, load_summary(prefix), run)
    prefix, summary, run = runs[(1, ())]
    table = summary["restarts"]
    check(len(table) == restarts and table[0]["seed"] == 5, "restart table: restart 0 must keep --seed", run)
    singles = []
    for entry in table:
        single = out_prefix(ctx, f"seed{entry['index']}")
        ctx.run_ok(1, common + ["--seed", entry["seed"], "-o", single])
        singles.append((single, load_summary(single)))
    objectives = [s["objective"] for _, s in singles]
    best = int(np.argmin(objectives))
    check(len(set(np.round(objectives, 9))) == restarts, f"test bug: restarts with equal objectives {objectives}")
    check(int(np.argmin([s["rmse_test"] for _, s in singles])) != best,
          "test bug: the lowest objective is also the lowest test RMSE, so the case cannot tell them apart")
    best_prefix, best_summary = singles[best]
    for (ranks, extra), (prefix, summary, run) in runs.items():
        check(summary["best_restart"] == best, f"kept restart {summary['best_restart']}, the lowest objective of "
              f"the single runs is restart {best} ({objectives})", run)
        for entry, single_objective in zip(summary["restarts"], objectives):
            check_close(entry["objective"], single_objective, 1e-9, f"restart {entry['index']}'s objective", run)
        check_close(summary["rmse_test"], best_summary["rmse_test"], 1e-9, "test RMSE of the kept restart", run)
        a, s, b, c, *_ = load_recommender(prefix)
        ref_a, ref_s, ref_b, ref_c, *_ = load_recommender(best_prefix)
        check(np.allclose(a, ref_a, rtol=1e-8, atol=1e-10) and np.allclose(s, ref_s, rtol=1e-8, atol=1e-10) and
              np.allclose(b, ref_b, rtol=1e-8, atol=1e-10), "the written factors are not the kept restart's", run)


# --- top-N lists (--top-n) and fold-in (--fixed-S) -------------------------------------------------------------

def read_topn(path):
    """PREFIX_topn.csv as [(user, rank, item, score)] (text ids, int rank, float score); checks the header."""
    lines = Path(path).read_text().splitlines()
    check(lines and lines[0] == "user,rank,item,score", f"{path}: header {lines[:1]}, expected user,rank,item,score")
    rows = []
    for line in lines[1:]:
        user, rank, item, score = line.split(",")
        rows.append((user, int(rank), item, float(score)))
    return rows


def brute_force_topn(scores, rated, n):
    """Per row: the n unrated columns with the highest score, ties to the lower column: [(col, score), ...]."""
    lists = []
    for i in range(scores.shape[0]):
        cols = np.flatnonzero(~rated[i])
        order = np.lexsort((cols, -scores[i, cols]))  # by score descending, then column ascending
        lists.append([(int(cols[p]), float(scores[i, cols[p]])) for p in order[:n]])
    return lists


def check_topn(path, scores, rated, n, user_ids, item_ids, run=None, written=None):
    """The CSV against numpy's brute-force ranking of `scores` (A S) without the `rated` entries: every user in
    row order, ranks 1..N (fewer when fewer are unrated), the same items, scores to round-off. An item may differ
    only where numpy's scores of the two items tie to round-off. `written`: the scores the file should hold when
    they are not the ranking scores (the recommender mode ranks by the unclipped prediction, writes it clipped)."""
    written = scores if written is None else written
    expected = brute_force_topn(scores, rated, n)
    got = read_topn(path)
    scale = np.abs(scores).max()
    want = [(user_ids[i], q + 1, item_ids[j], written[i, j]) for i, lst in enumerate(expected) for q, (j, _) in
            enumerate(lst)]
    check(len(got) == len(want), f"{path}: {len(got)} lines, numpy ranks {len(want)}", run)
    column_of = {item: j for j, item in enumerate(item_ids)}
    row_of = {user: i for i, user in enumerate(user_ids)}
    for g, w in zip(got, want):
        check(g[:2] == w[:2], f"{path}: line {g} where numpy has {w} (user, rank)", run)
        check(abs(g[3] - w[3]) <= 1e-12 * scale, f"{path}: score {g} vs numpy's {w}", run)
        if g[2] != w[2]:
            i = row_of[g[0]]
            check(abs(scores[i, column_of[g[2]]] - scores[i, column_of[w[2]]]) <= 1e-12 * scale,
                  f"{path}: item {g} where numpy ranks {w}, and their scores do not tie", run)
    return got


def check_file_listed(summary, role, path, run=None):
    import zlib
    entry = summary["files"].get(role)
    check(entry is not None, f"the summary's files lack {role!r}: {list(summary['files'])}", run)
    data = Path(path).read_bytes()
    check(entry["path"] == str(path) and entry["bytes"] == len(data) and
          entry["checksum"] == "%08x" % zlib.crc32(data), f"the summary's {role} entry {entry} is not {path}", run)


@case(ranks=4)
def case_e2e_top_n(ctx):
    """--top-n on a sparse Matrix Market file at P = 1, 2, 4 (and a 2 x 2 grid) against numpy's brute force:
    stored entries are rated and excluded; a row that stored every column gets no line, one that stored all but
    two gets two."""
    x = random_sparse(60, 45, 0.2, seed=31)
    x[0, :] = np.arange(1, 46)  # rated everything
    x[1, :] = 1.0
    x[1, [7, 30]] = 0.0  # two left, fewer than N
    f = write_coordinate(ctx.indir / "topn.mtx", x, order=shuffled(32))
    rated = x != 0
    n = 6
    outputs = {}
    for ranks, extra in [(1, []), (2, []), (4, []), (4, ["--grid", "2x2"])]:
        prefix = out_prefix(ctx, f"topn{ranks}{len(extra)}")
        run = ctx.run_ok(ranks, ["-i", f, "-k", 4, "--algo", "bpp", "--iters", 20, "--top-n", n, "-o", prefix] + extra)
        a, s, summary = check_factorization(x, prefix, 4, run=run)
        path = Path(f"{prefix}_topn.csv")
        got = check_topn(path, a @ s, rated, n, [str(i + 1) for i in range(60)], [str(j + 1) for j in range(45)], run)
        check(not any(u == "1" for u, *_ in got), "row 1 rated every column but has recommendations", run)
        check(sorted(g[2] for g in got if g[0] == "2") == ["31", "8"], "row 2 should get exactly items 8 and 31", run)
        check_file_listed(summary, "topn", path, run)
        outputs[(ranks, len(extra))] = [g[:3] for g in got]
    for key, items in outputs.items():
        check(items == outputs[(1, 0)], f"the top-N items at {key} differ from those at -np 1")


@case(ranks=4)
def case_e2e_top_n_ratings(ctx):
    """--top-n on a rating file: users and items by their original ids, an explicit 0 rating counts as rated."""
    rng = np.random.default_rng(41)
    users, items = [f"u{i:02d}" for i in range(25)], [f"film {j}" for j in range(18)]
    lines = []
    for i, u in enumerate(users):
        for j in rng.choice(18, size=int(rng.integers(2, 12)), replace=False):
            lines.append(f"{u}\t{items[j]}\t{rng.integers(0, 11) / 2}")
    lines.append(f"{users[3]}\t{items[5]}\t0")  # an explicit 0 (the last duplicate wins)
    path = ctx.indir / "r.tsv"
    path.write_text("\n".join(lines) + "\n")
    row_ids, col_ids, ratings = parse_ratings(path.read_text(), "\t", False)
    x = np.zeros((len(row_ids), len(col_ids)))
    rated = np.zeros(x.shape, dtype=bool)
    for (i, j), v in ratings.items():
        x[i, j], rated[i, j] = v, True
    for ranks in (1, 2, 4):
        prefix = out_prefix(ctx, f"r{ranks}")
        run = ctx.run_ok(ranks, ["-i", path, "-k", 3, "--algo", "bpp", "--iters", 15, "--storage", "sparse",
                                 "--missing", "zero",
                                 "--top-n", 4, "-o", prefix])
        a, s, summary = check_factorization(x, prefix, 3, run=run)
        got = check_topn(Path(f"{prefix}_topn.csv"), a @ s, rated, 4, row_ids, col_ids, run)
        check(not any(u == users[3] and i == items[5] for u, _, i, _ in got), "an explicit 0 rating was recommended",
              run)


def recommender_scores(prefix):
    """(unclipped, clipped) predictions mu + b_i + c_j + a_i . s_j of every (row, column) of a recommender run's
    outputs, the row and column ids, and the summary."""
    a, s, b, c, mu, rows, cols, summary = load_recommender(prefix)
    unclipped = mu + b[:, None] + c[None, :] + a @ s
    rec = summary["recommender"]
    low = -np.inf if rec["clip_low"] is None else rec["clip_low"]
    high = np.inf if rec["clip_high"] is None else rec["clip_high"]
    return unclipped, np.clip(unclipped, low, high), rows, cols, summary


def clipped_out_of_column_order(lists, clipped):
    """How many neighbours in numpy's lists have equal clipped scores but the later one has the lower column: places
    where ranking by the clipped score (ties to the lower column) would give another order."""
    return sum(1 for i, lst in enumerate(lists) for (j0, _), (j1, _) in zip(lst, lst[1:])
               if clipped[i, j0] == clipped[i, j1] and j1 < j0)


@case(ranks=4)
def case_e2e_top_n_recommender(ctx):
    """--top-n in the recommender mode at P = 1, 2, 4 and on a 2 x 2 grid, against numpy's brute force on the
    written factors, biases and id maps: the score is mu + b_i + c_j + a_i . s_j, ranked unclipped and written
    clipped; the training ratings are excluded, the held-out test ratings are not; a cold user (a Matrix Market row
    without ratings, --missing unobserved) gets the items in the order of mu + c_j."""
    # Shifted up against the top of the scale, so that many predictions clip to 5.
    lines = [(u, it, min(5.0, r + 1.5)) for u, it, r in planted_ratings(11, users=30, items=20)]
    test, train = lines[:50], lines[50:]
    write_ratings(ctx.indir / "train.txt", train)
    write_ratings(ctx.indir / "test.txt", test)
    n = 6
    items_at = {}
    for ranks, extra in [(1, []), (2, []), (4, []), (4, ["--grid", "2x2"])]:
        prefix = out_prefix(ctx, f"rec{ranks}{len(extra)}")
        run = ctx.run_ok(ranks, ["-i", ctx.indir / "train.txt", "--test", ctx.indir / "test.txt", "-k", 3, "--iters",
                                 10, "--top-n", n, "-o", prefix] + extra)
        unclipped, clipped, rows, cols, summary = recommender_scores(prefix)
        row_of, col_of = {u: i for i, u in enumerate(rows)}, {it: j for j, it in enumerate(cols)}
        rated = np.zeros(unclipped.shape, dtype=bool)
        for u, it, _ in train:
            rated[row_of[u], col_of[it]] = True
        path = Path(f"{prefix}_topn.csv")
        got = check_topn(path, unclipped, rated, n, rows, cols, run, written=clipped)
        pairs = {(u, it) for u, _, it, _ in got}
        check(not pairs & {(u, it) for u, it, _ in train}, "a training rating was recommended", run)
        check(pairs & {(u, it) for u, it, _ in test}, "no held-out test rating is among the candidates", run)
        reordered = clipped_out_of_column_order(brute_force_topn(unclipped, rated, n), clipped)
        check(reordered > 0 and any(score == summary["recommender"]["clip_high"] for *_, score in got),
              "premise: clipped scores whose unclipped order is not the column order", run)
        check(summary["top_n"]["n"] == n, f"summary top_n {summary.get('top_n')}", run)
        check_file_listed(summary, "topn", path, run)
        items_at[(ranks, len(extra))] = [g[:3] for g in got]
    for key, items in items_at.items():
        check(items == items_at[(1, 0)], f"the top-N items at {key} differ from those at -np 1")

    # A cold user (row 4, no rating) and a cold item (column 6) in a Matrix Market file read as ratings.
    rng = np.random.default_rng(12)
    x = np.where(rng.random((14, 9)) < 0.5, rng.integers(1, 11, (14, 9)) / 2, 0.0)
    x[3, :], x[:, 5] = 0.0, 0.0
    x[0, 0] = x[0, 0] or 3.0
    f = write_coordinate(ctx.indir / "cold.mtx", x)
    for ranks in (1, 2, 4):
        prefix = out_prefix(ctx, f"cold{ranks}")
        run = ctx.run_ok(ranks, ["-i", f, "--missing", "unobserved", "-k", 2, "--iters", 8, "--top-n", 4, "-o",
                                 prefix])
        a, s, _, c, mu, *_ = load_recommender(prefix)
        unclipped, clipped, rows, cols, summary = recommender_scores(prefix)
        got = check_topn(Path(f"{prefix}_topn.csv"), unclipped, x != 0, 4, rows, cols, run, written=clipped)
        cold = [(int(it) - 1, score) for u, _, it, score in got if u == "4"]
        order = sorted(range(9), key=lambda j: (-c[j], j))[:4]
        check(np.all(a[3] == 0) and [j for j, _ in cold] == order, f"cold user's list {cold}, expected items {order} "
              "by mu + c_j", run)
        low, high = summary["recommender"]["clip_low"], summary["recommender"]["clip_high"]
        check(all(abs(score - min(high, max(low, mu + c[j]))) <= 1e-12 for j, score in cold),
              "cold user's scores are not mu + c_j", run)
        check(c[5] == 0 and np.all(s[:, 5] == 0), "the cold item has a bias or a factor", run)


def nnls_rows(x, s):
    """scikit-learn's NMF.transform with a fixed S, exactly: every row of A by scipy's NNLS."""
    from scipy.optimize import nnls
    return np.array([nnls(s.T, row)[0] for row in x])


def check_fold_in(prefix, x, s, run, output_format="mtx"):
    a = np.load(f"{prefix}_A.npy") if output_format == "npy" else np.asarray(__import__("scipy.io").io.mmread(
        f"{prefix}_A.mtx"), dtype=np.float64)
    expected = nnls_rows(x, s)
    check_same_matrix(a, expected, 1e-8, f"{prefix}: A against scipy's nnls row by row")
    summary = load_summary(prefix)
    check(summary["mode"] == "fold_in" and summary["k"] == s.shape[0], f"{prefix}: summary mode/k", run)
    check_close(summary["relative_error"], numpy_error(x, a, s), 1e-7, f"{prefix}: relative error", run)
    check(not Path(f"{prefix}_S.mtx").exists(), f"{prefix}: a fold-in wrote S", run)
    check_file_listed(summary, "A", Path(summary["outputs"]["A"]), run)
    return a, summary


@case(ranks=4)
def case_e2e_fold_in(ctx):
    """--fixed-S on Matrix Market and .npy input and factors, at P = 1, 2, 4: A is scipy's row-by-row NNLS against
    the fixed S; S written as an array, as coordinates (scipy) and as .npy all read."""
    import scipy.io
    import scipy.sparse
    x = random_sparse(80, 50, 0.3, seed=51)
    f = write_coordinate(ctx.indir / "fit.mtx", x)
    fit = ctx.indir / "fit"  # not in outdir: the error cases check that it stays empty
    ctx.run_ok(2, ["-i", f, "-k", 5, "--algo", "bpp", "--iters", 30, "-o", fit])
    ctx.run_ok(2, ["-i", f, "-k", 5, "--algo", "bpp", "--iters", 30, "--output-format", "npy", "-o", fit])
    _, s = load_factors(fit)
    s_coordinate = ctx.indir / "S_coordinate.mtx"
    scipy.io.mmwrite(str(s_coordinate), scipy.sparse.coo_matrix(s), precision=17)
    x_new = random_sparse(33, 50, 0.4, seed=52)
    new = write_coordinate(ctx.indir / "new.mtx", x_new)
    new_npy = ctx.indir / "new.npy"
    np.save(new_npy, x_new)
    expect_error(ctx, ["-i", f, "--fixed-S", f"{fit}_S.mtx", "-k", 4, "-o", out_prefix(ctx, "bad")], EXIT_USAGE,
                 ["-k 4", "k = 5"])
    narrow = write_coordinate(ctx.indir / "narrow.mtx", x_new[:, :40])
    expect_error(ctx, ["-i", narrow, "--fixed-S", f"{fit}_S.mtx", "-o", out_prefix(ctx, "bad")], EXIT_BAD_INPUT,
                 ["40 columns", "50"])
    for ranks, extra in [(1, []), (2, []), (4, []), (4, ["--grid", "2x2"]), (2, ["--storage", "sparse"])]:
        for name, s_file, inp, fmt in [("mtx", f"{fit}_S.mtx", new, "mtx"), ("coo", s_coordinate, new, "mtx"),
                                       ("npy", f"{fit}_S.npy", new_npy, "npy")]:
            prefix = out_prefix(ctx, f"fold_{name}_{ranks}{len(extra)}")
            run = ctx.run_ok(ranks, ["-i", inp, "--fixed-S", s_file, "-o", prefix, "--output-format", fmt] + extra)
            check_fold_in(prefix, x_new, s, run, fmt)


@case(ranks=4)
def case_e2e_fold_in_ratings(ctx):
    """--fixed-S on rating files: the new input's items are matched to the fit's columns by id (PREFIX_cols.txt
    found beside PREFIX_S.mtx, or --fixed-S-cols); items not in the fit are ignored with a counted warning; A has
    a row per new user (PREFIX_rows.txt), and equals scipy's NNLS on the new ratings in the fit's columns."""
    rng = np.random.default_rng(61)
    fit_lines = [f"u{i} m{j} {rng.integers(1, 11) / 2}" for i in range(40) for j in range(30) if rng.random() < 0.3]
    fit_path = ctx.indir / "fit.txt"
    fit_path.write_text("\n".join(fit_lines) + "\n")
    fit = ctx.indir / "fit"  # not in outdir: the error cases check that it stays empty
    ctx.run_ok(2, ["-i", fit_path, "-k", 4, "--algo", "bpp", "--iters", 30, "--missing", "zero", "-o", fit])
    _, s = load_factors(fit)
    fitted_cols = Path(f"{fit}_cols.txt").read_text().splitlines()
    # New users (and one old), items in another order, two items the fit never saw.
    items = list(reversed(fitted_cols))[:20] + ["new1", "new2"]
    new_lines = [f"v{i},{items[j]},{rng.integers(1, 11) / 2}" for i in range(15) for j in range(22) if rng.random() < 0.35]
    new_lines += ["u0,m0,4", "v0,new1,5"]
    new_path = ctx.indir / "new.csv"
    new_path.write_text("user,item,rating\n" + "\n".join(new_lines) + "\n")
    row_ids, col_ids, ratings = parse_ratings(new_path.read_text(), ",", True)
    x = np.zeros((len(row_ids), len(fitted_cols)))
    ignored = 0
    for (i, j), v in ratings.items():
        if col_ids[j] in fitted_cols:
            x[i, fitted_cols.index(col_ids[j])] = v
        else:
            ignored += 1
    lone_s = ctx.indir / "S_alone.mtx"
    shutil.copy(f"{fit}_S.mtx", lone_s)
    expect_error(ctx, ["-i", new_path, "--fixed-S", lone_s, "-o", out_prefix(ctx, "bad")], EXIT_USAGE,
                 ["--fixed-S-cols"])
    other = ctx.indir / "other_cols.txt"
    other.write_text("a\nb\n")
    expect_error(ctx, ["-i", new_path, "--fixed-S", f"{fit}_S.mtx", "--fixed-S-cols", other, "-o",
                       out_prefix(ctx, "bad")], EXIT_BAD_INPUT, ["2 ids", "not from the same fit"])
    for ranks, extra in [(1, []), (2, []), (4, []), (2, ["--fixed-S-cols", f"{fit}_cols.txt"]),
                         (4, ["--storage", "sparse"]), (4, ["--storage", "dense", "--grid", "2x2"])]:
        prefix = out_prefix(ctx, f"fold{ranks}{len(extra)}")
        run = ctx.run_ok(ranks, ["-i", new_path, "--fixed-S", f"{fit}_S.mtx", "-o", prefix] + extra)
        _, summary = check_fold_in(prefix, x, s, run)
        check(Path(f"{prefix}_rows.txt").read_text() == "".join(u + "\n" for u in row_ids), "rows.txt differs", run)
        check(summary["columns_ignored"] == 2 and summary["entries_ignored"] == ignored,
              f"summary ignored {summary['columns_ignored']} columns / {summary['entries_ignored']} entries, "
              f"expected 2 / {ignored}", run)
        warnings = re.findall(r"^nmf_mpi: warning: .*not in the fit.*$", run.stderr, re.M)
        check(len(warnings) == 1 and f"2 columns (items) with {ignored} stored entries" in warnings[0],
              f"expected one warning counting 2 items and {ignored} ratings, got {warnings}", run)


def fold_in_reference(observed, s, c, mu, lam, lam_bias, bias=True):
    """The recommender fold-in by scipy's bounded least squares (BVLS), row by row: for each row's observed
    [(fit column, rating)], min over a >= 0 and b (free) of sum (x - mu - c_j - b - a . s_j)^2 + lam n |a|^2
    + lam_bias b^2, as one stacked least-squares problem. A row without ratings gets a = 0, b = 0."""
    from scipy.optimize import lsq_linear
    k = s.shape[0]
    a_rows, b_rows = [], []
    for obs in observed:
        if not obs:
            a_rows.append(np.zeros(k))
            b_rows.append(0.0)
            continue
        n = len(obs)
        cols = [j for j, _ in obs]
        y = np.array([x - mu - c[j] for j, x in obs])
        unknowns = k + 1 if bias else k
        m = np.zeros((n + unknowns, unknowns))
        m[:n, :k] = s[:, cols].T
        m[n:n + k, :k] = np.sqrt(lam * n) * np.eye(k)
        if bias:
            m[:n, k] = 1.0
            m[n + k, k] = np.sqrt(lam_bias)
        rhs = np.concatenate([y, np.zeros(unknowns)])
        lower = np.concatenate([np.zeros(k), [-np.inf] if bias else []])
        z = lsq_linear(m, rhs, bounds=(lower, np.full(unknowns, np.inf)), method="bvls", tol=1e-15).x
        a_rows.append(z[:k])
        b_rows.append(z[k] if bias else 0.0)
    return np.array(a_rows), np.array(b_rows)


@case(ranks=4)
def case_e2e_fold_in_recommender(ctx):
    """--fixed-S against a recommender fit at P = 1, 2, 4: A >= 0 and the row biases of the new users equal scipy's
    bounded least squares (a >= 0, b free) of the same loss over each row's observed ratings, with the fit's S,
    column biases and mean fixed and the same lambda and lambda-bias; items matched by id, unknown items ignored,
    a user with only unknown items gets a = 0, b = 0; --bias off; how the bias file is found, and its errors."""
    import scipy.io
    lines = planted_ratings(21, users=30, items=16)
    write_ratings(ctx.indir / "fit.txt", lines)
    fit = ctx.indir / "fit"  # not in outdir: the error cases check that it stays empty
    lam, lam_bias = ["--lambda", 0.2], ["--lambda-bias", 3]
    ctx.run_ok(2, ["-i", ctx.indir / "fit.txt", "-k", 3, "--iters", 12, "--tol", 0, "-o", fit] + lam + lam_bias)
    _, s, _, c, mu, _, fit_cols, _ = load_recommender(fit)
    rng = np.random.default_rng(22)
    items = list(reversed(fit_cols))[:12] + ["new1", "new2"]
    new = [f"v{i},{items[j]},{rng.integers(1, 11) / 2}" for i in range(12) for j in range(14) if rng.random() < 0.4]
    new += ["user0,item3,4", "vcold,new1,5", "vcold,new2,1", "v1,item0,0"]  # an old user; only unknown items; a 0
    new_path = ctx.indir / "new.csv"
    new_path.write_text("user,item,rating\n" + "\n".join(new) + "\n")
    row_ids, col_ids, ratings = parse_ratings(new_path.read_text(), ",", True)
    observed = [[] for _ in row_ids]
    ignored = 0
    for (i, j), v in sorted(ratings.items()):
        if col_ids[j] in fit_cols:
            observed[i].append((fit_cols.index(col_ids[j]), v))
        else:
            ignored += 1
    # The bias file: found beside PREFIX_S.mtx, or given; its absence or a wrong file is an error (first, while the
    # output directory is empty).
    lone_s, lone_cols = ctx.indir / "S_alone.mtx", ctx.indir / "cols_alone.txt"
    shutil.copy(f"{fit}_S.mtx", lone_s)
    shutil.copy(f"{fit}_cols.txt", lone_cols)
    common = ["-i", new_path, "--fixed-S", lone_s, "--fixed-S-cols", lone_cols] + lam + lam_bias
    expect_error(ctx, common + ["--missing", "unobserved", "-o", out_prefix(ctx, "bad")], EXIT_USAGE,
                 ["--fixed-bias-cols", "recommender"])
    expect_error(ctx, common + ["--fixed-bias-cols", f"{fit}_bias_rows.mtx", "-o", out_prefix(ctx, "bad")],
                 EXIT_BAD_INPUT, ["--fixed-bias-cols", "16 x 1"])
    expect_error(ctx, common + ["--fixed-bias-cols", lone_s, "-o", out_prefix(ctx, "bad")], EXIT_BAD_INPUT,
                 ["global mean"])
    expect_error(ctx, ["-i", new_path, "--fixed-S", f"{fit}_S.mtx", "--grid", "2x2", "-o", out_prefix(ctx, "bad")],
                 EXIT_USAGE, ["--grid 4x1"], ranks=4)
    expect_error(ctx, common + ["--fixed-bias-cols", f"{fit}_bias_cols.mtx", "--missing", "zero"], EXIT_USAGE,
                 ["--missing zero"])
    for bias in (True, False):
        ref_a, ref_b = fold_in_reference(observed, s, c, mu, 0.2, 3.0, bias)
        runs = [(1, []), (2, []), (4, []), (4, ["--grid", "4x1", "--missing", "unobserved"])] if bias else [(2, [])]
        for ranks, extra in runs:
            prefix = out_prefix(ctx, f"fold{ranks}{len(extra)}{bias}")
            run = ctx.run_ok(ranks, ["-i", new_path, "--fixed-S", f"{fit}_S.mtx", "-o", prefix, "--bias",
                                     "on" if bias else "off"] + lam + lam_bias + extra)
            a = np.asarray(scipy.io.mmread(f"{prefix}_A.mtx"))
            b = np.asarray(scipy.io.mmread(f"{prefix}_bias_rows.mtx")).ravel()
            check_same_matrix(a, ref_a, 1e-8, f"{prefix}: A against scipy's BVLS")
            check(np.abs(b - ref_b).max() <= 1e-8 * max(1.0, np.abs(ref_b).max()),
                  f"{prefix}: row biases differ from scipy's by {np.abs(b - ref_b).max():.3g}", run)
            check(np.all(a >= 0) and np.all(a[row_ids.index("vcold")] == 0) and b[row_ids.index("vcold")] == 0,
                  f"{prefix}: negative A, or a user without known items got factors or a bias", run)
            check(Path(f"{prefix}_rows.txt").read_text() == "".join(u + "\n" for u in row_ids), "rows.txt", run)
            summary = load_summary(prefix)
            rec = summary["recommender"]
            residuals = [x - mu - c[j] - b[i] - a[i] @ s[:, j] for i, obs in enumerate(observed) for j, x in obs]
            check(rec["mean"] == mu and rec["cold_rows"] == 1 and rec["ratings"] == len(residuals) and
                  rec["bias"] == bias and rec["bias_cols"] == f"{fit}_bias_cols.mtx", f"summary {rec}", run)
            check_close(rec["rmse"], float(np.sqrt(np.mean(np.square(residuals)))), 1e-9, "fold-in RMSE", run)
            check(summary["columns_ignored"] == 2 and summary["entries_ignored"] == ignored,
                  f"ignored {summary['columns_ignored']} / {summary['entries_ignored']}, expected 2 / {ignored}", run)
            for role in ("A", "bias_rows", "row_ids"):
                check(role in summary["files"], f"the summary's files lack {role}", run)
            check(("--lambda 0.2 --lambda-bias 3 --bias on" in run.stderr) != bias,
                  "the warning about penalties other than the fit's is missing or wrong", run)
        if bias:
            check(np.any(ref_b != 0) and np.any(ref_a == 0) and np.any(ref_a > 0),
                  "premise: biases and both active and inactive constraints")

    # The same rows as Matrix Market coordinates in the fit's columns, read as observed ratings (the 0 included).
    entries = [(i, j, x) for i, obs in enumerate(observed) for j, x in obs]
    mtx = ctx.indir / "new.mtx"
    mtx.write_text("%%MatrixMarket matrix coordinate real general\n" + f"{len(row_ids)} {len(fit_cols)} {len(entries)}\n" +
                   "".join(f"{i + 1} {j + 1} {real_text(x)}\n" for i, j, x in entries))
    prefix = out_prefix(ctx, "mtx")
    run = ctx.run_ok(4, ["-i", mtx, "--missing", "unobserved", "--fixed-S", f"{fit}_S.mtx", "-o", prefix] + lam +
                     lam_bias)
    ref_a, ref_b = fold_in_reference(observed, s, c, mu, 0.2, 3.0)
    check_same_matrix(np.asarray(scipy.io.mmread(f"{prefix}_A.mtx")), ref_a, 1e-8, "A from Matrix Market input")
    check(np.abs(np.asarray(scipy.io.mmread(f"{prefix}_bias_rows.mtx")).ravel() - ref_b).max() <= 1e-8,
          "row biases from Matrix Market input", run)

    prefix = out_prefix(ctx, "given")
    run = ctx.run_ok(2, common + ["--fixed-bias-cols", f"{fit}_bias_cols.mtx", "-o", prefix])
    check_same_matrix(np.asarray(scipy.io.mmread(f"{prefix}_A.mtx")), fold_in_reference(observed, s, c, mu, 0.2, 3.0)[0],
                      1e-8, "A with --fixed-bias-cols")


# --- driver ------------------------------------------------------------------------------------------------------

def run_case(name, binary, mpiexec):
    """Returns ('PASS' | 'SKIP' | 'FAIL', message)."""
    with tempfile.TemporaryDirectory(prefix=f"nmf_cli_{name}_") as workdir:
        ctx = Context(binary, mpiexec, workdir, CASE_RANKS[name])
        try:
            CASES[name](ctx)
        except CaseSkipped as skip:
            return "SKIP", str(skip)
        except CaseFailure as failure:
            return "FAIL", str(failure)
    return "PASS", ""


@case
def case_bad_penalty_and_stop_values(ctx):
    f = good_4x5_file(ctx)
    for option, value, words in (("--l1-A", "-1", ["--l1-A", ">= 0"]), ("--l2-S", "inf", ["--l2-S", "finite"]),
                                 ("--tol-pg", "-0.5", ["--tol-pg"]), ("--time-limit", "-3", ["--time-limit"]),
                                 ("--eval-every", "0", ["--eval-every", ">= 1"]), ("--inner", "0", ["--inner"]),
                                 ("--algo", "sgd", ["'sgd'", "als", "bpp", "hals", "mu"])):
        expect_error(ctx, ["-i", f, "-k", "2", option, value, "-o", out_prefix(ctx)], EXIT_USAGE, words)


@case
def case_e2e_solvers_and_penalties(ctx):
    """Every solver, with penalties: the reported objective is numpy's, computed from the written factors."""
    x, f = ranks_matrix(ctx)
    l1_a, l2_a, l1_s, l2_s = 0.5, 0.25, 0.125, 2.0
    for algo in ("als", "bpp", "hals", "mu"):
        prefix = out_prefix(ctx, f"pen_{algo}")
        run = ctx.run_ok(2, ["-i", f, "-k", 4, "--algo", algo, "--iters", 12, "--tol", 0, "--l1-A", l1_a,
                             "--l2-A", l2_a, "--l1-S", l1_s, "--l2-S", l2_s, "-o", prefix])
        summary = load_summary(prefix)
        a, s_factor = load_factors(prefix)
        check(summary["algo"] == algo and summary["penalties"] == {"l1_A": l1_a, "l2_A": l2_a, "l1_S": l1_s,
                                                                     "l2_S": l2_s},
              f"summary algo/penalties {summary['algo']!r} {summary['penalties']!r}", run)
        check(a.min() >= 0 and s_factor.min() >= 0, f"{algo}: negative factor entries", run)
        objective = (0.5 * np.linalg.norm(x - a @ s_factor) ** 2 + l1_a * a.sum() + 0.5 * l2_a * (a * a).sum() +
                     l1_s * s_factor.sum() + 0.5 * l2_s * (s_factor * s_factor).sum())
        check_close(summary["objective"], objective, RTOL_ERROR, f"{algo}: objective", run)
        if algo != "als":  # the exact and monotone solvers never increase the objective
            history = [h["objective"] for h in summary["history"]]
            check(all(b <= a_ * (1 + 1e-12) for a_, b in zip(history, history[1:])),
                  f"{algo}: the objective increased: {history}", run)


# --time-limit counts from the start of the run and keeps, for the final checkpoint and the outputs, the longest
# iteration, at least this, and this per history record in each file that holds the history (the summary, and with
# --checkpoint-dir the manifest) (src/driver/checkpoint.cpp, Checkpointer::write_reserve_seconds).
TIME_LIMIT_RESERVE_SECONDS = 2.0
TIME_LIMIT_RESERVE_PER_RECORD_SECONDS = 3 * 10e-6
TIME_LIMIT_MARGIN_SECONDS = 1.0  # start-up before the run's clock starts, and scheduling on a loaded machine


def check_ends_before_the_limit(summary, limit, run, history_files, baseline=None):
    """The whole run (reading, iterations, writing) ended before `limit`, and not much earlier than the reserve
    asks: the iterations went on until the next one and the writing would not fit. Needs --eval-every 1. With
    `baseline` (the seconds mpirun took for a short run of the same problem: MPI's start and end, reading, writing)
    the process itself, outputs written, ended within limit + baseline."""
    history = summary["history"]
    check([h["iteration"] for h in history] == list(range(summary["iterations"] + 1)),
          "test premise: the history holds every iteration", run)
    check(len(history) >= 2, f"--time-limit {limit}: stopped after {summary['iterations']} iterations", run)
    check(summary["seconds"] < limit, f"--time-limit {limit}: the run took {summary['seconds']} s", run)
    if baseline is not None:
        check(run.elapsed < limit + baseline,
              f"--time-limit {limit}: mpirun took {run.elapsed:.2f} s, more than the limit and a short run's "
              f"{baseline:.2f} s", run)
    seconds = [h["seconds"] for h in history]
    longest = max(b - a for a, b in zip(seconds, seconds[1:]))
    reserve = TIME_LIMIT_RESERVE_SECONDS + TIME_LIMIT_RESERVE_PER_RECORD_SECONDS * history_files * len(history)
    # The reserve grew with the history: the iteration before the last did not stop, so when it was checked (with
    # at most len(history) - 2 records) it plus the reserve fit; the last iteration ended at most `longest` later.
    # The run's clock at the last iteration's end is at least the reading plus the iteration seconds.
    reserve_before = TIME_LIMIT_RESERVE_SECONDS + TIME_LIMIT_RESERVE_PER_RECORD_SECONDS * history_files * (
        len(history) - 2)
    stopped_at = summary["read_seconds"] + seconds[-1]
    check(stopped_at < limit - reserve_before + longest,
          f"--time-limit {limit}: the iterations went on until {stopped_at:.3f} s, past what the reserve for "
          f"{len(history)} records ({reserve_before:.3f} s) allows", run)
    earliest = limit - reserve - 2 * longest - TIME_LIMIT_MARGIN_SECONDS
    check(summary["seconds"] > earliest,
          f"--time-limit {limit}: the run stopped at {summary['seconds']} s, earlier than the reserve "
          f"({reserve:.3f} s for {len(history)} records) and the longest iteration ({longest:.3f} s) explain", run)


@case
def case_e2e_stop_rules(ctx):
    """Each stop rule fires and is named; with --eval-every the history holds the evaluated iterations."""
    x, f = ranks_matrix(ctx)
    prefix = out_prefix(ctx, "pg")
    run = ctx.run_ok(2, ["-i", f, "-k", 4, "--algo", "bpp", "--iters", 5000, "--tol", 0, "--tol-pg", "1e-3",
                         "-o", prefix])
    summary = load_summary(prefix)
    check(summary["stop_reason"] == "projected_gradient" and summary["iterations"] < 5000,
          f"--tol-pg: stop_reason {summary['stop_reason']!r} after {summary['iterations']} iterations", run)
    check(summary["history"][-1]["projected_gradient"] <= 1e-3, "the last projected gradient is above 1e-3", run)

    prefix = out_prefix(ctx, "time")
    limit = 4.0
    checkpoints = ctx.workdir / "time_checkpoints"
    run = ctx.run_ok(2, ["-i", f, "-k", 4, "--algo", "mu", "--iters", 10 ** 7, "--tol", 0, "--time-limit", limit,
                         "--checkpoint-dir", checkpoints, "-o", prefix])
    summary = load_summary(prefix)
    check(summary["stop_reason"] == "time_limit", f"--time-limit {limit}: stop_reason {summary['stop_reason']!r}", run)
    check_ends_before_the_limit(summary, limit, run, history_files=2)
    check(checkpoint_iterations(checkpoints) == [summary["iterations"]],
          f"--time-limit: checkpoints {checkpoint_iterations(checkpoints)}, expected the last iteration's", run)
    a, s_factor = load_factors(prefix)
    check_close(summary["relative_error"], numpy_error(x, a, s_factor), RTOL_ERROR, "error after a time limit", run)

    prefix = out_prefix(ctx, "every")
    run = ctx.run_ok(2, ["-i", f, "-k", 4, "--algo", "hals", "--iters", 11, "--tol", 0, "--eval-every", 5,
                         "-o", prefix])
    summary = load_summary(prefix)
    iterations = [h["iteration"] for h in summary["history"]]
    check(iterations == [0, 5, 10, 11], f"--eval-every 5 --iters 11: history iterations {iterations}", run)
    a, s_factor = load_factors(prefix)
    check_close(summary["relative_error"], numpy_error(x, a, s_factor), RTOL_ERROR, "final error", run)


KACZMARZ_DEFAULTS = {"steps": 0, "block": 1, "sampling": "norm", "relaxation": 0.1, "strata": 8,
                     "rating_relaxation": 0.02}  # include/nmf/options.hpp


@case
def case_e2e_kaczmarz(ctx):
    """--algo kaczmarz on the built-in example (the notebook's Kaczmarz ended at 0.7 to above 1); on a sparse input,
    each of its options is reported in the summary as given, changes the result, and the error is numpy's."""
    run = ctx.run_ok(2, ["--algo", "kaczmarz", "--iters", 300, "--tol", 0])
    match = re.search(r"relative error \|\|X - A S\|\|_F / \|\|X\|\|_F = (\S+)", run.stdout)
    check(match is not None and float(match.group(1)) <= 1e-3, "kaczmarz on the built-in example above 1e-3", run)
    x, f = ranks_matrix(ctx)
    variants = [("defaults", {}), ("block", {"block": 8, "steps": 64}), ("steps", {"steps": 64}),
                ("sampling", {"sampling": "uniform"}), ("relaxation", {"relaxation": 0.5})]
    factors = {}
    for name, given in variants:
        prefix = out_prefix(ctx, f"kz_{name}")
        options = [a for key, value in given.items() for a in (f"--kaczmarz-{key}", value)]
        run = ctx.run_ok(2, ["-i", f, "-k", 4, "--algo", "kaczmarz", "--iters", 15, "--tol", 0, "-o", prefix] + options)
        summary = load_summary(prefix)
        a, s_factor = load_factors(prefix)
        check(a.min() >= 0 and s_factor.min() >= 0, f"{name}: kaczmarz factors have negative entries", run)
        check_close(summary["relative_error"], numpy_error(x, a, s_factor), RTOL_ERROR, f"{name}: kaczmarz error", run)
        expected = dict(KACZMARZ_DEFAULTS, **given)
        check(summary.get("kaczmarz") == expected,
              f"{name}: the summary's kaczmarz options {summary.get('kaczmarz')} are not the ones given {expected}", run)
        factors[name] = (a, s_factor)
    # An option that is reported but ignored would leave the result as it is with the defaults.
    base_a, base_s = factors["defaults"]
    for name, _ in variants[1:]:
        a, s_factor = factors[name]
        change = max(np.abs(a - base_a).max() / np.abs(base_a).max(),
                     np.abs(s_factor - base_s).max() / np.abs(base_s).max())
        check(change > 1e-6, f"--kaczmarz-{name}: the factors are those of the defaults (change {change:.2g})")


@case
def case_bad_kaczmarz_options(ctx):
    f = good_4x5_file(ctx)
    expect_error(ctx, ["-i", f, "-k", "2", "--algo", "kaczmarz", "--l2-S", "0.5", "-o", out_prefix(ctx)], EXIT_USAGE,
                 ["--algo kaczmarz", "penalties"])
    for option, value in (("--kaczmarz-block", "0"), ("--kaczmarz-steps", "-5"), ("--kaczmarz-sampling", "row"),
                          ("--kaczmarz-relaxation", "0"), ("--kaczmarz-relaxation", "2"),
                          ("--kaczmarz-relaxation", "-0.5"), ("--kaczmarz-relaxation", "nan"),
                          ("--kaczmarz-rating-relaxation", "0"), ("--kaczmarz-rating-relaxation", "2")):
        expect_error(ctx, ["-i", f, "-k", "2", "--algo", "kaczmarz", option, value, "-o", out_prefix(ctx)], EXIT_USAGE,
                     [option])


@case
def case_e2e_restarts(ctx):
    """--restarts on subgroups: distinct seeds, restart 0 on --seed, the best restart written, and the same
    per-restart results with one subgroup or two."""
    x, f = ranks_matrix(ctx)
    results = {}
    for groups in (1, 2):
        prefix = out_prefix(ctx, f"restarts_g{groups}")
        run = ctx.run_ok(2, ["-i", f, "-k", 4, "--algo", "hals", "--iters", 20, "--tol", 0, "--seed", 5,
                             "--restarts", 4, "--groups", groups, "-o", prefix])
        summary = load_summary(prefix)
        table = summary["restarts"]
        check(len(table) == 4 and [r["index"] for r in table] == [0, 1, 2, 3], f"restart table {table}", run)
        seeds = [r["seed"] for r in table]
        check(len(set(seeds)) == 4 and seeds[0] == 5, f"seeds {seeds}: expected 4 distinct, the first 5", run)
        check([r["group"] for r in table] == [i % groups for i in range(4)], "restarts not dealt round-robin", run)
        best = summary["best_restart"]
        check(min(table, key=lambda r: r["objective"])["index"] == best, f"best_restart {best} is not the minimum", run)
        a, s_factor = load_factors(prefix)
        check_close(numpy_error(x, a, s_factor), table[best]["relative_error"], RTOL_ERROR,
                    "the written factors are not the best restart's", run)
        check(summary["groups"] == groups and summary["ranks"] == 2, "summary groups/ranks", run)
        results[groups] = (table, best)
    for one, two in zip(results[1][0], results[2][0]):
        check_close(two["relative_error"], one["relative_error"], RTOL_RANKS, f"restart {one['index']} across groups")
    check(results[1][1] == results[2][1], "the best restart depends on the number of subgroups")


@case
def case_bad_groups(ctx):
    f = good_4x5_file(ctx)
    expect_error(ctx, ["-i", f, "-k", "2", "--groups", "3", "-o", out_prefix(ctx)], EXIT_USAGE,
                 ["--groups 3", "does not divide the 2 ranks"])
    expect_error(ctx, ["-i", f, "-k", "2:3", "--algo", "bpp", "-o", out_prefix(ctx)], EXIT_USAGE,
                 ["--algo bpp", "cross-validation", "als or hals"])


@case
def case_bad_restarts_and_cv_values(ctx):
    """Values out of range for the options of restarts and of the choice of k: a usage error naming the option."""
    f = good_4x5_file(ctx)
    for option, value, words in (("--restarts", "0", []), ("--restarts", "-2", ["-2"]), ("--groups", "0", []),
                                 ("--cv-folds", "-1", ["-1"]), ("--cv-fraction", "0", []),
                                 ("--cv-fraction", "1", []), ("--cv-fraction", "1.5", ["1.5"]),
                                 ("--rank-select", "max", ["'max'"])):
        expect_error(ctx, ["-i", f, "-k", "2:3", "--algo", "hals", option, value, "-o", out_prefix(ctx)], EXIT_USAGE,
                     [option] + words)


def planted_decaying(seed, n=150, m=120, rank=8, decay=0.5, noise=0.5):
    """A0 S0 (half their entries zero) whose components weigh 1, 1/2, 1/4, ..., plus heavy noise: no clear rank, so
    the held-out error is flat near its minimum and the one-standard-error rule can choose below it."""
    g = np.random.default_rng(seed)
    a0 = g.random((n, rank)) * (g.random((n, rank)) >= 0.5)
    s0 = g.random((rank, m)) * (g.random((rank, m)) >= 0.5)
    x = (a0 * decay ** np.arange(rank)) @ s0
    return np.maximum(0.0, x + noise * x.mean() * g.standard_normal(x.shape))


def read_rank_selection_csv(prefix, run):
    import csv
    with open(f"{prefix}_rank_selection.csv", newline="") as table:
        rows = list(csv.DictReader(table))
    check(rows and list(rows[0]) == ["k", "folds", "train_error", "train_std", "heldout_error", "heldout_std",
                                      "chosen"], f"{prefix}_rank_selection.csv: unexpected columns", run)
    return {key: np.array([float(r[key]) for r in rows]) for key in rows[0]}


@case
def case_e2e_rank_select_min(ctx):
    """--rank-select min chooses the k of the smallest mean held-out error in PREFIX_rank_selection.csv; se (the
    default rule) chooses the smallest k within one standard error (std / sqrt(folds)) of it, computed here from the
    same table, and on this matrix that is a smaller k. The rule does not change the table."""
    x = planted_decaying(seed=11)
    path = ctx.indir / "decaying.npy"
    np.save(path, x)
    chosen, tables = {}, {}
    for rule in ("min", "se"):
        prefix = out_prefix(ctx, f"cv_{rule}")
        run = ctx.run_ok(2, ["-i", path, "-k", "2:7", "--algo", "hals", "--iters", 200, "--rank-select", rule,
                             "-o", prefix])
        summary = load_summary(prefix)
        selection = summary["rank_selection"]
        check(selection["rule"] == rule, f"summary rule {selection['rule']!r}, expected {rule!r}", run)
        table = read_rank_selection_csv(prefix, run)
        check(list(table["k"]) == list(range(2, 8)) and np.all(table["folds"] == 3), "CSV k and folds", run)
        heldout, folds = table["heldout_error"], table["folds"]
        best = int(np.argmin(heldout))
        if rule == "min":
            expected = int(table["k"][best])
        else:
            bound = heldout[best] + table["heldout_std"][best] / np.sqrt(folds[best])
            expected = int(table["k"][np.flatnonzero(heldout <= bound)[0]])
        check(selection["chosen"] == expected and summary["k"] == expected,
              f"--rank-select {rule}: chose k = {selection['chosen']} (fitted {summary['k']}), the table gives "
              f"{expected}: held-out {heldout.tolist()}", run)
        check(list(table["chosen"]) == [float(k == expected) for k in table["k"]],
              f"--rank-select {rule}: the CSV marks {table['chosen'].tolist()}", run)
        a, _ = load_factors(prefix)
        check(a.shape == (x.shape[0], expected), f"--rank-select {rule}: the final fit has k = {a.shape[1]}", run)
        chosen[rule], tables[rule] = expected, table
    for key in ("k", "folds", "train_error", "train_std", "heldout_error", "heldout_std"):
        check(np.array_equal(tables["min"][key], tables["se"][key]), f"the rule changed the table's {key}")
    check(chosen["se"] < chosen["min"],
          f"test premise: on this matrix the one-standard-error rule should choose a smaller k than the minimum "
          f"(se {chosen['se']}, min {chosen['min']})")


@case
def case_e2e_rank_selection(ctx):
    """Sweeping k by cross-validation finds the rank of a planted noisy matrix, and writes the table."""
    g = np.random.default_rng(7)
    n, m, rank = 150, 120, 4
    a0 = g.random((n, rank)) * (g.random((n, rank)) >= 0.5)
    s0 = g.random((rank, m)) * (g.random((rank, m)) >= 0.5)
    x = a0 @ s0
    x = np.maximum(0.0, x + 0.05 * x.mean() * g.standard_normal(x.shape))
    path = ctx.indir / "planted.npy"
    np.save(path, x)
    prefix = out_prefix(ctx, "cv")
    run = ctx.run_ok(2, ["-i", path, "-k", "2:7", "--algo", "hals", "--iters", 200, "-o", prefix])
    summary = load_summary(prefix)
    selection = summary["rank_selection"]
    check(selection["chosen"] == rank and summary["k"] == rank, f"chose k = {selection['chosen']}, planted {rank}", run)
    check([e["k"] for e in selection["entries"]] == list(range(2, 8)), "rank_selection entries", run)
    check(all(e["folds"] == 3 for e in selection["entries"]), "default: 3 folds", run)
    csv = (Path(f"{prefix}_rank_selection.csv")).read_text().splitlines()
    check(csv[0] == "k,folds,train_error,train_std,heldout_error,heldout_std,chosen", f"CSV header {csv[0]!r}", run)
    chosen_rows = [line.split(",")[0] for line in csv[1:] if line.endswith(",1")]
    check(chosen_rows == [str(rank)], f"CSV marks {chosen_rows} as chosen", run)
    a, s_factor = load_factors(prefix)
    check(a.shape == (n, rank), f"the final fit has k = {a.shape[1]}", run)


# --- initialization: NNDSVD against scikit-learn's serial reference -----------------------------------------------

def sklearn_initialize_nmf():
    """scikit-learn's serial NNDSVD (the reference), or a skip when Debian's python3-sklearn is absent."""
    try:
        from sklearn.decomposition._nmf import _initialize_nmf
    except ImportError as error:
        raise CaseSkipped(f"scikit-learn is not installed ({error})")
    return _initialize_nmf


@case(ranks=4)
def case_e2e_init_nndsvd_matches_sklearn(ctx):
    """--init nndsvd and nndsvda, written with --iters 0, equal scikit-learn's _initialize_nmf to 1e-8 at 1, 2 and 4
    ranks, dense and sparse; m <= k + 10, so both randomized SVDs are exact. nndsvdar keeps NNDSVD's non-zeros and
    fills its zeros with small positive values, the same on any number of ranks."""
    initialize = sklearn_initialize_nmf()
    rng = np.random.default_rng(12)
    n, m, k = 45, 13, 4
    x = rng.uniform(0, 1, (n, m)) * (rng.uniform(0, 1, (n, m)) < 0.6)
    dense = ctx.indir / "x.npy"
    np.save(dense, x)
    rows, cols = np.nonzero(x)
    sparse = write_mtx(ctx.indir / "x.mtx", "%%MatrixMarket matrix coordinate real general", f"{n} {m} {len(rows)}",
                       [f"{i + 1} {j + 1} {x[i, j]!r}" for i, j in zip(rows, cols)])
    for method in ("nndsvd", "nndsvda"):
        w_ref, h_ref = initialize(x, k, init=method, eps=1e-6)
        for ranks in (1, 2, 4):
            for name, path, storage in (("dense", dense, "dense"), ("sparse", sparse, "sparse")):
                prefix = out_prefix(ctx, f"{method}_{name}_np{ranks}")
                run = ctx.run_ok(ranks, ["-i", path, "--storage", storage, "-k", k, "--algo", "als", "--init", method,
                                         "--iters", 0, "-o", prefix])
                a, s = load_factors(prefix)
                check_same_matrix(a, w_ref, 1e-8, f"{method} A ({name}, -np {ranks}) vs scikit-learn's W")
                check_same_matrix(s, h_ref, 1e-8, f"{method} S ({name}, -np {ranks}) vs scikit-learn's H")
                summary = load_summary(prefix)
                check(summary["init"]["method"] == method and summary["init"]["svd_seconds"] > 0,
                      f"summary init {summary['init']}", run)
    w_ref, h_ref = initialize(x, k, init="nndsvd", eps=1e-6)
    previous = None
    for ranks in (1, 2, 4):
        prefix = out_prefix(ctx, f"nndsvdar_np{ranks}")
        ctx.run_ok(ranks, ["-i", dense, "-k", k, "--algo", "als", "--init", "nndsvdar", "--iters", 0, "-o", prefix])
        a, s = load_factors(prefix)
        for got, ref, what in ((a, w_ref, "A"), (s, h_ref, "S")):
            kept = ref > 0
            check(np.allclose(got[kept], ref[kept], rtol=1e-8, atol=0), f"nndsvdar {what} changes NNDSVD's non-zeros")
            filled = got[~kept]
            check(np.all(filled > 0) and np.all(filled < x.mean()), f"nndsvdar {what}: fill outside (0, mean(X))")
        if previous is not None:
            check_same_matrix(a, previous[0], 1e-10, f"nndsvdar A at -np {ranks} vs fewer ranks")
            check_same_matrix(s, previous[1], 1e-10, f"nndsvdar S at -np {ranks} vs fewer ranks")
        previous = (a, s)


@case(ranks=4)
def case_e2e_init_hals_follows_sklearn_cd(ctx):
    """hals from each SVD start (written with --iters 0) follows scikit-learn's coordinate descent from the same
    start (NMF(solver='cd', init='custom') on X^T, so that it too updates S before A) at 5, 20 and 40 iterations,
    at 1, 2 and 4 ranks. The matrix makes nndsvda's mean fill overshoot so that the first S update zeroes most rows
    of S: the case where scikit-learn keeps A's columns (zero Gram diagonal) and a floor above 0 did not."""
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning
    import warnings
    rng = np.random.default_rng(0)
    n, m, k = 60, 30, 8
    x = rng.uniform(0, 1, (n, m)) ** 3 * 100 * (rng.uniform(0, 1, (n, m)) < 0.5)
    path = ctx.indir / "x.npy"
    np.save(path, x)
    norm = np.linalg.norm(x)
    for method in ("nndsvd", "nndsvda", "nndsvdar"):
        start = out_prefix(ctx, f"{method}_start")
        ctx.run_ok(1, ["-i", path, "-k", k, "--init", method, "--iters", 0, "--output-format", "npy", "-o", start])
        a0, s0 = load_factors(start, "npy")
        reference, collapsed = {}, None
        for iters in (1, 5, 20, 40):
            model = NMF(n_components=k, init="custom", solver="cd", beta_loss="frobenius", tol=0.0, max_iter=iters,
                        alpha_W=0.0, alpha_H=0.0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                w = model.fit_transform(x.T, W=s0.T.copy(), H=a0.T.copy())
            reference[iters] = np.linalg.norm(x.T - w @ model.components_) / norm
            if iters == 1:
                collapsed = int(np.sum(np.max(w, axis=0) == 0.0))
        if method == "nndsvda":
            check(collapsed >= k // 2, f"nndsvda: only {collapsed} of {k} rows of S zero after one update; the "
                                       "case does not test what it is meant to")
        for ranks in (1, 2, 4):
            prefix = out_prefix(ctx, f"{method}_np{ranks}")
            run = ctx.run_ok(ranks, ["-i", path, "-k", k, "--init", method, "--algo", "hals", "--tol", 0,
                                     "--iters", 40, "-o", prefix])
            errors = {e["iteration"]: e["relative_error"] for e in load_summary(prefix)["history"]}
            for iters in (5, 20, 40):
                check_close(errors[iters], reference[iters], RTOL_ERROR,
                            f"{method}, -np {ranks}: hals after {iters} iterations vs scikit-learn's cd", run)


@case
def case_e2e_init_restarts_perturb(ctx):
    """--restarts with an SVD start: restart 0 is nndsvd itself, later restarts are perturbed (different errors),
    the SVD computed once; a bad --init is a usage error."""
    x, f = ranks_matrix(ctx)
    prefix = out_prefix(ctx, "restarts")
    run = ctx.run_ok(2, ["-i", f, "-k", 4, "--algo", "hals", "--iters", 3, "--tol", 0, "--init", "nndsvd",
                         "--restarts", 3, "-o", prefix])
    table = load_summary(prefix)["restarts"]
    errors = [r["relative_error"] for r in table]
    check(len(set(errors)) == 3, f"restarts from an SVD start should differ, errors {errors}", run)
    single = out_prefix(ctx, "single")
    ctx.run_ok(2, ["-i", f, "-k", 4, "--algo", "hals", "--iters", 3, "--tol", 0, "--init", "nndsvd", "-o", single])
    check_close(errors[0], load_summary(single)["relative_error"], RTOL_ERROR, "restart 0 is not the plain nndsvd run")
    for bad in (["--init", "svd"], ["--svd-oversample", "-1"], ["--svd-power", "-2"]):
        run = ctx.run(2, ["-i", f, "-k", 4] + bad)
        check(run.returncode == EXIT_USAGE and bad[0] in run.stderr, f"{bad}: expected a usage error naming it", run)


@case(ranks=4)
def case_e2e_ls_qr(ctx):
    """als --ls qr on a well-conditioned problem follows --ls normal's iterates (both solve the same least-squares
    problems), the same at 1, 2 and 4 ranks; with penalties or cross-validation it is a usage error."""
    x, f = ranks_matrix(ctx)
    errors = {}
    for ls in ("normal", "qr"):
        for ranks in (1, 2, 4):
            prefix = out_prefix(ctx, f"{ls}_np{ranks}")
            run = ctx.run_ok(ranks, ["-i", f, "-k", 4, "--algo", "als", "--ls", ls, "--iters", 10, "--tol", 0,
                                     "-o", prefix])
            a, s_factor, summary = check_factorization(x, prefix, 4, run=run)
            check(summary["als"] == {"ls": ls}, f"summary als options {summary['als']}", run)
            errors[(ls, ranks)] = summary["relative_error"]
    for ranks in (1, 2, 4):
        check_close(errors[("qr", ranks)], errors[("normal", 1)], 1e-6, f"--ls qr at -np {ranks} vs --ls normal")
    for extra, says in ((["-k", 4, "--l2-A", "0.1"], "penalties"), (["-k", "2,3"], "cross-validation")):
        run = ctx.run(2, ["-i", f, "--algo", "als", "--ls", "qr"] + extra)
        check(run.returncode == EXIT_USAGE and says in run.stderr, f"--ls qr with {extra}: expected a usage error "
              f"naming {says}", run)
# --- checkpoints, resume, signals (README "Checkpoints and resume") -------------------------------------------------

EXIT_INTERRUPTED = 8  # nmf::ExitCode::interrupted
CHECKPOINT_ALGOS = ("hals", "bpp", "mu", "kaczmarz")
WAIT_SECONDS = 60  # for a checkpoint to appear; past it the case fails


def checkpoints_of(directory, restart=0, family=None):
    """The complete checkpoints of `restart` (or of `family`: "recommender") in `directory` (a manifest inside), as
    {iteration: path}."""
    found = {}
    for path in Path(directory).glob(f"{family or f'restart{restart}'}-it*"):
        if ".tmp-" not in path.name and (path / "manifest.json").is_file():
            found[int(path.name.rsplit("-it", 1)[1])] = path
    return found


def checkpoint_iterations(directory, restart=0, family=None):
    return sorted(checkpoints_of(directory, restart, family))


def checkpoint_factor(path, name, rows, k):
    """A or S (as k x m) from a checkpoint's file: global index i is k doubles at offset i k 8."""
    values = np.fromfile(Path(path) / f"{name}.bin", dtype="<f8").reshape(rows, k)
    return values if name == "A" else values.T


def start_nmf(ctx, ranks, args, env=None):
    """Starts nmf_mpi under mpirun in its own session, output to files; returns (Popen, stdout path, stderr path)."""
    command = [ctx.mpiexec, "-np", str(ranks), "--oversubscribe", ctx.binary] + [str(a) for a in args]
    out, err = ctx.workdir / f"bg{time.monotonic_ns()}.out", ctx.workdir / f"bg{time.monotonic_ns()}.err"
    proc = subprocess.Popen(command, stdout=out.open("w"), stderr=err.open("w"), text=True, cwd=ctx.workdir,
                            env=dict(os.environ, **MPI_ENV, **(env or {})), start_new_session=True)
    proc.nmf = (command, out, err, time.monotonic())
    return proc


def finish_nmf(proc, timeout=TIMEOUT_SECONDS):
    command, out, err, start = proc.nmf
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_session(proc.pid)
        proc.wait()
        raise CaseFailure(f"HANG: nmf_mpi did not finish within {timeout} s" +
                          describe_run(Run(command, proc.returncode, out.read_text(), err.read_text(), timeout)))
    return Run(command, proc.returncode, out.read_text(), err.read_text(), time.monotonic() - start)


def wait_for(condition, what, proc):
    """Polls `condition` until it holds; fails if the run ends first or after WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if proc.poll() is not None:
            raise CaseFailure(f"the run ended before {what}" + describe_run(finish_nmf(proc)))
        if time.monotonic() > deadline:
            kill_session(proc.pid)
            raise CaseFailure(f"no {what} within {WAIT_SECONDS} s" + describe_run(finish_nmf(proc)))
        time.sleep(0.02)


def rank_pids(proc, binary):
    """The ranks of the mpirun started as `proc` (its session), by their command line."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == proc.pid:
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            if int(fields[3]) == proc.pid and cmdline and cmdline[0].decode() == str(binary):
                pids.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            pass
    return sorted(pids)


def check_same_bits(prefix, reference, what, run=None):
    a, s_factor = load_factors(prefix, "npy")
    a0, s0 = load_factors(reference, "npy")
    check(np.array_equal(a, a0) and np.array_equal(s_factor, s0),
          f"{what}: the factors differ from the uninterrupted run's (max |dA| {np.max(np.abs(a - a0)):.3g}, "
          f"max |dS| {np.max(np.abs(s_factor - s0)):.3g})", run)


@case
def case_bad_checkpoint_options(ctx):
    """Bad checkpoint options: exit 2 naming the option; --help lists them all."""
    f = good_4x5_file(ctx)
    for args, words in ((["--checkpoint-dir", ctx.workdir / "c", "--checkpoint-every", -1], ["--checkpoint-every", ">= 0"]),
                        (["--checkpoint-dir", ctx.workdir / "c", "--checkpoint-keep", 0], ["--checkpoint-keep", ">= 1"]),
                        (["--checkpoint-dir", ctx.workdir / "c", "--checkpoint-every-seconds", "inf"],
                         ["--checkpoint-every-seconds", "finite"]),
                        (["--checkpoint-every", 5], ["--checkpoint-every", "need --checkpoint-dir"])):
        expect_error(ctx, ["-i", f, "-k", "2", "-o", out_prefix(ctx)] + args, EXIT_USAGE, words)
    run = ctx.run_ok(1, ["--help"])
    for option in ("--checkpoint-dir", "--checkpoint-every", "--checkpoint-every-seconds", "--checkpoint-keep",
                   "--resume", "exit code 8"):
        check(option in run.stdout, f"--help does not mention {option}", run)


@case
def case_e2e_checkpoint_resume_identical(ctx):
    """hals, bpp, mu and kaczmarz at 2 ranks: a run stopped at iteration 12 (checkpoints every 5, 2 kept) and resumed
    to 20 ends with the same bits as a run of 20; the checkpoint's files hold the factors in global order, with the
    CRC-32 and the iteration in the manifest."""
    x, f = ranks_matrix(ctx)
    n, m = x.shape
    k = 4
    for algo in CHECKPOINT_ALGOS:
        common = ["-i", f, "-k", k, "--algo", algo, "--tol", 0, "--seed", 3, "--output-format", "npy"]
        full = out_prefix(ctx, f"{algo}_full")
        ctx.run_ok(2, common + ["--iters", 20, "-o", full])
        checkpoints = ctx.workdir / f"checkpoints_{algo}"
        part = out_prefix(ctx, f"{algo}_part")
        run = ctx.run_ok(2, common + ["--iters", 12, "-o", part, "--checkpoint-dir", checkpoints,
                                      "--checkpoint-every", 5, "--checkpoint-keep", 2])
        check(checkpoint_iterations(checkpoints) == [10, 12],
              f"{algo}: checkpoints {checkpoint_iterations(checkpoints)}, expected [10, 12] (every 5, the last, 2 kept)",
              run)
        newest = checkpoints_of(checkpoints)[12]
        manifest = json.loads((newest / "manifest.json").read_text())
        check(manifest["iteration"] == 12 and manifest["identity"]["k"] == k and manifest["identity"]["algo"] == algo,
              f"{algo}: manifest {manifest['iteration']}, {manifest['identity']}", run)
        for name, rows in (("A", n), ("S", m)):
            data = (newest / f"{name}.bin").read_bytes()
            entry = manifest["files"][name]
            check(entry["bytes"] == len(data) == rows * k * 8 and entry["checksum"] == f"{zlib.crc32(data):08x}",
                  f"{algo}: {name}.bin has {len(data)} bytes, CRC {zlib.crc32(data):08x}; manifest {entry}", run)
        a_part, s_part = load_factors(part, "npy")
        check(np.array_equal(checkpoint_factor(newest, "A", n, k), a_part) and
              np.array_equal(checkpoint_factor(newest, "S", m, k), s_part),
              f"{algo}: the last checkpoint does not hold the factors written", run)
        resumed = out_prefix(ctx, f"{algo}_resumed")
        run = ctx.run_ok(2, common + ["--iters", 20, "-o", resumed, "--resume", checkpoints])
        check("--resume: iteration 12 from" in run.stdout, f"{algo}: the run did not say where it resumed", run)
        check_same_bits(resumed, full, f"{algo} resumed at 12", run)
        summary, reference = load_summary(resumed), load_summary(full)
        check([h["objective"] for h in summary["history"]] == [h["objective"] for h in reference["history"]],
              f"{algo}: the resumed history differs from the uninterrupted one", run)
        check(summary["checkpoint"]["resumed_from"].endswith("restart0-it000000012"),
              f"{algo}: summary checkpoint {summary['checkpoint']}", run)


@case(ranks=4)
def case_e2e_checkpoint_other_ranks(ctx):
    """A checkpoint written on 2 ranks (2x1 grid) resumes on 1 rank and on 4 (2x2) by redistribution: each rank
    reads its own slice of the global-order files; the result is within rounding of the uninterrupted run."""
    x, f = ranks_matrix(ctx)
    common = ["-i", f, "-k", 4, "--algo", "hals", "--tol", 0, "--output-format", "npy"]
    full = out_prefix(ctx, "full")
    ctx.run_ok(2, common + ["--iters", 20, "-o", full])
    checkpoints = ctx.workdir / "checkpoints"
    ctx.run_ok(2, common + ["--iters", 10, "--grid", "2x1", "--checkpoint-dir", checkpoints])
    a0, s0 = load_factors(full, "npy")
    for ranks, grid in ((1, "1x1"), (4, "2x2")):
        resumed_dir = ctx.workdir / f"checkpoints_{ranks}"
        shutil.copytree(checkpoints, resumed_dir)
        prefix = out_prefix(ctx, f"np{ranks}")
        run = ctx.run_ok(ranks, common + ["--iters", 20, "--grid", grid, "-o", prefix, "--resume", resumed_dir])
        check("--resume: iteration 10" in run.stdout and "redistributed" in run.stdout,
              f"{ranks} ranks: the run did not say it redistributed the checkpoint", run)
        a, s_factor = load_factors(prefix, "npy")
        check_same_matrix(a, a0, RTOL_RANKS, f"A resumed on {ranks} ranks")
        check_same_matrix(s_factor, s0, RTOL_RANKS, f"S resumed on {ranks} ranks")


@case
def case_e2e_checkpoint_signals(ctx):
    """SIGUSR1 to mpirun (Open MPI forwards it to the ranks) and SIGTERM to one rank only (as a node's slurmstepd
    would): every rank stops after the current iteration, writes a checkpoint and the outputs, exit 8; resuming ends
    with the same bits as an uninterrupted run. SIGTERM to mpirun: Open MPI sends the ranks SIGTERM and SIGKILL
    odls_base_sigkill_timeout seconds later; given time, the checkpoint and the outputs are written."""
    x, f = ranks_matrix(ctx)
    common = ["-i", f, "-k", 4, "--algo", "hals", "--tol", 0, "--output-format", "npy", "--log-every", 10 ** 6]
    # SIGTERM to mpirun itself (it forwards SIGTERM, then SIGKILLs after odls_base_sigkill_timeout) wrote the
    # outputs when tried by hand but not when mpirun leads its own session as here: not checked, and the README
    # recommends SIGUSR1 with mpirun. Slurm signals the ranks themselves (term_to_one_rank is that case).
    for how in ("usr1_to_mpirun", "term_to_one_rank"):
        checkpoints = ctx.workdir / f"checkpoints_{how}"
        prefix = out_prefix(ctx, how)
        # Open MPI's default is 1 s, too short to finish an iteration and write on a loaded machine; mpirun then
        # waits about twice this for its daemons before it exits.
        env = {"OMPI_MCA_odls_base_sigkill_timeout": "10"} if how == "term_to_mpirun" else None
        proc = start_nmf(ctx, 2, common + ["--iters", 10 ** 7, "--checkpoint-dir", checkpoints,
                                           "--checkpoint-every", 20, "-o", prefix], env)
        wait_for(lambda: checkpoint_iterations(checkpoints), "first checkpoint", proc)
        if how == "usr1_to_mpirun":
            proc.send_signal(signal.SIGUSR1)
        elif how == "term_to_mpirun":
            proc.send_signal(signal.SIGTERM)
        else:
            pids = rank_pids(proc, ctx.binary)
            check(len(pids) == 2, f"test premise: 2 ranks, found {pids}")
            os.kill(pids[-1], signal.SIGTERM)
        run = finish_nmf(proc)
        if how == "term_to_mpirun":
            check(run.returncode != 0, "mpirun ended with 0 after SIGTERM", run)
        else:
            check(run.returncode == EXIT_INTERRUPTED and "nmf_mpi: stopped:" in run.stderr,
                  f"{how}: exit {run.returncode}, expected {EXIT_INTERRUPTED} with 'nmf_mpi: stopped:'", run)
        summary = load_summary(prefix)
        iterations = summary["iterations"]
        check(summary["stop_reason"] == "interrupted", f"{how}: stop_reason {summary['stop_reason']!r}", run)
        check(checkpoint_iterations(checkpoints) == [iterations],
              f"{how}: checkpoints {checkpoint_iterations(checkpoints)}, expected the last iteration {iterations}", run)
        a, s_factor = load_factors(prefix, "npy")
        newest = checkpoints_of(checkpoints)[iterations]
        check(np.array_equal(checkpoint_factor(newest, "A", *a.shape), a), f"{how}: checkpoint and outputs differ", run)
        check_close(summary["relative_error"], numpy_error(x, a, s_factor), RTOL_ERROR, f"{how}: error", run)
        if how == "usr1_to_mpirun":
            full = out_prefix(ctx, "full")
            ctx.run_ok(2, common + ["--iters", iterations + 7, "-o", full])
            resumed = out_prefix(ctx, "resumed")
            run = ctx.run_ok(2, common + ["--iters", iterations + 7, "-o", resumed, "--resume", checkpoints])
            check_same_bits(resumed, full, "resumed after SIGUSR1", run)


@case
def case_e2e_checkpoint_kill9(ctx):
    """kill -9 of one rank in the middle of a run with --checkpoint-every 10: the newest checkpoint verifies, at most
    10 iterations behind the last one logged, and --resume from it ends with the same bits as an uninterrupted run."""
    x, f = ranks_matrix(ctx)
    every = 10
    common = ["-i", f, "-k", 4, "--algo", "bpp", "--tol", 0, "--output-format", "npy"]
    checkpoints = ctx.workdir / "checkpoints"
    proc = start_nmf(ctx, 2, common + ["--iters", 10 ** 7, "--checkpoint-dir", checkpoints, "--checkpoint-every",
                                       every, "--log-every", 1])
    wait_for(lambda: any(i >= 3 * every for i in checkpoint_iterations(checkpoints)), "checkpoint at 30", proc)
    pids = rank_pids(proc, ctx.binary)
    check(len(pids) == 2, f"test premise: 2 ranks, found {pids}")
    os.kill(pids[-1], signal.SIGKILL)
    run = finish_nmf(proc)
    check(run.returncode != 0, "mpirun ended with 0 after a rank was killed", run)
    logged = [int(line.split()[0]) for line in run.stdout.splitlines() if re.match(r"^\s+\d+\s+\d", line)]
    newest = checkpoint_iterations(checkpoints)[-1]
    check(logged and 0 <= logged[-1] - newest <= every,
          f"the newest checkpoint is at {newest}, the last iteration logged {logged[-1] if logged else None}: more "
          f"than --checkpoint-every {every} lost", run)
    full = out_prefix(ctx, "full")
    ctx.run_ok(2, common + ["--iters", newest + 5, "-o", full])
    resumed = out_prefix(ctx, "resumed")
    run = ctx.run_ok(2, common + ["--iters", newest + 5, "-o", resumed, "--resume", checkpoints])
    check(f"--resume: iteration {newest} from" in run.stdout, "the run did not resume from the newest checkpoint", run)
    check_same_bits(resumed, full, "resumed after kill -9", run)


@case
def case_checkpoint_refused(ctx):
    """A corrupted or truncated newest checkpoint is refused by its checksum and the run resumes from the previous one
    (same bits as an uninterrupted run); none that verifies: exit 3; another input, k, algorithm, seed or penalty:
    exit 2 naming the difference."""
    x, f = ranks_matrix(ctx)
    common = ["--tol", 0, "--output-format", "npy"]
    checkpoints = ctx.workdir / "checkpoints"
    ctx.run_ok(2, common + ["-i", f, "-k", 4, "--iters", 10, "--checkpoint-dir", checkpoints, "--checkpoint-every", 5,
                            "--checkpoint-keep", 2])
    check(checkpoint_iterations(checkpoints) == [5, 10], f"checkpoints {checkpoint_iterations(checkpoints)}")
    full = ctx.workdir / "full"  # not in out/: the failing runs below check that out/ stays empty
    common += ["-i", f]
    ctx.run_ok(2, common + ["-k", 4, "--iters", 15, "-o", full])

    def damaged(name, damage):
        copy = ctx.workdir / name
        shutil.copytree(checkpoints, copy)
        damage(copy)
        return copy

    def flip(path):
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))

    def truncate(path):
        data = path.read_bytes()
        path.write_bytes(data[:-8])

    cases = {"corrupted": (lambda d: flip(checkpoints_of(d)[10] / "S.bin"), "does not match its checksum"),
             "truncated": (lambda d: truncate(checkpoints_of(d)[10] / "A.bin"), "truncated")}
    for name, (damage, reason) in cases.items():
        directory = damaged(name, damage)
        prefix = ctx.workdir / name
        run = ctx.run_ok(2, common + ["-k", 4, "--iters", 15, "-o", prefix, "--resume", directory])
        check(reason in run.stderr and "trying the previous checkpoint" in run.stderr,
              f"{name}: no warning naming the problem ({reason!r})", run)
        check("--resume: iteration 5 from" in run.stdout, f"{name}: did not fall back to iteration 5", run)
        check_same_bits(prefix, full, f"resumed from the previous checkpoint ({name})", run)

    both = damaged("both", lambda d: [flip(p / "A.bin") for p in checkpoints_of(d).values()])
    expect_error(ctx, common + ["-k", 4, "--iters", 15, "--resume", both], EXIT_BAD_INPUT,
                 ["no checkpoint in", "verifies", "does not match its checksum"])

    other = ctx.workdir / "other.mtx"
    y = x.copy()
    y[0, 0] += 1.0
    write_coordinate(other, y)
    for args, key in ((["-k", 3], "its k is 4, this run's is 3"), (["-k", 4, "--algo", "mu"], "its algo is"),
                      (["-k", 4, "--seed", 9], "its seed is 1, this run's is 9"),
                      (["-k", 4, "--l1-A", 0.5], "its penalties is"), (["-k", 4, "-i", other], "its input is")):
        expect_error(ctx, (common[:-2] if "-i" in args else common) + args + ["--iters", 15, "--resume", checkpoints], EXIT_USAGE,
                     ["belongs to another run", key])


@case
def case_e2e_checkpoint_restarts(ctx):
    """--restarts 3: each restart checkpoints on its own; a resumed run loads the finished restarts without
    iterating, continues the unfinished one from its checkpoint and starts the missing one, and ends with the same
    restart table and the same bits as an uninterrupted run."""
    x, f = ranks_matrix(ctx)
    common = ["-i", f, "-k", 4, "--algo", "hals", "--tol", 0, "--iters", 30, "--restarts", 3, "--output-format", "npy"]
    full = out_prefix(ctx, "full")
    ctx.run_ok(2, common + ["-o", full])
    checkpoints = ctx.workdir / "checkpoints"
    ctx.run_ok(2, common + ["--checkpoint-dir", checkpoints, "--checkpoint-every", 10, "--checkpoint-keep", 2])
    for r in range(3):
        check(checkpoint_iterations(checkpoints, r) == [20, 30], f"restart {r}: {checkpoint_iterations(checkpoints, r)}")
    shutil.rmtree(checkpoints_of(checkpoints, 1)[30])  # restart 1 as if stopped after its checkpoint at 20
    for path in checkpoints_of(checkpoints, 2).values():  # restart 2 as if never started
        shutil.rmtree(path)
    resumed = out_prefix(ctx, "resumed")
    run = ctx.run_ok(2, common + ["-o", resumed, "--resume", checkpoints])
    for expected in ("--resume: iteration 30 from", "--resume: iteration 20 from", "no checkpoint of restart2"):
        check(expected in run.stdout, f"the log lacks {expected!r}", run)
    check_same_bits(resumed, full, "resumed restarts", run)
    table, reference = load_summary(resumed)["restarts"], load_summary(full)["restarts"]
    check([(r["objective"], r["iterations"]) for r in table] == [(r["objective"], r["iterations"]) for r in reference],
          f"restart tables differ: {table} vs {reference}", run)


@case
def case_e2e_recommender_signal(ctx):
    """The recommender loop stops on SIGUSR1 like plain NMF's: the ranks agree, finish the iteration, write the
    outputs (factors, biases, summary) and exit 8; it does not ignore the signal or die without outputs."""
    path = ctx.indir / "all.txt"
    write_ratings(path, planted_ratings(5))
    prefix = out_prefix(ctx, "stopped")
    proc = start_nmf(ctx, 2, ["-i", path, "-k", 3, "--iters", 10 ** 7, "--tol", 0, "--log-every", 1, "-o", prefix])
    stdout_path = proc.nmf[1]
    wait_for(lambda: re.search(r"^\s+5\s", stdout_path.read_text(), re.M) is not None, "iteration 5 in the log",
             proc)
    proc.send_signal(signal.SIGUSR1)
    run = finish_nmf(proc)
    check(run.returncode == EXIT_INTERRUPTED and "nmf_mpi: stopped:" in run.stderr,
          f"exit {run.returncode}, expected {EXIT_INTERRUPTED} with 'nmf_mpi: stopped:'", run)
    summary = load_summary(prefix)
    check(summary["stop_reason"] == "interrupted" and 5 <= summary["iterations"] < 10 ** 7,
          f"stop_reason {summary['stop_reason']!r} after {summary['iterations']} iterations", run)
    for part in ("A.mtx", "S.mtx", "bias_rows.mtx", "bias_cols.mtx"):
        check(Path(f"{prefix}_{part}").is_file(), f"the interrupted run did not write {prefix}_{part}", run)
    a, s_factor = load_factors(prefix)
    check(np.all(a >= 0) and np.all(s_factor >= 0), "negative factors after the interrupted run", run)


RECOMMENDER = "recommender"  # the checkpoints' family in the recommender mode


def recommender_fit(prefix):
    """(A, S, row biases, column biases, summary) of a recommender run with --output-format npy."""
    import scipy.io
    a, s_factor = load_factors(prefix, "npy")
    b = np.asarray(scipy.io.mmread(f"{prefix}_bias_rows.mtx")).ravel()
    c = np.asarray(scipy.io.mmread(f"{prefix}_bias_cols.mtx")).ravel()
    return a, s_factor, b, c, load_summary(prefix)


def check_same_recommender(prefix, reference, what, run=None, rtol=0.0):
    """The factors, biases and errors of two recommender runs: the same bits (rtol 0) or within rtol."""
    ours, ref = recommender_fit(prefix), recommender_fit(reference)
    for name, x, y in zip(("A", "S", "row biases", "column biases"), ours[:4], ref[:4]):
        if rtol == 0:
            check(x.shape == y.shape and np.array_equal(x, y),
                  f"{what}: {name} differ from the uninterrupted run's (max {np.max(np.abs(x - y)):.3g})", run)
        else:
            check_same_matrix(x, y, rtol, f"{what}: {name}")
    for key in ("rmse_train", "rmse_test", "mae_test"):
        if rtol == 0:
            check(ours[4][key] == ref[4][key], f"{what}: {key} {ours[4][key]!r}, uninterrupted {ref[4][key]!r}", run)
        else:
            check_close(ours[4][key], ref[4][key], rtol, f"{what}: {key}", run)
    return ours, ref


@case(ranks=4)
def case_e2e_recommender_checkpoint_resume(ctx):
    """The recommender mode at 1, 2 and 4 ranks: a run stopped at iteration 12 (checkpoints every 5, 2 kept) and
    resumed to 20 ends with the same bits (A, S, biases, RMSE, history) as a run of 20; the checkpoint holds A, S and
    the biases in global order as written, with CRC-32s. A checkpoint of 2 ranks resumed on 1 and on 4 (2x2)
    is redistributed and ends within 1e-12 of the uninterrupted run on those ranks."""
    path = ctx.indir / "all.txt"
    write_ratings(path, planted_ratings(11))
    k = 3
    common = ["-i", path, "-k", k, "--tol", 0, "--test-fraction", 0.25, "--seed", 5, "--output-format", "npy"]
    for ranks, grid in ((1, "1x1"), (2, "2x1"), (4, "2x2")):
        common_here = common + ["--grid", grid]
        full = out_prefix(ctx, f"full{ranks}")
        ctx.run_ok(ranks, common_here + ["--iters", 20, "-o", full])
        checkpoints = ctx.workdir / f"checkpoints{ranks}"
        part = out_prefix(ctx, f"part{ranks}")
        run = ctx.run_ok(ranks, common_here + ["--iters", 12, "-o", part, "--checkpoint-dir", checkpoints,
                                               "--checkpoint-every", 5, "--checkpoint-keep", 2])
        found = checkpoint_iterations(checkpoints, family=RECOMMENDER)
        check(found == [10, 12], f"{ranks} ranks: checkpoints {found}, expected [10, 12]", run)
        newest = checkpoints_of(checkpoints, family=RECOMMENDER)[12]
        manifest = json.loads((newest / "manifest.json").read_text())
        a, s_factor, b, c, _ = recommender_fit(part)
        for name, expected in (("A", a), ("S", s_factor.T), ("bias_rows", b), ("bias_cols", c)):
            data = (newest / f"{name}.bin").read_bytes()
            entry = manifest["files"][name]
            check(entry["checksum"] == f"{zlib.crc32(data):08x}" and entry["bytes"] == len(data),
                  f"{ranks} ranks: {name}.bin: manifest {entry}, CRC {zlib.crc32(data):08x}", run)
            stored = np.frombuffer(data, dtype="<f8").reshape(expected.shape)
            check(np.array_equal(stored, expected), f"{ranks} ranks: the checkpoint's {name} is not the output's", run)
        resumed = out_prefix(ctx, f"resumed{ranks}")
        run = ctx.run_ok(ranks, common_here + ["--iters", 20, "-o", resumed, "--resume", checkpoints,
                                               "--checkpoint-keep", 3])  # 12 stays for the redistribution below
        check("--resume: iteration 12 from" in run.stdout, f"{ranks} ranks: the run did not say where it resumed", run)
        ours, ref = check_same_recommender(resumed, full, f"{ranks} ranks, resumed at 12", run)
        check([h["rmse_test"] for h in ours[4]["history"]] == [h["rmse_test"] for h in ref[4]["history"]],
              f"{ranks} ranks: the resumed history differs from the uninterrupted one", run)
        check(ours[4]["checkpoint"]["resumed_from"].endswith("recommender-it000000012"),
              f"{ranks} ranks: summary checkpoint {ours[4]['checkpoint']}", run)
    for ranks, grid in ((1, "1x1"), (4, "2x2")):
        moved = ctx.workdir / f"moved{ranks}"
        shutil.copytree(ctx.workdir / "checkpoints2", moved)
        shutil.rmtree(moved / "recommender-it000000020")  # written by the resumed run: start from 12
        prefix = out_prefix(ctx, f"moved{ranks}")
        run = ctx.run_ok(ranks, common + ["--grid", grid, "--iters", 20, "-o", prefix, "--resume", moved])
        check("--resume: iteration 12" in run.stdout and "redistributed" in run.stdout,
              f"{ranks} ranks: the run did not say it redistributed the checkpoint of 2 ranks", run)
        check_same_recommender(prefix, out_prefix(ctx, f"full{ranks}"), f"2 ranks resumed on {ranks}", run, 1e-12)


@case
def case_recommender_checkpoint_refused(ctx):
    """A recommender checkpoint resumed with another lambda, lambda-bias, bias, clip, test split, k or algo is
    refused (exit 2) with a message naming the difference; the same options resume."""
    path = ctx.indir / "all.txt"
    write_ratings(path, planted_ratings(12))
    test = ctx.indir / "test.txt"
    write_ratings(test, planted_ratings(13)[:30])
    common = ["-i", path, "-k", 3, "--tol", 0, "--test-fraction", 0.2, "--seed", 2]
    checkpoints = ctx.workdir / "checkpoints"
    ctx.run_ok(2, common + ["--iters", 6, "--checkpoint-dir", checkpoints])
    check(checkpoint_iterations(checkpoints, family=RECOMMENDER) == [6],
          f"checkpoints {checkpoint_iterations(checkpoints, family=RECOMMENDER)}, expected [6]")
    other_split = ["-i", path, "-k", 3, "--tol", 0, "--seed", 2]
    for args, key in ((common + ["--lambda", 0.1], "lambda"), (common + ["--lambda-bias", 1], "lambda_bias"),
                      (common + ["--bias", "off"], "bias"), (common + ["--clip", "none"], "clip"),
                      (other_split + ["--test-fraction", 0.3], "test_split"),
                      (other_split + ["--test", test], "test_split"), (common[:2] + ["-k", 4] + common[4:], "k"),
                      (common + ["--algo", "hals", "--inner", 2], "solver_options")):
        copy = ctx.workdir / f"copy_{len(list(ctx.workdir.iterdir()))}"
        shutil.copytree(checkpoints, copy)
        expect_error(ctx, args + ["--iters", 10, "--resume", copy, "-o", out_prefix(ctx)], EXIT_USAGE,
                     ["belongs to another run", f"its {key} is"])
    run = ctx.run_ok(2, common + ["--iters", 10, "--resume", checkpoints])
    check("--resume: iteration 6 from" in run.stdout, "the same options did not resume", run)


@case
def case_e2e_recommender_checkpoint_signal(ctx):
    """SIGUSR1 to mpirun in the recommender mode: the ranks stop after the iteration, write a checkpoint and the
    outputs, exit 8; the checkpoint holds what the outputs hold, and resuming it ends with the same bits as an
    uninterrupted run. --time-limit stops it before the limit with its last iteration checkpointed."""
    path = ctx.indir / "all.txt"
    write_ratings(path, planted_ratings(14))
    common = ["-i", path, "-k", 3, "--tol", 0, "--test-fraction", 0.2, "--seed", 8, "--output-format", "npy",
              "--log-every", 10 ** 6]
    checkpoints = ctx.workdir / "checkpoints"
    prefix = out_prefix(ctx, "stopped")
    proc = start_nmf(ctx, 2, common + ["--iters", 10 ** 7, "--checkpoint-dir", checkpoints, "--checkpoint-every", 20,
                                       "-o", prefix])
    wait_for(lambda: checkpoint_iterations(checkpoints, family=RECOMMENDER), "first checkpoint", proc)
    proc.send_signal(signal.SIGUSR1)
    run = finish_nmf(proc)
    check(run.returncode == EXIT_INTERRUPTED and "nmf_mpi: stopped:" in run.stderr and "--resume" in run.stderr,
          f"exit {run.returncode}, expected {EXIT_INTERRUPTED} with 'nmf_mpi: stopped:' and '--resume'", run)
    a, s_factor, b, c, summary = recommender_fit(prefix)
    iterations = summary["iterations"]
    check(summary["stop_reason"] == "interrupted", f"stop_reason {summary['stop_reason']!r}", run)
    check(checkpoint_iterations(checkpoints, family=RECOMMENDER) == [iterations],
          f"checkpoints {checkpoint_iterations(checkpoints, family=RECOMMENDER)}, expected [{iterations}]", run)
    newest = checkpoints_of(checkpoints, family=RECOMMENDER)[iterations]
    check(np.array_equal(checkpoint_factor(newest, "A", *a.shape), a) and
          np.array_equal(np.fromfile(newest / "bias_rows.bin", dtype="<f8"), b) and
          np.array_equal(np.fromfile(newest / "bias_cols.bin", dtype="<f8"), c),
          "the checkpoint and the outputs differ", run)
    full = out_prefix(ctx, "full")
    baseline = ctx.run_ok(2, common + ["--iters", iterations + 7, "-o", full]).elapsed
    resumed = out_prefix(ctx, "resumed")
    run = ctx.run_ok(2, common + ["--iters", iterations + 7, "-o", resumed, "--resume", checkpoints])
    check_same_recommender(resumed, full, "resumed after SIGUSR1", run)

    # Iterations of about 10 us, each evaluated: the history (in the manifest and the summary) grows by about 100,000
    # records a second, and the reserve for the final writes must grow with it (README, --time-limit).
    limit, timed = 4.0, ctx.workdir / "time_checkpoints"
    prefix = out_prefix(ctx, "time")
    run = ctx.run_ok(2, common + ["--iters", 10 ** 7, "--time-limit", limit, "--checkpoint-dir", timed, "-o", prefix])
    summary = load_summary(prefix)
    check(summary["stop_reason"] == "time_limit", f"--time-limit {limit}: stop_reason {summary['stop_reason']!r}", run)
    check_ends_before_the_limit(summary, limit, run, history_files=2, baseline=baseline)
    check(checkpoint_iterations(timed, family=RECOMMENDER) == [summary["iterations"]],
          f"--time-limit: checkpoints {checkpoint_iterations(timed, family=RECOMMENDER)}, expected the last", run)
    newest = checkpoints_of(timed, family=RECOMMENDER)[summary["iterations"]]
    manifest = json.loads((newest / "manifest.json").read_text())
    check(len(manifest["history"]) == len(summary["history"]),
          f"--time-limit: the checkpoint holds {len(manifest['history'])} records, the summary "
          f"{len(summary['history'])}", run)
    a = recommender_fit(prefix)[0]
    check(np.array_equal(checkpoint_factor(newest, "A", *a.shape), a), "--time-limit: checkpoint and outputs differ",
          run)


@case
def case_e2e_checkpoint_resume_skips_init(ctx):
    """Plain NMF with --init nndsvd: a resumed run takes its factors from the checkpoint without computing the
    initial ones (no randomized SVD: init method 'resumed from a checkpoint', 0 SVD seconds) and ends with the
    same bits as an uninterrupted run."""
    x, f = ranks_matrix(ctx)
    common = ["-i", f, "-k", 4, "--init", "nndsvd", "--tol", 0, "--output-format", "npy"]
    full = out_prefix(ctx, "full")
    ctx.run_ok(2, common + ["--iters", 15, "-o", full])
    check(load_summary(full)["init"]["method"] == "nndsvd", f"test premise: init {load_summary(full)['init']}")
    checkpoints = ctx.workdir / "checkpoints"
    ctx.run_ok(2, common + ["--iters", 8, "--checkpoint-dir", checkpoints])
    resumed = out_prefix(ctx, "resumed")
    run = ctx.run_ok(2, common + ["--iters", 15, "-o", resumed, "--resume", checkpoints])
    init = load_summary(resumed)["init"]
    check(init["method"] == "resumed from a checkpoint" and init["svd_seconds"] == 0,
          f"the resumed run initialized its factors: {init}", run)
    check_same_bits(resumed, full, "resumed without initialization", run)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true",
                        help="print 'CASE RANKS' lines (RANKS: the most ranks the case runs at once) and exit")
    parser.add_argument("--binary", help="path of nmf_mpi")
    parser.add_argument("--mpiexec", default=shutil.which("mpirun"), help="path of mpirun")
    parser.add_argument("cases", nargs="*", metavar="CASE", help="cases to run (default: all)")
    args = parser.parse_args()
    if args.list:
        print("\n".join(f"{name} {CASE_RANKS[name]}" for name in CASES))
        return 0
    if not args.binary or not args.mpiexec:
        parser.error("--binary and --mpiexec are required to run cases")
    args.binary = str(Path(args.binary).resolve())
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        parser.error(f"unknown cases: {', '.join(unknown)} (see --list)")

    if len(args.cases) == 1:
        status, message = run_case(args.cases[0], args.binary, args.mpiexec)
        if status == "SKIP":
            print(f"SKIP: {message}")
        elif status == "FAIL":
            print(f"FAIL: {args.cases[0]}: {message}")
        else:
            print(f"PASS: {args.cases[0]}")
        return {"FAIL": 1, "SKIP": EXIT_SKIPPED}.get(status, 0)

    failed, skipped = [], []
    start = time.monotonic()
    for name in args.cases or list(CASES):
        case_start = time.monotonic()
        status, message = run_case(name, args.binary, args.mpiexec)
        print(f"{status} {name} ({time.monotonic() - case_start:.1f} s)" + (f": {message}" if message else ""),
              flush=True)
        if status == "FAIL":
            failed.append(name)
        elif status == "SKIP":
            skipped.append(name)
    total = len(args.cases or CASES)
    print(f"{total - len(failed) - len(skipped)} passed, {len(skipped)} skipped"
          f"{' (' + ', '.join(skipped) + ')' if skipped else ''}, {len(failed)} failed"
          f"{': ' + ', '.join(failed) if failed else ''} ({time.monotonic() - start:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
