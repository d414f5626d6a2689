#!/usr/bin/env bash
# corpora_report.sh BUILD_DIR [CORPORA_DIR] [OUT_DIR] - run `tokenmill clean`
# on every source of ../shared/corpora with its profile and print, per
# source, documents/bytes in, kept, dropped, modified, and the top drop
# rules with three examples each (the closing figures of issue 3).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
build=${1:?usage: corpora_report.sh BUILD_DIR [CORPORA_DIR] [OUT_DIR]}
c=${2:-$repo/../shared/corpora}
out=${3:-$(mktemp -d)}
mkdir -p "$out"
tm=$build/pipeline/tokenmill
run() { # name profile args...
  local name=$1 profile=$2
  shift 2
  "$tm" --log-level warn clean --profile "$profile" -o "$out/$name" "$@" 2>"$out/$name.log" || true
}
run web-email web --field-kind email "$c/web/spam-assassin-raw.jsonl.zst"
run web-html-jsonl web --text-field html --field-kind html "$c/web/spam-assassin-html.jsonl.zst" "$c/web/zh-html.jsonl.zst"
run web-html-files web "$c"/web/spam-assassin-html/*.html
run books books "$c/books/moby-dick.txt" "$c"/books/sotu/*.txt "$c"/books/brown/*.txt
run social social "$c/social/fortunes-en.jsonl"
/usr/bin/python3 "$here/corpora_report.py" "$out" web-email web-html-jsonl web-html-files books social
