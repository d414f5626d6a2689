#!/usr/bin/env bash
# Fault injection into every durable write of `tokenmill build`.
#
# For each io site the build writes through (shard, manifest, journal,
# quarantine, dedup_index, tokenizer) and each failure (ENOSPC at open, a
# short write, EIO/EDQUOT at write, fsync, close, rename and the directory
# fsync, and a power cut (CRASH = SIGKILL) before a write or rename), a
# build runs with TOKENMILL_FAULT set, into a fresh directory. Then:
#   - the process reported it: exit 1 with the errno's text on stderr (a
#     crash: killed by SIGKILL), or exit 0/3 when that call never happens
#     at that site (counted as "not reached"; every site must be reached
#     by most of its cases);
#   - the published state is valid: manifest.json parses and every shard
#     it lists verifies (`tokenmill shards verify`); no listed shard missing;
#   - a rerun of the same command, without the fault, completes with the
#     reference exit code and shards, manifest shard list, stats and
#     quarantine byte-identical to a build that never failed (nothing lost,
#     nothing twice).
# FAULT_CASES limits the cases (a grep -E pattern on "site:op:n:what").
set -uo pipefail
: "${TOKENMILL:?}" "${PYTHON:=/usr/bin/python3}" "${TM_SOURCE_DIR:?}"
# tmpfs when there is one: ~150 builds, each with its fsyncs
work=$(mktemp -d /dev/shm/tm_faults.XXXXXX 2>/dev/null || mktemp -d /tmp/tm_faults.XXXXXX)
trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

"$PYTHON" "$TM_SOURCE_DIR/corpora/gen_sample.py" --docs 40 "$work/in" > /dev/null
# unreadable records, so that the quarantine is written
printf '{"id": "ok-1", "text": "A fine line of text that is long enough to be kept by the filters, surely."}\n{"id": broken\n[1, 2, 3]\n' > "$work/in/bad.jsonl"
inputs=("$work/in/web.jsonl" "social=$work/in/social.jsonl" "$work/in/bad.jsonl")
opts=(--no-progress --threads 2 --set tokenizer.vocab_size=400 --set shard.max_tokens=6000
      --set shard.frame_size=4k)
build() { "$TOKENMILL" build "${opts[@]}" -o "$1" "${inputs[@]}"; }

# the published state of an output directory, as one comparable text
state() {
  "$PYTHON" - "$1" <<'PY'
import hashlib, json, os, sys
d = sys.argv[1]
m = json.load(open(os.path.join(d, "manifest.json")))
print("generation-independent shard list:")
for s in m["shards"]:
    data = open(os.path.join(d, s["name"]), "rb").read()
    print(s["name"], s["documents"], s["tokens"], s["file_hash"], hashlib.sha256(data).hexdigest())
q = os.path.join(d, "quarantine", "errors.jsonl")
if os.path.exists(q):
    print("quarantine", hashlib.sha256(open(q, "rb").read()).hexdigest())
st = json.load(open(os.path.join(d, "stats.json")))
print("stats", json.dumps(st.get("sources", st), sort_keys=True))
print("tokenizer", hashlib.sha256(open(os.path.join(d, "tokenizer.json"), "rb").read()).hexdigest())
PY
}

# the published state must be valid whatever happened
check_published() { # dir label
  local d=$1
  [ -f "$d/manifest.json" ] || return 0 # nothing published yet
  "$PYTHON" -c 'import json,sys; json.load(open(sys.argv[1]))' "$d/manifest.json" 2>/dev/null ||
    { fail "$2: manifest.json does not parse"; return; }
  "$TOKENMILL" shards verify "$d" > "$work/verify.out" 2>&1 ||
    fail "$2: published shards do not verify: $(tail -3 "$work/verify.out")"
}

