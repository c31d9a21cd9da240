from __future__ import annotations

import pytest

from moot.media.telephone_event import (
    DtmfReceiver,
    TelephoneEvent,
    TelephoneEventError,
    build_dtmf_events,
    digit_to_event,
    event_to_digit,
)


def test_payload_wire_format() -> None:
    # RFC 4733 figure: event 5, E=1, volume 10, duration 800.
    data = TelephoneEvent(5, True, 10, 800).serialize()
    assert data == bytes([5, 0x80 | 10, 0x03, 0x20])
    assert TelephoneEvent.parse(data) == TelephoneEvent(5, True, 10, 800)
    assert TelephoneEvent.parse(bytes([11, 10, 0, 160])) == TelephoneEvent(11, False, 10, 160)


@pytest.mark.parametrize(
    ("payload", "reason"), [(b"\x01\x02", "< 4"), (b"\x01\x02\x03\x04\x05", "multiple of 4")]
)
def test_bad_payloads(payload: bytes, reason: str) -> None:
    with pytest.raises(TelephoneEventError, match=reason):
        TelephoneEvent.parse(payload)


def test_serialize_limits() -> None:
    with pytest.raises(TelephoneEventError, match="volume"):
        TelephoneEvent(1, volume=64).serialize()
    with pytest.raises(TelephoneEventError, match="duration"):
        TelephoneEvent(1, duration=70000).serialize()


def test_digit_mapping() -> None:
    assert [event_to_digit(e) for e in range(16)] == list("0123456789*#ABCD")
    assert event_to_digit(16) is None  # flash
    assert digit_to_event("#") == 11 and digit_to_event("d") == 15
    with pytest.raises(TelephoneEventError):
        digit_to_event("X")


def test_sender_sequence_ends_three_times() -> None:
    events = build_dtmf_events("7", duration_ms=100)
    assert [e.end for e in events] == [False] * 4 + [True] * 3
    assert [e.duration for e in events] == [160, 320, 480, 640, 800, 800, 800]
    assert {e.event for e in events} == {7}


def test_receiver_reports_each_digit_once() -> None:
    rx = DtmfReceiver()
    digits = []
    for ts, digit in ((1000, "1"), (3000, "#"), (5000, "1")):
        for e in build_dtmf_events(digit):
            got = rx.receive(e.serialize(), ts)
            if got is not None:
                digits.append(got)
    assert digits == ["1", "#", "1"]


def test_receiver_survives_lost_start_and_ignores_non_dtmf() -> None:
    rx = DtmfReceiver()
    # Only the end packets of an event arrive: the digit is still reported, once.
    end = TelephoneEvent(9, True, 10, 800).serialize()
    assert rx.receive(end, 42) == "9"
    assert rx.receive(end, 42) is None
    assert rx.receive(TelephoneEvent(16).serialize(), 99) is None  # flash is not a digit
