"""chrony-snap.service / chrony-snap.timer read as a user would read them:

* parsed (systemd syntax: repeated keys, continuation lines, comments) and
  checked for the schedule, the run model and the sandbox;
* `systemd-analyze verify` clean (in a throw-away root holding the units, the
  Debian chrony.service drop-in and stubs for the binaries), and
  `systemd-analyze security --offline` below 2.0;
* the service's own ExecStart command line, run against a real chronyd as the
  unit's unprivileged User= with its SupplementaryGroups=, umask and
  directories as the shipped sysusers/tmpfiles/drop-in files set them up --
  no sudo, no root.  Without the chrony drop-in it fails, with it it works.
"""

import grp
import os
import pwd
import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from chrony_snap.harness.sandbox import Sandbox, populate
from helpers import read_snapshot, write_config

ROOT = Path(__file__).resolve().parent.parent
SERVICE = ROOT / "chrony-snap.service"
TIMER = ROOT / "chrony-snap.timer"
DEPLOY = ROOT / "deploy"
DROPIN = DEPLOY / "chrony.service.d" / "chrony-snap.conf"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


# --------------------------------------------------------------------------
# a small systemd unit-file reader
# --------------------------------------------------------------------------


def parse_unit(path):
    """{section: [(key, value), ...]} in file order; repeated keys are kept
    (systemd appends them, an empty value resets the list)."""
    sections, cur, pending = {}, None, None
    for raw in Path(path).read_text().splitlines():
        line = raw.strip() if pending is None else raw.rstrip()
        if pending is None and (not line or line[0] in "#;"):
            continue
        if pending is not None:
            line = pending + " " + line.strip()
            pending = None
        if line.endswith("\\"):
            pending = line[:-1].rstrip()
            continue
        if line.startswith("[") and line.endswith("]"):
            cur = sections.setdefault(line[1:-1], [])
            continue
        assert cur is not None, f"{path}: assignment outside a section: {raw!r}"
        key, eq, value = line.partition("=")
        assert eq, f"{path}: not an assignment: {raw!r}"
        cur.append((key.strip(), value.strip()))
    return sections


def values(unit, section, key):
    """Effective list of values of a (list-type) key: later lines append,
    an empty assignment resets."""
    out = []
    for k, v in unit.get(section, []):
        if k == key:
            out = [] if v == "" else out + v.split()
    return out


def value(unit, section, key, default=None):
    found = [v for k, v in unit.get(section, []) if k == key]
    return found[-1] if found else default


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600}


def timespan(text):
    """systemd time span ('1s', '50ms', '1min 30s', bare number = seconds) in seconds."""
    if text in ("infinity", ""):
        return float("inf")
    total = 0.0
    for num, unit in re.findall(r"([\d.]+)\s*([a-z]*)", text):
        total += float(num) * _UNITS[unit or "s"]
    return total


def mode_of(text):
    return int(text, 8)


@pytest.fixture(scope="module")
def svc():
    return parse_unit(SERVICE)


@pytest.fixture(scope="module")
def tmr():
    return parse_unit(TIMER)


# --------------------------------------------------------------------------
# what the files say
# --------------------------------------------------------------------------


def test_parser_handles_repeats_resets_and_continuations(tmp_path):
    p = tmp_path / "x.service"
    p.write_text("# c\n[Service]\nA=1 2\n; c\nA=3\nB=x \\\n  y\nA=\nA=4\n")
    u = parse_unit(p)
    assert values(u, "Service", "A") == ["4"] and value(u, "Service", "B") == "x y"


def test_timer_is_a_monotonic_one_second_schedule(tmr):
    t = tmr["Timer"]
    keys = {k for k, _ in t}
    assert timespan(value(tmr, "Timer", "OnUnitActiveSec")) == 1.0
    # a first trigger when the timer starts (boot / enable --now): OnUnitActiveSec alone never fires
    assert keys & {"OnActiveSec", "OnBootSec", "OnStartupSec"}
    assert "OnCalendar" not in keys  # wall clock: a step by chronyd would stall or burst it
    acc = value(tmr, "Timer", "AccuracySec")
    assert acc is not None and timespan(acc) <= 0.1  # the default (1 min) would make it ~once a minute
    assert timespan(value(tmr, "Timer", "RandomizedDelaySec", "0")) == 0
    assert value(tmr, "Timer", "Unit", "chrony-snap.service") == "chrony-snap.service"
    assert values(tmr, "Install", "WantedBy") == ["timers.target"]


