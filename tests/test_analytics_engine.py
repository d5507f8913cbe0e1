"""Issue 10's engine side of the client analytics: `first_seen` per client
(firstseen.bin: kept across ticks, pruned with the clients chronyd forgets,
survives a restart and an upgrade, a corrupt file set aside) and chronyd's
client-log capacity (`client_log`, "N of M records" from chrony.conf's
clientloglimit or the config; the verdict's client_log_full at capacity).
On main there is no first_seen, no client_log and no capacity rule: every
test here fails there."""

import marshal
import time

import pytest

from chrony_snap import clientlog, firstseen, health, snapshot, state as S
from helpers import EVERY_TICK, read_snapshot, validate, write_config

OLD = "2020-01-02T03:04:05Z"
FIXTURE_CLIENTS = 9  # tests/fixtures/chrony/clients_c_n.csv


def build(tmp_path, fake, cfg_text="", **kw):
    if "conf =" not in cfg_text:
        cfg_text = 'conf = ""\n' + cfg_text  # never this machine's chrony.conf
    cfg_text = "[chrony]\nreports_deadline_s = 10\nclients_deadline_s = 10\n" + cfg_text
    cfg_text = EVERY_TICK + cfg_text
    return fake.build(tmp_path, write_config(tmp_path / "c.toml", cfg_text), **kw)


def seen_file(tmp_path):
    return tmp_path / "st" / firstseen.NAME


def first_seen_of(tmp_path):
    return {c["address"]: c.get("first_seen") for c in validate(read_snapshot(tmp_path / "www"))["clients"]}


def seed(tmp_path, seen, version=1):
    """A version 1 file (as the first release wrote it): read by every later one."""
    (tmp_path / "st").mkdir(mode=0o700, exist_ok=True)
    members = {a: firstseen.member(t) for a, t in seen.items()}
    seen_file(tmp_path).write_bytes(marshal.dumps((firstseen.TAG, version, members)))


def kept(tmp_path):
    return {a: firstseen.time_of(m) for a, m in firstseen.load(str(tmp_path / "st"), pytest.fail)[0].items()}


def test_first_seen_kept_across_ticks_and_pruned(tmp_path, fake):
    seed(tmp_path, {"127.1.0.1": OLD, "192.0.2.99": OLD})  # the second one chronyd forgot
    before = time.time()
    build(tmp_path, fake)
    got = first_seen_of(tmp_path)
    assert got["127.1.0.1"] == OLD
    new = {a: v for a, v in got.items() if a != "127.1.0.1"}
    assert len(new) == FIXTURE_CLIENTS - 1 and len(set(new.values())) == 1
    t = time.mktime(time.strptime(next(iter(new.values())), "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert int(before) - 1 <= t <= time.time() + 1
    assert kept(tmp_path) == got  # 192.0.2.99 pruned, nothing else
    build(tmp_path, fake)  # a restart: another process
    assert first_seen_of(tmp_path) == got


def test_failed_client_list_forgets_nobody(tmp_path, fake):
    seed(tmp_path, {"127.1.0.1": OLD})
    fake.set("clients", stdout="", stderr="506 Cannot talk to daemon\n", rc=1)
    build(tmp_path, fake, check=False)
    assert kept(tmp_path) == {"127.1.0.1": OLD}


def test_first_seen_survives_an_upgrade_of_the_other_state_files(tmp_path, fake):
    seed(tmp_path, {"127.1.0.1": OLD})
    (tmp_path / "st" / "prev.bin").write_bytes(marshal.dumps((S.FORMAT + 1, {})))
    r = build(tmp_path, fake)
    assert "prev.bin" in r.stderr  # that one starts fresh ...
    assert first_seen_of(tmp_path)["127.1.0.1"] == OLD  # ... this one is kept


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00garbage",
        marshal.dumps((firstseen.TAG, 1, {"127.1.0.1": ',"first_seen":"x","hostname":"<b>"'})),
        marshal.dumps((firstseen.TAG, 1, {"127.1.0.1": OLD})),
        marshal.dumps((firstseen.TAG, firstseen.VERSION + 1, {})),
        marshal.dumps(("other", 1, {})),
    ],
    ids=["unreadable", "bad-value", "bare-time", "newer", "foreign"],
)
def test_corrupt_first_seen_set_aside(tmp_path, fake, raw):
    (tmp_path / "st").mkdir(mode=0o700)
    seen_file(tmp_path).write_bytes(raw)
    r = build(tmp_path, fake)
    assert "set aside" in r.stderr and firstseen.NAME in r.stderr
    assert (tmp_path / "st" / (firstseen.NAME + ".corrupt")).read_bytes() == raw
    got = first_seen_of(tmp_path)
    assert all(firstseen.valid_time(v) for v in got.values()) and OLD not in got.values()


def test_no_state_dir_no_first_seen(tmp_path, fake):
    st = tmp_path / "open"
    st.mkdir(mode=0o777)
    st.chmod(0o777)  # others may write: not used
    build(tmp_path, fake, state=st)
    assert all(v is None for v in first_seen_of(tmp_path).values())


def test_valid_time_is_strict():
    assert firstseen.valid_time(snapshot.rfc3339(1_790_000_000.7, ms=False))
    assert snapshot.rfc3339(1_790_000_000.7, ms=False) == "2026-09-21T14:13:20Z"
    assert snapshot.rfc3339(1_790_000_000.7) == "2026-09-21T14:13:20.700Z"
    for bad in (
        "2026-09-21T14:13:20",
        "2026-09-21 14:13:20Z",
        "2026-09-21T14:13:2xZ",
        5,
        None,
        "２026-09-21T14:13:20Z",
    ):
        assert not firstseen.valid_time(bad)


