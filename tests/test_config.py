"""Configuration: every key documented, unknown keys and bad values rejected
with a message naming the key (exit 2)."""

import re
from pathlib import Path

import pytest

from chrony_snap import config
from helpers import cli

README = Path(__file__).parent.parent / "README.md"


@pytest.mark.parametrize(
    "text,needle",
    [
        ("[chrony]\nsocket_path = 1\n", "chrony.socket_path"),
        ("[nope]\n", "[nope]"),
        ("[dns]\nttl_s = -5\n", "dns.ttl_s"),
        ('[dns]\nenabled = "yes"\n', "dns.enabled"),
        ('[status]\npreset = "strict"\n', "status.preset"),
        ("[status]\ncritical_drop_ratio = 2\n", "status.critical_drop_ratio"),
        ('[page]\nrefresh_s = "fast"\n', "page.refresh_s"),
        ("[chrony]\nretries = 1.5\n", "chrony.retries"),
        ("not toml at all [\n", "not valid TOML"),
    ],
)
def test_bad_config_exits_2_naming_the_key(tmp_path, text, needle):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    r = cli("build", "--out", str(tmp_path / "www"), "--config", str(cfg), "--state", str(tmp_path / "st"), check=False)
    assert r.returncode == 2
    assert needle in r.stderr
    assert not (tmp_path / "www" / "data.json").exists()


def test_missing_config_file(tmp_path):
    r = cli(
        "build",
        "--out",
        str(tmp_path / "www"),
        "--config",
        str(tmp_path / "absent.toml"),
        "--state",
        str(tmp_path / "st"),
        check=False,
    )
    assert r.returncode == 2 and "cannot read" in r.stderr


def test_status_overrides_preset():
    cfg = config.validate({"status": {"preset": "legacy", "critical_drops": 50}})
    assert cfg["status"] == {"preset": "legacy", "warning_drops": 1, "critical_drops": 50, "critical_drop_ratio": 0.0}
    with pytest.raises(config.ConfigError, match="critical_drops"):
        config.validate({"status": {"warning_drops": 20, "critical_drops": 10}})


def test_every_key_is_documented_in_readme():
    text = README.read_text()
    for section, keys in config.SCHEMA.items():
        assert f"[{section}]" in text, section
        for key in keys:
            assert re.search(rf"^\|\s*`{key}`", text, re.M), f"{section}.{key} not documented"


def test_cli_usage_errors():
    r = cli("build", check=False)
    assert r.returncode == 2 and "--out is required" in r.stderr
    r = cli("build", "--out", "/tmp/x", "--bogus", "1", check=False)
    assert r.returncode == 2 and "unknown option '--bogus'" in r.stderr
    r = cli("frobnicate", check=False)
    assert r.returncode == 2 and "unknown command" in r.stderr
    r = cli("build", "--help", check=False)
    assert r.returncode == 0 and "--socket PATH" in r.stdout
    r = cli("--version", check=False)
    assert r.returncode == 0 and r.stdout.startswith("chrony-snap ")
