"""RTP packets (RFC 3550 section 5.1).

Fixed header::

     0                   1                   2                   3
    |V=2|P|X|  CC   |M|     PT      |       sequence number         |
    |                           timestamp                           |
    |           synchronization source (SSRC) identifier            |
    |            contributing source (CSRC) identifiers (CC x 32)   |

followed, when X is set, by one header extension (16-bit profile-defined value, 16-bit
length in 32-bit words, data) and the payload. When P is set the last octet of the packet
counts the padding octets (including itself) at the end of the payload.

:func:`RtpPacket.parse` is strict: anything that is not a well-formed version 2 packet
raises :class:`RtpError` with the reason. RTCP packets multiplexed on the RTP port
(RFC 5761: payload type octet 192..223) are rejected here; see :func:`is_rtcp`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = [
    "RTP_HEADER_SIZE",
    "RTP_MAX_SIZE",
    "RtpError",
    "RtpPacket",
    "is_rtcp",
    "parse_header",
    "seq_diff",
]

RTP_HEADER_SIZE = 12
RTP_MAX_SIZE = 1500
"""Largest datagram accepted (an Ethernet MTU); audio packets are far smaller."""

_HEADER = struct.Struct("!BBHII")
_EXT = struct.Struct("!HH")


class RtpError(ValueError):
    """A datagram is not a valid RTP packet (the message says why)."""


def is_rtcp(data: bytes) -> bool:
    """True when a datagram on an RTP port looks like RTCP (RFC 5761 section 4)."""
    return len(data) >= 2 and (data[0] >> 6) == 2 and 192 <= data[1] <= 223


def seq_diff(a: int, b: int) -> int:
    """Signed distance a - b between 16-bit sequence numbers, in -32768..32767."""
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


def parse_header(data: bytes) -> tuple[int, bool, int, int, int, int, int]:
    """Validate an RTP datagram's header and locate its payload, without copying.

    Returns ``(payload_type, marker, sequence_number, timestamp, ssrc, payload_start,
    payload_end)``. This is the receive fast path; :meth:`RtpPacket.parse` builds on it.
    """
    size = len(data)
    if size > RTP_MAX_SIZE:
        raise RtpError(f"RTP packet too large: {size} > {RTP_MAX_SIZE} octets")
    if size < RTP_HEADER_SIZE:
        raise RtpError(f"RTP packet too short: {size} < {RTP_HEADER_SIZE} octets")
    first, second, seq, ts, ssrc = _HEADER.unpack_from(data, 0)
    if first >> 6 != 2:
        raise RtpError(f"RTP version {first >> 6} is not 2")
    if 192 <= second <= 223:
        raise RtpError(f"payload type octet {second} is RTCP (RFC 5761), not RTP")
    pos = RTP_HEADER_SIZE + 4 * (first & 0x0F)
    if pos > size:
        raise RtpError(f"RTP packet truncated in its {first & 0x0F} CSRC identifiers")
    if first & 0x10:
        if pos + 4 > size:
            raise RtpError("RTP packet truncated in its header extension header")
        words = (data[pos + 2] << 8) | data[pos + 3]
        pos += 4 + 4 * words
        if pos > size:
            raise RtpError(f"RTP header extension of {words} words is truncated")
    end = size
    if first & 0x20:
        padding = data[-1]
        if padding == 0:
            raise RtpError("RTP padding count is zero")
        if padding > size - pos:
            raise RtpError(f"RTP padding of {padding} octets exceeds the payload")
        end = size - padding
    return second & 0x7F, bool(second & 0x80), seq, ts, ssrc, pos, end


@dataclass
class RtpPacket:
    """One RTP packet; ``payload`` excludes any padding."""

    payload_type: int = 0
    sequence_number: int = 0
    timestamp: int = 0
    ssrc: int = 0
    marker: bool = False
    payload: bytes = b""
    csrc: list[int] = field(default_factory=list)
    extension_profile: int | None = None
    extension: bytes = b""
    padding_size: int = 0
    version: int = 2

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Parse one RTP datagram; raise :class:`RtpError` if it is malformed."""
        size = len(data)
        if size > RTP_MAX_SIZE:
            raise RtpError(f"RTP packet too large: {size} > {RTP_MAX_SIZE} octets")
        if size < RTP_HEADER_SIZE:
            raise RtpError(f"RTP packet too short: {size} < {RTP_HEADER_SIZE} octets")
        first, second, seq, ts, ssrc = _HEADER.unpack_from(data, 0)
        version = first >> 6
        if version != 2:
            raise RtpError(f"RTP version {version} is not 2")
        if 192 <= second <= 223:
            raise RtpError(f"payload type octet {second} is RTCP (RFC 5761), not RTP")
        cc = first & 0x0F
        pos = RTP_HEADER_SIZE + 4 * cc
        if pos > size:
            raise RtpError(f"RTP packet truncated in its {cc} CSRC identifiers")
        csrc = list(struct.unpack_from(f"!{cc}I", data, RTP_HEADER_SIZE)) if cc else []
        ext_profile: int | None = None
        ext = b""
        if first & 0x10:
            if pos + 4 > size:
                raise RtpError("RTP packet truncated in its header extension header")
            ext_profile, ext_words = _EXT.unpack_from(data, pos)
            pos += 4
            end = pos + 4 * ext_words
            if end > size:
                raise RtpError(f"RTP header extension of {ext_words} words is truncated")
            ext = bytes(data[pos:end])
            pos = end
        end = size
        padding = 0
        if first & 0x20:
            padding = data[-1]
            if padding == 0:
                raise RtpError("RTP padding count is zero")
            if padding > size - pos:
                raise RtpError(f"RTP padding of {padding} octets exceeds the payload")
            end = size - padding
        return cls(
            payload_type=second & 0x7F,
            sequence_number=seq,
            timestamp=ts,
            ssrc=ssrc,
            marker=bool(second & 0x80),
            payload=bytes(data[pos:end]),
            csrc=csrc,
            extension_profile=ext_profile,
            extension=ext,
            padding_size=padding,
            version=version,
        )

    def serialize(self) -> bytes:
        """Return the wire form (padding, if any, is zero octets ending with the count)."""
        if not 0 <= self.payload_type <= 127:
            raise RtpError(f"payload type {self.payload_type} is outside 0..127")
        if len(self.csrc) > 15:
            raise RtpError(f"{len(self.csrc)} CSRC identifiers; at most 15")
        if len(self.extension) % 4:
            raise RtpError("RTP header extension length is not a multiple of 4 octets")
        if not 0 <= self.padding_size <= 255:
            raise RtpError(f"padding of {self.padding_size} octets is outside 0..255")
        first = 0x80 | len(self.csrc)
        if self.padding_size:
            first |= 0x20
        if self.extension_profile is not None:
            first |= 0x10
        second = self.payload_type | (0x80 if self.marker else 0)
        if 192 <= second <= 223:
            raise RtpError(
                f"payload type {self.payload_type} with the marker bit reads as RTCP (RFC 5761)"
            )
        out = bytearray(
            _HEADER.pack(
                first,
                second,
                self.sequence_number & 0xFFFF,
                self.timestamp & 0xFFFFFFFF,
                self.ssrc & 0xFFFFFFFF,
            )
        )
        for c in self.csrc:
            out += struct.pack("!I", c & 0xFFFFFFFF)
        if self.extension_profile is not None:
            out += _EXT.pack(self.extension_profile & 0xFFFF, len(self.extension) // 4)
            out += self.extension
        out += self.payload
        if self.padding_size:
            out += bytes(self.padding_size - 1) + bytes([self.padding_size])
        return bytes(out)
