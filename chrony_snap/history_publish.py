"""The history's series in the web root (WEBROOT/history/), for the page and
other tools: immutable chunks, one small tail per tier, an index.

* A chunk is one completed, fixed time range of one tier -- 60 rows: 1 min of
  the 1 s tier, 1 h of the 1 min tier; 168 rows: 7 days of the 1 h tier --
  named by tier and start epoch (``1s/1764770400.bin``).  Written once, by
  rename, when its range is past; pruned when the ring no longer holds any of
  it, so the web root's footprint is bounded (README, History).
* ``tail-TIER.bin``: the same format, from the current chunk's start to now.
  The 1 s tail is replaced every tick; the coarser ones every minute, with
  their in-progress bucket.
* ``index.json``: series, tiers, which chunks exist, source slots; replaced
  only when it changes.

A file (chunk or tail): a 48-byte little-endian header -- magic ``CSHC``,
u32 format version, nseries, nrows, nstats, reserved (0); f64 start, step,
through (the last position folded in) -- then, column-major, for each series
for each stat, nrows float32: JavaScript takes Float32Array views of it with
no parse.  NaN is a gap.  A range with no data at all is a chunk of 0 rows.

Everything is read back from the ring file (history.Ring.columns), under the
state lock, so `history export` and these files agree.  Progress (which
chunks exist) is kept in the ring file's header: a ring set aside and started
again starts the published files again.  Per tick: the 1 s tail and at most
a few chunks per tier (a pause is caught up over the next ticks).

Only struct and os on the per-second path (index.json through jsonenc).
"""

import os
import struct

from chrony_snap import history as H
from chrony_snap.writer import atomic_write, real_dir, remove_stale_temps

FORMAT = 1
MAGIC = b"CSHC"
HEADER = struct.Struct("<4sIIIIIddd")  # 48 bytes: the float32 columns start 4-aligned
CHUNK_ROWS = (60, 60, 168)  # per tier: 1 min of 1 s, 1 h of 1 min, 7 d of 1 h
WRITE_PER_TICK = 4  # chunks with data written per tier and tick while catching up
EXAMINE_PER_TICK = 16  # ranges looked at per tier and tick (a range without data is cheap)
PRUNE_PER_TICK = 64  # chunks removed per tier and tick after a long pause
STATS = (("value",), ("min", "mean", "max"))

# the progress record (history.Ring.read_pub): generation, first position
# known, the minute the coarse tails were last written, then (oldest chunk
# present or 0, last range handled) per tier
_GEN, _FIRST, _TAILS = 0, 1, 2


def _lo(k):
    return 3 + 2 * k


def stats_of(step) -> tuple:
    return STATS[0] if step == 1 else STATS[1]


def file_bytes(start, step, through, nrows, payload) -> bytes:
    nstats = 1 if step == 1 else 3
    return HEADER.pack(MAGIC, FORMAT, H.N, nrows, nstats, 0, start, step, through) + payload


