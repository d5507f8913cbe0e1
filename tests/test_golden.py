"""Golden files, in the style of Pelican's functional tests: two ticks of
`chrony_snap.build.build` run in-process against the fake chronyc (captured
chronyd 4.3 output, tests/fixtures/chrony) with a clock the test sets, and the
outputs compared WHOLE with the committed files in tests/golden/:

* data.json: every byte a browser is served (second tick, so rates are known);
* index.html: the shipped page as rendered for that config;
* assets.txt: the file names under OUT/assets (fingerprints included).

Any change to the snapshot format, the encoder or the page shows up here as a
unified diff.  When the change is intended, regenerate and review the diff:

    CHRONY_SNAP_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py
    git diff tests/golden/

(A regeneration run that writes nothing fails: see conftest.py.)
"""

import builtins
import io
import json
import os
import re
import time

import pytest

import chrony_snap
from chrony_snap.build import build
from helpers import FAKE_CHRONYC, FIX, check_golden, page_config

WALL0 = 1_790_000_000.25  # 2026-09-21T14:13:20.250Z
BOOT0 = 5_000.0
BOOT_ID = "00000000-0000-4000-8000-00000000601d"


class Clock:
    """time.time / time.monotonic / time.clock_gettime, frozen within a tick
    (durations are 0) and moved on by tick()."""

    def __init__(self, monkeypatch):
        self.wall, self.mono = WALL0, BOOT0
        # the time module's functions, not chrony_snap's names for them: this
        # keeps working however the engine's modules are arranged
        monkeypatch.setattr(time, "time", lambda: self.wall)
        monkeypatch.setattr(time, "monotonic", lambda: self.mono)
        monkeypatch.setattr(time, "clock_gettime", lambda _clock: self.mono)
        real_open = builtins.open

        def fake_open(file, *a, **kw):
            if isinstance(file, str | os.PathLike) and os.fspath(file) == "/proc/sys/kernel/random/boot_id":
                return io.StringIO(BOOT_ID + "\n")
            return real_open(file, *a, **kw)

        monkeypatch.setattr(builtins, "open", fake_open)
        monkeypatch.setattr(io, "open", fake_open)  # pathlib's way in

    def tick(self, seconds=1.0):
        self.wall += seconds
        self.mono += seconds


def later(csv_text, rows_changed=lambda i: i % 3 + 1):
    """The clients report a second later: row i got rows_changed(i) more NTP
    requests (Last 0 s ago)."""
    out = []
    for i, line in enumerate(csv_text.splitlines()):
        f = line.split(",")
        f[1] = str(int(f[1]) + rows_changed(i))
        f[5] = "0"
        out.append(",".join(f))
    return "\n".join(out) + "\n"


def fake_chronyc(tmp_path, fake):
    """A chronyc for build(): the replaying script with its directory baked in
    (the engine may have cached the environment before the test set it)."""
    exe = tmp_path / "chronyc"
    exe.write_text(f'#!/bin/sh\nFAKE_CHRONYC_DIR="{fake.dir}" exec "{FAKE_CHRONYC}" "$@"\n')
    exe.chmod(0o755)
    return exe


@pytest.fixture
def golden_site(tmp_path, monkeypatch, fake):
    """OUT of two ticks: the captured reports, then the same a second later
    with more NTP requests (non-zero rates)."""
    clock = Clock(monkeypatch)
    out, state = tmp_path / "www", tmp_path / "state"
    cfg = page_config(tmp_path / "config.toml", host="golden-host")
    with open(cfg, "a") as f:  # a budget no tick exceeds, no idle marker: the cadence stays "every tick"
        f.write(f'[clients]\ncpu_budget = 1.0\npoll_log = "{tmp_path / "no-poll-log"}"\n')
    # the client log's capacity from the config, not from this machine's chrony.conf
    cfg.write_text(cfg.read_text() + "[chrony]\nclient_log_capacity = 4096\n")
    chronyc = fake_chronyc(tmp_path, fake)
    # the socket is a name only (the fake chronyc never opens it), one that exists on no machine
    kw = dict(config_path=str(cfg), chronyc=str(chronyc), socket=str(tmp_path / "chronyd.sock"), state_dir=str(state))
    assert build(str(out), **kw) == 0
    clock.tick()
    fake.set("clients", stdout=later((FIX / "clients_c_n.csv").read_text()))
    served = (FIX / "serverstats_c.csv").read_text().split(",")
    served[0] = str(int(served[0]) + 17)
    fake.set("serverstats", stdout=",".join(served))
    assert build(str(out), **kw) == 0
    return out, tmp_path


def normalise(text, tmp_path):
    """The run's own temp directory and chrony-snap's version are not part of the golden."""
    version = re.compile(r"(?<![\w.])" + re.escape(chrony_snap.__version__) + r"(?![\w.])")
    return version.sub("VERSION", text.replace(str(tmp_path), "TMP"))


def pretty_json(text):
    return json.dumps(json.loads(text), indent=1, ensure_ascii=False) + "\n"


def test_data_json(golden_site):
    out, tmp = golden_site
    doc = normalise((out / "data.json").read_text(encoding="utf-8"), tmp)
    rates = [c["rate"]["ntp_pps"] for c in json.loads(doc)["clients"]]
    assert any(rates), "the second tick has rates"
    check_golden("data.json", doc, pretty=pretty_json)


def test_index_html(golden_site):
    out, tmp = golden_site
    check_golden("index.html", normalise((out / "index.html").read_text(encoding="utf-8"), tmp))


def test_asset_names(golden_site):
    out, _tmp = golden_site
    assets = out / "assets"
    names = sorted(os.path.relpath(os.path.join(d, f), assets) for d, _, fs in os.walk(assets) for f in fs)
    check_golden("assets.txt", "".join(n + "\n" for n in names))
