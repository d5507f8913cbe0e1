#!/usr/bin/env python3
"""Benchmark the cost of history: `chrony-snap build` with `[history]
enabled = true` (the default: the ring file's 1 s slot and coarser buckets
updated, events compared) against `enabled = false`, on the same tree,
against the same REAL chronyd with N clients, runs interleaved (the order
alternates run by run).  Reports medians of whole-process CPU (user+sys,
chronyc children included), the median of the per-run on/off ratios, and the
bytes history writes per tick: the ring file's pwrite payload (from its
layout; the kernel writes back at most one 4 KiB page per tier and the
header's) and the files published in the web root (chunks, tails, index:
measured over a simulated hour of 1 Hz ticks with the default tiers).
Target (issue 8): on / off <= 1.10 at 1k and 10k clients.

Not a test.  Runs bench/metrics_bench.py's interleaved on/off loop with [history] on and off.

usage: python bench/history_bench.py [--sizes 1000,10000] [--runs 21] [--packets 1-3] [--out FILE]
"""

import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import metrics_bench  # noqa: E402

from chrony_snap import config, history as H, history_publish as P  # noqa: E402

CONFIGS = {"on": "[history]\nenabled = true\n", "off": "[history]\nenabled = false\n"}


def bytes_per_tick() -> int:
    """pwrite payload of one tick: the 1 s slot, each coarser bucket, the last position."""
    layout = H.Layout(H.tiers_of(config.defaults()))
    return sum(rec for *_, rec in layout.tiers) + 8


def published_per_tick(seconds=3600) -> tuple:
    """(mean bytes per tick, median ms per tick) the web root's history/ takes:
    an hour of 1 Hz ticks in the middle of a week (the 1 h tail half full)."""
    layout = H.Layout(H.tiers_of(config.defaults()))
    with tempfile.TemporaryDirectory(dir="/tmp") as d:
        p0 = 2960 * P.CHUNK_ROWS[2] * 3600 + 3 * 86400
        sizes, times = [], []
        with H.Ring.open(f"{d}/h.bin", layout, print) as r:
            for p in range(p0, p0 + 120 + seconds):
                r.append(p, [float(p % 13)] * (H.N - 1) + [math.nan])
                t = time.perf_counter()
                n = P.publish(r, p, f"{d}/www", False)
                if p >= p0 + 120:  # past the first minutes (a fresh start publishes everything)
                    sizes.append(n)
                    times.append(time.perf_counter() - t)
    return sum(sizes) / len(sizes), sorted(times)[len(times) // 2] * 1000


def main():
    cfg = config.defaults()
    pub, ms = published_per_tick()
    note = (
        f"  History writes {bytes_per_tick():,} bytes per tick into the ring file (default tiers; file "
        f"{H.size_of(cfg):,} bytes) and {pub:,.0f} bytes per tick on average into the web root's history/ "
        f"({ms:.2f} ms median; at most {P.footprint(H.Layout(H.tiers_of(cfg))) / 1e6:.1f} MB there)."
    )
    metrics_bench.main(CONFIGS, "history", "bench/history_bench.py", note)


if __name__ == "__main__":
    main()
