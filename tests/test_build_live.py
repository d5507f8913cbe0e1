"""`chrony-snap build` against a REAL chronyd on loopback (chrony_snap.harness.sandbox)."""

import fcntl
import json
import os
import subprocess
import sys
import time

from chrony_snap import fields as F
from chrony_snap.harness.sandbox import Sandbox, ipv4_range, ntp_clients, populate
from helpers import fill_disk, read_snapshot, run_build, write_config

NOBODY = 65534


def raw_clients(sb):
    out = sb.chronyc("clients").stdout
    return {line.split(",")[0]: dict(zip(F.CLIENTS, line.split(","), strict=True)) for line in out.splitlines()}


def test_every_client_and_field_matches_chronyd(sandbox, short_tmp):
    sent = populate(sandbox, clients=200, limited=6, cmd=3)
    out, state = short_tmp / "www", short_tmp / "state"
    cfg = write_config(short_tmp / "c.toml")
    run_build(out, socket=sandbox.socket, state=state, config=cfg)
    doc = read_snapshot(out)
    raw = raw_clients(sandbox)

    assert doc["schema_version"] == 1 and doc["seq"] == 1
    assert doc["chrony"] == {"reachable": True, "version": "4.3", "socket": str(sandbox.socket)}
    assert doc["errors"] == []
    clients = {c["address"]: c for c in doc["clients"]}
    assert set(clients) == set(raw)
    assert set(sent) <= set(clients)
    for addr, c in clients.items():
        r = raw[addr]
        assert c["family"] == ("ipv6" if ":" in addr else "ipv4")
        assert c["ntp"]["packets"] == int(r["ntp_packets"])
        assert c["ntp"]["drops"] == int(r["ntp_drops"])
        assert c["cmd"]["packets"] == int(r["cmd_packets"])
        assert c["cmd"]["drops"] == int(r["cmd_drops"])
        for key, col in (("interval_s", "ntp_interval_log2"), ("interval_limited_s", "ntp_interval_limited_log2")):
            expect = None if r[col] == "127" else 2.0 ** int(r[col])
            assert c["ntp"][key] == expect
        expect = None if r["ntp_last_s"] == F.NEVER else int(r["ntp_last_s"])
        assert (c["ntp"]["last_seen_s"] is None) == (expect is None)
        if expect is not None:
            assert abs(c["ntp"]["last_seen_s"] - expect) <= 2
        assert c["hostname"] is None
        assert c["rate"] == {"ntp_pps": None, "drop_pps": None}  # first snapshot
        drops, packets = c["ntp"]["drops"], c["ntp"]["packets"]
        want = "critical" if drops >= 10 and 2 * drops >= packets else "warning" if drops else "ok"
        assert c["status"] == want

    bursts = [a for a, v in sent.items() if v.get("burst")]
    assert len(bursts) == 6
    for a in bursts:
        assert clients[a]["ntp"]["drops"] > 0 and clients[a]["status"] in ("warning", "critical")
        assert clients[a]["ntp"]["interval_s"] is not None and clients[a]["ntp"]["interval_s"] < 1
    cmd_addrs = [a for a, v in sent.items() if v.get("cmd_sent")]
    assert any(clients[a]["cmd"]["drops"] > 0 for a in cmd_addrs)
    assert clients["::1"]["family"] == "ipv6" and clients["::1"]["ntp"]["packets"] >= 3

    s = doc["summary"]
    assert s["clients"] == len(clients) == s["ipv4"] + s["ipv6"] == s["ok"] + s["warning"] + s["critical"]
    assert s["critical"] + s["warning"] == sum(1 for c in clients.values() if c["ntp"]["drops"])
    assert s["ntp_drops"] == sum(c["ntp"]["drops"] for c in clients.values())
    assert doc["tracking"]["stratum"] == 10 and doc["tracking"]["leap_status"] == "Normal"
    assert doc["serverstats"]["ntp_packets_received"] >= s["ntp_packets"]
    assert doc["serverstats"]["ntp_packets_dropped"] == s["ntp_drops"]
    assert doc["activity"] == {"online": 0, "offline": 0, "burst_online": 0, "burst_offline": 0, "unresolved": 0}
    assert doc["sources"] == [] and doc["sourcestats"] == []
    assert doc["serverstats_rate"] is None

    # second tick: more traffic from one client -> a per-second rate, seq + 1
    target = ipv4_range("127.10.0.1", 1)[0]
    time.sleep(1.1)
    ntp_clients(sandbox.ntp_port, [target], per_addr=3)
    run_build(out, socket=sandbox.socket, state=state, config=cfg)
    doc2 = read_snapshot(out)
    assert doc2["seq"] == 2
    c2 = {c["address"]: c for c in doc2["clients"]}
    grew = c2[target]["ntp"]["packets"] - clients[target]["ntp"]["packets"]
    assert grew >= 3
    assert c2[target]["rate"]["ntp_pps"] > 0
    assert doc2["summary"]["ntp_pps"] >= c2[target]["rate"]["ntp_pps"]
    quiet = ipv4_range("127.10.0.100", 1)[0]
    assert c2[quiet]["rate"] == {"ntp_pps": 0.0, "drop_pps": 0.0}
    assert doc2["serverstats_rate"]["ntp_packets_received"] > 0
    # gzip copy carries the same snapshot
    import gzip

    assert json.loads(gzip.decompress((out / "data.json.gz").read_bytes()))["seq"] == 2
    assert (out / "index.html").exists()
    assert oct((out / "data.json").stat().st_mode & 0o777) == "0o644"
    assert not [p for p in os.listdir(out) if p.startswith(".data.json")]


