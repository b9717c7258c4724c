#!/usr/bin/python3
"""Cost of als --ls qr against --ls normal (issue 12): seconds per iteration on the dense benchmark matrix.

Fashion-MNIST t10k images (10000 x 784, dense; skipped with exit 77 if absent), -k K (20), --algo als --tol 0
--iters N (20), at each P of --ranks (1,2), the two --ls choices alternating, --repeats times (3). Prints the median
seconds per iteration of each, their ratio (qr / normal) and both final errors. OPENBLAS_NUM_THREADS=1.

usage: bench/bench_ls_qr.py [--build-dir build] [--workdir /tmp/nmf_bench_ls_qr] [--ranks 1,2] [--repeats 3]
                            [--iters 20] [--k 20]
"""
import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import EXIT_SKIPPED, FASHION, ROOT, prepare, run_nmf_summary  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default=str(ROOT / "build"))
    parser.add_argument("--workdir", default="/tmp/nmf_bench_ls_qr")
    parser.add_argument("--ranks", default="1,2")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--k", type=int, default=20)
    args = parser.parse_args()
    if not FASHION.exists():
        print(f"SKIP: {FASHION} not found (the shared data)")
        return EXIT_SKIPPED
    binary, workdir = prepare(args.build_dir, args.workdir)[:2]
    print(f"load before: {os.getloadavg()}")
    print(f"{'P':>2} {'normal s/it':>12} {'qr s/it':>10} {'qr/normal':>10} {'normal err':>11} {'qr err':>10}")
    for ranks in (int(r) for r in args.ranks.split(",")):
        seconds, errors = {"normal": [], "qr": []}, {}
        for repeat in range(args.repeats):
            for ls in ("normal", "qr"):
                summary = run_nmf_summary(binary, ranks, ["-i", FASHION, "-k", args.k, "--algo", "als", "--ls", ls,
                                                          "--tol", 0, "--iters", args.iters, "--quiet"],
                                          workdir / f"{ls}_np{ranks}_r{repeat}")
                if isinstance(summary, str):
                    sys.exit(f"run failed: {summary}")
                seconds[ls].append(summary["seconds_per_iteration"])
                errors[ls] = summary["relative_error"]
        normal, qr = statistics.median(seconds["normal"]), statistics.median(seconds["qr"])
        print(f"{ranks:>2} {normal:12.4f} {qr:10.4f} {qr / normal:10.2f} {errors['normal']:11.6f} {errors['qr']:10.6f}")
    print(f"load after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
