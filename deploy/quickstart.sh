#!/usr/bin/env bash
# The main job end to end on a built-in default corpus, on a fresh Debian 12:
# installs what is missing, builds in Release, gets a corpus (real text
# through apt/npm when reachable, else the deterministic sample generator),
# writes token shards and verifies them.
# Usage: deploy/quickstart.sh [OUTDIR]   (default out/quickstart)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${1:-$root/out/quickstart}
deploy/deps.sh
BUILD_DIR=${BUILD_DIR:-build} deploy/build.sh
TM=$root/${BUILD_DIR:-build}/pipeline/tokenmill

step() { printf '\n== %s\n' "$*"; }
mkdir -p "$out"
step "corpus"
corpus=$root/corpora/cache
if [ ! -s "$corpus/social.jsonl" ] && ! corpora/fetch.sh "$corpus"; then
  echo "no registry reachable: using the built-in sample generator"
  corpus=$out/sample
  /usr/bin/python3 corpora/gen_sample.py --docs 400 "$corpus"
fi
du -sh "$corpus"

step "shards"
rm -rf "$out/shards"
inputs=()
for f in "$corpus"/books/*.txt; do inputs+=("$f"); done
"$TM" shards pack --bytelevel --source books -o "$out/shards" "${inputs[@]}" 2>"$out/pack.log"
"$TM" shards pack --bytelevel --source social -o "$out/shards" "$corpus/social.jsonl" 2>>"$out/pack.log"
if [ -d "$corpus/web" ]; then
  "$TM" shards pack --bytelevel --source web --format html -o "$out/shards" "$corpus"/web/*.html 2>>"$out/pack.log"
fi
for f in web.jsonl zh.jsonl; do
  [ -f "$corpus/$f" ] && "$TM" shards pack --bytelevel --source web -o "$out/shards" "$corpus/$f" 2>>"$out/pack.log"
done

step "verify"
"$TM" shards verify "$out/shards"
"$TM" shards ls "$out/shards" | head -12

step "summary"
echo "shards:   $out/shards (tokenmill shards ls|cat|export)"
echo "next:     deploy/test.sh runs the test suite"
