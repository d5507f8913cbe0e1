"""Pure parsers: chronyc ``-c -n`` text in, plain Python data out.

No I/O here.  Each parser returns ``(value, problems)`` where ``problems`` is a
list of human-readable strings about lines it could not understand; a report
with some bad lines keeps its good ones.
"""

from chrony_snap import fields as F

# chronyc prints a reply status as "NNN Text", e.g. "501 Not authorised".
STATUS_TEXT = {
    "500": "Failure",
    "501": "Not authorised",
    "502": "Invalid command",
    "503": "No such source",
    "505": "Facility not enabled in daemon",
    "506": "Cannot talk to daemon",
    "510": "No command access from this host",
    "517": "Protocol version mismatch",
    "518": "Packet length mismatch",
    "519": "Client logging is not active in the daemon",
}

# log2 interval text -> seconds, as JSON text (127 = no interval)
INTERVAL_JSON = {str(n): (repr(2.0 ** n) if n < 0 else str(2 ** n)) for n in range(-32, 32)}
INTERVAL_JSON[F.NO_INTERVAL] = "null"


def last_s(text: str):
    """A 'Last' column -> seconds ago (None for never)."""
    return None if text == F.NEVER else int(text)


def status_line(line: str):
    """'501 Not authorised' -> ('501', 'Not authorised'); None for data lines."""
    if len(line) > 4 and line[3] == " " and line[:3].isdigit() and line[0] in "2345":
        return line[:3], line[4:].strip()
    return None


def first_status(text: str):
    """The first non-200 status line of chronyc output, or None.  Status lines
    carry spaces and no comma; CSV data lines carry neither spaces nor words."""
    if " " not in text:
        return None
    for line in text.splitlines():
        if "," not in line:
            st = status_line(line)
            if st is not None and st[0] != "200":
                return st
    return None


def split_output(text: str):
    """Split chronyc output into data lines and the first status line (if any)."""
    data, status = [], None
    for line in text.splitlines():
        if not line.strip():
            continue
        st = status_line(line)
        if st is not None:
            if status is None and st[0] != "200":
                status = st
            continue
        data.append(line)
    return data, status


def _bad(report, line, why):
    shown = line if len(line) <= 80 else line[:77] + "..."
    return f"{report}: unexpected line ({why}): {shown!r}"


def _num(s):
    """Float/int from chronyc CSV text; ValueError on anything else."""
    if s.isdigit():
        return int(s)
    v = float(s)
    if v != v or v in (float("inf"), float("-inf")):
        raise ValueError(s)
    return v


def _ascii_refid(hexid: str):
    try:
        raw = bytes.fromhex(hexid)
    except ValueError:
        return None
    name = raw.rstrip(b"\0")
    if name and all(0x41 <= b <= 0x5A or 0x30 <= b <= 0x39 for b in name) and name[:1].isalpha():
        return name.decode()
    return None


def parse_tracking(text: str):
    lines, _ = split_output(text)
    problems = []
    for line in lines:
        cols = line.split(",")
        if len(cols) != len(F.TRACKING):
            problems.append(_bad("tracking", line, f"{len(cols)} fields, expected {len(F.TRACKING)}"))
            continue
        try:
            row = dict(zip(F.TRACKING, cols))
            out = {
                "reference_id": row["reference_id"],
                "reference_name": _ascii_refid(row["reference_id"]),
                "reference_address": row["reference_address"] or None,
                "stratum": int(row["stratum"]),
                "ref_time": float(row["ref_time"]),
            }
            for k in F.TRACKING[4:13]:
                out[k] = _num(row[k])
            out["leap_status"] = row["leap_status"]
        except ValueError as e:
            problems.append(_bad("tracking", line, f"bad number {e}"))
            continue
        return out, problems
    return None, problems


def _table(report, text, names, convert):
    lines, _ = split_output(text)
    rows, problems = [], []
    for line in lines:
        cols = line.split(",")
        if len(cols) != len(names):
            problems.append(_bad(report, line, f"{len(cols)} fields, expected {len(names)}"))
            continue
        try:
            rows.append(convert(dict(zip(names, cols))))
        except (ValueError, KeyError) as e:
            problems.append(_bad(report, line, f"bad value {e}"))
    return rows, problems


def _source(r):
    if r["mode"] not in F.SOURCE_MODES or r["state"] not in F.SOURCE_STATES:
        raise ValueError(f"mode/state {r['mode']}{r['state']}")
    poll = int(r["poll_log2"])
    return {
        "mode": F.SOURCE_MODES[r["mode"]],
        "state": F.SOURCE_STATES[r["state"]],
        "address": r["address"],
        "stratum": int(r["stratum"]),
        "poll_log2": poll,
        "poll_s": 2 ** poll if poll >= 0 else 2.0 ** poll,
        "reach": int(r["reach"], 8),
        "last_rx_s": last_s(r["last_rx_s"]),
        "offset_s": _num(r["offset_s"]),
        "measured_offset_s": _num(r["measured_offset_s"]),
        "error_s": _num(r["error_s"]),
    }


def parse_sources(text: str):
    return _table("sources", text, F.SOURCES, _source)


def _sourcestat(r):
    out = {"address": r["address"], "samples": int(r["samples"]), "runs": int(r["runs"]),
           "span_s": int(r["span_s"])}
    for k in F.SOURCESTATS[4:]:
        out[k] = _num(r[k])
    return out


def parse_sourcestats(text: str):
    return _table("sourcestats", text, F.SOURCESTATS, _sourcestat)


def parse_serverstats(text: str):
    """Map by field count: 5 (chrony < 4.0), 8 (4.0-4.1), 11 (4.2-4.3), 17 (4.4+)."""
    lines, _ = split_output(text)
    problems = []
    for line in lines:
        cols = line.split(",")
        names = F.SERVERSTATS_BY_COUNT.get(len(cols))
        if names is None:
            problems.append(_bad("serverstats", line, f"{len(cols)} fields, expected one of 5, 8, 11, 17"))
            continue
        if not all(c.isdigit() for c in cols):
            problems.append(_bad("serverstats", line, "non-numeric counter"))
            continue
        return {k: int(v) for k, v in zip(names, cols)}, problems
    return None, problems


def parse_activity(text: str):
    lines, _ = split_output(text)
    problems = []
    for line in lines:
        cols = line.split(",")
        if len(cols) != len(F.ACTIVITY) or not all(c.isdigit() for c in cols):
            problems.append(_bad("activity", line, "expected 5 counters"))
            continue
        return {k: int(v) for k, v in zip(F.ACTIVITY, cols)}, problems
    return None, problems


ADDR_CHARS = "0123456789abcdefABCDEF.:"  # all an address printed by chronyc -n can contain
