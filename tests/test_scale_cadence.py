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
