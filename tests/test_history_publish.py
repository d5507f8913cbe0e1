"""The history published in the web root (issue 8, item 4): immutable chunks,
a tail per tier and index.json (chrony_snap/history_publish.py), data.json's
history.index and history.row, nginx's headers, and the page's loader
(assets/history-data.js) in Chromium.

The tiers' mechanics run the ring and the publisher directly over simulated
positions (weeks in a second); the tick runs in-process with an injected
clock (tests/test_history.py's `site`) or against a real chronyd.  Every test
here fails on `main`, which publishes no series (no history_publish module,
no history.index, no assets/history-data.js).
"""

import gzip
import json
import math
import os
import shutil
import struct
import threading
import time
from pathlib import Path

import pytest
from test_history import WALL0, served, site  # noqa: F401 - site is a fixture

from chrony_snap import history as H, history_publish as P
from chrony_snap.site import resource_dir
from helpers import cli, read_snapshot, run_build, write_config

X = H.SERIES.index("system_time_s")
RX = H.SERIES.index("ntp_packets_received_pps")
WEEK = 7 * 86400
SMALL = (("1s", 1, 600), ("1m", 60, 6 * 3600), ("1h", 3600, 21 * 86400))


def parse(data: bytes):
    """(header dict, [series][stat] -> list of floats) of one published file."""
    magic, fmt, nseries, nrows, nstats, reserved, start, step, through = P.HEADER.unpack_from(data)
    assert (magic, fmt, reserved, nseries) == (b"CSHC", 1, 0, H.N)
    assert len(data) == 48 + 4 * nseries * nstats * nrows  # whole, never torn
    vals = struct.unpack_from(f"<{nseries * nstats * nrows}f", data, 48)
    cols = [
        [list(vals[(s * nstats + k) * nrows : (s * nstats + k + 1) * nrows]) for k in range(nstats)]
        for s in range(nseries)
    ]
    head = {"nrows": nrows, "nstats": nstats, "start": start, "step": step, "through": through}
    return head, cols


def same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


class Engine:
    """The ring and the publisher, ticked at chosen positions."""

    def __init__(self, tmp, tiers=SMALL):
        self.path, self.layout, self.www = str(tmp / "h.bin"), H.Layout(tiers), tmp / "www" / "history"
        self.www.parent.mkdir(exist_ok=True)  # the web root: the tick makes it
        self.bytes = []

    def tick(self, pos, value=None, publish=True):
        with H.Ring.open(self.path, self.layout, print) as r:
            v = [math.nan] * H.N
            v[X] = float(pos % 997) if value is None else value
            r.append(pos, v)
            if publish:
                self.bytes.append(P.publish(r, pos, str(self.www), False))

    def read(self, tier):
        with H.Ring.open(self.path, self.layout, None, create=False) as r:
            return dict(r.read(tier, 0, 1e12))

    def index(self):
        return json.loads((self.www / "index.json").read_text())

    def chunks(self, tier):
        d = self.www / tier
        return sorted(int(p.stem) for p in d.glob("*.bin")) if d.exists() else []


def check_against_ring(eng, k, name, start, head, cols, rows=None):
    """Every row of a chunk or tail is the ring's bucket (NaN where none);
    rows the ring has dropped since the chunk was written are not compared."""
    ring = eng.read(k)
    step = head["step"]
    _, _, slots, _, _ = eng.layout.tiers[k]
    lowest = max(ring) - (slots - 1) * step
    for i in range(head["nrows"] if rows is None else rows):
        if start + i * step < lowest:
            continue
        got = ring.get(start + i * step)
        for s in (X, RX):
            if step == 1:
                want = got[s] if got else math.nan
                assert same(cols[s][0][i], want), (name, start + i, s)
            else:
                want = got[s][:3] if got and got[s][3] else (math.nan,) * 3
                assert all(same(cols[s][j][i], want[j]) for j in range(3)), (name, start + i * step, s)


