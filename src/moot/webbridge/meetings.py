"""The web app's scheduling: a signed-in user's upcoming meetings, and scheduling a new one.

Both go through the scheduler's own API engine (the same declarations, validation and
transaction as ``/meetings`` on the scheduler's listener: the meeting, its temporary
space's reservations and its invitations commit together). Only offered where the
scheduler runs on this node (its outbox is up), so that no invitation is left unsent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from moot.api.errors import ApiFailure
from moot.webbridge.signin import SignedIn

if TYPE_CHECKING:
    from moot.scheduler.api import Scheduling

#: Upcoming meetings shown at most (as organizer, and again as invitee).
LIST_LIMIT = 20
SHOWN = ("name", "start", "end", "timeZone", "recurrence", "nextOccurrence", "callId", "joinUrl", "uri",
         "invitees", "firstStart", "lastEnd")
ACCEPTED = ("name", "start", "end", "timeZone", "recurrence", "invitees", "description")


class ScheduleRefused(Exception):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def available(sched: Scheduling | None) -> bool:
    return sched is not None and sched.env.get("outbox") is not None


def _rows(sched: Scheduling, query: list[tuple[str, str]]) -> list[dict[str, Any]]:
    response = sched.api.handle("GET", "/meetings", [*query, ("limit", str(LIST_LIMIT))], [])
    if response.listing is None:
        return []
    rows = []
    for _element, oid, pairs in response.listing[3]:
        ids = {"id": oid}
        ids.update({(f if isinstance(f, str) else f.name): v for f, v in pairs})
        rows.append(ids)
    return rows


def _full(sched: Scheduling, oid: str) -> dict[str, Any]:
    response = sched.api.handle("GET", f"/meetings/{oid}", [], [])
    assert response.item is not None
    _element, _oid, pairs = response.item
    return {(f if isinstance(f, str) else f.name): v for f, v in pairs}


def upcoming(sched: Scheduling, who: SignedIn, email: str | None) -> list[dict[str, Any]]:
    """The user's meetings that have not ended, as organizer then as invitee, soonest first."""
    found: dict[str, dict[str, Any]] = {}
    for row in _rows(sched, [("organizerFilter", who.user_id), ("endsAfter", "now")]):
        found[row["id"]] = {**row, "role": "organizer"}
    if email:
        for row in _rows(sched, [("inviteeFilter", email), ("endsAfter", "now")]):
            found.setdefault(row["id"], {**row, "role": "invitee"})
    meetings = []
    for oid, row in found.items():
        full = _full(sched, oid)
        meetings.append({"id": oid, "role": row["role"], **{k: full.get(k) for k in SHOWN}})
    meetings.sort(key=lambda m: str(m.get("firstStart") or ""))
    return meetings


def schedule(sched: Scheduling, who: SignedIn, body: dict[str, Any]) -> dict[str, Any]:
    """Create a meeting organized by ``who`` from the web app's form."""
    form: list[tuple[str, str]] = [("organizer", who.user_id), ("organizerDisplayName", who.name)]
    for key in ACCEPTED:
        value = body.get(key)
        if value is None or value == "" or value == []:
            continue
        if key == "invitees" and isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = ",".join(value)
        if not isinstance(value, str):
            raise ScheduleRefused(f"'{key}' must be text", key)
        form.append((key, value))
    try:
        response = sched.api.handle("POST", "/meetings", [], form)
    except ApiFailure as exc:
        raise ScheduleRefused(_explain(exc), exc.attrs.get("parameter")) from None
    oid = (response.location or "").rsplit("/", 1)[-1]
    full = _full(sched, oid)
    return {"id": oid, "role": "organizer", **{k: full.get(k) for k in SHOWN}}


#: Errors that explain themselves whatever field they are on.
_ERRORS = {
    "endBeforeStart": "The meeting must end after it starts.",
}
_REASONS = {
    "unknownTimeZone": "That time zone is not known.",
    "invalidEmailAddress": "One of the invitees is not an email address.",
    "tooMany": "That is too many.",
}


def _explain(exc: ApiFailure) -> str:
    parameter = exc.attrs.get("parameter")
    error = exc.attrs.get("error", "")
    if error in _ERRORS:
        return _ERRORS[error]
    if parameter:
        detail = _REASONS.get(error, "It is missing or not valid." if error in ("", "invalidValue", "required")
                              else f"({error})")
        return f"Check '{parameter}': {detail}"
    return {
        "endBeforeStart": "The meeting must end after it starts.",
        "invalidRecurrence": "The repetition rule is not valid.",
    }.get(exc.reason, f"The meeting cannot be scheduled ({exc.reason}).")
