"""The conference mixer: vectorised N-1 mixing, mutes, active speaker, prompts.

Per call and per 20 ms frame the decoded audio of all legs is one ``(legs, samples)``
int16 array. The mix is done in int32: ``total = sum(contributions)`` and each leg hears
``total - own`` (the N-1 mix: nobody hears themselves), saturated to int16. A leg that is
rx-muted (or whose audio we do not receive: hold) contributes nothing; a tx-muted leg hears
silence. Prompts for one leg are added on top of what that leg hears.

Active speaker detection follows what conference bridges do: per-leg frame energy is
smoothed with an exponential moving average; the loudest leg above an energy floor takes
the floor only if it beats the current speaker by a margin (hysteresis) for ``hold``
consecutive frames, and the speaker is cleared after ``release`` frames with everyone
below the floor.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["ActiveSpeakerDetector", "PromptPlayer", "mix_n_minus_1"]

Pcm = npt.NDArray[np.int16]
Mask = npt.NDArray[np.bool_]


def mix_n_minus_1(
    frames: Pcm, contribute: Mask, hear: Mask, out: npt.NDArray[np.int32] | None = None
) -> npt.NDArray[np.int32]:
    """N-1 mix of ``frames`` (legs x samples); returns int32 already clipped to int16 range.

    ``contribute[i]`` false removes leg i from everybody's mix (rx mute, hold); ``hear[i]``
    false makes leg i hear silence (tx mute). The caller casts to int16 (or feeds a G.711
    table directly with the int16 view). Every step is one ufunc call writing into
    ``out`` (allocated if not given), so a 10-leg frame costs a few microseconds.
    """
    if out is None:
        out = np.empty(frames.shape, dtype=np.int32)
    acc = np.multiply(frames, contribute[:, np.newaxis], dtype=np.int32)
    total = np.add.reduce(acc, axis=0)
    np.subtract(total, acc, out=out)
    np.maximum(out, -32768, out=out)
    np.minimum(out, 32767, out=out)
    np.multiply(out, hear[:, np.newaxis], out=out)
    return out


class ActiveSpeakerDetector:
    """Loudest smoothed energy above a floor, with hysteresis."""

    def __init__(
        self,
        *,
        alpha: float = 0.2,
        floor: float = 300.0**2,
        margin: float = 2.0,
        hold: int = 10,
        release: int = 50,
    ) -> None:
        self.alpha = alpha
        self.floor = floor
        """Mean square energy below which a leg is silent (~-40 dBFS rms)."""
        self.margin = margin
        self.hold = hold
        self.release = release
        self.energy = np.zeros(0, dtype=np.float64)
        self.speaker: int | None = None
        self._candidate: int | None = None
        self._count = 0
        self._quiet = 0

    def resize(self, legs: int) -> None:
        """Adjust to a new number of legs (state of existing rows is kept)."""
        energy = np.zeros(legs, dtype=np.float64)
        n = min(legs, len(self.energy))
        energy[:n] = self.energy[:n]
        self.energy = energy
        if self.speaker is not None and self.speaker >= legs:
            self.speaker = None
        self._candidate = None
        self._count = 0

    def remap(self, energy: npt.NDArray[np.float64], speaker: int | None) -> None:
        """Take over new rows (legs joined/left): their energies and the speaker's row."""
        self.energy = energy
        self.speaker = speaker
        self._candidate = None
        self._count = 0

    def remove(self, index: int) -> None:
        """A leg's row was removed (rows after it shift down by one)."""
        self.energy = np.delete(self.energy, index)
        if self.speaker == index:
            self.speaker = None
        elif self.speaker is not None and self.speaker > index:
            self.speaker -= 1
        self._candidate = None
        self._count = 0

    def update(self, frames: npt.NDArray[np.int32] | Pcm, contribute: Mask) -> bool:
        """Feed one frame per leg; return True if the active speaker changed."""
        f = frames.astype(np.float32)
        e = np.einsum("ij,ij->i", f, f) * contribute / max(f.shape[1], 1)
        self.energy += self.alpha * (e - self.energy)
        loudest = int(np.argmax(self.energy)) if len(self.energy) else -1
        if loudest < 0 or self.energy[loudest] < self.floor:
            self._candidate = None
            self._count = 0
            if self.speaker is None:
                return False
            self._quiet += 1
            if self._quiet >= self.release:
                self.speaker = None
                self._quiet = 0
                return True
            return False
        self._quiet = 0
        if loudest == self.speaker:
            self._candidate = None
            self._count = 0
            return False
        current = self.energy[self.speaker] if self.speaker is not None else 0.0
        if self.energy[loudest] < current * self.margin:
            self._candidate = None
            self._count = 0
            return False
        candidate = self._candidate
        if (
            candidate is not None
            and candidate != loudest
            and self.energy[candidate] >= self.floor
            and self.energy[loudest] < self.energy[candidate] * self.margin
            and self.energy[candidate] >= current * self.margin
        ):
            loudest = candidate  # equally loud talkers: the candidate keeps its claim
        if loudest != self._candidate:
            self._candidate = loudest
            self._count = 0
        self._count += 1
        if self._count >= self.hold:
            self.speaker = loudest
            self._candidate = None
            self._count = 0
            return True
        return False


class PromptPlayer:
    """Plays a PCM prompt (at the mix rate) into one leg, frame by frame."""

    def __init__(self, pcm: Pcm, *, loop: bool = False) -> None:
        self.pcm = np.ascontiguousarray(pcm, dtype=np.int16).reshape(-1)
        self.loop = loop and len(self.pcm) > 0
        self.pos = 0

    @property
    def finished(self) -> bool:
        return not self.loop and self.pos >= len(self.pcm)

    def next_frame(self, samples: int) -> Pcm | None:
        """The next ``samples`` of the prompt (zero-padded at its end), None when done."""
        if self.finished:
            return None
        if self.loop:
            idx = (self.pos + np.arange(samples)) % len(self.pcm)
            self.pos = (self.pos + samples) % len(self.pcm)
            return self.pcm[idx]
        chunk = self.pcm[self.pos : self.pos + samples]
        self.pos += samples
        if len(chunk) < samples:
            chunk = np.concatenate((chunk, np.zeros(samples - len(chunk), dtype=np.int16)))
        return chunk
