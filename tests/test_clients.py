"""The clients report (chrony_snap/clients.py): the one row check, the status
rule, rates and the JSON encoding, against output captured from a real
chronyd 4.3 and hostile rows."""

import json

import pytest

from chrony_snap import clients, config, parse
from helpers import FIX, validate


def fixture(name):
    return (FIX / name).read_text()


RULES = {name: config.validate({"status": {"preset": name}})["status"] for name in ("default", "legacy")}


def encode(text, nts=None, prev=None, dt=None, rule=RULES["default"], names=None, static=None):
    """`chronyc -c -n clients` text through the streaming encoder, as a tick
    runs it -> (client list, summary, new prev counters, problems)."""
    chunks = []
    enc = clients.ClientEncoder(nts, prev or {}, dt, rule, names or {}, static, chunks.append)
    enc.feed_bytes(text.encode())
    summary, new_prev, problems = enc.finish()
    return json.loads(b"[" + b"".join(chunks) + b"]"), summary, new_prev, problems


def snapshot_of(arr, summary):
    """A whole data.json around `arr`, for schema validation."""
    from chrony_snap import snapshot

    cfg = config.validate({})
    head = snapshot.head_bytes(seq=1, now_wall=1.7e9, host="h", cfg=cfg)
    tail = snapshot.tail_bytes(
        cfg=cfg,
        chrony={"reachable": True, "version": "4.3", "socket": None},
        reports={},
        summary=summary,
        errors=[],
        duration_ms=1.0,
        ss_rate=None,
    )
    return validate(json.loads(head + json.dumps(arr).encode()[1:-1] + tail))


def test_clients_rows_and_special_values():
    arr, summary, _, problems = encode(fixture("clients_c_n.csv"))
    assert problems == []
    by = {c["address"]: c for c in arr}
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
    burst = by["127.1.0.9"]["ntp"]
    assert (burst["packets"], burst["drops"], burst["interval_s"]) == (20, 10, 0.03125)
    assert parse.INTERVAL_JSON["127"] == "null" and json.loads(parse.INTERVAL_JSON["3"]) == 8
    assert by["127.2.0.1"]["ntp"]["last_seen_s"] is None
    assert by["127.2.0.1"]["cmd"]["last_seen_s"] == 21
    snapshot_of(arr, summary)


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
    # what int() accepts but chronyc never prints (issue 12 item 5): the encoder took these on main
    "127.1.2.1,-5,0,127,127,0,0,0,127,0",
    "127.1.2.2,+5,0,127,127,0,0,0,127,0",
    "127.1.2.3, 3,0,127,127,0,0,0,127,0",
    "127.1.2.4,1_000,0,127,127,0,0,0,127,0",
    "127.1.2.5,1,-1,127,127,0,0,0,127,0",
    "127.1.2.6,1,0,127,127,0,+1,0,127,1",
    "127.1.2.7,\u0663,0,127,127,0,0,0,127,0",
    "127.1.2.8," + "9" * 1000 + ",0,127,127,0,0,0,127,0",
    "127.1.2.9,1,0,127,127," + "9" * 30 + ",0,0,127,0",
    "1" * 46 + ",1,0,127,127,0,0,0,127,0",
    "::" + "a" * 60 + ",1,0,127,127,0,0,0,127,0",
    "127.1.3.1,1,0,127,127,0,5,0,3," + "1" * 25,
]


@pytest.mark.parametrize("line", GARBAGE)
def test_streamed_and_nts_parsers_reject_the_same_lines(line):
    """One row check: `clients` (streamed) and `clients -k` reject the same
    rows, keep the rest, and the snapshot stays schema-valid."""
    good = fixture("clients_c_n.csv")
    nts, problems = clients.parse_nts(good + line + "\n")
    arr, summary, _, eproblems = encode(good + line + "\n")
    assert len(nts) == len(arr) == 9
    assert problems == eproblems and len(problems) == 1
    snapshot_of(arr, summary)


def test_counters_are_reprinted_as_json_numbers():
    arr, summary, _, problems = encode("127.1.1.8,007,0,127,127,12,03,0,127,4294967295\n")
    (c,) = arr
    assert problems == [] and c["ntp"]["packets"] == 7 and c["ntp"]["last_seen_s"] == 12
    assert c["cmd"]["packets"] == 3 and summary["active_60s"] == 1


