"""State kept between ticks (I/O edge), in files written atomically:
state.bin (seq, cached config, chronyc version, problems already logged),
prev.bin (each client's previous counters, for rates), dns.bin (the name
cache), names.bin (the parsed dns.names_file, rewritten only when the file
changes).  The small one is read before chronyc starts (it holds the config);
the large ones while chronyc runs.

Stored with ``marshal`` (a builtin: no import cost).  State is a cache, never
an authority: a file that is missing, unreadable, foreign, from another
format, not a regular file or not owned by the running user starts fresh
with a warning, and a state directory that others may write is not used at
all.  Readers re-check every value they take from it.  A lock file makes a
second concurrent run skip instead of racing.
"""

import marshal
import os
import stat

from chrony_snap.writer import atomic_write

DEFAULT_DIR = "/var/lib/chrony-snap"
FORMAT = 3
MAX_STATE = 256 << 20  # prev.bin at 100k clients is ~3 MB


class Busy(Exception):
    pass


class Untrusted(OSError):
    pass


def _check_dir(state_dir: str):
    st = os.stat(state_dir)
    if not stat.S_ISDIR(st.st_mode):
        raise Untrusted(f"{state_dir} is not a directory")
    if st.st_uid != os.geteuid():
        raise Untrusted(f"{state_dir} belongs to uid {st.st_uid}, not to this user (uid {os.geteuid()})")
    if st.st_mode & 0o022:
        raise Untrusted(f"{state_dir} is writable by group or others (mode {stat.S_IMODE(st.st_mode):o})")


class locked:
    """`with locked(dir, warn) as d:` takes DIR/lock (flock, non-blocking;
    raises Busy) and gives DIR, or None when the directory cannot be used or
    trusted (the tick then runs without state).  The lock is released on
    every way out."""

    def __init__(self, state_dir: str, warn):
        self.dir, self.warn, self.fd = state_dir, warn, None

    def __enter__(self):
        import fcntl

        try:
            os.makedirs(self.dir, mode=0o750, exist_ok=True)
            _check_dir(self.dir)
            fd = os.open(
                os.path.join(self.dir, "lock"),
                os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK,
                0o644,
            )
        except OSError as e:
            self.warn(
                f"cannot use state directory {self.dir}: {e.strerror or e}; running without state "
                "(no rates, no DNS cache, problems logged every run)"
            )
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if isinstance(e, BlockingIOError):
                raise Busy(f"another chrony-snap run holds {self.dir}/lock") from None
            self.warn(f"cannot lock {self.dir}/lock: {e.strerror}; running without state")
            return None
        self.fd = fd
        return self.dir

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def open_regular(path: str, flags: int = 0) -> tuple[int, os.stat_result]:
    """(fd, fstat) of a regular file open for reading.  Never blocks on a
    FIFO or a device (O_NONBLOCK, then fstat).  Raises OSError
    (FileNotFoundError when missing) or ValueError when it is not one."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def read_regular(path: str, limit: int, owner: int | None = None) -> bytes:
    """A regular file's bytes, at most `limit` (see open_regular).  Raises
    OSError or ValueError saying what is wrong with it."""
    fd, st = open_regular(path)
    try:
        if owner is not None and st.st_uid != owner:
            raise ValueError(f"owned by uid {st.st_uid}, not by this user")
        if st.st_size > limit:
            raise ValueError(f"larger than {limit >> 20} MiB")
        chunks = []
        size = 0
        while True:
            b = os.read(fd, max(65536, st.st_size + 1 - size))
            if not b:
                return b"".join(chunks)
            size += len(b)
            if size > limit:
                raise ValueError(f"larger than {limit >> 20} MiB")
            chunks.append(b)
    finally:
        os.close(fd)


def load(state_dir: str | None, name: str, warn) -> dict:
    if state_dir is None:
        return {}
    path = os.path.join(state_dir, f"{name}.bin")
    try:
        data = read_regular(path, MAX_STATE, os.geteuid())
    except FileNotFoundError:
        return {}
    except OSError as e:
        warn(f"cannot read state {path}: {e.strerror}; starting fresh")
        return {}
    except ValueError as e:
        warn(f"state {path} is {e}; not using it, starting fresh")
        return {}
    try:
        fmt, st = marshal.loads(data)
    except Exception as e:  # noqa: BLE001 - foreign bytes can fail in many ways
        warn(f"state {path} is unreadable ({type(e).__name__}); starting fresh")
        return {}
    if fmt != FORMAT or st.__class__ is not dict:
        age = "newer" if fmt.__class__ is int and fmt > FORMAT else "older or another"
        warn(f"state {path} was written by an {age} chrony-snap (format {fmt!r:.20}); starting fresh")
        return {}
    return st


def save(state_dir: str, name: str, st: dict):
    atomic_write(os.path.join(state_dir, f"{name}.bin"), marshal.dumps((FORMAT, st)), mode=0o640)


def seq_from_snapshot(path: str, warn) -> int:
    """The seq of an existing data.json (read from its first bytes), else 0.

    data.json starts with schema_version, generated_at and seq, so the last
    published seq survives a lost state directory and never goes backwards.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            warn(f"{path} is not a regular file; the next snapshot replaces it")
            return 0
        head = os.read(fd, 256)
    except OSError:
        return 0
    finally:
        os.close(fd)
    i = head.find(b'"seq":')
    if i < 0:
        return 0
    j = i + 6
    k = j
    while k < len(head) and k - j < 19 and 48 <= head[k] <= 57:
        k += 1
    return int(head[j:k]) if k > j else 0
