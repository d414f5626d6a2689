#!/usr/bin/python3
"""A straightforward Python/numpy reference of tokenmill's dedup algorithm.

Same normalisation (unicodedata categories), the same word / CJK character
5-gram shingles hashed with XXH3-64, the same multiply-shift permutations
(multiply-shift mod 2^52, splitmix64-seeded multipliers), the same exact
hashes and decision rule, and like the index it keeps and compares the low
byte of each signature value (b-bit minwise hashing, band matches included,
the estimate corrected for chance agreement), so that on the same input it gives the same signatures and the same verdicts as
`tokenmill dedup` at the default settings. Written plainly, the way a data
team would write it in Python (dicts of lists for the LSH index).

usage:
  ref_minhash.py sigs IN.jsonl            print id<TAB>hex signature per document
  ref_minhash.py dedup IN.jsonl OUTDIR    write OUTDIR/kept.ids, OUTDIR/duplicates.jsonl
"""
import json
import sys
import time
import unicodedata

import numpy as np
import xxhash

M64 = (1 << 64) - 1
K, BANDS, ROWS, NGRAM, THRESHOLD, SEED, CJK_FRACTION = 112, 14, 8, 5, 0.75, 1, 0.3


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return state, z ^ (z >> 31)


M52 = (1 << 52) - 1


def permutations(k, seed):
    """multipliers a_k: odd, below 2^52; p_k(h) = ((a_k h) mod 2^52) >> 20"""
    a, x = [], seed
    for _ in range(k):
        x, v = splitmix64(x)
        a.append((v & M52) | 1)
    return np.array(a, dtype=np.uint64)


A = permutations(K, SEED)


def is_cjk(cp):
    return (0x3040 <= cp <= 0x30FF or 0x3400 <= cp <= 0x4DBF or 0x4E00 <= cp <= 0x9FFF
            or 0xF900 <= cp <= 0xFAFF or 0xAC00 <= cp <= 0xD7AF or 0x1100 <= cp <= 0x11FF
            or 0x20000 <= cp <= 0x3FFFF)


def normalize(text):
    """-> (units, char_mode): lowercase, punctuation removed, digits -> 0,
    whitespace collapsed; CJK documents are split into characters."""
    words, cur, letters, cjk = [], [], 0, 0
    for ch in text:
        cat0 = unicodedata.category(ch)
        if cat0[0] == "L":
            letters += 1
            cjk += is_cjk(ord(ch))
        low = ch.lower()[0]
        cat = unicodedata.category(low)
        if cat in ("Zs", "Zl", "Zp", "Cc"):
            if cur:
                words.append("".join(cur))
                cur = []
        elif cat[0] == "P":
            continue
        else:
            cur.append("0" if cat == "Nd" else low)
    if cur:
        words.append("".join(cur))
    if cjk and letters and cjk >= CJK_FRACTION * letters:
        return list("".join(words)), True
    return words, False


def shingle_hashes(units, char_mode):
    sep = "" if char_mode else " "
    if not units:
        return np.zeros(0, dtype=np.uint64)
    n = max(1, len(units) - NGRAM + 1)
    g = min(NGRAM, len(units))
    return np.array([xxhash.xxh3_64_intdigest(sep.join(units[i:i + g]).encode("utf-8"), seed=SEED)
                     for i in range(n)], dtype=np.uint64)


def signature(hashes):
    if len(hashes) == 0:
        return np.full(K, 0xFFFFFFFF, dtype=np.uint32)
    with np.errstate(over="ignore"):
        v = (hashes[:, None] * A[None, :]) & np.uint64(M52)
    return (v.min(axis=0) >> np.uint64(20)).astype(np.uint32)


def exact_key(text, units, char_mode):
    norm = ("" if char_mode else " ").join(units).encode("utf-8")
    if norm:
        return xxhash.xxh3_128_intdigest(norm, seed=SEED)
    return xxhash.xxh3_128_intdigest(text.encode("utf-8"), seed=SEED ^ 0x5241570A)


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            yield str(d["id"]), d["text"]


def cmd_sigs(path):
    for did, text in read_jsonl(path):
        sig = signature(shingle_hashes(*normalize(text)))
        print(did + "\t" + "".join("%08x" % v for v in sig))


def cmd_dedup(path, out):
    import os
    os.makedirs(out, exist_ok=True)
    t0 = time.perf_counter()
    exact, bands, sigs, ids = {}, [dict() for _ in range(BANDS)], [], []
    kept, dups, n, nbytes = [], [], 0, 0
    for did, text in read_jsonl(path):
        n += 1
        nbytes += len(text.encode("utf-8"))
        units, char_mode = normalize(text)
        ek = exact_key(text, units, char_mode)
        if ek in exact:
            dups.append({"id": did, "duplicate_of": ids[exact[ek]], "kind": "exact", "similarity": 1.0})
            continue
        hashes = shingle_hashes(units, char_mode)
        sig = signature(hashes) if len(hashes) else None
        if sig is not None:
            sig = (sig & 0xFF).astype(np.uint8)  # the stored bits
        keys = []
        best, best_ref = -1.0, -1
        if sig is not None:
            cands = []
            for b in range(BANDS):
                key = xxhash.xxh3_64_intdigest(sig[b * ROWS:(b + 1) * ROWS].tobytes(), seed=b)
                keys.append(key)
                for ref in bands[b].get(key, ()):
                    if ref not in cands:
                        cands.append(ref)
            for ref in cands:
                eq = int(np.count_nonzero(sigs[ref] == sig))
                s = (256 * eq - K) / (255 * K) if 256 * eq > K else 0.0
                if s > best or (s == best and ref < best_ref):
                    best, best_ref = s, ref
        if best >= THRESHOLD:
            dups.append({"id": did, "duplicate_of": ids[best_ref], "kind": "near", "similarity": best})
            continue
        ref = len(ids)
        ids.append(did)
        sigs.append(sig)
        exact[ek] = ref
        for b, key in enumerate(keys):
            bands[b].setdefault(key, []).append(ref)
        kept.append(did)
    secs = time.perf_counter() - t0
    with open(os.path.join(out, "kept.ids"), "w") as f:
        f.write("".join(k + "\n" for k in kept))
    with open(os.path.join(out, "duplicates.jsonl"), "w") as f:
        f.write("".join(json.dumps(d) + "\n" for d in dups))
    print(json.dumps({"docs_in": n, "kept": len(kept), "removed": len(dups), "seconds": secs,
                      "docs_per_s": n / secs, "mb_per_s": nbytes / secs / 1e6}))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "sigs":
        cmd_sigs(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "dedup":
        cmd_dedup(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
