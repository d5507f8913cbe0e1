"""Trends polish (issue 8, item 5 "In the page"), in Chromium on the engine's
history (helpers.TrendSite): a colour key in each chart's read-out (a swatch
in the line's colour and dash before each series name), one precision for
the trend figures (3 significant digits, format.js), and the offset
percentiles fitting a phone.  Each test fails on main: no swatches there,
"-0.003651 ppm" and "+1000 ns" in the summaries, and the percentile table
cut off at 390 px ("95 % rar…").
"""

from __future__ import annotations

import re

import pytest

pytest.importorskip("playwright")
from playwright.sync_api import expect  # noqa: E402
from test_page_trends import PHONE, open_trends, pick  # noqa: E402

CHARTS = ("offset", "frequency", "root", "traffic", "population", "sources")
TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def key(page, chart):
    """Each read-out swatch: its colour, its line style and the text after it."""
    return page.evaluate(
        """(id) => [...document.querySelectorAll(`#tc-${id} .readout .sw`)].map((s) => ({
             colour: getComputedStyle(s).borderTopColor, style: getComputedStyle(s).borderTopStyle,
             hidden: s.getAttribute("aria-hidden"), text: s.textContent,
             label: s.nextSibling && s.nextSibling.textContent }))""",
        chart,
    )


def strokes(page, chart):
    """The plot's lines (not the min/max band edges): label, colour, dash."""
    return page.evaluate(
        """(id) => window.chronySnap.trends.plots[id].series.slice(1)
             .filter((s) => !/ (min|max)$/.test(s.label))
             .map((s) => ({label: s.label, stroke: s.stroke(), dash: s.dash || null}))""",
        chart,
    )


def test_every_chart_with_two_lines_has_a_colour_key(trend_site, new_page):
    """A swatch before each series name in the read-out, in the line's colour,
    and a different line style for each line (colour is not the only cue);
    kept while the read-out follows the cursor."""
    _, page = open_trends(new_page, trend_site)
    for chart in CHARTS:
        lines, swatches = strokes(page, chart), key(page, chart)
        assert len(lines) >= 2, chart
        assert [s["label"].strip() for s in swatches] == [x["label"] for x in lines], chart
        assert [s["colour"] for s in swatches] == [x["stroke"] for x in lines], chart
        assert all(s["hidden"] == "true" and s["text"] == "" for s in swatches), chart
        styles = [s["style"] for s in swatches]
        assert len(set(styles)) == len(styles), (chart, styles)
        dashes = [str(x["dash"]) for x in lines]
        assert len(set(dashes)) == len(dashes), (chart, dashes)
    over = page.locator("#tc-offset .u-over")
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    expect(page.locator("#tc-offset .readout")).to_have_text(re.compile(f"^{TIME.pattern} · Offset "))
    assert len(key(page, "offset")) == 2
    page.mouse.move(0, 0)
    expect(page.locator("#tc-offset .readout")).to_have_text(re.compile("^Latest: "))
    assert len(key(page, "offset")) == 2


def significant_digits(number):
    return len(number.replace(",", "").replace(".", "").lstrip("+-").lstrip("0"))


@pytest.mark.parametrize("label, tier", [("24 h", "1m"), ("15 min", "1s")])
def test_trend_figures_have_three_significant_digits(trend_site, new_page, label, tier):
    """Summaries, read-outs and percentiles: no figure with more than 3
    significant digits (main printed "median -0.003651 ppm", "0.03707 ppm",
    and "+1000 ns" where it meant "+1 µs")."""
    _, page = open_trends(new_page, trend_site)
    if tier != "1m":
        pick(page, label, tier)
    expect(page.locator("#tc-frequency .tsum")).to_have_text(re.compile("^Frequency: min "))
    texts = page.locator("#trends .tsum, #trends .readout, #trends-pct td").all_text_contents()
    assert len(texts) == 2 * len(CHARTS) + 7
    for text in texts:
        text = TIME.sub("", text).replace("127.0.0.", "")
        for number in re.findall(r"[+-]?\d[\d,]*(?:\.\d+)?", text):
            assert significant_digits(number) <= 3, (number, text)
        assert not re.search(r"\b1000 (ns|µs|ms)\b", text), text


def test_format_helpers_round_to_three_digits(trend_site, new_page):
    """The one rule (format.js): 3 significant digits, the unit chosen after
    rounding, whole numbers of 1000 and more kept whole."""
    _, page = open_trends(new_page, trend_site)
    got = page.evaluate(
        r"""async () => { const url = performance.getEntriesByType("resource").map((e) => e.name)
               .find((n) => /\/format[.\w-]*\.js/.test(n));
             const f = await import(url);
             return [f.significant(-0.003651), f.significant(0.037071), f.significant(12345.6),
                     f.significant(999.7), f.formatSeconds(9.9996e-7, true), f.formatSeconds(-0.00012345),
                     f.formatPpmTrend(-0.003651), f.formatPerSecond(25.456), f.formatPerSecond(1234.5)]; }"""
    )
    assert got == ["-0.00365", "0.0371", "12,346", "1,000", "+1 µs", "-123 µs", "-0.00365 ppm", "25.5/s", "1,235/s"]


def test_phone_shows_every_percentile_cell(trend_site, new_page):
    """At 390 px the offset percentiles fit: every header and value cell
    inside the viewport and its box, nothing scrolled out of sight."""
    _, page = open_trends(new_page, trend_site, viewport=PHONE)
    pct = page.locator("#trends-pct")
    pct.scroll_into_view_if_needed()
    expect(page.locator("#trends-pct td").first).not_to_have_text("–")
    cells = page.evaluate(
        """() => { const box = document.getElementById("trends-pct").closest(".hbox").getBoundingClientRect();
             return [...document.querySelectorAll("#trends-pct th, #trends-pct td")].map((c) => {
               const r = c.getBoundingClientRect();
               return {text: c.textContent, left: r.left, right: r.right, box: [box.left, box.right],
                       clipped: c.scrollWidth > c.clientWidth}; }); }"""
    )
    assert len(cells) == 14
    for c in cells:
        assert c["left"] >= 0 and c["right"] <= PHONE["width"], c
        assert c["box"][0] <= c["left"] and c["right"] <= c["box"][1], c
        assert not c["clipped"], c
    scrolls = page.evaluate(
        "[...document.querySelectorAll('#trends-pct .tscroll')].map((s) => s.scrollWidth - s.clientWidth)"
    )
    assert scrolls and all(s <= 0 for s in scrolls), scrolls
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
