"""VP8 over RTP (RFC 7741): packetizer, depacketizer and keyframe detection.

Payload descriptor written by :func:`packetize` (4 bytes, RFC 7741 section 4.2)::

     0 1 2 3 4 5 6 7
    |X|R|N|S|R| PID |   X=1, S=1 on the first packet of a frame, PID=0
    |I|L|T|K| RSV   |   I=1: a PictureID follows
    |M| PictureID   |   M=1: the PictureID has 15 bits
    |   PictureID   |

The frame is split into packets of near-equal size (PID stays 0 for all of them, which
RFC 7741 allows). :class:`Vp8Depacketizer` parses any descriptor (7- or 15-bit PictureID,
TL0PICIDX, TID/KEYIDX), reassembles frames starting at a packet with S=1 and PID=0, and
shares the loss / reordering handling of :class:`moot.media.video.rtpframe.FrameAssembler`:
damaged frames are dropped whole and set ``needs_keyframe``; ``push`` never raises.
"""

from __future__ import annotations

from moot.media.video.rtpframe import FrameAssembler

__all__ = ["DESCRIPTOR_SIZE", "Vp8Depacketizer", "is_keyframe", "packetize"]

DESCRIPTOR_SIZE = 4
"""Bytes of payload descriptor :func:`packetize` puts in front of each packet."""

_KEYFRAME_START_CODE = b"\x9d\x01\x2a"


def is_keyframe(frame: bytes) -> bool:
    """True when the VP8 frame is a key frame (RFC 6386 section 9.1 frame tag, start code)."""
    return len(frame) >= 10 and not frame[0] & 0x01 and frame[3:6] == _KEYFRAME_START_CODE


def packetize(frame: bytes, *, picture_id: int, mtu: int = 1200) -> list[bytes]:
    """Split a VP8 frame into RTP payloads of at most ``mtu`` bytes.

    ``picture_id`` is the frame's PictureID, a counter the caller increments per frame; it
    is taken modulo 2**15. The caller sets the marker bit on the last payload. Raises
    ValueError for an empty frame, a negative ``picture_id`` or an MTU below 5 bytes.
    """
    if not frame:
        raise ValueError("empty VP8 frame")
    if picture_id < 0:
        raise ValueError(f"picture_id must not be negative: {picture_id}")
    if mtu <= DESCRIPTOR_SIZE:
        raise ValueError(f"mtu {mtu} is too small for VP8 (at least {DESCRIPTOR_SIZE + 1} bytes)")
    picture_id &= 0x7FFF
    tail = bytes((0x80, 0x80 | picture_id >> 8, picture_id & 0xFF))
    room = mtu - DESCRIPTOR_SIZE
    count = -(-len(frame) // room)
    size, extra = divmod(len(frame), count)
    view = memoryview(frame)
    payloads: list[bytes] = []
    pos = 0
    for index in range(count):
        end = pos + size + (1 if index < extra else 0)
        first = 0x90 if index == 0 else 0x80
        payloads.append(bytes((first,)) + tail + view[pos:end])
        pos = end
    return payloads


def _parse_descriptor(payload: bytes) -> tuple[bool, int | None, int]:
    """``(starts_frame, picture_id, header_size)`` of a payload; IndexError if truncated."""
    first = payload[0]
    starts_frame = bool(first & 0x10) and first & 0x0F == 0
    picture_id = None
    pos = 1
    if first & 0x80:
        flags = payload[1]
        pos = 2
        if flags & 0x80:
            if payload[pos] & 0x80:
                picture_id = ((payload[pos] & 0x7F) << 8) | payload[pos + 1]
                pos += 2
            else:
                picture_id = payload[pos]
                pos += 1
        if flags & 0x40:  # TL0PICIDX
            pos += 1
        if flags & 0x30:  # TID/Y/KEYIDX
            pos += 1
    return starts_frame, picture_id, pos


class Vp8Depacketizer(FrameAssembler):
    """RTP payloads (RFC 7741) -> VP8 frames."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []
        self._started = False
        self._picture_id: int | None = None

    def _add(self, payload: bytes) -> bool:
        starts_frame, picture_id, pos = _parse_descriptor(payload)
        if pos >= len(payload):
            return False  # truncated descriptor, or no VP8 data at all
        if starts_frame:
            if self._started:
                return False  # a second frame start within one timestamp
            self._started = True
            self._picture_id = picture_id
        elif not self._started:
            return False  # the start of the frame is missing
        elif None not in (picture_id, self._picture_id) and picture_id != self._picture_id:
            return False  # a part of another picture
        self._parts.append(payload[pos:])
        return True

    def _assemble(self) -> bytes | None:
        if not self._started:
            return b""
        frame = b"".join(self._parts)
        if len(frame) < 3 or (not frame[0] & 0x01 and not is_keyframe(frame)):
            return None  # not even a frame tag, or a key frame without its start code
        return frame

    def _clear(self) -> None:
        self._parts = []
        self._started = False
        self._picture_id = None
