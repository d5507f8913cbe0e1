"""The page's health verdict (assets/verdict.js) and the sources that explain
themselves (assets/health.js), in Chromium.  All of this fails on main: it
has no #verdict, no reach dots, no sourcestats in the sources table."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("playwright")
from playwright.sync_api import expect  # noqa: E402

from helpers import wait_seq  # noqa: E402

PHONE = {"width": 390, "height": 900}


def show(synth_site, new_page, doc, **kw):
    synth_site.write(doc)
    page = new_page(synth_site.url, **kw).page
    wait_seq(page, synth_site.seq)
    return page


def update(synth_site, page, doc):
    synth_site.write(doc)
    wait_seq(page, synth_site.seq)


def test_verdict_word_icon_colour_and_reasons(synth_site, new_page):
    import synth

    doc = synth.make(5, refresh_s=0.5)  # its PPS0 refclock has reach 0
    page = show(synth_site, new_page, doc)
    verdict = page.locator("#verdict")
    # the first thing under the header
    assert page.evaluate("document.querySelector('main').firstElementChild.id") == "verdict"
    expect(verdict).to_have_attribute("data-status", "degraded")
    expect(page.locator("#verdict-word")).to_have_text("Degraded")
    expect(page.locator("#verdict-ico")).to_have_text("!")
    reason = page.locator("#verdict-reasons li")
    expect(reason).to_have_count(1)
    expect(reason).to_contain_text("Degraded: 1 of 3 sources answered none of the last 8 polls: PPS0.")
    expect(reason).to_contain_text("sources_unreachable")
    colour = page.evaluate("getComputedStyle(document.getElementById('verdict')).borderLeftColor")

    doc["tracking"]["leap_status"] = "Not synchronised"
    update(synth_site, page, synth.with_health(doc))
    expect(verdict).to_have_attribute("data-status", "critical")
    expect(page.locator("#verdict-word")).to_have_text("Critical")
    expect(page.locator("#verdict-ico")).to_have_text("✕")
    expect(page.locator("#verdict-reasons li").first).to_contain_text("chronyd is not synchronised")
    assert page.evaluate("getComputedStyle(document.getElementById('verdict')).borderLeftColor") != colour

    doc["tracking"]["leap_status"] = "Normal"
    doc["sources"] = doc["sources"][:2]
    update(synth_site, page, synth.with_health(doc))
    expect(page.locator("#verdict-word")).to_have_text("Healthy")
    expect(page.locator("#verdict-ico")).to_have_text("✓")
    expect(page.locator("#verdict-reasons li")).to_have_count(0)

    doc["chrony"]["reachable"] = False
    update(synth_site, page, synth.with_health(doc))
    expect(page.locator("#verdict-reasons li")).to_contain_text("chronyd did not answer")

    del doc["health"]  # an engine without the verdict: unknown, never ok
    update(synth_site, page, doc)
    expect(verdict).to_have_attribute("data-status", "unknown")
    expect(page.locator("#verdict-word")).to_have_text("Unknown")
    expect(page.locator("#verdict-meaning")).to_have_text("This snapshot carries no health verdict.")


def test_reach_dots_state_words_and_sourcestats(synth_site, new_page):
    import synth

    page = show(synth_site, new_page, synth.make(5, refresh_s=0.5))
    rows = page.locator("#sources-body tr")
    expect(rows).to_have_count(3)
    # reach as text (the dots are decoration, hidden from screen readers) plus chronyc's octal
    expect(rows.nth(0).locator(".reach")).to_have_text("8/8 of the last polls (377)")
    expect(rows.nth(1).locator(".reach")).to_have_text("7/8 of the last polls (177)")
    expect(rows.nth(2).locator(".reach")).to_have_text("0/8 of the last polls (0)")
    dots = rows.nth(1).locator(".dot")
    expect(dots).to_have_count(8)
    # 0o177: the oldest poll (left) missed, the seven newest answered
    assert [("on" in c) for c in dots.evaluate_all("ds => ds.map(d => d.className)")] == [False] + [True] * 7
    assert rows.nth(0).locator(".dots").get_attribute("aria-hidden") == "true"
    # the last sample's age, and sourcestats merged by address (none for the second source)
    expect(rows.nth(0)).to_contain_text("12 s ago")
    cells = rows.nth(0).locator("td")
    expect(cells.nth(7)).to_have_text("20")
    expect(cells.nth(8)).to_have_text("20 min")
    expect(cells.nth(9)).to_have_text("0.001 ppm")
    expect(cells.nth(10)).to_have_text("0.02 ppm")
    expect(cells.nth(11)).to_have_text("11 µs")
    expect(rows.nth(1).locator("td").nth(7)).to_have_text("–")
    # the states in words, and what each one shown means
    expect(rows.nth(2).locator(".src-state")).to_have_text("? unusable")
    legend = page.locator("#sources-legend")
    expect(legend.locator("dt")).to_have_text(["selected", "combined", "unusable"])
    expect(legend).to_contain_text("the source chronyd synchronises to")


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_phone_width_both_themes(synth_site, new_page, theme):
    import synth

    doc = synth.make(20, refresh_s=0.5)
    doc["tracking"]["system_time_s"] = 0.7
    page = show(synth_site, new_page, synth.with_health(doc), viewport=PHONE, color_scheme=theme)
    expect(page.locator("#verdict-word")).to_have_text("Critical")
    box = page.locator("#verdict").bounding_box()
    assert box["y"] < 200 and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    expect(page.locator("#verdict-reasons li")).to_have_count(2)
    # nothing sticks out sideways (the sources table scrolls inside its own box)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    word = page.evaluate("getComputedStyle(document.getElementById('verdict-word')).color")
    bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert word != bg


def test_hostile_strings_stay_text(synth_site, new_page):
    import synth

    evil = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    doc = synth.make(3, refresh_s=0.5)
    doc["health"]["reasons"][0]["message"] = evil
    doc["sources"][0]["address"] = evil
    doc["sourcestats"][0]["address"] = evil
    page = show(synth_site, new_page, doc)
    expect(page.locator("#verdict-reasons li")).to_contain_text(evil)
    expect(page.locator("#sources-body tr").first).to_contain_text(evil)
    expect(page.locator("#sources-body tr").first.locator("td").nth(7)).to_have_text("20")  # still merged
    assert page.locator("#verdict img, #verdict script, #sources-body img, #sources-body script").count() == 0


def test_live_local_clock_server(live, new_page):
    """The sandbox's real chronyd serves its local clock: ok, and the page says so."""
    page = new_page(live.url).page
    wait_seq(page, live.data()["seq"])
    assert live.data()["health"]["status"] == "ok"
    expect(page.locator("#verdict-word")).to_have_text("Healthy")
    expect(page.locator("#verdict-reasons li")).to_contain_text("Note: chronyd serves its own clock (local stratum 10)")


