#!/usr/bin/env python3
"""Where one timer tick's CPU goes (issue 11), against a REAL chronyd.

Not a test.  For each N it starts a private chronyd with N clients, fills the
state with two builds, then, with the client list reused (poll log idle at
10k, budget-skipped at 100k: both make the tick reuse the list), measures by
wait4 rusage (user+system CPU, median of --runs):
  python -S -c pass           the bare interpreter
  python -c pass              + site (the venv's .pth files)
  python -c 'import chrony_snap.build'   + the build path's imports
  chronyc -c -n REPORT        each of the five cheap reports alone
  chronyc -c -n -m R1 .. R5   the five in one call, as the tick asks them
  chrony-snap build           the whole tick (chronyc children included)
and the tick's own work (whole tick - imports - the combined chronyc) by
difference.

usage: python bench/timer_breakdown.py [--sizes 10000,100000] [--runs 15]
           [--python PYTHON] [--script PATH]
"""

import argparse
import compileall
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from snapshot_bench import measure as measure_process  # noqa: E402  (bench/ is sys.path[0] for a script here)

from chrony_snap.harness.sandbox import Sandbox, ipv4_range, ntp_clients  # noqa: E402

CHEAP = ("tracking", "serverstats", "activity", "sources", "sourcestats")


def cpu_of(argv):
    return measure_process(argv)[0]


def median_ms(argv, runs, pause=0.0):
    xs = []
    for _ in range(runs):
        xs.append(cpu_of(argv) * 1e3)
        time.sleep(pause)
    return statistics.median(xs)


def measure(n, runs, py, script, tmp):
    with Sandbox(tmp / f"c{n}", ipv6=False) as sb:
        ntp_clients(sb.ntp_port, ipv4_range("127.64.0.1", n))
        www, st, log = tmp / f"www{n}", tmp / f"st{n}", tmp / f"poll{n}.log"
        log.write_text("")
        old = time.time() - 600
        os.utime(log, (old, old))  # idle: the list is collected every 30 s only
        cfg = tmp / f"c{n}.toml"
        cfg.write_text(
            "[dns]\nenabled = false\n[chrony]\nclients_deadline_s = 30\n"
            f'[clients]\npid_file = "{sb.pid_path}"\npoll_log = "{log}"\n'
        )
        build = [py, script, "build", "--out", str(www), "--socket", str(sb.socket), "--state", str(st),
                 "--config", str(cfg)]  # fmt: skip
        cpu_of(build)  # renders the page, collects the list
        cpu_of(build)
        rows = {
            "python -S -c pass": median_ms([py, "-S", "-c", "pass"], runs),
            "python -c pass (site, .pth)": median_ms([py, "-c", "pass"], runs),
            "python -c 'import chrony_snap.build'": median_ms([py, "-c", "import chrony_snap.build"], runs),
        }
        chronyc = ["/usr/bin/chronyc", "-c", "-n", "-h", str(sb.socket)]
        for r in CHEAP:
            rows[f"chronyc {r}"] = median_ms([*chronyc, r], runs)
        # what a tick spawns since a14aa93: the five in one chronyc (collect.CHEAP)
        rows["chronyc -m (the five in one, as the tick asks)"] = median_ms([*chronyc, "-m", *CHEAP], runs)
        # whole ticks, spaced out as the timer spaces them (the list stays reused:
        # idle, collected every 30 s; a collection tick, if one falls in, is the max)
        xs = []
        for _ in range(runs):
            xs.append(cpu_of(build) * 1e3)
            time.sleep(0.5)
        rows["chrony-snap build (whole tick, median)"] = statistics.median(xs)
        rows["chrony-snap build (min)"] = min(xs)
        size = (www / "data.json").stat().st_size
        return rows, size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--source", action="store_true", help="no byte-compiling first")
    ap.add_argument("--script", default=str(REPO / "scripts" / "chrony-snap"))
    a = ap.parse_args()
    if not a.source:  # as `pip install` leaves it
        compileall.compile_dir(str(REPO / "chrony_snap"), quiet=1)
    for n in [int(x) for x in a.sizes.split(",")]:
        tmp = Path(tempfile.mkdtemp(prefix="cs-tb", dir="/tmp"))
        rows, size = measure(n, a.runs, a.python, a.script, tmp)
        five = sum(v for k, v in rows.items() if k.startswith("chronyc ") and " -m " not in k)
        chronyc = rows["chronyc -m (the five in one, as the tick asks)"]
        imports = rows["python -c 'import chrony_snap.build'"]
        whole = rows["chrony-snap build (whole tick, median)"]
        print(f"\n{n:,} clients, list reused; data.json {size / 1e6:.2f} MB; load {os.getloadavg()[0]:.2f}")
        for k, v in rows.items():
            print(f"| {k} | {v:.1f} |")
        print(f"| five chronyc, one report each (before a14aa93) | {five:.1f} |")
        print(f"| the tick's own work (whole - imports - chronyc -m) | {whole - imports - chronyc:.1f} |")


if __name__ == "__main__":
    main()
