"""The client list within a CPU budget (issue 11), against a real chronyd.

A small budget (0.001 of a core) makes even the `crowd` fixture's 1,500 clients too dear to
collect every second, so the cadence kicks in: health and the cheap reports
stay 1 Hz, clients_seq advances only at the cadence, data.json (and .gz, and
live.json) is complete and valid on every tick, the kept list is spliced in
byte for byte, per-client rates are over the real interval.  Also: idle
(the poll log's mtime), a chronyd restart between collections, a missing pid
file, a tampered kept list, a budget of 0.  On `main` none of this exists:
no clients_* keys, no data.json.d/ (every test here fails there).
"""

import gzip
import json
import os
import shutil
import time
import zlib

import pytest

from chrony_snap import writer as W
from chrony_snap.harness.sandbox import ntp_clients, populate
from helpers import cli, run_build, short_dir, validate, write_config

MAX_INTERVAL = 4


def budget_config(path, sb, *, budget=0.001, pid_file=None, poll_log=None, extra=""):
    pid = sb.pid_path if pid_file is None else pid_file
    log = poll_log or os.path.join(os.path.dirname(path), "no-poll-log")
    return write_config(
        path,
        f"[dns]\nenabled = false\n[clients]\ncpu_budget = {budget}\nmax_interval_s = {MAX_INTERVAL}\n"
        f'pid_file = "{pid}"\npoll_log = "{log}"\n{extra}',
    )


class Ticks:
    def __init__(self, tmp_path, sb, cfg):
        self.out, self.state, self.sb, self.cfg = tmp_path / "www", tmp_path / "st", sb, cfg

    def tick(self):
        r = run_build(self.out, socket=self.sb.socket, state=self.state, config=self.cfg)
        return checked(self.out), r.stderr


def checked(out):
    """data.json valid and whole; its .gz, live.json and clients-SEQ.json(.gz) agree with it."""
    raw = (out / "data.json").read_bytes()
    doc = validate(json.loads(raw))
    assert gzip.decompress((out / "data.json.gz").read_bytes()) == raw
    live = json.loads((out / "data.json.d" / "live.json").read_bytes())
    assert live == {k: v for k, v in doc.items() if k != "clients"}
    part = out / "data.json.d" / f"clients-{doc['clients_seq']}.json.gz"
    assert json.loads(gzip.decompress(part.read_bytes())) == doc["clients"]
    assert len(doc["clients"]) == doc["summary"]["clients"]
    return doc


