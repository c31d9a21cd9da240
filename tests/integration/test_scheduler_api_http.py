"""The scheduling API over HTTP on loopback: authentication, XML and JSON, OpenAPI, upcoming meetings."""

from __future__ import annotations

import asyncio
import base64
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import icalendar
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from moot.node.context import NodeContext
from moot.node.datadir import DataDir
from moot.scheduler import api as scheduler_api
from moot.scheduler.outbox import Outbox
from tests.helpers import ADMIN_PASSWORD

AUTH = {"Authorization": "Basic " + base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()}


@pytest.fixture
async def client(datadir: DataDir) -> AsyncIterator[tuple[TestClient[web.Request, web.Application], NodeContext, Outbox]]:
    node = NodeContext(datadir)
    outbox = Outbox(node.api.store.engine)
    app = web.Application()
    app.add_routes(scheduler_api.routes(node, outbox))
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c, node, outbox
    scheduler_api.scheduling(node).close()
    node.close()


async def test_schedule_list_and_cancel_over_http(client: tuple[TestClient[web.Request, web.Application], NodeContext, Outbox]) -> None:
    c, node, outbox = client
    assert (await c.get("/api/v1/meetings")).status == 401
    user = node.api.handle("POST", "/users", [], [("userJid", "alice@example.com"), ("email", "alice@example.com")]).location
    assert user is not None
    form = {"name": "Weekly", "start": "2031-06-02T10:00", "end": "2031-06-02T10:30", "timeZone": "America/New_York",
            "recurrence": "FREQ=WEEKLY;COUNT=4", "organizer": user[-36:], "organizerDisplayName": "Alice A.",
            "invitees": "bob@example.com"}
    resp = await c.post("/api/v1/meetings", data=form, headers=AUTH)
    assert resp.status == 200, await resp.text()
    location = resp.headers["Location"]
    assert location.startswith("/api/v1/meetings/")
    one = ET.fromstring(await (await c.get(location, headers=AUTH)).read())
    assert one.tag == "meeting" and one.findtext("timeZone") == "America/New_York"
    assert one.findtext("firstStart") == "2031-06-02T14:00:00Z" and one.findtext("sequence") == "0"
    listing = await c.get(f"/api/v1/meetings?organizerFilter={user[-36:]}&endsAfter=now",
                          headers={**AUTH, "Accept": "application/json"})
    data = await listing.json()
    assert data["meetings"]["total"] == 1 and data["meetings"]["meeting"][0]["name"] == "Weekly"
    assert outbox.counts().waiting == 1
    claimed = outbox.claim("test")
    assert claimed[0].mail.organizer_name == "Alice A." and claimed[0].mail.ics is not None
    cal = icalendar.Calendar.from_ical(claimed[0].mail.ics)
    (ev,) = cal.walk("VEVENT")
    assert ev["DTSTART"].params["TZID"] == "America/New_York" and ev["ORGANIZER"].params["CN"] == "Alice A."
    assert (await c.delete(location, headers=AUTH)).status == 200
    # The invite (leased by "test") and the cancellation.
    assert outbox.counts().waiting == 2 and [m.mail.ics_method for m in outbox.claim("other")] == ["CANCEL"]


async def test_failures_are_failure_details_and_nothing_saved(client: tuple[TestClient[web.Request, web.Application], NodeContext, Outbox]) -> None:
    c, node, outbox = client
    user = node.api.handle("POST", "/users", [], [("userJid", "alice@example.com")]).location
    assert user is not None
    form = {"name": "x", "start": "2031-06-02T10:00", "end": "2031-06-02T09:00", "timeZone": "Europe/Oslo", "organizer": user[-36:]}
    resp = await c.post("/api/v1/meetings", data=form, headers=AUTH)
    assert resp.status == 400
    assert await resp.read() == (b'<?xml version="1.0"?><failureDetails><parameterError parameter="end" '
                                 b'error="endBeforeStart" /></failureDetails>')
    resp = await c.post("/api/v1/meetings", data={**form, "end": "2031-06-02T11:00", "invitees": "a@b"}, headers=AUTH)
    assert b'error="invalidEmailAddress"' in await resp.read()
    listing = ET.fromstring(await (await c.get("/api/v1/meetings", headers=AUTH)).read())
    assert listing.get("total") == "0" and outbox.counts().waiting == 0


