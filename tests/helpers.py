"""Helpers for chrony-snap's tests: plain functions and small classes, imported
by name (``from helpers import run_build, write_config``).  Fixtures live in
tests/conftest.py and use these.

* paths: REPO, FIX (captured chronyc outputs), FAKE_CHRONYC, MINISITE;
* short_dir(): a temp directory short enough for Unix socket paths;
* write_config(): a config.toml with reverse DNS off;
* cli() / run_build(): the real CLI in a child process, like systemd runs it;
* validate() / read_snapshot(): data.json checked against the shipped schema;
* FakeChrony: replayed chronyc outputs for tests/fakebin/chronyc;
* check_golden(): compare an output with tests/golden/NAME, or rewrite it;
* Site / SynthSite / PageProbe: the browser tests' web roots and pages.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import jsonschema

from chrony_snap.schema import load as load_schema

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FIX = HERE / "fixtures" / "chrony"
FAKE_CHRONYC = HERE / "fakebin" / "chronyc"
MINISITE = HERE / "fixtures" / "minisite"
GOLDEN = HERE / "golden"
# CHRONY_SNAP_REGEN_GOLDEN=1: check_golden() rewrites the files instead of comparing
REGEN_GOLDEN = os.environ.get("CHRONY_SNAP_REGEN_GOLDEN") == "1"
golden_written: list[Path] = []  # what this run rewrote (conftest reports it, or fails if empty)

# bench/synth.py makes synthetic snapshots for the page tests
if str(REPO / "bench") not in sys.path:
    sys.path.insert(0, str(REPO / "bench"))

# Debian's Chromium, driven by Playwright (which never downloads a browser here)
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

_VALIDATOR = jsonschema.Draft202012Validator(load_schema(), format_checker=jsonschema.FormatChecker())


def short_dir(mode=0o711) -> Path:
    """A new directory under /tmp (Unix socket paths must stay < 108 bytes,
    pytest's tmp_path may be longer).  0711 by default: nginx's workers and
    unprivileged runs reach what is inside without being able to list it.
    The caller removes it (the ``short_tmp`` fixture does)."""
    d = Path(tempfile.mkdtemp(prefix="cs-", dir="/tmp"))
    d.chmod(mode)
    return d


def validate(doc: dict) -> dict:
    _VALIDATOR.validate(doc)
    return doc


def read_snapshot(out) -> dict:
    """Load OUT/data.json, check it against the schema, return it."""
    with open(Path(out) / "data.json", encoding="utf-8") as f:
        return validate(json.load(f))


def write_config(path, text="", minisite=True) -> Path:
    """A config for tests: reverse DNS is always off unless the text has its
    own [dns] table (lookups would leave the machine).  The engine's tests
    render a tiny fixture page (the shipped dashboard has tests of its own);
    minisite=False keeps the shipped page."""
    path = Path(path)
    body = text if "[dns]" in text else "[dns]\nenabled = false\n" + text
    if minisite and "[page]" not in body:
        body += f'\n[page]\ntemplates_dir = "{MINISITE}/templates"\nassets_dir = "{MINISITE}/assets"\n'
    elif minisite:
        body = body.replace(
            "[page]\n", f'[page]\ntemplates_dir = "{MINISITE}/templates"\nassets_dir = "{MINISITE}/assets"\n'
        )
    path.write_text(body)
    return path


def cli_argv(*args, python=None) -> list[str]:
    """argv of the CLI: ``python -m chrony_snap ARGS`` (for Popen)."""
    return [python or sys.executable, "-m", "chrony_snap", *map(str, args)]


def cli(*args, check=True, env=None, timeout=60, user=None, runtime=None, cwd=None) -> subprocess.CompletedProcess:
    """Run the real CLI in a child process and return its CompletedProcess
    (text stdout/stderr).  check=True raises with stderr on a non-zero exit.
    `runtime` (the ``runtime`` fixture) runs it from a copy any user can read,
    for non-root runs with `user`.  `cwd`: `python -m` puts the working
    directory first on sys.path, before PYTHONPATH: another tree's code runs
    only from its own directory."""
    e = dict(os.environ)
    if runtime:
        e["PYTHONPATH"] = str(runtime.path)
        e["PYTHONDONTWRITEBYTECODE"] = "1"
    if env:
        e.update(env)
    argv = cli_argv(*args, python=runtime.python if runtime else None)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=e, user=user, cwd=cwd)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} -> rc={r.returncode}\nstdout:{r.stdout}\nstderr:{r.stderr}")
    return r


def build_args(out, *, socket=None, state=None, config=None, chronyc=None) -> list[str]:
    """``build --out OUT [--socket S] [--state D] [--config F] [--chronyc C]``."""
    args = ["build", "--out", str(out)]
    for flag, value in (("--socket", socket), ("--state", state), ("--config", config), ("--chronyc", chronyc)):
        if value is not None:
            args += [flag, str(value)]
    return args


def run_build(out, *, socket=None, state=None, config=None, chronyc=None, extra=(), **kw):
    """`chrony-snap build` through cli() (same keywords: check, env, timeout, user, runtime)."""
    return cli(*build_args(out, socket=socket, state=state, config=config, chronyc=chronyc), *extra, **kw)


def fill_disk(directory: Path) -> Path:
    """Fill the file system holding `directory` (a small tmpfs in the tests).
    Unbuffered, in shrinking chunks: a buffered file would raise ENOSPC again
    when it is closed, and a large chunk can leave a last page free."""
    filler = Path(directory) / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for size in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


class Runtime:
    """chrony-snap and its page dependencies copied where any user can read
    them (the ``runtime`` fixture): `python` to run, `path` for PYTHONPATH."""

    def __init__(self, python, path):
        self.python, self.path = python, path


class FakeChrony:
    """A directory of replayed chronyc outputs (see tests/fakebin/chronyc),
    filled with the captured outputs in FIX; set() replaces one command's."""

    COMMANDS = ("tracking", "sources", "sourcestats", "serverstats", "activity", "clients", "clients_-k")

    def __init__(self, d: Path):
        self.dir = d
        d.mkdir(parents=True, exist_ok=True)
        self.set("version", stdout=(FIX / "chrony-version.txt").read_text().splitlines()[0] + "\n")
        self.set("tracking", stdout=(FIX / "tracking_c.csv").read_text())
        self.set("sources", stdout=(FIX / "sources_c.csv").read_text())
        self.set("sourcestats", stdout=(FIX / "sourcestats_c.csv").read_text())
        self.set("serverstats", stdout=(FIX / "serverstats_c.csv").read_text())
        self.set("activity", stdout=(FIX / "activity_c.csv").read_text())
        self.set("clients", stdout=(FIX / "clients_c_n.csv").read_text())
        self.set("clients_-k", stdout=(FIX / "clients_c_n_k.csv").read_text())

    def set(self, cmd, stdout="", stderr="", rc=0, sleep=None):
        for ext in ("stdout", "stderr", "rc", "sleep"):
            p = self.dir / f"{cmd}.{ext}"
            if p.exists():
                p.unlink()
        (self.dir / f"{cmd}.stdout").write_text(stdout)
        (self.dir / f"{cmd}.stderr").write_text(stderr)
        (self.dir / f"{cmd}.rc").write_text(str(rc))
        if sleep is not None:
            (self.dir / f"{cmd}.sleep").write_text(str(sleep))

    def replay_error(self, cmd, name):
        """Replay a captured error case err_NAME.{stdout,stderr,rc}."""
        self.set(
            cmd,
            stdout=(FIX / f"err_{name}.stdout").read_text(),
            stderr=(FIX / f"err_{name}.stderr").read_text(),
            rc=int((FIX / f"err_{name}.rc").read_text().strip()),
        )

    @property
    def env(self):
        return {"FAKE_CHRONYC_DIR": str(self.dir)}

    def build(self, work, config, *, state=None, env=None, chronyc=FAKE_CHRONYC, **kw):
        """`chrony-snap build` against this fake: web root WORK/www, state
        WORK/st (or `state`); `env` adds to the fake's environment."""
        work = Path(work)
        return run_build(work / "www", socket=work / "fake.sock", state=state or work / "st", config=config,
                         chronyc=chronyc, env={**self.env, **(env or {})}, **kw)  # fmt: skip

    def calls(self):
        p = self.dir / "calls.log"
        return p.read_text().splitlines() if p.exists() else []


def check_golden(name, actual: str, pretty=None):
    """Compare `actual` WHOLE with tests/golden/NAME; on a mismatch fail with a
    unified diff (of pretty(text) for both sides, if given: one-line JSON).
    With CHRONY_SNAP_REGEN_GOLDEN=1, rewrite the file instead."""
    path = GOLDEN / name
    if REGEN_GOLDEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(actual.encode("utf-8"))
        golden_written.append(path)
        return
    try:
        expected = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise AssertionError(f"{path} is missing: CHRONY_SNAP_REGEN_GOLDEN=1 makes it (tests/test_golden.py)") from None
    if actual != expected:
        a, e = (pretty(actual), pretty(expected)) if pretty else (actual, expected)
        diff = "".join(difflib.unified_diff(e.splitlines(True), a.splitlines(True), f"golden/{name}", "built"))
        raise AssertionError(
            f"tests/golden/{name} differs (if intended: CHRONY_SNAP_REGEN_GOLDEN=1, then review git diff):\n"
            + (diff or "(differences in line endings only)")
        )


# --------------------------------------------------------------------------
# the browser tests' sites and pages
# --------------------------------------------------------------------------

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


def page_config(path, names_file=None, refresh_s=0.5, host="sandbox-host") -> Path:
    """A config for the shipped page, as the browser tests serve it."""
    names = f'names_file = "{names_file}"\n' if names_file else ""
    return write_config(
        path,
        f'[dns]\nenabled = false\n{names}[output]\nhost = "{host}"\n'
        f"[page]\nrefresh_s = {refresh_s}\nstale_after_refreshes = 3\nfetch_timeout_s = 2.0\n",
        minisite=False,
    )


class Site:
    """A web root produced by `chrony-snap build` against a chronyd socket."""

    def __init__(self, base, socket_path, names=None, refresh_s=0.5, host="sandbox-host"):
        self.base = base
        self.out = os.path.join(base, "www")
        self.state = os.path.join(base, "state")
        self.socket = str(socket_path)
        self.refresh_s = refresh_s
        names_file = None
        if names:
            names_file = os.path.join(base, "names")
            with open(names_file, "w", encoding="utf-8") as f:
                for a, n in names.items():
                    f.write(f"{a} {n}\n")
        self.config = str(page_config(os.path.join(base, "config.toml"), names_file, refresh_s, host))
        self._stop = threading.Event()
        self._thread = None
        self._lock = threading.Lock()
        self.ticks = 0

    def build(self, check=True):
        with self._lock:
            r = run_build(self.out, socket=self.socket, state=self.state, config=self.config, check=check)
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
        return [e for e in self.console_errors if not any(re.search(p, e) for p in self.allowed_errors)]


# ---------------------------------------------------------------- the page in Chromium

TALL = {"width": 1280, "height": 3400}  # every card of the live site is in view


def card(page, address):
    """The card of one client address (a Playwright locator)."""
    addr = page.locator(".addr", has_text=re.compile("^" + re.escape(address) + "$"))
    return page.locator("#grid .card").filter(has=addr)


def wait_seq(page, seq):
    """Wait until the page shows the snapshot with this seq."""
    page.wait_for_selector(f'html[data-seq="{seq}"]')


# ---------------------------------------------------------------- Prometheus metrics


def promtool_check(text: str):
    """`promtool check metrics` (Debian's prometheus package) finds nothing to say."""
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), (r.stdout, r.stderr)


