#!/usr/bin/env bash
# Every program on every file of the bad-input corpus (gen_badinput.py).
#
# Programs: tokenmill build (the bad file beside a good one), clean, dedup,
# tokenizer encode, tokenizer info (the file as tokenizer.json), shards
# verify, shards cat, and tokenmill-train sample (the file as a checkpoint).
# For each (program, file):
#   - the exit code is a documented one (0 ok, 1 runtime, 2 usage, 3 records
#     rejected), never a signal, never a sanitizer report;
#   - a non-zero exit says why on stderr, naming the file (exit 3: the
#     output's quarantine names it);
#   - build: exit 0 or 3, and every document of the good input is in the
#     shards (nothing else lost); rejected records are in the quarantine with
#     the file's name;
#   - memory is bounded: on a build without sanitizers each program runs
#     under `ulimit -v` (BADINPUT_VMEM_MB, default 3072; ASan reserves
#     terabytes of address space, so the limit is skipped under it).
#
#   test_badinput.sh [BIG_MB [NESTED]]
#
# BIG_MB: the single-line file's size (default 100); NESTED: the nested-tags
# HTML's depth (default 100000). CTest runs it with 100 MB and 100000 tags
# (HTML is bounded to 512 levels before parsing: pipeline/clean/html_depth.h).
set -uo pipefail
: "${TOKENMILL:?}" "${TOKENMILL_TRAIN:?}" "${PYTHON:=/usr/bin/python3}" "${TM_SOURCE_DIR:?}"
W=$(mktemp -d /tmp/tm_badinput.XXXXXX)
trap 'rm -rf "$W"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

sanitized=0
if [ -n "${TM_BUILD_DIR:-}" ] && grep -q '^TOKENMILL_SANITIZE:BOOL=ON' "$TM_BUILD_DIR/CMakeCache.txt" 2>/dev/null; then
  sanitized=1
fi
vmem_kb=$(( ${BADINPUT_VMEM_MB:-3072} * 1024 ))

# a good input and a reference build of it alone (tokenizer fixed, so that a
# bad file cannot change the vocabulary)
"$PYTHON" "$TM_SOURCE_DIR/corpora/gen_sample.py" --docs 30 "$W/in" > /dev/null
good="$W/in/web.jsonl"
opts=(--no-progress --threads 2 --set tokenizer.vocab_size=400 --set shard.max_tokens=20000)
"$TOKENMILL" build "${opts[@]}" -o "$W/ref" "$good" > /dev/null 2> "$W/ref.log" ||
  { echo "FAIL: reference build: $(tail -3 "$W/ref.log")"; exit 1; }
tok="$W/ref/tokenizer.json"
shard=$(ls "$W"/ref/*.tms | head -1)
ndocs() { "$PYTHON" -c 'import json,sys; print(sum(s["documents"] for s in json.load(open(sys.argv[1]))["shards"]))' "$1/manifest.json"; }
ref_docs=$(ndocs "$W/ref")
# a real checkpoint is not needed: the trainer must refuse every bad file

"$PYTHON" "$TM_SOURCE_DIR/tests/badinput/gen_badinput.py" --big-mb "${1:-100}" --nested "${2:-100000}" \
  --shard "$shard" "$W/bad" > /dev/null || { echo "FAIL: gen_badinput.py"; exit 1; }

# run NAME ALLOWED_CODES FILE -- CMD...: one program on one file, with the checks above
run() {
  local name=$1 allowed=$2 file=$3
  shift 4
  local base
  base=$(basename "$file")
  (
    [ $sanitized -eq 1 ] || ulimit -v "$vmem_kb"
    exec "$@"
  ) > "$W/out" 2> "$W/err"
  local rc=$?
  last_rc=$rc
  if grep -q 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$W/err"; then
    fail "$name $base: sanitizer report: $(grep -m1 -A3 'ERROR\|runtime error' "$W/err")"
  elif [ $rc -ge 128 ] || [ $rc -gt 3 ]; then
    fail "$name $base: exit $rc (a signal or undocumented code): $(tail -3 "$W/err")"
  elif ! [[ ",$allowed," == *",$rc,"* ]]; then
    fail "$name $base: exit $rc, want one of $allowed: $(tail -3 "$W/err")"
  elif [ $rc -ne 0 ] && ! grep -qF "$base" "$W/err" &&
       ! { [ $rc -eq 3 ] && grep -rqF "$base" "$W/o" 2>/dev/null; }; then
    # exit 3: the rejected records are named in the output's quarantine
    fail "$name $base: exit $rc without naming the file (stderr, or the quarantine for 3): $(tail -3 "$W/err")"
  fi
  printf '%-18s %-26s exit %d\n' "$name" "$base" $rc >> "$W/table"
}

n=0
while IFS=$'\t' read -r f what; do
  file="$W/bad/$f"
  n=$((n + 1))
  o="$W/o"
  rm -rf "$o"
  run build 0,3 "$file" -- "$TOKENMILL" build "${opts[@]}" --tokenizer "$tok" -o "$o/b" "$good" "$file"
  if [ "$last_rc" = 0 ] || [ "$last_rc" = 3 ]; then
    got=$(ndocs "$o/b")
    [ "$got" -ge "$ref_docs" ] || fail "build $f: $got documents in the shards, the good input alone gives $ref_docs (data lost)"
    "$TOKENMILL" shards verify "$o/b" > /dev/null 2>&1 || fail "build $f: output does not verify"
    if [ "$last_rc" = 3 ]; then
      grep -qF "$f" "$o/b/quarantine/errors.jsonl" 2>/dev/null || fail "build $f: exit 3 but the quarantine does not name the file"
    fi
  fi
  run clean 0,1,3 "$file" -- "$TOKENMILL" clean -o "$o/c" "$file"
  run dedup 0,1,3 "$file" -- "$TOKENMILL" dedup -o "$o/d" "$file"
  run encode 0,1 "$file" -- "$TOKENMILL" tokenizer encode --tokenizer "$tok" "$file"
  run tokenizer-info 1,2 "$file" -- "$TOKENMILL" tokenizer info --tokenizer "$file"
  run shards-verify 1 "$file" -- "$TOKENMILL" shards verify "$file"
  run shards-cat 1 "$file" -- "$TOKENMILL" shards cat "$file"
  run train-sample 1,2 "$file" -- "$TOKENMILL_TRAIN" sample --ckpt "$file" --prompt a --tokens 1
done < "$W/bad/INDEX.tsv"
cat "$W/table"
[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "PASS: 8 programs x $n bad files: documented exit codes, clear errors naming the file, nothing lost$([ $sanitized -eq 1 ] && echo " (ASan: no ulimit)" || echo ", under ulimit -v $((vmem_kb / 1024)) MB")"
