"""The client-population section (assets/analytics.js, numbers from the
worker: assets/model.js analyse()), in Chromium: histograms that match
/metrics' buckets and counts computed here from the same data.json, network
groups that filter the list to their CIDR, "new in the last hour", top
talkers that jump to their card, the client log's capacity, hostile names
inert, a phone viewport and both themes.  All of it fails on main: it has no
#population section."""

from __future__ import annotations

import calendar
import ipaddress
import time

import pytest

pytest.importorskip("playwright")
from playwright.sync_api import expect  # noqa: E402

from chrony_snap import metrics  # noqa: E402
from helpers import wait_seq  # noqa: E402

PHONE = {"width": 390, "height": 1400}
HOSTILE = '<img src=x onerror="document.title=1">'


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(t)))


def population_doc(n=300):
    """synth's clients with first-seen times (every 7th one new), a hostile
    name on the busiest client, and a client log at capacity."""
    import synth

    doc = synth.make(n, refresh_s=0.5)
    now = time.time()
    for i, c in enumerate(doc["clients"]):
        c["first_seen"] = rfc3339(now - (600 if i % 7 == 0 else 7200))
    busiest = max(doc["clients"], key=lambda c: c["rate"]["ntp_pps"] or 0)
    busiest["hostname"] = HOSTILE
    doc["client_log"] = {"records": n, "capacity": n, "source": "chrony.conf", "full": True}
    return doc, busiest


def show(synth_site, new_page, doc, **kw):
    synth_site.write(doc)
    page = new_page(synth_site.url, **kw).page
    wait_seq(page, synth_site.seq)
    open_section(page)
    return page


def open_section(page):
    """The section is closed at first (one line, so the client list stays in view)."""
    expect(page.locator("#hist-last")).to_be_hidden()
    page.click("#pop-details > summary")
    expect(page.locator("#hist-last")).to_be_visible()


def per_bucket(values, bounds):
    """Non-cumulative counts, the last one above the last bound, from
    metrics.py's own cumulative buckets."""
    counts = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    cumulative, total, _ = metrics._buckets(counts, bounds, float)
    out, prev = [], 0
    for _, n in cumulative:
        out.append(n - prev)
        prev = n
    return out + [total - prev]


def python_histograms(clients):
    """As metrics.ClientCounts selects them: last seen and interval of
    clients with NTP requests; drops of every client with requests or drops."""
    hits = [c["ntp"] for c in clients if c["ntp"]["packets"]]
    last = [str(x["last_seen_s"]) if x["last_seen_s"] is not None else "null" for x in hits]
    interval = [str(x["interval_s"]) if x["interval_s"] is not None else "null" for x in hits]
    drops = [str(c["ntp"]["drops"]) for c in clients if c["ntp"]["packets"] or c["ntp"]["drops"]]
    return {
        "hist-last": per_bucket(last, metrics.TIME_BUCKETS),
        "hist-interval": per_bucket(interval, metrics.TIME_BUCKETS),
        "hist-drops": per_bucket(drops, metrics.DROP_BUCKETS),
    }


def page_counts(page, table):
    return [int(x) for x in page.eval_on_selector_all(f"#{table} tbody tr", "rows => rows.map(r => r.dataset.count)")]


def test_histograms_match_python_and_metrics_buckets(synth_site, new_page):
    doc, _ = population_doc()
    page = show(synth_site, new_page, doc)
    root = page.locator("html")
    expect(root).to_have_attribute("data-time-buckets", ",".join(map(str, metrics.TIME_BUCKETS)))
    expect(root).to_have_attribute("data-drop-buckets", ",".join(map(str, metrics.DROP_BUCKETS)))
    want = python_histograms(doc["clients"])
    assert sum(want["hist-drops"]) > 0 and want["hist-drops"][0] < sum(want["hist-drops"])  # some drops to count
    for table, counts in want.items():
        assert page_counts(page, table) == counts, table
    expect(page.locator("#hist-last tbody th").first).to_have_text("≤ 1 s")


def test_network_group_filters_to_its_cidr(synth_site, new_page):
    doc, _ = population_doc()
    page = show(synth_site, new_page, doc, viewport={"width": 1280, "height": 3000})
    cidrs = page.eval_on_selector_all("#networks-body button", "bs => bs.map(b => b.dataset.cidr)")
    assert any(c.endswith("/24") for c in cidrs) and any(c.endswith("/48") for c in cidrs)
    for cidr in (next(c for c in cidrs if c.endswith("/24")), next(c for c in cidrs if c.endswith("/48"))):
        net = ipaddress.ip_network(cidr)
        inside = [c for c in doc["clients"] if ipaddress.ip_address(c["address"]) in net]
        row = page.locator("#networks-body tr").filter(has=page.locator(f'button[data-cidr="{cidr}"]'))
        expect(row.locator("td").first).to_have_text(str(len(inside)))
        row.locator("button").click()
        expect(page.locator("#q")).to_have_value(cidr)
        expect(page.locator("#count")).to_have_text(f"Showing {len(inside)} of {len(doc['clients'])} clients")
        shown = page.eval_on_selector_all("#grid .card .addr", "xs => xs.map(x => x.textContent)")
        assert shown and all(ipaddress.ip_address(a) in net for a in shown)


