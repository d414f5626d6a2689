#!/usr/bin/env bash
# CI fuzz smoke (CTest fuzz_smoke): a clang build of the fuzz targets in
# $TM_BUILD_DIR/fuzz-clang (only those targets), each fuzzed for up to 20 s,
# all of it within FUZZ_SMOKE_SECONDS (default 290: the CI budget is 5
# minutes). Skipped (exit 77) when clang or libFuzzer is missing.
set -uo pipefail
: "${TM_BUILD_DIR:?}" "${TM_SOURCE_DIR:?}"
budget=${FUZZ_SMOKE_SECONDS:-290}
exec bash "$TM_SOURCE_DIR/tests/fuzz/run_fuzz.sh" -b "$TM_BUILD_DIR/fuzz-clang" \
  -s "$TM_BUILD_DIR/tests/fuzz/seeds" -c "$TM_BUILD_DIR/fuzz-corpus" -t 20 -T "$budget" -j "$(nproc)"
