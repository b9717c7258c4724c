"""What the benchmarks share: where the repository and the shared data are, the environment mpirun needs here,
and running nmf_mpi for its summary."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FASHION = ROOT.parent / "shared" / "data" / "fashion-mnist" / "t10k-images-10000x784-uint8.npy"
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


def saved_npy(path, make):
    """`path` holding make()'s array, written unless it is there already (the generators are deterministic)."""
    import numpy as np

    if not path.exists():
        partial = path.with_name(path.name + ".partial")
        with open(partial, "wb") as out:
            np.save(out, make())
        partial.replace(path)
    return path


def report_targets(results, seconds=None):
    """Prints the PASS/FAIL lines of (description, passed) pairs; returns the exit status (1 if any failed)."""
    print("\n== targets" + (f" ({seconds:.0f} s)" if seconds is not None else "") + " ==")
    for description, passed in results:
        print(f"  {verdict(passed)}  {description}")
    print(f"{sum(passed for _, passed in results)} of {len(results)} targets pass")
    return 0 if all(passed for _, passed in results) else 1
