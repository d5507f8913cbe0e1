"""Issue 7's defects: a failing tick must not stop later ones (the lock is
always released), every input failure is data, state from other releases
never crashes a tick, a chronyc installed later is found.  Each test here
failed on 637f601."""

import json
import marshal
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from chrony_snap import __version__, build as B, config
from helpers import EVERY_TICK, FAKE_CHRONYC, cli_argv, fill_disk, read_snapshot, write_config

REPO = Path(__file__).resolve().parent.parent
OLD_RELEASE = "637f601"


@pytest.fixture
def env_fake(fake, monkeypatch):
    """The fake chronyc for in-process builds (chronyc reads its directory from the environment)."""
    monkeypatch.setenv("FAKE_CHRONYC_DIR", str(fake.dir))
    return fake


def config_text(extra=""):
    return "[chrony]\nreports_deadline_s = 10\nclients_deadline_s = 10\n" + EVERY_TICK + extra


def tick(tmp_path, out=None, cfg=None, **kw):
    return B.build(
        str(out or tmp_path / "www"),
        str(cfg or tmp_path / "c.toml"),
        str(FAKE_CHRONYC),
        str(tmp_path / "fake.sock"),
        str(tmp_path / "st"),
        **kw,
    )


def wait_for(cond, what, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


# ------------------------------------------------ the lock is never leaked


def test_config_typo_then_fixed_publishes_in_process(tmp_path, env_fake, capsys):
    cfg = write_config(tmp_path / "c.toml", config_text("[output]\ngzp = true\n"))
    assert tick(tmp_path) == 2
    write_config(cfg, config_text())
    assert tick(tmp_path) == 0
    assert "holds" not in capsys.readouterr().err
    assert read_snapshot(tmp_path / "www")["seq"] == 1


def test_unusable_web_root_then_fixed_publishes_in_process(tmp_path, env_fake):
    write_config(tmp_path / "c.toml", config_text())
    (tmp_path / "www").write_text("a file where the web root should be")
    assert tick(tmp_path) == 1
    (tmp_path / "www").unlink()
    assert tick(tmp_path) == 0
    assert read_snapshot(tmp_path / "www")["seq"] == 1


def _tmpfs(path, opts):
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], check=True)


def test_full_disk_then_room_publishes_in_process(tmp_path, env_fake):
    """Issue 12 item 10: one "No space left" tick, then the lock stays free."""
    write_config(tmp_path / "c.toml", config_text("[output]\ngzip = false\n"))
    out = tmp_path / "tmpfs"
    _tmpfs(out, "size=256k")
    try:
        assert tick(tmp_path, out) == 0
        fill_disk(out)
        assert tick(tmp_path, out) == 1
        assert not [p for p in os.listdir(out) if p.startswith(".data.json")]
        os.unlink(out / "filler")
        assert tick(tmp_path, out) == 0
        assert read_snapshot(out)["seq"] == 2
    finally:
        subprocess.run(["umount", str(out)], check=True)


def test_read_only_web_root_then_writable_publishes_in_process(tmp_path, env_fake):
    write_config(tmp_path / "c.toml", config_text())
    out = tmp_path / "tmpfs"
    _tmpfs(out, "size=1m")
    try:
        assert tick(tmp_path, out) == 0
        subprocess.run(["mount", "-o", "remount,ro", str(out)], check=True)
        assert tick(tmp_path, out) == 1
        subprocess.run(["mount", "-o", "remount,rw", str(out)], check=True)
        assert tick(tmp_path, out) == 0
        assert read_snapshot(out)["seq"] == 2
    finally:
        subprocess.run(["umount", str(out)], check=True)


