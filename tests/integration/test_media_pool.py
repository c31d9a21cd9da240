"""The media pool end to end: real worker processes, "phones" that are UDP sockets here.

Each phone sends PCMU RTP carrying a pure tone every 20 ms and records what it receives;
FFTs of the received audio show who hears whom.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import struct
import time
from collections.abc import AsyncIterator

import numpy as np
import pylibsrtp
import pytest

from moot.media.codecs import CODECS
from moot.media.g711 import ulaw_decode, ulaw_encode
from moot.media.leg import (
    DtmfReceived,
    LegConfig,
    MediaError,
    MediaEvent,
    PlayFinished,
    SpeakerChanged,
)
from moot.media.pool import MediaPool
from moot.media.rtp import RtpPacket
from moot.media.telephone_event import build_dtmf_events

PCMU = CODECS["PCMU"]
AMPLITUDE = 6000
RATE = 8000


class Phone(asyncio.DatagramProtocol):
    """A UDP endpoint that sends a tone as PCMU RTP and records received RTP."""

    def __init__(self, freq: float, srtp: tuple[bytes, bytes] | None = None) -> None:
        self.freq = freq
        self.received: list[RtpPacket] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.seq = random.getrandbits(16)
        self.ts = random.getrandbits(32)
        self.ssrc = random.getrandbits(32)
        self.n = 0
        self.target: tuple[str, int] | None = None
        self.sending = True
        self.tx_srtp: pylibsrtp.Session | None = None
        self.rx_srtp: pylibsrtp.Session | None = None
        self.srtp_failures = 0
        if srtp is not None:
            tx_key, rx_key = srtp
            self.tx_srtp = pylibsrtp.Session(
                pylibsrtp.Policy(key=tx_key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
            )
            self.rx_srtp = pylibsrtp.Session(
                pylibsrtp.Policy(key=rx_key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND)
            )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) >= 2 and 192 <= data[1] <= 223:
            return  # RTCP muxed? not expected, ignore
        if self.rx_srtp is not None:
            try:
                data = self.rx_srtp.unprotect(data)
            except pylibsrtp.Error:
                self.srtp_failures += 1
                return
        self.received.append(RtpPacket.parse(data))

    @property
    def addr(self) -> tuple[str, int]:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return host, port

    def send_raw(self, packet: RtpPacket) -> None:
        assert self.transport is not None and self.target is not None
        data = packet.serialize()
        if self.tx_srtp is not None:
            data = self.tx_srtp.protect(data)
        self.transport.sendto(data, self.target)

    def tick(self) -> None:
        if not self.sending or self.target is None:
            return
        t = (self.n + np.arange(160)) / RATE
        pcm = (AMPLITUDE * np.sin(2 * np.pi * self.freq * t)).astype(np.int16)
        self.n += 160
        self.send_raw(RtpPacket(0, self.seq, self.ts, self.ssrc, payload=ulaw_encode(pcm)))
        self.seq = (self.seq + 1) & 0xFFFF
        self.ts = (self.ts + 160) & 0xFFFFFFFF

    def send_digit(self, digit: str, pt: int) -> None:
        """Send an RFC 4733 event (in the same sequence space), 3 end packets included."""
        for i, event in enumerate(build_dtmf_events(digit)):
            self.send_raw(
                RtpPacket(
                    pt, self.seq, self.ts, self.ssrc, marker=(i == 0), payload=event.serialize()
                )
            )
            self.seq = (self.seq + 1) & 0xFFFF
        self.ts = (self.ts + 800) & 0xFFFFFFFF

    def audio_since(self, start: int) -> np.ndarray:
        """Received audio from packet index ``start`` on, ordered by sequence number."""
        packets = sorted(self.received[start:], key=lambda p: p.sequence_number)
        return np.concatenate([ulaw_decode(p.payload) for p in packets]).astype(np.float64)


def tone_level(audio: np.ndarray, freq: float) -> float:
    """Amplitude of a sine at ``freq`` (Hann-windowed DFT at that frequency)."""
    n = len(audio)
    window = np.hanning(n)
    t = np.arange(n) / RATE
    x = np.sum(audio * window * np.exp(-2j * np.pi * freq * t))
    return float(2 * abs(x) / window.sum())


@pytest.fixture
async def pool() -> AsyncIterator[MediaPool]:
    base = 30000 + 2 * (os.getpid() % 2000)
    p = MediaPool(workers=2, port_range=(base, base + 399), rtp_timeout=30.0)
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


async def make_phone(freq: float, srtp: tuple[bytes, bytes] | None = None) -> Phone:
    loop = asyncio.get_running_loop()
    _t, phone = await loop.create_datagram_endpoint(
        lambda: Phone(freq, srtp), local_addr=("127.0.0.1", 0)
    )
    return phone


async def run_phones(phones: list[Phone], seconds: float) -> None:
    """Send every phone's 20 ms packets on an absolute 20 ms schedule."""
    start = time.monotonic()
    n = 0
    while True:
        n += 1
        for phone in phones:
            phone.tick()
        deadline = start + n * 0.02
        if deadline - start >= seconds:
            return
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))


