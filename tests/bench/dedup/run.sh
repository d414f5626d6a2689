#!/usr/bin/env bash
# Speed benchmark of the dedup stage beside the Python/numpy reference
# (ref_minhash.py, the same algorithm), in the same run:
#   1. identical results on a small sample: signatures and verdicts;
#   2. end to end on the same documents: tokenmill dedup vs the reference;
#   3. signature throughput (normalise + shingle + MinHash), one core;
#   4. index insert+query at 1 M and 10 M documents (random signatures, 10%
#      planted near copies), index bytes per document, peak RSS; before it,
#      the memory latency and random-line rate the index is bound by.
# usage: tests/bench/dedup/run.sh [BUILD_DIR] [MAX_DOCS]   (default build, 10000000)
# Writes about 5 GB of index under $TMPDIR at 10 M documents.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
B=${1:-build}
MAX=${2:-10000000}
TM=${TOKENMILL:-$B/pipeline/tokenmill}
BD=${BENCH_DEDUP:-$B/tests/bench/dedup/bench_dedup}
PY=/usr/bin/python3
W=$(mktemp -d "${TMPDIR:-/tmp}/tm_bench_dedup.XXXXXX")
trap 'rm -rf "$W"' EXIT

echo "== 1. identical results (2000 synthetic documents with planted duplicates)"
"$BD" gen 2000 7 "$W/sample.jsonl"
"$BD" sigs "$W/sample.jsonl" > "$W/sigs.c"
t0=$(date +%s.%N)
$PY "$here/ref_minhash.py" sigs "$W/sample.jsonl" > "$W/sigs.py"
t1=$(date +%s.%N)
mb=$(stat -c %s "$W/sample.jsonl")
if cmp -s "$W/sigs.c" "$W/sigs.py"; then echo "signatures: identical for $(wc -l < "$W/sigs.c") documents"
else echo "signatures: DIFFER"; exit 1; fi
echo "python reference signatures: $(echo "$mb $t0 $t1" | awk '{printf "%.2f MB/s", $1/1e6/($3-$2)}')"
"$TM" dedup -o "$W/c" "$W/sample.jsonl" 2> /dev/null
$PY "$here/ref_minhash.py" dedup "$W/sample.jsonl" "$W/py" > /dev/null
$PY - "$W" <<'PY'
import json, sys
w = sys.argv[1]
ck = [str(json.loads(l)["id"]) for l in open(w + "/c/kept.jsonl")]
pk = open(w + "/py/kept.ids").read().split()
cd = [json.loads(l) for l in open(w + "/c/duplicates.jsonl")]
pd = [json.loads(l) for l in open(w + "/py/duplicates.jsonl")]
same = ck == pk and cd == pd
print(f"verdicts: {'identical' if same else 'DIFFER'}: kept {len(ck)} / {len(pk)}, "
      f"removed {len(cd)} / {len(pd)} (exact {sum(d['kind'] == 'exact' for d in cd)}, "
      f"near {sum(d['kind'] == 'near' for d in cd)})")
sys.exit(0 if same else 1)
PY

echo "== 2. end to end, same documents (10000 synthetic, ~15 MB)"
# Each side's best run (tokenmill dedup of 3, about 0.1 s each; the
# reference of 2, about 10 s each): on a shared machine one run of either
# can lose a third of its speed to other work.
"$BD" gen 10000 11 "$W/e2e.jsonl"
for i in 1 2 3; do "$TM" dedup -o "$W/c2.$i" "$W/e2e.jsonl" 2> /dev/null; done
for i in 1 2; do $PY "$here/ref_minhash.py" dedup "$W/e2e.jsonl" "$W/py2" > "$W/py2.$i.json"; done
$PY - "$W" <<'PY'
import json, sys
w = sys.argv[1]
cs = [json.load(open(f"{w}/c2.{i}/stats.json")) for i in (1, 2, 3)]
ps = [json.load(open(f"{w}/py2.{i}.json")) for i in (1, 2)]
c = max(cs, key=lambda s: s["docs_per_s"])
p = max(ps, key=lambda s: s["docs_per_s"])
same = all([json.loads(l) for l in open(f"{w}/c2.{i}/duplicates.jsonl")] ==
           [json.loads(l) for l in open(w + "/py2/duplicates.jsonl")] for i in (1, 2, 3))
print(f"end-to-end: tokenmill dedup {c['docs_per_s']:.0f} docs/s ({c['mb_per_s']:.1f} MB/s), "
      f"python reference {p['docs_per_s']:.0f} docs/s ({p['mb_per_s']:.2f} MB/s): "
      f"{c['docs_per_s'] / p['docs_per_s']:.1f}x; verdicts {'identical' if same else 'DIFFER'}; "
      f"all runs: ours {', '.join('%.0f' % s['docs_per_s'] for s in cs)}, "
      f"reference {', '.join('%.0f' % s['docs_per_s'] for s in ps)} docs/s")
PY

echo "== 3. signatures, one core"
"$BD" signature 50

echo "== 4. index insert+query, one core"
"$BD" memory
for n in 1000000 10000000; do
  [ "$n" -le "$MAX" ] || continue
  "$BD" index "$n" "$W/idx$n"
  rm -rf "$W/idx$n"
  "$BD" index "$n" "$W/idx$n" presize
  rm -rf "$W/idx$n"
done
