"""`chrony-snap demo`: the whole production path on one machine, in one command.

* a private chronyd on loopback (chrony_snap.harness.sandbox.Sandbox: never touches
  the system clock, random ports, its own socket), given a few hundred
  synthetic NTP clients (IPv4, ::1, some rate-limited) and a trickle of
  traffic every second with occasional bursts and newcomers, so the page moves;
* the snapshot loop (`chrony-snap watch` logic) writing a web root every second;
* nginx on 127.0.0.1:PORT with the site config `chrony-snap nginx-config` prints
  (chrony_snap.harness.nginx.NginxProcess).

Ctrl-C (SIGINT) or SIGTERM stops everything it started, by PID, and removes
its working directory (unless --dir was given).  Nothing is sent anywhere but
127.0.0.0/8 and ::1; reverse DNS is off.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading

from chrony_snap import build as B
from chrony_snap.harness.nginx import NginxProcess, PortInUse, find_nginx
from chrony_snap.harness.sandbox import Sandbox, find_chronyd, populate
from chrony_snap.harness.traffic import Traffic
from chrony_snap.watch import Shutdown, Watcher


def say(msg):
    sys.stdout.write(f"chrony-snap demo: {msg}\n")
    sys.stdout.flush()


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

    with Shutdown() as shutdown:
        return _run(shutdown, port, clients, workdir)


def _run(shutdown, port, clients, workdir) -> int:
    stop = threading.Event()  # the traffic thread's; never set in a signal handler
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
        watcher = Watcher(out, cfg, None, str(sb.socket), state, 1.0, waker=shutdown.waker)
        first = 0 if shutdown() else watcher.tick(shutdown, render_page=True)  # nginx serves it next
        if shutdown():
            return 0
        if first != 0:
            raise RuntimeError("the first snapshot failed (see above)")
        try:
            web = NginxProcess(out, port, workdir=os.path.join(workdir, "nginx"), die_with_parent=True).start()
        except PortInUse:
            raise RuntimeError(f"port {port} on 127.0.0.1 is busy: try chrony-snap demo --port {port + 1}") from None
        traffic = Traffic(sb, [a for a, v in sent.items() if a != "::1" and not v["cmd_sent"]], stop)
        traffic.start()
        say(f"nginx (pid {web.pid}) serving {out}")
        say(f"dashboard: http://127.0.0.1:{port}/   (data: /data.json, Prometheus: /metrics)")
        say("Ctrl-C to stop")

        def check(w):
            problem = None
            if not web.running:
                problem = "nginx exited"
            elif not sb.running:
                problem = "chronyd exited"
            if problem and not shutdown():
                B.log(f"demo: {problem}; stopping")
                check.failed = True
                shutdown.request()

        check.failed = False
        rc = watcher.run(shutdown, on_tick=check)
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
        if created:
            shutil.rmtree(workdir, ignore_errors=True)
        say("stopped" + (f"; kept {workdir}" if not created else ""))
    return rc
