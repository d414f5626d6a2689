#!/bin/bash
# tokenmill feed: --help, usage errors (exit 2) naming the flag, and a
# missing shard directory (exit 1) naming the path.
set -u
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; fi; }
out=$("$TOKENMILL" feed --help); rc=$?
check "help exits 0" "[ $rc -eq 0 ]"
check "help names --seq-len" "grep -q -- --seq-len <<<\"\$out\""
err=$("$TOKENMILL" feed --shards /nonexistent --ring r --batch 2 --seq-len 8 2>&1); rc=$?
check "missing --seed is a usage error" "[ $rc -eq 2 ] && grep -q -- --seed <<<\"\$err\""
err=$("$TOKENMILL" feed --shards /x --ring r --batch two --seq-len 8 --seed 1 2>&1); rc=$?
check "bad --batch is a usage error" "[ $rc -eq 2 ] && grep -q -- --batch <<<\"\$err\""
err=$("$TOKENMILL" feed --shards /x --ring r --batch 2 --seq-len 8 --seed 1 --weights web 2>&1); rc=$?
check "bad --weights is a usage error" "[ $rc -eq 2 ] && grep -q 'NAME=VALUE' <<<\"\$err\""
err=$("$TOKENMILL" feed --shards /nonexistent-dir-$$ --ring r$$ --batch 2 --seq-len 8 --seed 1 2>&1); rc=$?
check "missing shard directory is a runtime error naming it" "[ $rc -eq 1 ] && grep -q nonexistent-dir-$$ <<<\"\$err\""
err=$("$TOKENMILL" feed --shards /x --ring r --batch 2 --seq-len 8 --seed 1 --dropout 0.1 2>&1); rc=$?
check "--dropout without --tokenizer is a usage error" "[ $rc -eq 2 ] && grep -q -- --tokenizer <<<\"\$err\""
err=$("$TOKENMILL" feed --shards /x --ring r --batch 2 --seq-len 8 --seed 1 --dropout 1.5 --tokenizer t 2>&1); rc=$?
check "--dropout out of range is a usage error" "[ $rc -eq 2 ] && grep -q -- --dropout <<<\"\$err\""
[ $fail -eq 0 ] && echo "test_feed_cli: ok"
exit $fail
