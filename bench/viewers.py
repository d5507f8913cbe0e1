"""Viewer scaling: does the number of people watching the dashboard change
anything but nginx's (small) work?

    python bench/viewers.py                        # 1k and 100k clients, ~5 min
    python bench/viewers.py --clients 1000 --seconds 10 --no-write

For each client count: a real chronyd (chrony_snap.harness.sandbox) with that many
clients, the snapshot run once a second the way chrony-snap.timer runs it
(`chrony-snap build` as a new process, one second after the previous start,
never overlapping), nginx with the shipped site config (chrony_snap.nginx.NginxProcess),
and simulated viewers: each polls /data.json once a second like the page
does (keep-alive, Accept-Encoding: gzip -> data.json.gz via gzip_static).

Phases of --seconds each, in one run:
  idle    no viewers                                    (nginx's idle cost)
  floor   100 viewers polling a 3-byte file             (nginx's per-request floor)
  1/10/100 viewers polling data.json

Per phase: the snapshot's CPU (user+sys of build and its chronyc children,
from wait4 rusage) and wall time, medians; nginx's CPU (master + worker,
from /proc/PID/schedstat) per viewer-second, median of 1-second samples;
polls due vs. served complete (200, full Content-Length) within the second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from chrony_snap.harness.nginx import NginxProcess  # noqa: E402
from chrony_snap.harness.sandbox import Sandbox, ipv4_range, ntp_clients, populate  # noqa: E402

# --------------------------------------------------------------------------
# the snapshot, run like the timer runs it
# --------------------------------------------------------------------------


class TimerLoop(threading.Thread):
    """`chrony-snap build` every second (1 s after each start; a slow run is
    followed immediately by the next, never overlapped)."""

    def __init__(self, argv, interval=1.0):
        super().__init__(daemon=True)
        self.argv, self.interval = argv, interval
        self.stop = threading.Event()
        self.runs = []  # (start_monotonic, wall_s, cpu_s, rc)

    def run(self):
        while not self.stop.is_set():
            t0 = time.monotonic()
            p = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _pid, status, ru = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
            wall = time.monotonic() - t0
            self.runs.append((t0, wall, ru.ru_utime + ru.ru_stime, p.returncode))
            self.stop.wait(max(0.0, t0 + self.interval - time.monotonic()))

    def between(self, a, b):
        return [r for r in self.runs if a <= r[0] < b]


# --------------------------------------------------------------------------
# viewers
# --------------------------------------------------------------------------


LIVE = "/data.json.d/live.json"


async def _list_if_new(reader, writer, body, seen, enc):
    """The page's second request: clients-SEQ.json when live.json names a
    list it has not fetched yet.  Returns the bytes received (None: failed)."""
    import json

    seq = json.loads(body)["clients_seq"]
    if seen.get("seq") == seq:
        return 0
    writer.write(f"GET /data.json.d/clients-{seq}.json HTTP/1.1\r\nHost: 127.0.0.1\r\n{enc}\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdr = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    n = int(hdr["content-length"])
    got = await reader.readexactly(n)
    if int(lines[0].split()[1]) != 200 or len(got) != n:
        return None
    seen["seq"] = seq
    return n


async def _viewer(port, path, gz, t_end, offset, stats):
    reader = writer = None
    seen = {}
    enc = "Accept-Encoding: gzip, deflate, br\r\n" if gz else ""
    req = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{enc}Accept: application/json\r\nCache-Control: no-cache\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    nxt = loop.time() + offset
    while True:
        await asyncio.sleep(max(0.0, nxt - loop.time()))
        if loop.time() >= t_end:
            break
        due = nxt
        nxt += 1.0
        stats["due"] += 1
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            hdr = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            n = int(hdr["content-length"])
            body = await reader.readexactly(n)
            ok = status == 200 and len(body) == n
            if path == "/data.json" and gz:
                ok = ok and hdr.get("content-encoding") == "gzip" and body[:2] == b"\x1f\x8b"
            elif path == "/data.json":
                ok = ok and "content-encoding" not in hdr and body.rstrip()[-1:] == b"}"
            elif path == LIVE and ok:  # the page: live.json, and the client list when it changed
                more = await _list_if_new(reader, writer, body, seen, enc)
                ok = more is not None
                n += more or 0
            if ok:
                stats["ok"] += 1
                stats["bytes"] += n
                if loop.time() - due <= 1.0:
                    stats["in_time"] += 1
            else:
                stats["bad"] += 1
            if hdr.get("connection", "").lower() == "close":
                writer.close()
                reader = writer = None
        except (OSError, asyncio.IncompleteReadError, ValueError, KeyError, IndexError):
            stats["bad"] += 1
            if writer is not None:
                writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


def run_viewers(port, path, gz, n, seconds):
    """n viewers, each polling once a second at its own phase, for `seconds`."""
    stats = {"due": 0, "ok": 0, "in_time": 0, "bad": 0, "bytes": 0}
    if n == 0:
        time.sleep(seconds)
        return stats

    async def main():
        loop = asyncio.get_running_loop()
        t_end = loop.time() + seconds
        rnd = random.Random(n)
        await asyncio.gather(*(_viewer(port, path, gz, t_end, rnd.random(), stats) for _ in range(n)))

    asyncio.run(main())
    return stats


# --------------------------------------------------------------------------
# one client count
# --------------------------------------------------------------------------


def cpu_ns(pids) -> int:
    """CPU time (user + system) of these processes in ns, from /proc/PID/schedstat."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError):
            pass
    return total


