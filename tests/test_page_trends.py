"""The Trends section (issue 8, "In the page"), in Chromium, on a history
the engine wrote and published (helpers.TrendSite) and a real nginx:
the tier a window uses and its number of points, a gap drawn as a gap, no
spike lost at 1 min, events as markers and in a list, the range picker (and
its persistence), drag-to-zoom to the 1 s tier and back, the hover read-out,
the theme, a phone, the live extension from data.json polls without
downloading the window again, "no data", and the section hidden when
history is off.  All of it fails on main: the page has no #trends section.
"""

from __future__ import annotations

import hashlib
import os
import re

import pytest

pytest.importorskip("playwright")
from playwright.sync_api import expect  # noqa: E402

from helpers import REPO, wait_seq  # noqa: E402

PHONE = {"width": 390, "height": 1400}
WIDE = {"width": 1280, "height": 1400}
UPLOT = {  # assets/vendor/uplot/VENDOR.md
    "uPlot.esm.js": "5dd9b3281aa64b461b42d9945f6adb2649d346502b12281a9ae0d46599a80eba",
    "uPlot.min.css": "df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04",
    "LICENSE": "8f989229699b4fe2f1a0432d0e9edc338a8a911e250e2d1b01ecd770a5f5b1bd",
}


def open_trends(new_page, site, viewport=WIDE, tier="1m", **kw):
    """The page with the Trends section opened (it starts closed)."""
    probe = new_page(site.url, viewport=viewport, **kw)
    page = probe.page
    expect(page.locator("#trends")).to_be_visible()
    page.click("#trends-details > summary")
    expect(page.locator("html")).to_have_attribute("data-trends", tier)
    return probe, page


def plot(page, chart="offset"):
    """The uPlot data of one chart: {x: [...], y: [[...] per series]} and its event markers."""
    return page.evaluate(
        """(id) => { const u = window.chronySnap.trends.plots[id];
                     return {x: u.data[0], y: u.data.slice(1), labels: u.series.slice(1).map((s) => s.label),
                             events: u.eventsDrawn}; }""",
        chart,
    )


def pick(page, label, tier):
    page.locator(".range button", has_text=re.compile("^" + re.escape(label) + "$")).click()
    expect(page.locator("html")).to_have_attribute("data-trends", tier)


