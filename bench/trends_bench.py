"""The Trends section in Chromium (issue 8's page benchmarks).

A web root whose history the engine wrote (tests/helpers.TrendSite: 26 h at
1 min and the last 20 min at 1 s, here with noise so that the chunks
compress like real data), published by `build` ticks and served by the
production nginx block.  Each run is a fresh browser context (no HTTP cache):

* first draw: from the first history fetch (index.json) to the six charts
  painted, for the default 24 h window (1 min tier), then for a zoom into the
  last 15 min (the 1 s tier);
* live update: the main-thread ms of one data.json poll's history row
  (extend() + uPlot's redraw of the charts in view), in both windows; and the
  whole snapshot's apply, for scale;
* transfer: what the 24 h window fetched from history/ (as served), and the
  same files gzipped (what nginx's `gzip on` or a .gz would send);
* JS heap after a garbage collection (CDP), with the 24 h and the 15 min window.

Medians over --runs.  Usage:
    .venv/bin/python bench/trends_bench.py --runs 7 [--out bench/RESULTS-trends.md]
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import random
import shutil
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))

from snapshot_bench import emit  # noqa: E402  (bench/ is sys.path[0] for a script here)

from helpers import CHROMIUM, CHROMIUM_ARGS, TrendSite, short_dir  # noqa: E402

TARGETS = {"draw_ms": 1000, "update_ms": 8}
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "tall": {"width": 1280, "height": 2600}}


class NoisySite(TrendSite):
    """TrendSite's curves plus noise, as a real server's series have."""

    def values(self, pos):
        v = super().values(pos)
        rnd = random.Random(pos)
        return [x if x != x else x * (1 + rnd.gauss(0, 0.05)) + rnd.gauss(0, abs(x) * 0.02 + 1e-9) for x in v]


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def one_run(browser, site, viewport, ticks):
    ctx = browser.new_context(viewport=viewport)
    page = ctx.new_page()
    cdp = ctx.new_cdp_session(page)
    page.goto(site.url)
    page.click("#trends-details > summary")  # closed at first
    page.wait_for_function("() => window.chronySnap?.trends?.draws.length >= 1", timeout=30000)
    r = {}
    d = page.evaluate("window.chronySnap.trends.draws[0]")
    assert d["tier"] == "1m", d
    r["draw24"] = d["drawn"] - d["started"]
    entries = page.evaluate(
        """performance.getEntriesByType('resource').filter((e) => e.name.includes('/history/'))
           .map((e) => ({name: new URL(e.name).pathname, transfer: e.transferSize, body: e.encodedBodySize}))"""
    )
    r["files"] = len(entries)
    r["transfer_kb"] = sum(e["transfer"] for e in entries) / 1024
    r["body_kb"] = sum(e["body"] for e in entries) / 1024
    r["gzip_kb"] = sum(len(gzip.compress((site.out / e["name"].lstrip("/")).read_bytes(), 6)) for e in entries) / 1024
    r["heap24_mb"] = heap(cdp)
    page.locator("#trends-grid").scroll_into_view_if_needed()
    r["up24"], r["apply24"] = live(page, site, ticks)
    n = page.evaluate("window.chronySnap.trends.draws.length")
    end = site.position
    page.evaluate(
        """([a, b]) => { const u = window.chronySnap.trends.plots.offset;
                         const l = u.valToPos(a, 'x'), w = u.valToPos(b, 'x') - l;
                         u.setSelect({left: l, width: w, top: 0, height: 10}); }""",
        [end - 15 * 60, end],
    )
    page.wait_for_function("(n) => window.chronySnap.trends.draws.length > n", arg=n, timeout=30000)
    d = page.evaluate("window.chronySnap.trends.draws.at(-1)")
    assert d["tier"] == "1s", d
    r["draw15"] = d["drawn"] - d["started"]
    r["heap15_mb"] = heap(cdp)
    # the zoomed view is fixed; a 15 min range (live) is what polls extend at 1 s
    page.locator(".range button", has_text="15 min").click()
    page.wait_for_function("(n) => window.chronySnap.trends.draws.length > n", arg=n + 1, timeout=30000)
    page.locator("#trends-grid").scroll_into_view_if_needed()
    r["up15"], r["apply15"] = live(page, site, ticks)
    ctx.close()
    return r


def heap(cdp):
    cdp.send("HeapProfiler.collectGarbage")
    return cdp.send("Runtime.getHeapUsage")["usedSize"] / 2**20


def live(page, site, ticks):
    """`ticks` builds, each waited for on the page: the trends' ms and the whole apply's."""
    updates0 = page.evaluate("() => window.chronySnap.trends.updates.length")
    perf0 = page.evaluate("() => window.chronySnap.perf.length")
    for _ in range(ticks):
        d = site.tick()
        page.wait_for_selector(f'html[data-seq="{d["seq"]}"]', timeout=10000)
        page.wait_for_timeout(100)
    ups = page.evaluate(f"window.chronySnap.trends.updates.slice({updates0})")
    applies = [p["apply"] for p in page.evaluate(f"window.chronySnap.perf.slice({perf0})")]
    return ups, applies


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--ticks", type=int, default=10, help="live polls measured per window and run")
    ap.add_argument("--out", help="write the results as Markdown here too")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    base = short_dir()
    try:
        t0 = time.monotonic()
        with NoisySite(base, refresh_s=0.5).start().served() as site, sync_playwright() as p:
            print(f"site ready in {time.monotonic() - t0:.1f} s", file=sys.stderr)
            results = {}
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for name, viewport in VIEWPORTS.items():
                    runs = []
                    for k in range(args.runs):
                        runs.append(one_run(browser, site, viewport, args.ticks))
                        print(f"{name} run {k + 1}: draw24 {runs[-1]['draw24']:.0f} ms", file=sys.stderr)
                    results[name] = runs
            finally:
                browser.close()
        report(results, args)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def report(results, args):
    def med(runs, key):
        return median([r[key] for r in runs])

    def pooled(runs, key):
        return [x for r in runs for x in r[key]]

    lines = [
        f"`python bench/trends_bench.py --runs {args.runs} --ticks {args.ticks}`; {platform.platform()}, "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; Debian Chromium, nginx on 127.0.0.1. "
        "Medians over the runs (live updates: over every poll of every run, then p90 and max in brackets; "
        "on the 1 min tier a poll redraws one chart in view, in turn; at 1 s every chart in view).",
        "",
        "| viewport | first draw 24 h (1 min) | first draw 15 min zoom (1 s) | live update 24 h | live update 15 min "
        "| whole snapshot apply (15 min) | history fetched 24 h: files, as served / gzipped | JS heap 24 h / 15 min |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, runs in results.items():
        u24, u15 = pooled(runs, "up24"), pooled(runs, "up15")

        def tail(xs):
            return f"{sorted(xs)[int(0.9 * (len(xs) - 1))]:.1f}, {max(xs):.1f}" if xs else "–"

        lines.append(
            f"| {name} {VIEWPORTS[name]['width']}×{VIEWPORTS[name]['height']} "
            f"| {med(runs, 'draw24'):.0f} ms (≤ {TARGETS['draw_ms']}) | {med(runs, 'draw15'):.0f} ms "
            f"| {median(u24):.1f} ms ({tail(u24)}) (≤ {TARGETS['update_ms']}) | {median(u15):.1f} ms ({tail(u15)}) "
            f"| {median(pooled(runs, 'apply15')):.1f} ms "
            f"| {med(runs, 'files'):.0f}: {med(runs, 'body_kb'):.0f} KB / {med(runs, 'gzip_kb'):.0f} KB "
            f"| {med(runs, 'heap24_mb'):.1f} / {med(runs, 'heap15_mb'):.1f} MB |"
        )
    emit(lines, args.out, append=True)


if __name__ == "__main__":
    main()
