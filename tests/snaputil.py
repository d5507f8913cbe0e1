"""Shared helpers for chrony-snap's own tests: run the real CLI, validate
data.json against the shipped schema, fake chronyc scenarios."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jsonschema
import pytest

from chrony_snap.schema import load as load_schema
from chrony_snap.harness.sandbox import Sandbox

HERE = Path(__file__).parent
FIX = HERE / "fixtures" / "chrony"
FAKE_CHRONYC = HERE / "fakebin" / "chronyc"
_VALIDATOR = jsonschema.Draft202012Validator(load_schema(), format_checker=jsonschema.FormatChecker())


def validate(doc: dict) -> dict:
    _VALIDATOR.validate(doc)
    return doc


def read_snapshot(out) -> dict:
    """Load OUT/data.json, check it against the schema, return it."""
    with open(Path(out) / "data.json", encoding="utf-8") as f:
        return validate(json.load(f))


MINISITE = HERE / "fixtures" / "minisite"


def write_config(path, text="", minisite=True) -> Path:
    """A config for tests: reverse DNS is always off unless the text turns it
    on (lookups would leave the machine).  The engine's tests render a tiny
    fixture page (the shipped dashboard has tests of its own)."""
    path = Path(path)
    body = text if "[dns]" in text else "[dns]\nenabled = false\n" + text
    if minisite and "[page]" not in body:
        body += f'\n[page]\ntemplates_dir = "{MINISITE}/templates"\nassets_dir = "{MINISITE}/assets"\n'
    elif minisite:
        body = body.replace("[page]\n", f'[page]\ntemplates_dir = "{MINISITE}/templates"\n'
                                          f'assets_dir = "{MINISITE}/assets"\n')
    path.write_text(body)
    return path


def run_build(out, *, socket=None, state=None, config=None, chronyc=None, extra=(), env=None,
              timeout=60, user=None, check=True, runtime=None):
    """Run the real CLI in a child process.  `runtime` (see the `runtime`
    fixture) runs it from a copy any user can read, for non-root runs."""
    python = runtime.python if runtime else sys.executable
    argv = [python, "-m", "chrony_snap", "build", "--out", str(out)]
    if socket is not None:
        argv += ["--socket", str(socket)]
    if state is not None:
        argv += ["--state", str(state)]
    if config is not None:
        argv += ["--config", str(config)]
    if chronyc is not None:
        argv += ["--chronyc", str(chronyc)]
    argv += list(extra)
    e = dict(os.environ)
    if runtime:
        e["PYTHONPATH"] = str(runtime.path)
        e["PYTHONDONTWRITEBYTECODE"] = "1"
    if env:
        e.update(env)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=e, user=user)
    if check and r.returncode != 0:
        raise AssertionError(f"build failed rc={r.returncode}\nstdout:{r.stdout}\nstderr:{r.stderr}")
    return r


def fill_disk(directory: Path) -> Path:
    """Fill the file system holding `directory` (a small tmpfs in the tests)."""
    filler = Path(directory) / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


class Runtime:
    def __init__(self, python, path):
        self.python, self.path = python, path


@pytest.fixture(scope="session")
def runtime():
    """chrony-snap, Jinja2 and MarkupSafe copied into a world-readable directory,
    with an interpreter any user may execute: the checkout (and a pyenv Python
    under /root) may not be reachable for an unprivileged user."""
    import jinja2
    import markupsafe
    import chrony_snap
    from chrony_snap.site import resource_dir

    d = Path(tempfile.mkdtemp(prefix="cs-rt-", dir="/tmp"))
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for mod in (chrony_snap, jinja2, markupsafe):
        src = Path(mod.__file__).parent
        shutil.copytree(src, d / src.name, ignore=ignore)
    for name in ("templates", "assets"):
        if not (d / "chrony_snap" / name).exists():
            shutil.copytree(resource_dir(name), d / name, ignore=ignore)
    for root, dirs, files in os.walk(d):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    python = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else os.path.realpath(sys.executable)
    yield Runtime(python, d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def short_tmp():
    """A short directory under /tmp (Unix socket paths must stay < 108 bytes)."""
    d = tempfile.mkdtemp(prefix="cs-", dir="/tmp")
    os.chmod(d, 0o711)
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def sandbox(short_tmp):
    with Sandbox(short_tmp / "chrony") as sb:
        yield sb


class FakeChrony:
    """A directory of replayed chronyc outputs (see tests/fakebin/chronyc)."""

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
        self.set(cmd, stdout=(FIX / f"err_{name}.stdout").read_text(),
                 stderr=(FIX / f"err_{name}.stderr").read_text(),
                 rc=int((FIX / f"err_{name}.rc").read_text().strip()))

    @property
    def env(self):
        return {"FAKE_CHRONYC_DIR": str(self.dir)}

    def calls(self):
        p = self.dir / "calls.log"
        return p.read_text().splitlines() if p.exists() else []


@pytest.fixture
def fake(tmp_path):
    return FakeChrony(tmp_path / "fake")
