"""The IVR dialogue (guide 3.4 "IVR"): call ID, then passcode, by DTMF.

A caller who dials an IVR hears "enter the call ID", types the space's numeric call
ID and ``#``; then, if the space (or the access method) has a passcode, "enter the
passcode" and ``#``. Three wrong tries of either end the call with a polite
goodbye. A caller who dials a space with a passcode directly starts at the passcode
question. A prompt stops as soon as the caller starts typing (barge-in); no input for
``digit_timeout`` seconds repeats the question and counts as a try.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from moot.callbridge.routing import SpaceTarget

#: Tries for the call ID and for the passcode (the product's three).
MAX_ATTEMPTS = 3
#: The longest entry read (digits before '#').
MAX_DIGITS = 32


class IvrIo(Protocol):
    """What the dialogue needs from the leg: prompts out, digits in."""

    async def play(self, prompt: str) -> None:
        """Start a prompt (returns at once; the first digit stops it)."""

    async def play_to_end(self, prompt: str) -> None:
        """Play a prompt and return when it has been heard."""

    async def read_entry(self, timeout: float) -> str | None:
        """Digits up to ``#`` (without it), or None when nothing came within ``timeout``
        seconds of the last digit or of the call."""


@dataclass
class IvrOutcome:
    target: SpaceTarget | None
    reason: str


Lookup = Callable[[str], Awaitable[SpaceTarget | None]]


async def run(io: IvrIo, *, lookup: Lookup | None, target: SpaceTarget | None,
              digit_timeout: float = 10.0) -> IvrOutcome:
    """Ask what is needed; the target to join, or None (after the goodbye prompt)."""
    if target is None:
        if lookup is None:
            raise ValueError("an IVR dialogue needs either a target or a call ID lookup")
        target = await _ask_call_id(io, lookup, digit_timeout)
        if target is None:
            await io.play_to_end("goodbye")
            return IvrOutcome(None, "call ID not recognised")
    passcode = target.passcode
    if passcode and not await _ask_passcode(io, passcode, digit_timeout):
        await io.play_to_end("goodbye")
        return IvrOutcome(None, "wrong passcode")
    return IvrOutcome(target, "joined")


async def _ask_call_id(io: IvrIo, lookup: Lookup, timeout: float) -> SpaceTarget | None:
    prompt = "enter_call_id"
    for _ in range(MAX_ATTEMPTS):
        await io.play(prompt)
        entry = await io.read_entry(timeout)
        if entry:
            found = await lookup(entry[:MAX_DIGITS])
            if found is not None:
                return found
            prompt = "call_id_unknown"
    return None


async def _ask_passcode(io: IvrIo, passcode: str, timeout: float) -> bool:
    prompt = "enter_passcode"
    for _ in range(MAX_ATTEMPTS):
        await io.play(prompt)
        entry = await io.read_entry(timeout)
        if entry is not None and entry[:MAX_DIGITS] == passcode:
            return True
        prompt = "passcode_wrong"
    return False
