"""tokenmill serve: the profile of spool files, and line-level dedup.
 1. spool/<profile>/FILE gets that profile's rules (the names `tokenmill
    build` uses): a Gutenberg book in spool/books/ is kept exactly as
    `tokenmill build books=FILE` keeps it (source tag books, same tokens),
    which differs from what the web rules make of it; a file directly in
    spool/ gets [serve] profile; a folder that names no profile is logged
    once and its files left alone
 2. [dedup] line_dedup: serve emits the text line dedup shortened (tokens
    equal to build's with the same config, fewer than without line dedup)
    and counts a document left empty under its own drop reason
    (dedup.repeated_lines), not as a near duplicate
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import (PY, SRC, TM, Daemon, check, get, post, shard_ids, train_tokenizer, wait_until, write_ini)


def kept(out):
    """{id hash: (source, tokens)} of a shard directory."""
    return {i[2]: (i[3], i[4]) for i in shard_ids(out)}


def build(work, name, tok, ini, inputs, extra=()):
    out = os.path.join(work, name)
    r = subprocess.run([TM, "build", "--no-progress", "--threads", "2", "-c", ini, "--tokenizer", tok, "-o", out]
                       + list(extra) + inputs, capture_output=True, text=True)
    check(r.returncode in (0, 3), "build %s: %s" % (name, r.stderr[-2000:]))
    return kept(out)


work = tempfile.mkdtemp(prefix="tm_serve_prof.")
try:
    subprocess.run([PY, os.path.join(SRC, "corpora/gen_sample.py"), "--docs", "60", work + "/in"], check=True,
                   stdout=subprocess.DEVNULL)
    tok = train_tokenizer(work, work + "/in/web.jsonl")
    spool = work + "/spool"
    os.makedirs(spool + "/books")
    os.makedirs(spool + "/nosuch")
    cfg = {
        "serve": {"output": work + "/out", "spool": spool, "tokenizer": tok, "ingest_listen": "127.0.0.1:0",
                  "ingest_socket": "", "seal_age_s": "0.5", "spool_settle_ms": "100", "rescan_ms": "200",
                  "threads": "2", "batch_docs": "32"},
        "http": {"listen": "127.0.0.1:0"},
        "shard": {"max_tokens": "40000", "frame_size": "16k"},
    }
    ini = work + "/serve.ini"
    write_ini(ini, cfg)
    d = Daemon(ini, work + "/serve.log")
    d.start()

    # ---- 1. profile folders ------------------------------------------------------------------------
    book = sorted(os.listdir(work + "/in/books"))[0]

    def drop_in(src, rel):
        dst = os.path.join(spool, rel)
        tmp = os.path.join(os.path.dirname(dst), "." + os.path.basename(dst) + ".tmp")
        shutil.copyfile(src, tmp)
        os.rename(tmp, dst)

    drop_in(work + "/in/books/" + book, "books/" + book)
    drop_in(work + "/in/web.jsonl", "web.jsonl")
    drop_in(work + "/in/social.jsonl", "nosuch/stays.jsonl")
    wait_until(lambda: sorted(os.listdir(spool + "/done")) == sorted([book, "web.jsonl"]), "spool files done")
    d.wait_log(r"event=spool_folder_ignored dir=\S+ folder=nosuch")
    check(os.path.exists(spool + "/nosuch/stays.jsonl"), "a file in a folder that names no profile was taken")
    log = d.log_text()
    check(("name=books/%s profile=books" % book) in log, "the book was not claimed with the books profile")
    check("name=web.jsonl profile=web" in log, "a file directly in the spool did not get [serve] profile")
    check(log.count("event=spool_folder_ignored") == 1, "the ignored folder was logged more than once")
    check(d.stop() == 0, "stop")

    got = kept(work + "/out")
    ref_ini = work + "/ref.ini"
    write_ini(ref_ini, {"shard": cfg["shard"]})
    want = build(work, "ref1", tok, ref_ini, ["web=" + spool + "/done/web.jsonl",
                                               "books=" + spool + "/done/" + book])
    # (a plain-text document's id comes from its path, which differs: compare what was kept)
    check(sorted(got.values()) == sorted(want.values()), "serve kept %d documents, build %d (books= and web=): %s" %
          (len(got), len(want), sorted(set(got.values()) ^ set(want.values()))[:6]))
    books = [v for v in got.values() if v[0] == "books"]
    check(len(books) == 1, "the book's source tag: %s" % sorted(set(v[0] for v in got.values())))
    as_web = build(work, "ref1web", tok, ref_ini, ["web=" + spool + "/done/" + book])
    check([v[1] for v in as_web.values()] != [books[0][1]],
          "the web rules keep the book as the books rules do: the test proves nothing")
    print("1. spool/books/%s: books rules (source books, %s tokens, as build books=; web rules: %s); spool/ file: web; "
          "folder nosuch/ ignored once" % (book, books[0][1], [v[1] for v in as_web.values()] or "dropped"))

    # ---- 2. line-level dedup ---------------------------------------------------------------------------
    boiler = "Subscribe to our newsletter for the latest updates and exclusive offers every week."
    rnd = random.Random(11)
    vocab = ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(3, 9))) for _ in range(3000)]
    docs = [{"id": "ld-%02d" % i, "text": " ".join(rnd.choice(vocab) for _ in range(60)) + ".\n" + boiler}
            for i in range(12)]
    docs.append({"id": "ld-only-boiler", "text": boiler})
    body = "".join(json.dumps(x) + "\n" for x in docs)
    cfg2 = json.loads(json.dumps(cfg))
    cfg2["serve"].update({"output": work + "/out2", "spool": "", "profile": "raw"})
    cfg2["clean.raw"] = {"source": "web", "c4": "false", "gopher_quality": "false", "gopher_repetition": "false",
                         "fineweb": "false", "langid": "false", "pii": "false"}
    cfg2["dedup"] = {"line_dedup": "true", "line_max_repeats": "3"}
    ini2 = work + "/serve2.ini"
    write_ini(ini2, cfg2)
    d2 = Daemon(ini2, work + "/serve2.log")
    d2.start()
    st, b = post(d2.ingest_port, body)
    check(st == 200 and b["documents"] == len(docs), "line dedup batch: %s %s" % (st, b))
    wait_until(lambda: get(d2.http_port, "/status")[1]["counters"]["documents_in"] == len(docs), "batch committed")
    s = get(d2.http_port, "/status")[1]
    check(d2.stop() == 0, "stop")
    c = s["counters"]
    check(s["drops"].get("dedup.repeated_lines") == 1, "drops: %s" % s["drops"])
    check(c["near_duplicates"] == 0 and c["exact_duplicates"] == 0, "counted as duplicates: %s" % c)
    check(c["kept"] == 12 and c["dropped"] == 1, "kept %d dropped %d" % (c["kept"], c["dropped"]))
    open(work + "/ld.jsonl", "w").write(body)
    got = kept(work + "/out2")
    want = build(work, "ref2", tok, ini2, ["raw=" + work + "/ld.jsonl"])
    check(got == want, "line dedup: serve %s, build %s" % (sorted(got.values()), sorted(want.values())))
    full = build(work, "ref2full", tok, ini2, ["raw=" + work + "/ld.jsonl"], ["--set", "dedup.line_dedup=false"])
    shorter = [h for h in got if int(got[h][1]) < int(full[h][1])]
    check(len(shorter) == 12 - 3, "%d documents shortened by line dedup (want 9: the boilerplate line seen 3 times "
          "is removed from later ones)" % len(shorter))
    print("2. line dedup: 9 documents emitted shortened (tokens equal build's), 1 left empty dropped as "
          "dedup.repeated_lines, 0 near duplicates")
    print("test_serve_profiles: ok")
finally:
    shutil.rmtree(work, ignore_errors=True)
