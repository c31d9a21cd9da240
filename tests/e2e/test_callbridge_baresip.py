"""The call bridge against baresip 1.0, a real SIP phone written by someone else.

A baresip phone (tests/baresip_helpers.py: headless, a WAV as its microphone, its received
audio dumped by the sndfile filter, driven over ctrl_tcp) joins a space with a sipp phone
and each hears the other's tone and not its own (FFT). Two baresip phones with SDES-SRTP
(``mediaenc=srtp-mand``) meet in a space whose call leg profile requires encryption: they
hear each other, the API shows their legs encrypted, and a plain RTP sipp call to that
space gets 488. A baresip phone calls over SIP TLS once the call bridge has a certificate.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import ssl
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from moot.media.g711 import ulaw_decode
from moot.media.rtp import RtpPacket
from tests.baresip_helpers import (
    Baresip,
    BaresipConfig,
    Datagram,
    LoopbackCapture,
    baresip,
    baresip_available,
    tone_wav,
)
from tests.callbridge_api import Api, until
from tests.helpers import RunningNode
from tests.sipp_helpers import (
    RtpReceiver,
    assert_hears,
    rms_dbfs,
    run_sipp,
    start_sipp,
    tone_levels,
    tone_pcap,
)

_MISSING = baresip_available()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(_MISSING is not None, reason=f"needs baresip: {_MISSING}"),
    pytest.mark.skipif(shutil.which("sipp") is None or os.geteuid() != 0,
                       reason="needs sipp, and root for its play_pcap_audio raw socket"),
]  # fmt: skip

SIPP_TONE = 700.0
BARESIP_TONE = 1100.0
OTHER_TONE = 440.0


async def connected_legs(api: Api, n: int) -> list[ET.Element]:
    """The details of every leg once there are ``n`` and all are connected, else []."""
    ids = [leg.get("id") or "" for leg in (await api.get("/callLegs")).iter("callLeg")]
    if len(ids) != n:
        return []
    details = [await api.get(f"/callLegs/{i}") for i in ids]
    if all(d.findtext("status/state") == "connected" for d in details):
        return details
    return []


def heard_by(
    phone: Baresip, *, skip_s: float = 0.5, calls: int = 1, call: int = 0
) -> npt.NDArray[np.int16]:
    """What ``phone`` received in call number ``call`` of its ``calls``, without the first
    ``skip_s``."""
    recs = phone.recordings()
    assert len(recs) == calls, f"expected {calls} sndfile recording(s), found {recs}"
    samples, rate = recs[call].received_audio()
    assert rate == 8000, f"recording at {rate} Hz, expected G.711's 8000"
    return samples[round(skip_s * rate) :]


async def test_baresip_and_sipp_hear_each_other(
    node: RunningNode, api: Api, tmp_path: Path
) -> None:
    await api.post("/coSpaces", name="Mixed room", uri="mixed")
    async with RtpReceiver() as rx:
        sipp_phone = await start_sipp(
            "uac_call", f"127.0.0.1:{node.ports.sip}", workdir=tmp_path / "sipp", service="mixed",
            keys={"rx_port": rx.port, "pcap": tone_pcap(tmp_path / "sipp.pcap", SIPP_TONE, 9.0),
                  "hold_ms": 9000},
            timeout=20,
        )  # fmt: skip
        await until(lambda: connected_legs(api, 1), "the sipp phone is in the space")
        config = BaresipConfig(
            tmp_path / "baresip", source=tone_wav(tmp_path / "bs.wav", BARESIP_TONE, 30.0)
        )
        async with baresip(config) as phone:
            await phone.dial(f"sip:mixed@127.0.0.1:{node.ports.sip}")
            await phone.wait_established()
            legs = await until(lambda: connected_legs(api, 2), "both phones in one call")
            assert len({leg.findtext("call") for leg in legs}) == 1, "the legs are in two calls"
            joined = asyncio.get_running_loop().time()
            port = baresip_rtp_port(legs, rx.port)
            await asyncio.sleep(1.0)
            async with LoopbackCapture(port) as wire:
                await asyncio.sleep(2.0)
            await asyncio.sleep(1.0)
            detail = await api.get(f"/callLegs/{_leg_at(legs, port)}")
            await phone.hangup()
            await phone.wait_event(["CALL_CLOSED"])
        result = await sipp_phone.wait()
    assert result.successful == 1, result.describe()
    assert detail.findtext("status/encrypted") == "false"
    assert detail.findtext("status/rxAudio/codec") == "pcmu"
    assert int(detail.findtext("status/rxAudio/packetsReceived") or 0) > 100
    # On the wire: plain RTP, PCMU in 20 ms packets, each way carrying the sender's tone.
    for who, sent, tone_hz in (("baresip", wire.sent_by(), BARESIP_TONE),
                               ("the bridge", wire.sent_to(), SIPP_TONE)):  # fmt: skip
        sizes = wire_sizes(sent)
        assert sizes == {12 + 160}, f"{who} sent RTP of sizes {sizes}, expected 172"
        assert_hears(wire_audio(sent), present=[tone_hz], who=f"plain RTP sent by {who}")
    # The sipp phone hears baresip's tone while baresip was in the call, not its own.
    heard = rx.audio(since=joined + 0.5, until=joined + 4.0)
    assert_hears(heard, present=[BARESIP_TONE], absent=[SIPP_TONE], who="the sipp phone")
    # baresip's recording of what it decoded holds the sipp tone, not its own.
    assert_hears(heard_by(phone), present=[SIPP_TONE], absent=[BARESIP_TONE], who="baresip")


def baresip_rtp_port(legs: list[ET.Element], *not_ports: int) -> int:
    """The RTP port (the leg's remoteAddress) of the one leg not sending to ``not_ports``."""
    ports = [int((leg.findtext("status/remoteAddress") or ":0").rsplit(":", 1)[1]) for leg in legs]
    left = [p for p in ports if p not in not_ports]
    assert len(left) == 1, f"leg media ports {ports}, excluding {not_ports}"
    return left[0]


def _leg_at(legs: list[ET.Element], port: int) -> str:
    return next(
        leg.get("id") or ""
        for leg in legs
        if (leg.findtext("status/remoteAddress") or "").endswith(f":{port}")
    )


def wire_sizes(datagrams: list[Datagram]) -> set[int]:
    assert len(datagrams) > 50, f"only {len(datagrams)} RTP datagrams captured in 2 s"
    return {len(d.payload) for d in datagrams}


def wire_audio(datagrams: list[Datagram]) -> npt.NDArray[np.int16]:
    """The first 160 payload octets of each RTP packet (in capture order: loopback does not
    reorder) read as PCMU. For SRTP that is the ciphertext, which must not read as a tone."""
    return np.concatenate(
        [ulaw_decode(RtpPacket.parse(d.payload).payload[:160]) for d in datagrams]
    )


async def test_srtp_phones_in_a_space_that_requires_encryption(
    node: RunningNode, api: Api, tmp_path: Path
) -> None:
    profile = await api.post("/callLegProfiles", sipMediaEncryption="required")
    await api.post("/coSpaces", name="Secure room", uri="secure", callLegProfile=profile)
    uri = f"sip:secure@127.0.0.1:{node.ports.sip}"
    one = BaresipConfig(
        tmp_path / "one",
        mediaenc="srtp-mand",
        source=tone_wav(tmp_path / "one.wav", BARESIP_TONE, 30.0),
    )
    two = BaresipConfig(
        tmp_path / "two",
        mediaenc="srtp-mand",
        user="other",
        source=tone_wav(tmp_path / "two.wav", OTHER_TONE, 30.0),
    )
    async with baresip(one) as phone_one, baresip(two) as phone_two:
        await phone_one.dial(uri)
        await phone_one.wait_established()
        await phone_two.dial(uri)
        await phone_two.wait_established()
        legs = await until(lambda: connected_legs(api, 2), "both SRTP phones connected")
        for leg in legs:
            assert leg.findtext("status/encrypted") == "true", ET.tostring(leg).decode()
        ports = [baresip_rtp_port([leg]) for leg in legs]
        await asyncio.sleep(1.0)
        async with LoopbackCapture(ports[0]) as wire_a, LoopbackCapture(ports[1]) as wire_b:
            await asyncio.sleep(2.0)
        await asyncio.sleep(1.0)
        for leg in [await api.get(f"/callLegs/{leg.get('id')}") for leg in legs]:
            assert int(leg.findtext("status/rxAudio/packetsReceived") or 0) > 100, (
                "an SRTP leg received (decrypted) too few packets: " + ET.tostring(leg).decode()
            )
        # A plain RTP offer to the same space is not acceptable.
        async with RtpReceiver() as rx:
            refused = await run_sipp(
                "uac_call", f"127.0.0.1:{node.ports.sip}", workdir=tmp_path / "plain",
                service="secure", keys={"rx_port": rx.port,
                                        "pcap": tone_pcap(tmp_path / "p.pcap", SIPP_TONE, 1.0)},
            )  # fmt: skip
        for phone in (phone_one, phone_two):
            await phone.hangup()
            await phone.wait_event(["CALL_CLOSED"])
    assert refused.successful == 0, refused.describe()
    assert refused.received("SIP/2.0 488") == 1, refused.describe()
    assert len(rx.packets) == 0, "the refused caller was sent media"
    # On the wire, both ways of both legs: SRTP (RFC 3711), i.e. 160 octets of PCMU plus an
    # authentication tag (10 octets for *_80, 4 for *_32), and the payload is no tone.
    for wire in (wire_a, wire_b):
        for who, sent in (("baresip", wire.sent_by()), ("the bridge", wire.sent_to())):
            sizes = wire_sizes(sent)
            assert sizes <= {12 + 160 + 10, 12 + 160 + 4} and len(sizes) == 1, (
                f"{who} sent sizes {sizes} to/from port {wire.port}: not SRTP of 20 ms PCMU"
            )
            audio = wire_audio(sent)
            levels = tone_levels(audio, 8000, [BARESIP_TONE, OTHER_TONE])
            assert max(levels.values()) < rms_dbfs(audio) - 10, (
                f"{who}'s SRTP payload (port {wire.port}) reads as a tone: {levels}"
            )
    # Each phone decrypted the other's tone, and not its own.
    assert_hears(
        heard_by(phone_one), present=[OTHER_TONE], absent=[BARESIP_TONE], who="SRTP phone one"
    )
    assert_hears(
        heard_by(phone_two), present=[BARESIP_TONE], absent=[OTHER_TONE], who="SRTP phone two"
    )


def _tls_certificate(port: int) -> bytes | None:
    """The DER certificate the TLS server on ``port`` presents, or None if none answers."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=1) as raw,
            context.wrap_socket(raw) as tls,
        ):
            return tls.getpeercert(binary_form=True)
    except OSError:
        return None


def _mmp_ok(node: RunningNode, command: str) -> str:
    result = node.mmp(command)
    assert result.returncode == 0 and "FAILURE" not in result.stdout, (
        f"{command!r} failed:\n{result.stdout}{result.stderr}"
    )
    return result.stdout


async def test_baresip_calls_over_tls(node: RunningNode, api: Api, tmp_path: Path) -> None:
    tls_port = node.ports.sip_tls
    assert _tls_certificate(tls_port) is None, "SIP TLS listens before it has a certificate"
    _mmp_ok(node, "pki selfsigned sipcert subjectAltName:127.0.0.1,localhost")
    _mmp_ok(node, "callbridge certs sipcert.key sipcert.crt")
    _mmp_ok(node, "callbridge restart")
    presented = await until(
        lambda: asyncio.to_thread(_tls_certificate, tls_port), "the call bridge listens on SIP TLS"
    )
    cert_file = node.datadir.file("sipcert.crt")
    assert presented == ssl.PEM_cert_to_DER_cert(cert_file.read_text()), (
        "SIP TLS presents another certificate than the one set with 'callbridge certs'"
    )
    await api.post("/coSpaces", name="TLS room", uri="tlsroom")
    async with RtpReceiver() as rx:
        sipp_phone = await start_sipp(
            "uac_call", f"127.0.0.1:{node.ports.sip}", workdir=tmp_path / "sipp",
            service="tlsroom",
            keys={"rx_port": rx.port, "pcap": tone_pcap(tmp_path / "sipp.pcap", SIPP_TONE, 9.0),
                  "hold_ms": 9000},
            timeout=20,
        )  # fmt: skip
        await until(lambda: connected_legs(api, 1), "the sipp phone is in the space")
        # baresip 1.0 does not check the server's certificate (it connects with none or a
        # wrong sip_cafile too); it is given the right one anyway.
        config = BaresipConfig(
            tmp_path / "baresip",
            cafile=cert_file,
            source=tone_wav(tmp_path / "bs.wav", BARESIP_TONE, 30.0),
        )
        async with baresip(config, sip_trace=True) as phone:
            await phone.dial(f"sip:tlsroom@127.0.0.1:{tls_port};transport=tls")
            await phone.wait_established()
            await until(lambda: connected_legs(api, 2), "the TLS phone joins the sipp phone")
            joined = asyncio.get_running_loop().time()
            await asyncio.sleep(3.0)
            await phone.hangup()
            await phone.wait_event(["CALL_CLOSED"])
            # The call bridge took baresip's BYE over TLS: the leg is gone.
            await until(lambda: connected_legs(api, 1), "the TLS leg leaves")
            # Again, hung up from the API this time: the bridge sends its BYE over TLS.
            again = asyncio.get_running_loop().time()
            await asyncio.sleep(1.0)  # sndfile names its dumps by the second
            await phone.dial(f"sip:tlsroom@127.0.0.1:{tls_port};transport=tls")
            await phone.wait_established(since=again)
            legs = await until(lambda: connected_legs(api, 2), "the TLS phone is back")
            await api.delete(f"/callLegs/{_leg_at(legs, baresip_rtp_port(legs, rx.port))}")
            await phone.wait_event(["CALL_CLOSED"], since=again)
        result = await sipp_phone.wait()
    assert result.successful == 1, result.describe()
    # Every SIP message baresip exchanged went over TLS with the bridge's TLS port.
    messages = phone.sip_messages()
    bridge = f"127.0.0.1:{tls_port}"
    flow = [
        ("<" if m.source == bridge else ">", m.transport, m.start_line.split(" ")[0]
         if not m.start_line.startswith("SIP/") else m.start_line.split(" ")[1])
        for m in messages
    ]  # fmt: skip
    assert all(m.transport == "TLS" for m in messages), flow
    assert all(bridge in (m.source, m.destination) for m in messages), messages
    wanted = [(">", "INVITE"), ("<", "200"), (">", "ACK"), (">", "BYE"), ("<", "200"),
              (">", "INVITE"), ("<", "200"), (">", "ACK"), ("<", "BYE"), (">", "200")]  # fmt: skip
    steps = [(d, what) for d, _, what in flow if what not in ("100", "180", "183")]
    assert steps == wanted, f"baresip's SIP flow over TLS: {flow}"
    assert_hears(
        rx.audio(since=joined + 0.5, until=joined + 3.0),
        present=[BARESIP_TONE],
        absent=[SIPP_TONE],
        who="the sipp phone",
    )
    assert_hears(
        heard_by(phone, calls=2), present=[SIPP_TONE], absent=[BARESIP_TONE], who="TLS baresip"
    )
