#!/usr/bin/env python3
"""Check the exports of a checkpoint against an independent NumPy GPT-2.

Usage: check_export.py LLMC_FILE SAFETENSORS_DIR GREEDY_IDS...
Reads model.safetensors (HF GPT-2 naming, Conv1D (in, out) weights) and
config.json, runs a NumPy forward pass written from the GPT-2 definition, and
decodes greedily from the first prompt ids: the continuation must equal the
ids `tokenmill-train sample --temperature 0 --ids` printed. Then every
tensor of the llm.c file must equal its safetensors counterpart.
"""
import json
import struct
import sys

import numpy as np

llmc, sdir, ids = sys.argv[1], sys.argv[2], [int(x) for x in sys.argv[3:]]
cfg = json.load(open(sdir + "/config.json"))
raw = open(sdir + "/model.safetensors", "rb").read()
(hl,) = struct.unpack_from("<Q", raw, 0)
hdr = json.loads(raw[8:8 + hl])
base = 8 + hl
W = {}
for k, v in hdr.items():
    if k == "__metadata__":
        continue
    a, b = v["data_offsets"]
    assert v["dtype"] == "F32"
    W[k] = np.frombuffer(raw[base + a:base + b], dtype="<f4").reshape(v["shape"]).astype(np.float64)
L, C, H, V, T = cfg["n_layer"], cfg["n_embd"], cfg["n_head"], cfg["vocab_size"], cfg["n_positions"]
assert cfg["model_type"] == "gpt2" and cfg["tie_word_embeddings"] and cfg["activation_function"] == "gelu_new"


def ln(x, w, b):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + 1e-5) * w + b


def gelu(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def forward(tok):
    n = len(tok)
    x = W["transformer.wte.weight"][tok] + W["transformer.wpe.weight"][:n]
    mask = np.tril(np.ones((n, n), dtype=bool))
    for l in range(L):
        p = "transformer.h.%d." % l
        h = ln(x, W[p + "ln_1.weight"], W[p + "ln_1.bias"])
        qkv = h @ W[p + "attn.c_attn.weight"] + W[p + "attn.c_attn.bias"]
        q, k, v = np.split(qkv, 3, axis=1)
        hs = C // H
        y = np.zeros((n, C))
        for j in range(H):
            s = slice(j * hs, (j + 1) * hs)
            att = q[:, s] @ k[:, s].T / np.sqrt(hs)
            att = np.where(mask, att, -np.inf)
            att = np.exp(att - att.max(1, keepdims=True))
            att /= att.sum(1, keepdims=True)
            y[:, s] = att @ v[:, s]
        x = x + y @ W[p + "attn.c_proj.weight"] + W[p + "attn.c_proj.bias"]
        h = ln(x, W[p + "ln_2.weight"], W[p + "ln_2.bias"])
        x = x + gelu(h @ W[p + "mlp.c_fc.weight"] + W[p + "mlp.c_fc.bias"]) @ W[p + "mlp.c_proj.weight"] \
            + W[p + "mlp.c_proj.bias"]
    x = ln(x, W["transformer.ln_f.weight"], W["transformer.ln_f.bias"])
    return x @ W["transformer.wte.weight"].T


prompt_len = int(ids[0])
seq = ids[1:1 + prompt_len]
want = ids[1 + prompt_len:]
out = list(seq)
close = 0
for _ in range(len(want)):
    logits = forward(out[-T:])[-1]
    top2 = np.sort(logits)[-2:]
    if top2[1] - top2[0] < 1e-3:
        close += 1
    out.append(int(np.argmax(logits)))
got = out[prompt_len:]
mism = sum(1 for a, b in zip(got, want) if a != b)
assert got == want or close > 0, ("greedy continuation differs", got, want)
print("numpy greedy decode matches tokenmill-train's (%d tokens, %d near-ties)" % (len(want), close))

# llm.c file: header and tensors
b = open(llmc, "rb").read()
h = struct.unpack_from("<256i", b, 0)
assert h[0] == 20240326 and h[1] == 3, h[:8]
maxT, V2, L2, NH, C2, Vp = h[2:8]
assert (maxT, V2, L2, NH, C2) == (T, V, L, H, C) and Vp % 128 == 0 and Vp >= V
f = np.frombuffer(b[1024:], dtype="<f4").astype(np.float64)
sizes = [Vp * C, maxT * C, L * C, L * C, L * 3 * C * C, L * 3 * C, L * C * C, L * C, L * C, L * C,
         L * 4 * C * C, L * 4 * C, L * 4 * C * C, L * C, C, C]
assert len(f) == sum(sizes), (len(f), sum(sizes))
parts, o = [], 0
for s in sizes:
    parts.append(f[o:o + s])
    o += s
wte = parts[0].reshape(Vp, C)
assert np.array_equal(wte[:V], W["transformer.wte.weight"]) and not wte[V:].any()
assert np.array_equal(parts[1].reshape(maxT, C), W["transformer.wpe.weight"])
qkvw = parts[4].reshape(L, 3 * C, C)
fcprojw = parts[12].reshape(L, C, 4 * C)
for l in range(L):
    p = "transformer.h.%d." % l
    assert np.array_equal(qkvw[l].T, W[p + "attn.c_attn.weight"])
    assert np.array_equal(fcprojw[l].T, W[p + "mlp.c_proj.weight"])
    assert np.array_equal(parts[2].reshape(L, C)[l], W[p + "ln_1.weight"])
assert np.array_equal(parts[15], W["transformer.ln_f.bias"])
print("llm.c export matches the safetensors export")
