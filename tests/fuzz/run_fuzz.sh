#!/usr/bin/env bash
# run_fuzz.sh - build the libFuzzer targets with clang and fuzz each one.
#
#   run_fuzz.sh -b BUILD_DIR -s SEEDS_DIR -c CORPUS_DIR -t SECONDS_PER_TARGET
#               [-T TOTAL_SECONDS] [-j JOBS] [TARGET...]
#
# Configures SOURCE (this repository) into BUILD_DIR with clang and
# -DTOKENMILL_FUZZ=ON, builds only the fuzz targets (fuzz_all), then runs
# each target for SECONDS_PER_TARGET seconds (less when TOTAL_SECONDS, counted
# from the start of this script, would otherwise run out), on CORPUS_DIR/NAME
# (kept between runs: it grows), seeded from SEEDS_DIR/NAME and
# tests/fuzz/regress/NAME. A crash leaves its input in CORPUS_DIR/crashes/
# and fails the run: copy it to tests/fuzz/regress/NAME/ once fixed.
# -t 0 only builds. Prints one line per target (executions, seconds, corpus size) and a total;
# appends them to CORPUS_DIR/fuzz-log.tsv (date, target, runs, seconds,
# result) so CPU-hours can be summed later.
# Exit: 0 clean, 1 a crash/leak/timeout, 77 clang or libFuzzer missing.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
start=$(date +%s)
build= seeds= corpus= per=20 total=0 jobs=2
while getopts "b:s:c:t:T:j:" o; do
  case $o in
  b) build=$OPTARG ;; s) seeds=$OPTARG ;; c) corpus=$OPTARG ;; t) per=$OPTARG ;;
  T) total=$OPTARG ;; j) jobs=$OPTARG ;; *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ -n "$build" ] && [ -n "$corpus" ] || { echo "usage: run_fuzz.sh -b BUILD -c CORPUS [-s SEEDS] [-t S] [-T S] [TARGET...]" >&2; exit 2; }

CC=${FUZZ_CC:-clang} CXX=${FUZZ_CXX:-clang++}
if ! command -v "$CC" >/dev/null || ! command -v "$CXX" >/dev/null; then
  echo "SKIP: $CC/$CXX not found (apt-get install clang): fuzz targets not built"; exit 77
fi
probe=$(mktemp -d /tmp/tm_fuzzprobe.XXXXXX)
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' > "$probe/p.c"
if ! "$CC" -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" 2> "$probe/err"; then
  echo "SKIP: $CC cannot link libFuzzer ($(head -1 "$probe/err")): install libclang-rt-dev"; rm -rf "$probe"; exit 77
fi
rm -rf "$probe"

if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER="$CC" \
    -DCMAKE_CXX_COMPILER="$CXX" -DTOKENMILL_FUZZ=ON -DTOKENMILL_NATIVE=OFF -DBUILD_TESTING=ON \
    > "$build.cmake.log" 2>&1 || { echo "FAIL: configure (see $build.cmake.log)"; tail -20 "$build.cmake.log"; exit 1; }
fi
t0=$(date +%s)
goals=(fuzz_all)
[ $# -gt 0 ] && goals=("${@/#/fuzz_}") # only the targets named
if ! ninja -C "$build" -j "$jobs" "${goals[@]}" > "$build.ninja.log" 2>&1; then
  echo "FAIL: building the fuzz targets"; grep -A8 FAILED "$build.ninja.log" | head -40; exit 1
fi
echo "fuzz targets built in $(( $(date +%s) - t0 )) s"
[ "$per" = 0 ] && exit 0 # -t 0: build only

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$build"/tests/fuzz/fuzz_*; do [ -x "$f" ] && targets+=("$(basename "$f" | sed 's/^fuzz_//')"); done
fi
mkdir -p "$corpus/crashes"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}:suppressions=$src/tests/asan.supp
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0 left=${#targets[@]} all_runs=0 all_secs=0
for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/fuzz_$t"
  [ -x "$bin" ] || { echo "FAIL: no target fuzz_$t"; status=1; left=$((left - 1)); continue; }
  secs=$per
  if [ "$total" -gt 0 ]; then
    remain=$(( total - ($(date +%s) - start) ))
    share=$(( remain / left ))
    [ "$share" -lt "$secs" ] && secs=$share
    [ "$secs" -lt 3 ] && secs=3
  fi
  left=$((left - 1))
  mkdir -p "$corpus/$t"
  dirs=("$corpus/$t")
  [ -n "$seeds" ] && [ -d "$seeds/$t" ] && dirs+=("$seeds/$t")
  [ -d "$here/regress/$t" ] && dirs+=("$here/regress/$t")
  dict=()
  [ -f "$here/dict/$t.dict" ] && dict=(-dict="$here/dict/$t.dict")
  log="$corpus/$t.log"
  "$bin" "${dict[@]}" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2560 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$corpus/crashes/$t-" "${dirs[@]}" > "$log" 2>&1
  rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  runs=${runs:-0}
  size=$(ls "$corpus/$t" | wc -l)
  result=ok
  if [ $rc -ne 0 ]; then
    result=FAIL
    status=1
    echo "FAIL: fuzz_$t exit $rc; input kept in $corpus/crashes/; report:"
    grep -m1 -B2 -A30 'ERROR: \|runtime error\|==ERROR\|deadly signal\|Timeout\|out-of-memory' "$log" | head -60
  fi
  printf 'fuzz_%-12s %-4s %10s runs %4s s  corpus %5s files\n' "$t" "$result" "$runs" "$secs" "$size"
  printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" "$runs" "$secs" "$result" >> "$corpus/fuzz-log.tsv"
  all_runs=$((all_runs + runs)) all_secs=$((all_secs + secs))
done
echo "total: $all_runs executions in $all_secs s of fuzzing ($(( $(date +%s) - start )) s wall)"
exit $status
