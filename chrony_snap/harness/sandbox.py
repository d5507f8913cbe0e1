"""A real, private chronyd on loopback, for tests, benchmarks and the demo.

Stdlib only. Linux only (all of 127.0.0.0/8 is routed to ``lo`` there, so a
socket can be bound to any 127.x.y.z address without setup).

* :class:`Sandbox` writes a chrony.conf into its own 0700 directory and runs
  ``chronyd -x -d -u root -f CONF`` (``-x``: never touches the system clock,
  ``-d``: foreground, log to stderr), NTP server on 127.0.0.1 (and ::1), UDP
  command port on 127.0.0.1 (and ::1), Unix command socket ``root/chronyd.sock``.
* :func:`ntp_clients` sends real 48-byte NTP mode-3 requests from many distinct
  loopback source addresses; :func:`cmd_clients` replays a real ``chronyc
  tracking`` request packet to the UDP command port from such addresses, so
  chronyd's ``clients`` report gets NTP and Cmd rows for them.
* :func:`populate` combines both into a known, checkable client list.

Network rule: every packet sent by this module goes to 127.0.0.0/8 or ::1,
from 127.0.0.0/8, ::1 or a prefix harness.local6 routed to lo for the time
being; anything else is refused with ValueError before a single packet is
sent.
"""

from __future__ import annotations

import atexit
import functools
import ipaddress
import os
import pathlib
import pwd
import random
import select
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

__all__ = [
    "Sandbox",
    "ipv4_range",
    "ntp_clients",
    "cmd_clients",
    "populate",
    "find_chronyd",
    "find_chronyc",
]

