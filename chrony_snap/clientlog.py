"""chronyd's client-log capacity: how many client records `chronyc clients`
can list at most ("N of M records"), and whether it is full.

chronyd sizes its client log from chrony.conf's `clientloglimit` (bytes;
default 524288).  chrony.conf(5): the default "enables monitoring of up to
4096 IP addresses", and "the number of addresses ... is always a power of 2":
so M = the largest power of 2 <= limit / 128 (chronyd 4.3 holds exactly that
many: tests/test_clientlog_include.py).  The conf is read off the hot path:
one stat per file or directory it read per tick, a re-read only when one of
them changed (cached in state.bin, like dns.py's names file).

chronyd reads `include PATTERN` (a glob) and `confdir DIR...` (DIR/*.conf,
by file name; a name in several directories is read from the first) where
they stand, so the last `clientloglimit` in that order wins; so here.
`sourcedir` files may only hold sources: not read.  Where chronyd would stop
(a file it cannot read, includes nested more than 10 deep or in a loop) the
file is skipped here, and the capacity carries a note saying so.
"""

import os

from chrony_snap import state as S

DEFAULT_LIMIT = 524288  # chronyd's default clientloglimit, bytes
BYTES_PER_RECORD = 128
MAX_CONF = 1 << 20
MAX_LEVEL = 10  # chronyd's MAX_INCLUDE_LEVEL: the main file is level 1
MAX_DIRS = 10  # directories per confdir directive (chronyd's MAX_CONF_DIRS)
MAX_FILES = 200  # files read in all: a bound on a pathological tree
GLOB_MAGIC = "*?["


def records(limit: int) -> int:
    """clientloglimit bytes -> client records chronyd can hold."""
    n = max(1, limit // BYTES_PER_RECORD)
    return 1 << (n.bit_length() - 1)


def directives(text: str) -> list:
    """chrony.conf's text -> the directives that decide the client log, in
    order: ("clientloglimit", bytes), ("noclientlog", None), ("include",
    pattern), ("confdir", [directory, ...]).  A comment is a line that starts
    with one of #;%! (chronyd's rule); a malformed directive is left out."""
    out = []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0][0] in "#;%!":
            continue
        key = words[0].lower()
        if key == "noclientlog":
            out.append((key, None))
        elif key == "clientloglimit" and len(words) == 2 and words[1].isdigit() and len(words[1]) <= 12:
            out.append((key, int(words[1])))
        elif key == "include" and len(words) == 2:
            out.append((key, words[1]))
        elif key == "confdir" and len(words) >= 2:
            out.append((key, words[1 : 1 + MAX_DIRS]))
    return out


def limit_of(steps) -> int | None:
    """Directives in chronyd's reading order -> clientloglimit in bytes (the
    last one wins), DEFAULT_LIMIT when absent; None with `noclientlog`."""
    limit = DEFAULT_LIMIT
    for key, arg in steps:
        if key == "noclientlog":
            return None
        if key == "clientloglimit":
            limit = arg
    return limit


def parse_conf(text: str) -> int | None:
    """One file's text alone -> its clientloglimit (limit_of)."""
    return limit_of(directives(text))


def confdir_files(listings) -> list:
    """[(directory, [names in it]), ...] of one confdir directive -> the files
    chronyd reads, in its order: *.conf by file name, a name present in
    several directories taken from the first."""
    chosen = {}
    for d, names in listings:
        for name in names:
            if name.endswith(".conf") and not name.startswith(".") and name not in chosen:
                chosen[name] = d.rstrip("/") + "/" + name
    return [chosen[name] for name in sorted(chosen)]


