"""tokenmill serve end to end (loopback only):
 1. spool files (plain, gzip, one corrupt) and socket batches (TCP and Unix
    socket, concurrently): the kept set equals `tokenmill build`'s on the
    same documents in the order the daemon committed them; done/, failed/
    with its reason, the inbox emptied; SIGTERM drains and exits 0
 2. restarted on the same output: malformed, oversized and slow requests are
    refused with a 4xx and a reason while a well-behaved client keeps
    ingesting (every batch acknowledged and committed); unknown paths,
    wrong methods; the connection limit; SIGHUP reload of a limit
 3. a bearer token: required when configured, refused when its file is
    readable by others; a non-loopback address without a token is refused
 4. a live feeder; a trainer stand-in (ring_hold) that consumed K batches
    shows K consumed, the lag, alive and its cursor in /metrics and /status
"""
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import (PY, SRC, TM, Daemon, check, conn_tcp, fail, get, id_hash, post, raw, request,
                        shard_ids, train_tokenizer, wait_until, write_ini)

work = tempfile.mkdtemp(prefix="tm_serve.")
try:
    r = subprocess.run([TM, "config", "--check", os.path.join(SRC, "deploy/serve.example.ini")], capture_output=True,
                       text=True)
    check(r.returncode == 0, "deploy/serve.example.ini: " + r.stderr)
    subprocess.run([PY, os.path.join(SRC, "corpora/gen_sample.py"), "--docs", "300", work + "/in"], check=True,
                   stdout=subprocess.DEVNULL)
    tok = train_tokenizer(work, work + "/in/web.jsonl")
    out, spool = work + "/out", work + "/spool"
    os.makedirs(spool)
    sock = work + "/ingest.sock"
    cfg = {
        "serve": {"output": out, "spool": spool, "tokenizer": tok, "ingest_listen": "127.0.0.1:0",
                  "ingest_socket": sock, "seal_age_s": "0.5", "spool_settle_ms": "100", "rescan_ms": "300",
                  "threads": "2", "batch_docs": "64", "request_timeout_ms": "1500", "idle_timeout_ms": "5000",
                  "max_connections": "12", "max_request_bytes": "1MiB", "max_doc_bytes": "256KiB"},
        "http": {"listen": "127.0.0.1:0"},
        "shard": {"max_tokens": "40000", "frame_size": "16k"},
    }
    ini = work + "/serve.ini"
    write_ini(ini, cfg)
    log = work + "/serve.log"
    d = Daemon(ini, log)
    d.start()
    check(d.ingest_port and d.http_port, "listening ports not logged")

    # ---- 1. spool + socket concurrently ---------------------------------------------------
    social = open(work + "/in/social.jsonl").read().splitlines(True)
    batches = [social[i:i + 40] for i in range(0, len(social), 40)]
    acks = {}
    errors = []

    def sender():
        for i, b in enumerate(batches):
            try:
                st, body = post(d.ingest_port if i % 2 == 0 else sock, "".join(b), profile="social")
            except Exception as e:  # noqa
                errors.append(repr(e)[:300])
                return
            if st != 200:
                errors.append("batch %d: %s %s" % (i, st, body))
                return
            acks[body["batch"]] = b
            check(body["documents"] == len(b) and body["durable"] == "journal", "ack: %s" % body)

    t = threading.Thread(target=sender)
    t.start()

    def drop_in(src, name, compress=False):
        tmp = os.path.join(spool, "." + name + ".tmp")
        data = open(src, "rb").read()
        with open(tmp, "wb") as f:
            f.write(gzip.compress(data) if compress else data)
        os.rename(tmp, os.path.join(spool, name))

    drop_in(work + "/in/web.jsonl", "web.jsonl")
    drop_in(work + "/in/zh.jsonl", "zh.jsonl.gz", compress=True)
    with open(spool + "/.broken.tmp", "wb") as f:
        f.write(b"\x1f\x8b\x08\x00garbage that is not a gzip stream")
    os.rename(spool + "/.broken.tmp", spool + "/broken.jsonl.gz")
    # a symlink pointing out of the spool is never followed
    os.symlink("/etc/hostname", spool + "/link.jsonl")
    t.join(120)
    check(not errors, "socket batches: %s" % errors)
    check(len(acks) == len(batches), "acknowledged %d of %d batches" % (len(acks), len(batches)))
    wait_until(lambda: sorted(os.listdir(spool + "/done")) == ["web.jsonl", "zh.jsonl.gz"], "spool files done")
    wait_until(lambda: os.path.exists(spool + "/failed/broken.jsonl.gz.reason"), "corrupt file failed")
    reason = open(spool + "/failed/broken.jsonl.gz.reason").read()
    check("broken.jsonl.gz" in reason, "failed reason names the file: " + reason)
    check(os.path.islink(spool + "/link.jsonl"), "the symlink was touched")

    # a status snapshot before stopping
    st, status = get(d.http_port, "/status")
    check(st == 200 and status["counters"]["documents_in"] > 0, "status: %s" % str(status)[:300])
    st, metrics = get(d.http_port, "/metrics")
    check(st == 200 and "tokenmill_documents_in_total" in metrics and "tokenmill_up 1" in metrics, "metrics")
    check(get(d.http_port, "/healthz")[0] == 200, "healthz")
    rc = d.stop()
    check(rc == 0, "SIGTERM: exit %d" % rc)
    check(os.listdir(out + "/inbox") == [], "inbox not emptied: %s" % os.listdir(out + "/inbox"))
    check(os.listdir(spool + "/.work") == [], ".work not emptied")
    check(not os.path.exists(sock), "the Unix socket was not removed")

    # the same documents, in the daemon's order, through tokenmill build
    text = d.log_text()
    import re
    order = []
    for m in re.finditer(r"event=spool_claimed seq=(\d+) name=(\S+)", text):
        if m.group(2) != "broken.jsonl.gz":
            order.append((int(m.group(1)), "web=" + os.path.join(spool, "done", m.group(2))))
    for seq, lines in acks.items():
        p = "%s/batch-%06d.jsonl" % (work, seq)
        open(p, "w").write("".join(lines))
        order.append((seq, "social=" + p))
    order.sort()
    r = subprocess.run([TM, "build", "--no-progress", "--threads", "2", "--tokenizer", tok, "--set",
                        "shard.max_tokens=40000", "-o", work + "/ref"] + [o for _, o in order],
                       capture_output=True, text=True)
    check(r.returncode == 0, "reference build: " + r.stderr[-2000:])
    got = sorted((i[2], i[3]) for i in shard_ids(out))
    want = sorted((i[2], i[3]) for i in shard_ids(work + "/ref"))
    check(len(got) == len(set(got)), "a document is in two shards")
    check(got == want, "serve kept %d documents, build %d; %d differ" % (len(got), len(want), len(set(got) ^ set(want))))
    v = subprocess.run([TM, "shards", "verify", out], capture_output=True, text=True)
    check(v.returncode == 0, "shards verify: " + v.stderr)
    print("1. spool + socket: %d documents kept, equal to build's" % len(got))

    # ---- 2. misbehaving clients beside a good one; reload ---------------------------------------
    d.start()
    docs_before = get(d.http_port, "/status")[1]["counters"]["documents_in"]
    good = {"sent": 0, "docs": 0, "err": []}
    stop_good = threading.Event()
    fresh = open(work + "/in/web_html.jsonl").read().splitlines(True)

    def good_client():
        c = conn_tcp(d.ingest_port)
        i = 0
        while not stop_good.is_set() or good["sent"] < 10:
            b = fresh[(i * 10) % len(fresh):(i * 10) % len(fresh) + 10]
            i += 1
            body = "".join(json.dumps({"id": "good-%d-%d" % (i, k), "html": json.loads(l)["html"]}) + "\n"
                           for k, l in enumerate(b))
            try:
                st, r = request(c, "POST", "/ingest?profile=html", body)
            except Exception as e:  # noqa
                good["err"].append(repr(e))
                return
            if st != 200:
                good["err"].append("%s %s" % (st, r))
                return
            good["sent"] += 1
            good["docs"] += r["documents"]

    # a profile whose text field holds HTML, from the config file
    with open(ini, "a") as f:
        f.write("[clean.html]\nsource = web\nreader_text_field = html\nreader_field_kind = html\n")
    d.stop()
    d.start()
    g = threading.Thread(target=good_client)
    g.start()
    P = d.ingest_port

    def expect(st_body, status, needle, what):
        st, body = st_body
        check(st == status, "%s: status %s (want %d): %s" % (what, st, status, body))
        check(needle in json.dumps(body), "%s: reason %r not in %s" % (what, needle, body))

    expect(post(P, '{"text":"fine"}\n{"text": bad}\n'), 400, "line 2", "malformed JSON")
    expect(post(P, '{"text":"fine"}\n{"body":"x"}\n'), 400, 'no string field \\"text\\"', "missing text")
    expect(post(P, '["not","an","object"]\n'), 400, "line 1", "not an object")
    expect(post(P, ""), 400, "empty", "empty body")
    expect(post(P, json.dumps({"text": "w " * 140000}) + "\n"), 413, "max_doc_bytes", "oversized document")
    expect(post(P, '{"text":"x"}\n', profile="../../etc"), 400, "profile", "bad profile name")
    resp = raw(P, b"POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n")
    check(resp.startswith("HTTP/1.1 413") and "max_request_bytes" in resp, "Content-Length over the limit: " + resp[:200])
    chunk = b"%x\r\n%s\r\n" % (600000, b"a" * 600000)
    resp = raw(P, b"POST /ingest HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk + chunk + b"0\r\n\r\n")
    check(resp.startswith("HTTP/1.1 413"), "chunked body over the limit: " + resp[:200])
    resp = raw(P, b"BREW /ingest HTCPCP/9.9\r\n\r\n")
    check(resp.startswith("HTTP/1.1 400") and "malformed HTTP" in resp, "garbage request: " + resp[:200])
    resp = raw(P, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
    check(resp.startswith("HTTP/1.1 404"), "unknown path: " + resp[:200])
    resp = raw(P, b"GET /ingest HTTP/1.1\r\nHost: x\r\n\r\n")
    check(resp.startswith("HTTP/1.1 405"), "GET /ingest: " + resp[:200])
    resp = raw(d.http_port, b"HEAD /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    check(resp.startswith("HTTP/1.1 200") and resp.endswith("\r\n\r\n") and "Content-Length: " in resp,
          "HEAD /status must answer the head only: " + resp[-200:])
    resp = raw(d.http_port, b"POST /status HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    check(resp.startswith("HTTP/1.1 405"), "POST on admin: " + resp[:200])
    # slowloris: headers and part of a body, then nothing: 408 after request_timeout_ms
    resp = raw(P, b"POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"te")
    check(resp.startswith("HTTP/1.1 408"), "slow request: " + resp[:200])
    # one byte at a time is still slow
    s = socket.create_connection(("127.0.0.1", P), timeout=30)
    s.sendall(b"POST /ingest HTTP/1.1\r\n")
    slow_resp = b""
    try:
        for ch in b"Host: x\r\nContent-Length: 20\r\n":
            s.sendall(bytes([ch]))
            time.sleep(0.1)
        slow_resp = s.recv(4096)
    except (BrokenPipeError, ConnectionResetError):
        pass
    s.close()
    check(slow_resp.startswith(b"HTTP/1.1 408") or slow_resp == b"", "drip-fed request: %r" % slow_resp[:100])
    stop_good.set()
    g.join(120)
    check(not good["err"], "the good client was refused: %s" % good["err"])
    check(good["sent"] >= 10, "good client sent %d batches" % good["sent"])
    wait_until(lambda: get(d.http_port, "/status")[1]["counters"]["documents_in"] >= docs_before + good["docs"],
               "the good client's documents committed")
    st, status = get(d.http_port, "/status")
    refused = status["refused"]
    check(refused["malformed"] >= 4 and refused["too_large"] >= 3 and refused["timeout"] >= 1, "refused: %s" % refused)

    # Expect: 100-continue (curl's default for large bodies) is answered before the body
    body = b'{"id":"expect-1","text":"sent after 100 Continue"}\n'
    s = socket.create_connection(("127.0.0.1", P), timeout=30)
    s.sendall(b"POST /ingest HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
    first = s.recv(4096)
    check(first.startswith(b"HTTP/1.1 100 Continue"), "no 100 Continue: %r" % first[:80])
    s.sendall(body)
    rest = first[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
    while b"durable" not in rest:
        chunk = s.recv(4096)
        if not chunk:
            break
        rest += chunk
    s.close()
    check(rest.startswith(b"HTTP/1.1 200") and b'"documents":1' in rest, "after 100 Continue: %r" % rest[:200])

    # connection limit: 12 per role; the 13th gets 503 and the daemon keeps serving
    idle = [socket.create_connection(("127.0.0.1", P), timeout=30) for _ in range(12)]
    time.sleep(0.2)
    resp = raw(P, b"")
    check(resp.startswith("HTTP/1.1 503") and "too many connections" in resp, "connection limit: " + resp[:200])
    for s in idle:
        s.close()
    wait_until(lambda: get(d.http_port, "/status")[1]["connections"]["ingest"] == 0, "idle connections closed")
    check(post(P, '{"id":"after-flood","text":"still serving"}\n')[0] == 200, "ingest after the flood")

    # SIGHUP: a smaller max_request_bytes applies without a restart
    big = json.dumps({"id": "big", "text": "y " * 3000}) + "\n"
    check(post(P, big)[0] == 200, "6 KB batch before reload")
    txt = open(ini).read().replace("max_request_bytes = 1MiB", "max_request_bytes = 4KiB")
    open(ini, "w").write(txt)
    n0 = len(d.log_text())
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=serve_reloaded", n0)
    expect(post(P, big.replace("big", "big2")), 413, "max_request_bytes", "after reload")
    rc = d.stop()
    check(rc == 0, "SIGTERM: exit %d" % rc)
    print("2. misbehaving clients refused (%s); good client: %d batches, %d documents" %
          (refused, good["sent"], good["docs"]))

    # ---- 3. token -------------------------------------------------------------------------------
    tokf = work + "/token"
    token = "s3cr3t-token-0123456789"
    open(tokf, "w").write(token + "\n")
    os.chmod(tokf, 0o644)
    cfg3 = json.loads(json.dumps(cfg))
    cfg3["serve"].update({"output": work + "/out3", "spool": "", "ingest_socket": "", "token_file": tokf})
    ini3 = work + "/serve3.ini"
    write_ini(ini3, cfg3)
    d3 = Daemon(ini3, work + "/serve3.log")
    rc, text = d3.start(expect_fail=True)
    check(rc == 2 and "0600" in text, "a world-readable token file: rc %d: %s" % (rc, text[-300:]))
    os.chmod(tokf, 0o600)
    d3.start()
    st, _ = post(d3.ingest_port, '{"text":"x"}\n')
    check(st == 401, "no token: %s" % st)
    st, _ = post(d3.ingest_port, '{"text":"x"}\n', token="wrong-token-0123456789")
    check(st == 401, "wrong token: %s" % st)
    st, _ = post(d3.ingest_port, '{"id":"tok","text":"with the token"}\n', token=token)
    check(st == 200, "right token: %s" % st)
    check(get(d3.http_port, "/metrics")[0] == 401, "metrics without the token")
    check(get(d3.http_port, "/metrics", token=token)[0] == 200, "metrics with the token")
    check(d3.stop() == 0, "stop")
    cfg4 = json.loads(json.dumps(cfg3))
    cfg4["serve"].update({"token_file": "", "ingest_listen": "0.0.0.0:0"})
    write_ini(ini3, cfg4)
    rc, text = Daemon(ini3, work + "/serve4.log").start(expect_fail=True)
    check(rc == 2 and "token_file" in text, "non-loopback without a token: rc %d: %s" % (rc, text[-300:]))
    print("3. token: required, checked, 0600 enforced; non-loopback needs one")

    # ---- 4. a live feeder inside the daemon -------------------------------------------------------
    ring = "tmserve%d" % os.getpid()
    cfg5 = json.loads(json.dumps(cfg))
    cfg5["serve"].update({"output": work + "/out5", "spool": "", "ingest_socket": ""})
    cfg5["feed"] = {"rings": ring, "batch": "2", "seq_len": "32"}
    ini5 = work + "/serve5.ini"
    write_ini(ini5, cfg5)
    d5 = Daemon(ini5, work + "/serve5.log")
    d5.start()
    try:
        check(post(d5.ingest_port, "".join(social[:100]), profile="social")[0] == 200, "feeder run: ingest")
        d5.wait_log(r"event=feed_pass pass=0 generation=\d+ shards=[1-9]")
        feeders = get(d5.http_port, "/status")[1]["feeders"]
        check(len(feeders) == 1 and feeders[0]["ring"] == ring and feeders[0]["running"], "feeders: %s" % feeders)
        check(os.path.exists("/dev/shm/tokenmill.%s.0" % ring), "the feeder's ring does not exist")
        # a trainer stand-in consumes K batches and stays attached: /metrics and
        # /status show its cursor (a read-only peek at the ring header)
        K = 3
        hold = subprocess.Popen([os.path.join(os.environ["TM_BUILD_DIR"], "tests/serve/ring_hold"), ring, "0", str(K)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        check(hold.stdout.readline().strip() == "consumed %d" % K, "ring_hold did not consume %d batches" % K)
        metrics = get(d5.http_port, "/metrics")[1]

        def mval(name):
            m = re.search(r'^%s\{ring="%s",rank="0"\} (\S+)$' % (name, ring), metrics, re.M)
            check(m, "%s for ring %s missing from /metrics" % (name, ring))
            return float(m.group(1))

        pub, con = mval("tokenmill_feed_published_batches"), mval("tokenmill_feed_consumed_batches")
        check(con == K and pub >= K and mval("tokenmill_feed_lag_batches") == pub - con,
              "feed metrics: published %s consumed %s (want %d consumed)" % (pub, con, K))
        check(mval("tokenmill_feed_consumer_alive") == 1, "the attached trainer is not alive in /metrics")
        check(mval("tokenmill_feed_cursor_window") > 0, "no data cursor in /metrics")
        rk = get(d5.http_port, "/status")[1]["feeders"][0]["ranks"]
        check(len(rk) == 1 and rk[0]["consumed_batches"] == K and rk[0]["consumer"] == "alive" and
              rk[0]["consumer_pid"] == hold.pid and rk[0]["cursor"]["window"] > 0, "status ranks: %s" % rk)
        hold.stdin.close()
        check(hold.wait(30) == 0, "ring_hold failed")
        rk = get(d5.http_port, "/status")[1]["feeders"][0]["ranks"][0]
        check(rk["consumer"] == "absent" and rk["consumed_batches"] == K, "after the trainer left: %s" % rk)
        check(d5.stop() == 0, "stop with a feeder")
        check("event=serve_feeder_stopped ring=" + ring in d5.log_text(), "the feeder did not stop")
    finally:
        for f in os.listdir("/dev/shm"):
            if f.startswith("tokenmill.%s." % ring):
                os.unlink("/dev/shm/" + f)
    print("4. live feeder: ring %s filled from the sealed shards; a trainer that consumed %d batches shows them "
          "(published %d, lag %d, alive, cursor) in /metrics and /status; stopped with the daemon" % (ring, K, pub, pub - con))

    # ---- 5. backpressure: a small queue, one worker, many large batches at once ------------------
    cfg6 = json.loads(json.dumps(cfg))
    cfg6["serve"].update({"output": work + "/out6", "spool": "", "ingest_socket": "", "threads": "1",
                          "batch_docs": "16", "queue_bytes": "256KiB", "max_request_bytes": "4MiB",
                          "request_timeout_ms": "120000"})
    ini6 = work + "/serve6.ini"
    write_ini(ini6, cfg6)
    d6 = Daemon(ini6, work + "/serve6.log")
    d6.start()
    webl = []
    for l in open(work + "/in/web.jsonl").read().split("\n"):
        try:
            webl.append(json.loads(l)["text"])
        except (ValueError, KeyError):
            pass  # planted junk lines
    res6, n_docs = [], [0]

    def big_poster(k):
        for r in range(3):
            lines = [json.dumps({"id": "bp-%d-%d-%d" % (k, r, i), "text": t}) for i, t in enumerate(webl)]
            body = "\n".join(lines) + "\n"
            st, b = post(d6.ingest_port, body, timeout=300)
            res6.append(st)
            if st == 200:
                n_docs[0] += b["documents"]

    ts = [threading.Thread(target=big_poster, args=(k,)) for k in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    check(res6 == [200] * 18, "backpressure run: %s" % res6)
    pauses = int(re.search(r"tokenmill_backpressure_pauses_total (\d+)", get(d6.http_port, "/metrics")[1]).group(1))
    check(pauses > 0, "no connection was paused with a 256 KiB queue and 18 batches of %d KB" % (len(body) // 1000))
    wait_until(lambda: get(d6.http_port, "/status")[1]["counters"]["documents_in"] == n_docs[0], "all committed")
    # a flood of tiny batches: each counts 64 KiB against the queue, so their number stays bounded
    tiny_st, peak = [], [0]
    stop_poll = threading.Event()

    def tiny(k):
        c = conn_tcp(d6.ingest_port)
        for i in range(60):
            tiny_st.append(request(c, "POST", "/ingest", json.dumps({"id": "tiny-%d-%d" % (k, i), "text": webl[i]}) + "\n")[0])

    def poll():
        while not stop_poll.is_set():
            peak[0] = max(peak[0], get(d6.http_port, "/status")[1]["queue"]["inputs"])
            time.sleep(0.02)

    pt = threading.Thread(target=poll)
    pt.start()
    ts = [threading.Thread(target=tiny, args=(k,)) for k in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    stop_poll.set()
    pt.join()
    check(tiny_st == [200] * 480, "tiny batches: %s" % sorted(set(tiny_st)))
    # 256 KiB / 64 KiB = 4 queued, plus batches being checked on the 4 thread-pool threads
    check(peak[0] <= 12, "%d tiny batches queued at once with a 256 KiB queue" % peak[0])
    check(d6.stop() == 0, "stop")
    print("5. backpressure: %d pauses (uv_read_stop), all 18 large batches acknowledged and committed; 480 tiny "
          "batches, at most %d queued at once" % (pauses, peak[0]))

    # ---- 6. injected faults: a failed inbox fsync, a crash between seal and publish --------------
    cfg7 = json.loads(json.dumps(cfg))
    cfg7["serve"].update({"output": work + "/out7", "spool": "", "ingest_socket": "", "profile": "raw"})
    cfg7["clean.raw"] = {"source": "web", "c4": "false", "gopher_quality": "false", "gopher_repetition": "false",
                         "fineweb": "false", "langid": "false", "pii": "false"}
    ini7 = work + "/serve7.ini"
    write_ini(ini7, cfg7)
    d7 = Daemon(ini7, work + "/serve7.log", env={"TOKENMILL_FAULT": "inbox:fsync:1:ENOSPC"})
    d7.start()
    st, b = post(d7.ingest_port, '{"id":"f1","text":"first try"}\n')
    check(st == 507 and "not stored" in b["error"], "inbox fsync ENOSPC: %s %s" % (st, b))
    st, b = post(d7.ingest_port, '{"id":"f1","text":"first try"}\n')
    check(st == 200, "after the failed fsync: %s %s" % (st, b))
    check(d7.stop() == 0, "stop after a failed fsync")
    check(os.listdir(work + "/out7/inbox") == [], "a failed batch left a file in the inbox")
    # SIGKILL at the first manifest publish: the shard is sealed and the index checkpointed
    cfg7["serve"]["output"] = work + "/out8"
    write_ini(ini7, cfg7)
    d8 = Daemon(ini7, work + "/serve8.log", env={"TOKENMILL_FAULT": "manifest:rename:1:CRASH"})
    d8.start()
    import random
    vocab = " ".join(webl[:5]).split()
    rnd = random.Random(7)
    body = "".join(json.dumps({"id": "crash-%d" % i, "text": " ".join(rnd.choice(vocab) for _ in range(80))}) + "\n"
                   for i in range(40))
    st, b = post(d8.ingest_port, body)
    check(st == 200, "ingest before the crash: %s" % st)
    d8.p.wait(60)
    check(d8.p.returncode == -9, "the injected crash did not happen: rc %s" % d8.p.returncode)
    d9 = Daemon(ini7, work + "/serve8.log")
    d9.start()
    d9.wait_log(r"event=serve_recovered dir=\S+ adopted=s-000000.tms")
    check(d9.stop() == 0, "stop after recovery")
    ids = [r[2] for r in shard_ids(work + "/out8")]
    want = {id_hash("crash-%d" % i) for i in range(40)}
    check(len(ids) == len(set(ids)) and want <= set(ids), "after the adopted shard: %d ids, %d of %d acknowledged" %
          (len(ids), len(want & set(ids)), len(want)))
    print("6. faults: a failed inbox fsync is a 507 and nothing stored; a crash between seal and publish is "
          "recovered by adopting the sealed shard (every acknowledged document once)")
    print("test_serve: ok")
finally:
    shutil.rmtree(work, ignore_errors=True)
