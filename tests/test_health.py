"""The health verdict (chrony_snap/health.py, data.json's `health`): each rule
from replayed tracking/sources/serverstats output through the real CLI, the
rules as pure functions, and the [health] thresholds.  All of it fails on
main, which publishes no `health` and has no [health] section."""

import pytest

from chrony_snap import config, health
from helpers import FIX, cli, read_snapshot, write_config

TRACKING = FIX / "tracking_c.csv"  # a client synchronised to 127.0.0.1, stratum 11
SYNCED = TRACKING.read_text()
LOCAL = (FIX / "tracking_server_c.csv").read_text()  # a server with `local stratum 10`, no sources
UNSYNCED = "00000000,,0," + "0.000000000," * 4 + "0.000,0.000,0.000,1.000000000,1.000000000,0.0,Not synchronised\n"
SOURCE_DEAD = "^,?,127.0.0.1,10,6,0,4294967295,0.000000000,0.000000000,0.000000000\n"


def tracking_with(**changes):
    """tracking_c.csv with some columns replaced (by index)."""
    cols = SYNCED.strip().split(",")
    for i, v in changes.items():
        cols[int(i[1:])] = v
    return ",".join(cols) + "\n"


def build(tmp_path, fake, cfg_text=""):
    cfg = write_config(tmp_path / "c.toml", "[chrony]\nreports_deadline_s = 10\nclients_deadline_s = 10\n" + cfg_text)
    fake.build(tmp_path, cfg)
    return read_snapshot(tmp_path / "www")["health"]


def codes(h):
    return [(r["code"], r["severity"]) for r in h["reasons"]]


def test_synchronised_is_ok(tmp_path, fake):
    assert build(tmp_path, fake) == {"status": "ok", "reasons": []}


def test_unsynchronised_is_critical(tmp_path, fake):
    fake.set("tracking", stdout=UNSYNCED)
    fake.set("sources", stdout="")
    h = build(tmp_path, fake)
    assert h["status"] == "critical"
    assert codes(h) == [("not_synchronised", "critical"), ("no_selectable_source", "critical")]
    assert h["reasons"][0]["value"] == "Not synchronised"


def test_stratum_16_is_not_synchronised(tmp_path, fake):
    fake.set("tracking", stdout=tracking_with(c2="16"))
    h = build(tmp_path, fake)
    assert h["status"] == "critical" and codes(h) == [("not_synchronised", "critical")]
    assert "stratum 16" in h["reasons"][0]["message"] and h["reasons"][0]["value"] == 16


def test_leap_insert_is_degraded(tmp_path, fake):
    fake.set("tracking", stdout=tracking_with(c13="Insert second"))
    h = build(tmp_path, fake)
    assert h["status"] == "degraded" and codes(h) == [("leap_not_normal", "degraded")]
    assert "inserted" in h["reasons"][0]["message"]


def test_local_clock_server_is_ok_and_says_so(tmp_path, fake):
    """The sandbox's chronyd (and tracking_server_c.csv): `local stratum 10`, no sources."""
    fake.set("tracking", stdout=LOCAL)
    fake.set("sources", stdout=(FIX / "sources_server_empty_c.csv").read_text())
    h = build(tmp_path, fake)
    assert h["status"] == "ok" and codes(h) == [("local_clock", "info")]
    assert "local stratum 10" in h["reasons"][0]["message"]


def test_all_sources_unreachable(tmp_path, fake):
    fake.set("sources", stdout=SOURCE_DEAD + SOURCE_DEAD.replace("127.0.0.1", "::1"))
    h = build(tmp_path, fake)
    assert h["status"] == "critical"
    assert codes(h) == [("no_selectable_source", "critical"), ("sources_unreachable", "degraded")]
    assert h["reasons"][1]["value"] == 2 and "127.0.0.1, ::1" in h["reasons"][1]["message"]


def test_one_source_unreachable_is_degraded(tmp_path, fake):
    fake.set("sources", stdout=(FIX / "sources_c.csv").read_text() + SOURCE_DEAD.replace("127.0.0.1", "::1"))
    h = build(tmp_path, fake)
    assert h["status"] == "degraded" and codes(h) == [("sources_unreachable", "degraded")]
    assert "1 of 2 sources" in h["reasons"][0]["message"]


