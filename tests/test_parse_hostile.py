"""Numbers Python's int()/float() accept but chronyc never prints (issue 12,
item 5), for the five non-client reports.

Each case below broke `main`: a traceback (no snapshot at all), a value that
fails the shipped JSON Schema, or a value chronyc cannot print published as
data.  Now the row becomes an `unparsable` problem and the rest is kept.
"""

import json

import jsonschema
import pytest

from chrony_snap import fields as F, parse
from chrony_snap.jsonenc import dumps
from chrony_snap.schema import load as load_schema
from helpers import FIX, read_snapshot, write_config

SCHEMA = load_schema()
REPORTS = ("tracking", "sources", "sourcestats", "serverstats", "activity")
PARSERS = {name: getattr(parse, f"parse_{name}") for name in REPORTS}
GOOD = {name: (FIX / f"{name}_c.csv").read_text().splitlines()[0] for name in PARSERS}
GOOD["serverstats"] = "42,10,69,31,0,3,0,189,43,44,120,0,330,330,0,7,8"  # chrony 4.4+: 17 columns
COLUMNS = {
    "tracking": F.TRACKING,
    "sources": F.SOURCES,
    "sourcestats": F.SOURCESTATS,
    "serverstats": F.SERVERSTATS,
    "activity": F.ACTIVITY,
}


def published(report, value):
    """`value` as it lands in data.json, checked against the schema's part for `report`."""
    doc = json.loads(dumps(value))
    jsonschema.Draft202012Validator(SCHEMA["properties"][report]).validate(doc)
    return doc


def with_field(report, field, text):
    cols = GOOD[report].split(",")
    cols[COLUMNS[report].index(field)] = text
    return ",".join(cols)


HOSTILE = [
    # (report, field, text): each parsed to something on main
    ("tracking", "stratum", "١١"),  # Arabic-Indic digits
    ("tracking", "stratum", "99"),  # schema: 0..16
    ("tracking", "reference_id", "XYZ"),  # schema: 8 hex digits
    ("tracking", "reference_id", "7f000001"),  # chronyc prints %08X
    ("tracking", "ref_time", "1e999"),  # inf -> null in data.json
    ("tracking", "ref_time", "1" * 400),  # finite for int(), inf for float()
    ("tracking", "system_time_s", "+0.000001419"),  # no "+" in -c output
    ("tracking", "frequency_ppm", "1_000.5"),
    ("tracking", "skew_ppm", " 0.030"),
    ("tracking", "root_delay_s", "1.5e-3"),  # "%.9f", never an exponent
    ("tracking", "update_interval_s", "\u0662.0"),  # float() takes Unicode digits too
    ("tracking", "leap_status", "<b>Normal</b>"),
    ("tracking", "reference_address", "evil.example.com"),  # -n: no host names
    ("sources", "poll_log2", "20000"),  # 2**20000: a traceback when encoded
    ("sources", "poll_log2", "99"),
    ("sources", "stratum", "70000"),
    ("sources", "reach", "400"),  # 8-bit register: at most 377
    ("sources", "reach", "-1"),
    ("sources", "reach", "0o17"),
    ("sources", "last_rx_s", "-5"),  # schema: minimum 0
    ("sources", "last_rx_s", "٣"),
    ("sources", "offset_s", "-1e308"),
    ("sources", "address", "1" * 5000),
    ("sourcestats", "samples", "-1"),  # schema: minimum 0
    ("sourcestats", "span_s", "\u0661\u0660"),
    ("sourcestats", "std_dev_s", "\u0660.\u0661"),
    ("sourcestats", "address", "a" * 46),  # longer than any IP address
    ("serverstats", "ntp_packets_received", "9" * 5000),  # int(): a traceback
    ("serverstats", "ntp_packets_dropped", "٣"),
    ("serverstats", "ntp_packets_received", str(2**64)),  # %Q is a uint64_t
    ("activity", "online", "²"),  # isdigit() but int() raises: a traceback
    ("activity", "offline", "٣"),
    ("activity", "unresolved", str(2**32)),  # %U is a uint32_t
]


@pytest.mark.parametrize("report,field,text", HOSTILE, ids=[f"{r}-{f}-{t[:12]!r}" for r, f, t in HOSTILE])
def test_hostile_field_is_unparsable_and_good_rows_kept(report, field, text):
    bad = with_field(report, field, text)
    value, problems = PARSERS[report](bad + "\n" + GOOD[report] + "\n")
    assert len(problems) == 1 and problems[0].startswith(f"{report}: unexpected line"), problems
    assert field in problems[0]
    good, no_problems = PARSERS[report](GOOD[report] + "\n")
    assert no_problems == [] and value == good  # the good row still counts
    published(report, value)


def test_sources_refclock_refid_is_an_address():
    line = "#,*,PPS,0,4,377,12,-0.000000120,-0.000000130,0.000000200"
    src, problems = parse.parse_sources(line + "\n")
    assert problems == [] and src[0]["address"] == "PPS" and src[0]["mode"] == "refclock"
    published("sources", src)


@pytest.mark.parametrize("poll", [-7, -6, 0, 24])
def test_poll_range_edges_kept(poll):
    src, problems = parse.parse_sources(with_field("sources", "poll_log2", str(poll)) + "\n")
    assert problems == [] and src[0]["poll_log2"] == poll
    published("sources", src)


def test_largest_values_chronyc_prints_are_kept():
    ss, problems = parse.parse_serverstats(",".join([str(2**64 - 1)] * 17) + "\n")
    assert problems == [] and ss["ntp_packets_received"] == 2**64 - 1
    act, problems = parse.parse_activity(",".join([str(2**32 - 1)] * 5) + "\n")
    assert problems == [] and act["online"] == 2**32 - 1
    t, problems = parse.parse_tracking(with_field("tracking", "leap_status", "Not synchronised") + "\n")
    assert problems == [] and t["leap_status"] == "Not synchronised"


def test_status_line_needs_ascii_digits():
    # "5٣٣ ..." was taken for a chronyc status reply and silently dropped
    value, problems = parse.parse_activity("5\u0663\u0663 Odd\n")
    assert value is None and len(problems) == 1


def _build(tmp_path, fake):
    cfg = write_config(tmp_path / "c.toml", "[chrony]\nreports_deadline_s = 10\nclients_deadline_s = 10\n")
    return fake.build(tmp_path, cfg, check=False)


def test_huge_poll_keeps_the_tick(tmp_path, fake):
    """On main, 2**20000 reached the JSON encoder: a traceback and no snapshot."""
    fake.set("sources", stdout=with_field("sources", "poll_log2", "20000") + "\n")
    r = _build(tmp_path, fake)
    assert r.returncode == 0, r.stderr
    doc = read_snapshot(tmp_path / "www")
    assert doc["sources"] == [] and doc["summary"]["clients"] == 9
    assert [(e["report"], e["code"]) for e in doc["errors"]] == [("sources", "unparsable")]


def test_counter_too_large_for_a_float_keeps_the_second_tick(tmp_path, fake):
    """On main, a 400-digit counter passed the first tick and crashed the
    second one in the rate math (int / float overflow)."""
    fake.set("serverstats", stdout="9" * 400 + ",10,69,31,0,0,0,0,0,0,0\n")
    for _ in range(2):
        r = _build(tmp_path, fake)
        assert r.returncode == 0, r.stderr
        doc = read_snapshot(tmp_path / "www")
        assert doc["serverstats"] is None and doc["serverstats_rate"] is None
        assert doc["tracking"]["stratum"] == 11
        assert [(e["report"], e["code"]) for e in doc["errors"]] == [("serverstats", "unparsable")]
