"""The page against odd data.json (issue 12, item 20), in Chromium: a
snapshot without a client list is a bad snapshot, a huge refresh_s does
not make the page poll in a tight loop, and duplicate addresses each get
a card. Uses the shared synth_site (the real page and nginx, a data.json
written by the test)."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("playwright")
from playwright.sync_api import expect  # noqa: E402

from helpers import TALL, card as cards_of, wait_seq  # noqa: E402


@pytest.mark.parametrize("clients", ["missing", "null"])
def test_snapshot_without_client_list_is_bad(synth_site, new_page, clients):
    """Not "No clients yet": the error is shown and the last good cards and
    summary stay."""
    import synth

    good = synth_site.write(synth.make(12, refresh_s=0.5))
    p = new_page(synth_site.url, viewport=TALL)
    page = p.page
    wait_seq(page, synth_site.seq)
    expect(page.locator("#grid .card")).to_have_count(12)
    bad = synth.make(12, refresh_s=0.5)
    if clients == "missing":
        del bad["clients"]
    else:
        bad["clients"] = None
    synth_site.write(bad)
    banner = page.locator("#stale-banner")
    expect(banner).to_be_visible(timeout=8000)
    expect(banner).to_contain_text("no client list")
    expect(page.locator("html")).to_have_attribute("data-seq", str(synth_site.seq - 1))
    expect(page.locator("#grid .card")).to_have_count(12)
    expect(page.locator("#empty")).to_be_hidden()
    expect(page.locator("#sum-clients")).to_have_text(str(good["summary"]["clients"]))
    synth_site.write(synth.make(13, refresh_s=0.5))
    expect(page.locator("#grid .card")).to_have_count(13, timeout=8000)
    expect(banner).to_be_hidden()


@pytest.mark.parametrize("refresh_s", [1e300, 1e12])
def test_huge_refresh_does_not_poll_in_a_loop(synth_site, new_page, refresh_s):
    """A delay past what setTimeout can hold (2^31 ms) fires at once: the
    page clamps it. After the snapshot that says so, no new poll starts
    (on the old page: thousands within the wait)."""
    synth_site.write(clients=5, refresh_s=refresh_s)
    p = new_page(synth_site.url)
    page = p.page
    wait_seq(page, synth_site.seq)
    page.wait_for_function("() => window.chronySnap.scheduled")
    polls = page.evaluate("window.chronySnap.polls")
    page.wait_for_timeout(1500)
    assert page.evaluate("window.chronySnap.polls") == polls
    assert page.evaluate("window.chronySnap.scheduled")


def test_duplicate_addresses_each_get_a_card(synth_site, new_page):
    """A data.json (broken or hostile) listing one address twice: both rows
    are shown, as the summary counts them; each opens on its own."""
    import synth

    doc = synth.make(6, refresh_s=0.5)
    twin = dict(doc["clients"][2], hostname="the-twin.example", status="critical")
    twin["ntp"] = dict(twin["ntp"], packets=99, drops=50)
    doc["clients"].append(twin)
    doc["clients"].append(dict(doc["clients"][2], hostname="third.example"))
    address = twin["address"]
    synth_site.write(doc)
    p = new_page(synth_site.url, viewport=TALL)
    page = p.page
    wait_seq(page, synth_site.seq)
    expect(page.locator("#count")).to_have_text("8 clients")
    expect(page.locator("#grid .card")).to_have_count(8)
    same = cards_of(page, address)
    expect(same).to_have_count(3)
    names = sorted(same.locator(".name").all_text_contents())
    assert names == sorted([doc["clients"][2]["hostname"] or "no hostname", "the-twin.example", "third.example"])
    twin_card = same.filter(has_text="the-twin.example")
    expect(twin_card.locator(".s-pk")).to_have_text("NTP 99")
    twin_card.locator(".card-head").click()
    expect(page.locator("#grid .card.open")).to_have_count(1)
    expect(twin_card).to_have_class(re.compile(r"\bopen\b"))
    # a sort keeps them apart
    page.select_option("#sort", "drops")
    expect(cards_of(page, address)).to_have_count(3)
    expect(page.locator("#grid .card").first.locator(".name")).to_have_text("the-twin.example")
