"""When the engine first saw each client (data.json's `first_seen`), kept in
the state directory as firstseen.bin: the clients' addresses, one
newline-separated text in chronyd's listing order, and each one's JSON member
',"first_seen":"<RFC 3339>"' (one string object per distinct time, so the
file stays small), stored as written so that the per-second loop only looks
it up (clients.py).

The per-tick cost is the point of this layout: chronyd lists a steady client
set in the same order tick after tick, and prev.bin (loaded anyway) holds
the previous listing, so when the file's text matches it the map is built
on prev.bin's strings (no new strings, their hashes known), and the file is
written again only when the listing changed (a client came or went, or the
order moved).

Unlike the other state files this one is not a cache (a lost file forgets
when clients arrived), so it has its own format tag, independent of
state.FORMAT: an upgrade that changes the other files keeps it, and version
1 files (a {address: member} map) are still read.  A file that cannot be
trusted is set aside as firstseen.bin.corrupt (replacing an older one) with
a warning, never silently overwritten.  It is bounded by the client list:
each save holds only the addresses chronyd listed, so it is pruned with the
clients chronyd forgets.
"""

import marshal
import os

from chrony_snap import state as S
from chrony_snap.writer import atomic_write

NAME = "firstseen.bin"
TAG = "chrony-snap first-seen"
VERSION = 2
_DIGITS = frozenset("0123456789")
_HEAD = ',"first_seen":"'
NOTHING = (None, False)  # load()'s "stored" when there is no file


def member(text: str) -> str:
    """An RFC 3339 text -> the client's JSON member."""
    return f'{_HEAD}{text}"'


def time_of(m: str) -> str:
    """member()'s inverse."""
    return m[len(_HEAD) : -1]


def _valid_member(v) -> bool:
    return v.__class__ is str and v.startswith(_HEAD) and v[-1:] == '"' and valid_time(time_of(v))


def valid_time(v) -> bool:
    """Exactly snapshot.rfc3339(ms=False)'s shape, so that a value is safe to
    write into JSON as is."""
    if v.__class__ is not str or len(v) != 20 or v[19] != "Z":
        return False
    if v[4] != "-" or v[7] != "-" or v[10] != "T" or v[13] != ":" or v[16] != ":":
        return False
    return _DIGITS.issuperset(v[0:4] + v[5:7] + v[8:10] + v[11:13] + v[14:16] + v[17:19])


def _check(data: bytes, listed) -> tuple:
    """firstseen.bin's bytes -> (the map, (the stored address text or None
    for a version 1 file, whether it is `listed` in the same order));
    ValueError saying what is wrong.  Only the values are checked (they are
    written into data.json as they are): the addresses are only looked up,
    and a save writes chronyd's own."""
    try:
        obj = marshal.loads(data)
    except Exception as e:  # noqa: BLE001 - foreign bytes can fail in many ways
        raise ValueError(f"unreadable ({type(e).__name__})") from None
    if obj.__class__ is not tuple or len(obj) < 3 or obj[0] != TAG:
        raise ValueError("not a first-seen file")
    if obj[1] == 1 and len(obj) == 3 and obj[2].__class__ is dict:
        seen, text, members = obj[2], None, obj[2].values()
    elif obj[1] == VERSION and len(obj) == 4:
        text, members = obj[2], obj[3]
        if text.__class__ is not str or members.__class__ is not tuple:
            raise ValueError("not a list of addresses and times")
        if len(members) != (text.count("\n") + 1 if members else 0) or (not members and text):
            raise ValueError("holding more addresses than times, or fewer")
        if len(members) == len(listed) and text == "\n".join(listed):
            seen = dict(zip(listed, members, strict=True))  # the previous tick's strings: no new ones
            return _checked(seen, members), (text, True)
        seen = dict(zip(text.split("\n"), members, strict=True)) if members else {}
    else:
        raise ValueError(f"of another format ({obj[1]!r:.20})")
    return _checked(seen, members), (text, False)


def _checked(seen, members):
    # most clients share a few values (those first seen in the same tick): check each once
    if not all(_valid_member(v) for v in set(members)):
        raise ValueError("holding values that are not times")
    return seen


def load(state_dir: str | None, warn, listed=()) -> tuple:
    """(the map, what is stored: for save_if_changed) -- ({}, NOTHING) when
    there is none yet, (None, NOTHING) without a state directory.  listed:
    the previous tick's addresses in order (prev.bin's clients)."""
    if state_dir is None:
        return None, NOTHING
    path = os.path.join(state_dir, NAME)
    try:
        return _check(S.read_regular(path, S.MAX_STATE, os.geteuid()), listed)
    except FileNotFoundError:
        return {}, NOTHING
    except OSError as e:
        warn(f"cannot read {path}: {e.strerror}; first-seen times start again")
        return {}, NOTHING
    except ValueError as e:
        aside = path + ".corrupt"
        try:
            os.replace(path, aside)
        except OSError as e2:
            warn(f"{path} is {e}, and cannot be set aside ({e2.strerror}); first-seen times start again")
            return {}, NOTHING
        warn(f"{path} is {e}; set aside as {aside}, first-seen times start again")
        return {}, NOTHING


def save_if_changed(state_dir: str, stored: tuple, prev: dict, new_prev: dict, unkeyed: list, seen: dict):
    """Writes the listed clients' times (new_prev's addresses, then the
    unkeyed ones: chronyd's order), unless the file holds exactly those.
    stored: load()'s; prev: the `listed` given to load(); seen holds every
    listed client."""
    text, aligned = stored
    n = len(new_prev) + len(unkeyed)
    if aligned and len(seen) == n == len(prev):
        # the file holds prev's addresses, nobody new joined them (seen grew by
        # none) and as many are listed: the same set, so nothing to write (an
        # order that moved nonetheless makes the next load() take its slow path,
        # and that tick writes it)
        return
    listed = [*new_prev, *unkeyed]
    new_text = "\n".join(listed)
    if new_text != text:
        data = marshal.dumps((TAG, VERSION, new_text, tuple([seen[a] for a in listed])))
        atomic_write(os.path.join(state_dir, NAME), data, mode=0o640)
