"""Composed video for browser legs, against a running node (issue 6).

Synthetic browsers (aiortc, tests/webrtc_client.py) each send one solid colour from their
"camera"; the node's web bridge relays their encoded video to the media pool, which decodes,
composes each leg's view and encodes it; the browsers decode what they get back. What is
checked is in the pictures: the other participants' colours are there, one's own is not;
the layout changes when the API says so; the API shows the video statistics and sends a
keyframe on request.
"""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator

import pytest

from tests.callbridge_api import AUTH, Api, api_fixture, until
from tests.helpers import RunningNode
from tests.video_peer import dominant_colours, has_colour
from tests.webrtc_client import WebClient

__all__ = ["api_fixture"]

pytestmark = pytest.mark.slow

RED = (230, 30, 30)
GREEN = (30, 200, 30)
BLUE = (30, 30, 230)


@pytest.fixture
async def clients() -> AsyncIterator[list[WebClient]]:
    made: list[WebClient] = []
    yield made
    await asyncio.gather(*(c.close() for c in made), return_exceptions=True)


async def browser(node: RunningNode, clients: list[WebClient], meeting: str, name: str,
                  colour: tuple[int, int, int]) -> WebClient:
    client = WebClient(f"https://127.0.0.1:{node.ports.webbridge}", tone_hz=None, name=name,
                       video_colour=colour)
    clients.append(client)
    await client.connect()
    await client.join(meeting)
    return client


async def sees(client: WebClient, present: list[tuple[int, int, int]], absent: list[tuple[int, int, int]],
               what: str, timeout: float = 15.0) -> None:
    """Wait until the client's newest picture shows ``present`` and not ``absent``."""
    deadline = time.monotonic() + timeout
    while True:
        picture = client.latest_video
        if picture is not None and all(has_colour(picture, c) for c in present) \
                and not any(has_colour(picture, c) for c in absent):
            return
        if time.monotonic() > deadline:
            found = dominant_colours(picture) if picture is not None else "no picture"
            raise AssertionError(f"{client.name}: {what}; colours seen: {found}")
        await asyncio.sleep(0.2)


async def operation(api: Api, path: str) -> int:
    """POST to an object's operation (no body, no Location); the status."""
    resp = await api.http.post(api.base + path, headers=AUTH)
    return resp.status


async def leg_named(api: Api, name: str) -> ET.Element:
    async def find() -> ET.Element | None:
        for leg in (await api.get("/callLegs")).iter("callLeg"):
            if leg.findtext("name") == name:
                return await api.get(f"/callLegs/{leg.get('id')}")
        return None
    found: ET.Element = await until(find, f"the call leg of {name}")
    return found


async def test_browsers_see_each_other_composed_and_the_api_changes_the_layout(
    node: RunningNode, api: Api, clients: list[WebClient]
) -> None:
    space_id = await api.post("/coSpaces", name="Video room", uri="videoroom", callId="702100")
    red = await browser(node, clients, "702100", "Red", RED)
    green = await browser(node, clients, "702100", "Green", GREEN)
    blue = await browser(node, clients, "702100", "Blue", BLUE)
    # automatic with two others is allEqual: both others, never oneself.
    await sees(red, [GREEN, BLUE], [RED], "allEqual with the two others")
    await sees(green, [RED, BLUE], [GREEN], "allEqual with the two others")
    await sees(blue, [RED, GREEN], [BLUE], "allEqual with the two others")
    picture = red.latest_video
    assert picture is not None and picture.shape[1] >= 320

    # The API's view of a leg's video.
    leg = await leg_named(api, "Red")
    leg_id = leg.get("id")

    async def video_status() -> ET.Element | None:
        got = await api.get(f"/callLegs/{leg_id}")
        rx = got.find("status/rxVideo")
        ready = rx is not None and float(rx.findtext("frameRate") or 0) > 0
        return got if ready else None

    status = await until(video_status, "rxVideo in the leg's status")
    assert status.findtext("status/rxVideo/width") == "320"
    assert status.findtext("status/rxVideo/height") == "240"
    assert float(status.findtext("status/rxVideo/frameRate") or 0) > 5
    assert int(status.findtext("status/txVideo/width") or 0) >= 320
    assert status.findtext("status/txVideo/layout") == "automatic"

    # chosenLayout, live: speakerOnly shows one other participant, full screen.
    await api.put(f"/callLegs/{leg_id}", chosenLayout="speakerOnly")
    deadline = time.monotonic() + 10
    while True:
        picture = red.latest_video
        assert picture is not None
        colours = [c for c in (GREEN, BLUE) if has_colour(picture, c, min_share=0.3)]
        if len(colours) == 1 and not has_colour(picture, RED):
            break
        assert time.monotonic() < deadline, f"speakerOnly not shown: {dominant_colours(picture)}"
        await asyncio.sleep(0.2)
    got = await api.get(f"/callLegs/{leg_id}")
    assert got.findtext("chosenLayout") == "speakerOnly"
    # The others keep allEqual.
    await sees(green, [RED, BLUE], [GREEN], "allEqual while Red has speakerOnly")

    # The call's defaultLayout does not override a leg's chosen layout, but applies to the rest.
    [call] = list((await api.get("/calls")).iter("call"))
    await api.put(f"/calls/{call.get('id')}", defaultLayout="speakerOnly")
    deadline = time.monotonic() + 10
    while True:
        picture = green.latest_video
        assert picture is not None
        if sum(has_colour(picture, c, min_share=0.3) for c in (RED, BLUE)) == 1:
            break
        assert time.monotonic() < deadline, f"call defaultLayout not applied: {dominant_colours(picture)}"
        await asyncio.sleep(0.2)

    # generateKeyframe: the bridge sends the leg a keyframe (counted in its status).
    before = int((await api.get(f"/callLegs/{leg_id}")).findtext("status/txVideo/keyframesSent") or 0)
    assert await operation(api, f"/callLegs/{leg_id}/generateKeyframe") == 200

    async def keyframe_sent() -> bool:
        got = await api.get(f"/callLegs/{leg_id}")
        return int(got.findtext("status/txVideo/keyframesSent") or 0) > before

    await until(keyframe_sent, "a keyframe after generateKeyframe", timeout=3.0)
    # Unknown legs and bad layouts get clear errors.
    assert await operation(api, "/callLegs/00000000-0000-0000-0000-000000000000/generateKeyframe") in (400, 404)
    resp = await api.http.get(api.base + f"/callLegs/{leg_id}/generateKeyframe", headers=AUTH)
    assert resp.status == 405
    with pytest.raises(AssertionError, match="400"):
        await api.put(f"/callLegs/{leg_id}", chosenLayout="sideways")
    await api.delete(f"/coSpaces/{space_id}")


