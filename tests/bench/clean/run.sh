#!/usr/bin/env bash
# run.sh BUILD_DIR [CORPORA_DIR] - the clean-stage benchmark beside its peers,
# in one run, on the same input. CORPORA_DIR defaults to ../shared/corpora
# (relative to the repository); when it is absent, corpora/gen_sample.py
# generates a sample instead. Peers (npm): install once with
#   (cd tests/bench/clean && npm install)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
build=${1:?usage: run.sh BUILD_DIR [CORPORA_DIR]}
corpora=${2:-$repo/../shared/corpora}
bench=$build/tests/bench/clean/bench_clean
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
args=()
if [ -d "$corpora/books" ]; then
  for f in "$corpora"/books/moby-dick.txt "$corpora"/books/sotu/*.txt "$corpora"/books/brown/*.txt; do
    args+=(--english "$f")
  done
  args+=(--chinese-field html --chinese-kind html --chinese "$corpora/web/zh-html.jsonl.zst")
  args+=(--html "$corpora/web/spam-assassin-html.jsonl.zst" --html "$corpora/web/zh-html.jsonl.zst")
else
  echo "corpora: $corpora absent, generating a sample with corpora/gen_sample.py"
  /usr/bin/python3 "$repo/corpora/gen_sample.py" --docs 2000 "$tmp/sample" >/dev/null
  for f in "$tmp"/sample/books/*.txt; do args+=(--english "$f"); done
  args+=(--english "$tmp/sample/web.jsonl" --chinese "$tmp/sample/zh.jsonl")
  args+=(--html "$tmp/sample/web_html.jsonl")
fi
echo "== tokenmill clean stage ($(nproc) cpus; one thread)"
"$bench" "${args[@]}" --dump-html "$tmp/html.jsonl" | tee "$tmp/ours.txt"
if [ -d "$here/node_modules/html-to-text" ]; then
  echo "== peers (node $(node --version))"
  node "$here/peers.mjs" "$tmp/html.jsonl" "${PEER_REPS:-1}" | tee "$tmp/peers.txt"
  ours=$(sed -n 's/.*html->text (stage parser [a-z]*) \([0-9.]*\) MB\/s.*/\1/p' "$tmp/ours.txt")
  parser=$(sed -n 's/.*html->text (stage parser \([a-z]*\)).*/\1/p' "$tmp/ours.txt")
  parse=$(sed -n "s/^html *$parser: bare parse \([0-9.]*\) MB\/s.*/\1/p" "$tmp/ours.txt")
  h2t=$(sed -n 's/^peer html-to-text .* \([0-9.]*\) MB\/s.*/\1/p' "$tmp/peers.txt")
  rdb=$(sed -n 's/^peer readability+linkedom .* \([0-9.]*\) MB\/s.*/\1/p' "$tmp/peers.txt")
  awk -v o="$ours" -v p="$parse" -v h="$h2t" -v r="$rdb" 'BEGIN {
    printf "== ratios: html->text %.1f MB/s = %.1fx html-to-text (%.1f MB/s), %.1fx readability+linkedom (%.1f MB/s); html->text time / bare parse time = %.2f (target <= 1.3)\n", o, o / h, h, o / r, r, p / o }'
else
  echo "peers not installed: (cd $here && npm install)"
fi
