"""sipp and RTP tools for the call bridge tests: pcaps to play, an RTP receiver, tone meters.

How media flows in these tests (no root tools besides sipp itself)
------------------------------------------------------------------
Every sipp leg advertises in its SDP (``c=`` / ``m=audio``) a port where the *test's* Python
:class:`RtpReceiver` listens (``-key rx_port N``, ``[rx_port]`` in the scenarios). The far end
(Moot, or the other sipp) sends its audio there. sipp itself sends audio with
``<exec play_pcap_audio="[pcap]"/>``, playing a pcap this module writes (a tone or DTMF,
20 ms packets).

How sipp 3.6.1's ``play_pcap_audio`` addresses its packets (read in send_packets.c and
prepare_pcap.c, and checked with a receiving socket, see test_sipp_harness.py):

* It sends from a **raw socket** (``SOCK_RAW``/``IPPROTO_UDP``), so sipp needs root or
  CAP_NET_RAW; without it the call fails with "Can't create raw IPv4 socket".
* Destination: the ``c=`` address and ``m=audio`` port of the last SDP sipp *received* (the
  INVITE for a UAS, the 200/183 for a UAC), plus ``dport - base`` where ``base`` is the
  smallest UDP destination port in the pcap. The pcaps here use one destination port, so
  every packet goes to exactly the advertised port.
* Source: the ``-mi`` address, and UDP source port ``0 + (dport - base)``, that is **port 0**
  (sipp never fills in the source port of the play). So a receiver must not filter on the
  source port, and symmetric RTP (latching) towards sipp cannot work: the bridge must send to
  the SDP address, which is what these tests rely on.
* The packets go out as they are in the pcap: sequence numbers, timestamps, SSRC and marker
  are not rewritten; the gaps between pcap timestamps set the pacing. A second
  ``play_pcap_audio`` in the same call stops the first one, so a DTMF pcap carries its own
  audio (silence) between digits, with one SSRC and continuous sequence numbers.
* Link types read: Ethernet (1) and Linux cooked (113); IPv4 or IPv6, UDP only.
* With ``-m`` > 1 every call plays the same pcap (same SSRC and sequence numbers) towards
  the one ``rx_port``: count packets then, :meth:`RtpReceiver.audio` would merge the calls.
* ``-key`` values are substituted in ``play_pcap_audio`` and in messages, but NOT in numeric
  attributes (``pause milliseconds``, ``recv timeout``): the scenarios turn such keys into
  variables (``assignstr`` + ``todouble``) and wait with ``pause variable=`` or a 100 ms
  ``recv timeout`` loop.

The Debian sipp is built without OpenSSL, so TLS (``-t l1``) raises :class:`SippError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from moot.media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from moot.media.rtp import RtpError, RtpPacket, seq_diff

__all__ = [
    "SCENARIO_DIR",
    "DtmfEvent",
    "ReceivedEvent",
    "ReceivedPacket",
    "RtpReceiver",
    "SippError",
    "SippProcess",
    "SippResult",
    "assert_hears",
    "decode",
    "dtmf_pcap",
    "encode",
    "read_pcap_rtp",
    "rms_dbfs",
    "run_sipp",
    "scenario_keys",
    "scenario_path",
    "sipp",
    "sipp_features",
    "start_sipp",
    "tone",
    "tone_levels",
    "tone_pcap",
    "write_rtp_pcap",
]

SCENARIO_DIR = Path(__file__).parent / "sipp"
SIPP = shutil.which("sipp") or "/usr/bin/sipp"

DTMF_DIGITS = "0123456789*#ABCD"
"""RFC 4733 section 3.2: event codes 0-15 in this order."""

CODECS: dict[str, int] = {"PCMU": 0, "PCMA": 8}
"""G.711 static payload types (RFC 3551)."""

_SILENCE = {0: b"\xff", 8: b"\xd5"}
"""One G.711 code word for a zero sample: PCMU 0xFF, PCMA 0xD5."""

FULL_SCALE = 32767.0
"""Amplitude of a 0 dBFS sine (levels here are relative to a full-scale sine's peak)."""


# --------------------------------------------------------------------------------------------
# pcap writing
# --------------------------------------------------------------------------------------------

_PCAP_HEADER = struct.Struct("<IHHiIII")
_PCAP_RECORD = struct.Struct("<IIII")
_PCAP_MAGIC = 0xA1B2C3D4
_LINKTYPE_ETHERNET = 1
_PCAP_EPOCH = 1_700_000_000
"""Seconds since 1970 of the first packet; only the gaps matter to sipp."""


@dataclass(frozen=True)
class DtmfEvent:
    """One RFC 4733 telephone-event (a DTMF key press) inside an RTP stream.

    ``start_ms`` is the offset from the first packet of the stream; it is rounded down to a
    packet boundary (the event's RTP timestamp is that packet's). ``volume`` is the power
    level in -dBm0 (0..63).
    """

    digit: str
    start_ms: int
    duration_ms: int = 100
    volume: int = 10

    @property
    def code(self) -> int:
        index = DTMF_DIGITS.find(self.digit.upper()) if len(self.digit) == 1 else -1
        if index < 0:
            raise ValueError(f"{self.digit!r} is not a DTMF digit (0-9, *, #, A-D)")
        return index


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ethernet_udp(src: tuple[str, int], dst: tuple[str, int], payload: bytes, ident: int) -> bytes:
    """An Ethernet II frame holding IPv4 + UDP + payload, with valid checksums."""
    src_ip, dst_ip = socket.inet_aton(src[0]), socket.inet_aton(dst[0])
    udp_len = 8 + len(payload)
    pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, socket.IPPROTO_UDP, udp_len)
    udp = struct.pack("!HHHH", src[1], dst[1], udp_len, 0) + payload
    udp_sum = _checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", udp_sum) + udp[8:]
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0xB8, 20 + udp_len, ident & 0xFFFF, 0x4000, 64,
        socket.IPPROTO_UDP, 0, src_ip, dst_ip,
    )  # fmt: skip
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    ether = bytes.fromhex("020000000002020000000001") + struct.pack("!H", 0x0800)
    return ether + ip + udp


