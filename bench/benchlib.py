"""What the benchmarks share: where the repository and the shared data are, the environment mpirun needs here,
and running nmf_mpi for its summary."""
import hashlib
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The shared data sets (NMF_SHARED_DATA overrides where they are looked for, as in tests/cli/cli_tests.py).
SHARED_DATA = Path(os.environ.get("NMF_SHARED_DATA", ROOT.parent / "shared" / "data"))
FASHION = SHARED_DATA / "fashion-mnist" / "t10k-images-10000x784-uint8.npy"
# Exit status of a benchmark that checked nothing because what it needs is absent (e.g. the shared data):
# tests/CMakeLists.txt sets ctest's SKIP_RETURN_CODE to it, so a skip is reported as skipped, never as passed.
EXIT_SKIPPED = 77
# Open MPI refuses to run as root unless told twice; one BLAS thread per rank.
MPI_ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OPENBLAS_NUM_THREADS="1")


def run_nmf_summary(binary, ranks, arguments, prefix, timeout=7200):
    """Runs `mpirun -np ranks nmf_mpi arguments -o prefix` (factors as .npy) and returns its summary as a dict, or
    a string describing the failure. The arguments should include --quiet if the output is not wanted."""
    command = (["mpirun", "-q", "--oversubscribe", "-np", str(ranks), str(binary)] + [str(a) for a in arguments] +
               ["-o", str(prefix), "--output-format", "npy"])
    Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    summary = Path(f"{prefix}_summary.json")
    summary.unlink(missing_ok=True)
    done = subprocess.run(command, env=MPI_ENV, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 or not summary.exists():
        return f"exit {done.returncode}: {' '.join(command)}\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
    return json.loads(summary.read_text())


def nmf_binary(build_dir):
    """The nmf_mpi built in `build_dir`; exits with a message if it is not built."""
    binary = Path(build_dir) / "nmf_mpi"
    if not binary.exists():
        sys.exit(f"{binary} not found: build it first (cmake --build {build_dir} --target nmf_mpi)")
    return binary


def prepare(build_dir, workdir):
    """(nmf_mpi binary, work directory, created), after printing both; exits if nmf_mpi is not built."""
    binary = nmf_binary(build_dir)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"nmf_mpi: {binary}; workdir {workdir}; {os.cpu_count()} cores; OPENBLAS_NUM_THREADS=1 everywhere")
    return binary, workdir


def verdict(passed):
    return "PASS" if passed else "FAIL"


def planted_factors_product(rng, shape, rank):
    """A0 S0 with the entries of A0 (n x rank) and S0 (rank x m) uniform on [0, 1), each zero with probability
    1/2: the issues' planted problem, drawn from `rng` in a fixed order (A0's values, its mask, S0's, its mask)."""
    n, m = shape
    a0 = rng.random((n, rank))
    a0 *= rng.random((n, rank)) >= 0.5
    s0 = rng.random((rank, m))
    s0 *= rng.random((rank, m)) >= 0.5
    return a0 @ s0


def cache_key(generator, arguments):
    """A short hash of everything that decides what generator(*arguments) returns: the arguments, the generator's
    name, the source of the file that defines it and of this file (which holds shared generators such as
    planted_factors_product), and NumPy's version (its random streams may change between versions)."""
    import numpy as np

    digest = hashlib.sha256()
    for part in (generator.__module__, generator.__qualname__, repr(tuple(arguments)), np.__version__,
                 Path(inspect.getsourcefile(generator)).read_text(), Path(__file__).read_text()):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def cached_npy(directory, stem, generator, *arguments):
    """The path of DIRECTORY/STEM-KEY.npy holding generator(*arguments), written unless it is there already. KEY is
    cache_key(generator, arguments), so an input generated before a change of the generator, its arguments or its
    source is never reused; other STEM-*.npy files (stale keys) are removed. `generator` must be a named function
    (deterministic in its arguments), not a lambda: its arguments are part of the key."""
    import numpy as np

    if generator.__name__ == "<lambda>":
        raise ValueError("cached_npy needs a named generator function, whose arguments are passed separately")
    directory = Path(directory)
    path = directory / f"{stem}-{cache_key(generator, arguments)}.npy"
    if not path.exists():
        for stale in directory.glob(f"{stem}-*.npy"):
            if stale != path and len(stale.name) == len(path.name):
                stale.unlink()
        partial = path.with_name(path.name + ".partial")
        with open(partial, "wb") as out:
            np.save(out, generator(*arguments))
        partial.replace(path)
    return path


def report_targets(results, seconds=None, skipped=()):
    """Prints the PASS/FAIL lines of (description, passed) pairs and the SKIP lines of `skipped` (descriptions of
    what could not be checked); returns the exit status: 1 if any target failed or nothing at all was checked,
    else EXIT_SKIPPED if anything was skipped, else 0. A skip is never a pass, and no targets is not a pass."""
    print("\n== targets" + (f" ({seconds:.0f} s)" if seconds is not None else "") + " ==")
    for description, passed in results:
        print(f"  {verdict(passed)}  {description}")
    for description in skipped:
        print(f"  SKIP  {description}")
    print(f"{sum(passed for _, passed in results)} of {len(results)} targets pass, {len(skipped)} skipped")
    if not all(passed for _, passed in results):
        return 1
    if skipped:
        return EXIT_SKIPPED
    if not results:
        print("FAIL: no target was checked")
        return 1
    return 0
