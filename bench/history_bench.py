#!/usr/bin/env python3
"""Benchmark the cost of history: `chrony-snap build` with `[history]
enabled = true` (the default: the ring file's 1 s slot and coarser buckets
updated, events compared) against `enabled = false`, on the same tree,
against the same REAL chronyd with N clients, runs interleaved (the order
alternates run by run).  Reports medians of whole-process CPU (user+sys,
chronyc children included), the median of the per-run on/off ratios, and the
bytes history writes per tick (the tick's pwrite payload, from the file's
layout; the kernel writes back at most one 4 KiB page per tier and the
header's).  Target (issue 8): on / off <= 1.10 at 1k and 10k clients.

Not a test.  Runs bench/metrics_bench.py's interleaved on/off loop with [history] on and off.

usage: python bench/history_bench.py [--sizes 1000,10000] [--runs 21] [--packets 1-3] [--out FILE]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import metrics_bench  # noqa: E402

from chrony_snap import config, history as H  # noqa: E402

CONFIGS = {"on": "[history]\nenabled = true\n", "off": "[history]\nenabled = false\n"}


def bytes_per_tick() -> int:
    """pwrite payload of one tick: the 1 s slot, each coarser bucket, the last position."""
    layout = H.Layout(H.tiers_of(config.defaults()))
    return sum(rec for *_, rec in layout.tiers) + 8


def main():
    note = (
        f"  History writes {bytes_per_tick():,} bytes per tick "
        f"(default tiers; file {H.size_of(config.defaults()):,} bytes)."
    )
    metrics_bench.main(CONFIGS, "history", "bench/history_bench.py", note)


if __name__ == "__main__":
    main()
