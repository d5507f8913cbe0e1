"""What a live chronyd here cannot produce, replayed through a fake chronyc
(tests/fakebin/chronyc): other versions' formats, refusals, garbage, hangs."""

import time

import pytest

from chrony_snap import fields as F
from helpers import read_snapshot, run_build, write_config

SERVERSTATS = {
    5: "1598,8,19,0,0\n",
    8: "1598,8,19,0,0,3,0,189\n",
    17: "1598,8,19,0,0,3,0,189,43,44,120,0,1598,1598,0,0,0\n",
}


def build(tmp_path, fake, cfg_text="", **kw):
    # the fake chronyc is a Python script: give it time to start on a busy machine
    if "[chrony]" not in cfg_text:
        cfg_text = "[chrony]\n" + cfg_text
    for key in ("reports_deadline_s", "clients_deadline_s"):
        if key not in cfg_text:
            cfg_text = cfg_text.replace("[chrony]\n", f"[chrony]\n{key} = 10\n", 1)
    cfg = write_config(tmp_path / "c.toml", cfg_text)
    return fake.build(tmp_path, cfg, **kw)


def test_replayed_reports_and_argv(tmp_path, fake):
    build(tmp_path, fake)
    doc = read_snapshot(tmp_path / "www")
    assert doc["errors"] == [] and doc["chrony"] == {
        "reachable": True,
        "version": "4.3",
        "socket": str(tmp_path / "fake.sock"),
    }
    assert doc["summary"]["clients"] == 9 and doc["summary"]["critical"] == 1
    assert doc["sources"][0]["state"] == "selected" and doc["sources"][0]["reach"] == 255
    calls = fake.calls()
    # numeric CSV, the configured socket, bounded retries, and never `clients -r`
    for call in calls:
        if call != "--version":
            assert call.startswith(f"-c -n -h {tmp_path / 'fake.sock'} -m timeout 250 retries 1 ")
    # the five small reports in ONE chronyc (issue 11), the client list in its own
    prefix = f"-c -n -h {tmp_path / 'fake.sock'} -m timeout 250 retries 1 "
    assert sorted(c.removeprefix(prefix) for c in calls if c != "--version") == [
        "clients",
        "tracking serverstats activity sources sourcestats",
    ]
    assert not any("-r" in c.split() for c in calls)
    # chronyc --version is asked once, then cached
    build(tmp_path, fake)
    assert fake.calls().count("--version") == 1


@pytest.mark.parametrize("count", [5, 8, 17])
def test_serverstats_other_versions(tmp_path, fake, count):
    fake.set("serverstats", stdout=SERVERSTATS[count])
    build(tmp_path, fake)
    ss = read_snapshot(tmp_path / "www")["serverstats"]
    assert list(ss) == list(F.SERVERSTATS[:count])
    assert ss["ntp_packets_received"] == 1598


def test_garbage_lines_lose_nothing_else(tmp_path, fake):
    good = (fake.dir / "clients.stdout").read_text()
    fake.set("clients", stdout="Weird banner\n" + good + "127.5.5.5,NaN,0,0,0,0,0,0,0,0\n")
    fake.set("tracking", stdout="this is not tracking\n")
    build(tmp_path, fake)
    doc = read_snapshot(tmp_path / "www")
    assert doc["summary"]["clients"] == 9
    errs = {e["report"]: e for e in doc["errors"]}
    assert set(errs) == {"clients", "tracking"}
    assert errs["clients"]["code"] == "unparsable" and "2 unparsable" in errs["clients"]["message"]
    assert doc["tracking"] is None and doc["serverstats"] is not None


def test_519_replayed(tmp_path, fake):
    fake.replay_error("clients", "noclientlog")
    build(tmp_path, fake)
    doc = read_snapshot(tmp_path / "www")
    assert [e["code"] for e in doc["errors"]] == ["519"] and doc["clients"] == []
    assert doc["chrony"]["reachable"] is True


def test_501_over_udp_replayed(tmp_path, fake):
    fake.replay_error("clients", "udp_clients_not_authorised")
    fake.replay_error("serverstats", "udp_serverstats_not_authorised")
    build(tmp_path, fake)
    doc = read_snapshot(tmp_path / "www")
    assert {e["report"]: e["code"] for e in doc["errors"]} == {"clients": "501", "serverstats": "501"}
    assert all("opencommands" in e["hint"] for e in doc["errors"])
    # chronyc stops its combined run at serverstats: the reports after it are
    # asked again one chronyc each, and nothing is lost
    assert doc["activity"]["online"] == 1 and doc["sources"][0]["state"] == "selected"
    assert doc["sourcestats"][0]["samples"] == 15 and doc["tracking"]["stratum"] == 11
    asked = [c.rsplit(" 1 ", 1)[-1] for c in fake.calls() if c != "--version"]
    small = ["tracking", "serverstats", "activity", "sources", "sourcestats"]
    assert sorted(asked) == sorted(["clients", " ".join(small), *small])


