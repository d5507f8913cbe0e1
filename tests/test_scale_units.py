"""deploy/chrony-snap.service.d/watch.conf (issue 11): the long-running
alternative to the timer.  The drop-in keeps chrony-snap.service's user,
sandbox and paths, and runs `chrony-snap watch` with the same options as the
timer's `build`; `systemd-analyze verify` accepts the unit with it."""

import shlex
import shutil

from test_units import DEPLOY, analyze, exec_start, parse_unit, svc, unit_root, value  # noqa: F401 (fixtures)

WATCH = DEPLOY / "chrony-snap.service.d" / "watch.conf"


def test_watch_dropin_runs_the_loop_with_the_units_options(svc):  # noqa: F811
    drop = parse_unit(WATCH)
    starts = [v for k, v in drop["Service"] if k == "ExecStart"]
    assert starts[0] == "" and len(starts) == 2  # resets the timer's `build`
    argv = shlex.split(starts[1])
    build_argv, build_opts = exec_start(svc)
    assert argv[:2] == [build_argv[0], "watch"]
    opts = dict(zip(argv[2::2], argv[3::2], strict=True))
    assert opts.pop("--interval") == "1"
    assert opts == build_opts
    assert value(drop, "Service", "Type") == "simple"
    assert value(drop, "Service", "Restart") == "always"
    assert value(drop, "Unit", "StartLimitIntervalSec") == "0"


def test_systemd_analyze_verify_is_clean_with_the_watch_dropin(unit_root):  # noqa: F811
    d = unit_root / "etc/systemd/system/chrony-snap.service.d"
    d.mkdir()
    shutil.copy(WATCH, d)
    r = analyze("verify", f"--root={unit_root}", "chrony-snap.service")
    assert r.returncode == 0 and r.stdout.strip() == "" and r.stderr.strip() == "", r.stdout + r.stderr
    (d / "watch.conf").write_text(WATCH.read_text().replace("Type=simple", "Type=simpel"))
    r = analyze("verify", f"--root={unit_root}", "chrony-snap.service")
    assert "simpel" in r.stdout + r.stderr
