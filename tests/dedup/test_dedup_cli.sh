#!/usr/bin/env bash
# End-to-end test of `tokenmill dedup`: planted exact/near duplicates (English
# and Chinese) are removed and unrelated documents kept; malformed lines are
# quarantined (exit 3); the persistent index survives kill -9 (injected at the
# checkpoint and at the publish) and a rerun lets no duplicate of an earlier
# run's documents through; a corrupt index is reported with file and offset.
set -u
: "${TOKENMILL:?}" "${PYTHON:=/usr/bin/python3}"
here=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d "${TMPDIR:-/tmp}/tm_dedup_cli.XXXXXX")
trap 'rm -rf "$W"' EXIT
fail=0
check() { if eval "$1"; then :; else echo "FAIL: $2"; fail=1; fi; }

$PYTHON "$here/gen_planted.py" "$W/a.jsonl" "$W/a.truth" 1 300 a
$PYTHON "$here/gen_planted.py" "$W/b.jsonl" "$W/b.truth" 2 200 b
$PYTHON "$here/gen_planted.py" "$W/c.jsonl" "$W/c.truth" 3 100 c
printf '{"id":"bad1","text":\n{"id":"bad2"}\n' > "$W/bad.jsonl"

# verify OUT TRUTH... : every planted id dropped (with its original as
# duplicate_of), every unique id kept, every kept line byte-identical.
verify() {
  $PYTHON - "$@" <<'PY'
import json, sys
out, inputs, truths = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
truth = {}
for t in truths:
    truth.update(json.load(open(t)))
lines = {}
for p in inputs:
    for l in open(p, encoding="utf-8"):
        try: lines[json.loads(l)["id"]] = l
        except Exception: pass
kept = [json.loads(l)["id"] for l in open(out + "/kept.jsonl", encoding="utf-8")]
kept_raw = open(out + "/kept.jsonl", encoding="utf-8").readlines()
dups = {d["id"]: d for d in map(json.loads, open(out + "/duplicates.jsonl"))}
errs = []
for did, line in zip(kept, kept_raw):
    if did in truth: errs.append(f"planted {did} kept")
    if lines.get(did) != line: errs.append(f"kept line of {did} differs from input")
for did in lines:
    if did in truth:
        d = dups.get(did)
        if not d: errs.append(f"planted {did} not removed")
        elif d["duplicate_of"] != truth[did]: errs.append(f"{did}: duplicate_of {d['duplicate_of']} != {truth[did]}")
        elif d["kind"] not in ("exact", "near") or not 0.75 <= d["similarity"] <= 1: errs.append(f"{did}: {d}")
    elif did not in kept: errs.append(f"unique {did} not kept")
kinds = {k: sum(1 for d in dups.values() if d["kind"] == k) for k in ("exact", "near")}
print(f"kept {len(kept)} removed {len(dups)} {kinds}", file=sys.stderr)
if kinds["exact"] == 0 or kinds["near"] == 0: errs.append("expected both exact and near duplicates")
for e in errs[:20]: print(e)
sys.exit(1 if errs else 0)
PY
}

# 1. one run, no persistent index, with malformed lines
"$TOKENMILL" dedup -o "$W/o1" "$W/a.jsonl" "$W/bad.jsonl" 2> "$W/o1.err"
rc=$?
check '[ $rc -eq 3 ]' "malformed input gives exit 3 (got $rc)"
check 'grep -q "bad.jsonl.*line=1" "$W/o1.err" && grep -q "line=2" "$W/o1.err"' "malformed lines reported with file:line"
check '[ $(wc -l < "$W/o1/quarantine/dedup.jsonl") -eq 2 ]' "two quarantined lines"
check 'verify "$W/o1" "$W/a.jsonl" "$W/a.truth"' "planted duplicates in a.jsonl"
check '$PYTHON -c "import json,sys; s=json.load(open(sys.argv[1])); assert s[\"docs_in\"]==400 and s[\"kept\"]==300 and s[\"exact_dups\"]+s[\"near_dups\"]==100 and s[\"malformed\"]==2 and s[\"index\"][\"disk_bytes\"]>0" "$W/o1/stats.json"' "stats.json counts"
check '[ -z "$(ls -A "$W/o1" | grep dedup-index)" ]' "temporary index removed"

# the verdicts do not depend on the number of worker threads
"$TOKENMILL" dedup --threads 1 -o "$W/t1" "$W/a.jsonl" "$W/b.jsonl" 2> /dev/null
"$TOKENMILL" dedup --threads 3 -o "$W/t3" "$W/a.jsonl" "$W/b.jsonl" 2> /dev/null
check 'cmp -s "$W/t1/kept.jsonl" "$W/t3/kept.jsonl" && cmp -s "$W/t1/duplicates.jsonl" "$W/t3/duplicates.jsonl"' "same output with 1 and 3 threads"

# the project's sample generator: every planted exact/near duplicate goes,
# attributed to its original; nothing else but the (self-similar) junk does
$PYTHON "$here/../../corpora/gen_sample.py" "$W/gs" > /dev/null
"$TOKENMILL" dedup -o "$W/gso" "$W/gs/web.jsonl" "$W/gs/zh.jsonl" "$W/gs/social.jsonl" 2> /dev/null
check '$PYTHON - "$W" <<'"'"'PY'"'"'
import json, sys
w = sys.argv[1]
p = json.load(open(w + "/gs/planted.json"))
d = {x["id"]: x for x in map(json.loads, open(w + "/gso/duplicates.jsonl"))}
want = {x["id"]: x["duplicate_of"] for x in p["exact_duplicates"] + p["near_duplicates"]}
junk = {x["id"] if isinstance(x, dict) else x for x in p["junk"]}
bad = [k for k in want if d.get(k, {}).get("duplicate_of") != want[k]]
extra = [k for k in d if k not in want and k not in junk]
assert want and any(k.startswith("zh") for k in want), want
assert not bad and not extra, (bad, extra)
PY' "sample generator: planted duplicates removed, nothing else"