def test_service_runs_once_bounded_and_never_trips_the_start_limit(svc):
    assert value(svc, "Service", "Type") == "oneshot"  # no overlapping runs
    assert value(svc, "Unit", "StartLimitIntervalSec") == "0"
    t = timespan(value(svc, "Service", "TimeoutStartSec", "infinity"))
    assert 5 <= t <= 120
    assert value(svc, "Service", "Restart", "no") == "no"
    assert "Install" not in svc  # started by the timer only


def test_service_identity_and_sandbox(svc):
    user = value(svc, "Service", "User")
    assert user and user not in ("root", "0") and value(svc, "Service", "DynamicUser", "no") == "no"
    assert values(svc, "Service", "SupplementaryGroups") == ["_chrony"]
    expect = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes",
        "RestrictSUIDSGID": "yes",
        "RestrictNamespaces": "yes",
        "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes",
        "SystemCallArchitectures": "native",
        "UMask": "0022",
    }
    for k, v in expect.items():
        assert value(svc, "Service", k) == v, k
    assert value(svc, "Service", "CapabilityBoundingSet") == ""  # no capabilities at all
    assert value(svc, "Service", "AmbientCapabilities", "") == ""
    filters = values(svc, "Service", "SystemCallFilter")
    assert "@system-service" in filters and "~@privileged" in filters
    assert set(values(svc, "Service", "RestrictAddressFamilies")) == {"AF_UNIX", "AF_INET", "AF_INET6"}


def exec_start(svc):
    argv = shlex.split(value(svc, "Service", "ExecStart"))
    assert argv[0].startswith("/") and argv[1] == "build"
    opts = dict(zip(argv[2::2], argv[3::2], strict=True))  # --option value pairs
    return argv, opts


