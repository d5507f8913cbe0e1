"""Every shared fixture (helpers they use are in tests/helpers.py).

Engine and production tests:

* ``short_tmp`` - a short directory under /tmp (Unix socket paths);
* ``sandbox`` - a real private chronyd on loopback (chrony_snap.harness.sandbox);
* ``fake`` - replayed chronyc outputs for tests/fakebin/chronyc (FakeChrony),
  only for what a live chronyd cannot produce;
* ``runtime`` - chrony-snap copied where an unprivileged user can run it.

Browser tests (tests/test_dashboard.py):

* ``chromium_browser`` - one Debian Chromium per session, driven by Playwright
  (never downloads a browser: CHROMIUM env var or /usr/bin/chromium);
* ``live_site`` - a real private chronyd with real NTP traffic from
  populate(), a web root made by running the real ``chrony-snap build`` CLI
  (again every ``refresh_s`` by a ticker thread that tests can start), served
  by a real nginx on 127.0.0.1 running the production site config
  (chrony_snap.nginx.NginxProcess: the CSP and Cache-Control headers come from
  the shipped server block, and its workers run as the web user, so the web
  root must be readable by them); ``live`` is the same with its ticker stopped;
* ``synth_site`` - the same page and assets with a data.json the test writes
  itself (bench/synth.py), for cases a real chronyd cannot produce on demand
  (names with spaces, a single changed client, 20k clients, a missing file);
* ``new_page`` - a fresh browser context + page that records console errors,
  page errors and dialogs; the test fails on any console error it did not
  declare as expected.

Network: everything is on loopback; reverse DNS is always off in the configs.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from chrony_snap.harness.sandbox import Sandbox
from helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    HOSTILE_NAMES,
    REGEN_GOLDEN,
    FakeChrony,
    PageProbe,
    Runtime,
    Site,
    SynthSite,
    golden_written,
    page_config,
    run_build,
    short_dir,
)

# --------------------------------------------------------------------------
# golden files (tests/test_golden.py)
# --------------------------------------------------------------------------


def pytest_sessionfinish(session, exitstatus):
    # a regeneration run that rewrote nothing (deselected, skipped, or an
    # error before writing) must not look like success
    if REGEN_GOLDEN and not golden_written and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    if not REGEN_GOLDEN:
        return
    if golden_written:
        names = ", ".join(str(p.relative_to(p.parent.parent)) for p in golden_written)
        terminalreporter.write_line(f"CHRONY_SNAP_REGEN_GOLDEN=1: rewrote {names}; review them with git diff")
    else:
        terminalreporter.write_line("CHRONY_SNAP_REGEN_GOLDEN=1 but no golden file was written", red=True)


# --------------------------------------------------------------------------
# engine and production
# --------------------------------------------------------------------------


@pytest.fixture
def short_tmp():
    """A short directory under /tmp (Unix socket paths must stay < 108 bytes)."""
    d = short_dir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def sandbox(short_tmp):
    """A private chronyd on loopback, stopped after the test."""
    with Sandbox(short_tmp / "chrony") as sb:
        yield sb
    assert sb.pid is None


@pytest.fixture
def fake(tmp_path):
    return FakeChrony(tmp_path / "fake")


@pytest.fixture(scope="session")
def runtime():
    """chrony-snap, Jinja2 and MarkupSafe copied into a world-readable directory,
    with an interpreter any user may execute: the checkout (and a pyenv Python
    under /root) may not be reachable for an unprivileged user."""
    import jinja2
    import markupsafe

    import chrony_snap
    from chrony_snap.site import resource_dir

    d = short_dir(0o755)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for mod in (chrony_snap, jinja2, markupsafe):
        src = Path(mod.__file__).parent
        shutil.copytree(src, d / src.name, ignore=ignore)
    for name in ("templates", "assets"):
        if not (d / "chrony_snap" / name).exists():
            shutil.copytree(resource_dir(name), d / name, ignore=ignore)
    for root, _dirs, files in os.walk(d):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    python = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else os.path.realpath(sys.executable)
    yield Runtime(python, d)
    shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------
# the page in a browser
# --------------------------------------------------------------------------


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
    from chrony_snap.harness.nginx import NginxProcess
    from chrony_snap.harness.sandbox import populate

    base = short_dir()
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


@pytest.fixture(scope="session")
def synth_site():
    from chrony_snap.harness.nginx import NginxProcess

    base = short_dir()
    web = None
    try:
        # the page as `chrony-snap build` renders it (chronyd absent: only the page matters)
        src = os.path.join(base, "built")
        cfg = page_config(os.path.join(base, "config.toml"), host="synthetic-host")
        run_build(
            src,
            socket=os.path.join(base, "no.sock"),
            state=os.path.join(base, "state"),
            config=cfg,
            check=False,
        )
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


@pytest.fixture(scope="module")
def trend_site():
    """A web root with history written by the engine (helpers.TrendSite: 1 min
    and 1 s tiers with gaps, events), served by a real nginx; tests may
    tick() it (the page then extends its charts).  Per module: its history
    ends when it is made, and the page picks tiers by the real clock."""
    from helpers import TrendSite

    base = short_dir()
    try:
        with TrendSite(base).start().served() as site:
            yield site
    finally:
        shutil.rmtree(base, ignore_errors=True)


CROWD = 1500  # clients of `crowd`: enough to exceed a small [clients] cpu_budget


@pytest.fixture(scope="module")
def crowd():
    """A chronyd with CROWD clients (populate()), shared by one module's tests."""
    from helpers import CrowdSandbox

    with CrowdSandbox(CROWD, limited=5, cmd=2) as sb:
        yield sb