def write_rtp_pcap(
    path: Path | str,
    payloads: Sequence[bytes],
    *,
    payload_type: int = 0,
    ptime_ms: int = 20,
    ssrc: int,
    src_port: int,
    dst_port: int,
    marker_first: bool = True,
    events: Sequence[DtmfEvent] = (),
    event_payload_type: int = 101,
    clock_rate: int = 8000,
    first_seq: int = 1000,
    first_timestamp: int = 0,
    src_ip: str = "10.0.0.1",
    dst_ip: str = "10.0.0.2",
) -> int:
    """Write one RTP stream as a pcap sipp's ``play_pcap_audio`` plays; return the packet count.

    Packet ``i`` carries ``payloads[i]`` and leaves ``i * ptime_ms`` after the first (pcap
    timestamps), with RTP timestamp ``first_timestamp + i * ptime * clock_rate``. Every packet
    has the next sequence number (RFC 3550), the first audio one the marker bit if
    ``marker_first``.

    ``events`` (RFC 4733) replace the audio packets in the slots they occupy, the way phones
    send DTMF: a packet every ptime with the event's start timestamp, the marker on the first,
    a growing ``duration``; the final packet has the E bit and goes out three times
    (section 2.5.1.4), each with its own sequence number (2.5.1.6). Events must not overlap
    (including those two repeats); the stream is extended if they run past the audio.
    """
    if not 1 <= ptime_ms <= 1000:
        raise ValueError(f"ptime {ptime_ms} ms outside 1..1000")
    for name, pt in (("payload_type", payload_type), ("event_payload_type", event_payload_type)):
        if not 0 <= pt <= 127:
            raise ValueError(f"{name} {pt} outside 0..127")
    step = clock_rate * ptime_ms // 1000
    # slot (ptime periods since the start) -> (payload type, marker, payload, RTP timestamp)
    slots: dict[int, tuple[int, bool, bytes, int]] = {}
    for i, payload in enumerate(payloads):
        slots[i] = (
            payload_type,
            marker_first and i == 0,
            bytes(payload),
            first_timestamp + i * step,
        )
    busy_until = -1
    for ev in sorted(events, key=lambda e: e.start_ms):
        code = ev.code
        if not 0 <= ev.volume <= 63:
            raise ValueError(f"DTMF volume {ev.volume} outside 0..63")
        if ev.start_ms < 0 or ev.duration_ms <= 0:
            raise ValueError(f"DTMF event {ev} needs start_ms >= 0 and duration_ms > 0")
        first = ev.start_ms // ptime_ms
        if first <= busy_until:
            raise ValueError(f"DTMF event {ev} overlaps the previous one (incl. its 2 end repeats)")
        total = min(clock_rate * ev.duration_ms // 1000, 0xFFFF)
        updates = max(1, math.ceil(ev.duration_ms / ptime_ms))
        for k in range(updates + 2):
            end = k >= updates - 1
            duration = total if end else (k + 1) * step
            body = struct.pack("!BBH", code, (0x80 if end else 0) | ev.volume, duration)
            # The RTP timestamp of every packet of an event is the event's start.
            slots[first + k] = (event_payload_type, k == 0, body, first_timestamp + first * step)
        busy_until = first + updates + 1

    out = bytearray(_PCAP_HEADER.pack(_PCAP_MAGIC, 2, 4, 0, 0, 65535, _LINKTYPE_ETHERNET))
    seq = first_seq
    for n, slot in enumerate(sorted(slots)):
        pt, marker, body, ts = slots[slot]
        rtp = RtpPacket(
            payload_type=pt, sequence_number=seq, timestamp=ts, ssrc=ssrc, marker=marker,
            payload=body,
        ).serialize()  # fmt: skip
        seq += 1
        frame = _ethernet_udp((src_ip, src_port), (dst_ip, dst_port), rtp, n)
        usec = slot * ptime_ms * 1000
        out += _PCAP_RECORD.pack(
            _PCAP_EPOCH + usec // 1_000_000, usec % 1_000_000, len(frame), len(frame)
        )
        out += frame
    Path(path).write_bytes(bytes(out))
    return len(slots)


def _codec(codec: str) -> int:
    try:
        return CODECS[codec.upper()]
    except KeyError:
        raise ValueError(f"codec {codec!r} is not one of {sorted(CODECS)}") from None


def encode(pcm: npt.NDArray[np.int16], payload_type: int) -> bytes:
    """G.711-encode int16 samples for payload type 0 (PCMU) or 8 (PCMA)."""
    if payload_type == 0:
        return ulaw_encode(pcm)
    if payload_type == 8:
        return alaw_encode(pcm)
    raise ValueError(f"payload type {payload_type} is not G.711 (0 or 8)")


def decode(payload: bytes, payload_type: int) -> npt.NDArray[np.int16]:
    """G.711-decode a payload of payload type 0 (PCMU) or 8 (PCMA) to int16 samples."""
    if payload_type == 0:
        return ulaw_decode(payload)
    if payload_type == 8:
        return alaw_decode(payload)
    raise ValueError(f"payload type {payload_type} is not G.711 (0 or 8)")


def tone(
    freq_hz: float, seconds: float, *, level_dbfs: float = -12.0, rate: int = 8000
) -> npt.NDArray[np.int16]:
    """A pure sine of ``freq_hz`` whose peak is ``level_dbfs`` below full scale."""
    n = round(seconds * rate)
    amplitude = FULL_SCALE * 10 ** (level_dbfs / 20)
    t = np.arange(n) / rate
    return np.round(amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.int16)


def _frames(pcm: npt.NDArray[np.int16], payload_type: int, samples: int) -> list[bytes]:
    count = len(pcm) // samples
    return [encode(pcm[i * samples : (i + 1) * samples], payload_type) for i in range(count)]


def tone_pcap(
    path: Path | str,
    freq_hz: float,
    seconds: float,
    level_dbfs: float = -12.0,
    codec: str = "PCMU",
    *,
    ptime_ms: int = 20,
    ssrc: int | None = None,
    src_port: int = 4000,
    dst_port: int = 6000,
) -> Path:
    """Write a pcap of a pure tone (G.711, ``ptime_ms`` packets) for ``play_pcap_audio``."""
    if not 0 < freq_hz < 4000:
        raise ValueError(f"tone of {freq_hz} Hz is not below the 4 kHz Nyquist limit of G.711")
    if not 0 < seconds <= 600:
        raise ValueError(f"tone length {seconds} s outside (0, 600]")
    pt = _codec(codec)
    samples = 8000 * ptime_ms // 1000
    payloads = _frames(tone(freq_hz, seconds, level_dbfs=level_dbfs), pt, samples)
    write_rtp_pcap(
        path, payloads, payload_type=pt, ptime_ms=ptime_ms,
        ssrc=0x70000000 + round(freq_hz) if ssrc is None else ssrc,
        src_port=src_port, dst_port=dst_port,
    )  # fmt: skip
    return Path(path)


def dtmf_pcap(
    path: Path | str,
    digits: str,
    *,
    duration_ms: int = 100,
    gap_ms: int = 120,
    lead_ms: int = 300,
    tail_ms: int = 300,
    volume: int = 10,
    codec: str = "PCMU",
    event_payload_type: int = 101,
    ptime_ms: int = 20,
    ssrc: int = 0x0D7F0000,
    src_port: int = 4000,
    dst_port: int = 6000,
) -> list[DtmfEvent]:
    """Write a pcap sending ``digits`` as RFC 4733 events inside a silent G.711 stream.

    The stream starts with ``lead_ms`` of silence, then each digit lasts ``duration_ms`` and
    is followed by ``gap_ms`` (which must leave room for the 2 repeated end packets), then
    ``tail_ms`` of silence. Returns the events, with their start offsets.
    """
    if not digits:
        raise ValueError("no DTMF digits to send")
    if gap_ms < 2 * ptime_ms:
        raise ValueError(
            f"gap {gap_ms} ms leaves no room for the 2 end repeats ({ptime_ms} ms each)"
        )
    pt = _codec(codec)
    events = []
    at = lead_ms
    for digit in digits:
        event = DtmfEvent(digit, at, duration_ms, volume)
        _ = event.code  # raises ValueError for a non-DTMF character
        events.append(event)
        at += duration_ms + gap_ms
    samples = 8000 * ptime_ms // 1000
    count = math.ceil((at - gap_ms + tail_ms) / ptime_ms)
    silence = _SILENCE[pt] * samples
    write_rtp_pcap(
        path, [silence] * count, payload_type=pt, ptime_ms=ptime_ms, ssrc=ssrc,
        src_port=src_port, dst_port=dst_port, events=events,
        event_payload_type=event_payload_type,
    )  # fmt: skip
    return events


def read_pcap_rtp(
    path: Path | str,
) -> list[tuple[float, tuple[str, int], tuple[str, int], RtpPacket]]:
    """The RTP packets of an Ethernet/IPv4/UDP pcap: (time, source, destination, packet)."""
    data = Path(path).read_bytes()
    if len(data) < _PCAP_HEADER.size:
        raise ValueError(f"{path}: too short for a pcap header")
    magic, _, _, _, _, _, link = _PCAP_HEADER.unpack_from(data, 0)
    if magic != _PCAP_MAGIC or link != _LINKTYPE_ETHERNET:
        raise ValueError(f"{path}: not a little-endian microsecond Ethernet pcap")
    out = []
    pos = _PCAP_HEADER.size
    while pos < len(data):
        sec, usec, caplen, origlen = _PCAP_RECORD.unpack_from(data, pos)
        pos += _PCAP_RECORD.size
        frame = data[pos : pos + caplen]
        pos += caplen
        if caplen != origlen or len(frame) != caplen:
            raise ValueError(f"{path}: truncated record at offset {pos}")
        ip = frame[14:]
        ihl = (ip[0] & 0x0F) * 4
        src_ip, dst_ip = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
        sport, dport, ulen, _ = struct.unpack_from("!HHHH", ip, ihl)
        packet = RtpPacket.parse(ip[ihl + 8 : ihl + ulen])
        out.append((sec + usec / 1e6, (src_ip, sport), (dst_ip, dport), packet))
    return out


# --------------------------------------------------------------------------------------------
# RTP receiving
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedPacket:
    packet: RtpPacket
    source: tuple[str, int]
    arrival: float
    """``loop.time()`` when it arrived."""


@dataclass(frozen=True)
class ReceivedEvent:
    """One RFC 4733 telephone-event packet as received (minimal parse of its 4 octets)."""

    digit: str | None
    end: bool
    volume: int
    duration: int
    timestamp: int
    sequence_number: int
    marker: bool


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: RtpReceiver) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.owner._received(data, addr)


