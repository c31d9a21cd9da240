"""The worker's media path in-process (no child process): codecs, ptime, hold, latching,
RTP timeout, RTCP and bad input."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import numpy as np
import pytest

from moot.media import worker as worker_mod
from moot.media.codecs import CODECS, CodecSpec, create_decoder, create_encoder
from moot.media.leg import LegConfig, MediaError, RtpTimeout
from moot.media.rtcp import RtcpSdes, RtcpSenderReport, parse_compound
from moot.media.rtp import RtpPacket
from moot.media.worker import Worker, WorkerOptions

RATE = 8000


def level(audio: np.ndarray, freq: float) -> float:
    w = np.hanning(len(audio))
    x = np.sum(audio * w * np.exp(-2j * np.pi * freq * np.arange(len(audio)) / RATE))
    return float(2 * abs(x) / w.sum())


class Phone:
    """Non-blocking UDP RTP endpoint with an RTCP socket on port + 1."""

    def __init__(self, spec: CodecSpec, freq: float, ptime_ms: int = 20) -> None:
        for _ in range(50):
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", 0))
            port = self.sock.getsockname()[1]
            self.rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                self.rtcp.bind(("127.0.0.1", port + 1))
                break
            except OSError:
                self.sock.close()
                self.rtcp.close()
        self.sock.setblocking(False)
        self.rtcp.setblocking(False)
        self.spec, self.freq, self.ptime = spec, freq, ptime_ms
        self.enc, self.dec = create_encoder(spec), create_decoder(spec)
        self.n = self.seq = self.ts = 0
        self.target: tuple[str, int] | None = None

    @property
    def addr(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()
        return host, port

    def send(self) -> None:
        assert self.target is not None
        samples = RATE * self.ptime // 1000
        t = (self.n + np.arange(samples)) / RATE
        self.n += samples
        pcm = (6000 * np.sin(2 * np.pi * self.freq * t)).astype(np.int16)
        packet = RtpPacket(
            self.spec.payload_type, self.seq, self.ts, 1234, payload=self.enc.encode(pcm)
        )
        self.seq += 1
        self.ts += self.spec.clock_rate * self.ptime // 1000
        self.sock.sendto(packet.serialize(), self.target)

    def recv_all(self) -> list[RtpPacket]:
        out = []
        while True:
            try:
                out.append(RtpPacket.parse(self.sock.recv(2048)))
            except BlockingIOError:
                return out

    def audio(self, packets: list[RtpPacket]) -> np.ndarray:
        packets = sorted(packets, key=lambda p: p.sequence_number)
        return np.concatenate([self.dec.decode(p.payload) for p in packets]).astype(float)

    def close(self) -> None:
        self.sock.close()
        self.rtcp.close()


@pytest.fixture
async def worker() -> AsyncIterator[Worker]:
    w = Worker(asyncio.get_running_loop(), WorkerOptions(rtp_timeout=0.5))
    try:
        yield w
    finally:
        w.rpc_stop()


def free_ports(n: int = 8) -> list[int]:
    base = 20000 + (time.monotonic_ns() // 1000 % 5000) * 2
    return list(range(base, base + 2 * n, 2))


async def run(phones: list[Phone], seconds: float) -> None:
    """Send each phone's packets every ptime on an absolute 10 ms grid."""
    start = time.monotonic()
    for i in range(int(seconds / 0.01)):
        for p in phones:
            if (i * 10) % p.ptime == 0:
                p.send()
        await asyncio.sleep(max(0.0, start + (i + 1) * 0.01 - time.monotonic()))


async def join(worker: Worker, call: str, name: str, phone: Phone, **kw: object) -> int:
    port = worker.rpc_open_leg(call, name, "127.0.0.1", free_ports())
    cfg = LegConfig(
        remote=phone.addr,
        codec=phone.spec,
        ptime_ms=phone.ptime,
        **kw,  # type: ignore[arg-type]
    )
    worker.rpc_start_leg(name, cfg)
    phone.target = ("127.0.0.1", port)
    return port


