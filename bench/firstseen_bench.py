#!/usr/bin/env python3
"""What first-seen tracking costs a tick: the same code with and without it.

Not a test.  For each N it starts a private chronyd, sends one NTP request
from each of N distinct 127.x addresses (as bench/snapshot_bench.py does),
then interleaves whole `chrony-snap build` processes of two variants of THIS
tree, each with its own web root and state directory:
  on:   as shipped (firstseen.bin loaded, `first_seen` on every client);
  off:  firstseen.load() replaced by one returning nothing (what a build
        without a state directory does for first-seen), all else the same.
It reports medians of whole-process CPU (user+sys, chronyc included) and the
median of per-run on/off ratios (the two ran back to back: steadier than a
ratio of medians on a busy machine).  Target (issue 10): <= 1.05 at 1k and 10k.

usage: python bench/firstseen_bench.py [--sizes 1000,10000] [--runs 21] [--rev REV]
           [--callgrind N] [--out FILE]
(--rev: measure that commit's tree instead, e.g. main's, the same way;
--callgrind N: also count instructions, N runs per variant: on a shared,
loaded machine CPU time swings by several per cent, instructions hardly)
"""

import argparse
import compileall
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from snapshot_bench import REPO, emit, materialise, measure, med, send_traffic  # noqa: E402

from chrony_snap.harness.sandbox import Sandbox  # noqa: E402

START = "import sys\n{patch}from chrony_snap.cli import main\nsys.exit(main(sys.argv[1:]))\n"
VARIANTS = {
    "on": START.format(patch=""),
    # load() returns (map, text) since VERSION 2, the map alone before (main at 7795194): both measurable
    "off": START.format(
        patch="from chrony_snap import firstseen\n"
        "firstseen.load = lambda *args: (None, None) if firstseen.VERSION >= 2 else None\n"
    ),
}


def instructions(argv, env) -> int:
    """User-space instructions of the build process alone (callgrind; chronyc not traced)."""
    r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
                       env=env, capture_output=True, text=True, check=True)  # fmt: skip
    return int(r.stderr.rsplit("Collected : ", 1)[1].split()[0])


def bench_size(n, runs, tree, callgrind):
    tmp = Path(tempfile.mkdtemp(prefix="cs-f", dir="/tmp"))
    # a fixed hash seed: the instruction counts then depend on the data only
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONHASHSEED="0")
    try:
        with Sandbox(tmp / "c", ipv6=False) as sb:
            send_traffic(sb, n, [1])
            cfg = tmp / "c.toml"
            cfg.write_text("[dns]\nenabled = false\n[chrony]\nclients_deadline_s = 30\n")
            argv = {
                name: [sys.executable, "-P", "-c", code, "build", "--out", str(tmp / name / "www"),
                       "--socket", str(sb.socket), "--state", str(tmp / name / "st"), "--config", str(cfg)]
                for name, code in VARIANTS.items()
            }  # fmt: skip
            for a in argv.values():
                measure(a, env)  # the first run renders the page and fills the state
                measure(a, env)
            assert (tmp / "on" / "st" / "firstseen.bin").exists()
            assert not (tmp / "off" / "st" / "firstseen.bin").exists()
            cpu = {name: [] for name in argv}
            for i in range(runs):
                for name in ("on", "off") if i % 2 == 0 else ("off", "on"):
                    cpu[name].append(measure(argv[name], env)[0] * 1000)
            ins = {name: [] for name in argv}
            for i in range(callgrind):
                for name in ("on", "off") if i % 2 == 0 else ("off", "on"):
                    ins[name].append(instructions(argv[name], env) / 1e6)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    paired = med([a / b for a, b in zip(cpu["on"], cpu["off"], strict=True)])
    ins_paired = med([a / b for a, b in zip(ins["on"], ins["off"], strict=True)]) if callgrind else None
    return n, med(cpu["on"]), med(cpu["off"]), paired, ins, ins_paired


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--rev", default=None, help="measure this commit (default: this tree as it is)")
    ap.add_argument("--callgrind", type=int, default=0, metavar="N",
                    help="also count the build's instructions N times per variant (valgrind)")  # fmt: skip
    ap.add_argument("--out", default=None, help="also write the markdown table here")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cs-ft", dir="/tmp"))
    tree = REPO
    if a.rev:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", a.rev],
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        tree = materialise(rev, work / rev)
    compileall.compile_dir(str(tree / "chrony_snap"), quiet=1)  # as `pip install` leaves it
    lines = [
        f"Command: `{' '.join(['python', 'bench/firstseen_bench.py'] + sys.argv[1:])}`  ",
        f"Machine: {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M')}, Python {sys.version.split()[0]}, "
        f"medians of {a.runs} interleaved runs; " + (f"commit {a.rev}." if a.rev else "this tree."),
        "",
        "| clients | CPU with first-seen (on) | without (off) | on / off (median of per-run ratios) "
        "| instructions on / off (callgrind, build process only) |",
        "|---:|---:|---:|---:|---:|",
    ]
    try:
        for n in [int(x) for x in a.sizes.split(",")]:
            n, on, off, paired, ins, ins_paired = bench_size(n, a.runs, tree, a.callgrind)
            counted = f"{med(ins['on']):.1f} M / {med(ins['off']):.1f} M = **{ins_paired:.3f}**" if a.callgrind else "–"
            lines.append(f"| {n:,} | {on:.1f} ms | {off:.1f} ms | **{paired:.3f}** | {counted} |")
            print(lines[-1], flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    emit(lines, a.out)


if __name__ == "__main__":
    main()
