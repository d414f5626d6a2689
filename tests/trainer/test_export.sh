#!/usr/bin/env bash
# Train a small byte-level model briefly, then: greedy `sample` must equal a
# NumPy GPT-2 run on the safetensors export; the llm.c export must hold the
# same tensors; sampling is deterministic in the seed; bad use is refused.
set -euo pipefail
W=$(mktemp -d /tmp/tm_export.XXXXXX)
trap 'rm -rf "$W"' EXIT
"$PYTHON" "$TM_SOURCE_DIR/tests/trainer/make_text_tokens.py" "$W" 40 > /dev/null
cat > "$W/run.ini" <<INI
[model]
layers = 2
d_model = 32
heads = 4
seq_len = 32
vocab_size = 256
[train]
batch = 4
steps = 60
lr = 3e-3
warmup = 5
out_dir = $W/out
[data]
source = file
train_file = $W/train.u16
INI
"$TOKENMILL_TRAIN" run -c "$W/run.ini" 2> /dev/null > /dev/null
C="$W/out/ckpt-00000060.tmc"
"$TOKENMILL_TRAIN" export --ckpt "$C" --format llmc -o "$W/model.bin" > /dev/null
"$TOKENMILL_TRAIN" export --ckpt "$C" --format safetensors -o "$W/hf" > /dev/null
ids=$("$TOKENMILL_TRAIN" sample --ckpt "$C" --prompt "The village " --tokens 40 --temperature 0 --ids)
"$PYTHON" "$TM_SOURCE_DIR/tests/trainer/check_export.py" "$W/model.bin" "$W/hf" 12 $ids
a=$("$TOKENMILL_TRAIN" sample --ckpt "$C" --prompt "The" --tokens 50 --seed 5)
b=$("$TOKENMILL_TRAIN" sample --ckpt "$C" --prompt "The" --tokens 50 --seed 5)
c=$("$TOKENMILL_TRAIN" sample --ckpt "$C" --prompt "The" --tokens 50 --seed 6 --top-k 5)
[ "$a" = "$b" ]
[ "$a" != "$c" ]
# errors: a missing checkpoint, a corrupt one, bad flags
if "$TOKENMILL_TRAIN" sample --ckpt "$W/nope.tmc" --prompt x 2> "$W/err"; then exit 1; fi
grep -q "nope.tmc" "$W/err"
head -c 2000 "$C" > "$W/short.tmc"
if "$TOKENMILL_TRAIN" export --ckpt "$W/short.tmc" --format llmc -o "$W/x.bin" 2> "$W/err"; then exit 1; fi
grep -q "short.tmc" "$W/err"
set +e
"$TOKENMILL_TRAIN" export --ckpt "$C" --format onnx -o "$W/x" 2> /dev/null
[ $? -eq 2 ] || exit 1
set -e
echo ok
