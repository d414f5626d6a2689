#!/usr/bin/env bash
# A real-text training run (by hand, not CTest): byte-level tokens of the
# Brown corpus, Moby-Dick and the State-of-the-Union addresses from
# ../shared/corpora (or CORPORA), 95/5 train/validation split, a 4-layer
# d=128 model for STEPS (default 3000) steps. Leaves OUT (default
# /tmp/tm-real-text) with metrics.jsonl, loss.svg, checkpoints and a sample.
#
# Usage: tests/bench/train/real_text.sh [BUILD_DIR] [OUT] [STEPS] [THREADS]
set -euo pipefail
BUILD=${1:-build}
OUT=${2:-/tmp/tm-real-text}
STEPS=${3:-3000}
THREADS=${4:-1}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
CORPORA=${CORPORA:-$ROOT/../shared/corpora}
mkdir -p "$OUT"
/usr/bin/python3 - "$CORPORA" "$OUT" <<'PY'
import glob, sys, numpy as np
src, out = sys.argv[1], sys.argv[2]
files = sorted(glob.glob(src + "/books/brown/*.txt")) + [src + "/books/moby-dick.txt"] + \
        sorted(glob.glob(src + "/books/sotu/*.txt"))
docs = [open(f, "rb").read() for f in files]
rng = np.random.default_rng(0)
order = rng.permutation(len(docs))
val = set(order[: max(1, len(docs) // 20)].tolist())
tr = b"\n\n".join(d for i, d in enumerate(docs) if i not in val)
va = b"\n\n".join(d for i, d in enumerate(docs) if i in val)
np.frombuffer(tr, np.uint8).astype("<u2").tofile(out + "/train.u16")
np.frombuffer(va, np.uint8).astype("<u2").tofile(out + "/val.u16")
p = np.bincount(np.frombuffer(tr, np.uint8), minlength=256) / len(tr)
p = p[p > 0]
print("train %d bytes, val %d bytes, unigram entropy %.4f nats" % (len(tr), len(va), -(p * np.log(p)).sum()))
PY
cat > "$OUT/run.ini" <<INI
[model]
layers = 4
d_model = 128
heads = 4
seq_len = 128
vocab_size = 256
[train]
batch = 16
steps = $STEPS
lr = 2e-3
warmup = 100
schedule = cosine
threads = $THREADS
out_dir = $OUT/run
log_every = 100
[data]
source = file
train_file = $OUT/train.u16
val_file = $OUT/val.u16
[eval]
every = 100
batches = 16
[checkpoint]
every = 500
INI
"$BUILD/trainer/tokenmill-train" run -c "$OUT/run.ini" $( [ -d "$OUT/run" ] && ls "$OUT"/run/ckpt-*.tmc > /dev/null 2>&1 && echo --resume )
"$BUILD/trainer/tokenmill-train" sample --ckpt "$OUT/run/best.tmc" --prompt "The ship " --tokens 400 --seed 1 \
  --temperature 0.8 --top-k 40 | tee "$OUT/sample.txt"
