"""`chrony-snap demo` (and ./demo.sh): the dashboard comes up on
127.0.0.1 through nginx, the data moves, and Ctrl-C / SIGTERM leaves nothing
running that the demo started."""

import gzip
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from chrony_snap.harness.nginx import free_port
from helpers import cli_argv, validate

ROOT = Path(__file__).resolve().parent.parent


def descendants(pid):
    """All live descendants of pid (via /proc/PID/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/children") as f:
                    kids = [int(x) for x in f.read().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1].split()[0] != "Z"
    except OSError:
        return False


class Demo:
    def __init__(self, argv, env=None):
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        self.out, self.err = [], []
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=lambda s=stream, k=sink: [k.append(x) for x in s], daemon=True).start()

    def text(self):
        return "".join(self.out) + "".join(self.err)

    def wait_url(self, timeout=40):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(r"dashboard: (http://127\.0\.0\.1:\d+/)", "".join(self.out))
            if m:
                return m.group(1)
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.proc.kill()
        raise AssertionError(f"no dashboard URL:\n{self.text()}")


def get(port, path, enc="identity"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path, headers={"Accept-Encoding": enc})
        r = c.getresponse()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        c.close()


def snapshot(port):
    s, h, body = get(port, "/data.json", "gzip")
    assert s == 200 and h.get("content-encoding") == "gzip" and h["cache-control"] == "no-cache"
    return validate(json.loads(gzip.decompress(body)))


def port_open(port):
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def run_and_stop(argv, port, sig, env=None, clients=60):
    demo = Demo(argv, env=env)
    try:
        url = demo.wait_url()
        assert url == f"http://127.0.0.1:{port}/"
        s, h, html = get(port, "/")
        assert s == 200 and b"<html" in html and "default-src 'self'" in h["content-security-policy"]
        doc = snapshot(port)
        assert doc["errors"] == [] and doc["chrony"]["reachable"] is True
        fams = {c["family"] for c in doc["clients"]}
        assert len(doc["clients"]) >= clients and fams == {"ipv4", "ipv6"}
        assert doc["summary"]["critical"] + doc["summary"]["warning"] >= 1  # rate-limited ones
        s, h, metrics = get(port, "/metrics")  # the Prometheus file, from the same ticks
        assert s == 200 and h["content-type"].startswith("text/plain; version=0.0.4") and b"\nchrony_up 1\n" in metrics
        # alive: new snapshots, and traffic keeps flowing
        time.sleep(3.5)
        doc2 = snapshot(port)
        assert doc2["seq"] >= doc["seq"] + 2
        assert doc2["summary"]["ntp_packets"] > doc["summary"]["ntp_packets"]
        kids = descendants(demo.proc.pid)
        names = {Path(f"/proc/{k}/comm").read_text().strip() for k in kids if alive(k)}
        assert {"chronyd", "nginx"} <= names, names
        workdir = re.search(r"socket (/\S+)/chrony/chronyd\.sock", "".join(demo.out)).group(1)
    except BaseException:
        demo.proc.kill()
        raise
    demo.proc.send_signal(sig)
    try:
        rc = demo.proc.wait(20)
    except subprocess.TimeoutExpired:
        demo.proc.kill()
        raise AssertionError(f"demo did not stop on {sig!r}:\n{demo.text()}") from None
    time.sleep(0.2)
    assert rc == 0, demo.text()
    assert "stopped" in "".join(demo.out) and "Traceback" not in demo.text()
    left = [k for k in kids if alive(k)]
    assert not left, f"still running after the demo stopped: {left}"
    assert not port_open(port)
    return workdir, demo


def test_demo_serves_the_dashboard_and_ctrl_c_stops_everything():
    port = free_port()
    workdir, demo = run_and_stop(cli_argv("demo", "--port", port, "--clients", "60"), port, signal.SIGINT)
    assert workdir.startswith("/tmp/cs-demo-")
    assert not os.path.exists(workdir)  # its own temp dir is removed


def test_demo_sh_with_an_existing_venv_and_sigterm(short_tmp):
    port = free_port()
    env = dict(os.environ, CHRONY_SNAP_VENV=str(Path(sys.executable).parent.parent))
    keep = short_tmp / "demo"
    workdir, demo = run_and_stop(
        ["bash", str(ROOT / "demo.sh"), "--port", str(port), "--clients", "40", "--dir", str(keep)],
        port,
        signal.SIGTERM,
        env=env,
        clients=40,
    )
    assert workdir == str(keep)
    assert (keep / "www" / "data.json").exists()  # --dir is kept
    assert "installing" not in demo.text()  # nothing to install here


def test_demo_reports_a_busy_port():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    p = subprocess.Popen(
        cli_argv("demo", "--port", port, "--clients", "5"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGINT)  # let it clean up what it started
        out, err = p.communicate(timeout=30)
        raise AssertionError(f"the demo ran on a busy port:\n{out}{err}") from None
    finally:
        s.close()
    r = subprocess.CompletedProcess(p.args, p.returncode, out, err)
    assert r.returncode == 1
    assert f"port {port}" in r.stderr and "busy" in r.stderr and "--port" in r.stderr
    assert "stopped" in r.stdout and "Traceback" not in r.stderr
    wd = re.search(r"socket (/\S+)/chrony/chronyd\.sock", r.stdout).group(1)
    assert not os.path.exists(wd)
    pid = int(re.search(r"chronyd \(pid (\d+)\)", r.stdout).group(1))
    assert not alive(pid)


@pytest.mark.skipif(sys.platform != "linux", reason="Linux only")
def test_demo_sh_syntax():
    assert subprocess.run(["bash", "-n", str(ROOT / "demo.sh")]).returncode == 0


def test_demo_shows_upstreams_flapping_networks_names_and_new_clients():
    """Issue 10's demo: three upstream chronyd servers as sources, one stopped
    and started again (--flap-s), so the verdict turns degraded and recovers;
    clients from several /24s (and ::1: the only IPv6 address on lo), names
    from a names file, first_seen, the client log's capacity from the demo
    chronyd's chrony.conf.  Fails on main: one source, no --flap-s."""
    port = free_port()
    demo = Demo(cli_argv("demo", "--port", port, "--clients", "60", "--flap-s", "8"))
    try:
        demo.wait_url()
        seen = set()
        deadline = time.monotonic() + 90
        doc = snapshot(port)
        while time.monotonic() < deadline and not {"degraded", "ok-after"} <= seen:
            doc = snapshot(port)
            codes = {r["code"] for r in doc["health"]["reasons"]}
            if "stopping upstream" not in demo.text():
                pass  # (a source not polled yet at the start has reach 0 too: not what is checked here)
            elif "sources_unreachable" in codes:
                assert doc["health"]["status"] != "ok"
                seen.add("degraded")
            elif "degraded" in seen:  # recovered (the demo's rate-limited bursts may degrade it otherwise)
                seen.add("ok-after")
            time.sleep(0.3)
        assert {"degraded", "ok-after"} <= seen, (seen, doc["health"], demo.text())
        assert len(doc["sources"]) == 3
        nets = {c["address"].rsplit(".", 1)[0] for c in doc["clients"] if c["family"] == "ipv4"}
        assert len(nets) >= 4, nets
        assert "::1" in {c["address"] for c in doc["clients"]}
        named = [c for c in doc["clients"] if c["hostname"]]
        assert named and all(c["hostname"].endswith(".demo.example") for c in named)
        assert all("first_seen" in c for c in doc["clients"])
        assert doc["client_log"]["source"] == "chrony.conf" and doc["client_log"]["capacity"] == 131072
        assert "stopping upstream" in demo.text()
        kids = descendants(demo.proc.pid)
        assert sum(1 for k in kids if alive(k) and Path(f"/proc/{k}/comm").read_text().strip() == "chronyd") >= 3
    except BaseException:
        demo.proc.kill()
        raise
    demo.proc.send_signal(signal.SIGINT)
    assert demo.proc.wait(30) == 0, demo.text()
    time.sleep(0.2)
    assert not [k for k in kids if alive(k)]
