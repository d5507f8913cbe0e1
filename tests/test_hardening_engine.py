"""Issue 12, the tick's side: what a hostile state directory, a misbehaving
chronyc and odd files can do.  Each test failed (or hung) on 637f601."""

import json
import marshal
import os
import subprocess
import sys

import pytest

from chrony_snap import __version__, build as B, config
from helpers import EVERY_TICK, FAKE_CHRONYC, FIX, cli_argv, read_snapshot, write_config

NOBODY = 65534
DEADLINES = "[chrony]\nreports_deadline_s = 10\nclients_deadline_s = 10\n"


def fake_build(tmp_path, fake, cfg_text=DEADLINES, **kw):
    return fake.build(tmp_path, write_config(tmp_path / "c.toml", cfg_text), **kw)


def script_chronyc(tmp_path, cases: dict):
    """A shell chronyc: `cases` maps a command to a shell snippet; any other
    command replays its captured fixture."""
    fixtures = {
        "tracking": "tracking_c.csv",
        "sources": "sources_c.csv",
        "sourcestats": "sourcestats_c.csv",
        "serverstats": "serverstats_c.csv",
        "activity": "activity_c.csv",
        "clients": "clients_c_n.csv",
    }
    lines = ["#!/bin/sh", "for cmd; do :; done", 'case "$cmd" in', '  --version) echo "chronyc (chrony) version 4.3";;']
    for cmd, f in fixtures.items():
        lines.append(f"  {cmd}) {cases.get(cmd, f'cat {FIX / f}')};;")
    lines.append("esac")
    p = tmp_path / "chronyc.sh"
    p.write_text("\n".join(lines) + "\n")
    p.chmod(0o755)
    return p


# ------------------------------------------------ item 1: the state dir is not the config


def _plant_chronyc(state, script, cfg_path):
    """state.bin as 637f601 and as this code cache the config, both naming `script` as chronyc."""
    cfg, ident = config.load(str(cfg_path))
    cfg["chrony"]["chronyc"] = str(script)
    raw = {
        "chrony": {"chronyc": str(script), "reports_deadline_s": 10.0, "clients_deadline_s": 10.0},
        "dns": {"enabled": False},
    }
    st = {
        "seq": 1,
        "config": cfg,
        "config_ident": ident,
        "config_cache": ((__version__, config.CACHE_FORMAT, ident), raw),
    }
    state.mkdir(exist_ok=True)
    (state / "state.bin").write_bytes(marshal.dumps((3, st)))


def test_cached_chronyc_path_never_runs(tmp_path, fake):
    cfg = write_config(tmp_path / "c.toml", DEADLINES)
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil"
    evil.write_text(f"#!/bin/sh\ntouch {marker}\n")
    evil.chmod(0o755)
    _plant_chronyc(tmp_path / "st", evil, cfg)
    path = f"{FAKE_CHRONYC.parent}:{os.environ['PATH']}"  # the default `chronyc` is the fake one
    fake.build(tmp_path, cfg, chronyc=None, env={"PATH": path})
    assert not marker.exists()
    doc = read_snapshot(tmp_path / "www")
    assert doc["errors"] == [] and doc["summary"]["clients"] == 9 and doc["seq"] == 2


def test_state_dir_writable_by_others_is_not_trusted(tmp_path, fake):
    state = tmp_path / "st"
    state.mkdir()
    (state / "state.bin").write_bytes(marshal.dumps((3, {"seq": 41})))
    state.chmod(0o777)
    r = fake_build(tmp_path, fake)
    assert "writable by group or others" in r.stderr and "running without state" in r.stderr
    doc = read_snapshot(tmp_path / "www")
    assert doc["seq"] == 1 and doc["summary"]["clients"] == 9
    assert not (state / "prev.bin").exists()


def test_state_file_of_another_user_is_not_trusted(tmp_path, fake):
    state = tmp_path / "st"
    state.mkdir()
    (state / "state.bin").write_bytes(marshal.dumps((3, {"seq": 41})))
    os.chown(state / "state.bin", NOBODY, NOBODY)
    r = fake_build(tmp_path, fake)
    assert "owned by uid 65534" in r.stderr
    assert read_snapshot(tmp_path / "www")["seq"] == 1


