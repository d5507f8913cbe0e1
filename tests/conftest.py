"""Shared fixtures.

Browser tests (tests/test_dashboard.py, bench/screenshots via the same
fixtures) use:

* ``chromium_browser`` - one Debian Chromium per session, driven by Playwright
  (never downloads a browser: CHROMIUM env var or /usr/bin/chromium);
* ``live_site`` - a real private chronyd (chrony_snap.sandbox) with real NTP
  traffic from populate(), a web root made by running the real
  ``chrony-snap build`` CLI as a subprocess (again every ``refresh_s`` by a
  ticker thread that tests can pause), served by a real nginx on 127.0.0.1
  running the production site config (chrony_snap.nginx.NginxProcess: the
  CSP and Cache-Control headers come from the shipped server block, and its
  workers run as the web user, so the web root must be readable by them);
* ``synth_site`` - the same page and assets with a data.json the test writes
  itself (bench/synth.py), for cases a real chronyd cannot produce on demand
  (names with spaces, a single changed client, 20k clients, a missing file);
* ``new_page`` - a fresh browser context + page that records console errors,
  page errors and dialogs; the test fails on any console error it did not
  declare as expected.

Network: everything is on loopback; reverse DNS is always off in the configs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import pytest

# fixtures shared by the engine, production and page tests (defined in snaputil)
from snaputil import fake, runtime, sandbox, short_tmp  # noqa: F401

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
for _p in (HERE, os.path.join(REPO, "bench")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

# Hostnames a hostile PTR record (or names file) could carry. The names file
# is split on whitespace, so these have none; names with spaces are tested
# through synth_site.
HOSTILE_NAMES = {
    "127.10.0.1": "<img/src=x/onerror=alert(1)>",
    "127.10.0.2": "\"'><script>alert(2)</script>",
    "127.10.0.3": "\u202egnp.live\u200b\u200d\u2066exe.txt",
    "127.10.0.4": ("l" * 62 + ".") * 4 + "example",  # 259 -> cut to 255 by chrony-snap
    "127.10.0.5": "&lt;b&gt;amp&amp;{{7*7}}${x}",
    "127.10.0.6": "client-6.plant.example",
    "127.10.0.7": "Client-Seven.PLANT.example",
}


def chrony_snap(*args, check=True, timeout=60):
    """Run the real CLI (as a subprocess, like systemd would)."""
    r = subprocess.run([sys.executable, "-m", "chrony_snap", *args], capture_output=True,
                       text=True, timeout=timeout, cwd=REPO)
    if check and r.returncode != 0:
        raise AssertionError(f"chrony-snap {' '.join(args)} -> {r.returncode}\n{r.stderr}")
    return r


def write_config(path, names_file=None, refresh_s=0.5, host="sandbox-host", extra=""):
    lines = ["[dns]", "enabled = false"]
    if names_file:
        lines.append(f'names_file = "{names_file}"')
    lines += ["[output]", f'host = "{host}"', "[page]", f"refresh_s = {refresh_s}",
              "stale_after_refreshes = 3", "fetch_timeout_s = 2.0", extra]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


class Site:
    """A web root produced by `chrony-snap build` against a chronyd socket."""

    def __init__(self, base, socket_path, names=None, refresh_s=0.5, host="sandbox-host"):
        self.base = base
        self.out = os.path.join(base, "www")
        self.state = os.path.join(base, "state")
        self.config = os.path.join(base, "config.toml")
        self.socket = str(socket_path)
        self.refresh_s = refresh_s
        names_file = None
        if names:
            names_file = os.path.join(base, "names")
            with open(names_file, "w", encoding="utf-8") as f:
                for a, n in names.items():
                    f.write(f"{a} {n}\n")
        write_config(self.config, names_file, refresh_s, host)
        self._stop = threading.Event()
        self._thread = None
        self._lock = threading.Lock()
        self.ticks = 0

    def build(self, check=True):
        with self._lock:
            r = chrony_snap("build", "--out", self.out, "--socket", self.socket,
                            "--state", self.state, "--config", self.config, check=check)
            self.ticks += 1
            return r

    def data(self) -> dict:
        with open(os.path.join(self.out, "data.json"), encoding="utf-8") as f:
            return json.load(f)

    # the "timer": one build per refresh_s, like chrony-snap.timer
    def _run(self):
        while not self._stop.is_set():
            t = time.monotonic()
            try:
                self.build(check=False)
            except Exception:  # noqa: BLE001 - keep ticking; tests see stale data
                pass
            self._stop.wait(max(0.05, self.refresh_s - (time.monotonic() - t)))

    def start_ticker(self):
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="chrony-snap-ticker", daemon=True)
            self._thread.start()

    def stop_ticker(self):
        if self._thread is not None:
            self._stop.set()
            self._thread.join(10)
            self._thread = None

    @property
    def ticking(self):
        return self._thread is not None


def _shortdir():
    """A short directory under /tmp (Unix socket paths stay < 108 bytes).
    0711: nginx's workers (the web user, as in production) reach the web root
    inside it without being able to list it."""
    d = tempfile.mkdtemp(prefix="cs-", dir="/tmp")
    os.chmod(d, 0o711)
    return d


@pytest.fixture(scope="session")
def chromium_browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright (python) not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def live_site():
    """Real chronyd + populate() + `chrony-snap build` + nginx. The ticker is
    stopped when a test starts using it (deterministic data); tests that want
    a live feed call site.start_ticker()."""
    from chrony_snap.harness.sandbox import Sandbox, populate
    from chrony_snap.harness.nginx import NginxProcess

    base = _shortdir()
    sb = Sandbox(os.path.join(base, "sb"))
    web = None
    try:
        sb.start()
        sent = populate(sb, clients=40, limited=4, cmd=2, base="127.10.0.1")
        site = Site(base, sb.socket, names=HOSTILE_NAMES)
        site.sandbox = sb
        site.sent = sent
        site.build()
        site.build()  # second tick: per-second rates are known
        web = NginxProcess(site.out).start()
        site.web = web
        site.url = web.url
        yield site
        site.stop_ticker()
    finally:
        if web is not None:
            web.stop()
        sb.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def live(live_site):
    """live_site with its ticker stopped and one fresh build (stable data)."""
    live_site.stop_ticker()
    live_site.build()
    yield live_site
    live_site.stop_ticker()


class SynthSite:
    """The real page and assets (copied from a `chrony-snap build` output)
    with a data.json written by the test."""

    def __init__(self, base, page_src):
        self.out = os.path.join(base, "www")
        shutil.copytree(page_src, self.out, ignore=shutil.ignore_patterns("data.json*", ".chrony-snap-site"))
        self.seq = 0

    def write(self, doc: dict | None = None, *, clients=50, **kw) -> dict:
        """Write data.json (atomic); returns the document. Each call gets a new seq."""
        import synth
        self.seq += 1
        if doc is None:
            kw.setdefault("refresh_s", 0.5)
            doc = synth.make(clients, seq=self.seq, **kw)
        else:
            doc["seq"] = self.seq
            doc["generated_at"] = synth.make(0, seq=self.seq)["generated_at"]
        synth.write(os.path.join(self.out, "data.json"), doc)
        return doc

    def remove(self):
        try:
            os.unlink(os.path.join(self.out, "data.json"))
        except FileNotFoundError:
            pass


@pytest.fixture(scope="session")
def synth_site():
    from chrony_snap.harness.nginx import NginxProcess

    base = _shortdir()
    web = None
    try:
        # the page as `chrony-snap build` renders it (chronyd absent: only the page matters)
        src = os.path.join(base, "built")
        cfg = os.path.join(base, "config.toml")
        write_config(cfg, refresh_s=0.5, host="synthetic-host")
        chrony_snap("build", "--out", src, "--socket", os.path.join(base, "no.sock"),
                    "--state", os.path.join(base, "state"), "--config", cfg, check=False)
        assert os.path.exists(os.path.join(src, "index.html"))
        site = SynthSite(base, src)
        site.write()
        web = NginxProcess(site.out).start()
        site.web = web
        site.url = web.url
        yield site
    finally:
        if web is not None:
            web.stop()
        shutil.rmtree(base, ignore_errors=True)


class PageProbe:
    """A page plus what it said: console errors, page errors, dialogs, requests."""

    def __init__(self, context, page):
        self.context = context
        self.page = page
        self.console_errors = []
        self.page_errors = []
        self.dialogs = []
        self.requests = []
        self.allowed_errors = []  # regexes of console errors a test expects
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))

        def on_dialog(d):
            self.dialogs.append(d.message)
            d.dismiss()
        page.on("dialog", on_dialog)

    def unexpected_errors(self):
        import re
        return [e for e in self.console_errors
                if not any(re.search(p, e) for p in self.allowed_errors)]


@pytest.fixture
def new_page(chromium_browser):
    """new_page(url, **context_options) -> PageProbe (page loaded, first data shown)."""
    made = []

    def make(url=None, wait_data=True, viewport=None, **ctx):
        context = chromium_browser.new_context(viewport=viewport or {"width": 1280, "height": 900}, **ctx)
        page = context.new_page()
        page.set_default_timeout(10000)
        probe = PageProbe(context, page)
        made.append(probe)
        if url:
            page.goto(url)
            if wait_data:
                page.wait_for_selector("html[data-seq]")
        return probe

    yield make
    problems = []
    for probe in made:
        errs = probe.unexpected_errors()
        if errs or probe.page_errors or probe.dialogs:
            problems.append((errs, probe.page_errors, probe.dialogs))
        probe.context.close()
    assert not problems, f"console errors / page errors / dialogs: {problems}"
