"""Prometheus metrics (chrony_snap/metrics.py, the tick's "write metrics"
step): the file every replayed chronyc output becomes passes `promtool check
metrics` and prometheus_client's parser, carries the same numbers as
data.json, keeps chrony_exporter's names, and leaves out what is unknown."""

import json
import math

import pytest

from chrony_snap import fields as F, metrics
from chrony_snap.parse import parse_tracking
from helpers import FIX, checked, one, read_snapshot, write_config

SERVERSTATS = {
    5: "1598,8,19,0,0\n",
    8: "1598,8,19,0,0,3,0,189\n",
    11: (FIX / "serverstats_c.csv").read_text(),
    17: "1598,8,19,0,0,3,0,189,43,44,120,0,1598,1598,0,0,0\n",
}

# Every name SuperQ/chrony_exporter exports, by the collector file that
# defines it (collector/*.go); a dashboard or alert written for it finds them here.
CHRONY_EXPORTER_NAMES = [
    "chrony_up",  # collector.go
    "chrony_tracking_info",  # tracking.go (labels tracking_address, tracking_name, tracking_refid)
    "chrony_tracking_last_offset_seconds",  # tracking.go
    "chrony_tracking_reference_timestamp_seconds",  # tracking.go
    "chrony_tracking_system_time_seconds",  # tracking.go
    "chrony_tracking_remote_reference",  # tracking.go
    "chrony_tracking_rms_offset_seconds",  # tracking.go
    "chrony_tracking_root_delay_seconds",  # tracking.go
    "chrony_tracking_root_dispersion_seconds",  # tracking.go
    "chrony_tracking_frequency_ppms",  # tracking.go
    "chrony_tracking_residual_frequency_ppms",  # tracking.go
    "chrony_tracking_skew_ppms",  # tracking.go
    "chrony_tracking_update_interval_seconds",  # tracking.go
    "chrony_tracking_stratum",  # tracking.go
    "chrony_sources_last_sample_age_seconds",  # sources.go (labels source_address, source_name)
    "chrony_sources_reachability_ratio",  # sources.go
    "chrony_sources_reachability_success",  # sources.go
    "chrony_sources_last_sample_offset_seconds",  # sources.go
    "chrony_sources_last_sample_error_margin_seconds",  # sources.go
    "chrony_sources_polling_interval_seconds",  # sources.go
    "chrony_sources_state_info",  # sources.go (+ source_state, source_mode)
    "chrony_sources_stratum",  # sources.go
    "chrony_sourcestats_samples",  # sourcestats.go
    "chrony_sourcestats_runs",  # sourcestats.go
    "chrony_sourcestats_span_seconds",  # sourcestats.go
    "chrony_sourcestats_stddev",  # sourcestats.go
    "chrony_sourcestats_frequency_ppms",  # sourcestats.go
    "chrony_sourcestats_frequency_skew_ppms",  # sourcestats.go
    "chrony_sourcestats_offset",  # sourcestats.go
    "chrony_serverstats_ntp_packets_received_total",  # serverstats.go
    "chrony_serverstats_nts_ke_connections_accepted_total",  # serverstats.go
    "chrony_serverstats_command_packets_received_total",  # serverstats.go
    "chrony_serverstats_ntp_packets_dropped_total",  # serverstats.go
    "chrony_serverstats_nts_ke_connections_dropped_total",  # serverstats.go
    "chrony_serverstats_command_packets_dropped_total",  # serverstats.go
    "chrony_serverstats_client_log_records_dropped_total",  # serverstats.go
    "chrony_serverstats_authenticated_ntp_packets_total",  # serverstats.go
    "chrony_serverstats_interleaved_ntp_packets_total",  # serverstats.go
    "chrony_serverstats_ntp_timestamps_held",  # serverstats.go
    "chrony_serverstats_ntp_timestamp_span_seconds",  # serverstats.go
    "chrony_serverstats_ntp_daemon_rx_timestamps_total",  # serverstats.go
    "chrony_serverstats_ntp_daemon_tx_timestamps_total",  # serverstats.go
    "chrony_serverstats_ntp_kernel_rx_timestamps_total",  # serverstats.go
    "chrony_serverstats_ntp_kernel_tx_timestamps_total",  # serverstats.go
    "chrony_serverstats_ntp_hw_rx_timestamps_total",  # serverstats.go
    "chrony_serverstats_ntp_hw_tx_timestamps_total",  # serverstats.go
    "chrony_clients_connected",  # clients.go (label protocol: ntp, nts)
    "chrony_clients_last_ntp_hit_ago_seconds_bucket",  # clients.go (histogram)
    "chrony_clients_ntp_interval_seconds_bucket",  # clients.go (histogram)
    "chrony_clients_ntp_drops_bucket",  # clients.go (histogram)
]


