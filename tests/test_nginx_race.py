"""The shipped nginx site config, through a real nginx, while the writer races.

* `nginx -t` is clean for the generated server block (inside a wrapper
  nginx.conf whose http block is deliberately unfriendly: global
  open_file_cache, dynamic gzip for JSON -- HOSTILE_HTTP below);
* headers: no-cache + no 304 for data.json, gzip_static, immutable assets,
  CSP matching the page, dot files refused;
* race: `chrony-snap build` runs back to back against a chronyd with 3,000
  clients while two keep-alive readers fetch data.json (plain and gzip)
  thousands of times: every response complete, valid JSON, Content-Length
  right, seq never backwards per variant.  A naive in-place writer is caught
  by the same checker (the test can fail);
* faults: the writer SIGKILLed at random points, a read-only web root, a full
  disk -- nginx keeps serving the last good snapshot, the CLI says why.
"""

import gzip
import hashlib
import html
import http.client
import json
import os
import random
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from chrony_snap import nginx as N
from chrony_snap.harness import nginx as H
from helpers import CrowdSandbox, build_args, cli, cli_argv, fill_disk, read_snapshot, run_build, validate, write_config

CLIENTS = 3000
ROOT = Path(__file__).resolve().parent.parent

# What a typical, tuned operator http block may carry.  The site block must
# still serve a fresh data.json (open_file_cache off) and the static .gz.
HOSTILE_HTTP = """
    open_file_cache max=1000 inactive=60s;
    open_file_cache_valid 60s;
    open_file_cache_min_uses 1;
    gzip on;
    gzip_types application/json text/css application/javascript;
"""


def prod_nginx(out):
    """A real nginx on 127.0.0.1 with the shipped site block, included in an
    http block that is deliberately unfriendly (HOSTILE_HTTP)."""
    return H.NginxProcess(out, http_extra=HOSTILE_HTTP)


@pytest.fixture(scope="module")
def busy():
    """A chronyd with 3,000+ clients, shared by this module's tests."""
    with CrowdSandbox(CLIENTS, limited=20, cmd=3) as sb:
        yield sb


def build_argv(out, sb, state, cfg):
    return cli_argv(*build_args(out, socket=sb.socket, state=state, config=cfg))


def build(out, sb, state, cfg, check=True):
    return run_build(out, socket=sb.socket, state=state, config=cfg, check=check)


# --------------------------------------------------------------------------
# the checker
# --------------------------------------------------------------------------


class Reader(threading.Thread):
    """GET /data.json over one keep-alive connection, alternating plain and
    gzip, checking every response.  Identical bodies are parsed once (a torn
    body has its own hash, so it is always parsed)."""

    def __init__(self, port, stop, max_reads, deadline, variants=("plain", "gzip")):
        super().__init__(daemon=True)
        self.port, self.stop, self.max_reads, self.deadline = port, stop, max_reads, deadline
        self.variants = variants
        self.reads = {v: 0 for v in variants}
        self.last = {v: -1 for v in variants}
        self.seqs = {v: set() for v in variants}
        self.problems = []
        self._memo = {}

    def check(self, variant, status, headers, body):
        if status != 200:
            return f"status {status}"
        cl = headers.get("content-length")
        if cl is None or int(cl) != len(body):
            return f"Content-Length {cl} != {len(body)} bytes received"
        enc = headers.get("content-encoding")
        if (variant == "gzip") != (enc == "gzip"):
            return f"{variant}: Content-Encoding {enc!r}"
        key = hashlib.sha1(body).digest()
        seq = self._memo.get(key)
        if seq is None:
            try:
                raw = gzip.decompress(body) if enc == "gzip" else body
                doc = json.loads(raw)
                seq = doc["seq"]
                if len(doc["clients"]) != doc["summary"]["clients"] or len(doc["clients"]) < CLIENTS:
                    return f"seq {seq}: {len(doc['clients'])} clients, summary says {doc['summary']['clients']}"
            except Exception as e:  # noqa: BLE001 - any failure is a torn/invalid response
                return f"invalid body ({len(body)} bytes): {type(e).__name__}: {str(e)[:120]}"
            self._memo[key] = seq
        if seq < self.last[variant]:
            return f"{variant}: seq went backwards {self.last[variant]} -> {seq}"
        self.last[variant] = seq
        self.seqs[variant].add(seq)
        return None

    def run(self):
        conn = None
        n = 0
        while not self.stop.is_set() and n < self.max_reads and time.monotonic() < self.deadline:
            variant = self.variants[n % len(self.variants)]
            n += 1
            hdrs = {"Accept-Encoding": "gzip" if variant == "gzip" else "identity"}
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", "/data.json", headers=hdrs)
                r = conn.getresponse()
                body = r.read()
                headers = {k.lower(): v for k, v in r.getheaders()}
                status = r.status
                if r.will_close:
                    conn.close()
                    conn = None
            except (http.client.HTTPException, OSError) as e:
                self.problems.append(f"{variant}: {type(e).__name__}: {e}")
                if conn is not None:
                    conn.close()
                conn = None
                continue
            self.reads[variant] += 1
            p = self.check(variant, status, headers, body)
            if p:
                self.problems.append(p)
        if conn is not None:
            conn.close()

    @property
    def total(self):
        return sum(self.reads.values())


