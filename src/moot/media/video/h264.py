"""H.264 over RTP (RFC 6184): packetizer, depacketizer, ``profile-level-id`` and keyframes.

Access units inside Moot are Annex-B byte streams: NAL units each preceded by a start code
(``00 00 00 01`` or ``00 00 01``), as libx264 produces and libavcodec's decoder takes.

Packetization (:func:`packetize`):

* mode 1 (non-interleaved, what WebRTC and most SIP endpoints use): a NAL unit that fits the
  MTU goes as a single NAL unit packet, consecutive small NAL units (SPS, PPS, SEI and small
  slices) are aggregated into one STAP-A, and a NAL unit larger than the MTU is split into
  FU-A fragments of near-equal size;
* mode 0 (single NAL unit mode): every NAL unit goes alone, and one larger than the MTU is
  an error (the encoder must then limit its slice size).

Depacketization (:class:`H264Depacketizer`) accepts single NAL unit packets (types 1-23),
STAP-A (24) and FU-A (28), the packet types of modes 0 and 1. The interleaved-mode types
(STAP-B, MTAP16, MTAP24, FU-B) and malformed payloads damage the access unit they belong
to; the reserved types 0, 30 and 31 are ignored as RFC 6184 section 5.4 asks.

The sequence-number / timestamp / marker bookkeeping common to the video payload formats
is :class:`FrameAssembler` (the VP8 depacketizer derives from it too): a frame is complete on
the marker bit or when the timestamp changes; a sequence gap, or a packet arriving late
(reordering), damages the frame(s) it may belong to, which are then dropped whole, counted
in ``dropped`` and flagged by ``needs_keyframe``. ``push`` never raises on bad input.
"""

from __future__ import annotations

import re

from moot.media.video.rtpframe import FrameAssembler

__all__ = [
    "MTU",
    "NAL_FU_A",
    "NAL_IDR",
    "NAL_PPS",
    "NAL_SPS",
    "NAL_STAP_A",
    "H264Depacketizer",
    "is_keyframe",
    "nal_units",
    "packetize",
    "parse_profile_level_id",
]

NAL_IDR = 5
NAL_SPS = 7
NAL_PPS = 8
NAL_STAP_A = 24
NAL_FU_A = 28

MTU = 1200
"""Largest RTP payload :func:`packetize` writes by default (room for headers, SRTP, a VPN)."""

START_CODE = b"\x00\x00\x00\x01"
_PROFILE_LEVEL_ID = re.compile(r"[0-9A-Fa-f]{6}")


# --- Annex-B --------------------------------------------------------------------------


def nal_units(access_unit: bytes) -> list[bytes]:
    """The NAL units of an Annex-B byte stream, without start codes (empty if there is none).

    Bytes before the first start code and trailing zero bytes (the leading zero of a
    four-byte start code, ``trailing_zero_8bits``) are not part of any NAL unit.
    """
    units: list[bytes] = []
    pos = access_unit.find(b"\x00\x00\x01")
    while pos >= 0:
        start = pos + 3
        pos = access_unit.find(b"\x00\x00\x01", start)
        unit = access_unit[start:] if pos < 0 else access_unit[start:pos]
        unit = unit.rstrip(b"\x00")
        if unit:
            units.append(unit)
    return units


def is_keyframe(access_unit: bytes) -> bool:
    """True when the Annex-B access unit contains an IDR slice (NAL unit type 5)."""
    return any(unit[0] & 0x1F == NAL_IDR for unit in nal_units(access_unit))


def parse_profile_level_id(text: str) -> tuple[int, int, int]:
    """Split an SDP ``profile-level-id`` (RFC 6184 section 8.1, e.g. ``42e01f``).

    Returns ``(profile_idc, profile_iop, level_idc)``; raises ValueError unless ``text``
    is exactly six hexadecimal digits.
    """
    text = text.strip()
    if not _PROFILE_LEVEL_ID.fullmatch(text):
        raise ValueError(f"profile-level-id must be 6 hexadecimal digits, not {text!r}")
    value = int(text, 16)
    return value >> 16, (value >> 8) & 0xFF, value & 0xFF


# --- packetizer -----------------------------------------------------------------------