def build(tmp_path, fake, cfg_text="", **kw):
    """A tick against the fake chronyc; (rc, data.json, metrics text or None)."""
    cfg = write_config(tmp_path / "c.toml", "[chrony]\nreports_deadline_s = 10\nclients_deadline_s = 10\n" + cfg_text)
    r = fake.build(tmp_path, cfg, check=False, **kw)
    www = tmp_path / "www"
    text = (www / "metrics").read_text() if (www / "metrics").exists() else None
    doc = read_snapshot(www) if (www / "data.json").is_file() else None
    return r, doc, text


@pytest.mark.parametrize("count", [5, 8, 11, 17])
def test_serverstats_versions_export_only_their_counters(tmp_path, fake, count):
    fake.set("serverstats", stdout=SERVERSTATS[count])
    _, doc, text = build(tmp_path, fake)
    smp = checked(text)
    got = {n for n in smp if n.startswith("chrony_serverstats_")}
    want = {f"chrony_serverstats_{metrics.SERVERSTATS[k][0]}" for k in F.SERVERSTATS[:count]}
    assert got == want
    for k in F.SERVERSTATS[:count]:
        assert one(smp, f"chrony_serverstats_{metrics.SERVERSTATS[k][0]}") == doc["serverstats"][k]


def test_dead_daemon_is_up_0_and_nothing_made_up(tmp_path, fake):
    for cmd in fake.COMMANDS:
        fake.replay_error(cmd, "default_no_daemon")
    _, doc, text = build(tmp_path, fake)
    smp = checked(text)
    assert doc["chrony"]["reachable"] is False
    assert one(smp, "chrony_up") == 0
    left = {n for n in smp if not n.startswith("chrony_snap_")}
    assert left == {"chrony_up"}, left  # no tracking, sources, serverstats or client zeros
    assert "chrony_snap_clients" not in smp
    assert one(smp, "chrony_snap_errors", report="tracking", code="506") == 1
    assert "chrony_snap_last_snapshot_timestamp_seconds" in smp  # the snapshot itself was taken


def test_501_omits_clients_and_serverstats(tmp_path, fake):
    fake.replay_error("clients", "udp_clients_not_authorised")
    fake.replay_error("serverstats", "udp_serverstats_not_authorised")
    _, doc, text = build(tmp_path, fake)
    smp = checked(text)
    assert one(smp, "chrony_up") == 1 and "chrony_tracking_stratum" in smp
    assert not [n for n in smp if n.startswith(("chrony_clients_", "chrony_serverstats_"))]
    assert "chrony_snap_clients" not in smp
    assert one(smp, "chrony_snap_errors", report="clients", code="501") == 1


