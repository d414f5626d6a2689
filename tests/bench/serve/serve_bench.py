"""Sustained ingest over the socket vs `tokenmill build` on the same input.

1. Input: ../shared/corpora first (books, social, web e-mail and HTML, Chinese
   HTML) cut into ~1 MB JSONL batches, then fresh unique documents from the
   sample generator (a new seed per round, so dedup does not turn the run
   into a replay) until the feed has lasted DURATION seconds (default 60).
2. serve: CONNS connections post batches back to back (each waits for its
   acknowledgement); reports document MB/s (from the daemon's committed
   counters, first post to last commit), ack latency p50/p99 (client side),
   RSS minus the dedup index's reported RAM every second (min/max after a
   warm-up, drift in %), and the index growth.
3. build: the same batches, in the same order, as files, with the same
   configuration and tokenizer; MB/s over document bytes.
Prints the ratio serve/build (target >= 0.9).

usage: serve_bench.py TOKENMILL CORPUS WORK [DURATION] [CONNS]"""
import glob
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import http.client

import zstandard

TM, CORPUS, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
DURATION = float(sys.argv[4]) if len(sys.argv) > 4 else 60.0
CONNS = int(sys.argv[5]) if len(sys.argv) > 5 else 4
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "../../.."))
BATCH = 1 << 20

shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK + "/batches")
n_batches = 0


def emit(profile, lines):
    """Cut JSON lines into ~1 MB batch files, numbered in feed order."""
    global n_batches
    cur, size = [], 0
    for l in lines:
        cur.append(l)
        size += len(l)
        if size >= BATCH:
            write_batch(profile, cur)
            cur, size = [], 0
    if cur:
        write_batch(profile, cur)


def write_batch(profile, lines):
    global n_batches
    with open("%s/batches/%06d.%s.jsonl" % (WORK, n_batches, profile), "w") as f:
        f.write("".join(lines))
    n_batches += 1


def jsonl(path):
    data = open(path, "rb").read()
    if path.endswith(".zst"):
        data = zstandard.ZstdDecompressor().stream_reader(data).read()
    # split on \n only: str.splitlines would also cut at U+2028 inside JSON strings
    return [l + "\n" for l in data.decode("utf-8", "replace").split("\n") if l.strip()]


# ---- the shared corpora ------------------------------------------------------------------
books = sorted(glob.glob(CORPUS + "/books/**/*.txt", recursive=True))
emit("books", [json.dumps({"id": os.path.relpath(p, CORPUS), "text": open(p, errors="replace").read()}) + "\n"
               for p in books])
emit("social", jsonl(CORPUS + "/social/fortunes-en.jsonl"))
emit("email", jsonl(CORPUS + "/web/spam-assassin-raw.jsonl.zst"))
emit("html", jsonl(CORPUS + "/web/spam-assassin-html.jsonl.zst"))
emit("html", jsonl(CORPUS + "/web/zh-html.jsonl.zst"))
emit("html", [json.dumps({"id": os.path.relpath(p, CORPUS), "html": open(p, errors="replace").read()}) + "\n"
              for p in sorted(glob.glob(CORPUS + "/web/spam-assassin-html/*.html"))])
corpora_batches = n_batches


def fresh_round(seed):
    """One round of the sample generator (its own seed: fresh documents)."""
    d = "%s/gen%d" % (WORK, seed)
    subprocess.run(["/usr/bin/python3", ROOT + "/corpora/gen_sample.py", "--seed", str(1000 + seed), "--docs",
                    "3000", d], check=True, stdout=subprocess.DEVNULL)
    tag = lambda ls: [json.dumps(dict(json.loads(l), id="g%d-%s" % (seed, json.loads(l)["id"]))) + "\n" for l in ls]
    emit("web", tag(jsonl(d + "/web.jsonl")))
    emit("social", tag(jsonl(d + "/social.jsonl")))
    emit("html", tag(jsonl(d + "/web_html.jsonl")))
    emit("web", tag(jsonl(d + "/zh.jsonl")))
    shutil.rmtree(d)


# Fresh documents are generated before the run (the generator would take a
# core from the daemon otherwise): enough for DURATION s at MBPS_EST MB/s.
# The feed is these batches; if the daemon is faster the run is shorter
# (the duration is printed) -- raise MBPS_EST.
MBPS_EST = float(os.environ.get("MBPS_EST", "8"))
seed = 0
while sum(os.path.getsize(p) for p in glob.glob(WORK + "/batches/*.jsonl")) < DURATION * MBPS_EST * 1e6:
    fresh_round(seed)
    seed += 1
