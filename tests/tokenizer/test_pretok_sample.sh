#!/usr/bin/env bash
# test_pretok_sample.sh - the pre-tokenizers split all of the sample corpus
# (corpora/gen_sample.py: web, social, Chinese, books) exactly as PCRE2 does.
set -euo pipefail
: "${TM_BUILD_DIR:?}" "${TM_SOURCE_DIR:?}" "${PYTHON:?}"
work=$(mktemp -d /tmp/tm_pretok.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$PYTHON" "$TM_SOURCE_DIR/corpora/gen_sample.py" --docs 100 "$work/corpus" >/dev/null
"$PYTHON" - "$work/corpus" "$work" <<'PY'
import glob, json, sys
d, out = sys.argv[1], sys.argv[2]
for f in ("web.jsonl", "social.jsonl", "zh.jsonl"):
    with open(f"{out}/{f}.txt", "w", encoding="utf-8") as o:
        for line in open(f"{d}/{f}", encoding="utf-8"):
            o.write(json.loads(line)["text"] + "\n")
for i, f in enumerate(sorted(glob.glob(f"{d}/books/*.txt"))):
    open(f"{out}/book{i}.txt", "w", encoding="utf-8").write(open(f, encoding="utf-8").read())
PY
"$TM_BUILD_DIR/tests/tokenizer/test_pretok" "$work"/*.txt
