"""State kept between ticks (I/O edge), in three files written atomically:
state.bin (seq, cached config, chronyc version, problems already logged),
prev.bin (each client's previous counters, for rates), dns.bin (the name
cache).  The small one is read before chronyc starts (it holds the config);
the large ones while chronyc runs.

Stored with ``marshal`` (a builtin: no import cost).  Missing or unreadable state starts fresh with a warning;
a lock file makes a second concurrent run skip instead of racing.
"""

import marshal
import os

from chrony_snap.writer import atomic_write

DEFAULT_DIR = "/var/lib/chrony-snap"
FORMAT = 3


class Busy(Exception):
    pass


def lock(state_dir: str):
    """Take STATE_DIR/lock (flock, non-blocking). Returns the fd; raises Busy."""
    import fcntl
    fd = os.open(os.path.join(state_dir, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise Busy(f"another chrony-snap run holds {state_dir}/lock") from None
    return fd


def ensure_dir(state_dir: str):
    os.makedirs(state_dir, mode=0o750, exist_ok=True)


def load(state_dir: str, name: str, warn) -> dict:
    path = os.path.join(state_dir, f"{name}.bin")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return {}
    except OSError as e:
        warn(f"cannot read state {path}: {e.strerror}; starting fresh")
        return {}
    try:
        fmt, st = marshal.loads(data)
        if fmt != FORMAT or not isinstance(st, dict):
            raise ValueError("unknown format")
    except (ValueError, EOFError, TypeError) as e:
        warn(f"state {path} is unreadable ({e}); starting fresh")
        return {}
    return st


def save(state_dir: str, name: str, st: dict):
    atomic_write(os.path.join(state_dir, f"{name}.bin"), marshal.dumps((FORMAT, st)), mode=0o640)


def seq_from_snapshot(path: str) -> int:
    """The seq of an existing data.json (read from its first bytes), else 0.

    data.json starts with schema_version, generated_at and seq, so the last
    published seq survives a lost state directory and never goes backwards.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return 0
    i = head.find(b'"seq":')
    if i < 0:
        return 0
    j = i + 6
    k = j
    while k < len(head) and head[k:k + 1].isdigit():
        k += 1
    return int(head[j:k]) if k > j else 0
