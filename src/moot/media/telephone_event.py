"""RFC 4733 telephone-events (DTMF digits carried in RTP).

Payload format (section 2.3)::

     0                   1                   2                   3
    |     event     |E|R| volume    |          duration             |

``event`` 0-9 are the digits, 10 is ``*``, 11 ``#``, 12-15 ``A``-``D`` (section 3.2).
All packets of one event carry the RTP timestamp of the event's start; the first has the
marker bit set; ``duration`` (in timestamp units) grows in each update; the final packet has
the E bit and is sent three times (section 2.5.1.4) so that one loss does not lose the end.

:class:`DtmfReceiver` reports each digit once, as soon as the first packet of the event
arrives (keyed on the RTP timestamp), so a lost start or lost end packets still give the
digit and the retransmitted ends are not reported again - the behaviour IVRs want.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

__all__ = [
    "DTMF_EVENTS",
    "DtmfReceiver",
    "TelephoneEvent",
    "TelephoneEventError",
    "build_dtmf_events",
    "digit_to_event",
    "event_to_digit",
]

DTMF_EVENTS = "0123456789*#ABCD"
_PAYLOAD = struct.Struct("!BBH")


class TelephoneEventError(ValueError):
    """A telephone-event payload or digit is invalid (the message says why)."""


def event_to_digit(event: int) -> str | None:
    """The DTMF digit of an event code, or None for non-DTMF events (flash, tones)."""
    return DTMF_EVENTS[event] if 0 <= event < 16 else None


def digit_to_event(digit: str) -> int:
    """The event code of a DTMF digit (``0``-``9``, ``*``, ``#``, ``A``-``D``)."""
    index = DTMF_EVENTS.find(digit.upper()) if len(digit) == 1 else -1
    if index < 0:
        raise TelephoneEventError(f"{digit!r} is not a DTMF digit")
    return index


@dataclass(frozen=True)
class TelephoneEvent:
    """One telephone-event payload (4 octets)."""

    event: int
    end: bool = False
    volume: int = 10
    """Power level in -dBm0 (0..63); DTMF senders use about 10."""
    duration: int = 0
    """Duration so far, in RTP timestamp units."""

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        # Several events may be stacked (section 2.5.1.5, redundancy); the first is the one.
        if len(payload) < 4:
            raise TelephoneEventError(f"telephone-event payload of {len(payload)} octets < 4")
        if len(payload) % 4:
            raise TelephoneEventError("telephone-event payload is not a multiple of 4 octets")
        event, flags, duration = _PAYLOAD.unpack_from(payload, 0)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def serialize(self) -> bytes:
        if not 0 <= self.event <= 255:
            raise TelephoneEventError(f"event {self.event} outside 0..255")
        if not 0 <= self.volume <= 63:
            raise TelephoneEventError(f"volume {self.volume} outside 0..63")
        if not 0 <= self.duration <= 0xFFFF:
            raise TelephoneEventError(f"duration {self.duration} outside 0..65535")
        return _PAYLOAD.pack(self.event, (0x80 if self.end else 0) | self.volume, self.duration)


def build_dtmf_events(
    digit: str, *, duration_ms: int = 100, ptime_ms: int = 20, clock_rate: int = 8000
) -> list[TelephoneEvent]:
    """The payloads a sender emits for one digit: updates every ptime, then 3 ends."""
    event = digit_to_event(digit)
    step = clock_rate * ptime_ms // 1000
    total = min(clock_rate * duration_ms // 1000, 0xFFFF)
    out = [TelephoneEvent(event, False, 10, d) for d in range(step, total, step)]
    out += [TelephoneEvent(event, True, 10, total)] * 3
    return out


class DtmfReceiver:
    """Turns received telephone-event packets into one digit per event."""

    def __init__(self, history: int = 16) -> None:
        self._seen: deque[int] = deque(maxlen=history)

    def receive(self, payload: bytes, timestamp: int) -> str | None:
        """Feed one packet; return the digit if this packet starts a new DTMF event.

        Raises :class:`TelephoneEventError` for a malformed payload.
        """
        te = TelephoneEvent.parse(payload)
        if timestamp in self._seen:
            return None
        self._seen.append(timestamp)
        return event_to_digit(te.event)