def samples(text: str) -> dict:
    """{sample name: {frozenset(labels): value}} through prometheus_client's parser."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, {})[frozenset(s.labels.items())] = s.value
    return out


def checked(text: str) -> dict:
    """promtool_check(), then samples()."""
    promtool_check(text)
    return samples(text)


def one(smp, name, **labels):
    """The value of one sample of `samples()`."""
    return smp[name][frozenset(labels.items())]


# ---------------------------------------------------------------- a web root with history (Trends)


class TrendSite:
    """A web root whose history the engine wrote, for the Trends section.

    26 h of one tick a minute (the 1 min tier; a 10 min gap 5 h ago and a
    spike of requests 3 h ago) and the last 20 min of one tick a second (the
    1 s tier; a 2 min gap 10 min ago) are appended with the engine's own ring
    writer (history.Ring.append); then `build` runs in-process against the
    fake chronyc with an injected clock (time.time, CLOCK_BOOTTIME, boot id),
    one second apart, so the tiers are published into the web root as every
    tick does, and events happen (a stratum change, a source falseticker and
    selected again).  tick() is one more build, a second later.  The clock is
    injected only while a build runs (Playwright keeps the real one)."""

    # 1 s for 2 h (the default 24 h would take the publisher ~700 builds to catch up with)
    SPANS = "[history]\nspan_1s_hours = 2\nspan_1m_days = 2\nspan_1h_years = 1\n"
    SOURCES = (
        "^,{s},127.0.0.1,10,1,377,1,0.000000848,0.000000909,0.000003991\n"
        "^,+,127.0.0.2,10,1,377,1,0.000002100,0.000002000,0.000004000\n"
    )

    def __init__(self, base, refresh_s=0.5, builds=300):
        base = Path(base)
        self.out, self.state = base / "www", base / "state"
        self.fake = FakeChrony(base / "fake")
        self.fake.set("sources", stdout=self.SOURCES.format(s="*"))
        self.config = write_config(
            base / "config.toml",
            f'[dns]\nenabled = false\n[output]\nhost = "trends-host"\n'
            # not stale between the ticks a test makes
            f"[page]\nrefresh_s = {refresh_s}\nstale_after_refreshes = 1000\nfetch_timeout_s = 2.0\n" + self.SPANS,
            minisite=False,
        )
        # tests/fakebin/chronyc's replay in sh (Python's start-up would make the
        # seeding builds take a minute): every command after -m in turn, the
        # first that fails ending the run, as chronyc does
        self.chronyc = base / "chronyc"
        self.chronyc.write_text(
            f'#!/bin/sh\nd="{self.fake.dir}"\n'
            'run() {\n  case "$1" in "clients -k") cmd=clients_-k ;; *) cmd=$1 ;; esac\n'
            '  cat "$d/$cmd.stdout" 2>/dev/null\n  cat "$d/$cmd.stderr" >&2 2>/dev/null\n'
            '  rc=$(cat "$d/$cmd.rc" 2>/dev/null || echo 0)\n  [ "$rc" = 0 ] || exit "$rc"\n}\n'
            '[ "$1" = --version ] && { run version; exit 0; }\n'
            'm=\nfor a; do\n  if [ -n "$m" ]; then case "$a" in "timeout "*|"retries "*) ;; *) run "$a" ;; esac; fi\n'
            '  [ "$a" = -m ] && m=1\ndone\nexit 0\n'
        )
        self.chronyc.chmod(0o755)
        self.builds = builds
        # where the seeded history ends and the builds start (they end about now); on
        # a minute, so that the gaps are whole 1 min buckets
        self.now = (int(time.time()) - builds) // 60 * 60
        self.wall, self.boot = float(self.now), 1000.0
        self.gap_1s = (self.now - 600, self.now - 480)
        self.gap_1m = (self.now - 5 * 3600, self.now - 5 * 3600 + 600)
        self.spike = self.now - 3 * 3600
        self.position = None
        self.received = 1000  # chronyd's NTP requests counter, as the builds' serverstats report it

    def values(self, pos) -> list:
        """One seeded tick's series: smooth curves, and a request spike."""
        import math

        from chrony_snap import history as H

        w = 2 * math.pi * pos / 7200
        v = [math.nan] * H.N
        named = {
            # around the fake chronyc's tracking, sources and clients (the builds' values)
            "system_time_s": -1.4e-6 + 2e-6 * math.sin(w) + 3e-7 * math.sin(37 * w),
            "max_clock_error_s": 5e-6 + 1e-6 * math.cos(w),
            "frequency_ppm": -0.004 + 0.02 * math.sin(w / 3),
            "skew_ppm": 0.03 + 0.01 * abs(math.sin(w)),
            "root_delay_s": 7.5e-6 + 2e-6 * math.sin(w / 2),
            "root_dispersion_s": 1.05e-6 + 3e-7 * math.cos(w),
            "ntp_packets_received_pps": 500.0 if pos == self.spike else 20 + 10 * math.sin(w) ** 2,
            "ntp_packets_dropped_pps": 1 + math.sin(w) ** 2,
            "ok": 8.0 - (pos // 3600) % 3,
            "warning": float((pos // 3600) % 3),
            "critical": 1.0,
            "source0_offset_s": 8e-7 + 1e-6 * math.sin(w),
            "source1_offset_s": 2e-6 + 1e-6 * math.cos(w),
        }
        for name, x in named.items():
            v[H.SERIES.index(name)] = x
        return v

    def seed(self):
        from chrony_snap import config as C, history as H

        layout = H.Layout(H.tiers_of(C.load(str(self.config))[0]))  # the layout the builds will find
        hdir = self.state / "history"
        hdir.mkdir(parents=True, mode=0o750)
        os.chmod(self.state, 0o700)
        (a, b), (c, d) = self.gap_1m, self.gap_1s
        positions = [p for p in range(self.now - 26 * 3600, self.now - 1200, 60) if not a <= p < b]
        positions += [p for p in range(self.now - 1200, self.now) if not c <= p < d]
        # the spike's minute at one tick a second: its bucket's max holds it, its mean hardly
        positions = sorted(set(positions) | set(range(self.spike, self.spike + 60)))
        with H.Ring.open(str(hdir / "history.bin"), layout, print) as ring:
            ring.sources[:2] = ["127.0.0.1", "127.0.0.2"]
            ring.write_sources()
            for p in positions:
                ring.append(p, self.values(p))

    def tick(self) -> dict:
        """One build at the injected clock, then the clock a second on."""
        import pytest

        from chrony_snap import build as B

        self.received += 25
        stats = (FIX / "serverstats_c.csv").read_text().split(",")
        stats[0] = str(self.received)
        self.fake.set("serverstats", stdout=",".join(stats))
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(time, "time", lambda: self.wall)
            mp.setattr(time, "monotonic", lambda: self.boot)
            mp.setattr(B, "_boot", lambda: ("trends-boot", self.boot))
            rc = B.build(
                str(self.out),
                config_path=str(self.config),
                chronyc=str(self.chronyc),
                socket=str(self.out.parent / "no.sock"),
                state_dir=str(self.state),
            )
        assert rc == 0
        self.wall += 1
        self.boot += 1
        d = json.loads((self.out / "data.json").read_text())
        self.position = d["history"]["position"]
        return d

    def start(self):
        """The seeded history, then the builds, with events."""
        self.seed()
        tracking = (FIX / "tracking_c.csv").read_text().split(",")
        third = self.builds // 3
        for k in range(self.builds):
            if k == third:
                tracking[2] = "12"  # stratum 11 -> 12
                self.fake.set("tracking", stdout=",".join(tracking))
            if k == 2 * third:
                self.fake.set("sources", stdout=self.SOURCES.format(s="x"))  # a falseticker
            if k == 2 * third + 20:
                self.fake.set("sources", stdout=self.SOURCES.format(s="*"))  # selected again
            self.tick()
        for root, _dirs, files in os.walk(self.out):
            os.chmod(root, 0o755)  # nginx's workers run as the web user
            for f in files:
                os.chmod(os.path.join(root, f), 0o644)
        return self

    @contextlib.contextmanager
    def served(self):
        """The web root behind a real nginx (the production block): self.url."""
        from chrony_snap.harness.nginx import NginxProcess

        web = NginxProcess(self.out).start()
        try:
            self.url = web.url
            yield self
        finally:
            web.stop()


# The fake chronyc is a Python start per call (~0.1 s of CPU here): more than the default
# [clients] cpu_budget, so the client list would be re-collected only every few ticks.
EVERY_TICK = "[clients]\ncpu_budget = 1.0\n"


class CrowdSandbox:
    """A private chronyd in a short directory with populate()'s traffic
    (`clients` NTP clients, `limited` of them rate-limited, `cmd` command
    clients each); stopped and removed on exit.  Module-scoped fixtures share one."""

    def __init__(self, clients, limited, cmd):
        self.traffic = dict(clients=clients, limited=limited, cmd=cmd)

    def __enter__(self):
        from chrony_snap.harness.sandbox import Sandbox, populate

        self.dir = short_dir()
        self.sb = Sandbox(self.dir / "chrony")
        self.sb.start()
        try:
            populate(self.sb, **self.traffic)
        except BaseException:
            self.__exit__()
            raise
        return self.sb

    def __exit__(self, *exc):
        self.sb.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
