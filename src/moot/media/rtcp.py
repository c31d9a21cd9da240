"""RTCP (RFC 3550 section 6): SR, RR, SDES CNAME and BYE, compound packets, and the
receiver statistics of appendix A.1/A.3 (loss) and A.8 (interarrival jitter); the feedback
messages video needs (RFC 4585 section 6: PLI, generic NACK; RFC 5104: FIR, TMMBR; REMB).

Every RTCP packet starts with::

    |V=2|P|    RC   |   PT=SR=200   |             length            |

where ``length`` is the packet's size in 32-bit words minus one. A compound packet is
several RTCP packets back to back in one datagram; only the last may be padded
(section 6.4.1 / A.2). Feedback packets (RTPFB 205, PSFB 206) parse into
:class:`RtcpFeedback` (the FCI left raw; :func:`pli`, :func:`fir`, :func:`remb_bitrate` and
:func:`tmmbr_bitrate` build or read the ones used). Packet types this module does not model
(APP, XR) are skipped when a compound packet is parsed, as a receiver must (section 6.1).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "NTP_EPOCH_OFFSET",
    "RTCP_MAX_SIZE",
    "ReceiverStatistics",
    "ReportBlock",
    "RtcpBye",
    "RtcpError",
    "RtcpFeedback",
    "RtcpPacket",
    "RtcpReceiverReport",
    "RtcpSdes",
    "RtcpSenderReport",
    "fir",
    "ntp_middle32",
    "ntp_now",
    "parse_compound",
    "pli",
    "remb_bitrate",
    "report",
    "serialize_compound",
    "tmmbr_bitrate",
]

RTCP_MAX_SIZE = 1500
NTP_EPOCH_OFFSET = 2208988800
"""Seconds from the NTP epoch (1900) to the Unix epoch (1970)."""

PT_SR = 200
PT_RR = 201
PT_SDES = 202
PT_BYE = 203
PT_RTPFB = 205
PT_PSFB = 206
FMT_NACK = 1
FMT_TMMBR = 3
FMT_PLI = 1
FMT_FIR = 4
FMT_AFB = 15
SDES_CNAME = 1

_HEADER = struct.Struct("!BBH")
_BLOCK = struct.Struct("!IBBHIIII")  # ssrc, fraction, cumulative lost (24 bits), ...
_SR_INFO = struct.Struct("!IIIIII")  # ssrc, ntp msw, ntp lsw, rtp ts, packets, octets


class RtcpError(ValueError):
    """A datagram is not a valid RTCP (compound) packet (the message says why)."""


def ntp_now(now: float | None = None) -> int:
    """The 64-bit NTP timestamp (32.32 fixed point seconds since 1900) of a Unix time."""
    t = time.time() if now is None else now
    return int((t + NTP_EPOCH_OFFSET) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF


def ntp_middle32(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp, as carried in LSR (section 6.4.1)."""
    return (ntp >> 16) & 0xFFFFFFFF


@dataclass
class ReportBlock:
    """One reception report block (section 6.4.1)."""

    ssrc: int
    fraction_lost: int = 0
    """Packets lost since the last report, as a fixed point fraction x/256."""
    packets_lost: int = 0
    """Cumulative number of packets lost (signed 24 bits; duplicates can make it < 0)."""
    highest_sequence: int = 0
    """Extended highest sequence number received (cycles << 16 | seq)."""
    jitter: int = 0
    """Interarrival jitter in timestamp units."""
    lsr: int = 0
    """Middle 32 bits of the NTP timestamp of the last SR received from this source."""
    dlsr: int = 0
    """Delay since that SR, in units of 1/65536 s."""

    def serialize(self) -> bytes:
        lost = max(-0x800000, min(0x7FFFFF, self.packets_lost)) & 0xFFFFFF
        return _BLOCK.pack(
            self.ssrc & 0xFFFFFFFF,
            self.fraction_lost & 0xFF,
            lost >> 16,
            lost & 0xFFFF,
            self.highest_sequence & 0xFFFFFFFF,
            self.jitter & 0xFFFFFFFF,
            self.lsr & 0xFFFFFFFF,
            self.dlsr & 0xFFFFFFFF,
        )

    @classmethod
    def parse(cls, data: bytes, pos: int) -> ReportBlock:
        ssrc, fraction, lost_hi, lost_lo, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(
            data, pos
        )
        lost = (lost_hi << 16) | lost_lo
        if lost & 0x800000:
            lost -= 0x1000000
        return cls(ssrc, fraction, lost, highest, jitter, lsr, dlsr)


