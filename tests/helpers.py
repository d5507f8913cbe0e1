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


def cli(*args, check=True, env=None, timeout=60, user=None, runtime=None) -> subprocess.CompletedProcess:
    """Run the real CLI in a child process and return its CompletedProcess
    (text stdout/stderr).  check=True raises with stderr on a non-zero exit.
    `runtime` (the ``runtime`` fixture) runs it from a copy any user can read,
    for non-root runs with `user`."""
    e = dict(os.environ)
    if runtime:
        e["PYTHONPATH"] = str(runtime.path)
        e["PYTHONDONTWRITEBYTECODE"] = "1"
    if env:
        e.update(env)
    argv = cli_argv(*args, python=runtime.python if runtime else None)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=e, user=user)
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
