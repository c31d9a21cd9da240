"""Video on calls the bridge places: ``POST /calls/<id>/callLegs`` offers H.264 and VP8
video with the audio, and a callee that answers video sees the meeting composed.

A sipp caller with a video peer (green) is in a space; the API dials a sipp callee that
answers audio and H.264 video (uas_answer_video.xml, its video peer blue). Each sees the other;
the dialled leg's status shows its video.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
import xml.etree.ElementTree as ET
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from tests.callbridge_api import Api, until
from tests.helpers import RunningNode
from tests.sipp_helpers import RtpReceiver, sipp, tone_pcap
from tests.video_peer import BLUE, GREEN, VideoPeer, dominant_colours, has_colour, start_video_call

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("sipp") is None or os.geteuid() != 0,
                       reason="needs sipp, and root for its play_pcap_audio raw socket"),
]


async def offered_video_port(workdir: Path, timeout: float = 10.0) -> int:
    """The bridge's m=video port from its INVITE, as uas_answer_video.xml wrote it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            text = (workdir / "bridge_video_port.txt").read_text().strip()
            if text.endswith(";"):
                return int(text.rstrip(";") or 0)
        await asyncio.sleep(0.05)
    raise AssertionError("the bridge's INVITE did not reach the callee")


async def sees(peer: VideoPeer, colour: tuple[int, int, int], absent: tuple[int, int, int]) -> None:
    deadline = time.monotonic() + 15
    while not (peer.latest is not None and has_colour(peer.latest, colour) and not has_colour(peer.latest, absent)):
        assert time.monotonic() < deadline, dominant_colours(peer.latest) if peer.latest is not None else "nothing"
        await asyncio.sleep(0.1)


async def test_a_dialled_video_phone_sees_the_meeting(node: RunningNode, api: Api, tmp_path: Path) -> None:
    await api.post("/coSpaces", name="Dial room", uri="dialroom", defaultLayout="allEqual")
    await api.post("/outboundDialPlanRules", domain="127.0.0.1")
    pcap = tone_pcap(tmp_path / "tone.pcap", 440.0, 30.0)
    async with AsyncExitStack() as stack:
        rx_caller = await stack.enter_async_context(RtpReceiver())
        rx_callee = await stack.enter_async_context(RtpReceiver())
        caller_video = await stack.enter_async_context(VideoPeer(name="caller"))
        # The bridge offers H.264 at payload type 97, and the callee answers it so.
        callee_video = await stack.enter_async_context(VideoPeer(name="callee", payload_types={97: "H264"}))
        caller, port = await start_video_call(f"127.0.0.1:{node.ports.sip}", tmp_path / "uac",
                                              rx_port=rx_caller.port, vrx_port=caller_video.port,
                                              hold_ms=30_000, service="dialroom", voffer="96")
        stack.push_async_callback(caller.stop)
        caller_video.start_sending(("127.0.0.1", port), colour=GREEN, width=320, height=180)
        [call] = list((await until(lambda: _calls(api), "the space's call")).iter("call"))
        callee = await stack.enter_async_context(
            sipp("uas_answer_video", workdir=tmp_path / "uas",
                 keys={"rx_port": rx_callee.port, "vrx_port": callee_video.port, "pcap": pcap}))
        leg = await api.post(f"/calls/{call.get('id')}/callLegs", remoteParty=f"sip:bob@127.0.0.1:{callee.port}")
        bridge_port = await offered_video_port(tmp_path / "uas")
        assert bridge_port > 0, "the bridge offered no video"
        callee_video.start_sending(("127.0.0.1", bridge_port), codec="H264", payload_type=97, colour=BLUE,
                                   width=320, height=180)
        await sees(callee_video, GREEN, BLUE)
        await sees(caller_video, BLUE, GREEN)

        async def video_status() -> ET.Element | None:
            got = await api.get(f"/callLegs/{leg}")
            return got if float(got.findtext("status/rxVideo/frameRate") or 0) > 0 else None

        got = await until(video_status, "the dialled leg's video")
        assert got.findtext("direction") == "outgoing"
        assert got.findtext("status/rxVideo/codec") == "h264"
        # The callee's level 3.0 (42e01e) decodes at most 1620 macroblocks: 640x360, not 720p.
        assert (got.findtext("status/txVideo/width"), got.findtext("status/txVideo/height")) == ("640", "360")
        await api.delete(f"/callLegs/{leg}")
        assert (await callee.wait()).successful == 1


async def _calls(api: Api) -> ET.Element | None:
    found = await api.get("/calls")
    return found if found.get("total") == "1" else None
