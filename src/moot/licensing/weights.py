"""How much licence a live call uses (guide B.9 assignment, B.11 weights).

A call uses its personal (PMP Plus) holder's licence when it has one (assignment, see
:mod:`moot.licensing.assignment`); otherwise it uses shared (SMP Plus) licence, whose
weight depends on the call (B.11):

* **audio-only** - no participant has video: 1/6 of an SMP licence;
* **point-to-point** - no permanent space and at most two participants (a recorder or a
  streamer counts as a participant): 1/6;
* both only "unless recording or streaming": a recorded or streamed call weighs 1;
* **full** - any other call: 1.

On a cluster a call spanning several call bridges is counted by each of them for its share,
so each counts ``weight / bridges``: the weights normalised over the bridges the call spans.
:class:`UsageSnapshot` is one moment's totals, what ``/system/multipartyLicensing`` shows
and what the usage time series (``/system/MPLicenseUsage``) records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

__all__ = ["LIGHT_WEIGHT", "CallUsage", "SharedKind", "UsageSnapshot", "shared_kind", "snapshot", "weight"]

LIGHT_WEIGHT = 1 / 6
"""The weight of an audio-only or point-to-point call on shared licences (B.11)."""


class SharedKind(Enum):
    AUDIO_ONLY = "audioOnly"
    POINT_TO_POINT = "pointToPoint"
    FULL = "full"


@dataclass(frozen=True)
class CallUsage:
    """What the rules need to know about one live call."""

    #: The user whose personal licence covers the call (space owner, ad hoc escalator,
    #: scheduled meeting owner, in that order), None when it uses shared licences.
    personal_holder: str | None
    permanent_space: bool
    #: Participants, including a recorder or streamer.
    participants: int
    video: bool
    recording: bool = False
    streaming: bool = False
    #: Call bridges the call spans (1 on a single node).
    bridges: int = 1


def shared_kind(call: CallUsage) -> SharedKind:
    if call.recording or call.streaming:
        return SharedKind.FULL
    if not call.permanent_space and call.participants <= 2:
        return SharedKind.POINT_TO_POINT
    if not call.video:
        return SharedKind.AUDIO_ONLY
    return SharedKind.FULL


def weight(call: CallUsage) -> float:
    """The call's weight on this bridge: 1 or 1/6 (B.11), over the bridges it spans."""
    base = 1.0 if shared_kind(call) is SharedKind.FULL else LIGHT_WEIGHT
    return base / max(1, call.bridges)


@dataclass(frozen=True)
class UsageSnapshot:
    """Licence use at one moment."""

    #: Distinct personal licences in use (holders with at least one call).
    personal: int = 0
    #: Calls on shared licences, by kind (unweighted counts).
    shared_audio_only: int = 0
    shared_point_to_point: int = 0
    shared_full: int = 0
    #: Calls being recorded / streamed.
    recorded: int = 0
    streamed: int = 0
    #: All calls, and their weights summed (personal and shared).
    calls: int = 0
    weighted_calls: float = 0.0
    #: Shared licence use, weighted (what is compared with the SMP Plus limit).
    weighted_shared: float = 0.0

    @property
    def shared_calls(self) -> int:
        return self.shared_audio_only + self.shared_point_to_point + self.shared_full


def snapshot(calls: Iterable[CallUsage]) -> UsageSnapshot:
    holders: set[str] = set()
    kinds = dict.fromkeys(SharedKind, 0)
    recorded = streamed = total = 0
    weighted = shared = 0.0
    for call in calls:
        total += 1
        w = weight(call)
        weighted += w
        recorded += call.recording
        streamed += call.streaming
        if call.personal_holder is not None:
            holders.add(call.personal_holder)
        else:
            kinds[shared_kind(call)] += 1
            shared += w
    return UsageSnapshot(
        personal=len(holders), shared_audio_only=kinds[SharedKind.AUDIO_ONLY],
        shared_point_to_point=kinds[SharedKind.POINT_TO_POINT], shared_full=kinds[SharedKind.FULL],
        recorded=recorded, streamed=streamed, calls=total, weighted_calls=round(weighted, 4),
        weighted_shared=round(shared, 4),
    )