async def test_screen_sharing_shows_the_presenter_big_to_everyone(
    node: RunningNode, api: Api, clients: list[WebClient]
) -> None:
    await api.post("/coSpaces", name="Share room", uri="shareroom", callId="702300")
    red = await browser(node, clients, "702300", "Red", RED)
    green = await browser(node, clients, "702300", "Green", GREEN)
    blue = await browser(node, clients, "702300", "Blue", BLUE)
    await sees(green, [RED, BLUE], [GREEN], "allEqual before sharing")
    await red.share(True)
    [call] = list((await api.get("/calls")).iter("call"))
    red_leg = await leg_named(api, "Red")

    async def presenter() -> str | None:
        return (await api.get(f"/calls/{call.get('id')}")).findtext("presenterCallLeg") or None

    assert await until(presenter, "presenterCallLeg") == red_leg.get("id")
    # Everyone else: the presentation in the big pane (most of the picture), the people below.
    for viewer in (green, blue):
        deadline = time.monotonic() + 10
        while not (viewer.latest_video is not None and has_colour(viewer.latest_video, RED, min_share=0.4)):
            assert time.monotonic() < deadline, dominant_colours(viewer.latest_video)  # type: ignore[arg-type]
            await asyncio.sleep(0.2)
    deadline = time.monotonic() + 5
    while not any(p.get("presenting") for p in green.participants):
        assert time.monotonic() < deadline, green.participants
        await asyncio.sleep(0.1)
    assert [p["name"] for p in green.participants if p.get("presenting")] == ["Red"]
    await red.share(False)

    async def no_presenter() -> bool:
        return await presenter() is None

    await until(no_presenter, "presenterCallLeg cleared")
    await sees(green, [RED, BLUE], [GREEN], "allEqual after sharing")
    # A 'share' before joining is a protocol error that ends the session.
    late = WebClient(f"https://127.0.0.1:{node.ports.webbridge}", tone_hz=None, name="Early")
    clients.append(late)
    await late.connect()
    await late.share(True)
    error = await late.next_message("error")
    assert error["code"] == "badMessage" and error["fatal"] is True


async def test_a_browser_that_stops_sending_leaves_the_others_their_picture(
    node: RunningNode, api: Api, clients: list[WebClient]
) -> None:
    await api.post("/coSpaces", name="Drop room", uri="droproom", callId="702200")
    red = await browser(node, clients, "702200", "Red", RED)
    green = await browser(node, clients, "702200", "Green", GREEN)
    blue = await browser(node, clients, "702200", "Blue", BLUE)
    await sees(red, [GREEN, BLUE], [RED], "both others")
    # Green's camera stops (its track ends, nothing more is sent): after a few seconds its pane
    # becomes a placeholder; Red keeps seeing Blue, and keeps getting frames.
    assert green.pc is not None
    video_sender = next(s for s in green.pc.getSenders() if s.track is not None and s.track.kind == "video")
    assert video_sender.track is not None
    video_sender.track.stop()
    await sees(red, [BLUE], [GREEN, RED], "Blue, and Green's pane without its picture", timeout=15.0)
    frames = red.video_frames
    await asyncio.sleep(1.0)
    assert red.video_frames >= frames + 10  # still ~30 fps
    assert blue.latest_video is not None
