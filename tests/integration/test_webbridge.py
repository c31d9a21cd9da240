"""The web bridge against a running node, with synthetic aiortc browsers (tests/webrtc_client.py).

Real parts: the node (``moot serve``), its HTTPS web bridge, aiortc peers doing ICE,
DTLS-SRTP and Opus on loopback, the REST API. What is checked is what a browser hears
(FFT of the decoded audio) and what the API shows.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.callbridge_api import Api, api_fixture, until
from tests.helpers import ROOT, RunningNode
from tests.webrtc_client import JoinRefused, WebClient, tone_level_db

__all__ = ["api_fixture"]

pytestmark = pytest.mark.slow


def base(node: RunningNode) -> str:
    return f"https://127.0.0.1:{node.ports.webbridge}"


async def web_legs(api: Api) -> list[ET.Element]:
    return [leg for leg in (await api.get("/callLegs")).iter("callLeg")]


async def space(api: Api, name: str, call_id: str, passcode: str | None = "2468") -> str:
    form = {"name": name, "uri": name.lower().replace(" ", ""), "callId": call_id}
    if passcode:
        form["passcode"] = passcode
    return await api.post("/coSpaces", **form)


def heard(client: WebClient, freq: float, since: float, until_: float) -> float:
    samples, rate = client.received_audio(since=since, until=until_)
    assert samples.size > rate // 2, f"{client!r} received {samples.size} samples"
    return tone_level_db(samples, rate, freq)


async def joined(node: RunningNode, clients: list[WebClient], meeting: str, name: str,
                 tone_hz: float | None = 440.0) -> WebClient:
    """A synthetic browser in ``meeting`` (closed by the ``clients`` fixture)."""
    client = WebClient(base(node), tone_hz=tone_hz, name=name)
    clients.append(client)
    await client.connect()
    await client.join(meeting)
    return client


@pytest.fixture
async def clients() -> AsyncIterator[list[WebClient]]:
    made: list[WebClient] = []
    yield made
    await asyncio.gather(*(c.close() for c in made), return_exceptions=True)


async def test_two_browsers_hear_each_other_and_the_api_controls_them(
    node: RunningNode, api: Api, clients: list[WebClient]
) -> None:
    space_id = await space(api, "Web room", "700100")
    alice = WebClient(base(node), tone_hz=500.0, name="Alice")
    bob = WebClient(base(node), tone_hz=900.0, name="Bob")
    clients += [alice, bob]
    for c in (alice, bob):
        await c.connect()
    joined_a = await alice.join("700100", passcode="2468")
    joined_b = await bob.join("700100", passcode="2468", name="Bob")
    assert joined_a.meeting_name == "Web room"
    assert joined_a.call_id == joined_b.call_id
    # The API sees one call in the space with two legs of type "acano" (the product's web app legs).
    legs = await until(lambda: _legs_named(api, {"Alice", "Bob"}), "two web legs in the API")
    call = await api.get(f"/calls/{joined_a.call_id}")
    assert call.findtext("coSpace") == space_id
    leg_a = await api.get(f"/callLegs/{joined_a.leg_id}")
    assert leg_a.findtext("type") == "acano"
    assert leg_a.findtext("status/encrypted") == "true"
    assert len(legs) == 2
    await asyncio.sleep(3.0)
    now = time.monotonic()
    # Each hears the other and not itself.
    assert heard(alice, 900.0, now - 2.0, now) > -30.0
    assert heard(alice, 500.0, now - 2.0, now) < -50.0
    assert heard(bob, 500.0, now - 2.0, now) > -30.0
    assert heard(bob, 900.0, now - 2.0, now) < -50.0
    # The participant list names both, and Bob's own entry is marked.
    plist = bob.participants
    assert {p["name"] for p in plist} == {"Alice", "Bob"}
    assert [p["name"] for p in plist if p["self"]] == ["Bob"]
    detail = await api.get(f"/callLegs/{joined_a.leg_id}")
    assert int(detail.findtext("status/rxAudio/packetsReceived") or 0) > 50
    status = await api.get("/system/status")
    assert status.findtext("callLegsActive") == "2"
    # The API mutes Alice: Bob stops hearing 500 Hz, Alice's app is told.
    await api.put(f"/callLegs/{joined_a.leg_id}", rxAudioMute="true")
    message = await alice.next_message("hostMute")
    assert message["audio"] is True
    await asyncio.sleep(2.5)
    now = time.monotonic()
    assert heard(bob, 500.0, now - 1.5, now) < -50.0
    # The API removes Bob: his app hears why, his leg is gone.
    await api.delete(f"/callLegs/{joined_b.leg_id}")
    ended = await bob.next_message("ended")
    assert "removed" in ended["reason"]
    await until(lambda: _legs_named(api, {"Alice"}), "only Alice left")
    # Alice leaves: the call ends.
    assert (await alice.leave())["type"] == "ended"
    await until(lambda: _no_calls(api), "the call ends when the last browser leaves")


async def _legs_named(api: Api, names: set[str]) -> list[ET.Element] | None:
    legs = await web_legs(api)
    return legs if {leg.findtext("name") for leg in legs} == names and len(legs) == len(names) else None


async def _syslog_says(node: RunningNode, text: str) -> str | None:
    path = node.datadir.syslog
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    return next((line for line in lines if text in line), None)


async def _no_calls(api: Api) -> bool:
    return (await api.get("/calls")).get("total") == "0"


async def test_wrong_passcode_unknown_meeting_link_and_retry_on_one_socket(
    node: RunningNode, api: Api, clients: list[WebClient]
) -> None:
    space_id = await space(api, "Linked room", "700200")
    secret = (await api.get(f"/coSpaces/{space_id}")).findtext("secret")
    assert secret
    c = WebClient(base(node), tone_hz=600.0, name="Carol")
    clients.append(c)
    await c.connect()
    for meeting, passcode, code in (("999999999", "1", "unknownMeeting"), ("700200", None, "passcodeRequired"),
                                    ("700200", "1111", "wrongPasscode")):
        with pytest.raises(JoinRefused) as refused:
            await c.join(meeting, passcode=passcode)
        assert refused.value.code == code
        assert not refused.value.fatal
    with pytest.raises(JoinRefused) as refused:
        await c.join("700200", secret="not-the-secret")
    assert refused.value.code == "unknownMeeting"
    # The join link's secret needs no passcode; the same socket joins after the refusals.
    joined = await c.join("700200", secret=secret)
    assert joined.meeting_name == "Linked room"
    assert (await c.leave())["type"] == "ended"


async def test_meeting_info_and_bad_http_requests(node: RunningNode, api: Api) -> None:
    await space(api, "Info room", "700300")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as http:
        url = base(node)
        async with http.post(f"{url}/api/meeting", json={"meetingId": "700300"}) as resp:
            assert resp.status == 200
            info = await resp.json()
        assert info == {"meetingId": "700300", "name": "Info room", "passcodeRequired": True, "guestsAllowed": True,
                        "iceServers": []}
        async with http.post(f"{url}/api/meeting", data=b"{not json") as resp:
            assert resp.status == 400
            assert (await resp.json())["error"] == "badRequest"
        async with http.post(f"{url}/api/meeting", json={"meetingId": 5}) as resp:
            assert resp.status == 400
        async with http.get(f"{url}/meeting/700300?secret=x") as resp:
            assert resp.status == 200
            assert "text/html" in resp.headers["Content-Type"]
            assert resp.headers["Referrer-Policy"] == "no-referrer"
        async with http.get(f"{url}/static/../../component.py") as resp:
            assert resp.status in (403, 404)
        # A page of another site may not open the signalling socket.
        async with http.get(f"{url}/ws", headers={"Origin": "https://evil.example"}) as resp:
            assert resp.status == 403


async def test_bad_signalling_is_refused_and_leaks_nothing(
    node: RunningNode, api: Api, clients: list[WebClient]
) -> None:
    await space(api, "Bad room", "700400", passcode=None)
    cases: list[tuple[str | bytes, str]] = [
        ("{not json", "badMessage"),
        (json.dumps({"type": "mute", "audio": True}), "badMessage"),  # before join
        (json.dumps({"type": "teleport"}), "badMessage"),
        (json.dumps({"type": "join", "meetingId": 7, "sdp": ""}), "badMessage"),
        ("x" * (70 * 1024), "messageTooLarge"),
    ]
    for raw, code in cases:
        c = WebClient(base(node), tone_hz=None)
        clients.append(c)
        await c.connect()
        await c.send_raw(raw)
        error = await c.next_message("error")
        assert error["code"] == code and error["fatal"] is True, error
    # SDP without audio is refused, and the socket stays usable.
    c = WebClient(base(node), tone_hz=None, name="Dave")
    clients.append(c)
    await c.connect()
    await c.send_raw(json.dumps({"type": "join", "meetingId": "700400", "name": "Dave",
                                 "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}))
    error = await c.next_message("error")
    assert error["code"] == "badSdp" and error["fatal"] is False
    await c.join("700400")
    await c.leave()
    await until(lambda: _no_calls(api), "no call left behind")
    assert not await web_legs(api)


async def test_guessing_passcodes_is_rate_limited_and_logged(
    node: RunningNode, api: Api, clients: list[WebClient]
) -> None:
    await space(api, "Guarded room", "700500", passcode="97531")
    c = WebClient(base(node), tone_hz=None, name="Mallory")
    clients.append(c)
    await c.connect()
    codes = []
    for guess in range(14):
        with pytest.raises(JoinRefused) as refused:
            await c.join("700500", passcode=f"{guess:05d}")
        codes.append(refused.value.code)
    assert codes[:10] == ["wrongPasscode"] * 10
    assert codes[-1] == "rateLimited"
    # Even the right passcode waits now.
    with pytest.raises(JoinRefused) as refused:
        await c.join("700500", passcode="97531")
    assert refused.value.code == "rateLimited" and (refused.value.retry_after or 0) > 0
    log = await until(lambda: _syslog_says(node, "refused for 30 s after more than 10 failed attempts"),
                      "the block in the syslog", timeout=5.0)
    assert "127.0.0.1" in log
    assert not await web_legs(api)


async def test_a_browser_that_vanishes_is_removed_within_5_seconds(
    node: RunningNode, api: Api, clients: list[WebClient]
) -> None:
    await space(api, "Gone room", "700600", passcode=None)
    c = await joined(node, clients, "700600", "Erin")
    await until(lambda: _legs_named(api, {"Erin"}), "Erin's leg")
    closed = time.monotonic()
    await c.close()  # the tab closes: no leave
    await until(lambda: _no_calls(api), "the leg goes when the tab closes", timeout=5.0)
    assert time.monotonic() - closed < 5.0


async def _offer() -> tuple[Any, str]:
    """A real browser-like offer (audio sendrecv) from an aiortc peer that is then left alone."""
    from aiortc import RTCConfiguration, RTCPeerConnection

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("audio", direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


async def test_signed_in_user_sees_their_spaces_and_joins_by_name(node: RunningNode, api: Api) -> None:
    user = await api.post("/users", userJid="alice@example.com", name="Alice Example", password="Wonder-land-7")
    owned = await space(api, "Alice's room", "700700")
    await api.put(f"/coSpaces/{owned}", ownerId=user)
    # The password is never shown by the API.
    shown = await api.get(f"/users/{user}")
    assert shown.find("password") is None
    url = base(node)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False),
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{url}/api/me") as resp:
            assert await resp.json() == {"signedIn": False}
        async with http.post(f"{url}/api/signin", json={"username": "alice@example.com", "password": "nope"}) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"] == "badCredentials"
        async with http.post(f"{url}/api/signin", json={"username": "bob@example.com", "password": "nope"}) as resp:
            assert resp.status == 401  # unknown users look the same as wrong passwords
        async with http.post(f"{url}/api/signin",
                             json={"username": "alice@example.com", "password": "Wonder-land-7"}) as resp:
            assert resp.status == 200
            cookie = resp.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Strict" in cookie
        async with http.get(f"{url}/api/me") as resp:
            me = await resp.json()
        assert me["name"] == "Alice Example"
        [mine] = me["spaces"]
        assert mine["callId"] == "700700" and mine["passcode"] == "2468"
        assert mine["joinUrl"].startswith(f"{url}/meeting/700700?secret=")
        # Signed in, the join needs no name: the user's own is used.
        pc, sdp = await _offer()
        try:
            async with http.ws_connect(f"wss://127.0.0.1:{node.ports.webbridge}/ws", ssl=False) as ws:
                await ws.send_json({"type": "join", "meetingId": "700700", "passcode": "2468", "sdp": sdp})
                joined = await ws.receive_json(timeout=10)
                assert joined["type"] == "joined", joined
                listing = await ws.receive_json(timeout=5)
                assert [p["name"] for p in listing["participants"]] == ["Alice Example"]
                participant = await until(lambda: _participant(api, joined["participantId"]), "the participant")
                assert participant.findtext("userJid") == "alice@example.com"
        finally:
            await pc.close()
        async with http.post(f"{url}/api/signout") as resp:
            assert resp.status == 200
        async with http.get(f"{url}/api/me") as resp:
            assert (await resp.json())["signedIn"] is False
    await until(lambda: _no_calls(api), "the call ends with the socket")


async def _participant(api: Api, pid: str) -> ET.Element | None:
    rows = [p for p in (await api.get("/participants")).iter("participant") if p.get("id") == pid]
    return await api.get(f"/participants/{pid}") if rows else None


async def test_ice_that_never_connects_ends_the_leg(node: RunningNode, api: Api) -> None:
    await space(api, "Silent room", "700800", passcode=None)
    pc, sdp = await _offer()
    await pc.close()  # nobody will ever answer the server's connectivity checks
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as http, \
            http.ws_connect(f"wss://127.0.0.1:{node.ports.webbridge}/ws", ssl=False) as ws:
        await ws.send_json({"type": "join", "meetingId": "700800", "name": "Ghost", "sdp": sdp})
        messages = []
        started = time.monotonic()
        while True:
            msg = await ws.receive(timeout=20)
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            messages.append(json.loads(msg.data))
        waited = time.monotonic() - started
    assert messages[0]["type"] == "joined"
    failure = messages[-1]
    assert failure["type"] == "error" and failure["code"] == "mediaFailed" and failure["fatal"], messages
    assert 8.0 < waited < 15.0
    await until(lambda: _no_calls(api), "no call left behind")


async def test_full_locked_and_members_only_meetings(node: RunningNode, api: Api, clients: list[WebClient]) -> None:
    profile = await api.post("/callProfiles", participantLimit="1")
    room = await space(api, "Small room", "700900", passcode=None)
    await api.put(f"/coSpaces/{room}", callProfile=profile)
    first = WebClient(base(node), tone_hz=None, name="First")
    second = WebClient(base(node), tone_hz=None, name="Second")
    clients += [first, second]
    await first.connect()
    await second.connect()
    await first.join("700900")
    with pytest.raises(JoinRefused) as refused:
        await second.join("700900")
    assert refused.value.code == "meetingFull"
    # Locked from the API: nobody new gets in, although there is room.
    await space(api, "Open room", "700950", passcode=None)
    host = WebClient(base(node), tone_hz=None, name="Host")
    clients.append(host)
    await host.connect()
    joined = await host.join("700950")
    await until(lambda: _legs_named(api, {"First", "Host"}), "both legs in the API")
    await api.put(f"/calls/{joined.call_id}", locked="true")
    with pytest.raises(JoinRefused) as refused:
        await second.join("700950")
    assert refused.value.code == "meetingLocked"
    await api.put(f"/calls/{joined.call_id}", locked="false")
    await second.join("700950")
    # A web bridge profile without guests: a guest cannot join another space.
    wbp = await api.post("/webBridgeProfiles", name="members", allowUnauthenticatedGuests="false")
    await api.put("/system/profiles", webBridgeProfile=wbp)
    await space(api, "Members room", "701000", passcode=None)
    third = WebClient(base(node), tone_hz=None, name="Third")
    clients.append(third)
    await third.connect()
    with pytest.raises(JoinRefused) as refused:
        await third.join("701000")
    assert refused.value.code == "guestsNotAllowed"
    # This web bridge's own /webBridges object (found by its URL) has a profile that lets guests
    # in: it comes before the system's.
    open_doors = await api.post("/webBridgeProfiles", name="guests welcome", allowUnauthenticatedGuests="true")
    await api.post("/webBridges", url=base(node), webBridgeProfile=open_doors)
    await third.join("701000")


async def test_a_frozen_browser_is_removed_within_5_seconds(node: RunningNode, api: Api, tmp_path: Any) -> None:
    """The network goes away (the process stops answering, no FIN, no RST): heartbeat + media timeout."""
    await space(api, "Frozen room", "701100", passcode=None)
    script = (
        "import asyncio, sys\n"
        "from tests.webrtc_client import WebClient\n"
        "async def main():\n"
        f"    c = WebClient('{base(node)}', tone_hz=300.0, name='Frozen')\n"
        "    await c.connect()\n"
        "    await c.join('701100')\n"
        "    print('joined', flush=True)\n"
        "    await asyncio.sleep(120)\n"
        "asyncio.run(main())\n"
    )
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script, cwd=str(ROOT),
                                                stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert line.strip() == b"joined"
        await until(lambda: _legs_named(api, {"Frozen"}), "the frozen browser's leg")
        proc.send_signal(signal.SIGSTOP)
        stopped = time.monotonic()
        await until(lambda: _no_calls(api), "the leg of a browser that stopped answering", timeout=8.0)
        assert time.monotonic() - stopped < 5.0
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        await proc.wait()


async def _signed_in(http: aiohttp.ClientSession, url: str, username: str, password: str) -> None:
    async with http.post(f"{url}/api/signin", json={"username": username, "password": password}) as resp:
        assert resp.status == 200, await resp.text()


async def test_signed_in_user_schedules_and_lists_meetings(node: RunningNode, api: Api) -> None:
    user = await api.post("/users", userJid="sam@example.com", name="Sam Scheduler", email="sam@example.com",
                          password="Calendar-Time-9")
    url = base(node)
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False), cookie_jar=jar) as http:
        async with http.get(f"{url}/api/meetings") as resp:
            assert resp.status == 401
        await _signed_in(http, url, "sam@example.com", "Calendar-Time-9")
        # No scheduler on this node yet: the web app is told scheduling is not offered.
        async with http.get(f"{url}/api/meetings") as resp:
            assert await resp.json() == {"available": False}
        meeting = {"name": "Weekly sync", "start": "2031-03-03T09:00", "end": "2031-03-03T09:30",
                   "timeZone": "Europe/Oslo", "recurrence": "FREQ=WEEKLY;COUNT=6",
                   "invitees": ["ann@example.com", "bo@example.com"]}
        async with http.post(f"{url}/api/meetings", json=meeting) as resp:
            assert resp.status == 503
            assert (await resp.json())["error"] == "schedulerUnavailable"
        assert node.mmp("scheduler enable").returncode == 0
        async with http.post(f"{url}/api/meetings", json=meeting) as resp:
            assert resp.status == 201, await resp.text()
            made = await resp.json()
        assert made["name"] == "Weekly sync" and made["role"] == "organizer"
        assert made["recurrence"] == "FREQ=WEEKLY;COUNT=6"
        assert made["nextOccurrence"] == "2031-03-03T09:00:00"
        assert f":{node.ports.webbridge}/meeting/{made['callId']}?secret=" in made["joinUrl"]
        # Bad input: a clear reason naming the field, nothing saved.
        for bad, field in (({**meeting, "end": "2031-03-03T08:00"}, "end"),
                           ({**meeting, "timeZone": "Mars/Olympus"}, "timeZone"),
                           ({**meeting, "invitees": ["not an address"]}, "invitees"),
                           ({**meeting, "start": 5}, "start")):
            async with http.post(f"{url}/api/meetings", json=bad) as resp:
                assert resp.status == 400, (bad, await resp.text())
                answer = await resp.json()
            assert answer["error"] == "invalidMeeting" and answer["message"]
            if field:
                assert answer["field"] == field, answer
        async with http.post(f"{url}/api/meetings", json={**meeting, "end": "2031-03-03T08:00"}) as resp:
            assert (await resp.json())["message"] == "The meeting must end after it starts."
        # Its space is made shortly before it starts: until then the meeting ID says so.
        async with http.post(f"{url}/api/meeting", json={"meetingId": made["callId"]}) as resp:
            assert resp.status == 404
            early = await resp.json()
        assert early["error"] == "meetingNotStarted" and "15 minutes before" in early["message"]
        async with http.get(f"{url}/api/meetings") as resp:
            listing = await resp.json()
        assert listing["available"] is True
        assert [m["name"] for m in listing["meetings"]] == ["Weekly sync"]
    # The scheduler's own API has the same meeting, organized by the user.
    assert node.mmp("scheduler").returncode == 0
    organizer_meetings = await until(lambda: _scheduler_meetings(node, user), "the meeting on the scheduler API")
    assert organizer_meetings == ["Weekly sync"]


async def _scheduler_meetings(node: RunningNode, user: str) -> list[str] | None:
    from moot.node.context import NodeContext
    from moot.scheduler.api import scheduling

    ctx = NodeContext(node.datadir)
    try:
        response = scheduling(ctx).api.handle("GET", "/meetings", [("organizerFilter", user)], [])
    finally:
        ctx.close()
    assert response.listing is not None
    names = [str(dict((f if isinstance(f, str) else f.name, v) for f, v in pairs).get("name"))
             for _e, _id, pairs in response.listing[3]]
    return names or None


def _busiest_rtc_worker(node: RunningNode) -> int | None:
    """The WebRTC worker (``moot-webrtc-<n>``) with the most sockets open: the one holding a leg."""
    assert node.proc is not None
    children = Path(f"/proc/{node.proc.pid}/task/{node.proc.pid}/children").read_text().split()
    sockets: dict[int, int] = {}
    for pid in map(int, children):
        try:
            if not Path(f"/proc/{pid}/comm").read_text().startswith("moot-webrtc-"):
                continue
            fds = Path(f"/proc/{pid}/fd").iterdir()
            sockets[pid] = sum(1 for fd in fds if os.readlink(fd).startswith("socket:"))
        except OSError:
            continue
    if len(sockets) < 2 or len(set(sockets.values())) == 1:
        return None
    return max(sockets, key=lambda pid: sockets[pid])


async def test_a_killed_webrtc_worker_ends_only_its_legs(
    node: RunningNode, api: Api, clients: list[WebClient]
) -> None:
    await space(api, "Crash room", "701500", passcode=None)
    first = await joined(node, clients, "701500", "Before", 500.0)
    await until(lambda: _legs_named(api, {"Before"}), "the first leg")
    victim = await until(lambda: _as_async(_busiest_rtc_worker(node)), "the WebRTC worker holding the leg")
    os.kill(victim, signal.SIGKILL)
    failure = await first.next_message("error", timeout=10)
    assert failure["code"] == "mediaFailed" and failure["fatal"] is True
    await until(lambda: _no_calls(api), "the leg of the killed worker is gone")
    # The node goes on: a new browser joins (on a worker that still runs) and is mixed.
    second = await joined(node, clients, "701500", "After", 700.0)
    await joined(node, clients, "701500", "Also after", 900.0)
    await asyncio.sleep(2.5)
    now = time.monotonic()
    assert heard(second, 900.0, now - 1.5, now) > -30.0


async def _as_async(value: Any) -> Any:
    return value


async def test_multiparty_licensing_counts_calls_and_personal_licences(
    node: RunningNode, api: Api, clients: list[WebClient]
) -> None:
    """Guide B.9: a call in a space whose owner holds a personal licence uses it (even when
    the owner is not in the call); the other calls use shared licences."""
    licensed = await api.post("/userProfiles", hasLicense="true")
    owner = await api.post("/users", userJid="owner@example.com", userProfile=licensed)
    await api.post("/users", userJid="nobody@example.com")
    mine = await space(api, "Owned room", "701600", passcode=None)
    await api.put(f"/coSpaces/{mine}", ownerId=owner)
    await space(api, "Shared room", "701700", passcode=None)
    await joined(node, clients, "701600", "Guest one")
    await joined(node, clients, "701600", "Guest two")
    await joined(node, clients, "701700", "Guest three")

    async def usage() -> ET.Element | None:
        found = await api.get("/system/multipartyLicensing")
        return found if found.findtext("participantsActive") == "3" else None

    counts = await until(usage, "three participants counted")
    assert counts.findtext("users") == "2"
    assert counts.findtext("personalLicenses") == "1"
    assert counts.findtext("callsActive") == "2"
    assert counts.findtext("callsWithoutPersonalLicense") == "1"
