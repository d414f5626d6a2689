#!/usr/bin/env bash
# Data-parallel training over MPI (trainer/dp.h), on one machine:
#  1. mpirun -np 2, each rank on its own ring (one feeder per rank, as one
#     per node would be: --rank 0 and --rank 1; batch 4 each), gives the
#     loss curve of one process with batch 8 on a world-1 ring, within fp
#     tolerance; the parameters are compared across
#     ranks every 5 steps (a mismatch would stop the run); gradient buckets of
#     64 KiB overlapped with backward give bitwise the sums of [dp] overlap = false;
#  2. the same with a token file (each rank takes its rows of the global
#     batch) and evaluation (validation loss averaged over ranks);
#  3. SIGKILL of rank 1 mid-run: the job stops (mpirun exits non-zero naming
#     the rank) and does not hang; --resume with 2 ranks ends with exactly the
#     uninterrupted 2-rank curve; --resume of the same checkpoint with ONE
#     process and batch 8 (same global batch) matches within fp tolerance;
#     SIGTERM to every rank (Slurm's preemption) stops all at the same step
#     with a checkpoint and exit 0; --resume continues bitwise;
#  4. a hung rank (SIGSTOP): the peer's collective times out ([dp] timeout_s)
#     and the job ends with that error;
#  5. ranks whose parameters diverge fail the hash comparison;
#  6. a config error on every rank stops the job with the message.
set -u
if ! command -v mpirun > /dev/null 2>&1; then
  echo "SKIP: mpirun not found (apt-get install openmpi-bin libopenmpi-dev)"
  exit 77
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# one machine: shared memory only; no CMA (needs ptrace rights in containers)
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_rmaps_base_oversubscribe=1
# ASan builds: under mpirun, leak checking is off for the ranks (ASan and
# UBSan errors still abort). OpenMPI/PMIx components allocate at load time and
# are unmapped by MPI_Finalize, so LeakSanitizer reports them as "<unknown
# module>" frames that no suppression can match. Our own code's allocations
# are the same as in the single-process runs below, which keep leak checking.
mpi_env=(env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0")
W=$(mktemp -d /tmp/tm-dp.XXXXXX)
ring="dp$$"
feeders=()
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; else echo "ok: $1"; fi; }
cleanup() {
  for f in "${feeders[@]}"; do kill -TERM "$f" 2> /dev/null; done
  for f in "${feeders[@]}"; do wait "$f" 2> /dev/null; done
  rm -rf "$W"
  rm -f /dev/shm/tokenmill.$ring*
}
trap cleanup EXIT
mpi() { timeout 120 "${mpi_env[@]}" mpirun --oversubscribe -np "$@"; }

"$PYTHON" - "$W/in" << 'PY'
import os, random, sys
out = sys.argv[1]; os.makedirs(out)
rnd = random.Random(11)
words = "the whale sea ship and of a in captain harpoon white deep water sailor".split()
for i in range(40):
    with open(os.path.join(out, "doc%02d.txt" % i), "w") as f:
        f.write(" ".join(rnd.choice(words) for _ in range(rnd.randint(50, 400))) + "\n")
