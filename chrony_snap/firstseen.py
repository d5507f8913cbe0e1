"""When the engine first saw each client (data.json's `first_seen`), kept in
the state directory as firstseen.bin: {address: the client's JSON member
',"first_seen":"<RFC 3339>"'}, stored as written so that the per-second loop
only looks it up (clients.py).

Unlike the other state files this one is not a cache (a lost file forgets
when clients arrived), so it has its own format tag, independent of
state.FORMAT: an upgrade that changes the other files keeps it.  A file that
cannot be trusted is set aside as firstseen.bin.corrupt (replacing an older
one) with a warning, never silently overwritten.  It is bounded by the
client list: each tick keeps only the addresses chronyd listed (the encoder
builds the new map), so it is pruned with the clients chronyd forgets.
"""

import marshal
import os
import time

from chrony_snap import state as S
from chrony_snap.writer import atomic_write

NAME = "firstseen.bin"
TAG = "chrony-snap first-seen"
VERSION = 1
_DIGITS = frozenset("0123456789")
_HEAD = ',"first_seen":"'


def rfc3339(epoch: float) -> str:
    """Whole seconds, UTC: 2026-12-03T14:32:13Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))


def member(text: str) -> str:
    """An RFC 3339 text -> the client's JSON member."""
    return f'{_HEAD}{text}"'


def time_of(m: str) -> str:
    """member()'s inverse."""
    return m[len(_HEAD) : -1]


def _valid_member(v) -> bool:
    return v.__class__ is str and v.startswith(_HEAD) and v[-1:] == '"' and valid_time(time_of(v))


def valid_time(v) -> bool:
    """Exactly rfc3339()'s shape, so that a value is safe to write into JSON as is."""
    if v.__class__ is not str or len(v) != 20 or v[19] != "Z":
        return False
    if v[4] != "-" or v[7] != "-" or v[10] != "T" or v[13] != ":" or v[16] != ":":
        return False
    return _DIGITS.issuperset(v[0:4] + v[5:7] + v[8:10] + v[11:13] + v[14:16] + v[17:19])


def _check(data: bytes) -> dict:
    """firstseen.bin's bytes -> the map; ValueError saying what is wrong."""
    try:
        obj = marshal.loads(data)
    except Exception as e:  # noqa: BLE001 - foreign bytes can fail in many ways
        raise ValueError(f"unreadable ({type(e).__name__})") from None
    if obj.__class__ is not tuple or len(obj) != 3 or obj[0] != TAG:
        raise ValueError("not a first-seen file")
    if obj[1] != VERSION:
        raise ValueError(f"of another format ({obj[1]!r:.20})")
    seen = obj[2]
    if seen.__class__ is not dict:
        raise ValueError("not a map")
    # most clients share a few values (those first seen in the same tick): check each once
    if not all(_valid_member(v) for v in set(seen.values())) or not all(k.__class__ is str for k in seen):
        raise ValueError("holding values that are not addresses and times")
    return seen


def load(state_dir: str | None, warn) -> dict | None:
    """The map, {} when there is none yet, None without a state directory."""
    if state_dir is None:
        return None
    path = os.path.join(state_dir, NAME)
    try:
        return _check(S.read_regular(path, S.MAX_STATE, os.geteuid()))
    except FileNotFoundError:
        return {}
    except OSError as e:
        warn(f"cannot read {path}: {e.strerror}; first-seen times start again")
        return {}
    except ValueError as e:
        aside = path + ".corrupt"
        try:
            os.replace(path, aside)
        except OSError as e2:
            warn(f"{path} is {e}, and cannot be set aside ({e2.strerror}); first-seen times start again")
            return {}
        warn(f"{path} is {e}; set aside as {aside}, first-seen times start again")
        return {}


def save(state_dir: str, seen: dict):
    atomic_write(os.path.join(state_dir, NAME), marshal.dumps((TAG, VERSION, seen)), mode=0o640)
