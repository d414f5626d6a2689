#!/usr/bin/env python3
"""The bad-input corpus: files every tokenmill program must survive.

    gen_badinput.py [--big-mb N] [--nested N] [--shard S.tms] OUT

Writes OUT/<name> for each hostile input below (deterministic bytes), and
OUT/INDEX.tsv: name, what it is. With --shard, corrupt copies of that (valid)
shard are added: a flipped byte in the document index, in a frame, in the
trailer, and a truncated copy.

  invalid UTF-8, every class (Unicode 15 §3.9 / WHATWG): overlong forms of
  2, 3 and 4 bytes, surrogates, code points over U+10FFFF, F5..FF lead bytes,
  stray continuation bytes, sequences cut by the end of a line and of the
  file, C0/C1 controls -- as JSONL text, as raw JSON bytes, as plain text and
  as HTML; NUL bytes (raw and \\u0000); lone surrogate escapes; a BOM inside;
  a single line of --big-mb MB (default 100); JSON nested 100 000 deep (array
  and object); JSON with duplicate keys; a gzip bomb and a zstd bomb (1 GiB of
  zeros) and a gzip bomb of one endless line; truncated gzip, zstd and WARC;
  WARC records whose Content-Length lies (longer, shorter, negative, huge);
  HTML with --nested (default 100 000) nested tags (a file, and JSONL text); an e-mail with a
  MIME part nested 10 000 deep; empty, binary and one-byte files.
"""
import argparse
import gzip
import json
import os
import zlib

import zstandard

INVALID = [
    ("overlong2", b"\xc0\xaf \xc1\xbf"),
    ("overlong3", b"\xe0\x80\xaf \xe0\x9f\xbf"),
    ("overlong4", b"\xf0\x80\x80\xaf \xf0\x8f\xbf\xbf"),
    ("surrogate", b"\xed\xa0\x80 \xed\xbf\xbf \xed\xa0\xbd\xed\xb8\x80"),
    ("over_10ffff", b"\xf4\x90\x80\x80 \xf7\xbf\xbf\xbf"),
    ("lead_f5_ff", b"\xf5\x80\x80\x80 \xf8\x88\x80\x80\x80 \xfc\x84\x80\x80\x80\x80 \xfe \xff"),
    ("stray_cont", b"\x80 \xbf \x80\x80\x80"),
    ("truncated", b"\xe2\x82 \xf0\x9f\x98 \xc3"),
    ("controls", b"\x01\x02\x1b[31m \x7f \xc2\x80 \xc2\x9f"),
]


def put(out, index, name, what, data):
    with open(os.path.join(out, name), "wb") as f:
        if isinstance(data, (bytes, bytearray)):
            f.write(data)
        else:
            for chunk in data:
                f.write(chunk)
    index.append((name, what))


def text_line(i, extra=b""):
    return b"Line %d of ordinary English text that a reader should keep. " % i + extra


def big_line(mb):
    chunk = b"word " * 200000  # 1 MB
    yield b'{"id": "big", "text": "'
    for _ in range(mb):
        yield chunk
    yield b'"}\n'


def bomb_gzip(total, unit=b"\0"):
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = unit * (1 << 20)
    for _ in range(total >> 20):
        out = c.compress(block)
        if out:
            yield out
    yield c.flush()


def bomb_zstd(total):
    cctx = zstandard.ZstdCompressor(level=19)
    chunker = cctx.chunker(size=total, chunk_size=1 << 20)
    block = b"\0" * (1 << 20)
    for _ in range(total >> 20):
        for out in chunker.compress(block):
            yield out
    for out in chunker.finish():
        yield out


