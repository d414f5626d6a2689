#!/usr/bin/env bash
# Early stopping: a model that memorises a tiny training set while the
# validation text differs hits a validation plateau and then overfits; the run
# stops after `patience` evaluations without improvement, and best.tmc is the
# checkpoint of the evaluation with the lowest validation loss.
set -euo pipefail
W=$(mktemp -d /tmp/tm_early.XXXXXX)
trap 'rm -rf "$W"' EXIT
"$PYTHON" "$TM_SOURCE_DIR/tests/trainer/make_text_tokens.py" "$W" 60 > /dev/null
head -c 4000 "$W/train.u16" > "$W/tiny.u16"
cat > "$W/run.ini" <<INI
[model]
layers = 2
d_model = 64
heads = 4
seq_len = 32
vocab_size = 256
[train]
batch = 8
steps = 3000
lr = 3e-3
warmup = 10
schedule = constant
weight_decay = 0
out_dir = $W/out
log_every = 1000
[data]
source = file
train_file = $W/tiny.u16
val_file = $W/val.u16
[eval]
every = 20
batches = 4
patience = 3
min_delta = 0.01
INI
"$TOKENMILL_TRAIN" run -c "$W/run.ini" 2> "$W/log" > "$W/out.txt"
grep -q "early_stopped=1" "$W/out.txt"
grep -q "event=early_stop" "$W/log"
"$PYTHON" - "$W" <<'PY'
import json, struct, sys
w = sys.argv[1]
rows = [json.loads(l) for l in open(w + "/out/metrics.jsonl")]
ev = [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r]
last = max(r["step"] for r in rows)
assert last < 3000, "did not stop early"
best_step, best = min(ev, key=lambda e: e[1])
# after the best, `patience` evaluations (or more, if small improvements < min_delta)
assert len([s for s, _ in ev if s > best_step]) >= 3, ev
hdr = open(w + "/out/best.tmc", "rb").read(512)
assert hdr[:8] == b"TMCKPT\x00\x01"
step = struct.unpack_from("<Q", hdr, 40)[0]
assert step == best_step, (step, best_step, ev)
print("stopped at", last, "best", best_step, best)
PY
