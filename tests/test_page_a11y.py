"""Accessibility: axe-core (tests/vendor/axe-core, from the npm registry)
run in Chromium over the page in every state the tests can reach, in the
light and the dark theme. No rule is disabled: a violation is fixed in the
page.

axe is injected with Playwright (page.add_script_tag); the page's CSP
allows no inline script, so these contexts bypass it (the page itself is
unchanged)."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

pytest.importorskip("playwright")
from playwright.sync_api import expect  # noqa: E402

from helpers import wait_seq  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
AXE = os.path.join(HERE, "vendor", "axe-core", "axe.min.js")
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"  # 4.14.1, see the README there
THEMES = ["light", "dark"]
TALL = {"width": 1280, "height": 2000}


def no_violations(page):
    found = violations(page)
    assert not found, "axe found:\n" + "\n".join(found)


def violations(page):
    """axe's violations on the page as it is now, one line per node."""
    page.add_script_tag(path=AXE)
    found = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.flatMap(v => v.nodes.map(n =>
            `${v.id} (${v.impact}): ${n.target.join(' ')}: ${n.failureSummary.replace(/\\s+/g, ' ')}`));
    }""")
    return found


def open_page(new_page, url, theme, viewport=TALL):
    p = new_page(url, viewport=viewport, color_scheme=theme, bypass_csp=True)
    return p.page


def test_axe_is_the_pinned_release():
    with open(AXE, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == AXE_SHA256


@pytest.mark.parametrize("theme", THEMES)
def test_live_page_expanded_card_and_filter(live, new_page, theme):
    """The live page from a real chronyd; then a card open, a status filter
    on, and a CIDR search with its hint."""
    page = open_page(new_page, live.url, theme)
    expect(page.locator("#grid .card").first).to_be_visible()
    no_violations(page)
    page.locator("#grid .card.st-critical .card-head").first.click()
    expect(page.locator("#grid .card.open .det")).to_be_visible()
    page.locator(".sf.st-warning").click()
    no_violations(page)
    page.locator(".sf.st-warning").click()
    page.fill("#q", "127.10.0.0/29")
    expect(page.locator("#q-hint")).to_be_visible()
    page.click("#expand-all")
    no_violations(page)


@pytest.mark.parametrize("theme", THEMES)
def test_stale_banner(synth_site, new_page, theme):
    import synth

    synth_site.write(synth.make(20, refresh_s=0.5, generated_at=time.time() - 120))
    page = open_page(new_page, synth_site.url, theme)
    wait_seq(page, synth_site.seq)
    expect(page.locator("#stale-banner")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("data-state", "stale")
    page.locator("#grid .card-head").first.click()
    no_violations(page)


@pytest.mark.parametrize("theme", THEMES)
def test_error_banners_and_unknown_reports(synth_site, new_page, theme):
    """chronyd unreachable: the error banner with hints, the clients-stale
    note over the last known cards, unknown tracking/sources/serverstats."""
    import synth

    synth_site.write(synth.make(10, refresh_s=0.5))
    page = open_page(new_page, synth_site.url, theme)
    wait_seq(page, synth_site.seq)
    down = synth.make(
        0,
        refresh_s=0.5,
        errors=[
            {
                "report": r,
                "message": "cannot talk to chronyd: connection refused",
                "code": "ECONNREFUSED",
                "hint": "is chronyd running? systemctl status chronyd",
            }
            for r in ("clients", "tracking", "sources")
        ],
    )
    down["chrony"]["reachable"] = False
    down["tracking"] = down["sources"] = down["serverstats"] = down["serverstats_rate"] = None
    synth_site.write(down)
    wait_seq(page, synth_site.seq)
    expect(page.locator("#error-banner")).to_be_visible()
    expect(page.locator("#clients-stale-note")).to_be_visible()
    expect(page.locator("#sources-note")).to_be_visible()
    no_violations(page)


@pytest.mark.parametrize("theme", THEMES)
def test_fetch_failure_banner(synth_site, new_page, theme):
    synth_site.write(clients=10)
    p = new_page(synth_site.url, viewport=TALL, color_scheme=theme, bypass_csp=True)
    p.allowed_errors.append(r"Failed to load resource: the server responded with a status of 404")
    page = p.page
    wait_seq(page, synth_site.seq)
    synth_site.remove()
    expect(page.locator("#stale-banner")).to_contain_text("Cannot load data.json", timeout=8000)
    no_violations(page)


@pytest.mark.parametrize("theme", THEMES)
def test_sources_saturation_nts_and_empty_states(synth_site, new_page, theme):
    import synth

    doc = synth.make(30, nts=True, refresh_s=0.5)
    doc["serverstats"]["client_log_records_dropped"] = 77
    synth_site.write(doc)
    page = open_page(new_page, synth_site.url, theme)
    wait_seq(page, synth_site.seq)
    expect(page.locator("#sources-body tr")).to_have_count(3)
    expect(page.locator("#saturation")).to_be_visible()
    page.click("#expand-all")
    expect(page.locator("#grid .det th", has_text="NTS-KE").first).to_be_visible()
    no_violations(page)
    page.fill("#q", "no-such-client")
    expect(page.locator("#empty")).to_be_visible()
    no_violations(page)
    synth_site.write(synth.make(0, refresh_s=0.5))
    wait_seq(page, synth_site.seq)
    expect(page.locator("#empty")).to_contain_text("No clients")
    no_violations(page)


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("state", ["ok", "degraded", "critical", "unknown", "none"])
def test_verdict_states(synth_site, new_page, theme, state):
    """The health verdict in each status (and from a snapshot without one),
    with its reasons, the reach dots and the sources' legend; on a phone too."""
    import synth

    doc = synth.make(10, refresh_s=0.5)  # degraded: the PPS0 refclock is unreachable
    if state == "ok":
        doc["sources"] = doc["sources"][:2]
    elif state == "critical":
        doc["tracking"]["system_time_s"] = 0.7
        doc["tracking"]["leap_status"] = "Insert second"
    elif state == "unknown":
        doc["serverstats"] = None
    synth.with_health(doc)
    if state == "none":
        del doc["health"]
    synth_site.write(doc)
    for viewport in (TALL, {"width": 390, "height": 1400}):
        page = open_page(new_page, synth_site.url, theme, viewport)
        wait_seq(page, synth_site.seq)
        expect(page.locator("#verdict")).to_have_attribute("data-status", "unknown" if state == "none" else state)
        no_violations(page)


@pytest.mark.parametrize("theme", THEMES)
def test_client_population_states(synth_site, new_page, theme):
    """The client-population section (issue 10): histograms, top lists with a
    hostile name, networks, the full client log, the "new in the last hour"
    filter pressed and a network filter applied; on a desktop and a phone."""
    from test_page_analytics import population_doc

    doc, _ = population_doc(120)
    synth_site.write(doc)
    for viewport in (TALL, {"width": 390, "height": 1400}):
        page = open_page(new_page, synth_site.url, theme, viewport)
        wait_seq(page, synth_site.seq)
        expect(page.locator("#log-full")).to_be_visible()
        no_violations(page)
        page.click("#pop-details > summary")
        page.click("#new-filter")
        expect(page.locator("#new-filter")).to_have_attribute("aria-pressed", "true")
        page.locator("#networks-body button").first.click()
        expect(page.locator("#q-hint")).to_contain_text("Clients in network")
        no_violations(page)
