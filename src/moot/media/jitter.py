"""Receive jitter buffer and packet loss concealment.

:class:`JitterBuffer` is a fixed-depth, packet-granular buffer as used by SIP media
servers for audio: packets are stored by RTP sequence number and played out one per
packet time once ``depth`` packets (40-60 ms) have been buffered.

* Reordering: packets are slotted by sequence number, not arrival order.
* Late packets (their sequence number was already played or concealed) are dropped and
  counted in :attr:`JitterBuffer.late`.
* Loss: a missing packet at playout time yields ``None`` (the caller conceals it) and is
  counted in :attr:`JitterBuffer.lost`.
* Drift / bursts: when more than ``max_depth`` packets are waiting the oldest are dropped
  (counted in :attr:`JitterBuffer.discarded`) so the delay stays bounded.
* Silence / hold / restart: after ``reset_after`` consecutive empty playouts the buffer
  re-primes on the next packet, so a sender that paused (or jumped its sequence numbers)
  starts again with the normal depth instead of a stream of "late" packets.

Telephone-event and comfort-noise packets share the sequence space; the caller puts an
empty payload in their slot so they play as silence rather than loss.

:class:`LossConcealer` is the classic simple PLC: a lost frame repeats the last good frame
attenuated (each further loss quieter), and after ``max_repeats`` losses plays silence.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from moot.media.rtp import seq_diff

__all__ = ["PLC_GAINS", "JitterBuffer", "LossConcealer"]

PLC_GAINS = (0.8, 0.5, 0.25)
"""Gain applied to the repeated frame for the 1st, 2nd, 3rd consecutive loss; then 0."""


class JitterBuffer:
    """Fixed-depth reordering buffer of RTP payloads keyed by sequence number."""

    def __init__(self, depth: int = 3, *, max_depth: int = 10, reset_after: int = 5) -> None:
        if depth < 1 or max_depth < depth:
            raise ValueError("need 1 <= depth <= max_depth")
        self.depth = depth
        self.max_depth = max_depth
        self.reset_after = reset_after
        self._slots: dict[int, bytes] = {}
        self._next: int | None = None  # next sequence number to play
        self._primed = False
        self._misses = 0
        self.late = 0
        self.lost = 0
        self.discarded = 0
        self.played = 0

    def __len__(self) -> int:
        return len(self._slots)

    @property
    def primed(self) -> bool:
        return self._primed

    def put(self, seq: int, payload: bytes) -> bool:
        """Store one packet's payload; return False if it is late or a duplicate."""
        slots = self._slots
        nxt = self._next
        if nxt is None:
            self._next = seq
        else:
            ahead = ((seq - nxt + 0x8000) & 0xFFFF) - 0x8000  # seq_diff, inlined
            if ahead < 0:
                self.late += 1
                return False
            if ahead >= 4 * self.max_depth:
                # A jump far ahead: the sender restarted its sequence; start over.
                slots.clear()
                self._next = seq
                self._primed = False
        if seq in slots:
            return False
        slots[seq] = payload
        if not self._primed and len(slots) >= self.depth:
            self._primed = True
            self._next = min(slots, key=lambda s: seq_diff(s, seq))
        if len(slots) > self.max_depth:
            while len(slots) > self.max_depth:
                self._drop_oldest()
        return True

    def _drop_oldest(self) -> None:
        assert self._next is not None
        oldest = min(self._slots, key=lambda s: seq_diff(s, self._next or 0))
        del self._slots[oldest]
        self.discarded += 1
        self._next = (oldest + 1) & 0xFFFF

    def pop(self) -> tuple[bool, bytes | None]:
        """Play out one packet time: ``(playing, payload)``.

        ``playing`` is False while the buffer is priming or idle (play silence, not a
        loss); otherwise ``payload`` is the packet's payload, or None when it is lost.
        """
        if not self._primed or self._next is None:
            return False, None
        payload = self._slots.pop(self._next, None)
        self._next = (self._next + 1) & 0xFFFF
        if payload is not None:
            self._misses = 0
            self.played += 1
            return True, payload
        self._misses += 1
        if self._misses >= self.reset_after and not self._slots:
            # The sender paused (silence suppression, hold): re-prime on its return.
            self._primed = False
            self._next = None
            self._misses = 0
            self.lost -= self.reset_after - 1  # the pause was not loss
            return False, None
        self.lost += 1
        return True, None


class LossConcealer:
    """Repeat the last good frame, attenuated, for up to ``len(PLC_GAINS)`` losses."""

    def __init__(self, samples: int) -> None:
        self._last = np.zeros(samples, dtype=np.int16)
        self._losses = 0

    def good(self, pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
        """Record a correctly received frame and return it."""
        self._last = pcm
        self._losses = 0
        return pcm

    def conceal(self) -> npt.NDArray[np.int16]:
        """A replacement for one lost frame."""
        gain = PLC_GAINS[self._losses] if self._losses < len(PLC_GAINS) else 0.0
        self._losses += 1
        if gain == 0.0:
            return np.zeros_like(self._last)
        return (self._last.astype(np.float32) * gain).astype(np.int16)
