#!/usr/bin/env python3
"""Writes JSONL documents with planted duplicates for the dedup CLI test.

usage: gen_planted.py OUT.jsonl TRUTH.json SEED N_UNIQUE [PREFIX]

Unique documents are random word sequences (English-like, from a fixed
vocabulary) and Chinese character sequences; after each batch come planted
exact copies (case, whitespace and punctuation noise) and near copies (2% of
the words replaced, or one sentence appended: true Jaccard of the 5-shingle
sets well above 0.75). TRUTH.json maps every planted id to its original.
"""
import json
import random
import sys


def main():
    out, truth_path, seed, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    prefix = sys.argv[5] if len(sys.argv) > 5 else "u"
    rnd = random.Random(seed)
    vocab = ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 9)))
             for _ in range(20000)]
    docs, truth = [], {}
    for i in range(n):
        if i % 10 == 9:  # Chinese
            text = "".join(chr(0x4E00 + rnd.randrange(3000)) + ("，" if rnd.random() < 0.05 else "")
                           for _ in range(rnd.randint(120, 400)))
        else:
            words = [rnd.choice(vocab) for _ in range(rnd.randint(80, 400))]
            text = " ".join(words)
        docs.append((f"{prefix}{i}", text))
    planted = []
    for k in range(n // 3):
        src_id, src = docs[rnd.randrange(n)]
        kind = k % 3
        if kind == 0:  # exact after normalisation
            t = "  ".join(w.upper() if rnd.random() < 0.1 else w for w in src.split(" "))
            t = t.replace("，", "、") if rnd.random() < 0.5 else t + "!"
        elif kind == 1 and not "\u4e00" <= src[0] <= "\u9fff":
            ws = src.split(" ")
            for j in range(0, len(ws), 100):  # 1% of the words replaced
                ws[j] = rnd.choice(vocab)
            t = " ".join(ws)
        elif kind == 1:  # Chinese: 1% of the characters replaced
            cs = list(src)
            for j in range(0, len(cs), 100):
                cs[j] = chr(0x4E00 + rnd.randrange(3000))
            t = "".join(cs)
        else:
            t = src + (" the end of this story was told elsewhere" if src[0].isascii() else "。故事的结尾在别处。")
        pid = f"{prefix}p{k}"
        planted.append((pid, t))
        truth[pid] = src_id
    with open(out, "w", encoding="utf-8") as f:
        for did, t in docs + planted:
            f.write(json.dumps({"id": did, "text": t}, ensure_ascii=False) + "\n")
    with open(truth_path, "w") as f:
        json.dump(truth, f)


main()