def test_live_upstream_stopped_and_back(new_page):
    """Real chronyd with a real upstream chronyd, real builds, real nginx: the
    page's reach dots fill, the verdict leaves ok when the upstream stops and
    comes back with it.  CHRONY_SNAP_SCREENSHOTS=docs also writes
    docs/screenshot-degraded-{light,dark}.png (the verdict and the sources)."""
    import os
    import shutil

    from chrony_snap.harness.nginx import NginxProcess
    from chrony_snap.harness.sandbox import Sandbox
    from helpers import Site, short_dir

    base = short_dir()
    try:
        with Sandbox(base / "up", ratelimit=False) as up:
            server = f"server 127.0.0.1 port {up.ntp_port} iburst minpoll -2 maxpoll -2"
            with Sandbox(base / "dn", extra_conf=server) as dn:
                site = Site(str(base), dn.socket, refresh_s=0.3)
                site.build()
                with NginxProcess(site.out) as web:
                    site.start_ticker()
                    try:
                        page = new_page(web.url, viewport={"width": 1280, "height": 1000}).page
                        reach = page.locator("#sources-body tr").first.locator(".reach")
                        expect(page.locator("#verdict-word")).to_have_text("Healthy", timeout=20000)
                        expect(reach).to_contain_text(re.compile(r"^[1-8]/8 of the last polls \(\d+\)$"))
                        up.stop()
                        expect(page.locator("#verdict-reasons")).to_contain_text("sources_unreachable", timeout=20000)
                        expect(page.locator("#verdict")).not_to_have_attribute("data-status", "ok")
                        expect(reach).to_have_text("0/8 of the last polls (0)")
                        shots = os.environ.get("CHRONY_SNAP_SCREENSHOTS")
                        if shots:
                            site.stop_ticker()
                            for scheme in ("light", "dark"):
                                p = new_page(web.url, viewport={"width": 1280, "height": 900}, color_scheme=scheme)
                                p.page.wait_for_selector("#verdict-reasons li")
                                p.page.mouse.move(0, 0)
                                p.page.screenshot(path=os.path.join(shots, f"screenshot-degraded-{scheme}.png"))
                            site.start_ticker()
                        up.start()
                        expect(page.locator("#verdict-word")).to_have_text("Healthy", timeout=20000)
                        expect(page.locator("#verdict-reasons li")).to_have_count(0)
                    finally:
                        site.stop_ticker()
    finally:
        shutil.rmtree(base, ignore_errors=True)
