#!/usr/bin/python3
"""Reading speed: MB/s per rank for Matrix Market coordinate input and for .npy input, at P = 1 and 2, and the
reading and start-up costs of a ratings file at P = 2 (issue 10's whole-process time).

Inputs (generated into --workdir and reused):
  mtx      bench/make_sparse_mtx.py's 10^7-nonzero file, 10^6 x 2*10^5 (about 163 MB), the foundation benchmark's;
  npy      a dense 8000 x 6000 float64 array in C order (384 MB), uniform on [0, 1);
  ratings  the 80% training splits (bench/split_ratings.py, seed 1) of FilmTrust and MovieLens latest-small
           from the shared data, read at P = 2 only (skipped when the shared data is absent).

Each run is `mpirun -np P nmf_mpi -i FILE -k 2 --iters 0 --quiet -o PREFIX` (no iterations: the summary's
read_seconds is the read, from the start of the run to the assembled blocks; ratings: `-k 40 --iters 0` with
--test); its read_bytes are the bytes the ranks read. MB/s per rank = read_bytes / P / read_seconds
(1 MB = 10^6 bytes). The runs set NMF_READ_PHASES, so the readers print rank 0's wall and CPU seconds per phase;
"cpu s" is the sum of rank 0's CPU seconds over the phases, and "MB/s cpu" the rate it gives: what the read costs
the rank itself, which the load of other users of the machine inflates much less than the wall time. With
--before BINARY, the same runs with that binary alternate with the new one (the reference measured in the same
run, in the opposite order every other repeat, since the run after another reuses the memory it freed; an old
binary prints no phases), and the ratio before / after of read_seconds is printed; use an even --repeats. Medians of
--repeats runs; the load average (/proc/loadavg) is printed with every row. Peak RSS per rank (max over ranks)
comes from the summary. For ratings, "process s" is the wall time of the whole mpirun, beside the floors of the
launcher measured in the same loop: `mpirun -np 2 true` and an MPI program that only starts and stops MPI
(nmf_mpi --version).

Targets (issue 13): mtx >= 250 MB/s per rank at P = 1, >= 80% of that per rank at P = 2; npy >= 1000 MB/s
per rank.

usage: bench/bench_read.py [--build-dir build] [--before OLD/nmf_mpi] [--workdir /tmp/nmf_bench_read]
                           [--repeats 5] [--formats mtx,npy,ratings] [--ranks 1,2]
"""
import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import MPI_ENV, ROOT, SHARED_DATA, prepare, report_targets  # noqa: E402

RATINGS = {"filmtrust": SHARED_DATA / "filmtrust" / "ratings.txt",
           "movielens": SHARED_DATA / "movielens-latest-small" / "ratings.csv"}


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


def ratings_split(workdir, name):
    """(train, test) of the seeded 80/20 split of a shared ratings file, or None if it is absent."""
    source = RATINGS[name]
    if not source.exists():
        return None
    train, test = workdir / f"{name}_train{source.suffix}", workdir / f"{name}_test{source.suffix}"
    if not train.exists() or not test.exists():
        subprocess.run([sys.executable, str(ROOT / "bench" / "split_ratings.py"), str(source), str(train), str(test)],
                       check=True, capture_output=True)
    return train, test


def loadavg():
    return Path("/proc/loadavg").read_text().split()[0]


PHASES = re.compile(r"read phases \(rank 0, wall/cpu s\):(.*)")


def read_phases(stderr, lines):
    """{phase: (wall, cpu)} of the first `lines` 'read phases' lines (a ratings file prints two: opening and
    distributing it; a --test file's opening follows, after read_seconds, and is left out)."""
    phases = {}
    for match in list(PHASES.finditer(stderr))[:lines]:
        for item in match.group(1).split():
            name, values = item.split("=")
            wall, cpu = (float(v) for v in values.split("/"))
            if name != "total":
                old = phases.get(name, (0.0, 0.0))
                phases[name] = (old[0] + wall, old[1] + cpu)
    return phases


