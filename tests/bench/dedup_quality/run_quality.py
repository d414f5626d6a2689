#!/usr/bin/python3
"""Quality benchmark of `tokenmill dedup`, with ground truth built from real text.

usage: run_quality.py TOKENMILL [CORPORA_DIR] [--seed N] [--bases N] [--keep DIR]

1. Base documents: chunks of real text from CORPORA_DIR (default
   ../shared/corpora beside the repository): Brown corpus samples and State of
   the Union addresses (English, ~150-600 words per chunk) and the Chinese
   Debian manuals (HTML stripped, ~300-1200 characters per chunk).
2. Variants of some bases with realistic edits: word replace / insert /
   delete at 1%..40%, added header+footer boilerplate, swapped paragraphs,
   truncation, whitespace/case noise (Chinese: the same on characters).
3. Everything is shuffled; the true Jaccard of each document to every
   earlier one is computed exactly on the stage's shingle sets (same
   normalisation and 5-grams, through tests/bench/dedup/ref_minhash.py).
4. `tokenmill dedup` runs at its defaults. Printed: precision (removed
   documents whose true similarity to an earlier document is >= 0.6), recall
   (removed among documents with true similarity >= 0.85), both per edit kind
   and per language, and the removal rate per bin of true Jaccard beside the
   rate the 14x8 band S-curve predicts (and S-curve x P(estimate >= 0.75)).
"""
import argparse
import glob
import html
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "dedup"))
import ref_minhash as ref  # noqa: E402

BANDS, ROWS, K, THRESHOLD = 14, 8, 112, 0.75
HEADERS = ["Home | News | Sport | Weather | Contact us", "Subscribe to our newsletter for updates",
           "Skip to main content", "This page was last edited on 3 March 2021",
           "首页 | 新闻 | 联系我们", "版权所有 © 2021 保留所有权利"]


def english_bases(corpora, rnd, n):
    texts = []
    for p in sorted(glob.glob(os.path.join(corpora, "books/brown/*.txt"))):
        texts.append(open(p, encoding="utf-8", errors="replace").read())
    for p in sorted(glob.glob(os.path.join(corpora, "books/sotu/*.txt"))):
        texts.append(open(p, encoding="utf-8", errors="replace").read())
    chunks = []
    for t in texts:
        paras = [p.strip() for p in re.split(r"\n\s*\n", t) if p.strip()]
        cur, words = [], 0
        target = rnd.randint(150, 600)
        for p in paras:
            cur.append(p)
            words += len(p.split())
            if words >= target:
                chunks.append("\n\n".join(cur))
                cur, words, target = [], 0, rnd.randint(150, 600)
    rnd.shuffle(chunks)
    return chunks[:n]


def chinese_bases(corpora, rnd, n):
    import zstandard
    path = os.path.join(corpora, "web/zh-html.jsonl.zst")
    raw = zstandard.ZstdDecompressor().stream_reader(open(path, "rb")).read().decode("utf-8")
    chunks = []
    for line in raw.splitlines():
        h = json.loads(line)["html"]
        h = re.sub(r"(?is)<(script|style|head)\b.*?</\1>", " ", h)
        h = re.sub(r"(?s)<[^>]+>", "\n", h)
        paras = [re.sub(r"[ \t]+", " ", html.unescape(p)).strip() for p in h.split("\n")]
        paras = [p for p in paras if len(p) >= 10]
        cur, size, target = [], 0, rnd.randint(300, 1200)
        for p in paras:
            cur.append(p)
            size += len(p)
            if size >= target:
                chunks.append("\n".join(cur))
                cur, size, target = [], 0, rnd.randint(300, 1200)
    # the manuals repeat navigation text: keep chunks that are mostly Chinese
    chunks = [c for c in chunks if sum(0x4E00 <= ord(ch) <= 0x9FFF for ch in c) > 0.3 * len(c)]
    rnd.shuffle(chunks)
    return chunks[:n]


def tokens(text, zh):
    return list(text) if zh else text.split(" ")


def join(toks, zh):
    return "".join(toks) if zh else " ".join(toks)


