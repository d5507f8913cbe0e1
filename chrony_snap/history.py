"""History: per-tick series in fixed-size ring files, and a bounded events log.

One file, STATE/history/history.bin, holds a header and three rings (tiers):
1 s for 24 h, 1 min for 90 days, 1 h for 5 years by default ([history]).
A tick writes its values into the 1 s ring and folds them into the current
bucket of each coarser ring (min, mean, max, count per series): one pwrite,
plus one pread and one pwrite per coarser tier.  O(1) whatever the history's
length; nothing is rewritten.  Values are float32: 7 significant digits
cover offsets to a nanosecond at a millisecond and rates to a packet in ten
million, more than a plot can show, for half the disk of float64.  Bucket
start times are float64 (exact integer seconds).

Time: a tick's position is the wall time at the boot's anchor plus the
CLOCK_BOOTTIME elapsed since, so a wall-clock step within a boot moves
nothing; a new boot id anchors again at the wall time, never before the last
position written.  A slot whose stored time is not the one expected is empty:
whatever was not written (chrony-snap stopped, a reboot) reads as a gap.
Rates are the tick's own (null after a chronyd restart or a reboot): a gap,
never a spike.

Bad files: a file of another format, version, layout or size is set aside
(history.bin.bad-EPOCH) with a warning and history starts again.  A write
that fails (disk full, read-only) is an `errors` entry, logged once by the
tick; data.json is published all the same.

Only struct and os (array would pull in collections.abc): the per-second path stays lean.
"""

import errno
import os
import struct

from chrony_snap import fields as F
from chrony_snap.health import max_clock_error

MAGIC = b"CSNAPHST"
VERSION = 1
HEADER_SIZE = 4096
MAX_SOURCES = 4  # per-source series are bounded: a fixed file size
MAX_EVENTS = 1000
_NAN = float("nan")

TRACKING = (
    "system_time_s",
    "last_offset_s",
    "rms_offset_s",
    "frequency_ppm",
    "residual_freq_ppm",
    "skew_ppm",
    "root_delay_s",
    "root_dispersion_s",
    "update_interval_s",
    "stratum",
)
RATES = (
    "ntp_packets_received",
    "ntp_packets_dropped",
    "cmd_packets_received",
    "cmd_packets_dropped",
    "nts_ke_connections_accepted",
    "nts_ke_connections_dropped",
    "authenticated_ntp_packets",
    "interleaved_ntp_packets",
    "client_log_records_dropped",
)
POPULATION = ("clients", "active_60s", "ok", "warning", "critical", "ipv4", "ipv6")
SOURCE_STATES = tuple(F.SOURCE_STATES.values())  # the state series: an index into this
SOURCE_SERIES = ("offset_s", "error_s", "reach", "state")
SERIES = (
    TRACKING
    + ("leap", "max_clock_error_s")
    + tuple(f"{r}_pps" for r in RATES)
    + POPULATION
    + ("new_clients",)
    + tuple(f"source{i}_{s}" for i in range(MAX_SOURCES) for s in SOURCE_SERIES)
)
N = len(SERIES)

# magic, version, series, sources, tiers; 3 x (step, slots); boot id, anchor (boot, wall), last position
_HEAD = struct.Struct("<8sIIII6I40sddd")
_SRC = struct.Struct("<64s")
_SRC_OFF = _HEAD.size
_STAMP = struct.Struct("<d")
_ONE = struct.Struct(f"<d{N}f")  # a 1 s slot: time, values
_AGG = struct.Struct(f"<d{4 * N}f")  # a coarser bucket: time, (min, mean, max, count) per series
_EMPTY_BUCKET = [_NAN, _NAN, _NAN, 0.0] * N
_F32 = struct.Struct(f"<{N}f")
_NAN32 = struct.pack("<f", _NAN)
# The web-root publisher's progress (history_publish.py), in the header's
# spare bytes: kept with the rings it was derived from, so a file set aside
# and started again starts the published files again too.  A file without it
# (an older release's) reads as "nothing published".
_PUB_MAGIC = b"CSPUB001"
_PUB = struct.Struct("<8s16d")
_PUB_OFF = 1024


class Layout:
    """Where each tier lives in the file; fixed by the tiers' spans."""

    def __init__(self, tiers):
        self.tiers = []  # (name, step_s, slots, offset, record size)
        off = HEADER_SIZE
        for name, step, span in tiers:
            rec = (_ONE if step == 1 else _AGG).size
            slots = span // step
            self.tiers.append((name, step, slots, off, rec))
            off += slots * rec
        self.size = off

    def key(self):
        return tuple(x for _, step, slots, _, _ in self.tiers for x in (step, slots))


