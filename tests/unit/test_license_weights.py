"""Guide B.9 / B.11: which licence a call uses and what it weighs, table-driven."""

from __future__ import annotations

import pytest

from moot.licensing.weights import (
    LIGHT_WEIGHT,
    CallUsage,
    SharedKind,
    shared_kind,
    snapshot,
    weight,
)

SIXTH = LIGHT_WEIGHT


@pytest.mark.parametrize(
    ("call", "kind", "expected"),
    [
        # A space's audio-only conference: 1/6.
        (CallUsage(None, permanent_space=True, participants=5, video=False), SharedKind.AUDIO_ONLY, SIXTH),
        # With video: a full shared licence.
        (CallUsage(None, permanent_space=True, participants=5, video=True), SharedKind.FULL, 1.0),
        # Two people in a space with video: not point-to-point (the space is permanent).
        (CallUsage(None, permanent_space=True, participants=2, video=True), SharedKind.FULL, 1.0),
        # No permanent space, two participants, video: point-to-point, 1/6.
        (CallUsage(None, permanent_space=False, participants=2, video=True), SharedKind.POINT_TO_POINT, SIXTH),
        (CallUsage(None, permanent_space=False, participants=1, video=True), SharedKind.POINT_TO_POINT, SIXTH),
        # Three in an ad hoc call with video: full.
        (CallUsage(None, permanent_space=False, participants=3, video=True), SharedKind.FULL, 1.0),
        # Three in an ad hoc audio call: audio-only, 1/6.
        (CallUsage(None, permanent_space=False, participants=3, video=False), SharedKind.AUDIO_ONLY, SIXTH),
        # "unless recording or streaming": recorded or streamed calls weigh 1.
        (CallUsage(None, permanent_space=True, participants=4, video=False, recording=True), SharedKind.FULL, 1.0),
        (CallUsage(None, permanent_space=False, participants=2, video=False, streaming=True), SharedKind.FULL, 1.0),
        # A recorder is a participant: one person plus the recorder is still two.
        (CallUsage(None, permanent_space=False, participants=2, video=True, recording=True), SharedKind.FULL, 1.0),
        # On a cluster a call spanning two bridges counts half on each.
        (CallUsage(None, permanent_space=True, participants=6, video=True, bridges=2), SharedKind.FULL, 0.5),
        (CallUsage(None, permanent_space=True, participants=6, video=False, bridges=2), SharedKind.AUDIO_ONLY,
         SIXTH / 2),
    ],
)
def test_weights(call: CallUsage, kind: SharedKind, expected: float) -> None:
    assert shared_kind(call) is kind
    assert weight(call) == pytest.approx(expected)


def test_snapshot_counts_personal_licences_once_and_weights_shared_use() -> None:
    calls = [
        CallUsage("alice", permanent_space=True, participants=3, video=True),
        CallUsage("alice", permanent_space=True, participants=2, video=False),  # alice's second space
        CallUsage("bob", permanent_space=True, participants=4, video=True),
        CallUsage(None, permanent_space=True, participants=3, video=False),
        CallUsage(None, permanent_space=False, participants=2, video=True),
        CallUsage(None, permanent_space=True, participants=3, video=True, recording=True),
    ]
    s = snapshot(calls)
    assert s.personal == 2  # alice and bob, whatever the number of their calls
    assert (s.shared_audio_only, s.shared_point_to_point, s.shared_full) == (1, 1, 1)
    assert s.shared_calls == 3 and s.calls == 6
    assert s.recorded == 1 and s.streamed == 0
    assert s.weighted_shared == pytest.approx(2 * SIXTH + 1, abs=1e-3)
    assert s.weighted_calls == pytest.approx(1 + SIXTH + 1 + SIXTH + SIXTH + 1, abs=1e-3)
    assert snapshot([]).calls == 0
