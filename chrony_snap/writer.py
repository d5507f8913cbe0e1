"""Atomic file replacement (I/O edge).

Like prometheus_client's write_to_textfile: write a dot-prefixed temp file in
the target directory (nginx refuses dot files), then os.replace() it over the
target.  Readers see the old file or the new one, never a torn one; on any
error the temp file is removed and the old file is untouched.
"""

import os


def atomic_write(path: str, data: bytes, mode: int = 0o644, fsync: bool = False):
    d, name = os.path.split(path)
    tmp = os.path.join(d, f".{name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