print("input: %d batches, %d from the shared corpora, %.0f MB of JSONL" % (
    n_batches, corpora_batches, sum(os.path.getsize(p) for p in glob.glob(WORK + "/batches/*.jsonl")) / 1e6), flush=True)

# ---- tokenizer and config -----------------------------------------------------------------
ini = WORK + "/serve.ini"
shutil.copy(ROOT + "/tests/bench/builder/shared_corpora.ini", ini)
with open(ini, "a") as f:
    f.write("\n[serve]\noutput = %s/serve_out\ntokenizer = %s/tok/tokenizer.json\ningest_listen = 127.0.0.1:0\n"
            "seal_age_s = 10\nqueue_bytes = 32MiB\n\n[http]\nlisten = 127.0.0.1:0\n" % (WORK, WORK))
    f.write("\n[tokenizer]\nvocab_size = 8192\n\n[build]\ntokenizer_sample = 8MiB\n")
first = sorted(glob.glob(WORK + "/batches/*.jsonl"))
subprocess.run([TM, "build", "-c", ini, "--no-progress", "--stop-after-docs", "20000", "-o", WORK + "/tok"] +
               ["%s=%s" % (p.split(".")[-2], p) for p in first[:20]], check=True, stdout=subprocess.DEVNULL,
               stderr=subprocess.DEVNULL)

# ---- serve ----------------------------------------------------------------------------------
log = open(WORK + "/serve.log", "wb")
proc = subprocess.Popen([TM, "serve", "-c", ini], stderr=log, stdout=subprocess.DEVNULL)
ports = {}
deadline = time.time() + 60
while time.time() < deadline and len(ports) < 2:
    for l in open(WORK + "/serve.log", errors="replace"):
        if "event=serve_listening" in l:
            role = l.split("role=")[1].split()[0]
            ports[role] = int(l.rsplit(":", 1)[1])
    time.sleep(0.05)
assert len(ports) == 2, open(WORK + "/serve.log").read()[-2000:]


def status():
    c = http.client.HTTPConnection("127.0.0.1", ports["http"], timeout=60)
    c.request("GET", "/status")
    s = json.loads(c.getresponse().read())
    c.close()
    return s


work_q = queue.Queue(maxsize=8)
lat, lock = [], threading.Lock()
sent = []  # batch files in acknowledgement order


def poster():
    c = http.client.HTTPConnection("127.0.0.1", ports["ingest"], timeout=300)
    while True:
        path = work_q.get()
        if path is None:
            return
        body = open(path, "rb").read()
        prof = path.split(".")[-2]
        t = time.time()
        c.request("POST", "/ingest?profile=" + prof, body)
        r = c.getresponse()
        answer = r.read()
        if r.status != 200:
            print("FAIL: %s: %d %s" % (path, r.status, answer[:300]), flush=True)
            proc.kill()
            os._exit(1)
        with lock:
            lat.append(time.time() - t)
            sent.append(path)


rss = []
stop_rss = threading.Event()


def rss_sampler():
    while not stop_rss.is_set():
        try:
            st = {l.split(":")[0]: int(l.split()[1]) * 1024 for l in open("/proc/%d/status" % proc.pid)
                  if l.startswith(("VmRSS:", "RssAnon:", "RssFile:"))}
            ix = status()["dedup_index"]
            rss.append((time.time(), st["VmRSS"], ix["ram_bytes"], st["RssAnon"], st["RssFile"], ix["disk_bytes"]))
        except Exception:  # noqa
            pass
        time.sleep(1.0)


threads = [threading.Thread(target=poster) for _ in range(CONNS)]
for t in threads:
    t.start()
threading.Thread(target=rss_sampler, daemon=True).start()
t0 = time.time()
for p in sorted(glob.glob(WORK + "/batches/*.jsonl")):
    work_q.put(p)
for _ in threads:
    work_q.put(None)
for t in threads:
    t.join()
t_sent = time.time()
while True:
    s = status()
    if s["counters"]["inputs_done"] >= len(sent) and s["queue"]["inputs"] == 0 and s["queue"]["batches_in_flight"] == 0:
        break
    time.sleep(0.1)
