#!/usr/bin/python3
"""An independent reader of tokenmill shards (*.tms), written from
common/SHARD_FORMAT.md alone with numpy, zstandard and xxhash.

Usage: read_tms.py SHARD.tms            -> one line per document: id source tokens...
       read_tms.py --check-exports DIR EXPORTDIR
           reads every shard of DIR's manifest here and compares it with the
           llm.c, Megatron and datatrove files under EXPORTDIR/{llmc,megatron,datatrove}.
Exits non-zero on any mismatch or checksum failure."""
import json
import os
import struct
import sys

import numpy as np
import xxhash
import zstandard


def h64(b):
    return xxhash.xxh3_64_intdigest(b)


def read_shard(path):
    data = open(path, "rb").read()
    hdr, trl = data[:64], data[-64:]
    assert hdr[:8] == b"TMSHARD\0", "header magic"
    assert struct.unpack_from("<Q", hdr, 56)[0] == h64(hdr[:56]), "header hash"
    version, width, vocab, eot, tok_hash, frame_tokens, level = struct.unpack_from("<IIIIQII", hdr, 8)
    assert version == 1
    assert trl[56:] == b"TMSEND\0\0", "trailer magic"
    assert struct.unpack_from("<Q", trl, 48)[0] == h64(trl[:48]), "trailer hash"
    index_off, index_size, n_tokens, n_docs, n_chunks, n_sources, index_hash = struct.unpack_from("<QQQQIIQ", trl, 0)
    index = data[index_off:index_off + index_size]
    assert h64(index) == index_hash, "index hash"
    chunks = np.frombuffer(index, dtype=np.dtype([("off", "<u8"), ("first", "<u8"), ("csize", "<u4"),
                                                  ("ntok", "<u4"), ("hash", "<u8")]), count=n_chunks)
    docs = np.frombuffer(index, dtype=np.dtype([("tok_off", "<u8"), ("id", "<u8"), ("ntok", "<u4"),
                                                ("src", "<u2"), ("pad", "<u2")]), count=n_docs,
                         offset=32 * n_chunks)
    p = 32 * n_chunks + 24 * n_docs
    sources = []
    for _ in range(n_sources):
        n = index[p]
        sources.append(index[p + 1:p + 1 + n].decode())
        p += 1 + n
    dt = np.dtype("<u2" if width == 2 else "<u4")
    dctx = zstandard.ZstdDecompressor()
    parts = []
    for c in chunks:
        frame = data[int(c["off"]):int(c["off"]) + int(c["csize"])]
        assert h64(frame) == int(c["hash"]), "frame hash"
        raw = dctx.decompress(frame, max_output_size=int(c["ntok"]) * width)
        parts.append(np.frombuffer(raw, dtype=dt))
    stream = np.concatenate(parts) if parts else np.zeros(0, dtype=dt)
    assert len(stream) == n_tokens
    out = []
    for d in docs:
        a, n = int(d["tok_off"]), int(d["ntok"])
        assert stream[a + n] == eot, "separator"
        out.append((int(d["id"]), sources[int(d["src"])], stream[a:a + n]))
    return dict(vocab=vocab, eot=eot, width=width, tokenizer_hash=tok_hash, stream=stream, docs=out)


def check_llmc(path, s):
    raw = open(path, "rb").read()
    head = np.frombuffer(raw[:1024], dtype="<i4")
    assert head[0] == 20240520 and head[1] == 1 and head[2] == len(s["stream"]), "llmc header"
    toks = np.frombuffer(raw[1024:], dtype="<u2")
    assert np.array_equal(toks, s["stream"].astype(np.uint16)), "llmc tokens"


def check_exports(shard_dir, export_dir):
    manifest = json.load(open(os.path.join(shard_dir, "manifest.json")))
    assert manifest["format"] == "tokenmill-manifest"
    checked = 0
    for rec in manifest["shards"]:
        s = read_shard(os.path.join(shard_dir, rec["name"]))
        assert len(s["docs"]) == rec["documents"] and len(s["stream"]) == rec["tokens"]
        assert "%016x" % xxhash.xxh3_64_intdigest(open(os.path.join(shard_dir, rec["name"]), "rb").read()) == rec["file_hash"]
        base = rec["name"][:-4]
        # llm.c: 256 int32 header, then uint16 tokens (refused above 65,536 ids)
        llmc = os.path.join(export_dir, "llmc", base + ".bin")
        if s["vocab"] > 65536:
            assert not os.path.exists(llmc), "llm.c export of a 32-bit vocabulary"
        else:
            check_llmc(llmc, s)
        # datatrove: .ds tokens, .ds.index uint64 document ends
        w = "<u2" if s["vocab"] <= 65536 else "<u4"
        ds = np.fromfile(os.path.join(export_dir, "datatrove", base + ".ds"), dtype=w)
        ends = np.fromfile(os.path.join(export_dir, "datatrove", base + ".ds.index"), dtype="<u8")
        assert np.array_equal(ds, s["stream"]), "datatrove tokens"
        start = 0
        for (doc_id, src, toks), end in zip(s["docs"], ends):
            end = int(end)
            assert np.array_equal(ds[start:end - 1], toks) and ds[end - 1] == s["eot"], "datatrove doc"
            start = int(end)
        assert len(ends) == len(s["docs"])
        # megatron: MMIDIDX index over the .bin
        idx = open(os.path.join(export_dir, "megatron", base + ".idx"), "rb").read()
        assert idx[:9] == b"MMIDIDX\x00\x00"
        version, = struct.unpack_from("<Q", idx, 9)
        dtype_code = idx[17]
        nseq, ndoc = struct.unpack_from("<QQ", idx, 18)
        assert version == 1 and nseq == len(s["docs"]) and ndoc == nseq + 1
        mdt = {8: "<u2", 4: "<i4"}[dtype_code]
        sizes = np.frombuffer(idx, dtype="<i4", count=nseq, offset=34)
        ptrs = np.frombuffer(idx, dtype="<i8", count=nseq, offset=34 + 4 * nseq)
        docidx = np.frombuffer(idx, dtype="<i8", count=ndoc, offset=34 + 12 * nseq)
        assert np.array_equal(docidx, np.arange(ndoc))
        binv = np.fromfile(os.path.join(export_dir, "megatron", base + ".bin"), dtype=mdt)
        isz = np.dtype(mdt).itemsize
        for (doc_id, src, toks), n, ptr in zip(s["docs"], sizes, ptrs):
            ptr, n = int(ptr), int(n)
            seq = binv[ptr // isz: ptr // isz + n]
            assert np.array_equal(seq[:-1], toks) and seq[-1] == s["eot"], "megatron sequence"
        checked += 1
    print("exports: %d shards checked in 3 formats" % checked)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--check-exports":
        check_exports(sys.argv[2], sys.argv[3])
        return
    s = read_shard(sys.argv[1])
    for doc_id, src, toks in s["docs"]:
        print("%016x %s %s" % (doc_id, src, " ".join(str(int(t)) for t in toks)))


if __name__ == "__main__":
    main()
