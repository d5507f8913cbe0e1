"""The reports chrony-snap collects, one row each in REPORTS (like
chrony_exporter's one collector per report), and what a failed call means.

``start()`` is the I/O edge (chronyc children in parallel, each with its own
deadline and output cap: the client list's, and one for the five small
reports, see CHEAP); ``split_cheap()`` and ``diagnose()`` are pure: the
latter turns a failed call into an error record with a hint a human can act
on.
"""

import os

from chrony_snap import clients, parse
from chrony_snap.runner import Result, run_all, start as run_start, which

KIB, MIB = 1024, 1024 * 1024


class Report:
    """One chronyc report: its command, which deadline bounds it, its parser
    (text -> (value, problems)), how much output it may print, and whether
    an empty reply is a valid answer."""

    __slots__ = ("name", "command", "deadline_key", "parse", "cap", "empty_ok")

    def __init__(self, name, command, deadline_key, parse, cap, empty_ok):
        self.name, self.command, self.deadline_key = name, command, deadline_key
        self.parse, self.cap, self.empty_ok = parse, cap, empty_ok


# Never `clients -r`: it resets everyone's counters.  `clients` is streamed
# into the encoder (clients.py) as chronyc prints it; its cap bounds what a
# runaway chronyc can make the tick read; `clients -k` is buffered whole
# (100k clients print ~7 MB).
REPORTS = {
    r.name: r
    for r in (
        Report("clients", "clients", "clients_deadline_s", None, 256 * MIB, True),
        Report("tracking", "tracking", "reports_deadline_s", parse.parse_tracking, 64 * KIB, False),
        Report("sources", "sources", "reports_deadline_s", parse.parse_sources, 4 * MIB, True),
        Report("sourcestats", "sourcestats", "reports_deadline_s", parse.parse_sourcestats, 4 * MIB, True),
        Report("serverstats", "serverstats", "reports_deadline_s", parse.parse_serverstats, 64 * KIB, False),
        Report("activity", "activity", "reports_deadline_s", parse.parse_activity, 64 * KIB, False),
        Report("clients_nts", "clients -k", "clients_deadline_s", clients.parse_nts, 64 * MIB, True),
    )
}
CONNECT_FAILED = "Could not open connection to daemon"

# The five small reports, asked of chronyd by ONE chronyc (`-m`): one process
# a tick instead of five, ~1 ms of CPU each (issue 11).  The single-line
# reports come first, so that the output splits by position; sources' lines
# start with their mode (^ = #), sourcestats' with a name.  chronyc stops at
# the first command that fails, so any failure asks them again one chronyc
# each (start_each), and each report's own answer is diagnosed.
CHEAP = ("tracking", "serverstats", "activity", "sources", "sourcestats")
COMBINED = "cheap"  # the combined call's name among the results
_SOURCE_MODES = (b"^,", b"=,", b"#,")


def argv_for(cfg_chrony: dict, *commands: str) -> list:
    argv = [cfg_chrony["chronyc"], "-c", "-n"]
    if cfg_chrony["socket"]:
        argv += ["-h", cfg_chrony["socket"]]
    if cfg_chrony["port"]:
        argv += ["-p", str(cfg_chrony["port"])]
    argv += ["-m", f"timeout {cfg_chrony['request_timeout_ms']}", f"retries {cfg_chrony['retries']}", *commands]
    return argv


def _job(cfg_chrony: dict, r: Report) -> tuple:
    return (r.name, argv_for(cfg_chrony, r.command), cfg_chrony[r.deadline_key], r.cap)


def start(cfg_chrony: dict, with_clients: bool = True):
    """Start the client list's chronyc (two with NTS-KE; only `with_clients`)
    and the five small reports' one; returns a runner.Running to wait() on (a
    context manager: whatever still runs on exit is killed and reaped)."""
    jobs = []
    if with_clients:
        jobs.append(_job(cfg_chrony, REPORTS["clients"]))
        if cfg_chrony["nts_ke"]:
            jobs.append(_job(cfg_chrony, REPORTS["clients_nts"]))
    small = argv_for(cfg_chrony, *(REPORTS[n].command for n in CHEAP))
    jobs.append((COMBINED, small, cfg_chrony["reports_deadline_s"], sum(REPORTS[n].cap for n in CHEAP)))
    return run_start(jobs)


