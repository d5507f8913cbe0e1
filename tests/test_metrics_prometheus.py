"""The metrics file through the real programs that read it: a real chronyd
sandbox, `chrony-snap build`, the production nginx site block, Debian's
Prometheus (scraping /metrics on 127.0.0.1, with the shipped alert rules) and
node_exporter's textfile collector; promtool for the rules.  Everything on
loopback, on free ports, with private data directories; each process is
stopped by its PID."""

import json
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from chrony_snap.harness.nginx import NginxProcess, free_port
from chrony_snap.harness.sandbox import populate
from helpers import REPO, checked, one, read_snapshot, run_build, write_config

RULES = REPO / "deploy" / "prometheus" / "chrony-snap.rules.yml"
RULES_TEST = REPO / "tests" / "prometheus" / "chrony-snap.rules.test.yml"


def http_get(url, timeout=5.0) -> bytes:
    assert url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


class Daemon:
    """A program on 127.0.0.1 (Popen), ready once `ready_path` answers; stopped by PID."""

    def __init__(self, argv, port, ready_path, log):
        self.argv, self.port, self.ready_path, self.log = argv, port, ready_path, log
        self.proc = None

    def __enter__(self):
        self.logf = open(self.log, "wb")  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self.logf, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log_text()
            try:
                http_get(f"http://127.0.0.1:{self.port}{self.ready_path}", timeout=2)
                return self
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"{self.argv[0]} did not start:\n{self.log_text()}")

    def log_text(self):
        return self.log.read_text(errors="replace")[-3000:]

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()


@pytest.fixture
def site(sandbox, short_tmp):
    """One real snapshot (and its metrics) of a sandbox with some traffic."""
    populate(sandbox, clients=40, limited=3, cmd=1)
    out = short_tmp / "www"
    cfg = write_config(short_tmp / "c.toml", f'[metrics]\ntextfile_dir = "{short_tmp / "textfile"}"\n')
    (short_tmp / "textfile").mkdir()
    run_build(out, socket=sandbox.socket, state=short_tmp / "st", config=cfg)
    return out


def test_live_metrics_pass_promtool_and_match_data_json(site):
    doc = read_snapshot(site)
    smp = checked((site / "metrics").read_text())
    assert one(smp, "chrony_up") == 1
    assert one(smp, "chrony_clients_connected", protocol="ntp") == doc["summary"]["clients"] >= 40
    assert one(smp, "chrony_serverstats_ntp_packets_received_total") == doc["serverstats"]["ntp_packets_received"]
    assert one(smp, "chrony_tracking_stratum") == doc["tracking"]["stratum"]
    assert one(smp, "chrony_clients_ntp_drops_count") == sum(1 for c in doc["clients"] if c["ntp"]["packets"])


def test_nginx_serves_metrics(site):
    with NginxProcess(site) as web:
        status, headers, body = web.get("/metrics", {"Range": "bytes=0-9"})
        assert status == 200 and body == (site / "metrics").read_bytes()  # whole file, never a range
        assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert headers["cache-control"] == "no-cache" and "etag" not in headers
        status, _, _ = web.get("/metrics", {"If-Modified-Since": headers["last-modified"]})
        assert status == 200  # never 304: the file changes every second
        (site / ".metrics.tmp-1-abc").write_text("partial")
        assert web.get("/.metrics.tmp-1-abc")[0] == 404


def test_prometheus_scrapes_nginx_and_agrees_with_data_json(site, short_tmp):
    doc = read_snapshot(site)
    with NginxProcess(site) as web:
        port = free_port()
        conf = short_tmp / "prometheus.yml"
        conf.write_text(
            json.dumps(
                {
                    "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(RULES)],
                    "scrape_configs": [
                        {"job_name": "chrony-snap", "static_configs": [{"targets": [f"127.0.0.1:{web.port}"]}]}
                    ],
                }
            )
        )
        argv = [
            "/usr/bin/prometheus",
            f"--config.file={conf}",
            f"--storage.tsdb.path={short_tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ]
        with Daemon(argv, port, "/-/ready", short_tmp / "prometheus.log") as prom:

            def query(q):
                url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
                return json.loads(http_get(url))["data"]["result"]

            deadline = time.monotonic() + 60
            while not query('chrony_clients_connected{protocol="ntp"}'):
                assert time.monotonic() < deadline, prom.log_text()
                time.sleep(0.3)
            res = query('chrony_clients_connected{protocol="ntp"}')
            assert float(res[0]["value"][1]) == doc["summary"]["clients"]
            assert res[0]["metric"]["job"] == "chrony-snap"
            res = query("chrony_serverstats_ntp_packets_received_total")
            assert float(res[0]["value"][1]) == doc["serverstats"]["ntp_packets_received"]
            res = query("chrony_tracking_info")
            assert res[0]["metric"]["tracking_refid"] == doc["tracking"]["reference_id"]
            # the shipped rules are loaded and evaluate without error
            deadline = time.monotonic() + 30
            while True:
                groups = json.loads(http_get(f"http://127.0.0.1:{port}/api/v1/rules"))["data"]["groups"]
                rules = [r for g in groups for r in g["rules"]]
                if len(rules) == 11 and all(r.get("lastEvaluation", "").startswith("2") for r in rules):
                    break
                assert time.monotonic() < deadline, rules
                time.sleep(0.3)
            assert {r["health"] for r in rules} == {"ok"}, [r.get("lastError") for r in rules]


def test_node_exporter_reads_the_textfile(site, short_tmp):
    tdir = short_tmp / "textfile"
    assert (tdir / "chrony_snap.prom").read_bytes() == (site / "metrics").read_bytes()
    port = free_port()
    argv = [
        "/usr/bin/prometheus-node-exporter",
        f"--web.listen-address=127.0.0.1:{port}",
        "--collector.disable-defaults",
        "--collector.textfile",
        f"--collector.textfile.directory={tdir}",
    ]
    with Daemon(argv, port, "/", short_tmp / "node_exporter.log"):
        text = http_get(f"http://127.0.0.1:{port}/metrics").decode()
    smp = checked(text)
    assert one(smp, "chrony_up") == 1
    assert one(smp, "node_textfile_scrape_error") == 0
    doc = read_snapshot(site)
    assert one(smp, "chrony_clients_connected", protocol="ntp") == doc["summary"]["clients"]


def test_alert_rules_pass_promtool():
    r = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "SUCCESS: 11 rules found" in r.stdout, r.stdout + r.stderr
    r = subprocess.run(["promtool", "test", "rules", str(RULES_TEST)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr
    # every alert has a unit test that fires it and the file names its health rule
    rules = RULES.read_text()
    tests = RULES_TEST.read_text()
    for name in [line.split(":")[1].strip() for line in rules.splitlines() if line.strip().startswith("- alert:")]:
        assert f"alertname: {name}" in tests, name
    assert rules.count("health_code:") == 11
