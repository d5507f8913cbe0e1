"""`chrony-snap demo`: the whole production path on one machine, in one command.

* a private chronyd on loopback (chrony_snap.harness.sandbox.Sandbox: never touches
  the system clock, random ports, its own socket), given a few hundred
  synthetic NTP clients (IPv4 from several /24s, ::1, some rate-limited, some
  named by a names file) and a trickle of traffic every second with
  occasional bursts and bursts of newcomers, so the page moves;
* three upstream chronyd servers on loopback (more Sandboxes) as its sources;
  one is stopped for a while every `flap_s` seconds, so a source goes
  unreachable, the health verdict turns degraded, and recovers.  IPv6 clients
  are ::1 only: it is the only IPv6 address on lo, and more would need the
  host's network configuration changed;
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
from chrony_snap.harness.sandbox import Sandbox, find_chronyd, ipv4_range, ntp_clients, populate
from chrony_snap.harness.traffic import Traffic
from chrony_snap.watch import Shutdown, Watcher


def say(msg):
    sys.stdout.write(f"chrony-snap demo: {msg}\n")
    sys.stdout.flush()


UPSTREAMS = 3
EXTRA_NETS = ("127.20.5.1", "127.30.9.1", "127.40.200.1")  # more /24s of clients, 12 each
NAMED = 40  # clients with a name from the demo's names file


def demo(port: int = 8080, clients: int = 300, workdir: str | None = None, flap_s: int = 60) -> int:
    if not 1 <= port <= 65535:
        B.log(f"demo: bad port {port}")
        return 2
    if not 1 <= clients <= 1_000_000:
        B.log(f"demo: --clients must be between 1 and 1000000, got {clients}")
        return 2
    if not 2 <= flap_s <= 86400:
        B.log(f"demo: --flap-s must be between 2 and 86400, got {flap_s}")
        return 2
    try:
        find_chronyd()
        find_nginx()
    except FileNotFoundError as e:
        B.log(f"demo: {e}")
        B.log("demo: on Debian/Ubuntu: apt-get install chrony nginx   (or run deploy/demo.sh)")
        return 1

    with Shutdown() as shutdown:
        return _run(shutdown, port, clients, workdir, flap_s)


def _names_file(path, addresses):
    with open(path, "w") as f:
        f.write("# the demo's static names ([dns] names_file)\n")
        for k, a in enumerate(addresses):
            f.write(f"{a} client-{k + 1}.demo.example\n")


def _run(shutdown, port, clients, workdir, flap_s) -> int:
    stop = threading.Event()  # the traffic thread's; never set in a signal handler
    os.umask(0o022)  # nginx's workers (another user) read what we write
    created = workdir is None
    if created:
        workdir = tempfile.mkdtemp(prefix="cs-demo-", dir="/tmp")
    workdir = os.path.abspath(workdir)
    sb = web = traffic = None
    upstreams = []
    rc = 0
    try:
        os.makedirs(workdir, exist_ok=True)
        os.chmod(workdir, 0o755)
        out = os.path.join(workdir, "www")
        state = os.path.join(workdir, "state")
        cfg = os.path.join(workdir, "config.toml")
        names = os.path.join(workdir, "names")
        for k in range(UPSTREAMS):
            # no rate limit: the demo's chronyd polls them 4 times a second
            up = Sandbox(os.path.join(workdir, f"up{k + 1}"), ratelimit=False, ipv6=False, address=f"127.0.0.{k + 2}")
            upstreams.append(up)
            up.start()
        servers = "\n".join(f"server {u.address} port {u.ntp_port} iburst minpoll -2 maxpoll -2" for u in upstreams)
        sb = Sandbox(os.path.join(workdir, "chrony"), extra_conf=servers)
        sb.start()
        say(f"private chronyd (pid {sb.pid}) on 127.0.0.1:{sb.ntp_port}, socket {sb.socket}")
        say(f"{UPSTREAMS} upstream chronyd servers (pids {', '.join(str(u.pid) for u in upstreams)})")
        with open(cfg, "w") as f:
            f.write(
                f'# chrony-snap demo\n[chrony]\nconf = "{sb.conf_path}"\n'
                f'[dns]\nenabled = false\nnames_file = "{names}"\n\n[page]\ntitle = "chrony-snap demo"\n'
            )
        limited = max(2, clients // 30)
        sent = populate(sb, clients=clients, limited=limited, cmd=3)
        extra = [a for base in EXTRA_NETS for a in ipv4_range(base, 12)]
        ntp_clients(sb.ntp_port, extra, per_addr=1, wait=0.3)
        sent.update({a: {"cmd_sent": 0} for a in extra})
        _names_file(names, list(sent)[:NAMED])
        say(f"{len(sent)} synthetic clients ({limited} rate-limited, ::1, 3 on the command port, several /24s)")
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
        traffic = Traffic(sb, [a for a, v in sent.items() if a != "::1" and not v["cmd_sent"]], stop,
                          flapping=upstreams[-1], flap_s=flap_s)  # fmt: skip
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
        for up in upstreams:
            up.stop()
        if created:
            shutil.rmtree(workdir, ignore_errors=True)
        say("stopped" + (f"; kept {workdir}" if not created else ""))
    return rc
