"""Issue 6's "done when": two browsers (Chromium, the web app) and a SIP video leg (sipp for
the signalling, tests/video_peer.py for its H.264 media) see each other in a composed layout
that the API changes live.

Each Chromium has its own fake camera (a Y4M of one colour, with a small moving box: red
for one, blue for the other); the SIP leg sends green. Each participant must see the two
others' colours and not its own. Then ``PUT /callLegs/<sip leg> chosenLayout=speakerOnly``
leaves the SIP leg one other participant full screen, and a PLI from the SIP leg is answered
with a keyframe within 1 s. The browsers' pictures are read from the page's ``<video>``
(drawn into a canvas). Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from tests.callbridge_api import Api, until
from tests.helpers import ROOT, RunningNode
from tests.sipp_helpers import RtpReceiver
from tests.video_peer import (
    BLUE,
    GREEN,
    RED,
    VideoPeer,
    dominant_colours,
    has_colour,
    make_y4m,
    start_video_call,
)

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
    pytest.mark.skipif(shutil.which("sipp") is None or os.geteuid() != 0,
                       reason="needs sipp, and root for its play_pcap_audio raw socket"),
]

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

#: The page's picture: #meeting-video drawn into a 128x72 canvas, as RGB rows.
GRAB_JS = """
() => {
  const video = document.getElementById('meeting-video');
  if (!video || video.readyState < 2 || !video.videoWidth) return null;
  const canvas = document.createElement('canvas');
  canvas.width = 128; canvas.height = 72;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(video, 0, 0, 128, 72);
  const data = ctx.getImageData(0, 0, 128, 72).data;
  const out = [];
  for (let i = 0; i < data.length; i += 4) out.push(data[i], data[i + 1], data[i + 2]);
  return {rgb: out, width: video.videoWidth, height: video.videoHeight};
}
"""

Rgb = tuple[int, int, int]


async def launch(pw: Any, y4m: Path) -> Any:
    return await pw.chromium.launch(executable_path=str(CHROMIUM), args=[
        "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={y4m}", "--autoplay-policy=no-user-gesture-required",
        "--auto-select-desktop-capture-source=Entire screen",  # getDisplayMedia: a fake screen
    ])


@pytest.fixture
async def browsers(tmp_path: Path) -> AsyncIterator[tuple[Any, Any]]:
    from playwright.async_api import async_playwright

    red = make_y4m(tmp_path / "red.y4m", 640, 360, RED, frames=60)
    blue = make_y4m(tmp_path / "blue.y4m", 640, 360, BLUE, frames=60)
    async with async_playwright() as pw:
        first = await launch(pw, red)
        second = await launch(pw, blue)
        try:
            yield first, second
        finally:
            await first.close()
            await second.close()


async def join(browser: Any, node: RunningNode, name: str) -> Any:
    from playwright.async_api import expect

    context = await browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 800},
                                        permissions=["camera", "microphone"])
    page = await context.new_page()
    await page.goto(f"https://127.0.0.1:{node.ports.webbridge}/")
    await page.fill("#meeting-id", "703100")
    await page.fill("#display-name", name)
    await page.click("#join-button")
    await expect(page.locator("body")).to_have_attribute("data-state", "devices", timeout=10000)
    await page.click("#devices-join")
    await expect(page.locator("body")).to_have_attribute("data-state", "in-meeting", timeout=15000)
    return page


async def page_picture(page: Any) -> npt.NDArray[np.uint8] | None:
    grabbed = await page.evaluate(GRAB_JS)
    if not grabbed:
        return None
    return np.asarray(grabbed["rgb"], dtype=np.uint8).reshape(72, 128, 3)


async def wait_sees(grab: Any, present: list[Rgb], absent: list[Rgb], who: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        picture = await grab()
        if picture is not None and all(has_colour(picture, c) for c in present) \
                and not any(has_colour(picture, c) for c in absent):
            return
        if time.monotonic() > deadline:
            seen = dominant_colours(picture) if picture is not None else "no picture"
            raise AssertionError(f"{who}: expected {present} and not {absent}; saw {seen}")
        await asyncio.sleep(0.25)


async def _none(check: Any) -> bool:
    return await check() is None


async def leg_named(api: Api, name: str) -> ET.Element | None:
    for leg in (await api.get("/callLegs")).iter("callLeg"):
        if leg.findtext("name") == name:
            detail: ET.Element = await api.get(f"/callLegs/{leg.get('id')}")
            return detail
    return None


async def sip_leg(api: Api) -> ET.Element | None:
    for leg in (await api.get("/callLegs")).iter("callLeg"):
        detail = await api.get(f"/callLegs/{leg.get('id')}")
        if detail.findtext("type") == "sip":
            return detail
    return None


async def test_two_browsers_and_a_sip_video_leg_see_each_other(
    node: RunningNode, api: Api, browsers: tuple[Any, Any], tmp_path: Path
) -> None:
    from playwright.async_api import expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await api.post("/coSpaces", name="Video meeting", uri="videomeeting", callId="703100",
                   defaultLayout="allEqual")
    red_page = await join(browsers[0], node, "Red browser")
    blue_page = await join(browsers[1], node, "Blue browser")
    async with RtpReceiver() as audio, VideoPeer(name="green phone") as phone:
        sipp, bridge_port = await start_video_call(
            f"127.0.0.1:{node.ports.sip}", tmp_path / "sipp", rx_port=audio.port, vrx_port=phone.port,
            hold_ms=60_000, service="videomeeting", voffer="96")
        try:
            assert bridge_port > 0, "the bridge answered without video"
            phone.start_sending(("127.0.0.1", bridge_port), codec="H264", payload_type=96, colour=GREEN,
                                width=640, height=360)

            async def phone_picture() -> npt.NDArray[np.uint8] | None:
                return phone.latest

            async def red_picture() -> npt.NDArray[np.uint8] | None:
                return await page_picture(red_page)

            async def blue_picture() -> npt.NDArray[np.uint8] | None:
                return await page_picture(blue_page)

            await wait_sees(phone_picture, [RED, BLUE], [GREEN], "the SIP leg")
            await wait_sees(red_picture, [BLUE, GREEN], [RED], "the red browser")
            await wait_sees(blue_picture, [RED, GREEN], [BLUE], "the blue browser")
            await red_page.screenshot(path=str(ARTIFACTS / "video-allequal-browser.png"))

            # The API: the SIP leg's video both ways, then its layout changed live.
            leg = await until(lambda: sip_leg(api), "the SIP leg in the API")
            leg_id = leg.get("id")

            async def status() -> ET.Element | None:
                got = await api.get(f"/callLegs/{leg_id}")
                return got if float(got.findtext("status/rxVideo/frameRate") or 0) > 0 else None

            got = await until(status, "the SIP leg's video statistics")
            assert got.findtext("status/rxVideo/codec") == "h264"
            assert (got.findtext("status/rxVideo/width"), got.findtext("status/rxVideo/height")) == ("640", "360")
            assert got.findtext("status/txVideo/width") == "1280"
            assert got.findtext("status/txVideo/layout") == "allEqual"

            # The red browser shares its screen: its video is the screen, shown big to all.
            [call] = list((await api.get("/calls")).iter("call"))
            red_leg = await until(lambda: leg_named(api, "Red browser"), "the red browser's leg")
            await red_page.click("#share-screen")

            async def presenter() -> str | None:
                return (await api.get(f"/calls/{call.get('id')}")).findtext("presenterCallLeg") or None

            assert await until(presenter, "presenterCallLeg") == red_leg.get("id")
            await wait_sees(phone_picture, [BLUE], [RED], "the SIP leg while red shares its screen")
            await expect(blue_page.locator("#participants li[data-presenting=true]")).to_have_count(1)
            await red_page.screenshot(path=str(ARTIFACTS / "video-sharing-presenter.png"))
            await red_page.click("#share-screen")
            assert await until(lambda: _none(presenter), "presenterCallLeg cleared")
            await wait_sees(phone_picture, [RED, BLUE], [GREEN], "the SIP leg after sharing stopped")

            await api.put(f"/callLegs/{leg_id}", chosenLayout="speakerOnly")
            deadline = time.monotonic() + 10
            while True:
                picture = phone.latest
                assert picture is not None
                big = [c for c in (RED, BLUE) if has_colour(picture, c, min_share=0.5)]
                if len(big) == 1 and not has_colour(picture, GREEN):
                    break
                assert time.monotonic() < deadline, f"speakerOnly not shown: {dominant_colours(picture)}"
                await asyncio.sleep(0.2)
            # The browsers keep their layout.
            await wait_sees(red_picture, [BLUE, GREEN], [RED], "the red browser after the SIP leg's change")

            # A keyframe request from the phone is answered within 1 s.
            seconds = await phone.request_keyframe(timeout=3.0)
            assert seconds < 1.0, f"keyframe after {seconds:.2f} s"

            await red_page.context.close()
            # The red browser left: the SIP leg (speakerOnly) and the blue browser see who is left.
            await wait_sees(blue_picture, [GREEN], [RED, BLUE], "the blue browser after red left")
        finally:
            await sipp.stop()
