#!/usr/bin/env python3
"""Benchmark `chrony-snap build` against a REAL chronyd with N clients.

Not a test.  For each N (default 1k, 10k, 100k) it starts a private chronyd
(clientloglimit 16 MiB), sends one real NTP request from each of N distinct
127.x addresses, then interleaves runs of
  floor:  `python -c pass`  and  `chronyc -c -n -h SOCK clients`
  build:  `chrony-snap build` (console script; chronyc children included)
and reports medians of whole-process CPU (user+sys, children included), wall
time and peak RSS.  Targets (issue #2): CPU <= 2.5x floor at 1k and 10k;
at 100k wall <= 1.5x chronyc's own wall and peak RSS <= 200 MiB.
DNS is off (the clients are loopback addresses).

usage: python bench/snapshot_bench.py [--sizes 1000,10000,100000] [--runs 15] [--out FILE]
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from chrony_snap.harness.sandbox import Sandbox, ipv4_range, ntp_clients  # noqa: E402


def peak_rss_kib(argv):
    """Peak RSS of a command, through GNU time: a process spawned from this
    (large) bench process is charged this process's RSS until it execs."""
    import subprocess
    if not os.access("/usr/bin/time", os.X_OK):
        return float("nan")
    r = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], capture_output=True, text=True, check=True)
    return int(r.stderr.strip().splitlines()[-1])


def measure(argv):
    """(cpu_s, wall_s, maxrss_kib) of one child process and its children."""
    t0 = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[
        (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0)])
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {argv}")
    return ru.ru_utime + ru.ru_stime, wall, ru.ru_maxrss


def med(xs):
    return statistics.median(xs)


def bench_size(n, runs, console):
    tmp = Path(tempfile.mkdtemp(prefix="cs-b", dir="/tmp"))
    try:
        with Sandbox(tmp / "c", ipv6=False) as sb:
            addrs = ipv4_range("127.64.0.1", n)
            sent, replies = ntp_clients(sb.ntp_port, addrs)
            cfg = tmp / "c.toml"
            cfg.write_text("[dns]\nenabled = false\n[chrony]\nclients_deadline_s = 30\n")
            build = [console, "build", "--out", str(tmp / "www"), "--socket", str(sb.socket),
                     "--state", str(tmp / "st"), "--config", str(cfg)]
            chronyc = [shutil.which("chronyc"), "-c", "-n", "-h", str(sb.socket), "clients"]
            py = [sys.executable, "-c", "pass"]
            measure(build)  # first run renders the page and fills the state
            measure(build)
            rows = {"py": [], "chronyc": [], "build": []}
            for _ in range(runs):
                rows["py"].append(measure(py))
                rows["chronyc"].append(measure(chronyc))
                rows["build"].append(measure(build))
            rss = max(peak_rss_kib(build) for _ in range(3))
            import json
            doc = json.loads((tmp / "www" / "data.json").read_bytes())
            assert doc["summary"]["clients"] == n, (doc["summary"], n, replies)
            size = (tmp / "www" / "data.json").stat().st_size
            gz = (tmp / "www" / "data.json.gz").stat().st_size
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    r = {k: (med([x[0] for x in v]) * 1000, med([x[1] for x in v]) * 1000, max(x[2] for x in v) / 1024)
         for k, v in rows.items()}
    floor_cpu = r["py"][0] + r["chronyc"][0]
    return {
        "n": n, "py_cpu": r["py"][0], "chronyc_cpu": r["chronyc"][0], "chronyc_wall": r["chronyc"][1],
        "floor_cpu": floor_cpu, "build_cpu": r["build"][0], "build_wall": r["build"][1],
        "cpu_ratio": r["build"][0] / floor_cpu, "wall_ratio": r["build"][1] / r["chronyc"][1],
        "rss": rss / 1024, "json_mb": size / 1e6, "gz_mb": gz / 1e6, "runs": runs,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--out", default=None, help="also write the markdown table here")
    a = ap.parse_args()
    console = shutil.which("chrony-snap", path=str(Path(sys.executable).parent)) or shutil.which("chrony-snap")
    if not console:
        raise SystemExit("install chrony-snap first (pip install -e .)")
    lines = [
        f"Command: `{' '.join(['python', 'bench/snapshot_bench.py'] + sys.argv[1:])}`  ",
        f"Machine: {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}, "
        f"medians of {a.runs} interleaved runs (fewer at 100k).",
        "",
        "| clients | floor CPU (python -c pass + chronyc clients) | build CPU | CPU / floor | chronyc wall "
        "| build wall | wall / chronyc | build peak RSS | data.json / .gz |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in [int(x) for x in a.sizes.split(",")]:
        runs = a.runs if n <= 10000 else max(5, a.runs // 3)
        r = bench_size(n, runs, console)
        lines.append(
            f"| {n:,} | {r['py_cpu']:.1f} + {r['chronyc_cpu']:.1f} = {r['floor_cpu']:.1f} ms "
            f"| {r['build_cpu']:.1f} ms | **{r['cpu_ratio']:.2f}x** | {r['chronyc_wall']:.1f} ms "
            f"| {r['build_wall']:.1f} ms | **{r['wall_ratio']:.2f}x** | {r['rss']:.1f} MiB "
            f"| {r['json_mb']:.1f} MB / {r['gz_mb']:.2f} MB |")
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        Path(a.out).write_text(text)


if __name__ == "__main__":
    main()
