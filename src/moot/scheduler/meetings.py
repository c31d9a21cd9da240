"""Scheduled meetings as API objects: ``/meetings`` and ``/meetings/<id>/occurrences``.

Declared for the generic API engine in a catalog of their own (served on the
scheduler's listener, not by ``/api/v1`` of the web admin). Their store also
holds the node's API types, so that one transaction can check the organizer,
reserve a call ID for a temporary space, write the meeting and enqueue its
invitation in the outbox: all of it commits, or nothing does.

A meeting with no ``coSpace`` gets a call ID, URI and secret reserved at once
(they are in the invitation); the housekeeping task creates the temporary space
with them shortly before the meeting starts and deletes it after the last
occurrence has ended.
"""

from __future__ import annotations

import re
import socket
import urllib.parse
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.engine import Connection

from moot.api.catalog import catalog as api_catalog
from moot.api.engine import Api, Catalog, Route
from moot.api.errors import ApiFailure, parameter_error
from moot.api.hooks import Hooks, on_delete
from moot.api.model import BOOL as BOOL_KIND
from moot.api.model import CALL_ID as CALL_ID_KIND
from moot.api.model import (
    NUMBER,
    PASSCODE,
    SEARCH,
    Access,
    Field,
    Filter,
    FilterOp,
    Kind,
    ObjectType,
    Text,
    ValueError_,
    ref,
)
from moot.api.model import URI_USER_PART as URI_KIND
from moot.api.objects.common import CALL_ID_NAMESPACE, URI_NAMESPACE, new_call_id, new_secret
from moot.db.apistore import ApiStore, Cond, Txn
from moot.scheduler.ics import DialIn, Invitation
from moot.scheduler.invites import Notice, compose
from moot.scheduler.mail import OutgoingMail
from moot.scheduler.outbox import enqueue_in, has_outbox
from moot.scheduler.recurrence import (
    FOREVER,
    MAX_OCCURRENCES,
    Change,
    InvalidTime,
    Schedule,
    normalize_rule,
    parse_local,
    parse_utc,
    show_local,
    show_utc,
    zone,
)

#: The most invitees one meeting has.
MAX_INVITEES = 500
READ_ONLY = Access.READ_ONLY
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)


class MailQueue(Protocol):
    """What the meetings need of the outbox (``moot.scheduler.outbox.Outbox``)."""

    def enqueue(self, conn: Connection, mail: OutgoingMail) -> str: ...


# --- value kinds -------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalTime(Kind):
    """A wall-clock time in the meeting's zone, ``2026-12-07T10:00:00``."""

    def parse(self, raw: str) -> Any:
        try:
            return show_local(parse_local(raw))
        except InvalidTime:
            raise ValueError_() from None

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$"}


@dataclass(frozen=True)
class UtcTime(Kind):
    """An absolute time shown in UTC (``2026-12-07T09:00:00Z``); ``now`` in filters."""

    def parse(self, raw: str) -> Any:
        try:
            return show_utc(parse_utc(raw))
        except InvalidTime:
            raise ValueError_() from None

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date-time"}


@dataclass(frozen=True)
class TimeZoneName(Kind):
    def parse(self, raw: str) -> Any:
        try:
            zone(raw)
        except InvalidTime:
            raise ValueError_("unknownTimeZone") from None
        return raw

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "description": "IANA time zone, e.g. Europe/London"}


@dataclass(frozen=True)
class LocalTimeList(Kind):
    """Comma-separated local times (EXDATEs)."""

    def parse(self, raw: str) -> Any:
        items = [i for i in (s.strip() for s in raw.split(",")) if i]
        if len(items) > MAX_OCCURRENCES:
            raise ValueError_("tooMany")
        try:
            return ",".join(sorted({show_local(parse_local(i)) for i in items}))
        except InvalidTime:
            raise ValueError_() from None

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "description": "comma-separated local times"}


@dataclass(frozen=True)
class EmailList(Kind):
    """Comma- or semicolon-separated email addresses, at most :data:`MAX_INVITEES`."""

    def parse(self, raw: str) -> Any:
        items = [i for i in (s.strip() for s in re.split(r"[,;\s]+", raw)) if i]
        if len(items) > MAX_INVITEES:
            raise ValueError_("tooMany")
        seen: dict[str, str] = {}
        for item in items:
            if len(item) > 254 or not _EMAIL.fullmatch(item):
                raise ValueError_("invalidEmailAddress")
            seen.setdefault(item.lower(), item)
        return ",".join(seen.values())

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "description": f"comma-separated email addresses (at most {MAX_INVITEES})"}