async def wait_event(pool: MediaPool, kind: type, timeout: float = 3.0) -> MediaEvent:
    end = time.monotonic() + timeout
    while True:
        remaining = end - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {kind.__name__} event")
        event = await asyncio.wait_for(pool.events.get(), remaining)
        if isinstance(event, kind):
            return event


async def test_three_party_call_mutes_dtmf_srtp_and_move(pool: MediaPool) -> None:
    freqs = {"a": 440.0, "b": 700.0, "c": 1100.0}
    phones = {name: await make_phone(f) for name, f in freqs.items()}
    ports = {}
    for name, phone in phones.items():
        ports[name] = await pool.open_leg("call-1", name, "127.0.0.1")
        assert ports[name] % 2 == 0
        await pool.start_leg(
            name, LegConfig(remote=phone.addr, codec=PCMU, dtmf_payload_type=101)
        )
        phone.target = ("127.0.0.1", ports[name])
    assert len(set(ports.values())) == 3
    worker = {pool.leg_worker(n) for n in phones}
    assert len(worker) == 1, "a call's legs live on one worker"

    # 1. Everybody hears the two others at full level and not themselves.
    marks = {n: len(p.received) for n, p in phones.items()}
    await run_phones(list(phones.values()), 1.5)
    await asyncio.sleep(0.1)
    for name, phone in phones.items():
        audio = phone.audio_since(marks[name] + 20)  # skip jitter-buffer start-up
        assert len(audio) >= 8000, f"{name} received only {len(audio)} samples"
        for other, f in freqs.items():
            level = tone_level(audio, f)
            if other == name:
                assert level < 0.02 * AMPLITUDE, f"{name} hears itself ({level:.0f})"
            else:
                assert 0.85 * AMPLITUDE < level < 1.15 * AMPLITUDE, (
                    f"{name} hears {other} at {level:.0f}, expected ~{AMPLITUDE}"
                )

    # Somebody talking above the floor became the active speaker.
    speakers = [e for e in _drain(pool) if isinstance(e, SpeakerChanged)]
    assert speakers and speakers[0].call_id == "call-1" and speakers[0].leg_id in phones

    # 2. rx mute of a: b and c no longer hear 440 Hz; a still hears them.
    await pool.set_mute("a", rx=True)
    marks = {n: len(p.received) for n, p in phones.items()}
    await run_phones(list(phones.values()), 1.0)
    await asyncio.sleep(0.1)
    for name in ("b", "c"):
        audio = phones[name].audio_since(marks[name] + 5)
        assert tone_level(audio, 440.0) < 0.02 * AMPLITUDE
        other = "c" if name == "b" else "b"
        assert tone_level(audio, freqs[other]) > 0.85 * AMPLITUDE
    audio_a = phones["a"].audio_since(marks["a"] + 5)
    assert tone_level(audio_a, 700.0) > 0.85 * AMPLITUDE
    await pool.set_mute("a", rx=False)

    # 3. An RFC 4733 digit from b arrives once as DtmfReceived.
    while not pool.events.empty():
        pool.events.get_nowait()
    phones["b"].send_digit("5", 101)
    event = await wait_event(pool, DtmfReceived)
    assert event == DtmfReceived("b", "5")
    await run_phones(list(phones.values()), 0.3)
    assert not any(isinstance(e, DtmfReceived) for e in _drain(pool))

    # 4. An SRTP leg joins: it hears a, b, c and they hear it.
    our_key, their_key = os.urandom(30), os.urandom(30)
    d = await make_phone(1500.0, srtp=(their_key, our_key))
    port_d = await pool.open_leg("call-1", "d", "127.0.0.1")
    await pool.start_leg(
        "d",
        LegConfig(
            remote=d.addr,
            codec=PCMU,
            srtp_profile="AES_CM_128_HMAC_SHA1_80",
            srtp_tx_key=our_key,
            srtp_rx_key=their_key,
        ),
    )
    d.target = ("127.0.0.1", port_d)
    everyone = [*phones.values(), d]
    mark_d, mark_a = len(d.received), len(phones["a"].received)
    await run_phones(everyone, 1.5)
    await asyncio.sleep(0.1)
    assert d.srtp_failures == 0
    audio_d = d.audio_since(mark_d + 20)
    for f in freqs.values():
        assert tone_level(audio_d, f) > 0.85 * AMPLITUDE
    assert tone_level(audio_d, 1500.0) < 0.02 * AMPLITUDE
    assert tone_level(phones["a"].audio_since(mark_a + 20), 1500.0) > 0.85 * AMPLITUDE
    stats_d = await pool.stats("d")
    assert stats_d.packets_rx >= 60 and stats_d.packets_tx >= 60

    # 5. Move a into a call hosted by the other worker: same port, new partners.
    e = await make_phone(300.0)
    port_e = await pool.open_leg("call-2", "e", "127.0.0.1")
    await pool.start_leg("e", LegConfig(remote=e.addr, codec=PCMU))
    e.target = ("127.0.0.1", port_e)
    assert pool.leg_worker("e") != pool.leg_worker("a")
    await pool.move_leg("a", "call-2")
    assert pool.leg_worker("a") == pool.leg_worker("e")
    mark_a, mark_b = len(phones["a"].received), len(phones["b"].received)
    await run_phones([*everyone, e], 1.5)
    await asyncio.sleep(0.1)
    audio_a = phones["a"].audio_since(mark_a + 20)
    assert tone_level(audio_a, 300.0) > 0.85 * AMPLITUDE
    assert tone_level(audio_a, 700.0) < 0.02 * AMPLITUDE
    assert tone_level(phones["b"].audio_since(mark_b + 20), 440.0) < 0.02 * AMPLITUDE
    stats_a = await pool.stats("a")
    assert stats_a.packets_rx > 150  # counters moved with the leg

    totals = await pool.totals()
    assert totals.legs == 5
    final = await pool.close_leg("a")
    assert final.codec == "PCMU" and final.remote == phones["a"].addr
    # The port is free again once closed.
    port_f = await pool.open_leg("call-3", "f", "127.0.0.1")
    assert port_f != ports["b"]


