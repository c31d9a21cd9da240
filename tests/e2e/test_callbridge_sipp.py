"""The call bridge issue's "done when", against a running node with real sipp callers.

A space made through the API; three sipp phones call its URI, each playing its own
tone; every phone hears the other two and not itself (FFT). The API shows the call and
its legs with their media statistics, mutes one (its tone disappears for the others)
and hangs one up (sipp receives the BYE). An IVR caller keys the call ID and a wrong
then a right passcode by RFC 4733 and joins; another keys them by SIP INFO. Dial-out
from the API reaches a sipp UAS (answer; CANCEL while ringing). A re-INVITE puts a
caller on hold and back.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import xml.etree.ElementTree as ET
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from moot.media.g711 import ulaw_decode
from moot.media.rtp import RtpPacket
from moot.sip import sdp
from moot.sip.endpoint import SipEndpoint
from moot.sip.headers import NameAddr
from moot.sip.transaction import ServerTransaction
from moot.sip.uri import SipUri
from tests.callbridge_api import Api, until
from tests.helpers import RunningNode
from tests.sipp_helpers import (
    DtmfEvent,
    RtpReceiver,
    assert_hears,
    dtmf_pcap,
    encode,
    read_pcap_rtp,
    run_sipp,
    sipp,
    start_sipp,
    tone,
    tone_pcap,
    write_rtp_pcap,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("sipp") is None or os.geteuid() != 0,
                       reason="needs sipp, and root for its play_pcap_audio raw socket"),
]

TONES = (440.0, 700.0, 1100.0)


def target(node: RunningNode) -> str:
    return f"127.0.0.1:{node.ports.sip}"


async def legs_of(api: Api) -> list[ET.Element]:
    return list((await api.get("/callLegs")).iter("callLeg"))


async def test_three_phones_hear_each_other_and_the_api_controls_them(
    node: RunningNode, api: Api, tmp_path: Path
) -> None:
    space = await api.post("/coSpaces", name="Room one", uri="room1")
    async with AsyncExitStack() as stack:
        receivers = [await stack.enter_async_context(RtpReceiver()) for _ in TONES]
        phones = []
        for i, (freq, rx) in enumerate(zip(TONES, receivers, strict=True)):
            pcap = tone_pcap(tmp_path / f"tone{i}.pcap", freq, 9.0)
            phones.append(await start_sipp("uac_call", target(node), workdir=tmp_path / f"uac{i}", service="room1",
                                           keys={"rx_port": rx.port, "pcap": pcap, "hold_ms": 9000}))
        # The API sees one call in the space with three legs.
        calls = await until(lambda: _calls_with_legs(api, 3), "a call with 3 legs")
        call_id = calls[0]
        one = await api.get(f"/calls/{call_id}")
        assert one.findtext("coSpace") == space
        assert one.findtext("numCallLegs") == "3"
        legs = await legs_of(api)
        assert len(legs) == 3
        scoped = list((await api.get(f"/calls/{call_id}/callLegs")).iter("callLeg"))
        assert {leg.get("id") for leg in scoped} == {leg.get("id") for leg in legs}
        await asyncio.sleep(3.0)
        mark_mute = time.monotonic()
        # Media statistics of a leg (after some seconds of audio).
        leg_id = legs[0].get("id") or ""
        detail = await api.get(f"/callLegs/{leg_id}")
        assert detail.findtext("status/state") == "connected"
        assert detail.findtext("status/rxAudio/codec") == "pcmu"
        assert int(detail.findtext("status/rxAudio/packetsReceived") or 0) > 50
        # Mute the leg of the first phone: the others stop hearing 440 Hz.
        first = await _leg_of_phone(api, legs, receivers[0])
        await api.put(f"/callLegs/{first}", rxAudioMute="true")
        assert (await api.get(f"/callLegs/{first}")).findtext("rxAudioMute") == "true"
        await asyncio.sleep(3.0)
        status = await api.get("/system/status")
        assert status.findtext("callLegsActive") == "3"
        assert int(status.findtext("audioBitRateIncoming") or 0) > 0
        # Hang the first phone up from the API: sipp gets a BYE and ends successfully.
        await api.delete(f"/callLegs/{first}")
        result = await phones[0].wait()
        assert result.successful == 1, result.describe()
        for phone in phones[1:]:
            assert (await phone.wait()).successful == 1
    before_mute = (mark_mute - 3.0, mark_mute)
    for i, rx in enumerate(receivers):
        others = [f for j, f in enumerate(TONES) if j != i]
        heard = rx.audio(since=before_mute[0], until=before_mute[1])
        assert_hears(heard, present=others, absent=[TONES[i]], who=f"phone {i} before the mute")
    for i in (1, 2):
        after = receivers[i].audio(since=mark_mute + 1.0, until=mark_mute + 3.0)
        assert_hears(after, present=[f for j, f in enumerate(TONES) if j not in (0, i)], absent=[TONES[0], TONES[i]],
                     who=f"phone {i} after phone 0 was muted")
    # Everyone left: the call is gone and the counters say so.
    await until(lambda: _no_calls(api), "the call ends when the last leg leaves")
    status = await api.get("/system/status")
    assert status.findtext("callLegsActive") == "0"
    assert int(status.findtext("callLegsCompleted") or 0) >= 3


async def _calls_with_legs(api: Api, n: int) -> list[str]:
    calls = [c.get("id") or "" for c in (await api.get("/calls")).iter("call")]
    if len(calls) == 1 and len(await legs_of(api)) == n:
        return calls
    return []


async def _no_calls(api: Api) -> bool:
    return (await api.get("/calls")).get("total") == "0"


async def _leg_of_phone(api: Api, legs: list[ET.Element], rx: RtpReceiver) -> str:
    for leg in legs:
        detail = await api.get(f"/callLegs/{leg.get('id')}")
        if detail.findtext("status/remoteAddress") == f"127.0.0.1:{rx.port}":
            return leg.get("id") or ""
    raise AssertionError("no leg sends to that phone's receiver")


@pytest.mark.parametrize("scenario", ["uac_dtmf_rfc4733", "uac_dtmf_info"])
async def test_ivr_call_id_then_wrong_and_right_passcode(
    node: RunningNode, api: Api, tmp_path: Path, scenario: str
) -> None:
    await api.post("/ivrs", uri="ivr")
    await api.post("/coSpaces", name="Secret room", uri="secret", callId="424242", passcode="1357")
    digits = "424242#9999#1357#"
    async with AsyncExitStack() as stack:
        rx_ivr = await stack.enter_async_context(RtpReceiver())
        rx_other = await stack.enter_async_context(RtpReceiver())
        # Someone already in the space, playing 700 Hz (dialled directly: asked the passcode too).
        other_pcap = tone_pcap(tmp_path / "other.pcap", 700.0, 25.0)
        other = await start_sipp("uac_dtmf_rfc4733", target(node), workdir=tmp_path / "other", service="secret",
                                 keys={"rx_port": rx_other.port,
                                       "pcap": _with_digits(tmp_path / "other-dtmf.pcap", "1357#", other_pcap),
                                       "hold_ms": 25000}, timeout=40)
        await until(lambda: _calls_with_legs(api, 1), "the direct caller joins after the passcode", 20)
        keys: dict[str, object] = {"rx_port": rx_ivr.port, "hold_ms": 12000}
        if scenario == "uac_dtmf_rfc4733":
            dtmf_pcap(tmp_path / "ivr.pcap", digits, gap_ms=400, lead_ms=1500)
            keys["pcap"] = tmp_path / "ivr.pcap"
        else:
            keys.update(pcap=tone_pcap(tmp_path / "quiet.pcap", 300.0, 12.0, level_dbfs=-40), digits=digits,
                        hold_ms=6000)
        caller = await start_sipp(scenario, target(node), workdir=tmp_path / "ivr", service="ivr", keys=keys,
                                  timeout=40)
        await until(lambda: _calls_with_legs(api, 2), "the IVR caller joins the space's call", 25)
        joined = time.monotonic()
        await asyncio.sleep(3.0)
        heard = rx_ivr.audio(since=joined + 0.5, until=joined + 3.0)
        assert_hears(heard, present=[700.0], who="the IVR caller, once in the space")
        assert (await caller.wait()).successful == 1
        await other.stop()


def _with_digits(path: Path, digits: str, tone_path: Path) -> Path:
    """A pcap playing the tone of ``tone_path`` with ``digits`` keyed (RFC 4733) at its start."""
    events = [DtmfEvent(d, start_ms=500 + 300 * i) for i, d in enumerate(digits)]
    payloads = [p.payload for _, _, _, p in read_pcap_rtp(tone_path)]
    write_rtp_pcap(path, payloads, events=events, ssrc=0x1234, src_port=4000, dst_port=6000)
    return path


async def test_dial_out_answer_and_cancel(node: RunningNode, api: Api, tmp_path: Path) -> None:
    space = await api.post("/coSpaces", name="Dial room", uri="dialroom")
    await api.post("/outboundDialPlanRules", domain="127.0.0.1")
    call = await api.post("/calls", coSpace=space)
    async with AsyncExitStack() as stack:
        rx = await stack.enter_async_context(RtpReceiver())
        uas = await stack.enter_async_context(
            sipp("uas_answer", workdir=tmp_path / "uas",
                 keys={"rx_port": rx.port, "pcap": tone_pcap(tmp_path / "uas.pcap", 700.0, 6.0)}))
        leg = await api.post(f"/calls/{call}/callLegs", remoteParty=f"sip:bob@127.0.0.1:{uas.port}")
        detail = await until(lambda: _connected(api, leg), "the dialled leg connects")
        assert detail.findtext("direction") == "outgoing"
        await api.delete(f"/callLegs/{leg}")
        assert (await uas.wait()).successful == 1
        ringing = await stack.enter_async_context(
            sipp("uas_ring_no_answer", workdir=tmp_path / "ring"))
        leg2 = await api.post(f"/calls/{call}/callLegs", remoteParty=f"sip:carol@127.0.0.1:{ringing.port}")
        await until(lambda: _in_state(api, leg2, "ringing"), "the dialled phone rings")
        await api.delete(f"/callLegs/{leg2}")
        result = await ringing.wait()
        assert result.successful == 1, result.describe()
    await api.delete(f"/calls/{call}")
    await until(lambda: _no_calls(api), "the call is gone")


async def _in_state(api: Api, leg: str, state: str) -> ET.Element | None:
    detail = await api.get(f"/callLegs/{leg}")
    return detail if detail.findtext("status/state") == state else None


async def _connected(api: Api, leg: str) -> ET.Element | None:
    return await _in_state(api, leg, "connected")


async def test_hold_and_resume_by_reinvite(node: RunningNode, api: Api, tmp_path: Path) -> None:
    await api.post("/coSpaces", name="Hold room", uri="holdroom")
    async with RtpReceiver() as rx:
        result = await run_sipp("uac_reinvite_hold", target(node), workdir=tmp_path / "hold", service="holdroom",
                                keys={"rx_port": rx.port, "pcap": tone_pcap(tmp_path / "t.pcap", 440.0, 4.0)})
    assert result.successful == 1, result.describe()


async def test_unknown_uri_is_not_found(node: RunningNode, api: Api, tmp_path: Path) -> None:
    async with RtpReceiver() as rx:
        result = await run_sipp("uac_call", target(node), workdir=tmp_path / "nf", service="nobody",
                                keys={"rx_port": rx.port, "pcap": tone_pcap(tmp_path / "t.pcap", 440.0, 1.0)})
    assert result.successful == 0
    assert "404" in result.messages


async def test_forwarding_rule_bridges_the_caller_to_the_new_destination(
    node: RunningNode, api: Api, tmp_path: Path
) -> None:
    async with AsyncExitStack() as stack:
        rx_callee = await stack.enter_async_context(RtpReceiver())
        rx_caller = await stack.enter_async_context(RtpReceiver())
        callee = await stack.enter_async_context(
            sipp("uas_answer", workdir=tmp_path / "uas",
                 keys={"rx_port": rx_callee.port, "pcap": tone_pcap(tmp_path / "uas.pcap", 700.0, 5.0)}))
        await api.post("/forwardingDialPlanRules", matchPattern="127.0.0.1", destinationDomain="127.0.0.1",
                       action="forward")
        await api.post("/outboundDialPlanRules", domain="127.0.0.1", sipProxy=f"127.0.0.1:{callee.port}")
        caller = await start_sipp("uac_call", target(node), workdir=tmp_path / "uac", service="bob",
                                  keys={"rx_port": rx_caller.port, "hold_ms": 5000,
                                        "pcap": tone_pcap(tmp_path / "uac.pcap", 440.0, 5.0)})
        calls = await until(lambda: _calls_with_legs(api, 2), "a forwarding call with both legs")
        assert (await api.get(f"/calls/{calls[0]}")).findtext("callType") == "forwarding"
        assert (await caller.wait()).successful == 1
        assert (await callee.wait()).successful == 1
    assert_hears(rx_caller.audio(), present=[700.0], absent=[440.0], who="the caller")
    assert_hears(rx_callee.audio(), present=[440.0], absent=[700.0], who="the forwarded-to phone")


async def test_guests_wait_for_the_host_when_their_profile_needs_activation(
    node: RunningNode, api: Api, tmp_path: Path
) -> None:
    guest_profile = await api.post("/callLegProfiles", needsActivation="true")
    host_profile = await api.post("/callLegProfiles", needsActivation="false")
    space = await api.post("/coSpaces", name="Lecture", uri="lecture", callLegProfile=guest_profile)
    await api.post(f"/coSpaces/{space}/accessMethods", uri="lecture.host", callLegProfile=host_profile)
    async with AsyncExitStack() as stack:
        rx = [await stack.enter_async_context(RtpReceiver()) for _ in range(3)]
        guests = [await start_sipp("uac_call", target(node), workdir=tmp_path / f"g{i}", service="lecture",
                                   keys={"rx_port": rx[i].port, "hold_ms": 9000,
                                         "pcap": tone_pcap(tmp_path / f"g{i}.pcap", TONES[i], 9.0)})
                  for i in (0, 1)]
        await until(lambda: _calls_with_legs(api, 2), "two guests in the call")
        await asyncio.sleep(3.0)
        waiting = time.monotonic()
        host = await start_sipp("uac_call", target(node), workdir=tmp_path / "host", service="lecture.host",
                                keys={"rx_port": rx[2].port, "hold_ms": 4000,
                                      "pcap": tone_pcap(tmp_path / "host.pcap", TONES[2], 4.0)})
        await until(lambda: _calls_with_legs(api, 3), "the host joins")
        activated = time.monotonic()
        assert (await host.wait()).successful == 1
        for guest in guests:
            assert (await guest.wait()).successful == 1
    for i in (0, 1):
        before = rx[i].audio(since=waiting - 2.5, until=waiting)
        assert_hears(before, absent=[TONES[1 - i]], who=f"guest {i} before the host came")
        during = rx[i].audio(since=activated + 1.0, until=activated + 3.5)
        assert_hears(during, present=[TONES[1 - i], TONES[2]], who=f"guest {i} with the host in")


async def test_delayed_offer_gets_our_offer_in_the_200_and_the_answer_in_the_ack(
    node: RunningNode, api: Api, tmp_path: Path
) -> None:
    await api.post("/coSpaces", name="Late room", uri="late")
    async with AsyncExitStack() as stack:
        rx = [await stack.enter_async_context(RtpReceiver()) for _ in range(2)]
        late = await start_sipp("uac_delayed_offer", target(node), workdir=tmp_path / "late", service="late",
                                keys={"rx_port": rx[0].port, "hold_ms": 5000,
                                      "pcap": tone_pcap(tmp_path / "late.pcap", 440.0, 5.0)})
        early = await start_sipp("uac_call", target(node), workdir=tmp_path / "early", service="late",
                                 keys={"rx_port": rx[1].port, "hold_ms": 5000,
                                       "pcap": tone_pcap(tmp_path / "early.pcap", 700.0, 5.0)})
        assert (await late.wait()).successful == 1
        assert (await early.wait()).successful == 1
    assert_hears(rx[0].audio(), present=[700.0], absent=[440.0], who="the delayed-offer caller")
    assert_hears(rx[1].audio(), present=[440.0], absent=[700.0], who="the other caller")


class _Phone(asyncio.DatagramProtocol):
    """A phone's RTP socket behind a NAT: it sends a tone and keeps what comes back."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.received.append(data)