# --- chronyd's client-log capacity


@pytest.mark.parametrize(
    "text, limit",
    [
        ("", clientlog.DEFAULT_LIMIT),
        ("server a iburst\nclientloglimit 1048576\n", 1048576),
        ("clientloglimit 1024\n# clientloglimit 99\nClientLogLimit 2048\n", 2048),
        ("! clientloglimit 5\n", clientlog.DEFAULT_LIMIT),
        ("clientloglimit many\n", clientlog.DEFAULT_LIMIT),
        ("noclientlog\n", None),
    ],
)
def test_parse_conf(text, limit):
    assert clientlog.parse_conf(text) == limit


def test_records_as_chrony_documents_them():
    assert clientlog.records(524288) == 4096  # chrony.conf(5)'s default
    assert clientlog.records(1048576) == 8192
    assert clientlog.records(1000000) == 4096  # a power of 2
    assert clientlog.records(1) == 1


def test_capacity_from_conf_and_full(tmp_path, fake):
    conf = tmp_path / "chrony.conf"
    conf.write_text("clientloglimit 1024\n")  # 8 records; the fixture lists 9 clients
    build(tmp_path, fake, f'conf = "{conf}"\n')
    doc = validate(read_snapshot(tmp_path / "www"))
    assert doc["client_log"] == {"records": FIXTURE_CLIENTS, "capacity": 8, "source": "chrony.conf", "full": True}
    reasons = [r for r in doc["health"]["reasons"] if r["code"] == "client_log_full"]
    assert reasons and reasons[0]["value"] == FIXTURE_CLIENTS and reasons[0]["threshold"] == 8
    assert "9 of 8 records" in reasons[0]["message"] and doc["health"]["status"] != "ok"
    conf.write_text("clientloglimit 1048576\n")  # changed: read again
    build(tmp_path, fake, f'conf = "{conf}"\n')
    doc = read_snapshot(tmp_path / "www")
    assert doc["client_log"]["capacity"] == 8192 and not doc["client_log"]["full"]
    assert not any(r["code"] == "client_log_full" for r in doc["health"]["reasons"])


def test_capacity_from_config_key_or_unknown(tmp_path, fake):
    build(tmp_path, fake, f'conf = "{tmp_path}/missing.conf"\n')
    assert read_snapshot(tmp_path / "www")["client_log"] == {
        "records": FIXTURE_CLIENTS, "capacity": None, "source": None, "full": False}  # fmt: skip
    build(tmp_path, fake, f'conf = "{tmp_path}/missing.conf"\nclient_log_capacity = 9\n')
    assert read_snapshot(tmp_path / "www")["client_log"]["full"] is True


def test_conf_read_only_when_it_changed(tmp_path):
    conf = tmp_path / "chrony.conf"
    conf.write_text("clientloglimit 1024\n")
    ch = {"conf": str(conf), "client_log_capacity": 0}
    m, source, _, cache = clientlog.capacity(ch, None)
    assert (m, source) == (8, "chrony.conf")
    cache["capacity"] = 77  # what a re-read would not give: proves the file is not read again
    assert clientlog.capacity(ch, cache)[0] == 77
    conf.write_text("clientloglimit 2048\n")
    assert clientlog.capacity(ch, cache)[0] == 16


def test_verdict_client_log_full_at_capacity():
    th = {"offset_degraded_s": 0.05, "offset_critical_s": 0.5, "max_error_degraded_s": 0.1,
          "ntp_drop_share_degraded": 0.1, "ntp_drop_min_pps": 1.0}  # fmt: skip
    kw = dict(reachable=True, tracking=None, sources=None, serverstats={}, serverstats_rate=None, thresholds=th)
    full = clientlog.summary(4096, 4096, "chrony.conf")
    codes = [r["code"] for r in health.verdict(**kw, client_log=full)["reasons"]]
    assert codes.count("client_log_full") == 1
    assert "client_log_full" not in [
        r["code"] for r in health.verdict(**kw, client_log=clientlog.summary(4095, 4096, "config"))["reasons"]
    ]
    # the rate rule already said it: once
    rate = {"client_log_records_dropped": 3.0}
    v = health.verdict(**{**kw, "serverstats_rate": rate}, client_log=full)
    assert [r["code"] for r in v["reasons"]].count("client_log_full") == 1


def test_first_seen_file_rewritten_only_when_it_changed(tmp_path, fake):
    build(tmp_path, fake)
    before = seen_file(tmp_path).stat().st_ino
    build(tmp_path, fake)  # the same clients: nothing to write
    assert seen_file(tmp_path).stat().st_ino == before
    fake.set(
        "clients",
        stdout=(tmp_path / "fake" / "clients.stdout").read_text() + "127.9.9.9,1,0,0,0,0,0,0,127,4294967295\n",
    )
    build(tmp_path, fake)  # a newcomer: written (atomically: a new inode)
    assert seen_file(tmp_path).stat().st_ino != before
    assert "127.9.9.9" in kept(tmp_path)


@pytest.mark.parametrize(
    "text, key",
    [
        ("[page]\nipv4_prefix = 0\n", "page.ipv4_prefix"),
        ("[page]\nipv6_prefix = 129\n", "page.ipv6_prefix"),
        ('[page]\nipv4_prefix = "24"\n', "page.ipv4_prefix"),
        ("[chrony]\nclient_log_capacity = -1\n", "chrony.client_log_capacity"),
        ("[chrony]\nconf = 5\n", "chrony.conf"),
    ],
)
def test_bad_new_keys_exit_2_naming_them(tmp_path, fake, text, key):
    r = fake.build(tmp_path, write_config(tmp_path / "c.toml", text), check=False)
    assert r.returncode == 2 and key in r.stderr