# 2. persistent index: run 1 on a, committed
"$TOKENMILL" dedup --index "$W/idx" -o "$W/r1" "$W/a.jsonl" 2> "$W/r1.err"
check '[ $? -eq 0 ]' "run 1 with --index"
# run 2 on b is killed -9 while writing its checkpoint: nothing is published
TOKENMILL_FAULT="dedup_index:rename:1:CRASH" "$TOKENMILL" dedup --index "$W/idx" -o "$W/r2" "$W/b.jsonl" 2> "$W/r2.err"
rc=$?
check '[ $rc -eq 137 ]' "run 2 killed (got $rc)"
check '[ ! -e "$W/r2/kept.jsonl" ]' "killed run published nothing"
# run 3 on a + b + c in the same OUT: a's documents are all duplicates of
# run 1, b's (never committed) are judged afresh, c is new
"$TOKENMILL" dedup --index "$W/idx" -o "$W/r2" "$W/a.jsonl" "$W/b.jsonl" "$W/c.jsonl" 2> "$W/r3.err"
check '[ $? -eq 0 ]' "run 3 after the crash"
check '! grep -q "\"id\": *\"a" "$W/r2/kept.jsonl"' "no document of run 1 kept again"
check '[ $(grep -c "\"duplicate_of\":\"a" "$W/r2/duplicates.jsonl") -ge 400 ]' "all of a.jsonl reported as duplicates of run 1"
check 'verify "$W/r2" "$W/b.jsonl,$W/c.jsonl" "$W/b.truth,$W/c.truth"' "run 3 dedups b and c"

# 3. killed after the checkpoint but before the publish (rename 1 publishes
# OUT/.dedup-pending, rename 2 is the first output): the next run with
# the same OUT finishes the publish and refuses to overwrite it
$PYTHON "$here/gen_planted.py" "$W/d.jsonl" "$W/d.truth" 4 50 d
TOKENMILL_FAULT="dedup_out:rename:2:CRASH" "$TOKENMILL" dedup --index "$W/idx" -o "$W/r4" "$W/d.jsonl" 2> /dev/null
check '[ $? -eq 137 ] && [ ! -e "$W/r4/kept.jsonl" ]' "run 4 killed before its publish"
"$TOKENMILL" dedup --index "$W/idx" -o "$W/r4" "$W/d.jsonl" 2> "$W/r5.err"; rc=$?
check '[ $rc -eq 1 ] && grep -q "dedup_recover.*action=publish" "$W/r5.err"' "run 5 recovers run 4's outputs"
check 'verify "$W/r4" "$W/d.jsonl" "$W/d.truth"' "recovered outputs of run 4 are complete"

# 4. a corrupt index is an error naming the file and offset
printf 'XXXX' | dd of="$W/idx/records.bin" bs=1 seek=1000 conv=notrunc 2> /dev/null
"$TOKENMILL" dedup --index "$W/idx" -o "$W/r6" "$W/c.jsonl" 2> "$W/r6.err"
rc=$?
check '[ $rc -eq 1 ] && grep -q "records.bin: record 6 fails its checksum (bytes 976" "$W/r6.err"' "corruption reported (rc $rc: $(cat "$W/r6.err"))"

# 5. line-level dedup: the header and footer lines go after 2 sightings,
# a page of nothing else is dropped as kind "lines"
$PYTHON - "$W/lines.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i, body in enumerate(["gardens and roses bloom in the early spring sun",
                              "engines roar along the highway through the night",
                              "bread needs flour water salt and a lot of time",
                              "telescopes show the rings of saturn on clear nights"]):
        f.write(json.dumps({"id": f"p{i}", "text": f"Skip to main content\n{body}\nCopyright 2024 Example Inc."}) + "\n")
    f.write(json.dumps({"id": "p4", "text": "Skip to main content\nCopyright 2024 Example Inc."}) + "\n")
PY
"$TOKENMILL" dedup --set dedup.line_dedup=true --set dedup.line_max_repeats=2 -o "$W/l" "$W/lines.jsonl" 2> /dev/null
check '[ $? -eq 0 ]' "line dedup run"
check '$PYTHON -c "
import json, sys
k = {d[\"id\"]: d[\"text\"] for d in map(json.loads, open(sys.argv[1] + \"/kept.jsonl\"))}
d = [json.loads(l) for l in open(sys.argv[1] + \"/duplicates.jsonl\")]
s = json.load(open(sys.argv[1] + \"/stats.json\"))
assert k[\"p0\"].startswith(\"Skip\") and k[\"p2\"] == \"bread needs flour water salt and a lot of time\", k
assert d == [{\"id\": \"p4\", \"duplicate_of\": None, \"kind\": \"lines\", \"similarity\": None}], d
assert s[\"lines_removed\"] == 6 and s[\"docs_emptied_by_lines\"] == 1, s
" "$W/l"' "line dedup output"

# 6. usage errors
"$TOKENMILL" dedup --help > /dev/null
check '[ $? -eq 0 ]' "--help"
"$TOKENMILL" dedup -o "$W/x" 2> /dev/null
check '[ $? -eq 2 ]' "no input is a usage error"
"$TOKENMILL" dedup --set dedup.bands=20 -o "$W/x" "$W/c.jsonl" 2> "$W/x.err"
check '[ $? -eq 2 ] && grep -q "bands" "$W/x.err"' "bands x rows > num_perm refused"

[ $fail -eq 0 ] && echo "test_dedup_cli: ok"
exit $fail
