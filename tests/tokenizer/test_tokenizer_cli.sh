#!/usr/bin/env bash
# test_tokenizer_cli.sh - `tokenmill tokenizer train|encode|decode|info`: exit
# codes, configuration, round trips, threads, --binary, --lines, dropout,
# special tokens and error messages.
set -euo pipefail
: "${TOKENMILL:?}" "${PYTHON:?}"
work=$(mktemp -d /tmp/tm_tokcli.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_rc() { # rc cmd...
  local want=$1; shift
  set +e; "$@" > "$work/out" 2> "$work/err"; local rc=$?; set -e
  [ "$rc" = "$want" ] || fail "exit $rc (want $want): $* : $(head -c 400 "$work/err")"
}
T() { "$TOKENMILL" tokenizer "$@"; }

"$PYTHON" - "$work" <<'PY'
import random, sys
r = random.Random(5)
words = "the of and to in is that it was for on are as with his they at be this from".split()
words += ["über", "naïve", "日本語", "it's", "we've", "2024", "3.14159", "<b>", "--"]
syl = "ka ri to ne mu sa lo pe vi du ban ter sol mar ing est".split()
words += ["".join(r.choice(syl) for _ in range(r.randint(1, 4))) for _ in range(800)]
lines = []
for i in range(3000):
    lines.append(" ".join(r.choice(words[: r.randint(3, len(words))]) for _ in range(r.randint(0, 20))))
open(sys.argv[1] + "/a.txt", "w", encoding="utf-8").write("\n".join(lines) + "\n")
open(sys.argv[1] + "/bin.dat", "wb").write(bytes(r.randrange(256) for _ in range(20000)))
PY

expect_rc 0 T --help
expect_rc 2 T
expect_rc 2 T frobnicate
expect_rc 2 T train "$work/a.txt"
expect_rc 2 T train --pattern gpt3 -o "$work/x.json" "$work/a.txt"
expect_rc 2 T train --alphabet some -o "$work/x.json" "$work/a.txt"
expect_rc 2 T train --vocab-size 0 -o "$work/x.json" "$work/a.txt"
expect_rc 1 T train -o "$work/x.json" "$work/missing.txt"
grep -q "missing.txt" "$work/err" || fail "train error does not name the input"
printf '[tokenizer]\nvocab_sise = 300\n' > "$work/bad.ini"
expect_rc 2 T train -c "$work/bad.ini" -o "$work/x.json" "$work/a.txt"
grep -q "vocab_sise" "$work/err" || fail "config error does not name the key"

# configuration file, then a flag overriding it
printf '[tokenizer]\nvocab_size = 290\npattern = gpt4\nspecial_tokens = <|endoftext|>,<|pad|>\n' \
  > "$work/tok.ini"
expect_rc 0 T train -c "$work/tok.ini" -o "$work/t.json" "$work/a.txt"
expect_rc 0 T info --tokenizer "$work/t.json"
grep -q "^vocab_size: 290$" "$work/out" || fail "vocab_size from the config: $(cat "$work/out")"
grep -q "^pattern: gpt4$" "$work/out" || fail "pattern from the config"
grep -q "^eot_id: 0$" "$work/out" && grep -q "1=<|pad|>" "$work/out" || fail "specials"
expect_rc 0 T train -c "$work/tok.ini" --vocab-size 400 --threads 2 -o "$work/t.json" "$work/a.txt"
expect_rc 0 T info --tokenizer "$work/t.json"
grep -q "^vocab_size: 400$" "$work/out" || fail "--vocab-size does not override the config"
hash1=$(grep '^hash:' "$work/out")
expect_rc 0 T train -c "$work/tok.ini" --vocab-size 400 --threads 1 -o "$work/t1.json" "$work/a.txt"
cmp -s "$work/t.json" "$work/t1.json" || fail "training differs between 1 and 2 threads"

# round trips: text and arbitrary bytes, text and binary ids
for f in a.txt bin.dat; do
  expect_rc 0 T encode --tokenizer "$work/t.json" "$work/$f"
  cp "$work/out" "$work/ids.txt"
  expect_rc 0 T decode --tokenizer "$work/t.json" "$work/ids.txt"
  cmp -s "$work/out" "$work/$f" || fail "text ids do not round-trip $f"
  expect_rc 0 T encode --tokenizer "$work/t.json" --binary "$work/$f"
  cp "$work/out" "$work/ids.bin"
  [ $(( $(stat -c %s "$work/ids.bin") / 2 )) = "$(wc -w < "$work/ids.txt")" ] \
    || fail "--binary is not 2 bytes per id for a small vocabulary"
  expect_rc 0 T decode --tokenizer "$work/t.json" --binary < "$work/ids.bin"
  cmp -s "$work/out" "$work/$f" || fail "binary ids do not round-trip $f"
done

# --lines, threads: same ids; decode --lines restores the lines
expect_rc 0 T encode --tokenizer "$work/t.json" --lines "$work/a.txt"
cp "$work/out" "$work/l1"
[ "$(wc -l < "$work/l1")" = "$(wc -l < "$work/a.txt")" ] || fail "--lines: one line of ids per line"
expect_rc 0 T encode --tokenizer "$work/t.json" --lines --threads 4 "$work/a.txt"
cmp -s "$work/out" "$work/l1" || fail "--threads changes the ids"
expect_rc 0 T decode --tokenizer "$work/t.json" --lines "$work/l1"
cmp -s "$work/out" "$work/a.txt" || fail "decode --lines does not restore the lines"

# dropout: reproducible for a seed, p=0 is plain encoding, needs --seed
expect_rc 2 T encode --tokenizer "$work/t.json" --dropout 0.1 "$work/a.txt"
expect_rc 2 T encode --tokenizer "$work/t.json" --dropout 1.5 --seed 1 "$work/a.txt"
expect_rc 0 T encode --tokenizer "$work/t.json" --lines --dropout 0.2 --seed 7 --threads 3 "$work/a.txt"
cp "$work/out" "$work/d1"
expect_rc 0 T encode --tokenizer "$work/t.json" --lines --dropout 0.2 --seed 7 "$work/a.txt"
cmp -s "$work/out" "$work/d1" || fail "dropout with a seed is not reproducible"
expect_rc 0 T encode --tokenizer "$work/t.json" --lines --dropout 0.2 --seed 8 "$work/a.txt"
cmp -s "$work/out" "$work/d1" && fail "dropout ignores the seed"
[ "$(wc -w < "$work/d1")" -gt "$(wc -w < "$work/l1")" ] || fail "dropout does not make more tokens"
expect_rc 0 T decode --tokenizer "$work/t.json" --lines "$work/d1"
cmp -s "$work/out" "$work/a.txt" || fail "dropout ids do not round-trip"
expect_rc 0 T encode --tokenizer "$work/t.json" --lines --dropout 0 --seed 8 "$work/a.txt"
cmp -s "$work/out" "$work/l1" || fail "dropout 0 differs from plain encoding"

# special tokens: plain text unless allowed
printf 'a<|endoftext|>b' > "$work/s.txt"
expect_rc 0 T encode --tokenizer "$work/t.json" "$work/s.txt"
grep -qw 0 "$work/out" && fail "special token matched without --allow-special"
expect_rc 0 T encode --tokenizer "$work/t.json" --allow-special "$work/s.txt"
[ "$(cat "$work/out")" = "$(cut -d' ' -f1 "$work/out") 0 $(cut -d' ' -f3 "$work/out")" ] \
  || fail "--allow-special: $(cat "$work/out")"

# input is read in blocks: the cuts never change the ids (whole text, lines,
# special tokens allowed, dropout), whatever the block size and threads
"$PYTHON" - "$work" <<'PY'
import sys
d = sys.argv[1]
a = open(d + "/a.txt", encoding="utf-8").read()
s = a[:100000] + "tail<|endoftext|>head <|pad|>x y<|endoftext|>\n" + a[100000:200000]
open(d + "/c.txt", "w", encoding="utf-8").write(s)
PY
for args in "" "--lines" "--allow-special" "--lines --allow-special" "--dropout 0.3 --seed 5"; do
  TOKENMILL_ENCODE_BLOCK=64M expect_rc 0 T encode --tokenizer "$work/t.json" $args "$work/c.txt"
  cp "$work/out" "$work/ref"
  TOKENMILL_ENCODE_BLOCK=3000 expect_rc 0 T encode --tokenizer "$work/t.json" --threads 3 $args \
    "$work/c.txt"
  if [ "$args" = "--dropout 0.3 --seed 5" ]; then
    cp "$work/out" "$work/dids"
    expect_rc 0 T decode --tokenizer "$work/t.json" "$work/dids"
    cmp -s "$work/out" "$work/c.txt" || fail "dropout over blocks does not round-trip"
  else
    cmp -s "$work/out" "$work/ref" || fail "block cuts change the ids ($args)"
  fi
done
TOKENMILL_ENCODE_BLOCK=3000 expect_rc 0 T encode --tokenizer "$work/t.json" --threads 2 \
  --dropout 0.3 --seed 5 "$work/c.txt"
cp "$work/out" "$work/d2"
TOKENMILL_ENCODE_BLOCK=3000 expect_rc 0 T encode --tokenizer "$work/t.json" --dropout 0.3 --seed 5 \
  "$work/c.txt"
cmp -s "$work/out" "$work/d2" || fail "dropout depends on the thread count"

# errors
echo "5 99999 3" > "$work/badids.txt"
expect_rc 1 T decode --tokenizer "$work/t.json" "$work/badids.txt"
grep -q "badids.txt: line 1" "$work/err" && grep -q "99999" "$work/err" || fail "decode error: $(cat "$work/err")"
echo '{"model": {"type": "WordPiece", "vocab": {}}}' > "$work/wp.json"
expect_rc 1 T info --tokenizer "$work/wp.json"
grep -q "wp.json" "$work/err" && grep -q "model.type" "$work/err" || fail "info error: $(cat "$work/err")"
"$PYTHON" - "$work/t.json" "$work/nfc.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
j["normalizer"] = {"type": "NFC"}
json.dump(j, open(sys.argv[2], "w"))
PY
expect_rc 1 T encode --tokenizer "$work/nfc.json" "$work/a.txt"
grep -q "normalizer" "$work/err" || fail "unsupported normalizer not named: $(cat "$work/err")"
expect_rc 2 T encode "$work/a.txt"
echo "test_tokenizer_cli: all ok"
