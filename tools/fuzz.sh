#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang in build-fuzz and runs
# each for a bounded time, starting from tests/fuzz/corpus/<target>. An input
# that crashes a parser or breaks its contract is copied to
# tests/fuzz/regressions/<target>/; fuzz_regression_test (label unit) replays
# that directory in every normal build, so commit the file with the fix.
#   tools/fuzz.sh [SECONDS_PER_TARGET]     default 60
# Exit status: 0 when no target found anything, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
build=build-fuzz
tools/setup.sh --fuzz
# Everything is compiled with coverage (fuzzer-no-link) and ASan+UBSan; only
# the fuzz targets link libFuzzer's main.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++-14 -DOUTBOXD_FUZZ=ON -DOUTBOXD_BUILD_BENCH=OFF \
  -DOUTBOXD_CRASH_POINTS=OFF \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" \
  >/dev/null
cmake --build "$build" -j2 --target ingest_fuzzer integration_fuzzer

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
found=0
for target in ingest integration; do
  work="$build/fuzz-work/$target"
  artifacts="$build/fuzz-artifacts/$target"
  rm -rf "$artifacts"
  mkdir -p "$work" "$artifacts"
  echo "fuzz: $target for ${seconds}s"
  status=0
  # New inputs go to $work (first directory); the seeds and regressions are
  # read, never written.
  "$build/tests/fuzz/${target}_fuzzer" -max_total_time="$seconds" -max_len=16384 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -dict="tests/fuzz/$target.dict" \
    -artifact_prefix="$artifacts/" "$work" "tests/fuzz/corpus/$target" \
    "tests/fuzz/regressions/$target" >"$build/fuzz-$target.log" 2>&1 || status=$?
  grep -E '^(stat::number_of_executed_units|stat::new_units_added|#[0-9]+ +DONE)' \
    "$build/fuzz-$target.log" || true
  shopt -s nullglob
  saved=0
  for artifact in "$artifacts"/*; do
    name="$(basename "$artifact")"
    cp "$artifact" "tests/fuzz/regressions/$target/$name"
    echo "fuzz: $target: saved tests/fuzz/regressions/$target/$name"
    saved=1
  done
  shopt -u nullglob
  if ((status != 0 || saved)); then
    echo "fuzz: $target FAILED (exit $status); log: $build/fuzz-$target.log" >&2
    tail -n 30 "$build/fuzz-$target.log" >&2
    found=1
  fi
done
exit "$found"
