"""History (issue 8): the ring file's tiers, time, gaps and faults, the events
log, data.json's announcement and `history export`.

The engine runs in-process against the fake chronyc with an injected clock
(wall time, CLOCK_BOOTTIME, boot id) for what takes hours or a reboot; a real
chronyd ticks at 1 Hz in test_history_live.py.  Every test here fails on
`main`, which keeps no history.
"""

import json
import math
import os
import subprocess
import time

import pytest

from chrony_snap import build as B, history as H
from helpers import FIX, cli, fill_disk, read_snapshot, write_config

WALL0 = 1_790_000_000.0
SMALL = (("1s", 1, 600), ("1m", 60, 6 * 3600), ("1h", 3600, 3 * 86400))


class Clock:
    """time.time and CLOCK_BOOTTIME as the test sets them, and a boot id."""

    def __init__(self, monkeypatch):
        self.wall, self.boot, self.boot_id = WALL0, 1000.0, "boot-a"
        monkeypatch.setattr(time, "time", lambda: self.wall)
        monkeypatch.setattr(time, "monotonic", lambda: self.boot)  # no chronyc deadline on a loaded machine
        monkeypatch.setattr(B, "_boot", lambda: (self.boot_id, self.boot))

    def tick(self, seconds=1.0):
        self.wall += seconds
        self.boot += seconds


@pytest.fixture
def site(tmp_path, monkeypatch, fake):
    """build() in-process, ticked by the test: (run, clock, out, state dir)."""
    clock = Clock(monkeypatch)
    out, state = tmp_path / "www", tmp_path / "state"
    cfg = write_config(tmp_path / "config.toml", "[history]\nspan_1s_hours = 1\nspan_1m_days = 1\nspan_1h_years = 1\n")
    exe = tmp_path / "chronyc"
    exe.write_text(
        f'#!/bin/sh\nFAKE_CHRONYC_DIR="{fake.dir}" exec "{FIX.parent.parent / "fakebin" / "chronyc"}" "$@"\n'
    )
    exe.chmod(0o755)

    def run(**kw):
        args = dict(config_path=str(cfg), chronyc=str(exe), socket=str(tmp_path / "sock"), state_dir=str(state))
        args.update(kw)
        assert B.build(str(out), render_page=False, **args) == 0
        return read_snapshot(out)

    return run, clock, out, state, cfg


def served(fake, received):
    """serverstats with this many NTP requests received."""
    f = (FIX / "serverstats_c.csv").read_text().split(",")
    f[0] = str(received)
    fake.set("serverstats", stdout=",".join(f))


def rows(state, tier=0, cfg_tiers=None):
    layout = H.Layout(cfg_tiers or H.tiers_of({"history": {"span_1s_hours": 1, "span_1m_days": 1, "span_1h_years": 1}}))
    with H.Ring.open(str(state / "history" / "history.bin"), layout, None, create=False) as r:
        return dict(r.read(tier, 0, 1e12))


RX = H.SERIES.index("ntp_packets_received_pps")


def test_ring_aggregates_minutes_and_hours_and_wraps(tmp_path):
    """1 min and 1 h buckets keep min/mean/max/count of every tick; the 1 s
    ring keeps its span only; a bucket not written reads as a gap."""
    layout = H.Layout(SMALL)
    path = str(tmp_path / "h.bin")
    start = 497_223 * 3600  # an hour boundary
    seen = {}
    with H.Ring.open(path, layout, print) as r:
        for k in range(2 * 3600):
            if 3960 <= k < 4080:  # two minutes off: a gap
                continue
            pos = start + k
            v = [math.nan] * H.N
            v[0] = float(k % 97)
            r.append(pos, v)
            seen[pos] = v[0]
        ones = dict(r.read(0, 0, 1e12))
        minutes = dict(r.read(1, 0, 1e12))
        hours = dict(r.read(2, 0, 1e12))
    assert sorted(ones) == list(range(start + 7200 - 600, start + 7200))
    assert all(ones[p][0] == seen[p] for p in ones)
    assert len(minutes) == 120 - 2 and start + 3960 not in minutes and start + 4020 not in minutes
    for b in (start, start + 60 * 17, start + 3600 + 60 * 5):
        vals = [seen[p] for p in range(b, b + 60)]
        lo, mean, hi, count = minutes[b][0]
        assert (lo, hi, count) == (min(vals), max(vals), 60)
        assert mean == pytest.approx(sum(vals) / 60, rel=1e-5)
        assert math.isnan(minutes[b][1][0]) and minutes[b][1][3] == 0  # a series never written
    vals = [seen[p] for p in range(start + 3600, start + 7200) if p in seen]
    lo, mean, hi, count = hours[start + 3600][0]
    assert (lo, hi, count) == (min(vals), max(vals), 3600 - 120)
    assert mean == pytest.approx(sum(vals) / len(vals), rel=1e-4)


