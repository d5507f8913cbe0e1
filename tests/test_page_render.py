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


def test_csp_is_the_servers(page):
    """One source: the page's policy is chrony_snap.nginx.CSP less
    frame-ancestors (which only works as a header)."""
    from chrony_snap import nginx

    _, _, p, _ = page
    meta = next(a for t, a in p.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")["content"]
    assert meta + "; frame-ancestors 'none'" == nginx.CSP
    template = Path(os.path.join(REPO, "templates", "index.html")).read_text(encoding="utf-8")
    assert "default-src" not in template


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
    for name, path in asset_files():
        body = Path(path).read_bytes()
        if name.startswith("vendor/") and name.endswith(".js"):
            # vendored code as published: links in its comments are not fetched
            body = re.sub(rb"/\*.*?\*/|(^|\s)//[^\n]*", b"", body, flags=re.S | re.M)
        assert b"http:" not in body and b"https:" not in body and b"//cdn" not in body, name
        if name.endswith(".css"):
            assert b"@import" not in body and b"url(" not in body, name


def asset_files():
    """Every file under assets/, subfolders included: (relative path, absolute path)."""
    for root, _, files in os.walk(ASSETS):
        for f in files:
            path = os.path.join(root, f)
            yield os.path.relpath(path, ASSETS).replace(os.sep, "/"), path


def test_fingerprinted_asset_directory(page):
    """All assets live in one directory named by a hash over all of them, so
    the modules' relative imports (and the worker's URL) resolve inside it and
    a new page never mixes with old modules."""
    out, _, p, written = page
    urls = [a["src"] for a in p.find("script")] + [a["href"] for a in p.find("link")]
    assert len(urls) == 5  # favicon, uPlot's style and the page's, theme, app (which imports the other modules)
    dirs = {re.fullmatch(r"assets/([0-9a-f]{12})/[\w./-]+", u).group(1) for u in urls}
    assert len(dirs) == 1
    digest = dirs.pop()
    h = hashlib.sha256()
    # in os.walk's order, as site.py hashes them: a directory's files, then its subdirectories
    walk_order = lambda f: tuple((1, d) for d in f[0].split("/")[:-1]) + ((0, f[0].split("/")[-1]),)  # noqa: E731
    for rel, path in sorted(asset_files(), key=walk_order):
        data = Path(path).read_bytes()
        h.update(f"{rel}\0{len(data)}\0".encode())
        h.update(data)
        assert (out / "assets" / digest / rel).read_bytes() == data, rel
    assert h.hexdigest()[:12] == digest
    assert sorted(written) == sorted(f"{digest}/{rel}" for rel, _ in asset_files())
    # the app is a module (deferred by nature); the theme script is classic and
    # not deferred (it runs before first paint)
    app = next(a for a in p.find("script") if a["src"].endswith("/app.js"))
    theme = next(a for a in p.find("script") if a["src"].endswith("/theme.js"))
    assert app.get("type") == "module"
    assert "type" not in theme and "defer" not in theme and "async" not in theme


def test_every_asset_hash_changes_the_directory(tmp_path):
    """One changed byte in any asset (here a module nothing in the template
    names) moves every URL."""
    import shutil

    assets = tmp_path / "assets"
    shutil.copytree(ASSETS, assets)
    cfg = config.defaults()["page"]
    first = site.render(str(tmp_path / "a"), cfg, "k", "h", assets=str(assets))
    (assets / "format.js").write_text((assets / "format.js").read_text() + "\n")
    second = site.render(str(tmp_path / "b"), cfg, "k", "h", assets=str(assets))
    assert {w.split("/")[0] for w in first}.isdisjoint(w.split("/")[0] for w in second)


def test_forbidden_js_apis_absent():
    """No markup sinks anywhere in assets/ (subfolders included): values reach
    the DOM as text."""
    seen = 0
    for rel, path in asset_files():
        if rel.endswith((".js", ".mjs", ".html", ".css")):
            body = Path(path).read_text(encoding="utf-8")
            seen += 1
            for bad in FORBIDDEN_JS:
                assert bad not in body, (rel, bad)
    assert seen >= 10


def test_forbidden_js_check_sees_subfolders(tmp_path, monkeypatch):
    """The ban above really walks subfolders."""
    import shutil

    sub = tmp_path / "assets"
    shutil.copytree(ASSETS, sub)
    (sub / "deep").mkdir()
    (sub / "deep" / "x.js").write_text("el.insertAdjacentHTML('beforeend', s);\n")
    monkeypatch.setattr(__import__(__name__), "ASSETS", str(sub))
    with pytest.raises(AssertionError):
        test_forbidden_js_apis_absent()


def test_every_module_is_reachable_from_app():
    """Each module in assets/ is imported by app.js, directly or not (or is
    the worker or theme.js): no dead file ships."""
    imports = {}
    for rel, path in asset_files():
        if rel.endswith(".js"):
            found = re.findall(r'^import .* from "\./([\w./-]+)";$', Path(path).read_text(encoding="utf-8"), re.M)
            imports[rel] = [os.path.normpath(os.path.join(os.path.dirname(rel), m)) for m in found]  # vendor/ too
    reached, todo = set(), ["app.js", "worker.js"]
    while todo:
        m = todo.pop()
        if m not in reached:
            reached.add(m)
            todo += imports[m]
    assert set(imports) - reached == {"theme.js"}
    worker = Path(os.path.join(ASSETS, "poll.js")).read_text(encoding="utf-8")
    assert 'new Worker(new URL("./worker.js", import.meta.url), { type: "module" })' in worker


def test_style_css_is_the_real_one():
    css = Path(os.path.join(ASSETS, "style.css")).read_text(encoding="utf-8")
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
    assert len(p.find("script")) == 2


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