@dataclass
class RtcpSenderReport:
    """SR (PT 200): sender info plus reception report blocks."""

    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: list[ReportBlock] = field(default_factory=list)


@dataclass
class RtcpReceiverReport:
    """RR (PT 201): reception report blocks from a participant that did not send."""

    ssrc: int
    reports: list[ReportBlock] = field(default_factory=list)


@dataclass
class RtcpSdes:
    """SDES (PT 202) reduced to what RTP endpoints use: one CNAME per SSRC chunk."""

    chunks: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class RtcpBye:
    """BYE (PT 203): sources leaving, with an optional reason."""

    sources: list[int] = field(default_factory=list)
    reason: str = ""


@dataclass
class RtcpFeedback:
    """A feedback message (RFC 4585 section 6.1): transport layer (RTPFB, PT 205) or
    payload-specific (PSFB, PT 206); ``fmt`` says which (PSFB 1 = PLI, 4 = FIR, 15 = an
    application's, e.g. REMB; RTPFB 1 = generic NACK, 3 = TMMBR)."""

    pt: int
    fmt: int
    sender_ssrc: int
    media_ssrc: int
    fci: bytes = b""

    @property
    def is_pli(self) -> bool:
        return self.pt == PT_PSFB and self.fmt == FMT_PLI

    @property
    def is_fir(self) -> bool:
        return self.pt == PT_PSFB and self.fmt == FMT_FIR


RtcpPacket = RtcpSenderReport | RtcpReceiverReport | RtcpSdes | RtcpBye | RtcpFeedback


def report(ssrc: int, cname: str, *, packets_sent: int, octets_sent: int, rtp_timestamp: int,
           reports: list[ReportBlock]) -> list[RtcpPacket]:
    """A stream's regular report (RFC 3550 6.4): an SR once it has sent (``octets_sent``
    counts whole packets; the SR's octet count is the payload, so 12 header octets per
    packet are taken off), else an RR; then its SDES CNAME."""
    first: RtcpPacket
    if packets_sent:
        first = RtcpSenderReport(ssrc=ssrc, ntp_timestamp=ntp_now(), rtp_timestamp=rtp_timestamp,
                                 packet_count=packets_sent,
                                 octet_count=max(0, octets_sent - 12 * packets_sent), reports=reports)
    else:
        first = RtcpReceiverReport(ssrc=ssrc, reports=reports)
    return [first, RtcpSdes([(ssrc, cname)])]


def pli(sender_ssrc: int, media_ssrc: int) -> RtcpFeedback:
    """Picture Loss Indication (RFC 4585 section 6.3.1): no FCI."""
    return RtcpFeedback(PT_PSFB, FMT_PLI, sender_ssrc, media_ssrc)


def fir(sender_ssrc: int, media_ssrc: int, seq: int) -> RtcpFeedback:
    """Full Intra Request (RFC 5104 section 4.3.1): media SSRC 0, the target in the FCI."""
    return RtcpFeedback(PT_PSFB, FMT_FIR, sender_ssrc, 0,
                        struct.pack("!IB3x", media_ssrc & 0xFFFFFFFF, seq & 0xFF))


def _mantissa_bitrate(exp: int, mantissa: int) -> int:
    return mantissa << exp


def remb_bitrate(packet: RtcpFeedback) -> int | None:
    """The bit rate of a REMB message (draft-alvestrand-rmcat-remb), None if it is not one."""
    fci = packet.fci
    if packet.pt != PT_PSFB or packet.fmt != FMT_AFB or len(fci) < 8 or fci[:4] != b"REMB":
        return None
    exp = fci[5] >> 2
    mantissa = ((fci[5] & 0x03) << 16) | (fci[6] << 8) | fci[7]
    return _mantissa_bitrate(exp, mantissa)


