"""Issue 11's client-list budget with issue 10's analytics and issue 8's
history: a tick that reuses the kept list (spliced raw bytes) still carries
each client's first_seen and the client log, and leaves firstseen.bin alone
(a skipped tick lists no client, so it must prune none)."""

import json

from test_scale import Ticks, budget_config

from chrony_snap import firstseen


def test_skipped_tick_keeps_first_seen_client_log_and_firstseen_bin(tmp_path, crowd):
    t = Ticks(tmp_path, crowd, budget_config(tmp_path / "c.toml", crowd))
    collected, _ = t.tick()
    assert collected["clients_seq"] == collected["seq"]
    seen_file = t.state / firstseen.NAME
    before = seen_file.read_bytes()
    skipped, _ = t.tick()
    assert skipped["clients_seq"] == collected["seq"] < skipped["seq"]  # the list was reused
    assert skipped["clients"] and all("first_seen" in c for c in skipped["clients"])
    assert [c["first_seen"] for c in skipped["clients"]] == [c["first_seen"] for c in collected["clients"]]
    assert skipped["client_log"]["records"] == skipped["summary"]["clients"]
    assert "history" in skipped and skipped["errors"] == []
    assert seen_file.read_bytes() == before
    seen, _stored = firstseen.load(str(t.state), print)
    assert {c["address"] for c in skipped["clients"]} <= seen.keys()
    live = json.loads((t.out / "data.json.d" / "live.json").read_bytes())
    assert live["client_log"] == skipped["client_log"]
