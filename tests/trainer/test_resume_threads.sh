#!/usr/bin/env bash
# Exact resume with 2 threads. The kernels are deterministic for a given
# thread count (static schedules; every reduction over rows goes through a
# fixed number of chunks summed in order; the bias sums of attention per
# batch row, added in order) and OpenBLAS's threaded sgemm splits rows and
# columns, never the inner dimension, so a 2-thread run repeats itself bit
# for bit. This test checks that a 2-thread run killed mid-run (an injected
# crash, then SIGKILL) and continued with --resume records the same loss,
# step for step, BIT FOR BIT as an uninterrupted 2-thread run, and that the
# 2-thread curve stays within 1e-4 (relative) of the 1-thread one at every
# step (it measured bitwise equal here: tm_k chunking and OpenBLAS's blocking
# do not depend on the thread count; the tolerance only leaves room for a
# BLAS build that splits the inner dimension).
set -euo pipefail
W=$(mktemp -d /tmp/tm_resume2.XXXXXX)
trap 'rm -rf "$W"' EXIT
"$PYTHON" "$TM_SOURCE_DIR/tests/trainer/make_text_tokens.py" "$W" 60 > /dev/null
ini() { # $1 = out dir, $2 = threads
  cat <<INI
[model]
layers = 2
d_model = 64
heads = 4
seq_len = 64
vocab_size = 256
[train]
batch = 4
grad_accum = 2
steps = 120
lr = 2e-3
warmup = 10
schedule = cosine
threads = $2
out_dir = $1
log_every = 1000
[data]
source = file
train_file = $W/train.u16
val_file = $W/val.u16
[eval]
every = 30
batches = 2
[checkpoint]
every = 10
keep = 2
INI
}
ini "$W/a" 2 > "$W/a.ini"
ini "$W/b" 2 > "$W/b.ini"
ini "$W/c" 2 > "$W/c.ini"
ini "$W/one" 1 > "$W/one.ini"
"$TOKENMILL_TRAIN" run -c "$W/a.ini" 2> "$W/a.log" > /dev/null
grep -q "threads=2" "$W/a.log"
"$TOKENMILL_TRAIN" run -c "$W/one.ini" 2> "$W/one.log" > /dev/null

# b: a crash injected at the 47th metrics record (steps 41-46 are redone
# from the checkpoint of step 40), then resumed
TOKENMILL_FAULT="metrics:write:47:CRASH" "$TOKENMILL_TRAIN" run -c "$W/b.ini" 2> "$W/b.log" \
  > /dev/null || true
ls "$W/b"/ckpt-*.tmc > /dev/null
"$TOKENMILL_TRAIN" run -c "$W/b.ini" --resume 2>> "$W/b.log" > /dev/null

# c: SIGKILL once the run has gone past a checkpoint, then resumed
count() { [ -f "$1" ] && grep -c '"loss"' "$1" || echo 0; }
"$TOKENMILL_TRAIN" run -c "$W/c.ini" 2> "$W/c.log" > /dev/null &
pid=$!
for _ in $(seq 1 4000); do
  [ "$(count "$W/c/metrics.jsonl")" -ge 25 ] && break
  sleep 0.005
done
kill -9 $pid 2>/dev/null || true
wait $pid 2>/dev/null || true
echo "c killed after $(count "$W/c/metrics.jsonl") steps"
if ls "$W/c"/ckpt-*.tmc > /dev/null 2>&1; then
  "$TOKENMILL_TRAIN" run -c "$W/c.ini" --resume 2>> "$W/c.log" > /dev/null
else # killed before its first checkpoint: start again
  rm -rf "$W/c"
  "$TOKENMILL_TRAIN" run -c "$W/c.ini" 2>> "$W/c.log" > /dev/null
fi

"$PYTHON" "$TM_SOURCE_DIR/tests/trainer/compare_losses.py" "$W" 120 a b c --close one --tol 1e-4 --trained
