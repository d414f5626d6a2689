#!/usr/bin/env bash
# The training part of deploy/quickstart.sh: token shards -> a small GPT for a
# few minutes on the machine's cores -> validation loss, loss curve, a sample.
#
# Usage: trainer/quickstart.sh SHARD_DIR OUTDIR [BUILD_DIR] [STEPS]
# Until `tokenmill feed` drives the ring in the quickstart, the shards are
# exported as llm.c token files (`tokenmill shards export --format llmc`),
# joined, and split 95/5 into training and validation tokens.
set -euo pipefail
shards=$1
out=$2
build=${3:-build}
steps=${4:-1500}
root=$(cd "$(dirname "$0")/.." && pwd)
TM=$root/$build/pipeline/tokenmill
TRAIN=$root/$build/trainer/tokenmill-train
rm -rf "$out/llmc" "$out/train"
"$TM" shards export --format llmc -o "$out/llmc" "$shards" > /dev/null
vocab=$(/usr/bin/python3 - "$out/llmc" "$out" <<'PY'
import glob, sys, numpy as np
parts = []
for f in sorted(glob.glob(sys.argv[1] + "/*.bin")):
    h = np.fromfile(f, dtype="<i4", count=256)
    parts.append(np.fromfile(f, dtype="<u2", offset=1024, count=int(h[2])))
t = np.concatenate(parts)
k = int(len(t) * 0.95)
t[:k].tofile(sys.argv[2] + "/train.u16")
t[k:].tofile(sys.argv[2] + "/val.u16")
print(int(t.max()) + 1)
PY
)
threads=$(nproc)
tokpath=""
if [ -f "$shards/tokenizer.json" ]; then tokpath=$shards/tokenizer.json; vocab=0; fi
cat > "$out/train.ini" <<INI
[model]
layers = 2
d_model = 128
heads = 4
seq_len = 128
vocab_size = $vocab
[train]
batch = 16
steps = $steps
lr = 2e-3
warmup = 50
threads = $threads
out_dir = $out/train
log_every = 100
[data]
source = file
tokenizer = $tokpath
train_file = $out/train.u16
val_file = $out/val.u16
[eval]
every = 100
batches = 8
INI
echo "training: 2 layers, d 128, $steps steps, $threads threads (log: $out/train.log)"
"$TRAIN" run -c "$out/train.ini" 2> "$out/train.log"
echo "validation loss (nats/token):"
grep -o 'event=eval step=[0-9]* val_loss=[0-9.]*' "$out/train.log" | sed 's/event=eval /  /' |
  awk '{a[NR] = $0} END {for (i = 1; i <= NR; i++) if (i == 1 || i % 5 == 0 || i == NR) print a[i]}'
echo "loss curve: $out/train/loss.svg"
echo "sample:"
tok=()
[ -f "$shards/tokenizer.json" ] && tok=(--tokenizer "$shards/tokenizer.json")
"$TRAIN" sample --ckpt "$out/train/best.tmc" "${tok[@]}" --prompt "The " --tokens 300 --seed 1