async def test_mixed_codecs_and_ptimes(worker: Worker) -> None:
    phones = {
        "u": Phone(CODECS["PCMU"], 440.0),
        "a30": Phone(CODECS["PCMA"], 700.0, ptime_ms=30),
        "g722": Phone(CODECS["G722"], 1100.0),
        "opus": Phone(CodecSpec("opus", 111, 48000, 2), 300.0),
    }
    for name, phone in phones.items():
        await join(worker, "c", name, phone)
    await run(list(phones.values()), 1.6)
    await asyncio.sleep(0.1)
    freqs = {name: p.freq for name, p in phones.items()}
    for name, phone in phones.items():
        packets = phone.recv_all()
        assert len(packets) >= 1.4 / (phone.ptime / 1000)
        audio = phone.audio(packets)[RATE // 2 :]
        for other, f in freqs.items():
            got = level(audio, f)
            if other == name:
                assert got < 300, f"{name} hears itself: {got:.0f}"
            else:
                assert got > 0.7 * 6000, f"{name} hears {other} at {got:.0f}"
        if name == "a30":
            assert all(len(p.payload) == 240 for p in packets)
    for phone in phones.values():
        phone.close()


async def test_hold_latching_timeout_rtcp(worker: Worker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_mod, "RTCP_INTERVAL", 0.3)
    a, b = Phone(CODECS["PCMU"], 440.0), Phone(CODECS["PCMU"], 700.0)
    await join(worker, "c", "a", a)
    # b is behind NAT: the signalled address is wrong, latching finds the real one.
    port_b = worker.rpc_open_leg("c", "b", "127.0.0.1", free_ports())
    worker.rpc_start_leg("b", LegConfig(remote=("127.0.0.1", 9), codec=CODECS["PCMU"], latch=True))
    b.target = ("127.0.0.1", port_b)
    await run([a, b], 1.5)
    got_b = b.recv_all()
    assert len(got_b) > 40, "latched leg receives the mix"
    assert level(b.audio(got_b[-40:]), 440.0) > 0.8 * 6000
    assert worker.rpc_stats("b").remote == b.addr

    # RTCP: a receives an SR with a report block about its stream, and an SDES CNAME.
    await asyncio.sleep(1.2)
    reports = []
    while True:
        try:
            reports.extend(parse_compound(a.rtcp.recv(2048)))
        except BlockingIOError:
            break
    srs = [r for r in reports if isinstance(r, RtcpSenderReport)]
    assert srs and srs[-1].packet_count > 0
    assert srs[-1].reports and srs[-1].reports[0].ssrc == 1234
    assert any(isinstance(r, RtcpSdes) and r.chunks[0][1] == "moot" for r in reports)

    # Hold: a's direction becomes recvonly (a sent sendonly): no packets to a, a not mixed.
    worker.rpc_update_leg("a", LegConfig(remote=a.addr, codec=CODECS["PCMU"], direction="recvonly"))
    a.recv_all()
    b.recv_all()
    await run([a, b], 1.0)
    assert len(a.recv_all()) == 0
    assert level(b.audio(b.recv_all()), 440.0) < 100

    # RTP timeout: b stops sending; after 0.5 s (checked once a second) one event.
    worker.events.clear()
    await asyncio.sleep(2.2)
    timeouts = [e for e in worker.events if isinstance(e, RtpTimeout)]
    assert {e.leg_id for e in timeouts} == {"a", "b"}
    assert len(timeouts) == 2
    a.close()
    b.close()


async def test_bad_input_is_counted_not_fatal(worker: Worker) -> None:
    a, b = Phone(CODECS["PCMU"], 440.0), Phone(CODECS["PCMU"], 700.0)
    port_a = await join(worker, "c", "a", a)
    await join(worker, "c", "b", b)
    for junk in (b"", b"\x00" * 12, b"\x80", b"\x80\x00" + b"\xff" * 3000, b"\x80\xc8\x00\x01"):
        a.sock.sendto(junk, ("127.0.0.1", port_a))
        a.sock.sendto(junk, ("127.0.0.1", port_a + 1))
    a.seq = 100
    await run([a, b], 0.5)
    a.seq += 5  # a gap of 5 packets
    await run([a, b], 0.5)
    stats = worker.rpc_stats("a")
    assert stats.packets_lost == 5
    assert worker.legs["a"].bad_packets >= 3
    assert len(b.recv_all()) > 30
    with pytest.raises(MediaError, match="no media leg"):
        worker.rpc_stats("nope")
    with pytest.raises(MediaError, match="already exists"):
        worker.rpc_open_leg("c", "a", "127.0.0.1", free_ports())
    with pytest.raises(MediaError, match="direction"):
        worker.rpc_update_leg("a", LegConfig(remote=a.addr, codec=CODECS["PCMU"], direction="x"))
    a.close()
    b.close()