def cpu_sampler(web, stop, samples):
    last_t, last = time.monotonic(), cpu_ns(web.pids())
    while not stop.wait(1.0):
        t, c = time.monotonic(), cpu_ns(web.pids())
        samples.append((t, (c - last) / (t - last_t)))  # ns of CPU per second
        last_t, last = t, c


def measure(clients, seconds, phases):
    d = Path(tempfile.mkdtemp(prefix="cs-bv-", dir="/tmp"))
    os.chmod(d, 0o711)
    rows = []
    try:
        sb = Sandbox(d / "chrony", clientloglimit=16777216)
        sb.start()
        try:
            t0 = time.monotonic()
            populate(sb, clients=min(clients, 300), limited=5, cmd=2)
            if clients > 300:
                ntp_clients(sb.ntp_port, ipv4_range("127.20.0.1", clients - 300))
            setup_s = time.monotonic() - t0
            out, state = d / "www", d / "state"
            cfg = d / "config.toml"
            cfg.write_text("[dns]\nenabled = false\n")
            argv = [
                sys.executable,
                "-m",
                "chrony_snap",
                "build",
                "--out",
                str(out),
                "--state",
                str(state),
                "--socket",
                str(sb.socket),
                "--config",
                str(cfg),
            ]
            subprocess.run(argv, check=True, capture_output=True)
            (out / "ok.txt").write_text("ok\n")
            os.chmod(out / "ok.txt", 0o644)
            sizes = (os.path.getsize(out / "data.json"), os.path.getsize(out / "data.json.gz"))
            n_clients = clients_in(out)
            note = (
                f"{clients:,} clients: chronyd reports {n_clients:,} (set up in {setup_s:.1f} s); "
                f"data.json {sizes[0]:,} B, data.json.gz {sizes[1]:,} B"
            )
            NOTES.append(note)
            print("# " + note, flush=True)
            with NginxProcess(out) as web:
                loop = TimerLoop(argv)
                loop.start()
                time.sleep(2.0)  # settle
                stop, samples = threading.Event(), []
                sampler = threading.Thread(target=cpu_sampler, args=(web, stop, samples), daemon=True)
                sampler.start()
                for name, path, gz, viewers in phases:
                    a = time.monotonic()
                    st = run_viewers(web.port, path, gz, viewers, seconds)
                    b = time.monotonic()
                    runs = loop.between(a, b)
                    cpu = [s for t, s in samples if a + 1 < t <= b]
                    row = {
                        "clients": clients,
                        "phase": name,
                        "viewers": viewers,
                        "path": path,
                        "snap_runs": len(runs),
                        "snap_per_s": len(runs) / (b - a),
                        "snap_cpu_ms": 1000 * statistics.median(r[2] for r in runs) if runs else None,
                        "snap_wall_ms": 1000 * statistics.median(r[1] for r in runs) if runs else None,
                        "snap_fail": sum(1 for r in runs if r[3] != 0),
                        "nginx_cpu_ms_per_s": statistics.median(cpu) / 1e6 if cpu else None,
                        "due": st["due"],
                        "ok": st["ok"],
                        "in_time": st["in_time"],
                        "bad": st["bad"],
                        "bytes_per_poll": st["bytes"] / st["ok"] if st["ok"] else 0,
                        "load": os.getloadavg()[0],
                    }
                    v = max(viewers, 1)
                    row["nginx_us_per_viewer_s"] = (
                        1000 * row["nginx_cpu_ms_per_s"] / v
                        if viewers and row["nginx_cpu_ms_per_s"] is not None
                        else None
                    )
                    rows.append(row)
                    print(fmt_row(row), flush=True)
                stop.set()
                loop.stop.set()
                loop.join(30)
                sampler.join(5)
        finally:
            sb.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return rows