_SBIN_PATH = os.pathsep.join(
    [os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin", "/bin"]
)

# chronyc binds its own reply socket next to the server socket, named
# "chronyc.<pid>.sock" (pid up to 7 digits); sun_path holds 107 chars + NUL.
_MAX_ROOT_LEN = 107 - len("/chronyc.4194304.sock")

NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01


def find_chronyd() -> str:
    """Absolute path of chronyd (also looks in the sbin dirs, which non-root PATHs lack)."""
    p = shutil.which("chronyd", path=_SBIN_PATH)
    if not p:
        raise FileNotFoundError("chronyd not found (apt-get install chrony)")
    return p


def find_chronyc() -> str:
    p = shutil.which("chronyc", path=_SBIN_PATH)
    if not p:
        raise FileNotFoundError("chronyc not found (apt-get install chrony)")
    return p


# --------------------------------------------------------------------------
# address helpers (the network rule lives here)
# --------------------------------------------------------------------------

_LOOP4 = ipaddress.IPv4Network("127.0.0.0/8")
_LOOP6 = ipaddress.IPv6Address("::1")
# IPv6 prefixes routed to lo while a harness.local6.LocalIPv6Prefix is open:
# the one extension of the network rule (their replies stay on lo too)
LOCAL6: list = []
IPV6_FREEBIND = 78  # linux/in6.h (Python 3.11's socket module lacks the name)


def _loopback(addr) -> tuple[int, str]:
    """(family, canonical text) of a loopback address; ValueError for anything else."""
    try:
        ip = ipaddress.ip_address(str(addr).strip())
    except ValueError:
        raise ValueError(f"not an IP address: {addr!r}") from None
    if ip.version == 4:
        if ip not in _LOOP4:
            raise ValueError(f"refusing non-loopback address {addr!r} (only 127.0.0.0/8 and ::1)")
        return socket.AF_INET, str(ip)
    if ip != _LOOP6 and not any(ip in net for net in LOCAL6):
        raise ValueError(f"refusing non-loopback address {addr!r} (only 127.0.0.0/8, ::1 and a routed local prefix)")
    return socket.AF_INET6, str(ip)


def _server_for(family: int) -> str:
    return "127.0.0.1" if family == socket.AF_INET else "::1"


def _check_port(port) -> int:
    port = int(port)
    if not 1 <= port <= 65535:
        raise ValueError(f"bad port {port}")
    return port


def ipv4_range(base: str, count: int) -> list[str]:
    """``count`` consecutive IPv4 addresses from ``base``, all inside 127.0.0.0/8.

    >>> ipv4_range("127.1.0.1", 3)
    ['127.1.0.1', '127.1.0.2', '127.1.0.3']
    """
    count = int(count)
    if count < 0:
        raise ValueError("count must be >= 0")
    try:
        first = ipaddress.IPv4Address(str(base).strip())
    except ValueError:
        raise ValueError(f"not an IPv4 address: {base!r}") from None
    if first not in _LOOP4:
        raise ValueError(f"refusing non-loopback base address {base!r} (only 127.0.0.0/8)")
    if count and (first + (count - 1)) not in _LOOP4:
        raise ValueError(f"{base} + {count} addresses leaves 127.0.0.0/8")
    b = int(first)
    return [str(ipaddress.IPv4Address(b + i)) for i in range(count)]


# --------------------------------------------------------------------------
# packet engine: many source addresses, non-blocking sockets, poll()
# --------------------------------------------------------------------------


def ntp_request() -> bytes:
    """A 48-byte NTP client request: LI 0, VN 4, mode 3, current transmit timestamp."""
    pkt = bytearray(48)
    pkt[0] = 0x23
    t = time.time() + NTP_EPOCH_OFFSET
    struct.pack_into("!II", pkt, 40, int(t) & 0xFFFFFFFF, int((t % 1) * 2**32) & 0xFFFFFFFF)
    return bytes(pkt)


def _is_ntp_reply(data: bytes) -> bool:
    return len(data) >= 48 and (data[0] & 7) == 4  # mode 4 = server


def _is_cmd_reply(data: bytes) -> bool:
    # chrony command reply: version, pkt_type (2 = reply), ...
    return len(data) >= 2 and data[1] == 2


def _send(s: socket.socket, payload: bytes, dst) -> bool:
    try:
        s.sendto(payload, dst)
        return True
    except BlockingIOError:
        # send buffer full (only under heavy load): block briefly instead of losing it
        s.settimeout(1.0)
        try:
            s.sendto(payload, dst)
            return True
        except OSError:
            return False
        finally:
            s.setblocking(False)
    except OSError:
        return False


def _blast(targets, payload_fn, is_reply, *, per_addr, wait, retries, batch):
    """Send from each (family, src, dst) target; return (sent list, replies list).

    per_addr == 1: addresses without a reply after ``wait`` s are resent to, up to
    ``retries`` times (the kernel may drop datagrams when chronyd's receive buffer
    is full). per_addr > 1: no resend; waiting ends when every socket got per_addr
    replies, after ``wait`` s, or 0.1 s after the last reply (rate-limited replies
    never come).
    """
    n = len(targets)
    sent = [0] * n
    got = [0] * n
    per_addr = int(per_addr)
    if per_addr < 1 or n == 0:
        return sent, got
    batch = max(1, min(int(batch), 4096))
    rounds = 1 + (max(0, int(retries)) if per_addr == 1 else 0)
    idle = min(wait, 0.1)
    for off in range(0, n, batch):
        socks = {}  # fd -> (index, socket)
        try:
            for i in range(off, min(off + batch, n)):
                fam, src, dst = targets[i]
                s = socket.socket(fam, socket.SOCK_DGRAM)
                socks[s.fileno()] = (i, s)
                s.setblocking(False)
                if fam == socket.AF_INET6 and src != "::1":
                    # routed to lo (LOCAL6) but not assigned to it: bind needs freebind
                    s.setsockopt(socket.IPPROTO_IPV6, IPV6_FREEBIND, 1)
                s.bind((src, 0))
            poller = select.poll()
            for fd in socks:
                poller.register(fd, select.POLLIN)
            pending = set(socks)
            for attempt in range(rounds):
                if not pending:
                    break
                for fd in list(pending) if attempt else list(socks):
                    i, s = socks[fd]
                    dst = targets[i][2]
                    for _ in range(per_addr if attempt == 0 else 1):
                        p = payload_fn()
                        if _send(s, p, dst):
                            sent[i] += 1
                deadline = time.monotonic() + wait
                seen_reply = False
                while pending:
                    now = time.monotonic()
                    left = deadline - now
                    if left <= 0:
                        break
                    tmo = min(left, idle) if (seen_reply and per_addr > 1) else left
                    events = poller.poll(tmo * 1000.0)
                    if not events:
                        if seen_reply and per_addr > 1:
                            break
                        continue
                    for fd, _ev in events:
                        i, s = socks[fd]
                        while True:
                            try:
                                data = s.recv(2048)
                            except (BlockingIOError, InterruptedError):
                                break
                            except OSError:  # e.g. ECONNREFUSED from an ICMP error
                                break
                            if is_reply(data):
                                got[i] += 1
                                seen_reply = True
                        if fd in pending and got[i] >= per_addr:
                            pending.discard(fd)
                            poller.unregister(fd)
        finally:
            for _i, s in socks.values():
                s.close()
    return sent, got


def _targets(addresses, port):
    port = _check_port(port)
    out = []
    for a in addresses:
        fam, src = _loopback(a)
        out.append((fam, src, (_server_for(fam), port)))
    return out


def _ntp_detail(port, addresses, *, per_addr=1, wait=0.3, retries=3, batch=256):
    targets = _targets(addresses, port)  # validates everything before sending anything
    return targets, _blast(
        targets, ntp_request, _is_ntp_reply, per_addr=per_addr, wait=wait, retries=retries, batch=batch
    )


def ntp_clients(port, addresses, *, per_addr=1, wait=0.3, retries=3, batch=256) -> tuple[int, int]:
    """Send real NTP client requests to ``port`` from each loopback source address.

    IPv4 127.x.y.z sources talk to 127.0.0.1, ``"::1"`` talks to ::1. ``per_addr``
    requests are sent back to back from each address; with per_addr=1 addresses
    that got no reply are resent to (``retries`` times). Returns (sent, replies).
    100,000 addresses take about 2 s.
    """
    _t, (sent, got) = _ntp_detail(port, addresses, per_addr=per_addr, wait=wait, retries=retries, batch=batch)
    return sum(sent), sum(got)


_capture_lock = threading.Lock()


@functools.lru_cache(maxsize=8)
def capture_cmd_request(command: str = "tracking") -> bytes:
    """The UDP request packet ``chronyc -h 127.0.0.1 -p PORT <command>`` sends.

    chronyc is pointed at a throw-away listener on 127.0.0.1 and killed as soon
    as its first packet arrived.
    """
    with _capture_lock:
        lst = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            lst.bind(("127.0.0.1", 0))
            port = lst.getsockname()[1]
            proc = subprocess.Popen(
                [find_chronyc(), "-n", "-h", "127.0.0.1", "-p", str(port), command],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                lst.settimeout(5.0)
                data, _ = lst.recvfrom(4096)
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
        finally:
            lst.close()
    return data


def _cmd_detail(cmd_port, addresses, *, per_addr=1, wait=0.3, batch=256):
    targets = _targets(addresses, cmd_port)
    req = capture_cmd_request("tracking")
    return targets, _blast(targets, lambda: req, _is_cmd_reply, per_addr=per_addr, wait=wait, retries=0, batch=batch)


def cmd_clients(cmd_port, addresses, *, per_addr=1) -> tuple[int, int]:
    """Make chronyd count command-port ("Cmd") hits from these loopback addresses.

    Replays the request packet of ``chronyc tracking`` ``per_addr`` times from
    each source address to chronyd's UDP command port. Returns (sent, replies).
    No resends (they would change the Cmd counters).
    """
    _t, (sent, got) = _cmd_detail(cmd_port, addresses, per_addr=per_addr)
    return sum(sent), sum(got)


# --------------------------------------------------------------------------
# the sandbox
# --------------------------------------------------------------------------

_RUNNING: set = set()
_RESERVED_PORTS: set[int] = set()
_ports_lock = threading.Lock()


def _ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = f.read().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999


def _udp_port_free(port: int, ipv6: bool) -> bool:
    addrs = [(socket.AF_INET, "127.0.0.1")] + ([(socket.AF_INET6, "::1")] if ipv6 else [])
    for fam, host in addrs:
        s = socket.socket(fam, socket.SOCK_DGRAM)
        try:
            s.bind((host, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def _pick_ports(count: int, ipv6: bool, avoid=()) -> list[int]:
    """Free UDP ports on 127.0.0.1 (and ::1), outside the kernel's ephemeral range
    (so that a client socket cannot grab one between picking and chronyd's bind)."""
    lo, hi = _ephemeral_range()
    candidates = [p for p in range(10000, 32000) if not lo <= p <= hi] or list(range(1024, 65536))
    out: list[int] = []
    with _ports_lock:
        for _ in range(2000):
            p = random.choice(candidates)
            if p in _RESERVED_PORTS or p in out or p in avoid:
                continue
            if _udp_port_free(p, ipv6):
                out.append(p)
                if len(out) == count:
                    _RESERVED_PORTS.update(out)
                    return out
    raise RuntimeError("could not find free UDP ports on loopback")


def _user_ids(user) -> tuple[int, int, list[int], str]:
    pw = pwd.getpwnam(user) if isinstance(user, str) else pwd.getpwuid(int(user))
    try:
        groups = os.getgrouplist(pw.pw_name, pw.pw_gid)
    except OSError:
        groups = [pw.pw_gid]
    return pw.pw_uid, pw.pw_gid, groups, pw.pw_name


def _check_traversable(path: pathlib.Path, uid: int, groups) -> None:
    """ValueError unless user ``uid`` can enter every ancestor of ``path``."""
    if uid == 0:
        return
    for d in reversed(path.parents):
        st = d.stat()
        if st.st_uid == uid:
            ok = st.st_mode & 0o100
        elif st.st_gid in groups:
            ok = st.st_mode & 0o010
        else:
            ok = st.st_mode & 0o001
        if not ok:
            raise ValueError(
                f"user uid={uid} cannot enter {d} (mode {oct(st.st_mode & 0o777)}); "
                f"put the sandbox root under a directory it can traverse, e.g. "
                f"tempfile.mkdtemp(prefix='cs-') + os.chmod(dir, 0o711)"
            )


class Sandbox:
    """A private chronyd on loopback. Use as a context manager or start()/stop().

    Files in ``root`` (created with mode 0700, owned by ``user`` if given):
    chrony.conf, chronyd.sock (Unix command socket), chronyd.pid, chrony.drift,
    chronyd.log (chronyd's stderr; truncated on every start).

    ``noclientlog=True`` leaves out the ratelimit/cmdratelimit lines (chronyd
    refuses to start with both). ``ipv6=False`` also passes ``-4`` to chronyd,
    so nothing is bound on IPv6 at all.
    """

    def __init__(
        self,
        root,
        *,
        ntp_port=None,
        cmd_port=None,
        ratelimit=True,
        cmdratelimit=True,
        clientloglimit=16777216,
        noclientlog=False,
        ipv6=True,
        extra_conf="",
        user=None,
        address="127.0.0.1",
    ):
        self.root = pathlib.Path(root).absolute()
        if len(str(self.root)) > _MAX_ROOT_LEN:
            raise ValueError(
                f"sandbox root path too long ({len(str(self.root))} > {_MAX_ROOT_LEN} chars): "
                f"Unix socket paths are limited to 107 bytes; use e.g. tempfile.mkdtemp(prefix='cs-')"
            )
        self.socket = self.root / "chronyd.sock"
        self.conf_path = self.root / "chrony.conf"
        self.pid_path = self.root / "chronyd.pid"
        self.drift_path = self.root / "chrony.drift"
        self.log_path = self.root / "chronyd.log"
        self.ratelimit = ratelimit
        self.cmdratelimit = cmdratelimit
        self.clientloglimit = int(clientloglimit)
        self.noclientlog = noclientlog
        self.ipv6 = ipv6
        self.extra_conf = extra_conf
        self.user = user
        # the IPv4 address its NTP server binds (another 127.x.y.z: chronyd takes one source per address)
        family, self.address = _loopback(address)
        if family != socket.AF_INET:
            raise ValueError(f"address must be an IPv4 loopback address, got {address!r}")
        self._auto_ports = ntp_port is None or cmd_port is None
        self._fixed_ntp = None if ntp_port is None else _check_port(ntp_port)
        self._fixed_cmd = None if cmd_port is None else _check_port(cmd_port)
        self.ntp_port = self._fixed_ntp
        self.cmd_port = self._fixed_cmd
        self._pick()
        self.pid: int | None = None
        self.returncode: int | None = None
        self._proc: subprocess.Popen | None = None
        self._log = None

    # -- config ---------------------------------------------------------------

    def _pick(self):
        need = [p is None for p in (self._fixed_ntp, self._fixed_cmd)]
        if not any(need):
            return
        avoid = {p for p in (self._fixed_ntp, self._fixed_cmd) if p}
        ports = iter(_pick_ports(sum(need), self.ipv6, avoid))
        self.ntp_port = self._fixed_ntp if self._fixed_ntp else next(ports)
        self.cmd_port = self._fixed_cmd if self._fixed_cmd else next(ports)

    def config(self) -> str:
        L = [
            "# chrony-snap sandbox (generated): loopback only, local clock as reference",
            "local stratum 10",
            f"port {self.ntp_port}",
            f"bindaddress {self.address}",
        ]
        if self.ipv6:
            L.append("bindaddress ::1")
        L.append("allow 127.0.0.0/8")
        if self.ipv6:
            L.append("allow ::1")
        L += [f"cmdport {self.cmd_port}", "bindcmdaddress 127.0.0.1"]
        if self.ipv6:
            L.append("bindcmdaddress ::1")
        L.append("cmdallow 127.0.0.0/8")
        if self.ipv6:
            L.append("cmdallow ::1")
        L += [
            f"bindcmdaddress {self.socket}",
            f"pidfile {self.pid_path}",
            f"driftfile {self.drift_path}",
            f"clientloglimit {self.clientloglimit}",
        ]
        if self.noclientlog:
            # chronyd 4.3: "Fatal error : Rate limiting cannot be enabled with noclientlog"
            L.append("noclientlog")
        else:
            if self.ratelimit:
                L.append("ratelimit interval 1 burst 4")
            if self.cmdratelimit:
                L.append("cmdratelimit interval 1 burst 4")
        if self.extra_conf:
            L.append(self.extra_conf.rstrip("\n"))
        return "\n".join(L) + "\n"

    def _argv(self) -> list[str]:
        argv = [find_chronyd(), "-x", "-d"]
        if not self.ipv6:
            argv.append("-4")
        if self.user is not None:
            argv += ["-U", "-u", _user_ids(self.user)[3]]
        elif os.geteuid() == 0:
            argv += ["-u", "root"]
        else:  # not root and no user given: run as ourselves
            argv += ["-U", "-u", pwd.getpwuid(os.geteuid()).pw_name]
        return argv + ["-f", str(self.conf_path)]

    def _prepare(self):
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        if self.user is not None:
            uid, gid, groups, _name = _user_ids(self.user)
            _check_traversable(self.root, uid, groups)
        else:
            uid, gid = os.geteuid(), os.getegid()
        # chronyd disables the socket unless its directory belongs to the daemon's user
        for p in (self.root, self.drift_path):
            if p.exists() and (p.stat().st_uid, p.stat().st_gid) != (uid, gid):
                os.chown(p, uid, gid)
        for p in (self.socket, self.pid_path):  # stale leftovers of a killed run
            try:
                p.unlink()
            except FileNotFoundError:
                pass
        self.conf_path.write_text(self.config())

    # -- life cycle -----------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def start(self, timeout=10.0) -> Sandbox:
        """Start chronyd; return once `chronyc -h SOCK tracking` answers.

        Raises RuntimeError (with the log tail) if chronyd exits, cannot bind its
        ports, disables its command socket, or does not answer within ``timeout``.
        Automatically chosen ports are re-picked if a bind fails (race with
        another process).
        """
        if self.running:
            return self
        attempts = 4 if self._auto_ports else 1
        for attempt in range(attempts):
            if attempt:
                self._release_ports()
                self._pick()
            err = self._start_once(timeout)
            if err is None:
                return self
            if "Could not open" not in err or attempt == attempts - 1:
                raise RuntimeError(err)
        raise AssertionError("unreachable")

    def _start_once(self, timeout) -> str | None:
        self._prepare()
        kw = {}
        if self.user is not None:
            uid, gid, _g, _n = _user_ids(self.user)
            kw = dict(user=uid, group=gid, extra_groups=[])
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - chronyd's stdout until stop() closes it
        argv = self._argv()
        self._proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, close_fds=True, **kw
        )
        self.pid = self._proc.pid
        self.returncode = None
        _RUNNING.add(self)
        deadline = time.monotonic() + timeout
        problem = None
        while True:
            if self._proc.poll() is not None:
                problem = f"chronyd exited with status {self._proc.returncode}"
                break
            if self.socket.exists():
                r = self.chronyc("-m", "timeout 200", "retries 1", "tracking", csv=True, timeout=5)
                if r.returncode == 0:
                    break
            if "Disabled command socket" in self.log_tail(200):
                problem = "chronyd disabled its command socket"
                break
            if time.monotonic() > deadline:
                problem = f"chronyd did not answer on {self.socket} within {timeout} s"
                break
            time.sleep(0.05)
        if problem is None:
            bad = [
                line
                for line in self.log_tail(200).splitlines()
                if "Could not open" in line or "Disabled command socket" in line
            ]
            if bad:
                problem = "chronyd could not bind: " + "; ".join(bad)
        if problem is None:
            return None
        tail = self.log_tail()
        self.stop()
        return (
            f"{problem} (argv: {' '.join(argv)}; ntp_port={self.ntp_port}, "
            f"cmd_port={self.cmd_port})\n--- {self.log_path} (tail) ---\n{tail}"
        )

    def stop(self):
        """SIGTERM our chronyd (by pid), wait, SIGKILL after 5 s. Idempotent; keeps root/."""
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                try:
                    proc.send_signal(signal.SIGTERM)
                    proc.send_signal(signal.SIGCONT)  # a paused daemon must run to exit
                except ProcessLookupError:
                    pass
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            self.returncode = proc.returncode
            self._proc = None
        self.pid = None
        if self._log is not None:
            self._log.close()
            self._log = None
        _RUNNING.discard(self)

    def _release_ports(self):
        with _ports_lock:
            for p, fixed in ((self.ntp_port, self._fixed_ntp), (self.cmd_port, self._fixed_cmd)):
                if p and not fixed:
                    _RESERVED_PORTS.discard(p)

    def pause(self):
        """SIGSTOP the daemon (simulates a hung chronyd: chronyc then times out)."""
        if self.running:
            os.kill(self._proc.pid, signal.SIGSTOP)

    def resume(self):
        if self.running:
            os.kill(self._proc.pid, signal.SIGCONT)

    def chronyc(self, *args, csv=True, timeout=30.0) -> subprocess.CompletedProcess:
        """Run ``chronyc [-c] -n -h SOCK *args`` (text mode, output captured).

        ``clients -r`` (reset counters) is refused, also as one word of ``-m``
        commands: it would disturb the counters other code is looking at.
        """
        args = [str(a) for a in args]
        words = " ".join(args).split()
        if "clients" in words and "-r" in words[words.index("clients") :]:
            raise ValueError("Sandbox.chronyc refuses a counter reset (clients -r)")
        argv = [find_chronyc()] + (["-c"] if csv else []) + ["-n", "-h", str(self.socket)] + args
        try:
            return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            return subprocess.CompletedProcess(argv, 124, e.stdout or "", e.stderr or "")

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        self._release_ports()
        return False

    def __repr__(self):
        return f"Sandbox(root={str(self.root)!r}, ntp_port={self.ntp_port}, cmd_port={self.cmd_port}, pid={self.pid})"


@atexit.register
def _stop_all():
    for sb in list(_RUNNING):
        try:
            sb.stop()
        except Exception:
            pass


# --------------------------------------------------------------------------
# demo / test traffic
# --------------------------------------------------------------------------


def populate(sandbox, *, clients=300, base="127.10.0.1", limited=10, ipv6=True, cmd=3) -> dict:
    """Give ``sandbox`` a known set of clients. Returns {address: {"ntp_sent": n,
    "burst": bool, "cmd_sent": n}} for exactly the addresses that were sent to.

    * ``clients`` IPv4 addresses base, base+1, ...: one NTP request each (resent
      only if no reply came, so ntp_sent is 1, rarely 2);
    * the ``limited`` next addresses: a burst of 20 NTP requests each
      (with the sandbox's ratelimit, chronyd drops some: Drop > 0);
    * ``::1`` (if ``ipv6``): 3 NTP requests;
    * the ``cmd`` next addresses: command-port hits (no NTP), the first one 40
      (> cmdratelimit burst: Cmd Drop > 0), the others 3 each.
    """
    addrs = ipv4_range(base, clients + limited + cmd)
    plain = addrs[:clients]
    burst = addrs[clients : clients + limited]
    cmds = addrs[clients + limited :]
    out: dict[str, dict] = {}

    def rec(a):
        return out.setdefault(a, {"ntp_sent": 0, "burst": False, "cmd_sent": 0})

    port = sandbox.ntp_port
    t, (sent, _got) = _ntp_detail(port, plain, per_addr=1)
    for (_f, a, _d), n in zip(t, sent, strict=True):
        rec(a)["ntp_sent"] += n
    if burst:
        t, (sent, _got) = _ntp_detail(port, burst, per_addr=20, wait=0.5, batch=16)
        for (_f, a, _d), n in zip(t, sent, strict=True):
            r = rec(a)
            r["ntp_sent"] += n
            r["burst"] = True
    if ipv6:
        t, (sent, _got) = _ntp_detail(port, ["::1"], per_addr=3, wait=0.5)
        rec("::1")["ntp_sent"] += sent[0]
    for k, a in enumerate(cmds):
        t, (sent, _got) = _cmd_detail(sandbox.cmd_port, [a], per_addr=40 if k == 0 else 3, wait=0.5)
        rec(a)["cmd_sent"] += sent[0]
    return out