def vary(text, zh, kind, rate, rnd, vocab):
    if kind == "whitespace_case":
        out = []
        for ch in text:
            if ch == " " and rnd.random() < 0.2:
                out.append("  \n" if rnd.random() < 0.3 else "  ")
            elif ch.isalpha() and rnd.random() < 0.1:
                out.append(ch.swapcase())
            else:
                out.append(ch)
        return "".join(out)
    if kind == "header_footer":
        return rnd.choice(HEADERS) + "\n" + text + "\n" + rnd.choice(HEADERS)
    if kind == "paragraph_swap":
        paras = text.split("\n\n" if not zh else "\n")
        if len(paras) < 2:
            toks = tokens(text, zh)
            h = len(toks) // 2
            return join(toks[h:] + toks[:h], zh)
        i, j = rnd.sample(range(len(paras)), 2)
        paras[i], paras[j] = paras[j], paras[i]
        return ("\n\n" if not zh else "\n").join(paras)
    if kind == "truncate":
        toks = tokens(text, zh)
        return join(toks[:max(1, int(len(toks) * (1 - rate)))], zh)
    toks = tokens(text, zh)
    out = []
    for t in toks:
        r = rnd.random()
        if kind == "replace" and r < rate:
            out.append(rnd.choice(vocab))
        elif kind == "delete" and r < rate:
            continue
        elif kind == "insert" and r < rate:
            out.extend([t, rnd.choice(vocab)])
        else:
            out.append(t)
    return join(out, zh)


def shingle_set(text):
    units, char_mode = ref.normalize(text)
    if not units:
        return frozenset()
    sep = "" if char_mode else " "
    g = min(ref.NGRAM, len(units))
    return frozenset(sep.join(units[i:i + g]) for i in range(max(1, len(units) - ref.NGRAM + 1)))


def max_earlier_jaccard(sets):
    """For each document, the highest exact Jaccard to any earlier one
    (through an inverted index of shingles: only overlapping pairs)."""
    inv, best = {}, []
    for i, s in enumerate(sets):
        counts = {}
        for sh in s:
            for j in inv.get(sh, ()):
                counts[j] = counts.get(j, 0) + 1
        b = 0.0
        for j, c in counts.items():
            jac = c / (len(s) + len(sets[j]) - c)
            b = max(b, jac)
        if not s:  # empty shingle sets are exact duplicates of earlier empty ones
            b = 1.0 if any(not sets[j] for j in range(i)) else 0.0
        best.append(b)
        for sh in s:
            inv.setdefault(sh, []).append(i)
    return best


def s_curve(j):
    return 1 - (1 - j ** ROWS) ** BANDS