def start_readers(port, n=2, max_reads=2500, seconds=25.0):
    stop = threading.Event()
    deadline = time.monotonic() + seconds
    readers = [Reader(port, stop, max_reads, deadline) for _ in range(n)]
    for r in readers:
        r.start()
    return stop, readers


def finish(stop, readers):
    stop.set()
    for r in readers:
        r.join(30)
    return [p for r in readers for p in r.problems]


def fetch(web, path, enc="identity"):
    return web.get(path, {"Accept-Encoding": enc})


def served_seq(web, enc, schema=False):
    """seq of the data.json nginx serves now (complete, valid JSON; optionally schema-checked)."""
    status, headers, body = fetch(web, "/data.json", enc)
    assert status == 200
    assert int(headers["content-length"]) == len(body)
    raw = gzip.decompress(body) if headers.get("content-encoding") == "gzip" else body
    assert (headers.get("content-encoding") == "gzip") == (enc == "gzip")
    doc = json.loads(raw)
    assert len(doc["clients"]) == doc["summary"]["clients"] >= CLIENTS
    return (validate(doc) if schema else doc)["seq"]


# --------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------


def test_nginx_t_is_clean_and_cli_prints_the_block(short_tmp):
    www = short_tmp / "www"
    www.mkdir()
    r = cli(
        "nginx-config",
        "--root",
        www,
        "--listen",
        "127.0.0.1:8080,[::1]:8080",
        "--server-name",
        "snap.example",
        timeout=30,
    )
    assert r.stdout == N.site_config(str(www), "127.0.0.1:8080,[::1]:8080", "snap.example")
    assert "listen 127.0.0.1:8080;" in r.stdout and "listen [::1]:8080;" in r.stdout
    assert "server_name snap.example;" in r.stdout
    for hostile in (False, True):
        d = short_tmp / f"ngx-{hostile}"
        d.mkdir()
        port = H.free_port()
        site = d / "site.conf"
        # the poll log in the test's directory: `nginx -t` creates it, never the production one
        site.write_text(N.site_config(str(www), f"127.0.0.1:{port}", "_", str(d / "poll.log")))
        conf = d / "nginx.conf"
        conf.write_text(H.wrapper_conf(str(d), str(site), http_extra=HOSTILE_HTTP if hostile else ""))
        r = H.check_config(str(conf), str(d) + "/")
        assert r.returncode == 0, r.stderr
        assert "syntax is ok" in r.stderr and "test is successful" in r.stderr
        assert "[warn]" not in r.stderr and "[emerg]" not in r.stderr, r.stderr
    # defaults: port 80, server_name _
    dflt = N.site_config("/var/www/chrony-snap")
    assert "    listen 80;\n" in dflt and "server_name _;" in dflt and 'root "/var/www/chrony-snap";' in dflt


