#!/usr/bin/env python3
"""Seed corpora for the fuzz targets (tests/fuzz/fuzz_<name>.c).

    gen_seeds.py [--tokenmill PATH] OUT

writes OUT/<target>/seed-* : small valid inputs of each format and a few
near-misses, made here (JSONL, WARC/WET, e-mail, HTML, gzip/zstd, INI, ring
patches) or by the project's own programs (`tokenmill build` on a tiny
input gives a tokenizer.json, shards and a manifest with its journal).
Deterministic: the same files every run. Without --tokenmill the shard,
tokenizer and journal seeds are the hand-made ones only.
"""
import argparse
import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import zstandard


def put(out, target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


DOCS = [
    "The quick brown fox jumps over the lazy dog. It was a sunny day in the park.",
    "Ein Beispieltext auf Deutsch, mit Umlauten: \u00e4\u00f6\u00fc \u00df.",
    "\u4f60\u597d\uff0c\u4e16\u754c\u3002\u8fd9\u662f\u4e00\u4e2a\u4f8b\u5b50\u3002",
    "Email me at someone@example.com or call 555-123-4567 tomorrow.",
    "short",
]

HTML = ("<!DOCTYPE html><html><head><title>A page</title><style>p{}</style></head><body>"
        "<nav>menu</nav><article><h1>Heading</h1><p>First &amp; second paragraph"
        " with <b>bold</b> text.</p><ul><li>one</li><li>two</li></ul>"
        "<div hidden>secret</div><table><tr><td>a</td><td>b</td></tr></table>"
        "<pre>  keep   spaces </pre></article><script>var x=1;</script></body></html>")

EMAIL = ("From: Alice <alice@example.com>\r\nTo: bob@example.com\r\nSubject: Hello\r\n"
         "Date: Thu, 22 Aug 2002 12:36:23 +0100\r\nMIME-Version: 1.0\r\n"
         "Content-Type: multipart/alternative; boundary=\"XX\"\r\n\r\n"
         "--XX\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
         "Content-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 au lait =\r\nsoft break\r\n"
         "--XX\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
         "PGI+SGVsbG88L2I+IHdvcmxk\r\n--XX--\r\n")


def jsonl_docs():
    lines = []
    for i, t in enumerate(DOCS):
        lines.append(json.dumps({"id": "d%d" % i, "text": t, "url": "https://example.com/%d" % i,
                                 "timestamp": "2021-01-01T00:07:13Z", "lang": "en", "n": i}))
    return "\n".join(lines) + "\n"


def warc_record(rtype, headers, body):
    if isinstance(body, str):
        body = body.encode()
    h = "WARC/1.0\r\nWARC-Type: %s\r\n" % rtype
    for k, v in headers:
        h += "%s: %s\r\n" % (k, v)
    h += "Content-Length: %d\r\n\r\n" % len(body)
    return h.encode() + body + b"\r\n\r\n"


def warc_file(lie=0):
    http = ("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + HTML).encode()
    recs = [
        warc_record("warcinfo", [("WARC-Record-ID", "<urn:uuid:0>")], "software: test\r\n"),
        warc_record("request", [("WARC-Target-URI", "https://e.com/")], "GET / HTTP/1.1\r\n\r\n"),
        warc_record("response", [("WARC-Target-URI", "https://e.com/"), ("WARC-Date", "2021-01-01T00:00:00Z"),
                                 ("WARC-Record-ID", "<urn:uuid:1>"), ("Content-Type", "application/http; msgtype=response")], http),
        warc_record("conversion", [("WARC-Target-URI", "https://e.com/t"), ("WARC-Record-ID", "<urn:uuid:2>"),
                                   ("Content-Type", "text/plain")], DOCS[0] + "\n" + DOCS[2]),
        warc_record("resource", [("WARC-Target-URI", "file:///a.txt"), ("WARC-Record-ID", "<urn:uuid:3>"),
                                 ("Content-Type", "text/plain")], DOCS[1]),
    ]
    data = b"".join(recs)
    if lie:
        data = data.replace(b"Content-Length: %d" % len(http), b"Content-Length: %d" % (len(http) + lie), 1)
    return data


def gen_readers(out):
    jl = jsonl_docs()
    for ctl in (0, 4, 8, 0x10):
        put(out, "jsonl", "docs-%02x" % ctl, bytes([ctl]) + jl.encode())
    put(out, "jsonl", "html", b"\x01" + (json.dumps({"id": 7, "text": HTML, "url": "https://e.com"}) + "\n").encode())
    put(out, "jsonl", "email", b"\x02" + (json.dumps({"id": "m1", "text": EMAIL}) + "\n").encode())
    put(out, "jsonl", "bad-lines", b"\x00" + b'{"text": "ok"}\n{"text": \n[1,2]\n{"id": null, "text": 5}\n'
        b'{"text": "a", "text": "b"}\n{"text": "\\ud800 lone \\u0000 nul"}\n' + b'{"text": "x"}' * 3 + b"\n"
        + b"[" * 200 + b"\n" + b'{"text": "' + b"\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xff" + b'"}\n')
    for i, line in enumerate(jl.splitlines()):
        put(out, "jsonl_check", "line%d" % i, line.encode())
    for name, line in (("nested", b'{"text": "a", "x": ' + b"[" * 30 + b"]" * 30 + b"}"),
                       ("escapes", b'{"t\\u0065xt": "\\ud83d\\ude00 \\u0000", "n": -1.5e300, "i": 18446744073709551615}'),
                       ("dup", b'{"text": 1, "text": "later"}'), ("nul", b'{"text": "a\x00b"}'),
                       ("bad-utf8", b'{"text": "\xc0\xaf"}'), ("not-object", b'["text"]')):
        put(out, "jsonl_check", name, line)
    put(out, "warc", "wet", b"\x00" + warc_file())
    put(out, "warc", "lying-length", b"\x00" + warc_file(lie=50))
    put(out, "warc", "short-length", b"\x04" + warc_file(lie=-40))
    put(out, "warc", "truncated", b"\x00" + warc_file()[:700])
    put(out, "email", "multipart", b"\x00" + EMAIL.encode())
    put(out, "email", "mbox", b"\x00" + ("From alice@example.com Thu Aug 22 12:36:23 2002\n" + EMAIL.replace("\r\n", "\n")
                                        + "\nFrom bob@example.com Thu Aug 22 12:36:23 2002\nSubject: two\n\nbody two\n").encode())
    put(out, "email", "plain", b"\x00Return-Path: <a@b.c>\nSubject: =?utf-8?B?SGVsbG8=?=\n\nplain body\n")
    jb = jl.encode()
    wb = warc_file()
    put(out, "decompress", "gzip-jsonl", b"\x00" + gzip.compress(jb, mtime=0))
    put(out, "decompress", "gzip-multi", b"\x00" + gzip.compress(jb[:100], mtime=0) + gzip.compress(jb[100:], mtime=0))
    put(out, "decompress", "zstd-warc", b"\x00" + zstandard.ZstdCompressor(level=3).compress(wb))
    put(out, "decompress", "zstd-multi", b"\x08" + zstandard.ZstdCompressor(level=1).compress(jb[:120])
        + zstandard.ZstdCompressor(level=1, write_checksum=True).compress(jb[120:]))
    put(out, "decompress", "zstd-truncated", b"\x00" + zstandard.ZstdCompressor().compress(jb)[:-7])
    put(out, "decompress", "gzip-truncated", b"\x00" + gzip.compress(jb, mtime=0)[:-9])
    put(out, "decompress", "gzip-bomb", b"\x08" + gzip.compress(b"\n" * (4 << 20), mtime=0, compresslevel=9))
    put(out, "decompress", "zstd-html", b"\x00" + zstandard.ZstdCompressor().compress(HTML.encode()))
    put(out, "decompress", "gzip-text", b"\x10" + gzip.compress(("\n\n".join(DOCS) + "\n").encode(), mtime=0))


def gen_http(out):
    """fuzz_http: byte 0 the daemon's settings (bit 0 admin, bit 1 token,
    bit 2 draining, bits 3-4 max_request_bytes, bits 5-6 max_doc_bytes),
    byte 1 the split seed, then the bytes a client sends."""
    body = "".join(json.dumps({"id": i, "text": d}) + "\n" for i, d in enumerate(DOCS)).encode()

    def post(b, path="/ingest", extra=b""):
        return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-ndjson\r\n"
                + extra + b"Content-Length: " + str(len(b)).encode() + b"\r\n\r\n" + b)

    def chunked(b, size):
        parts = [b[i:i + size] for i in range(0, len(b), size)]
        return (b"POST /ingest?profile=books HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                + b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in parts) + b"0\r\n\r\n")

    get = lambda path, extra=b"": b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n"
    auth = b"Authorization: Bearer fuzz-token-0123456789\r\n"
    big, small = 0x18 | 0x60, 0x18 | 0x40  # 1 MiB requests; 16 MiB / 4 KiB documents
    put(out, "http", "post", bytes([big, 0]) + post(body))
    put(out, "http", "post-profile", bytes([big, 1]) + post(body, "/ingest?profile=social&x=1"))
    put(out, "http", "post-token", bytes([big | 2, 2]) + post(body, extra=auth))
    put(out, "http", "post-no-token", bytes([big | 2, 3]) + post(body))
    put(out, "http", "post-continue", bytes([big, 4]) + post(body, extra=b"Expect: 100-continue\r\n"))
    put(out, "http", "chunked", bytes([big, 5]) + chunked(body, 37))
    put(out, "http", "pipelined", bytes([big, 6]) + post(body[:80]) + get("/healthz") + post(body) + post(b'{"text": 1}\n'))
    put(out, "http", "pipelined-close", bytes([big, 7]) + get("/healthz", b"Connection: close\r\n") + post(body))
    put(out, "http", "too-large", bytes([0x08, 8]) + post(body))
    put(out, "http", "doc-too-large", bytes([0x18, 9]) + post(body))
    put(out, "http", "bad-line", bytes([big, 10]) + post(b'{"text": "ok"}\n\n  \r\n{"text": \n'))
    put(out, "http", "draining", bytes([big | 4, 11]) + post(body))
    put(out, "http", "admin", bytes([1, 12]) + get("/metrics") + get("/status") + get("/") + get("/index.html?x")
        + get("/healthz") + get("/nope"))
    put(out, "http", "admin-token", bytes([3, 13]) + get("/status", auth) + get("/metrics"))
    put(out, "http", "admin-post", bytes([1, 14]) + post(body, "/status"))
    put(out, "http", "http10", bytes([big, 15]) + b"POST /ingest HTTP/1.0\r\nContent-Length: 15\r\n\r\n{\"text\": \"a\"}\n")
    put(out, "http", "malformed", bytes([big, 16]) + b"POST /ingest HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nabcde")
    put(out, "http", "long-url", bytes([big, 17]) + get("/" + "a" * 3000))
    put(out, "http", "bad-profile", bytes([big, 18]) + post(body, "/ingest?profile=../etc"))


def gen_html(out):
    put(out, "html", "page", HTML)
    put(out, "html", "nested", "<div>" * 300 + "deep" + "</div>" * 300)
    put(out, "html", "broken", "<p>unclosed <b>bold <i>it</p><table><td>cell<tr>row</table>&amp &#x1F600; &nosuch; <!-- c")
    put(out, "html", "hidden", '<p style="display:none">x</p><p aria-hidden="true">y</p><p>z</p><svg><text>t</text></svg>'
        '<pre>\n a\n\n b </pre><br><hr><h2>h</h2><template>t</template><noscript>n</noscript>')
    put(out, "html", "invalid-utf8", b"<p>\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \x00 \xef\xbb\xbf</p>")


def gen_config(out, src):
    for rel in ("deploy/tokenmill.example.ini", "corpora/profiles/web.ini", "corpora/profiles/books.ini",
                "corpora/profiles/social.ini"):
        p = os.path.join(src, rel)
        if os.path.exists(p):
            with open(p, "rb") as f:
                put(out, "config", os.path.basename(p), f.read())
    put(out, "config", "overrides", "[shard]\nframe_size = 64k\nzstd_level=3\n[build]\nthreads=2\n"
        "shard.max_tokens=1000\ndedup.threshold=0.8\n[clean.mine]\nsource = social\nmin_words = 0x10\n"
        "[nosuch]\nkey=1\n[shard]\nframe_size = 12Q\n; comment\n# comment\nnot a line\n")


def gen_ring(out):
    # byte 0 flags, bytes 1-2 size (64-byte units), then [off u16][len-1 u8][bytes] patches
    def patch(off, data):
        return struct.pack("<HB", off, len(data) - 1) + data
    put(out, "ring", "plain", b"\x00\x00\x00")
    put(out, "ring", "expect-resume", b"\x06\x00\x00")
    put(out, "ring", "bad-magic", b"\x00\x00\x00" + patch(0, b"XMRING\0\1"))
    put(out, "ring", "slots-zero", b"\x00\x00\x00" + patch(16, struct.pack("<I", 0)))
    put(out, "ring", "slot-bytes", b"\x02\x00\x00" + patch(24, struct.pack("<Q", 1 << 40)))
    put(out, "ring", "offsets", b"\x00\x00\x00" + patch(40, struct.pack("<QQQ", 1 << 33, 1 << 35, 1 << 20)))
    put(out, "ring", "small", b"\x01\x40\x00")
    put(out, "ring", "head", b"\x04\x00\x00" + patch(128, struct.pack("<Q", 5)) + patch(4096, struct.pack("<Q", 9)))


def gen_built(out, tokenmill):
    """tokenizer.json, shards and manifest (with its journal) from a real build."""
    work = tempfile.mkdtemp(prefix="tm_seeds.")
    try:
        srcdir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        subprocess.run([sys.executable, os.path.join(srcdir, "corpora", "gen_sample.py"), "--docs", "12",
                        os.path.join(work, "in")], check=True, capture_output=True)
        src = os.path.join(work, "in", "web.jsonl")
        outd = os.path.join(work, "out")
        cmd = [tokenmill, "build", "--no-progress", "--threads", "1", "--set", "tokenizer.vocab_size=300",
               "--set", "shard.max_tokens=1500", "--set", "shard.frame_size=1k",
               "-o", outd, src]
        r = subprocess.run(cmd, capture_output=True)
        if r.returncode not in (0, 3):
            sys.stderr.write("gen_seeds: tokenmill build failed (%d): %s\n" % (r.returncode, r.stderr.decode()[-2000:]))
            return False
        for name in sorted(os.listdir(outd)):
            p = os.path.join(outd, name)
            if name.endswith(".tms"):
                with open(p, "rb") as f:
                    data = f.read()
                if len(data) <= 64 << 10 and len(os.listdir(os.path.join(out, "shard"))) < 6:
                    put(out, "shard", name, data)
            elif name == "tokenizer.json":
                with open(p, "rb") as f:
                    put(out, "tokenizer", "trained.json", f.read())
            elif name == "manifest.json":
                with open(p, "rb") as f:
                    m = f.read()
                put(out, "journal", "manifest.json", m)
                j = json.loads(m).get("journal")
                if j is not None:
                    put(out, "journal", "journal.json", json.dumps(j))
        # a dedup index, packed as fuzz_dedup_index reads it
        idx = os.path.join(work, "idx")
        r = subprocess.run([tokenmill, "dedup", "-o", os.path.join(work, "dd"), "--index", idx, src],
                           capture_output=True)
        if r.returncode not in (0, 3):
            sys.stderr.write("gen_seeds: tokenmill dedup failed (%d): %s\n" % (r.returncode, r.stderr.decode()[-2000:]))
            return False
        parts = [open(os.path.join(idx, f), "rb").read() for f in ("checkpoint", "records.bin", "ids.bin")]
        rs = struct.unpack_from("<I", parts[1], 16)[0]  # the record size, from the header
        rec = parts[1][:64 + 3 * rs]  # the header and three records: small inputs fuzz faster
        put(out, "dedup_index", "three-records", struct.pack("<H", len(parts[0])) + parts[0]
            + struct.pack("<I", len(rec))[:3] + rec + parts[2])
        put(out, "dedup_index", "full", struct.pack("<H", len(parts[0])) + parts[0]
            + struct.pack("<I", len(parts[1]))[:3] + parts[1] + parts[2])
        return True
    finally:
        shutil.rmtree(work, ignore_errors=True)


def gen_handmade_tokenizer(out):
    # a byte-level BPE in HF's layout: the 256 byte symbols, two merges, a special
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    sym = {b: chr(c) for b, c in zip(bs, cs)}
    vocab = {sym[b]: i for i, b in enumerate(sorted(range(256), key=lambda b: ord(sym[b])))}
    vocab["th"] = 256
    vocab["the"] = 257
    tok = {"version": "1.0", "truncation": None, "padding": None,
           "added_tokens": [{"id": 258, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                             "rstrip": False, "normalized": False, "special": True}],
           "normalizer": None,
           "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
           "post_processor": None, "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
           "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                     "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                     "vocab": vocab, "merges": ["t h", "th e"]}}
    put(out, "tokenizer", "handmade.json", json.dumps(tok))
    tok["model"]["merges"] = [["t", "h"], ["th", "e"]]
    put(out, "tokenizer", "pairs.json", json.dumps(tok))
    put(out, "journal", "empty.json", json.dumps({"format": "tokenmill-manifest", "version": 1, "generation": 0,
                                                  "tokenizer_hash": "0000000000000000", "vocab_size": 259,
                                                  "eot_id": 258, "shards": []}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenmill")
    ap.add_argument("out")
    a = ap.parse_args()
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if os.path.isdir(a.out):
        shutil.rmtree(a.out)
    os.makedirs(a.out)
    gen_readers(a.out)
    gen_html(a.out)
    gen_http(a.out)
    gen_config(a.out, src)
    gen_ring(a.out)
    gen_handmade_tokenizer(a.out)
    os.makedirs(os.path.join(a.out, "shard"), exist_ok=True)
    put(a.out, "shard", "empty", b"")
    put(a.out, "shard", "magic-only", b"TMSHARD\x00" + b"\x00" * 120)
    if a.tokenmill and not gen_built(a.out, a.tokenmill):
        return 1
    n = sum(len(fs) for _, _, fs in os.walk(a.out))
    print("gen_seeds: %d seed files in %s" % (n, a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
