"""iCalendar (RFC 5545/5546) invitations: METHOD REQUEST for new and changed meetings, CANCEL.

One meeting is one UID for its whole life; SEQUENCE grows with every change.
Times carry the meeting's TZID with a VTIMEZONE for that zone; a recurring
meeting has its RRULE and EXDATEs, and each changed occurrence is a VEVENT with
the same UID and a RECURRENCE-ID.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache

from icalendar import Calendar, Event, Timezone, vCalAddress, vRecur, vText

from moot.scheduler.recurrence import Change, Schedule

PRODID = "-//Moot//Scheduler//EN"


@dataclass(frozen=True)
class DialIn:
    """How to join: the space's URI and call ID, its passcode, the web app link."""

    uri: str | None = None
    call_id: str | None = None
    passcode: str | None = None
    join_url: str | None = None

    def lines(self) -> list[str]:
        out = []
        if self.join_url:
            out.append(f"Join in the web app: {self.join_url}")
        if self.uri:
            out.append(f"Video address (URI): {self.uri}")
        if self.call_id:
            out.append(f"Call ID: {self.call_id}")
        if self.passcode:
            out.append(f"Passcode: {self.passcode}")
        return out


@dataclass(frozen=True)
class Invitation:
    """Everything an invite, update or cancellation says about one meeting."""

    uid: str
    sequence: int
    name: str
    schedule: Schedule
    organizer_email: str
    organizer_name: str | None = None
    invitees: tuple[str, ...] = ()
    description: str | None = None
    dial_in: DialIn = field(default_factory=DialIn)

    @property
    def tzid(self) -> str:
        return str(self.schedule.tz.key)


def _stamp() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _local(value: datetime, inv: Invitation) -> datetime:
    return value.replace(tzinfo=inv.schedule.tz)


def _calendar(method: str, inv: Invitation) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", method)
    cal.add_component(_vtimezone(inv.tzid, inv.schedule.start.year, _last_date(inv).year))
    return cal


@lru_cache(maxsize=256)
def _vtimezone(tzid: str, first_year: int, last_year: int) -> Timezone:
    """The zone's VTIMEZONE over whole years (computing it is slow: shared, never changed)."""
    return Timezone.from_tzid(tzid, first_date=date(first_year, 1, 1), last_date=date(last_year + 1, 1, 1))


def _last_date(inv: Invitation) -> date:
    end = inv.schedule.last_end_utc()
    horizon = inv.schedule.start.date().replace(year=min(inv.schedule.start.year + 5, 9998))
    return max(inv.schedule.start.date(), end.date() if end else horizon)


def _address(email: str, name: str | None, attendee: bool) -> vCalAddress:
    addr = vCalAddress(f"mailto:{email}")
    if name:
        addr.params["CN"] = vText(name)
    if attendee:
        addr.params["ROLE"] = vText("REQ-PARTICIPANT")
        addr.params["PARTSTAT"] = vText("NEEDS-ACTION")
        addr.params["RSVP"] = vText("TRUE")
    return addr


def _description(inv: Invitation) -> str:
    lines = [inv.description] if inv.description else []
    return "\n".join([*lines, *inv.dial_in.lines()])


def _event(inv: Invitation, start: datetime, end: datetime, cancelled: bool, attendees: tuple[str, ...]) -> Event:
    ev = Event()
    ev.add("uid", inv.uid)
    ev.add("sequence", inv.sequence)
    ev.add("dtstamp", _stamp())
    ev.add("dtstart", _local(start, inv))
    ev.add("dtend", _local(end, inv))
    ev.add("summary", inv.name)
    ev.add("organizer", _address(inv.organizer_email, inv.organizer_name, attendee=False))
    for email in attendees:
        ev.add("attendee", _address(email, None, attendee=True))
    location = inv.dial_in.join_url or inv.dial_in.uri
    if location:
        ev.add("location", location)
    description = _description(inv)
    if description:
        ev.add("description", description)
    if inv.dial_in.join_url:
        ev.add("url", inv.dial_in.join_url)
    ev.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    ev.add("transp", "OPAQUE")
    return ev


def _master(inv: Invitation, cancelled: bool, attendees: tuple[str, ...]) -> Event:
    sched = inv.schedule
    ev = _event(inv, sched.start, sched.end, cancelled, attendees)
    if sched.rule:
        ev.add("rrule", vRecur.from_ical(sched.rule))
        changes = sched.changes or {}
        exdates = sorted({*sched.exdates, *(c.recurrence_id for c in changes.values() if c.cancelled)})
        if exdates:
            ev.add("exdate", [_local(d, inv) for d in exdates])
    return ev


def _override(inv: Invitation, change: Change, cancelled: bool, attendees: tuple[str, ...]) -> Event:
    duration = inv.schedule.duration
    start = change.start or change.recurrence_id
    end = change.end or start + duration
    if cancelled:
        start, end = change.recurrence_id, change.recurrence_id + duration
    ev = _event(inv, start, end, cancelled, attendees)
    ev.add("recurrence-id", _local(change.recurrence_id, inv))
    return ev


def request(inv: Invitation) -> str:
    """METHOD:REQUEST: the whole meeting, with a VEVENT per moved occurrence."""
    cal = _calendar("REQUEST", inv)
    cal.add_component(_master(inv, cancelled=False, attendees=inv.invitees))
    for change in sorted((inv.schedule.changes or {}).values(), key=lambda c: c.recurrence_id):
        if not change.cancelled:
            cal.add_component(_override(inv, change, cancelled=False, attendees=inv.invitees))
    return str(cal.to_ical().decode())


def cancel(inv: Invitation, attendees: tuple[str, ...] | None = None) -> str:
    """METHOD:CANCEL of the whole meeting (for ``attendees``, default every invitee)."""
    cal = _calendar("CANCEL", inv)
    cal.add_component(_master(inv, cancelled=True, attendees=inv.invitees if attendees is None else attendees))
    return str(cal.to_ical().decode())


def cancel_occurrence(inv: Invitation, recurrence_id: datetime) -> str:
    """METHOD:CANCEL of one occurrence: its RECURRENCE-ID, STATUS:CANCELLED."""
    cal = _calendar("CANCEL", inv)
    cal.add_component(_override(inv, Change(recurrence_id, cancelled=True), cancelled=True, attendees=inv.invitees))
    return str(cal.to_ical().decode())