def test_chunks_of_every_tier_match_the_ring_and_are_pruned_past_the_span(tmp_path):
    """Five weeks of ticks every 30 min (and a minute at 1 Hz now and then):
    1 s, 1 min and 1 h chunks appear once their range is past, hold exactly
    the ring's buckets, and go once the ring no longer holds them; the index
    lists what exists, contiguously; the tails reach the last tick."""
    eng = Engine(tmp_path)
    w0 = 2960 * WEEK  # a week boundary: the 1 h tier's chunks start there
    pos = w0
    while pos < w0 + 5 * WEEK:
        eng.tick(pos)
        if pos % 86400 == 0:  # a minute at 1 Hz: full 1 s chunks
            for p in range(pos + 1, pos + 125):
                eng.tick(p)
        pos += 1800
    for p in range(pos - 1799, pos - 1600):  # the last minutes at 1 Hz
        eng.tick(p)
    last = pos - 1601
    idx = eng.index()
    assert idx["format"] == 1 and idx["series"] == list(H.SERIES) and idx["header_bytes"] == 48
    for k, (name, step, span) in enumerate(SMALL):
        t = idx["tiers"][k]
        chunk = P.CHUNK_ROWS[k] * step
        assert (t["name"], t["step_s"], t["span_s"], t["chunk_s"]) == (name, step, span, chunk)
        assert t["stats"] == (["value"] if step == 1 else ["min", "mean", "max"])
        present = eng.chunks(name)
        assert present == list(range(t["oldest"], t["newest"] + 1, chunk)), name  # contiguous
        kept = -(-span // chunk)  # as many chunks as cover the span, before the current one
        assert present[0] >= last - last % chunk - kept * chunk and len(present) <= kept  # older ones pruned
        assert present[-1] == last - last % chunk - chunk  # caught up: the last completed range
        for c in present:
            head, cols = parse((eng.www / name / f"{c}.bin").read_bytes())
            assert head["start"] == c and head["step"] == step and head["nstats"] == len(t["stats"])
            assert head["nrows"] in (0, P.CHUNK_ROWS[k])
            check_against_ring(eng, k, name, c, head, cols)
        head, cols = parse((eng.www / t["tail"]).read_bytes())
        wrote = last if step == 1 else last - last % 60  # coarse tails: at the minute's first tick
        assert head["start"] == wrote - wrote % chunk and head["through"] == wrote
        assert head["nrows"] == (wrote - head["start"]) // step + 1
        # the bucket in progress went on growing after a coarse tail was written
        check_against_ring(eng, k, t["tail"], head["start"], head, cols, head["nrows"] - (step > 1))
    # the 1 h tier holds three weeks: three week chunks before the one in progress (the tail)
    assert eng.chunks("1h") == [w0 + WEEK, w0 + 2 * WEEK, w0 + 3 * WEEK]
    full = [c for c in eng.chunks("1m") if parse((eng.www / "1m" / f"{c}.bin").read_bytes())[0]["nrows"]]
    assert full, "1 min chunks with data"
    # the footprint stays under the documented bound
    total = sum(p.stat().st_size for p in eng.www.rglob("*.bin"))
    assert total <= P.footprint(eng.layout)


def test_catch_up_after_a_pause_is_bounded_per_tick(tmp_path):
    """chrony-snap stopped for 8 minutes: the ranges that passed meanwhile are
    written over the next ticks, a few per tick; a range without data is a
    0-row chunk (a gap); nothing is ever skipped or torn."""
    eng = Engine(tmp_path)
    p0 = 29_833_340 * 60  # a minute boundary
    for p in range(p0, p0 + 150):
        eng.tick(p)
    assert eng.chunks("1s") == [p0, p0 + 60]
    resume = p0 + 150 + 480
    per_tick = []
    for p in range(resume, resume + 20):
        before = set(eng.chunks("1s"))
        eng.tick(p)
        per_tick.append(len(set(eng.chunks("1s")) - before))
    assert max(per_tick) <= P.EXAMINE_PER_TICK
    present = eng.chunks("1s")
    cur = resume + 19 - (resume + 19) % 60
    assert present == list(range(p0, cur, 60))  # all, contiguous
    heads = {c: parse((eng.www / "1s" / f"{c}.bin").read_bytes())[0] for c in present}
    assert heads[p0 + 120]["nrows"] == 60  # the minute that was cut short: NaN after the stop
    _, cols = parse((eng.www / "1s" / f"{p0 + 120}.bin").read_bytes())
    assert not math.isnan(cols[X][0][29]) and all(math.isnan(x) for x in cols[X][0][30:])
    assert [c for c, h in heads.items() if h["nrows"] == 0] == list(range(p0 + 180, resume - resume % 60, 60))
    assert eng.index()["tiers"][0]["newest"] == cur - 60
    # a pause longer than the span: everything older is pruned, the index starts again
    for p in range(cur + 3600, cur + 3600 + 90):
        eng.tick(p)
    present = eng.chunks("1s")
    assert present and present[0] >= cur + 3600 - 60 and eng.index()["tiers"][0]["oldest"] == present[0]


def test_a_long_history_is_published_from_an_upgraded_ring(tmp_path):
    """A ring written by a release that published nothing (no progress in its
    header): the chunks appear over the next ticks, newest included, each
    tick writing a bounded number of them."""
    eng = Engine(tmp_path)
    p0 = 29_833_340 * 60
    for p in range(p0, p0 + 3 * 3600, 20):
        eng.tick(p, publish=False)
    p = p0 + 3 * 3600
    ticks = 0
    while True:
        eng.tick(p)
        ticks += 1
        t = eng.index()["tiers"]
        if t[1]["newest"] == p - p % 3600 - 3600 and t[0]["newest"] == p - p % 60 - 60:
            break
        p += 1
        assert ticks < 200
    assert ticks > 1  # bounded per tick: not all at once
    assert eng.chunks("1m") == [p0 - p0 % 3600 + 3600 * i for i in range(3)]


def test_a_failed_index_write_is_done_again_next_tick(tmp_path, monkeypatch):
    """The web root's disk is full for one tick, as a range completes: the
    next tick's index still lists the chunk (progress is saved last)."""
    eng = Engine(tmp_path)
    p0 = 29_833_340 * 60
    for p in range(p0, p0 + 59):
        eng.tick(p)
    real = P.atomic_write

    def full(path, data, **kw):
        if path.endswith("index.json"):
            raise OSError(28, "No space left on device", path)
        return real(path, data, **kw)

    monkeypatch.setattr(P, "atomic_write", full)
    with pytest.raises(OSError):
        eng.tick(p0 + 60)  # the first minute completes: its chunk, then the index fails
    monkeypatch.setattr(P, "atomic_write", real)
    eng.tick(p0 + 61)
    assert eng.index()["tiers"][0]["newest"] == p0 == eng.chunks("1s")[-1]


def test_bytes_per_tick_are_small(tmp_path):
    """The steady state: the 1 s tail every tick, the rest once a minute."""
    eng = Engine(tmp_path)
    p0 = 29_833_340 * 60
    for p in range(p0, p0 + 600):
        eng.tick(p)
    steady = eng.bytes[120:]
    assert sum(steady) / len(steady) < 9_000
    # index.json is replaced only when a range completes (or the sources change)
    eng.tick(p0 + 600)  # a minute completes
    inode = (eng.www / "index.json").stat().st_ino
    for p in range(p0 + 601, p0 + 660):
        eng.tick(p)
    assert (eng.www / "index.json").stat().st_ino == inode
    eng.tick(p0 + 660)
    assert (eng.www / "index.json").stat().st_ino != inode
    assert sorted(steady)[len(steady) // 2] <= 48 + 4 * H.N * 60


def test_live_ticks_publish_index_tail_and_row(sandbox, short_tmp):
    """Against a real chronyd: each tick's data.json announces the index and
    carries the row its 1 s tail ends with, aligned with index.json."""
    from chrony_snap.harness.sandbox import populate

    populate(sandbox, clients=20, limited=2, cmd=0)
    out, state = short_tmp / "www", short_tmp / "state"
    cfg = write_config(short_tmp / "c.toml")
    for _ in range(4):
        run_build(out, socket=sandbox.socket, state=state, config=cfg)
        d = read_snapshot(out)
        h = d["history"]
        assert h["index"] == "history/index.json"
        idx = json.loads((out / h["index"]).read_text())
        assert len(h["row"]) == len(idx["series"]) == H.N
        head, cols = parse((out / "history" / "tail-1s.bin").read_bytes())
        pos = h["position"]
        assert head["through"] == pos and head["start"] == pos - pos % 60
        for s, v in enumerate(h["row"]):
            stored = cols[s][0][-1]
            assert (v is None and math.isnan(stored)) or struct.unpack("<f", struct.pack("<f", v))[0] == stored
        assert h["row"][idx["series"].index("clients")] == d["summary"]["clients"]
        assert h["row"][idx["series"].index("stratum")] == d["tracking"]["stratum"]


def test_export_equals_the_chunks(site, fake):  # noqa: F811 - the fixture
    """`history export` and the published chunks and tails give the same
    values for the same range (both read the same ring), at 1 s and 1 min."""
    run, clock, out, state, cfg = site
    for n in range(25):
        served(fake, 1000 + n * n)
        run()
        clock.tick(1 if n % 5 else 20)
    for k, tier in enumerate(("1s", "1m")):
        args = ("history", "export", "--state", str(state), "--config", str(cfg), "--format", "json", "--tier", tier)
        js = json.loads(cli(*args, "--since", str(WALL0 - 100), "--until", str(WALL0 + 1000)).stdout)
        exported = {r["t"]: r for r in js["rows"]}
        t = json.loads((out / "history" / "index.json").read_text())["tiers"][k]
        starts = range(t["oldest"], t["newest"] + 1, t["chunk_s"]) if t["oldest"] is not None else ()
        seen = 0
        for f in [out / "history" / tier / f"{c}.bin" for c in starts] + [out / "history" / t["tail"]]:
            head, cols = parse(f.read_bytes())
            # a coarse tail's bucket in progress has grown since it was written (each minute)
            for i in range(head["nrows"] - (k > 0 and f.name == t["tail"])):
                r = exported.get(int(head["start"]) + i * t["step_s"])
                seen += r is not None
                for s, name in ((X, "system_time_s"), (RX, "ntp_packets_received_pps")):
                    got = [cols[s][j][i] for j in range(head["nstats"])]
                    v = None if r is None else r[name]
                    want = [v] if k == 0 else [None] * 3 if v is None else [v[m] for m in ("min", "mean", "max")]
                    for g, w in zip(got, want, strict=True):
                        assert (w is None and math.isnan(g)) or g == pytest.approx(w, rel=1e-7)
        assert seen == len(exported) - k and len(exported) == (25 if k == 0 else 3)


def test_reboot_gap_is_nan_in_the_published_files(site, fake):  # noqa: F811
    run, clock, out, state, _ = site
    for n in range(3):
        served(fake, 100 + n)
        d = run()
        clock.tick()
    p = d["history"]["position"]
    clock.boot_id, clock.boot = "boot-b", 5.0
    clock.wall += 10
    served(fake, 200)
    d = run()
    head, cols = parse((out / "history" / "tail-1s.bin").read_bytes())
    rows = {int(head["start"]) + i: cols[RX][0][i] for i in range(head["nrows"])}
    after = d["history"]["position"]
    assert after > p + 1
    assert all(math.isnan(rows[q]) for q in range(p + 1, after) if q in rows)  # not written: a gap
    assert math.isnan(rows[after]) and d["history"]["row"][RX] is None  # a reboot: no rate, no spike


def test_corrupt_ring_restarts_the_published_files(site, fake, capfd):  # noqa: F811
    run, clock, out, state, cfg = site
    for _ in range(5):
        run()
        clock.tick(30)
    hist = out / "history"
    gen = json.loads((hist / "index.json").read_text())["generation"]
    old = sorted(p.name for p in (hist / "1s").glob("*.bin"))
    assert old
    (state / "history" / "history.bin").write_bytes(os.urandom(8192))
    clock.tick(30)
    d = run()
    assert "set aside" in capfd.readouterr().err
    assert d["history"]["index"] == "history/index.json" and d["clients"]
    idx = json.loads((hist / "index.json").read_text())
    assert idx["generation"] != gen and all(t["oldest"] is None for t in idx["tiers"])
    assert not list((hist / "1s").glob("*.bin"))  # derived from the old ring: gone
    assert parse((hist / "tail-1s.bin").read_bytes())[0]["nrows"] == 1 + d["history"]["position"] % 60


def test_unwritable_web_history_is_an_error_and_data_json_is_still_published(site, capfd):  # noqa: F811
    run, clock, out, state, cfg = site
    out.mkdir()
    (out / "history").write_text("not a directory")
    d = run()
    (err,) = [e for e in d["errors"] if e["report"] == "history"]
    assert err["code"] == "publish" and "cannot publish history" in err["message"]
    assert d["clients"] and d["history"]["position"] and "index" not in d["history"] and d["history"]["row"]
    (out / "history").unlink()
    clock.tick()
    d = run()
    assert d["history"]["index"] == "history/index.json" and not d["errors"]
    assert "history: recovered" in capfd.readouterr().err


def test_a_symlink_planted_in_the_web_root_is_refused(site, tmp_path):  # noqa: F811
    """The web root may be shared: history/ or a tier directory that is a
    symbolic link is an error, never followed (nothing written, nothing
    removed where it points)."""
    run, clock, out, state, cfg = site
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "1790000000.bin").write_bytes(b"keep")
    out.mkdir()
    (out / "history").symlink_to(elsewhere)
    d = run()
    (err,) = [e for e in d["errors"] if e["report"] == "history"]
    assert err["code"] == "publish" and str(out / "history") in err["message"]
    assert sorted(p.name for p in elsewhere.iterdir()) == ["1790000000.bin"] and d["clients"]
    (out / "history").unlink()
    (out / "history").mkdir()
    (out / "history" / "1s").symlink_to(elsewhere)
    clock.tick()
    d = run()
    assert [e["code"] for e in d["errors"] if e["report"] == "history"] == ["publish"]
    assert sorted(p.name for p in elsewhere.iterdir()) == ["1790000000.bin"]


# --------------------------------------------------------------------------
# through nginx, and in Chromium
# --------------------------------------------------------------------------


def _serve(root):
    from chrony_snap.harness.nginx import NginxProcess

    for dirpath, _, _ in os.walk(root):
        os.chmod(dirpath, 0o755)
    return NginxProcess(root).start()


def test_nginx_headers_and_never_torn_while_the_publisher_races(short_tmp):
    """Chunks are immutable (cached a year), index/tail/events no-cache and
    never 304; readers fetching index.json, the tails and the chunks it lists
    while the publisher runs flat out never see a torn or foreign file."""
    eng = Engine(short_tmp)
    root = short_tmp / "www"
    p0 = 29_833_340 * 60
    for p in range(p0, p0 + 200):
        eng.tick(p)
    web = _serve(root)
    stop = threading.Event()
    problems, reads = [], [0]
    tick_at = [p0 + 200]

    def writer():
        while not stop.is_set():
            eng.tick(tick_at[0])
            tick_at[0] += 3  # ranges complete often: chunks, prunes and index rewrites race the readers

    def reader():
        while not stop.is_set():
            try:
                s, h, body = web.get("/history/index.json")
                idx = json.loads(body)
                urls = [f"/history/{t['tail']}" for t in idx["tiers"]]
                for t in idx["tiers"]:
                    if t["oldest"] is not None:
                        urls += [f"/history/{t['dir']}{t['newest']}.bin", f"/history/{t['dir']}{t['oldest']}.bin"]
                for u in urls:
                    s, h, body = web.get(u)
                    reads[0] += 1
                    if s == 404 and "tail" not in u:
                        continue  # pruned since the index was read: a gap to the page
                    if s != 200 or int(h["content-length"]) != len(body):
                        problems.append((u, s))
                        continue
                    parse(body)
            except Exception as e:  # noqa: BLE001 - any failure is a finding
                problems.append(repr(e))

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(2)]
    try:
        for th in threads:
            th.start()
        deadline = time.monotonic() + 60
        while reads[0] < 1500 and time.monotonic() < deadline and not problems:
            time.sleep(0.1)
        stop.set()
        for th in threads:
            th.join()
        assert not problems, problems[:5]
        assert reads[0] >= 300
        idx = json.loads(web.get("/history/index.json")[2])
        t = idx["tiers"][0]
        s, h, _ = web.get(f"/history/1s/{t['newest']}.bin")
        assert s == 200 and h["cache-control"] == "public, max-age=31536000, immutable"
        for u in ("/history/index.json", "/history/tail-1s.bin"):
            s, h, _ = web.get(u)
            assert s == 200 and h["cache-control"] == "no-cache" and "etag" not in h
            s, _, _ = web.get(u, headers={"If-Modified-Since": h["last-modified"]})
            assert s == 200
        assert web.get("/history/1s/.x.bin.tmp-1-2")[0] == 404
        plain = web.get(f"/history/1s/{t['newest']}.bin")[2]
        s, h, body = web.get(f"/history/1s/{t['newest']}.bin", headers={"Accept-Encoding": "gzip"})
        assert h["content-encoding"] == "gzip" and gzip.decompress(body) == plain and len(body) < len(plain) / 2
    finally:
        stop.set()
        web.stop()