@pytest.mark.parametrize(
    "args, word",
    [
        (["--root", "relative/www"], "absolute"),
        (["--root", '/var/www/x";evil'], "--root"),
        (["--root", "/var/www/x", "--listen", "80; include /etc/passwd"], "--listen"),
        (["--root", "/var/www/x", "--server-name", "a}b"], "--server-name"),
        ([], "--root is required"),
    ],
)
def test_cli_rejects_values_that_would_break_the_config(args, word):
    r = cli("nginx-config", *args, check=False, timeout=30)
    assert r.returncode == 2 and word in r.stderr and r.stdout == ""
    assert "Traceback" not in r.stderr


def test_csp_matches_the_page(tmp_path):
    from chrony_snap import config, site

    site.render(str(tmp_path), config.defaults()["page"], "key", "host")
    page = (tmp_path / "index.html").read_text()
    m = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert m, "the page has a CSP meta tag"

    def directives(text):
        return {d.split()[0]: tuple(d.split()[1:]) for d in (x.strip() for x in text.split(";")) if d}

    meta, header = directives(html.unescape(m.group(1))), directives(N.CSP)
    assert header["default-src"] == ("'self'",)
    for k, v in meta.items():
        assert header.get(k) == v, (k, v, header.get(k))
    assert header["frame-ancestors"] == ("'none'",)  # only works as a header
    # and nothing else: the header is the page's policy plus frame-ancestors
    assert header == {**meta, "frame-ancestors": ("'none'",)}
    # every location of the site block sends exactly chrony_snap.nginx.CSP (the
    # browser tests run behind this block too: tests/conftest.py)
    site = N.site_config("/srv/www")
    sent = re.findall(r'add_header Content-Security-Policy "([^"]*)" always;', site)
    # server, data.json, live.json, client lists, metrics, history/ and its chunks, assets, / and index.html
    assert len(sent) == site.count("Content-Security-Policy") == 10 and set(sent) == {N.CSP}


