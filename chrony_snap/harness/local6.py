"""An IPv6 /48 on loopback, for the demo's and the tests' synthetic clients.

lo holds one IPv6 address, ::1.  `ip -6 route add local PREFIX dev lo`
makes a whole prefix local: a datagram to any address in it is delivered on
lo, so chronyd's replies to clients "from" that prefix never leave the host.
Sockets bind to such an address with IPV6_FREEBIND (sandbox._blast).

This changes the host's routing table, so it is done only as root and only
for this process's prefix: a unique-local fd63:736e:XXXX::/48 (XXXX from the
pid), added on entry and deleted on exit (the demo exits through it on
Ctrl-C and SIGTERM too; atexit is a backstop).  A route that is already
there is never adopted (another run may own it).  A run killed with SIGKILL
leaves its route behind; `remove_command` says how to delete it.
"""

from __future__ import annotations

import atexit
import ipaddress
import os
import shutil
import subprocess

from chrony_snap.harness.sandbox import _SBIN_PATH, LOCAL6

_ULA = ipaddress.IPv6Network("fc00::/7")


def prefix_for(pid: int) -> ipaddress.IPv6Network:
    return ipaddress.IPv6Network(f"fd63:736e:{pid & 0xFFFF:x}::/48")


class LocalIPv6Prefix:
    """Context manager: `active` once the route is in place, else `reason`
    says why not (not root, no `ip`, the route exists already)."""

    def __init__(self, prefix=None):
        self.prefix = ipaddress.IPv6Network(prefix) if prefix else prefix_for(os.getpid())
        if self.prefix.prefixlen < 48 or not self.prefix.subnet_of(_ULA):
            raise ValueError(f"{self.prefix}: only a unique-local prefix of /48 or longer")
        self.active = False
        self.reason = None
        self._ip = None

    @property
    def remove_command(self) -> str:
        return f"ip -6 route del local {self.prefix} dev lo"

    def _route(self, verb):
        return subprocess.run(
            [self._ip, "-6", "route", verb, "local", str(self.prefix), "dev", "lo"],
            capture_output=True,
            text=True,
            timeout=10,
        )

    def __enter__(self) -> LocalIPv6Prefix:
        self._ip = shutil.which("ip", path=_SBIN_PATH)
        if os.geteuid() != 0:
            self.reason = "not root: the host's routing table is left alone"
        elif not self._ip:
            self.reason = "no `ip` command (apt-get install iproute2)"
        else:
            r = self._route("add")
            if r.returncode != 0:
                self.reason = f"`ip -6 route add local {self.prefix} dev lo` failed: {r.stderr.strip()}"
            else:
                self.active = True
                LOCAL6.append(self.prefix)
                atexit.register(self.close)
        return self

    def close(self):
        if not self.active:
            return
        self.active = False
        LOCAL6.remove(self.prefix)  # nothing more is sent from it ...
        self._route("del")  # ... then the route goes

    def __exit__(self, *exc):
        self.close()

    def addresses(self, count: int, subnets: int = 4) -> list[str]:
        """count addresses spread over the first `subnets` /64s of the prefix."""
        base = int(self.prefix.network_address)
        return [str(ipaddress.IPv6Address(base + ((k % subnets) << 64) + 1 + k // subnets)) for k in range(count)]
