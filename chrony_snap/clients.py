"""The clients report, whole: row check, status rule, rates, JSON encoding.
Pure: no I/O.

`chronyc -c -n clients` (and `clients -k`, whose last four columns count
NTS-KE connections) prints one CSV row per client, fields.CLIENTS order.
ClientEncoder.feed() checks each row (the one row check: parse_nts uses it
too) and turns it into data.json's client object as chronyc prints, which
keeps 100k clients fast and small in memory.  This loop runs once per client
per second, so it is written for speed: helpers inlined, names local.
"""

from chrony_snap import fields as F
from chrony_snap.jsonenc import string
from chrony_snap.parse import ADDR_CHARS, INTERVAL_JSON, status_line

STATUSES = ("ok", "warning", "critical")
MAX_ADDR = 45  # the longest IPv6 text form
MAX_DIGITS = 19  # so every counter is < 10**19 < 2**64
MAX_STATUS_LINES = 8


def classify(packets: int, drops: int, rule: dict) -> str:
    """ok / warning / critical for one client's NTP counters.  ClientEncoder
    carries an inlined copy for speed; a test checks the two agree."""
    if drops >= rule["critical_drops"] and drops >= rule["critical_drop_ratio"] * packets:
        return "critical"
    if drops >= rule["warning_drops"]:
        return "warning"
    return "ok"


class Rejects:
    """Lines that are not client rows: status replies kept (for
    collect.diagnose), bad lines counted with the first one shown (a chronyc
    printing without end must not fill the memory)."""

    __slots__ = ("status_lines", "bad", "first_bad")

    def __init__(self):
        self.status_lines = []
        self.bad = 0
        self.first_bad = None

    def add(self, line):
        if status_line(line):
            if len(self.status_lines) < MAX_STATUS_LINES:
                self.status_lines.append(line)
        elif line.strip() and not line.startswith(("Hostname ", "====")):
            self.bad += 1
            if self.first_bad is None:
                self.first_bad = line[:200]

    def problems(self, report):
        if not self.bad:
            return []
        shown = self.first_bad if len(self.first_bad) <= 80 else self.first_bad[:77] + "..."
        return [f"{report}: unexpected line ({self.bad} unparsable line(s); first shown): {shown!r}"]


def _counter(s):
    """A counter as chronyc prints it: ASCII digits (the text is ASCII
    already: no signs, spaces, '_' or other scripts' digits), bounded.
    Leading zeros are harmless: it is reprinted."""
    if s.isdigit() and len(s) <= MAX_DIGITS:
        return int(s)
    raise ValueError(s)


def _last(s):
    """A 'Last' column -> JSON text: "null" (never) or the digits as printed,
    which must then be a plain JSON number (no leading zero)."""
    if s == F.NEVER:
        return "null"
    if s.isdigit() and (s[0] != "0" or s == "0") and len(s) <= MAX_DIGITS:
        return s
    raise ValueError(s)


_RECENT = frozenset(str(s) for s in range(61))  # "seen in the last 60 s" (summary.active_60s)
_NO_OTHER = (0, 0, "null", "null")  # last four columns never used


def _ascii_lines(text: str, rejects: Rejects) -> str:
    """Drop non-ASCII lines (chronyc -n prints none) into `rejects`."""
    keep = []
    for line in text.splitlines():
        if line.isascii():
            keep.append(line)
        else:
            rejects.add(line)
    return "\n".join(keep) + "\n"


def parse_nts(text: str):
    """`clients -k` -> ({address: (connections, drops, interval JSON, last JSON)}, problems),
    through the encoder's row check."""
    enc = ClientEncoder(None, {}, None, None, None, None, None)
    enc.other_of = {}
    enc.feed(text)
    return enc.other_of, enc.rejects.problems("clients")


def _nts_json(k):
    if k is None:
        return ',"nts_ke":null'
    return f',"nts_ke":{{"connections":{k[0]},"drops":{k[1]},"interval_s":{k[2]},"last_seen_s":{k[3]}}}'


