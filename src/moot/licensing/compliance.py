"""The compliance clock (guide B.3): daily usage against the entitlement.

Usage is reported once a day. For each report:

a. usage within the entitlement: the expiry moves to 90 days after the report;
b. over the entitlement, but fewer than 15 of the last 90 days non-compliant: allowed,
   the expiry still moves to 90 days ahead, and the admin sees "Insufficient licenses";
c. 15 or more of the last 90 days non-compliant: alarm level 1 (out of compliance);
d. the 90-day clock is then not reset: the days left until the expiry are a countdown,
   after which alarm level 2 applies (Table 6: "when expired"), and level 3 once the
   expiry is more than 90 days past (Table 6: "expired more than 90 days ago").

Without reports the expiry is not refreshed, so a node that reports nothing for 90
days expires. The expiry is never more than 90 days ahead of the last report.

PMP Plus and SMP Plus usage are judged together: if either is over, the whole day is
over (guide B.1). Other features (recording) are judged on their own clock.

Everything here is pure: days and records in, state out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

#: How far ahead a report moves the expiry, and the window non-compliant days are counted in.
WINDOW_DAYS = 90
#: Non-compliant days in the window from which the overage is no longer allowed.
NON_COMPLIANT_LIMIT = 15
INSUFFICIENT = "Insufficient licenses"


class ComplianceError(ValueError):
    """Usage records that cannot be judged (the reason is the message)."""


@dataclass(frozen=True)
class Entitlement:
    """What the licences allow: PMP Plus and SMP Plus counts, recording (concurrent)."""

    #: None: no limit (the trial).
    personal: int | None = 0
    shared: int | None = 0
    recording: int | None = 0

    def compliant(self, record: UsageRecord) -> bool:
        """Whether the day's PMP Plus and SMP Plus usage is within the entitlement."""
        return (self.personal is None or record.personal <= self.personal) and (
            self.shared is None or record.shared <= self.shared
        )

    def recording_compliant(self, record: UsageRecord) -> bool:
        return self.recording is None or record.recording <= self.recording


@dataclass(frozen=True)
class UsageRecord:
    """One day's peak licence usage (guide B.12, ``/system/MPLicenseUsage``).

    ``shared`` is weighted: an audio-only or point-to-point call counts 1/6 (guide B.11).
    ``recording`` is the peak number of calls recording or streaming at once.
    """

    day: date
    personal: float = 0.0
    shared: float = 0.0
    recording: int = 0

    def __post_init__(self) -> None:
        if min(self.personal, self.shared, self.recording) < 0:
            raise ComplianceError(f"negative usage on {self.day}")


@dataclass(frozen=True)
class Report:
    """A day's verdict as fed to the clock."""

    day: date
    compliant: bool


@dataclass(frozen=True)
class ComplianceState:
    """Where the clock stands on ``today``."""

    today: date
    #: The licence expiry the clock has set (never more than 90 days after the last report).
    expiry: date
    #: Non-compliant days among the 90 days ending ``today``.
    non_compliant_days: int
    #: 0 none; 1 out of compliance; 2 expired; 3 expired more than 90 days ago.
    alarm: int
    #: Days left before alarm level 2, while at alarm level 1.
    countdown: int | None
    #: The latest report was over the entitlement ("Insufficient licenses").
    insufficient: bool

    @property
    def warning(self) -> str | None:
        return INSUFFICIENT if self.insufficient else None


def _non_compliant_in_window(bad_days: list[date], end: date) -> int:
    start = end - timedelta(days=WINDOW_DAYS - 1)
    return sum(1 for d in bad_days if start <= d <= end)


def run_clock(start: date, reports: Iterable[Report], today: date) -> ComplianceState:
    """Run the clock from ``start`` (first contact: expiry set 90 days ahead) to ``today``.

    Reports after ``today`` are not seen yet; two reports for one day are refused.
    """
    ordered = sorted((r for r in reports if r.day <= today), key=lambda r: r.day)
    days = [r.day for r in ordered]
    if len(set(days)) != len(days):
        raise ComplianceError("more than one usage report for a day")
    if ordered and ordered[0].day < start:
        raise ComplianceError(f"a usage report ({ordered[0].day}) before the clock started ({start})")
    expiry = start + timedelta(days=WINDOW_DAYS)
    bad: list[date] = []
    last: Report | None = None
    last_blocked = False
    for report in ordered:
        if not report.compliant:
            bad.append(report.day)
        blocked = (not report.compliant
                   and _non_compliant_in_window(bad, report.day) >= NON_COMPLIANT_LIMIT)
        if not blocked:
            expiry = report.day + timedelta(days=WINDOW_DAYS)
        last, last_blocked = report, blocked
    if today > expiry + timedelta(days=WINDOW_DAYS):
        alarm, countdown = 3, None
    elif today > expiry:
        alarm, countdown = 2, None
    elif last_blocked:
        alarm, countdown = 1, (expiry - today).days
    else:
        alarm, countdown = 0, None
    return ComplianceState(
        today=today,
        expiry=expiry,
        non_compliant_days=_non_compliant_in_window(bad, today),
        alarm=alarm,
        countdown=countdown,
        insufficient=last is not None and not last.compliant,
    )


def multiparty_clock(
    start: date, usage: Iterable[UsageRecord], entitlement: Entitlement, today: date
) -> ComplianceState:
    """The PMP Plus + SMP Plus clock (drives the call bridge's alarms)."""
    return run_clock(start, (Report(u.day, entitlement.compliant(u)) for u in usage), today)


def recording_clock(
    start: date, usage: Iterable[UsageRecord], entitlement: Entitlement, today: date
) -> ComplianceState:
    """The recording (and streaming) clock, judged on its own."""
    return run_clock(
        start, (Report(u.day, entitlement.recording_compliant(u)) for u in usage), today
    )