def start_each(cfg_chrony: dict):
    """The five small reports one chronyc each, in parallel: after the
    combined call failed, so that each failure is told apart."""
    return run_start([_job(cfg_chrony, REPORTS[n]) for n in CHEAP])


def _unreachable(res: Result) -> bool:
    """chronyd could not be reached at all (no socket, 506 after chronyc's own
    timeout): asking again, one chronyc each, would only say so five times
    more slowly."""
    return CONNECT_FAILED.encode() in res.err or res.out.startswith(b"506 ")


def split_cheap(res: Result) -> dict | None:
    """The combined call's answer as each small report's own Result, or None
    when it cannot be told apart (a command failed or hung, or output of a
    shape chronyc does not print): ask them one by one then.  A chronyc that
    cannot be started, or a chronyd that cannot be reached, is that for each
    report."""
    if res.spawn_error or _unreachable(res):
        return dict.fromkeys(CHEAP, res)
    if res.timed_out or res.overflow or res.rc != 0 or res.err.strip():
        return None
    lines = res.out.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    if len(lines) < 3:
        return None
    rest = lines[3:]
    n_sources = 0
    while n_sources < len(rest) and rest[n_sources][:2] in _SOURCE_MODES:
        n_sources += 1
    if any(line[:2] in _SOURCE_MODES for line in rest[n_sources:]):
        return None
    parts = [lines[0:1], lines[1:2], lines[2:3], rest[:n_sources], rest[n_sources:]]
    out = {}
    for name, part in zip(CHEAP, parts, strict=True):
        r = out[name] = Result(name)
        r.rc = 0
        r.out = b"".join(line + b"\n" for line in part)
    return out


def socket_state(path: str) -> str:
    """'absent' | 'denied' | 'present' | 'none' (no socket configured)."""
    if not path:
        return "none"
    if not path.startswith("/"):
        return "none"  # a host name: chronyc talks UDP
    try:
        os.stat(path)
    except FileNotFoundError:
        return "absent"
    except PermissionError:
        return "denied"
    except OSError:
        return "absent"
    # chronyc needs to write the socket and to create its own reply socket
    # in the same directory
    ok = os.access(path, os.W_OK) and os.access(os.path.dirname(path) or ".", os.W_OK | os.X_OK)
    return "present" if ok else "denied"


def chronyc_version(chronyc: str, cache: dict) -> str | None:
    """chronyc's version ('4.3'), cached per binary (path, size, mtime)."""
    exe = which(chronyc)
    if exe is None:
        return None
    try:
        st = os.stat(exe)
    except OSError:
        return None
    key = (exe, st.st_size, st.st_mtime_ns)
    if cache.get("key") == key:
        return cache.get("version")
    res = run_all([("version", [exe, "--version"], 2.0, 64 * KIB)])["version"]
    version = parse_version(res.out.decode("utf-8", "replace"))
    cache.clear()
    cache.update(key=key, version=version)
    return version


def parse_version(text: str) -> str | None:
    """'chronyc (chrony) version 4.3 (+READLINE ...)' -> '4.3'."""
    words = text.split()
    for i, w in enumerate(words[:-1]):
        if w == "version":
            v = words[i + 1]
            if v[:1].isdigit() and sane_version(v):
                return v
    return None


def sane_version(v) -> bool:
    """A version string fit for data.json (or None: unknown)."""
    return v is None or (v.__class__ is str and 0 < len(v) <= 32 and v.isascii() and v.isprintable())


def _hint_socket(report, sock, state):
    if state == "absent":
        return (
            f"chronyd's command socket {sock} does not exist",
            "Is chronyd running (systemctl status chrony / chronyd)? Check bindcmdaddress in "
            "chrony.conf and chrony-snap's --socket / chrony.socket.",
        )
    if state == "denied":
        return (
            f"no permission to use chronyd's command socket {sock}",
            "Run chrony-snap as a member of chronyd's group (_chrony on Debian/Ubuntu, chrony on "
            "RHEL/Fedora); the socket and its directory must be group-writable (chronyc creates its "
            "reply socket there): see docs/production.md for the chrony.service drop-in.",
        )
    if state == "present":
        return (
            f"chronyd is not answering on {sock}",
            "The socket file exists but nothing accepts on it: chronyd has stopped or crashed "
            "(systemctl status chrony), or the socket belongs to another user.",
        )
    return (
        "could not open a connection to chronyd",
        "Check that chronyd is running and that --socket / chrony.socket is right.",
    )