def tmmbr_bitrate(packet: RtcpFeedback) -> int | None:
    """The maximum bit rate a TMMBR (RFC 5104 section 4.2.1) asks for, None if not one."""
    if packet.pt != PT_RTPFB or packet.fmt != FMT_TMMBR or len(packet.fci) < 8:
        return None
    (word,) = struct.unpack_from("!I", packet.fci, 4)
    return _mantissa_bitrate(word >> 26, (word >> 9) & 0x1FFFF)


def _pad4(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


def _header(count: int, pt: int, body: bytes) -> bytes:
    if len(body) % 4:
        raise RtcpError("RTCP packet body is not a multiple of 4 octets")
    if count > 31:
        raise RtcpError(f"{count} items in one RTCP packet; at most 31")
    return _HEADER.pack(0x80 | count, pt, len(body) // 4) + body


def serialize_packet(packet: RtcpPacket) -> bytes:
    """Serialize one RTCP packet."""
    if isinstance(packet, RtcpSenderReport):
        body = _SR_INFO.pack(
            packet.ssrc & 0xFFFFFFFF,
            (packet.ntp_timestamp >> 32) & 0xFFFFFFFF,
            packet.ntp_timestamp & 0xFFFFFFFF,
            packet.rtp_timestamp & 0xFFFFFFFF,
            packet.packet_count & 0xFFFFFFFF,
            packet.octet_count & 0xFFFFFFFF,
        ) + b"".join(r.serialize() for r in packet.reports)
        return _header(len(packet.reports), PT_SR, body)
    if isinstance(packet, RtcpReceiverReport):
        body = struct.pack("!I", packet.ssrc & 0xFFFFFFFF) + b"".join(
            r.serialize() for r in packet.reports
        )
        return _header(len(packet.reports), PT_RR, body)
    if isinstance(packet, RtcpSdes):
        body = b""
        for ssrc, cname in packet.chunks:
            text = cname.encode()
            if len(text) > 255:
                raise RtcpError("SDES CNAME longer than 255 octets")
            # Items end with a null octet; the chunk is padded to 32 bits with nulls.
            chunk = struct.pack("!IBB", ssrc & 0xFFFFFFFF, SDES_CNAME, len(text)) + text + b"\0"
            body += _pad4(chunk)
        return _header(len(packet.chunks), PT_SDES, body)
    if isinstance(packet, RtcpFeedback):
        body = struct.pack("!II", packet.sender_ssrc & 0xFFFFFFFF, packet.media_ssrc & 0xFFFFFFFF)
        return _header(packet.fmt, packet.pt, body + _pad4(packet.fci))
    reason = packet.reason.encode()
    if len(reason) > 255:
        raise RtcpError("BYE reason longer than 255 octets")
    body = b"".join(struct.pack("!I", s & 0xFFFFFFFF) for s in packet.sources)
    if reason:
        body += _pad4(bytes([len(reason)]) + reason)
    return _header(len(packet.sources), PT_BYE, body)


def serialize_compound(packets: Sequence[RtcpPacket]) -> bytes:
    """Serialize packets into one compound RTCP datagram."""
    return b"".join(serialize_packet(p) for p in packets)


def _parse_sdes(count: int, body: bytes) -> RtcpSdes:
    chunks: list[tuple[int, str]] = []
    pos = 0
    for _ in range(count):
        if pos + 4 > len(body):
            raise RtcpError("SDES chunk truncated")
        (ssrc,) = struct.unpack_from("!I", body, pos)
        pos += 4
        cname = ""
        while True:
            if pos >= len(body):
                raise RtcpError("SDES item list is not terminated")
            item_type = body[pos]
            if item_type == 0:
                pos += 1
                pos += -pos % 4  # skip the padding to the next 32-bit boundary
                break
            if pos + 2 > len(body):
                raise RtcpError("SDES item truncated")
            length = body[pos + 1]
            if pos + 2 + length > len(body):
                raise RtcpError("SDES item text truncated")
            if item_type == SDES_CNAME:
                cname = body[pos + 2 : pos + 2 + length].decode("utf-8", "replace")
            pos += 2 + length
        chunks.append((ssrc, cname))
    return RtcpSdes(chunks)


def parse_compound(data: bytes) -> list[RtcpPacket]:
    """Parse a (compound) RTCP datagram; raise :class:`RtcpError` if malformed."""
    size = len(data)
    if size > RTCP_MAX_SIZE:
        raise RtcpError(f"RTCP datagram too large: {size} > {RTCP_MAX_SIZE} octets")
    if size < 4:
        raise RtcpError(f"RTCP datagram too short: {size} octets")
    packets: list[RtcpPacket] = []
    pos = 0
    while pos < size:
        if pos + 4 > size:
            raise RtcpError("RTCP packet header truncated")
        first, pt, words = _HEADER.unpack_from(data, pos)
        if first >> 6 != 2:
            raise RtcpError(f"RTCP version {first >> 6} is not 2")
        end = pos + 4 + 4 * words
        if end > size:
            raise RtcpError(f"RTCP packet length {words} words exceeds the datagram")
        count = first & 0x1F
        body_end = end
        if first & 0x20:
            if end != size:
                raise RtcpError("only the last packet of a compound RTCP packet may be padded")
            padding = data[end - 1]
            if padding == 0 or padding > 4 * words:
                raise RtcpError(f"bad RTCP padding count {padding}")
            body_end = end - padding
        body = bytes(data[pos + 4 : body_end])
        if pt == PT_SR:
            if len(body) < 24 + 24 * count:
                raise RtcpError(f"SR too short for {count} report blocks")
            ssrc, msw, lsw, rtp_ts, pkts, octets = _SR_INFO.unpack_from(body, 0)
            reports = [ReportBlock.parse(body, 24 + 24 * i) for i in range(count)]
            packets.append(RtcpSenderReport(ssrc, (msw << 32) | lsw, rtp_ts, pkts, octets, reports))
        elif pt == PT_RR:
            if len(body) < 4 + 24 * count:
                raise RtcpError(f"RR too short for {count} report blocks")
            (ssrc,) = struct.unpack_from("!I", body, 0)
            reports = [ReportBlock.parse(body, 4 + 24 * i) for i in range(count)]
            packets.append(RtcpReceiverReport(ssrc, reports))
        elif pt == PT_SDES:
            packets.append(_parse_sdes(count, body))
        elif pt == PT_BYE:
            if len(body) < 4 * count:
                raise RtcpError(f"BYE too short for {count} sources")
            sources = list(struct.unpack_from(f"!{count}I", body, 0))
            reason = ""
            rpos = 4 * count
            if rpos < len(body):
                length = body[rpos]
                if rpos + 1 + length > len(body):
                    raise RtcpError("BYE reason truncated")
                reason = body[rpos + 1 : rpos + 1 + length].decode("utf-8", "replace")
            packets.append(RtcpBye(sources, reason))
        elif pt in (PT_RTPFB, PT_PSFB):
            if len(body) < 8:
                raise RtcpError("feedback message shorter than its two SSRCs")
            sender, media = struct.unpack_from("!II", body, 0)
            packets.append(RtcpFeedback(pt, count, sender, media, body[8:]))
        elif not 192 <= pt <= 223:
            raise RtcpError(f"packet type {pt} is not RTCP")
        pos = end
    return packets


# --- Receiver statistics (appendix A.1, A.3, A.8) -------------------------------------

MAX_DROPOUT = 3000
MAX_MISORDER = 100
MIN_SEQUENTIAL = 2
RTP_SEQ_MOD = 1 << 16


class ReceiverStatistics:
    """Per-source reception state: sequence validation (A.1), loss (A.3), jitter (A.8).

    Call :meth:`update` for every RTP packet received from the source with its arrival
    time in RTP timestamp units; :meth:`report_block` builds the RR/SR block and starts a
    new reporting interval.
    """

    def __init__(self, ssrc: int, clock_rate: int, *, probation: int = MIN_SEQUENTIAL) -> None:
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self.max_seq = 0
        self.cycles = 0
        self.base_seq = 0
        self.bad_seq = RTP_SEQ_MOD + 1
        self.probation = probation
        self.received = 0
        self.expected_prior = 0
        self.received_prior = 0
        self.transit: int | None = None
        self.jitter_q4 = 0  # jitter scaled by 16, as in A.8's integer variant
        self.last_sr_ntp_middle = 0
        self.last_sr_arrival: float | None = None
        self._started = False

    def _init_seq(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = RTP_SEQ_MOD + 1
        self.cycles = 0
        self.received = 0
        self.received_prior = 0
        self.expected_prior = 0

    def update(self, seq: int, timestamp: int, arrival: int) -> bool:
        """Account for one packet; return False if A.1 says it is not (yet) valid.

        ``arrival`` is the arrival time converted to the stream's RTP clock.
        """
        if not self._started:
            self._started = True
            self._init_seq(seq)
            if self.probation:
                self.max_seq = (seq - 1) & 0xFFFF
                valid = self._update_seq(seq)
            else:  # no probation (a signalled stream): the first packet counts
                self.received = 1
                valid = True
        else:
            valid = self._update_seq(seq)
        if valid:
            transit = (arrival - timestamp) & 0xFFFFFFFF
            if self.transit is not None:
                d = (transit - self.transit) & 0xFFFFFFFF
                if d >= 0x80000000:
                    d = 0x100000000 - d
                # J(i) = J(i-1) + (|D(i-1,i)| - J(i-1))/16, with J kept scaled by 16.
                self.jitter_q4 += d - ((self.jitter_q4 + 8) >> 4)
            self.transit = transit
        return valid

    def _update_seq(self, seq: int) -> bool:
        udelta = (seq - self.max_seq) & 0xFFFF
        if self.probation:
            if seq == ((self.max_seq + 1) & 0xFFFF):
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init_seq(seq)
                    self.received += 1
                    return True
            else:
                self.probation = MIN_SEQUENTIAL - 1
                self.max_seq = seq
            return False
        if udelta < MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += RTP_SEQ_MOD
            self.max_seq = seq
        elif udelta <= RTP_SEQ_MOD - MAX_MISORDER:
            if seq == self.bad_seq:
                # Two sequential packets after a large jump: the source restarted.
                self._init_seq(seq)
            else:
                self.bad_seq = (seq + 1) & (RTP_SEQ_MOD - 1)
                return False
        # else: duplicate or reordered packet, counted below
        self.received += 1
        return True

    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        return self.extended_max - self.base_seq + 1 if self.received or self.cycles else 0

    @property
    def packets_lost(self) -> int:
        """Cumulative lost = expected - received, clamped to signed 24 bits (A.3)."""
        lost = self.expected - self.received
        return max(-0x800000, min(0x7FFFFF, lost))

    @property
    def jitter(self) -> int:
        """Interarrival jitter in timestamp units."""
        return self.jitter_q4 >> 4

    @property
    def jitter_ms(self) -> float:
        return 1000.0 * self.jitter_q4 / 16.0 / self.clock_rate

    def sender_report_received(self, ntp_timestamp: int, now: float) -> None:
        """Remember an SR from the source for the LSR/DLSR fields."""
        self.last_sr_ntp_middle = ntp_middle32(ntp_timestamp)
        self.last_sr_arrival = now

    def report_block(self, now: float) -> ReportBlock:
        """Build the report block for this source and start a new interval (A.3)."""
        expected = self.expected
        expected_interval = expected - self.expected_prior
        self.expected_prior = expected
        received_interval = self.received - self.received_prior
        self.received_prior = self.received
        lost_interval = expected_interval - received_interval
        fraction = 0
        if expected_interval > 0 and lost_interval > 0:
            fraction = (lost_interval << 8) // expected_interval
        dlsr = 0
        if self.last_sr_arrival is not None:
            dlsr = int((now - self.last_sr_arrival) * 65536) & 0xFFFFFFFF
        return ReportBlock(
            ssrc=self.ssrc,
            fraction_lost=min(fraction, 255),
            packets_lost=self.packets_lost,
            highest_sequence=self.extended_max & 0xFFFFFFFF,
            jitter=self.jitter,
            lsr=self.last_sr_ntp_middle,
            dlsr=dlsr if self.last_sr_arrival is not None else 0,
        )
