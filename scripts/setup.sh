#!/usr/bin/env bash
# Installs diffgen's system dependencies from Debian packages when missing.
# Usage: scripts/setup.sh [PACKAGE...]
# Idempotent: a package already present is not touched. Needs root (or sudo).
set -euo pipefail

# With arguments, installs those packages instead (e.g. the fuzzers' clang).
default_packages=(
  build-essential cmake pkg-config
  libeigen3-dev        # numeric core
  libcli11-dev         # command line
  libtomlplusplus-dev  # configuration files
  nlohmann-json3-dev   # summary.json
  libkainjow-mustache-dev  # report templates
  zlib1g-dev           # gzipped IDX image files (Fashion-MNIST)
  libfmt-dev           # formatting
  libgtest-dev libgmock-dev  # tests
  libbenchmark-dev     # benchmarks
  gnuplot-nox          # plots (pngcairo terminal)
  libopenmpi-dev openmpi-bin  # sweeps over MPI ranks (mpirun -n K diffgen sweep ...)
)
if [ $# -gt 0 ]; then packages=("$@"); else packages=("${default_packages[@]}"); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root to install: ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
