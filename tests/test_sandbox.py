"""chrony_snap.harness.sandbox against a REAL chronyd on loopback (needs chrony installed, root)."""

import os
import socket
import time
from pathlib import Path

import pytest

from chrony_snap.harness import sandbox as sbx
from chrony_snap.harness.sandbox import Sandbox, cmd_clients, ipv4_range, ntp_clients, populate

NOBODY_UID = 65534


def parse_clients(csv_text):
    """`chronyc -c -n clients` -> {address: dict of ints}."""
    cols = ["ntp", "drop", "int", "intl", "last", "cmd", "cmd_drop", "cmd_int", "cmd_last"]
    out = {}
    for line in csv_text.splitlines():
        if not line.strip():
            continue
        f = line.split(",")
        assert len(f) == 10, line
        out[f[0]] = dict(zip(cols, map(int, f[1:]), strict=True))
    return out


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def udp_local_addrs(port):
    """Local addresses of all UDP sockets bound to `port` (from /proc/net/udp{,6})."""
    out = []
    for name, fam in (("/proc/net/udp", 4), ("/proc/net/udp6", 6)):
        try:
            lines = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local = line.split()[1]
            h, p = local.split(":")
            if int(p, 16) != port:
                continue
            raw = bytes.fromhex(h)
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            out.append(socket.inet_ntop(socket.AF_INET if fam == 4 else socket.AF_INET6, raw))
    return out


# ---------------------------------------------------------------- addresses


def test_ipv4_range():
    assert ipv4_range("127.1.0.1", 3) == ["127.1.0.1", "127.1.0.2", "127.1.0.3"]
    assert ipv4_range("127.1.0.255", 2) == ["127.1.0.255", "127.1.1.0"]
    assert ipv4_range("127.0.0.1", 0) == []
    assert len(ipv4_range("127.20.0.1", 100000)) == 100000
    for bad in ("10.0.0.1", "128.0.0.1", "8.8.8.8", "::1", "nonsense"):
        with pytest.raises(ValueError):
            ipv4_range(bad, 1)
    with pytest.raises(ValueError):  # would leave 127.0.0.0/8
        ipv4_range("127.255.255.254", 3)


@pytest.mark.parametrize(
    "bad", ["10.0.0.1", "192.168.1.1", "8.8.8.8", "::2", "2001:db8::1", "::ffff:127.0.0.1", "0.0.0.0", "localhost"]
)
def test_traffic_refuses_non_loopback(bad):
    # validated before anything is sent (port 9 is discard, nothing listens anyway)
    with pytest.raises(ValueError):
        ntp_clients(9, ["127.1.0.1", bad])
    with pytest.raises(ValueError):
        cmd_clients(9, [bad])


# ---------------------------------------------------------------- the daemon


def test_config_and_loopback_only(sandbox):
    conf = sandbox.conf_path.read_text()
    for line in (
        "local stratum 10",
        f"port {sandbox.ntp_port}",
        "bindaddress 127.0.0.1",
        "bindaddress ::1",
        "allow 127.0.0.0/8",
        f"cmdport {sandbox.cmd_port}",
        f"bindcmdaddress {sandbox.socket}",
        "ratelimit interval 1 burst 4",
        "cmdratelimit interval 1 burst 4",
        "clientloglimit 16777216",
    ):
        assert line in conf.splitlines()
    assert sandbox.socket.is_socket()
    assert oct(sandbox.root.stat().st_mode & 0o777) == "0o700"
    assert Path(f"/proc/{sandbox.pid}/cmdline").read_bytes().split(b"\0")[:6] == [
        b"/usr/sbin/chronyd",
        b"-x",
        b"-d",
        b"-u",
        b"root",
        b"-f",
    ]
    for port in (sandbox.ntp_port, sandbox.cmd_port):
        addrs = udp_local_addrs(port)
        assert sorted(addrs) == ["127.0.0.1", "::1"], (port, addrs)
    r = sandbox.chronyc("tracking")
    assert r.returncode == 0 and r.stdout.startswith("7F7F0101,")
    for reset in (("clients", "-r"), ("-m", "tracking", "clients -r"), ("-m", "clients -p 2 -r")):
        with pytest.raises(ValueError):
            sandbox.chronyc(*reset)