NOTES = []


def clients_in(out):
    import json

    with open(out / "data.json", "rb") as f:
        return len(json.load(f)["clients"])


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


HEADER = (
    "| clients | phase | viewers | polls served / due (in 1 s) | bytes/poll | nginx CPU ms/s "
    "| nginx CPU µs per viewer-second | snapshot CPU ms (median) | snapshot wall ms (median) "
    "| snapshots/s | load avg |\n|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"
)


def fmt_row(r):
    return (
        f"| {r['clients']:,} | {r['phase']} | {r['viewers']} | {r['ok']}/{r['due']} ({r['in_time']})"
        f"{' ' + str(r['bad']) + ' bad' if r['bad'] else ''} | {r['bytes_per_poll']:,.0f} "
        f"| {fmt(r['nginx_cpu_ms_per_s'], '.2f')} | {fmt(r['nginx_us_per_viewer_s'], '.0f')} "
        f"| {fmt(r['snap_cpu_ms'], '.0f')} | {fmt(r['snap_wall_ms'], '.0f')} | {r['snap_per_s']:.2f} "
        f"| {r['load']:.1f} |"
    )


def machine():
    def ver(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except OSError:
            return "?"

    return (
        f"{platform.node()}: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"Linux {platform.release()}, Python {platform.python_version()}, "
        f"{ver(['nginx', '-v'])}, {ver(['chronyd', '--version'])}"
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", default="1000,100000", help="comma-separated client counts")
    ap.add_argument("--viewers", default="1,10,100", help="comma-separated viewer counts")
    ap.add_argument("--seconds", type=float, default=20.0, help="seconds per phase")
    ap.add_argument(
        "--plain-viewers", type=int, default=10, help="viewers in the extra phase without Accept-Encoding: gzip"
    )
    ap.add_argument(
        "--page", action="store_true", help="viewers poll as the page does: live.json, the list when it changed"
    )
    ap.add_argument("--out", default=str(HERE / "RESULTS-viewers.md"))
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args(argv)
    counts = [int(x) for x in a.clients.split(",")]
    viewers = [int(x) for x in a.viewers.split(",")]
    phases = [("idle", "/data.json", True, 0), ("floor: 3-byte file", "/ok.txt", True, max(viewers))]
    if a.page:
        phases += [("page: live.json + list (gzip)", LIVE, True, v) for v in viewers]
    else:
        phases += [("data.json (gzip)", "/data.json", True, v) for v in viewers]
        phases += [("data.json, no gzip", "/data.json", False, a.plain_viewers)]
    cmd = "python bench/viewers.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(HEADER, flush=True)
    t0 = time.monotonic()
    rows = []
    for c in counts:
        rows += measure(c, a.seconds, phases)
    took = time.monotonic() - t0
    print(f"# total {took:.0f} s")
    if not a.no_write:
        write_results(Path(a.out), rows, cmd.strip(), a.seconds, took)
    return 0


def write_results(path, rows, cmd, seconds, took):
    lines = [
        "# Viewer scaling (bench/viewers.py)",
        "",
        f"Command: `{cmd}` ({took:.0f} s in all).  Machine: {machine()}.  "
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"Each phase runs {seconds:g} s while `chrony-snap build` runs once a second as the timer "
        "runs it; viewers poll /data.json once a second with Accept-Encoding: gzip (nginx sends "
        "data.json.gz via gzip_static).  nginx CPU: master + worker, median of 1-second samples.  "
        "Snapshot CPU: user+sys of `chrony-snap build` and its chronyc children, median per run.  "
        '"floor": the same number of viewers polling a 3-byte file -- nginx\'s fixed cost per request.  '
        '"load avg": the machine\'s 1-minute load average at the end of the phase (other work on '
        "the machine shows there; this bench itself adds about 1-2).",
        "",
    ]
    lines += [f"* {n}" for n in NOTES]
    lines += ["", HEADER]
    lines += [fmt_row(r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    print(f"# wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
