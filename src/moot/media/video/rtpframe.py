"""Reassembling one video frame from its RTP packets: sequence, timestamp and loss handling
shared by the payload formats (:mod:`moot.media.video.h264`, :mod:`moot.media.video.vp8`).

A frame ends with the marker bit or when the timestamp changes. A sequence gap damages the
frame in progress (and the one the new packet belongs to); damaged frames are dropped whole
and set :attr:`FrameAssembler.needs_keyframe` at once. Late, reordered and duplicate packets
are ignored; a lower sequence number with a newer timestamp is a sender that restarted.
"""

from __future__ import annotations

from collections import deque

from moot.media.rtp import seq_diff

__all__ = ["MAX_ACCESS_UNIT", "FrameAssembler"]

MAX_ACCESS_UNIT = 4 * 1024 * 1024
"""Largest frame a depacketizer assembles (bytes); beyond it the frame counts as damaged."""

def _timestamp_diff(a: int, b: int) -> int:
    """Signed distance a - b between 32-bit RTP timestamps."""
    return ((a - b + 0x80000000) & 0xFFFFFFFF) - 0x80000000


class FrameAssembler:
    """Gathers the RTP payloads of one video frame; the payload format is a subclass.

    Subclasses implement :meth:`_add` (take one payload of the frame in progress, return
    False if it is malformed), :meth:`_assemble` (the finished frame, ``b""`` if there is
    nothing to deliver, None if it is incomplete) and :meth:`_clear`.
    """

    def __init__(self) -> None:
        self.needs_keyframe = False
        """Set as soon as loss or a malformed payload damages a frame; the caller clears it
        after requesting a key frame (PLI / FIR)."""
        self.access_units = 0
        """Frames delivered."""
        self.dropped = 0
        """Frames dropped because of loss, reordering or malformed payloads."""
        self._sequence: int | None = None
        self._last_timestamp = 0
        self._timestamp: int | None = None  # of the frame in progress
        self._damaged = False
        self._size = 0
        self._ready: deque[bytes] = deque()

    def push(self, payload: bytes, *, sequence: int, timestamp: int, marker: bool) -> bytes | None:
        """Add one RTP payload; return a complete frame when one is, else None."""
        sequence &= 0xFFFF
        timestamp &= 0xFFFFFFFF
        lost = False
        if self._sequence is not None:
            gap = seq_diff(sequence, self._sequence)
            if gap == 0:
                return self._pop()  # duplicate
            if gap < 0 and _timestamp_diff(timestamp, self._last_timestamp) <= 0:
                # Late (reordered) packet: the gap it left was already counted as loss.
                return self._pop()
            lost = gap != 1  # a gap, or a sender that restarted its sequence numbers
        self._sequence = sequence
        self._last_timestamp = timestamp
        if self._timestamp is not None and timestamp != self._timestamp:
            if lost:
                self._damage()  # the end of the frame in progress may be missing
            self._finish()
        if self._timestamp is None:
            self._timestamp = timestamp
            self._damaged = False
            self._size = 0
        if lost:
            self._damage()  # this frame may miss its beginning, or a middle part
        if not self._damaged:
            self._size += len(payload)
            try:
                good = self._size <= MAX_ACCESS_UNIT and self._add(payload)
            except (IndexError, ValueError):
                good = False
            if not good:
                self._damage()
        if marker:
            self._finish()
        return self._pop()

    def _damage(self) -> None:
        self.needs_keyframe = True  # at once, not when the damaged frame ends
        if not self._damaged:
            self._damaged = True
            self._clear()

    def _finish(self) -> None:
        frame = None if self._damaged else self._assemble()
        self._clear()
        self._timestamp = None
        self._damaged = False
        if frame is None:
            self.dropped += 1
            self.needs_keyframe = True
        elif frame:
            self.access_units += 1
            self._ready.append(frame)

    def _pop(self) -> bytes | None:
        return self._ready.popleft() if self._ready else None

    def _add(self, payload: bytes) -> bool:
        raise NotImplementedError

    def _assemble(self) -> bytes | None:
        raise NotImplementedError

    def _clear(self) -> None:
        raise NotImplementedError
