"""Reverse DNS off the hot path (I/O edge).

Lookups for addresses without a fresh cache entry start in daemon threads at
the beginning of a tick (for addresses known from the previous tick), run
while chronyc is collecting, and are collected at the end with a small extra
wait (dns.budget_ms).  At most dns.max_lookups_per_tick start per tick.  A
lookup still running at the end is abandoned (the process exits without
joining it) and cached as unknown for dns.negative_ttl_s; if none of a tick's
lookups answered in time, DNS pauses for a minute, so a dead resolver costs
one short wait a minute, never a slow tick.

The cache maps address -> (hostname or None, expires_at epoch seconds).
"""

import time

MAX_NAME = 255
BACKOFF_S = 60.0


class Lookups:
    def __init__(self, threads, results, started):
        self.threads = threads
        self.results = results
        self.started = started


def _resolve(addr, results):
    import socket

    # gethostbyaddr, not getnameinfo: some CPython builds (Debian 12's 3.11.2)
    # hold the GIL inside getnameinfo, so a dead resolver would stall the tick
    try:
        name = socket.gethostbyaddr(addr)[0]
    except (OSError, UnicodeError):
        name = None
    if name is not None:
        name = name[:MAX_NAME] or None
    results.append((addr, name))


def parse_names(text: str) -> dict:
    """An /etc/hosts-style names file: 'ADDRESS NAME [ALIAS...]' per line, '#' comments.
    Static names win over DNS (air-gapped sites often have no PTR records)."""
    names = {}
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and words[0] not in names:
            names[words[0]] = words[1][:MAX_NAME]
    return names


MAX_NAMES_FILE = 64 << 20


def load_names(path: str, state_dir: str | None, warn):
    """The names file -> ({address: name}, error or None).  Parsed only when
    the file changes: the parsed dict is kept in STATE_DIR/names.bin, keyed
    by the file's identity and rewritten only then (never in the per-tick
    state).  A file that cannot be used gives an error and no names."""
    import os

    from chrony_snap import state as S

    try:
        s = os.stat(path)
        ident = [path, s.st_ino, s.st_size, s.st_mtime_ns]
        cached = S.load(state_dir, "names", warn)
        if cached.get("ident") == ident and cached.get("names").__class__ is dict:
            bad = cached.get("bad")
            return cached["names"], _names_error(path, bad) if bad.__class__ is str else None
        data = S.read_regular(path, MAX_NAMES_FILE)
    except (OSError, ValueError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        return {}, _names_error(path, f"cannot read it: {why}")
    try:
        text, bad = data.decode("utf-8"), None
    except UnicodeDecodeError:  # keep the good lines, say which are not
        good, skipped = [], []
        for line in data.splitlines():
            try:
                good.append(line.decode("utf-8"))
            except UnicodeDecodeError:
                skipped.append(line)
        text = "\n".join(good)
        bad = f"{len(skipped)} line(s) are not UTF-8 and were skipped; first: {skipped[0][:60]!r}"
    names = parse_names(text)
    if state_dir is not None:
        try:
            S.save(state_dir, "names", {"ident": ident, "names": names, "bad": bad})
        except OSError as e:
            warn(f"cannot save state in {state_dir}: {e.strerror}")
    return names, _names_error(path, bad) if bad else None


def _names_error(path, why):
    return {
        "report": "dns",
        "message": f"dns.names_file {path}: {why}",
        "code": "names_file",
        "hint": "dns.names_file must name a readable regular UTF-8 file of 'ADDRESS NAME' lines "
        '(like /etc/hosts); fix the file, its path or its permissions, or set it to "".',
    }


def valid_cache(cache: dict) -> dict:
    """The name cache as read from a state file, keeping only sane entries."""
    ok = {}
    for a, e in cache.items():
        if (
            a.__class__ is str
            and e.__class__ is tuple
            and len(e) == 2
            and (e[0] is None or (e[0].__class__ is str and len(e[0]) <= MAX_NAME))
            and e[1].__class__ in (int, float)
        ):
            ok[a] = e
    return ok


def is_loopback(a: str) -> bool:
    return a.startswith("127.") or a == "::1"


def candidates(cache: dict, addresses, now: float, limit: int, static=(), skip_loopback=True) -> list:
    out = []
    for a in addresses:
        if a.__class__ is not str or a in static or (skip_loopback and is_loopback(a)):
            continue
        e = cache.get(a)
        if e is None or e[1] <= now:
            out.append(a)
            if len(out) >= limit:
                break
    return out


def start(cache: dict, addresses, now: float, cfg: dict, backoff_until: float, static=()):
    """Start lookups; returns a Lookups handle or None (nothing to do)."""
    if not cfg["enabled"] or now < backoff_until:
        return None
    todo = candidates(cache, addresses, now, cfg["max_lookups_per_tick"], static, cfg["skip_loopback"])
    if not todo:
        return None
    import threading

    results = []
    threads = []
    for a in todo:
        t = threading.Thread(target=_resolve, args=(a, results), daemon=True)
        t.start()
        threads.append(t)
    return Lookups(threads, results, todo)


def finish(lk, cache: dict, now: float, cfg: dict, budget_s: float) -> float:
    """Collect answers into the cache; returns the new backoff_until (0 = none)."""
    if lk is None:
        return 0.0
    end = time.monotonic() + budget_s
    for t in lk.threads:
        left = end - time.monotonic()
        if left <= 0:
            break
        t.join(left)
    answered = dict(lk.results)
    for a in lk.started:
        if a in answered:
            name = answered[a]
            cache[a] = (name, now + (cfg["ttl_s"] if name else cfg["negative_ttl_s"]))
        else:
            cache[a] = (None, now + cfg["negative_ttl_s"])
    return 0.0 if answered else now + BACKOFF_S


def prune(cache: dict, now: float, keep) -> None:
    """Drop expired entries of addresses no longer listed (bounded cache)."""
    dead = [a for a, e in cache.items() if e[1] <= now and a not in keep]
    for a in dead:
        del cache[a]