def addresses(value: str | None) -> tuple[str, ...]:
    return tuple(v for v in (value or "").split(",") if v)


LOCAL_TIME = LocalTime()
UTC_TIME = UtcTime()

# --- declarations ------------------------------------------------------------------------


class MeetingHooks(Hooks):
    def prepare(self, txn: Txn, otype: ObjectType, values: dict[str, Any], old: dict[str, Any] | None, actions: dict[str, Any]) -> None:
        merged = {**(old or {}), **values}
        for name in ("name", "start", "end", "timeZone", "organizer"):
            if merged.get(name) is None:
                raise parameter_error(name, "required")
        if "organizer" in values and not txn.exists("user", merged["organizer"]):
            raise ApiFailure("userDoesNotExist")
        if values.get("coSpace") is not None and not txn.exists("coSpace", values["coSpace"]):
            raise ApiFailure("coSpaceDoesNotExist")
        timing = old is None or any(k in values for k in ("start", "end", "timeZone", "recurrence"))
        changes: dict[datetime, Change] = {}
        if old is not None and not timing:
            changes = load_changes(txn, old["id"])
        sched = _schedule(values, merged, changes, strict_exceptions="exceptions" in values or old is None)
        if old is not None and timing:
            # The series changed: its single-occurrence changes no longer apply.
            _drop_changes(txn, old["id"])
        if old is None:
            values["uid"] = f"{uuid.uuid4()}@moot"
            values["sequence"] = 0
        else:
            values["sequence"] = int(old.get("sequence") or 0) + 1
        _place(txn, values, old, merged)
        values.update(_span(sched))
        merged = {**(old or {}), **values}
        inv = invitation(txn, merged, sched)
        if old is None:
            if inv.invitees:
                enqueue(txn, compose(Notice.INVITE, inv))
            return
        removed = tuple(a for a in addresses(old.get("invitees")) if a.lower() not in {i.lower() for i in inv.invitees})
        if removed:
            enqueue(txn, compose(Notice.CANCEL, inv, to=removed))
        if inv.invitees:
            enqueue(txn, compose(Notice.UPDATE, inv))

    def computed(self, txn: Txn, otype: ObjectType, obj: dict[str, Any]) -> dict[str, Any]:
        dial = dial_in(txn, obj)
        out: dict[str, Any] = {"joinUrl": dial.join_url, "callId": dial.call_id, "uri": dial.uri}
        try:
            sched = schedule_of(obj, load_changes(txn, obj["id"]))
        except InvalidTime:
            return out
        nxt = sched.next_after(datetime.now(UTC))
        out["nextOccurrence"] = show_local(nxt.start) if nxt else None
        return out

    def before_delete(self, txn: Txn, otype: ObjectType, obj: dict[str, Any]) -> None:
        _deleting(txn).add(obj["id"])
        if obj.get("temporarySpace"):
            delete_space(txn, obj["temporarySpace"])
        try:
            sched = schedule_of(obj, load_changes(txn, obj["id"]))
        except InvalidTime:
            return
        merged = {**obj, "sequence": int(obj.get("sequence") or 0) + 1}
        inv = invitation(txn, merged, sched)
        if inv.invitees:
            enqueue(txn, compose(Notice.CANCEL, inv))


