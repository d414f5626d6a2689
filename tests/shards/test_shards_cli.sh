#!/usr/bin/env bash
# End to end for `tokenmill shards`: pack sample documents, ls, verify, cat
# (ids and text), an independent Python reader, corruption detection by
# verify, and the three export formats read back with numpy.
set -euo pipefail
: "${TOKENMILL:?}" "${PYTHON:=/usr/bin/python3}" "${TM_SOURCE_DIR:?}"
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/tm_shards_cli.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$PYTHON" "$TM_SOURCE_DIR/corpora/gen_sample.py" --docs 60 "$work/in"
"$TOKENMILL" shards pack --bytelevel -o "$work/out" --max-tokens 200000 --frame-size 16k \
  "$work/in/web.jsonl" "$work/in/zh.jsonl" "$work/in/books" 2>"$work/pack.log" \
  && rc=0 || rc=$?
# books/ is a directory: the reader refuses it and pack reports a rejected input (exit 3)
[ "$rc" = 3 ] || fail "pack exit code $rc, expected 3 (one rejected input)"
"$TOKENMILL" shards pack --bytelevel -o "$work/out" --source books "$work/in"/books/*.txt \
  2>>"$work/pack.log" || fail "pack books"
"$TOKENMILL" shards pack --bytelevel -o "$work/out" --source social "$work/in/social.jsonl" \
  2>>"$work/pack.log" || fail "pack social"

"$TOKENMILL" shards ls "$work/out" > "$work/ls.txt"
grep -q '^shards ' "$work/ls.txt" || fail "ls summary"
nshards=$(awk '/^shards /{print $2}' "$work/ls.txt")
[ "$nshards" -ge 3 ] || fail "expected several shards, got $nshards"
ndocs=$(awk '/^documents /{print $2}' "$work/ls.txt")
expect=$(cat "$work/in/web.jsonl" "$work/in/zh.jsonl" "$work/in/social.jsonl" | wc -l)
expect=$((expect + $(ls "$work/in"/books/*.txt | wc -l)))
[ "$ndocs" = "$expect" ] || fail "ls says $ndocs documents, expected $expect"
"$TOKENMILL" shards ls "$work/out" --ids > "$work/ids.txt"
[ "$(wc -l < "$work/ids.txt")" = "$expect" ] || fail "ls --ids line count"
grep -q $'\tsocial\t' "$work/ids.txt" || fail "social source tag missing"
grep -q $'\tbooks\t' "$work/ids.txt" || fail "books source tag missing"

"$TOKENMILL" shards verify "$work/out" || fail "verify of a good directory"

# cat: ids equal the independent Python reader's; text equals the input
for s in "$work"/out/*.tms; do
  "$TOKENMILL" shards cat "$s" > "$work/cat.txt"
  "$PYTHON" "$here/read_tms.py" "$s" | cut -d' ' -f3- > "$work/py.txt"
  # documents with no tokens print an empty line in both
  diff -q <(sed 's/ *$//' "$work/cat.txt") <(sed 's/ *$//' "$work/py.txt") >/dev/null \
    || fail "python reader disagrees with shards cat on $s"
done
"$PYTHON" - "$TOKENMILL" "$work" <<'PY'
import json, subprocess, sys
tm, work = sys.argv[1], sys.argv[2]
docs = [json.loads(l)["text"] for l in open(work + "/in/web.jsonl", encoding="utf-8")]
for i in (0, 1, 7, 42):
    out = subprocess.run([tm, "shards", "cat", work + "/out/s-000000.tms", "--doc", str(i), "--text"],
                         check=True, capture_output=True).stdout.decode("utf-8")
    assert out == docs[i], "text of document %d differs" % i
print("cat --text: input text recovered")
PY

# one corrupt byte in the middle of a shard: verify fails naming file and offset
cp -r "$work/out" "$work/bad"
s=$(ls "$work"/bad/*.tms | head -1)
size=$(stat -c %s "$s")
printf '\x55' | dd of="$s" bs=1 seek=$((size / 2)) conv=notrunc status=none
if "$TOKENMILL" shards verify "$work/bad" 2> "$work/verify.err"; then fail "verify missed a corrupt byte"; fi
grep -q "offset" "$work/verify.err" || fail "verify error names no offset: $(cat "$work/verify.err")"
grep -q "$(basename "$s")" "$work/verify.err" || fail "verify error names no file"
# a truncated shard
cp "$work/out/s-000000.tms" "$work/trunc.tms"
truncate -s 1000 "$work/trunc.tms"
if "$TOKENMILL" shards verify "$work/trunc.tms" 2>/dev/null; then fail "verify missed a truncation"; fi

# export, read back independently
for f in llmc megatron datatrove; do
  "$TOKENMILL" shards export --format "$f" -o "$work/exp/$f" "$work/out" >/dev/null || fail "export $f"
done
"$PYTHON" "$here/read_tms.py" --check-exports "$work/out" "$work/exp"
if "$TOKENMILL" shards export --format nope -o "$work/x" "$work/out" 2>/dev/null; then fail "bad format accepted"; fi
echo "shards cli: 1 passed, 0 failed"
