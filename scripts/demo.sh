#!/usr/bin/env bash
# Builds nmf_mpi if needed, then factors the built-in example (the origin notebook's 12 x 10 matrix of
# rank 3) on 2 ranks and prints X, A*S and the relative error. Extra arguments go to nmf_mpi.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/build.sh" >/dev/null
source "$root/scripts/mpi-env.sh"
exec "${NMF_MPIRUN[@]}" -np 2 "${NMF_BUILD_DIR:-$root/build}/nmf_mpi" "$@"