t_end = time.time()
ticks = os.sysconf("SC_CLK_TCK")
f = open("/proc/%d/stat" % proc.pid).read().rsplit(")", 1)[1].split()
serve_cpu = (int(f[11]) + int(f[12])) / ticks
stop_rss.set()
proc.terminate()
proc.wait(300)
serve_mb = s["counters"]["bytes_in"] / 1e6
serve_s = t_end - t0
lat.sort()
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print("serve: %d batches (%d from the shared corpora), %.1f MB of documents in %.1f s = %.2f MB/s, "
      "CPU %.1f s = %.2f MB per CPU-second; "
      "docs %d kept %d dropped %d dups %d+%d; ack latency p50 %.0f ms p99 %.0f ms max %.0f ms (%d connections)" %
      (len(sent), corpora_batches, serve_mb, serve_s, serve_mb / serve_s, serve_cpu, serve_mb / serve_cpu,
       s["counters"]["documents_in"],
       s["counters"]["kept"], s["counters"]["dropped"], s["counters"]["exact_duplicates"],
       s["counters"]["near_duplicates"], 1000 * p(0.5), 1000 * p(0.99), 1000 * lat[-1], CONNS))
with open(WORK + "/rss.tsv", "w") as f:
    f.write("t_s\trss\tindex_ram\trss_anon\trss_file\tindex_disk\n")
    for r in rss:
        f.write("%.1f\t%d\t%d\t%d\t%d\t%d\n" % ((r[0] - t0,) + r[1:]))
print("anonymous RSS minus index RAM over time (MB): " + " ".join(
    "%.0fs:%.0f" % (r[0] - t0, (r[3] - r[2]) / 1e6) for r in rss[::max(1, len(rss) // 12)]))
WARM = float(os.environ.get("WARMUP", "20"))
warm = [r for r in rss if r[0] - t0 >= WARM]
if len(warm) >= 3:
    # the index's records are a file mapping (RssFile); its tables are anonymous memory it reports
    net = [r[3] - r[2] for r in warm]
    mean = sum(net) / len(net)
    print("serve anonymous RSS minus dedup index RAM (after %.0f s warm-up, %d samples): min %.0f MB max %.0f MB "
          "mean %.0f MB, spread %.1f%% of mean (target <= 5%%), drift first->last %+.1f%%" %
          (WARM, len(net), min(net) / 1e6, max(net) / 1e6, mean / 1e6, 100 * (max(net) - min(net)) / mean,
           100 * (net[-1] - net[0]) / mean))
    print("serve total RSS %.0f -> %.0f MB; dedup index: RAM %.1f -> %.1f MB, file-mapped RSS %.1f -> %.1f MB, "
          "disk %.1f -> %.1f MB" % (warm[0][1] / 1e6, warm[-1][1] / 1e6, warm[0][2] / 1e6, warm[-1][2] / 1e6,
                                   warm[0][4] / 1e6, warm[-1][4] / 1e6, warm[0][5] / 1e6, warm[-1][5] / 1e6))

# ---- build on the same batches, same order ------------------------------------------------------
order = sorted(sent)  # feed order (the daemon's order differs only where connections raced)
args = ["%s=%s" % (q.split(".")[-2], q) for q in order]
import resource
ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
t = time.time()
r = subprocess.run([TM, "build", "-c", ini, "--no-progress", "--tokenizer", WORK + "/tok/tokenizer.json", "-o",
                    WORK + "/build_out"] + args, capture_output=True, text=True)
ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
build_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
bs = json.load(open(WORK + "/build_out/stats.json"))
build_mb = bs["time"]["doc_bytes_this_run"] / 1e6
build_s = bs["time"]["wall_s"]
print("build: %.1f MB of documents in %.1f s = %.2f MB/s (wall incl. start %.1f s), CPU %.1f s = %.2f MB per "
      "CPU-second; docs %d kept %d" % (build_mb, build_s, build_mb / build_s, time.time() - t, build_cpu,
                                      build_mb / build_cpu, bs["totals"]["docs_in"], bs["totals"]["kept"]))
print("serve/build throughput ratio: wall %.2f, per CPU-second %.2f (target >= 0.9; the machine is shared: load %s)"
      % ((serve_mb / serve_s) / (build_mb / build_s), (serve_mb / serve_cpu) / (build_mb / build_cpu),
         open("/proc/loadavg").read().split()[0]))
