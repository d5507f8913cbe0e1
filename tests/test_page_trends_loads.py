"""Trends loads against a real nginx and Chromium (helpers.TrendSite): the
newest load always wins, a page that remembers the section open loads it
once, a tick whose series could not be published keeps the section; and
the client list's age says "late" in words, not only in red.  Each fails
on the code before its fix (the review of issue 11's stop)."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("playwright")
from playwright.sync_api import expect  # noqa: E402

from helpers import wait_seq  # noqa: E402

WIDE = {"width": 1280, "height": 1400}


def draws(page):
    return page.evaluate("window.chronySnap.trends.draws.length")


def test_an_older_load_never_replaces_a_newer_one(trend_site, new_page):
    """Load tokens were reset after each load, so a slow old load could take
    a newer load's number: it was drawn, and the newer one thrown away."""
    probe = new_page(viewport=WIDE)
    page = probe.page
    held = []
    page.route("**/history/index.json", lambda route: held.append(route))
    page.goto(trend_site.url)
    page.wait_for_selector("html[data-seq]")
    page.click("#trends-details > summary")  # load A: the 24 h default, held
    deadline = time.monotonic() + 10
    while len(held) < 1 and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    page.locator(".range button", has_text="7 d").click()  # load B
    while len(held) < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    held[1].continue_()
    page.wait_for_function("() => window.chronySnap.trends.draws.length >= 1")
    page.locator(".range button", has_text="15 min").click()  # load C, the newest
    while len(held) < 3 and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert len(held) == 3
    held[0].continue_()  # A arrives while C is under way
    page.wait_for_timeout(1500)
    held[2].continue_()
    expect(page.locator("html")).to_have_attribute("data-trends", "1s")  # C's 15 minutes, at 1 s
    page.wait_for_timeout(1000)  # nothing older arrives after it
    assert page.locator("html").get_attribute("data-trends") == "1s"
    assert draws(page) == 2  # B and C; A was dropped
    x = page.evaluate("window.chronySnap.trends.plots.offset.data[0]")
    assert x[-1] - x[0] <= 900


def test_a_page_that_remembers_trends_open_loads_them_once(trend_site, new_page):
    """Opening the section on start queued a toggle event and also called
    the loader directly: index, events and every chunk were fetched twice."""
    probe = new_page(trend_site.url, viewport=WIDE)
    page = probe.page
    page.click("#trends-details > summary")
    expect(page.locator("html")).to_have_attribute("data-trends", "1m")
    page.wait_for_timeout(800)  # the preference is saved (debounced)
    page.reload()
    page.wait_for_selector("html[data-seq]")
    expect(page.locator("#trends-details")).to_have_attribute("open", "")
    expect(page.locator("html")).to_have_attribute("data-trends", "1m")
    page.wait_for_timeout(1500)
    assert page.evaluate("window.chronySnap.trends.loads") == 1
    after_reload = [u for u in probe.requests if u.endswith("/history/index.json")]
    assert len(after_reload) == 2  # one before the reload, one after


def test_a_tick_without_published_series_keeps_the_section(trend_site, new_page):
    """history.index is absent when the web root's history/ could not be
    written on that tick: the section vanished for that tick (and a
    keyboard user's focus in it with it)."""
    probe = new_page(trend_site.url, viewport=WIDE)
    page = probe.page
    page.click("#trends-details > summary")
    expect(page.locator("html")).to_have_attribute("data-trends", "1m")
    hist = trend_site.out / "history"
    real = trend_site.out / "history.real"
    hist.rename(real)
    hist.symlink_to(real)  # refused by the publisher: no index this tick
    try:
        d = trend_site.tick()
        assert "index" not in d["history"]
        wait_seq(page, d["seq"])
        expect(page.locator("#trends")).to_be_visible()
        expect(page.locator("html")).to_have_attribute("data-trends", "1m")
    finally:
        hist.unlink()
        real.rename(hist)
    d = trend_site.tick()
    wait_seq(page, d["seq"])
    expect(page.locator("#trends")).to_be_visible()


def test_a_late_client_list_says_so_in_words(synth_site, new_page):
    import synth

    doc = synth.make(5, seq=1, refresh_s=0.5)
    now = time.time()
    doc["clients_collected_at"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now - 120))
    doc["clients_cadence"] = {"interval_s": 15.0, "reason": "budget", "cpu_budget": 0.05, "max_interval_s": 30.0}
    synth_site.write(doc)
    page = new_page(synth_site.url).page
    age = page.locator("#clients-age")
    expect(age).to_have_class("clients-age late")
    expect(age).to_contain_text("old (late), refreshed every 15 s")