@pytest.fixture
def history_site(short_tmp):
    """The default tiers' files for the last 24 h (ticks every 10 s, the last
    20 min at 1 Hz with a 100 s gap) written by a ring that published nothing
    until now (caught up over ticks), served by nginx with the loader module."""
    eng = Engine(short_tmp, tiers=(("1s", 1, 86400), ("1m", 60, 90 * 86400), ("1h", 3600, 365 * 86400)))
    now = int(time.time())
    gap = range(now - 450, now - 300)
    for p in range(now - 86400, now - 1200, 10):
        eng.tick(p, value=float(p % 7), publish=False)
    for p in range(now - 1200, now + 1):
        if p not in gap:
            eng.tick(p, value=float(p % 7), publish=p > now - 3)
    for _ in range(800):  # catch up (bounded per tick) at the last position
        eng.tick(now, value=float(now % 7))
        t = eng.index()["tiers"]
        if t[1]["newest"] == now - now % 3600 - 3600 and t[0]["newest"] == now - now % 60 - 60:
            break
    root = short_tmp / "www"
    (root / "assets").mkdir()
    shutil.copy(os.path.join(resource_dir("assets"), "history-data.js"), root / "assets")
    (root / "t.html").write_text("<!doctype html><title>t</title>\n")
    (root / "favicon.ico").write_bytes(b"")  # the browser asks for one
    web = _serve(root)
    yield web, now, gap
    web.stop()