def _kept(span, chunk_s) -> int:
    return -(-span // chunk_s)


def footprint(layout) -> int:
    """The most bytes the published series take (chunks and tails; index and
    events aside): per tier, the chunks that cover its span, and the tail."""
    total = 0
    for k, (_, step, slots, _, _) in enumerate(layout.tiers):
        rows = CHUNK_ROWS[k]
        size = HEADER.size + 4 * H.N * len(stats_of(step)) * rows
        total += (_kept(slots * step, rows * step) + 1) * size
    return total


def _clean(hist, names):
    """Start again: remove the chunks and tails published from another ring,
    and events.json (the tick writes it again from the state's log)."""
    try:
        os.unlink(os.path.join(hist, "events.json"))
    except FileNotFoundError:
        pass
    for name in names:
        d = os.path.join(hist, name)
        real_dir(d)
        for e in os.listdir(d):
            if e.endswith(".bin") and e[:-4].isdigit():
                os.unlink(os.path.join(d, e))
        remove_stale_temps(d)
        try:
            os.unlink(os.path.join(hist, f"tail-{name}.bin"))
        except FileNotFoundError:
            pass


def publish(ring, pos: int, hist: str, sources_changed: bool) -> int:
    """Bring WEBROOT/history (`hist`) up to this tick; returns the bytes
    written.  Raises OSError (the caller makes it an `errors` entry)."""
    layout = ring.layout
    names = [name for name, *_ in layout.tiers]
    index_path = os.path.join(hist, "index.json")
    rec = ring.read_pub()
    was = None if rec is None else rec[:]
    changed = sources_changed
    if rec is None or not os.path.exists(index_path):
        first = rec[_FIRST] if rec is not None else (pos if ring.created else 0)
        rec = [0.0] * 16
        rec[_GEN], rec[_FIRST] = float(pos), float(first)
        ring.write_pub(rec)  # before the web root: a failure there still keeps `first`
        real_dir(hist)
        _clean(hist, names)
        changed = True
    else:
        real_dir(hist)
    written = 0
    minute = pos // 60
    for k, (name, step, slots, _, _) in enumerate(layout.tiers):
        rows = CHUNK_ROWS[k]
        chunk_s = rows * step
        cur = pos - pos % chunk_s
        oldest = pos - slots * step + step  # the ring holds buckets after pos - span
        # the chunks kept: as many as cover the span, before the current one (so
        # one goes as one comes: index.json changes once per completed range)
        below = cur - _kept(slots * step, chunk_s) * chunk_s
        lo, hi = rec[_lo(k)], rec[_lo(k) + 1]
        d = os.path.join(hist, name)
        if lo and lo < below:
            for _ in range(PRUNE_PER_TICK):
                try:
                    os.unlink(os.path.join(d, f"{int(lo)}.bin"))
                except FileNotFoundError:
                    pass
                lo += chunk_s
                if lo > hi or lo >= below:
                    break
            if lo > hi:
                lo = 0.0
            changed = True
        if not lo or lo >= below:  # pruning done: chunks stay contiguous from lo to hi
            start = max(oldest, rec[_FIRST])
            nxt = int(hi) + chunk_s if hi else int(start - start % chunk_s)
            nxt = max(nxt, below)
            done = looked = 0
            while nxt < cur and done < WRITE_PER_TICK and looked < EXAMINE_PER_TICK:
                payload, has = ring.columns(k, nxt, rows)
                looked += 1
                if has or lo:  # a range without data: 48 bytes, counted as looked at only
                    real_dir(d)
                    data = file_bytes(nxt, step, nxt + chunk_s - 1, rows if has else 0, payload if has else b"")
                    atomic_write(os.path.join(d, f"{nxt}.bin"), data)
                    written += len(data)
                    done += has
                    lo = lo or float(nxt)
                    changed = True
                hi = float(nxt)
                nxt += chunk_s
        rec[_lo(k)], rec[_lo(k) + 1] = lo, hi
        if k == 0 or minute != rec[_TAILS]:
            n = (pos - cur) // step + 1
            payload, _ = ring.columns(k, cur, n)
            data = file_bytes(cur, step, pos, n, payload)
            atomic_write(os.path.join(hist, f"tail-{name}.bin"), data)
            written += len(data)
    if minute != rec[_TAILS]:
        rec[_TAILS] = float(minute)
        remove_stale_temps(hist)  # a killed run's temp files: looked for once a minute
        if minute % 60 == 0:
            for name in names:  # and in the chunk directories once an hour
                remove_stale_temps(os.path.join(hist, name))
    if changed:
        data = index_bytes(ring, rec)
        atomic_write(index_path, data)
        written += len(data)
    if rec != was:  # last: a tick that failed before does it all again next time (idempotent)
        ring.write_pub(rec)
    return written


def index_bytes(ring, rec) -> bytes:
    from chrony_snap.jsonenc import dumps

    tiers = []
    for k, (name, step, slots, _, _) in enumerate(ring.layout.tiers):
        lo, hi = rec[_lo(k)], rec[_lo(k) + 1]
        tiers.append(
            {
                "name": name,
                "step_s": step,
                "span_s": step * slots,
                "chunk_s": CHUNK_ROWS[k] * step,
                "rows": CHUNK_ROWS[k],
                "stats": list(stats_of(step)),
                "dir": f"{name}/",
                "tail": f"tail-{name}.bin",
                "oldest": int(lo) if lo else None,
                "newest": int(hi) if lo else None,
            }
        )
    doc = {
        "format": FORMAT,
        "generation": int(rec[_GEN]),
        "header_bytes": HEADER.size,
        "series": list(H.SERIES),
        "tiers": tiers,
        "sources": [{"slot": i, "address": a} for i, a in enumerate(ring.sources) if a],
        "events": "events.json",
    }
    return (dumps(doc) + "\n").encode("utf-8")
