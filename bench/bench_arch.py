#!/usr/bin/python3
"""What the portable default build costs against -march=native: seconds per iteration of several nmf_mpi binaries.

Each binary factors the same two inputs on one rank (OPENBLAS_NUM_THREADS=1), k = 20, HALS, 30 iterations, no
tolerance stop: a 4000 x 3000 dense random .npy and a 20000 x 10000 sparse .mtx with 1% of its entries stored.
The binaries run alternately, --repeats times each, so drifts of a shared machine hit all of them alike; the table
gives the median of the summaries' seconds_per_iteration and its ratio to the first binary's.

    bench/bench_arch.py --workdir /tmp/arch native=build-native/nmf_mpi portable=build/nmf_mpi
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def make_inputs(work):
    dense = work / "dense_4000x3000.npy"
    if not dense.exists():
        np.save(dense, np.random.default_rng(1).random((4000, 3000)))
    sparse = work / "sparse_20000x10000_1pct.mtx"
    if not sparse.exists():
        subprocess.run([sys.executable, str(HERE / "make_sparse_mtx.py"), str(sparse), "20000", "10000", "2000000"],
                       check=True)
    return {"dense 4000x3000": dense, "sparse 20000x10000 1%": sparse}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binaries", nargs="+", help="NAME=PATH/TO/nmf_mpi; the first is the reference")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    binaries = dict(b.split("=", 1) for b in args.binaries)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    inputs = make_inputs(work)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    if os.getuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")

    times = {(i, b): [] for i in inputs for b in binaries}
    for rep in range(args.repeats):
        for input_name, path in inputs.items():
            for name, binary in binaries.items():
                prefix = work / f"out_{name}"
                subprocess.run(["mpirun", "-q", "-np", "1", binary, "-i", str(path), "-k", "20", "--algo", "hals",
                                "--iters", "30", "--tol", "0", "--quiet", "-o", str(prefix)], env=env, check=True)
                spi = json.loads(Path(f"{prefix}_summary.json").read_text())["seconds_per_iteration"]
                times[(input_name, name)].append(spi)
                print(f"rep {rep} {input_name:22s} {name:10s} {spi:.4f} s/iteration", flush=True)

    reference = next(iter(binaries))
    print(f"\n| input | " + " | ".join(f"{b} s/it" for b in binaries) + " | " +
          " | ".join(f"{b}/{reference}" for b in binaries if b != reference) + " |")
    print("|---" * (1 + 2 * len(binaries) - 1) + "|")
    for input_name in inputs:
        medians = {b: statistics.median(times[(input_name, b)]) for b in binaries}
        print(f"| {input_name} | " + " | ".join(f"{medians[b]:.4f}" for b in binaries) + " | " +
              " | ".join(f"{medians[b] / medians[reference]:.3f}" for b in binaries if b != reference) + " |")


if __name__ == "__main__":
    main()
