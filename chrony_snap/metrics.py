"""The tick's numbers in Prometheus text exposition format 0.0.4 (the
`metrics` file in the web root, and node_exporter's textfile collector).
Pure: no I/O, no metrics library.

Names, labels and units follow SuperQ/chrony_exporter (collector/*.go) so
that its dashboards and alerts work unchanged; what it has no metric for is
under ``chrony_snap_``.  A report that failed exports no series (never
made-up zeros); a value that is not finite is left out.  README.md
("Fleet monitoring with Prometheus") lists every name.
"""

from chrony_snap import __version__, fields as F
from chrony_snap.health import max_clock_error

# chrony_exporter's clients.go buckets: seconds (last seen, NTP interval), and drops
TIME_BUCKETS = (1, 5, 30, 60, 300, 1800, 3600, 21600, 86400)
DROP_BUCKETS = (0, 1, 2, 5, 10, 50, 100)

# data.json's serverstats keys -> chrony_exporter's serverstats.go names
SERVERSTATS = {
    "ntp_packets_received": ("ntp_packets_received_total", "counter", "Valid NTP requests received."),
    "ntp_packets_dropped": ("ntp_packets_dropped_total", "counter", "NTP requests dropped by rate limiting."),
    "cmd_packets_received": ("command_packets_received_total", "counter", "Command requests received."),
    "cmd_packets_dropped": ("command_packets_dropped_total", "counter", "Command requests dropped by rate limiting."),
    "client_log_records_dropped": (
        "client_log_records_dropped_total",
        "counter",
        "Client log records dropped to limit memory use (clientloglimit too small).",
    ),
    "nts_ke_connections_accepted": ("nts_ke_connections_accepted_total", "counter", "NTS-KE connections accepted."),
    "nts_ke_connections_dropped": ("nts_ke_connections_dropped_total", "counter", "NTS-KE connections dropped."),
    "authenticated_ntp_packets": ("authenticated_ntp_packets_total", "counter", "Authenticated NTP requests."),
    "interleaved_ntp_packets": ("interleaved_ntp_packets_total", "counter", "Interleaved-mode NTP requests."),
    "ntp_timestamps_held": ("ntp_timestamps_held", "gauge", "Timestamp pairs held for interleaved clients."),
    "ntp_timestamp_span_s": ("ntp_timestamp_span_seconds", "gauge", "Interval covered by the held timestamps."),
    "ntp_daemon_rx_timestamps": ("ntp_daemon_rx_timestamps_total", "counter", "Receive timestamps by the daemon."),
    "ntp_daemon_tx_timestamps": ("ntp_daemon_tx_timestamps_total", "counter", "Transmit timestamps by the daemon."),
    "ntp_kernel_rx_timestamps": ("ntp_kernel_rx_timestamps_total", "counter", "Receive timestamps by the kernel."),
    "ntp_kernel_tx_timestamps": ("ntp_kernel_tx_timestamps_total", "counter", "Transmit timestamps by the kernel."),
    "ntp_hardware_rx_timestamps": ("ntp_hw_rx_timestamps_total", "counter", "Receive timestamps by the NIC."),
    "ntp_hardware_tx_timestamps": ("ntp_hw_tx_timestamps_total", "counter", "Transmit timestamps by the NIC."),
}

# chronyc's words (data.json) -> the label values chrony_exporter takes from
# chrony's protocol (facebook/time ntp/chrony SourceStateDesc, ModeTypeDesc)
SOURCE_STATES = {
    "selected": "sync",
    "unusable": "unreach",
    "falseticker": "falseticker",
    "too_variable": "jittery",
    "combined": "candidate",
    "not_combined": "outlier",
}
SOURCE_MODES = {"server": "client", "peer": "peer", "refclock": "reference clock"}

TRACKING = (
    ("last_offset_seconds", "last_offset_s", "Estimated local offset at the last clock update."),
    ("reference_timestamp_seconds", "ref_time", "Time of the last measurement from the reference."),
    ("system_time_seconds", "system_time_s", "System clock correction in progress (chronyc's System time)."),
    ("rms_offset_seconds", "rms_offset_s", "Long-term average of the offset."),
    ("root_delay_seconds", "root_delay_s", "Total network path delay to the stratum-1 reference."),
    ("root_dispersion_seconds", "root_dispersion_s", "Total dispersion accumulated to the stratum-1 reference."),
    ("frequency_ppms", "frequency_ppm", "Rate by which the clock would be wrong uncorrected, in ppm."),
    ("residual_frequency_ppms", "residual_freq_ppm", "Residual frequency of the reference, in ppm."),
    ("skew_ppms", "skew_ppm", "Estimated error bound on the frequency, in ppm."),
    ("update_interval_seconds", "update_interval_s", "Interval between the last two clock updates."),
    ("stratum", "stratum", "Stratum of this server."),
)
SOURCESTATS = (
    ("samples", "samples", "Sample points retained (NP)."),
    ("runs", "runs", "Runs of residuals with the same sign (NR)."),
    ("span_seconds", "span_s", "Interval between the oldest and newest samples."),
    ("stddev", "std_dev_s", "Estimated sample standard deviation, in seconds."),
    ("frequency_ppms", "frequency_ppm", "Estimated residual frequency, in ppm."),
    ("frequency_skew_ppms", "freq_skew_ppm", "Estimated error bounds on the frequency, in ppm."),
    ("offset", "offset_s", "Estimated offset of the source, in seconds."),
)


