#!/usr/bin/env python3
"""Build the tokenizer benchmark input: N MB of mixed English (books, SOTU,
Brown, raw e-mail, fortunes) from ../shared/corpora, one document per line
group, cut at a line boundary. Usage: make_corpus.py CORPORA_DIR OUT [MB]"""
import glob, io, json, sys
import zstandard

src, out = sys.argv[1], sys.argv[2]
limit = int(float(sys.argv[3]) * 1e6) if len(sys.argv) > 3 else 50_000_000
parts = []
def add(text):
    parts.append(text if text.endswith("\n") else text + "\n")
for f in ["books/moby-dick.txt"] + sorted(glob.glob(f"{src}/books/sotu/*.txt")) + \
        sorted(glob.glob(f"{src}/books/brown/*.txt")):
    add(open(f if f.startswith("/") else f"{src}/{f}", encoding="utf-8", errors="replace").read())
for line in open(f"{src}/social/fortunes-en.jsonl", encoding="utf-8"):
    add(json.loads(line)["text"])
with open(f"{src}/web/spam-assassin-raw.jsonl.zst", "rb") as fh:
    r = io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(fh), encoding="utf-8")
    for line in r:
        add(json.loads(line)["text"])
data = "".join(parts).encode("utf-8")
# interleave nothing: the kinds follow each other; cut at the last newline before the limit
if len(data) > limit:
    data = data[: data.rindex(b"\n", 0, limit) + 1]
open(out, "wb").write(data)
print("%s: %d bytes, %d lines" % (out, len(data), data.count(b"\n")))