def test_ipv6_interval_and_nts_columns(short_tmp):
    with Sandbox(short_tmp / "c6") as sb:
        ntp_clients(sb.ntp_port, ["::1"], per_addr=2)
        cfg = write_config(short_tmp / "c.toml", "[chrony]\nnts_ke = true\n")
        run_build(short_tmp / "www", socket=sb.socket, state=short_tmp / "st", config=cfg)
        doc = read_snapshot(short_tmp / "www")
        c = {x["address"]: x for x in doc["clients"]}["::1"]
        assert c["nts_ke"] == {"connections": 0, "drops": 0, "interval_s": None, "last_seen_s": None}
        assert doc["errors"] == []


def test_dead_chronyd_is_reported_not_fatal(sandbox, short_tmp):
    populate(sandbox, clients=5, limited=0, cmd=0)
    out, state = short_tmp / "www", short_tmp / "st"
    cfg = write_config(short_tmp / "c.toml")
    run_build(out, socket=sandbox.socket, state=state, config=cfg)
    sandbox.stop()  # the socket file stays behind, nothing listens
    r = run_build(out, socket=sandbox.socket, state=state, config=cfg)
    doc = read_snapshot(out)
    assert r.returncode == 0 and doc["seq"] == 2
    assert doc["chrony"]["reachable"] is False
    assert doc["clients"] == [] and doc["tracking"] is None and doc["serverstats"] is None
    reports = {e["report"] for e in doc["errors"]}
    assert reports == {"clients", "tracking", "sources", "sourcestats", "serverstats", "activity"}
    e = next(e for e in doc["errors"] if e["report"] == "clients")
    assert e["hint"] and str(sandbox.socket) in e["message"]
    # logged once when it starts ...
    assert r.stderr.count("clients:") == 1 and "hint:" in r.stderr
    r2 = run_build(out, socket=sandbox.socket, state=state, config=cfg)
    assert "clients:" not in r2.stderr
    # ... and once when it clears
    sandbox.start()
    r3 = run_build(out, socket=sandbox.socket, state=state, config=cfg)
    assert "clients: recovered" in r3.stderr
    assert read_snapshot(out)["chrony"]["reachable"] is True and read_snapshot(out)["seq"] == 4


def test_missing_socket(short_tmp):
    out = short_tmp / "www"
    r = run_build(
        out,
        socket=short_tmp / "nowhere" / "chronyd.sock",
        state=short_tmp / "st",
        config=write_config(short_tmp / "c.toml"),
    )
    doc = read_snapshot(out)
    assert r.returncode == 0 and doc["chrony"]["reachable"] is False
    e = doc["errors"][0]
    assert "does not exist" in e["message"] and "chronyd running" in e["hint"]


def test_hung_chronyd_keeps_the_tick_bounded(sandbox, short_tmp):
    populate(sandbox, clients=5, limited=0, cmd=0)
    cfg = write_config(
        short_tmp / "c.toml",
        "[chrony]\nrequest_timeout_ms = 100\nretries = 0\nreports_deadline_s = 0.5\nclients_deadline_s = 1.0\n",
    )
    sandbox.pause()
    try:
        t0 = time.monotonic()
        run_build(short_tmp / "www", socket=sandbox.socket, state=short_tmp / "st", config=cfg)
        took = time.monotonic() - t0
    finally:
        sandbox.resume()
    doc = read_snapshot(short_tmp / "www")
    # chronyc's own default would wait 7 s per report; the tick gives up instead
    assert took < 5, took
    assert doc["chrony"]["reachable"] is False and len(doc["errors"]) == 6
    assert all(e["code"] in ("506", "timeout") for e in doc["errors"])