class ClientCounts:
    """What the clients encoder counts for the histograms, per distinct text
    value (dict[JSON text] -> clients) of the clients with NTP hits: a dict
    increment per row, turned into buckets once per tick.  `drops` counts
    only non-zero drops; `idle` the clients without any NTP request (in no
    histogram); `nts` the clients with NTS-KE connections.  `top` collects
    (drops, packets, address) of clients with drops when top_n is set."""

    __slots__ = ("last", "interval", "drops", "idle", "nts", "top", "top_n")

    def __init__(self, top_n=0):
        self.last, self.interval, self.drops = {}, {}, {}
        self.idle = self.nts = 0
        self.top = []
        self.top_n = top_n


def _num(v) -> str | None:
    """A sample value as text; None for anything not a finite number."""
    if v.__class__ is int:
        return str(v)
    if v.__class__ is float and v - v == 0.0:  # NaN and +-inf fail this
        return repr(v)
    return None


def _esc(s) -> str:
    return str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_esc(v)}"' for k, v in pairs) + "}"


class _Out:
    """Families in order; a family with no sample is not written."""

    def __init__(self):
        self.families = {}

    def add(self, name, kind, help_, value, labels=()):
        text = _num(value)
        if text is None:
            return
        fam = self.families.get(name)
        if fam is None:
            fam = self.families[name] = (kind, help_, {})
        key = _labels(labels)
        fam[2].setdefault(key, text)  # a repeated label set keeps its first value

    def histogram(self, name, help_, buckets, count, total):
        fam = self.families[name] = ("histogram", help_, {})
        for le, n in buckets:
            fam[2][f'_bucket{{le="{le}"}}'] = str(n)
        fam[2]['_bucket{le="+Inf"}'] = str(count)
        fam[2]["_sum"] = _num(total) or "0"
        fam[2]["_count"] = str(count)

    def text(self) -> str:
        lines = []
        for name, (kind, help_, samples) in self.families.items():
            if not samples:
                continue
            lines.append(f"# HELP {name} {help_}")
            lines.append(f"# TYPE {name} {kind}")
            if kind == "histogram":
                lines += [f"{name}{suffix} {v}" for suffix, v in samples.items()]
            else:
                lines += [f"{name}{labels} {v}" for labels, v in samples.items()]
        return "\n".join(lines) + "\n"


def _buckets(counts: dict, bounds, convert):
    """{text value: clients} -> (cumulative [(le, n)], count, sum); "null"
    (never / no interval) is not an observation."""
    per = [0] * len(bounds)
    count, total = 0, 0.0
    for key, n in counts.items():
        if key == "null":
            continue
        v = convert(key)
        count += n
        total += v * n
        for j, b in enumerate(bounds):
            if v <= b:
                per[j] += n
                break
    out, run = [], 0
    for b, n in zip(bounds, per, strict=True):
        run += n
        out.append((b, run))
    return out, count, total