def test_new_in_the_last_hour(synth_site, new_page):
    doc, _ = population_doc()
    page = show(synth_site, new_page, doc, viewport={"width": 1280, "height": 3000})
    new = [c for i, c in enumerate(doc["clients"]) if i % 7 == 0]
    expect(page.locator("#new-count")).to_have_text(f"{len(new)} clients first seen in the last hour")
    page.click("#new-filter")
    expect(page.locator("#new-filter")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#count")).to_have_text(f"Showing {len(new)} of {len(doc['clients'])} clients")
    page.click("#new-filter")
    expect(page.locator("#count")).to_have_text(f"{len(doc['clients'])} clients")
    # first_seen absent (no state directory): said, not guessed
    for c in doc["clients"]:
        del c["first_seen"]
    synth_site.write(doc)
    wait_seq(page, synth_site.seq)
    expect(page.locator("#new-count")).to_contain_text("Unknown")
    expect(page.locator("#new-filter")).to_be_disabled()


def test_top_talker_jumps_to_its_card_and_hostile_names_stay_text(synth_site, new_page):
    doc, busiest = population_doc()
    page = show(synth_site, new_page, doc)
    first = page.locator("#top-talkers button").first
    expect(first).to_have_text(f"{busiest['address']} ({HOSTILE})")
    assert page.locator("#population img").count() == 0 and page.title() != "1"
    first.click()
    expect(page.locator("#q")).to_have_value(busiest["address"])
    card = page.locator("#grid .card").first
    expect(card.locator(".addr")).to_have_text(busiest["address"])
    expect(card).to_be_in_viewport()
    dropper = max(doc["clients"], key=lambda c: (c["ntp"]["drops"], -doc["clients"].index(c)))
    assert page.locator("#top-droppers button").count() == 5
    expect(page.locator("#top-droppers .v").first).to_have_text(f"{dropper['ntp']['drops']:,}")


def test_client_log_capacity_and_nts(synth_site, new_page):
    import synth

    doc, _ = population_doc()
    page = show(synth_site, new_page, doc)
    expect(page.locator("#log-capacity")).to_have_text(
        "chronyd's client log: 300 of 300 records (capacity from clientloglimit in chrony.conf)"
    )
    expect(page.locator("#log-full")).to_be_visible()
    nets = {ipaddress.ip_network(f"{c['address']}/{24 if c['family'] == 'ipv4' else 48}", strict=False)
            for c in doc["clients"]}  # fmt: skip
    new = sum(1 for i in range(len(doc["clients"])) if i % 7 == 0)
    expect(page.locator("#pop-brief")).to_have_text(
        f"({len(nets)} networks · {new} new in the last hour · 300 of 300 log records)"
    )
    expect(page.locator("#nts-split")).to_be_hidden()
    doc = synth.make(40, refresh_s=0.5, nts=True)
    doc["client_log"] = {"records": 40, "capacity": None, "source": None, "full": False}
    synth_site.write(doc)
    wait_seq(page, synth_site.seq)
    expect(page.locator("#log-capacity")).to_contain_text("40 of an unknown number of records")
    expect(page.locator("#log-full")).to_be_hidden()
    with_nts = sum(1 for c in doc["clients"] if c.get("nts_ke") and c["nts_ke"]["connections"])
    expect(page.locator("#nts-split")).to_contain_text(f"NTS-KE: {with_nts} clients")


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_phone_viewport_fits(synth_site, new_page, theme):
    doc, _ = population_doc()
    synth_site.write(doc)
    probe = new_page(None, viewport=PHONE, color_scheme=theme)
    probe.page.goto(synth_site.url)
    wait_seq(probe.page, synth_site.seq)
    page = probe.page
    open_section(page)
    # nothing of the section sticks out of the phone's width (the networks table scrolls inside its box)
    width = page.evaluate("document.getElementById('population').getBoundingClientRect().right")
    assert width <= PHONE["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_first_seen_parse_of_rfc3339():
    """The times the page compares are the engine's: whole seconds, UTC."""
    assert calendar.timegm(time.strptime(rfc3339(1_790_000_000), "%Y-%m-%dT%H:%M:%SZ")) == 1_790_000_000


def test_population_screenshots(synth_site, new_page, tmp_path):
    """The section open, desktop and phone, light and dark (README's pictures:
    CHRONY_SNAP_SCREENSHOTS=docs writes them there)."""
    import os

    out = os.environ.get("CHRONY_SNAP_SCREENSHOTS") or str(tmp_path)
    os.makedirs(out, exist_ok=True)
    doc, _ = population_doc()
    for scheme in ("light", "dark"):
        for prefix, viewport in (("", {"width": 1280, "height": 900}), ("phone-", PHONE)):
            page = show(synth_site, new_page, doc, viewport=viewport, color_scheme=scheme)
            page.mouse.move(0, 0)
            path = os.path.join(out, f"screenshot-population-{prefix}{scheme}.png")
            page.locator("#population").screenshot(path=path)
            assert os.path.getsize(path) > 20000
            assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