class OccurrenceHooks(Hooks):
    def prepare(self, txn: Txn, otype: ObjectType, values: dict[str, Any], old: dict[str, Any] | None, actions: dict[str, Any]) -> None:
        parent_id = old["parent_id"] if old else getattr(txn, "parent_id", None)
        meeting = txn.get(MEETING, parent_id) if parent_id else None
        if meeting is None:
            raise ApiFailure(MEETING.failure_not_found)
        merged = {**(old or {}), **values}
        if merged.get("recurrenceId") is None:
            raise parameter_error("recurrenceId", "required")
        if not meeting.get("recurrence"):
            raise parameter_error("recurrenceId", "meetingDoesNotRepeat")
        base = schedule_of(meeting, {})
        rid = parse_local(merged["recurrenceId"])
        if not base.is_instance(rid) or rid in base.exdates:
            raise parameter_error("recurrenceId", "notAnOccurrence")
        changes = load_changes(txn, meeting["id"])
        if old is None and rid in changes:
            raise parameter_error("recurrenceId", "duplicateOccurrence")
        cancelled = bool(merged.get("cancelled"))
        start = parse_local(merged["start"]) if merged.get("start") else None
        end = parse_local(merged["end"]) if merged.get("end") else None
        if not cancelled:
            if start is None and end is None:
                raise parameter_error("start", "required")
            start = start or rid
            end = end or start + base.duration
            if end <= start:
                raise parameter_error("end", "endBeforeStart")
            values["start"], values["end"] = show_local(start), show_local(end)
        changes[rid] = Change(rid, cancelled, start, end)
        inv = _bump(txn, meeting, changes)
        if inv.invitees:
            notice = Notice.CANCEL_OCCURRENCE if cancelled else Notice.UPDATE
            enqueue(txn, compose(notice, inv, occurrence=rid if cancelled else None))

    def before_delete(self, txn: Txn, otype: ObjectType, obj: dict[str, Any]) -> None:
        if obj.get("parent_id") in _deleting(txn):
            return
        meeting = txn.get(MEETING, obj["parent_id"])
        if meeting is None:
            return
        changes = load_changes(txn, meeting["id"])
        changes.pop(parse_local(obj["recurrenceId"]), None)
        inv = _bump(txn, meeting, changes)
        if inv.invitees:
            enqueue(txn, compose(Notice.UPDATE, inv))


MEETING = ObjectType(
    name="meeting",
    collection="meetings",
    fields=(
        Field("name", Text(max_length=200), required=True, listed=True, searchable=True),
        Field("start", LOCAL_TIME, required=True, listed=True),
        Field("end", LOCAL_TIME, required=True, listed=True),
        Field("timeZone", TimeZoneName(), required=True, listed=True),
        Field("recurrence", Text(max_length=500)),
        Field("exceptions", LocalTimeList()),
        Field("organizer", ref("user"), required=True, listed=True),
        Field("organizerDisplayName", Text(max_length=200)),
        Field("invitees", EmailList()),
        Field("description", Text(max_length=4096)),
        Field("coSpace", ref("coSpace"), listed=True),
        Field("passcode", PASSCODE),
        Field("uid", Text(max_length=100), access=READ_ONLY, listed=True),
        Field("sequence", NUMBER, access=READ_ONLY),
        Field("uri", URI_KIND, access=READ_ONLY, unique=URI_NAMESPACE, duplicate_reason="duplicateCoSpaceUri"),
        Field("callId", CALL_ID_KIND, access=READ_ONLY, unique=CALL_ID_NAMESPACE, duplicate_reason="duplicateCoSpaceId"),
        Field("secret", Text(max_length=64), access=READ_ONLY),
        Field("joinUrl", Text(max_length=1024), access=READ_ONLY),
        Field("temporarySpace", ref("coSpace"), access=READ_ONLY),
        Field("firstStart", UTC_TIME, access=READ_ONLY, listed=True),
        Field("lastEnd", UTC_TIME, access=READ_ONLY, listed=True),
        Field("nextOccurrence", LOCAL_TIME, access=READ_ONLY),
    ),
    filters=(
        SEARCH,
        Filter("organizerFilter", FilterOp.EQUALS, "organizer"),
        Filter("coSpaceFilter", FilterOp.EQUALS, "coSpace"),
        Filter("inviteeFilter", FilterOp.CONTAINS, "invitees"),
        Filter("endsAfter", FilterOp.AT_LEAST, "lastEnd"),
        Filter("startsBefore", FilterOp.AT_MOST, "firstStart"),
    ),
    order_by=("firstStart",),
    hooks=MeetingHooks(),
    summary="A scheduled meeting: times in a time zone, recurrence, organizer, invitees, space.",
)

OCCURRENCE = ObjectType(
    name="occurrence",
    collection="occurrences",
    parent="meeting",
    fields=(
        Field("recurrenceId", LOCAL_TIME, required=True, listed=True, create_only=True),
        Field("cancelled", BOOL_KIND, default=False, listed=True),
        Field("start", LOCAL_TIME, listed=True),
        Field("end", LOCAL_TIME, listed=True),
    ),
    filters=(),
    hooks=OccurrenceHooks(),
    summary="One occurrence of a recurring meeting changed: cancelled, or moved.",
)

TYPES = (MEETING, OCCURRENCE)


#: Meetings one deletion cancels at most (a space or organizer with more is not deleted).
CANCEL_LIMIT = 10_000
on_delete("coSpace", lambda txn, obj: cancel_meetings_of(txn, "coSpace", obj["id"]))
on_delete("user", lambda txn, obj: cancel_meetings_of(txn, "organizer", obj["id"]))


