"""Pure parsers and encoders against output captured from a real chronyd 4.3."""

import json

import pytest

from chrony_snap import collect, config, fields as F, jsonenc, parse
from helpers import FIX


def fixture(name):
    return (FIX / name).read_text()


@pytest.mark.parametrize(
    "name,fields",
    [
        ("clients_c_n.csv", F.CLIENTS),
        ("clients_c_n_k.csv", F.CLIENTS),
        ("clients_1000_c_n.csv", F.CLIENTS),
        ("tracking_c.csv", F.TRACKING),
        ("tracking_server_c.csv", F.TRACKING),
        ("sources_c.csv", F.SOURCES),
        ("sourcestats_c.csv", F.SOURCESTATS),
        ("serverstats_c.csv", F.SERVERSTATS_BY_COUNT[11]),
        ("activity_c.csv", F.ACTIVITY),
    ],
)
def test_field_names_match_captured_columns(name, fields):
    lines = fixture(name).splitlines()
    assert lines
    for line in lines:
        assert len(line.split(",")) == len(fields), line


def test_tracking_matches_text_report():
    # tracking.txt (text) and tracking_c.csv (CSV) came from the same chronyd
    t, problems = parse.parse_tracking(fixture("tracking_c.csv"))
    assert problems == []
    assert t["reference_id"] == "7F000001"
    assert t["reference_address"] == "127.0.0.1"
    assert t["stratum"] == 11
    assert t["leap_status"] == "Normal"
    assert t["system_time_s"] == pytest.approx(-0.000001419)  # "0.000001419 seconds fast"
    assert t["frequency_ppm"] == pytest.approx(-0.004)  # "0.004 ppm slow"
    assert t["root_delay_s"] == pytest.approx(0.000007525)
    assert t["update_interval_s"] == 2.0
    server, _ = parse.parse_tracking(fixture("tracking_server_c.csv"))
    assert server["reference_address"] is None and server["stratum"] == 10


def test_refclock_reference_name():
    line = "50505300,,1,1795687805.1,0,0,0,0,0,0,0,0,16.0,Normal\n"
    t, _ = parse.parse_tracking(line)
    assert t["reference_name"] == "PPS"
    assert parse.parse_tracking(fixture("tracking_c.csv"))[0]["reference_name"] is None


def test_sources_and_sourcestats():
    src, problems = parse.parse_sources(fixture("sources_c.csv"))
    assert problems == []
    assert src == [
        {
            "mode": "server",
            "state": "selected",
            "address": "127.0.0.1",
            "stratum": 10,
            "poll_log2": 1,
            "poll_s": 2,
            "reach": 0o377,
            "last_rx_s": 1,
            "offset_s": pytest.approx(848e-9),
            "measured_offset_s": pytest.approx(909e-9),
            "error_s": pytest.approx(3991e-9),
        }
    ]
    assert parse.parse_sources(fixture("sources_server_empty_c.csv")) == ([], [])
    st, problems = parse.parse_sourcestats(fixture("sourcestats_c.csv"))
    assert problems == []
    assert st[0]["samples"] == 15 and st[0]["runs"] == 8 and st[0]["span_s"] == 24
    assert st[0]["std_dev_s"] == pytest.approx(200e-9)


SERVERSTATS_LINES = {
    5: "42,10,69,31,0",  # chrony 3.x
    8: "42,10,69,31,0,3,1,189",  # chrony 4.0/4.1
    11: "42,10,69,31,0,0,0,0,0,0,0",  # chrony 4.2/4.3 (captured)
    17: "42,10,69,31,0,3,0,189,43,44,120,0,330,330,0,7,8",  # chrony 4.4+
}


@pytest.mark.parametrize("count", [5, 8, 11, 17])
def test_serverstats_mapped_by_version(count):
    ss, problems = parse.parse_serverstats(SERVERSTATS_LINES[count] + "\n")
    assert problems == []
    assert list(ss) == list(F.SERVERSTATS[:count])
    assert ss["ntp_packets_received"] == 42 and ss["cmd_packets_dropped"] == 31
    if count == 17:
        assert ss["ntp_timestamp_span_s"] == 120 and ss["ntp_hardware_tx_timestamps"] == 8


def test_serverstats_captured_and_unknown_width():
    ss, _ = parse.parse_serverstats(fixture("serverstats_c.csv"))
    assert ss["ntp_packets_received"] == 42 and ss["ntp_packets_dropped"] == 10
    ss, problems = parse.parse_serverstats("1,2,3,4,5,6,7,8,9\n")
    assert ss is None and "9 fields" in problems[0]


def test_activity():
    assert parse.parse_activity(fixture("activity_c.csv")) == (
        {"online": 1, "offline": 0, "burst_online": 0, "burst_offline": 0, "unresolved": 0},
        [],
    )


def test_status_lines():
    assert parse.first_status(fixture("err_noclientlog.stdout")) == (
        "519",
        "Client logging is not active in the daemon",
    )
    assert parse.first_status(fixture("err_udp_clients_not_authorised.stdout"))[0] == "501"
    assert parse.first_status(fixture("err_default_no_daemon.stdout"))[0] == "506"
    assert parse.first_status(fixture("clients_c_n.csv")) is None