def test_values_are_data_json_values(tmp_path, fake):
    fake.set("clients", stdout=(FIX / "clients_1000_c_n.csv").read_text() + (FIX / "clients_c_n.csv").read_text())
    _, doc, text = build(tmp_path, fake)
    smp = checked(text)
    tr, s = doc["tracking"], doc["summary"]
    assert one(smp, "chrony_tracking_system_time_seconds") == tr["system_time_s"]
    assert one(smp, "chrony_tracking_last_offset_seconds") == tr["last_offset_s"]
    assert one(smp, "chrony_tracking_stratum") == tr["stratum"]
    assert one(smp, "chrony_tracking_info", tracking_address="127.0.0.1", tracking_name="127.0.0.1",
               tracking_refid="7F000001") == 1  # fmt: skip
    want = abs(tr["last_offset_s"]) + tr["root_dispersion_s"] + tr["root_delay_s"] / 2
    assert one(smp, "chrony_snap_max_clock_error_seconds") == pytest.approx(want, rel=1e-12)
    assert one(smp, "chrony_snap_tracking_leap_status") == 0
    src = doc["sources"][0]
    lab = {"source_address": src["address"], "source_name": src["address"]}
    assert one(smp, "chrony_sources_reachability_ratio", **lab) == 1.0
    assert one(smp, "chrony_sources_polling_interval_seconds", **lab) == src["poll_s"]
    assert one(smp, "chrony_sources_state_info", **lab, source_state="sync", source_mode="client") == 1
    assert one(smp, "chrony_clients_connected", protocol="ntp") == s["clients"] == len(doc["clients"])
    for status in ("ok", "warning", "critical"):
        assert one(smp, "chrony_snap_clients", status=status) == s[status]
    assert one(smp, "chrony_snap_snapshot_duration_seconds") == doc["duration_ms"] / 1000
    # the histograms, computed here from data.json's clients as chrony_exporter's clients.go does
    ntp = [c["ntp"] for c in doc["clients"] if c["ntp"]["packets"] or c["ntp"]["drops"]]
    hits = [c for c in ntp if c["packets"]]
    for name, values, bounds in (
        ("chrony_clients_last_ntp_hit_ago_seconds", [c["last_seen_s"] for c in hits], metrics.TIME_BUCKETS),
        ("chrony_clients_ntp_interval_seconds", [c["interval_s"] for c in hits], metrics.TIME_BUCKETS),
        ("chrony_clients_ntp_drops", [c["drops"] for c in ntp], metrics.DROP_BUCKETS),
    ):
        values = [v for v in values if v is not None]
        assert len(values) >= 3
        for b in bounds:
            assert one(smp, name + "_bucket", le=str(b)) == sum(v <= b for v in values), (name, b)
        assert one(smp, name + "_bucket", le="+Inf") == one(smp, name + "_count") == len(values)
        assert one(smp, name + "_sum") == pytest.approx(sum(values))


def test_nts_clients_counted_when_nts_ke_is_on(tmp_path, fake):
    fake.set("clients_-k", stdout="127.0.0.1,15,0,1,127,0,4,1,2,7\n")
    _, doc, text = build(tmp_path, fake, "nts_ke = true\n")
    smp = checked(text)
    assert one(smp, "chrony_clients_connected", protocol="nts") == 1
    assert one(smp, "chrony_clients_connected", protocol="ntp") == len(doc["clients"]) - 1


def test_every_chrony_exporter_name_is_exported(tmp_path, fake):
    fake.set("serverstats", stdout=SERVERSTATS[17])
    fake.set("clients_-k", stdout="127.0.0.1,15,0,1,127,0,4,1,2,7\n")
    _, _, text = build(tmp_path, fake, "nts_ke = true\n")
    smp = checked(text)
    missing = [n for n in CHRONY_EXPORTER_NAMES if n not in smp]
    assert not missing
    assert {dict(k)["protocol"] for k in smp["chrony_clients_connected"]} == {"ntp", "nts"}


def test_nan_and_infinity_never_reach_the_file():
    tr, _ = parse_tracking((FIX / "tracking_c.csv").read_text())
    tr.update(system_time_s=math.nan, root_delay_s=math.inf, rms_offset_s=-math.inf)
    text = metrics.render(
        up=True,
        reports={"tracking": tr},
        summary=None,
        counts=None,
        nts_ke=False,
        errors=[],
        now=1.0,
        duration_s=math.nan,
        chrony_version=None,
    )
    smp = checked(text)
    for name in (
        "chrony_tracking_system_time_seconds",
        "chrony_tracking_root_delay_seconds",
        "chrony_tracking_rms_offset_seconds",
        "chrony_snap_max_clock_error_seconds",  # inf root delay makes it inf
        "chrony_snap_snapshot_duration_seconds",
    ):
        assert name not in smp
    assert "nan" not in text.lower() and "inf " not in text.lower()
    assert one(smp, "chrony_tracking_stratum") == tr["stratum"]