def warc(records):
    out = b""
    for rtype, body, length in records:
        out += (b"WARC/1.0\r\nWARC-Type: %s\r\nWARC-Record-ID: <urn:uuid:%d>\r\n"
                b"WARC-Target-URI: https://example.com/%d\r\nContent-Type: text/plain\r\n"
                b"Content-Length: %s\r\n\r\n" % (rtype, len(out), len(out), length)) + body + b"\r\n\r\n"
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--big-mb", type=int, default=100)
    ap.add_argument("--nested", type=int, default=100000, help="depth of the nested-tags HTML")
    ap.add_argument("--shard")
    ap.add_argument("out")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    idx = []
    o = a.out

    # invalid UTF-8: one JSONL line per class, as raw bytes inside the JSON string
    lines = [b'{"id": "utf8-%s", "text": "' % n.encode() + text_line(i, b) + b'"}' for i, (n, b) in enumerate(INVALID)]
    put(o, idx, "utf8_raw.jsonl", "every invalid UTF-8 class as raw bytes in JSON strings", b"\n".join(lines) + b"\n")
    put(o, idx, "utf8.txt", "every invalid UTF-8 class in plain text, blocks",
        b"\n\n".join(text_line(i, b) for i, (n, b) in enumerate(INVALID)) + b"\n\xe2\x82")
    put(o, idx, "utf8.html", "every invalid UTF-8 class inside HTML",
        b"<html><body>" + b"".join(b"<p>" + text_line(i, b) + b"</p>" for i, (n, b) in enumerate(INVALID)) + b"</body></html>")
    put(o, idx, "escapes.jsonl", "NUL and lone-surrogate JSON escapes, a BOM inside the text",
        b'{"id": "e1", "text": "nul \\u0000 inside, then \\ud800 lone high, \\udc00 lone low, \\udbff\\udfff ok"}\n'
        b'{"id": "e2", "text": "bom \\ufeff inside ' + text_line(1) + b'"}\n')
    put(o, idx, "nul_bytes.jsonl", "raw NUL bytes in JSON lines (invalid JSON) between good lines",
        b'{"id": "n0", "text": "' + text_line(0) + b'"}\n{"id": "n1", "text": "a\x00b"}\n\x00\x00\x00\n'
        b'{"id": "n2", "text": "' + text_line(2) + b'"}\n')
    put(o, idx, "nul_bytes.txt", "plain text full of NUL bytes", (text_line(0) + b"\x00") * 50)

    put(o, idx, "long_line.jsonl", "one JSON line of %d MB" % a.big_mb, big_line(a.big_mb))
    put(o, idx, "deep_array.jsonl", "a JSON array nested 100000 deep",
        b"[" * 100000 + b"]" * 100000 + b"\n")
    put(o, idx, "deep_object.jsonl", "a JSON object nested 100000 deep in the text field",
        b'{"id": "deep", "text": ' + b'{"a":' * 100000 + b"1" + b"}" * 100000 + b"}\n")
    put(o, idx, "dup_keys.jsonl", "JSON objects with duplicate keys (text, id twice)",
        b'{"id": "d1", "text": "' + text_line(1) + b'", "text": "second value"}\n'
        b'{"id": "d2", "id": "d3", "text": "' + text_line(2) + b'"}\n')

    put(o, idx, "bomb.jsonl.gz", "gzip bomb: 1 GiB of NUL bytes", bomb_gzip(1 << 30))
    put(o, idx, "bomb_line.txt.gz", "gzip bomb: 512 MiB of one endless line", bomb_gzip(512 << 20, b"a"))
    put(o, idx, "bomb.jsonl.zst", "zstd bomb: 1 GiB of NUL bytes", bomb_zstd(1 << 30))
    good = b"".join(b'{"id": "g%d", "text": "%s"}\n' % (i, text_line(i)) for i in range(200))
    put(o, idx, "truncated.jsonl.gz", "gzip stream cut in the middle", gzip.compress(good, mtime=0)[:400])
    put(o, idx, "truncated.jsonl.zst", "zstd frame cut in the middle", zstandard.ZstdCompressor().compress(good)[:300])
    put(o, idx, "garbage_after.jsonl.gz", "a gzip member followed by garbage", gzip.compress(good, mtime=0) + b"\x1f\x8bGARBAGE")

    body = text_line(1) * 3
    put(o, idx, "warc_long_length.warc", "WARC record whose Content-Length runs past the end of the file",
        warc([(b"conversion", body, b"%d" % len(body)), (b"conversion", body, b"99999999")]))
    put(o, idx, "warc_short_length.warc", "WARC record whose Content-Length is shorter than its body",
        warc([(b"conversion", body, b"10"), (b"conversion", body, b"%d" % len(body))]))
    put(o, idx, "warc_bad_length.warc", "WARC Content-Length negative, huge, not a number",
        warc([(b"conversion", body, b"-5"), (b"conversion", body, b"184467440737095516160"),
              (b"conversion", body, b"12abc"), (b"conversion", body, b"%d" % len(body))]))
    put(o, idx, "warc_truncated.warc.gz", "gzip'd WARC cut inside a record body",
        gzip.compress(warc([(b"conversion", body, b"%d" % len(body))] * 20), mtime=0)[:-60])

    put(o, idx, "nested_tags.html", "HTML with %d nested tags" % a.nested,
        b"<div>" * a.nested + b"deep text" + b"</div>" * a.nested)
    put(o, idx, "nested_tags.jsonl", "JSONL whose text is %d nested unclosed tags" % a.nested,
        json.dumps({"id": "h", "text": "<b><i>" * (a.nested // 2) + "x"}).encode() + b"\n")
    mime = b"From: a@b.c\nSubject: deep\nMIME-Version: 1.0\n"
    for i in range(10000):
        mime += b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i)
    mime += b"Content-Type: text/plain\n\n" + text_line(0) + b"\n"
    put(o, idx, "deep_mime.eml", "an e-mail with MIME parts nested 10000 deep", mime)

    put(o, idx, "empty.jsonl", "an empty file", b"")
    put(o, idx, "one_byte", "a single 0xff byte", b"\xff")
    put(o, idx, "binary.bin", "64 KiB of pseudo-random bytes",
        bytes((i * 2654435761 >> 13) & 0xff for i in range(65536)))

    if a.shard:
        data = bytearray(open(a.shard, "rb").read())
        n = len(data)

        def flipped(pos):
            d = bytearray(data)
            d[pos] ^= 0x5a
            return bytes(d)
        put(o, idx, "corrupt_index.tms", "a shard with a flipped byte in its document index", flipped(n - 80))
        put(o, idx, "corrupt_frame.tms", "a shard with a flipped byte in its first zstd frame", flipped(200))
        put(o, idx, "corrupt_trailer.tms", "a shard with a flipped byte in its trailer", flipped(n - 8))
        put(o, idx, "corrupt_header.tms", "a shard with a flipped byte in its header", flipped(12))
        put(o, idx, "truncated.tms", "a shard cut in half", bytes(data[: n // 2]))

    with open(os.path.join(o, "INDEX.tsv"), "w") as f:
        for name, what in idx:
            f.write("%s\t%s\n" % (name, what))
    print("gen_badinput: %d files in %s" % (len(idx), o))


if __name__ == "__main__":
    main()
