"""Synthetic, schema-valid data.json (schema_version 1) with N clients.

    python bench/synth.py --clients 100000 --out /tmp/x/data.json [--seed 1] [--seq 7]

Deterministic for a given seed/seq: ~93% IPv4 (10.x.y.z), ~7% IPv6
(2001:db8::/32), a third with hostnames, status by the default rule, a few
never-seen command sides, rates on every client.  ``make(n, seq=s)`` with the
same seed and a higher seq gives the "next second": counters and last-seen
grow for a small share of clients, so a refresh has realistic changes.
Used by bench/browser_bench.py and the browser tests (which validate it
against chrony_snap/schema/data-v1.schema.json).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from chrony_snap.clients import classify  # noqa: E402
from chrony_snap.config import PRESETS, defaults  # noqa: E402
from chrony_snap.health import verdict  # noqa: E402

# the default preset, as data.json's status_rule states it
RULE = dict(zip(("warning_drops", "critical_drops", "critical_drop_ratio"), PRESETS["default"], strict=True))


def _v6(i: int) -> str:
    return f"2001:db8:{(i >> 16) & 0xFFFF:x}:{i & 0xFFFF:x}::{(i * 7919) & 0xFFFF:x}"


def clients(n: int, seed: int = 1, seq: int = 1, nts: bool = False, names=None):
    """List of client dicts (schema order)."""
    rnd = random.Random(seed)
    names = names or {}
    out = []
    for i in range(n):
        # a fixed number of draws per client: the same seed gives the same
        # addresses, names and base counters whatever the seq
        r, hr, dr, cr, kr = rnd.random(), rnd.random(), rnd.random(), rnd.random(), rnd.random()
        base = rnd.randint(1, 5000)
        poll = (16.0, 32.0, 64.0, 128.0, 256.0, 1024.0)[rnd.randrange(6)]
        d_small, d_big = rnd.randint(1, 9), rnd.randint(10, 5000)
        last0 = rnd.randint(1, 100000)
        cmd_n, cmd_last = rnd.randint(1, 50), rnd.randint(0, 5000)
        k_n, k_last = rnd.randint(1, 20), rnd.randint(0, 80000)
        if r < 0.07:
            addr, fam = _v6(i), "ipv6"
        else:
            addr, fam = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}", "ipv4"
        host = names.get(addr)
        if host is None and hr < 0.33:
            host = f"host-{i}.pool.example.net"
        drops = 0 if dr < 0.9 else (d_small if dr < 0.97 else d_big)
        # the "next second": a deterministic ~10% of clients sent a packet per seq step
        active = (i * 2654435761 + seq) % 10 == 0
        packets = base + drops + (seq if active else 0)
        last = 0 if active else last0 + seq
        cmd_packets = cmd_n if cr < 0.02 else 0
        c = {
            "address": addr,
            "family": fam,
            "hostname": host,
            "status": classify(packets, drops, RULE),
            "ntp": {
                "packets": packets,
                "drops": drops,
                "interval_s": poll,
                "interval_limited_s": (poll * 2 if drops else None),
                "last_seen_s": last,
            },
            "cmd": {
                "packets": cmd_packets,
                "drops": 0,
                "interval_s": (2.0 if cmd_packets else None),
                "last_seen_s": (cmd_last if cmd_packets else None),
            },
        }
        if nts:
            c["nts_ke"] = (
                {"connections": k_n, "drops": 0, "interval_s": 4096.0, "last_seen_s": k_last} if kr < 0.3 else None
            )
        c["rate"] = {"ntp_pps": (round(1 / poll, 3) if not active else 1.0), "drop_pps": 0.0}
        out.append(c)
    return out


def make(
    n: int,
    seed: int = 1,
    seq: int = 1,
    nts: bool = False,
    names=None,
    errors=None,
    generated_at: float | None = None,
    host: str = "synth",
    refresh_s: float = 1.0,
) -> dict:
    cl = clients(n, seed, seq, nts, names)
    summary = {
        k: 0
        for k in (
            "clients",
            "ok",
            "warning",
            "critical",
            "ipv4",
            "ipv6",
            "active_60s",
            "ntp_packets",
            "ntp_drops",
            "cmd_packets",
            "cmd_drops",
        )
    }
    pps = dps = 0.0
    for c in cl:
        summary["clients"] += 1
        summary[c["status"]] += 1
        summary[c["family"]] += 1
        last = [x for x in (c["ntp"]["last_seen_s"], c["cmd"]["last_seen_s"]) if x is not None]
        if last and min(last) <= 60:
            summary["active_60s"] += 1
        summary["ntp_packets"] += c["ntp"]["packets"]
        summary["ntp_drops"] += c["ntp"]["drops"]
        summary["cmd_packets"] += c["cmd"]["packets"]
        summary["cmd_drops"] += c["cmd"]["drops"]
        pps += c["rate"]["ntp_pps"]
        dps += c["rate"]["drop_pps"]
    summary["ntp_pps"] = round(pps, 3)
    summary["drop_pps"] = round(dps, 3)
    now = time.time() if generated_at is None else generated_at
    ms = int(now * 1000) % 1000
    ss = {
        "ntp_packets_received": summary["ntp_packets"] + 1000,
        "ntp_packets_dropped": summary["ntp_drops"],
        "cmd_packets_received": summary["cmd_packets"] + 10,
        "cmd_packets_dropped": 0,
        "client_log_records_dropped": 0,
        "nts_ke_connections_accepted": 0,
        "nts_ke_connections_dropped": 0,
        "authenticated_ntp_packets": 0,
        "interleaved_ntp_packets": 12,
        "ntp_timestamps_held": 40,
        "ntp_timestamp_span_s": 3,
    }
    doc = {
        "schema_version": 1,
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{ms:03d}Z",
        "seq": seq,
        "host": host,
        "generator": {"name": "chrony-snap", "version": "0.1.0"},
        "refresh_s": refresh_s,
        "stale_after_s": refresh_s * 3,
        "duration_ms": 12.5,
        "chrony": {"reachable": True, "version": "4.3", "socket": "/run/chrony/chronyd.sock"},
        "status_rule": {"preset": "default", **RULE},
        "summary": summary,
        "tracking": {
            "reference_id": "C0A80001",
            "reference_name": None,
            "reference_address": "192.168.0.1",
            "stratum": 2,
            "ref_time": now - 30,
            "system_time_s": -0.000012345,
            "last_offset_s": 0.0000021,
            "rms_offset_s": 0.0000153,
            "frequency_ppm": -12.345,
            "residual_freq_ppm": 0.001,
            "skew_ppm": 0.021,
            "root_delay_s": 0.001234,
            "root_dispersion_s": 0.000456,
            "update_interval_s": 64.2,
            "leap_status": "Normal",
        },
        "sources": [
            {
                "mode": "server",
                "state": "selected",
                "address": "192.168.0.1",
                "stratum": 1,
                "poll_log2": 6,
                "poll_s": 64,
                "reach": 255,
                "last_rx_s": 12,
                "offset_s": 0.0000011,
                "measured_offset_s": 0.0000013,
                "error_s": 0.000021,
            },
            {
                "mode": "server",
                "state": "combined",
                "address": "192.168.0.2",
                "stratum": 2,
                "poll_log2": 6,
                "poll_s": 64,
                "reach": 127,
                "last_rx_s": 40,
                "offset_s": -0.00021,
                "measured_offset_s": -0.00022,
                "error_s": 0.00011,
            },
            {
                "mode": "refclock",
                "state": "unusable",
                "address": "PPS0",
                "stratum": 0,
                "poll_log2": 4,
                "poll_s": 16,
                "reach": 0,
                "last_rx_s": None,
                "offset_s": 0.0,
                "measured_offset_s": 0.0,
                "error_s": 0.0,
            },
        ],
        "sourcestats": [
            {
                "address": "192.168.0.1",
                "samples": 20,
                "runs": 11,
                "span_s": 1200,
                "frequency_ppm": 0.001,
                "freq_skew_ppm": 0.02,
                "offset_s": 0.0000004,
                "std_dev_s": 0.000011,
            },
        ],
        "serverstats": ss,
        "serverstats_rate": {
            "ntp_packets_received": round(pps, 3),
            "ntp_packets_dropped": 0.0,
            "cmd_packets_received": 0.0,
            "cmd_packets_dropped": 0.0,
            "client_log_records_dropped": 0.0,
            "nts_ke_connections_accepted": 0.0,
            "nts_ke_connections_dropped": 0.0,
            "authenticated_ntp_packets": 0.0,
            "interleaved_ntp_packets": 0.0,
        },
        "activity": {"online": 3, "offline": 0, "burst_online": 0, "burst_offline": 0, "unresolved": 0},
        "errors": errors or [],
        "clients": cl,
    }
    doc["health"] = with_health(doc)["health"]
    return doc


def with_health(doc: dict) -> dict:
    """doc with the engine's verdict over its own reports (after a test changed them)."""
    doc["health"] = verdict(
        reachable=doc["chrony"]["reachable"],
        tracking=doc["tracking"],
        sources=doc["sources"],
        serverstats=doc["serverstats"],
        serverstats_rate=doc["serverstats_rate"],
        thresholds=defaults()["health"],
    )
    return doc


def dumps(doc: dict) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def write(path: str, doc: dict):
    """Atomic write (a reader never sees a torn file)."""
    import os

    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(dumps(doc))
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seq", type=int, default=1)
    ap.add_argument("--nts", action="store_true")
    a = ap.parse_args(argv)
    write(a.out, make(a.clients, a.seed, a.seq, a.nts))


if __name__ == "__main__":
    main()