async def test_openapi_documents_the_meetings(client: tuple[TestClient[web.Request, web.Application], NodeContext, Outbox]) -> None:
    c, _, _ = client
    doc = await (await c.get("/api/v1/openapi.json", headers=AUTH)).json()
    assert doc["info"]["title"] == "Moot scheduling API"
    assert set(doc["paths"]) >= {"/meetings", "/meetings/{meetingId}", "/meetings/{meetingId}/occurrences"}
    params = {p["name"] for p in doc["paths"]["/meetings"]["get"]["parameters"]}
    assert {"organizerFilter", "endsAfter", "startsBefore", "inviteeFilter"} <= params
    assert "/coSpaces" not in doc["paths"]
    assert (await c.get("/api/v1/coSpaces", headers=AUTH)).status == 404


async def test_housekeeping_task_makes_the_space_of_a_meeting_about_to_start(client: tuple[TestClient[web.Request, web.Application], NodeContext, Outbox]) -> None:
    c, node, _ = client
    user = node.api.handle("POST", "/users", [], [("userJid", "alice@example.com")]).location
    assert user is not None
    soon = datetime.now(UTC).replace(tzinfo=None, microsecond=0) + timedelta(minutes=5)
    form = {"name": "Soon", "start": soon.isoformat(), "end": (soon + timedelta(hours=1)).isoformat(),
            "timeZone": "UTC", "organizer": user[-36:]}
    location = (await c.post("/api/v1/meetings", data=form, headers=AUTH)).headers["Location"]
    task = asyncio.create_task(scheduler_api.run_housekeeping(node))
    try:
        for _ in range(100):
            one = ET.fromstring(await (await c.get(location, headers=AUTH)).read())
            if one.findtext("temporarySpace"):
                break
            await asyncio.sleep(0.1)
    finally:
        task.cancel()
    space = node.api.handle("GET", f"/coSpaces/{one.findtext('temporarySpace')}", [], []).item
    assert space is not None and dict((f if isinstance(f, str) else f.name, v) for f, v in space[2])["callId"] == one.findtext("callId")


async def test_deleting_a_space_or_organizer_through_api_v1_cancels_their_meetings(
    client: tuple[TestClient[web.Request, web.Application], NodeContext, Outbox],
) -> None:
    c, node, outbox = client
    alice = (node.api.handle("POST", "/users", [], [("userJid", "alice@example.com")]).location or "")[-36:]
    bob = (node.api.handle("POST", "/users", [], [("userJid", "bob@example.com")]).location or "")[-36:]
    room = (node.api.handle("POST", "/coSpaces", [], [("name", "Room"), ("uri", "room"), ("callId", "424242")])
            .location or "")[-36:]
    base = {"start": "2031-06-02T10:00", "end": "2031-06-02T10:30", "timeZone": "UTC",
            "recurrence": "FREQ=WEEKLY;COUNT=3", "invitees": "carol@example.com"}
    in_room = (await c.post("/api/v1/meetings", data={**base, "name": "In the room", "organizer": alice,
                                                      "coSpace": room}, headers=AUTH)).headers["Location"]
    by_bob = (await c.post("/api/v1/meetings", data={**base, "name": "Bob's", "organizer": bob},
                           headers=AUTH)).headers["Location"]
    kept = (await c.post("/api/v1/meetings", data={**base, "name": "Alice's own", "organizer": alice},
                         headers=AUTH)).headers["Location"]
    assert [m.mail.ics_method for m in outbox.claim("invites")] == ["REQUEST"] * 3
    # The space goes (through /api/v1, not the scheduler): its meeting is cancelled, invitees told.
    node.api.handle("DELETE", f"/coSpaces/{room}", [], [])
    assert (await c.get(in_room, headers=AUTH)).status == 400
    cancels = outbox.claim("after-space")
    assert [m.mail.ics_method for m in cancels] == ["CANCEL"]
    (event,) = icalendar.Calendar.from_ical(cancels[0].mail.ics or b"").walk("VEVENT")
    assert str(event["SUMMARY"]) == "In the room" and str(event["STATUS"]) == "CANCELLED"
    # The organizer goes: Bob's meeting is cancelled; the others stay.
    node.api.handle("DELETE", f"/users/{bob}", [], [])
    assert (await c.get(by_bob, headers=AUTH)).status == 400
    assert [m.mail.ics_method for m in outbox.claim("after-user")] == ["CANCEL"]
    assert (await c.get(kept, headers=AUTH)).status == 200
    listing = ET.fromstring(await (await c.get("/api/v1/meetings", headers=AUTH)).read())
    assert [m.findtext("name") for m in listing.iter("meeting")] == ["Alice's own"]