def test_headers_no_304_gzip_static_and_dot_files(busy, short_tmp):
    out, state = short_tmp / "www", short_tmp / "st"
    cfg = write_config(short_tmp / "c.toml", minisite=False)
    build(out, busy, state, cfg)
    (out / ".data.json.tmp-4242").write_text('{"torn":')  # what a killed writer leaves
    with prod_nginx(out) as web:
        s, h, body = fetch(web, "/data.json")
        assert s == 200 and h["content-type"] == "application/json; charset=utf-8"
        assert h["cache-control"] == "no-cache"
        assert "etag" not in h
        assert h["x-content-type-options"] == "nosniff" and h["referrer-policy"] == "no-referrer"
        assert h["x-frame-options"] == "DENY" and h["content-security-policy"] == N.CSP
        # never 304: a new snapshot in the same second with the same size must not look "unchanged"
        etag = f'"{int((out / "data.json").stat().st_mtime):x}-{len(body):x}"'  # the ETag nginx would compute
        for cond in (
            {"If-Modified-Since": h["last-modified"]},
            {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"},
            {"If-None-Match": etag},
        ):
            s2, _, b2 = web.get("/data.json", cond)
            assert s2 == 200 and b2 == body, cond
        s, hg, gz = fetch(web, "/data.json", "gzip")
        assert s == 200 and hg["content-encoding"] == "gzip" and hg["vary"] == "Accept-Encoding"
        assert gz == (out / "data.json.gz").read_bytes()  # the static file, not on-the-fly gzip
        assert hg["cache-control"] == "no-cache"

        s, h, html = fetch(web, "/")
        assert s == 200 and h["cache-control"] == "no-cache" and h["content-security-policy"] == N.CSP
        assert h["content-type"].startswith("text/html")
        assets = re.findall(r'(?:href|src)="(assets/[^"]+)"', html.decode())
        assert assets
        for a in assets:
            s, h, _ = fetch(web, "/" + a)
            assert s == 200 and h["cache-control"] == "public, max-age=31536000, immutable", a
            assert h["x-content-type-options"] == "nosniff"
        for dot in [p for p in os.listdir(out) if p.startswith(".")] + [".git/config", "assets/.x"]:
            s, h, b = fetch(web, "/" + dot)
            assert s == 404, dot
            assert b"torn" not in b and h["content-security-policy"] == N.CSP
        assert fetch(web, "/")[0] == 200
        assert fetch(web, "/assets/")[0] in (403, 404)  # no directory listing
        c = http.client.HTTPConnection("127.0.0.1", web.port, timeout=5)
        c.request("POST", "/data.json", body=b"x")
        assert c.getresponse().status == 405
        c.close()


# --------------------------------------------------------------------------
# the race
# --------------------------------------------------------------------------


def test_no_torn_or_backwards_reads_while_the_writer_races(busy, short_tmp):
    out, state = short_tmp / "www", short_tmp / "st"
    cfg = write_config(short_tmp / "c.toml", minisite=False)
    build(out, busy, state, cfg)
    writes = {"n": 0, "fail": []}
    stop_writer = threading.Event()

    def writer():
        while not stop_writer.is_set():
            r = build(out, busy, state, cfg, check=False)
            if r.returncode != 0:
                writes["fail"].append(r.stderr)
            writes["n"] += 1

    with prod_nginx(out) as web:
        w = threading.Thread(target=writer, daemon=True)
        w.start()
        stop, readers = start_readers(web.port, n=2, max_reads=2500, seconds=25)
        for r in readers:
            r.join(40)
        stop_writer.set()
        w.join(60)
        problems = finish(stop, readers)
        final = served_seq(web, "identity")

    total = sum(r.total for r in readers)
    seen = set().union(*(r.seqs["plain"] | r.seqs["gzip"] for r in readers))
    print(
        f"\nrace: {total} reads ({[r.reads for r in readers]}), {writes['n']} snapshots written, "
        f"{len(seen)} distinct seqs seen, problems: {len(problems)}"
    )
    assert not problems, problems[:10]
    assert not writes["fail"], writes["fail"][:3]
    assert total >= 2000
    assert all(r.reads["plain"] >= 500 and r.reads["gzip"] >= 500 for r in readers)
    # it really was a race: many snapshots replaced each other under the readers
    assert writes["n"] >= 20 and len(seen) >= 20
    assert final >= max(seen)


def test_the_checker_catches_a_naive_in_place_writer(short_tmp):
    """Control: rewriting data.json in place (no temp file + rename) IS seen."""
    out = short_tmp / "www"
    out.mkdir()
    docs = []
    for seq in (1, 2):
        doc = {
            "seq": seq,
            "summary": {"clients": CLIENTS},
            "clients": [{"address": f"127.1.{i >> 8}.{i & 255}", "n": seq} for i in range(CLIENTS)],
        }
        docs.append(json.dumps(doc).encode())
    (out / "data.json").write_bytes(docs[0])
    stop_writer = threading.Event()

    def naive():
        k = 0
        while not stop_writer.is_set():
            data = docs[k % 2]
            k += 1
            with open(out / "data.json", "r+b") as f:
                f.truncate(0)
                for i in range(0, len(data), 8192):
                    f.write(data[i : i + 8192])
                    f.flush()

    with prod_nginx(out) as web:
        w = threading.Thread(target=naive, daemon=True)
        w.start()
        stop, readers = start_readers(web.port, n=1, max_reads=400, seconds=8)
        readers[0].variants = ("plain",)
        readers[0].reads = {"plain": 0}
        readers[0].last = {"plain": -1}
        readers[0].seqs = {"plain": set()}
        for r in readers:
            r.join(20)
        stop_writer.set()
        w.join(10)
        problems = finish(stop, readers)
    assert problems, "the checker must notice torn responses"


def test_sigkilled_writer_never_exposes_a_partial_snapshot(busy, short_tmp):
    out, state = short_tmp / "www", short_tmp / "st"
    cfg = write_config(short_tmp / "c.toml", minisite=False)
    build(out, busy, state, cfg)  # renders the page: slower than a plain tick
    took = []
    for _ in range(3):
        t0 = time.monotonic()
        build(out, busy, state, cfg)
        took.append(time.monotonic() - t0)
    dur = sorted(took)[1]
    rnd = random.Random(4)
    killed = 0
    with prod_nginx(out) as web:
        stop, readers = start_readers(web.port, n=1, max_reads=10**6, seconds=60)
        for _ in range(40):
            p = subprocess.Popen(
                build_argv(out, busy, state, cfg), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            time.sleep(rnd.uniform(0.3, 1.1) * dur)
            p.send_signal(signal.SIGKILL)
            p.wait(10)
            killed += p.returncode == -signal.SIGKILL
            # after every kill: a complete, valid snapshot is served
            served_seq(web, "identity")
            served_seq(web, "gzip")
        # targeted: kill while the writer is in the middle of writing the new
        # snapshot (its dot-prefixed temp file has grown past 100 kB)
        targeted, leftovers = 0, []

        def writing(pid):
            try:
                return any(
                    e.name.startswith(".data.json") and f".tmp-{pid}-" in e.name and e.stat().st_size > 100_000
                    for e in os.scandir(out)
                )
            except OSError:
                return False

        for _ in range(15):
            p = subprocess.Popen(
                build_argv(out, busy, state, cfg), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            deadline = time.monotonic() + 10
            while not writing(p.pid) and p.poll() is None and time.monotonic() < deadline:
                pass
            p.send_signal(signal.SIGKILL)
            p.wait(10)
            targeted += p.returncode == -signal.SIGKILL
            served_seq(web, "identity")
            served_seq(web, "gzip")
            # counted after each kill: the next run removes a dead run's temp files
            left = [f for f in os.listdir(out) if f.startswith(".data.json")]
            for f in left:  # a killed writer's temp files are never served
                assert fetch(web, "/" + f)[0] == 404
            leftovers += left
        before = max(served_seq(web, "identity", schema=True), served_seq(web, "gzip", schema=True))
        r = build(out, busy, state, cfg)
        assert "Traceback" not in r.stderr
        after = served_seq(web, "identity", schema=True)
        assert after > before and served_seq(web, "gzip") == after
        problems = finish(stop, readers)
    print(
        f"\nsigkill: {killed}/40 random + {targeted}/15 targeted runs killed mid-run "
        f"(tick ~{dur * 1000:.0f} ms), {len(leftovers)} temp files left behind, {readers[0].total} reads"
    )
    assert killed >= 20  # most runs died mid-run (the others finished first: also fine)
    assert targeted >= 10 and leftovers  # some kills really landed mid-publish
    assert not problems, problems[:10]
    assert readers[0].total >= 100


@pytest.fixture
def small_tmpfs(short_tmp):
    mnt = short_tmp / "www"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def _remount(out, mode):
    subprocess.run(["mount", "-o", f"remount,{mode}", str(out)], check=True)


FAULTS = {
    # name: (break the web root, mend it, what the CLI must say)
    "read-only": (lambda out: _remount(out, "ro"), lambda out: _remount(out, "rw"), "Read-only file system"),
    "disk full": (fill_disk, lambda out: os.unlink(out / "filler"), "No space left on device"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_broken_web_root_keeps_serving_the_last_snapshot(busy, short_tmp, small_tmpfs, fault):
    breaks, mends, message = FAULTS[fault]
    out, state = small_tmpfs, short_tmp / "st"
    cfg = write_config(short_tmp / "c.toml", minisite=False)
    build(out, busy, state, cfg)
    with prod_nginx(out) as web:
        good = (served_seq(web, "identity", schema=True), served_seq(web, "gzip"))
        body = (out / "data.json").read_bytes()
        breaks(out)
        try:
            r = build(out, busy, state, cfg, check=False)
            assert r.returncode == 1
            assert message in r.stderr and "previous snapshot stays" in r.stderr
            assert "Traceback" not in r.stderr
            assert (served_seq(web, "identity"), served_seq(web, "gzip")) == good
            assert fetch(web, "/data.json")[2] == body
            assert not [f for f in os.listdir(out) if f.startswith(".data.json")]
        finally:
            mends(out)
        build(out, busy, state, cfg)
        assert served_seq(web, "identity") > good[0] and served_seq(web, "gzip") > good[1]
        read_snapshot(out)