def test_file_size_is_fixed_and_under_150_mb_with_the_default_tiers():
    from chrony_snap import config

    size = H.size_of(config.defaults())
    assert size <= 150e6
    assert size == H.HEADER_SIZE + 86400 * (8 + 4 * H.N) + (90 * 1440 + 5 * 365 * 24) * (8 + 16 * H.N)


def test_ticks_rates_restart_reboot_and_wall_step(site, fake):
    """Rates are the tick's: a chronyd restart (counters back) and a reboot
    (new boot id) leave gaps, never spikes; a wall-clock step moves nothing;
    the time after a reboot never goes before what was written."""
    run, clock, out, state, _ = site
    served(fake, 1000)
    d = run()
    p0 = d["history"]["position"]
    assert p0 == int(WALL0) and d["history"]["events"] == "history/events.json"
    assert [t["name"] for t in d["history"]["tiers"]] == ["1s", "1m", "1h"]
    assert d["tracking"]["max_clock_error_s"] == pytest.approx(0.000000061 + 0.000001048 + 0.000007525 / 2)
    for n in (1010, 1030):
        clock.tick()
        served(fake, n)
        run()
    clock.tick()
    served(fake, 5)  # chronyd restarted
    run()
    clock.wall -= 3600  # the wall clock steps back an hour...
    clock.boot += 1
    served(fake, 25)
    d = run()
    assert d["history"]["position"] == p0 + 4  # ...the timeline does not
    got = rows(state)
    assert sorted(got) == [p0, p0 + 1, p0 + 2, p0 + 3, p0 + 4]
    rx = [got[p][RX] for p in sorted(got)]
    assert math.isnan(rx[0]) and rx[1:3] == [10.0, 20.0] and math.isnan(rx[3]) and rx[4] == 20.0

    clock.boot_id, clock.boot = "boot-b", 12.0  # a reboot: 100 s later, the wall clock still an hour back
    clock.wall += 100
    served(fake, 40)
    d = run()
    p = d["history"]["position"]
    assert p == p0 + 5  # never before the last position: order is kept
    clock.tick()
    served(fake, 43)
    d = run()
    got = rows(state)
    assert math.isnan(got[p][RX]) and got[p + 1][RX] == 3.0
    minutes = rows(state, 1)
    (bucket,) = minutes.values()
    assert bucket[RX][2] == 20.0 and bucket[RX][3] == 4  # 10, 20, 20, 3: the gaps are not counted, no spike