def test_uplot_is_the_pinned_release():
    for name, digest in UPLOT.items():
        with open(os.path.join(REPO, "assets", "vendor", "uplot", name), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == digest, name


def test_24h_window_is_the_1min_tier_with_its_gap_and_spike(trend_site, new_page):
    """The default range: 24 h at 1 min (1,441 buckets, not 86,400 points),
    the 10 min gap as 10 nulls (uPlot draws no line across them), the one
    second of 500 requests kept in its bucket's max, min/max bands drawn."""
    _, page = open_trends(new_page, trend_site)
    expect(page.locator(".range button[aria-pressed=true]")).to_have_text("24 h")
    win = page.evaluate("window.chronySnap.trends.window")
    assert win["step_s"] == 60 and win["rows"] == 24 * 60 + 1
    d = plot(page)
    xs, offset = d["x"], d["y"][0]
    assert len(xs) == 24 * 60 + 1 and all(b - a == 60 for a, b in zip(xs, xs[1:], strict=False))
    g0, g1 = trend_site.gap_1m
    gap = [i for i, x in enumerate(xs) if g0 <= x < g1]
    assert len(gap) == 10 and all(offset[i] is None for i in gap)
    assert offset[gap[0] - 1] is not None and offset[gap[-1] + 1] is not None
    bands = ["Offset min", "Offset max", "Max clock error min", "Max clock error max"]
    assert d["labels"] == ["Offset", "Max clock error", *bands]
    traffic = plot(page, "traffic")
    assert max(v for v in traffic["y"][3] if v is not None) == 500  # Requests max: the spike
    assert max(v for v in traffic["y"][0] if v is not None) < 100  # the means do not show it
    assert page.evaluate("window.chronySnap.trends.plots.offset.series.every((s) => s.spanGaps !== true)")


def test_15min_range_is_the_1s_tier_and_is_remembered(trend_site, new_page):
    """15 min: 901 one-second points with the 2 min gap as nulls; the choice
    is a pressed button, and a reload keeps it (prefs)."""
    probe, page = open_trends(new_page, trend_site)
    pick(page, "15 min", "1s")
    for button in page.locator(".range button").all():
        expect(button).to_have_attribute("aria-pressed", "true" if button.text_content() == "15 min" else "false")
    d = plot(page)
    xs = d["x"]
    assert len(xs) == 901 and all(b - a == 1 for a, b in zip(xs, xs[1:], strict=False))
    g0, g1 = trend_site.gap_1s
    assert [x for x, v in zip(xs, d["y"][0], strict=True) if v is None and x < trend_site.now] == list(range(g0, g1))
    assert len(d["y"]) == 2  # no bands at 1 s: min = mean = max
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-trends", "1s")
    expect(page.locator(".range button[aria-pressed=true]")).to_have_text("15 min")
    pick(page, "6 h", "1m")
    assert page.evaluate("window.chronySnap.trends.window.rows") == 6 * 60 + 1


def test_events_are_markers_and_a_list(trend_site, new_page):
    """The builds' events (a stratum change, a source falseticker and selected
    again): a dashed line on every chart and a line of text each, newest first."""
    _, page = open_trends(new_page, trend_site)
    pick(page, "15 min", "1s")
    items = page.locator("#trends-events li")
    expect(items).to_have_count(3)
    texts = items.all_text_contents()
    assert "falseticker -> selected" in texts[0] and "stratum changed: 11 -> 12" in texts[2]
    assert all(re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", t) for t in texts)
    assert items.first.locator("time").get_attribute("datetime").endswith("Z")
    for chart in ("offset", "frequency", "root", "traffic", "population", "sources"):
        assert plot(page, chart)["events"] == 3, chart


def test_hover_reads_out_time_values_and_units(trend_site, new_page):
    _, page = open_trends(new_page, trend_site)
    pick(page, "15 min", "1s")
    over = page.locator("#tc-offset .u-over")
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    readout = page.locator("#tc-offset .readout")
    expect(readout).to_have_text(re.compile("^Latest: "))
    page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2)
    value, time = r"[+-]?[\d.]+ (ns|µs|ms|s)", r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
    expect(readout).to_have_text(re.compile(f"^{time} · Offset {value} · Max clock error {value}$"))
    traffic = page.locator("#tc-traffic .readout")  # the cursors are synced: every chart reads out
    expect(traffic).to_have_text(re.compile(r"^\d{4}-.* · Requests [\d.]+/s · Drops [\d.]+/s$"))
    page.mouse.move(0, 0)
    expect(readout).to_have_text(re.compile("^Latest: "))


def test_drag_zooms_to_the_1s_tier_and_reset_goes_back(trend_site, new_page):
    """A drag over the last 15 minutes of the 24 h view loads them at 1 s."""
    probe, page = open_trends(new_page, trend_site)
    over = page.locator("#tc-offset .u-over")
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    end = trend_site.position
    x0, x1 = page.evaluate(
        "([a, b]) => [a, b].map((t) => window.chronySnap.trends.plots.offset.valToPos(t, 'x'))", [end - 14 * 60, end]
    )
    page.mouse.move(box["x"] + x0, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + x1, box["y"] + 40, steps=4)
    page.mouse.up()
    expect(page.locator("html")).to_have_attribute("data-trends", "1s")
    expect(page.locator("#trends-status")).to_contain_text("Zoomed")
    xs = plot(page)["x"]
    assert 14 * 60 <= len(xs) <= 16 * 60 and xs[-1] - xs[0] == len(xs) - 1
    page.click("#trends-reset")
    expect(page.locator("html")).to_have_attribute("data-trends", "1m")
    expect(page.locator("#trends-reset")).to_be_hidden()


def test_a_window_without_data_says_so(trend_site, new_page):
    """Zoomed into the 2 min gap of the 1 s tier: every chart says "No data"."""
    _, page = open_trends(new_page, trend_site)
    pick(page, "15 min", "1s")
    g0, g1 = trend_site.gap_1s
    page.evaluate(
        """([a, b]) => { const u = window.chronySnap.trends.plots.offset;
                         const l = u.valToPos(a, 'x'), r = u.valToPos(b, 'x');
                         u.setSelect({left: l, width: r - l, top: 0, height: u.bbox.height / devicePixelRatio}); }""",
        [g0 + 10, g1 - 10],
    )
    expect(page.locator("#trends-status")).to_contain_text("no data in this window")
    expect(page.locator("#trends .nodata:visible")).to_have_count(6)
    expect(page.locator("#tc-offset .tsum")).to_have_text("Offset: no data; Max clock error: no data.")


def test_theme_switch_redraws_in_the_other_palette(trend_site, new_page):
    _, page = open_trends(new_page, trend_site, color_scheme="light")
    before = page.evaluate("window.chronySnap.trends.colours")
    page.evaluate("window.oldPlot = window.chronySnap.trends.plots.offset")
    page.click("#theme-toggle")
    page.wait_for_function("window.chronySnap.trends.plots.offset !== window.oldPlot")
    after = page.evaluate("window.chronySnap.trends.colours")
    assert after["text"] != before["text"] and after["--accent"] != before["--accent"]
    # the colours are the page's own, resolved for the dark theme
    assert after["--accent"] == page.evaluate(
        "(() => { const s = document.createElement('span'); s.style.color = 'var(--accent)'; document.body.append(s);"
        " const c = getComputedStyle(s).color; s.remove(); return c; })()"
    )
    assert page.evaluate("window.chronySnap.trends.plots.offset.data[0].length") == 24 * 60 + 1


def test_phone_fits_without_sideways_scroll(trend_site, new_page):
    _, page = open_trends(new_page, trend_site, viewport=PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    right = page.evaluate(
        "Math.max(...[...document.querySelectorAll('#trends .tchart')].map((b) => b.getBoundingClientRect().right))"
    )
    assert right <= PHONE["width"]
    widths = page.evaluate("Object.values(window.chronySnap.trends.plots).map((u) => u.width)")
    assert len(widths) == 6 and all(250 <= w <= PHONE["width"] for w in widths)
    assert plot(page)["x"] and len(plot(page)["x"]) == 24 * 60 + 1


def test_live_poll_extends_the_charts_without_downloading_again(trend_site, new_page):
    """A new tick: the next data.json poll slides the 1 s window by its one row
    (history.row); no chunk, tail or index is fetched again."""
    probe, page = open_trends(new_page, trend_site)
    pick(page, "15 min", "1s")
    page.locator("#tc-offset").scroll_into_view_if_needed()
    first = plot(page)["x"]
    fetched = len(probe.requests)
    updates = page.evaluate("window.chronySnap.trends.updates.length")
    d = trend_site.tick()
    wait_seq(page, d["seq"])
    last = "(p) => window.chronySnap.trends.plots.offset.data[0].at(-1) === p"
    page.wait_for_function(last, arg=d["history"]["position"])
    now = plot(page)
    assert now["x"][0] == first[0] + 1 and len(now["x"]) == len(first)
    row = d["history"]["row"]
    from chrony_snap import history as H

    assert now["y"][0][-1] == pytest.approx(row[H.SERIES.index("system_time_s")], rel=1e-6)
    later = [u for u in probe.requests[fetched:] if "/history/" in u]
    assert later == [], later
    assert page.evaluate("window.chronySnap.trends.updates.length") > updates


def test_closed_section_loads_nothing_until_opened(trend_site, new_page):
    """Closed at first (the client list stays in view): no history request, no
    chart; opened, the window loads; closed again, polls extend nothing."""
    probe = new_page(trend_site.url, viewport=WIDE)
    page = probe.page
    expect(page.locator("#trends")).to_be_visible()
    expect(page.locator("#trends-details")).not_to_have_attribute("open", "")
    d = trend_site.tick()
    wait_seq(page, d["seq"])
    assert [u for u in probe.requests if "/history/" in u] == []
    assert page.evaluate("window.chronySnap.trends.loads") == 0
    page.click("#trends-details > summary")
    expect(page.locator("html")).to_have_attribute("data-trends", "1m")
    assert page.evaluate("window.chronySnap.trends.loads") == 1
    page.click("#trends-details > summary")
    updates = page.evaluate("window.chronySnap.trends.updates.length")
    d = trend_site.tick()
    wait_seq(page, d["seq"])
    assert page.evaluate("window.chronySnap.trends.updates.length") == updates


def test_history_off_hides_the_section(synth_site, new_page):
    """A data.json without `history` (history off, or an older chrony-snap)."""
    synth_site.write(clients=5)
    page = new_page(synth_site.url).page
    wait_seq(page, synth_site.seq)
    expect(page.locator("#trends")).to_have_count(1)
    expect(page.locator("#trends")).to_be_hidden()


def test_table_alternative_and_summary(trend_site, new_page):
    """Each chart has a text summary and, opened, a table of at most 100 rows."""
    _, page = open_trends(new_page, trend_site)
    summary = re.compile(r"^Offset: min -[\d.]+ µs, median -?[\d.]+ (ns|µs), max ")
    expect(page.locator("#tc-offset .tsum")).to_have_text(summary)
    expect(page.locator("#tc-offset .plot")).to_have_attribute("aria-describedby", "tc-offset-sum")
    page.locator("#tc-population details > summary").click()
    rows = page.locator("#tc-population tbody tr")
    expect(rows.first).to_be_visible()
    assert 50 <= rows.count() <= 100
    assert page.locator("#tc-population thead th").all_text_contents() == ["Time", "OK", "Warning", "Critical"]
    pct = page.locator("#trends-pct tbody td").all_text_contents()
    assert len(pct) == 7 and all(re.match(r"^[+-]?[\d.]+ (ns|µs)$", c) for c in pct), pct


def test_trends_screenshots(trend_site, new_page, tmp_path):
    """The section at 24 h, desktop and phone, light and dark (README's
    pictures: CHRONY_SNAP_SCREENSHOTS=docs writes them there)."""
    out = os.environ.get("CHRONY_SNAP_SCREENSHOTS") or str(tmp_path)
    os.makedirs(out, exist_ok=True)
    for scheme in ("light", "dark"):
        for prefix, viewport in (("", {"width": 1280, "height": 900}), ("phone-", PHONE)):
            _, page = open_trends(new_page, trend_site, viewport=viewport, color_scheme=scheme)
            page.mouse.move(0, 0)
            path = os.path.join(out, f"screenshot-trends-{prefix}{scheme}.png")
            page.locator("#trends").screenshot(path=path)
            assert os.path.getsize(path) > 20000
            assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]


def test_a_history_request_that_hangs_fails_instead_of_loading_for_ever(trend_site, new_page):
    """index.json never answered (a stuck proxy, a stalled nginx): the section
    says it cannot load the history once the fetch times out
    (history-data.js FETCH_TIMEOUT_MS, 10 s).  Without the timeout it read
    "Loading…" for as long as the page stayed open."""
    probe = new_page(trend_site.url, viewport=WIDE)
    page = probe.page
    page.route("**/history/index.json", lambda route: None)  # never fulfilled
    expect(page.locator("#trends")).to_be_visible()
    page.click("#trends-details > summary")
    status = page.locator("#trends-status")
    expect(status).to_have_text("Loading…")
    expect(status).to_contain_text("Cannot load the history", timeout=20000)