def tiers_of(cfg) -> tuple:
    h = cfg["history"]
    return (
        ("1s", 1, h["span_1s_hours"] * 3600),
        ("1m", 60, h["span_1m_days"] * 86400),
        ("1h", 3600, h["span_1h_years"] * 365 * 86400),
    )


def directory(cfg, sdir):
    return cfg["history"]["dir"] or (os.path.join(sdir, "history") if sdir is not None else None)


# ---- the values of one tick (pure) ----


def _num(v):
    return _NAN if v is None else float(v)


def values(tracking, rates, summary, new_clients, sources, source_table) -> list:
    """The SERIES of one tick, NaN where unknown.  `source_table` maps slot
    -> address (see assign_sources)."""
    out = []
    if tracking is None:
        out += [_NAN] * (len(TRACKING) + 2)
    else:
        out += [float(tracking[k]) for k in TRACKING]
        out.append(float(F.LEAP_CODES.get(tracking["leap_status"], _NAN)))
        out.append(max_clock_error(tracking))
    out += [_num(rates.get(k)) for k in RATES] if rates is not None else [_NAN] * len(RATES)
    out += [float(summary[k]) for k in POPULATION] if summary is not None else [_NAN] * len(POPULATION)
    out.append(_num(new_clients))
    by_addr = {s["address"]: s for s in sources or ()}
    for addr in source_table:
        s = by_addr.get(addr)
        if s is None:
            out += [_NAN] * len(SOURCE_SERIES)
        else:
            reach = s["reach"]
            out += [
                _num(s["offset_s"]),
                _num(s["error_s"]),
                bin(reach).count("1") / 8,
                float(SOURCE_STATES.index(s["state"])),
            ]
    return out


def assign_sources(table: list, sources) -> bool:
    """Give each new source address a free slot (at most MAX_SOURCES, first
    seen first kept: a slot is never reused, so a slot's data never changes
    owner).  True when the table changed."""
    changed = False
    for s in sources or ():
        a = s["address"]
        if a not in table and "" in table:
            table[table.index("")] = a
            changed = True
    return changed


# ---- the file ----


class BadFile(Exception):
    pass


