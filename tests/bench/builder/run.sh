#!/usr/bin/env bash
# End-to-end build throughput on ../shared/corpora (or any corpus folder laid
# out the same way), per core, with the per-stage breakdown and peak RSS.
#   tests/bench/builder/run.sh [BUILD_DIR=build] [CORPUS=../shared/corpora] [WORK=dir]
# (a WORK dir that already holds tok/tokenizer.json reuses that tokenizer)
# The tokenizer is trained once first (its time is reported apart), then the
# same build runs with 1 thread and with all cores, each from scratch.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$root/build}
CORPUS=${CORPUS:-$root/../shared/corpora}
TM=$BUILD_DIR/pipeline/tokenmill
work=${WORK:-$(mktemp -d /tmp/tm_bench_build.XXXXXX)}
mkdir -p "$work"
inputs=(books="$CORPUS/books" social="$CORPUS/social/fortunes-en.jsonl"
        email="$CORPUS/web/spam-assassin-raw.jsonl.zst" html="$CORPUS/web/spam-assassin-html.jsonl.zst"
        html="$CORPUS/web/zh-html.jsonl.zst" web="$CORPUS/web/spam-assassin-html")
cfg=(-c "$here/shared_corpora.ini")
echo "corpus: $CORPUS ($(du -shL "$CORPUS" | cut -f1) on disk)"
if [ -f "$work/tok/tokenizer.json" ]; then
  echo "tokenizer: reusing $work/tok/tokenizer.json (WORK=$work)"
else
  t0=$(date +%s.%N)
  "$TM" build "${cfg[@]}" --no-progress -o "$work/tok" "${inputs[@]}" --stop-after-docs 1 >/dev/null 2>"$work/tok.log"
  t1=$(date +%s.%N)
  echo "tokenizer: trained in $(echo "$t1 - $t0" | bc) s (vocab 32768, [build] tokenizer_sample of cleaned text)"
fi
for threads in 1 $(nproc); do
  rm -rf "$work/b$threads"
  /usr/bin/time -f "%M %U %S" -o "$work/rss$threads" "$TM" build "${cfg[@]}" --no-progress --threads "$threads" \
    --tokenizer "$work/tok/tokenizer.json" -o "$work/b$threads" "${inputs[@]}" >"$work/b$threads.out" 2>"$work/b$threads.log" || true
  /usr/bin/python3 - "$work/b$threads/stats.json" "$threads" $(cat "$work/rss$threads") "$(uptime | sed 's/.*load average: //')" <<'PY'
import json, sys
st = json.load(open(sys.argv[1])); threads = int(sys.argv[2]); rss = int(sys.argv[3])
cpu_proc = float(sys.argv[4]) + float(sys.argv[5]); load = sys.argv[6]
t = st["time"]; tot = st["totals"]
mb = t["doc_bytes_this_run"] / 1e6
print("threads %d: %.1f MB of documents in %.2f s = %.2f MB/s, %.2f MB/s per core; process CPU %.2f s = "
      "%.2f MB per CPU-second; peak RSS %.0f MB; load %s; docs %d kept %d dropped %d dups %d+%d tokens %d"
      % (threads, mb, t["wall_s"], mb / t["wall_s"], mb / t["wall_s"] / threads, cpu_proc,
      mb / cpu_proc if cpu_proc else 0, rss / 1024, load, tot["docs_in"], tot["kept"], tot["dropped"],
      tot["exact_dups"], tot["near_dups"], tot["tokens"]))
stages = t["stages"]
cpu = sum(v["cpu_s"] for k, v in stages.items() if k != "tokenizer_train")
parts = sorted(((v["cpu_s"], k) for k, v in stages.items() if k != "tokenizer_train"), reverse=True)
print("  stage CPU seconds: " + ", ".join("%s %.2f (%.0f%%, %.1f MB/s)" % (k, s, 100 * s / cpu if cpu else 0,
      mb / s if s else 0) for s, k in parts))
print("  slowest stage: %s" % parts[0][1])
PY
done
for threads in $(nproc); do
  cmp -s <(cat "$work"/b1/*.tms) <(cat "$work"/b$threads/*.tms) && echo "shards identical for 1 and $threads threads" \
    || echo "WARNING: shards differ between 1 and $threads threads"
done
echo "per source (threads 1):"
/usr/bin/python3 -c "
import json
for s in json.load(open('$work/b1/stats.json'))['sources']:
    print('  %-7s docs %6d  MB %6.1f  kept %6d  dropped %5d  dups %4d+%-4d tokens %d' % (s['source'], s['docs_in'], s['bytes_in']/1e6, s['kept'], s['dropped'], s['exact_dups'], s['near_dups'], s['tokens']))"
