#!/usr/bin/env bash
# Fuzzes the parsers of user input with libFuzzer (`make fuzz`): installs
# clang and its runtime libraries from Debian when missing, builds the
# fuzz_* targets of fuzz/CMakeLists.txt in a separate build folder, and runs
# each for FUZZ_SECONDS seconds on a working copy of fuzz/corpus/<target>
# (the repository's seeds are never modified). Exits non-zero when any
# target crashes, leaks, hangs past -timeout or exceeds -rss_limit_mb; the
# input that did it is kept in BUILD/artifacts/<target>/.
#
# Environment: FUZZ_SECONDS (default 60), FUZZ_BUILD (default build-fuzz),
# JOBS (default: number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
build=${FUZZ_BUILD:-build-fuzz}
jobs=${JOBS:-$(nproc)}
targets=(config csv npy idx)

# clang, and libFuzzer with the sanitizer runtimes: on Debian bookworm
# `clang` is clang-14 and `libclang-rt-dev` is libclang-rt-14-dev, which
# clang only recommends (so --no-install-recommends would leave it out).
bash scripts/setup.sh clang libclang-rt-dev

CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDIFFGEN_FUZZ=ON >/dev/null
cmake --build "$build" -j "$jobs" --target "${targets[@]/#/fuzz_}" -- --no-print-directory

# Stack traces for undefined behaviour; leaks are reported by ASan.
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
for target in "${targets[@]}"; do
  corpus="$build/fuzz/corpus/$target"
  artifacts="$build/fuzz/artifacts/$target"
  log="$build/fuzz/$target.log"
  # The working corpus keeps what earlier runs found; the seeds are added
  # again in case they changed.
  mkdir -p "$corpus" "$artifacts"
  cp fuzz/corpus/"$target"/* "$corpus"/
  echo "fuzz_$target: running ${seconds} s (log: $log)"
  result=ok
  if ! "$build/fuzz/fuzz_$target" "$corpus" -dict="fuzz/$target.dict" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1; then
    result=FAILED
    status=1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  echo "fuzz_$target: $result, ${runs:-?} executions; last status: ${last:-none}"
  if [ "$result" = FAILED ]; then
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written|==[0-9]+==' "$log" | head -n 20 || true
    echo "fuzz_$target: full report in $log; inputs in $artifacts/" >&2
  fi
done
exit $status