def _identity(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def _absolute(path: str) -> str:
    # chronyd runs from / (systemd): a relative path is relative to it
    return os.path.normpath(os.path.join("/", path))


def _include(pattern: str, watched: list) -> list:
    """The files an include pattern names, sorted as glob(3) does (a plain
    path is read whether it exists or not, as chronyd does); the directory
    the pattern lists is watched so a new file is seen."""
    if not any(c in pattern for c in GLOB_MAGIC):
        return [pattern]
    parts = pattern.split("/")
    static = "/".join(parts[: next(i for i, part in enumerate(parts) if any(c in part for c in GLOB_MAGIC))]) or "/"
    watched.append([static, _identity(static)])
    import glob  # only when the conf changed: it imports re, which a tick does not

    return sorted(glob.glob(pattern))


def read_tree(path: str):
    """chrony.conf and what it includes -> (directives in chronyd's reading
    order, [[path, identity], ...] of every file and directory read, notes).
    OSError/ValueError when the main file itself is unreadable."""
    steps, watched, notes = [], [], []
    seen = []  # files read so far: a bound on the tree's size

    def visit(p, level, stack):
        ident = _identity(p)
        watched.append([p, ident])
        if level > MAX_LEVEL:
            notes.append(f"{p}: included more than {MAX_LEVEL} levels deep: skipped")
            return
        if ident is not None and (ident[0], ident[1]) in stack:
            notes.append(f"{p}: includes itself: skipped")
            return
        if len(seen) >= MAX_FILES:
            notes.append(f"{p}: more than {MAX_FILES} files: skipped")
            return
        seen.append(p)
        try:
            text = S.read_regular(p, MAX_CONF).decode("utf-8", "replace")
        except (OSError, ValueError) as e:
            if level == 1:
                raise
            notes.append(f"{p}: not readable ({getattr(e, 'strerror', None) or e}): skipped")
            return
        inner = stack | {(ident[0], ident[1])} if ident is not None else stack
        for key, arg in directives(text):
            if key == "include":
                for f in _include(_absolute(arg), watched):
                    visit(f, level + 1, inner)
            elif key == "confdir":
                listings = []
                for d in map(_absolute, arg):
                    watched.append([d, _identity(d)])
                    try:
                        listings.append((d, os.listdir(d)))
                    except OSError:
                        pass  # chronyd skips a missing directory too
                for f in confdir_files(listings):
                    visit(f, level + 1, inner)
            else:
                steps.append((key, arg))

    visit(path, 1, frozenset())
    return steps, watched, notes


def _cache_valid(cache, path) -> bool:
    if cache.__class__ is not dict or cache.get("path") != path:
        return False
    m, watched, notes = cache.get("capacity"), cache.get("watched"), cache.get("notes")
    if not (m is None or (m.__class__ is int and m > 0)) or watched.__class__ is not list:
        return False
    if notes.__class__ is not list or not all(n.__class__ is str for n in notes):
        return False
    for w in watched:
        if w.__class__ is not list or len(w) != 2 or w[0].__class__ is not str or _identity(w[0]) != w[1]:
            return False
    return bool(watched)


def capacity(ch: dict, cache) -> tuple:
    """(M or None, where M comes from: "config" / "chrony.conf" / None, notes
    about the conf's files, the cache to keep in state.bin).  The config key
    wins over the conf."""
    if ch["client_log_capacity"]:
        return ch["client_log_capacity"], "config", [], {}
    path = ch["conf"]
    if not path:
        return None, None, [], {}
    if _cache_valid(cache, path):
        m = cache["capacity"]
        return m, "chrony.conf" if m else None, cache["notes"], cache
    try:
        steps, watched, notes = read_tree(path)
    except (OSError, ValueError):
        return None, None, [], {}
    limit = limit_of(steps)
    m = records(limit) if limit is not None else None
    return m, "chrony.conf" if m else None, notes, {"path": path, "watched": watched, "capacity": m, "notes": notes}


def summary(count: int | None, cap: int | None, source: str | None, notes=()) -> dict:
    """data.json's `client_log`: {records, capacity, source, full[, notes]}."""
    out = {
        "records": count,
        "capacity": cap,
        "source": source,
        "full": bool(cap and count is not None and count >= cap),
    }
    if notes:
        out["notes"] = list(notes)
    return out