def test_largest_counters_and_rates_stay_valid():
    """Counters up to 19 digits are data; packing them for the next tick's
    rate must not lose or crash (issue 12 item 5)."""
    big = "9" * 19
    line = f"127.1.1.1,{big},{big},127,127,0,{big},{big},127,0\n"
    arr, summary, new_prev, problems = encode(line)
    assert problems == [] and arr[0]["ntp"]["drops"] == int(big)
    arr, summary, _, problems = encode(line, prev=new_prev or {"127.1.1.1": 5}, dt=1.0)
    assert problems == []
    snapshot_of(arr, summary)


def test_garbage_prev_state_gives_no_rate():
    prev = {"127.1.0.9": "x", "::1": -(1 << 4000), "127.0.0.1": 1 << 4000, "127.1.0.1": None}
    arr, summary, _, problems = encode(fixture("clients_c_n.csv"), prev=prev, dt=1.0)
    by = {c["address"]: c for c in arr}
    assert problems == [] and all(by[a]["rate"]["ntp_pps"] is None for a in prev)
    snapshot_of(arr, summary)


def test_endless_bad_output_is_counted_not_kept():
    enc = clients.ClientEncoder(None, {}, None, RULES["default"], {}, None, lambda b: None)
    for _ in range(2000):
        enc.feed_bytes(b"y\n" * 1000)
    enc.feed_bytes(b"x" * 100000)  # a line without end
    _, _, problems = enc.finish()
    assert enc.rejects.bad == 2_000_001 and "2000001 unparsable" in problems[0]
    assert len(enc.rejects.first_bad) <= 200


def test_clients_garbage_lines_keep_good_rows():
    text = fixture("clients_c_n.csv")
    mixed = (
        "garbage\n" + text + "1.2.3.4,x,0,0,0,0,0,0,0,0\n<script>,1,0,127,127,0,0,0,127,0\n"
        "127.9.9.9,1,0,99,127,0,0,0,127,0\n"
    )
    arr, _, _, problems = encode(mixed)
    assert len(arr) == 9
    assert len(problems) == 1 and "4 unparsable" in problems[0] and "garbage" in problems[0]


def test_status_reply_is_no_row_and_no_garbage():
    enc = clients.ClientEncoder(None, {}, None, RULES["default"], {}, None, lambda b: None)
    enc.feed(fixture("err_noclientlog.stdout"))
    assert enc.finish()[2] == [] and enc.n == 0
    assert enc.status_lines == ["519 Client logging is not active in the daemon"]
    assert clients.parse_nts(fixture("err_noclientlog.stdout")) == ({}, [])


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
    assert clients.classify(packets, drops, RULES["default"]) == default
    assert clients.classify(packets, drops, RULES["legacy"]) == legacy


def test_encoder_status_equals_classify():
    rows = [
        [f"127.0.{p}.{d}", str(p), str(d), "127", "127", "0", "0", "0", "127", "0"]
        for p in range(0, 40, 3)
        for d in range(0, p + 1, 2)
    ]
    text = "".join(",".join(r) + "\n" for r in rows)
    for rule in RULES.values():
        arr, summary, _, _ = encode(text, rule=rule)
        for row, client in zip(rows, arr, strict=True):
            assert client["status"] == clients.classify(int(row[1]), int(row[2]), rule)
        assert summary["ok"] + summary["warning"] + summary["critical"] == len(rows)


def test_bench_synth_uses_the_status_rule():
    import synth

    assert synth.classify is clients.classify


def test_encode_clients_fields_and_rates():
    prev = {"127.1.0.9": 10 << 40 | 2, "::1": 3 << 40, "127.0.0.1": 99 << 40}
    names = {"127.1.0.1": ("host-a.example", 9e18)}
    arr, summary, new_prev, problems = encode(
        fixture("clients_c_n.csv"), None, prev, 2.0, RULES["default"], names, {"127.1.0.2": 'static "name"'}
    )
    doc = {c["address"]: c for c in arr}
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
    arr, summary, _, _ = encode(fixture("clients_c_n.csv"))
    assert all(c["rate"] == {"ntp_pps": None, "drop_pps": None} for c in arr)
    assert summary["ntp_pps"] is None


