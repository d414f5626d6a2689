#!/usr/bin/env bash
# run.sh - the tokenizer benchmark: tokenmill beside HF tokenizers (npm,
# native), tiktoken (npm, WASM) and sentencepiece (Debian), same input, same
# run. See README.md.
# usage: tests/bench/tokenizer/run.sh BUILD_DIR [CORPORA_DIR] [MB] [THREADS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: run.sh BUILD_DIR [CORPORA_DIR] [MB] [THREADS]}" && pwd)
corpora=${2:-$here/../../../../shared/corpora}
mb=${3:-50}
threads=${4:-1}
tm=$build/pipeline/tokenmill
enc=$build/tests/bench/tokenizer/bench_tokenizer_encode
py=/usr/bin/python3
work=$(mktemp -d /tmp/tm_tokbench.XXXXXX)
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm install --no-audit --no-fund --silent tokenizers@0.23.2 tiktoken@1.0.22) \
  || { echo "npm install failed"; exit 1; }
"$py" "$here/make_corpus.py" "$corpora" "$work/corpus.txt" "$mb"
bytes=$(stat -c %s "$work/corpus.txt")

# run CMD...: sets wall and cpu (user + system, s) and rss (MiB) from /usr/bin/time
run() {
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" > "$work/out" 2> "$work/err" \
    || { cat "$work/err"; exit 1; }
  read -r wall user sys rss_kib < "$work/time"
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
  rss=$(awk -v k="$rss_kib" 'BEGIN { printf "%.0f", k / 1024 }')
}
field() { sed "s/.* $1=\([0-9.]*\).*/\1/" "$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "== training, vocab 30000 (HF's default trainer: seen alphabet, no specials, line documents), threads=$threads, $bytes bytes"
run "$tm" tokenizer train --alphabet seen --special-tokens '' --vocab-size 30000 --lines \
  --threads "$threads" -o "$work/ours30k.json" "$work/corpus.txt"
ow=$wall; oc=$cpu; orss=$rss
RAYON_NUM_THREADS=$threads run node "$here/../../tokenizer/hf_compat.js" "$work" train \
  "$work/corpus.txt" "$work/hf30k.json"
hw=$wall; hc=$cpu; hrss=$rss
same=$("$py" - "$work/ours30k.json" "$work/hf30k.json" <<'PY'
import json, sys
a, b = (json.load(open(p, encoding="utf-8"))["model"] for p in sys.argv[1:3])
n = lambda ms: [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in ms]
print("yes" if a["vocab"] == b["vocab"] and n(a["merges"]) == n(b["merges"]) else "NO")
PY
)
echo "train30k tokenmill: ${ow} s wall, ${oc} s CPU, ${orss} MiB"
echo "train30k hf-tokenizers: ${hw} s wall, ${hc} s CPU, ${hrss} MiB"
echo "train30k ratio tokenmill/hf: wall $(ratio "$ow" "$hw"), CPU $(ratio "$oc" "$hc"), peak RSS $(ratio "$orss" "$hrss"); identical vocab and merges: $same"

if command -v spm_train >/dev/null; then
  echo "== training, vocab 32768 beside sentencepiece (model_type=bpe), threads=$threads"
  run "$tm" tokenizer train --vocab-size 32768 --lines --threads "$threads" \
    -o "$work/ours32k.json" "$work/corpus.txt"
  ow=$wall; oc=$cpu; orss=$rss
  run spm_train --input="$work/corpus.txt" --model_prefix="$work/spm" --vocab_size=32768 \
    --model_type=bpe --num_threads="$threads" --minloglevel=1
  sw=$wall; sc=$cpu; srss=$rss
  echo "train32k tokenmill: ${ow} s wall, ${oc} s CPU, ${orss} MiB"
  echo "train32k sentencepiece: ${sw} s wall, ${sc} s CPU, ${srss} MiB"
  echo "train32k ratio tokenmill/sentencepiece: wall $(ratio "$ow" "$sw"), CPU $(ratio "$oc" "$sc"), peak RSS $(ratio "$orss" "$srss")"
else
  echo "== sentencepiece not installed (apt-get install sentencepiece): skipped"
fi

echo "== encode, 1 thread, every line a text, each with its own trained model"
"$enc" "$work/ours30k.json" "$work/corpus.txt" 1 | tee "$work/ours_enc"
RAYON_NUM_THREADS=1 node "$here/hf_bench.js" "$work" hf "$work/hf30k.json" "$work/corpus.txt" \
  | tee "$work/hf_enc"
node "$here/hf_bench.js" "$work" tiktoken gpt2 "$work/corpus.txt" | tee "$work/tt_enc"
ours=$(field mb_per_s "$work/ours_enc"); oursc=$(field mb_per_cpu_s "$work/ours_enc")
hf=$(field mb_per_s "$work/hf_enc"); hfc=$(field mb_per_cpu_s "$work/hf_enc")
tt=$(field mb_per_s "$work/tt_enc"); ttc=$(field mb_per_cpu_s "$work/tt_enc")
if [ -f "$work/spm.model" ]; then
  run spm_encode --model="$work/spm.model" --output_format=id --input="$work/corpus.txt"
  sp=$(awk -v b="$bytes" -v s="$wall" 'BEGIN { printf "%.2f", b / s / 1e6 }')
  spc=$(awk -v b="$bytes" -v s="$cpu" 'BEGIN { printf "%.2f", b / s / 1e6 }')
  echo "sentencepiece spm_encode: threads=1 bytes=$bytes seconds=$wall cpu_s=$cpu mb_per_cpu_s=$spc mb_per_s=$sp (includes model load)"
  echo "encode ratio tokenmill/sentencepiece: wall $(ratio "$ours" "$sp")x, CPU $(ratio "$oursc" "$spc")x"
fi
echo "encode ratio tokenmill/hf-tokenizers: wall $(ratio "$ours" "$hf")x, CPU $(ratio "$oursc" "$hfc")x (target >= 10x)"
echo "encode ratio tokenmill/tiktoken-gpt2: wall $(ratio "$ours" "$tt")x, CPU $(ratio "$oursc" "$ttc")x (target >= 4x)"

echo "== encode, 1 thread, the same vocabulary as tiktoken (its rank files converted by tiktoken_to_hf.py)"
for m in gpt2 cl100k_base; do
  "$py" "$here/../../tokenizer/tiktoken_to_hf.py" "$work/node_modules/tiktoken/encoders/$m.json" "$work/$m.json" \
    > /dev/null
  "$enc" "$work/$m.json" "$work/corpus.txt" 1 | tee "$work/ours_$m"
  node "$here/hf_bench.js" "$work" tiktoken $m "$work/corpus.txt" | tee "$work/tt_$m"
  a=$(field tokens "$work/ours_$m"); b=$(field tokens "$work/tt_$m")
  echo "encode ratio tokenmill/tiktoken-$m, same vocabulary: wall $(ratio "$(field mb_per_s "$work/ours_$m")" "$(field mb_per_s "$work/tt_$m")")x, CPU $(ratio "$(field mb_per_cpu_s "$work/ours_$m")" "$(field mb_per_cpu_s "$work/tt_$m")")x; same token count: $([ "$a" = "$b" ] && echo yes || echo "NO ($a vs $b)")"
done
echo "== tokenmill alone: whole file as one text, and 2 threads"
"$enc" "$work/ours30k.json" "$work/corpus.txt" 1 whole
"$enc" "$work/ours30k.json" "$work/corpus.txt" 2
