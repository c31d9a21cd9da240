"""The scheduler issue's "done when", against a running node.

Email configured with the guide's MMP commands towards an aiosmtpd on loopback; a
weekly meeting scheduled through the scheduler's HTTPS API starting in about two
minutes; the invite arrives with an ICS that icalendar parses (RRULE, TZID); and the
meeting's temporary space shows up in the web admin's /api/v1/coSpaces on the next
housekeeping pass.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import icalendar
import pytest
from aiosmtpd.controller import Controller

from tests.helpers import ADMIN_PASSWORD, RunningNode, free_port

pytestmark = pytest.mark.slow

AUTH = {"Authorization": "Basic " + base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()}
ZONE = "Europe/Paris"
DEADLINE_S = 60.0


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, email.message.EmailMessage)
        self.messages.append(msg)
        return "250 OK"


def ok(node: RunningNode, command: str) -> None:
    res = node.mmp(command)
    assert res.returncode == 0 and "SUCCESS" in res.stdout, (command, res.stdout, res.stderr)


async def poll(check: Any, what: str, deadline: float) -> Any:
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.5)
    raise AssertionError(f"{what}: not within {DEADLINE_S:.0f} s")


async def test_weekly_meeting_invite_and_temporary_space(node: RunningNode) -> None:
    inbox = Inbox()
    smtp_port = free_port()
    smtpd = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtpd.start()
    try:
        ok(node, f"scheduler email server 127.0.0.1 {smtp_port}")
        ok(node, "scheduler email protocol smtp")
        sched_port = free_port()
        ok(node, f"scheduler https listen a {sched_port}")
        ok(node, "scheduler enable")
        t0 = time.monotonic()
        deadline = t0 + DEADLINE_S
        start = (datetime.now(ZoneInfo(ZONE)) + timedelta(minutes=2)).replace(second=0, microsecond=0)
        end = start + timedelta(minutes=30)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as http:
            web = f"https://127.0.0.1:{node.ports.https}/api/v1"
            sched = f"https://127.0.0.1:{sched_port}/api/v1"
            resp = await http.post(f"{web}/users", data={"userJid": "alice@example.com", "email": "alice@example.com"},
                                   headers=AUTH)
            assert resp.status == 200, await resp.text()
            user = resp.headers["Location"].rsplit("/", 1)[-1]

            async def scheduler_up() -> bool:
                try:
                    return (await http.get(f"{sched}/meetings", headers=AUTH)).status == 200
                except aiohttp.ClientError:
                    return False

            await poll(scheduler_up, "scheduler HTTPS listener", deadline)
            form = {"name": "Story weekly", "start": start.strftime("%Y-%m-%dT%H:%M"),
                    "end": end.strftime("%Y-%m-%dT%H:%M"), "timeZone": ZONE, "recurrence": "FREQ=WEEKLY;COUNT=3",
                    "organizer": user, "invitees": "bob@example.com"}
            resp = await http.post(f"{sched}/meetings", data=form, headers=AUTH)
            assert resp.status == 200, await resp.text()
            meeting = resp.headers["Location"].rsplit("/", 1)[-1]

            async def invited() -> bool:
                return bool(inbox.messages)

            await poll(invited, "invite at the SMTP server", deadline)
            (msg,) = inbox.messages
            assert "bob@example.com" in str(msg["To"])
            parts = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
            assert parts, msg.as_string()[:2000]
            cal = icalendar.Calendar.from_ical(parts[0].get_content())
            (event,) = cal.walk("VEVENT")
            assert event["RRULE"]["FREQ"] == ["WEEKLY"] and event["RRULE"]["COUNT"] == [3]
            assert event["DTSTART"].params["TZID"] == ZONE
            assert event.decoded("DTSTART") == start

            async def space() -> str | None:
                one = ET.fromstring(await (await http.get(f"{sched}/meetings/{meeting}", headers=AUTH)).read())
                space_id = one.findtext("temporarySpace")
                if not space_id:
                    return None
                listing = ET.fromstring(await (await http.get(f"{web}/coSpaces", headers=AUTH)).read())
                ids = {s.get("id") for s in listing.iter("coSpace")}
                return space_id if space_id in ids else None

            await poll(space, "temporary space in /api/v1/coSpaces", deadline)
        assert time.monotonic() - t0 < DEADLINE_S
    finally:
        smtpd.stop()