class Ring:
    """An open history.bin (I/O edge).  `with Ring.open(path, layout, warn) as r:`"""

    def __init__(self, fd, layout, head, created=False):
        self.fd, self.layout, self.created = fd, layout, created
        self.boot_id, self.anchor_boot, self.anchor_wall, self.last_pos = head
        raw = os.pread(fd, _SRC.size * MAX_SOURCES, _SRC_OFF)
        self.sources = [
            _SRC.unpack_from(raw, i * _SRC.size)[0].rstrip(b"\0").decode("ascii", "replace") for i in range(MAX_SOURCES)
        ]

    @classmethod
    def open(cls, path, layout, warn, create=True):
        """create=False: only read (export), raising FileNotFoundError or BadFile."""
        try:
            fd = os.open(path, (os.O_RDWR if create else os.O_RDONLY) | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            if not create:
                raise
            _create(path, layout)
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
            created = True
        else:
            created = False
        try:
            head = _check(fd, layout)
        except BadFile as e:
            os.close(fd)
            if not create:
                raise
            aside = f"{path}.bad-{int(os.stat(path).st_mtime)}"
            os.replace(path, aside)
            warn(f"history file {path} {e}: set aside as {aside}; history starts again")
            _create(path, layout)
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
            head = _check(fd, layout)
            created = True
        return cls(fd, layout, head, created)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        os.close(self.fd)

    def position(self, boot_id: str, since_boot: float, wall: float) -> int:
        """This tick's position (integer seconds); a new boot anchors again."""
        if boot_id != self.boot_id or not boot_id:
            self.boot_id = boot_id
            self.anchor_boot = since_boot
            self.anchor_wall = max(float(int(wall)), self.last_pos + 1)
            self._write_head()
        return int(self.anchor_wall + (since_boot - self.anchor_boot))

    def _write_head(self):
        os.pwrite(self.fd, _head_bytes(self.layout, self.boot_id, self.anchor_boot, self.anchor_wall, self.last_pos), 0)

    def write_sources(self):
        os.pwrite(self.fd, b"".join(_SRC.pack(a.encode("ascii", "replace")[:64]) for a in self.sources), _SRC_OFF)

    def append(self, pos: int, vals: list):
        """One tick: the 1 s slot, then each coarser tier's bucket, updated in place."""
        tiers = self.layout.tiers
        _, _, slots, off, rec = tiers[0]
        os.pwrite(self.fd, _ONE.pack(pos, *vals), off + (pos % slots) * rec)
        for _, step, slots, off, rec in tiers[1:]:
            start = pos - pos % step
            where = off + (start // step % slots) * rec
            raw = os.pread(self.fd, rec, where)
            if len(raw) == rec and _STAMP.unpack_from(raw)[0] == start:
                agg = list(_AGG.unpack(raw))
                del agg[0]
            else:
                agg = _EMPTY_BUCKET[:]
            i = 0
            for v in vals:
                if v == v:
                    c = agg[i + 3]
                    if c == 0:
                        agg[i] = agg[i + 1] = agg[i + 2] = v
                    else:
                        if v < agg[i]:
                            agg[i] = v
                        if v > agg[i + 2]:
                            agg[i + 2] = v
                        agg[i + 1] += (v - agg[i + 1]) / (c + 1)
                    agg[i + 3] = c + 1
                i += 4
            os.pwrite(self.fd, _AGG.pack(start, *agg), where)
        if pos > self.last_pos:
            self.last_pos = float(pos)
            os.pwrite(self.fd, _STAMP.pack(self.last_pos), _HEAD.size - 8)

    def columns(self, tier: int, start: int, nrows: int):
        """(payload, has data): tier `tier`'s `nrows` buckets from `start`,
        column-major little-endian float32 -- per series, per stat (the
        value; or min, mean, max), nrows values -- NaN where a bucket was
        not written.  O(nrows): the rows are read in one or two preads and
        transposed by strided memoryview slices (bytes are copied, never
        reinterpreted, so the host's byte order does not matter)."""
        _, step, slots, off, rec = self.layout.tiers[tier]
        first = start // step % slots
        n1 = min(nrows, slots - first)
        raw = bytearray(os.pread(self.fd, n1 * rec, off + first * rec))
        if n1 < nrows:
            raw += os.pread(self.fd, (nrows - n1) * rec, off)
        raw += bytes(nrows * rec - len(raw))  # never short (the file has its size), but a stamp of 0 is a gap anyway
        blank = _NAN32 * (rec // 4 - 2)
        lowest = int(self.last_pos) // step * step - (slots - 1) * step  # older: out of the ring, as read() sees it
        has = False
        for i in range(nrows):
            at = i * rec
            b = start + i * step
            if b >= lowest and _STAMP.unpack_from(raw, at)[0] == b:
                has = True
            else:
                raw[at + 8 : at + rec] = blank
        per = rec // 4
        picks = range(N) if step == 1 else [4 * s + k for s in range(N) for k in (0, 1, 2)]
        with memoryview(raw) as m, m.cast("f") as f:
            return b"".join(f[2 + j :: per].tobytes() for j in picks), has

    def read_pub(self):
        """The publisher's progress (16 floats), or None: nothing published."""
        raw = os.pread(self.fd, _PUB.size, _PUB_OFF)
        if len(raw) < _PUB.size or raw[:8] != _PUB_MAGIC:
            return None
        vals = list(_PUB.unpack(raw)[1:])
        return vals if all(x == x and abs(x) < 1e12 for x in vals) else None

    def write_pub(self, vals):
        os.pwrite(self.fd, _PUB.pack(_PUB_MAGIC, *vals), _PUB_OFF)

    def read(self, tier: int, since: float, until: float):
        """[(bucket start, values)] of tier `tier`'s buckets that overlap
        [since, until], written ones only; values are floats (1 s) or (min, mean, max, count)
        tuples per series."""
        _, step, slots, off, rec = self.layout.tiers[tier]
        fmt = _ONE if step == 1 else _AGG
        first = int(since) // step * step
        last = min(int(until), int(self.last_pos)) // step * step
        first = max(first, last - (slots - 1) * step)
        out = []
        b = first
        while b <= last:
            n = min((last - b) // step + 1, slots - (b // step % slots))
            chunk = os.pread(self.fd, n * rec, off + (b // step % slots) * rec)
            for k in range(len(chunk) // rec):
                stamp, *a = fmt.unpack_from(chunk, k * rec)
                start = b + k * step
                if stamp != start:
                    continue
                vals = a if step == 1 else [tuple(a[i : i + 4]) for i in range(0, 4 * N, 4)]
                out.append((start, vals))
            b += n * step
        return out


def as_f32(vals) -> tuple:
    """The values as the 1 s tier stores them (float32)."""
    return _F32.unpack(_F32.pack(*vals))


def _create(path, layout):
    from chrony_snap.writer import atomic_write, remove_stale_temps

    remove_stale_temps(os.path.dirname(path))  # a run killed while creating one left 100+ MB
    # sparse: the disk fills as the rings do, up to layout.size
    atomic_write(path, _head_bytes(layout, "", 0.0, 0.0, 0.0), mode=0o640, size=layout.size)


def _head_bytes(layout, boot_id, anchor_boot, anchor_wall, last_pos) -> bytes:
    return _HEAD.pack(
        MAGIC,
        VERSION,
        N,
        MAX_SOURCES,
        len(layout.tiers),
        *layout.key(),
        boot_id.encode("ascii", "replace")[:40],
        anchor_boot,
        anchor_wall,
        last_pos,
    )


def _check(fd, layout):
    """(boot id, anchor boot, anchor wall, last position) of a file of exactly
    this format and layout; BadFile otherwise."""
    st = os.fstat(fd)
    raw = os.pread(fd, _HEAD.size, 0)
    if len(raw) < _HEAD.size or raw[:8] != MAGIC:
        raise BadFile("is not a chrony-snap history file")
    magic, version, n, nsrc, ntiers, *rest = _HEAD.unpack(raw)
    if version != VERSION or n != N or nsrc != MAX_SOURCES:
        raise BadFile(f"has format {version} with {n} series (this chrony-snap writes {VERSION} with {N})")
    if ntiers != len(layout.tiers) or tuple(rest[:6]) != layout.key():
        raise BadFile("has other tiers than [history] now configures")
    if st.st_size != layout.size:
        raise BadFile(f"is {st.st_size} bytes, not {layout.size} (truncated?)")
    boot_id, anchor_boot, anchor_wall, last = rest[6:]
    if not all(x == x and abs(x) < 1e12 for x in (anchor_boot, anchor_wall, last)):
        raise BadFile("has a corrupt header")
    return boot_id.rstrip(b"\0").decode("ascii", "replace"), anchor_boot, anchor_wall, last


def size_of(cfg) -> int:
    return Layout(tiers_of(cfg)).size


def is_disk_full(e: OSError) -> bool:
    return e.errno in (errno.ENOSPC, errno.EDQUOT)


# ---- events (pure) ----


def observe(reachable, tracking, sources, rates, summary, health) -> dict:
    """What the events compare from one tick to the next (None: unknown this tick)."""
    obs = {"chronyd": "reachable" if reachable else "unreachable", "health": health["status"] if health else None}
    if tracking is not None:
        ref = tracking["reference_address"] or tracking["reference_name"] or tracking["reference_id"]
        obs.update(reference=ref, stratum=tracking["stratum"], leap=tracking["leap_status"])
    if sources is not None:
        obs["sources"] = {s["address"]: ("unreachable" if s["reach"] == 0 else s["state"]) for s in sources}
    if rates is not None:
        obs["client_log"] = "dropping" if rates.get("client_log_records_dropped", 0) > 0 else "ok"
    if summary is not None:
        obs["population"] = "critical" if summary["critical"] else "warning" if summary["warning"] else "ok"
    return obs


_MESSAGES = {
    "reference": "reference changed",
    "stratum": "stratum changed",
    "leap": "leap status changed",
    "client_log": "client log records dropped",
    "population": "client population status changed",
    "health": "health verdict changed",
}
_SOURCE_EVENTS = {
    "unreachable": "source_unreachable",
    "falseticker": "source_falseticker",
    "selected": "source_selected",
}


def changes(prev: dict, cur: dict, when: float) -> list:
    """The events between two observations: {t, code, message, before, after}.
    A value unknown in either tick is not compared."""
    if not prev:
        return []
    out = []

    def ev(code, message, before, after):
        out.append({"t": when, "code": code, "message": message, "before": before, "after": after})

    if prev.get("chronyd") != cur["chronyd"] and prev.get("chronyd") is not None:
        code = "chronyd_unreachable" if cur["chronyd"] == "unreachable" else "chronyd_recovered"
        ev(
            code,
            f"chronyd {'did not answer' if code == 'chronyd_unreachable' else 'answers again'}",
            prev["chronyd"],
            cur["chronyd"],
        )
    for key, message in _MESSAGES.items():
        a, b = prev.get(key), cur.get(key)
        if a is None or b is None or a == b:
            continue
        if key == "client_log":
            if b == "dropping":
                ev("client_log_dropping", "chronyd started dropping client log records (raise clientloglimit)", a, b)
            continue
        ev(f"{key}_changed", f"{message}: {a} -> {b}", a, b)
    ps, cs = prev.get("sources"), cur.get("sources")
    if ps is not None and cs is not None:
        for addr, state in cs.items():
            before = ps.get(addr)
            if state != before and state in _SOURCE_EVENTS:
                ev(_SOURCE_EVENTS[state], f"source {addr}: {before or 'new'} -> {state}", before, state)
    return out


def keep_unknown(prev: dict, cur: dict) -> dict:
    """The next tick compares with the last known value of each key."""
    merged = dict(prev or {})
    merged.update(cur)
    return merged