def render(*, up, reports, summary, counts, nts_ke, errors, now, duration_s, chrony_version) -> str:
    """The exposition text.  `reports`: parsed reports (None = failed);
    `summary`/`counts`: the clients' (None when the clients report failed);
    `nts_ke`: whether NTS-KE clients could be told apart (chrony.nts_ke)."""
    o = _Out()
    o.add("chrony_up", "gauge", "Whether chronyd answered.", 1 if up else 0)
    tr = reports.get("tracking")
    if tr:
        addr = tr["reference_address"] or ""
        name = addr or tr["reference_name"] or ""
        info = (("tracking_address", addr), ("tracking_name", name), ("tracking_refid", tr["reference_id"]))
        o.add("chrony_tracking_info", "gauge", "Chrony tracking info.", 1, info)
        for metric, key, help_ in TRACKING:
            o.add(f"chrony_tracking_{metric}", "gauge", help_, tr[key])
        o.add("chrony_tracking_remote_reference", "gauge", "1 when the reference is an NTP server.", 1 if addr else 0)
        o.add(
            "chrony_snap_tracking_leap_status",
            "gauge",
            "chrony's leap status: 0 normal, 1 insert second, 2 delete second, 3 not synchronised.",
            F.LEAP_CODES.get(tr["leap_status"]),
        )
        o.add(
            "chrony_snap_max_clock_error_seconds",
            "gauge",
            "Maximum clock error: |last offset| + root dispersion + root delay / 2 (chrony FAQ).",
            max_clock_error(tr),
        )
    for s in reports.get("sources") or ():
        lab = (("source_address", s["address"]), ("source_name", s["address"]))
        reach = s["reach"]
        o.add("chrony_sources_last_sample_age_seconds", "gauge", "Age of the last good sample.", s["last_rx_s"], lab)
        o.add("chrony_sources_reachability_ratio", "gauge", "Share of the last 8 polls answered.",
              bin(reach).count("1") / 8, lab)  # fmt: skip
        o.add("chrony_sources_reachability_success", "gauge", "1 when the last poll was answered.", reach & 1, lab)
        o.add("chrony_sources_last_sample_offset_seconds", "gauge", "Last sample offset.", s["offset_s"], lab)
        o.add("chrony_sources_last_sample_error_margin_seconds", "gauge", "Last sample margin of error.",
              s["error_s"], lab)  # fmt: skip
        o.add("chrony_sources_polling_interval_seconds", "gauge", "Polling interval.", s["poll_s"], lab)
        state = (("source_state", SOURCE_STATES[s["state"]]), ("source_mode", SOURCE_MODES[s["mode"]]))
        o.add("chrony_sources_state_info", "gauge", "Source state and mode.", 1, lab + state)
        o.add("chrony_sources_stratum", "gauge", "Stratum of the source.", s["stratum"], lab)
    for s in reports.get("sourcestats") or ():
        lab = (("source_address", s["address"]), ("source_name", s["address"]))
        for metric, key, help_ in SOURCESTATS:
            o.add(f"chrony_sourcestats_{metric}", "gauge", help_, s[key], lab)
    for key, value in (reports.get("serverstats") or {}).items():
        metric, kind, help_ = SERVERSTATS[key]
        o.add(f"chrony_serverstats_{metric}", kind, help_, value)
    if summary is not None:
        help_ = "Clients in chronyd's log, by protocol (nts only with chrony.nts_ke)."
        o.add("chrony_clients_connected", "gauge", help_, summary["clients"] - counts.nts, (("protocol", "ntp"),))
        if nts_ke:
            o.add("chrony_clients_connected", "gauge", help_, counts.nts, (("protocol", "nts"),))
        _client_histograms(o, counts, summary["clients"])
        for status in ("ok", "warning", "critical"):
            o.add("chrony_snap_clients", "gauge", "Clients by chrony-snap status.", summary[status],
                  (("status", status),))  # fmt: skip
        for drops, packets, address in top_clients(counts):
            lab = (("client_address", address),)
            o.add("chrony_snap_top_client_ntp_drops", "gauge", "NTP drops of the clients with most drops.", drops, lab)
            o.add("chrony_snap_top_client_ntp_packets", "gauge", "NTP packets of the same clients.", packets, lab)
    per = {}
    for e in errors:
        k = (e["report"], e["code"] or "")
        per[k] = per.get(k, 0) + 1
    for (report, code), n in per.items():
        o.add("chrony_snap_errors", "gauge", "Problems this snapshot, by report and code (see data.json errors).", n,
              (("report", report), ("code", code)))  # fmt: skip
    o.add("chrony_snap_snapshot_duration_seconds", "gauge", "How long the snapshot took.", duration_s)
    o.add("chrony_snap_last_snapshot_timestamp_seconds", "gauge", "When the snapshot was taken (Unix time).", now)
    o.add("chrony_snap_build_info", "gauge", "chrony-snap and chronyc versions.", 1,
          (("version", __version__), ("chrony_version", chrony_version or "")))  # fmt: skip
    return o.text()


def _client_histograms(o, counts, clients):
    b, n, total = _buckets(counts.last, TIME_BUCKETS, int)
    o.histogram("chrony_clients_last_ntp_hit_ago_seconds", "Time since each client's last NTP request.", b, n, total)
    b, n, total = _buckets(counts.interval, TIME_BUCKETS, float)
    o.histogram("chrony_clients_ntp_interval_seconds", "Mean interval between each client's NTP requests.", b, n, total)
    drops = dict(counts.drops)
    drops[0] = clients - counts.idle - sum(drops.values())  # clients with NTP requests and no drop
    b, n, total = _buckets(drops, DROP_BUCKETS, int)
    o.histogram("chrony_clients_ntp_drops", "NTP requests dropped (rate limited) per client.", b, n, total)


def top_clients(counts):
    """The top_n (drops, packets, address) by drops, then address."""
    if not counts.top_n:
        return []
    return sorted(counts.top, key=lambda r: (-r[0], r[2]))[: counts.top_n]
