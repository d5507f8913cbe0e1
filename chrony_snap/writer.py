"""Atomic file replacement (I/O edge).

Like prometheus_client's write_to_textfile: write a dot-prefixed temp file in
the target directory (nginx refuses dot files), then os.replace() it over the
target.  Readers see the old file or the new one, never a torn one; on any
error the temp file is removed and the old file is untouched.

Others may write the target directory (a web root is often shared), so a temp
file is always a new file: O_CREAT|O_EXCL|O_NOFOLLOW under an unpredictable
name, ``.NAME.tmp-PID-RANDOM``.  A planted file or symlink makes the open fail
instead of redirecting the write; the PID lets `remove_stale_temps` tell a
dead run's leftovers from a live one's.
"""

import errno
import os
import stat

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _create_temp(path: str, mode: int) -> tuple[str, int]:
    """(name, fd) of a new temp file beside ``path``, with exactly ``mode``."""
    d, name = os.path.split(path)
    tmp = os.path.join(d, f".{name}.tmp-{os.getpid()}-{os.urandom(8).hex()}")
    fd = os.open(tmp, _CREATE, mode)
    try:
        os.fchmod(fd, mode)  # the umask must not narrow it
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    return tmp, fd


def remove_stale_temps(directory: str):
    """Remove temp files (.NAME.tmp-PID-RANDOM; .NAME.tmp-PID from older
    releases) left by runs that were killed: a killed run cannot clean up,
    and at 100k clients each leftover pair is ~28 MB.  Files of a process
    that is still running are kept."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if name[:1] != "." or ".tmp-" not in name:
            continue
        pid = name.rpartition(".tmp-")[2].partition("-")[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # still running (or a reused PID: try again later)
        except ProcessLookupError:
            pass
        except PermissionError:
            continue  # alive, another user's
        try:
            os.unlink(os.path.join(directory, name))
        except OSError:
            pass


def real_dir(path: str):
    """Make `path` a directory of ours.  The web root may be shared: a
    symbolic link or file planted there is refused (NotADirectoryError),
    never followed."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        os.mkdir(path, 0o755)
        return
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, "not a directory of ours (a symbolic link?)", path)


def atomic_write(path: str, data: bytes, mode: int = 0o644, fsync: bool = False, size: int | None = None):
    """``size``: extend the file to this many bytes (sparse) before the rename."""
    tmp, fd = _create_temp(path, mode)
    try:
        try:
            _write_all(fd, data)
            if size is not None:
                os.ftruncate(fd, size)
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


def prepare(path: str, data: bytes, fsync: bool = False, mode: int = 0o644) -> "StreamingFile":
    """``data`` written now into a temp file beside ``path`` (OSError if that
    fails, nothing left behind); the caller commit()s it later, or abort()s."""
    f = StreamingFile(path, None, fsync, mode)
    f.write(data)
    try:
        if f.error is not None:
            raise f.error
        _check_replaceable(path)
    except BaseException:
        f.abort()
        raise
    return f


