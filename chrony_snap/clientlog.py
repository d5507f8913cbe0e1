"""chronyd's client-log capacity: how many client records `chronyc clients`
can list at most ("N of M records"), and whether it is full.

chronyd sizes its client log from chrony.conf's `clientloglimit` (bytes;
default 524288).  chrony.conf(5): the default "enables monitoring of up to
4096 IP addresses", and "the number of addresses ... is always a power of 2":
so M = the largest power of 2 <= limit / 128, an estimate of chronyd's own
arithmetic.  The conf is read off the hot path: one stat per tick, a re-read
only when the file's identity changes (cached in state.bin, like dns.py's
names file).  Only the file itself is read: a clientloglimit in a confdir or
include file is not seen (set `chrony.client_log_capacity` then).
"""

import os

from chrony_snap import state as S

DEFAULT_LIMIT = 524288  # chronyd's default clientloglimit, bytes
BYTES_PER_RECORD = 128
MAX_CONF = 1 << 20


def records(limit: int) -> int:
    """clientloglimit bytes -> client records chronyd can hold."""
    n = max(1, limit // BYTES_PER_RECORD)
    return 1 << (n.bit_length() - 1)


def parse_conf(text: str) -> int | None:
    """chrony.conf's text -> clientloglimit in bytes (the last directive wins,
    as in chronyd), DEFAULT_LIMIT when absent; None with `noclientlog`."""
    limit = DEFAULT_LIMIT
    for line in text.splitlines():
        words = line.split()
        if not words or words[0][0] in "#;%!":
            continue
        key = words[0].lower()
        if key == "noclientlog":
            return None
        if key == "clientloglimit" and len(words) >= 2 and words[1].isdigit() and len(words[1]) <= 12:
            limit = int(words[1])
    return limit


def _identity(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def capacity(ch: dict, cache) -> tuple[int | None, str | None, dict]:
    """(M or None, where M comes from: "config" / "chrony.conf" / None, the
    cache to keep in state.bin).  The config key wins over the conf."""
    if ch["client_log_capacity"]:
        return ch["client_log_capacity"], "config", {}
    path = ch["conf"]
    if not path:
        return None, None, {}
    ident = _identity(path)
    if ident is None:
        return None, None, {}
    if cache.__class__ is dict and cache.get("path") == path and cache.get("identity") == ident:
        m = cache.get("capacity")
        if m is None or (m.__class__ is int and m > 0):
            return m, "chrony.conf" if m else None, cache
    try:
        text = S.read_regular(path, MAX_CONF).decode("utf-8", "replace")
    except (OSError, ValueError):
        return None, None, {}
    limit = parse_conf(text)
    m = records(limit) if limit is not None else None
    return m, "chrony.conf" if m else None, {"path": path, "identity": ident, "capacity": m}


def summary(count: int | None, cap: int | None, source: str | None) -> dict:
    """data.json's `client_log`: {records, capacity, source, full}."""
    return {
        "records": count,
        "capacity": cap,
        "source": source,
        "full": bool(cap and count is not None and count >= cap),
    }