def diagnose(report: str, res, cfg_chrony: dict, sock_state: str, deadline: float):
    """A failed or odd chronyc call -> (error record or None, reachable: bool|None).

    reachable is True when chronyd answered (even with a refusal), False when
    it could not be reached, None when this call says nothing either way.
    """
    cmd = REPORTS[report].command
    sock = cfg_chrony["socket"]
    if res.spawn_error:
        return _err(
            report,
            res.spawn_error,
            None,
            "Install chrony (it provides chronyc) or point chrony.chronyc / --chronyc at it.",
        ), None
    if res.timed_out:
        return _err(
            report,
            f"chronyc {cmd} did not finish within {deadline:g} s",
            "timeout",
            "chronyd is hung or overloaded; a very large client list may need a higher chrony.clients_deadline_s.",
        ), False
    if res.overflow:
        return _err(
            report,
            f"chronyc {cmd} printed more than {REPORTS[report].cap // KIB} KiB; stopped",
            "overflow",
            f"Run 'chronyc -c -n {cmd}' by hand: chronyc or chronyd is misbehaving.",
        ), None
    out = res.out.decode("utf-8", "replace")
    err = res.err.decode("utf-8", "replace").strip()
    status = parse.first_status(out)
    if status is None and CONNECT_FAILED in err:
        msg, hint = _hint_socket(report, sock, sock_state)
        return _err(report, msg, "connect", hint), False
    if status is not None:
        code, text = status
        msg = f"{code} {text}"
        if code == "506":
            return _err(
                report,
                msg,
                code,
                "chronyd did not answer: it is stopped, hung, or not listening on "
                f"{sock or 'its default command socket/port'}.",
            ), False
        if code == "501":
            if report.startswith("clients") or report == "serverstats":
                hint = (
                    "chronyd allows clients/serverstats only on its Unix socket: point chrony-snap at it "
                    "(--socket /run/chrony/chronyd.sock) as a member of chronyd's group (_chrony on Debian, "
                    "chrony on RHEL), or on chrony >= 4.7 add 'opencommands clients serverstats' to chrony.conf."
                )
            else:
                hint = "chronyd refused this command from chrony-snap's address: check cmdallow in chrony.conf."
            return _err(report, msg, code, hint), True
        if code == "519":
            return _err(
                report,
                msg,
                code,
                "chronyd runs with 'noclientlog' (or clientloglimit 0): remove it so chronyd records its clients.",
            ), True
        return _err(report, msg, code, f"Run 'chronyc -n {cmd}' by hand to see more."), True
    if res.rc != 0:
        detail = err.splitlines()[-1] if err else f"chronyc exited with status {res.rc}"
        return _err(report, detail, f"exit {res.rc}", f"Run 'chronyc -n {cmd}' by hand to see more."), None
    if not out.strip():  # says nothing about chronyd; an error where an answer always has lines
        if REPORTS[report].empty_ok:
            return None, None
        return _err(
            report,
            f"chronyc {cmd} printed nothing",
            "empty",
            f"chronyc exited without an answer; run 'chronyc -c -n {cmd}' by hand to see more.",
        ), None
    return None, True


def _err(report, message, code, hint):
    return {"report": report, "message": message, "code": code, "hint": hint}


def write_error(report: str, path: str, e: OSError):
    return _err(
        report,
        f"cannot write {path}: {e.strerror or e}",
        "write",
        "Check that the directory exists and that chrony-snap's user may write it (disk full? read-only?); "
        "data.json is written all the same.",
    )


def garbage_error(report: str, problems: list):
    return _err(
        report,
        problems[0] if len(problems) == 1 else f"{problems[0]} (+{len(problems) - 1} more)",
        "unparsable",
        "chronyc printed output chrony-snap does not understand; check 'chronyc --version' "
        "against the supported versions in README.md and report it.",
    )
