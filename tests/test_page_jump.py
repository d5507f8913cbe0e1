"""Top talkers and top droppers jump to that exact client's card, in Chromium.

Guards: on main a click put the address into the search box, a substring
search, so 127.0.0.1 also listed 127.0.0.10..19 and 127.0.0.100.., the card
was neither opened nor focused, and a status or "new" filter that hid the
client left the list empty of it. Here the card is far below the fold of a
windowed grid (not in the DOM before the click), and the addresses are
prefixes of other clients' addresses.
"""

from __future__ import annotations

import re
import time

import pytest

pytest.importorskip("playwright")
from playwright.sync_api import expect  # noqa: E402

from helpers import wait_seq  # noqa: E402

N = 600


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(t)))


def prefix_doc():
    """synth's clients, 130 of them renamed 127.0.0.1..130 and two IPv6 ones
    2001:db8::1 and 2001:db8::10; 127.0.0.1 and 2001:db8::1 talk the most,
    127.0.0.1 drops the most; everybody new but 127.0.0.1."""
    import synth

    doc = synth.make(N, refresh_s=0.5)
    v4 = [c for c in doc["clients"] if c["family"] == "ipv4"]
    for k, c in enumerate(v4[:130], start=1):
        c["address"], c["hostname"] = f"127.0.0.{k}", None
    v6 = [c for c in doc["clients"] if c["family"] == "ipv6"]
    for c, a in zip(v6[:2], ("2001:db8::1", "2001:db8::10"), strict=True):
        c["address"], c["hostname"] = a, None
    now = time.time()
    for c in doc["clients"]:
        c["rate"]["ntp_pps"] = min(c["rate"]["ntp_pps"] or 0, 0.5)
        c["ntp"]["drops"] = min(c["ntp"]["drops"], 100)
        c["first_seen"] = rfc3339(now - 60)
    talker, six = v4[0], v6[0]
    talker["rate"]["ntp_pps"], six["rate"]["ntp_pps"] = 90.0, 80.0
    v4[9]["rate"]["ntp_pps"] = 70.0  # 127.0.0.10 talks too: a prefix match would list it
    talker["ntp"]["drops"] = 10**6
    talker["ntp"]["packets"] += 10**6
    talker["first_seen"] = rfc3339(now - 86400)
    talker["status"], six["status"] = "critical", "ok"
    return doc


@pytest.fixture
def page(synth_site, new_page):
    synth_site.write(prefix_doc())
    page = new_page(synth_site.url, viewport={"width": 1280, "height": 900}).page
    wait_seq(page, synth_site.seq)
    page.click("#pop-details > summary")
    return page


def exactly(text):
    return re.compile("^" + re.escape(text) + "$")


def card(page, address):
    return page.locator("#grid .card").filter(has=page.locator(".addr", has_text=exactly(address)))


def expect_jumped(page, address):
    c = card(page, address)
    expect(c).to_have_count(1)
    expect(c).to_be_in_viewport()
    expect(c).to_have_class(re.compile(r"\bopen\b.*\btarget\b"))
    expect(c.locator(".card-head")).to_have_attribute("aria-expanded", "true")
    assert page.evaluate("document.activeElement.closest('.card')?.querySelector('.addr').textContent") == address
    assert page.locator("#grid .card.target").count() == 1


def test_top_talker_jumps_to_the_exact_card_below_the_fold(page):
    assert card(page, "127.0.0.1").count() == 0  # windowed: not drawn before the jump
    talkers = page.locator("#top-talkers button")
    expect(talkers.nth(0)).to_have_text("127.0.0.1")
    expect(talkers.nth(1)).to_have_text("2001:db8::1")
    talkers.nth(0).click()
    expect_jumped(page, "127.0.0.1")
    # nothing filtered: the whole list, in its order, with the search untouched
    expect(page.locator("#q")).to_have_value("")
    expect(page.locator("#count")).to_have_text(f"{N} clients")
    talkers.nth(1).click()
    expect_jumped(page, "2001:db8::1")


def test_a_jump_clears_only_the_filters_that_hide_the_card(page):
    # the search hides 127.0.0.1, the status filter and "new" too: all cleared
    page.fill("#q", "10.")
    page.click('.sf[data-status="ok"]')
    page.click("#new-filter")
    expect(page.locator("#count")).to_contain_text("Showing")
    assert card(page, "127.0.0.1").count() == 0
    page.locator("#top-droppers button").first.click()
    expect_jumped(page, "127.0.0.1")
    expect(page.locator("#q")).to_have_value("")
    expect(page.locator('.sf[data-status="ok"]')).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#new-filter")).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#count")).to_have_text(f"{N} clients")
    # a search and a status filter that keep the card shown stay as they are
    page.fill("#q", "2001:db8::")
    page.click('.sf[data-status="ok"]')
    page.click("#new-filter")
    shown = page.locator("#count").text_content()
    page.locator("#top-talkers button", has_text=exactly("2001:db8::1")).click()
    expect_jumped(page, "2001:db8::1")
    expect(page.locator("#q")).to_have_value("2001:db8::")
    expect(page.locator('.sf[data-status="ok"]')).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#new-filter")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#count")).to_have_text(shown)