def test_506_everywhere_means_unreachable(tmp_path, fake):
    for cmd in fake.COMMANDS:
        fake.replay_error(cmd, "default_no_daemon")
    build(tmp_path, fake)
    doc = read_snapshot(tmp_path / "www")
    assert doc["chrony"]["reachable"] is False
    assert {e["code"] for e in doc["errors"]} == {"506"}


def test_hanging_chronyc_is_killed_at_its_deadline(tmp_path, fake):
    fake.set("clients", stdout="127.0.0.1,1,0,127,127,0,0,0,127,0\n", sleep=30)
    fake.set("tracking", stdout="", sleep=30)
    t0 = time.monotonic()
    build(tmp_path, fake, "[chrony]\nreports_deadline_s = 2\nclients_deadline_s = 3\n")
    assert time.monotonic() - t0 < 15  # not the 30 s the fake chronyc would hang
    doc = read_snapshot(tmp_path / "www")
    errs = {e["report"]: e for e in doc["errors"]}
    assert errs["clients"]["code"] == "timeout" and "3 s" in errs["clients"]["message"]
    assert errs["tracking"]["code"] == "timeout"
    assert doc["clients"] == [] and doc["serverstats"]["ntp_packets_received"] == 42


def test_chronyc_not_installed(tmp_path, fake):
    cfg = write_config(tmp_path / "c.toml")
    run_build(tmp_path / "www", state=tmp_path / "st", config=cfg, chronyc=tmp_path / "no-chronyc")
    doc = read_snapshot(tmp_path / "www")
    assert len(doc["errors"]) == 6 and "Install chrony" in doc["errors"][0]["hint"]
    assert doc["chrony"]["version"] is None


def test_nts_ke_columns_when_enabled(tmp_path, fake):
    fake.set("clients_-k", stdout="127.0.0.1,15,0,1,127,0,4,1,2,7\n")
    build(tmp_path, fake, "[chrony]\nnts_ke = true\n")
    doc = read_snapshot(tmp_path / "www")
    c = {x["address"]: x for x in doc["clients"]}
    assert c["127.0.0.1"]["nts_ke"] == {"connections": 4, "drops": 1, "interval_s": 4, "last_seen_s": 7}
    assert c["::1"]["nts_ke"] is None
    assert any(call.endswith("clients -k") for call in fake.calls())


def test_legacy_preset_changes_status(tmp_path, fake):
    fake.set("clients", stdout="127.0.0.5,100,10,0,0,1,0,0,127,4294967295\n")
    build(tmp_path, fake)
    assert read_snapshot(tmp_path / "www")["clients"][0]["status"] == "warning"
    build(tmp_path, fake, '[status]\npreset = "legacy"\n')
    doc = read_snapshot(tmp_path / "www")
    assert doc["clients"][0]["status"] == "critical"
    assert doc["status_rule"] == {
        "preset": "legacy",
        "warning_drops": 1,
        "critical_drops": 10,
        "critical_drop_ratio": 0.0,
    }


def test_timestamps_held_going_down_is_no_restart(tmp_path, fake):
    """serverstats' ntp_timestamps_held (chrony 4.2+) is a gauge: it goes
    down as clients go quiet.  Taken for a counter that went back (a chronyd
    restart), it made the next tick re-collect the client list whatever the
    budget (issue 11), and it cost the tick its serverstats rates."""
    ss = "1598,8,19,0,0,3,0,189,43,{held},1200\n"
    cfg = f'[clients]\ncpu_budget = 0.000001\nmax_interval_s = 60\npid_file = "{tmp_path / "none.pid"}"\n'
    seqs = []
    for held in (900, 850, 800, 700):
        fake.set("serverstats", stdout=ss.format(held=held))
        build(tmp_path, fake, cfg)
        doc = read_snapshot(tmp_path / "www")
        seqs.append((doc["seq"], doc["clients_seq"]))
        if held != 900:
            assert doc["serverstats_rate"] is not None and "ntp_timestamps_held" not in doc["serverstats_rate"]
    first = seqs[0][0]
    assert all(clients_seq == first for _, clients_seq in seqs), seqs  # collected once, then reused
    # a counter that does go back is a restart: the next tick collects
    fake.set("serverstats", stdout=ss.format(held=700).replace("1598,", "12,", 1))
    build(tmp_path, fake, cfg)
    assert read_snapshot(tmp_path / "www")["serverstats_rate"] is None
    build(tmp_path, fake, cfg)
    doc = read_snapshot(tmp_path / "www")
    assert doc["clients_seq"] == doc["seq"]