def test_noclientlog_519_keeps_other_reports(short_tmp):
    with Sandbox(short_tmp / "nolog", noclientlog=True) as sb:
        run_build(
            short_tmp / "www", socket=sb.socket, state=short_tmp / "st", config=write_config(short_tmp / "c.toml")
        )
    doc = read_snapshot(short_tmp / "www")
    assert [e["code"] for e in doc["errors"]] == ["519"]
    assert "noclientlog" in doc["errors"][0]["hint"]
    assert doc["chrony"]["reachable"] is True
    assert doc["tracking"] is not None and doc["serverstats"] is not None and doc["clients"] == []


def test_udp_command_port_501_for_clients(sandbox, short_tmp):
    cfg = write_config(short_tmp / "c.toml", f"[chrony]\nport = {sandbox.cmd_port}\n")
    run_build(short_tmp / "www", socket="127.0.0.1", state=short_tmp / "st", config=cfg)
    doc = read_snapshot(short_tmp / "www")
    errs = {e["report"]: e for e in doc["errors"]}
    assert set(errs) == {"clients", "serverstats"}
    assert errs["clients"]["code"] == "501" and "opencommands" in errs["clients"]["hint"]
    assert doc["tracking"]["stratum"] == 10  # monitoring reports still work over UDP
    # chronyc stopped its combined run at serverstats' 501; the reports after it
    # were asked again one by one (issue 11)
    assert doc["activity"] is not None and doc["sources"] == [] and doc["sourcestats"] == []


def test_one_chronyc_for_the_five_small_reports(short_tmp):
    """Issue 11: a tick spawns one chronyc for tracking, serverstats, activity,
    sources and sourcestats (not five), and the split answers are the real
    daemon's, two upstream sources included."""
    log, wrapper = short_tmp / "argv.log", short_tmp / "chronyc"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec /usr/bin/chronyc "$@"\n')
    wrapper.chmod(0o755)
    cfg = write_config(short_tmp / "c.toml")
    with (
        Sandbox(short_tmp / "u2", ratelimit=False, address="127.0.0.2", ipv6=False) as u2,
        Sandbox(short_tmp / "u3", ratelimit=False, address="127.0.0.3", ipv6=False) as u3,
    ):
        servers = "".join(f"server {u.address} port {u.ntp_port} iburst minpoll -2 maxpoll -2\n" for u in (u2, u3))
        with Sandbox(short_tmp / "dn", extra_conf=servers, ipv6=False) as dn:
            deadline = time.monotonic() + 30
            while True:
                log.unlink(missing_ok=True)
                run_build(short_tmp / "www", socket=dn.socket, state=short_tmp / "st", config=cfg, chronyc=wrapper)
                doc = read_snapshot(short_tmp / "www")
                synced = doc["tracking"]["stratum"] == 11  # to an upstream (its local stratum 10)
                if synced and len(doc["sources"]) == 2 and len(doc["sourcestats"]) == 2:
                    break
                assert time.monotonic() < deadline, doc["sources"]
                time.sleep(0.5)
            direct = subprocess.run(
                ["chronyc", "-c", "-n", "-h", str(dn.socket), "sources"], capture_output=True, text=True, check=True
            ).stdout
    calls = [c for c in log.read_text().splitlines() if c != "--version"]
    assert len(calls) == 2 and sorted(c.rsplit(" ", 1)[-1] for c in calls) == ["clients", "sourcestats"]
    assert any(c.endswith(" tracking serverstats activity sources sourcestats") for c in calls)
    assert doc["errors"] == []
    assert {s["address"] for s in doc["sources"]} == {"127.0.0.2", "127.0.0.3"}
    assert {s["address"] for s in doc["sourcestats"]} == {"127.0.0.2", "127.0.0.3"}
    assert sorted(line.split(",")[2] for line in direct.splitlines()) == ["127.0.0.2", "127.0.0.3"]
    assert doc["serverstats"]["ntp_packets_received"] >= 0 and doc["activity"]["online"] == 2


def test_no_permission_on_socket(sandbox, short_tmp, runtime):
    # the sandbox's socket lives in a 0700 root directory: nobody cannot use it
    out, state = short_tmp / "www", short_tmp / "st"
    out.mkdir()
    state.mkdir()
    os.chown(out, NOBODY, NOBODY)
    os.chown(state, NOBODY, NOBODY)
    cfg = write_config(short_tmp / "c.toml", minisite=False)  # the runtime copy carries the page
    os.chmod(cfg, 0o644)
    r = run_build(out, socket=sandbox.socket, state=state, config=cfg, user=NOBODY, runtime=runtime)
    doc = read_snapshot(out)
    assert r.returncode == 0
    e = doc["errors"][0]
    assert "no permission" in e["message"] and "_chrony" in e["hint"]