class StreamingFile:
    """A file (and optionally its .gz twin) written as it is produced, into
    dot-prefixed temp files beside the target; commit() renames them into
    place, abort() removes them.  A reader sees the previous file until the
    rename, never a partial one.

    write() keeps an OSError (disk full, I/O error) instead of raising it in
    the middle of a stream; commit() raises it, leaving the old files alone.
    """

    def __init__(self, path: str, gzip_level: int | None = None, fsync: bool = False, mode: int = 0o644):
        self.path, self.gz_path, self.fsync = path, path + ".gz", fsync
        self.tmp = self.gz_tmp = None
        self.level = gzip_level
        self.error = None
        self.written = self._seg_start = 0
        self.fd = self.gzfd = None
        try:
            self.tmp, self.fd = _create_temp(path, mode)
            if gzip_level:
                self.gz_tmp, self.gzfd = _create_temp(self.gz_path, mode)
            self._co = self._compressor()  # writes the gzip header: may fail (disk full)
        except BaseException:
            self.abort()
            raise

    def _compressor(self):
        if not self.level:
            return None
        import zlib

        self._zlib = zlib
        self.crc = self.size = 0  # of what was written: the gzip trailer is ours (see splice())
        self._capture = None
        if self.gzfd is not None:
            _write_all(self.gzfd, GZIP_HEADER)
        # Raw deflate (wbits -15) framed by our own gzip header and trailer, so
        # that a segment compressed on an earlier tick can be spliced in.  Level
        # 1 also uses fixed Huffman codes: a third less CPU than dynamic ones
        # for a file ~30 % larger (still ~25x smaller than data.json), the right
        # trade for a file rewritten every second.
        strategy = zlib.Z_FIXED if self.level == 1 else zlib.Z_DEFAULT_STRATEGY
        return zlib.compressobj(self.level, zlib.DEFLATED, -15, 8, strategy)

    def write(self, data: bytes):
        if self.error is not None or not data:
            return
        try:
            _write_all(self.fd, data)
            self.written += len(data)
            if self._co is not None:
                self.crc = self._zlib.crc32(data, self.crc)
                self.size += len(data)
                z = self._co.compress(data)
                if z:
                    self._gz_out(z)
        except OSError as e:
            self.error = e

    def _gz_out(self, z):
        _write_all(self.gzfd, z)
        if self._capture is not None:
            self._capture.append(z)

    def _full_flush(self):
        """Byte-align the deflate stream and forget the past: what follows
        never refers back to what came before."""
        z = self._co.flush(self._zlib.Z_FULL_FLUSH)
        if z:
            self._gz_out(z)

    def begin_segment(self):
        """Start capturing what is written as a Segment (end_segment())."""
        self._seg_start = self.written
        if self._co is None or self.error is not None:
            return
        try:
            self._full_flush()
        except OSError as e:
            self.error = e
        self._capture = []
        self._seg_crc, self._seg_size = self.crc, self.size

    def size_since_segment(self) -> int:
        return self.written - self._seg_start

    def end_segment(self) -> "Segment | None":
        """The bytes written since begin_segment(), compressed as a deflate
        segment that stands alone (None without gzip or after an error)."""
        if self._co is None or self._capture is None:
            return None
        try:
            self._full_flush()
        except OSError as e:
            self.error = e
        capture, self._capture = self._capture, None
        if self.error is not None:
            return None
        size = self.size - self._seg_size
        # the segment's own CRC, from the running one: CRC(A+B) = shift(CRC(A), len(B)) ^ CRC(B)
        shift = shift_operator(size)
        crc = _gf2_times(shift, self._seg_crc) ^ self.crc
        return Segment(b"".join(capture), crc, size, shift)

    def splice(self, raw_fd: int, offset: int, raw_size: int, seg: "Segment | None"):
        """Append a segment kept from an earlier tick: its raw bytes copied
        from `raw_fd` at `offset`, its deflate bytes as they are (both in the
        kernel where it can); nothing is compressed again."""
        if self.error is not None:
            return
        try:
            _copy_fd(raw_fd, offset, self.fd, raw_size)
            self.written += raw_size
            if self._co is not None:
                self._full_flush()
                if seg.deflate is None:
                    src, start, length = seg.source
                    _copy_fd(src, start, self.gzfd, length)
                else:
                    _write_all(self.gzfd, seg.deflate)
                self.crc = _gf2_times(seg.shift or shift_operator(seg.size), self.crc) ^ seg.crc
                self.size += seg.size
        except OSError as e:
            self.error = e

    def reset(self):
        """Start the file over (what was streamed turned out to be unusable)."""
        try:
            for fd in (self.fd, self.gzfd):
                if fd is not None:
                    os.ftruncate(fd, 0)
                    os.lseek(fd, 0, os.SEEK_SET)
            self.written = self._seg_start = 0
            self._co = self._compressor()  # writes the gzip header again
        except OSError as e:
            self.error = e

    def commit(self):
        if self._co is not None and self.error is None:
            try:
                _write_all(self.gzfd, self._co.flush() + gzip_trailer(self.crc, self.size))
            except OSError as e:
                self.error = e
        if self.error is not None:
            self.abort()
            raise self.error
        try:
            # Both targets are checked before either is replaced: data.json
            # and its .gz twin never disagree.
            for target in (self.path, self.gz_path):
                _check_replaceable(target)
            if self.fsync:
                os.fsync(self.fd)
                if self.gzfd is not None:
                    os.fsync(self.gzfd)
            self._close()
            os.replace(self.tmp, self.path)
            if self.gz_tmp:
                os.replace(self.gz_tmp, self.gz_path)
            else:
                try:
                    os.unlink(self.gz_path)  # gzip is off: a stale .gz must not be served
                except FileNotFoundError:
                    pass
        except BaseException:
            self.abort()
            raise
        self.tmp = self.gz_tmp = None  # renamed: nothing left for abort()

    def _close(self):
        for attr in ("fd", "gzfd"):
            fd = getattr(self, attr)
            if fd is not None:
                setattr(self, attr, None)
                os.close(fd)

    def abort(self):
        try:
            self._close()
        except OSError:
            pass
        for p in (self.tmp, self.gz_tmp):
            if p:
                try:
                    os.unlink(p)
                except OSError:
                    pass
        self.tmp = self.gz_tmp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.abort()


