"""IVR prompts: 8 kHz mono 16-bit PCM, synthesised at build time by scripts/make_prompts.py."""

from __future__ import annotations

from functools import cache
from importlib import resources

import numpy as np

#: What each prompt says (scripts/make_prompts.py speaks these).
PROMPT_TEXTS = {
    "enter_call_id": "Welcome. Please enter the call I D, followed by the hash key.",
    "call_id_unknown": "That call I D was not recognized. Please try again.",
    "enter_passcode": "Please enter the passcode, followed by the hash key.",
    "passcode_wrong": "That passcode is not correct. Please try again.",
    "joining": "You are now joining the meeting.",
    "goodbye": "Sorry, too many attempts. Goodbye.",
    "meeting_full": "This meeting is full. Goodbye.",
    "meeting_locked": "This meeting is locked. Please wait.",
    # Licence enforcement (guide B.4, Table 6): alarm level 2, and the guide's own words for 3.
    "license_expired": "The license of this meeting server has expired. Please contact your administrator.",
    "out_of_compliance": "Your deployment is out of licensing compliance, please contact your administrator.",
}


@cache
def prompt(name: str) -> np.ndarray:
    """The prompt's samples (int16, 8 kHz)."""
    if name not in PROMPT_TEXTS:
        raise KeyError(f"no prompt called {name!r}")
    data = resources.files(__package__).joinpath(f"{name}.pcm").read_bytes()
    return np.frombuffer(data, dtype="<i2").astype(np.int16)


def duration(name: str) -> float:
    return len(prompt(name)) / 8000