def test_nts_ke_columns():
    nts, problems = clients.parse_nts(fixture("clients_c_n_k.csv"))
    assert problems == []
    nts["127.0.0.1"] = (5, 1, "8", "12")
    del nts["::1"]
    arr, _, _, _ = encode(fixture("clients_c_n.csv"), nts)
    doc = {c["address"]: c for c in arr}
    assert doc["127.0.0.1"]["nts_ke"] == {"connections": 5, "drops": 1, "interval_s": 8, "last_seen_s": 12}
    assert doc["127.1.0.1"]["nts_ke"] == {"connections": 0, "drops": 0, "interval_s": None, "last_seen_s": None}
    assert doc["::1"]["nts_ke"] is None


def test_nts_parse_reads_the_nts_columns():
    line = "127.3.0.1,1,0,127,127,5,7,2,4,12\n"
    nts, problems = clients.parse_nts(line)
    assert problems == [] and nts == {"127.3.0.1": (7, 2, "16", "12")}


def test_streamed_encoding_and_gzip_equal_one_shot(tmp_path):
    """Fed in arbitrary byte chunks (as chronyc prints), the encoder gives the
    same JSON, and the streamed .gz decompresses to exactly data.json."""
    import gzip

    from chrony_snap.writer import StreamingFile

    text = fixture("clients_1000_c_n.csv") + fixture("clients_c_n.csv")
    one_shot, summary1, prev1, _ = encode(text)
    data = text.encode()
    for size in (1, 7, 4096, 1 << 20):
        dest = StreamingFile(str(tmp_path / "data.json"), 1)
        dest.write(b'{"x":1,"clients":[')
        enc = clients.ClientEncoder(None, {}, None, RULES["default"], {}, None, dest.write)
        for i in range(0, len(data), size):
            enc.feed_bytes(data[i : i + size])
        summary, prev, problems = enc.finish()
        dest.write(b"]}")
        dest.commit()
        whole = (tmp_path / "data.json").read_bytes()
        assert json.loads(whole)["clients"] == one_shot
        assert gzip.decompress((tmp_path / "data.json.gz").read_bytes()) == whole
        assert (summary, prev, problems) == (summary1, prev1, [])


HOSTILE_FIELDS = [
    "",
    " ",
    "-1",
    "+1",
    " 1",
    "1 ",
    "1_0",
    "\u0663",
    "\u00b2",
    "\uff11",
    "0x1",
    "1e3",
    "1.5",
    "nan",
    "inf",
    "9" * 19,
    "9" * 20,
    "9" * 4000,
    "18446744073709551616",
    "4294967295",
    "127",
    "-32",
    "31",
    "32",
    "-33",
    "0",
    "00",
    "007",
    "\t",
    "a" * 46,
    "::",
    "::ffff:1.2.3.4",
    '"',
    "\\",
    "<b>",
    "\x00",
    "\u202e",
    ",",
]


def _mutate(rnd, row):
    cols = row.split(",")
    for _ in range(rnd.randint(1, 3)):
        what = rnd.random()
        if what < 0.7:
            cols[rnd.randrange(len(cols))] = rnd.choice(HOSTILE_FIELDS)
        elif what < 0.8:
            cols.insert(rnd.randrange(len(cols) + 1), rnd.choice(HOSTILE_FIELDS))
        elif what < 0.9 and len(cols) > 1:
            del cols[rnd.randrange(len(cols))]
        else:
            i = rnd.randrange(len(cols))
            cols[i] = cols[i] + chr(rnd.randrange(0x20, 0x3000))
    return ",".join(cols)


@pytest.mark.parametrize("seed", range(8))
def test_fuzzed_rows_never_raise_and_stay_schema_valid(seed):
    """Property: whatever rows chronyc prints, the encoder and the NTS parser
    do not raise, valid rows are kept, and the snapshot validates (two ticks,
    so the second reads the first one's counters back)."""
    import random

    rnd = random.Random(seed)
    base = (fixture("clients_c_n.csv") + fixture("clients_c_n_k.csv")).splitlines()
    lines = [_mutate(rnd, rnd.choice(base)) if rnd.random() < 0.8 else rnd.choice(base) for _ in range(400)]
    text = "\n".join(lines) + "\n"
    nts, _ = clients.parse_nts(text)
    prev = {}
    for dt in (None, 1.0):
        arr, summary, prev, problems = encode(text, nts, prev, dt, static={"::1": "static"})
        assert summary["clients"] == len(arr) and len(arr) >= sum(line in base for line in lines)
        snapshot_of(arr, summary)