def p_confirm(j):
    """P(estimate >= threshold) with K independent agreements of prob j."""
    need = math.ceil(THRESHOLD * K - 1e-9)
    return sum(math.comb(K, m) * j ** m * (1 - j) ** (K - m) for m in range(need, K + 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tokenmill")
    ap.add_argument("corpora", nargs="?", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "shared", "corpora"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bases", type=int, default=1500)
    ap.add_argument("--keep", default=None)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    t0 = time.time()
    en = english_bases(a.corpora, rnd, a.bases)
    zh = chinese_bases(a.corpora, rnd, a.bases // 4)
    vocab_en = [w for t in en[:200] for w in t.split()][:50000]
    vocab_zh = [c for t in zh[:50] for c in t if 0x4E00 <= ord(c) <= 0x9FFF][:20000]
    kinds = [("replace", r) for r in (0.01, 0.02, 0.05, 0.1, 0.2, 0.4)] + \
            [("insert", r) for r in (0.01, 0.05, 0.2)] + [("delete", r) for r in (0.01, 0.05, 0.2)] + \
            [("header_footer", 0), ("paragraph_swap", 0), ("truncate", 0.05), ("truncate", 0.3),
             ("whitespace_case", 0)]
    docs = []  # (id, text, lang, kind)
    for lang, bases in (("en", en), ("zh", zh)):
        for i, b in enumerate(bases):
            docs.append((f"{lang}{i}", b, lang, "original"))
            if rnd.random() < 0.5:
                for v in range(rnd.randint(1, 2)):
                    kind, rate = rnd.choice(kinds)
                    text = vary(b, lang == "zh", kind, rate, rnd, vocab_zh if lang == "zh" else vocab_en)
                    name = kind if not rate else f"{kind}_{int(rate * 100)}%"
                    docs.append((f"{lang}{i}v{v}", text, lang, name))
    rnd.shuffle(docs)
    sets = [shingle_set(d[1]) for d in docs]
    truth = max_earlier_jaccard(sets)
    t_truth = time.time() - t0

    work = a.keep or tempfile.mkdtemp(prefix="tm_dedup_quality.")
    os.makedirs(work, exist_ok=True)
    inp = os.path.join(work, "input.jsonl")
    with open(inp, "w", encoding="utf-8") as f:
        for did, text, _, _ in docs:
            f.write(json.dumps({"id": did, "text": text}, ensure_ascii=False) + "\n")
    out = os.path.join(work, "out")
    subprocess.run(["rm", "-rf", out])
    t1 = time.time()
    p = subprocess.run([a.tokenmill, "dedup", "-o", out, inp], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"tokenmill dedup failed ({p.returncode}): {p.stderr}")
    t_run = time.time() - t1
    removed = {json.loads(l)["id"] for l in open(os.path.join(out, "duplicates.jsonl"))}

    def pr(sel):
        rem = [i for i in sel if docs[i][0] in removed]
        tp = sum(1 for i in rem if truth[i] >= 0.6)
        pos = [i for i in sel if truth[i] >= 0.85]
        found = sum(1 for i in pos if docs[i][0] in removed)
        return len(sel), len(rem), tp, len(pos), found

    def line(name, sel):
        n, nrem, tp, npos, found = pr(sel)
        prec = tp / nrem if nrem else float("nan")
        rec = found / npos if npos else float("nan")
        print(f"  {name:<22} docs {n:5d}  removed {nrem:5d}  precision {prec:6.4f} ({tp}/{nrem})"
              f"  recall {rec:6.4f} ({found}/{npos})")
        return prec, rec

    n_en = sum(1 for d in docs if d[2] == "en")
    print(f"dedup quality: {len(docs)} documents ({n_en} English, {len(docs) - n_en} Chinese) from "
          f"{len(en)} + {len(zh)} real bases; truth in {t_truth:.1f} s, tokenmill dedup {t_run:.2f} s")
    prec, rec = line("ALL", range(len(docs)))
    for lang in ("en", "zh"):
        line(f"lang={lang}", [i for i, d in enumerate(docs) if d[2] == lang])
    print("  per edit kind:")
    for kind in sorted({d[3] for d in docs}):
        line(kind, [i for i, d in enumerate(docs) if d[3] == kind])
    print("  removal rate per bin of true Jaccard to an earlier document (14 bands x 8 rows, threshold 0.75):")
    print(f"  {'bin':<10} {'docs':>6} {'removed':>8} {'rate':>7} {'S-curve':>8} {'S x P(est>=.75)':>16}")
    for lo in (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0):
        hi = {0.0: 0.3, 0.3: 0.5, 1.0: 1.0001}.get(lo, round(lo + (0.05 if lo >= 0.8 else 0.1), 2))
        sel = [i for i in range(len(docs)) if lo <= truth[i] < hi]
        if not sel:
            continue
        r = sum(1 for i in sel if docs[i][0] in removed)
        mid = sum(truth[i] for i in sel) / len(sel)
        label = f"{lo:.2f}-{min(hi, 1):.2f}" if lo < 1 else "1.00"
        print(f"  {label:<10} {len(sel):6d} {r:8d} {r / len(sel):7.4f} "
              f"{sum(s_curve(truth[i]) for i in sel) / len(sel):8.4f} "
              f"{sum(s_curve(truth[i]) * p_confirm(truth[i]) for i in sel) / len(sel):16.4f}"
              f"   (mean J {mid:.3f})")
    ok = prec >= 0.995 and rec >= 0.99
    print(f"dedup quality: precision {prec:.4f} (target >= 0.995), recall {rec:.4f} (target >= 0.99): "
          f"{'PASS' if ok else 'BELOW TARGET'}")
    if not a.keep:
        subprocess.run(["rm", "-rf", work])


main()