PY
"$TOKENMILL" shards pack --bytelevel -o "$W/shards" --format text --max-tokens 20000 \
  "$W"/in/*.txt > /dev/null 2>&1
check "shards packed" "[ -f $W/shards/manifest.json ]"

# feed NAME WORLD BATCH [ARGS]: a feeder for ring NAME (every rank, or --rank
# R0-R1 in ARGS), in the background
feed() {
  local name=$1 world=$2 batch=$3
  shift 3
  "$TOKENMILL" --log-level warn feed --shards "$W/shards" --ring "$ring$name" --world "$world" \
    --batch "$batch" --seq-len 32 --seed 7 "$@" > "$W/feed-$name$*.log" 2>&1 &
  feeders+=($!)
}
# ini OUT RINGSUFFIX BATCH
ini() {
  cat << INI
[model]
layers = 2
d_model = 64
heads = 2
[train]
batch = $3
steps = 60
lr = 2e-3
warmup = 5
schedule = cosine
threads = 1
out_dir = $W/$1
log_every = 1000
[data]
source = ring
ring_name = $ring$2
ring_wait_s = 30
[eval]
every = 0
[checkpoint]
every = 5
keep = 20
[dp]
hash_every = 5
bucket_kb = 64
INI
}
# compare A B TOL [KEY]: same steps, |a-b| <= TOL*|a| for loss (and grad_norm)
compare() {
  "$PYTHON" - "$@" << 'PY'
import json, sys
a, b, tol = sys.argv[1], sys.argv[2], float(sys.argv[3])
key = sys.argv[4] if len(sys.argv) > 4 else "loss"
def load(p):
    return [json.loads(l) for l in open(p) if '"%s"' % key in l]
x, y = load(a), load(b)
if len(x) != len(y) or not x:
    print("%s: %d lines, %s: %d lines" % (a, len(x), b, len(y))); sys.exit(1)
worst = 0.0
for p, q in zip(x, y):
    for k in (key, "grad_norm") if key == "loss" else (key,):
        d = abs(p[k] - q[k]) / max(abs(p[k]), 1e-12)
        worst = max(worst, d)
        if d > tol:
            print("step %d %s: %r vs %r (rel %.3g > %g)" % (p["step"], k, p[k], q[k], d, tol))
            for p2, q2 in zip(x, y): print(p2["step"], p2[k], q2[k])
            sys.exit(1)
print("%d %s values, worst relative difference %.3g" % (len(x), key, worst))
PY
}
steps_in() { local n=0; [ -f "$1" ] && n=$(grep -c "\"loss\"" "$1"); echo "${n:-0}"; }

# 1. one process, batch 8  vs  2 ranks x batch 4
feed s 1 8
# one feeder per "node", each serving its rank, computing the same global order
feed d 2 4 --rank 0
feed d 2 4 --rank 1
ini a s 8 > "$W/a.ini"
ini b d 4 > "$W/b.ini"
"$TOKENMILL_TRAIN" run -c "$W/a.ini" > "$W/a.out" 2> "$W/a.err"
check "single process trains" "[ \$? -eq 0 ] && [ \$(steps_in $W/a/metrics.jsonl) -eq 60 ]"
mpi 2 "$TOKENMILL_TRAIN" run -c "$W/b.ini" > "$W/b.out" 2> "$W/b.err"
rc=$?
check "mpirun -np 2 trains (rc $rc)" "[ $rc -eq 0 ] && [ \$(steps_in $W/b/metrics.jsonl) -eq 60 ]"
[ $rc -eq 0 ] || tail -20 "$W/b.err"
check "both ranks joined (world 2)" "grep -q 'rank=1 world=2 global_batch=8' $W/b.err"
check "one summary (rank 0)" "[ \$(grep -c '^steps=60' $W/b.out) -eq 1 ]"
check "2 ranks = 1 process with the same global batch" "compare $W/a/metrics.jsonl $W/b/metrics.jsonl 2e-3"
# the same without overlap (buckets posted after backward): the same sums
feed d2 2 4
ini b2 d2 4 > "$W/b2.ini"
mpi 2 "$TOKENMILL_TRAIN" run -c "$W/b2.ini" --set dp.overlap=false > /dev/null 2> "$W/b2.err"
check "overlap off: the same curve, bitwise" "compare $W/b/metrics.jsonl $W/b2/metrics.jsonl 0"
check "checkpoints written once, by rank 0" "[ -f $W/b/ckpt-00000060.tmc ] && [ \$(ls $W/b | grep -c tmp) -eq 0 ]"

# 2. token file source with evaluation
"$PYTHON" "$TM_SOURCE_DIR/tests/trainer/make_text_tokens.py" "$W/tok" 30 > /dev/null
for x in fa fb; do
  b=8; [ $x = fb ] && b=4
  ini $x - $b | sed -e "s|^source = ring|source = file\ntrain_file = $W/tok/train.u16\nval_file = $W/tok/val.u16|" \
    -e 's/^lr = 2e-3/lr = 5e-4/' -e 's/^every = 0/every = 20\nbatches = 2/' -e 's/^heads = 2/heads = 2\nseq_len = 32\nvocab_size = 256/' \
    > "$W/$x.ini"
done
"$TOKENMILL_TRAIN" run -c "$W/fa.ini" > /dev/null 2> "$W/fa.err"
mpi 2 "$TOKENMILL_TRAIN" run -c "$W/fb.ini" > /dev/null 2> "$W/fb.err"
rc=$?
check "file source: mpirun -np 2 trains (rc $rc)" "[ $rc -eq 0 ]"
[ $rc -eq 0 ] || tail -20 "$W/fb.err"
check "file source: same loss curve" "compare $W/fa/metrics.jsonl $W/fb/metrics.jsonl 2e-3"
check "file source: same validation losses" "compare $W/fa/metrics.jsonl $W/fb/metrics.jsonl 2e-3 val_loss"

# 3. kill rank 1 mid-run, then resume (2 ranks, and 1 process)
feed c 2 4
ini c c 4 > "$W/c.ini"
"${mpi_env[@]}" mpirun --oversubscribe -np 2 "$TOKENMILL_TRAIN" run -c "$W/c.ini" > "$W/c.out" 2> "$W/c.err" &
mp=$!
for _ in $(seq 1 3000); do
  [ "$(steps_in "$W/c/metrics.jsonl")" -ge 12 ] && break
  sleep 0.01
done
victim=""
for p in $(pgrep -P $mp); do
  if tr '\0' '\n' < /proc/$p/environ 2> /dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then victim=$p; fi
done
check "found rank 1's process" "[ -n '$victim' ]"
[ -n "$victim" ] && kill -KILL "$victim"
# the job must end by itself (the launcher notices the dead rank)
for _ in $(seq 1 600); do kill -0 $mp 2> /dev/null || break; sleep 0.1; done
if kill -0 $mp 2> /dev/null; then
  check "job stopped within 60 s of the kill" "false"
  kill -KILL $mp
fi
wait $mp
rc=$?
n=$(steps_in "$W/c/metrics.jsonl")
echo "killed rank 1 after $n steps; mpirun rc $rc"
check "killed mid-run" "[ $n -lt 60 ]"
check "job exit status is an error" "[ $rc -ne 0 ]"
check "the error names the dead rank" "grep -Eqi 'rank 1.*(signal 9|killed)|process rank 1' $W/c.err"
[ $fail -eq 0 ] || tail -15 "$W/c.err"
cp -r "$W/c" "$W/e"
mpi 2 "$TOKENMILL_TRAIN" run -c "$W/c.ini" --resume > /dev/null 2> "$W/c2.err"
rc=$?
check "resume with 2 ranks (rc $rc)" "[ $rc -eq 0 ] && grep -q 'event=resume' $W/c2.err"
check "resumed 2-rank curve = uninterrupted 2-rank curve (bitwise)" "compare $W/b/metrics.jsonl $W/c/metrics.jsonl 0"
feed e 1 8
ini e e 8 > "$W/e.ini"
"$TOKENMILL_TRAIN" run -c "$W/e.ini" --resume > /dev/null 2> "$W/e.err"
rc=$?
check "resume the 2-rank checkpoint with 1 process, batch 8 (rc $rc)" "[ $rc -eq 0 ]"
check "... gives the single-process curve" "compare $W/a/metrics.jsonl $W/e/metrics.jsonl 2e-3"
# a global batch of 7: the checkpoint's cursor (window 480) is not on a batch boundary
feed g 1 7
ini g g 7 > "$W/g.ini"
cp -r "$W/e" "$W/g"
"$TOKENMILL_TRAIN" run -c "$W/g.ini" --resume > /dev/null 2> "$W/g.err"
rc=$?
check "another global batch is refused (rc $rc)" "[ $rc -ne 0 ] && grep -q 'not a multiple of the global batch' $W/g.err"

# 3b. SIGTERM to every rank (what Slurm does before preemption): all ranks stop
#     at the same step, rank 0 checkpoints, exit 0; --resume continues bitwise
feed t 2 4
ini t t 4 > "$W/t.ini"
"${mpi_env[@]}" mpirun --oversubscribe -np 2 "$TOKENMILL_TRAIN" run -c "$W/t.ini" > "$W/t.out" 2> "$W/t.err" &
mp=$!
for _ in $(seq 1 3000); do
  [ "$(steps_in "$W/t/metrics.jsonl")" -ge 12 ] && break
  sleep 0.01
done
kill -TERM $(pgrep -P $mp) 2> /dev/null
wait $mp
rc=$?
n=$(steps_in "$W/t/metrics.jsonl")
echo "SIGTERM after $n steps"
check "SIGTERM: exit 0 (rc $rc), both ranks stopped at the same step" \
  "[ $rc -eq 0 ] && [ \$(grep -c \"event=interrupted step=$n \" $W/t.err) -eq 2 ] && [ -f $W/t/ckpt-\$(printf %08d $n).tmc ]"
mpi 2 "$TOKENMILL_TRAIN" run -c "$W/t.ini" --resume > /dev/null 2> "$W/t2.err"
check "SIGTERM: resumed curve = uninterrupted (bitwise)" "compare $W/b/metrics.jsonl $W/t/metrics.jsonl 0"

# 4. a hung rank (SIGSTOP): rank 0's allreduce times out ([dp] timeout_s), it
#    reports the step and MPI_Abort ends every rank
feed h 2 4
ini hang h 4 > "$W/hang.ini"
"${mpi_env[@]}" mpirun --oversubscribe -np 2 "$TOKENMILL_TRAIN" run -c "$W/hang.ini" \
  --set dp.timeout_s=2 > /dev/null 2> "$W/hang.err" &
mp=$!
for _ in $(seq 1 3000); do
  [ "$(steps_in "$W/hang/metrics.jsonl")" -ge 3 ] && break
  sleep 0.01
done
victim=""
for p in $(pgrep -P $mp); do
  if tr '\0' '\n' < /proc/$p/environ 2> /dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then victim=$p; fi
done
[ -n "$victim" ] && kill -STOP "$victim"
for _ in $(seq 1 600); do kill -0 $mp 2> /dev/null || break; sleep 0.1; done
if kill -0 $mp 2> /dev/null; then
  check "hung rank: job ended within 60 s" "false"
  [ -n "$victim" ] && kill -KILL "$victim"
  kill -KILL $mp
fi
wait $mp
rc=$?
check "hung rank: job fails (rc $rc) naming the timeout" "[ $rc -ne 0 ] && grep -q 'did not complete within 2 s' $W/hang.err"
[ -n "$victim" ] && kill -KILL "$victim" 2> /dev/null

# 5. ranks that diverge (here: rank 1 given another learning rate, MPMD) are
#    caught by the parameter hash comparison at step 5
ini x x 4 > "$W/x.ini"
sx=(--set data.source=synthetic --set model.seq_len=32)
mpi 1 "$TOKENMILL_TRAIN" run -c "$W/x.ini" "${sx[@]}" : -np 1 "$TOKENMILL_TRAIN" run -c "$W/x.ini" \
  "${sx[@]}" --set train.lr=1e-3 > /dev/null 2> "$W/x.err"
rc=$?
check "diverged ranks: job fails (rc $rc) at the hash check" \
  "[ $rc -ne 0 ] && grep -q 'step 5: the parameters of rank 1 (hash [0-9a-f]*) differ' $W/x.err"

# 6. an error on the ranks stops the job with its message
mpi 2 "$TOKENMILL_TRAIN" run -c "$W/b.ini" --set data.ring_rank=1 > /dev/null 2> "$W/h.err"
rc=$?
check "config error: job fails (rc $rc) with the message" "[ $rc -ne 0 ] && grep -q 'ring_rank = 1' $W/h.err"

[ $fail -eq 0 ] && echo "test_dp_mpi: ok"
exit $fail
