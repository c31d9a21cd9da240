"""Meetings through the API engine on SQLite and PostgreSQL: invites in the outbox, atomic writes,
occurrence changes, temporary spaces, upcoming meetings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import icalendar
import pytest
import sqlalchemy as sa

from moot.api.errors import ApiFailure
from moot.scheduler import housekeeping
from moot.scheduler.api import Scheduling
from moot.scheduler.mail import OutgoingMail
from moot.scheduler.outbox import Outbox, mail_from_json, outbox_table
from tests.databases import database_url

PARIS_WEEKLY = {
    "name": "Weekly sync",
    "start": "2030-03-04T10:00:00",
    "end": "2030-03-04T11:00:00",
    "timeZone": "Europe/Paris",
    "recurrence": "FREQ=WEEKLY;BYDAY=MO;COUNT=10",
    "invitees": "bob@example.com,carol@example.org",
}


class Env:
    def __init__(self, sched: Scheduling) -> None:
        self.sched = sched
        self.outbox = Outbox(sched.store.engine)
        sched.set_outbox(self.outbox)
        loc = sched.spaces.handle("POST", "/users", [], [("userJid", "alice@example.com"), ("name", "Alice"),
                                                          ("email", "alice@example.com")]).location
        assert loc is not None
        self.user = loc[-36:]

    def create(self, **form: str | None) -> str:
        data = {**PARIS_WEEKLY, "organizer": self.user, **form}
        loc = self.sched.api.handle("POST", "/meetings", [], [(k, v) for k, v in data.items() if v is not None])
        assert loc.location is not None and loc.location.startswith("/api/v1/meetings/")
        return str(loc.location[-36:])

    def get(self, path: str) -> dict[str, Any]:
        item = self.sched.api.handle("GET", path, [], []).item
        assert item is not None
        return {f if isinstance(f, str) else f.name: v for f, v in item[2]}

    def mails(self) -> list[OutgoingMail]:
        with self.sched.store.engine.connect() as conn:
            rows = conn.execute(sa.select(outbox_table.c.payload).order_by(outbox_table.c.created))
            return [mail_from_json(r[0]) for r in rows]

    def count(self, table: str) -> int:
        with self.sched.store.engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())

    def refused(self, method: str, path: str, **form: str) -> ApiFailure:
        with pytest.raises(ApiFailure) as info:
            self.sched.api.handle(method, path, [], list(form.items()))
        return info.value


@pytest.fixture(params=["sqlite", "postgresql"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    with database_url(request.param, tmp_path) as url:
        sched = Scheduling(url, None, hostname="moot.example")
        yield Env(sched)
        sched.close()


def vevents(mail: OutgoingMail) -> tuple[icalendar.Calendar, list[icalendar.Event]]:
    assert mail.ics is not None
    cal = icalendar.Calendar.from_ical(mail.ics)
    return cal, list(cal.walk("VEVENT"))


def test_create_enqueues_an_invite_in_the_same_transaction(env: Env) -> None:
    mid = env.create()
    (mail,) = env.mails()
    assert mail.to == ("bob@example.com", "carol@example.org") and mail.ics_method == "REQUEST"
    assert mail.organizer_address == "alice@example.com" and mail.organizer_name == "Alice"
    cal, (ev,) = vevents(mail)
    got = env.get(f"/meetings/{mid}")
    assert ev["UID"] == got["uid"] and ev["SEQUENCE"] == 0 == got["sequence"]
    assert ev["DTSTART"].params["TZID"] == "Europe/Paris" and [t["TZID"] for t in cal.walk("VTIMEZONE")] == ["Europe/Paris"]
    assert ev.decoded("DTSTART").astimezone(UTC) == datetime(2030, 3, 4, 9, tzinfo=UTC)
    assert ev["RRULE"]["BYDAY"] == ["MO"]
    join = f"https://moot.example/meeting/{got['callId']}?secret="
    assert got["joinUrl"].startswith(join) and join in mail.text and join in str(ev["DESCRIPTION"])
    assert got["firstStart"] == "2030-03-04T09:00:00Z" and got["lastEnd"] == "2030-05-06T09:00:00Z"


def test_join_link_uses_the_web_bridge(env: Env) -> None:
    env.sched.spaces.handle("POST", "/webBridges", [], [("url", "https://join.example.com:8443")])
    mid = env.create()
    assert env.get(f"/meetings/{mid}")["joinUrl"].startswith("https://join.example.com:8443/meeting/")


def test_modify_increments_sequence_and_cancel_sends_cancel(env: Env) -> None:
    mid = env.create()
    env.sched.api.handle("PUT", f"/meetings/{mid}", [], [("name", "Renamed"), ("invitees", "bob@example.com,dave@example.net")])
    _, removed, update = env.mails()
    assert removed.to == ("carol@example.org",) and removed.ics_method == "CANCEL"
    assert update.ics_method == "REQUEST" and update.to == ("bob@example.com", "dave@example.net")
    _, (ev,) = vevents(update)
    assert ev["SEQUENCE"] == 1 and str(ev["SUMMARY"]) == "Renamed"
    env.sched.api.handle("DELETE", f"/meetings/{mid}", [], [])
    cancel = env.mails()[-1]
    cal, (ev,) = vevents(cancel)
    assert cal["METHOD"] == "CANCEL" and ev["SEQUENCE"] == 2 and ev["STATUS"] == "CANCELLED"
    assert env.count("api_meeting") == 0


def test_single_occurrences_moved_and_cancelled(env: Env) -> None:
    mid = env.create()
    env.sched.api.handle("POST", f"/meetings/{mid}/occurrences", [], [("recurrenceId", "2030-03-11T10:00"), ("start", "2030-03-12T15:00")])
    cal, events = vevents(env.mails()[-1])
    assert cal["METHOD"] == "REQUEST" and len(events) == 2
    assert events[1].decoded("RECURRENCE-ID") == datetime(2030, 3, 11, 10, tzinfo=events[1].decoded("DTSTART").tzinfo)
    assert events[1].decoded("DTEND").hour == 16 and events[0]["SEQUENCE"] == 1
    env.sched.api.handle("POST", f"/meetings/{mid}/occurrences", [], [("recurrenceId", "2030-03-18T10:00"), ("cancelled", "true")])
    cal, (ev,) = vevents(env.mails()[-1])
    assert cal["METHOD"] == "CANCEL" and ev["SEQUENCE"] == 2 and ev.decoded("RECURRENCE-ID").day == 18
    assert env.get(f"/meetings/{mid}")["sequence"] == 2
    # Not an occurrence, twice the same one, a meeting that does not repeat: refused.
    for form in ({"recurrenceId": "2030-03-19T10:00", "cancelled": "true"}, {"recurrenceId": "2030-03-18T10:00", "cancelled": "true"},
                 {"recurrenceId": "2030-03-25T10:00", "start": "2030-03-25T12:00", "end": "2030-03-25T11:00"}):
        assert env.refused("POST", f"/meetings/{mid}/occurrences", **form).reason == "parameterError"
    once = env.create(recurrence=None)
    assert env.refused("POST", f"/meetings/{once}/occurrences", recurrenceId="2030-03-04T10:00", cancelled="true").attrs == {
        "parameter": "recurrenceId", "error": "meetingDoesNotRepeat"}
    # Restoring an occurrence sends the whole series again.
    occ = env.sched.api.handle("GET", f"/meetings/{mid}/occurrences", [], []).listing
    assert occ is not None and occ[2] == 2
    before = len(env.mails())
    env.sched.api.handle("DELETE", f"/meetings/{mid}/occurrences/{occ[3][1][1]}", [], [])
    assert len(env.mails()) == before + 1 and env.mails()[-1].ics_method == "REQUEST"
    # Deleting the meeting sends one cancellation, not one per occurrence change.
    env.sched.api.handle("DELETE", f"/meetings/{mid}", [], [])
    assert len(env.mails()) == before + 2 and env.count("api_occurrence") == 0


@pytest.mark.parametrize(
    ("form", "parameter", "error"),
    [
        ({"invitees": "bob@example.com,not an address"}, "invitees", "invalidEmailAddress"),
        ({"invitees": ",".join(f"u{i}@example.com" for i in range(501))}, "invitees", "tooMany"),
        ({"end": "2030-03-04T09:00:00"}, "end", "endBeforeStart"),
        ({"timeZone": "Mars/Olympus"}, "timeZone", "unknownTimeZone"),
        ({"recurrence": "FREQ=DAILY;COUNT=5000"}, "recurrence", "invalidValue"),
        ({"recurrence": "FREQ=FORTNIGHTLY"}, "recurrence", "invalidValue"),
        ({"start": "2030-03-04 10:00"}, "start", "invalidValue"),
        ({"exceptions": "2030-03-05T10:00:00"}, "exceptions", "notAnOccurrence"),
        ({"name": None}, "name", "required"),
    ],
)
def test_bad_input_saves_nothing(env: Env, form: dict[str, str | None], parameter: str, error: str) -> None:
    with pytest.raises(ApiFailure) as info:
        env.create(**form)
    assert info.value.reason == "parameterError" and info.value.attrs == {"parameter": parameter, "error": error}
    assert env.count("api_meeting") == 0 and env.mails() == []
    with env.sched.store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM api_unique WHERE owner_type = 'meeting'")).scalar_one() == 0


def test_unknown_organizer_or_space_and_failed_update_change_nothing(env: Env) -> None:
    nobody = "00000000-0000-4000-8000-000000000000"
    assert env.refused("POST", "/meetings", **{**PARIS_WEEKLY, "organizer": nobody}).reason == "userDoesNotExist"
    assert env.refused("POST", "/meetings", **{**PARIS_WEEKLY, "organizer": env.user, "coSpace": nobody}).reason == "coSpaceDoesNotExist"
    assert env.mails() == []
    mid = env.create()
    before = env.get(f"/meetings/{mid}")
    assert env.refused("PUT", f"/meetings/{mid}", name="New", end="2030-03-04T08:00").attrs["error"] == "endBeforeStart"
    assert env.get(f"/meetings/{mid}") == before and len(env.mails()) == 1


def test_unbounded_rule_allowed_and_upcoming_list(env: Env) -> None:
    forever = env.create(recurrence="FREQ=DAILY", start="2020-01-01T09:00", end="2020-01-01T09:30")
    past = env.create(recurrence=None, start="2020-01-01T09:00", end="2020-01-01T09:30")
    future = env.create(recurrence=None, start="2031-01-01T09:00", end="2031-01-01T09:30")
    assert env.get(f"/meetings/{forever}")["lastEnd"] == "9999-12-31T23:59:59Z"
    listing = env.sched.api.handle("GET", "/meetings", [("organizerFilter", env.user), ("endsAfter", "now")], []).listing
    assert listing is not None and [i[1] for i in listing[3]] == [forever, future]
    window = env.sched.api.handle("GET", "/meetings", [("organizerFilter", env.user), ("endsAfter", "now"),
                                                        ("startsBefore", "2030-12-31T00:00:00Z")], []).listing
    assert window is not None and [i[1] for i in window[3]] == [forever]
    assert past not in [i[1] for i in listing[3]]
    with pytest.raises(ApiFailure):
        env.sched.api.handle("GET", "/meetings", [("endsAfter", "yesterday")], [])


def test_temporary_space_created_before_start_and_removed_after_the_end(env: Env) -> None:
    mid = env.create(recurrence="FREQ=WEEKLY;COUNT=2", passcode="2468")
    call_id = env.get(f"/meetings/{mid}")["callId"]
    store, spaces = env.sched.store, env.sched.spaces
    assert housekeeping.sweep(store, spaces, datetime(2030, 3, 4, 8, 40, tzinfo=UTC)) == (0, 0)
    assert env.count("api_cospace") == 0
    assert housekeeping.sweep(store, spaces, datetime(2030, 3, 4, 8, 50, tzinfo=UTC)) == (1, 0)
    space_id = env.get(f"/meetings/{mid}")["temporarySpace"]
    item = spaces.handle("GET", f"/coSpaces/{space_id}", [], []).item
    assert item is not None
    shown = {f if isinstance(f, str) else f.name: v for f, v in item[2]}
    assert shown["callId"] == call_id and shown["passcode"] == "2468" and shown["uri"] == f"meeting.{call_id}"
    # Idempotent (a restart, a second scheduler): no second space.
    assert housekeeping.sweep(store, spaces, datetime(2030, 3, 4, 8, 55, tzinfo=UTC)) == (0, 0)
    # Still there between the two occurrences; gone after the last one.
    assert housekeeping.sweep(store, spaces, datetime(2030, 3, 8, tzinfo=UTC)) == (0, 0)
    assert housekeeping.sweep(store, spaces, datetime(2030, 3, 11, 10, 1, tzinfo=UTC)) == (0, 1)
    assert env.count("api_cospace") == 0 and env.get(f"/meetings/{mid}")["temporarySpace"] is None
    assert housekeeping.sweep(store, spaces, datetime(2030, 3, 12, tzinfo=UTC)) == (0, 0)


def test_chosen_space_and_deleting_a_meeting_removes_its_temporary_space(env: Env) -> None:
    loc = env.sched.spaces.handle("POST", "/coSpaces", [], [("name", "Team"), ("uri", "team"), ("passcode", "77")]).location
    assert loc is not None
    space = loc[-36:]
    mid = env.create(coSpace=space)
    got = env.get(f"/meetings/{mid}")
    assert got["uri"] == "team" and got["temporarySpace"] is None and "Passcode: 77" in env.mails()[0].text
    assert housekeeping.sweep(env.sched.store, env.sched.spaces, datetime(2030, 3, 4, 8, 50, tzinfo=UTC)) == (0, 0)
    other = env.create()
    housekeeping.sweep(env.sched.store, env.sched.spaces, datetime(2030, 3, 4, 8, 50, tzinfo=UTC))
    assert env.count("api_cospace") == 2
    env.sched.api.handle("DELETE", f"/meetings/{other}", [], [])
    assert env.count("api_cospace") == 1
