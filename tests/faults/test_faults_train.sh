#!/usr/bin/env bash
# Fault injection into the trainer's checkpoint writer (io site "checkpoint").
#
# A tiny model trains 60 steps with a checkpoint every 20. For each failure
# (ENOSPC at open, a short write, EIO/EDQUOT at write, fsync, close, rename,
# the directory fsync; a power cut (CRASH) before the write or the rename)
# injected into the 1st or 2nd checkpoint:
#   - the run reports it: exit 1 with the errno's text (a crash: SIGKILL);
#   - every checkpoint left in the output directory loads (sample reads it,
#     checking both checksums and every size); no ckpt-*.tmp survives as a
#     checkpoint name;
#   - `run --resume` completes, and the loss curve of the resumed run equals
#     the uninterrupted run's at every step, bit for bit (nothing lost,
#     nothing replayed twice).
set -uo pipefail
: "${TOKENMILL_TRAIN:?}" "${PYTHON:=/usr/bin/python3}" "${TM_SOURCE_DIR:?}"
W=$(mktemp -d /dev/shm/tm_ftrain.XXXXXX 2>/dev/null || mktemp -d /tmp/tm_ftrain.XXXXXX)
trap 'rm -rf "$W"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
"$PYTHON" "$TM_SOURCE_DIR/tests/trainer/make_text_tokens.py" "$W" 30 > /dev/null
ini() { # $1 = out dir
  cat <<INI
[model]
layers = 1
d_model = 32
heads = 2
seq_len = 32
vocab_size = 256
[train]
batch = 4
steps = 60
lr = 2e-3
warmup = 5
threads = 1
out_dir = $1
log_every = 1000
[data]
source = file
train_file = $W/train.u16
val_file = $W/val.u16
[eval]
every = 20
batches = 2
[checkpoint]
every = 20
keep = 2
INI
}
losses() {
  "$PYTHON" - "$1/metrics.jsonl" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if "loss" in r:
        print(r["step"], repr(r["loss"]))
PY
}

ini "$W/ref" > "$W/ref.ini"
"$TOKENMILL_TRAIN" run -c "$W/ref.ini" > /dev/null 2> "$W/ref.log" || { echo "FAIL: reference run: $(tail -3 "$W/ref.log")"; exit 1; }
losses "$W/ref" > "$W/ref.loss"
[ "$(wc -l < "$W/ref.loss")" -eq 60 ] || { echo "FAIL: reference run logged $(wc -l < "$W/ref.loss") steps"; exit 1; }

fired=0 n=0
for spec in open:1:ENOSPC write:1:SHORT write:2:EIO write:3:EDQUOT write:4:ENOSPC fsync:1:EIO fsync:2:EIO \
            close:1:EIO rename:1:EDQUOT rename:2:EIO fsyncdir:1:EIO write:2:CRASH rename:2:CRASH; do
  c=checkpoint:$spec what=${spec##*:}
  n=$((n + 1))
  d="$W/o$n"
  ini "$d" > "$W/o$n.ini"
  TOKENMILL_FAULT=$c "$TOKENMILL_TRAIN" run -c "$W/o$n.ini" > /dev/null 2> "$W/f.log"
  rc=$?
  case $what in
  CRASH) want="injected crash" ;;
  ENOSPC|SHORT) want="No space left on device" ;;
  EIO) want="Input/output error" ;;
  EDQUOT) want="quota exceeded" ;;
  esac
  if [ $rc -eq 0 ]; then
    result="not reached"
  elif [ "$what" = CRASH ]; then
    [ $rc -eq 137 ] || fail "$c: exit $rc, want 137: $(tail -2 "$W/f.log")"
    result=crashed fired=$((fired + 1))
  else
    [ $rc -eq 1 ] || fail "$c: exit $rc, want 1: $(tail -2 "$W/f.log")"
    grep -qi "$want" "$W/f.log" || fail "$c: stderr does not say '$want': $(tail -3 "$W/f.log")"
    result=reported fired=$((fired + 1))
  fi
  # every published checkpoint loads
  for ck in "$d"/ckpt-*.tmc; do
    [ -e "$ck" ] || continue
    "$TOKENMILL_TRAIN" sample --ckpt "$ck" --prompt ab --tokens 1 --ids > /dev/null 2> "$W/s.log" ||
      fail "$c: published checkpoint $(basename "$ck") does not load: $(tail -2 "$W/s.log")"
  done
  if ls "$d"/ckpt-*.tmc > /dev/null 2>&1; then
    "$TOKENMILL_TRAIN" run -c "$W/o$n.ini" --resume > /dev/null 2> "$W/r.log"
  else # nothing was published: a fresh start is the rerun
    rm -rf "$d"
    "$TOKENMILL_TRAIN" run -c "$W/o$n.ini" > /dev/null 2> "$W/r.log"
  fi
  rrc=$?
  if [ $rrc -ne 0 ]; then
    fail "$c: rerun exit $rrc: $(tail -3 "$W/r.log")"
  else
    # the resumed run's last record per step (a resumed run re-logs the steps after its checkpoint)
    losses "$d" | awk '{last[$1] = $2} END {for (s in last) print s, last[s]}' | sort -n > "$W/o.loss"
    cmp -s "$W/ref.loss" "$W/o.loss" || fail "$c: loss curve after resume differs: $(diff "$W/ref.loss" "$W/o.loss" | head -4)"
  fi
  printf '%-32s exit %3d  %-12s rerun exit %d\n' "$c" $rc "$result" $rrc
  rm -rf "$d"
done
[ $fired -ge $((n - 2)) ] || fail "only $fired of $n checkpoint faults fired"
[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "PASS: $n injected checkpoint faults: reported, checkpoints valid, resumed runs identical"
