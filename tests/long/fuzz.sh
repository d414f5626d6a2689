#!/usr/bin/env bash
# Long fuzzing run: every libFuzzer target for HOURS in all (split evenly).
#
#   tests/long/fuzz.sh HOURS [TARGET...]
#
# Builds the targets with clang (-DTOKENMILL_FUZZ=ON) in $FUZZ_BUILD_DIR
# (default build-fuzz), and `tokenmill` there too for the seed corpora
# (tests/fuzz/gen_seeds.py). Corpora grow in $FUZZ_CORPUS_DIR (default
# fuzz-corpus/, kept between runs: a later run starts where this one
# stopped). Crashes land in $FUZZ_CORPUS_DIR/crashes/; once fixed, copy each
# into tests/fuzz/regress/<target>/ so every build replays it.
# At the end prints executions and CPU-hours per target, from this run and
# all runs logged in $FUZZ_CORPUS_DIR/fuzz-log.tsv.
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: tests/long/fuzz.sh HOURS [TARGET...]" >&2; exit 2; }
hours=$1
shift
src=$(cd "$(dirname "$0")/../.." && pwd)
B=${FUZZ_BUILD_DIR:-$src/build-fuzz}
C=${FUZZ_CORPUS_DIR:-$src/fuzz-corpus}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$src"/tests/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c | sed 's/^fuzz_//')"); done
fi
total=$(/usr/bin/python3 -c "print(int(float('$hours') * 3600))")
per=$(( total / ${#targets[@]} ))
[ $per -ge 10 ] || per=10
bash "$src/tests/fuzz/run_fuzz.sh" -b "$B" -c "$C" -t 0 -j "${JOBS:-$(nproc)}" "${targets[@]}" || exit 1
ninja -C "$B" -j "${JOBS:-$(nproc)}" tokenmill > /dev/null || { echo "building tokenmill in $B failed"; exit 1; }
/usr/bin/python3 "$src/tests/fuzz/gen_seeds.py" --tokenmill "$B/pipeline/tokenmill" "$B/seeds" || exit 1
echo "fuzzing ${#targets[@]} targets, $per s each ($hours h)"
bash "$src/tests/fuzz/run_fuzz.sh" -b "$B" -s "$B/seeds" -c "$C" -t "$per" -j "${JOBS:-$(nproc)}" "${targets[@]}"
rc=$?
echo "all runs logged in $C/fuzz-log.tsv:"
awk -F'\t' '{runs[$2] += $3; secs[$2] += $4; if ($5 != "ok") bad[$2]++}
  END {for (t in runs) { printf "  fuzz_%-12s %12d runs %8.3f CPU-hours %d failed runs\n", t, runs[t], secs[t] / 3600, bad[t];
       R += runs[t]; S += secs[t] }
       printf "  total %d executions, %.3f CPU-hours\n", R, S / 3600}' "$C/fuzz-log.tsv"
exit $rc
