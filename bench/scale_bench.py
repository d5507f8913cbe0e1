#!/usr/bin/env python3
"""Benchmark the client list's budget (issue 11) against a REAL chronyd.

Not a test.  For each N it starts a private chronyd with N clients and runs
`chrony-snap build` once a second (as the systemd timer would) for
--seconds, with the default budget, in two modes: "watched" (the poll log
touched every second, as nginx does while a page polls) and "idle" (its
mtime 10 minutes old).  It reports, as a share of one core over the run:
  chrony-snap  the builds' CPU, chronyc children included (wait4 rusage);
  chronyd      chronyd's CPU during the run minus its CPU over an equal time
               without builds (/proc/PID/stat): what the dashboard costs it;
and per second: the bytes of the files each tick replaced (data.json, .gz,
live.json, metrics, client lists, state), and what one viewer downloads in
steady state (live.json every second + each new clients-SEQ.json.gz).
*floor*, measured against the same chronyd just before each size's runs: a
Python start plus five small chronyc calls once a second (the issue's floor
for an idle server), and each total as a multiple of it: the ratio is what
load on a shared machine moves least.

--runners loop runs `chrony-snap watch --interval 1` instead (the long-running
alternative to the timer, deploy/chrony-snap.service.d/watch.conf): no Python
start per second.  Its CPU is the process's own plus its reaped chronyc
children's (/proc/PID/stat utime+stime+cutime+cstime).

usage: python bench/scale_bench.py [--sizes 1000,10000,100000] [--seconds 60]
           [--modes watched,idle] [--runners timer,loop] [--budget 0.05] [--out FILE]
"""

import argparse
import compileall
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from snapshot_bench import emit, measure  # noqa: E402  (bench/ is sys.path[0] for a script here)

from chrony_snap.harness.sandbox import Sandbox, ipv4_range, ntp_clients  # noqa: E402

TICK = ("data.json", "data.json.gz", "metrics", "data.json.d/live.json")