def run(binary, ranks, arguments, prefix, phase_lines):
    """(summary, phases, wall seconds of the whole mpirun) of one run, or exits with the failure."""
    command = (["mpirun", "-q", "--oversubscribe", "-np", str(ranks), str(binary)] + [str(a) for a in arguments] +
               ["-o", str(prefix), "--output-format", "npy"])
    Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    summary_path = Path(f"{prefix}_summary.json")
    summary_path.unlink(missing_ok=True)
    start = time.perf_counter()
    done = subprocess.run(command, env=dict(MPI_ENV, NMF_READ_PHASES="1"), capture_output=True, text=True,
                          timeout=3600)
    wall = time.perf_counter() - start
    if done.returncode != 0 or not summary_path.exists():
        sys.exit(f"exit {done.returncode}: {' '.join(command)}\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return json.loads(summary_path.read_text()), read_phases(done.stderr, phase_lines), wall


def launcher_floor(binary):
    """Wall seconds of `mpirun -np 2 true` and of `mpirun -np 2 nmf_mpi --version` (MPI started and stopped)."""
    floors = []
    for command in (["true"], [str(binary), "--version"]):
        start = time.perf_counter()
        subprocess.run(["mpirun", "-q", "--oversubscribe", "-np", "2"] + command, env=MPI_ENV, check=True,
                       capture_output=True)
        floors.append(time.perf_counter() - start)
    return floors


def median_phases(samples):
    names = [name for name in samples[0]] if samples and samples[0] else []
    return {name: (statistics.median(s[name][0] for s in samples), statistics.median(s[name][1] for s in samples))
            for name in names if all(name in s for s in samples)}


def print_row(name, ranks, label, results, read_bytes):
    """Prints one row (and its phases); returns the MB/s per rank, or None without `read_bytes` (ratings)."""
    seconds = [r["seconds"] for r in results]
    median = statistics.median(seconds)
    rate = read_bytes / ranks / median / 1e6 if read_bytes else None
    cpu = [sum(c for _, c in r["phases"].values()) for r in results if r["phases"]]
    cpu_rate = f"{read_bytes / ranks / statistics.median(cpu) / 1e6:9.0f}" if cpu and read_bytes else f"{'-':>9}"
    cpu_text = f"{statistics.median(cpu):7.3f} {cpu_rate}" if cpu else f"{'-':>7} {'-':>9}"
    rate_text = f"{rate:10.0f}" if rate else f"{'-':>10}"
    print(f"{name:10} {ranks:>2} {label:7} {median:8.3f} {min(seconds):6.3f}..{max(seconds):<7.3f} {rate_text} "
          f"{cpu_text} {statistics.median(r['rss'] for r in results):8.0f}  load {results[0]['load']}..{results[-1]['load']}",
          flush=True)
    phases = median_phases([r["phases"] for r in results])
    if phases:
        print(f"{'':14} phases (median wall/cpu s): " +
              " ".join(f"{n}={w:.3f}/{c:.3f}" for n, (w, c) in phases.items()), flush=True)
    return rate


def measure(binaries, name, path, ranks, extra, workdir, repeats, floors=None, phase_lines=1):
    """{label: [result per repeat]} of alternating runs of the binaries."""
    results = {label: [] for label, _ in binaries}
    for repeat in range(repeats):
        # Every other repeat in the opposite order: a run right after another finds the memory that one freed
        # ready for reuse (free huge pages), while the first run of a pair may wait for the kernel to compact
        # memory, which on a machine shared with other builds made the second binary up to 2x faster.
        for label, exe in (binaries if repeat % 2 == 0 else binaries[::-1]):
            load = loadavg()
            summary, phases, wall = run(exe, ranks, ["-i", path] + extra, Path(workdir) / "runs" / f"{name}_p{ranks}_{label}",
                                        phase_lines)
            results[label].append({"seconds": summary["read_seconds"], "phases": phases, "wall": wall, "load": load,
                                   "rss": summary["peak_rss_mib_per_rank"]["max"],
                                   "bytes": summary.get("read_bytes") or Path(path).stat().st_size})
        if floors is not None:
            floors.append(launcher_floor(binaries[0][1]))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default=str(ROOT / "build"))
    parser.add_argument("--before", type=Path, help="an older nmf_mpi to compare with, run alternately")
    parser.add_argument("--workdir", default="/tmp/nmf_bench_read")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--formats", default="mtx,npy,ratings")
    parser.add_argument("--ranks", default="1,2")
    args = parser.parse_args()
    binary, workdir = prepare(args.build_dir, args.workdir)
    ranks_list = [int(r) for r in args.ranks.split(",")]
    inputs = {"mtx": mtx_input, "npy": npy_input}
    binaries = [("after", binary)] + ([("before", args.before)] if args.before else [])
    print(f"load average before: {loadavg()}")
    rates, skipped, targets = {}, [], []
    print(f"{'format':10} {'P':>2} {'binary':7} {'read s':>8} {'min..max':>15} {'MB/s/rank':>10} {'cpu s':>7} "
          f"{'MB/s cpu':>9} {'RSS MiB':>8}")
    for name in args.formats.split(","):
        if name == "ratings":
            continue
        path = inputs[name](Path(workdir))
        for ranks in ranks_list:
            results = measure(binaries, name, path, ranks, ["-k", 2, "--iters", 0, "--quiet"], workdir, args.repeats)
            for label, _ in binaries:
                rate = print_row(name, ranks, label, results[label], results[label][0]["bytes"])
                if label == "after":
                    rates[(name, ranks)] = rate
            if args.before:
                ratio = (statistics.median(r["seconds"] for r in results["before"]) /
                         statistics.median(r["seconds"] for r in results["after"]))
                print(f"{'':14} before/after read_seconds: {ratio:.2f}x  (file {path.stat().st_size / 1e6:.0f} MB)")
    if "ratings" in args.formats.split(","):
        for data in RATINGS:
            split = ratings_split(Path(workdir), data)
            if split is None:
                skipped.append(f"ratings {data}: {RATINGS[data]} absent")
                continue
            floors = []
            results = measure(binaries, data, split[0], 2, ["--test", split[1], "-k", 40, "--iters", 0, "--quiet"],
                              workdir, args.repeats, floors, phase_lines=2)
            for label, _ in binaries:
                print_row(data, 2, label, results[label], None)
                print(f"{'':14} whole process {statistics.median(r['wall'] for r in results[label]):.3f} s (median); "
                      f"floors: mpirun -np 2 true {statistics.median(f[0] for f in floors):.3f} s, "
                      f"nmf_mpi --version {statistics.median(f[1] for f in floors):.3f} s")
    print(f"load average after: {loadavg()}")
    if ("mtx", 1) in rates:
        targets.append((f"mtx P=1: {rates[('mtx', 1)]:.0f} MB/s per rank >= 250", rates[("mtx", 1)] >= 250))
        if ("mtx", 2) in rates:
            targets.append((f"mtx P=2: {rates[('mtx', 2)]:.0f} MB/s per rank >= 0.8 x P=1 ({0.8 * rates[('mtx', 1)]:.0f})",
                            rates[("mtx", 2)] >= 0.8 * rates[("mtx", 1)]))
    for ranks in ranks_list:
        if ("npy", ranks) in rates:
            targets.append((f"npy P={ranks}: {rates[('npy', ranks)]:.0f} MB/s per rank >= 1000",
                            rates[("npy", ranks)] >= 1000))
    return report_targets(targets, skipped=skipped)


if __name__ == "__main__":
    sys.exit(main())
