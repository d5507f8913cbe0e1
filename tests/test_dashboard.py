"""The dashboard in a real browser: Debian's Chromium (Playwright) against a site
`chrony-snap build` made from a real sandbox chronyd, served by a real nginx.

No sleeps as assertions: every wait is Playwright's (expect / wait_for_*).
Screenshots for docs/: CHRONY_SNAP_SCREENSHOTS=DIR pytest tests/test_dashboard.py -k screenshots
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil

import pytest

pytest.importorskip("playwright")
from playwright.sync_api import expect  # noqa: E402

from helpers import HOSTILE_NAMES, TALL, Site, card, short_dir, wait_seq  # noqa: E402

# ---------------------------------------------------------------- helpers


def addr_key(a):
    ip = ipaddress.ip_address(a)
    return (0 if ip.version == 4 else 1, int(ip))


def last_seen(c):
    v = [
        x
        for x in (c["ntp"]["last_seen_s"], c["cmd"]["last_seen_s"], (c.get("nts_ke") or {}).get("last_seen_s"))
        if x is not None
    ]
    return min(v) if v else None


SORT_VALUE = {
    "drops": lambda c: c["ntp"]["drops"],
    "packets": lambda c: c["ntp"]["packets"],
    "last": last_seen,
    "rate": lambda c: c["rate"]["ntp_pps"],
}
DEFAULT_DESC = {"address": False, "drops": True, "last": False, "packets": True, "rate": True}


def expected_order(clients, key, desc):
    by_addr = sorted((c["address"] for c in clients), key=addr_key)
    if key == "address":
        return by_addr[::-1] if desc else by_addr
    rank = {a: i for i, a in enumerate(by_addr)}
    f = SORT_VALUE[key]

    def k(c):
        v = f(c)
        if v is None:
            return (1, 0, rank[c["address"]])  # unknown: last in both directions
        return (0, -v if desc else v, rank[c["address"]])

    return [c["address"] for c in sorted(clients, key=k)]


def shown(page):
    """Addresses of the cards in the DOM, in DOM (= display) order."""
    return page.eval_on_selector_all("#grid .card", "els => els.map(e => e.querySelector('.addr').textContent)")


def fmt(n):
    return f"{n:,}"


# ---------------------------------------------------------------- live site (real chronyd)


def test_served_by_the_production_site_config(live):
    """The page under test gets the headers operators' nginx sends (the
    shipped server block), not a test-only config."""
    from chrony_snap import nginx as N

    for path, cache in (("/", "no-cache"), ("/data.json", "no-cache")):
        status, h, _ = live.web.get(path)
        assert status == 200 and h["content-security-policy"] == N.CSP, path
        assert h["cache-control"] == cache and h["x-frame-options"] == "DENY", path


def test_cards_and_counts_match_data(live, new_page):
    d = live.data()
    p = new_page(live.url, viewport=TALL)
    page = p.page
    wait_seq(page, d["seq"])
    assert page.evaluate("window.chronySnap.worker") is True  # parsed off the main thread
    s = d["summary"]
    assert s["clients"] == len(d["clients"]) >= 40
    for k, sel in (
        ("clients", "#sum-clients"),
        ("ok", "#sum-ok"),
        ("warning", "#sum-warning"),
        ("critical", "#sum-critical"),
        ("ipv4", "#sum-ipv4"),
        ("ipv6", "#sum-ipv6"),
        ("ntp_packets", "#sum-ntp"),
        ("ntp_drops", "#sum-drops"),
    ):
        expect(page.locator(sel)).to_have_text(fmt(s[k]))
    assert s["critical"] >= 1 and s["ipv6"] == 1  # populate(): rate-limited bursts, ::1
    expect(page.locator("#count")).to_have_text(f"{len(d['clients'])} clients")
    assert sorted(shown(page), key=addr_key) == sorted((c["address"] for c in d["clients"]), key=addr_key)
    # each card: status as icon + text, counters, host name
    for c in d["clients"]:
        el = card(page, c["address"])
        expect(el).to_have_count(1)
        expect(el).to_have_class(re.compile(r"\bst-" + c["status"] + r"\b"))
        status_text = {"ok": "OK", "warning": "Warning", "critical": "Critical"}[c["status"]]
        expect(el.locator(".st-text")).to_have_text(status_text)
        expect(el.locator(".s-pk")).to_have_text(f"NTP {fmt(c['ntp']['packets'])}")
        expect(el.locator(".s-dr")).to_have_text(f"drop {fmt(c['ntp']['drops'])}")
        assert el.locator(".name").text_content() == (c["hostname"] if c["hostname"] is not None else "no hostname")
    # server health from the same snapshot
    t = d["tracking"]
    expect(page.locator("#sync-state")).to_contain_text(f"local stratum {t['stratum']}")
    expect(page.locator("#sync-kv")).to_contain_text(t["reference_id"])
    expect(page.locator("#sync-kv")).to_contain_text(t["leap_status"])
    expect(page.locator("#sources-note")).to_contain_text("No time sources")
    stats = page.locator("#stats-body")
    expect(stats).to_contain_text("NTP packets received")
    expect(stats.locator("tr", has_text="NTP packets received").locator("td").first).to_have_text(
        fmt(d["serverstats"]["ntp_packets_received"])
    )
    expect(page.locator("#saturation")).to_be_hidden()
    expect(page.locator("#error-banner")).to_be_hidden()


def test_windowed_grid_small_viewport(live, new_page):
    d = live.data()
    p = new_page(live.url, viewport={"width": 700, "height": 600})
    page = p.page
    page.locator("#grid").scroll_into_view_if_needed()
    page.evaluate("document.getElementById('grid').scrollIntoView()")
    expect(page.locator("#grid .card").first).to_be_visible()
    n_cards = page.locator("#grid .card").count()
    assert 0 < n_cards < len(d["clients"]), "only the cards in view exist in the DOM"
    first = expected_order(d["clients"], "address", False)[0]
    expect(card(page, first)).to_have_count(1)
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    last = expected_order(d["clients"], "address", False)[-1]
    expect(card(page, last)).to_have_count(1)
    expect(card(page, first)).to_have_count(0)  # scrolled out: removed from the DOM


@pytest.mark.parametrize("key", ["address", "drops", "last", "packets", "rate"])
def test_sort_orders(live, new_page, key):
    d = live.data()
    p = new_page(live.url, viewport=TALL)
    page = p.page
    page.select_option("#sort", key)
    desc = DEFAULT_DESC[key]
    expect(page.locator("#dir-label")).to_have_text("Descending" if desc else "Ascending")
    assert shown(page) == expected_order(d["clients"], key, desc)
    page.click("#dir")
    expect(page.locator("#dir-label")).to_have_text("Ascending" if desc else "Descending")
    assert shown(page) == expected_order(d["clients"], key, not desc)


def test_address_order_is_numeric(live, new_page):
    p = new_page(live.url, viewport=TALL)
    got = shown(p.page)
    # 127.10.0.9 before 127.10.0.10 (numeric, not text), IPv6 after all IPv4
    assert got.index("127.10.0.9") < got.index("127.10.0.10")
    assert got[-1] == "::1"


def _matching(clients, q):
    q = q.lower()
    return sorted(
        (c["address"] for c in clients if q in c["address"] or (c["hostname"] and q in c["hostname"].lower())),
        key=addr_key,
    )


def test_search_as_you_type_and_cidr(live, new_page):
    d = live.data()
    cl = d["clients"]
    p = new_page(live.url, viewport=TALL)
    page = p.page
    q = page.locator("#q")
    q.press_sequentially("127.10.0.1")  # narrows keystroke by keystroke
    want = _matching(cl, "127.10.0.1")
    assert 10 <= len(want) < len(cl)
    expect(page.locator("#count")).to_have_text(f"Showing {len(want)} of {len(cl)} clients")
    assert shown(page) == want
    q.press("Backspace")  # widening again
    expect(page.locator("#count")).to_have_text(f"Showing {len(_matching(cl, '127.10.0.'))} of {len(cl)} clients")
    # hostnames, case-insensitive
    q.fill("PLANT.example")
    assert shown(page) == ["127.10.0.6", "127.10.0.7"]
    q.fill("onerror")
    assert shown(page) == ["127.10.0.1"]
    # IPv4 CIDR (host bits set are ignored, like a router would)
    q.fill("127.10.0.0/29")
    expect(page.locator("#q-hint")).to_contain_text("network 127.10.0.0/29")
    assert shown(page) == [f"127.10.0.{i}" for i in range(1, 8)]
    q.fill("127.10.0.9/29")
    assert shown(page) == [f"127.10.0.{i}" for i in range(8, 16)]
    q.fill("0.0.0.0/0")
    assert len(shown(page)) == d["summary"]["ipv4"]
    # IPv6 CIDR
    q.fill("::1/128")
    assert shown(page) == ["::1"]
    q.fill("::/0")
    assert shown(page) == ["::1"]
    q.fill("fe80::/10")
    assert shown(page) == []
    expect(page.locator("#empty")).to_contain_text("No client matches")
    q.fill("127.0.0.0/33")
    expect(page.locator("#q-hint")).to_contain_text("Not a valid network")
    assert shown(page) == []
    q.fill("")
    expect(page.locator("#count")).to_have_text(f"{len(cl)} clients")


def test_summary_filter(live, new_page):
    d = live.data()
    p = new_page(live.url, viewport=TALL)
    page = p.page
    crit = sorted((c["address"] for c in d["clients"] if c["status"] == "critical"), key=addr_key)
    assert crit
    b = page.locator(".sf.st-critical")
    b.click()
    expect(b).to_have_attribute("aria-pressed", "true")
    assert shown(page) == crit
    assert page.locator("#grid .card:not(.st-critical)").count() == 0
    ok = page.locator(".sf.st-ok")
    ok.click()
    expect(b).to_have_attribute("aria-pressed", "false")
    assert len(shown(page)) == d["summary"]["ok"]
    ok.click()
    expect(ok).to_have_attribute("aria-pressed", "false")
    assert len(shown(page)) == len(d["clients"])


def test_expand_collapse_and_persistence(live, new_page):
    d = live.data()
    p = new_page(live.url, viewport=TALL)
    page = p.page
    target = next(c for c in d["clients"] if c["status"] == "critical")
    a = target["address"]
    head = card(page, a).locator(".card-head")
    expect(head).to_have_attribute("aria-expanded", "false")
    head.click()
    expect(head).to_have_attribute("aria-expanded", "true")
    det = card(page, a).locator(".det")
    expect(det).to_be_visible()
    assert head.get_attribute("aria-controls") == det.get_attribute("id")
    # every field of the record: NTP and command columns, intervals, last seen, rates
    rows = {
        r[0]: r[1:]
        for r in det.locator("tr").evaluate_all("trs => trs.map(tr => Array.from(tr.children).map(c => c.textContent))")
    }
    assert rows["Packets"][:2] == [fmt(target["ntp"]["packets"]), fmt(target["cmd"]["packets"])]
    assert rows["Drops"][:2] == [fmt(target["ntp"]["drops"]), fmt(target["cmd"]["drops"])]
    for label in ("Interval", "Interval (limited)", "Last seen"):
        assert label in rows
    assert rows["Last seen"][0].endswith(" ago")
    expect(det.locator(".rate")).to_contain_text("Request rate")
    assert "NTS-KE" not in det.text_content()  # not collected: no column
    expect(page.locator("#grid .card.open")).to_have_count(1)

    # persisted across reload
    page.reload()
    page.wait_for_selector("html[data-seq]")
    expect(card(page, a).locator(".card-head")).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#grid .card.open")).to_have_count(1)

    # an open card stays open across a re-sort and a new snapshot
    page.select_option("#sort", "drops")
    expect(card(page, a).locator(".card-head")).to_have_attribute("aria-expanded", "true")
    seq = live.build() and live.data()["seq"]
    wait_seq(page, seq)
    expect(card(page, a).locator(".card-head")).to_have_attribute("aria-expanded", "true")

    # expand all / collapse all, persisted
    page.click("#expand-all")
    n = len(d["clients"])
    expect(page.locator('#grid .card-head[aria-expanded="true"]')).to_have_count(page.locator("#grid .card").count())
    page.reload()
    page.wait_for_selector("html[data-seq]")
    expect(page.locator('#grid .card-head[aria-expanded="false"]')).to_have_count(0)
    assert page.locator("#grid .card").count() > 0
    page.click("#collapse-all")
    expect(page.locator('#grid .card-head[aria-expanded="true"]')).to_have_count(0)
    page.reload()
    page.wait_for_selector("html[data-seq]")
    expect(page.locator("#grid .card")).to_have_count(n)
    expect(page.locator('#grid .card-head[aria-expanded="true"]')).to_have_count(0)


def test_sort_search_filter_persist(live, new_page):
    p = new_page(live.url, viewport=TALL)
    page = p.page
    page.select_option("#sort", "packets")
    page.click("#dir")
    page.fill("#q", "127.10.0.4")
    page.click(".sf.st-ok")
    page.reload()
    page.wait_for_selector("html[data-seq]")
    expect(page.locator("#sort")).to_have_value("packets")
    expect(page.locator("#dir-label")).to_have_text("Ascending")
    expect(page.locator("#q")).to_have_value("127.10.0.4")
    expect(page.locator(".sf.st-ok")).to_have_attribute("aria-pressed", "true")
    d = live.data()
    want = [c for c in d["clients"] if c["status"] == "ok" and "127.10.0.4" in c["address"]]
    assert shown(page) == expected_order(want, "packets", False)


def test_corrupt_storage_is_ignored(live, new_page):
    p = new_page(live.url)
    page = p.page
    for junk in ("{not json", "[1,2,3]", '{"theme":"<b>","sort":"nope","dir":7,"except":"x","q":42}', "null"):
        page.evaluate("v => localStorage.setItem('chrony-snap.ui.v1', v)", junk)
        page.reload()
        page.wait_for_selector("html[data-seq]")
        expect(page.locator("#grid .card").first).to_be_visible()
        expect(page.locator("#sort")).to_have_value("address")
        assert page.get_attribute("html", "data-theme") is None
    assert not p.page_errors


def test_theme_follows_system_then_persists(live, new_page):
    dark_bg, light_bg = "rgb(15, 20, 25)", "rgb(244, 246, 248)"
    p = new_page(live.url, color_scheme="dark")
    page = p.page
    bg = "getComputedStyle(document.body).backgroundColor"
    assert page.evaluate(bg) == dark_bg  # first visit: the system preference
    assert page.get_attribute("html", "data-theme") is None
    page.click("#theme-toggle")
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    assert page.evaluate(bg) == light_bg
    expect(page.locator("#theme-toggle")).to_have_attribute("aria-label", "Switch to dark theme")
    page.reload()
    page.wait_for_selector("html[data-seq]")
    assert page.evaluate(bg) == light_bg  # the choice wins over the system preference
    page.click("#theme-toggle")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    q = new_page(live.url, color_scheme="light")  # a new visitor
    assert q.page.evaluate(bg) == light_bg


def test_keyboard_operation(live, new_page):
    p = new_page(live.url, viewport=TALL)
    page = p.page
    page.focus("#q")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "sort"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"  # visible focus
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "dir"
    page.keyboard.press("Enter")
    expect(page.locator("#dir-label")).to_have_text("Descending")
    first = page.locator("#grid .card-head").first
    first.focus()
    page.keyboard.press("Enter")
    expect(first).to_have_attribute("aria-expanded", "true")
    page.keyboard.press(" ")
    expect(first).to_have_attribute("aria-expanded", "false")
    page.keyboard.press("ArrowRight")
    second = page.locator("#grid .card-head").nth(1)
    assert second.evaluate("e => e === document.activeElement")
    # the status filter is a toggle button
    page.focus(".sf.st-warning")
    page.keyboard.press("Enter")
    expect(page.locator(".sf.st-warning")).to_have_attribute("aria-pressed", "true")


def test_hostile_hostnames_are_inert(live, new_page):
    d = live.data()
    names = {c["address"]: c["hostname"] for c in d["clients"] if c["hostname"]}
    for a, n in HOSTILE_NAMES.items():
        assert names[a] == n[:255]
    p = new_page(live.url, viewport=TALL)
    page = p.page
    page.click("#expand-all")
    for a, n in names.items():
        el = card(page, a)
        assert el.locator(".name").text_content() == n
        assert el.locator(".det .fullname .v").text_content() == n
    assert page.evaluate("document.images.length") == 0
    assert page.locator("#grid script, #grid img, #grid b").count() == 0
    assert not p.dialogs
    # RTL override / zero-width: isolated and flagged
    rtl = card(page, "127.10.0.3")
    assert rtl.locator(".name").evaluate("e => e.tagName") == "BDI"
    assert rtl.locator(".name").evaluate("e => getComputedStyle(e).unicodeBidi") == "isolate"
    expect(rtl.locator(".hidden-chars")).to_be_visible()
    # the 255-character name stays inside its card
    long = card(page, "127.10.0.4")
    box, name_box = long.bounding_box(), long.locator(".name").bounding_box()
    assert name_box["x"] + name_box["width"] <= box["x"] + box["width"] + 1
    full = long.locator(".det .fullname .v").bounding_box()
    assert full["x"] + full["width"] <= box["x"] + box["width"] + 1
    # the address after the RTL name still reads left to right
    assert rtl.locator(".addr").text_content() == "127.10.0.3"


def test_live_updates_then_stale_banner(live, new_page):
    p = new_page(live.url)
    page = p.page
    live.start_ticker()
    seq0 = int(page.get_attribute("html", "data-seq"))
    page.wait_for_function("s => +document.documentElement.dataset.seq > s + 1", arg=seq0)
    expect(page.locator("html")).to_have_attribute("data-state", "live")
    expect(page.locator("#stale-banner")).to_be_hidden()
    expect(page.locator("#fresh-text")).to_contain_text("Live")
    live.stop_ticker()  # data.json stops changing: stale after 3 refreshes (1.5 s here)
    banner = page.locator("#stale-banner")
    expect(banner).to_be_visible(timeout=8000)
    expect(banner).to_contain_text("not changed since")
    expect(page.locator("html")).to_have_attribute("data-state", "stale")
    expect(page.locator("html")).to_have_class(re.compile(r"\bis-stale\b"))
    expect(page.locator("#fresh-text")).to_contain_text("Stale")
    assert page.locator("#grid .card").count() > 0  # the last good data stays visible
    live.start_ticker()
    expect(banner).to_be_hidden(timeout=8000)
    expect(page.locator("html")).to_have_attribute("data-state", "live")
    live.stop_ticker()


def test_polling_pauses_while_hidden(live, new_page):
    p = new_page(live.url)
    page = p.page
    page.wait_for_function("() => window.chronySnap.polls >= 2")
    page.evaluate("""() => {
        Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
        Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    # hidden: the request in flight may finish, then nothing is scheduled (only
    # becoming visible again starts a poll)
    page.wait_for_function("() => !window.chronySnap.inflight && !window.chronySnap.scheduled")
    polls = page.evaluate("() => window.chronySnap.polls")
    page.evaluate("""() => {
        Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});
        Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'visible'});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    assert page.evaluate("() => window.chronySnap.polls") == polls + 1  # at once, not after a delay
    page.wait_for_function("() => window.chronySnap.scheduled || window.chronySnap.inflight")


def test_error_banner_when_chronyd_stops(new_page):
    from chrony_snap.harness.nginx import NginxProcess
    from chrony_snap.harness.sandbox import Sandbox, populate

    base = short_dir()
    sb = Sandbox(os.path.join(base, "sb"), ipv6=False)
    web = None
    try:
        sb.start()
        populate(sb, clients=6, limited=0, cmd=0, ipv6=False, base="127.40.0.1")
        site = Site(base, sb.socket, refresh_s=0.5)
        site.build()
        web = NginxProcess(site.out).start()
        p = new_page(web.url, viewport=TALL)
        page = p.page
        expect(page.locator("#grid .card")).to_have_count(6)
        expect(page.locator("#error-banner")).to_be_hidden()
        sb.stop()
        site.build(check=False)
        d = site.data()
        assert d["errors"] and d["chrony"]["reachable"] is False
        wait_seq(page, d["seq"])
        banner = page.locator("#error-banner")
        expect(banner).to_be_visible()
        expect(page.locator("#error-title")).to_have_text("chronyd is unreachable")
        for e in d["errors"]:
            expect(banner).to_contain_text(e["message"])
            expect(banner).to_contain_text(e["hint"])
            expect(banner).to_contain_text(e["report"])
        # the last known clients stay, marked as not current
        expect(page.locator("#grid .card")).to_have_count(6)
        expect(page.locator("#clients-stale-note")).to_be_visible()
        expect(page.locator("#sync-state")).to_contain_text("Unknown")
    finally:
        if web is not None:
            web.stop()
        sb.stop()
        shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------- synthetic data.json (same page)


def test_hostile_names_with_spaces(synth_site, new_page):
    import synth

    names = [
        "<img src=x onerror=alert(document.domain)>",
        "<svg onload=alert(1)><b>bold</b>",
        'a" onmouseover="alert(1)" x="',
        "\u202e" + "x" * 249,
    ]
    doc = synth.make(20, refresh_s=0.5)
    v4 = [c for c in doc["clients"] if c["family"] == "ipv4"]
    evil = {}
    for c, n in zip(v4, names, strict=False):  # the first len(names) IPv4 clients
        c["hostname"] = n
        evil[c["address"]] = n
    synth_site.write(doc)
    p = new_page(synth_site.url, viewport=TALL)
    page = p.page
    wait_seq(page, synth_site.seq)
    page.click("#expand-all")
    for a, n in evil.items():
        el = card(page, a)
        assert el.locator(".name").text_content() == n
        assert el.locator(".name").get_attribute("title") == n
        assert el.locator(".det .fullname .v").text_content() == n
        el.locator(".card-head").hover()
    assert page.evaluate("document.images.length") == 0
    assert page.locator("#grid svg, #grid b, #grid img").count() == 0
    assert not p.dialogs


def test_keyed_updates_touch_only_changed_cards(synth_site, new_page):
    import synth

    doc = synth.make(30, refresh_s=0.5)
    synth_site.write(doc)
    p = new_page(synth_site.url, viewport=TALL)
    page = p.page
    wait_seq(page, synth_site.seq)
    addrs = shown(page)
    assert len(addrs) == 30
    open_a, changed_a = addrs[2], addrs[5]
    card(page, open_a).locator(".card-head").click()
    page.evaluate("""() => {
        document.querySelectorAll('#grid .card').forEach(e => { e.__tag = e.querySelector('.addr').textContent; });
        window.__mut = new Set();
        new MutationObserver(recs => recs.forEach(r => {
            const t = r.target.nodeType === 1 ? r.target : r.target.parentElement;
            const c = t.closest('.card');
            window.__mut.add(c ? c.__tag || '?' : 'grid:' + r.type + ':' + (r.attributeName || ''));
        })).observe(document.getElementById('grid'),
                    {subtree: true, childList: true, attributes: true, characterData: true});
    }""")
    c = next(x for x in doc["clients"] if x["address"] == changed_a)
    c["ntp"]["packets"] += 7
    synth_site.write(doc)
    wait_seq(page, synth_site.seq)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))")
    mutated = page.evaluate("Array.from(window.__mut)")
    assert mutated == [changed_a], mutated
    assert page.evaluate(
        "Array.from(document.querySelectorAll('#grid .card'))"
        ".every(e => e.__tag === e.querySelector('.addr').textContent)"
    )
    expect(card(page, changed_a).locator(".s-pk")).to_have_text(f"NTP {fmt(c['ntp']['packets'])}")
    expect(card(page, open_a).locator(".card-head")).to_have_attribute("aria-expanded", "true")


def test_scale_dom_stays_small(synth_site, new_page):
    synth_site.write(clients=20000)
    p = new_page(synth_site.url, viewport={"width": 1920, "height": 1080})
    page = p.page
    wait_seq(page, synth_site.seq)
    expect(page.locator("#count")).to_have_text("20,000 clients")
    count = "document.getElementsByTagName('*').length"
    assert page.evaluate(count) < 2000
    assert page.locator("#grid .card").count() < 150
    page.click("#expand-all")
    assert page.evaluate(count) < 5000
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    expect(page.locator("#grid .card").last).to_be_visible()
    assert page.evaluate(count) < 5000
    page.fill("#q", "10.0.1")
    expect(page.locator("#count")).to_contain_text("Showing")


def test_fetch_failure_banner(synth_site, new_page):
    synth_site.write(clients=10)
    p = new_page(synth_site.url, viewport=TALL)  # every card in view (the grid is windowed)
    page = p.page
    p.allowed_errors.append(r"Failed to load resource: the server responded with a status of 404")
    wait_seq(page, synth_site.seq)
    synth_site.remove()
    banner = page.locator("#stale-banner")
    expect(banner).to_be_visible(timeout=8000)
    expect(banner).to_contain_text("Cannot load data.json")
    expect(banner).to_contain_text("HTTP 404")
    expect(page.locator("html")).to_have_attribute("data-state", "stale")
    assert page.locator("#grid .card").count() == 10  # last good data stays
    synth_site.write(clients=10)
    expect(banner).to_be_hidden(timeout=8000)


def test_works_without_web_workers(synth_site, new_page):
    """Where no worker can start, the page fetches and parses data.json itself
    (the same fetch code, assets/model.js) and behaves the same."""
    synth_site.write(clients=25)
    p = new_page()
    page = p.page
    page.add_init_script("window.Worker = function () { throw new Error('workers are disabled'); };")
    page.goto(synth_site.url)
    wait_seq(page, synth_site.seq)
    assert page.evaluate("window.chronySnap.worker") is False
    expect(page.locator("#sum-clients")).to_have_text("25")
    expect(page.locator("#count")).to_have_text("25 clients")
    assert page.locator("#grid .card").count() > 0
    p.allowed_errors.append(r"Failed to load resource: the server responded with a status of 404")
    synth_site.remove()
    expect(page.locator("#stale-banner")).to_contain_text("HTTP 404", timeout=8000)
    synth_site.write(clients=26)
    expect(page.locator("#sum-clients")).to_have_text("26", timeout=8000)
    expect(page.locator("#stale-banner")).to_be_hidden(timeout=8000)


def test_saturation_and_sources_panel(synth_site, new_page):
    import synth

    doc = synth.make(5, refresh_s=0.5)
    doc["serverstats"]["client_log_records_dropped"] = 1234
    synth_site.write(doc)
    p = new_page(synth_site.url)
    page = p.page
    wait_seq(page, synth_site.seq)
    expect(page.locator("#saturation")).to_be_visible()
    expect(page.locator("#saturation")).to_contain_text("1,234")
    rows = page.locator("#sources-body tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("377")  # reach 255 in octal, like chronyc
    expect(rows.nth(1)).to_contain_text("177")
    expect(rows.nth(0)).to_contain_text("selected")
    expect(page.locator("#sync-state")).to_contain_text("Synchronised to 192.168.0.1, stratum 2")
    expect(page.locator("#sync-kv")).to_contain_text("12.3 µs fast of NTP time")
    expect(page.locator("#sync-kv")).to_contain_text("12.35 ppm slow")
    per_s = page.locator("#stats-body tr", has_text="NTP packets received").locator("td").nth(1)
    expect(per_s).to_have_text(re.compile(r"/s$"))


def test_nts_ke_column(synth_site, new_page):
    import synth

    doc = synth.make(40, nts=True, refresh_s=0.5)
    c = next(x for x in doc["clients"] if x.get("nts_ke"))
    synth_site.write(doc)
    p = new_page(synth_site.url, viewport=TALL)
    page = p.page
    wait_seq(page, synth_site.seq)
    card(page, c["address"]).locator(".card-head").click()
    det = card(page, c["address"]).locator(".det")
    expect(det.locator("th", has_text="NTS-KE")).to_have_count(1)
    row = det.locator("tr", has_text="Packets").locator("td")
    expect(row).to_have_count(3)
    expect(row.nth(2)).to_have_text(fmt(c["nts_ke"]["connections"]))
    expect(det.locator("tr", has_text="Last seen").locator("td").nth(2)).to_contain_text("ago")


def test_no_external_requests(live, new_page):
    p = new_page(live.url)
    p.page.wait_for_function("() => window.chronySnap.polls >= 2")
    for u in p.requests:
        assert u.startswith(live.url), u


# ---------------------------------------------------------------- screenshots for docs/


def test_screenshots(live, new_page, tmp_path):
    """Light and dark screenshots of the live page, desktop (1280 wide) and
    phone (390 wide). README's pictures come from here:
    CHRONY_SNAP_SCREENSHOTS=docs writes them there."""
    out = os.environ.get("CHRONY_SNAP_SCREENSHOTS") or str(tmp_path)
    os.makedirs(out, exist_ok=True)
    sizes = {"": {"width": 1280, "height": 1300}, "phone-": {"width": 390, "height": 1400}}
    for scheme in ("light", "dark"):
        for prefix, viewport in sizes.items():
            live.build()  # a fresh snapshot for each picture: "Live", not stale
            d = live.data()
            crit = next(c["address"] for c in d["clients"] if c["status"] == "critical")
            p = new_page(live.url, viewport=viewport, color_scheme=scheme)
            page = p.page
            wait_seq(page, d["seq"])
            page.select_option("#sort", "drops")
            if not prefix:  # on a phone the cards start below the first screen
                card(page, crit).locator(".card-head").click()
            page.mouse.move(0, 0)
            path = os.path.join(out, f"screenshot-{prefix}{scheme}.png")
            page.screenshot(path=path)
            bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
            shade = sum(int(x) for x in bg[bg.index("(") + 1 : bg.index(")")].split(",")[:3]) / 3
            assert (shade > 128) == (scheme == "light"), (scheme, bg)
            assert os.path.getsize(path) > 20000
            # nothing sticks out sideways on a phone
            assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