def test_offset_thresholds(tmp_path, fake):
    fake.set("tracking", stdout=tracking_with(c4="-0.070000000"))
    h = build(tmp_path, fake)
    assert codes(h) == [("offset_high", "degraded")]
    assert h["reasons"][0]["value"] == pytest.approx(0.07) and h["reasons"][0]["threshold"] == 0.05
    fake.set("tracking", stdout=tracking_with(c4="0.700000000"))
    h = build(tmp_path, fake)
    assert h["status"] == "critical" and codes(h) == [("offset_high", "critical")]
    # overridden in [health]
    h = build(tmp_path, fake, "[health]\noffset_degraded_s = 1\noffset_critical_s = 2\n")
    assert h == {"status": "ok", "reasons": []}


def test_max_error(tmp_path, fake):
    # |last offset| 0.02 + root dispersion 0.05 + root delay 0.08 / 2 = 0.11 > 0.1
    fake.set("tracking", stdout=tracking_with(c5="0.020000000", c10="0.080000000", c11="0.050000000"))
    h = build(tmp_path, fake)
    assert h["status"] == "degraded" and codes(h) == [("max_error_high", "degraded")]
    assert h["reasons"][0]["value"] == pytest.approx(0.11)


def two_ticks(tmp_path, fake, before, after, cfg_text=""):
    fake.set("serverstats", stdout=before)
    assert build(tmp_path, fake, cfg_text)["status"] == "ok"  # no rates on the first tick
    fake.set("serverstats", stdout=after)
    return build(tmp_path, fake, cfg_text)


def test_client_log_records_dropped(tmp_path, fake):
    h = two_ticks(tmp_path, fake, "42,10,69,31,0,0,0,0,0,0,0\n", "42,10,69,31,500,0,0,0,0,0,0\n")
    assert h["status"] == "degraded" and codes(h) == [("client_log_full", "degraded")]
    assert "clientloglimit" in h["reasons"][0]["message"] and h["reasons"][0]["value"] > 0


def test_drop_share(tmp_path, fake):
    h = two_ticks(tmp_path, fake, "1000,100,69,31,0,0,0,0,0,0,0\n", "1500,400,69,31,0,0,0,0,0,0,0\n")
    assert h["status"] == "degraded" and codes(h) == [("ntp_drop_share_high", "degraded")]
    assert h["reasons"][0]["value"] == pytest.approx(0.6) and h["reasons"][0]["threshold"] == 0.1


def test_drop_share_ignores_tiny_rates(tmp_path, fake):
    before, after = "1000,100,69,31,0,0,0,0,0,0,0\n", "1500,400,69,31,0,0,0,0,0,0,0\n"
    h = two_ticks(tmp_path, fake, before, after, "[health]\nntp_drop_min_pps = 1e6\n")
    assert h == {"status": "ok", "reasons": []}


def test_dead_daemon_is_critical(tmp_path, fake):
    for cmd in fake.COMMANDS:
        fake.replay_error(cmd, "socket_absent")
    h = build(tmp_path, fake)
    assert h["status"] == "critical" and codes(h) == [("chronyd_unreachable", "critical")]


@pytest.mark.parametrize("report", ["tracking", "sources", "serverstats"])
def test_failed_report_is_unknown_never_ok(tmp_path, fake, report):
    fake.set(report, stdout="", stderr="", rc=1)
    h = build(tmp_path, fake)
    assert h["status"] == "unknown"
    assert ("report_failed", "unknown") in codes(h) and h["reasons"][0]["value"] == report


def test_garbage_tracking_is_unknown(tmp_path, fake):
    fake.set("tracking", stdout="what,is,this\n")
    h = build(tmp_path, fake)
    assert h["status"] == "unknown" and codes(h) == [("report_failed", "unknown")]


# ---------------------------------------------------------------- pure rules

TH = config.defaults()["health"]
TRK = {
    "reference_id": "7F000001",
    "stratum": 2,
    "system_time_s": 0.0,
    "last_offset_s": 0.0,
    "root_delay_s": 0.0,
    "root_dispersion_s": 0.0,
    "leap_status": "Normal",
}
SRC = {"address": "192.0.2.1", "state": "selected", "reach": 255}