def test_version_string():
    assert collect.parse_version(fixture("chrony-version.txt")) == "4.3"
    assert collect.parse_version("chronyc (chrony) version 4.7 (+READLINE)\n") == "4.7"
    assert collect.parse_version("nonsense") is None


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, 2.5, None, True, False, "x"], "b": {"c": -0.0001}},
        {"hostile": '<img src=x onerror="alert(1)">\u202e\u200b\\ \n\t "quoted"', "ü": "ñ", "big": 2**63},
        [],
        {"e": 1e-300, "f": 123456789.123456789},
    ],
)
def test_jsonenc_matches_stdlib(value):
    assert json.loads(jsonenc.dumps(value)) == value
    assert jsonenc.dumps(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_jsonenc_non_finite_is_null():
    assert jsonenc.dumps([float("nan"), float("inf"), -float("inf")]) == "[null,null,null]"


class _Res:
    def __init__(self, out="", err="", rc=0, timed_out=False, spawn_error=None):
        self.out, self.err, self.rc = out.encode(), err.encode(), rc
        self.timed_out, self.spawn_error = timed_out, spawn_error
        self.overflow = False


CH = config.defaults()["chrony"]


def test_diagnose_hints():
    e, ok = collect.diagnose("clients", _Res(fixture("err_udp_clients_not_authorised.stdout"), rc=1), CH, "present", 5)
    assert ok is True and e["code"] == "501" and "opencommands clients serverstats" in e["hint"]
    assert "_chrony" in e["hint"]
    e, ok = collect.diagnose("clients", _Res(fixture("err_noclientlog.stdout"), rc=1), CH, "present", 5)
    assert e["code"] == "519" and "noclientlog" in e["hint"]
    e, ok = collect.diagnose("tracking", _Res(err=fixture("err_socket_absent.stderr"), rc=1), CH, "absent", 1)
    assert ok is False and "does not exist" in e["message"] and "chronyd running" in e["hint"]
    e, ok = collect.diagnose("tracking", _Res(err=fixture("err_nonroot_socket.stderr"), rc=1), CH, "denied", 1)
    assert "no permission" in e["message"] and "group" in e["hint"]
    e, ok = collect.diagnose("tracking", _Res(err=fixture("err_stale_socket.stderr"), rc=1), CH, "present", 1)
    assert "not answering" in e["message"] and "stopped or crashed" in e["hint"]
    e, ok = collect.diagnose("tracking", _Res(fixture("err_default_no_daemon.stdout"), rc=1), CH, "none", 1)
    assert ok is False and e["code"] == "506"
    e, ok = collect.diagnose("clients", _Res(timed_out=True), CH, "present", 5)
    assert ok is False and e["code"] == "timeout" and "5 s" in e["message"]
    e, ok = collect.diagnose("clients", _Res(spawn_error="chronyc: command not found"), CH, "present", 5)
    assert ok is None and "Install chrony" in e["hint"]
    assert collect.diagnose("tracking", _Res(fixture("tracking_c.csv")), CH, "present", 1) == (None, True)


# ---- the five small reports' combined chronyc (collect.split_cheap, issue 11)


def _combined(out, rc=0, err=b""):
    from chrony_snap.runner import Result

    r = Result(collect.COMBINED)
    r.out, r.rc, r.err = out, rc, err
    return r


SMALL = {name: fixture(f"{name}_c.csv").encode() for name in collect.CHEAP}


def test_combined_reports_split_back_into_each_reports_output():
    two_sources = SMALL["sources"] + b"=,-,192.0.2.7,2,6,377,12,0.000012000,0.000012000,0.000100000\n"
    two_stats = SMALL["sourcestats"] + b"192.0.2.7,6,3,80,0.002,0.031,0.000000100,0.000000300\n"
    out = b"".join((SMALL["tracking"], SMALL["serverstats"], SMALL["activity"], two_sources, two_stats))
    parts = collect.split_cheap(_combined(out))
    assert list(parts) == list(collect.CHEAP)
    assert {n: r.out for n, r in parts.items()} == {**SMALL, "sources": two_sources, "sourcestats": two_stats}
    assert all(r.rc == 0 and r.err == b"" for r in parts.values())
    values = {}
    for name, r in parts.items():  # each part is what its parser reads from `chronyc REPORT`
        values[name], problems = collect.REPORTS[name].parse(r.out.decode())
        assert problems == [], name
    assert [s["address"] for s in values["sources"]] == [s["address"] for s in values["sourcestats"]]


def test_combined_reports_with_no_sources():
    out = SMALL["tracking"] + SMALL["serverstats"] + SMALL["activity"]
    parts = collect.split_cheap(_combined(out))
    assert parts["sources"].out == b"" and parts["sourcestats"].out == b""
    assert parts["activity"].out == SMALL["activity"]


@pytest.mark.parametrize(
    "out,rc,err",
    [
        # chronyc stopped at serverstats (501 over UDP): exit 1
        (SMALL["tracking"] + b"501 Not authorised\n", 1, b""),
        (SMALL["tracking"], 1, b"Unrecognized command\n"),
        # fewer lines than the three single-line reports
        (SMALL["tracking"] + SMALL["serverstats"], 0, b""),
        # a sources line after sourcestats' lines: not a shape chronyc prints
        (
            SMALL["tracking"] + SMALL["serverstats"] + SMALL["activity"] + SMALL["sourcestats"] + SMALL["sources"],
            0,
            b"",
        ),
        # a warning on stderr
        (SMALL["tracking"] + SMALL["serverstats"] + SMALL["activity"], 0, b"506 Cannot talk to daemon\n"),
    ],
)
def test_combined_reports_that_cannot_be_told_apart_are_asked_one_by_one(out, rc, err):
    assert collect.split_cheap(_combined(out, rc, err)) is None


def test_combined_reports_hung_or_overflowing_are_asked_one_by_one():
    r = _combined(b"")
    r.timed_out = True
    assert collect.split_cheap(r) is None
    r = _combined(SMALL["tracking"])
    r.overflow = True
    assert collect.split_cheap(r) is None


def test_combined_reports_without_chronyc_fail_each_report_the_same():
    r = _combined(b"")
    r.spawn_error = "chronyc: command not found"
    assert collect.split_cheap(r) == dict.fromkeys(collect.CHEAP, r)
