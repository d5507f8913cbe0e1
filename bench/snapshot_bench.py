#!/usr/bin/env python3
"""Benchmark `chrony-snap build` against a REAL chronyd with N clients.

Not a test.  For each N (default 1k, 10k, 100k) it starts a private chronyd
(clientloglimit 16 MiB), sends real NTP requests from N distinct 127.x
addresses (--packets 1: one each; 1-3: one, two or three, in turn), then
interleaves runs of
  floor:  `python -c pass`  and  `chronyc -c -n -h SOCK clients`
  build:  `python scripts/chrony-snap build` (chronyc children included)
and reports medians of whole-process CPU (user+sys, children included), wall
time and peak RSS.  Targets (issue #2): CPU <= 2.5x floor at 1k and 10k;
at 100k wall <= 1.5x chronyc's own wall and peak RSS <= 200 MiB.
DNS is off (the clients are loopback addresses).

--baseline REV also materialises an older commit (git archive into a temp
directory) and runs its build the same way, with the same interpreter,
against the same chronyd, interleaved with the current code (the order
alternates run by run), and reports both and the new/old CPU ratio.  Each
build has its own web root and state directory.

usage: python bench/snapshot_bench.py [--sizes 1000,10000,100000] [--runs 15]
           [--packets 1|1-3] [--baseline REV] [--budget 1] [--out FILE]
"""

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from chrony_snap.harness.sandbox import Sandbox, ipv4_range, ntp_clients  # noqa: E402

# what a build needs to run from a source tree (the rest of the commit is not read)
TREE = ("chrony_snap", "templates", "assets", "scripts")


def peak_rss_kib(argv, env):
    """Peak RSS of a command, through GNU time: a process spawned from this
    (large) bench process is charged this process's RSS until it execs."""
    if not os.access("/usr/bin/time", os.X_OK):
        return float("nan")
    r = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], capture_output=True, text=True, check=True, env=env)
    return int(r.stderr.strip().splitlines()[-1])


def measure(argv, env=None):
    """(cpu_s, wall_s, maxrss_kib) of one child process and its children."""
    t0 = time.perf_counter()
    pid = os.posix_spawn(
        argv[0],
        argv,
        env or os.environ,
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0),
        ],
    )
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {argv}")
    return ru.ru_utime + ru.ru_stime, wall, ru.ru_maxrss


def med(xs):
    return statistics.median(xs)


