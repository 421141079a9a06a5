#!/usr/bin/env bash
# Sets up the dependencies, builds outboxd and runs its tests with ctest.
#   tools/test.sh                       everything a user needs: unit + net + crash
#   --sanitize address,undefined|thread build with sanitizers
#   --build-dir DIR                     build directory (default: build)
#   --labels REGEX                      ctest label filter (default: all)
#   --targets "T1 T2"                   build only these targets (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=""; build_dir=build; labels=""; targets=""
while (($#)); do
  case "$1" in
    --sanitize) sanitize="$2"; shift 2 ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    --labels) labels="$2"; shift 2 ;;
    --targets) targets="$2"; shift 2 ;;
    *) echo "test.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
tools/setup.sh
build_type=RelWithDebInfo
[[ -n "$sanitize" ]] && build_type=Debug
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" \
  -DOUTBOXD_SANITIZE="$sanitize" -DOUTBOXD_BUILD_BENCH="$([[ -n $sanitize ]] && echo OFF || echo ON)" >/dev/null
if [[ -n "$targets" ]]; then
  # shellcheck disable=SC2086
  cmake --build "$build_dir" -j2 --target $targets
else
  cmake --build "$build_dir" -j2
fi
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
args=(--test-dir "$build_dir" --output-on-failure -j2 --timeout 600)
[[ -n "$labels" ]] && args+=(-L "$labels")
ctest "${args[@]}"