_CMD_NONE_JSON = ',"cmd":{"packets":0,"drops":0,"interval_s":null,"last_seen_s":null}'
# "family" and "status" of a client, indexed by ":" in address: (IPv4, IPv6)
_FAMILY_STATUS = tuple(tuple(f'"family":"{fam}","status":"{st}"' for fam in ("ipv4", "ipv6")) for st in STATUSES)
_NO_RULE = {"critical_drops": 0, "critical_drop_ratio": 0.0, "warning_drops": 0}  # parse_nts
PACK = 40  # previous counters packed in one int: packets << 40 | drops
PACK_MASK = (1 << PACK) - 1
_NO_KEY = object()  # equal to nothing a state file can hold


class ClientEncoder:
    """Checked rows -> per-client JSON texts, one pass, fed as chronyc prints
    (feed_bytes) so that most of the work overlaps chronyc's own run on a
    large client list.  The status rule is classify() inlined."""

    def __init__(self, nts, prev, dt, rule, names, static, sink, counts=None, first_seen=None, now_member=None):
        self.nts, self.prev, self.dt, self.rule = nts, prev, dt, rule
        # firstseen.py's map ({address: its JSON member}), updated in place with the
        # newcomers (now_member), pruned in finish() when chronyd forgot some
        self.first_seen, self.now_member = first_seen, now_member
        self.unkeyed = []  # listed clients missing from new_prev (counters beyond PACK)
        self.hist = counts  # a metrics.ClientCounts when metrics are on
        self.names, self.static = names, static
        self.sink = sink  # gets the clients' UTF-8 JSON, batch by batch, comma-separated
        self.n = 0
        self.new_prev = {}
        self.rejects = Rejects()
        self.other_of = None  # {address: last four columns} instead of encoding (parse_nts)
        self.counts = [0] * 7  # n_warn, n_crit, v6, active, tot_n, tot_d, tot_c
        self.tot_cd = 0
        self.sums = [0.0, 0.0]
        self._tail = b""

    @property
    def status_lines(self):
        """chronyc's replies such as "501 Not authorised", for collect.diagnose."""
        return self.rejects.status_lines

    def feed_bytes(self, data: bytes):
        """A chunk of chronyc's stdout; a partial last line waits for the next."""
        data = self._tail + data
        cut = data.rfind(b"\n") + 1
        self._tail = data[cut:]
        if len(self._tail) > 4096:  # no row is that long: a runaway line is one bad line
            self.rejects.add(self._tail[:200].decode("utf-8", "replace"))
            self._tail = b""
        if cut:
            self.feed(data[:cut].decode("utf-8", "replace"))

    def feed(self, text: str):
        rejects = self.rejects
        if not text.isascii():
            text = _ascii_lines(text, rejects)
        IJ = INTERVAL_JSON
        NEVER = F.NEVER
        NO_INTERVAL = F.NO_INTERVAL
        ADDR = ADDR_CHARS
        RECENT = _RECENT
        CMD_NONE = _CMD_NONE_JSON
        other_of = self.other_of
        OK, WARNING, CRITICAL = _FAMILY_STATUS
        rule = self.rule or _NO_RULE
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
        hist = self.hist
        if hist is not None:
            h_last, h_int, h_drops, top = hist.last, hist.interval, hist.drops, hist.top
            h_nts, h_idle, top_n = hist.nts, hist.idle, hist.top_n
        no_rate = '{"ntp_pps":null,"drop_pps":null}'
        first_seen = self.first_seen
        get_first = first_seen.get if first_seen is not None else None
        now_member = self.now_member
        first = ""
        for line in text.splitlines():
            # THE row check (clients -k rows go through it too: parse_nts)
            try:
                a, n, d, i, il, last, c, cd, ci, cl = line.split(",")
                if not a or a.strip(ADDR) or len(a) > MAX_ADDR or not (n.isdigit() and len(n) <= MAX_DIGITS):
                    raise ValueError
                n = int(n)
                d = 0 if d == "0" else _counter(d)
                i = IJ[i]
                il = IJ[il]
                if last == NEVER:
                    last = "null"
                    recent = False
                elif last.isdigit() and (last[0] != "0" or last == "0") and len(last) <= MAX_DIGITS:
                    recent = last in RECENT
                else:
                    raise ValueError
                if c == "0" and cd == "0" and ci == NO_INTERVAL and cl == NEVER:
                    cmd = CMD_NONE  # most clients never use the command port
                else:
                    c = 0 if c == "0" else _counter(c)
                    cd = 0 if cd == "0" else _counter(cd)
                    ci = IJ[ci]
                    cl = _last(cl)
                    recent = recent or cl in RECENT
                    cmd = None
            except (ValueError, KeyError):
                rejects.add(line)
                continue
            if other_of is not None:
                other_of[a] = _NO_OTHER if cmd is not None else (c, cd, ci, cl)
                continue
            if cmd is None:
                tot_c += c
                tot_cd += cd
                cmd = f',"cmd":{{"packets":{c},"drops":{cd},"interval_s":{ci},"last_seen_s":{cl}}}'
            six = ":" in a
            if six:
                v6 += 1
            # classify(), inlined (a test checks that this copy matches it)
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
            if d <= PACK_MASK:
                key = n << PACK | d
                new_prev[a] = key
            else:
                key = _NO_KEY  # beyond what chronyd counts: no rate next tick
                self.unkeyed.append(a)
            p = get_prev(a)
            if p == key:
                rate = zero_rate
            elif p is None:
                rate = no_rate
            else:
                try:
                    pn = p >> PACK
                    pd = p & PACK_MASK
                    if n >= pn and d >= pd and p >= 0:
                        r1 = round((n - pn) / dt, 3)
                        r2 = round((d - pd) / dt, 3)
                        sum_pps += r1
                        sum_dps += r2
                        rate = f'{{"ntp_pps":{r1!r},"drop_pps":{r2!r}}}'
                    else:
                        rate = no_rate  # counters went back: chronyd restarted
                except (TypeError, OverflowError):  # a foreign state file
                    rate = no_rate
            host = "null"
            if has_names:
                name = get_static(a) if get_static else None
                if name is None and get_name:
                    e = get_name(a)
                    if e is not None:
                        name = e[0]
                if name.__class__ is str:
                    host = string(name)
            if hist is not None:
                # clients per distinct text, selected as chrony_exporter's
                # clients.go does, bucketed once per tick (metrics.py); the
                # common no-drop client is counted by difference
                if n:
                    try:
                        h_last[last] += 1
                    except KeyError:
                        h_last[last] = 1
                    try:
                        h_int[i] += 1
                    except KeyError:
                        h_int[i] = 1
                elif not d:
                    h_idle += 1  # no NTP request at all: in no histogram
                if d:
                    h_drops[d] = h_drops.get(d, 0) + 1
                    if top_n:
                        top.append((d, n, a))
            if nts is not None:
                k = nts.get(a)
                if hist is not None and k is not None and k[0]:
                    h_nts += 1
                cmd += _nts_json(k)
            if get_first is not None:
                first = get_first(a)
                if first is None:
                    first_seen[a] = first = now_member
            append(
                f'{{"address":"{a}","hostname":{host},{fs},"ntp":{{"packets":{n},"drops":{d},'
                f'"interval_s":{i},"interval_limited_s":{il},"last_seen_s":{last}}}{cmd},"rate":{rate}{first}}}'
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
        if hist is not None:
            hist.nts, hist.idle = h_nts, h_idle

    def finish_input(self):
        """The stream ended: a last line without a newline still counts."""
        if self._tail:
            tail, self._tail = self._tail, b""
            self.feed(tail.decode("utf-8", "replace"))

    def finish(self):
        self.finish_input()
        seen = self.first_seen
        if seen is not None and len(seen) > len(self.new_prev) + len(self.unkeyed):
            # chronyd forgot some clients (every listed one is in `seen` now): forget them too
            listed = self.new_prev.keys() | self.unkeyed
            self.first_seen = {a: m for a, m in seen.items() if a in listed}
        count = self.n
        n_warn, n_crit, v6, active, tot_n, tot_d, tot_c = self.counts
        have_rate = self.dt is not None
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
        return summary, self.new_prev, self.rejects.problems("clients")