def _check_replaceable(path):
    """IsADirectoryError naming ``path`` if rename(2) could not replace it."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, f"{path} is a directory", path)


GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"  # deflate, no name, mtime 0, Unix
EMPTY_FINAL_BLOCK = b"\x03\x00"  # a fixed-Huffman final block with no data


def gzip_trailer(crc: int, size: int) -> bytes:
    return crc.to_bytes(4, "little") + (size & 0xFFFFFFFF).to_bytes(4, "little")


class Segment:
    """A part of a file compressed on its own (raw deflate between two full
    flushes), with the CRC-32 and length of its raw bytes, and (`shift`) the
    CRC operator for that length: kept with the list, it makes a splice's
    CRC one small product instead of ~25 matrix squarings."""

    __slots__ = ("deflate", "crc", "size", "shift", "source")

    def __init__(self, deflate: bytes | None, crc: int, size: int, shift: list | None = None, source=None):
        self.deflate, self.crc, self.size, self.shift = deflate, crc, size, shift
        self.source = source  # (fd, offset, length) of the deflate bytes when they stay in a file

    def gzip(self) -> bytes:
        """The segment alone as a gzip file."""
        return GZIP_HEADER + self.deflate + EMPTY_FINAL_BLOCK + gzip_trailer(self.crc, self.size)

    @classmethod
    def in_gzip_file(cls, fd: int, size: int, shift: list | None = None):
        """The segment of a gzip() file open at `fd`, its deflate bytes left
        in the file for splice() to copy (the header and trailer alone are
        read: 20 bytes, not the ~1.3 MB of a 100k list); None if the file is
        not one of `size` raw bytes."""
        n = len(GZIP_HEADER)
        length = os.fstat(fd).st_size - n - 10
        if length < 0:
            return None
        head, tail = os.pread(fd, n, 0), os.pread(fd, 10, n + length)
        if (
            head != GZIP_HEADER
            or tail[:2] != EMPTY_FINAL_BLOCK
            or tail[6:] != (size & 0xFFFFFFFF).to_bytes(4, "little")
        ):
            return None
        return cls(None, int.from_bytes(tail[2:6], "little"), size, shift, (fd, n, length))


# CRC-32 arithmetic over GF(2) (as zlib's crc32_combine, which Python does
# not expose): CRC(A+B) = shift_operator(len(B)) x CRC(A) ^ CRC(B), without a
# pass over B.
def _gf2_times(mat, vec):
    s = i = 0
    while vec:
        if vec & 1:
            s ^= mat[i]
        vec >>= 1
        i += 1
    return s


def _gf2_square(mat):
    return [_gf2_times(mat, mat[n]) for n in range(32)]


def shift_operator(length: int) -> list:
    """The 32x32 matrix that appends `length` zero bytes to a CRC register."""
    odd = [0xEDB88320] + [1 << n for n in range(31)]  # one zero bit
    op = None
    even = _gf2_square(odd)  # two zero bits
    odd = _gf2_square(even)  # four zero bits
    while length:
        even = _gf2_square(odd)  # one zero byte, then 2, 4, ...
        if length & 1:
            op = even if op is None else [_gf2_times(even, col) for col in op]
        length >>= 1
        odd = even
    return op


def _copy_fd(src: int, start: int, dst: int, size: int):
    """`size` bytes of src from `start` to dst's current offset."""
    done = 0
    while done < size:
        try:
            n = os.copy_file_range(src, dst, size - done, start + done)
        except OSError:
            n = 0
        if not n:
            data = os.pread(src, min(size - done, 1 << 20), start + done)
            if not data:
                raise OSError(errno.EIO, "kept client list is shorter than recorded")
            _write_all(dst, data)
            n = len(data)
        done += n


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
