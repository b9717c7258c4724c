#!/usr/bin/env bash
# Install exactly what nmf_mpi needs to build, test, benchmark and run its helper scripts on Debian 12.
# Idempotent: packages already present are skipped, and apt-get runs only when something is missing.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config
  # MPI, dense linear algebra, distributed dense linear algebra
  openmpi-bin libopenmpi-dev libopenblas-dev liblapack-dev libscalapack-openmpi-dev
  # command line
  libboost-program-options-dev librandom123-dev nlohmann-json3-dev
  # checksums of the output files (CRC-32)
  zlib1g-dev
  # tests
  libgtest-dev python3 python3-numpy python3-scipy
  # a one-node Slurm for the batch-script test (scripts/slurm-local.sh): controller, node daemon, client, auth
  slurmctld slurmd slurm-client munge
  # benchmarks and measurement
  python3-sklearn hyperfine time
  # plotting helpers
  python3-matplotlib
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
