#!/usr/bin/env bash
# test_clean_cli.sh - `tokenmill clean` end to end: outputs, quarantine,
# stats, exit codes, --explain, --print-profile.
set -u
T=${TOKENMILL:?}
PY=${PYTHON:-/usr/bin/python3}
SRC=${TM_SOURCE_DIR:?}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi; }

prose='The old lighthouse stood at the edge of the cliff, watching over the harbor below.\nEvery evening the keeper climbed the narrow stairs to light the great lamp.\nShips that passed in the night relied on its steady beam to find their way home.\nIn the winter months, storms battered the coast with waves taller than houses.\nThe keeper kept a journal of every vessel that sailed past the rocky point.\nHis daughter learned to read the weather from the shape of the clouds.\nWrite to her at keeper@example.org for a copy of the journal.'
printf '{"id":"good","url":"http://e.com/a","text":"%s"}\n' "$prose" > "$dir/in.jsonl"
printf '{"id":"junk","text":"Click here\\nBuy now"}\n' >> "$dir/in.jsonl"
printf '{"id":"broken", "text": "unterminated\n' >> "$dir/in.jsonl"
printf '{"id":"notext","body":"x"}\n' >> "$dir/in.jsonl"
# 4000 varied records (zstd blocks are 128 KiB), compressed and cut short:
# the records in the blocks before the cut survive
"$PY" - "$dir" <<'PY'
import json, random, sys, zstandard
d = sys.argv[1]
rng = random.Random(7)
words = open(d + "/in.jsonl").read().split()
lines = []
for i in range(4000):
    text = " ".join(rng.choice(words) for _ in range(60))
    lines.append(json.dumps({"id": "good-%d" % i, "text": text}))
data = ("\n".join(lines) + "\n").encode()
z = zstandard.ZstdCompressor(level=3, write_checksum=True).compress(data)
open(d + "/cut.bin", "wb").write(z[: len(z) * 2 // 3])
PY

"$T" clean --profile web -o "$dir/out" "$dir/in.jsonl" 2>"$dir/err.txt"
rc=$?
check "exit 3 when records were rejected" "[ $rc -eq 3 ]"
check "kept.jsonl has the good document, PII redacted" \
  "grep -q '\"id\": *\"good\"' $dir/out/kept.jsonl && grep -q '<EMAIL>' $dir/out/kept.jsonl"
check "rejects.jsonl names the rule" "grep -q '\"id\": *\"junk\".*\"reason\": *\"c4\\.' $dir/out/rejects.jsonl"
check "quarantine has both bad lines with file and line" \
  "[ \$(wc -l < $dir/out/quarantine/records.jsonl) -eq 2 ] && grep -q '\"line\": *3' $dir/out/quarantine/records.jsonl && grep -q 'in.jsonl' $dir/out/quarantine/records.jsonl"
check "the malformed record itself is quarantined" "grep -q 'unterminated' $dir/out/quarantine/records.jsonl"
# an input whose file name is not UTF-8 (Latin-1 e-acute): its quarantine
# record still names the file (the byte replaced by U+FFFD)
lat1="$dir/caf$(printf '\351').jsonl"
cp "$dir/in.jsonl" "$lat1"
"$T" clean --profile web -o "$dir/out8" "$lat1" 2>/dev/null
"$PY" - "$dir/out8/quarantine/records.jsonl" <<'PY' || fail=1
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
ok = len(recs) == 2 and all(r.get("file", "").endswith("caf\ufffd.jsonl") for r in recs)
print(("ok" if ok else "FAIL") + ": quarantine records name a non-UTF-8 input file")
sys.exit(0 if ok else 1)
PY
check "no .tmp files left" "[ -z \"\$(find $dir/out -name '*.tmp')\" ]"
"$PY" - "$dir/out/stats.json" <<'PY' || fail=1
import json, sys
s = json.load(open(sys.argv[1]))["sources"]["web"]
assert s["in"]["docs"] == 2, s["in"]
assert s["kept"]["docs"] == 1 and s["dropped"]["docs"] == 1, s
assert sum(v["docs"] for v in s["dropped_by_rule"].values()) == 1
assert s["reader"]["rejected"] == 2 and s["reader"]["records"] == 2, s["reader"]
assert s["counts"]["pii_email"] == 1
print("ok: stats.json counts")
PY

"$T" clean --profile web -o "$dir/out2" "$dir/cut.bin" 2>"$dir/err2.txt"
rc=$?
check "truncated zstd: exit 3, the error names the file" "[ $rc -eq 3 ] && grep -q 'truncated zstd' $dir/out2/quarantine/records.jsonl"
check "truncated zstd: the records before the cut are read" \
  "[ \$(cat $dir/out2/kept.jsonl $dir/out2/rejects.jsonl | grep -c 'good-') -ge 1000 ]"

printf '{"id":"a","text":"%s"}\n' "$prose" > "$dir/clean.jsonl"
"$T" clean -o "$dir/out3" "$dir/clean.jsonl" 2>/dev/null
check "exit 0 when every record was read" "[ $? -eq 0 ]"
"$T" clean -o "$dir/out4" "$dir/clean.jsonl" "$dir/missing.jsonl" 2>/dev/null
check "exit 1 for a missing input (the others still processed)" "[ $? -eq 1 ] && grep -q '\"a\"' $dir/out4/kept.jsonl"
"$T" clean -o "$dir/out5" 2>/dev/null
check "exit 2 without inputs" "[ $? -eq 2 ]"
"$T" clean --profile nosuch -o "$dir/out5" "$dir/clean.jsonl" 2>/dev/null
check "exit 2 for an unknown profile" "[ $? -eq 2 ]"
"$T" clean --set clean.web.gopher_min_doc_words=abc -o "$dir/out5" "$dir/clean.jsonl" 2>/dev/null
check "exit 2 for a bad value" "[ $? -eq 2 ]"
"$T" clean --set clean.web.gopher_min_doc_words=500 -o "$dir/out6" "$dir/clean.jsonl" 2>/dev/null
check "--set overrides the profile" "grep -q 'gopher_quality.short_doc' $dir/out6/rejects.jsonl"

"$T" clean --explain good "$dir/in.jsonl" > "$dir/explain.txt" 2>/dev/null
check "--explain prints every rule and the verdict" \
  "grep -q 'gopher_quality.short_doc' $dir/explain.txt && grep -q 'fineweb.list_ratio' $dir/explain.txt && grep -q '^verdict: modified' $dir/explain.txt"
"$T" clean --explain nosuch "$dir/clean.jsonl" >/dev/null 2>&1
check "--explain of an unknown id is an error" "[ $? -eq 1 ]"

for p in web books social; do
  "$T" clean --print-profile $p > "$dir/$p.ini"
  check "corpora/profiles/$p.ini is what --print-profile writes" "cmp -s $dir/$p.ini $SRC/corpora/profiles/$p.ini"
done
"$T" clean -c "$SRC/corpora/profiles/social.ini" --profile social -o "$dir/out7" "$dir/clean.jsonl" 2>/dev/null
check "a profile file loads" "[ $? -eq 0 ] && grep -q '\"social\"' $dir/out7/stats.json"
"$T" clean --help | grep -q 'explain'
check "--help" "[ $? -eq 0 ]"
exit $fail
