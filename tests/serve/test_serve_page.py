"""The status page in headless Chromium (Debian `chromium`): the daemon
ingests documents with drops and duplicates for a few seconds, then the page
is loaded; its script must have drawn the three charts with data
(data-points on each canvas, set by the drawing code) and the screenshot
must show the chart colours. A live feeder runs with a trainer stand-in
(ring_hold) that consumed 2 batches: the page's feeder table must show its
ring with 2 consumed and the trainer alive. The screenshot is kept as a test artifact:
$TM_BUILD_DIR/tests/serve/status_page.png (printed at the end)."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import PY, SRC, Daemon, check, fail, get, post, train_tokenizer, wait_until, write_ini

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    fail("chromium not found: install the test packages (deploy/deps.sh --with-test)")


def png_pixels(path):
    """(width, height, rows of RGB tuples) of an 8-bit RGB/RGBA PNG."""
    data = open(path, "rb").read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG")
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            check(depth == 8 and ctype in (2, 6), "PNG depth %d colour type %d" % (depth, ctype))
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    rows = []
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(w)])
        prev = line
    return w, h, rows


work = tempfile.mkdtemp(prefix="tm_serve_page.")
ring = "tmpage%d" % os.getpid()
try:
    subprocess.run([PY, os.path.join(SRC, "corpora/gen_sample.py"), "--docs", "200", work + "/in"], check=True,
                   stdout=subprocess.DEVNULL)
    tok = train_tokenizer(work, work + "/in/web.jsonl")
    ini = work + "/serve.ini"
    write_ini(ini, {"serve": {"output": work + "/out", "tokenizer": tok, "ingest_listen": "127.0.0.1:0",
                              "seal_age_s": "1", "threads": "2"},
                    "http": {"listen": "127.0.0.1:0"},
                    "feed": {"rings": ring, "batch": "2", "seq_len": "32"}})
    d = Daemon(ini, work + "/serve.log")
    d.start()
    web = open(work + "/in/web.jsonl").read()
    # documents over a few seconds: junk and planted duplicates are dropped,
    # the second copy of the file is all duplicates
    lines = web.splitlines(True)
    for body in ("".join(lines[:len(lines) // 2]), "".join(lines[len(lines) // 2:]), web):
        st, r = post(d.ingest_port, body)
        check(st == 200, "ingest: %s %s" % (st, r))
        time.sleep(1.2)
    wait_until(lambda: get(d.http_port, "/status")[1]["counters"]["documents_in"] >= 2 * web.count("\n"), "ingested")
    time.sleep(1.2)  # one more history sample
    hold = subprocess.Popen([os.path.join(os.environ["TM_BUILD_DIR"], "tests/serve/ring_hold"), ring, "0", "2"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    check(hold.stdout.readline().strip() == "consumed 2", "ring_hold did not consume 2 batches")
    url = "http://127.0.0.1:%d/" % d.http_port
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-dev-shm-usage", "--disable-extensions", "--no-first-run", "--hide-scrollbars",
             "--user-data-dir=" + work + "/chromium", "--window-size=1200,800", "--virtual-time-budget=8000"]
    r = subprocess.run(flags + ["--dump-dom", url], capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, "chromium --dump-dom: " + r.stderr[-1000:])
    dom = r.stdout
    check('data-drawn="1"' in dom, "the page did not draw (no data-drawn): " + dom[-500:])
    import re
    pts = {m.group(1): int(m.group(2)) for m in re.finditer(r'<canvas id="(\w+)"[^>]*data-points="(\d+)"', dom)}
    check(pts.get("rate", 0) >= 2 and pts.get("dups", 0) >= 2 and pts.get("drops", 0) >= 2,
          "charts without data: %s" % pts)
    m = re.search(r'<table id="feeders"[^>]*data-rows="(\d+)"[^>]*>(.*?)</table>', dom, re.S)
    check(m and m.group(1) == "1", "feeder table: %s" % (m.group(0)[:500] if m else "missing"))
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", m.group(2))
    check(cells[6:10] == [ring + "/0", cells[7], "2", str(int(cells[7]) - 2)] and cells[10].startswith("alive"),
          "feeder row: %s" % cells)
    artifact_dir = os.path.join(os.environ.get("TM_BUILD_DIR", work), "tests", "serve")
    os.makedirs(artifact_dir, exist_ok=True)
    shot = os.path.join(artifact_dir, "status_page.png")
    r = subprocess.run(flags + ["--screenshot=" + shot, url], capture_output=True, text=True, timeout=120)
    check(r.returncode == 0 and os.path.exists(shot), "chromium --screenshot: " + r.stderr[-1000:])
    w, h, rows = png_pixels(shot)

    def count(rgb, tol=40):
        return sum(1 for row in rows for p in row if all(abs(p[i] - rgb[i]) <= tol for i in range(3)))

    drawn = {"rate line": count((0x1f, 0x6f, 0xd0)) + count((0xe0, 0x7b, 0x00)),
             "drop bars": count((0xd0, 0x4f, 0x4f)), "duplicate line/bar": count((0x8a, 0x4f, 0xd0))}
    check(all(v > 50 for v in drawn.values()), "chart colours missing from the screenshot: %s" % drawn)
    hold.stdin.close()
    check(hold.wait(30) == 0, "ring_hold failed")
    check(d.stop() == 0, "stop")
    print("test_serve_page: ok: charts %s; pixels %s; feeder row %s; screenshot %s" % (pts, drawn, cells[6:], shot))
finally:
    for f in os.listdir("/dev/shm"):
        if f.startswith("tokenmill.%s." % ring):
            os.unlink("/dev/shm/" + f)
    shutil.rmtree(work, ignore_errors=True)
