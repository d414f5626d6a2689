"""Exactly once under SIGKILL: a client feeds batches of unique documents
over the socket without pause, spool files keep arriving, and the daemon is
killed with SIGKILL at random moments and restarted (KILLS times, default
5; tests/long runs >= 20). At the end (SIGTERM drain):
  - every acknowledged document is in exactly one shard
  - no document is in two shards; nothing appears that was never sent
  - every spool file (half of them in the profile folder spool/raw/) was
    moved to done/ and each of its documents is in exactly one shard
  - the shards verify; the inbox and the claim directory are empty
Usage: test_serve_kill.py [KILLS] (env KILLS, SEED)."""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import (PY, SRC, TM, Daemon, check, conn_tcp, id_hash, request, shard_ids, train_tokenizer,
                        write_ini)

KILLS = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("KILLS", "5"))
rng = random.Random(int(os.environ.get("SEED", str(int(time.time())))))
WORDS = ("time year people way day man thing woman life child world school state family student group country "
         "problem hand part place case week company system program question work government number night point "
         "home water room mother area money story fact month lot right study book eye job word business issue "
         "side kind head house service friend father power hour game line end member law car city community name "
         "president team minute idea kid body information back parent face others level office door health person "
         "art war history party result change morning reason research girl guy moment air teacher force").split()


def doc(i, prefix):
    r = random.Random("%s-%d" % (prefix, i))
    text = " ".join(r.choice(WORDS) for _ in range(60)) + "."
    return {"id": "%s-%d" % (prefix, i), "text": "%s %d: %s" % (prefix, i, text)}


work = tempfile.mkdtemp(prefix="tm_serve_kill.")
try:
    subprocess.run([PY, os.path.join(SRC, "corpora/gen_sample.py"), "--docs", "100", work + "/in"], check=True,
                   stdout=subprocess.DEVNULL)
    tok = train_tokenizer(work, work + "/in/web.jsonl")
    out, spool = work + "/out", work + "/spool"
    os.makedirs(spool)
    ini = work + "/serve.ini"
    # filters off (every unique document is kept), dedup on
    write_ini(ini, {
        "serve": {"output": out, "spool": spool, "tokenizer": tok, "ingest_listen": "127.0.0.1:0",
                  "profile": "raw", "seal_age_s": "0.3", "spool_settle_ms": "50", "rescan_ms": "200",
                  "threads": "2", "batch_docs": "16"},
        "http": {"listen": ""},
        "shard": {"max_tokens": "20000", "frame_size": "8k"},
        "clean.raw": {"source": "web", "c4": "false", "gopher_quality": "false", "gopher_repetition": "false",
                      "fineweb": "false", "langid": "false", "pii": "false"},
    })
    d = Daemon(ini, work + "/serve.log")
    acked, sent, spooled = set(), set(), set()
    state = {"port": None, "stop": False, "next": 0, "errors": 0}
    lock = threading.Lock()

    def client():
        c, port = None, None
        while not state["stop"]:
            with lock:
                p = state["port"]
            if p is None:
                time.sleep(0.02)
                continue
            if c is None or port != p:
                c, port = conn_tcp(p, timeout=30), p
            n = rng.randint(1, 30)
            i0 = state["next"]
            state["next"] += n
            docs = [doc(i, "sock") for i in range(i0, i0 + n)]
            for x in docs:
                sent.add(x["id"])
            try:
                st, r = request(c, "POST", "/ingest", "".join(json.dumps(x) + "\n" for x in docs))
            except Exception:  # noqa: the daemon was killed: not acknowledged
                state["errors"] += 1
                c = None
                time.sleep(0.02)
                continue
            if st == 200:
                for x in docs:
                    acked.add(x["id"])
            else:
                c = None

    t = threading.Thread(target=client)
    t.start()
    spool_n = 0

    def drop_spool_file():
        global spool_n
        docs = [doc(i, "spool%d" % spool_n) for i in range(rng.randint(5, 60))]
        name = "f%04d.jsonl" % spool_n
        # every other file in the profile folder spool/raw/ (the same profile,
        # so the documents are judged alike): its claims survive kills too
        where = os.path.join(spool, "raw") if spool_n % 2 else spool
        os.makedirs(where, exist_ok=True)
        with open(os.path.join(where, "." + name), "w") as f:
            f.write("".join(json.dumps(x) + "\n" for x in docs))
        os.rename(os.path.join(where, "." + name), os.path.join(where, name))
        for x in docs:
            spooled.add(x["id"])
        spool_n += 1

    for k in range(KILLS + 1):
        d.start()
        with lock:
            state["port"] = d.ingest_port
        for _ in range(rng.randint(1, 3)):
            drop_spool_file()
        before = len(acked)
        time.sleep(rng.uniform(0.2, 1.2))
        if k == KILLS:
            break
        with lock:
            state["port"] = None
        d.kill()
        print("kill %d: %d acknowledged so far (+%d)" % (k + 1, len(acked), len(acked) - before), flush=True)
    state["stop"] = True
    t.join(60)
    rc = d.stop()
    check(rc == 0, "final SIGTERM: exit %d" % rc)
    check(len(acked) > 0, "nothing was acknowledged")
    rows = shard_ids(out)
    counts = Counter(r[2] for r in rows)
    twice = [h for h, n in counts.items() if n > 1]
    check(not twice, "%d documents are in more than one shard" % len(twice))
    known = {id_hash(i) for i in sent | spooled}
    unknown = [h for h in counts if h not in known]
    check(not unknown, "%d documents in shards were never sent" % len(unknown))
    missing = [i for i in acked if counts.get(id_hash(i), 0) != 1]
    check(not missing, "%d of %d acknowledged documents are not in exactly one shard, e.g. %s" %
          (len(missing), len(acked), missing[:3]))
    missing = [i for i in spooled if counts.get(id_hash(i), 0) != 1]
    check(not missing, "%d of %d spool documents are not in exactly one shard" % (len(missing), len(spooled)))
    check(len(os.listdir(spool + "/done")) == spool_n, "done/ holds %d of %d files" %
          (len(os.listdir(spool + "/done")), spool_n))
    check(os.listdir(out + "/inbox") == [] and os.listdir(spool + "/.work") == [], "inbox/.work not empty")
    v = subprocess.run([TM, "shards", "verify", out], capture_output=True, text=True)
    check(v.returncode == 0, "shards verify: " + v.stderr[-500:])
    unacked_in = sum(1 for i in sent - acked if id_hash(i) in counts)
    print("test_serve_kill: ok: %d kills; %d acknowledged socket documents and %d spool documents each in exactly "
          "one shard (%d shards); %d sent but unacknowledged, %d of them committed anyway" %
          (KILLS, len(acked), len(spooled), len({r[0] for r in rows}), len(sent - acked), unacked_in))
finally:
    shutil.rmtree(work, ignore_errors=True)