def test_populate_lists_exactly_those_clients(sandbox):
    sent = populate(sandbox, clients=50, base="127.10.0.1", limited=1, ipv6=True, cmd=2)
    plain = ipv4_range("127.10.0.1", 50)
    burst, cmd_burst, cmd_small = ipv4_range("127.10.0.51", 3)
    assert set(sent) == set(plain) | {burst, cmd_burst, cmd_small, "::1"}
    assert sent[burst] == {"ntp_sent": 20, "burst": True, "cmd_sent": 0}
    assert sent[cmd_burst] == {"ntp_sent": 0, "burst": False, "cmd_sent": 40}
    assert sent[cmd_small] == {"ntp_sent": 0, "burst": False, "cmd_sent": 3}
    assert sent["::1"] == {"ntp_sent": 3, "burst": False, "cmd_sent": 0}

    r = sandbox.chronyc("clients")
    assert r.returncode == 0, r
    rows = parse_clients(r.stdout)
    assert set(rows) == set(sent)  # exactly those; no 127.0.0.1 (Unix socket is not logged)
    for a in plain:
        row = rows[a]
        assert sent[a]["ntp_sent"] in (1, 2) and not sent[a]["burst"]
        assert 1 <= row["ntp"] <= sent[a]["ntp_sent"]
        assert row["drop"] == 0 and row["cmd"] == 0 and row["cmd_drop"] == 0
        assert 0 <= row["last"] < 30 and row["cmd_last"] == 4294967295
    b = rows[burst]
    assert 5 <= b["ntp"] <= 20 and b["drop"] > 0 and b["int"] < 0 and b["cmd"] == 0
    v6 = rows["::1"]
    assert v6["ntp"] == 3 and v6["drop"] == 0
    cb = rows[cmd_burst]
    assert cb["ntp"] == 0 and cb["last"] == 4294967295
    assert 5 <= cb["cmd"] <= 40 and cb["cmd_drop"] > 0 and 0 <= cb["cmd_last"] < 30
    cs = rows[cmd_small]
    assert cs["cmd"] == 3 and cs["cmd_drop"] == 0

    stats = sandbox.chronyc("serverstats", csv=False).stdout
    assert "Client log records dropped : 0" in stats


def test_ntp_and_cmd_clients_counts(sandbox):
    addrs = ipv4_range("127.30.0.1", 2000)
    assert ntp_clients(sandbox.ntp_port, addrs) == (2000, 2000)
    assert ntp_clients(sandbox.ntp_port, ["::1"], per_addr=2) == (2, 2)
    assert cmd_clients(sandbox.cmd_port, ["127.31.0.1", "::1"], per_addr=2) == (4, 4)
    rows = parse_clients(sandbox.chronyc("clients").stdout)
    assert len(rows) == 2000 + 2
    assert rows["127.31.0.1"]["cmd"] == 2 and rows["::1"]["cmd"] == 2 and rows["::1"]["ntp"] == 2
    assert sandbox.chronyc("clients", "-p", "2").stdout.count("\n") == 2
    # nothing listening there: sent, no replies, no error
    assert ntp_clients(9, ["127.32.0.1"], retries=0, wait=0.05) == (1, 0)


def test_two_sandboxes_at_once(sandbox, short_tmp):
    with Sandbox(short_tmp / "two", ratelimit=False, ipv6=False) as other:
        assert sandbox.running and other.running and other.pid != sandbox.pid
        assert {other.ntp_port, other.cmd_port}.isdisjoint({sandbox.ntp_port, sandbox.cmd_port})
        ntp_clients(sandbox.ntp_port, ["127.50.0.1"])
        ntp_clients(other.ntp_port, ["127.60.0.1", "127.60.0.2"])
        _sent, replies = ntp_clients(other.ntp_port, ["127.60.0.3"], per_addr=20, wait=0.3)
        assert replies == 20  # ratelimit=False: nothing dropped
        assert set(parse_clients(sandbox.chronyc("clients").stdout)) == {"127.50.0.1"}
        rows = parse_clients(other.chronyc("clients").stdout)
        assert set(rows) == {"127.60.0.1", "127.60.0.2", "127.60.0.3"}
        assert rows["127.60.0.3"]["drop"] == 0
        assert "ratelimit interval" not in other.conf_path.read_text().replace("cmdratelimit", "")
        assert udp_local_addrs(other.ntp_port) == ["127.0.0.1"]  # ipv6=False -> no ::1
    assert other.pid is None and sandbox.running


