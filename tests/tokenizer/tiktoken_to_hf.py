#!/usr/bin/env python3
"""Convert a tiktoken rank file (npm `tiktoken`'s encoders/NAME.json) to an HF
tokenizer.json (byte-level BPE), so tokenmill can run the same vocabulary as
tiktoken. Merges are recovered the usual way: the merge that makes token t is
the two parts BPE leaves when run on t's bytes with the ranks below t's.
usage: tiktoken_to_hf.py ENCODER_JSON OUT_JSON"""
import base64, json, sys

src = json.load(open(sys.argv[1]))
ranks = {}
items = src["bpe_ranks"].split()
i = 0
while i < len(items):
    assert items[i] == "!", items[i]
    start = int(items[i + 1])
    i += 2
    r = start
    while i < len(items) and items[i] != "!":
        ranks[base64.b64decode(items[i])] = r
        r += 1
        i += 1

def bytes_to_unicode():
    bs = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return dict(zip(bs, map(chr, cs)))

b2u = bytes_to_unicode()
spell = lambda b: "".join(b2u[x] for x in b)

def parts_below(token, max_rank):
    parts = [bytes([b]) for b in token]
    while True:
        best, at = None, None
        for k in range(len(parts) - 1):
            rk = ranks.get(parts[k] + parts[k + 1])
            if rk is not None and (best is None or rk < best):
                best, at = rk, k
        if best is None or best >= max_rank:
            return parts
        parts = parts[:at] + [parts[at] + parts[at + 1]] + parts[at + 2:]

merges = []
for tok, rk in sorted(ranks.items(), key=lambda kv: kv[1]):
    if len(tok) == 1:
        continue
    p = parts_below(tok, rk)
    assert len(p) == 2, (tok, p)
    merges.append(spell(p[0]) + " " + spell(p[1]))
vocab = {spell(t): r for t, r in ranks.items()}
added = []
for content, sid in src["special_tokens"].items():
    vocab[content] = sid
    added.append({"id": sid, "content": content, "single_word": False, "lstrip": False,
                  "rstrip": False, "normalized": False, "special": True})
pat = src["pat_str"]
if pat.startswith("'s|'t"):
    pre = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
else:
    pre = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": pat}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
out = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
       "normalizer": None, "pre_tokenizer": pre, "post_processor": None,
       "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                   "use_regex": True},
       "model": {"type": "BPE", "dropout": None, "unk_token": None,
                 "continuing_subword_prefix": None, "end_of_word_suffix": None,
                 "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                 "vocab": dict(sorted(vocab.items(), key=lambda kv: kv[1])), "merges": merges}}
json.dump(out, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
print(f"{sys.argv[2]}: {len(vocab)} tokens, {len(merges)} merges, pattern {pat[:20]}...")
