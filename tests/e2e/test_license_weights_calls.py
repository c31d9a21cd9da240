"""Guide B.9 / B.11 with real calls: what /system/multipartyLicensing counts and weighs.

sipp phones (audio only), sipp + tests/video_peer.py video legs, and an ad hoc API call
dialling a sipp callee, all on a running node:

* an audio-only conference in a space nobody licensed owns: 1/6 of a shared licence;
* a video call in such a space: 1;
* an ad hoc call (no permanent space) with one participant: point-to-point, 1/6;
* a video call in a space whose owner holds a personal licence: that licence, weight 1.
"""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from tests.callbridge_api import AUTH, Api, until
from tests.helpers import RunningNode
from tests.sipp_helpers import RtpReceiver, sipp, start_sipp, tone_pcap
from tests.video_peer import BLUE, GREEN, VideoPeer, start_video_call

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("sipp") is None or os.geteuid() != 0,
                       reason="needs sipp, and root for its play_pcap_audio raw socket"),
]


async def usage(api: Api, calls: int) -> ET.Element | None:
    found = await api.get("/system/multipartyLicensing")
    return found if found.findtext("callsActive") == str(calls) else None


async def test_weights_of_real_calls(node: RunningNode, api: Api, tmp_path: Path) -> None:
    target = f"127.0.0.1:{node.ports.sip}"
    licensed = await api.post("/userProfiles", hasLicense="true")
    owner = await api.post("/users", userJid="owner@example.com", userProfile=licensed)
    await api.post("/coSpaces", name="Audio room", uri="audioroom")
    await api.post("/coSpaces", name="Shared video", uri="sharedvideo")
    await api.post("/coSpaces", name="Owned video", uri="ownedvideo", ownerId=owner)
    await api.post("/outboundDialPlanRules", domain="127.0.0.1")
    async with AsyncExitStack() as stack:
        rx = [await stack.enter_async_context(RtpReceiver()) for _ in range(4)]
        pcap = tone_pcap(tmp_path / "tone.pcap", 440.0, 30.0)
        audio_phone = await start_sipp("uac_call", target, workdir=tmp_path / "audio", service="audioroom",
                                       keys={"rx_port": rx[0].port, "pcap": pcap, "hold_ms": 30000}, timeout=60)
        stack.push_async_callback(audio_phone.stop)
        peers = []
        for i, (room, colour) in enumerate((("sharedvideo", GREEN), ("ownedvideo", BLUE)), start=1):
            peer = await stack.enter_async_context(VideoPeer(name=room))
            proc, port = await start_video_call(target, tmp_path / room, rx_port=rx[i].port, vrx_port=peer.port,
                                                hold_ms=30_000, service=room, voffer="96")
            stack.push_async_callback(proc.stop)
            assert port > 0
            peer.start_sending(("127.0.0.1", port), colour=colour, width=320, height=180)
            peers.append(peer)
        callee = await stack.enter_async_context(
            sipp("uas_answer", workdir=tmp_path / "uas", keys={"rx_port": rx[3].port, "pcap": pcap}))
        adhoc = await api.post("/calls", name="Ad hoc")
        await api.post(f"/calls/{adhoc}/callLegs", remoteParty=f"sip:bob@127.0.0.1:{callee.port}")

        counts = await until(lambda: usage(api, 4), "four active calls", timeout=20.0)
        assert counts.findtext("callsWithoutPersonalLicense") == "3"
        # audio-only 1/6 + shared video 1 + point-to-point 1/6
        assert float(counts.findtext("weightedCallsWithoutPersonalLicense") or 0) == pytest.approx(1.333, abs=0.001)
        assert float(counts.findtext("weightedCallsActive") or 0) == pytest.approx(2.333, abs=0.001)
        active = await api.get("/system/multipartyLicensing/activePersonalLicenses")
        assert active.findtext("personalLicensesActive") == "1"
        assert active.findtext("callsActive") == "1"
        assert active.findtext("weightedCallsActive") == "1"
        # JSON shows the weights as numbers.
        resp = await api.http.get(api.base + "/system/multipartyLicensing",
                                  headers={**AUTH, "Accept": "application/json"})
        body = (await resp.json())["multipartyLicensing"]
        assert body["weightedCallsWithoutPersonalLicense"] == pytest.approx(1.333, abs=0.001)
        assert body["callsActive"] == 4
