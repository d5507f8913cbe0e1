"""`chrony-snap watch` against a real chronyd: a snapshot every interval,
the page re-rendered when templates/assets/config change (watchdog,
debounced), a broken template reported while the last good page stays,
clean exit on SIGTERM/SIGINT."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from chrony_snap.harness.sandbox import populate
from helpers import MINISITE, cli, cli_argv, read_snapshot, write_config


class WatchProc:
    """`python -m chrony_snap watch ...` with its stderr collected live."""

    def __init__(self, argv):
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.err = []
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self):
        for line in self.proc.stderr:
            self.err.append(line)

    @property
    def stderr(self):
        return "".join(self.err)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"watch did not stop on {sig!r}:\n{self.stderr}") from None
        self._t.join(5)
        return rc


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


def read(path):
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def seq(out):
    try:
        return json.loads((out / "data.json").read_bytes())["seq"]
    except (OSError, ValueError):
        return None


@pytest.fixture
def site(short_tmp):
    """A private, editable copy of the fixture templates and assets."""
    t, a = short_tmp / "tpl", short_tmp / "ast"
    shutil.copytree(MINISITE / "templates", t)
    shutil.copytree(MINISITE / "assets", a)
    return t, a


def start_watch(short_tmp, sandbox, cfg, interval="1"):
    out = short_tmp / "www"
    w = WatchProc(
        cli_argv(
            "watch",
            "--out",
            out,
            "--socket",
            sandbox.socket,
            "--state",
            short_tmp / "st",
            "--config",
            cfg,
            "--interval",
            interval,
        )
    )
    return w, out


def page_config(short_tmp, t, a, title="first"):
    return write_config(
        short_tmp / "c.toml", f'[page]\ntitle = "{title}"\ntemplates_dir = "{t}"\nassets_dir = "{a}"\n', minisite=False
    )


def test_edit_break_fix_template_and_seq_cadence(sandbox, short_tmp, site):
    t, a = site
    populate(sandbox, clients=20, limited=2, cmd=0)
    cfg = page_config(short_tmp, t, a)
    w, out = start_watch(short_tmp, sandbox, cfg)
    index = out / "index.html"
    tpl = t / "index.html"
    original = tpl.read_text()
    try:
        wait_for(lambda: "first" in read(index) and seq(out), 10, "first page and snapshot")
        doc = read_snapshot(out)
        assert doc["errors"] == [] and len(doc["clients"]) >= 22

        # data.json advances about once per interval
        s0, t0 = seq(out), time.monotonic()
        time.sleep(4.0)
        s1, t1 = seq(out), time.monotonic()
        assert 3 <= s1 - s0 <= 6, (s0, s1, t1 - t0)

        # 1. an edit shows up within 2 s
        tpl.write_text(original.replace("<h1>", "<h1>EDIT-ONE "))
        wait_for(lambda: "EDIT-ONE" in read(index), 2.0, "edited template rendered")
        good = read(index)

        # 2. a broken template (undefined variable): error on stderr, old page stays
        n_err = w.stderr.count("cannot render the page")
        tpl.write_text(original.replace("<h1>", "<h1>{{ undefined_var }} "))
        wait_for(lambda: w.stderr.count("cannot render the page") > n_err, 3.0, "render error reported")
        assert "undefined_var" in w.stderr
        assert read(index) == good
        # ... and a syntax error
        n_err = w.stderr.count("cannot render the page")
        tpl.write_text(original.replace("<h1>", "<h1>{% if %} "))
        wait_for(lambda: w.stderr.count("cannot render the page") > n_err, 3.0, "syntax error reported")
        assert "TemplateSyntaxError" in w.stderr
        assert read(index) == good
        # the snapshot went on meanwhile
        s2 = seq(out)
        wait_for(lambda: seq(out) > s2, 3.0, "snapshots continue while the template is broken")

        # 3. fixed: the page recovers
        tpl.write_text(original.replace("<h1>", "<h1>EDIT-TWO "))
        wait_for(lambda: "EDIT-TWO" in read(index), 2.0, "fixed template rendered")

        # 4. assets: a changed stylesheet gets a new fingerprinted directory in the page
        dirs_before = set(os.listdir(out / "assets"))
        (a / "mini.css").write_text("body{margin:1px}\n")
        wait_for(
            lambda: (
                set(os.listdir(out / "assets")) - dirs_before
                and not any(f"assets/{d}/" in read(index) for d in dirs_before)
            ),
            2.0,
            "new asset fingerprint",
        )

        # 5. the config (page title) is watched too
        page_config(short_tmp, t, a, title="second")
        wait_for(lambda: "second" in read(index), 2.0, "config change rendered")
    finally:
        rc = w.stop(signal.SIGTERM)
    assert rc == 0, w.stderr
    assert "stopped after" in w.stderr and "Traceback" not in w.stderr


def test_sigint_stops_cleanly_and_build_path_never_imports_watchdog(sandbox, short_tmp, site):
    t, a = site
    cfg = page_config(short_tmp, t, a)
    w, out = start_watch(short_tmp, sandbox, cfg, interval="0.5")
    try:
        wait_for(lambda: seq(out) and seq(out) >= 2, 10, "two snapshots")
    finally:
        rc = w.stop(signal.SIGINT)
    assert rc == 0 and "Traceback" not in w.stderr and "KeyboardInterrupt" not in w.stderr, w.stderr
    last = seq(out)
    time.sleep(1.0)
    assert seq(out) == last  # nothing keeps writing after exit

    probe = (
        "import sys\nfrom chrony_snap.cli import main\n"
        f"rc = main(['build', '--out', {str(out)!r}, '--socket', {str(sandbox.socket)!r}, "
        f"'--state', {str(short_tmp / 'st')!r}, '--config', {str(cfg)!r}])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'watchdog' or m == 'chrony_snap.watch'))\n"
        "sys.exit(rc)\n"
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_bad_interval_and_missing_templates_dir(sandbox, short_tmp):
    r = cli("watch", "--out", short_tmp / "w", "--interval", "0", check=False, timeout=30)
    assert r.returncode == 2 and "interval" in r.stderr
    cfg = write_config(short_tmp / "c.toml", f'[page]\ntemplates_dir = "{short_tmp / "nope"}"\n', minisite=False)
    w, out = start_watch(short_tmp, sandbox, cfg)
    try:
        wait_for(lambda: seq(out), 10, "a snapshot although the page cannot render")
        wait_for(lambda: "cannot render the page" in w.stderr, 5, "render error reported")
        assert w.proc.poll() is None
    finally:
        assert w.stop() == 0
