"""Pure parsers and encoders against output captured from a real chronyd 4.3."""

import json

import pytest

from chrony_snap import collect, config, fields as F, jsonenc, parse, snapshot
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


def test_clients_rows_and_special_values():
    rows, problems = parse.parse_clients(fixture("clients_c_n.csv"))
    assert problems == []
    by = {r[0]: dict(zip(F.CLIENTS, r, strict=True)) for r in rows}
    assert set(by) == {
        "127.0.0.1",
        "127.1.0.1",
        "127.1.0.2",
        "127.1.0.3",
        "127.1.0.4",
        "127.1.0.9",
        "::1",
        "127.2.0.1",
        "127.2.0.2",
    }
    burst = by["127.1.0.9"]
    assert (burst["ntp_packets"], burst["ntp_drops"], burst["ntp_interval_log2"]) == ("20", "10", "-5")
    assert json.loads(parse.INTERVAL_JSON[burst["ntp_interval_log2"]]) == 0.03125
    assert parse.INTERVAL_JSON["127"] == "null" and json.loads(parse.INTERVAL_JSON["3"]) == 8
    assert parse.last_s(by["127.2.0.1"]["ntp_last_s"]) is None
    assert parse.last_s(by["127.2.0.1"]["cmd_last_s"]) == 21


GARBAGE = [
    "garbage",
    "1.2.3.4,x,0,0,0,0,0,0,0,0",
    "<script>,1,0,127,127,0,0,0,127,0",
    "127.9.9.9,1,0,99,127,0,0,0,127,0",
    "127.9.9.9,1,0,127,127,0,0,0,127",
    '127.1.1.1",1,0,127,127,0,0,0,127,0',
    ",1,0,127,127,0,0,0,127,0",
    "127.1.1.2,1,0,127,127,0,0,0,127,0,9",
    "127.1.1.3,1,0,127,127,zz,0,0,127,0",
    "127.1.1.4,1,0,127,127,\u0663,0,0,127,0",
    "127.1.1.5,1,0,127,127,0,0,0,127,\u00b2",
    "127.1.1.6,1,0,127,127,-1,0,0,127,0",
    "127.1.1.7,1,0,127,127,1 ,0,0,127,0",
    "127.1.1.8,1,0,127,127,012,0,0,127,0",
    "127.1.1.9,1,0,127,127,0,0,0,127,07",
]


def test_counters_are_reprinted_as_json_numbers():
    arr, summary, _, problems = snapshot.encode_clients(
        "127.1.1.8,007,0,127,127,12,03,0,127,4294967295\n", None, {}, None, RULES["default"], {}
    )
    (c,) = json.loads(arr)
    assert problems == [] and c["ntp"]["packets"] == 7 and c["ntp"]["last_seen_s"] == 12
    assert c["cmd"]["packets"] == 3 and summary["active_60s"] == 1


@pytest.mark.parametrize("line", GARBAGE)
def test_parser_and_encoder_reject_the_same_lines(line):
    good = fixture("clients_c_n.csv")
    rows, problems = parse.parse_clients(good + line + "\n")
    arr, _, _, eproblems = snapshot.encode_clients(good + line + "\n", None, {}, None, RULES["default"], {})
    assert len(rows) == len(json.loads(arr)) == 9
    assert problems == eproblems and len(problems) == 1


def test_clients_garbage_lines_keep_good_rows():
    text = fixture("clients_c_n.csv")
    mixed = (
        "garbage\n" + text + "1.2.3.4,x,0,0,0,0,0,0,0,0\n<script>,1,0,127,127,0,0,0,127,0\n"
        "127.9.9.9,1,0,99,127,0,0,0,127,0\n"
    )
    rows, problems = parse.parse_clients(mixed)
    assert len(rows) == 9
    assert len(problems) == 1 and "4 unparsable" in problems[0] and "garbage" in problems[0]


def test_status_lines():
    assert parse.first_status(fixture("err_noclientlog.stdout")) == (
        "519",
        "Client logging is not active in the daemon",
    )
    assert parse.first_status(fixture("err_udp_clients_not_authorised.stdout"))[0] == "501"
    assert parse.first_status(fixture("err_default_no_daemon.stdout"))[0] == "506"
    assert parse.first_status(fixture("clients_c_n.csv")) is None
    # a 519 reply yields no rows and no garbage complaint
    assert parse.parse_clients(fixture("err_noclientlog.stdout")) == ([], [])


def test_version_string():
    assert collect.parse_version(fixture("chrony-version.txt")) == "4.3"
    assert collect.parse_version("chronyc (chrony) version 4.7 (+READLINE)\n") == "4.7"
    assert collect.parse_version("nonsense") is None


RULES = {name: config.validate({"status": {"preset": name}})["status"] for name in ("default", "legacy")}


@pytest.mark.parametrize(
    "packets,drops,default,legacy",
    [
        (5, 0, "ok", "ok"),
        (100, 1, "warning", "warning"),
        (100, 10, "warning", "critical"),  # 10 % dropped: the old tool called that critical
        (20, 10, "critical", "critical"),  # half dropped
        (19, 9, "warning", "warning"),
    ],
)
def test_status_rules(packets, drops, default, legacy):
    assert snapshot.classify(packets, drops, RULES["default"]) == default
    assert snapshot.classify(packets, drops, RULES["legacy"]) == legacy