class RtpReceiver:
    """A UDP socket on ``host:port`` (0: any free port) collecting the RTP sent to it.

    ``async with RtpReceiver() as rx:`` then advertise ``rx.port`` in SDP. Datagrams that
    are not RTP are counted in ``invalid``; at most ``max_packets`` are kept.
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, max_packets: int = 100_000
    ) -> None:
        self.host = host
        self._port = port
        self.max_packets = max_packets
        self.packets: list[ReceivedPacket] = []
        self.invalid = 0
        self.dropped = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._arrived = asyncio.Event()

    async def start(self) -> RtpReceiver:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=(self.host, self._port)
        )
        self._transport = transport
        self._port = transport.get_extra_info("sockname")[1]
        return self

    @property
    def port(self) -> int:
        if self._transport is None:
            raise RuntimeError("RtpReceiver not started")
        return self._port

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    async def __aenter__(self) -> RtpReceiver:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def _received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            packet = RtpPacket.parse(data)
        except RtpError:
            self.invalid += 1
            return
        if len(self.packets) >= self.max_packets:
            self.dropped += 1
            return
        self.packets.append(ReceivedPacket(packet, addr, asyncio.get_running_loop().time()))
        self._arrived.set()

    def clear(self) -> None:
        self.packets.clear()

    @property
    def sources(self) -> set[tuple[str, int]]:
        return {p.source for p in self.packets}

    def _select(
        self, payload_type: int | None, since: float | None, until: float | None
    ) -> list[ReceivedPacket]:
        return [
            p for p in self.packets
            if (payload_type is None or p.packet.payload_type == payload_type)
            and (since is None or p.arrival >= since)
            and (until is None or p.arrival < until)
        ]  # fmt: skip

    async def wait_packets(
        self, count: int, timeout: float, *, payload_type: int | None = None
    ) -> None:
        """Wait until ``count`` packets (of ``payload_type``) arrived; AssertionError if not."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self._select(payload_type, None, None)) < count:
            left = deadline - loop.time()
            if left <= 0:
                got = len(self._select(payload_type, None, None))
                raise AssertionError(
                    f"RTP receiver on port {self._port}: {got} packets (payload type "
                    f"{payload_type}) after {timeout} s, wanted {count}; "
                    f"{len(self.packets)} in all, {self.invalid} invalid"
                )
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)

    def ordered(
        self, *, payload_type: int | None = None, since: float | None = None,
        until: float | None = None,
    ) -> list[RtpPacket]:  # fmt: skip
        """Packets by SSRC (in order of first arrival), then by extended sequence number.

        Duplicates (same SSRC and sequence number) are dropped.
        """
        streams: dict[int, dict[int, RtpPacket]] = {}
        last: dict[int, tuple[int, int]] = {}
        for p in self._select(payload_type, since, until):
            pk = p.packet
            if pk.ssrc in last:
                prev_ext, prev_seq = last[pk.ssrc]
                ext = prev_ext + seq_diff(pk.sequence_number, prev_seq)
            else:
                ext = 0
            last[pk.ssrc] = (ext, pk.sequence_number)
            streams.setdefault(pk.ssrc, {}).setdefault(ext, pk)
        return [pk for by_seq in streams.values() for _, pk in sorted(by_seq.items())]

    def audio(
        self, *, payload_type: int | None = None, since: float | None = None,
        until: float | None = None,
    ) -> npt.NDArray[np.int16]:  # fmt: skip
        """The G.711 (PT 0/8) payloads decoded to int16 at 8 kHz, in sequence order.

        Packets of other payload types (telephone-event, comfort noise) are left out; lost
        packets are not concealed. ``since``/``until`` select by arrival (``loop.time()``).
        """
        if payload_type is not None and payload_type not in _SILENCE:
            raise ValueError(f"payload type {payload_type} is not G.711 (0 or 8)")
        parts = [
            decode(pk.payload, pk.payload_type)
            for pk in self.ordered(payload_type=payload_type, since=since, until=until)
            if pk.payload_type in _SILENCE
        ]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    def events(self, payload_type: int = 101) -> list[ReceivedEvent]:
        """The RFC 4733 packets of ``payload_type``, in sequence order (inline 4-octet parse)."""
        out = []
        for pk in self.ordered(payload_type=payload_type):
            if len(pk.payload) < 4:
                raise AssertionError(f"telephone-event payload of {len(pk.payload)} octets")
            code, flags, duration = struct.unpack_from("!BBH", pk.payload)
            digit = DTMF_DIGITS[code] if code < 16 else None
            out.append(
                ReceivedEvent(digit, bool(flags & 0x80), flags & 0x3F, duration,
                              pk.timestamp, pk.sequence_number, pk.marker)
            )  # fmt: skip
        return out

    def digits(self, payload_type: int = 101) -> str:
        """One DTMF digit per event (distinct RTP timestamp), in order."""
        seen: dict[int, str] = {}
        for ev in self.events(payload_type):
            if ev.digit is not None:
                seen.setdefault(ev.timestamp, ev.digit)
        return "".join(seen.values())