def proc_cpu(pid, children=False):
    """utime+stime (+ the reaped children's cutime+cstime) from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        s = f.read()
    fields = s[s.rindex(b")") + 2 :].split()
    ticks = sum(int(fields[i]) for i in ((11, 12, 13, 14) if children else (11, 12)))
    return ticks / os.sysconf("SC_CLK_TCK")


def chronyd_cpu(pid):
    return proc_cpu(pid)


def spawn(argv):
    return os.posix_spawn(
        argv[0], argv, os.environ, file_actions=[(os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0)]
    )


def run_build(argv):
    return measure(argv)[0]


class Timer:
    """`chrony-snap build` spawned once a second, as chrony-snap.timer does."""

    def __init__(self, argv):
        self.argv, self.cpu = argv, 0.0

    def start(self):
        pass

    def tick(self):
        self.cpu += run_build(self.argv)

    def stop(self):
        return self.cpu


class Loop:
    """`chrony-snap watch --interval 1`: one process, its own 1 s schedule."""

    def __init__(self, argv, www):
        self.argv = argv[:2] + ["watch", "--interval", "1"] + argv[3:]
        self.www, self.pid = www, None

    def start(self):
        self.pid = spawn(self.argv)
        seq = json.loads((self.www / "data.json.d" / "live.json").read_bytes())["seq"]
        while json.loads((self.www / "data.json.d" / "live.json").read_bytes())["seq"] < seq + 2:
            time.sleep(0.2)  # its imports and first ticks (the page) are not the steady state
        self.cpu0 = proc_cpu(self.pid, children=True)

    def tick(self):
        pass

    def stop(self):
        cpu = proc_cpu(self.pid, children=True) - self.cpu0
        os.kill(self.pid, signal.SIGTERM)
        os.waitpid(self.pid, 0)
        return cpu


def bench(n, seconds, mode, sb, tmp, runner, budget=None):
    work = tmp / f"{mode}-{runner}-{n}"
    www, st, log = work / "www", work / "st", work / "poll.log"
    work.mkdir()
    log.write_text("")
    cfg = work / "c.toml"
    cfg.write_text(
        "[dns]\nenabled = false\n[chrony]\nclients_deadline_s = 30\n"
        f'[clients]\npid_file = "{sb.pid_path}"\npoll_log = "{log}"\n'
        + (f"cpu_budget = {budget}\n" if budget is not None else "")
    )
    argv = [sys.executable, str(REPO / "scripts" / "chrony-snap"), "build", "--out", str(www),
            "--socket", str(sb.socket), "--state", str(st), "--config", str(cfg)]  # fmt: skip
    run_build(argv)  # renders the page, fills the state
    run_build(argv)
    # chronyd's own CPU without builds, over the same time: its baseline
    c0 = chronyd_cpu(sb.pid)
    time.sleep(min(seconds, 20))
    base_rate = (chronyd_cpu(sb.pid) - c0) / min(seconds, 20)
    written, lists, live_bytes, seqs, ages = 0, 0, 0, set(), []
    seen_lists = {p.name for p in (www / "data.json.d").iterdir()}
    run = Timer(argv) if runner == "timer" else Loop(argv, www)
    run.start()
    c0, t0 = chronyd_cpu(sb.pid), time.monotonic()
    ticks, last_seq, seq0 = 0, None, json.loads((www / "data.json.d" / "live.json").read_bytes())["seq"]
    while time.monotonic() - t0 < seconds:
        tick_start = time.monotonic()
        if mode == "watched":
            os.utime(log)
        else:
            old = time.time() - 600
            os.utime(log, (old, old))
        run.tick()
        doc = json.loads((www / "data.json.d" / "live.json").read_bytes())
        live_bytes += (www / "data.json.d" / "live.json").stat().st_size  # a viewer polls every second
        if doc["seq"] == last_seq:  # the loop's tick is not done yet: sample the next second
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick_start)))
            continue
        last_seq = doc["seq"]
        ticks += 1
        for name in TICK:
            written += (www / name).stat().st_size
        written += (st / "state.bin").stat().st_size
        for p in (www / "data.json.d").iterdir():
            if p.name.startswith("clients-") and p.name not in seen_lists:
                seen_lists.add(p.name)
                lists += p.stat().st_size
                written += p.stat().st_size + (st / "prev.bin").stat().st_size
        seqs.add(doc["clients_seq"])
        ages.append(
            (doc["seq"] - doc["clients_seq"], doc["clients_cadence"]["interval_s"], doc["clients_cadence"]["reason"])
        )
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick_start)))
    elapsed = time.monotonic() - t0
    cpu = run.stop()
    chronyd_extra = (chronyd_cpu(sb.pid) - c0) - base_rate * elapsed
    written *= (last_seq - seq0) / ticks  # the loop's ticks the samples missed wrote as much
    return {
        "n": n, "mode": mode, "runner": runner, "seconds": round(elapsed, 1), "ticks": ticks, "collections": len(seqs),
        "snap_core": cpu / elapsed, "chronyd_core": max(0.0, chronyd_extra) / elapsed,
        "total_core": (cpu + max(0.0, chronyd_extra)) / elapsed,
        "written_kb_s": written / elapsed / 1e3, "viewer_kb_s": (live_bytes + lists) / elapsed / 1e3,
        "max_age_ticks": max(a[0] for a in ages), "interval_s": ages[-1][1], "reason": ages[-1][2],
        "data_json_mb": (www / "data.json").stat().st_size / 1e6,
    }  # fmt: skip


FLOOR_REPORTS = ("tracking", "sources", "sourcestats", "serverstats", "activity")


def floor(sb, seconds):
    """The issue's floor, measured in the same run: a Python start
    (`python -c pass`, site included) plus five small chronyc calls, once a
    second; its share of one core (wait4 rusage)."""
    chronyc = ["/usr/bin/chronyc", "-c", "-n", "-h", str(sb.socket)]
    argvs = [[sys.executable, "-c", "pass"], *([*chronyc, r] for r in FLOOR_REPORTS)]
    cpu, t0 = 0.0, time.monotonic()
    while time.monotonic() - t0 < seconds:
        start = time.monotonic()
        cpu += sum(run_build(argv) for argv in argvs)
        time.sleep(max(0.0, 1.0 - (time.monotonic() - start)))
    return cpu / (time.monotonic() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--modes", default="watched,idle")
    ap.add_argument("--runners", default="timer", help="timer, loop or timer,loop")
    ap.add_argument("--budget", type=float, help="[clients] cpu_budget (default: the default, 0.05)")
    ap.add_argument("--out")
    a = ap.parse_args()
    # byte-compiled, as `pip install` leaves it: with PYTHONDONTWRITEBYTECODE set
    # (it is on some machines) every timer run would compile the package anew
    compileall.compile_dir(str(REPO / "chrony_snap"), quiet=1)
    rows = []
    for n in [int(x) for x in a.sizes.split(",")]:
        tmp = Path(tempfile.mkdtemp(prefix="cs-sc", dir="/tmp"))
        with Sandbox(tmp / "c", ipv6=False) as sb:
            ntp_clients(sb.ntp_port, ipv4_range("127.64.0.1", n))
            low = floor(sb, min(a.seconds, 30))
            for runner in a.runners.split(","):
                for mode in a.modes.split(","):
                    r = bench(n, a.seconds, mode, sb, tmp, runner, a.budget)
                    r["floor_core"] = low
                    rows.append(r)
                    print(r, file=sys.stderr, flush=True)
    load = os.getloadavg()
    lines = [
        f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 CPUs, shared); "
        f"cpu_budget {a.budget if a.budget is not None else 'default (0.05)'}",
        "",
        "| clients | mode | runner | seconds | collections | interval (reason) | chrony-snap (core) "
        "| chronyd extra (core) | total (core) | floor (core) | total / floor | written kB/s | viewer kB/s "
        "| list age max (ticks) | data.json MB |",
        "|---:|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']:,} | {r['mode']} | {r['runner']} | {r['seconds']} | {r['collections']} "
            f"| {r['interval_s']:g} s ({r['reason']}) "
            f"| {r['snap_core']:.3f} | {r['chronyd_core']:.3f} | {r['total_core']:.3f} | {r['floor_core']:.3f} "
            f"| {r['total_core'] / r['floor_core']:.2f}x | {r['written_kb_s']:.0f} "
            f"| {r['viewer_kb_s']:.1f} | {r['max_age_ticks']} | {r['data_json_mb']:.2f} |"
        )
    emit(lines, a.out)


if __name__ == "__main__":
    main()
