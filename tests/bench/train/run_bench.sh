#!/usr/bin/env bash
# tokenmill-train vs PyTorch (CPU) vs OpenBLAS sgemm alone, in the same run.
#
# Usage: tests/bench/train/run_bench.sh [BUILD_DIR] [STEPS] [REPEAT] [CONFIGS]
#   BUILD_DIR  a Release build with tokenmill-train (default: build)
#   STEPS      timed steps per measurement after 1 warmup step (default 3)
#   REPEAT     each measurement is taken REPEAT times (default 2), the
#              fastest kept, for every system alike: on a shared machine the
#              minimum is the least disturbed figure
#   CONFIGS    "S M" (default), or one of them
#
# For configs S (4 layers, d 256, 4 heads) and M (6 layers, d 384, 6 heads),
# T 256, V 8192, B 8, with 1 and 2 threads, prints
#   - our step (ms, tokens/s, GFLOP/s), its kernel/attention/AdamW times,
#   - the split of the step measured inside it: the sgemm calls (linear
#     layers, head, attention's products) against everything else
#     (in_step_non_matmul_share; best_: each part's fastest step),
#   - the same step's sgemm calls alone, run right after each step
#     (matmul_only_ms; non_matmul_share_vs_probe = 1 - matmul_only/step: the
#     probe reuses small buffers that stay in cache, so it is a floor),
#   - PyTorch's step with the default (pthread) OpenBLAS and with Debian's
#     OpenMP OpenBLAS (LD_LIBRARY_PATH), and the better of the two,
#   - the ratios tokens/s ours / PyTorch's best, and the same from CPU time
#     per step (the stable figure for 1 thread on a machine shared with other
#     work: wall time there measures the neighbours as much as the code).
# OPENBLAS_CORETYPE is set for PyTorch to what tokenmill-train picks itself
# (see trainer/threads.h), so both use the same sgemm kernels.
set -euo pipefail
BUILD=${1:-build}
STEPS=${2:-3}
REPEAT=${3:-2}
CONFIGS=${4:-S M}
HERE=$(cd "$(dirname "$0")" && pwd)
TRAIN=$BUILD/trainer/tokenmill-train
PY=/usr/bin/python3
OMPLIB=/usr/lib/x86_64-linux-gnu/openblas-openmp
[ -x "$TRAIN" ] || { echo "no $TRAIN: build it first (cmake --build $BUILD --target tokenmill-train)"; exit 2; }
$PY -c "import torch" 2>/dev/null || { echo "PyTorch missing: apt-get install python3-torch"; exit 2; }
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  if grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SKYLAKEX
  elif grep -q avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=HASWELL; fi
fi
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-auto}"

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
# best LINE of REPEAT runs of a command (lowest ms_per_step)
best_of() {
  local best="" b=""
  for _ in $(seq 1 "$REPEAT"); do
    local line ms
    line=$("$@")
    ms=$(echo "$line" | field ms_per_step)
    if [ -z "$best" ] || awk -v a="$ms" -v b="$b" 'BEGIN { exit !(a < b) }'; then best=$line; b=$ms; fi
  done
  echo "$best"
}

for cfg in "S 4 256 4" "M 6 384 6"; do
  set -- $cfg
  case " $CONFIGS " in *" $1 "*) ;; *) continue ;; esac
  name=$1 L=$2 D=$3 H=$4
  for th in 1 2; do
    args="--layers $L --d-model $D --heads $H --seq-len 256 --vocab 8192 --batch 8 --steps $STEPS --threads $th"
    ours=$(best_of "$TRAIN" bench $args --matmuls)
    # torch.set_num_threads does not reach the pthread OpenBLAS: pin it too
    t_pt=$(best_of env OPENBLAS_NUM_THREADS=$th OMP_NUM_THREADS=$th $PY "$HERE/bench_torch.py" $args)
    t_omp=$(best_of env OPENBLAS_NUM_THREADS=$th OMP_NUM_THREADS=$th LD_LIBRARY_PATH=$OMPLIB \
            $PY "$HERE/bench_torch.py" $args)
    o_tps=$(echo "$ours" | field tokens_per_s)
    p1=$(echo "$t_pt" | field tokens_per_s)
    p2=$(echo "$t_omp" | field tokens_per_s)
    best=$(( p1 > p2 ? p1 : p2 ))
    echo "== config $name, $th thread(s)"
    echo "ours:           $ours"
    echo "torch pthread:  $t_pt"
    echo "torch openmp:   $t_omp"
    pc1=$(echo "$t_pt" | field cpu_ms_per_step)
    pc2=$(echo "$t_omp" | field cpu_ms_per_step)
    awk -v n="$name" -v t="$th" -v o="$o_tps" -v b="$best" -v s="$(echo "$ours" | field ms_per_step)" \
        -v m="$(echo "$ours" | field matmul_only_ms)" -v k="$(echo "$ours" | field kernels_ms)" \
        -v a="$(echo "$ours" | field adamw_ms)" -v oc="$(echo "$ours" | field cpu_ms_per_step)" \
        -v mc="$(echo "$ours" | field matmul_only_cpu_ms)" -v p1="$pc1" -v p2="$pc2" \
        -v sm="$(echo "$ours" | field step_matmul_ms)" -v so="$(echo "$ours" | field step_other_ms)" \
        -v bs="$(echo "$ours" | field best_non_matmul_share)" \
        -v sc="$(echo "$ours" | field step_non_matmul_share_cpu)" \
        'BEGIN { pc = p1 < p2 ? p1 : p2;
                 printf "RESULT config=%s threads=%s ours_tokens_per_s=%d torch_best_tokens_per_s=%d ratio=%.2f step_ms=%s in_step_matmul_ms=%s in_step_other_ms=%s in_step_non_matmul_share=%.3f best_non_matmul_share=%s in_step_non_matmul_share_cpu=%s", n, t, o, b, o / b, s, sm, so, so / s, bs, sc
                 printf " matmul_only_ms=%s non_matmul_share_vs_probe=%.3f kernels_plus_adamw_share=%.3f", m, (s - m) / s, (k + a) / s
                 printf " cpu_ms_ours=%s cpu_ms_torch_best=%.1f cpu_ratio=%.2f non_matmul_share_cpu=%.3f\n", oc, pc, pc / oc, (oc - mc) / oc }'
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