build "$work/ref" > /dev/null 2> "$work/ref.log"
ref_rc=$?
[ $ref_rc -eq 3 ] || { echo "FAIL: reference build exit $ref_rc (want 3: bad.jsonl has rejected records): $(tail -5 "$work/ref.log")"; exit 1; }
nshards=$(ls "$work"/ref/*.tms | wc -l)
[ "$nshards" -ge 3 ] || { echo "FAIL: reference build made $nshards shards, want >= 3"; exit 1; }
state "$work/ref" > "$work/ref.state" || { echo "FAIL: reading the reference state"; exit 1; }

cases=()
for site in shard manifest journal quarantine dedup_index tokenizer; do
  specs=(open:1:ENOSPC write:1:SHORT write:2:EIO fsync:1:EIO close:1:EIO rename:1:EDQUOT fsyncdir:1:EIO rename:1:CRASH)
  case $site in
  tokenizer|quarantine) specs+=(write:1:CRASH) ;; # written once / appended: the first write
  *) specs+=(write:3:EDQUOT fsync:2:ENOSPC write:2:CRASH rename:2:CRASH) ;; # later shards too
  esac
  for spec in "${specs[@]}"; do cases+=("$site:$spec"); done
done
[ -n "${FAULT_CASES:-}" ] && mapfile -t cases < <(printf '%s\n' "${cases[@]}" | grep -E "$FAULT_CASES")

declare -A fired=() total=()
n=0
for c in "${cases[@]}"; do
  site=${c%%:*} what=${c##*:}
  n=$((n + 1))
  out="$work/o$n"
  TOKENMILL_FAULT=$c build "$out" > /dev/null 2> "$work/f.log"
  rc=$?
  total[$site]=$(( ${total[$site]:-0} + 1 ))
  case $what in
  CRASH) want="injected crash" ;;
  ENOSPC|SHORT) want="No space left on device" ;;
  EIO) want="Input/output error" ;;
  EDQUOT) want="quota exceeded" ;;
  esac
  if [ $rc -eq 0 ] || [ $rc -eq 3 ]; then
    result="not reached"
  elif [ "$what" = CRASH ]; then
    [ $rc -eq 137 ] || fail "$c: exit $rc, want 137 (SIGKILL): $(tail -2 "$work/f.log")"
    result="crashed"
    fired[$site]=$(( ${fired[$site]:-0} + 1 ))
  else
    [ $rc -eq 1 ] || fail "$c: exit $rc, want 1: $(tail -2 "$work/f.log")"
    grep -qi "$want" "$work/f.log" || fail "$c: stderr does not say '$want': $(tail -3 "$work/f.log")"
    result="reported"
    fired[$site]=$(( ${fired[$site]:-0} + 1 ))
  fi
  check_published "$out" "$c"
  build "$out" > /dev/null 2> "$work/r.log"
  rrc=$?
  if [ $rrc -ne $ref_rc ]; then
    fail "$c: rerun exit $rrc, want $ref_rc: $(tail -3 "$work/r.log")"
  elif ! state "$out" > "$work/o.state" 2> "$work/state.err"; then
    fail "$c: rerun state unreadable: $(tail -2 "$work/state.err")"
  elif ! cmp -s "$work/ref.state" "$work/o.state"; then
    fail "$c: rerun differs from the uninterrupted build: $(diff "$work/ref.state" "$work/o.state" | head -5)"
  else
    check_published "$out" "$c (rerun)"
  fi
  printf '%-32s exit %3d  %-12s rerun ok=%s\n' "$c" $rc "$result" "$([ $rrc -eq $ref_rc ] && echo yes || echo no)"
  rm -rf "$out"
done

for site in "${!total[@]}"; do
  echo "site $site: ${fired[$site]:-0} of ${total[$site]} faults fired"
  # a site reached by fewer than a third of the cases means the test no longer exercises it
  [ $(( ${fired[$site]:-0} * 3 )) -ge "${total[$site]}" ] || fail "site $site: only ${fired[$site]:-0} of ${total[$site]} faults fired"
done
[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "PASS: ${#cases[@]} injected faults in tokenmill build: reported, published state valid, reruns identical"
