#!/usr/bin/env bash
# test_hf_compat.sh - tokenmill's tokenizer against HuggingFace tokenizers
# (npm `tokenizers`, the native binding), on the deterministic sample corpus
# (corpora/gen_sample.py):
#  (a) a tokenizer.json trained by tokenmill (GPT-2 and GPT-4 patterns) gives
#      the same ids in HF, line by line and for the whole text;
#  (b) a tokenizer.json trained by HF gives the same ids in tokenmill;
#  (c) tokenmill trained with HF's default trainer settings (alphabet seen, no
#      special tokens, vocab 30000, every line a document) produces HF's
#      vocabulary and merges exactly;
#  (d) tiktoken's gpt2 and cl100k_base vocabularies (npm `tiktoken`, rank
#      files converted by tiktoken_to_hf.py) give tiktoken's ids, line by line
#      (a check of both patterns against a second implementation);
#  and decode(encode(x)) == x for all of the sample text.
# npm must be reachable; without it the test is skipped (exit 77) and says so.
set -euo pipefail
: "${TOKENMILL:?}" "${TM_SOURCE_DIR:?}" "${PYTHON:?}"
work=$(mktemp -d /tmp/tm_hfcompat.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  echo "SKIP: node/npm not installed: the HF compatibility test cannot run"; exit 77
fi
if ! (cd "$work" && timeout 300 npm install --no-audit --no-fund --silent tokenizers@0.23.2 \
      tiktoken@1.0.22 \
      >"$work/npm.log" 2>&1); then
  cat "$work/npm.log" >&2
  echo "SKIP: npm could not install 'tokenizers' and 'tiktoken' (registry unreachable?)"; exit 77
fi
hf() { node "$TM_SOURCE_DIR/tests/tokenizer/hf_compat.js" "$work" "$@"; }

# the sample text: every document of every kind, one file
"$PYTHON" "$TM_SOURCE_DIR/corpora/gen_sample.py" --docs 120 "$work/corpus" >/dev/null
"$PYTHON" - "$work/corpus" "$work/sample.txt" <<'PY'
import glob, json, sys
d, out = sys.argv[1], []
for f in ("web.jsonl", "social.jsonl", "zh.jsonl"):
    for line in open(f"{d}/{f}", encoding="utf-8"):
        out.append(json.loads(line)["text"])
for f in sorted(glob.glob(f"{d}/books/*.txt")):
    out.append(open(f, encoding="utf-8").read())
# plus the shapes that stress the patterns
out.append("It's 'quoted' -- we've 1234567 THEY'LL  spaces\t\ttabs \r\nCRLF\n\n\n  x  ")
open(sys.argv[2], "w", encoding="utf-8").write("\n".join(out) + "\n")
PY
echo "sample: $(wc -c < "$work/sample.txt") bytes, $(wc -l < "$work/sample.txt") lines"

# ours: ids of every line and of the whole file, in hf_compat.js's layout
ours_encode() {
  "$TOKENMILL" tokenizer encode --tokenizer "$1" --lines "$work/sample.txt" > "$2"
  "$TOKENMILL" tokenizer encode --tokenizer "$1" "$work/sample.txt" >> "$2"
}
compare_ids() { # name ours hf
  if ! cmp -s "$2" "$3"; then
    "$PYTHON" - "$2" "$3" <<'PY'
import sys
a, b = open(sys.argv[1]).read().split("\n"), open(sys.argv[2]).read().split("\n")
for i, (x, y) in enumerate(zip(a, b)):
    if x != y:
        x, y = x.split(), y.split()
        j = next((k for k in range(min(len(x), len(y))) if x[k] != y[k]), min(len(x), len(y)))
        print(f"line {i + 1}: first difference at token {j}: ours {x[j:j+8]} hf {y[j:j+8]}")
        break
else:
    print(f"line counts differ: {len(a)} vs {len(b)}")
PY
    fail "$1: ids differ between tokenmill and HF"
  fi
  echo "ok: $1 ($(wc -w < "$2") ids identical)"
}

# (a) ours -> HF
for pat in gpt2 gpt4; do
  "$TOKENMILL" tokenizer train --vocab-size 3000 --pattern $pat -o "$work/ours_$pat.json" \
    "$work/sample.txt" 2>/dev/null
  ours_encode "$work/ours_$pat.json" "$work/ours_$pat.ids"
  hf encode "$work/ours_$pat.json" "$work/sample.txt" "$work/hf_$pat.ids"
  compare_ids "(a) tokenmill-trained $pat tokenizer, encoded by both" "$work/ours_$pat.ids" \
    "$work/hf_$pat.ids"
done

# (b) HF -> ours
hf train "$work/sample.txt" "$work/hf.json"
ours_encode "$work/hf.json" "$work/ours_hf.ids"
hf encode "$work/hf.json" "$work/sample.txt" "$work/hf_hf.ids"
compare_ids "(b) HF-trained tokenizer, encoded by both" "$work/ours_hf.ids" "$work/hf_hf.ids"

# (b2) characters the HF-trained vocabulary lacks are dropped, as HF drops them
printf 'Stra\xc3\x9fe \xe6\xbc\xa2\xe5\xad\x97 \xf0\x9f\xa6\x80 crab\x01\x02!\n\xd0\x96\xd0\xb8\xd0\xb7\xd0\xbd\xd1\x8c and \xe2\x82\xac5\n' \
  > "$work/unseen.txt"
"$TOKENMILL" tokenizer encode --tokenizer "$work/hf.json" --lines "$work/unseen.txt" \
  > "$work/ours_unseen.ids"
"$TOKENMILL" tokenizer encode --tokenizer "$work/hf.json" "$work/unseen.txt" >> "$work/ours_unseen.ids"
hf encode "$work/hf.json" "$work/unseen.txt" "$work/hf_unseen.ids"
compare_ids "(b2) characters missing from the HF-trained vocabulary" "$work/ours_unseen.ids" \
  "$work/hf_unseen.ids"
"$TOKENMILL" tokenizer info --tokenizer "$work/hf.json" > "$work/info" 2> "$work/info.err"
grep -q "tokenizer_missing_bytes" "$work/info.err" || fail "info does not warn about missing bytes"
grep -q "^missing_byte_symbols: [1-9]" "$work/info" || fail "info does not count missing bytes"

# (c) training: same vocabulary and merges as HF's default trainer
"$TOKENMILL" tokenizer train --alphabet seen --special-tokens '' --vocab-size 30000 --lines \
  -o "$work/ours_seen.json" "$work/sample.txt" 2>/dev/null
"$PYTHON" - "$work/ours_seen.json" "$work/hf.json" <<'PY' || fail "(c) training differs from HF"
import json, sys
a, b = (json.load(open(p, encoding="utf-8"))["model"] for p in sys.argv[1:3])
norm = lambda ms: [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in ms]
ma, mb = norm(a["merges"]), norm(b["merges"])
for i, (x, y) in enumerate(zip(ma, mb)):
    if x != y:
        sys.exit(f"merge {i}: ours {x} hf {y}")
if len(ma) != len(mb):
    sys.exit(f"merge counts differ: ours {len(ma)} hf {len(mb)}")
if a["vocab"] != b["vocab"]:
    diff = [k for k in set(a["vocab"]) | set(b["vocab"]) if a["vocab"].get(k) != b["vocab"].get(k)]
    sys.exit(f"vocabularies differ on {len(diff)} tokens, e.g. {diff[:5]}")
print(f"ok: (c) training reproduces HF: {len(mb)} merges, {len(b['vocab'])} tokens identical")
PY

# (d) tiktoken's vocabularies
for m in gpt2 cl100k_base; do
  "$PYTHON" "$TM_SOURCE_DIR/tests/tokenizer/tiktoken_to_hf.py" \
    "$work/node_modules/tiktoken/encoders/$m.json" "$work/$m.json" > /dev/null
  "$TOKENMILL" tokenizer encode --tokenizer "$work/$m.json" --lines "$work/sample.txt" \
    > "$work/ours_$m.ids"
  node "$TM_SOURCE_DIR/tests/tokenizer/tiktoken_ids.js" "$work" $m "$work/sample.txt" \
    "$work/tt_$m.ids"
  compare_ids "(d) tiktoken's $m vocabulary, tokenmill vs tiktoken" "$work/ours_$m.ids" \
    "$work/tt_$m.ids"
done

# round trip of all sample text, line by line and whole
for pat in gpt2 gpt4; do
  "$TOKENMILL" tokenizer encode --tokenizer "$work/ours_$pat.json" "$work/sample.txt" \
    > "$work/rt.ids"
  "$TOKENMILL" tokenizer decode --tokenizer "$work/ours_$pat.json" "$work/rt.ids" > "$work/rt.txt"
  cmp -s "$work/rt.txt" "$work/sample.txt" || fail "round trip ($pat) changed the text"
  "$TOKENMILL" tokenizer encode --tokenizer "$work/ours_$pat.json" --binary --threads 3 --lines \
    "$work/sample.txt" > "$work/rt.bin"
  echo "ok: round trip $pat"
done
echo "test_hf_compat: all ok"