def test_stop_ends_process(short_tmp):
    sb = Sandbox(short_tmp / "stop").start()
    pid = sb.pid
    assert pid_alive(pid)
    sb.stop()
    assert sb.pid is None and not pid_alive(pid) and sb.returncode == 0
    sb.stop()  # idempotent
    assert sb.root.is_dir() and sb.conf_path.exists() and sb.log_path.exists()
    assert not sb.socket.exists()  # chronyd removed it on exit
    r = sb.chronyc("tracking")
    assert r.returncode != 0 and "Could not open connection to daemon" in r.stderr
    # restart in the same root
    with sb:
        assert sb.chronyc("tracking").returncode == 0
    assert sb.pid is None


def test_pause_makes_chronyc_time_out(sandbox):
    sandbox.pause()
    try:
        t = time.monotonic()
        r = sandbox.chronyc("-m", "timeout 200", "retries 0", "tracking")
        assert time.monotonic() - t < 3
        assert r.returncode != 0 and "506 Cannot talk to daemon" in r.stdout
    finally:
        sandbox.resume()
    assert sandbox.chronyc("tracking").returncode == 0
    sandbox.pause()
    pid = sandbox.pid
    sandbox.stop()  # stopping a paused daemon works too (SIGTERM + SIGCONT)
    assert not pid_alive(pid) and sandbox.returncode == 0


def test_start_failure_raises_with_log(short_tmp):
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", 0))
    try:
        port = blocker.getsockname()[1]
        sb = Sandbox(short_tmp / "fail", ntp_port=port)
        with pytest.raises(RuntimeError, match=f"Could not open NTP socket on 127.0.0.1:{port}"):
            sb.start()
        assert sb.pid is None
    finally:
        blocker.close()
    with pytest.raises(ValueError, match="too long"):
        Sandbox("/tmp/" + "x" * 100)


def test_noclientlog(short_tmp):
    with Sandbox(short_tmp / "ncl", noclientlog=True, extra_conf="# extra line\n") as sb:
        assert "noclientlog" in sb.conf_path.read_text()
        assert "ratelimit" not in sb.conf_path.read_text()  # fatal together with noclientlog
        assert "# extra line" in sb.conf_path.read_text()
        r = sb.chronyc("clients")
        assert r.returncode == 1 and "519 Client logging is not active" in r.stdout


def test_runs_as_nobody(short_tmp):
    closed = short_tmp / "closed"
    closed.mkdir(mode=0o700)
    with pytest.raises(ValueError, match="cannot enter"):
        Sandbox(closed / "nb", user="nobody").start()
    with Sandbox(short_tmp / "nb", user="nobody") as sb:  # short_tmp is 0711: nobody may enter it
        status = Path(f"/proc/{sb.pid}/status").read_text()
        uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
        assert uids == [str(NOBODY_UID)] * 4
        assert sb.root.stat().st_uid == NOBODY_UID
        assert oct(sb.root.stat().st_mode & 0o777) == "0o700"
        assert sb.socket.stat().st_uid == NOBODY_UID
        assert os.geteuid() == 0  # we (root) talk to it over its socket
        assert ntp_clients(sb.ntp_port, ["127.70.0.1"]) == (1, 1)
        assert set(parse_clients(sb.chronyc("clients").stdout)) == {"127.70.0.1"}
        pid = sb.pid
    assert not pid_alive(pid)


def test_atexit_registry_is_clean(short_tmp):
    """A stopped sandbox leaves the at-exit registry (sandboxes of other test
    modules, e.g. a session-wide one, may still be running)."""
    before = set(sbx._RUNNING)
    with Sandbox(short_tmp / "x") as sb:
        assert sb in sbx._RUNNING
    assert set(sbx._RUNNING) == before
