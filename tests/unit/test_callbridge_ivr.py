"""The IVR dialogue as a state machine: prompts out, digits in, three tries."""

from __future__ import annotations

from collections import deque

from moot.callbridge import ivr
from moot.callbridge.routing import SpaceTarget


class ScriptedIo:
    """Plays nothing, records the prompts, answers read_entry from a script (None = silence)."""

    def __init__(self, entries: list[str | None]) -> None:
        self.entries = deque(entries)
        self.prompts: list[str] = []

    async def play(self, prompt: str) -> None:
        self.prompts.append(prompt)

    async def play_to_end(self, prompt: str) -> None:
        self.prompts.append(prompt + ".")

    async def read_entry(self, timeout: float) -> str | None:
        return self.entries.popleft() if self.entries else None


SPACE = SpaceTarget({"id": "s1", "passcode": "1357"})
OPEN = SpaceTarget({"id": "s2"})


async def lookup(digits: str) -> SpaceTarget | None:
    return {"424242": SPACE, "5": OPEN}.get(digits)


async def test_call_id_then_passcode_after_a_wrong_one() -> None:
    io = ScriptedIo(["111", "424242", "9999", "1357"])
    outcome = await ivr.run(io, lookup=lookup, target=None)
    assert outcome.target is SPACE and outcome.reason == "joined"
    assert io.prompts == ["enter_call_id", "call_id_unknown", "enter_passcode", "passcode_wrong"]


async def test_three_wrong_passcodes_end_with_goodbye() -> None:
    io = ScriptedIo(["1", "2", None])
    outcome = await ivr.run(io, lookup=None, target=SPACE)
    assert outcome.target is None and outcome.reason == "wrong passcode"
    assert io.prompts == ["enter_passcode", "passcode_wrong", "passcode_wrong", "goodbye."]


async def test_unknown_call_ids_and_silence_count_as_tries() -> None:
    io = ScriptedIo([None, "", "77"])
    outcome = await ivr.run(io, lookup=lookup, target=None)
    assert outcome.target is None and outcome.reason == "call ID not recognised"
    assert io.prompts[-1] == "goodbye."
    assert len(io.prompts) == 4


async def test_space_without_passcode_needs_only_the_call_id() -> None:
    io = ScriptedIo(["5"])
    outcome = await ivr.run(io, lookup=lookup, target=None)
    assert outcome.target is OPEN and io.prompts == ["enter_call_id"]


async def test_overlong_entries_are_cut() -> None:
    io = ScriptedIo(["1357" + "0" * 100, "1357"])
    outcome = await ivr.run(io, lookup=None, target=SPACE)
    assert outcome.target is SPACE and io.prompts == ["enter_passcode", "passcode_wrong"]