def catalog() -> Catalog:
    return Catalog(TYPES)


# --- the store and the API ---------------------------------------------------------------


def open_store(url: str) -> ApiStore:
    """The meetings' tables beside the node's API tables, in the node's database."""
    return ApiStore(url, (*api_catalog().types, *TYPES))


class SchedulerApi(Api):
    """The engine over the meeting types (occurrence hooks need the meeting they belong to)."""

    def create_in(self, txn: Txn, route: Route, form: Sequence[tuple[str, str]]) -> str:
        txn.parent_id = route.parent_id  # type: ignore[attr-defined]
        return super().create_in(txn, route, form)


def make_env(outbox: MailQueue | None, call_id_length: int | None = None, hostname: str | None = None) -> dict[str, Any]:
    env: dict[str, Any] = {"outbox": outbox, "hostname": hostname or socket.gethostname()}
    if call_id_length:
        env["call_id_length"] = call_id_length
    return env


# --- helpers -----------------------------------------------------------------------------


def _env(txn: Txn) -> dict[str, Any]:
    env: dict[str, Any] = getattr(txn, "env", {})
    return env


def _deleting(txn: Txn) -> set[str]:
    found: set[str] | None = getattr(txn, "deleting_meetings", None)
    if found is None:
        found = set()
        txn.deleting_meetings = found  # type: ignore[attr-defined]
    return found


def enqueue(txn: Txn, mail: OutgoingMail) -> None:
    outbox: MailQueue | None = _env(txn).get("outbox")
    if outbox is not None:
        outbox.enqueue(txn.conn, mail)
    elif has_outbox(txn.conn):
        # A change made outside the scheduler (a space deleted through /api/v1): the mail
        # waits in the same outbox for whichever scheduler delivers.
        enqueue_in(txn.conn, mail)


def cancel_meetings_of(txn: Txn, field: str, oid: str) -> None:
    """Cancel (CANCEL to the invitees) and remove every meeting whose ``field`` is ``oid``:
    the meetings of a deleted space or of a deleted organizer."""
    if MEETING.name not in txn.store.types:
        return
    _, rows = txn.list(MEETING, None, [Cond("eq", field, oid)], 0, CANCEL_LIMIT)
    for row in rows:
        meeting = txn.get(MEETING, row["id"])
        if meeting is None:
            continue
        if MEETING.hooks is not None:
            MEETING.hooks.before_delete(txn, MEETING, meeting)
        for cid in txn.ids(OCCURRENCE, meeting["id"]):
            txn.delete(OCCURRENCE, cid)
        txn.clear_references(MEETING.name, meeting["id"])
        txn.delete(MEETING, meeting["id"])


def schedule_of(obj: dict[str, Any], changes: dict[datetime, Change]) -> Schedule:
    tz = zone(obj["timeZone"])
    exdates = tuple(parse_local(x) for x in (obj.get("exceptions") or "").split(",") if x)
    return Schedule(parse_local(obj["start"]), parse_local(obj["end"]), tz, obj.get("recurrence"), exdates, changes)


def _schedule(values: dict[str, Any], merged: dict[str, Any], changes: dict[datetime, Change], strict_exceptions: bool) -> Schedule:
    """Validate the meeting's times, normalizing ``recurrence`` and ``exceptions`` in ``values``."""
    tz = zone(merged["timeZone"])
    start, end = parse_local(merged["start"]), parse_local(merged["end"])
    if end <= start:
        raise parameter_error("end", "endBeforeStart")
    try:
        Schedule(start, end, tz)
    except InvalidTime:
        raise parameter_error("end", "tooLong") from None
    rule = merged.get("recurrence")
    if rule is not None:
        try:
            rule = normalize_rule(rule, tz)
            Schedule(start, end, tz, rule)
        except InvalidTime:
            raise parameter_error("recurrence") from None
        values["recurrence"] = rule
    exdates = tuple(parse_local(x) for x in (merged.get("exceptions") or "").split(",") if x)
    if exdates and rule is None:
        raise parameter_error("exceptions", "meetingDoesNotRepeat")
    sched = Schedule(start, end, tz, rule, (), changes)
    kept = tuple(x for x in exdates if sched.is_instance(x))
    if kept != exdates:
        if strict_exceptions:
            raise parameter_error("exceptions", "notAnOccurrence")
        values["exceptions"] = ",".join(show_local(x) for x in kept) or None
    return Schedule(start, end, tz, rule, kept, changes)