# --------------------------------------------------------------------------------------------
# Tone analysis
# --------------------------------------------------------------------------------------------

SILENCE_DBFS = -120.0


def rms_dbfs(samples: npt.NDArray[np.int16]) -> float:
    """RMS level in dBFS, 0 dBFS being a full-scale sine (so a -12 dBFS tone reads -12)."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        return SILENCE_DBFS
    rms = float(np.sqrt(np.mean(x * x)))
    return (
        max(SILENCE_DBFS, 20 * math.log10(rms * math.sqrt(2) / FULL_SCALE)) if rms else SILENCE_DBFS
    )


def _steady(samples: npt.NDArray[np.int16], rate: int, trim_s: float) -> npt.NDArray[np.float64]:
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    trim = min(round(trim_s * rate), x.size // 4)
    x = x[trim : x.size - trim]
    if x.size < rate // 20:
        raise ValueError(f"only {x.size} samples ({x.size / rate:.3f} s) to measure; need 50 ms")
    return x


def tone_levels(
    samples: npt.NDArray[np.int16],
    rate: int,
    freqs: Iterable[float],
    *,
    trim_s: float = 0.2,
    bandwidth_hz: float = 10.0,
) -> dict[float, float]:
    """The level (dBFS, as :func:`tone`'s ``level_dbfs``) of each frequency in ``samples``.

    The steady part (``trim_s`` off each end, at most a quarter each) goes through one
    Hann-windowed FFT; a tone's level is the power within ``bandwidth_hz`` (at least 2 bins)
    of it, so it is the average over the span: a tone present half the time reads 3 dB low.
    """
    x = _steady(samples, rate, trim_s)
    n = x.size
    window = np.hanning(n)
    power = np.abs(np.fft.rfft(x * window)) ** 2
    bin_hz = rate / n
    half = max(2, math.ceil(bandwidth_hz / bin_hz))
    norm = n * float(np.sum(window**2))
    levels: dict[float, float] = {}
    for f in freqs:
        centre = round(f / bin_hz)
        band = power[max(0, centre - half) : centre + half + 1]
        # A sine of amplitude A puts N*A^2/4*sum(w^2) in its positive-frequency lobe.
        amplitude = 2 * math.sqrt(float(np.sum(band)) / norm)
        levels[f] = (
            max(SILENCE_DBFS, 20 * math.log10(amplitude / FULL_SCALE))
            if amplitude
            else SILENCE_DBFS
        )
    return levels


def assert_hears(
    samples: npt.NDArray[np.int16],
    present: Iterable[float] = (),
    absent: Iterable[float] = (),
    *,
    rate: int = 8000,
    min_dbfs: float = -30.0,
    max_dbfs: float = -50.0,
    who: str = "receiver",
) -> dict[float, float]:
    """Assert the tones in ``present`` are at least ``min_dbfs`` and those in ``absent`` at
    most ``max_dbfs``; return the levels. The message lists every level and the length."""
    present, absent = list(present), list(absent)
    seconds = len(samples) / rate
    if len(samples) < rate // 5:
        raise AssertionError(f"{who} got only {len(samples)} samples ({seconds:.2f} s) of audio")
    levels = tone_levels(samples, rate, present + absent)
    shown = ", ".join(f"{f:g} Hz: {v:.1f} dBFS" for f, v in levels.items())
    problems = [
        f"{f:g} Hz missing ({levels[f]:.1f} < {min_dbfs} dBFS)"
        for f in present
        if levels[f] < min_dbfs
    ]
    problems += [
        f"{f:g} Hz audible ({levels[f]:.1f} > {max_dbfs} dBFS)"
        for f in absent
        if levels[f] > max_dbfs
    ]
    if problems:
        raise AssertionError(
            f"{who}: {'; '.join(problems)} [levels {shown}; {seconds:.2f} s of audio, "
            f"overall {rms_dbfs(samples):.1f} dBFS]"
        )
    return levels


# --------------------------------------------------------------------------------------------
# Running sipp
# --------------------------------------------------------------------------------------------


class SippError(RuntimeError):
    """sipp cannot run as asked (missing, a feature it lacks, bad keys): the message says why."""


@lru_cache(maxsize=1)
def sipp_features() -> frozenset[str]:
    """Features in ``sipp -v`` ("SIPp v3.6.1-SCTP-PCAP-RTPSTREAM" -> SCTP, PCAP, RTPSTREAM)."""
    if not os.path.exists(SIPP):
        raise SippError("sipp is not installed (Debian package sip-tester)")
    out = subprocess.run([SIPP, "-v"], capture_output=True, text=True, timeout=10).stdout
    match = re.search(r"SIPp v([\d.]+)(\S*)", out)
    if not match:
        raise SippError(f"cannot read the version in `sipp -v`: {out[:200]!r}")
    return frozenset(f for f in match.group(2).split("-") if f)


_KEYS_RE = re.compile(r"^\s*keys:(?P<keys>.*)$", re.M)


def scenario_path(scenario: str | Path) -> Path:
    """A scenario by file path, or by name (with or without ``.xml``) in tests/sipp/."""
    path = Path(scenario)
    if not path.is_absolute() and not path.exists():
        path = SCENARIO_DIR / (path.name if path.suffix == ".xml" else f"{path.name}.xml")
    if not path.is_file():
        raise SippError(f"no sipp scenario {scenario!r} (looked for {path})")
    return path


def scenario_keys(scenario: str | Path) -> dict[str, str | None]:
    """The ``-key`` names a scenario declares on the ``keys: a b=default "c=x y"`` line of its
    header comment (shell quoting); None marks a key without default (required)."""
    match = _KEYS_RE.search(scenario_path(scenario).read_text())
    keys: dict[str, str | None] = {}
    if match:
        for item in shlex.split(match.group("keys")):
            name, sep, default = item.partition("=")
            keys[name] = default if sep else None
    return keys


def _proc_ports(kinds: Sequence[str]) -> set[int]:
    ports = set()
    for kind in kinds:
        for fname in (f"/proc/net/{kind}", f"/proc/net/{kind}6"):
            with contextlib.suppress(OSError), open(fname) as f:
                for line in f.readlines()[1:]:
                    cols = line.split()
                    # TCP: only listening sockets (state 0A).
                    if kind == "udp" or cols[3] == "0A":
                        ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def _free_port(kind: int = socket.SOCK_DGRAM, host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _free_media_port(host: str) -> int:
    """A free UDP port p with p+2 free too (sipp binds -mp for audio and -mp + 2 for video)."""
    for _ in range(50):
        p = _free_port(socket.SOCK_DGRAM, host)
        if p % 2 or p > 65530:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((host, p + 2))
            except OSError:
                continue
        return p
    raise SippError("no free pair of UDP ports for sipp's -mp")


_MESSAGE_HEAD = re.compile(r"^\w+ message (sent|received)\b.*$")
_NOISE = re.compile(
    r"receive timeout on message .*jumping to label|Automatic response mode for an unexpected", re.I
)
"""Notes in sipp's error log that are not errors: the 100 ms BYE wait loop, -aa answers."""


@dataclass
class SippResult:
    """What a finished sipp did: exit code, call counters, logs (for assertion messages).

    Exit codes: 0 all calls succeeded, 1 some failed, 97 stopped by an internal command,
    99 no call processed, 255 fatal error (also a global ``-timeout``), 254 cannot bind,
    negative: killed by that signal.
    """

    scenario: str
    args: list[str]
    returncode: int
    counters: dict[str, str] = field(default_factory=dict)
    errors: str = ""
    messages: str = ""
    screen: str = ""
    stderr: str = ""
    killed: bool = False

    def counter(self, name: str) -> int:
        """A cumulative counter of the -trace_stat CSV, e.g. ``SuccessfulCall``."""
        value = self.counters.get(f"{name}(C)")
        return int(value) if value is not None and value.strip().isdigit() else -1

    @property
    def successful(self) -> int:
        return self.counter("SuccessfulCall")

    @property
    def failed(self) -> int:
        return self.counter("FailedCall")

    def exchanged(self) -> list[tuple[str, str]]:
        """(``sent``/``received``, start line) of each message in the -trace_msg log."""
        out = []
        lines = self.messages.splitlines()
        for i, line in enumerate(lines):
            m = _MESSAGE_HEAD.match(line)
            if m:
                start = next((x for x in lines[i + 1 : i + 4] if x.strip()), "")
                out.append((m.group(1), start.strip()))
        return out

    def received(self, what: str) -> int:
        """How many received messages start with ``what`` (a method, or e.g. ``SIP/2.0 487``)."""
        return sum(1 for d, s in self.exchanged() if d == "received" and s.startswith(what))

    def sent(self, what: str) -> int:
        return sum(1 for d, s in self.exchanged() if d == "sent" and s.startswith(what))

    @property
    def error_lines(self) -> list[str]:
        """The error log's entries, without the :data:`_NOISE` notes."""
        text = self.errors.replace("The following events occurred:", "")
        parts = re.split(r"(?=\d{4}-\d\d-\d\d\t)", text)
        return [p.strip() for p in parts if p.strip() and not _NOISE.search(p)]

    def describe(self) -> str:
        flow = " | ".join(f"{'>' if d == 'sent' else '<'} {s}" for d, s in self.exchanged())
        errors = "\n  ".join(self.error_lines[-15:]) or "(none)"
        return (
            f"sipp {self.scenario}: exit {self.returncode}{' (killed)' if self.killed else ''}, "
            f"{self.successful} successful, {self.failed} failed calls\n"
            f"  command: {' '.join(self.args)}\n  messages: {flow or '(none)'}\n"
            f"  errors:\n  {errors}\n  stderr: {self.stderr.strip()[-800:]}"
        )

    def assert_ok(self, successful: int = 1) -> None:
        """Assert exit code 0 and ``successful`` successful calls (message: :meth:`describe`)."""
        if self.returncode != 0 or self.successful != successful or self.failed > 0:
            raise AssertionError(f"expected {successful} successful call(s): {self.describe()}")


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _parse_stat_csv(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return {}
    header = lines[0].rstrip(";").split(";")
    values = lines[-1].rstrip(";").split(";")
    return dict(zip(header, values, strict=False))


_SCREEN_COUNTERS = {"Successful call": "SuccessfulCall(C)", "Failed call": "FailedCall(C)"}


def _parse_screen(text: str) -> dict[str, str]:
    """Fallback: the cumulative column of the last statistics screen."""
    out = {}
    for label, key in _SCREEN_COUNTERS.items():
        found = re.findall(rf"^\s*{label}\s*\|[^|]*\|\s*(\d+)", text, re.M)
        if found:
            out[key] = found[-1]
    return out


class SippProcess:
    """A running sipp (see :func:`sipp`); ``port`` is its SIP port."""

    def __init__(
        self, proc: asyncio.subprocess.Process, scenario: Path, args: list[str],
        workdir: Path, port: int, timeout: float,
    ) -> None:  # fmt: skip
        self.proc = proc
        self.scenario = scenario
        self.args = args
        self.workdir = workdir
        self.port = port
        self.timeout = timeout
        self._result: SippResult | None = None

    @property
    def running(self) -> bool:
        return self.proc.returncode is None

    def _collect(self, returncode: int, stderr: str, killed: bool) -> SippResult:
        w = self.workdir
        counters = _parse_stat_csv(_read(w / "stat.csv"))
        screen = _read(w / "screen.log")
        if "SuccessfulCall(C)" not in counters:
            counters.update(_parse_screen(screen or _read(w / "stdout.log")))
        return SippResult(
            scenario=self.scenario.name, args=self.args, returncode=returncode,
            counters=counters, errors=_read(w / "errors.log"), messages=_read(w / "messages.log"),
            screen=screen, stderr=stderr, killed=killed,
        )  # fmt: skip

    async def wait(self, timeout: float | None = None) -> SippResult:
        """Wait for sipp to end (at most ``timeout``, default its own timeout + 5 s; then it
        is stopped) and return what it did."""
        if self._result is not None:
            return self._result
        killed = False
        try:
            _, err = await asyncio.wait_for(
                self.proc.communicate(), self.timeout + 5 if timeout is None else timeout
            )
        except TimeoutError:
            killed = True
            err = await self._terminate()
        rc = self.proc.returncode
        self._result = self._collect(
            -999 if rc is None else rc, err.decode(errors="replace"), killed
        )
        return self._result

    async def _terminate(self) -> bytes:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                _, err = await asyncio.wait_for(self.proc.communicate(), 3)
                return err or b""
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
        _, err = await self.proc.communicate()
        return err or b""

    async def stop(self) -> SippResult:
        """Stop sipp now (SIGTERM, then SIGKILL) and return what it did."""
        if self._result is None and self.proc.returncode is None:
            err = await self._terminate()
            rc = self.proc.returncode
            self._result = self._collect(
                -999 if rc is None else rc, err.decode(errors="replace"), True
            )
        return await self.wait()


async def start_sipp(
    scenario: str | Path,
    target: str | None = None,
    *,
    workdir: Path,
    keys: Mapping[str, object] | None = None,
    transport: str = "u1",
    calls: int = 1,
    rate: float | None = None,
    limit: int | None = None,
    service: str | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    timeout: float = 15.0,
    auto_answer: bool = True,
    extra: Sequence[str] = (),
) -> SippProcess:
    """Start sipp on ``scenario`` (a tests/sipp/ name or a path) and wait until it listens.

    ``target`` is ``host:port`` for a UAC (None for a UAS). ``keys`` go to ``-key`` (Path
    values made absolute) and are checked against the scenario's ``keys:`` comment, whose
    defaults fill the rest. ``transport``: ``u1``/``un`` UDP, ``t1``/``tn`` TCP, ``l1``/``ln``
    TLS (only if this sipp has it). ``calls`` is ``-m``; ``rate`` calls per second (``-r``);
    ``limit`` simultaneous calls (``-l``); ``service`` the Request-URI user (``-s``).
    ``timeout`` (seconds) becomes sipp's global ``-timeout`` with ``-timeout_error``.
    Logs (``-trace_err``, ``-trace_stat``, ``-trace_msg``, ``-trace_screen``) go to
    ``workdir``; ``-aa`` answers in-call INFO/NOTIFY/OPTIONS/UPDATE with 200.
    """
    path = scenario_path(scenario)
    if not 1 <= calls <= 100_000:
        raise SippError(f"calls {calls} outside 1..100000")
    features = sipp_features()
    if transport not in ("u1", "un", "t1", "tn", "l1", "ln"):
        raise SippError(f"transport {transport!r}: use u1, un, t1, tn, l1 or ln")
    if transport.startswith("l") and "TLS" not in features:
        raise SippError(f"this sipp ({'-'.join(sorted(features))}) is built without TLS")
    declared = scenario_keys(path)
    given = {
        k: str(Path(v).resolve()) if isinstance(v, Path) else str(v)
        for k, v in (keys or {}).items()
    }
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise SippError(
            f"{path.name} does not use key(s) {unknown}; it declares {sorted(declared)}"
        )
    values = {k: v for k, v in declared.items() if v is not None} | given
    missing = sorted(set(declared) - set(values))
    if missing:
        raise SippError(f"{path.name} needs key(s) {missing} (see its keys: comment)")

    workdir.mkdir(parents=True, exist_ok=True)
    tcp = transport[0] in "tl"
    if port is None:
        port = _free_port(socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM, host)
    args = [
        SIPP, "-sf", str(path), "-t", transport, "-i", host, "-p", str(port),
        # No -cp: sipp then finds a free control port itself (8888 upwards) instead of
        # racing for one we picked.
        "-mi", host, "-mp", str(_free_media_port(host)),
        "-m", str(calls), "-nostdin",
        "-timeout", f"{max(1, math.ceil(timeout))}s", "-timeout_error",
        "-trace_err", "-error_file", str(workdir / "errors.log"),
        "-trace_stat", "-stf", str(workdir / "stat.csv"), "-fd", "1",
        "-trace_msg", "-message_file", str(workdir / "messages.log"),
        "-trace_screen", "-screen_file", str(workdir / "screen.log"),
    ]  # fmt: skip
    if rate is not None:
        args += ["-r", f"{rate:g}", "-rp", "1000"]
    if limit is not None:
        args += ["-l", str(limit)]
    if service is not None:
        args += ["-s", service]
    if auto_answer:
        args.append("-aa")
    for k, v in values.items():
        args += ["-key", k, v]
    args += list(extra)
    if target is not None:
        args.append(target)

    stdout = open(workdir / "stdout.log", "wb")  # noqa: SIM115 - handed to the child
    try:
        proc = await asyncio.create_subprocess_exec(
            *args, cwd=workdir, stdin=asyncio.subprocess.DEVNULL, stdout=stdout,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
    finally:
        stdout.close()
    running = SippProcess(proc, path, args, workdir, port, timeout)
    # A UAS is ready when its SIP port is bound (or it already died: wait() will say why).
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while (
        target is None
        and proc.returncode is None
        and port not in _proc_ports(["tcp"] if tcp else ["udp"])
    ):
        if loop.time() > deadline:
            await running.stop()
            raise SippError(f"sipp did not bind port {port} in 5 s: {' '.join(args)}")
        await asyncio.sleep(0.02)
    return running


@asynccontextmanager
async def sipp(
    scenario: str | Path, target: str | None = None, **options: Any
) -> AsyncIterator[SippProcess]:
    """``async with sipp("uas_answer", workdir=..., keys=...) as uas:`` a sipp that is stopped
    at exit if it is still running. Options as :func:`start_sipp`."""
    running = await start_sipp(scenario, target, **options)
    try:
        yield running
    finally:
        if running.running:
            await running.stop()


async def run_sipp(scenario: str | Path, target: str | None = None, **options: Any) -> SippResult:
    """Run sipp to the end (options as :func:`start_sipp`) and return what it did."""
    running = await start_sipp(scenario, target, **options)
    return await running.wait()
