#!/usr/bin/env bash
# Train a small model on sample-generator text (byte tokens): the validation
# loss must fall below the unigram entropy of the data, metrics.jsonl must
# hold every step, and loss.svg must be a well-formed SVG image.
set -euo pipefail
W=$(mktemp -d /tmp/tm_train_text.XXXXXX)
trap 'rm -rf "$W"' EXIT
H=$("$PYTHON" "$TM_SOURCE_DIR/tests/trainer/make_text_tokens.py" "$W" 150)
cat > "$W/run.ini" <<INI
[model]
layers = 2
d_model = 64
heads = 4
seq_len = 64
vocab_size = 256
[train]
batch = 8
steps = 150
lr = 3e-3
warmup = 15
out_dir = $W/out
[data]
source = file
train_file = $W/train.u16
val_file = $W/val.u16
[eval]
every = 50
batches = 4
INI
"$TOKENMILL_TRAIN" run -c "$W/run.ini" 2> "$W/log"
"$PYTHON" - "$W" "$H" <<'PY'
import json, sys, xml.etree.ElementTree as ET
w, h = sys.argv[1], float(sys.argv[2])
rows = [json.loads(l) for l in open(w + "/out/metrics.jsonl")]
steps = [r["step"] for r in rows if "loss" in r]
vals = [r["val_loss"] for r in rows if "val_loss" in r]
assert steps == list(range(1, 151)), steps[:5]
assert len(vals) == 3, vals
assert vals[-1] < h, "validation loss %.3f is not below the unigram entropy %.3f" % (vals[-1], h)
assert vals[-1] < vals[0], vals
svg = ET.parse(w + "/out/loss.svg").getroot()
assert svg.tag.endswith("svg")
assert len([e for e in svg.iter() if e.tag.endswith("polyline")]) == 2
print("val losses", vals, "unigram entropy", h)
PY
