#!/usr/bin/env bash
# valgrind memcheck of the end-to-end flow, on a build without sanitizers for
# the baseline x86-64 target (valgrind 3.19 does not decode AVX-512, so no
# -march=native; OpenBLAS is pinned to its Haswell kernels for the same
# reason).
#
#   tests/long/valgrind.sh [BUILD_DIR]      (default build-valgrind)
#
# Configures BUILD_DIR (RelWithDebInfo, TOKENMILL_NATIVE=OFF, no sanitizers)
# if needed, builds tokenmill and tokenmill-train, then runs under memcheck:
# the sample corpus through build (2 threads) -> shards verify / ls / cat ->
# clean -> dedup -> tokenizer encode / decode -> feed to a ring and a short
# training run from it (the trainer also alone from a token file, with a
# checkpoint and --resume). Every run must be clean: no invalid access, no
# use of uninitialised values, no definite leak (--error-exitcode).
# Too slow for CI (a build of its own plus valgrind's 20-50x): run by hand.
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
B=${1:-$src/build-valgrind}
command -v valgrind > /dev/null || { echo "valgrind not found (apt-get install valgrind)"; exit 1; }
if [ ! -f "$B/build.ninja" ]; then
  cmake -S "$src" -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTOKENMILL_NATIVE=OFF \
    -DTOKENMILL_SANITIZE=OFF > /dev/null || exit 1
fi
grep -q '^TOKENMILL_SANITIZE:BOOL=ON' "$B/CMakeCache.txt" && { echo "$B is a sanitizer build"; exit 1; }
grep -q '^TOKENMILL_NATIVE:BOOL=OFF' "$B/CMakeCache.txt" || { echo "$B is built with -march=native (set TOKENMILL_NATIVE=OFF)"; exit 1; }
ninja -C "$B" -j "${JOBS:-2}" tokenmill tokenmill-train > /dev/null || { echo "build failed"; exit 1; }
TM=$B/pipeline/tokenmill
TT=$B/trainer/tokenmill-train
W=$(mktemp -d /tmp/tm_valgrind.XXXXXX)
trap 'rm -rf "$W"' EXIT
# both set: the trainer does not re-exec itself to set them (valgrind would not follow)
export OPENBLAS_CORETYPE=Haswell OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1
VG=(valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite --track-origins=yes --num-callers=30 --quiet)
fails=0 runs=0
vg() { # name, command...
  local name=$1
  shift
  runs=$((runs + 1))
  local t0=$(date +%s)
  "${VG[@]}" --log-file="$W/vg.$name.%p.log" "$@" > "$W/$name.out" 2> "$W/$name.err"
  local rc=$?
  if [ $rc -eq 99 ] || grep -qs 'Invalid \|uninitialised\|definitely lost: [1-9]' "$W"/vg."$name".*.log; then
    echo "FAIL $name: memcheck errors:"; cat "$W"/vg."$name".*.log | head -60; fails=$((fails + 1))
  elif [ $rc -ne 0 ] && [ $rc -ne 3 ]; then
    echo "FAIL $name: exit $rc: $(tail -3 "$W/$name.err")"; fails=$((fails + 1))
  else
    echo "clean  $name ($(( $(date +%s) - t0 )) s, exit $rc)"
  fi
}

/usr/bin/python3 "$src/corpora/gen_sample.py" --docs 25 "$W/in" > /dev/null
opts=(--no-progress --set tokenizer.vocab_size=400 --set shard.max_tokens=8000 --set shard.frame_size=4k)
vg build "$TM" build "${opts[@]}" --threads 2 -o "$W/out" "$W/in/web.jsonl" "$W/in/books" "social=$W/in/social.jsonl" "$W/in/web_html.jsonl"
vg verify "$TM" shards verify "$W/out"
vg ls "$TM" shards ls "$W/out" --ids
first=$(ls "$W"/out/*.tms | head -1)
vg cat "$TM" shards cat "$first" --doc 0 --text --tokenizer "$W/out/tokenizer.json"
vg clean "$TM" clean -o "$W/clean" "$W/in/web.jsonl" "$W/in/web_html.jsonl"
vg dedup "$TM" dedup -o "$W/dedup" "$W/in/web.jsonl"
vg encode "$TM" tokenizer encode --tokenizer "$W/out/tokenizer.json" --lines "$W/in/social.jsonl"
vg decode "$TM" tokenizer decode --tokenizer "$W/out/tokenizer.json" --lines "$W/encode.out"

# the trainer from a token file: train, checkpoint, resume
/usr/bin/python3 "$src/tests/trainer/make_text_tokens.py" "$W/tok" 20 > /dev/null
cat > "$W/train.ini" <<INI
[model]
layers = 1
d_model = 32
heads = 2
seq_len = 32
vocab_size = 256
[train]
batch = 2
steps = 6
threads = 1
out_dir = $W/train
[data]
source = file
train_file = $W/tok/train.u16
val_file = $W/tok/val.u16
[eval]
every = 3
batches = 1
[checkpoint]
every = 3
INI
vg train "$TT" run -c "$W/train.ini"
sed -i 's/^steps = 6/steps = 9/' "$W/train.ini"
vg resume "$TT" run -c "$W/train.ini" --resume
ck=$(ls "$W"/train/ckpt-*.tmc | tail -1)
vg sample "$TT" sample --ckpt "$ck" --prompt "The " --tokens 4 --ids
echo "$runs runs under memcheck, $fails with errors"
[ $fails -eq 0 ]
