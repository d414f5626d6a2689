#!/usr/bin/env bash
# tokenmill build end to end on the sample generator:
#  - planted exact/near duplicates removed, junk dropped, unrelated documents kept
#  - every kept document's tokens decode back to its cleaned text (tokenmill clean)
#  - stats add up: documents in = kept + dropped + duplicates
#  - 1, 2 and 4 threads give identical shard bytes
#  - killed with SIGKILL at random moments ($KILLS times, default 5) and rerun
#    each time, the final shards are byte-identical to an uninterrupted build
#  - SIGINT seals the current shard and exits 0; a rerun completes identically
#  - an unreadable input is quarantined with its file name and exit code 3
#  - a rerun with other inputs is refused; an input named in another charset
#    than UTF-8 resumes
#  - e-mail fields (decoded on the workers) build identically for 1 and 3
#    threads and as the reader decodes them; undecodable ones are quarantined
set -euo pipefail
: "${TOKENMILL:?}" "${PYTHON:=/usr/bin/python3}" "${TM_SOURCE_DIR:?}"
KILLS=${KILLS:-5}
work=$(mktemp -d /tmp/tm_build.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
pass=0
ok() { pass=$((pass + 1)); }

"$PYTHON" "$TM_SOURCE_DIR/corpora/gen_sample.py" --docs 300 "$work/in"
inputs=("$work/in/web.jsonl" "$work/in/books" "social=$work/in/social.jsonl" "$work/in/zh.jsonl")
opts=(--no-progress --set tokenizer.vocab_size=1200 --set shard.max_tokens=40000 --set shard.frame_size=16k)
build() { "$TOKENMILL" build "${opts[@]}" "$@"; }

# reference build, 1 thread (timed: the kills below land within its duration)
t0=$(date +%s%N)
build --threads 1 -o "$work/a" "${inputs[@]}" > "$work/a.out" 2> "$work/a.log" || fail "build: $(tail -3 "$work/a.log")"
dur_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
"$TOKENMILL" shards verify "$work/a" > /dev/null || fail "verify"
nshards=$(ls "$work"/a/*.tms | wc -l)
[ "$nshards" -ge 3 ] || fail "expected several shards, got $nshards"
for f in manifest.json tokenizer.json stats.json DATACARD.md; do [ -s "$work/a/$f" ] || fail "missing $f"; done
ok

# content checks
"$TOKENMILL" clean --profile web -o "$work/clean-web" "$work/in/web.jsonl" "$work/in/zh.jsonl" > /dev/null 2>&1 || true
"$TOKENMILL" shards ls "$work/a" --ids > "$work/ids.txt"
"$PYTHON" - "$TOKENMILL" "$work" <<'PY'
import json, subprocess, sys, xxhash
tm, work = sys.argv[1], sys.argv[2]
planted = json.load(open(work + "/in/planted.json"))
h = lambda s: "%016x" % xxhash.xxh3_64_intdigest(s.encode())
rows = [l.rstrip("\n").split("\t") for l in open(work + "/ids.txt")]
ids = {r[2]: (r[0], int(r[1]), r[3]) for r in rows}
dups = planted["exact_duplicates"] + planted["near_duplicates"]
for p in dups:
    # a copy whose original a filter dropped may itself be the first of its kind
    if h(p["duplicate_of"]) in ids:
        assert h(p["id"]) not in ids, "planted duplicate %s of %s kept" % (p["id"], p["duplicate_of"])
removed = sum(1 for p in dups if h(p["id"]) not in ids)
assert removed >= 0.9 * len(dups), "only %d of %d planted duplicates removed" % (removed, len(dups))
for p in planted["junk"]:
    assert h(p["id"]) not in ids, "junk %s (%s) kept" % (p["id"], p["kind"])
web = [json.loads(l)["id"] for l in open(work + "/in/web.jsonl")]
plain = [i for i in web if i.startswith("web-0")]
kept = sum(1 for i in plain if h(i) in ids)
assert kept >= 0.9 * len(plain), "only %d of %d ordinary web documents kept" % (kept, len(plain))
posts = [json.loads(l)["id"] for l in open(work + "/in/social.jsonl")]
kp = sum(1 for i in posts if h(i) in ids)
assert kp >= 0.9 * len(posts), "only %d of %d social posts kept" % (kp, len(posts))
sources = {r[3] for r in rows}
assert {"web", "books", "social"} <= sources, sources
# tokens decode to the cleaned text
cleaned = {}
for l in open(work + "/clean-web/kept.jsonl", encoding="utf-8"):
    d = json.loads(l)
    cleaned[h(d["id"])] = d["text"]
checked = 0
for hid, text in list(cleaned.items())[:40]:
    if hid not in ids:
        continue
    shard, idx, _ = ids[hid]
    out = subprocess.run([tm, "shards", "cat", work + "/a/" + shard, "--doc", str(idx), "--text"],
                         check=True, capture_output=True).stdout.decode("utf-8")
    assert out == text, "document %s decodes differently" % hid
    checked += 1
assert checked >= 20, checked
st = json.load(open(work + "/a/stats.json"))
for s in st["sources"]:
    assert s["docs_in"] == s["kept"] + s["dropped"] + s["exact_dups"] + s["near_dups"], s
t = st["totals"]
assert t["kept"] == len(rows), (t["kept"], len(rows))
assert t["exact_dups"] >= len(planted["exact_duplicates"])
m = json.load(open(work + "/a/manifest.json"))
assert sum(s["tokens"] for s in m["shards"]) == t["tokens"]
print("build content: %d decoded documents match, stats add up" % checked)
PY
ok

# determinism across thread counts
for n in 2 4; do
  build --threads $n -o "$work/t$n" "${inputs[@]}" > /dev/null 2>&1 || fail "build --threads $n"
  for s in "$work"/a/*.tms; do cmp -s "$s" "$work/t$n/$(basename "$s")" || fail "$(basename "$s") differs with $n threads"; done
  [ "$(ls "$work"/t$n/*.tms | wc -l)" = "$nshards" ] || fail "shard count differs with $n threads"
  cmp -s "$work/a/tokenizer.json" "$work/t$n/tokenizer.json" || fail "tokenizer differs with $n threads"
done
ok

same_as_a() { # same_as_a DIR
  [ "$(ls "$1"/*.tms | wc -l)" = "$nshards" ] || return 1
  for s in "$work"/a/*.tms; do cmp -s "$s" "$1/$(basename "$s")" || return 1; done
  "$PYTHON" -c "
import json,sys
a=json.load(open('$work/a/manifest.json')); b=json.load(open('$1/manifest.json'))
key=lambda m:[(s['name'],s['file_hash'],s['documents'],s['tokens']) for s in m['shards']]
sys.exit(0 if key(a)==key(b) and a['journal']['stats']==b['journal']['stats'] else 1)"
}

# crash safety: SIGKILL at random moments, rerun each time
for i in $(seq 1 "$KILLS"); do
  "$TOKENMILL" build "${opts[@]}" --threads 2 -o "$work/k" "${inputs[@]}" > /dev/null 2>&1 &
  pid=$!
  ms=$(( (RANDOM % (dur_ms + 1)) + 5 ))
  sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
done
build --threads 2 -o "$work/k" "${inputs[@]}" > "$work/k.out" 2> "$work/k.log" || fail "resume after kills: $(tail -3 "$work/k.log")"
same_as_a "$work/k" || fail "shards after $KILLS kills differ from an uninterrupted build"
"$TOKENMILL" shards verify "$work/k" > /dev/null || fail "verify after kills"
ok

# injected crashes at each step of a commit (shard rename, pending journal,
# manifest publish) and an ENOSPC on the manifest: the rerun recovers
for plan in shard:rename:2:CRASH journal:rename:2:CRASH manifest:rename:3:CRASH manifest:write:2:ENOSPC; do
  rm -rf "$work/f"
  rc=0; TOKENMILL_FAULT=$plan build --threads 2 -o "$work/f" "${inputs[@]}" > /dev/null 2>&1 || rc=$?
  [ "$rc" != 0 ] || fail "fault $plan had no effect"
  build --threads 2 -o "$work/f" "${inputs[@]}" > /dev/null 2> "$work/f.log" || fail "rerun after $plan: $(tail -2 "$work/f.log")"
  same_as_a "$work/f" || fail "shards after $plan + rerun differ"
done
ok

# SIGINT: clean stop, then continue
"$TOKENMILL" build "${opts[@]}" --threads 1 -o "$work/i" "${inputs[@]}" > "$work/i.out" 2>&1 &
pid=$!
sleep 0.3
kill -INT "$pid" 2>/dev/null || true
rc=0; wait "$pid" || rc=$?
[ "$rc" = 0 ] || fail "SIGINT: exit $rc: $(tail -3 "$work/i.out")"
"$TOKENMILL" shards verify "$work/i" > /dev/null || fail "verify after SIGINT"
build --threads 1 -o "$work/i" "${inputs[@]}" > /dev/null 2>&1 || fail "rerun after SIGINT"
same_as_a "$work/i" || fail "shards after SIGINT + rerun differ"
ok

# a second build on the same output directory is refused while one runs
# (the lock is held here by flock(1), so the check does not depend on timing)
mkdir -p "$work/l"
flock "$work/l/.lock" sleep 30 &
holder=$!
for _ in $(seq 1 100); do [ -e "$work/l/.lock" ] && break; sleep 0.05; done
sleep 0.2
rc=0; build -o "$work/l" "${inputs[@]}" > /dev/null 2> "$work/l.err" || rc=$?
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
[ "$rc" = 1 ] && grep -q "another build is running" "$work/l.err" || fail "concurrent build: exit $rc: $(cat "$work/l.err")"
ok

# a different input list is refused
rc=0; build -o "$work/a" "$work/in/web.jsonl" > /dev/null 2> "$work/x.err" || rc=$?
[ "$rc" = 2 ] || fail "rerun with other inputs: exit $rc"
grep -q "same inputs" "$work/x.err" || fail "no clear message: $(cat "$work/x.err")"
ok

# an input whose name is not UTF-8 (the journal keeps its bytes in hex):
# stopped with SIGINT and rerun, the build continues; another such name is
# refused
latin1="$work/in/caf$(printf '\xe9').jsonl"
cp "$work/in/web.jsonl" "$latin1"
build --threads 1 -o "$work/n" "$latin1" > /dev/null 2>&1 &
pid=$!
sleep 0.2
kill -INT "$pid" 2>/dev/null || true
wait "$pid" || fail "non-UTF-8 name: first run"
build --threads 1 -o "$work/n" "$latin1" > /dev/null 2> "$work/n.err" || fail "non-UTF-8 name: rerun: $(tail -2 "$work/n.err")"
"$PYTHON" -c "
import json,sys
j=json.load(open(sys.argv[1]))['journal']['inputs'][0]
sys.exit(0 if j.get('path_hex','').endswith('636166e92e6a736f6e6c') and j['done'] else 1)" "$work/n/manifest.json" ||
  fail "non-UTF-8 name: journal"
cp "$latin1" "$work/in/caf$(printf '\xe8').jsonl"
rc=0; build -o "$work/n" "$work/in/caf$(printf '\xe8').jsonl" > /dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "another non-UTF-8 name: exit $rc"
ok

# an unreadable input: quarantined, named, exit 3, nothing else lost
printf '\x1f\x8b\x08\x00garbage' > "$work/in/broken.jsonl.gz"
rc=0; build -o "$work/q" "$work/in/web.jsonl" "$work/in/broken.jsonl.gz" > /dev/null 2>&1 || rc=$?
[ "$rc" = 3 ] || fail "unreadable input: exit $rc, expected 3"
grep -q "broken.jsonl.gz" "$work/q/quarantine/errors.jsonl" || fail "quarantine does not name the file"
"$PYTHON" -c "
import json; s=json.load(open('$work/q/stats.json'))['totals']; n=sum(1 for _ in open('$work/in/web.jsonl'))
assert s['rejected']>=1 and s['docs_in']==n, (s, n)" || fail "documents lost next to an unreadable input"
ok
# e-mail in a JSONL field: decoded on the worker threads (the reader hands
# the raw message over), identical for any thread count, identical to the
# reader decoding it itself (tokenmill clean), undecodable ones quarantined
"$PYTHON" - "$work/in/web.jsonl" "$work/mail.jsonl" <<'PY'
import base64, json, quopri, sys
texts = [json.loads(l)["text"] for l in open(sys.argv[1], encoding="utf-8")][:90]
with open(sys.argv[2], "w", encoding="utf-8") as out:
    for i, t in enumerate(texts):
        h = "From: a%d@example.com\nSubject: note %d\nDate: Thu, 22 Aug 2002 12:36:%02d +0100\n" % (i, i, i % 60)
        k = i % 5
        if k == 0:
            msg = h + "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n" + \
                base64.encodebytes(t.encode()).decode()
        elif k == 1:
            msg = h + "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n" + \
                quopri.encodestring(t.encode("latin-1", "replace")).decode()
        elif k == 2:
            msg = h + "Content-Type: multipart/alternative; boundary=BB\n\n--BB\nContent-Type: text/plain\n\n" + t + \
                "\n--BB\nContent-Type: text/html\n\n<p>html part</p>\n--BB--\n"
        elif k == 3:
            msg = h + "Content-Type: text/html\n\n<html><body><p>" + t.replace("\n", "</p><p>") + "</p></body></html>\n"
        else:
            msg = "no headers here, not a message: " + t[:80]
        out.write(json.dumps({"id": "mail-%03d" % i, "text": msg}) + "\n")
PY
printf '[clean.email]\nsource = web\nreader_field_kind = email\n' > "$work/mail.ini"
for n in 1 3; do
  rc=0; build -c "$work/mail.ini" --threads $n -o "$work/m$n" "email=$work/mail.jsonl" > /dev/null 2> "$work/m$n.log" || rc=$?
  [ "$rc" = 3 ] || fail "e-mail build, $n threads: exit $rc (expected 3: undecodable records): $(tail -2 "$work/m$n.log")"
done
cmp -s <(cat "$work"/m1/*.tms) <(cat "$work"/m3/*.tms) || fail "e-mail build: shards differ between 1 and 3 threads"
cmp -s "$work/m1/quarantine/errors.jsonl" "$work/m3/quarantine/errors.jsonl" || fail "e-mail build: quarantine differs"
rc=0; "$TOKENMILL" clean -c "$work/mail.ini" --profile email -o "$work/mc" "$work/mail.jsonl" > /dev/null 2>&1 || rc=$?
[ "$rc" = 3 ] || fail "tokenmill clean on the e-mails: exit $rc"
"$TOKENMILL" shards ls "$work/m1" --ids > "$work/mids.txt"
"$PYTHON" - "$TOKENMILL" "$work" <<'PY'
import json, subprocess, sys, xxhash
tm, work = sys.argv[1], sys.argv[2]
h = lambda s: "%016x" % xxhash.xxh3_64_intdigest(s.encode())
ids = {r[2]: (r[0], int(r[1])) for r in (l.rstrip("\n").split("\t") for l in open(work + "/mids.txt"))}
q = [json.loads(l) for l in open(work + "/m1/quarantine/errors.jsonl")]
assert len(q) == 18, len(q)
assert all(e["error"].endswith("mail.jsonl:%d: not an RFC 822 message" % (e["event"] + 1)) for e in q), q[:2]
st = json.load(open(work + "/m1/stats.json"))["totals"]
assert st["rejected"] == 18 and st["docs_in"] == 72, st
checked = 0
for l in open(work + "/mc/kept.jsonl", encoding="utf-8"):
    d = json.loads(l)
    if h(d["id"]) not in ids:
        continue
    shard, idx = ids[h(d["id"])]
    out = subprocess.run([tm, "shards", "cat", work + "/m1/" + shard, "--doc", str(idx), "--text"],
                         check=True, capture_output=True).stdout.decode("utf-8")
    assert out == d["text"], "e-mail %s decodes differently on the workers" % d["id"]
    checked += 1
assert checked >= 30, checked
print("e-mail build: %d documents as the reader decodes them, 18 quarantined" % checked)
PY
ok
echo "build: $pass passed, 0 failed"
