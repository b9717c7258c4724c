#!/usr/bin/python3
"""Reading speed: MB/s per rank for Matrix Market coordinate input and for .npy input, at P = 1 and 2.

Inputs (generated into --workdir and reused):
  mtx  bench/make_sparse_mtx.py's 10^7-nonzero file, 10^6 x 2*10^5 (about 163 MB), the foundation benchmark's;
  npy  a dense 8000 x 6000 float64 array in C order (384 MB), uniform on [0, 1).

Each run is `mpirun -np P nmf_mpi -i FILE -k 2 --iters 0 --quiet -o PREFIX` (no iterations: the summary's
read_seconds is the read, from opening the file to the assembled blocks); its read_bytes are the bytes the
ranks read. MB/s per rank = read_bytes / P / read_seconds (1 MB = 10^6 bytes). With --before BINARY, the same
runs with that binary alternate with the new one (the reference measured in the same run), and the ratio
before / after of read_seconds is printed. Medians of --repeats runs. Peak RSS per rank (max over ranks)
comes from the summary (getrusage). The machine's load (/proc/loadavg) is printed before and after.

Targets (issue 13): mtx >= 250 MB/s per rank at P = 1, >= 80% of that per rank at P = 2; npy >= 1000 MB/s
per rank.

usage: bench/bench_read.py [--build-dir build] [--before OLD/nmf_mpi] [--workdir /tmp/nmf_bench_read]
                           [--repeats 5] [--formats mtx,npy] [--ranks 1,2]
"""
import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ROOT, prepare, report_targets, run_nmf_summary  # noqa: E402


def mtx_input(workdir):
    path = workdir / "sparse_1e7.mtx"
    if not path.exists():
        partial = path.with_name(path.name + ".partial")
        subprocess.run([sys.executable, str(ROOT / "bench" / "make_sparse_mtx.py"), str(partial), "1000000", "200000",
                        "10000000"], check=True)
        partial.replace(path)
    return path


def npy_input(workdir):
    import numpy as np

    path = workdir / "dense_8000x6000.npy"
    if not path.exists():
        partial = path.with_name(path.name + ".partial")
        with open(partial, "wb") as out:
            np.save(out, np.random.default_rng(8000).random((8000, 6000)))
        partial.replace(path)
    return path


def loadavg():
    return Path("/proc/loadavg").read_text().split()[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default=str(ROOT / "build"))
    parser.add_argument("--before", type=Path, help="an older nmf_mpi to compare with, run alternately")
    parser.add_argument("--workdir", default="/tmp/nmf_bench_read")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--formats", default="mtx,npy")
    parser.add_argument("--ranks", default="1,2")
    args = parser.parse_args()
    binary, workdir = prepare(args.build_dir, args.workdir)
    ranks_list = [int(r) for r in args.ranks.split(",")]
    inputs = {"mtx": mtx_input, "npy": npy_input}
    binaries = [("after", binary)] + ([("before", args.before)] if args.before else [])
    print(f"load average before: {loadavg()}")
    results, rates = [], {}
    print(f"{'format':6} {'P':>2} {'binary':7} {'read s':>8} {'min..max':>15} {'MB/s/rank':>10} {'peak RSS MiB':>13}")
    for name in args.formats.split(","):
        path = inputs[name](Path(workdir))
        size_mb = path.stat().st_size / 1e6
        for ranks in ranks_list:
            samples = {label: [] for label, _ in binaries}
            rss = {label: [] for label, _ in binaries}
            read_bytes = {}
            for _ in range(args.repeats):
                for label, exe in binaries:
                    summary = run_nmf_summary(exe, ranks, ["-i", path, "-k", 2, "--iters", 0, "--quiet"],
                                              Path(workdir) / "runs" / f"{name}_p{ranks}_{label}")
                    if isinstance(summary, str):
                        sys.exit(summary)
                    samples[label].append(summary["read_seconds"])
                    rss[label].append(summary["peak_rss_mib_per_rank"]["max"])
                    read_bytes[label] = summary.get("read_bytes") or path.stat().st_size
            for label, _ in binaries:
                seconds = statistics.median(samples[label])
                rate = read_bytes[label] / ranks / seconds / 1e6
                print(f"{name:6} {ranks:>2} {label:7} {seconds:8.3f} {min(samples[label]):6.3f}..{max(samples[label]):<7.3f} "
                      f"{rate:10.0f} {statistics.median(rss[label]):13.0f}", flush=True)
                if label == "after":
                    rates[(name, ranks)] = rate
            if args.before:
                ratio = statistics.median(samples["before"]) / statistics.median(samples["after"])
                print(f"{'':6} {'':>2} before/after read_seconds: {ratio:.2f}x  (file {size_mb:.0f} MB)")
    print(f"load average after: {loadavg()}")
    targets = []
    if ("mtx", 1) in rates:
        targets.append((f"mtx P=1: {rates[('mtx', 1)]:.0f} MB/s per rank >= 250", rates[("mtx", 1)] >= 250))
        if ("mtx", 2) in rates:
            targets.append((f"mtx P=2: {rates[('mtx', 2)]:.0f} MB/s per rank >= 0.8 x P=1 ({0.8 * rates[('mtx', 1)]:.0f})",
                            rates[("mtx", 2)] >= 0.8 * rates[("mtx", 1)]))
    for ranks in ranks_list:
        if ("npy", ranks) in rates:
            targets.append((f"npy P={ranks}: {rates[('npy', ranks)]:.0f} MB/s per rank >= 1000",
                            rates[("npy", ranks)] >= 1000))
    return report_targets(targets)


if __name__ == "__main__":
    sys.exit(main())
