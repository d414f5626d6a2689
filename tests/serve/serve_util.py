"""Helpers for the `tokenmill serve` tests: start/stop the daemon, talk HTTP
over TCP or the Unix socket, read shard ids. Loopback addresses only; every
wait has a deadline (a hang fails the test, nothing asserts on speed)."""
import atexit
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

TM = os.environ.get("TOKENMILL")
PY = os.environ.get("PYTHON", "/usr/bin/python3")
SRC = os.environ.get("TM_SOURCE_DIR")


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def write_ini(path, sections):
    with open(path, "w") as f:
        for sec, kv in sections.items():
            f.write("[%s]\n" % sec)
            for k, v in kv.items():
                f.write("%s = %s\n" % (k, v))
            f.write("\n")


_live = []


@atexit.register
def _kill_live():
    """A failed test (sys.exit) must not leave daemons behind."""
    for p in _live:
        if p.poll() is None:
            p.kill()
            p.wait(30)


class Daemon:
    def __init__(self, config, log, env=None):
        self.config, self.log = config, log
        self.env = dict(os.environ, **env) if env else None
        self.p = None
        self.ingest_port = self.http_port = None

    def start(self, expect_fail=False, timeout=60):
        start_len = os.path.getsize(self.log) if os.path.exists(self.log) else 0
        self.p = subprocess.Popen([TM, "serve", "-c", self.config], stdout=subprocess.DEVNULL,
                                  stderr=open(self.log, "ab"), env=self.env)
        _live.append(self.p)
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.log_text(start_len)
            if self.p.poll() is not None:
                if expect_fail:
                    return self.p.returncode, text
                fail("serve exited with %d:\n%s" % (self.p.returncode, text[-3000:]))
            if "event=serve_started" in text:
                if expect_fail:
                    fail("serve started but should have refused:\n" + text[-2000:])
                m = re.findall(r"event=serve_listening role=ingest addr=[0-9.]+:(\d+)", text)
                self.ingest_port = int(m[-1]) if m else None
                m = re.findall(r"event=serve_listening role=http addr=[0-9.]+:(\d+)", text)
                self.http_port = int(m[-1]) if m else None
                return 0, text
            time.sleep(0.05)
        fail("serve did not start within %ds:\n%s" % (timeout, self.log_text(start_len)[-3000:]))

    def log_text(self, start=0):
        try:
            with open(self.log, "rb") as f:
                f.seek(start)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, start=0, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if re.search(pattern, self.log_text(start)):
                return
            time.sleep(0.05)
        fail("no log line matching %r within %ds:\n%s" % (pattern, timeout, self.log_text(start)[-2000:]))

    def signal(self, sig):
        self.p.send_signal(sig)

    def stop(self, timeout=120):
        self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            fail("serve did not stop within %ds after SIGTERM" % timeout)

    def kill(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(60)


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


def conn_tcp(port, timeout=60):
    return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)


def request(conn, method, path, body=None, headers=None):
    """(status, parsed JSON or text) of one request on conn."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read().decode("utf-8", "replace")
    try:
        return r.status, json.loads(data)
    except ValueError:
        return r.status, data


def post(port_or_path, body, profile=None, token=None, timeout=60):
    c = UnixHTTPConnection(port_or_path, timeout) if isinstance(port_or_path, str) else conn_tcp(port_or_path, timeout)
    try:
        h = {"Content-Type": "application/x-ndjson"}
        if token:
            h["Authorization"] = "Bearer " + token
        return request(c, "POST", "/ingest" + ("?profile=" + profile if profile else ""), body, h)
    finally:
        c.close()


def get(port, path, token=None, timeout=60):
    c = conn_tcp(port, timeout)
    try:
        return request(c, "GET", path, None, {"Authorization": "Bearer " + token} if token else None)
    finally:
        c.close()


def raw(port, data, timeout=30, read=True):
    """Send raw bytes, return what the server answers until it closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        if not read:
            return s
        out = b""
        while True:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                break
            out += b
        return out.decode("utf-8", "replace")
    finally:
        if read:
            s.close()


def shard_ids(out_dir):
    """[(shard, index, id_hash_hex, source)] from `tokenmill shards ls --ids`."""
    r = subprocess.run([TM, "shards", "ls", out_dir, "--ids"], capture_output=True, text=True)
    check(r.returncode == 0, "shards ls --ids %s: %s" % (out_dir, r.stderr))
    return [tuple(l.split("\t")) for l in r.stdout.splitlines() if l.strip()]


def id_hash(doc_id):
    import xxhash
    return "%016x" % xxhash.xxh3_64_intdigest(doc_id.encode())


def wait_until(pred, what, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    fail("timed out waiting for " + what)


def train_tokenizer(work, text_file):
    """A small tokenizer (tokenmill build trains one on its input)."""
    out = os.path.join(work, "tok")
    r = subprocess.run([TM, "build", "--no-progress", "--set", "tokenizer.vocab_size=1200", "-o", out, text_file],
                       capture_output=True, text=True)
    check(r.returncode in (0, 3), "tokenizer build: " + r.stderr[-2000:])
    return os.path.join(out, "tokenizer.json")
