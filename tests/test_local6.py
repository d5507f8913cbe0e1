"""IPv6 clients from a /48 on loopback (harness.local6, used by the demo):
a real chronyd gets NTP requests from a unique-local /48 routed to lo, the
snapshot lists them, the page's networks table groups them as that /48, and
the route is gone afterwards, an exception included.  Without the route the
harness refuses to send from the prefix.

On main the harness refused every IPv6 source but ::1, so the demo's IPv6
clients were ::1 alone: these tests fail there (no harness.local6).  They
need root and `ip` (CI runs as root): skipped with the reason otherwise."""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import time

import pytest

from chrony_snap.harness.local6 import LocalIPv6Prefix, prefix_for
from chrony_snap.harness.nginx import free_port
from chrony_snap.harness.sandbox import LOCAL6, Sandbox, ntp_clients
from helpers import cli_argv, page_config, read_snapshot, run_build, wait_seq

IP = shutil.which("ip", path="/usr/sbin:/sbin:/usr/bin:/bin")
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or IP is None, reason="needs root and iproute2's `ip` to route a /48 to lo"
)


def local_routes():
    return subprocess.run([IP, "-6", "route", "show", "table", "local"], capture_output=True, text=True).stdout


def test_prefix_is_unique_local_and_per_process():
    assert prefix_for(0x1234) == ipaddress.IPv6Network("fd63:736e:1234::/48")
    with pytest.raises(ValueError):
        LocalIPv6Prefix("2001:db8::/48")  # not unique-local
    with pytest.raises(ValueError):
        LocalIPv6Prefix("fd00::/8")  # wider than a /48


def test_refused_without_the_route():
    addr = str(prefix_for(os.getpid()).network_address + 1)
    with pytest.raises(ValueError, match="refusing"):
        ntp_clients(123, [addr])


def test_route_removed_even_on_an_exception():
    with pytest.raises(RuntimeError), LocalIPv6Prefix() as v6:
        assert v6.active and f"local {v6.prefix} dev lo" in local_routes()
        raise RuntimeError("boom")
    assert str(v6.prefix) not in local_routes() and not LOCAL6


def test_existing_route_is_not_adopted():
    with LocalIPv6Prefix() as first:
        with LocalIPv6Prefix(first.prefix) as second:
            assert not second.active and "File exists" in second.reason
        assert f"local {first.prefix} dev lo" in local_routes()  # still the first one's
    assert str(first.prefix) not in local_routes()


def test_chronyd_lists_the_48_and_the_page_groups_it(short_tmp, new_page):
    pytest.importorskip("playwright")
    from playwright.sync_api import expect

    from chrony_snap.harness.nginx import NginxProcess

    with LocalIPv6Prefix() as v6:
        assert v6.active, v6.reason
        addrs = v6.addresses(12)
        assert len({ipaddress.IPv6Network(f"{a}/64", strict=False) for a in addrs}) == 4
        with Sandbox(short_tmp / "c", extra_conf=f"allow {v6.prefix}") as sb:
            sent, got = ntp_clients(sb.ntp_port, [*addrs, "::1"])
            assert (sent, got) == (13, 13)  # every request answered: the replies came back on lo
            out = short_tmp / "www"
            cfg = page_config(short_tmp / "c.toml")
            run_build(out, socket=sb.socket, state=short_tmp / "st", config=cfg)
            doc = read_snapshot(out)
    assert str(v6.prefix) not in local_routes()
    listed = {c["address"]: c["family"] for c in doc["clients"]}
    assert {a: "ipv6" for a in addrs}.items() <= listed.items()
    web = NginxProcess(str(out)).start()
    try:
        page = new_page(web.url).page
        wait_seq(page, doc["seq"])
        page.click("#pop-details > summary")
        cidr = str(v6.prefix)
        row = page.locator("#networks-body tr").filter(has=page.locator(f'button[data-cidr="{cidr}"]'))
        expect(row.locator("td").first).to_have_text("12")
        row.locator("button").click()
        expect(page.locator("#count")).to_have_text(f"Showing 12 of {len(doc['clients'])} clients")
    finally:
        web.stop()


def test_demo_has_clients_from_its_48_and_removes_the_route_on_ctrl_c():
    from test_demo import Demo, snapshot  # its process and data.json helpers

    port = free_port()
    demo = Demo(cli_argv("demo", "--port", port, "--clients", "30"))
    try:
        demo.wait_url()
        prefix = prefix_for(demo.proc.pid)
        assert f"IPv6 clients from {prefix}, routed to lo" in demo.text()
        assert f"local {prefix} dev lo" in local_routes()
        deadline = time.monotonic() + 30
        while True:
            doc = snapshot(port)
            v6 = [c["address"] for c in doc["clients"] if c["family"] == "ipv6"]
            inside = [a for a in v6 if ipaddress.ip_address(a) in prefix]
            if len(inside) == 24 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert len(inside) == 24 and "::1" in v6
    except BaseException:
        demo.proc.kill()  # SIGKILL: the demo cannot delete its route, so this test does
        subprocess.run([IP, "-6", "route", "del", "local", str(prefix_for(demo.proc.pid)), "dev", "lo"], check=False)
        raise
    demo.proc.send_signal(signal.SIGINT)
    assert demo.proc.wait(30) == 0, demo.text()
    assert str(prefix) not in local_routes()
