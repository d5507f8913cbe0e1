"""Assemble data.json (schema version 1) around the clients array (which
clients.py encodes). Pure: no I/O.
"""

import time

from chrony_snap import SCHEMA_VERSION, __version__, fields as F
from chrony_snap.cadence import restarted
from chrony_snap.health import max_clock_error
from chrony_snap.jsonenc import dumps


def rfc3339(epoch: float, ms: bool = True) -> str:
    """UTC, with milliseconds (2026-12-03T14:32:13.250Z) or in whole seconds
    (2026-12-03T14:32:13Z: first_seen, history export)."""
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))
    return f"{text}.{int(epoch * 1000) % 1000:03d}Z" if ms else text + "Z"


def serverstats_rate(cur, prev, dt):
    """Per-second rates of serverstats' counters; None when unknown.  `prev`
    comes from a state file: anything but sane counters gives None."""
    if cur is None or prev.__class__ is not dict or dt is None or restarted(prev, cur):
        return None
    out = {}
    for k, v in cur.items():
        if k in F.SERVERSTATS_GAUGES:
            continue
        p = prev.get(k)
        if p.__class__ is not int or v.__class__ is not int or p < 0 or v >= 1 << 64:
            return None  # unknown
        out[k] = round((v - p) / dt, 3)
    return out


def head_bytes(*, seq, now_wall, host, cfg):
    """data.json up to the clients array, known before chronyc answers:
    schema_version, generated_at and seq come first (state.seq_from_snapshot
    reads seq back from the first bytes)."""
    page = cfg["page"]
    top = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": rfc3339(now_wall),
        "seq": seq,
        "host": host,
        "generator": {"name": "chrony-snap", "version": __version__},
        "refresh_s": page["refresh_s"],
        "stale_after_s": page["refresh_s"] * page["stale_after_refreshes"],
    }
    return dumps(top)[:-1].encode("utf-8") + b',"clients":['


def tail_bytes(
    *,
    cfg,
    chrony,
    reports,
    summary,
    errors,
    duration_ms,
    ss_rate,
    health=None,
    history=None,
    client_log=None,
    clients_meta=None,
):
    """The rest of data.json, after the clients array (`health`, `history`,
    `client_log` and `clients_meta` left out when None)."""
    st = cfg["status"]
    tracking = reports.get("tracking")
    if tracking is not None:
        tracking = {**tracking, "max_clock_error_s": max_clock_error(tracking)}
    rest = {
        "duration_ms": duration_ms,
        "chrony": chrony,
        "status_rule": {
            "preset": st["preset"],
            "warning_drops": st["warning_drops"],
            "critical_drops": st["critical_drops"],
            "critical_drop_ratio": st["critical_drop_ratio"],
        },
        "summary": summary,
        "tracking": tracking,
        "sources": reports.get("sources"),
        "sourcestats": reports.get("sourcestats"),
        "serverstats": reports.get("serverstats"),
        "serverstats_rate": ss_rate,
        "activity": reports.get("activity"),
        "errors": errors,
    }
    if health is not None:
        rest["health"] = health
    if history is not None:
        rest["history"] = history
    if client_log is not None:
        rest["client_log"] = client_log
    if clients_meta is not None:
        rest.update(clients_meta)
    return b"]," + dumps(rest)[1:].encode("utf-8")


def live_bytes(head: bytes, tail: bytes) -> bytes:
    """The page's per-second file: data.json without its client list."""
    return head[: -len(b',"clients":[')] + b"," + tail[2:]
