#!/usr/bin/env bash
# Installs what is missing (Debian packages), then configures and builds nmf_mpi and its tests in
# build/ (Release). Safe to run again: both steps skip what is already done.
# Usage: scripts/build.sh [extra cmake configure arguments]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="${NMF_BUILD_DIR:-$root/build}"

"$root/scripts/install-deps.sh"
if [ ! -f "$build/CMakeCache.txt" ] || [ $# -gt 0 ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release "$@"
fi
cmake --build "$build" -j "$(nproc)"
