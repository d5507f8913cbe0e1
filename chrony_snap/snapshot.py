"""Assemble data.json (schema version 1) from parsed reports. Pure: no I/O.

Clients are encoded row by row straight into JSON text (fields validated by
parse.parse_clients), which keeps 100k clients fast and small in memory; the
rest goes through jsonenc.
"""

import time

from chrony_snap import SCHEMA_VERSION, __version__, fields as F
from chrony_snap.jsonenc import Raw, dumps, string
from chrony_snap.parse import interval_json

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


def _last(text):
    return "null" if text == F.NEVER else str(int(text))


def encode_clients(rows, nts, prev, dt, rule, names, static=None):
    """-> (list of JSON texts, summary dict, new prev counters)."""
    I = interval_json
    out = []
    new_prev = {}
    counts = {"ok": 0, "warning": 0, "critical": 0}
    v4 = v6 = 0
    tot_n = tot_d = tot_c = tot_cd = 0
    sum_pps = sum_dps = 0.0
    have_rate = dt is not None
    active = 0
    for a, n, d, i, il, l, c, cd, ci, cl in rows:
        n = int(n)
        d = int(d)
        c = int(c)
        cd = int(cd)
        st = classify(n, d, rule)
        counts[st] += 1
        if ":" in a:
            fam = "ipv6"
            v6 += 1
        else:
            fam = "ipv4"
            v4 += 1
        tot_n += n
        tot_d += d
        tot_c += c
        tot_cd += cd
        p = prev.get(a) if have_rate else None
        if p is not None and n >= p[0] and d >= p[1]:
            r1 = round((n - p[0]) / dt, 3)
            r2 = round((d - p[1]) / dt, 3)
            sum_pps += r1
            sum_dps += r2
            rate = f'{{"ntp_pps":{r1!r},"drop_pps":{r2!r}}}'
        else:
            rate = '{"ntp_pps":null,"drop_pps":null}'
        new_prev[a] = (n, d)
        ls = _last(l)
        cls = _last(cl)
        if (ls != "null" and int(ls) <= 60) or (cls != "null" and int(cls) <= 60):
            active += 1
        name = static.get(a) if static else None
        if name is None:
            e = names.get(a)
            name = None if e is None else e[0]
        host = "null" if name is None else string(name)
        extra = ""
        if nts is not None:
            k = nts.get(a)
            if k is None:
                extra = ',"nts_ke":null'
            else:
                extra = (f',"nts_ke":{{"connections":{int(k[6])},"drops":{int(k[7])},'
                         f'"interval_s":{I(k[8])},"last_seen_s":{_last(k[9])}}}')
        out.append(
            f'{{"address":"{a}","family":"{fam}","hostname":{host},"status":"{st}",'
            f'"ntp":{{"packets":{n},"drops":{d},"interval_s":{I(i)},"interval_limited_s":{I(il)},"last_seen_s":{ls}}},'
            f'"cmd":{{"packets":{c},"drops":{cd},"interval_s":{I(ci)},"last_seen_s":{cls}}}'
            f'{extra},"rate":{rate}}}'
        )
    summary = {
        "clients": len(out),
        "ok": counts["ok"],
        "warning": counts["warning"],
        "critical": counts["critical"],
        "ipv4": v4,
        "ipv6": v6,
        "active_60s": active,
        "ntp_packets": tot_n,
        "ntp_drops": tot_d,
        "cmd_packets": tot_c,
        "cmd_drops": tot_cd,
        "ntp_pps": round(sum_pps, 3) if have_rate else None,
        "drop_pps": round(sum_dps, 3) if have_rate else None,
    }
    return out, summary, new_prev


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


def assemble(*, seq, now_wall, host, cfg, chrony, reports, client_texts, summary, errors,
             duration_ms, ss_rate):
    """The whole data.json text. `clients` comes last; schema_version and seq first."""
    page = cfg["page"]
    st = cfg["status"]
    top = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": rfc3339(now_wall),
        "seq": seq,
        "host": host,
        "generator": {"name": "chrony-snap", "version": __version__},
        "refresh_s": page["refresh_s"],
        "stale_after_s": page["refresh_s"] * page["stale_after_refreshes"],
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
        "clients": Raw("[" + ",".join(client_texts) + "]"),
    }
    return dumps(top)
