#!/usr/bin/env bash
# Data-parallel training, 1 -> 2 processes on this machine: tokenmill-train
# under mpirun vs PyTorch DistributedDataParallel (gloo), in the same run.
#
# Usage: tests/bench/dp/run_bench.sh [BUILD_DIR] [STEPS] [CONFIG]
#   BUILD_DIR  a Release build with -DTOKENMILL_MPI=ON (default: build)
#   STEPS      timed steps per measurement after 1 warmup step (default 5)
#   CONFIG     S (4 layers, d 256, 4 heads; default) or M (6, 384, 6)
#
# Same global batch everywhere: 8 sequences of 256 tokens, vocabulary 8192,
# random tokens (synthetic source: no feeder in the measurement). Rows:
#   ours  1 process x B 8, 1 thread and 2 threads
#   ours  2 ranks x B 4, 1 thread each (mpirun), overlap on and off
#   torch 1 process x B 8, 1 and 2 threads (tests/bench/train/bench_torch.py)
#   torch DDP 2 ranks x B 4, 1 thread each (bench_torch_ddp.py)
# Our ms/step is the median over the timed steps of metrics.jsonl (global
# tokens / tokens_per_s); dp_end lines give the bytes and buckets summed per
# step and the communication time not hidden behind backward.
# The machine has 2 cores: 2 ranks x 1 thread use the same cores as one
# process with 2 threads, so this measures the cost of data parallelism
# (allreduce, duplicated optimizer work) against thread parallelism, not a
# gain from more hardware.
set -euo pipefail
BUILD=${1:-build}
STEPS=${2:-5}
CFG=${3:-S}
HERE=$(cd "$(dirname "$0")" && pwd)
TRAIN=$BUILD/trainer/tokenmill-train
PY=/usr/bin/python3
OMPLIB=/usr/lib/x86_64-linux-gnu/openblas-openmp
[ -x "$TRAIN" ] || { echo "no $TRAIN: build it first with -DTOKENMILL_MPI=ON"; exit 2; }
command -v mpirun > /dev/null || { echo "mpirun missing: apt-get install openmpi-bin libopenmpi-dev"; exit 2; }
$PY -c "import torch" 2> /dev/null || { echo "PyTorch missing: apt-get install python3-torch"; exit 2; }
case $CFG in
  S) L=4 D=256 H=4 ;;
  M) L=6 D=384 H=6 ;;
  *) echo "CONFIG is S or M"; exit 2 ;;
esac
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  if grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SKYLAKEX
  elif grep -q avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=HASWELL; fi
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
W=$(mktemp -d /tmp/tm-dp-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; config $CFG: $L layers, d $D, $H heads, T 256, V 8192, global batch 8"

ini() { # OUT BATCH THREADS
  cat << INI
[model]
layers = $L
d_model = $D
heads = $H
seq_len = 256
vocab_size = 8192
[train]
batch = $2
steps = $((STEPS + 1))
threads = $3
warmup = 1
out_dir = $W/$1
log_every = 1000
[data]
source = synthetic
[eval]
every = 0
[checkpoint]
every = 0
INI
}
# median ms/step of the timed steps (global batch 8 x 256 tokens)
ms_of() {
  $PY - "$1" << 'PY'
import json, sys
t = [json.loads(l)["tokens_per_s"] for l in open(sys.argv[1]) if '"loss"' in l][1:]
ms = sorted(8 * 256 / x * 1e3 for x in t)
print("%.1f" % ms[len(ms) // 2])
PY
}
ours() { # NAME RANKS BATCH THREADS [--set ...]
  local name=$1 np=$2 b=$3 th=$4
  shift 4
  ini "$name" "$b" "$th" > "$W/$name.ini"
  if [ "$np" -eq 1 ]; then
    "$TRAIN" run -c "$W/$name.ini" "$@" > /dev/null 2> "$W/$name.err"
  else
    mpirun --oversubscribe -np "$np" "$TRAIN" run -c "$W/$name.ini" "$@" > /dev/null 2> "$W/$name.err"
  fi
  local ms
  ms=$(ms_of "$W/$name/metrics.jsonl")
  echo "ours $name ranks=$np batch_per_rank=$b threads=$th ms_per_step=$ms tokens_per_s=$(awk -v m="$ms" 'BEGIN{printf "%.0f", 2048/m*1e3}')" >&2
  grep -h 'event=dp_end' "$W/$name.err" | sed 's/^.*event=dp_end/    dp_end/' >&2 || true
  echo "$ms"
}
o1=$(ours one-1t 1 8 1)
o2=$(ours one-2t 1 8 2)
d2=$(ours dp2 2 4 1)
d2n=$(ours dp2-no-overlap 2 4 1 --set dp.overlap=false)
tline() { LD_LIBRARY_PATH=$OMPLIB $PY "$HERE/../train/bench_torch.py" --layers $L --d-model $D --heads $H \
  --seq-len 256 --vocab 8192 --batch 8 --steps "$STEPS" --threads "$1"; }
t1l=$(tline 1); echo "$t1l"
t2l=$(tline 2); echo "$t2l"
tdl=$(LD_LIBRARY_PATH=$OMPLIB $PY "$HERE/bench_torch_ddp.py" --world 2 --layers $L --d-model $D --heads $H \
  --seq-len 256 --vocab 8192 --batch 4 --steps "$STEPS" --threads 1 --port $((20000 + $$ % 20000)))
echo "$tdl"
f() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
t1=$(echo "$t1l" | f ms_per_step); t2=$(echo "$t2l" | f ms_per_step); td=$(echo "$tdl" | f ms_per_step)
awk -v o1="$o1" -v o2="$o2" -v d2="$d2" -v d2n="$d2n" -v t1="$t1" -v t2="$t2" -v td="$td" 'BEGIN {
  printf "step ms (global batch 8):  ours 1p1t %.0f  1p2t %.0f  2 ranks %.0f (no overlap %.0f) | torch 1p1t %.0f  1p2t %.0f  DDP 2 ranks %.0f\n", o1, o2, d2, d2n, t1, t2, td
  printf "speedup 1 -> 2 processes: ours %.2fx (2 threads in 1 process: %.2fx) | torch DDP %.2fx (2 threads: %.2fx)\n", o1 / d2, o1 / o2, t1 / td, t1 / t2
  printf "ratio 2-rank step, torch DDP / ours: %.2fx\n", td / d2
}'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
