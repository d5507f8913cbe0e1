"""`chrony-snap history export`: the history's rings as CSV or JSON (off the
per-second path).  Reads the file the tick writes, without the lock: a row
being written is either the old bucket or the new one (its stamp is checked).
"""

import json
import os
import sys
import time

from chrony_snap import config, history as H, state as S
from chrony_snap.snapshot import rfc3339


class ExportError(Exception):
    pass


def parse_time(text: str, now: float) -> float:
    """Epoch seconds, RFC 3339 UTC (2026-12-03T14:00:00Z), `now`, or `-N[smhd]` before now."""
    t = text.strip()
    if t == "now":
        return now
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if t.startswith("-") and t[-1:] in units:
        try:
            return now - float(t[1:-1]) * units[t[-1]]
        except ValueError:
            pass
    try:
        return float(t)
    except ValueError:
        pass
    from datetime import UTC, datetime

    try:
        d = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise ExportError(f"not a time: {text!r} (epoch seconds, 2026-12-03T14:00:00Z, now or -1h)") from None
    return (d if d.tzinfo else d.replace(tzinfo=UTC)).timestamp()


def columns(ring, coarse: bool) -> list:
    """Series names, sources named by address (`source[ADDR].offset_s`)."""
    names = []
    for s in H.SERIES:
        if s.startswith("source"):
            i, _, what = s[6:].partition("_")
            addr = ring.sources[int(i)]
            if not addr:
                continue
            s = f"source[{addr}].{what}"
        names.append(s)
    return names


def _kept(ring):
    """Indexes of SERIES that are exported (unused source slots are not)."""
    return [
        i for i, s in enumerate(H.SERIES) if not s.startswith("source") or ring.sources[int(s[6:].partition("_")[0])]
    ]


def export(cfg, sdir, since, until, tier, fmt, out):
    hdir = H.directory(cfg, sdir)
    layout = H.Layout(H.tiers_of(cfg))
    names = [n for n, *_ in layout.tiers]
    path = os.path.join(hdir, "history.bin")
    try:
        ring = H.Ring.open(path, layout, None, create=False)
    except FileNotFoundError:
        raise ExportError(f"no history at {path} (is [history] enabled, and --state/--config the build's?)") from None
    except H.BadFile as e:
        raise ExportError(f"{path} {e}") from None
    with ring:
        if tier in (None, "auto"):
            # the finest tier that still holds `since`
            last = ring.last_pos
            tier = next((n for n, step, slots, _, _ in layout.tiers if since >= last - step * slots), names[-1])
        if tier not in names:
            raise ExportError(f"--tier must be one of auto, {', '.join(names)}")
        k = names.index(tier)
        step = layout.tiers[k][1]
        rows = ring.read(k, since, until)
        keep = _kept(ring)
        cols = columns(ring, step > 1)
    if fmt == "json":
        _json(out, tier, step, cols, keep, rows)
    else:
        _csv(out, step, cols, keep, rows)


def _v(x):
    return None if x != x else round(float(x), 9)


def _json(out, tier, step, cols, keep, rows):
    def row(start, vals):
        r = {"t": start, "time": rfc3339(start, ms=False)}
        for name, i in zip(cols, keep, strict=True):
            v = vals[i]
            r[name] = _v(v) if step == 1 else {"min": _v(v[0]), "mean": _v(v[1]), "max": _v(v[2]), "count": int(v[3])}
        return r

    json.dump({"tier": tier, "step_s": step, "series": cols, "rows": [row(s, v) for s, v in rows]}, out)
    out.write("\n")


def _csv(out, step, cols, keep, rows):
    import csv

    w = csv.writer(out, lineterminator="\n")
    if step == 1:
        w.writerow(["time", "t"] + cols)
    else:
        w.writerow(["time", "t"] + [f"{c}_{a}" for c in cols for a in ("min", "mean", "max", "count")])

    def cell(x):
        return "" if x is None else repr(x)

    for start, vals in rows:
        line = [rfc3339(start, ms=False), start]
        for i in keep:
            v = vals[i]
            line += [cell(_v(v))] if step == 1 else [cell(_v(v[0])), cell(_v(v[1])), cell(_v(v[2])), int(v[3])]
        w.writerow(line)


def main(config_path, state_dir, since, until, tier, fmt) -> int:
    """The command: 0, or 2 with a message for bad options or no history."""
    try:
        cfg, _ = config.load(config_path)
        now = time.time()
        t0 = parse_time(since or "-1h", now)
        t1 = parse_time(until or "now", now)
        if fmt not in (None, "csv", "json"):
            raise ExportError("--format must be csv or json")
        export(cfg, state_dir or S.DEFAULT_DIR, t0, t1, tier, fmt or "csv", sys.stdout)
    except (config.ConfigError, ExportError, OSError) as e:
        sys.stderr.write(f"chrony-snap history export: {e}\n")
        return 2
    return 0
