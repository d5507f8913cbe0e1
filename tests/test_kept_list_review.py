"""The kept client list (issue 11) after review, through the fake chronyc:
each test fails on the code before its fix.  A failed NTS-KE call is not
kept for a whole cadence; the names file's error is shown as long as the
list it named is; an older list file is pruned by seq below the new one, so
a seq that started again never deletes the new list; a kept record without
its CRC or counts is dropped, not a crash on every tick; and a chronyd that
cannot be reached is not asked five more times."""

from chrony_snap import state as S
from helpers import read_snapshot, write_config


def config(tmp_path, chrony="", extra=""):
    """A budget no collection fits: the list is kept for up to a minute."""
    return write_config(
        tmp_path / "c.toml",
        f"[chrony]\nreports_deadline_s = 10\nclients_deadline_s = 10\n{chrony}"
        f'[clients]\ncpu_budget = 0.000001\nmax_interval_s = 60\npid_file = "{tmp_path / "none.pid"}"\n{extra}',
    )


def tick(tmp_path, fake, cfg, **kw):
    r = fake.build(tmp_path, cfg, **kw)
    return read_snapshot(tmp_path / "www"), r


def test_a_failed_nts_ke_call_is_collected_again_next_tick(tmp_path, fake):
    cfg = config(tmp_path, chrony="nts_ke = true\n")
    fake.replay_error("clients_-k", "noclientlog")
    first, _ = tick(tmp_path, fake, cfg)
    assert "clients_nts" in {e["report"] for e in first["errors"]}
    fake.set("clients_-k", stdout="127.0.0.1,15,0,1,127,0,4,1,2,7\n")
    doc, _ = tick(tmp_path, fake, cfg)
    assert doc["clients_seq"] == doc["seq"]  # not the list without its NTS-KE columns
    assert {c["address"]: c for c in doc["clients"]}["127.0.0.1"]["nts_ke"] is not None


def test_the_names_file_error_stays_with_the_list_it_named(tmp_path, fake):
    cfg = config(tmp_path, extra=f'[dns]\nnames_file = "{tmp_path / "none.names"}"\n')
    logs = []
    for _ in range(3):
        doc, r = tick(tmp_path, fake, cfg)
        logs.append(r.stderr)
        assert "dns" in {e["report"] for e in doc["errors"]}, doc["errors"]
    assert doc["clients_seq"] < doc["seq"]  # the later ticks reused the list
    assert not any("recovered" in log for log in logs), logs


def test_list_files_pruned_below_the_new_seq(tmp_path, fake):
    cfg = config(tmp_path)
    parts = tmp_path / "www" / "data.json.d"
    parts.mkdir(parents=True)
    for seq in (900, 901, 902, 903):  # an earlier life's, its state lost
        (parts / f"clients-{seq}.json.gz").write_bytes(b"old")
    doc, _ = tick(tmp_path, fake, cfg)
    names = sorted(p.name for p in parts.iterdir() if p.name.startswith("clients-"))
    assert names == [f"clients-{doc['seq']}.json.gz"]
    doc2, _ = tick(tmp_path, fake, cfg)
    assert doc2["clients_seq"] == doc["seq"]  # reused: its file was kept


def test_a_kept_record_without_crc_or_counts_is_collected_again(tmp_path, fake):
    cfg = config(tmp_path)
    tick(tmp_path, fake, cfg)
    for key in ("crc", "counts"):
        st = S.load(str(tmp_path / "st"), "state", print)
        kept = st["clients_kept"]
        kept.pop(key, None)
        S.save(str(tmp_path / "st"), "state", st)
        assert key not in S.load(str(tmp_path / "st"), "state", print)["clients_kept"]
        doc, r = tick(tmp_path, fake, cfg)
        assert r.returncode == 0 and "Traceback" not in r.stderr
        assert doc["clients_seq"] == doc["seq"]
    assert "crc" in S.load(str(tmp_path / "st"), "state", print)["clients_kept"]  # saved whole again


def test_an_unreachable_chronyd_is_not_asked_five_more_times(tmp_path, fake):
    for cmd in fake.COMMANDS:
        fake.replay_error(cmd, "default_no_daemon")
    doc, _ = tick(tmp_path, fake, config(tmp_path))
    assert doc["chrony"]["reachable"] is False and {e["code"] for e in doc["errors"]} == {"506"}
    assert {e["report"] for e in doc["errors"]} >= {"tracking", "serverstats", "activity", "sources", "sourcestats"}
    assert len([c for c in fake.calls() if c != "--version"]) == 2  # the list's and the combined one


def test_a_planted_data_json_d_symlink_is_never_written_through(tmp_path, fake):
    """The web root may be shared (docs/production.md): live.json and the
    client list's files went wherever a symlinked data.json.d pointed, and
    the prune deleted files there."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "clients-1.json.gz").write_bytes(b"not ours")
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "data.json.d").symlink_to(elsewhere)
    for _ in range(2):
        doc, r = tick(tmp_path, fake, config(tmp_path))
        assert r.returncode == 0
    assert sorted(p.name for p in elsewhere.iterdir()) == ["clients-1.json.gz"]
    err = [e for e in doc["errors"] if e["report"] == "page_files"]
    assert err and "symbolic link" in err[0]["message"]
    assert doc["clients_seq"] == doc["seq"] and len(doc["clients"]) == 9  # data.json whole; collected each tick
