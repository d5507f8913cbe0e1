"""Reverse DNS stays off the hot path: cached, bounded, and a dead resolver
never slows the ticks that follow.  chrony-snap runs in a private mount
namespace whose /etc/resolv.conf says `nameserver 127.0.0.1`, where
tests/fakedns.py answers; no query leaves the machine."""

import subprocess
import sys
import time

from chrony_snap.harness.sandbox import ipv4_range, ntp_clients
from fakedns import FakeDNS
from helpers import read_snapshot, write_config

ADDRS = ipv4_range("127.10.0.1", 4)


def build_in_netless_ns(short_tmp, sb, state, cfg):
    resolv = short_tmp / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:3 attempts:2\n")
    cmd = (
        f"mount --bind {resolv} /etc/resolv.conf && exec {sys.executable} -m chrony_snap build "
        f"--out {short_tmp / 'www'} --socket {sb.socket} --state {state} --config {cfg}"
    )
    t0 = time.monotonic()
    r = subprocess.run(["unshare", "-m", "sh", "-c", cmd], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return time.monotonic() - t0


CFG = "[dns]\nenabled = true\nskip_loopback = false\nbudget_ms = 300\nmax_lookups_per_tick = 8\n"


def test_reverse_names_cached(sandbox, short_tmp):
    ntp_clients(sandbox.ntp_port, ADDRS)
    names = {ADDRS[0]: "alpha.test.example", ADDRS[1]: "beta.test.example"}
    cfg = write_config(short_tmp / "c.toml", CFG)
    with FakeDNS(names) as dns:
        build_in_netless_ns(short_tmp, sandbox, short_tmp / "st", cfg)
        first = {c["address"]: c["hostname"] for c in read_snapshot(short_tmp / "www")["clients"]}
        assert set(first.values()) == {None}  # the first tick starts no lookups: nothing known yet
        assert dns.queries == []
        build_in_netless_ns(short_tmp, sandbox, short_tmp / "st", cfg)  # lookups run during this tick
        assert len(dns.queries) >= 4
        build_in_netless_ns(short_tmp, sandbox, short_tmp / "st", cfg)  # ... and show from the next one
        doc = read_snapshot(short_tmp / "www")
        host = {c["address"]: c["hostname"] for c in doc["clients"]}
        assert host[ADDRS[0]] == "alpha.test.example" and host[ADDRS[1]] == "beta.test.example"
        assert host[ADDRS[2]] is None and host[ADDRS[3]] is None
        asked = len(dns.queries)
        assert asked >= 4
        build_in_netless_ns(short_tmp, sandbox, short_tmp / "st", cfg)
        assert len(dns.queries) == asked  # answers and NXDOMAINs are cached
        assert {c["address"]: c["hostname"] for c in read_snapshot(short_tmp / "www")["clients"]} == host


def test_dead_resolver_never_slows_a_tick(sandbox, short_tmp):
    ntp_clients(sandbox.ntp_port, ADDRS)
    cfg = write_config(short_tmp / "c.toml", CFG)
    with FakeDNS({}, blackhole=True) as dns:
        build_in_netless_ns(short_tmp, sandbox, short_tmp / "st", cfg)
        took = build_in_netless_ns(short_tmp, sandbox, short_tmp / "st", cfg)
        # the resolver would keep getaddrinfo busy 6 s; the tick gives up after its budget
        assert took < 3, took
        assert dns.queries, "lookups were attempted"
        assert all(c["hostname"] is None for c in read_snapshot(short_tmp / "www")["clients"])
        seen = len(dns.queries)
        build_in_netless_ns(short_tmp, sandbox, short_tmp / "st", cfg)
        time.sleep(0.5)
        assert len(dns.queries) == seen  # backing off: no new lookups for a while
