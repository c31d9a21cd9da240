"""Times, time zones and recurrence rules of scheduled meetings.

A meeting's ``start`` and ``end`` are wall-clock times in its ``timeZone``; a
recurrence rule (RFC 5545 RRULE) repeats that wall-clock time, so a weekly 10:00
meeting stays at 10:00 across daylight-saving changes. Rules are validated and
expanded with python-dateutil; ``UNTIL`` is kept in UTC as RFC 5545 asks when
DTSTART has a TZID. A rule with neither ``UNTIL`` nor ``COUNT`` is allowed, but
its expansion stops after :data:`MAX_OCCURRENCES`; ``COUNT`` above it is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import parser as date_parser
from dateutil.rrule import rrule, rrulestr

#: The most occurrences one meeting has (COUNT above it is refused; rules with no end stop here).
MAX_OCCURRENCES = 1000
#: The longest a single occurrence may last.
MAX_DURATION = timedelta(days=31)
#: ``lastEnd`` of a meeting that repeats for ever (sorts after every real time).
FOREVER = "9999-12-31T23:59:59Z"
UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

_LOCAL = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?")
_RULE_PART = re.compile(r"[A-Z]+=[A-Z0-9,+\-:TZ]+")


class InvalidTime(ValueError):
    """A time, zone or rule that does not parse or makes no sense; ``str()`` says why."""


def parse_local(raw: str) -> datetime:
    """``2026-12-07T10:00[:00]``: a wall-clock time without offset (its zone is the meeting's)."""
    m = _LOCAL.fullmatch(raw.strip())
    if m is None:
        raise InvalidTime("expected a local time like 2026-12-07T10:00:00 (no offset)")
    try:
        y, mo, d, h, mi, sec = (int(g) for g in m.groups(default="0"))
        return datetime(y, mo, d, h, mi, sec)
    except ValueError as exc:
        raise InvalidTime(str(exc)) from None


def show_local(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S")


def parse_utc(raw: str) -> datetime:
    """An absolute time (``...Z`` or with an offset), or ``now``."""
    if raw.strip().lower() == "now":
        return datetime.now(UTC).replace(microsecond=0)
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidTime("expected a UTC time like 2026-12-07T10:00:00Z") from None
    if value.tzinfo is None:
        raise InvalidTime("the time needs Z or an offset")
    return value.astimezone(UTC)


def show_utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime(UTC_FORMAT)


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """An IANA time zone (``Europe/Paris``); InvalidTime when unknown."""
    if not name or name.startswith(("/", ".")) or ".." in name or name.lower() == "localtime":
        raise InvalidTime("unknown time zone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidTime("unknown time zone") from None


def to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    return local.replace(tzinfo=tz).astimezone(UTC)


def normalize_rule(raw: str, tz: ZoneInfo) -> str:
    """The canonical text of a rule (``FREQ=...;...``, UNTIL in UTC); InvalidTime when wrong."""
    text = raw.strip().upper()
    if text.startswith("RRULE:"):
        text = text[len("RRULE:"):]
    parts = [p for p in text.split(";") if p]
    if not parts or not all(_RULE_PART.fullmatch(p) for p in parts):
        raise InvalidTime("expected an RRULE like FREQ=WEEKLY;BYDAY=MO")
    names = [p.split("=", 1)[0] for p in parts]
    if len(set(names)) != len(names) or "FREQ" not in names:
        raise InvalidTime("an RRULE needs FREQ, each part once")
    if "DTSTART" in names:
        raise InvalidTime("the start comes from the meeting's start, not the rule")
    out = []
    for part in parts:
        key, value = part.split("=", 1)
        if key == "UNTIL":
            value = _until_utc(value, tz)
        elif key == "COUNT" and (not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_OCCURRENCES):
            raise InvalidTime(f"COUNT must be 1 to {MAX_OCCURRENCES}")
        out.append(f"{key}={value}")
    return ";".join(out)


def _until_utc(value: str, tz: ZoneInfo) -> str:
    try:
        until = date_parser.isoparse(value) if "-" in value else date_parser.parse(value)
    except (ValueError, OverflowError):
        raise InvalidTime("UNTIL is not a date or time") from None
    if until.tzinfo is None:
        if len(value) == 8:  # a date: the whole day counts
            until = until.replace(hour=23, minute=59, second=59)
        until = until.replace(tzinfo=tz)
    return str(until.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ"))


def _local_rule(rule: str, start: datetime, tz: ZoneInfo) -> rrule:
    """The rule over naive wall-clock times (UNTIL converted from UTC to the meeting's zone)."""
    parts = []
    for part in rule.split(";"):
        key, value = part.split("=", 1)
        if key == "UNTIL":
            until = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            value = until.astimezone(tz).replace(tzinfo=None).strftime("%Y%m%dT%H%M%S")
        parts.append(f"{key}={value}")
    try:
        parsed = rrulestr(";".join(parts), dtstart=start)
    except (ValueError, TypeError) as exc:
        raise InvalidTime(f"invalid RRULE: {exc}") from None
    assert isinstance(parsed, rrule)
    return parsed


def bounded(rule: str | None) -> bool:
    return rule is None or "COUNT=" in rule or "UNTIL=" in rule


@dataclass(frozen=True)
class Change:
    """One occurrence overridden: cancelled, or moved to ``start``-``end``."""

    recurrence_id: datetime
    cancelled: bool = False
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class Occurrence:
    #: The instance's original start (its RECURRENCE-ID), and its actual times (local).
    recurrence_id: datetime
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Schedule:
    """A meeting's times: validated on construction (InvalidTime)."""

    start: datetime
    end: datetime
    tz: ZoneInfo
    rule: str | None = None
    exdates: tuple[datetime, ...] = ()
    changes: Mapping[datetime, Change] | None = None

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise InvalidTime("end must be after start")
        if self.end - self.start > MAX_DURATION:
            raise InvalidTime("a meeting lasts at most 31 days")
        if self.rule is not None:
            _local_rule(self.rule, self.start, self.tz)
        for ex in self.exdates:
            if not self.is_instance(ex):
                raise InvalidTime(f"{show_local(ex)} is not an occurrence of the meeting")

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def _starts(self) -> Iterator[datetime]:
        if self.rule is None:
            yield self.start
            return
        for n, start in enumerate(_local_rule(self.rule, self.start, self.tz)):
            if n >= MAX_OCCURRENCES:
                return
            yield start

    def is_instance(self, when: datetime) -> bool:
        """Whether the rule (before exceptions) has an occurrence starting at ``when``."""
        for start in self._starts():
            if start == when:
                return True
            if start > when:
                return False
        return False

    def occurrences(self) -> Iterator[Occurrence]:
        """Every occurrence that takes place (exceptions and cancellations left out), moved ones moved."""
        excluded = set(self.exdates)
        changes = self.changes or {}
        for start in self._starts():
            if start in excluded:
                continue
            change = changes.get(start)
            if change is None:
                yield Occurrence(start, start, start + self.duration)
            elif not change.cancelled:
                new_start = change.start or start
                yield Occurrence(start, new_start, change.end or new_start + self.duration)

    def first_start_utc(self) -> datetime:
        starts = [to_utc(o.start, self.tz) for o in _take(self.occurrences(), 2)]
        return min(starts) if starts else to_utc(self.start, self.tz)

    def last_end_utc(self) -> datetime | None:
        """The end of the last occurrence; None when the meeting repeats for ever."""
        if not bounded(self.rule):
            return None
        ends = [to_utc(o.end, self.tz) for o in self.occurrences()]
        return max(ends) if ends else to_utc(self.end, self.tz)

    def next_after(self, now: datetime) -> Occurrence | None:
        """The first occurrence that has not ended at ``now`` (UTC)."""
        for occ in self.occurrences():
            if to_utc(occ.end, self.tz) > now:
                return occ
        return None


def _take(it: Iterator[Occurrence], n: int) -> list[Occurrence]:
    out = []
    for item in it:
        out.append(item)
        if len(out) >= n:
            break
    return out