def tmpfiles_lines():
    return [
        line.split()
        for line in (DEPLOY / "tmpfiles.d" / "chrony-snap.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]


def test_only_the_needed_paths_are_writable(svc):
    argv, opts = exec_start(svc)
    rw = values(svc, "Service", "ReadWritePaths")
    assert set(opts) == {"--out", "--state", "--socket"}  # the config comes from the config file
    assert opts["--out"] in rw
    state_dirs = ["/var/lib/" + d for d in values(svc, "Service", "StateDirectory")]
    assert opts["--state"] in state_dirs
    # chronyc binds its reply socket next to the socket path it is given: a
    # symlink to chronyd's socket in a directory of chrony-snap's own, so
    # chronyd's directory (/run/chrony) is not writable
    from chrony_snap.config import SCHEMA

    links = {e[1]: e[-1] for e in tmpfiles_lines() if e[0] == "L"}
    assert links[opts["--socket"]] == SCHEMA["chrony"]["socket"][0]
    assert sorted(rw) == sorted({opts["--out"], os.path.dirname(opts["--socket"])})
    assert os.path.dirname(SCHEMA["chrony"]["socket"][0]) not in rw


def test_the_word_is_absent_from_units_code_and_deploy_files():
    word = "su" + "do"
    files = [
        SERVICE,
        TIMER,
        *sorted((ROOT / "chrony_snap").rglob("*.py")),
        *sorted(p for p in DEPLOY.rglob("*") if p.is_file()),
    ]
    hits = [str(f) for f in files if re.search(rf"\b{word}\b", f.read_text(errors="replace"), re.I)]
    assert not hits


def test_deploy_snippets_match_the_unit(svc):
    argv, opts = exec_start(svc)
    user = value(svc, "Service", "User")
    sysusers = [
        line.split()
        for line in (DEPLOY / "sysusers.d" / "chrony-snap.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert sysusers[0][:2] == ["u", user]
    tmpf = tmpfiles_lines()
    assert tmpf[0][:5] == ["d", opts["--out"], "0755", user, value(svc, "Service", "Group")]
    # the reply-socket directory: chrony-snap's, chronyd (chrony's group) passes through
    sockdir = os.path.dirname(opts["--socket"])
    assert ["d", sockdir, "0710", user, "_chrony", "-"] in tmpf
    drop = parse_unit(DROPIN)
    mode = mode_of(value(drop, "Service", "RuntimeDirectoryMode"))
    assert mode & 0o070 == 0o010  # the group passes through, cannot list, create or unlink
    assert mode & 0o007 == 0  # chronyd refuses "other"
    assert mode_of(value(drop, "Service", "UMask")) & 0o070 == 0  # socket group-writable


# --------------------------------------------------------------------------
# systemd-analyze
# --------------------------------------------------------------------------


@pytest.fixture
def unit_root(svc):
    """A throw-away root: systemd's own units, ours, the chrony drop-in, stubs."""
    if not SYSTEMD_ANALYZE:
        pytest.skip("systemd-analyze not installed")
    d = Path(tempfile.mkdtemp(prefix="cs-units-", dir="/tmp"))
    try:
        shutil.copytree("/lib/systemd/system", d / "usr/lib/systemd/system", symlinks=True)
        etc = d / "etc/systemd/system"
        (etc / "chrony.service.d").mkdir(parents=True)
        shutil.copy(SERVICE, etc)
        shutil.copy(TIMER, etc)
        shutil.copy(DROPIN, etc / "chrony.service.d")
        argv, _ = exec_start(svc)
        for exe in (argv[0], "/usr/sbin/chronyd"):
            stub = d / exe.lstrip("/")
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.write_text("#!/bin/sh\nexit 0\n")
            stub.chmod(0o755)
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def analyze(*args):
    return subprocess.run([SYSTEMD_ANALYZE, *args], capture_output=True, text=True, timeout=60)


def test_systemd_analyze_verify_is_clean(unit_root):
    units = ["chrony-snap.service", "chrony-snap.timer"]
    if (unit_root / "usr/lib/systemd/system/chrony.service").exists():
        units.append("chrony.service")  # Debian's unit + our drop-in
    r = analyze("verify", f"--root={unit_root}", *units)
    assert r.returncode == 0 and r.stdout.strip() == "" and r.stderr.strip() == "", r.stdout + r.stderr
    # ... and it would notice a problem: a typo, a bad time span, a missing binary
    svc = unit_root / "etc/systemd/system/chrony-snap.service"
    svc.write_text(
        svc.read_text().replace("ProtectHome=", "ProtectHomme=").replace("TimeoutStartSec=30s", "TimeoutStartSec=30q")
    )
    (unit_root / "usr/local/bin/chrony-snap").unlink()
    r = analyze("verify", f"--root={unit_root}", "chrony-snap.service")
    out = r.stdout + r.stderr
    assert "ProtectHomme" in out and "30q" in out and "not executable" in out


def test_security_exposure_below_2(unit_root):
    r = analyze("security", "--offline=yes", f"--root={unit_root}", "--threshold=19", "chrony-snap.service")
    m = re.search(r"Overall exposure level for chrony-snap\.service: ([\d.]+) (\w+)", r.stdout)
    assert m, r.stdout + r.stderr
    score, verdict = float(m.group(1)), m.group(2)
    print(f"\nsystemd-analyze security: {score} {verdict}")
    assert score < 2.0 and verdict in ("OK", "SAFE")
    assert r.returncode == 0  # --threshold=19: fails above 1.9


# --------------------------------------------------------------------------
# ExecStart as the unit's user, against a real chronyd
# --------------------------------------------------------------------------


def ensure_user(svc):
    """The unit's user, created from the shipped sysusers.d snippet if missing
    (left in place afterwards: a harmless system user)."""
    user = value(svc, "Service", "User")
    try:
        pwd.getpwnam(user)
    except KeyError:
        sysusers = shutil.which("systemd-sysusers")
        if sysusers:
            subprocess.run([sysusers, str(DEPLOY / "sysusers.d" / "chrony-snap.conf")], check=True, capture_output=True)
        else:
            subprocess.run(
                [
                    "useradd",
                    "--system",
                    "--user-group",
                    "--no-create-home",
                    "--home-dir",
                    "/var/lib/chrony-snap",
                    "--shell",
                    "/usr/sbin/nologin",
                    user,
                ],
                check=True,
            )
    return pwd.getpwnam(user)


def run_exec_start(svc, runtime, short_tmp, sb, chrony_group):
    """ExecStart with the paths of this test, as User=/Group=/SupplementaryGroups=."""
    pw = ensure_user(svc)
    argv, opts = exec_start(svc)
    group = value(svc, "Service", "Group")
    extra = values(svc, "Service", "SupplementaryGroups")
    assert extra == [chrony_group]
    # the directories as tmpfiles.d (web root) and StateDirectory= would create them
    out, state = short_tmp / "www", short_tmp / "state"
    for d, mode in ((out, 0o755), (state, mode_of(value(svc, "Service", "StateDirectoryMode", "0755")))):
        d.mkdir(exist_ok=True)
        os.chown(d, pw.pw_uid, grp.getgrnam(group).gr_gid)
        os.chmod(d, mode)
    cfg = write_config(short_tmp / "config.toml", minisite=False)
    os.chmod(cfg, 0o644)
    paths = {opts["--out"]: str(out), opts["--state"]: str(state), opts["--socket"]: str(sb.link)}
    cmd = [runtime.python, "-m", "chrony_snap"] + [paths.get(a, a) for a in argv[1:]]
    cmd += ["--config", str(cfg)]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "PYTHONPATH": str(runtime.path), "LANG": "C.UTF-8"}
    for e in values(svc, "Service", "Environment"):
        k, _, v = e.partition("=")
        env[k] = v
    r = subprocess.run(
        cmd,
        user=pw.pw_uid,
        group=grp.getgrnam(group).gr_gid,
        extra_groups=extra,
        umask=mode_of(value(svc, "Service", "UMask")),
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
    )
    return r, out, state, pw


def chrony_sandbox(root: Path, dropin: bool) -> Sandbox:
    """chronyd as chrony's user; with dropin=True its socket directory and
    socket get the modes the shipped chrony.service drop-in gives them.
    ``sb.link``: the symlink to the socket, in a directory made as the
    shipped tmpfiles.d lines make /run/chrony-snap."""
    sb = Sandbox(root, user="_chrony").start()
    if dropin:
        # What systemd + chronyd do with the drop-in (checked for real under
        # systemd, see docs/production.md): the runtime directory gets
        # RuntimeDirectoryMode=, and chronyd's bind() creates the socket with
        # 0777 & ~UMask.  (The sandbox writes its own files before starting
        # chronyd, so the umask itself cannot be set around sb.start().)
        d = parse_unit(DROPIN)
        os.chmod(sb.socket, 0o777 & ~mode_of(value(d, "Service", "UMask")))
        os.chmod(root, mode_of(value(d, "Service", "RuntimeDirectoryMode")))
    tmpf = tmpfiles_lines()
    (link_line,) = [e for e in tmpf if e[0] == "L"]
    (dir_line,) = [e for e in tmpf if e[0] == "d" and e[1] == os.path.dirname(link_line[1])]
    linkdir = root.parent / "run-chrony-snap"
    linkdir.mkdir()
    os.chown(linkdir, pwd.getpwnam(dir_line[3]).pw_uid, grp.getgrnam(dir_line[4]).gr_gid)
    os.chmod(linkdir, mode_of(dir_line[2]))
    sb.link = linkdir / os.path.basename(link_line[1])
    os.symlink(sb.socket, sb.link)
    return sb


@pytest.fixture
def chrony_group():
    try:
        grp.getgrnam("_chrony")
        pwd.getpwnam("_chrony")
    except KeyError:
        pytest.skip("Debian's _chrony user/group not present (apt-get install chrony)")
    return "_chrony"


def test_exec_start_works_as_the_unprivileged_user(svc, runtime, short_tmp, chrony_group):
    sb = chrony_sandbox(short_tmp / "run-chrony", dropin=True)
    try:
        sent = populate(sb, clients=80, limited=4, cmd=2)
        st = os.stat(sb.socket)
        assert (st.st_mode & 0o070) == 0o070 and grp.getgrgid(st.st_gid).gr_name == chrony_group
        r, out, state, pw = run_exec_start(svc, runtime, short_tmp, sb, chrony_group)
    finally:
        sb.stop()
    assert r.returncode == 0, r.stderr
    doc = read_snapshot(out)
    assert doc["errors"] == [] and doc["chrony"]["reachable"] is True
    assert set(sent) <= {c["address"] for c in doc["clients"]}
    assert doc["summary"]["critical"] + doc["summary"]["warning"] >= 4
    # written by the unprivileged user, readable by nginx
    for f in ("data.json", "data.json.gz", "index.html"):
        s = os.stat(out / f)
        assert s.st_uid == pw.pw_uid and s.st_mode & 0o004, f
    assert os.stat(state / "state.bin").st_uid == pw.pw_uid
    assert not [p for p in os.listdir(sb.link.parent) if p.startswith("chronyc.")]  # reply sockets cleaned up


def test_the_service_user_cannot_replace_chronyds_socket_or_pid(svc, short_tmp, chrony_group):
    """With the drop-in, chrony's group may use chronyd's socket but not
    unlink or replace it, nor chronyd.pid, nor plant anything next to them
    (the drop-in used to make /run/chrony group-writable)."""
    pw = ensure_user(svc)
    sb = chrony_sandbox(short_tmp / "run-chrony", dropin=True)
    try:
        pid = sb.root / "chronyd.pid"
        assert pid.exists()
        as_snap = dict(
            user=pw.pw_uid, group=pw.pw_gid, extra_groups=[chrony_group], capture_output=True, text=True, timeout=30
        )
        for argv in (
            ["rm", "-f", str(sb.socket)],
            ["rm", "-f", str(pid)],
            ["mv", str(sb.socket), str(sb.root / "moved")],
            ["touch", str(sb.root / "planted")],
            ["ln", "-s", "/etc/passwd", str(sb.root / "chronyd.pid.new")],
        ):
            r = subprocess.run(argv, **as_snap)
            assert r.returncode != 0 and "Permission denied" in r.stderr, (argv, r.stderr)
        assert sorted(os.listdir(sb.root)) == sorted(["chrony.conf", "chronyd.log", "chronyd.pid", "chronyd.sock"])
        # ... and still reads chronyd's reports, through the symlink
        r = subprocess.run(["chronyc", "-c", "-n", "-h", str(sb.link), "tracking"], **as_snap)
        assert r.returncode == 0, r.stderr
        # chronyd's own path is unusable for chronyc as that user: it cannot
        # bind its reply socket there -- hence the symlink
        r = subprocess.run(["chronyc", "-c", "-n", "-h", str(sb.socket), "tracking"], **as_snap)
        assert r.returncode != 0
    finally:
        sb.stop()


def test_without_the_chrony_dropin_access_is_refused(svc, runtime, short_tmp, chrony_group):
    """Debian's defaults (socket dir 0700, socket 0755): the group alone is not enough."""
    sb = chrony_sandbox(short_tmp / "run-chrony", dropin=False)
    try:
        populate(sb, clients=5, limited=0, cmd=0)
        r, out, state, pw = run_exec_start(svc, runtime, short_tmp, sb, chrony_group)
    finally:
        sb.stop()
    assert r.returncode == 0, r.stderr  # errors are data, not a crash
    doc = read_snapshot(out)
    assert doc["chrony"]["reachable"] is False and doc["clients"] == []
    assert {e["report"] for e in doc["errors"]} >= {"clients", "tracking"}
    assert "_chrony" in r.stderr  # the hint names the group


def test_under_a_real_systemd_in_a_container():
    """deploy/check-in-container.sh: the documented install under systemd, the
    timer's cadence, the journal volume and the online exposure score."""
    if os.geteuid() != 0 or not shutil.which("systemd-nspawn"):
        pytest.skip("needs root and systemd-nspawn (apt-get install systemd-container)")
    import sys

    r = subprocess.run(
        ["bash", str(DEPLOY / "check-in-container.sh"), sys.executable], capture_output=True, text=True, timeout=300
    )
    print(r.stdout[-3000:])
    assert r.returncode == 0 and "== RESULT: OK" in r.stdout, r.stdout[-3000:] + r.stderr[-3000:]
