#!/usr/bin/env bash
# Installs the dependencies, builds with ASan+UBSan and runs the whole test
# suite with CTest. Usage: deploy/test.sh [extra ctest args...]
# Environment: BUILD_DIR (default build-asan), JOBS (default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/deps.sh --with-test
BUILD_DIR=${BUILD_DIR:-build-asan}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTOKENMILL_SANITIZE=ON \
  -DTOKENMILL_WERROR=ON -DTOKENMILL_MPI=ON -DCMAKE_C_FLAGS="-O1" -DCMAKE_CXX_FLAGS="-O1" >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}:suppressions=$PWD/tests/asan.supp
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$BUILD_DIR"
ctest --output-on-failure -j "$JOBS" "$@"
