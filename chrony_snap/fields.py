"""chronyc's CSV columns, named once.

Every report chrony-snap collects is read with ``chronyc -c -n``.  The tuples
below give each comma-separated column its name, in chronyc's order.  They are
checked against output captured from a real chronyd (tests/fixtures/chrony).
"""

# `clients`: Hostname, NTP, Drop, Int, IntL, Last, Cmd, Drop, Int, Last.
# With `clients -k` the last four columns count NTS-KE connections instead of
# command packets; they keep the same positions.
CLIENTS = (
    "address",
    "ntp_packets",
    "ntp_drops",
    "ntp_interval_log2",
    "ntp_interval_limited_log2",
    "ntp_last_s",
    "cmd_packets",
    "cmd_drops",
    "cmd_interval_log2",
    "cmd_last_s",
)

# In -c output a missing interval is 127 and a never-seen "Last" is 2^32-1.
NO_INTERVAL = "127"
NEVER = "4294967295"

TRACKING = (
    "reference_id",  # hex, e.g. 7F000001
    "reference_address",  # IP address, empty for a local reference / refclock
    "stratum",
    "ref_time",  # seconds since the epoch (UTC)
    "system_time_s",  # chronyd's correction: negative = system clock fast of NTP time
    "last_offset_s",
    "rms_offset_s",
    "frequency_ppm",  # negative = slow
    "residual_freq_ppm",
    "skew_ppm",
    "root_delay_s",
    "root_dispersion_s",
    "update_interval_s",
    "leap_status",  # Normal | Insert second | Delete second | Not synchronised
)

SOURCES = (
    "mode",  # ^ server, = peer, # reference clock
    "state",  # * + - ? x ~
    "address",
    "stratum",
    "poll_log2",
    "reach",  # octal text, e.g. 377
    "last_rx_s",
    "offset_s",  # last sample, adjusted
    "measured_offset_s",
    "error_s",
)

SOURCESTATS = (
    "address",
    "samples",  # NP
    "runs",  # NR
    "span_s",
    "frequency_ppm",
    "freq_skew_ppm",
    "offset_s",
    "std_dev_s",
)

# `serverstats` grew over chrony's history; chronyc prints as many columns as
# the running version knows.  Each version prints a prefix of this list.
SERVERSTATS = (
    "ntp_packets_received",
    "ntp_packets_dropped",
    "cmd_packets_received",
    "cmd_packets_dropped",
    "client_log_records_dropped",
    # chrony 4.0
    "nts_ke_connections_accepted",
    "nts_ke_connections_dropped",
    "authenticated_ntp_packets",
    # chrony 4.2
    "interleaved_ntp_packets",
    "ntp_timestamps_held",
    "ntp_timestamp_span_s",
    # chrony 4.4
    "ntp_daemon_rx_timestamps",
    "ntp_daemon_tx_timestamps",
    "ntp_kernel_rx_timestamps",
    "ntp_kernel_tx_timestamps",
    "ntp_hardware_rx_timestamps",
    "ntp_hardware_tx_timestamps",
)
SERVERSTATS_BY_COUNT = {n: SERVERSTATS[:n] for n in (5, 8, 11, 17)}
# Counters that only grow (rates are computed for these); the rest are gauges.
SERVERSTATS_GAUGES = frozenset({"ntp_timestamps_held", "ntp_timestamp_span_s"})

ACTIVITY = (
    "online",
    "offline",
    "burst_online",
    "burst_offline",
    "unresolved",
)

SOURCE_MODES = {"^": "server", "=": "peer", "#": "refclock"}
SOURCE_STATES = {
    "*": "selected",
    "+": "combined",
    "-": "not_combined",
    "?": "unusable",
    "x": "falseticker",
    "~": "too_variable",
}

# What chronyc can print, for parse.py's field checks (chrony's client.c, ntp_core.c)
U32_LIMIT = 2**32  # %u / %U print a uint32_t
U64_LIMIT = 2**64  # %Q prints a uint64_t (serverstats since chrony 4.4)
MAX_STRATUM = 16  # NTP_MAX_STRATUM
# ntp_core.c clamps NTP sources to MIN_POLL -6 .. MAX_POLL 24; one step lower
# leaves room for a reference clock's sub-second poll
POLL_RANGE = range(-7, 25)
# print_report's %L: chronyc prints "Invalid" for a value it does not know
LEAP_STATUSES = frozenset({"Normal", "Insert second", "Delete second", "Not synchronised", "Invalid"})
# chrony's numeric leap status (LEAP_Normal ... LEAP_Unsynchronised): the metric and the history series
LEAP_CODES = {"Normal": 0, "Insert second": 1, "Delete second": 2, "Not synchronised": 3}
