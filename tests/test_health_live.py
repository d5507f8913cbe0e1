"""The health verdict against real chronyd: a private upstream server is
stopped, the verdict leaves ok, and it recovers when the upstream comes back.
Fails on main: data.json there has no `health`."""

import time

from chrony_snap.harness.sandbox import Sandbox
from helpers import read_snapshot, run_build, write_config

WAIT_S = 20  # generous: chrony polls every 0.25 s here, the changes take a few polls


def verdict_until(tmp_path, socket, cfg, want):
    """Build until want(health) holds; return that health (or fail with the last one)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        run_build(tmp_path / "www", socket=socket, state=tmp_path / "st", config=cfg)
        h = read_snapshot(tmp_path / "www")["health"]
        if want(h):
            return h
        assert time.monotonic() < deadline, f"verdict never changed as expected; last: {h}"
        time.sleep(0.2)


def codes(h):
    return {r["code"] for r in h["reasons"]}


def test_upstream_stopped_then_back(short_tmp, tmp_path):
    cfg = write_config(tmp_path / "c.toml")
    # no rate limit on the upstream: a source polled 4 times a second would be refused
    with Sandbox(short_tmp / "up", ratelimit=False) as up:
        server = f"server 127.0.0.1 port {up.ntp_port} iburst minpoll -2 maxpoll -2"
        with Sandbox(short_tmp / "dn", extra_conf=server) as dn:
            h = verdict_until(tmp_path, dn.socket, cfg, lambda h: h["status"] == "ok")
            assert h["reasons"] == []  # synchronised to the upstream, not to its local clock
            up.stop()
            h = verdict_until(tmp_path, dn.socket, cfg, lambda h: "sources_unreachable" in codes(h))
            assert h["status"] in ("degraded", "critical")
            assert codes(h) <= {"sources_unreachable", "no_selectable_source", "local_clock"}
            up.start()
            h = verdict_until(tmp_path, dn.socket, cfg, lambda h: h["status"] == "ok")
            assert h["reasons"] == []
