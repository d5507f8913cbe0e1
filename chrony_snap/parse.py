"""Pure parsers: chronyc ``-c -n`` text in, plain Python data out.

No I/O here.  Each parser returns ``(value, problems)`` where ``problems`` is a
list of human-readable strings about lines it could not understand; a report
with some bad lines keeps its good ones.

Every field is checked as chronyc's print_report() writes it in CSV mode
(client.c): unsigned integers as plain ASCII digits, doubles as "%.Nf"
(never an exponent, "inf" or a "+" sign), the reference ID as "%08X".  Python's
int() and float() accept far more (Unicode digits, "_", spaces, "1e999",
thousands of digits); a row with such a field is reported, not published.
"""

from chrony_snap import fields as F

# log2 interval text -> seconds, as JSON text (127 = no interval)
INTERVAL_JSON = {str(n): (repr(2.0**n) if n < 0 else str(2**n)) for n in range(-32, 32)}
INTERVAL_JSON[F.NO_INTERVAL] = "null"


def status_line(line: str):
    """'501 Not authorised' -> ('501', 'Not authorised'); None for data lines."""
    if len(line) > 4 and line[3] == " " and line[:3].isascii() and line[:3].isdigit() and line[0] in "2345":
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


# Field checkers: chronyc's text -> value, ValueError for anything chronyc
# would not print.  Lengths are checked before int()/float() see the text.


def _uint(s, limit=F.U32_LIMIT):
    """%u / %U / %Q: ASCII digits, below `limit` (2**32, or 2**64 for %Q)."""
    if 0 < len(s) <= 20 and s.isascii() and s.isdigit():
        v = int(s)
        if v < limit:
            return v
    raise ValueError


def _fixed(s):
    """A double printed with "%.Nf": [-]digits[.digits].  chronyd sends
    doubles in a 32-bit float format (below 2**63: 19 digits) and
    chronyc prints at most 9 decimals."""
    whole, dot, frac = (s[1:] if s[:1] == "-" else s).partition(".")
    if (
        0 < len(whole) <= 20
        and whole.isascii()
        and whole.isdigit()
        and (not dot or (0 < len(frac) <= 9 and frac.isascii() and frac.isdigit()))
    ):
        return float(s)
    raise ValueError


def _stratum(s):
    v = _uint(s)
    if v <= F.MAX_STRATUM:
        return v
    raise ValueError


def _poll(s):
    """%d of a log2 poll interval, within F.POLL_RANGE."""
    v = -_uint(s[1:]) if s[:1] == "-" else _uint(s)
    if v in F.POLL_RANGE:
        return v
    raise ValueError


def _reach(s):
    """%o of the 8-bit reach register: 1-3 octal digits, at most 377."""
    if 0 < len(s) <= 3 and not s.strip("01234567"):
        v = int(s, 8)
        if v <= 0o377:
            return v
    raise ValueError


def _refid(s):
    """%08X: eight upper-case hex digits."""
    if len(s) == 8 and not s.strip("0123456789ABCDEF"):
        return s
    raise ValueError


def _address(s):
    """chronyc -n prints an IP address, or for a reference clock its refid
    as up to four printable ASCII characters (UTI_RefidToString)."""
    if (len(s) <= 45 and not s.strip(ADDR_CHARS)) or (len(s) <= 4 and s.isascii() and s.isprintable()):
        return s
    raise ValueError


def _leap(s):
    if s in F.LEAP_STATUSES:
        return s
    raise ValueError


def _counter64(s):
    return _uint(s, F.U64_LIMIT)


def _checked(names, checks, cols):
    """Columns -> {name: value}; ValueError naming the first bad field."""
    out = {}
    for name, check, text in zip(names, checks, cols, strict=False):  # checks may cover more columns
        try:
            out[name] = check(text)
        except ValueError:
            shown = text if len(text) <= 24 else text[:21] + "..."
            raise ValueError(f"{name} {shown!r}") from None
    return out


def _ascii_refid(hexid: str):
    raw = bytes.fromhex(hexid)
    name = raw.rstrip(b"\0")
    if name and all(0x41 <= b <= 0x5A or 0x30 <= b <= 0x39 for b in name) and name[:1].isalpha():
        return name.decode()
    return None