def test_encoder_status_equals_classify():
    rows = [
        [f"127.0.{p}.{d}", str(p), str(d), "127", "127", "0", "0", "0", "127", "0"]
        for p in range(0, 40, 3)
        for d in range(0, p + 1, 2)
    ]
    text = "".join(",".join(r) + "\n" for r in rows)
    for rule in RULES.values():
        arr, summary, _, _ = snapshot.encode_clients(text, None, {}, None, rule, {})
        for row, client in zip(rows, json.loads(arr), strict=True):
            assert client["status"] == snapshot.classify(int(row[1]), int(row[2]), rule)
        assert summary["ok"] + summary["warning"] + summary["critical"] == len(rows)


def test_encode_clients_fields_and_rates():
    prev = {"127.1.0.9": 10 << 40 | 2, "::1": 3 << 40, "127.0.0.1": 99 << 40}
    names = {"127.1.0.1": ("host-a.example", 9e18)}
    arr, summary, new_prev, problems = snapshot.encode_clients(
        fixture("clients_c_n.csv"), None, prev, 2.0, RULES["default"], names, {"127.1.0.2": 'static "name"'}
    )
    doc = {c["address"]: c for c in json.loads(arr)}
    b = doc["127.1.0.9"]
    assert b["family"] == "ipv4" and b["status"] == "critical"
    assert b["ntp"] == {
        "packets": 20,
        "drops": 10,
        "interval_s": 0.03125,
        "interval_limited_s": 0.03125,
        "last_seen_s": 24,
    }
    assert b["cmd"] == {"packets": 0, "drops": 0, "interval_s": None, "last_seen_s": None}
    assert b["rate"] == {"ntp_pps": 5.0, "drop_pps": 4.0}
    assert doc["::1"]["family"] == "ipv6" and doc["::1"]["rate"] == {"ntp_pps": 0.0, "drop_pps": 0.0}
    assert doc["127.0.0.1"]["rate"] == {"ntp_pps": None, "drop_pps": None}  # counter went back
    assert doc["127.2.0.1"]["rate"]["ntp_pps"] is None  # not seen before
    assert doc["127.2.0.1"]["cmd"] == {"packets": 40, "drops": 31, "interval_s": 0.03125, "last_seen_s": 21}
    assert doc["127.1.0.1"]["hostname"] == "host-a.example"
    assert doc["127.1.0.2"]["hostname"] == 'static "name"'
    assert doc["127.1.0.3"]["hostname"] is None
    assert summary["clients"] == 9 and summary["ipv6"] == 1 and summary["critical"] == 1
    assert summary["ntp_packets"] == 15 + 4 + 20 + 3 and summary["cmd_drops"] == 31
    assert new_prev["127.1.0.9"] == 20 << 40 | 10


def test_encode_first_snapshot_has_null_rates():
    arr, summary, _, _ = snapshot.encode_clients(fixture("clients_c_n.csv"), None, {}, None, RULES["default"], {})
    assert all(c["rate"] == {"ntp_pps": None, "drop_pps": None} for c in json.loads(arr))
    assert summary["ntp_pps"] is None


def test_nts_ke_columns():
    nts_rows, _ = parse.parse_clients(fixture("clients_c_n_k.csv"))
    nts_rows[0][6:10] = ["5", "1", "3", "12"]
    nts = {r[0]: r for r in nts_rows if r[0] != "::1"}
    arr, _, _, _ = snapshot.encode_clients(fixture("clients_c_n.csv"), nts, {}, None, RULES["default"], {})
    doc = {c["address"]: c for c in json.loads(arr)}
    assert doc["127.0.0.1"]["nts_ke"] == {"connections": 5, "drops": 1, "interval_s": 8, "last_seen_s": 12}
    assert doc["127.1.0.1"]["nts_ke"] == {"connections": 0, "drops": 0, "interval_s": None, "last_seen_s": None}
    assert doc["::1"]["nts_ke"] is None


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


def test_streamed_encoding_and_gzip_equal_one_shot(tmp_path):
    """Fed in arbitrary byte chunks (as chronyc prints), the encoder gives the
    same JSON, and the streamed .gz decompresses to exactly data.json."""
    import gzip

    from chrony_snap.writer import StreamingFile

    text = fixture("clients_1000_c_n.csv") + fixture("clients_c_n.csv")
    one_shot, summary1, prev1, _ = snapshot.encode_clients(text, None, {}, None, RULES["default"], {})
    data = text.encode()
    for size in (1, 7, 4096, 1 << 20):
        dest = StreamingFile(str(tmp_path / "data.json"), 1)
        dest.write(b'{"x":1,"clients":[')
        enc = snapshot.ClientEncoder(None, {}, None, RULES["default"], {}, None, dest.write)
        for i in range(0, len(data), size):
            enc.feed_bytes(data[i : i + size])
        summary, prev, problems = enc.finish()
        dest.write(b"]}")
        dest.commit()
        whole = (tmp_path / "data.json").read_bytes()
        assert json.loads(whole)["clients"] == json.loads(one_shot)
        assert gzip.decompress((tmp_path / "data.json.gz").read_bytes()) == whole
        assert (summary, prev, problems) == (summary1, prev1, [])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.json", "data.json.gz"]
