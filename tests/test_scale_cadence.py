"""cadence.py's pure rules (issue 11)."""

from chrony_snap import cadence

BOOT = "b"


def test_every_tick_means_every_tick_however_close():
    """Guards: a 1 s interval ("every tick") skipped ticks closer than the
    slack (a build by hand right after the timer's, back-to-back test ticks)
    and served the kept list instead (test_dns, test_hardening_engine)."""
    last = (BOOT, 100.0)
    assert cadence.due(last, 100.1, BOOT, 1.0, False)
    assert cadence.due(last, 100.6, BOOT, 1.0, False)


def test_slower_cadence_due_a_little_early_never_much_early():
    last = (BOOT, 100.0)
    assert not cadence.due(last, 100.6, BOOT, 3.0, False)
    assert cadence.due(last, 100.0 + 3.0 - cadence.SLACK_S, BOOT, 3.0, False)
    assert cadence.due(last, 100.1, "another boot", 3.0, False)
    assert cadence.due(last, 100.1, BOOT, 3.0, True)
    assert cadence.due(None, 100.1, BOOT, 3.0, False)


CFG = {"cpu_budget": 0.05, "max_interval_s": 30.0}


def test_interval_within_the_budget():
    assert cadence.interval(None, CFG, False) == (1.0, "every tick")
    assert cadence.interval(0.04, CFG, False) == (1.0, "every tick")
    assert cadence.interval(0.2, CFG, False) == (4.0, "budget")
    assert cadence.interval(5.0, CFG, False) == (30.0, "budget")  # never beyond the maximum
    assert cadence.interval(0.01, CFG, True) == (30.0, "idle")


def test_copying_the_kept_list_each_tick_is_paid_from_the_budget_first():
    """Issue 11's total at 100k: a reusing tick copies the 31 MB list into
    data.json (~10 ms, once a second), so the collections may spend only what
    that leaves of the budget."""
    assert cadence.interval(0.2, CFG, False, carry_s=0.01) == (5.0, "budget")  # 0.2 / (0.05 - 0.01)
    assert cadence.interval(0.2, CFG, False, carry_s=0.05) == (30.0, "budget")
    assert cadence.interval(0.2, CFG, False, carry_s=0.2) == (30.0, "budget")


def test_a_restart_is_a_counter_going_back_not_a_gauge():
    before = {"ntp_packets_received": 100, "ntp_timestamps_held": 50, "ntp_timestamp_span_s": 600}
    assert not cadence.restarted(before, {**before, "ntp_timestamps_held": 10, "ntp_timestamp_span_s": 5})
    assert not cadence.restarted(before, {**before, "ntp_packets_received": 101})
    assert cadence.restarted(before, {**before, "ntp_packets_received": 3})
    assert not cadence.restarted(None, before) and not cadence.restarted(before, None)
