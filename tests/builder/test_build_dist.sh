#!/usr/bin/env bash
# A distributed build (2 ranks on one machine, through mpirun when OpenMPI is
# installed, else two processes with --rank/--world) keeps the same documents,
# in the same order, with the same tokens and tokenizer, as a one-process
# build; shard boundaries may differ. A rerun of a finished distributed build
# changes nothing; a failed rank stops the others with its error.
set -euo pipefail
: "${TOKENMILL:?}" "${PYTHON:=/usr/bin/python3}" "${TM_SOURCE_DIR:?}"
work=$(mktemp -d /tmp/tm_build_dist.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
"$PYTHON" "$TM_SOURCE_DIR/corpora/gen_sample.py" --docs 200 "$work/in"
inputs=("$work/in/web.jsonl" "$work/in/books" "social=$work/in/social.jsonl" "$work/in/zh.jsonl")
opts=(--no-progress --set tokenizer.vocab_size=1000 --set shard.max_tokens=30000 --set shard.frame_size=16k)

"$TOKENMILL" build "${opts[@]}" -o "$work/one" "${inputs[@]}" > /dev/null 2>&1 || fail "one-process build"
if command -v mpirun > /dev/null 2>&1; then
  how=mpirun
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -np 2 \
    "$TOKENMILL" build "${opts[@]}" -o "$work/two" "${inputs[@]}" > "$work/two.log" 2>&1 || fail "mpirun build: $(tail -3 "$work/two.log")"
else
  how="two processes"
  "$TOKENMILL" build "${opts[@]}" --rank 1 --world 2 -o "$work/two" "${inputs[@]}" > "$work/r1.log" 2>&1 &
  p1=$!
  "$TOKENMILL" build "${opts[@]}" --rank 0 --world 2 -o "$work/two" "${inputs[@]}" > "$work/r0.log" 2>&1 || fail "rank 0: $(tail -3 "$work/r0.log")"
  wait "$p1" || fail "rank 1: $(tail -3 "$work/r1.log")"
fi
"$TOKENMILL" shards verify "$work/two" > /dev/null || fail "verify"
ls "$work"/two/r0000-*.tms "$work"/two/r0001-*.tms > /dev/null || fail "shards of both ranks expected"
cmp -s "$work/one/tokenizer.json" "$work/two/tokenizer.json" || fail "tokenizers differ"
seq_of() { # the documents in manifest order: id, source, tokens
  for s in $("$PYTHON" -c "import json,sys; print(' '.join(x['name'] for x in json.load(open(sys.argv[1]+'/manifest.json'))['shards']))" "$1"); do
    "$TOKENMILL" shards cat "$1/$s"
  done
}
[ "$("$TOKENMILL" shards ls "$work/one" --ids | cut -f3-5 | md5sum)" = "$("$TOKENMILL" shards ls "$work/two" --ids | cut -f3-5 | md5sum)" ] \
  || fail "document ids/sources/order differ"
[ "$(seq_of "$work/one" | md5sum)" = "$(seq_of "$work/two" | md5sum)" ] || fail "tokens differ"
"$PYTHON" - "$work" <<'PY'
import json, sys
w = sys.argv[1]
a = json.load(open(w + "/one/stats.json"))["totals"]; b = json.load(open(w + "/two/stats.json"))["totals"]
for k in ("docs_in", "kept", "dropped", "exact_dups", "near_dups", "tokens"):
    assert a[k] == b[k], (k, a[k], b[k])
PY
gen=$("$PYTHON" -c "import json; print(json.load(open('$work/two/manifest.json'))['generation'])")
"$TOKENMILL" build "${opts[@]}" --rank 1 --world 2 -o "$work/two" "${inputs[@]}" > /dev/null 2>&1 &
p1=$!
"$TOKENMILL" build "${opts[@]}" --rank 0 --world 2 -o "$work/two" "${inputs[@]}" > /dev/null 2>&1 || fail "rerun"
wait "$p1" || fail "rerun rank 1"
[ "$("$TOKENMILL" shards ls "$work/two" --ids | cut -f3-5 | md5sum)" = "$("$TOKENMILL" shards ls "$work/one" --ids | cut -f3-5 | md5sum)" ] || fail "rerun changed the result"
# a rank that fails: the other stops with its error instead of waiting forever
mkdir -p "$work/bad/.dist/rank-1"
echo "disk full (test)" > "$work/bad/.dist/rank-1/failed"
rc=0; timeout 60 "$TOKENMILL" build "${opts[@]}" --rank 0 --world 2 -o "$work/bad" "${inputs[@]}" > /dev/null 2> "$work/bad.err" || rc=$?
[ "$rc" = 1 ] && grep -q "rank 1 of 2 failed: disk full" "$work/bad.err" || fail "failed rank not reported (exit $rc): $(tail -2 "$work/bad.err")"
echo "build_dist ($how): 1 passed, 0 failed"
