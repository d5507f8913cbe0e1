#!/usr/bin/env python3
"""Benchmark the cost of the Prometheus metrics: `chrony-snap build` with
`[metrics] enabled = true` (the default: the client histograms counted in the
encoder, the metrics file written) against `enabled = false`, on the same
tree, against the same REAL chronyd with N clients, runs interleaved (the
order alternates run by run).  Reports medians of whole-process CPU
(user+sys, chronyc children included) and the median of the per-run on/off
ratios.  Target (issue 9): on / off <= 1.05 at 1k and 10k clients.

Not a test.  Uses bench/snapshot_bench.py's sandbox traffic and measurement.

usage: python bench/metrics_bench.py [--sizes 1000,10000] [--runs 21] [--packets 1-3] [--out FILE]
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from snapshot_bench import REPO, Sandbox, Variant, emit, measure, med, packets_per_client, send_traffic  # noqa: E402

CONFIGS = {"on": "[metrics]\nenabled = true\n", "off": "[metrics]\nenabled = false\n"}


def bench_size(n, runs, counts, configs=CONFIGS, product="metrics"):
    """CPU of the 'on' and 'off' configs, interleaved; `product` is the web
    root's file or directory that exists only with 'on'."""
    tmp = Path(tempfile.mkdtemp(prefix="cs-m", dir="/tmp"))
    tree = Variant("tree", REPO)
    try:
        with Sandbox(tmp / "c", ipv6=False) as sb:
            send_traffic(sb, n, counts)
            builds = {}
            for name, extra in configs.items():
                cfg = tmp / f"{name}.toml"
                cfg.write_text("[dns]\nenabled = false\n[chrony]\nclients_deadline_s = 30\n" + extra)
                tree.name = name  # its own web root and state directory
                builds[name] = tree.argv(tmp, sb.socket, cfg)
            for argv in builds.values():
                measure(argv, tree.env)  # first run renders the page and fills the state
                measure(argv, tree.env)
            rows = {name: [] for name in builds}
            for i in range(runs):
                for name in ("on", "off") if i % 2 == 0 else ("off", "on"):
                    rows[name].append(measure(builds[name], tree.env)[0])
            assert (tmp / "on" / "www" / product).exists() and not (tmp / "off" / "www" / product).exists()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    paired = med([a / b for a, b in zip(rows["on"], rows["off"], strict=True)])
    return {"n": n, "runs": runs, "on": med(rows["on"]) * 1000, "off": med(rows["off"]) * 1000, "paired": paired}


def main(configs=CONFIGS, product="metrics", script="bench/metrics_bench.py", note=""):
    """The command line and the table, for `product` ('metrics', or what calls this)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--packets", default="1-3", help="NTP requests per client: N, or N-M")
    ap.add_argument("--out", default=None, help="also write the markdown table here")
    a = ap.parse_args()
    counts = packets_per_client(a.packets)
    lines = [
        f"Command: `{' '.join(['python', script] + sys.argv[1:])}`  ",
        f"Machine: {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}, "
        f"medians of {a.runs} interleaved runs, {a.packets} NTP request(s) per client.{note}",
        "",
        f"| clients | CPU, {product} off | CPU, {product} on | on / off (medians) "
        "| on / off (median of per-run ratios) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for n in [int(x) for x in a.sizes.split(",")]:
        r = bench_size(n, a.runs, counts, configs, product)
        lines.append(
            f"| {n:,} | {r['off']:.1f} ms | {r['on']:.1f} ms | **{r['on'] / r['off']:.3f}** | **{r['paired']:.3f}** |"
        )
        print(lines[-1], flush=True)
    emit(lines, a.out)


if __name__ == "__main__":
    main()
