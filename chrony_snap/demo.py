"""`chrony-snap demo`: the whole production path on one machine, in one command.

* a private chronyd on loopback (chrony_snap.sandbox.Sandbox: never touches
  the system clock, random ports, its own socket), given a few hundred
  synthetic NTP clients (IPv4, ::1, some rate-limited) and a trickle of
  traffic every second with occasional bursts and newcomers, so the page moves;
* the snapshot loop (`chrony-snap watch` logic) writing a web root every second;
* nginx on 127.0.0.1:PORT with the site config `chrony-snap nginx-config` prints
  (chrony_snap.nginx.NginxProcess).

Ctrl-C (SIGINT) or SIGTERM stops everything it started, by PID, and removes
its working directory (unless --dir was given).  Nothing is sent anywhere but
127.0.0.0/8 and ::1; reverse DNS is off.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sys
import tempfile
import threading

from chrony_snap import build as B
from chrony_snap.nginx import NginxProcess, PortInUse, find_nginx
from chrony_snap.sandbox import Sandbox, find_chronyd, ipv4_range, ntp_clients, populate
from chrony_snap.watch import Watcher


def say(msg):
    sys.stdout.write(f"chrony-snap demo: {msg}\n")
    sys.stdout.flush()


class Traffic(threading.Thread):
    """Keeps the sandbox's client list alive: every second a handful of known
    clients poll; now and then a burst (rate-limited: drops) or newcomers."""

    def __init__(self, sb, known: list, stop: threading.Event, seed=None):
        super().__init__(name="demo-traffic", daemon=True)
        self.sb, self.known, self.stop = sb, list(known), stop
        self.rnd = random.Random(seed)
        self.next_new = 0
        self.failed = False

    def run(self):
        port = self.sb.ntp_port
        tick = 0
        while not self.stop.wait(1.0):
            tick += 1
            try:
                addrs = self.rnd.sample(self.known, min(len(self.known), self.rnd.randint(3, 12)))
                ntp_clients(port, addrs, per_addr=1, wait=0.2, retries=0)
                if tick % 7 == 0:
                    ntp_clients(port, ["::1"], per_addr=1, wait=0.2, retries=0)
                if self.rnd.random() < 0.08:  # a misbehaving client: a burst, mostly dropped
                    ntp_clients(port, self.rnd.sample(self.known, 1), per_addr=25, wait=0.3, batch=1)
                if tick % 15 == 0 and self.next_new < 200:  # newcomers
                    new = ipv4_range("127.77.0.1", self.next_new + 5)[self.next_new:]
                    self.next_new += 5
                    ntp_clients(port, new, per_addr=1, wait=0.2, retries=1)
                    self.known += new
            except Exception as e:  # noqa: BLE001 - traffic is decoration; the demo goes on
                if not self.failed:
                    B.log(f"demo: synthetic traffic stopped: {type(e).__name__}: {e}")
                    self.failed = True
                return


def demo(port: int = 8080, clients: int = 300, workdir: str | None = None) -> int:
    if not 1 <= port <= 65535:
        B.log(f"demo: bad port {port}")
        return 2
    if not 1 <= clients <= 1_000_000:
        B.log(f"demo: --clients must be between 1 and 1000000, got {clients}")
        return 2
    try:
        find_chronyd()
        find_nginx()
    except FileNotFoundError as e:
        B.log(f"demo: {e}")
        B.log("demo: on Debian/Ubuntu: apt-get install chrony nginx   (or run deploy/demo.sh)")
        return 1

    stop = threading.Event()
    watcher = None

    def on_signal(signum, frame):
        stop.set()
        if watcher is not None:
            watcher.wake.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    os.umask(0o022)  # nginx's workers (another user) read what we write
    created = workdir is None
    if created:
        workdir = tempfile.mkdtemp(prefix="cs-demo-", dir="/tmp")
    workdir = os.path.abspath(workdir)
    sb = web = traffic = None
    rc = 0
    try:
        os.makedirs(workdir, exist_ok=True)
        os.chmod(workdir, 0o755)
        out = os.path.join(workdir, "www")
        state = os.path.join(workdir, "state")
        cfg = os.path.join(workdir, "config.toml")
        with open(cfg, "w") as f:
            f.write('# chrony-snap demo\n[dns]\nenabled = false\n\n[page]\ntitle = "chrony-snap demo"\n')

        sb = Sandbox(os.path.join(workdir, "chrony"))
        sb.start()
        say(f"private chronyd (pid {sb.pid}) on 127.0.0.1:{sb.ntp_port}, socket {sb.socket}")
        limited = max(2, clients // 30)
        sent = populate(sb, clients=clients, limited=limited, cmd=3)
        say(f"{len(sent)} synthetic clients ({limited} rate-limited, ::1, 3 on the command port)")
        if stop.is_set():
            return 0

        if B.build(out, cfg, None, str(sb.socket), state) not in (0,):
            raise RuntimeError("the first snapshot failed (see above)")
        try:
            web = NginxProcess(out, port, workdir=os.path.join(workdir, "nginx"),
                               die_with_parent=True).start()
        except PortInUse:
            raise RuntimeError(f"port {port} on 127.0.0.1 is busy: "
                               f"try chrony-snap demo --port {port + 1}") from None
        traffic = Traffic(sb, [a for a, v in sent.items() if a != "::1" and not v["cmd_sent"]], stop)
        traffic.start()
        say(f"nginx (pid {web.pid}) serving {out}")
        say(f"dashboard: http://127.0.0.1:{port}/   (data: http://127.0.0.1:{port}/data.json)")
        say("Ctrl-C to stop")

        watcher = Watcher(out, cfg, None, str(sb.socket), state, 1.0)

        def check(w):
            problem = None
            if not web.running:
                problem = "nginx exited"
            elif not sb.running:
                problem = "chronyd exited"
            if problem and not stop.is_set():
                B.log(f"demo: {problem}; stopping")
                check.failed = True
                stop.set()

        check.failed = False
        if not stop.is_set():
            rc = watcher.run(stop, on_tick=check)
        if check.failed:
            rc = 1
    except (RuntimeError, OSError, ValueError) as e:
        B.log(f"demo: {e}")
        rc = 1
    finally:
        stop.set()
        if traffic is not None:
            traffic.join(5)
        if web is not None:
            web.stop()
        if sb is not None:
            sb.stop()
        for s, h in old.items():
            signal.signal(s, h)
        if created:
            shutil.rmtree(workdir, ignore_errors=True)
        say("stopped" + (f"; kept {workdir}" if not created else ""))
    return rc