def _span(sched: Schedule) -> dict[str, Any]:
    last = sched.last_end_utc()
    return {"firstStart": show_utc(sched.first_start_utc()), "lastEnd": show_utc(last) if last else FOREVER}


def _place(txn: Txn, values: dict[str, Any], old: dict[str, Any] | None, merged: dict[str, Any]) -> None:
    """A chosen space, or a reserved call ID, URI and secret for a temporary one."""
    if merged.get("coSpace"):
        if old is not None and old.get("temporarySpace"):
            delete_space(txn, old["temporarySpace"])
        values.update(callId=None, uri=None, secret=None, temporarySpace=None)
    elif not merged.get("callId"):
        call_id = new_call_id(txn)
        values.update(callId=call_id, uri=f"meeting.{call_id}", secret=new_secret())


def load_changes(txn: Txn, meeting_id: str) -> dict[datetime, Change]:
    t = txn.store.tables[OCCURRENCE.name]
    out: dict[datetime, Change] = {}
    for row in txn.conn.execute(select(t.c.recurrenceId, t.c.cancelled, t.c.start, t.c.end).where(t.c.parent_id == meeting_id)):
        rid = parse_local(row.recurrenceId)
        out[rid] = Change(
            rid,
            bool(row.cancelled),
            parse_local(row.start) if row.start else None,
            parse_local(row.end) if row.end else None,
        )
    return out


def _drop_changes(txn: Txn, meeting_id: str) -> None:
    t = txn.store.tables[OCCURRENCE.name]
    txn.conn.execute(t.delete().where(t.c.parent_id == meeting_id))


def _bump(txn: Txn, meeting: dict[str, Any], changes: dict[datetime, Change]) -> Invitation:
    """A change of one occurrence: the meeting's SEQUENCE and span follow."""
    sched = schedule_of(meeting, changes)
    update = {"sequence": int(meeting.get("sequence") or 0) + 1, **_span(sched)}
    txn.update(MEETING, meeting["id"], update)
    return invitation(txn, {**meeting, **update}, sched)


def delete_space(txn: Txn, space_id: str) -> None:
    space_type = txn.store.types["coSpace"]
    for child in ("accessMethod", "coSpaceUser"):
        if child in txn.store.types:
            for cid in txn.ids(txn.store.types[child], space_id):
                txn.delete(txn.store.types[child], cid)
    txn.clear_references("coSpace", space_id)
    txn.delete(space_type, space_id)


def web_bridge_host(txn: Txn) -> str:
    """Where the web app is: the first webBridge's address, else this node's hostname."""
    t = txn.store.tables.get("webBridge")
    if t is not None:
        query = txn.store.statement(("scheduler_web_bridge",), lambda: select(t.c.url).order_by(t.c.seq).limit(1))
        url = txn.conn.execute(query).scalar()
        host = urllib.parse.urlsplit(url).netloc if url else None
        if host:
            return str(host)
    return str(_env(txn).get("hostname") or socket.gethostname())


def dial_in(txn: Txn, meeting: dict[str, Any]) -> DialIn:
    space_id = meeting.get("coSpace") or meeting.get("temporarySpace")
    space = txn.get(txn.store.types["coSpace"], space_id) if space_id else None
    source = space if space is not None else meeting
    call_id, secret = source.get("callId"), source.get("secret")
    join = None
    if call_id and secret:
        join = f"https://{web_bridge_host(txn)}/meeting/{call_id}?secret={urllib.parse.quote(secret)}"
    return DialIn(uri=source.get("uri"), call_id=call_id, passcode=source.get("passcode") or meeting.get("passcode"), join_url=join)


def invitation(txn: Txn, meeting: dict[str, Any], sched: Schedule) -> Invitation:
    user = txn.get(txn.store.types["user"], meeting["organizer"]) or {}
    email = user.get("email") or user.get("userJid") or "organizer@invalid"
    return Invitation(
        uid=meeting["uid"],
        sequence=int(meeting.get("sequence") or 0),
        name=meeting["name"],
        schedule=sched,
        organizer_email=email,
        organizer_name=meeting.get("organizerDisplayName") or user.get("name"),
        invitees=addresses(meeting.get("invitees")),
        description=meeting.get("description"),
        dial_in=dial_in(txn, meeting),
    )