def test_second_run_skips_while_locked(sandbox, short_tmp):
    out, state = short_tmp / "www", short_tmp / "st"
    cfg = write_config(short_tmp / "c.toml")
    run_build(out, socket=sandbox.socket, state=state, config=cfg)
    before = (out / "data.json").read_bytes()
    fd = os.open(state / "lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        r = run_build(out, socket=sandbox.socket, state=state, config=cfg)
    finally:
        os.close(fd)
    assert r.returncode == 0 and "skipping" in r.stderr
    assert (out / "data.json").read_bytes() == before


def test_corrupt_or_lost_state_starts_fresh_and_seq_never_goes_back(sandbox, short_tmp):
    out, state = short_tmp / "www", short_tmp / "st"
    cfg = write_config(short_tmp / "c.toml")
    for _ in range(3):
        run_build(out, socket=sandbox.socket, state=state, config=cfg)
    (state / "state.bin").write_bytes(b"\x00garbage")
    r = run_build(out, socket=sandbox.socket, state=state, config=cfg)
    assert "unreadable" in r.stderr and "starting fresh" in r.stderr
    assert read_snapshot(out)["seq"] == 4
    r = run_build(out, socket=sandbox.socket, state=short_tmp / "new-state", config=cfg)
    assert read_snapshot(out)["seq"] == 5


def test_unusable_state_dir_still_writes(sandbox, short_tmp):
    blocker = short_tmp / "file"
    blocker.write_text("not a directory")
    r = run_build(
        short_tmp / "www", socket=sandbox.socket, state=blocker / "st", config=write_config(short_tmp / "c.toml")
    )
    assert "running without state" in r.stderr
    assert read_snapshot(short_tmp / "www")["seq"] == 1


def test_unwritable_web_root_keeps_old_snapshot(short_tmp, runtime):
    out, state = short_tmp / "www", short_tmp / "st"
    cfg = write_config(short_tmp / "c.toml", minisite=False)
    os.chmod(cfg, 0o644)
    out.mkdir()
    state.mkdir()
    os.chown(out, NOBODY, NOBODY)
    os.chown(state, NOBODY, NOBODY)
    sock = short_tmp / "nowhere.sock"  # nobody can't reach the sandbox; errors are data anyway
    run_build(out, socket=sock, state=state, config=cfg, user=NOBODY, runtime=runtime)
    before = (out / "data.json").read_bytes()
    os.chown(out, 0, 0)
    os.chmod(out, 0o755)
    r = run_build(out, socket=sock, state=state, config=cfg, user=NOBODY, check=False, runtime=runtime)
    assert r.returncode == 1
    assert "cannot write" in r.stderr and "previous snapshot stays" in r.stderr
    assert (out / "data.json").read_bytes() == before


def test_full_disk_keeps_old_snapshot(sandbox, short_tmp):
    populate(sandbox, clients=300, limited=0, cmd=0)
    out = short_tmp / "tmpfs"
    out.mkdir()
    # room for the page, data.json and history/'s tails
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(out)], check=True)
    try:
        cfg = write_config(short_tmp / "c.toml", "[output]\ngzip = false\n")
        run_build(out, socket=sandbox.socket, state=short_tmp / "st", config=cfg)
        before = (out / "data.json").read_bytes()
        assert json.loads(before)["seq"] == 1
        fill_disk(out)
        r = run_build(out, socket=sandbox.socket, state=short_tmp / "st", config=cfg, check=False)
        assert r.returncode == 1 and "No space left" in r.stderr
        assert (out / "data.json").read_bytes() == before
        assert not [p for p in os.listdir(out) if p.startswith(".data.json")]
        # room again: the next tick continues the sequence
        os.unlink(out / "filler")
        run_build(out, socket=sandbox.socket, state=short_tmp / "st", config=cfg)
        assert read_snapshot(out)["seq"] == 2
    finally:
        subprocess.run(["umount", str(out)], check=True)


def test_gzip_off_removes_stale_gz(sandbox, short_tmp):
    out = short_tmp / "www"
    run_build(out, socket=sandbox.socket, state=short_tmp / "st", config=write_config(short_tmp / "a.toml"))
    assert (out / "data.json.gz").exists()
    run_build(
        out,
        socket=sandbox.socket,
        state=short_tmp / "st",
        config=write_config(short_tmp / "b.toml", "[output]\ngzip = false\n"),
    )
    assert not (out / "data.json.gz").exists()


