"""The page as `chrony-snap build` renders it, checked without a browser:
CSP, no inline script or style, no external URL, fingerprinted assets,
autoescaping, settings passed as data- attributes, the <noscript> note."""

from __future__ import annotations

import hashlib
import html.parser
import os
import re
from pathlib import Path

import pytest

from chrony_snap import config, site

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSETS = os.path.join(REPO, "assets")
FORBIDDEN_JS = (
    "innerHTML",
    "outerHTML",
    "insertAdjacentHTML",
    "document.write",
    "eval(",
    "new Function",
    'setTimeout("',
    'setInterval("',
)


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []  # (tag, attrs dict)
        self.stack = []
        self.script_text = []
        self.style_elements = 0
        self.noscript = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.stack.append(tag)
        if tag == "style":
            self.style_elements += 1

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop() == tag:
                break

    def handle_data(self, data):
        if "script" in self.stack and data.strip():
            self.script_text.append(data)
        if "noscript" in self.stack:
            self.noscript.append(data)
        self.text.append(data)

    def find(self, tag, **want):
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in want.items())]


def render(tmp_path, host="ntp1.example", **page):
    cfg = config.defaults()["page"]
    cfg.update(page)
    out = tmp_path / "www"
    written = site.render(str(out), cfg, "test-key", host)
    text = (out / "index.html").read_text(encoding="utf-8")
    p = Page()
    p.feed(text)
    p.close()
    return out, text, p, written


@pytest.fixture
def page(tmp_path):
    return render(tmp_path)


def test_csp_meta(page):
    _, _, p, _ = page
    metas = [a for t, a in p.tags if t == "meta" and (a.get("http-equiv") or "").lower() == "content-security-policy"]
    assert len(metas) == 1
    csp = metas[0]["content"]
    directives = {d.split()[0]: d.split()[1:] for d in (x.strip() for x in csp.split(";")) if d}
    assert directives["default-src"] == ["'self'"]
    for d in ("script-src", "style-src", "connect-src", "img-src"):
        assert directives[d] == ["'self'"], d
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert "unsafe" not in csp and "data:" not in csp and "http" not in csp
    # the CSP meta comes before anything that loads
    order = [t for t, a in p.tags if t in ("meta", "link", "script")]
    first_load = next(i for i, (t, a) in enumerate(p.tags) if t in ("link", "script"))
    csp_at = next(i for i, (t, a) in enumerate(p.tags) if t == "meta" and a.get("http-equiv"))
    assert csp_at < first_load, order


def test_no_inline_script_or_style(page):
    _, text, p, _ = page
    scripts = p.find("script")
    assert scripts and all(s.get("src") for s in scripts)
    assert not p.script_text
    assert p.style_elements == 0
    for t, a in p.tags:
        assert "style" not in a, (t, a)
        assert not any(k.startswith("on") for k in a), (t, a)
    assert "javascript:" not in text.lower()


def test_no_external_urls(page):
    out, text, p, _ = page
    for t, a in p.tags:
        for k in ("src", "href", "action", "srcset", "poster", "data"):
            v = a.get(k)
            if v is None:
                continue
            assert not re.match(r"^[a-z][a-z0-9+.-]*:|^//", v, re.I), (t, k, v)
    for name in os.listdir(ASSETS):
        body = Path(ASSETS, name).read_bytes()
        assert b"http:" not in body and b"https:" not in body and b"//cdn" not in body, name
        if name.endswith(".css"):
            assert b"@import" not in body and b"url(" not in body, name


def test_fingerprinted_assets(page):
    out, _, p, written = page
    urls = [a["src"] for a in p.find("script")] + [a["href"] for a in p.find("link")]
    assert len(urls) == 5  # favicon, style, theme, model (also the worker), app
    for u in urls:
        m = re.fullmatch(r"assets/([\w.-]+)\.([0-9a-f]{12})\.(\w+)", u)
        assert m, u
        src = os.path.join(ASSETS, f"{m.group(1)}.{m.group(3)}")
        data = Path(src).read_bytes()
        assert hashlib.sha256(data).hexdigest()[:12] == m.group(2)
        assert (out / u).read_bytes() == data
    # the app script is deferred; the theme script is not (it runs before first paint)
    app = next(a for a in p.find("script") if "/app." in a["src"])
    model = next(a for a in p.find("script") if "/model." in a["src"])
    theme = next(a for a in p.find("script") if "/theme." in a["src"])
    assert "defer" in app and "defer" in model and "defer" not in theme
    srcs = [a["src"] for a in p.find("script")]
    assert srcs.index(model["src"]) < srcs.index(app["src"])  # deferred scripts run in order
    assert set(written) == {os.path.basename(u) for u in urls}


def test_forbidden_js_apis_absent():
    for name in os.listdir(ASSETS):
        if name.endswith(".js"):
            body = Path(ASSETS, name).read_text(encoding="utf-8")
            for bad in FORBIDDEN_JS:
                assert bad not in body, (name, bad)


def test_style_css_is_the_real_one():
    css = Path(ASSETS, "style.css").read_text(encoding="utf-8")
    assert "placeholder" not in css
    assert "prefers-color-scheme: dark" in css and '[data-theme="dark"]' in css
    assert "unicode-bidi: isolate" in css and ":focus-visible" in css


def test_settings_as_data_attributes(tmp_path):
    _, _, p, _ = render(tmp_path, refresh_s=0.5, stale_after_refreshes=4, fetch_timeout_s=2.5)
    h = p.find("html")[0]
    assert h["data-refresh-ms"] == "500"
    assert float(h["data-stale-after-s"]) == 2.0
    assert h["data-fetch-timeout-ms"] == "2500"
    assert h["lang"] == "en"


def test_autoescape_of_host_and_title(tmp_path):
    host = "<script>alert(1)</script>\"'&"
    _, text, p, _ = render(tmp_path, host=host, title="<b>T</b>")
    assert "<script>alert(1)" not in text and "<b>T</b>" not in text
    assert "&lt;script&gt;" in text
    assert not p.script_text
    assert p.find("html")[0]["data-host"] == host  # attribute round-trips as text
    assert len(p.find("script")) == 3


def test_noscript_links_data_json(page):
    _, text, p, _ = page
    assert "data.json" in "".join(p.noscript)
    assert re.search(r'<noscript>.*<a href="data.json">', text, re.S)


def test_accessibility_landmarks(page):
    _, _, p, _ = page
    assert p.find("main") and p.find("header")
    assert p.find("meta", name="viewport")
    ids = {a.get("id") for _, a in p.tags}
    for i in (
        "q",
        "sort",
        "dir",
        "expand-all",
        "collapse-all",
        "theme-toggle",
        "stale-banner",
        "error-banner",
        "grid",
        "health",
    ):
        assert i in ids, i
    for a in p.find("button"):
        assert a.get("type") == "button"
    for b in p.find("button", **{"class": "sf st-ok"}) + p.find("button", **{"class": "sf st-critical"}):
        assert b.get("aria-pressed") == "false"
    assert p.find("div", id="stale-banner")[0].get("role") == "alert"
    assert p.find("input", id="q")
