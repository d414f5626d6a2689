#!/bin/bash
# tokenmill feed end to end: real shards packed by `tokenmill shards pack`,
# consumed through the ring by a separate process (ring_consume):
#  - a pass arrives whole and identical across runs with the same seed;
#  - SIGTERM stops the feeder leaving the ring; a restarted feeder takes it
#    over and the consumer's stream continues without loss or repetition;
#  - --rank R0-R1 serves those ranks' rings.
set -u
CONSUME="$TM_BUILD_DIR/tests/feed/ring_consume"
tmp=$(mktemp -d /tmp/tm-feed-e2e.XXXXXX)
ring="e2e$$"
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; fi; }
cleanup() { rm -rf "$tmp"; rm -f /dev/shm/tokenmill.$ring.*; }
trap cleanup EXIT
"$PYTHON" - "$tmp/in" <<'PY'
import os, random, sys
out = sys.argv[1]; os.makedirs(out)
rnd = random.Random(5)
words = "the whale sea ship and of a in captain harpoon white deep water sailor".split()
for i in range(40):
    with open(os.path.join(out, "doc%02d.txt" % i), "w") as f:
        f.write(" ".join(rnd.choice(words) for _ in range(rnd.randint(20, 400))) + "\n")
PY
"$TOKENMILL" shards pack --bytelevel -o "$tmp/shards" --format text --max-tokens 20000 "$tmp"/in/*.txt >/dev/null 2>&1
check "pack" "[ -f $tmp/shards/manifest.json ]"
# (always started in the background: exec makes $! the feeder itself)
feed() { exec "$TOKENMILL" --log-level warn feed --shards "$tmp/shards" --ring $ring --batch 4 --seq-len 63 --seed 7 --timeout-ms 1000 "$@"; }

# 1. a whole pass, twice
feed --passes 1 > "$tmp/f1.out" 2>"$tmp/f1.err" & f=$!
"$CONSUME" $ring 0 0 > "$tmp/c1" 2>"$tmp/c1.err"; crc=$?
wait $f; frc=$?
check "consumer 1 ok" "[ $crc -eq 0 ]"
check "feeder 1 exit 0" "[ $frc -eq 0 ]"
n=$(wc -l < "$tmp/c1")
check "a pass has batches ($n)" "[ $n -gt 20 ]"
check "feeder reports the count" "grep -q 'fed $n batches' $tmp/f1.out"
feed --passes 1 > /dev/null 2>&1 & f=$!
"$CONSUME" $ring 0 0 > "$tmp/c2" 2>/dev/null
wait $f
check "same seed, same batches" "cmp -s $tmp/c1 $tmp/c2"

# 2. SIGTERM, restart, continue
feed --passes 1 > /dev/null 2>"$tmp/f3.err" & f=$!
"$CONSUME" $ring 0 5 > "$tmp/c3a" 2>/dev/null
sleep 0.3
kill -TERM $f; wait $f; frc=$?
check "SIGTERM: feeder exits 0" "[ $frc -eq 0 ]"
check "SIGTERM: ring kept for a restart" "[ -e /dev/shm/tokenmill.$ring.0 ]"
feed --passes 1 > /dev/null 2>"$tmp/f4.err" & f=$!
"$CONSUME" $ring 0 0 > "$tmp/c3b" 2>/dev/null
wait $f
cat "$tmp/c3a" "$tmp/c3b" | cut -d' ' -f2- > "$tmp/c3"
cut -d' ' -f2- "$tmp/c1" > "$tmp/c1w"
check "restart: no loss, no repetition" "cmp -s $tmp/c1w $tmp/c3"

# 3. ranks 1-2 of 3 from one feeder
feed --passes 1 --world 3 --rank 1-2 --batch 2 > /dev/null 2>"$tmp/f5.err" & f=$!
"$CONSUME" $ring 2 0 > "$tmp/r2" 2>/dev/null & c=$!
"$CONSUME" $ring 1 0 > "$tmp/r1" 2>/dev/null
wait $c; wait $f; frc=$?
check "ranks 1-2: feeder ok" "[ $frc -eq 0 ]"
check "ranks 1-2: same number of batches" "[ \$(wc -l < $tmp/r1) -eq \$(wc -l < $tmp/r2) ] && [ \$(wc -l < $tmp/r1) -gt 10 ]"
check "rank 0 was not served" "[ ! -e /dev/shm/tokenmill.$ring.0 ]"
[ $fail -eq 0 ] && echo "test_feed_e2e: ok"
exit $fail