def age_s(doc):
    def t(s):
        return time.mktime(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")) + int(s[20:23]) / 1000

    return t(doc["generated_at"]) - t(doc["clients_collected_at"])


def test_cadence_health_1hz_list_at_budget_rates_over_real_interval(tmp_path, crowd):
    t = Ticks(tmp_path, crowd, budget_config(tmp_path / "c.toml", crowd))
    watched = "127.10.0.1"
    docs = []
    for i in range(12):
        doc, _ = t.tick()
        docs.append(doc)
        assert doc["tracking"] is not None and doc["health"]["status"] in ("ok", "degraded", "critical")
        assert doc["serverstats"] is not None
        if i:
            assert doc["seq"] == docs[-2]["seq"] + 1
            assert doc["serverstats_rate"] is not None  # per second, every tick
        assert doc["clients_seq"] <= doc["seq"]
        assert age_s(doc) <= MAX_INTERVAL + 1.5  # never older than the longest interval (+ a tick)
        ntp_clients(crowd.ntp_port, [watched], per_addr=1)  # traffic between collections
        time.sleep(0.6)
    seqs = [d["clients_seq"] for d in docs]
    collections = sorted(set(seqs))
    assert 3 <= len(collections) < len(docs), seqs  # the cadence: not every tick, but it moves
    assert all(d["clients_cadence"]["reason"] == "budget" for d in docs[1:])
    assert all(d["clients_cadence"]["interval_s"] == MAX_INTERVAL for d in docs[1:])
    # a tick that reuses the list names the collection that made it, byte for byte
    for d in docs:
        first = next(x for x in docs if x["seq"] == d["clients_seq"])
        assert d["clients"] == first["clients"] and d["summary"] == first["summary"]
    # per-client rates: over the real interval between two collections
    coll = [next(x for x in docs if x["seq"] == s) for s in collections]
    checked_rates = 0
    for a, b in zip(coll[1:], coll[2:], strict=False):
        ca = next(c for c in a["clients"] if c["address"] == watched)
        cb = next(c for c in b["clients"] if c["address"] == watched)
        dt = age_s({"generated_at": b["clients_collected_at"], "clients_collected_at": a["clients_collected_at"]})
        assert dt > 1.5
        delta = cb["ntp"]["packets"] - ca["ntp"]["packets"]
        assert delta > 0
        assert cb["rate"]["ntp_pps"] == pytest.approx(delta / dt, rel=0.03)
        checked_rates += 1
    assert checked_rates
    lists = sorted(p.name for p in (t.out / "data.json.d").iterdir() if p.name.startswith("clients-"))
    assert 1 <= len(lists) <= 3 and all(n.endswith(".json.gz") for n in lists), lists


def test_idle_poll_log_longest_interval_then_back(tmp_path, crowd):
    log = tmp_path / "poll.log"
    log.write_text("")
    os.utime(log, (time.time() - 1000, time.time() - 1000))
    cfg = budget_config(tmp_path / "c.toml", crowd, budget=0.5, poll_log=str(log))
    t = Ticks(tmp_path, crowd, cfg)
    first, _ = t.tick()
    second, _ = t.tick()
    assert second["clients_cadence"] == {
        "interval_s": MAX_INTERVAL,
        "reason": "idle",
        "cpu_budget": 0.5,
        "max_interval_s": MAX_INTERVAL,
    }
    assert second["clients_seq"] == first["seq"]  # not collected again while nobody watches
    log.write_text("GET /data.json.d/live.json\n")  # a viewer came back
    time.sleep(1.1)
    third, _ = t.tick()
    assert third["clients_cadence"]["reason"] == "every tick"
    assert third["clients_seq"] == third["seq"]


def test_gzip_off_reuses_the_list_from_data_json(tmp_path, crowd):
    """No .gz anywhere: the kept list is copied from the previous data.json;
    no list file (the page reads data.json when clients_seq changes)."""
    cfg = budget_config(tmp_path / "c.toml", crowd, extra="[output]\ngzip = false\n")
    t = Ticks(tmp_path, crowd, cfg)
    out = tmp_path / "www"
    docs = []
    for _ in range(3):
        run_build(out, socket=crowd.socket, state=t.state, config=cfg)
        docs.append(validate(json.loads((out / "data.json").read_bytes())))
    assert docs[2]["clients_seq"] == docs[0]["seq"] and docs[2]["clients"] == docs[0]["clients"]
    assert not (out / "data.json.gz").exists()
    assert not [p for p in (out / "data.json.d").iterdir() if p.name.startswith("clients-")]


def test_missing_marker_counts_as_watched(tmp_path, crowd):
    cfg = budget_config(tmp_path / "c.toml", crowd, budget=0.5, poll_log=str(tmp_path / "absent" / "poll.log"))
    t = Ticks(tmp_path, crowd, cfg)
    t.tick()
    doc, _ = t.tick()
    assert doc["clients_cadence"]["reason"] == "every tick"


def test_chronyd_restart_between_collections_forces_a_collection(tmp_path, crowd):
    t = Ticks(tmp_path, crowd, budget_config(tmp_path / "c.toml", crowd))
    t.tick()
    kept, _ = t.tick()
    assert kept["clients_seq"] < kept["seq"]  # reusing
    crowd.stop()
    crowd.start()
    ntp_clients(crowd.ntp_port, ["127.10.0.1"], per_addr=1)
    seen, _ = t.tick()  # counters went back (or chronyd did not answer): noted
    after, _ = t.tick()
    assert seen["clients_seq"] == seen["seq"] or after["clients_seq"] == after["seq"]
    assert after["summary"]["clients"] < kept["summary"]["clients"]  # the restarted chronyd's list, not the kept one
    populate(crowd, clients=kept["summary"]["clients"], limited=5, cmd=2)  # a crowd again for the next tests


def test_pid_file_missing_estimates_and_says_so_once(tmp_path, crowd):
    cfg = budget_config(tmp_path / "c.toml", crowd, budget=0.9, pid_file=str(tmp_path / "none.pid"))
    t = Ticks(tmp_path, crowd, cfg)
    logs = [t.tick()[1] for _ in range(3)]
    said = [log for log in logs if "estimating its share" in log]
    assert len(said) == 1 and str(tmp_path / "none.pid") in said[0]


def test_tampered_kept_list_is_collected_again(tmp_path, crowd):
    t = Ticks(tmp_path, crowd, budget_config(tmp_path / "c.toml", crowd))
    first, _ = t.tick()
    part = t.out / "data.json.d" / f"clients-{first['seq']}.json.gz"
    part.write_bytes(gzip.compress(b"[]"))
    doc, err = t.tick()
    assert doc["clients_seq"] == doc["seq"] and len(doc["clients"]) >= len(first["clients"])
    assert "collecting it again" in err


@pytest.mark.parametrize("plant", ["fifo", "symlink"])
def test_kept_list_replaced_by_a_fifo_or_symlink_is_collected_again(tmp_path, crowd, plant):
    """Whoever may write the web root cannot make a reusing tick hang on a
    FIFO (the kept list's files are opened O_NONBLOCK) or read through a
    symlink: the tick collects the list again."""
    t = Ticks(tmp_path, crowd, budget_config(tmp_path / "c.toml", crowd))
    first, _ = t.tick()
    part = t.out / "data.json.d" / f"clients-{first['seq']}.json.gz"
    saved = tmp_path / "saved.gz"
    part.rename(saved)
    if plant == "fifo":
        os.mkfifo(part)
    else:
        part.symlink_to(saved)
    r = run_build(t.out, socket=crowd.socket, state=t.state, config=t.cfg, timeout=20)
    assert "collecting it again" in r.stderr
    doc = validate(json.loads((t.out / "data.json").read_bytes()))
    assert doc["clients_seq"] == doc["seq"] and len(doc["clients"]) >= len(first["clients"])


@pytest.mark.parametrize("budget", ["0", "-0.5"])
def test_budget_zero_or_negative_is_a_config_error(tmp_path, budget):
    cfg = write_config(tmp_path / "c.toml", f"[clients]\ncpu_budget = {budget}\n")
    r = cli("build", "--out", str(tmp_path / "www"), "--state", str(tmp_path / "st"), "--config", str(cfg), check=False)
    assert r.returncode == 2 and "clients.cpu_budget" in r.stderr
    assert not (tmp_path / "www" / "data.json").exists()


def test_splice_gzip_segment_and_crc():
    """The kept list's deflate segment spliced between another head and tail
    is a valid single-member gzip of the whole (CRC-32 combined, not recomputed)."""
    a, b = os.urandom(3000) + b"a" * 9000, b'{"x":1},' * 5000
    assert W._gf2_times(W.shift_operator(len(b)), zlib.crc32(a)) ^ zlib.crc32(b) == zlib.crc32(a + b)
    d = short_dir()
    try:
        f = W.StreamingFile(str(d / "one.json"), 1)
        f.write(b"HEAD")
        f.begin_segment()
        f.write(b)
        seg = f.end_segment()
        f.write(b"TAIL")
        f.commit()
        assert gzip.decompress((d / "one.json.gz").read_bytes()) == b"HEAD" + b + b"TAIL"
        assert gzip.decompress(seg.gzip()) == b
        assert seg.crc == zlib.crc32(b) and seg.size == len(b)
        (d / "raw").write_bytes(b)
        (d / "seg.gz").write_bytes(seg.gzip())
        fd, gz = os.open(d / "raw", os.O_RDONLY), os.open(d / "seg.gz", os.O_RDONLY)
        try:
            back = W.Segment.in_gzip_file(gz, len(b))  # no shift kept: computed on splice
            assert back.crc == seg.crc and back.deflate is None  # left in the file, copied by splice
            g = W.StreamingFile(str(d / "two.json"), 1)
            g.write(b"OTHER HEAD")
            g.splice(fd, 0, len(b), back)
            g.write(b"T")
            g.commit()
            assert W.Segment.in_gzip_file(gz, len(b) + 1) is None  # another length
        finally:
            os.close(fd)
            os.close(gz)
        assert (d / "two.json").read_bytes() == b"OTHER HEAD" + b + b"T"
        assert gzip.decompress((d / "two.json.gz").read_bytes()) == b"OTHER HEAD" + b + b"T"
        for junk in (b"not gzip at all", b"", seg.gzip()[:-1]):
            (d / "junk").write_bytes(junk)
            jfd = os.open(d / "junk", os.O_RDONLY)
            try:
                assert W.Segment.in_gzip_file(jfd, len(b)) is None
            finally:
                os.close(jfd)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_chronyd_gone_on_a_skipped_tick_shows_no_list(tmp_path, crowd):
    """A list kept from before chronyd stopped answering is not shown as
    current: that snapshot has none (and a clients error), as a failed
    collection; the tick after chronyd is back collects."""
    t = Ticks(tmp_path, crowd, budget_config(tmp_path / "c.toml", crowd))
    t.tick()
    kept, _ = t.tick()
    assert kept["clients_seq"] < kept["seq"]
    crowd.stop()
    try:
        run_build(t.out, socket=crowd.socket, state=t.state, config=t.cfg)
        doc = validate(json.loads((t.out / "data.json").read_bytes()))
        assert doc["clients"] == [] and doc["summary"]["clients"] == 0
        assert "clients" in {e["report"] for e in doc["errors"]}
        assert gzip.decompress((t.out / "data.json.gz").read_bytes()) == (t.out / "data.json").read_bytes()
    finally:
        crowd.start()
    after, _ = t.tick()
    assert after["clients_seq"] == after["seq"] and after["errors"] == []
    populate(crowd, clients=kept["summary"]["clients"], limited=5, cmd=2)


def test_the_copy_of_the_kept_list_is_measured_and_outlives_a_collection(tmp_path, crowd):
    """A reusing tick measures what copying the kept list into data.json cost
    (per byte, smoothed) for the budget (cadence.interval's carry); the next
    collection keeps that figure for its own list."""
    from chrony_snap import state as S

    t = Ticks(tmp_path, crowd, budget_config(tmp_path / "c.toml", crowd))
    first, _ = t.tick()  # collects
    assert "carry_per_byte" not in S.load(str(t.state), "state", print)["clients_kept"]
    reused, collected_after = [], None
    for _ in range(8 * MAX_INTERVAL):  # until a collection follows reusing ticks (~MAX_INTERVAL s)
        doc, _ = t.tick()
        carry = S.load(str(t.state), "state", print)["clients_kept"].get("carry_per_byte")
        if doc["clients_seq"] != doc["seq"]:
            reused.append(carry)
        elif reused:
            collected_after = carry
            break
        time.sleep(0.25)
    assert reused and all(c is not None and 0.0 < c < 1e-6 for c in reused)
    assert collected_after == reused[-1]  # the new list's record kept the figure