async def test_a_phone_behind_a_nat_gets_its_media_back_where_it_comes_from(
    node: RunningNode, api: Api, tmp_path: Path
) -> None:
    """The phone's Via and SDP name a private address it cannot be reached at (192.168.1.20):
    the call bridge sees the NAT and sends the mix to the source of the phone's RTP."""
    class Refuse:
        async def on_request(self, txn: ServerTransaction) -> None:
            txn.reply(481)

    await api.post("/coSpaces", name="Nat room", uri="natroom")
    loop = asyncio.get_running_loop()
    transport, phone = await loop.create_datagram_endpoint(_Phone, local_addr=("127.0.0.1", 0))
    endpoint = SipEndpoint(Refuse(), user_agent="nat-phone")
    try:
        await endpoint.listen("UDP", "127.0.0.1", 0, advertise="192.168.1.20")
        offer, _ = sdp.build_offer(address="192.168.1.20", port=4000, codecs=[sdp.Codec(0, "PCMU", 8000)],
                                   srtp=False, session_id=1, version=1)
        room = SipUri("sip", "natroom", "127.0.0.1", node.ports.sip)
        request = endpoint.new_request("INVITE", room, from_=NameAddr(SipUri("sip", "nat", "192.168.1.20")),
                                       to=NameAddr(room), body=offer.serialize().encode(),
                                       content_type="application/sdp")
        async with RtpReceiver() as rx_other:
            other = await start_sipp("uac_call", target(node), workdir=tmp_path / "other", service="natroom",
                                     keys={"rx_port": rx_other.port, "hold_ms": 6000,
                                           "pcap": tone_pcap(tmp_path / "o.pcap", 700.0, 6.0)})
            response, dialog = await endpoint.invite(request, ("UDP", "127.0.0.1", node.ports.sip))
            assert response.status == 200 and dialog is not None
            server = sdp.answer_matches(offer, sdp.parse(response.body))
            frames = encode(tone(440.0, 4.0), 0)
            for i in range(0, len(frames), 160):
                packet = RtpPacket(payload_type=0, sequence_number=i // 160, timestamp=i, ssrc=0x4242,
                                   payload=frames[i : i + 160])
                transport.sendto(packet.serialize(), server.remote)
                await asyncio.sleep(0.02)
            await dialog.request("BYE")
            assert (await other.wait()).successful == 1
        assert len(phone.received) > 50, "no media came back to the phone's RTP source"
        heard = np.concatenate([ulaw_decode(RtpPacket.parse(d).payload) for d in phone.received[10:]])
        assert_hears(heard, present=[700.0], absent=[440.0], who="the phone behind the NAT")
        assert_hears(rx_other.audio(), present=[440.0], absent=[700.0], who="the other phone")
    finally:
        transport.close()
        await endpoint.close()
