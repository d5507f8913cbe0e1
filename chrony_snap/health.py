"""The health verdict: is this time server healthy, and if not, why?  Pure:
the tick's parsed reports in, data.json's `health` out.

Each rule is one function below, named by its code; the codes also name the
Prometheus alerts, so the page and the alerts agree.  Thresholds come from
config.py's [health] section (defaults and meanings in README.md, "Health
verdict").  The status is the worst severity among the reasons, in the order
ok < degraded < unknown < critical: a report that failed is never ok, and a
rule that can judge and finds the server critical outranks one that cannot.
"""

LOCAL_CLOCK_ID = "7F7F0101"  # chronyd's reference ID when it serves its own clock ("local stratum N")
SELECTABLE = frozenset({"selected", "combined", "not_combined"})
_RANK = {"ok": 0, "info": 0, "degraded": 1, "unknown": 2, "critical": 3}
_LEAP_WORDS = {"Insert second": "insert", "Delete second": "delete"}


def _reason(severity, code, message, value=None, threshold=None):
    return {"code": code, "severity": severity, "message": message, "value": value, "threshold": threshold}


def _unknown(report):
    return _reason(
        "unknown",
        "report_failed",
        f"chronyd's {report} report could not be read this time, so what depends on it is not judged "
        "(see the errors on this page).",
        report,
    )


def _seconds(v: float) -> str:
    a = abs(v)
    if a >= 1:
        return f"{v:.3g} s"
    if a >= 1e-3:
        return f"{v * 1e3:.3g} ms"
    return f"{v * 1e6:.3g} µs"


def max_clock_error(tracking) -> float:
    """chrony's FAQ: the largest error of the clock = |last offset| + root dispersion + root delay / 2."""
    return abs(tracking["last_offset_s"]) + tracking["root_dispersion_s"] + tracking["root_delay_s"] / 2


def synchronisation(tracking, th) -> list:
    """not_synchronised, leap_not_normal, offset_high, max_error_high."""
    if tracking is None:
        return [_unknown("tracking")]
    leap, stratum = tracking["leap_status"], tracking["stratum"]
    if leap == "Not synchronised" or stratum >= 16:
        why = "its leap status is 'Not synchronised'" if leap == "Not synchronised" else f"it is at stratum {stratum}"
        return [
            _reason(
                "critical",
                "not_synchronised",
                f"chronyd is not synchronised ({why}): clients get unsynchronised time or none. "
                "Check that its sources are reachable (below).",
                stratum if stratum >= 16 else leap,
            )
        ]
    out = []
    if leap in _LEAP_WORDS:
        out.append(
            _reason(
                "degraded",
                "leap_not_normal",
                f"A leap second will be {_LEAP_WORDS[leap]}ed at the end of the day (leap status '{leap}'). "
                "Expected around 30 June and 31 December; otherwise a source announces a wrong leap second.",
                leap,
            )
        )
    offset = abs(tracking["system_time_s"])
    for severity, key in (("critical", "offset_critical_s"), ("degraded", "offset_degraded_s")):
        if offset > th[key]:
            out.append(
                _reason(
                    severity,
                    "offset_high",
                    f"The system clock is {_seconds(offset)} away from NTP time (over {_seconds(th[key])}). "
                    "chronyd is still correcting it; if it stays, check the sources and whether something "
                    "else sets the clock.",
                    offset,
                    th[key],
                )
            )
            break
    max_error = max_clock_error(tracking)
    if max_error > th["max_error_degraded_s"]:
        out.append(
            _reason(
                "degraded",
                "max_error_high",
                f"The clock may be up to {_seconds(max_error)} wrong (|last offset| + root dispersion + "
                f"root delay / 2, over {_seconds(th['max_error_degraded_s'])}): the sources are far or noisy.",
                max_error,
                th["max_error_degraded_s"],
            )
        )
    return out