def packetize(access_unit: bytes, *, mtu: int = MTU, mode: int = 1) -> list[bytes]:
    """Split an Annex-B access unit into RTP payloads of at most ``mtu`` bytes.

    ``mode`` is the SDP ``packetization-mode`` (0 or 1, see the module docstring). The
    caller sets the marker bit on the last payload and gives all of them the frame's
    timestamp. Raises ValueError for a bad mode or MTU, an access unit without NAL units,
    or (mode 0) a NAL unit larger than ``mtu``.
    """
    if mode not in (0, 1):
        raise ValueError(f"packetization-mode {mode} is not supported (0 or 1)")
    if mtu < 3:
        raise ValueError(f"mtu {mtu} is too small for H.264 (at least 3 bytes)")
    units = nal_units(access_unit)
    if not units:
        raise ValueError("not an Annex-B access unit: no start code / NAL unit")
    if mode == 0:
        for unit in units:
            if len(unit) > mtu:
                raise ValueError(
                    f"NAL unit of {len(unit)} bytes exceeds mtu {mtu} in packetization-mode 0"
                )
        return units
    payloads: list[bytes] = []
    group: list[bytes] = []
    group_size = 1  # the STAP-A header
    for unit in units:
        if len(unit) > mtu:
            _flush_group(group, payloads)
            group, group_size = [], 1
            payloads.extend(_fragment(unit, mtu))
            continue
        if group and group_size + 2 + len(unit) > mtu:
            _flush_group(group, payloads)
            group, group_size = [], 1
        group.append(unit)
        group_size += 2 + len(unit)
    _flush_group(group, payloads)
    return payloads


def _flush_group(group: list[bytes], payloads: list[bytes]) -> None:
    """Emit small NAL units: one alone as a single NAL unit packet, several as one STAP-A."""
    if len(group) == 1:
        payloads.append(group[0])
    elif group:
        forbidden = 0
        nri = 0
        for unit in group:
            forbidden |= unit[0] & 0x80
            nri = max(nri, unit[0] & 0x60)
        parts = [bytes((forbidden | nri | NAL_STAP_A,))]
        for unit in group:
            parts.append(len(unit).to_bytes(2, "big"))
            parts.append(unit)
        payloads.append(b"".join(parts))


def _fragment(unit: bytes, mtu: int) -> list[bytes]:
    """FU-A fragments of one NAL unit (longer than ``mtu``), of near-equal sizes."""
    indicator = (unit[0] & 0xE0) | NAL_FU_A
    nal_type = unit[0] & 0x1F
    body = memoryview(unit)[1:]
    room = mtu - 2
    count = -(-len(body) // room)
    size, extra = divmod(len(body), count)
    fragments: list[bytes] = []
    pos = 0
    for index in range(count):
        end = pos + size + (1 if index < extra else 0)
        header = nal_type
        if index == 0:
            header |= 0x80
        if index == count - 1:
            header |= 0x40
        fragments.append(bytes((indicator, header)) + body[pos:end])
        pos = end
    return fragments


# --- depacketizer ---------------------------------------------------------------------


class H264Depacketizer(FrameAssembler):
    """RTP payloads (RFC 6184 modes 0 and 1) -> Annex-B access units."""

    def __init__(self) -> None:
        super().__init__()
        self._units: list[bytes] = []
        self._fragment: bytearray | None = None
        self._fragment_type = 0

    def _add(self, payload: bytes) -> bool:
        if not payload or payload[0] & 0x80:  # empty, or forbidden_zero_bit set
            return False
        kind = payload[0] & 0x1F
        if self._fragment is not None and kind != NAL_FU_A:
            return False  # a fragmented NAL unit without its end
        if 1 <= kind <= 23:
            self._units.append(payload)
            return True
        if kind == NAL_STAP_A:
            return self._add_aggregate(payload)
        if kind == NAL_FU_A:
            return self._add_fragment(payload)
        return kind in (0, 30, 31)  # reserved: ignore; interleaved-mode types: damage

    def _add_aggregate(self, payload: bytes) -> bool:
        pos = 1
        units = []
        while pos < len(payload):
            if pos + 2 > len(payload):
                return False
            size = int.from_bytes(payload[pos : pos + 2], "big")
            pos += 2
            if size == 0 or pos + size > len(payload):
                return False
            unit = payload[pos : pos + size]
            if unit[0] & 0x80 or not 1 <= unit[0] & 0x1F <= 23:
                return False
            units.append(unit)
            pos += size
        self._units.extend(units)
        return bool(units)

    def _add_fragment(self, payload: bytes) -> bool:
        if len(payload) < 3:
            return False
        header = payload[1]
        kind = header & 0x1F
        if not 1 <= kind <= 23:
            return False
        if header & 0x80:  # start
            if self._fragment is not None:
                return False
            self._fragment = bytearray(((payload[0] & 0xE0) | kind,))
            self._fragment_type = kind
        elif self._fragment is None or kind != self._fragment_type:
            return False  # a middle or end fragment without its start
        self._fragment += payload[2:]
        if header & 0x40:  # end
            self._units.append(bytes(self._fragment))
            self._fragment = None
        return True

    def _assemble(self) -> bytes | None:
        if self._fragment is not None:
            return None
        return b"".join(START_CODE + unit for unit in self._units)

    def _clear(self) -> None:
        self._units = []
        self._fragment = None
