#!/usr/bin/python3
"""Checks of bench/benchlib.py and of the quality benchmarks' verdicts that the quality tests rely on (run by
ctest as bench_lib), without running nmf_mpi (its runs are replaced by made-up summaries):

- cached_npy keys the cached input by the generator: other arguments, or another generator source, give another
  file (a stale input is never reused), the same ones reuse the file without calling the generator again;
- report_targets never reports a skip or an empty run as a pass (exit 77 for a skip, 1 for no targets);
- bench_quality.py: one failed run (a crash at P = 4, say) fails its part, even when the other runs meet every
  target;
- bench_rank_selection.py: a sweep that ends at the planted rank fails, even when the choice is right.

Exits 0 when every check holds, 1 otherwise.
"""
import contextlib
import importlib.util
import io
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

import numpy as np  # noqa: E402

FAILURES = []


def check(condition, message):
    if not condition:
        FAILURES.append(message)
        print(f"FAIL: {message}")


def load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATOR_SOURCE = '''
import numpy as np
CALLS = []
def make(seed, n):
    CALLS.append((seed, n))
    return np.random.default_rng(seed).random((n, 3)) * SCALE
'''


def check_cache(directory):
    one = load_module(_write(directory / "one/gen.py", GENERATOR_SOURCE + "SCALE = 1.0\n"), "gen")
    path = benchlib.cached_npy(directory / "cache", "x", one.make, 1, 4)
    check(path.exists() and np.array_equal(np.load(path), one.make(1, 4)), "the cached file holds the generator's array")
    one.CALLS.clear()
    again = benchlib.cached_npy(directory / "cache", "x", one.make, 1, 4)
    check(again == path and not one.CALLS, "the same generator and arguments reuse the file without generating")

    other_args = benchlib.cached_npy(directory / "cache", "x", one.make, 2, 4)
    check(other_args != path, "other arguments give another file name")
    check(np.array_equal(np.load(other_args), one.make(2, 4)), "other arguments: the file holds their array")
    check(not path.exists(), "the stale file of the same stem is removed")

    # The same stem, module and function name and arguments, but the source changed (here: SCALE): the cache must
    # not serve the array of the old source.
    two = load_module(_write(directory / "two/gen.py", GENERATOR_SOURCE + "SCALE = 2.0\n"), "gen")
    changed = benchlib.cached_npy(directory / "cache", "x", two.make, 2, 4)
    check(changed != other_args, "a changed generator source gives another file name")
    check(two.CALLS == [(2, 4)], "a changed generator source generates again")
    check(np.array_equal(np.load(changed), 2.0 * one.make(2, 4)), "a changed generator source: the new array")

    try:
        benchlib.cached_npy(directory / "cache", "y", lambda: np.zeros(2))
        check(False, "a lambda (arguments hidden from the key) is refused")
    except ValueError:
        pass


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    (path.parent.parent / "cache").mkdir(exist_ok=True)
    return path


def check_report():
    def status(*args):
        with contextlib.redirect_stdout(io.StringIO()):
            return benchlib.report_targets(*args)
    check(status([("a", True), ("b", True)]) == 0, "all targets pass: 0")
    check(status([("a", True), ("b", False)]) == 1, "a failed target: 1")
    check(status([]) == 1, "no targets checked: 1, not a pass")
    check(status([], None, ["data absent"]) == benchlib.EXIT_SKIPPED == 77, "only a skip: 77")
    check(status([("a", True)], None, ["data absent"]) == 77, "passes and a skip: 77 (a skip is not a pass)")
    check(status([("a", False)], None, ["data absent"]) == 1, "a failure and a skip: 1")


def converged_summary(*_args, **_kwargs):
    return {"relative_error": 1e-12, "seconds_per_iteration": 0.01,
            "history": [{"iteration": 0, "relative_error": 1.0}, {"iteration": 5, "relative_error": 1e-12}]}


def check_failed_runs_fail(directory):
    import bench_quality

    bench_quality.planted_input = lambda workdir, seed: directory / f"planted_{seed}.npy"  # never read here
    for part, crash in ((bench_quality.part_kaczmarz, lambda ranks, prefix: ranks == 4 and prefix.name.endswith("s3")),
                        (bench_quality.part_planted, lambda ranks, prefix: "hals_s2" in prefix.name)):
        bench_quality.run_nmf = lambda binary, ranks, arguments, prefix: (
            "exit 139: crashed" if crash(ranks, prefix) else converged_summary())
        with contextlib.redirect_stdout(io.StringIO()):
            results = part(Path("nmf_mpi"), directory, [1, 2, 3, 4, 5])
            status = benchlib.report_targets(results)
        check(status == 1, f"{part.__name__}: one failed run among converged ones gives exit {status}, expected 1")
        bench_quality.run_nmf = lambda binary, ranks, arguments, prefix: converged_summary()
        with contextlib.redirect_stdout(io.StringIO()):
            status = benchlib.report_targets(part(Path("nmf_mpi"), directory, [1, 2, 3, 4, 5]))
        check(status == 0, f"{part.__name__}: every run converged, yet exit {status}")


def check_sweep_must_pass_the_planted_rank(directory):
    import argparse

    import bench_rank_selection

    def selection_summary(k_range, chosen):
        first, last = (int(v) for v in k_range.split(":"))
        entries = [{"k": k, "folds": 3, "train_error": 0.1, "train_std": 0.0, "heldout_error": 0.2 - 0.001 * k,
                    "heldout_std": 0.001} for k in range(first, last + 1)]
        return {"rank_selection": {"chosen": chosen, "entries": entries, "cv_folds": 3, "cv_fraction": 0.1,
                                   "rule": "se"},
                "k": chosen, "relative_error": 0.1, "iterations": 200, "stop_reason": "max_iterations",
                "seconds": 1.0, "iteration_seconds": 1.0}

    bench_rank_selection.cached_npy = lambda *args: directory / "x.npy"  # never read here
    for k_range, expected in (("2:12", 1), ("8:16", 0), ("auto", 0)):
        args = argparse.Namespace(shape=[60, 50], k_range=k_range, algo="hals", iters=10, ranks=2, data_seed=1,
                                  no_figures=True)
        bench_rank_selection.run_nmf_summary = lambda binary, ranks, arguments, prefix: selection_summary(
            arguments[arguments.index("-k") + 1], 12)
        with contextlib.redirect_stdout(io.StringIO()):
            status = benchlib.report_targets(bench_rank_selection.run_planted(Path("nmf_mpi"), directory, 12, args))
        check(status == expected, f"planted rank 12, -k {k_range}, chosen 12: exit {status}, expected {expected}")


def main():
    with tempfile.TemporaryDirectory(prefix="nmf_test_benchlib_") as directory:
        check_cache(Path(directory))
        check_failed_runs_fail(Path(directory))
        check_sweep_must_pass_the_planted_rank(Path(directory))
    check_report()
    print("PASS: benchlib" if not FAILURES else f"{len(FAILURES)} checks failed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
