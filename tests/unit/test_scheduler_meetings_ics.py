"""Meetings without a database: time zones, recurrence rules, ICS and invite bodies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest

from moot.api.model import ValueError_
from moot.scheduler import ics
from moot.scheduler.ics import DialIn, Invitation
from moot.scheduler.invites import Notice, compose
from moot.scheduler.meetings import MAX_INVITEES, EmailList, LocalTimeList, TimeZoneName
from moot.scheduler.recurrence import (
    FOREVER,
    MAX_OCCURRENCES,
    Change,
    InvalidTime,
    Schedule,
    normalize_rule,
    parse_local,
    zone,
)

PARIS = ZoneInfo("Europe/Paris")
DIAL = DialIn(uri="meeting.123456789", call_id="123456789", passcode="4321",
              join_url="https://wb.example.com/meeting/123456789?secret=abc")


def weekly(changes: dict[datetime, Change] | None = None, exdates: tuple[datetime, ...] = ()) -> Invitation:
    sched = Schedule(datetime(2030, 3, 4, 10), datetime(2030, 3, 4, 11), PARIS, "FREQ=WEEKLY;BYDAY=MO;COUNT=10", exdates, changes)
    return Invitation(uid="u-1@moot", sequence=2, name="Weekly <sync> & plan", schedule=sched,
                      organizer_email="alice@example.com", organizer_name="Alice Admin",
                      invitees=("bob@example.com", "carol@example.org"), dial_in=DIAL)


def events(text: str) -> tuple[icalendar.Calendar, list[icalendar.Event]]:
    cal = icalendar.Calendar.from_ical(text)
    return cal, [c for c in cal.walk("VEVENT")]


def test_weekly_request_has_tzid_vtimezone_rrule_and_dial_in() -> None:
    cal, (ev,) = events(ics.request(weekly()))
    assert cal["METHOD"] == "REQUEST"
    assert [tz["TZID"] for tz in cal.walk("VTIMEZONE")] == ["Europe/Paris"]
    assert ev["DTSTART"].params["TZID"] == "Europe/Paris"
    assert ev.decoded("DTSTART") == datetime(2030, 3, 4, 10, tzinfo=PARIS)
    assert ev.decoded("DTEND").astimezone(UTC) == datetime(2030, 3, 4, 10, tzinfo=UTC)
    assert ev["RRULE"]["FREQ"] == ["WEEKLY"] and ev["RRULE"]["COUNT"] == [10]
    assert ev["UID"] == "u-1@moot" and ev["SEQUENCE"] == 2
    assert ev["ORGANIZER"] == "mailto:alice@example.com" and ev["ORGANIZER"].params["CN"] == "Alice Admin"
    assert sorted(str(a) for a in ev["ATTENDEE"]) == ["mailto:bob@example.com", "mailto:carol@example.org"]
    desc = str(ev["DESCRIPTION"])
    assert "123456789" in desc and "4321" in desc and "meeting.123456789" in desc
    assert str(ev["LOCATION"]) == DIAL.join_url


def test_moved_occurrence_is_a_vevent_with_recurrence_id_and_cancelled_one_an_exdate() -> None:
    moved = Change(datetime(2030, 3, 11, 10), start=datetime(2030, 3, 12, 15), end=datetime(2030, 3, 12, 16))
    gone = Change(datetime(2030, 3, 18, 10), cancelled=True)
    _, (master, override) = events(ics.request(weekly({moved.recurrence_id: moved, gone.recurrence_id: gone})))
    assert override.decoded("RECURRENCE-ID") == datetime(2030, 3, 11, 10, tzinfo=PARIS)
    assert override["RECURRENCE-ID"].params["TZID"] == "Europe/Paris"
    assert override.decoded("DTSTART") == datetime(2030, 3, 12, 15, tzinfo=PARIS)
    assert override["UID"] == master["UID"]
    exdates = [d.dt for d in master["EXDATE"].dts]
    assert exdates == [datetime(2030, 3, 18, 10, tzinfo=PARIS)]


def test_cancel_and_cancel_one_occurrence() -> None:
    cal, (ev,) = events(ics.cancel(weekly()))
    assert cal["METHOD"] == "CANCEL" and ev["STATUS"] == "CANCELLED" and "RECURRENCE-ID" not in ev
    cal, (ev,) = events(ics.cancel_occurrence(weekly(), datetime(2030, 3, 25, 10)))
    assert cal["METHOD"] == "CANCEL" and ev["STATUS"] == "CANCELLED"
    assert ev.decoded("RECURRENCE-ID") == datetime(2030, 3, 25, 10, tzinfo=PARIS)


def test_invite_bodies_escape_user_text() -> None:
    mail = compose(Notice.INVITE, weekly())
    assert mail.ics_method == "REQUEST" and mail.to == ("bob@example.com", "carol@example.org")
    assert "Weekly <sync> & plan" in mail.subject and "Weekly <sync> & plan" in mail.text
    assert "<sync>" not in mail.html and "Weekly &lt;sync&gt; &amp; plan" in mail.html
    assert DIAL.join_url is not None and DIAL.join_url in mail.text
    assert "Passcode: 4321" in mail.text
    cancel = compose(Notice.CANCEL, weekly(), to=("bob@example.com",))
    assert cancel.ics_method == "CANCEL" and cancel.to == ("bob@example.com",)
    assert "cancelled" in cancel.text


def test_wall_clock_kept_across_daylight_saving() -> None:
    sched = Schedule(datetime(2030, 3, 18, 10), datetime(2030, 3, 18, 11), PARIS, normalize_rule("FREQ=WEEKLY;COUNT=3", PARIS))
    starts = [o.start for o in sched.occurrences()]
    assert starts == [datetime(2030, 3, 18, 10), datetime(2030, 3, 25, 10), datetime(2030, 4, 1, 10)]
    # 2030-03-31 is the change to summer time: 10:00 is 09:00 UTC before, 08:00 UTC after.
    assert sched.last_end_utc() == datetime(2030, 4, 1, 9, tzinfo=UTC)


def test_rules_validated_and_normalized() -> None:
    assert normalize_rule("rrule:freq=weekly;until=20300401", PARIS) == "FREQ=WEEKLY;UNTIL=20300401T215959Z"
    for bad in ("", "WEEKLY", "FREQ=WEEKLY;FREQ=DAILY", "BYDAY=MO", f"FREQ=DAILY;COUNT={MAX_OCCURRENCES + 1}",
                "FREQ=DAILY;COUNT=0", "FREQ=WEEKLY;DTSTART=20300101T000000"):
        with pytest.raises(InvalidTime):
            normalize_rule(bad, PARIS)
    with pytest.raises(InvalidTime):
        Schedule(datetime(2030, 1, 1, 10), datetime(2030, 1, 1, 11), PARIS, "FREQ=SOMETIMES")


def test_unbounded_rule_is_capped() -> None:
    sched = Schedule(datetime(2030, 1, 1, 10), datetime(2030, 1, 1, 11), PARIS, "FREQ=DAILY")
    assert sum(1 for _ in sched.occurrences()) == MAX_OCCURRENCES
    assert sched.last_end_utc() is None and FOREVER > "2999"
    _, (ev,) = events(ics.request(Invitation("u@m", 0, "x", sched, "a@example.com")))
    assert "COUNT" not in ev["RRULE"] and "UNTIL" not in ev["RRULE"]


def test_times_and_zones_refused() -> None:
    with pytest.raises(InvalidTime):
        Schedule(datetime(2030, 1, 1, 11), datetime(2030, 1, 1, 10), PARIS)
    with pytest.raises(InvalidTime):
        Schedule(datetime(2030, 1, 1, 10), datetime(2030, 1, 1, 10) + timedelta(days=40), PARIS)
    for bad in ("Mars/Olympus", "../etc/passwd", "", "localtime"):
        with pytest.raises(InvalidTime):
            zone(bad)
        with pytest.raises(ValueError_):
            TimeZoneName().parse(bad)
    for bad in ("2030-01-01", "2030-01-01T10:00:00+01:00", "2030-13-01T10:00", "tomorrow"):
        with pytest.raises(InvalidTime):
            parse_local(bad)
    with pytest.raises(ValueError_):
        LocalTimeList().parse("2030-01-01T10:00,nope")


def test_invitee_lists() -> None:
    assert EmailList().parse("a@example.com; B@Example.com ,a@EXAMPLE.com") == "a@example.com,B@Example.com"
    for bad in ("not-an-address", "a@b", "a@@example.com", "a b@example.com,x", "<a@example.com>"):
        with pytest.raises(ValueError_) as info:
            EmailList().parse(bad)
        assert info.value.error == "invalidEmailAddress"
    many = ",".join(f"u{i}@example.com" for i in range(MAX_INVITEES + 1))
    with pytest.raises(ValueError_) as info:
        EmailList().parse(many)
    assert info.value.error == "tooMany"
    assert len(EmailList().parse(many.rsplit(",", 1)[0]).split(",")) == MAX_INVITEES