def test_events_log(site, fake):
    """Stratum, leap, a source's state, chronyd unreachable and recovered,
    client log drops: each an event with before and after, published."""
    run, clock, out, state, _ = site
    for _ in range(2):  # the second has rates
        served(fake, 100)
        run()
        clock.tick()
    assert json.loads((out / "history" / "events.json").read_text()) == {"schema_version": 1, "events": []}
    tr = (FIX / "tracking_c.csv").read_text().split(",")
    tr[2], tr[13] = "12", "Insert second\n"
    fake.set("tracking", stdout=",".join(tr))
    fake.set("sources", stdout="^,x,127.0.0.1,10,1,377,1,0.000000848,0.000000909,0.000003991\n")
    ss = (FIX / "serverstats_c.csv").read_text().split(",")
    ss[0], ss[4] = "100", "7"  # the same requests as before, log records dropped
    fake.set("serverstats", stdout=",".join(ss))
    run()
    for cmd in ("tracking", "sources", "sourcestats", "serverstats", "activity", "clients"):
        fake.replay_error(cmd, "socket_absent")
    clock.tick()
    run()
    fake.__init__(fake.dir)
    clock.tick()
    run()
    doc = json.loads((out / "history" / "events.json").read_text())
    codes = [e["code"] for e in doc["events"]]
    assert set(codes[:5]) == {
        "stratum_changed",
        "leap_changed",
        "client_log_dropping",
        "health_changed",
        "source_falseticker",
    }
    by = {}
    for e in doc["events"]:
        by.setdefault(e["code"], e)  # the first of each
    assert by["stratum_changed"]["before"] == 11 and by["stratum_changed"]["after"] == 12
    assert by["leap_changed"]["after"] == "Insert second"
    assert "chronyd_unreachable" in codes and "chronyd_recovered" in codes
    assert codes.index("chronyd_unreachable") < codes.index("chronyd_recovered")
    assert [e for e in doc["events"] if e["code"] == "source_selected"][-1]["before"] == "falseticker"
    assert by["health_changed"]["after"] in ("degraded", "critical", "ok")
    assert all(e["time"].endswith("Z") and e["message"] for e in doc["events"])


def test_events_are_bounded(site, fake, monkeypatch):
    run, clock, out, state, _ = site
    monkeypatch.setattr(H, "MAX_EVENTS", 3)
    run()
    for k in range(4):
        tr = (FIX / "tracking_c.csv").read_text().split(",")
        tr[2] = str(3 + k)
        fake.set("tracking", stdout=",".join(tr))
        clock.tick()
        run()
    events = json.loads((out / "history" / "events.json").read_text())["events"]
    assert len(events) == 3 and events[-1]["after"] == 6


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign_layout"])
def test_bad_file_is_set_aside_and_history_restarts(site, capfd, damage, tmp_path):
    run, clock, out, state, cfg = site
    run()
    f = state / "history" / "history.bin"
    if damage == "garbage":
        f.write_bytes(os.urandom(8192))
    elif damage == "truncated":
        os.truncate(f, f.stat().st_size - 100)
    else:
        cfg.write_text(cfg.read_text().replace("span_1s_hours = 1", "span_1s_hours = 2"))
    clock.tick()
    capfd.readouterr()
    d = run()
    assert "set aside" in capfd.readouterr().err
    assert [p.name for p in f.parent.glob("history.bin.bad-*")]
    assert d["history"]["position"] and d["errors"] == []
    tiers = [("1s", 1, 7200 if damage == "foreign_layout" else 3600), ("1m", 60, 86400), ("1h", 3600, 365 * 86400)]
    assert list(rows(state, cfg_tiers=tiers)) == [d["history"]["position"]]


def test_unusable_state_dir_runs_without_history(site):
    run, clock, out, state, _ = site
    state.mkdir(mode=0o777)
    os.chmod(state, 0o777)  # others may write it: not trusted, no state at all
    d = run()
    (err,) = [e for e in d["errors"] if e["report"] == "history"]
    assert err["code"] == "state" and "without history" in err["message"]
    assert "history" not in d and d["clients"]


def test_history_off_writes_nothing(site):
    run, clock, out, state, cfg = site
    cfg.write_text(cfg.read_text().replace("[history]\n", "[history]\nenabled = false\n"))
    d = run()
    assert "history" not in d and not (state / "history").exists() and not (out / "history").exists()


def test_full_disk_one_log_line_and_no_snapshot_lost(site, short_tmp, capfd):
    run, clock, out, state, cfg = site
    hdir = short_tmp / "tmpfs"
    hdir.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(hdir)], check=True)
    try:
        cfg.write_text(cfg.read_text().replace("[history]\n", f'[history]\ndir = "{hdir}"\n'))
        run()
        fill_disk(hdir)
        capfd.readouterr()
        logged = []
        for _ in range(3):
            clock.tick(600)  # a new page of every tier: blocks the full disk has not got
            d = run()
            assert d["clients"] and "history" not in d
            assert [e["code"] for e in d["errors"] if e["report"] == "history"] == ["disk_full"]
            logged.append(sum("history" in line for line in capfd.readouterr().err.splitlines()))
        assert logged == [1, 0, 0]
        os.unlink(hdir / "filler")
        clock.tick()
        d = run()
        assert d["history"]["position"] == int(WALL0) + 1801
        assert "history: recovered" in capfd.readouterr().err
    finally:
        subprocess.run(["umount", str(hdir)], check=True)


