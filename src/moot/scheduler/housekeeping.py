"""Temporary spaces of meetings that have none: created before they start, removed after they end.

Everything is decided from the database at each sweep (nothing is kept in
memory), so a restart or a second scheduler on the same database changes
nothing: a space is made once (its call ID claim settles races) and removed once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, not_, or_, select

from moot.api.engine import Api
from moot.api.errors import ApiFailure
from moot.api.objects.common import CALL_ID_NAMESPACE, URI_NAMESPACE, new_call_id, new_secret
from moot.db.apistore import ApiStore, Txn
from moot.scheduler.meetings import MEETING, delete_space
from moot.scheduler.recurrence import show_utc

log = logging.getLogger("moot.scheduler")

#: A temporary space is ready this long before the meeting starts.
LEAD = timedelta(minutes=15)
#: How often the housekeeping looks.
INTERVAL = 30.0


def due(store: ApiStore, now: datetime) -> tuple[list[str], list[str]]:
    """Meetings that need their temporary space now, and those whose space can go."""
    m, cs = store.tables[MEETING.name], store.tables["coSpace"]
    soon, now_s = show_utc(now + LEAD), show_utc(now)
    missing = or_(m.c.temporarySpace.is_(None), not_(exists().where(cs.c.id == m.c.temporarySpace)))
    create = select(m.c.id).where(m.c.coSpace.is_(None), m.c.firstStart <= soon, m.c.lastEnd > now_s, missing)
    remove = select(m.c.id).where(m.c.temporarySpace.is_not(None), m.c.lastEnd <= now_s)
    with store.reader() as txn:
        return [r[0] for r in txn.conn.execute(create)], [r[0] for r in txn.conn.execute(remove)]


def _free(txn: Txn, namespace: str, value: str | None, owner: str) -> bool:
    if value is None:
        return False
    holder = txn.owner_of(namespace, value)
    return holder is None or holder[1] == owner


def create_space(txn: Txn, spaces: Api, meeting_id: str, now: datetime) -> str | None:
    meeting = txn.get(MEETING, meeting_id)
    if meeting is None or meeting.get("coSpace") or meeting["lastEnd"] <= show_utc(now):
        return None
    if meeting.get("temporarySpace") and txn.exists("coSpace", meeting["temporarySpace"]):
        return None
    call_id, uri, secret = meeting.get("callId"), meeting.get("uri"), meeting.get("secret")
    if not (_free(txn, CALL_ID_NAMESPACE, call_id, meeting_id) and _free(txn, URI_NAMESPACE, uri, meeting_id)):
        # Its reservation was lost (the meeting ended and was moved later): take new ones.
        call_id = new_call_id(txn)
        uri, secret = f"meeting.{call_id}", secret or new_secret()
        log.warning("meeting %s: reserved call ID taken, its space gets call ID %s", meeting["uid"], call_id)
    assert call_id is not None and uri is not None
    txn.release(CALL_ID_NAMESPACE, call_id, meeting_id)
    txn.release(URI_NAMESPACE, uri, meeting_id)
    form = [("name", meeting["name"]), ("uri", uri), ("callId", call_id), ("secret", secret or new_secret()),
            ("meetingScheduler", meeting["uid"])]
    if meeting.get("passcode"):
        form.append(("passcode", meeting["passcode"]))
    space_id = spaces.create_in(txn, spaces.catalog.resolve("/coSpaces"), form)
    txn.update(MEETING, meeting_id, {"temporarySpace": space_id, "callId": call_id, "uri": uri, "secret": secret})
    return space_id


def remove_space(txn: Txn, meeting_id: str, now: datetime) -> bool:
    meeting = txn.get(MEETING, meeting_id)
    if meeting is None or not meeting.get("temporarySpace") or meeting["lastEnd"] > show_utc(now):
        return False
    delete_space(txn, meeting["temporarySpace"])
    txn.update(MEETING, meeting_id, {"temporarySpace": None})
    return True


def sweep(store: ApiStore, spaces: Api, now: datetime | None = None) -> tuple[int, int]:
    """One pass; returns (spaces created, spaces removed). Each meeting in its own transaction."""
    now = now or datetime.now(UTC)
    to_create, to_remove = due(store, now)
    created = removed = 0
    for mid in to_create:
        try:
            with store.txn() as txn:
                created += create_space(txn, spaces, mid, now) is not None
        except ApiFailure as failure:
            log.warning("meeting %s: temporary space not created: %s", mid, failure.reason)
    for mid in to_remove:
        with store.txn() as txn:
            removed += remove_space(txn, mid, now)
    if created or removed:
        log.info("temporary spaces: %d created, %d removed", created, removed)
    return created, removed


async def run(store: ApiStore, spaces: Api, interval: float = INTERVAL) -> None:
    """Sweep for ever (the Scheduler component runs this as a task)."""
    while True:
        try:
            await asyncio.to_thread(sweep, store, spaces)
        except Exception:
            log.exception("scheduler housekeeping failed; trying again in %.0f s", interval)
        await asyncio.sleep(interval)