def selection(tracking, sources) -> list:
    """no_selectable_source (or the deliberate local clock), sources_unreachable."""
    if sources is None:
        return [_unknown("sources")]
    out = []
    dead = [s["address"] for s in sources if s["reach"] == 0]
    if dead:
        shown = ", ".join(dead[:5]) + (f" and {len(dead) - 5} more" if len(dead) > 5 else "")
        which = "The only source" if len(sources) == 1 else f"{len(dead)} of {len(sources)} sources"
        out.append(
            _reason(
                "degraded",
                "sources_unreachable",
                f"{which} answered none of the last 8 polls: {shown}. "
                "Check that they are up and reachable "
                "(for a server: that the network and firewall let NTP, UDP 123, through).",
                len(dead),
                0,
            )
        )
    if any(s["state"] in SELECTABLE for s in sources):
        return out
    if tracking is not None and tracking["reference_id"] == LOCAL_CLOCK_ID:
        why = "it has no sources" if not sources else "no source is selectable"
        out.append(
            _reason(
                "info",
                "local_clock",
                f"chronyd serves its own clock (local stratum {tracking['stratum']}) because {why}: "
                "fine for an isolated network that is meant to follow this server.",
                tracking["stratum"],
            )
        )
    else:
        out.append(
            _reason(
                "critical",
                "no_selectable_source",
                "No source can be used to synchronise ("
                + ("none is configured" if not sources else f"{len(sources)} configured, none selectable")
                + "): the clock drifts. Add or fix the server or pool lines in chrony.conf, "
                "or add 'local stratum N' if this server is meant to serve its own clock.",
                0,
            )
        )
    return out


def server_load(serverstats, rate, th) -> list:
    """client_log_full, ntp_drop_share_high: from the counters' rates (none on
    the first tick or after a restart: nothing to judge then)."""
    if serverstats is None:
        return [_unknown("serverstats")]
    if rate is None:
        return []
    out = []
    lost = rate.get("client_log_records_dropped", 0)
    if lost > 0:
        out.append(
            _reason(
                "degraded",
                "client_log_full",
                f"chronyd's client log is full: it forgets {lost:g} client records per second, so the "
                "client list and counts are incomplete. Raise clientloglimit in chrony.conf.",
                lost,
                0,
            )
        )
    received, dropped = rate.get("ntp_packets_received", 0), rate.get("ntp_packets_dropped", 0)
    if received >= th["ntp_drop_min_pps"] and received > 0:
        share = dropped / received
        if share > th["ntp_drop_share_degraded"]:
            out.append(
                _reason(
                    "degraded",
                    "ntp_drop_share_high",
                    f"chronyd drops {share:.0%} of NTP requests ({dropped:g} of {received:g} per second; over "
                    f"{th['ntp_drop_share_degraded']:.0%}): rate limiting refuses clients that poll too often. "
                    "Find them in the client list (sort by NTP drops); if they are legitimate, "
                    "relax ratelimit in chrony.conf.",
                    round(share, 4),
                    th["ntp_drop_share_degraded"],
                )
            )
    return out


def log_capacity(client_log, reasons) -> list:
    """client_log_full also when the client count is at chronyd's client-log
    capacity (clientlog.py), unless the rate rule said it already."""
    if not client_log or not client_log.get("full") or any(r["code"] == "client_log_full" for r in reasons):
        return []
    n, cap = client_log["records"], client_log["capacity"]
    return [
        _reason(
            "degraded",
            "client_log_full",
            f"chronyd's client log is full ({n} of {cap} records): it forgets clients to make room for new ones, "
            "so the client list and counts are incomplete. Raise clientloglimit in chrony.conf.",
            n,
            cap,
        )
    ]


def verdict(*, reachable, tracking, sources, serverstats, serverstats_rate, thresholds, client_log=None) -> dict:
    """data.json's `health`: {status, reasons}.  client_log: clientlog.summary() or None."""
    if not reachable:
        reasons = [
            _reason(
                "critical",
                "chronyd_unreachable",
                "chronyd did not answer: nothing about the time service can be checked. Is chronyd running, "
                "and may chrony-snap use its socket? (see the errors on this page)",
            )
        ]
    else:
        reasons = (
            synchronisation(tracking, thresholds)
            + selection(tracking, sources)
            + server_load(serverstats, serverstats_rate, thresholds)
        )
        reasons += log_capacity(client_log, reasons)
    worst = max((_RANK[r["severity"]] for r in reasons), default=0)
    status = ("ok", "degraded", "unknown", "critical")[worst]
    return {"status": status, "reasons": sorted(reasons, key=lambda r: -_RANK[r["severity"]])}
