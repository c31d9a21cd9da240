from __future__ import annotations

import numpy as np
import pytest

from moot.media.jitter import PLC_GAINS, JitterBuffer, LossConcealer


def payload(seq: int) -> bytes:
    return seq.to_bytes(2, "big")


def drain(jb: JitterBuffer, n: int) -> list[tuple[bool, bytes | None]]:
    return [jb.pop() for _ in range(n)]


def test_primes_to_depth_then_plays_in_order() -> None:
    jb = JitterBuffer(depth=3)
    jb.put(100, payload(100))
    assert jb.pop() == (False, None)  # priming: silence, not loss
    jb.put(102, payload(102))
    jb.put(101, payload(101))  # reordered
    assert drain(jb, 3) == [(True, payload(s)) for s in (100, 101, 102)]


def test_loss_is_reported_and_late_packet_dropped() -> None:
    jb = JitterBuffer(depth=2)
    for s in (1, 2, 4):
        jb.put(s, payload(s))
    assert drain(jb, 3) == [(True, payload(1)), (True, payload(2)), (True, None)]
    assert jb.lost == 1
    assert not jb.put(3, payload(3))  # too late now
    assert jb.late == 1
    assert jb.pop() == (True, payload(4))


def test_sequence_wrap() -> None:
    jb = JitterBuffer(depth=2)
    for s in (65534, 65535, 0, 1):
        jb.put(s, payload(s))
    assert [p for _, p in drain(jb, 4)] == [payload(s) for s in (65534, 65535, 0, 1)]


def test_overflow_drops_oldest() -> None:
    jb = JitterBuffer(depth=2, max_depth=4)
    for s in range(10, 16):
        jb.put(s, payload(s))
    assert len(jb) == 4 and jb.discarded == 2
    assert jb.pop() == (True, payload(12))


def test_pause_reprimes_instead_of_counting_loss() -> None:
    jb = JitterBuffer(depth=2, reset_after=5)
    for s in (1, 2):
        jb.put(s, payload(s))
    drain(jb, 2)
    results = drain(jb, 5)
    assert results[-1] == (False, None)
    assert not jb.primed and jb.lost == 0
    # The sender comes back with a jump in sequence numbers: no "late" storm.
    for s in (500, 501):
        assert jb.put(s, payload(s))
    assert jb.pop() == (True, payload(500))


def test_duplicate_rejected() -> None:
    jb = JitterBuffer(depth=2)
    assert jb.put(5, b"a")
    assert not jb.put(5, b"b")


def test_bad_depths() -> None:
    with pytest.raises(ValueError):
        JitterBuffer(depth=0)
    with pytest.raises(ValueError):
        JitterBuffer(depth=5, max_depth=3)


def test_loss_concealment_attenuates_then_silences() -> None:
    plc = LossConcealer(4)
    frame = np.array([1000, -1000, 500, 0], dtype=np.int16)
    plc.good(frame)
    out = [plc.conceal() for _ in range(len(PLC_GAINS) + 2)]
    for gain, got in zip(PLC_GAINS, out, strict=False):
        assert got.tolist() == (frame * gain).astype(np.int16).tolist()
    assert not out[-1].any() and not out[-2].any()
    plc.good(frame)
    assert plc.conceal()[0] == int(1000 * PLC_GAINS[0])
