"""The demo's synthetic traffic: a trickle of real NTP requests from loopback
addresses to a `Sandbox` chronyd, so the dashboard moves."""

from __future__ import annotations

import random
import threading

from chrony_snap.build import log
from chrony_snap.harness.sandbox import ipv4_range, ntp_clients


class Traffic(threading.Thread):
    """Keeps the sandbox's client list alive: every second a handful of known
    clients poll; now and then a burst (rate-limited: drops) or a burst of
    newcomers from a /24 of their own.  `flapping`: an upstream Sandbox
    stopped every `flap_s` seconds and started again half a period later."""

    def __init__(self, sb, known: list, stop: threading.Event, seed=None, flapping=None, flap_s=60):
        super().__init__(name="demo-traffic", daemon=True)
        self.sb, self.known, self.stop = sb, list(known), stop
        self.flapping, self.flap_s = flapping, flap_s
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
                if tick % 15 == 0 and self.next_new < 40:  # a burst of newcomers, a /24 each
                    self.next_new += 1
                    new = ipv4_range(f"127.77.{self.next_new}.1", 8)
                    ntp_clients(port, new, per_addr=1, wait=0.2, retries=1)
                    self.known += new
                self.flap(tick)
            except Exception as e:  # noqa: BLE001 - traffic is decoration; the demo goes on
                if not self.failed:
                    log(f"demo: synthetic traffic stopped: {type(e).__name__}: {e}")
                    self.failed = True
                return

    def flap(self, tick):
        up = self.flapping
        if up is None:
            return
        phase = tick % self.flap_s
        if phase == 0 and up.running:
            log(f"demo: stopping upstream chronyd (pid {up.pid}): a source goes unreachable")
            up.stop()
        elif phase == self.flap_s // 2 and not up.running:
            up.start()
            log(f"demo: upstream chronyd started again (pid {up.pid})")
