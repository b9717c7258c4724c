#!/usr/bin/env bash
# Builds nmf_mpi and its tests if needed, then runs the whole suite with ctest: unit tests, MPI tests at
# 1, 2 and 4 ranks, and the command-line tests. Extra arguments go to ctest (e.g. -R mpi, -L unit).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="${NMF_BUILD_DIR:-$root/build}"
"$root/scripts/build.sh"
exec ctest --test-dir "$build" --output-on-failure --timeout 300 -j "$(nproc)" "$@"