def verdict(tracking=TRK, sources=(SRC,), serverstats=None, rate=None, reachable=True):
    return health.verdict(
        reachable=reachable,
        tracking=tracking,
        sources=None if sources is None else list(sources),
        serverstats={} if serverstats is None else serverstats,
        serverstats_rate=rate,
        thresholds=TH,
    )


def test_default_thresholds():
    assert TH == {
        "offset_degraded_s": 0.05,
        "offset_critical_s": 0.5,
        "max_error_degraded_s": 0.1,
        "ntp_drop_share_degraded": 0.1,
        "ntp_drop_min_pps": 1.0,
    }


def test_status_order_critical_beats_unknown_beats_degraded():
    dead = {**SRC, "reach": 0, "state": "unusable"}
    h = verdict(tracking=None, sources=[dead])
    assert h["status"] == "critical"  # no_selectable_source (not local: tracking unknown)
    h = verdict(tracking=None, sources=[SRC, {**SRC, "reach": 0}])
    assert h["status"] == "unknown" and [r["severity"] for r in h["reasons"]] == ["unknown", "degraded"]


def test_unreachable_wins_and_hides_consequences():
    h = verdict(tracking=None, sources=None, reachable=False)
    assert [r["code"] for r in h["reasons"]] == ["chronyd_unreachable"]


def test_not_synchronised_skips_offset_rules():
    h = verdict(tracking={**TRK, "leap_status": "Not synchronised", "system_time_s": 9.0, "root_delay_s": 9.0})
    assert [r["code"] for r in h["reasons"]] == ["not_synchronised"]


def test_offset_boundaries():
    assert verdict(tracking={**TRK, "system_time_s": -0.05})["status"] == "ok"  # over, not at
    assert verdict(tracking={**TRK, "system_time_s": -0.0501})["status"] == "degraded"
    assert verdict(tracking={**TRK, "system_time_s": 0.5001})["status"] == "critical"


def test_local_clock_with_dead_sources():
    trk = {**TRK, "reference_id": health.LOCAL_CLOCK_ID, "stratum": 10}
    h = verdict(tracking=trk, sources=[{**SRC, "reach": 0, "state": "unusable"}])
    assert h["status"] == "degraded"
    assert [r["code"] for r in h["reasons"]] == ["sources_unreachable", "local_clock"]
    assert "no source is selectable" in h["reasons"][1]["message"]


def test_drop_share_minimum_rate():
    rate = {"ntp_packets_received": 0.9, "ntp_packets_dropped": 0.9, "client_log_records_dropped": 0.0}
    assert verdict(rate=rate)["status"] == "ok"  # under 1 request/s: not judged
    rate["ntp_packets_received"] = 2.0
    assert verdict(rate=rate)["reasons"][0]["code"] == "ntp_drop_share_high"


def test_many_dead_sources_are_summarised():
    dead = [{**SRC, "address": f"192.0.2.{i}", "reach": 0} for i in range(9)]
    msg = verdict(sources=[SRC, *dead])["reasons"][0]["message"]
    assert "9 of 10 sources" in msg and "and 4 more" in msg


# ---------------------------------------------------------------- [health] config


@pytest.mark.parametrize(
    "text",
    [
        "offset_degraded_s = -0.1",
        'offset_critical_s = "big"',
        "max_error_degraded_s = nan",
        "ntp_drop_share_degraded = 1.5",
        "ntp_drop_min_pps = -inf",
        "offset_degraded_s = true",
    ],
)
def test_bad_threshold_exits_2_naming_the_key(tmp_path, text):
    key = text.split(" ")[0]
    cfg = write_config(tmp_path / "c.toml", f"[health]\n{text}\n")
    r = cli("build", "--out", tmp_path / "www", "--config", cfg, "--state", tmp_path / "st", check=False)
    assert r.returncode == 2 and f"health.{key}" in r.stderr, r.stderr
    assert not (tmp_path / "www" / "data.json").exists()


def test_critical_offset_below_degraded_is_refused():
    with pytest.raises(config.ConfigError, match="health.offset_critical_s"):
        config.validate({"health": {"offset_degraded_s": 1.0, "offset_critical_s": 0.5}})
    cfg = config.validate({"health": {"offset_degraded_s": 0, "offset_critical_s": 1}})
    assert cfg["health"]["offset_degraded_s"] == 0.0 and cfg["health"]["offset_critical_s"] == 1.0
