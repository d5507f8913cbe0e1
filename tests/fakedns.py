"""A tiny DNS server on 127.0.0.1:53 for reverse-lookup tests (stdlib only).

It answers PTR queries from a dict, NXDOMAIN for the rest, or (blackhole
mode) reads queries and never answers, like a dead resolver.  Tests run
chrony-snap in a private mount namespace whose /etc/resolv.conf names
127.0.0.1, so no query leaves the machine.
"""

import socket
import struct
import threading


def _qname(data, off):
    labels = []
    while True:
        n = data[off]
        off += 1
        if n == 0:
            return ".".join(labels), off
        labels.append(data[off : off + n].decode("ascii", "replace"))
        off += n


def _encode(name):
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode()
        out += bytes([len(raw)]) + raw
    return out + b"\0"


class FakeDNS:
    def __init__(self, ptr: dict, blackhole=False, host="127.0.0.1", port=53):
        self.ptr = {self.arpa(k): v for k, v in ptr.items()}
        self.blackhole = blackhole
        self.queries = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @staticmethod
    def arpa(ipv4):
        return ".".join(reversed(ipv4.split("."))) + ".in-addr.arpa"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join(2)
        self.sock.close()

    def _serve(self):
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(512)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                qid, flags, qd = struct.unpack("!HHH", data[:6])
                name, off = _qname(data, 12)
                qtype, qclass = struct.unpack("!HH", data[off : off + 4])
            except (IndexError, struct.error):
                continue
            self.queries.append((name, qtype))
            if self.blackhole:
                continue
            question = data[12 : off + 4]
            target = self.ptr.get(name.lower()) if qtype == 12 else None
            if target is None:
                header = struct.pack("!HHHHHH", qid, 0x8183, 1, 0, 0, 0)  # NXDOMAIN
                self.sock.sendto(header + question, peer)
                continue
            rdata = _encode(target)
            answer = b"\xc0\x0c" + struct.pack("!HHIH", 12, 1, 60, len(rdata)) + rdata
            header = struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0)
            self.sock.sendto(header + question + answer, peer)
