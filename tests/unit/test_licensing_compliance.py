"""The compliance clock over injected days (guide B.3): table-driven."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from moot.licensing.compliance import (
    INSUFFICIENT,
    ComplianceError,
    Entitlement,
    Report,
    UsageRecord,
    multiparty_clock,
    recording_clock,
    run_clock,
)

START = date(2025, 1, 1)


def day(n: int) -> date:
    return START + timedelta(days=n)


def reports(bad: set[int], last: int) -> list[Report]:
    """Daily reports for days 0..last, non-compliant on the days in ``bad``."""
    return [Report(day(i), i not in bad) for i in range(last + 1)]


@pytest.mark.parametrize(
    ("bad", "last", "today", "expiry", "alarm", "countdown", "insufficient"),
    [
        # no reports yet: first contact sets the expiry 90 days ahead
        (set(), -1, 0, 90, 0, None, False),
        # (a) compliant days move the expiry to 90 days after the latest report
        (set(), 30, 30, 120, 0, None, False),
        # (b) fewer than 15 of the last 90 days over: allowed, expiry moves, warning
        ({30}, 30, 30, 120, 0, None, True),
        (set(range(16, 30)), 29, 29, 119, 0, None, True),  # 14 bad days
        # ... and the warning goes once a day is compliant again
        ({29}, 30, 30, 120, 0, None, False),
        # (c) the 15th bad day: alarm level 1, the clock is not reset, countdown starts
        (set(range(16, 31)), 30, 30, 119, 1, 89, True),
        (set(range(16, 61)), 60, 60, 119, 1, 59, True),
        # (d) the countdown runs out: alarm level 2 ...
        (set(range(16, 121)), 120, 120, 119, 2, None, True),
        # ... and level 3 once the expiry is more than 90 days past
        (set(range(16, 211)), 210, 210, 119, 3, None, True),
        (set(range(16, 211)), 210, 209, 119, 2, None, True),
        # a compliant day resets the clock and lifts the alarms
        (set(range(16, 121)), 121, 121, 211, 0, None, False),
        # bad days older than 90 days no longer count: day 120's overage is allowed again
        (set(range(0, 15)) | {120}, 120, 120, 210, 0, None, True),
    ],
)
def test_clock_rules(
    bad: set[int], last: int, today: int, expiry: int, alarm: int,
    countdown: int | None, insufficient: bool,
) -> None:
    state = run_clock(START, reports(bad, last), day(today))
    assert state.expiry == day(expiry)
    assert state.alarm == alarm
    assert state.countdown == countdown
    assert state.insufficient is insufficient
    assert state.warning == (INSUFFICIENT if insufficient else None)
    assert state.expiry <= day(today) + timedelta(days=90)  # never more than 90 days ahead


def test_no_reports_for_90_days_expires() -> None:
    rs = reports(set(), 10)
    assert run_clock(START, rs, day(100)).alarm == 0
    assert run_clock(START, rs, day(101)).alarm == 2  # expiry was day 100
    assert run_clock(START, rs, day(191)).alarm == 3


def test_window_counts_bad_days_in_last_90() -> None:
    state = run_clock(START, reports(set(range(0, 10)) | {95}, 95), day(95))
    assert state.non_compliant_days == 5  # days 6..9 and 95 are within 6..95


def test_future_reports_are_not_seen_and_duplicates_refused() -> None:
    rs = reports(set(), 200)
    assert run_clock(START, rs, day(10)).expiry == day(100)
    with pytest.raises(ComplianceError, match="more than one"):
        run_clock(START, [Report(day(1), True), Report(day(1), False)], day(5))
    with pytest.raises(ComplianceError, match="before the clock started"):
        run_clock(START, [Report(day(-1), True)], day(5))
    with pytest.raises(ComplianceError, match="negative"):
        UsageRecord(day(1), personal=-1)


@pytest.mark.parametrize(
    ("personal", "shared", "compliant"),
    [
        (10, 20, True),
        (11, 0, False),  # PMP Plus over: the whole day is over (guide B.1)
        (0, 20.5, False),  # SMP Plus over (weighted: 1/6 per audio-only call)
        (10, 19 + 5 / 6, True),
    ],
)
def test_pmp_and_smp_judged_together(personal: float, shared: float, compliant: bool) -> None:
    ent = Entitlement(personal=10, shared=20)
    usage = [UsageRecord(day(i), personal=personal, shared=shared) for i in range(20)]
    state = multiparty_clock(START, usage, ent, day(19))
    assert ent.compliant(usage[0]) is compliant
    assert state.alarm == (0 if compliant else 1)
    assert state.non_compliant_days == (0 if compliant else 20)


def test_unlimited_entitlement_and_recording_clock() -> None:
    usage = [UsageRecord(day(i), personal=500, shared=500, recording=2) for i in range(20)]
    assert multiparty_clock(START, usage, Entitlement(None, None), day(19)).alarm == 0
    assert recording_clock(START, usage, Entitlement(recording=None), day(19)).alarm == 0
    no_recording = recording_clock(START, usage, Entitlement(recording=0), day(19))
    assert no_recording.alarm == 1 and no_recording.insufficient