LOAD = """async ([since, until, maxPoints, indexUrl]) => {
  const m = await import("/assets/history-data.js");
  const index = await m.openIndex(indexUrl || "history/index.json");
  const win = await m.loadWindow(index, "history/", since, until, maxPoints);
  const x = win.cols.system_time_s;
  const out = {tier: win.tier, step: win.step_s, n: win.t.length, t0: win.t[0], tn: win.t[win.t.length - 1],
    mean: Array.from(x.mean, (v) => (v === v ? v : null)), min: Array.from(x.min, (v) => (v === v ? v : null)),
    max: Array.from(x.max, (v) => (v === v ? v : null)), same: x.min === x.mean,
    series: win.series.length, sources: win.sources};
  const row = win.series.map((s) => (s === "system_time_s" ? 42 : null));
  out.extended = m.extend(win, until + 1, row);
  out.again = m.extend(win, until + 1, row);
  out.after = {n: win.t.length, tn: win.t[win.t.length - 1], last: x.max[win.t.length - 1], t0: win.t[0]};
  return out;
}"""


def test_loader_in_chromium_15_min_and_24_h_windows(history_site, new_page):
    """loadWindow picks 1 s for 15 min and 1 min for 24 h, returns one point
    per bucket with NaN for the gap, min/mean/max folded like the engine's;
    extend() appends (once) and keeps the window's length."""
    web, now, gap = history_site
    probe = new_page(web.url + "/t.html", wait_data=False)
    w = probe.page.evaluate(LOAD, [now - 900, now, 1000])
    assert (w["tier"], w["step"], w["n"], w["tn"]) == ("1s", 1, 901, now) and w["same"]
    assert w["series"] == H.N
    for i, v in enumerate(w["mean"]):
        t = now - 900 + i
        assert v is None if t in gap else v == float(t % 7), t
    assert w["extended"] is True and w["again"] is False
    assert w["after"] == {"n": 901, "tn": now + 1, "last": 42, "t0": now - 899}

    day = probe.page.evaluate(LOAD, [now - 86400, now, 2000])
    first = (now - 86400) // 60 * 60
    assert (day["tier"], day["step"], day["n"], day["t0"]) == ("1m", 60, 1441, first)
    assert all(v is not None for v in day["mean"][2:-30])  # every minute had ticks...
    assert day["min"][-3] == 0.0 and day["max"][-3] == 6.0  # ...the last ones at 1 Hz: 0..6
    g = (gap.start + (60 - gap.start % 60) % 60 - first) // 60  # a whole minute inside the gap
    assert day["mean"][g] is None
    last = (now - now % 60 - first) // 60  # the minute in progress: tail-1m + the 1 s rows since
    assert day["max"][last] == max(p % 7 for p in range(now - now % 60, now + 1))
    assert day["after"]["last"] == 42.0 and day["extended"] is True

    # an index read before the last chunks completed: they are fetched all the same
    root = Path(web.root)
    idx = json.loads((root / "history" / "index.json").read_text())
    idx["tiers"][0]["newest"] -= 180
    (root / "history" / "stale.json").write_text(json.dumps(idx))
    os.chmod(root / "history" / "stale.json", 0o644)
    stale = probe.page.evaluate(LOAD, [now - 900, now, 1000, "history/stale.json"])
    assert stale["mean"] == w["mean"]


