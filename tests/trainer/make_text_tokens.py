#!/usr/bin/env python3
"""Byte-level token files from the deterministic sample corpus (corpora/gen_sample.py).

Usage: make_text_tokens.py OUTDIR [DOCS]
Writes OUTDIR/train.u16 and OUTDIR/val.u16 (raw little-endian uint16, one token
per byte of UTF-8 text, 90/10 split) and prints the unigram entropy of the
training tokens in nats: the loss of the best model that ignores context.
"""
import glob
import json
import math
import os
import subprocess
import sys

import numpy as np

out = sys.argv[1]
docs = sys.argv[2] if len(sys.argv) > 2 else "200"
src = os.path.join(os.environ.get("TM_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..")),
                   "corpora", "gen_sample.py")
corpus = os.path.join(out, "corpus")
subprocess.run([sys.executable, src, "--docs", docs, corpus], check=True, stdout=subprocess.DEVNULL)
texts = [json.loads(line)["text"] for line in open(os.path.join(corpus, "web.jsonl"), encoding="utf-8")]
for f in sorted(glob.glob(os.path.join(corpus, "books", "*.txt"))):
    texts.append(open(f, encoding="utf-8").read())
data = np.frombuffer("\n\n".join(texts).encode(), dtype=np.uint8).astype("<u2")
k = int(len(data) * 0.9)
data[:k].tofile(os.path.join(out, "train.u16"))
data[k:].tofile(os.path.join(out, "val.u16"))
p = np.bincount(data[:k], minlength=256) / k
p = p[p > 0]
print("%.6f" % float(-(p * np.log(p)).sum()))