def test_export_matches_the_files(site, fake):
    run, clock, out, state, cfg = site
    for n in range(8):
        served(fake, 1000 + n * n)
        run()
        clock.tick(1 if n % 2 else 12)  # over two minutes: two 1 min buckets
    for tier in ("1s", "1m"):
        check_export(state, cfg, tier)


def check_export(state, cfg, tier):
    env = {"TZ": "UTC"}
    args = ("history", "export", "--state", str(state), "--config", str(cfg), "--since", str(WALL0 - 1000))
    js = json.loads(cli(*args, "--until", str(WALL0 + 1000), "--tier", tier, "--format", "json", env=env).stdout)
    csv_lines = cli(*args, "--until", str(WALL0 + 1000), "--tier", tier, env=env).stdout.splitlines()
    want = rows(state, 0 if tier == "1s" else 1)
    assert [r["t"] for r in js["rows"]] == sorted(want) and len(csv_lines) == len(want) + 1
    assert "source[127.0.0.1].offset_s" in js["series"] and "source1_offset_s" not in js["series"]
    for r in js["rows"]:
        w = want[r["t"]][RX]
        got = r["ntp_packets_received_pps"]
        if tier == "1s":
            assert (got is None and math.isnan(w)) or got == pytest.approx(w)
        else:
            assert got["count"] == int(w[3]) and got["max"] == pytest.approx(w[2])
    assert len(js["rows"]) == (8 if tier == "1s" else 2)
    header = csv_lines[0].split(",")
    assert header[:2] == ["time", "t"]
    first = dict(zip(header, csv_lines[2].split(","), strict=True))
    assert first["t"] == str(js["rows"][1]["t"])
    r = cli(*args, "--tier", "2s", check=False)
    assert r.returncode == 2 and "--tier must be one of" in r.stderr


def test_nginx_serves_the_events_log_whole_and_uncached(site, short_tmp):
    """The events log through the shipped server block: no-cache, never a
    304 or a byte range (it is replaced by rename like data.json)."""
    import shutil

    from chrony_snap.harness.nginx import NginxProcess

    run, clock, out, state, _ = site
    run()
    root = short_tmp / "www"
    shutil.copytree(out / "history", root / "history")
    for p in (short_tmp, root, root / "history"):
        os.chmod(p, 0o755)
    os.chmod(root / "history" / "events.json", 0o644)
    web = NginxProcess(root).start()
    try:
        status, headers, body = web.get("/history/events.json", headers={"Range": "bytes=0-3"})
        assert status == 200 and json.loads(body) == {"schema_version": 1, "events": []}
        assert headers["cache-control"] == "no-cache" and "etag" not in headers
        status, _, _ = web.get("/history/events.json", headers={"If-Modified-Since": headers["last-modified"]})
        assert status == 200
    finally:
        web.stop()


@pytest.mark.parametrize("enabled", [True, False])
def test_history_off_is_not_even_imported(tmp_path, fake, enabled):
    """Off costs nothing per tick: chrony_snap.history is not imported; on, it
    brings no module the per-second path avoids (array would bring collections.abc)."""
    import sys

    cfg = write_config(tmp_path / "c.toml", f"[history]\nenabled = {'true' if enabled else 'false'}\n")
    probe = (
        "import sys\n"
        "from chrony_snap.cli import main\n"
        f"rc = main(['build', '--out', {str(tmp_path / 'www')!r}, '--state', {str(tmp_path / 'st')!r}, "
        f"'--config', {str(cfg)!r}, '--chronyc', {str(FIX.parent.parent / 'fakebin' / 'chronyc')!r}])\n"
        "print('chrony_snap.history' in sys.modules, 'collections.abc' in sys.modules)\n"
        "sys.exit(rc)\n"
    )
    env = {**os.environ, **fake.env}
    for _ in range(2):  # the first renders the page (Jinja2 brings everything)
        r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env)
    assert r.stdout.split() == [str(enabled), "False"]