def materialise(rev, dest: Path) -> Path:
    """The source tree of commit `rev` (only TREE) in dest; returns dest."""
    present = subprocess.run(
        ["git", "-C", str(REPO), "ls-tree", "--name-only", rev], capture_output=True, text=True, check=True
    ).stdout.split()
    dest.mkdir(parents=True)
    archive = subprocess.Popen(
        ["git", "-C", str(REPO), "archive", rev, *[p for p in TREE if p in present]], stdout=subprocess.PIPE
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise SystemExit(f"git archive {rev} failed")
    return dest


class Variant:
    """One chrony-snap source tree, run as `python TREE/scripts/chrony-snap` with
    PYTHONPATH=TREE (so the current code and a baseline start up alike)."""

    def __init__(self, name, tree: Path):
        self.name, self.tree = name, tree
        self.env = dict(os.environ, PYTHONPATH=str(tree))
        # byte-compiled, as `pip install` leaves it: with PYTHONDONTWRITEBYTECODE
        # set (it is on some machines) every run would compile the package anew
        compileall.compile_dir(str(tree / "chrony_snap"), quiet=1)

    def argv(self, work: Path, socket, cfg):
        return [sys.executable, str(self.tree / "scripts" / "chrony-snap"), "build",
                "--out", str(work / self.name / "www"), "--socket", str(socket),
                "--state", str(work / self.name / "st"), "--config", str(cfg)]  # fmt: skip


def packets_per_client(spec: str):
    """'1' -> [1]; '1-3' -> [1, 2, 3] (client i sends the (i mod 3)-th)."""
    lo, _, hi = spec.partition("-")
    counts = list(range(int(lo), int(hi or lo) + 1))
    if not counts or counts[0] < 1:
        raise SystemExit(f"--packets: expected N or N-M with 1 <= N <= M, got {spec!r}")
    return counts


def send_traffic(sb, n, counts):
    addrs = ipv4_range("127.64.0.1", n)
    # one request from every address, resent where no reply came (so that all n are in the log),
    # then the extra ones back to back (a lost one only changes a counter)
    ntp_clients(sb.ntp_port, addrs)
    for k, per_addr in enumerate(counts):
        if per_addr > 1:
            ntp_clients(sb.ntp_port, addrs[k :: len(counts)], per_addr=per_addr - 1, wait=0.5)


def bench_size(n, runs, variants, counts, budget=None):
    tmp = Path(tempfile.mkdtemp(prefix="cs-b", dir="/tmp"))
    try:
        with Sandbox(tmp / "c", ipv6=False) as sb:
            send_traffic(sb, n, counts)
            cfg = tmp / "c.toml"
            cfg.write_text(
                "[dns]\nenabled = false\n[chrony]\nclients_deadline_s = 30\n"
                + (f"[clients]\ncpu_budget = {budget}\n" if budget is not None else "")
            )
            builds = {v.name: (v.argv(tmp, sb.socket, cfg), v.env) for v in variants}
            chronyc = [shutil.which("chronyc"), "-c", "-n", "-h", str(sb.socket), "clients"]
            py = [sys.executable, "-c", "pass"]
            for argv, env in builds.values():
                measure(argv, env)  # first run renders the page and fills the state
                measure(argv, env)
            rows = {"py": [], "chronyc": [], **{name: [] for name in builds}}
            order = list(builds)
            for i in range(runs):
                rows["py"].append(measure(py))
                rows["chronyc"].append(measure(chronyc))
                for name in order if i % 2 == 0 else order[::-1]:
                    rows[name].append(measure(*builds[name]))
            rss = {name: max(peak_rss_kib(*builds[name]) for _ in range(3)) / 1024 for name in builds}
            sizes = {}
            for name in builds:
                www = tmp / name / "www"
                doc = json.loads((www / "data.json").read_bytes())
                assert doc["summary"]["clients"] == n, (name, doc["summary"], n)
                sizes[name] = ((www / "data.json").stat().st_size / 1e6, (www / "data.json.gz").stat().st_size / 1e6)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    r = {k: (med([x[0] for x in v]) * 1000, med([x[1] for x in v]) * 1000) for k, v in rows.items()}
    floor_cpu = r["py"][0] + r["chronyc"][0]
    # new/old run by run (the two ran back to back): steadier than a ratio of medians on a busy machine
    paired = med([a[0] / b[0] for a, b in zip(rows["new"], rows["old"], strict=True)]) if "old" in rows else None
    return {
        "n": n, "runs": runs, "py_cpu": r["py"][0], "chronyc_cpu": r["chronyc"][0], "chronyc_wall": r["chronyc"][1],
        "floor_cpu": floor_cpu, "rss": rss, "sizes": sizes,
        "cpu": {name: r[name][0] for name in builds}, "wall": {name: r[name][1] for name in builds}, "paired": paired,
    }  # fmt: skip


def table(results, names, baseline):
    head = "| clients | floor CPU (python -c pass + chronyc clients) |"
    rule = "|---:|---:|"
    for name in names:
        head += f" {name} CPU | {name} CPU / floor |"
        rule += "---:|---:|"
    if baseline:
        head += " new / old CPU (median of per-run ratios) |"
        rule += "---:|"
    head += " chronyc wall | new wall | wall / chronyc | new peak RSS | data.json / .gz |"
    rule += "---:|---:|---:|---:|---:|"
    lines = [head, rule]
    for r in results:
        line = f"| {r['n']:,} | {r['py_cpu']:.1f} + {r['chronyc_cpu']:.1f} = {r['floor_cpu']:.1f} ms |"
        for name in names:
            line += f" {r['cpu'][name]:.1f} ms | **{r['cpu'][name] / r['floor_cpu']:.2f}x** |"
        if baseline:
            line += f" **{r['cpu']['new'] / r['cpu']['old']:.3f}** ({r['paired']:.3f}) |"
        js, gz = r["sizes"]["new"]
        line += (
            f" {r['chronyc_wall']:.1f} ms | {r['wall']['new']:.1f} ms | **{r['wall']['new'] / r['chronyc_wall']:.2f}x**"
            f" | {r['rss']['new']:.1f} MiB | {js:.1f} MB / {gz:.2f} MB |"
        )
        lines.append(line)
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--packets", default="1", help="NTP requests per client: N, or N-M (client i: N + i mod (M-N+1))")
    ap.add_argument("--baseline", metavar="REV", help="also measure this commit, interleaved (e.g. main)")
    ap.add_argument(
        "--budget",
        type=float,
        help="[clients] cpu_budget; 1 makes every run collect the client list (with the default, 0.05, "
        "runs at 10k and more mostly reuse it: issue 11)",
    )
    ap.add_argument("--out", default=None, help="also write the markdown table here")
    a = ap.parse_args()
    counts = packets_per_client(a.packets)
    work = Path(tempfile.mkdtemp(prefix="cs-bt", dir="/tmp"))
    try:
        variants = [Variant("new", REPO)]
        if a.baseline:
            rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", a.baseline],
                                 capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
            variants.append(Variant("old", materialise(rev, work / "old")))
        names = [v.name for v in variants]
        lines = [
            f"Command: `{' '.join(['python', 'bench/snapshot_bench.py'] + sys.argv[1:])}`  ",
            f"Machine: {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}, "
            f"medians of {a.runs} interleaved runs (fewer at 100k), {a.packets} NTP request(s) per client"
            + (f"; new = this tree, old = {rev}." if a.baseline else "."),
            "",
        ]
        results = []
        for n in [int(x) for x in a.sizes.split(",")]:
            runs = a.runs if n <= 10000 else max(5, a.runs // 3)
            results.append(bench_size(n, runs, variants, counts, a.budget))
            print(table(results, names, a.baseline)[-1], flush=True)
        lines += table(results, names, a.baseline)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    emit(lines, a.out)


def emit(lines, out=None, append=False):
    """Print the report; also write it to `out` when given (appended to it
    with `append`).  The one ending of every bench script."""
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        with open(out, "a" if append else "w", encoding="utf-8") as f:
            f.write(text + "\n" if append else text)


if __name__ == "__main__":
    main()