_NEVER = int(F.NEVER)

# chronyc's print_report() formats, column by column (client.c)
_TRACKING_CHECKS = (_refid, _address, _stratum) + (_fixed,) * 10 + (_leap,)
_SOURCES_CHECKS = (str, str, _address, _stratum, _poll, _reach, _uint, _fixed, _fixed, _fixed)
_SOURCESTATS_CHECKS = (_address, _uint, _uint, _uint) + (_fixed,) * 4


def parse_tracking(text: str):
    lines, _ = split_output(text)
    problems = []
    for line in lines:
        cols = line.split(",")
        if len(cols) != len(F.TRACKING):
            problems.append(_bad("tracking", line, f"{len(cols)} fields, expected {len(F.TRACKING)}"))
            continue
        try:
            row = _checked(F.TRACKING, _TRACKING_CHECKS, cols)
        except ValueError as e:
            problems.append(_bad("tracking", line, f"bad value {e}"))
            continue
        out = {
            "reference_id": row["reference_id"],
            "reference_name": _ascii_refid(row["reference_id"]),
            "reference_address": row["reference_address"] or None,
        }
        for k in F.TRACKING[2:]:
            out[k] = row[k]
        return out, problems
    return None, problems


def _table(report, text, names, checks, convert):
    lines, _ = split_output(text)
    rows, problems = [], []
    for line in lines:
        cols = line.split(",")
        if len(cols) != len(names):
            problems.append(_bad(report, line, f"{len(cols)} fields, expected {len(names)}"))
            continue
        try:
            rows.append(convert(_checked(names, checks, cols)))
        except ValueError as e:
            problems.append(_bad(report, line, f"bad value {e}"))
    return rows, problems


def _source(r):
    if r["mode"] not in F.SOURCE_MODES or r["state"] not in F.SOURCE_STATES:
        raise ValueError(f"mode/state {r['mode'][:4]!r}{r['state'][:4]!r}")
    poll = r["poll_log2"]
    return {
        "mode": F.SOURCE_MODES[r["mode"]],
        "state": F.SOURCE_STATES[r["state"]],
        "address": r["address"],
        "stratum": r["stratum"],
        "poll_log2": poll,
        "poll_s": 2**poll if poll >= 0 else 2.0**poll,
        "reach": r["reach"],
        "last_rx_s": None if r["last_rx_s"] == _NEVER else r["last_rx_s"],
        "offset_s": r["offset_s"],
        "measured_offset_s": r["measured_offset_s"],
        "error_s": r["error_s"],
    }


def parse_sources(text: str):
    return _table("sources", text, F.SOURCES, _SOURCES_CHECKS, _source)


def parse_sourcestats(text: str):
    return _table("sourcestats", text, F.SOURCESTATS, _SOURCESTATS_CHECKS, dict)


def _counters(report, text, names_for, checks, expected):
    """The one line of a counters report (serverstats, activity)."""
    lines, _ = split_output(text)
    problems = []
    for line in lines:
        cols = line.split(",")
        names = names_for(len(cols))
        if names is None:
            problems.append(_bad(report, line, f"{len(cols)} fields, expected {expected}"))
            continue
        try:
            return _checked(names, checks, cols), problems
        except ValueError as e:
            problems.append(_bad(report, line, f"bad counter {e}"))
    return None, problems


def parse_serverstats(text: str):
    """Map by field count: 5 (chrony < 4.0), 8 (4.0-4.1), 11 (4.2-4.3), 17 (4.4+).
    chrony 4.4+ prints 64-bit counters (%Q)."""
    return _counters(
        "serverstats", text, F.SERVERSTATS_BY_COUNT.get, (_counter64,) * len(F.SERVERSTATS), "one of 5, 8, 11, 17"
    )


def parse_activity(text: str):
    return _counters("activity", text, {len(F.ACTIVITY): F.ACTIVITY}.get, (_uint,) * len(F.ACTIVITY), len(F.ACTIVITY))


ADDR_CHARS = "0123456789abcdefABCDEF.:"  # all an address printed by chronyc -n can contain