def test_hot_path_imports_no_jinja2_or_watchdog(sandbox, short_tmp):
    out, state = short_tmp / "www", short_tmp / "st"
    cfg = write_config(short_tmp / "c.toml")
    run_build(out, socket=sandbox.socket, state=state, config=cfg)  # renders the page
    probe = (
        "import sys\n"
        "from chrony_snap.cli import main\n"
        f"rc = main(['build', '--out', {str(out)!r}, '--socket', {str(sandbox.socket)!r}, "
        f"'--state', {str(state)!r}, '--config', {str(cfg)!r}])\n"
        "heavy = ('jinja2', 'watchdog', 'argparse', 'subprocess', 'json', 'tomllib', 're', 'threading')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
        "sys.exit(rc)\n"
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]", r.stdout
    # when the template changes, the page is rendered again (and Jinja2 is used)
    assert read_snapshot(out)["seq"] == 2


def test_page_rendered_only_when_inputs_change(sandbox, short_tmp):
    out, state = short_tmp / "www", short_tmp / "st"
    cfg = write_config(short_tmp / "c.toml", '[page]\ntitle = "first"\n')
    run_build(out, socket=sandbox.socket, state=state, config=cfg)
    html = out / "index.html"
    m1 = html.stat().st_mtime_ns
    assert "first" in html.read_text()
    run_build(out, socket=sandbox.socket, state=state, config=cfg)
    assert html.stat().st_mtime_ns == m1
    time.sleep(0.01)
    write_config(cfg, '[page]\ntitle = "second &lt;b&gt;"\n')
    run_build(out, socket=sandbox.socket, state=state, config=cfg)
    text = html.read_text()
    assert "second" in text and html.stat().st_mtime_ns != m1
    html.unlink()
    run_build(out, socket=sandbox.socket, state=state, config=cfg)
    assert html.exists()


def test_broken_template_keeps_page_and_data_flowing(sandbox, short_tmp):
    import shutil

    from helpers import MINISITE

    tpl = short_tmp / "tpl"
    shutil.copytree(MINISITE / "templates", tpl)
    out, state = short_tmp / "www", short_tmp / "st"
    cfg = write_config(
        short_tmp / "c.toml", f'[page]\ntemplates_dir = "{tpl}"\nassets_dir = "{MINISITE}/assets"\n', minisite=False
    )
    run_build(out, socket=sandbox.socket, state=state, config=cfg)
    good = (out / "index.html").read_bytes()
    (tpl / "index.html").write_text("{% if %}broken")
    r = run_build(out, socket=sandbox.socket, state=state, config=cfg, check=False)
    assert r.returncode == 1 and "cannot render the page" in r.stderr
    assert (out / "index.html").read_bytes() == good and read_snapshot(out)["seq"] == 2
    r = run_build(out, socket=sandbox.socket, state=state, config=cfg, check=False)
    assert r.returncode == 1 and r.stderr == ""  # reported once, not re-rendered every second
    assert read_snapshot(out)["seq"] == 3
    (tpl / "index.html").write_text("<p>fixed {{ title }}</p>")
    run_build(out, socket=sandbox.socket, state=state, config=cfg)
    assert "fixed" in (out / "index.html").read_text()


def test_temp_files_of_killed_runs_are_removed(sandbox, short_tmp):
    out, state = short_tmp / "www", short_tmp / "st"
    cfg = write_config(short_tmp / "c.toml")
    run_build(out, socket=sandbox.socket, state=state, config=cfg)
    dead = subprocess.Popen(["true"])
    dead.wait()
    alive = subprocess.Popen(["sleep", "30"])
    try:
        for d, name in ((out, ".data.json"), (out, ".data.json.gz"), (state, ".state.bin")):
            (d / f"{name}.tmp-{dead.pid}").write_bytes(b"x" * 100)
            (d / f"{name}.tmp-{alive.pid}").write_bytes(b"x")
        run_build(out, socket=sandbox.socket, state=state, config=cfg)
        left = sorted(p.name for d in (out, state) for p in d.iterdir() if ".tmp-" in p.name)
        assert left == sorted(
            [f".data.json.tmp-{alive.pid}", f".data.json.gz.tmp-{alive.pid}", f".state.bin.tmp-{alive.pid}"]
        )
    finally:
        alive.kill()
        alive.wait()