async def test_prompt_plays_into_one_leg(pool: MediaPool) -> None:
    a, b = await make_phone(440.0), await make_phone(700.0)
    for name, phone in (("a", a), ("b", b)):
        port = await pool.open_leg("ivr", name, "127.0.0.1")
        await pool.start_leg(name, LegConfig(remote=phone.addr, codec=PCMU))
        phone.target = ("127.0.0.1", port)
        phone.sending = False
    t = np.arange(8000) / RATE
    prompt = (5000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    mark_a, mark_b = len(a.received), len(b.received)
    await pool.play("a", prompt)
    event = await wait_event(pool, PlayFinished, timeout=3.0)
    assert event == PlayFinished("a")
    audio_a = a.audio_since(mark_a)
    audio_b = b.audio_since(mark_b)
    assert tone_level(audio_a, 1000.0) > 0.5 * 5000
    assert tone_level(audio_b, 1000.0) < 50


def _drain(pool: MediaPool) -> list[MediaEvent]:
    out = []
    while not pool.events.empty():
        out.append(pool.events.get_nowait())
    return out


def test_struct_sanity() -> None:
    assert struct.calcsize("!BBHII") == 12


async def test_bad_requests_raise_media_error(pool: MediaPool) -> None:
    with pytest.raises(MediaError, match="no media leg"):
        await pool.stats("ghost")
    port = await pool.open_leg("c", "x", "127.0.0.1")
    with pytest.raises(MediaError, match="already exists"):
        await pool.open_leg("c", "x", "127.0.0.1")
    with pytest.raises(MediaError, match="direction"):
        await pool.start_leg("x", LegConfig(remote=("127.0.0.1", 9), codec=PCMU, direction="up"))
    with pytest.raises(MediaError, match="SRTP needs"):
        await pool.start_leg(
            "x",
            LegConfig(
                remote=("127.0.0.1", 9), codec=PCMU, srtp_profile="AES_CM_128_HMAC_SHA1_80"
            ),
        )
    with pytest.raises(MediaError, match="30 octets"):
        await pool.start_leg(
            "x",
            LegConfig(
                remote=("127.0.0.1", 9),
                codec=PCMU,
                srtp_profile="AES_CM_128_HMAC_SHA1_80",
                srtp_tx_key=b"k",
                srtp_rx_key=b"k",
            ),
        )
    with pytest.raises(MediaError, match="int16"):
        await pool.play("x", np.zeros(10, dtype=np.float32))
    # The port is really bound by the worker: binding it here fails.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with pytest.raises(OSError):
        probe.bind(("127.0.0.1", port))
    probe.close()
    stats = await pool.close_leg("x")
    assert stats.packets_tx == 0
    with pytest.raises(MediaError, match="no media leg"):
        await pool.close_leg("x")


async def test_failed_start_leaves_the_leg_unstarted(pool: MediaPool) -> None:
    phone = await make_phone(440.0)
    await pool.open_leg("c", "y", "127.0.0.1")
    bad = LegConfig(
        remote=phone.addr,
        codec=PCMU,
        srtp_profile="AES_CM_128_HMAC_SHA1_80",
        srtp_tx_key=b"short",
        srtp_rx_key=b"short",
    )
    with pytest.raises(MediaError, match="30 octets"):
        await pool.start_leg("y", bad)
    await asyncio.sleep(0.2)
    assert phone.received == []  # no plain RTP leaked out of a half-configured SRTP leg
    await pool.start_leg("y", LegConfig(remote=phone.addr, codec=PCMU))
    await asyncio.sleep(0.3)
    assert len(phone.received) >= 5