def test_nan_and_inf_from_chronyc_are_an_error_not_a_value(tmp_path, fake):
    fake.set("tracking", stdout="7F000001,127.0.0.1,11,nan,inf,-inf,0.1,0.0,0.0,0.0,0.0,0.0,2.0,Normal\n")
    fake.set("sources", stdout="^,*,127.0.0.1,10,1,377,1,nan,0.0,0.0\n")
    _, doc, text = build(tmp_path, fake)
    smp = checked(text)
    assert "nan" not in text.lower() and "inf " not in text.lower()
    assert not [n for n in smp if n.startswith(("chrony_tracking_", "chrony_sources_"))]
    assert one(smp, "chrony_snap_errors", report="tracking", code="unparsable") == 1
    assert one(smp, "chrony_snap_errors", report="sources", code="unparsable") == 1
    assert "chrony_sourcestats_samples" in smp  # the other reports stay


def test_top_clients_capped_and_off_by_default(tmp_path, fake):
    fake.set("clients", stdout=(FIX / "clients_c_n.csv").read_text() + "127.3.0.1,50,5,0,0,1,0,0,127,4294967295\n")
    _, _, text = build(tmp_path, fake)
    assert "chrony_snap_top_client" not in text
    _, _, text = build(tmp_path, fake, "[metrics]\ntop_clients = 1\n")
    smp = checked(text)
    assert smp["chrony_snap_top_client_ntp_drops"] == {frozenset({("client_address", "127.1.0.9")}): 10}
    assert smp["chrony_snap_top_client_ntp_packets"] == {frozenset({("client_address", "127.1.0.9")}): 20}
    r, _, _ = build(tmp_path, fake, "[metrics]\ntop_clients = 101\n")
    assert r.returncode == 2 and "metrics.top_clients" in r.stderr


def test_textfile_written_like_write_to_textfile(tmp_path, fake):
    tdir = tmp_path / "textfile"
    tdir.mkdir()
    _, _, text = build(tmp_path, fake, f'[metrics]\ntextfile_dir = "{tdir}"\n')
    assert (tdir / "chrony_snap.prom").read_text() == text
    assert [p.name for p in tdir.iterdir()] == ["chrony_snap.prom"]  # no temp file left


def test_textfile_failure_is_an_error_and_costs_nothing_else(tmp_path, fake):
    """A textfile directory that cannot be written: data.json and the web root's
    metrics are published, both say what failed."""
    _, doc, text = build(tmp_path, fake, f'[metrics]\ntextfile_dir = "{tmp_path / "missing"}"\n')
    errs = [e for e in doc["errors"] if e["report"] == "metrics"]
    assert len(errs) == 1 and errs[0]["code"] == "write" and "chrony_snap.prom" in errs[0]["message"]
    assert doc["summary"]["clients"] == 9
    smp = checked(text)
    assert one(smp, "chrony_snap_errors", report="metrics", code="write") == 1


def test_metrics_follow_data_json_or_stay(tmp_path, fake):
    """The metrics file is renamed into place only after data.json: a tick that
    cannot publish data.json leaves the previous metrics (and no temp file)."""
    build(tmp_path, fake)
    www = tmp_path / "www"
    before = (www / "metrics").read_text()
    (www / "data.json").unlink()
    (www / "data.json").mkdir()  # rename(2) cannot replace a directory
    r, _, after = build(tmp_path, fake)
    assert r.returncode == 1 and after == before
    assert not [p.name for p in www.iterdir() if ".tmp-" in p.name]


def test_disabled_writes_no_metrics_and_removes_the_old(tmp_path, fake):
    build(tmp_path, fake)
    assert (tmp_path / "www" / "metrics").exists()
    _, doc, text = build(tmp_path, fake, "[metrics]\nenabled = false\n")
    assert text is None and doc["summary"]["clients"] == 9


def test_labels_are_escaped():
    text = metrics.render(
        up=False,
        reports={},
        summary=None,
        counts=None,
        nts_ke=False,
        errors=[{"report": 'x"y\\z', "code": "a\nb", "message": "", "hint": ""}],
        now=1.0,
        duration_s=0.1,
        chrony_version='4.3"',
    )
    smp = checked(text)
    assert one(smp, "chrony_snap_errors", report='x"y\\z', code="a\nb") == 1
    assert json.dumps(text)  # plain text