def test_watch_recovers_after_a_failing_tick(tmp_path, fake):
    """The real `chrony-snap watch`: a config typo for a few ticks, then the
    fix; snapshots must flow again (on 637f601 every later tick skipped,
    "another chrony-snap run holds .../lock")."""
    cfg = write_config(tmp_path / "c.toml", config_text())
    out = tmp_path / "www"
    with open(tmp_path / "watch.log", "w") as log:
        env = dict(os.environ, **fake.env)
        p = subprocess.Popen(
            cli_argv(
                "watch",
                "--out",
                out,
                "--config",
                cfg,
                "--state",
                tmp_path / "st",
                "--chronyc",
                FAKE_CHRONYC,
                "--socket",
                tmp_path / "fake.sock",
                "--interval",
                "0.2",
            ),  # fmt: skip
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            wait_for(lambda: (out / "data.json").exists(), "the first snapshot")
            time.sleep(0.05)
            write_config(cfg, config_text("[output]\ngzp = true\n"))
            wait_for(lambda: "unknown key output.gzp" in (tmp_path / "watch.log").read_text(), "the config error")
            seq = json.loads((out / "data.json").read_bytes())["seq"]
            write_config(cfg, config_text())
            wait_for(
                lambda: json.loads((out / "data.json").read_bytes())["seq"] > seq + 1,
                "a snapshot after the fix",
                timeout=30,
            )
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(30)
    assert "holds" not in (tmp_path / "watch.log").read_text()


# ------------------------------------------------ a bad names file is data


def _names_fifo(p):
    os.mkfifo(p)


def _names_dir(p):
    p.mkdir()


def _names_dangling(p):
    p.symlink_to(p.parent / "nowhere")


def _names_not_utf8(p):
    p.write_bytes(b"127.1.0.1 good.example\n127.1.0.2 bad-\xff\xfe.example\n")


@pytest.mark.parametrize(
    "make",
    [_names_dir, _names_fifo, _names_dangling, _names_not_utf8],
    ids=["directory", "fifo", "dangling-symlink", "not-utf8"],
)
def test_odd_names_file_is_an_error_entry(tmp_path, fake, make):
    names = tmp_path / "names"
    make(names)
    cfg = write_config(tmp_path / "c.toml", config_text() + f'[dns]\nenabled = false\nnames_file = "{names}"\n')
    fake.build(tmp_path, cfg, timeout=30)
    doc = read_snapshot(tmp_path / "www")
    (err,) = [e for e in doc["errors"] if e["report"] == "dns"]
    assert err["code"] == "names_file" and str(names) in err["message"] and "names_file" in err["hint"]
    assert doc["summary"]["clients"] == 9
    if make is _names_not_utf8:  # the good lines are kept
        host = {c["address"]: c["hostname"] for c in doc["clients"]}
        assert host["127.1.0.1"] == "good.example" and host["127.1.0.2"] is None


def test_large_names_file_stays_out_of_the_tick_state(tmp_path, fake):
    """Issue 12 item 18: 200k names are parsed once, kept in their own file,
    which is not rewritten while the names file does not change."""
    names = tmp_path / "names"
    names.write_text(
        "".join(f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255} host-{i}.example\n" for i in range(200_000))
        + "127.1.0.1 one.example\n"
    )
    cfg = write_config(tmp_path / "c.toml", config_text() + f'[dns]\nenabled = false\nnames_file = "{names}"\n')
    for _ in range(2):
        fake.build(tmp_path, cfg)
        if _ == 0:
            first = (tmp_path / "st" / "names.bin").stat()
    assert (tmp_path / "st" / "state.bin").stat().st_size < 8192
    again = (tmp_path / "st" / "names.bin").stat()
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
    doc = read_snapshot(tmp_path / "www")
    assert {c["address"]: c["hostname"] for c in doc["clients"]}["127.1.0.1"] == "one.example"


# ------------------------------------------------ state from other releases


def _old_release(tmp_path):
    """Today's release (637f601) as files, or None when the clone lacks it."""
    have = subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{OLD_RELEASE}^{{commit}}"], capture_output=True)
    if have.returncode != 0:
        return None
    d = tmp_path / "old"
    d.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", OLD_RELEASE, "chrony_snap", "templates", "assets", "scripts"],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(d)], input=archive, check=True)
    return d


@pytest.mark.parametrize("source", ["git-archive", "committed-files"])
def test_state_of_the_previous_release_is_used(tmp_path, fake, source):
    """Run 637f601 to make a state directory, then this code on it: no crash,
    seq continues, rates are known (prev.bin was used).  Without the old
    commit (a shallow clone), the state files it wrote, committed in
    tests/fixtures/state-0.1.0, stand in."""
    cfg = write_config(tmp_path / "c.toml", config_text())
    state = tmp_path / "st"
    if source == "git-archive":
        old = _old_release(tmp_path)
        if old is None:
            pytest.skip(f"this clone lacks {OLD_RELEASE}")
        # from its own directory: `python -m` would otherwise run this tree's code
        old_cfg = write_config(tmp_path / "old.toml", "[chrony]\nreports_deadline_s = 10\nclients_deadline_s = 10\n")
        fake.build(tmp_path, old_cfg, state=state, env={"PYTHONPATH": str(old)}, cwd=old)
        first = read_snapshot(tmp_path / "www")
        assert first["generator"]["version"] == "0.1.0"
        assert "health" not in first and "history" not in first  # keys the old release did not have
    else:
        shutil.copytree(REPO / "tests" / "fixtures" / "state-0.1.0", state, ignore=shutil.ignore_patterns("README.md"))
    r = fake.build(tmp_path, cfg, state=state)
    assert "Traceback" not in r.stderr and "starting fresh" not in r.stderr
    doc = read_snapshot(tmp_path / "www")
    assert doc["errors"] == [] and doc["summary"]["clients"] == 9
    if source == "git-archive":  # same boot: the old counters give rates
        assert doc["seq"] == 2 and doc["summary"]["ntp_pps"] is not None
    else:
        assert doc["seq"] == 3  # the committed state had published 2


def _plant(state: Path, name: str, obj, fmt=3):
    state.mkdir(exist_ok=True)
    (state / f"{name}.bin").write_bytes(marshal.dumps((fmt, obj)))


def test_config_cached_by_an_older_release_missing_keys(tmp_path, fake):
    """The 0.1.0 layout (config + config_ident) with a config that predates
    keys added since: 637f601 failed every tick with KeyError."""
    cfg = write_config(tmp_path / "c.toml", config_text())
    parsed, ident = config.load(str(cfg))
    del parsed["chrony"]["nts_ke"]
    del parsed["dns"]
    _plant(tmp_path / "st", "state", {"seq": 4, "config": parsed, "config_ident": ident})
    fake.build(tmp_path, cfg)
    doc = read_snapshot(tmp_path / "www")
    assert doc["seq"] == 5 and doc["errors"] == []


FOREIGN = {
    "newer-format": lambda st: [_plant(st, n, {"seq": 7}, fmt=99) for n in ("state", "prev", "dns")],
    "garbage-bytes": lambda st: [(st / f"{n}.bin").write_bytes(os.urandom(300)) for n in ("state", "prev", "dns")],
    "wrong-types": lambda st: [
        _plant(
            st,
            "state",
            {
                "seq": "x",
                "config_cache": ("a", 5),
                "active_errors": [1],
                "dns_backoff": "x",
                "version_cache": {"key": 1, "version": ["x"]},
                "page_failed": 3,
            },
        ),
        _plant(
            st,
            "prev",
            {
                "boot_id": 5,
                "since_boot": "x",
                "clients": {"127.1.0.9": "x", "::1": None},
                "serverstats": {"ntp_packets_received": "x"},
            },
        ),
        _plant(st, "dns", {"127.1.0.1": 5, 7: ("x", 1e18), "127.1.0.2": (["x"], 1e18)}),
    ],
    "right-boot-wrong-values": lambda st: [
        _plant(
            st,
            "prev",
            {
                "boot_id": Path("/proc/sys/kernel/random/boot_id").read_text().strip(),
                "since_boot": 1.0,
                "clients": {"127.1.0.9": "x", "::1": -(1 << 4000)},
                "serverstats": {"ntp_packets_received": 1 << 5000},
            },
        )
    ],
    "a-tuple": lambda st: _plant(st, "state", ("seq", 1)),
}


@pytest.mark.parametrize("kind", FOREIGN)
def test_foreign_state_warns_and_publishes(tmp_path, fake, kind):
    state = tmp_path / "st"
    state.mkdir()
    FOREIGN[kind](state)
    cfg = write_config(tmp_path / "c.toml", config_text())
    r = fake.build(tmp_path, cfg, state=state)
    assert "Traceback" not in r.stderr
    doc = read_snapshot(tmp_path / "www")
    assert doc["errors"] == [] and doc["summary"]["clients"] == 9
    if kind in ("newer-format", "garbage-bytes"):
        assert "starting fresh" in r.stderr
    if kind == "newer-format":
        assert "newer" in r.stderr and doc["seq"] == 1
    # the next tick reads what this one wrote
    fake.build(tmp_path, cfg, state=state)
    assert read_snapshot(tmp_path / "www")["seq"] == doc["seq"] + 1


def test_config_cache_is_keyed_by_version(tmp_path, fake, monkeypatch):
    cfg = write_config(tmp_path / "c.toml", config_text('[page]\ntitle = "real"\n'))
    raw = {"chrony": {"reports_deadline_s": 10.0, "clients_deadline_s": 10.0}, "page": {"title": "stale"}}
    ident = config.identity(str(cfg))
    got, cache = config.load_cached(str(cfg), (("0.0.1", config.CACHE_FORMAT, ident), raw))
    assert got["page"]["title"] == "real" and cache[0] == (__version__, config.CACHE_FORMAT, ident)
    got, _ = config.load_cached(str(cfg), ((__version__, config.CACHE_FORMAT, ident), raw))
    assert got["page"]["title"] == "stale"  # a matching key is used (and validated again)
    bad = dict(raw, chrony={"retries": 99})
    got, _ = config.load_cached(str(cfg), ((__version__, config.CACHE_FORMAT, ident), bad))
    assert got["page"]["title"] == "real"  # an invalid cached table is ignored


# ------------------------------------------------ chronyc installed later


def test_chronyc_installed_after_start_is_found(tmp_path, env_fake):
    write_config(tmp_path / "c.toml", config_text())
    later = tmp_path / "bin" / "chronyc"
    later.parent.mkdir()

    def run():
        assert (
            B.build(
                str(tmp_path / "www"),
                str(tmp_path / "c.toml"),
                str(later),
                str(tmp_path / "fake.sock"),
                str(tmp_path / "st"),
            )
            == 0
        )
        return read_snapshot(tmp_path / "www")

    assert {e["code"] for e in run()["errors"]} == {None}  # "command not found"
    shutil.copy(FAKE_CHRONYC, later)
    doc = run()
    assert doc["errors"] == [] and doc["summary"]["clients"] == 9
