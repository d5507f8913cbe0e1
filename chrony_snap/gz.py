"""data.json.gz built while the snapshot is produced.

The clients array is compressed batch by batch as chronyc prints it (raw
deflate); the small head, known only at the end (it carries the summary), is
compressed separately and ended with a sync flush, which leaves it
byte-aligned and not final, so the two deflate streams concatenate into one
valid stream (each side's back-references stay within its own bytes).  The
gzip header and trailer (CRC-32 and length of the whole) wrap them.  So
compression overlaps chronyc's run instead of following it.
"""

import zlib

_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"  # gzip, deflate, no name, mtime 0, Unix


class StreamingGzip:
    def __init__(self, level: int):
        self.level = level
        self._co = zlib.compressobj(level, zlib.DEFLATED, -15)
        self._parts = []

    def body(self, data: bytes):
        self._parts.append(self._co.compress(data))

    def finish(self, head: bytes, whole: bytes) -> bytes:
        """head: the bytes before everything given to body(); whole: the
        complete uncompressed file (for the CRC and length)."""
        hc = zlib.compressobj(self.level, zlib.DEFLATED, -15)
        h = hc.compress(head) + hc.flush(zlib.Z_SYNC_FLUSH)
        self._parts.append(self._co.flush())
        crc = zlib.crc32(whole) & 0xFFFFFFFF
        return b"".join((_HEADER, h, *self._parts, crc.to_bytes(4, "little"),
                         (len(whole) & 0xFFFFFFFF).to_bytes(4, "little")))
