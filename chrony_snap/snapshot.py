"""Assemble data.json (schema version 1) from parsed reports. Pure: no I/O.

Clients are parsed and encoded row by row straight into JSON text, which
keeps 100k clients fast and small in memory; the rest goes through jsonenc.
"""

import time

from chrony_snap import SCHEMA_VERSION, __version__, fields as F
from chrony_snap.jsonenc import dumps, string
from chrony_snap.parse import ADDR_CHARS, INTERVAL_JSON, bad_lines_problem, status_line

STATUSES = ("ok", "warning", "critical")


def rfc3339(epoch: float) -> str:
    ms = int(epoch * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{ms:03d}Z"


def classify(packets: int, drops: int, rule: dict) -> str:
    """ok / warning / critical for one client's NTP counters."""
    if drops >= rule["critical_drops"] and drops >= rule["critical_drop_ratio"] * packets:
        return "critical"
    if drops >= rule["warning_drops"]:
        return "warning"
    return "ok"


def encode_clients(text, nts, prev, dt, rule, names, static=None):
    """`chronyc -c -n clients` text -> (JSON array bytes, summary, new prev counters, problems)."""
    chunks = []
    enc = ClientEncoder(nts, prev, dt, rule, names, static, chunks.append)
    enc.feed(text)
    summary, new_prev, problems = enc.finish()
    return b"".join((b"[", *chunks, b"]")), summary, new_prev, problems


class ClientEncoder:
    """Parses and encodes `chronyc -c -n clients` output into per-client JSON
    texts, one pass, fed as chronyc prints (feed_bytes) so that most of the
    work overlaps chronyc's own run on a large client list.

    This loop runs once per client per second (100k clients on a busy pool
    server), so it is written for speed.  Each line is checked as
    parse.parse_clients() checks it (same columns, fields.CLIENTS order; a
    test keeps the two in step): the address may only hold address
    characters, counters go through int() and intervals through
    INTERVAL_JSON, so nothing malformed reaches the JSON.  The status rule is
    classify() inlined (a test keeps them equal).
    """

    def __init__(self, nts, prev, dt, rule, names, static, sink):
        self.nts, self.prev, self.dt, self.rule = nts, prev, dt, rule
        self.names, self.static = names, static
        self.sink = sink        # gets the clients' UTF-8 JSON, batch by batch, comma-separated
        self.n = 0
        self.new_prev = {}
        self.bad = []
        self.status_lines = []  # chronyc's replies such as "501 Not authorised", for collect.diagnose
        self.counts = [0] * 7  # n_warn, n_crit, v6, active, tot_n, tot_d, tot_c
        self.tot_cd = 0
        self.sums = [0.0, 0.0]
        self._tail = b""

    def feed_bytes(self, data: bytes):
        """A chunk of chronyc's stdout; a partial last line waits for the next."""
        data = self._tail + data
        cut = data.rfind(b"\n") + 1
        self._tail = data[cut:]
        if cut:
            self.feed(data[:cut].decode("utf-8", "replace"))

    def feed(self, text: str):
        if not text.isascii():
            text = _ascii_lines(text, self.bad)
        IJ = INTERVAL_JSON
        NEVER = F.NEVER
        ADDR = ADDR_CHARS
        RECENT = _RECENT
        NO_INTERVAL = F.NO_INTERVAL
        CMD_NONE = _CMD_NONE
        OK, WARNING, CRITICAL = _FAMILY_STATUS
        rule = self.rule
        crit_d = rule["critical_drops"]
        crit_r = rule["critical_drop_ratio"]
        warn_d = rule["warning_drops"]
        nts = self.nts
        dt = self.dt
        batch = []
        append = batch.append
        new_prev = self.new_prev
        n_warn, n_crit, v6, active, tot_n, tot_d, tot_c = self.counts
        tot_cd = self.tot_cd
        sum_pps, sum_dps = self.sums
        get_prev = self.prev.get if dt is not None else {}.get
        get_name = self.names.get if self.names else None
        get_static = self.static.get if self.static else None
        has_names = bool(get_name or get_static)
        zero_rate = '{"ntp_pps":0.0,"drop_pps":0.0}'
        no_rate = '{"ntp_pps":null,"drop_pps":null}'
        bad = self.bad
        for line in text.splitlines():
            try:
                a, n, d, i, il, l, c, cd, ci, cl = line.split(",")
                if not a or a.strip(ADDR):
                    raise ValueError
                n = int(n)
                d = 0 if d == "0" else int(d)
                i = IJ[i]
                il = IJ[il]
                # Last columns go into the JSON as printed, so they must be
                # plain JSON numbers: ASCII digits (the text is ASCII), no
                # leading zero (chronyc prints none)
                if l == NEVER:
                    l = "null"
                    recent = False
                elif l.isdigit() and (l[0] != "0" or l == "0"):
                    recent = l in RECENT
                else:
                    raise ValueError
                if c == "0" and cd == "0" and ci == NO_INTERVAL and cl == NEVER:
                    cmd = CMD_NONE  # most clients never use the command port
                else:
                    if c != "0":
                        c = int(c)
                        tot_c += c
                    if cd != "0":
                        cd = int(cd)
                        tot_cd += cd
                    ci = IJ[ci]
                    if cl == NEVER:
                        cl = "null"
                    elif cl.isdigit() and (cl[0] != "0" or cl == "0"):
                        recent = recent or cl in RECENT
                    else:
                        raise ValueError
                    cmd = f',"cmd":{{"packets":{c},"drops":{cd},"interval_s":{ci},"last_seen_s":{cl}}}'
            except (ValueError, KeyError):
                if status_line(line):
                    self.status_lines.append(line)
                elif line.strip() and not line.startswith(("Hostname ", "====")):
                    bad.append(line)
                continue
            six = ":" in a
            if six:
                v6 += 1
            if d >= warn_d:
                if d >= crit_d and d >= crit_r * n:
                    fs = CRITICAL[six]
                    n_crit += 1
                else:
                    fs = WARNING[six]
                    n_warn += 1
            else:
                fs = OK[six]
            if recent:
                active += 1
            tot_n += n
            tot_d += d
            key = n << 40 | d  # previous counters, packed: one int per client in the state
            new_prev[a] = key
            p = get_prev(a)
            if p == key:
                rate = zero_rate
            elif p is None:
                rate = no_rate
            else:
                pn = p >> 40
                pd = p & 0xFFFFFFFFFF
                if n >= pn and d >= pd:
                    r1 = round((n - pn) / dt, 3)
                    r2 = round((d - pd) / dt, 3)
                    sum_pps += r1
                    sum_dps += r2
                    rate = f'{{"ntp_pps":{r1!r},"drop_pps":{r2!r}}}'
                else:
                    rate = no_rate  # counters went back: chronyd restarted
            host = "null"
            if has_names:
                name = get_static(a) if get_static else None
                if name is None and get_name:
                    e = get_name(a)
                    if e is not None:
                        name = e[0]
                if name is not None:
                    host = string(name)
            if nts is not None:
                cmd += _nts_json(nts.get(a))
            append(
                f'{{"address":"{a}","hostname":{host},{fs},"ntp":{{"packets":{n},"drops":{d},'
                f'"interval_s":{i},"interval_limited_s":{il},"last_seen_s":{l}}}{cmd},"rate":{rate}}}'
            )
        self.counts = [n_warn, n_crit, v6, active, tot_n, tot_d, tot_c]
        self.tot_cd = tot_cd
        if batch:
            chunk = ",".join(batch).encode("utf-8")
            if self.n:
                chunk = b"," + chunk
            self.n += len(batch)
            self.sink(chunk)
        self.sums = [sum_pps, sum_dps]

    def finish_input(self):
        """The stream ended: a last line without a newline still counts."""
        if self._tail:
            tail, self._tail = self._tail, b""
            self.feed(tail.decode("utf-8", "replace"))

    def finish(self):
        self.finish_input()
        count = self.n
        n_warn, n_crit, v6, active, tot_n, tot_d, tot_c = self.counts
        have_rate = self.dt is not None
        problems = [bad_lines_problem("clients", self.bad)] if self.bad else []
        summary = {
            "clients": count,
            "ok": count - n_warn - n_crit,
            "warning": n_warn,
            "critical": n_crit,
            "ipv4": count - v6,
            "ipv6": v6,
            "active_60s": active,
            "ntp_packets": tot_n,
            "ntp_drops": tot_d,
            "cmd_packets": tot_c,
            "cmd_drops": self.tot_cd,
            "ntp_pps": round(self.sums[0], 3) if have_rate else None,
            "drop_pps": round(self.sums[1], 3) if have_rate else None,
        }
        return summary, self.new_prev, problems


_RECENT = frozenset(str(s) for s in range(61))  # "seen in the last 60 s" (summary.active_60s)
_CMD_NONE = ',"cmd":{"packets":0,"drops":0,"interval_s":null,"last_seen_s":null}'
# "family" and "status" of a client, indexed by ":" in address: (IPv4, IPv6)
_FAMILY_STATUS = tuple(
    tuple(f'"family":"{fam}","status":"{st}"' for fam in ("ipv4", "ipv6")) for st in STATUSES)


def _ascii_lines(text: str, bad: list) -> str:
    """Move non-ASCII lines (chronyc -n prints none) to `bad`."""
    keep = []
    for line in text.splitlines():
        (keep if line.isascii() else bad).append(line)
    return "\n".join(keep) + "\n"


def _nts_json(k):
    if k is None:
        return ',"nts_ke":null'
    last = "null" if k[9] == F.NEVER else int(k[9])
    return (f',"nts_ke":{{"connections":{int(k[6])},"drops":{int(k[7])},'
            f'"interval_s":{INTERVAL_JSON[k[8]]},"last_seen_s":{last}}}')


def serverstats_rate(cur, prev, dt):
    if cur is None or prev is None or dt is None:
        return None
    out = {}
    for k, v in cur.items():
        if k in F.SERVERSTATS_GAUGES:
            continue
        p = prev.get(k)
        if p is None or v < p:
            return None  # chronyd restarted: counters went back
        out[k] = round((v - p) / dt, 3)
    return out


def head_bytes(*, seq, now_wall, host, cfg):
    """data.json up to the clients array, known before chronyc answers:
    schema_version, generated_at and seq come first (state.seq_from_snapshot
    reads seq back from the first bytes)."""
    page = cfg["page"]
    top = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": rfc3339(now_wall),
        "seq": seq,
        "host": host,
        "generator": {"name": "chrony-snap", "version": __version__},
        "refresh_s": page["refresh_s"],
        "stale_after_s": page["refresh_s"] * page["stale_after_refreshes"],
    }
    return dumps(top)[:-1].encode("utf-8") + b',"clients":['


def tail_bytes(*, cfg, chrony, reports, summary, errors, duration_ms, ss_rate):
    """The rest of data.json, after the clients array."""
    st = cfg["status"]
    rest = {
        "duration_ms": duration_ms,
        "chrony": chrony,
        "status_rule": {
            "preset": st["preset"],
            "warning_drops": st["warning_drops"],
            "critical_drops": st["critical_drops"],
            "critical_drop_ratio": st["critical_drop_ratio"],
        },
        "summary": summary,
        "tracking": reports.get("tracking"),
        "sources": reports.get("sources"),
        "sourcestats": reports.get("sourcestats"),
        "serverstats": reports.get("serverstats"),
        "serverstats_rate": ss_rate,
        "activity": reports.get("activity"),
        "errors": errors,
    }
    return b"]," + dumps(rest)[1:].encode("utf-8")

