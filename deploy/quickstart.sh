#!/usr/bin/env bash
# The main job end to end on a built-in default corpus, on a fresh Debian 12:
# installs what is missing, builds in Release, gets a corpus (real text
# through apt/npm when reachable, else the deterministic sample generator),
# cleans, deduplicates, tokenizes and shards it (`tokenmill build`), verifies
# the shards, trains a small GPT on them for a few minutes and prints the
# validation loss, the loss curve's path and a generated sample.
# Usage: deploy/quickstart.sh [OUTDIR]   (default out/quickstart)
# Environment: STEPS (training steps, default 1500), BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${1:-$root/out/quickstart}
BUILD_DIR=${BUILD_DIR:-build}
STEPS=${STEPS:-1500}
deploy/deps.sh
BUILD_DIR=$BUILD_DIR deploy/build.sh
TM=$root/$BUILD_DIR/pipeline/tokenmill

step() { printf '\n== %s\n' "$*"; }
mkdir -p "$out"
step "corpus"
corpus=$root/corpora/cache
if [ ! -s "$corpus/social.jsonl" ] && ! corpora/fetch.sh "$corpus"; then
  echo "no registry reachable: using the built-in sample generator"
  corpus=$out/sample
  /usr/bin/python3 corpora/gen_sample.py --docs 2000 "$corpus"
fi
du -shL "$corpus"

step "build: clean, dedup, tokenize, shard"
rm -rf "$out/data"
rc=0
"$TM" build --set tokenizer.vocab_size=4096 -o "$out/data" "$corpus" || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 3 ] || exit "$rc"   # 3: some records unreadable, see quarantine/

step "verify"
"$TM" shards verify "$out/data"
"$TM" shards ls "$out/data" | sed -n '1,12p'
sed -n '/## Sources/,/## Top drop/p' "$out/data/DATACARD.md" | head -n -1

step "train"
trainer/quickstart.sh "$out/data" "$out" "$BUILD_DIR" "$STEPS"

step "summary"
echo "shards, stats.json, DATACARD.md:  $out/data"
echo "training metrics, loss curve:     $out/train/metrics.jsonl, $out/train/loss.svg"
echo "tests:                            deploy/test.sh"
