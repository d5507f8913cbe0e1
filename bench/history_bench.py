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

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from metrics_bench import bench_size  # noqa: E402
from snapshot_bench import emit, packets_per_client  # noqa: E402

from chrony_snap import config, history as H  # noqa: E402

CONFIGS = {"on": "[history]\nenabled = true\n", "off": "[history]\nenabled = false\n"}


def bytes_per_tick() -> int:
    """pwrite payload of one tick: the 1 s slot, each coarser bucket, the last position."""
    layout = H.Layout(H.tiers_of(config.defaults()))
    return sum(rec for *_, rec in layout.tiers) + 8


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--packets", default="1-3", help="NTP requests per client: N, or N-M")
    ap.add_argument("--out", default=None, help="also write the markdown table here")
    a = ap.parse_args()
    counts = packets_per_client(a.packets)
    lines = [
        f"Command: `{' '.join(['python', 'bench/history_bench.py'] + sys.argv[1:])}`  ",
        f"Machine: {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}, "
        f"medians of {a.runs} interleaved runs, {a.packets} NTP request(s) per client.  "
        f"History writes {bytes_per_tick():,} bytes per tick "
        f"(default tiers; file {H.size_of(config.defaults()):,} bytes).",
        "",
        "| clients | CPU, history off | CPU, history on | on / off (medians) | on / off (median of per-run ratios) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for n in [int(x) for x in a.sizes.split(",")]:
        r = bench_size(n, a.runs, counts, CONFIGS, "history")
        lines.append(
            f"| {n:,} | {r['off']:.1f} ms | {r['on']:.1f} ms | **{r['on'] / r['off']:.3f}** | **{r['paired']:.3f}** |"
        )
        print(lines[-1], flush=True)
    emit(lines, a.out)


if __name__ == "__main__":
    main()
