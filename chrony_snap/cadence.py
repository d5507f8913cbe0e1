"""How often the client list is collected: within a CPU budget, slower when
nobody watches.  Pure, but for the two small readers at the end.

A collection costs chrony-snap's own CPU (encoding), chronyc's and chronyd's
(answering ~n/8 requests); each tick that reuses the list costs the copy of
it into data.json (at 100k ~10 ms: 31 MB).  Collecting every `interval`
seconds costs cost/interval + carry of one core: the interval is the smallest
whole number of seconds that keeps this under `clients.cpu_budget`, at most
`clients.max_interval_s`, and the longest when the page's poll log has not
moved for `clients.idle_after_s`.  The cost is a moving average over the
last collections, so one slow tick does not set the cadence for a minute.
"""

import os

from chrony_snap import fields as F

# chronyd's CPU per client and collection where /proc/<pid>/stat cannot be
# read: 20k clients cost chronyd 40-50 ms per `chronyc clients` (issue 11)
CHRONYD_S_PER_CLIENT = 2.5e-6
SMOOTH = 0.3  # weight of the newest collection in the moving average
SLACK_S = 0.5  # ticks are ~1 s apart with jitter: "due" a little early


def interval(cost_s, clients_cfg, idle, carry_s=0.0) -> tuple[float, str]:
    """(seconds between two collections, why): "every tick", "budget", "idle".
    `carry_s`: what a tick that reuses the list spends copying it into
    data.json (once a second): the budget pays that first, the collections
    get the rest."""
    longest = clients_cfg["max_interval_s"]
    if idle:
        return longest, "idle"
    if cost_s is None:
        return 1.0, "every tick"
    room = clients_cfg["cpu_budget"] - carry_s
    if room <= 0:
        return float(longest), "budget"
    need = cost_s / room
    if need <= 1.0:
        return 1.0, "every tick"
    return float(min(longest, -(-need // 1))), "budget"


def due(last, since_boot, boot_id, every_s, force) -> bool:
    """Collect on this tick?  `last`: the kept collection's (boot_id,
    since_boot) or None.  A 1 s interval is "every tick", however close the
    ticks (a run by hand just after the timer's, a timer catching up): the
    slack only keeps a slower cadence from slipping by a tick."""
    if force or last is None or last[0] != boot_id or every_s <= 1.0:
        return True
    return since_boot - last[1] >= every_s - SLACK_S


def smoothed(previous, new):
    if previous.__class__ is not float or previous != previous:
        return new
    return previous + SMOOTH * (new - previous)


def chronyd_cost(before, after, clients):
    """chronyd's CPU for one collection: the /proc delta when both readings
    exist, else the per-client estimate."""
    if before is not None and after is not None and after >= before:
        return after - before, True
    return clients * CHRONYD_S_PER_CLIENT, False


def restarted(prev_serverstats, serverstats) -> bool:
    """chronyd restarted since the previous tick: a serverstats counter went
    back.  Not a gauge: the timestamps held (chrony >= 4.2) go down as
    clients go quiet, and would re-collect the list on most ticks of a busy
    server.  The one rule for serverstats' rates too (snapshot.py)."""
    if prev_serverstats.__class__ is not dict or serverstats.__class__ is not dict:
        return False
    for k, v in serverstats.items():
        p = prev_serverstats.get(k)
        if p.__class__ is int and v.__class__ is int and v < p and k not in F.SERVERSTATS_GAUGES:
            return True
    return False


# ---------------------------------------------------------------- I/O edge


def watched(poll_log, now, idle_after_s) -> bool:
    """Someone polled the page recently: the poll log (nginx's access log of
    the page's per-second file) moved within idle_after_s.  A missing or
    unreadable marker counts as watched: the safe default."""
    try:
        return now - os.stat(poll_log).st_mtime < idle_after_s
    except (OSError, ValueError):
        return True


def chronyd_cpu(pid_file):
    """chronyd's utime+stime in seconds from /proc, or None (no pid file,
    another user's process under ProtectProc=invisible, ...)."""
    try:
        with open(pid_file, "rb") as f:
            pid = int(f.read(32).split()[0])
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read(4096)
        fields = stat[stat.rindex(b")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