def test_loader_in_chromium_a_bad_file_is_a_gap_a_foreign_index_an_error(history_site, new_page):
    """One chunk damaged (truncated) costs only its minute, named in
    `problems`; an index of another format is refused with a message."""
    web, now, gap = history_site
    root = Path(web.root)
    c = (now - 600) // 60 * 60
    with open(root / "history" / "1s" / f"{c}.bin", "r+b") as f:
        f.truncate(100)
    idx = json.loads((root / "history" / "index.json").read_text())
    (root / "history" / "foreign.json").write_text(json.dumps({**idx, "format": 2}))
    os.chmod(root / "history" / "foreign.json", 0o644)
    page = new_page(web.url + "/t.html", wait_data=False).page
    got = page.evaluate(
        """async ([since, until]) => {
          const m = await import("/assets/history-data.js");
          const win = await m.loadWindow(await m.openIndex("history/index.json"), "history/", since, until, 1000);
          let refused = null;
          try { await m.openIndex("history/foreign.json"); } catch (e) { refused = e.message; }
          const x = win.cols.system_time_s.mean;
          return {problems: win.problems, refused, t0: win.t[0],
                  mean: Array.from(x, (v) => (v === v ? v : null))};
        }""",
        [now - 900, now],
    )
    assert len(got["problems"]) == 1 and f"1s/{c}.bin" in got["problems"][0] and "truncated" in got["problems"][0]
    assert "format 2" in got["refused"]
    for i, v in enumerate(got["mean"]):
        t = got["t0"] + i
        assert (v is None) == (t in gap or c <= t < c + 60), t