# ------------------------------------------------ item 6: empty replies


def test_empty_replies_are_errors(tmp_path, fake):
    for cmd in fake.COMMANDS:
        fake.set(cmd, stdout="")
    fake_build(tmp_path, fake)
    doc = read_snapshot(tmp_path / "www")
    errs = {e["report"]: e for e in doc["errors"]}
    assert set(errs) == {"tracking", "serverstats", "activity"}
    assert all(e["code"] == "empty" and "printed nothing" in e["message"] for e in errs.values())
    assert doc["chrony"]["reachable"] is False
    assert doc["tracking"] is None and doc["clients"] == []


# ------------------------------------------------ item 7: the deadline bounds the process


def test_chronyc_that_closes_its_pipes_and_sleeps_is_killed(tmp_path, fake):
    hang = "exec >&- 2>&-; sleep 20"
    chronyc = script_chronyc(tmp_path, {"tracking": hang, "clients": hang})
    fake_build(tmp_path, fake, "[chrony]\nreports_deadline_s = 1\nclients_deadline_s = 2\n", chronyc=chronyc)
    doc = read_snapshot(tmp_path / "www")
    errs = {e["report"]: e for e in doc["errors"]}
    assert errs["tracking"]["code"] == "timeout" and errs["clients"]["code"] == "timeout"
    assert doc["tracking"] is None and doc["serverstats"]["ntp_packets_received"] == 42


# ------------------------------------------------ item 8: output is capped


