#!/usr/bin/env bash
# The training part of deploy/quickstart.sh: token shards -> `tokenmill feed`
# (a training ring and a validation ring, 5% of the documents held out) -> a
# small GPT trained for a few minutes on the machine's cores -> the
# validation loss falling, the loss curve, a generated sample.
#
# Usage: trainer/quickstart.sh SHARD_DIR OUTDIR [BUILD_DIR] [STEPS]
set -euo pipefail
shards=$1
out=$2
build=${3:-build}
steps=${4:-1500}
root=$(cd "$(dirname "$0")/.." && pwd)
TM=$root/$build/pipeline/tokenmill
TRAIN=$root/$build/trainer/tokenmill-train
ring=quickstart$$
rm -rf "$out/train" "$out/feed-state"
mkdir -p "$out"
feeders=()
cleanup() {
  for p in "${feeders[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -f /dev/shm/tokenmill.${ring}.0 /dev/shm/tokenmill.${ring}val.0
}
trap cleanup EXIT
common=(--shards "$shards" --batch 16 --seq-len 128 --seed 1 --val-fraction 0.05)
"$TM" feed "${common[@]}" --ring "$ring" --state "$out/feed-state/train" 2> "$out/feed.log" &
feeders+=($!)
"$TM" feed "${common[@]}" --ring "${ring}val" --split val --passes 1 \
  --state "$out/feed-state/val" 2> "$out/feed-val.log" &
feeders+=($!)
threads=$(nproc)
tok=()
tokpath=""
if [ -f "$shards/tokenizer.json" ]; then
  tokpath=$shards/tokenizer.json
  tok=(--tokenizer "$tokpath")
fi
cat > "$out/train.ini" <<INI
[model]
layers = 2
d_model = 128
heads = 4
[train]
batch = 16
steps = $steps
lr = 2e-3
warmup = 50
threads = $threads
out_dir = $out/train
log_every = 100
[data]
source = ring
ring_name = $ring
val_ring = ${ring}val
tokenizer = $tokpath
[eval]
every = 100
batches = 8
INI
echo "training: 2 layers, d 128, T 128, $steps steps, $threads threads, from tokenmill feed (log: $out/train.log)"
"$TRAIN" run -c "$out/train.ini" 2> "$out/train.log"
echo "validation loss (nats/token):"
grep -o 'event=eval step=[0-9]* val_loss=[0-9.]*' "$out/train.log" | sed 's/event=eval /  /' |
  awk '{a[NR] = $0} END {for (i = 1; i <= NR; i++) if (i == 1 || i % 5 == 0 || i == NR) print a[i]}'
echo "feeder wait: $(grep -o '"wait_s":[0-9.]*' "$out/train/metrics.jsonl" | cut -d: -f2 |
  awk '{s += $1} END {printf "%.3f s over %d steps", s, NR}')"
echo "loss curve: $out/train/loss.svg"
echo "sample:"
"$TRAIN" sample --ckpt "$out/train/best.tmc" "${tok[@]}" --prompt "The " --tokens 300 --seed 1
