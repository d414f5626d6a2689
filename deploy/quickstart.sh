#!/usr/bin/env bash
# The main job end to end on a built-in default corpus, on a fresh Debian 12:
# installs what is missing, builds in Release, gets a corpus (real text
# through apt/npm when reachable, else the deterministic sample generator),
# cleans, deduplicates, tokenizes and shards it (`tokenmill build`), verifies
# the shards, trains a small GPT on them for a few minutes and prints the
# validation loss, the loss curve's path and a generated sample.
# Usage: deploy/quickstart.sh [OUTDIR]   (default out/quickstart)
# Environment: STEPS (training steps, default 600), BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${1:-$root/out/quickstart}
BUILD_DIR=${BUILD_DIR:-build}
STEPS=${STEPS:-600}
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

step "feed + train"
# Two feeders write batches into shared-memory rings (the training split and a
# held-out validation split, by hash of the document id); tokenmill-train, a
# separate process, consumes them.
TRAIN=$root/$BUILD_DIR/trainer/tokenmill-train
ring=qs$$
"$TM" feed --shards "$out/data" --ring "$ring-train" --batch 16 --seq-len 128 --seed 1 \
  --val-fraction 0.05 --split train > "$out/feed-train.log" 2>&1 &
feed_train=$!
"$TM" feed --shards "$out/data" --ring "$ring-val" --batch 16 --seq-len 128 --seed 1 \
  --val-fraction 0.05 --split val --max-batches 8 > "$out/feed-val.log" 2>&1 &
feed_val=$!
trap 'kill $feed_train $feed_val 2>/dev/null || true' EXIT
rm -rf "$out/train"
cat > "$out/train.ini" <<INI
[model]
layers = 2
d_model = 128
heads = 4
[train]
batch = 16
steps = $STEPS
lr = 2e-3
warmup = 50
threads = $(nproc)
out_dir = $out/train
log_every = 100
[data]
source = ring
ring_name = $ring-train
val_ring = $ring-val
tokenizer = $out/data/tokenizer.json
[eval]
every = 100
batches = 8
INI
echo "training 2 layers, d_model 128, $STEPS steps on $(nproc) threads (log: $out/train.log)"
"$TRAIN" run -c "$out/train.ini" 2> "$out/train.log"
kill $feed_train $feed_val 2>/dev/null || true
echo "validation loss (nats/token):"
grep -o 'event=eval step=[0-9]* val_loss=[0-9.]*' "$out/train.log" | sed 's/event=eval /  /'
echo "sample:"
"$TRAIN" sample --ckpt "$out/train/best.tmc" --tokenizer "$out/data/tokenizer.json" --prompt "The " \
  --tokens 200 --seed 1 2>/dev/null
echo

step "summary"
echo "shards, stats.json, DATACARD.md:  $out/data"
echo "training metrics, loss curve:     $out/train/metrics.jsonl, $out/train/loss.svg"
echo "checkpoints (best.tmc, ckpt-*.tmc): $out/train/"
echo "tests:                            deploy/test.sh"