def test_endless_output_is_capped_and_reported(tmp_path, fake):
    chronyc = script_chronyc(tmp_path, {"tracking": "exec yes", "clients": "exec yes"})
    cfg = write_config(tmp_path / "c.toml", "[chrony]\nreports_deadline_s = 5\nclients_deadline_s = 3\n")
    argv = cli_argv(
        "build", "--out", tmp_path / "www", "--state", tmp_path / "st", "--config", cfg, "--chronyc", chronyc
    )
    # measured in a grandchild so that this test process's other children do not count
    probe = (
        "import resource, subprocess, sys\n"
        f"subprocess.run({argv!r}, check=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert int(r.stdout.split()[-1]) < 120 * 1024, r.stdout  # KiB; 637f601 grew past 1 GB
    doc = read_snapshot(tmp_path / "www")
    errs = {e["report"]: e for e in doc["errors"]}
    assert errs["tracking"]["code"] == "overflow"
    assert errs["clients"]["code"] in ("overflow", "timeout") and doc["clients"] == []


# ------------------------------------------------ item 9: FIFOs never block


def test_fifo_instead_of_data_json_does_not_block(tmp_path, fake):
    (tmp_path / "www").mkdir()
    os.mkfifo(tmp_path / "www" / "data.json")
    r = fake_build(tmp_path, fake, timeout=30)
    assert "not a regular file" in r.stderr
    assert read_snapshot(tmp_path / "www")["seq"] == 1


def test_fifo_instead_of_state_files_does_not_block(tmp_path, fake):
    (tmp_path / "st").mkdir(mode=0o750)
    for name in ("state", "prev", "dns"):
        os.mkfifo(tmp_path / "st" / f"{name}.bin")
    r = fake_build(tmp_path, fake, timeout=30)
    assert r.stderr.count("not a regular file") == 3
    assert read_snapshot(tmp_path / "www")["summary"]["clients"] == 9


# ------------------------------------------------ item 12: our own shutdown publishes nothing


def test_cancelled_tick_publishes_nothing(tmp_path, fake, monkeypatch):
    monkeypatch.setenv("FAKE_CHRONYC_DIR", str(fake.dir))
    write_config(tmp_path / "c.toml", DEADLINES + EVERY_TICK)  # each tick calls `clients`
    args = (
        str(tmp_path / "www"),
        str(tmp_path / "c.toml"),
        str(FAKE_CHRONYC),
        str(tmp_path / "s"),
        str(tmp_path / "st"),
    )
    assert B.build(*args) == 0
    before = (tmp_path / "www" / "data.json").read_bytes()
    state_before = (tmp_path / "st" / "state.bin").read_bytes()
    # chronyc killed by the same SIGTERM that stops us: not an error to publish
    killer = script_chronyc(tmp_path, {"clients": "kill -TERM $$"})
    assert B.build(*args[:2], str(killer), *args[3:], cancelled=lambda: True) == 0
    assert (tmp_path / "www" / "data.json").read_bytes() == before
    assert (tmp_path / "st" / "state.bin").read_bytes() == state_before
    assert not [p for p in os.listdir(tmp_path / "www") if ".tmp" in p]
    # not cancelled: the same death is reported
    assert B.build(*args[:2], str(killer), *args[3:]) == 0
    doc = read_snapshot(tmp_path / "www")
    assert doc["seq"] == 2 and [e["code"] for e in doc["errors"]] == ["exit -15"]


def test_every_snapshot_is_schema_valid_with_hostile_client_rows(tmp_path, fake):
    rows = [
        "127.0.0.1,1,0,127,127,0,0,0,127,0",
        "127.0.0.2,\u0663,0,127,127,0,0,0,127,0",
        "127.0.0.3,-5,0,127,127,0,0,0,127,0",
        "127.0.0.4, 3,0,127,127,0,0,0,127,0",
        "127.0.0.5,1_000,0,127,127,0,0,0,127,0",
        "127.0.0.6," + "9" * 1000 + ",0,127,127,0,0,0,127,0",
        "f" * 200 + ",1,0,127,127,0,0,0,127,0",
        "127.0.0.7,+5,0,127,127,0,0,0,127,0",
    ]
    fake.set("clients", stdout="\n".join(rows) + "\n")
    fake_build(tmp_path, fake)
    fake_build(tmp_path, fake)  # the second tick reads the first one's counters back
    doc = read_snapshot(tmp_path / "www")
    assert [c["address"] for c in doc["clients"]] == ["127.0.0.1"]
    (err,) = doc["errors"]
    assert err["code"] == "unparsable" and "7 unparsable" in err["message"]
    json.dumps(doc)


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "no-pidfd"])
def test_runner_bounds_each_process_by_deadline_and_cap(monkeypatch, pidfd):
    """Items 7 and 8 at the runner: a process is waited for (not only its
    pipes) until its deadline, and killed when it prints past its cap; with
    or without pidfds (old kernels)."""
    from chrony_snap import runner

    if not pidfd:

        def no_pidfd(pid):
            raise OSError("no pidfd here")

        monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    res = runner.run_all(
        [
            ("quick", ["/bin/sh", "-c", "echo hi"], 5, 1024),
            ("hang", ["/bin/sh", "-c", "exec >&- 2>&-; sleep 20"], 0.3, 1024),
            ("loud", ["/bin/sh", "-c", "exec yes"], 5, 4096),
            ("late", ["/bin/sh", "-c", "exec >&- 2>&-; sleep 0.3; exit 3"], 5, 1024),
        ]
    )
    assert (res["quick"].rc, res["quick"].out) == (0, b"hi\n")
    assert res["hang"].timed_out and res["hang"].rc == -9
    assert res["loud"].overflow and not res["loud"].timed_out and res["loud"].rc == -9
    assert res["late"].rc == 3 and not res["late"].timed_out


def test_a_parser_that_raises_loses_only_its_report(tmp_path, fake, monkeypatch):
    """Errors are data at the tick too: whatever a report's parser does with
    odd output, the other reports and the clients are published."""
    from chrony_snap import collect

    def explode(text):
        raise OverflowError("int too large to convert to float")

    monkeypatch.setenv("FAKE_CHRONYC_DIR", str(fake.dir))
    monkeypatch.setattr(collect.REPORTS["sources"], "parse", explode)
    write_config(tmp_path / "c.toml", DEADLINES)
    assert (
        B.build(
            str(tmp_path / "www"),
            str(tmp_path / "c.toml"),
            str(FAKE_CHRONYC),
            str(tmp_path / "s"),
            str(tmp_path / "st"),
        )
        == 0
    )
    doc = read_snapshot(tmp_path / "www")
    (err,) = doc["errors"]
    assert err["report"] == "sources" and err["code"] == "unparsable" and "OverflowError" in err["message"]
    assert doc["sources"] is None and doc["summary"]["clients"] == 9 and doc["tracking"] is not None
