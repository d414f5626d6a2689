#!/usr/bin/env bash
# tokenmill-train's commands: --help everywhere, usage errors (exit 2) that
# name the bad key or flag, runtime errors (exit 1) that name the file and
# offset, and a tiny bench that prints its figures.
set -uo pipefail
W=$(mktemp -d /tmp/tm_train_cli.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
expect() { # expect CODE PATTERN -- command...
  local code=$1 pat=$2; shift 3
  "$@" > "$W/o.txt" 2> "$W/e.txt"
  local rc=$?
  [ $rc -eq "$code" ] || fail "$* exited $rc, expected $code: $(cat "$W/e.txt")"
  [ -z "$pat" ] || grep -q -- "$pat" "$W/o.txt" "$W/e.txt" || fail "$*: no '$pat' in: $(cat "$W/o.txt" "$W/e.txt")"
}
T=$TOKENMILL_TRAIN
expect 0 "commands:" -- "$T" --help
for c in run bench sample export; do expect 0 "usage: tokenmill-train $c" -- "$T" $c --help; done
expect 2 "unknown command" -- "$T" frobnicate
expect 0 "\[train\]" -- "$T" run --print-config

printf '[train]\nbatchsize = 4\n' > "$W/bad.ini"
expect 2 "batchsize" -- "$T" run -c "$W/bad.ini"
printf '[model]\nd_model = 30\nheads = 4\n' > "$W/bad2.ini"
expect 2 "multiple of heads" -- "$T" run -c "$W/bad2.ini"
printf '[data]\nsource = file\n' > "$W/bad3.ini"
expect 2 "train_file" -- "$T" run -c "$W/bad3.ini"
expect 2 "schedule" -- "$T" run --set train.schedule=step --set data.source=synthetic

# a token outside the vocabulary: exit 1, file and byte offset named
"$PYTHON" -c "
import numpy as np
a = np.arange(4000, dtype='<u2') % 200
a[2345] = 250
a.tofile('$W/tok.u16')"
cat > "$W/run.ini" <<INI
[model]
layers = 1
d_model = 16
heads = 2
seq_len = 16
vocab_size = 200
[train]
batch = 4
steps = 100
out_dir = $W/out
[data]
source = file
train_file = $W/tok.u16
[eval]
every = 0
INI
expect 1 "byte offset 4690" -- "$T" run -c "$W/run.ini"
expect 1 "no checkpoint" -- "$T" run -c "$W/run.ini" --resume --set train.out_dir="$W/empty"

# synthetic data runs end to end; resuming a finished run is a no-op that succeeds
expect 0 "steps=20" -- "$T" run --set data.source=synthetic --set train.steps=20 --set model.seq_len=16 \
  --set model.d_model=16 --set model.heads=2 --set model.layers=1 --set train.out_dir="$W/syn"
expect 0 "steps=0" -- "$T" run --set data.source=synthetic --set train.steps=20 --set model.seq_len=16 \
  --set model.d_model=16 --set model.heads=2 --set model.layers=1 --set train.out_dir="$W/syn" --resume
# a resume with another architecture is refused
expect 2 "2-head" -- "$T" run --set data.source=synthetic --set train.steps=20 --set model.seq_len=16 \
  --set model.d_model=16 --set model.heads=4 --set model.layers=1 --set train.out_dir="$W/syn" --resume

expect 0 "tokens_per_s=" -- "$T" bench --layers 1 --d-model 16 --heads 2 --seq-len 16 --vocab 64 --batch 2 --steps 2 --matmuls
grep -q "matmul_only_ms=" "$W/o.txt" || fail "bench: no matmul_only_ms"
expect 2 "multiple" -- "$T" bench --d-model 30 --heads 4
expect 2 "--layers" -- "$T" bench --layers 0
expect 2 "" -- "$T" export --ckpt x --format onnx -o y
expect 2 "" -- "$T" sample --prompt x
echo ok
