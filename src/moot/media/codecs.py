"""Audio codecs of the call bridge: PCMU, PCMA, G.722 and Opus.

Every leg's decoder returns int16 PCM at :data:`MIX_RATE` and every encoder takes PCM at
that rate, so the mixer never resamples.

Mix rate: 8 kHz. The bridge's capacity path is G.711 (PCMU/PCMA), which is 8 kHz: at
8 kHz a G.711 leg costs one table look-up in each direction and the N-1 mix handles 160
samples per leg per 20 ms, whereas a 16 kHz mix would double the mixing work and add an
up- and a down-sampling filter to every G.711 leg - the majority of legs on a SIP
bridge. Wideband legs (G.722, Opus) are therefore mixed as narrowband for now: G.722 is
decoded at 16 kHz and decimated by 2 (the RTP clock of G.722 is 8000 by RFC 3551's
historical error, the sampling rate is 16000), Opus is encoded from 8 kHz input
(libopus accepts it natively) and its 48 kHz decoder output decimated by 6 (the RTP
clock of Opus is always 48000, RFC 7587). A per-call wideband mix, chosen when any leg
is wideband as Asterisk's ConfBridge does, is the next step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, cast

import av
import numpy as np
import numpy.typing as npt
from av.audio.codeccontext import AudioCodecContext

from moot.media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode

__all__ = [
    "CODECS",
    "MIX_RATE",
    "CodecError",
    "CodecSpec",
    "Decoder",
    "Encoder",
    "Resampler",
    "create_decoder",
    "create_encoder",
    "samples_per_frame",
]

MIX_RATE = 8000
Pcm = npt.NDArray[np.int16]


class CodecError(ValueError):
    """A codec is unknown, or a payload cannot be decoded (the message says why)."""


@dataclass(frozen=True)
class CodecSpec:
    """A negotiated RTP audio codec: the SDP rtpmap name, payload type and clock rate."""

    name: str
    """``PCMU``, ``PCMA``, ``G722`` or ``opus``."""
    payload_type: int
    clock_rate: int
    channels: int = 1

    @property
    def sample_rate(self) -> int:
        """The codec's real sampling rate (G.722's RTP clock says 8000, it samples 16000)."""
        return 16000 if self.name.upper() == "G722" else self.clock_rate

    @property
    def is_g711(self) -> bool:
        return self.name.upper() in ("PCMU", "PCMA")


CODECS: dict[str, CodecSpec] = {
    "PCMU": CodecSpec("PCMU", 0, 8000),
    "PCMA": CodecSpec("PCMA", 8, 8000),
    "G722": CodecSpec("G722", 9, 8000),
    "opus": CodecSpec("opus", 111, 48000, 2),
}
"""The codecs supported, with their usual payload types (opus is dynamic)."""


def samples_per_frame(ptime_ms: int, rate: int = MIX_RATE) -> int:
    return rate * ptime_ms // 1000


class Encoder(Protocol):
    def encode(self, pcm: Pcm) -> bytes: ...


class Decoder(Protocol):
    def decode(self, payload: bytes) -> Pcm: ...


def _lowpass(taps: int, cutoff: float) -> npt.NDArray[np.float64]:
    """Windowed-sinc low-pass FIR; ``cutoff`` as a fraction of the Nyquist frequency."""
    n = np.arange(taps) - (taps - 1) / 2
    h = cutoff * np.sinc(cutoff * n) * np.kaiser(taps, 8.0)
    return np.asarray(h / h.sum(), dtype=np.float64)


class Resampler:
    """Streaming integer-ratio resampler (up by ``up`` or down by ``down``) with a FIR.

    Keeps the filter history between calls so frame edges do not click. Input lengths
    must be multiples of ``down``.
    """

    def __init__(self, *, up: int = 1, down: int = 1, taps_per_phase: int = 16) -> None:
        if (up == 1) == (down == 1):
            raise ValueError("resample up or down by an integer factor, not both")
        self.up = up
        self.down = down
        factor = max(up, down)
        taps = taps_per_phase * factor + 1
        self._h = _lowpass(taps, 0.9 / factor) * up
        self._history = np.zeros(taps - 1, dtype=np.float64)

    def process(self, pcm: Pcm) -> Pcm:
        x = pcm.astype(np.float64)
        if self.up > 1:
            z = np.zeros(len(x) * self.up, dtype=np.float64)
            z[:: self.up] = x
            x = z
        buf = np.concatenate((self._history, x))
        self._history = buf[len(buf) - len(self._history) :]
        y = np.convolve(buf, self._h, mode="valid")
        if self.down > 1:
            y = y[:: self.down]
        return np.clip(np.rint(y), -32768, 32767).astype(np.int16)


class PcmuCodec:
    """PCMU (G.711 µ-law): one octet per 8 kHz sample."""

    def decode(self, payload: bytes) -> Pcm:
        return ulaw_decode(payload)

    def encode(self, pcm: Pcm) -> bytes:
        return ulaw_encode(pcm)


class PcmaCodec:
    """PCMA (G.711 A-law): one octet per 8 kHz sample."""

    def decode(self, payload: bytes) -> Pcm:
        return alaw_decode(payload)

    def encode(self, pcm: Pcm) -> bytes:
        return alaw_encode(pcm)


def _audio_frame(pcm: Pcm, rate: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(pcm, dtype=np.int16).reshape(1, -1), format="s16", layout="mono"
    )
    frame.sample_rate = rate
    return frame


def _frames_to_pcm(frames: list[av.AudioFrame]) -> Pcm:
    parts: list[Pcm] = []
    for frame in frames:
        arr = frame.to_ndarray()
        if frame.format.name in ("flt", "fltp"):
            arr = np.clip(arr * 32768.0, -32768, 32767).astype(np.int16)
        elif arr.dtype != np.int16:
            arr = arr.astype(np.int16)
        channels = len(frame.layout.channels)
        if frame.format.is_planar:
            mono = arr[0] if channels == 1 else arr.mean(axis=0).astype(np.int16)
        else:
            flat = arr.reshape(-1)
            mono = flat if channels == 1 else flat.reshape(-1, channels).mean(axis=1)
        parts.append(np.asarray(mono, dtype=np.int16))
    if not parts:
        return np.zeros(0, dtype=np.int16)
    return np.concatenate(parts)


class _AvDecoder:
    def __init__(self, codec: str, rate: int, channels: int, decimate: int) -> None:
        self._ctx = cast(AudioCodecContext, av.CodecContext.create(codec, "r"))
        self._ctx.sample_rate = rate
        self._ctx.layout = "stereo" if channels == 2 else "mono"
        self._decimate = decimate
        self._resampler = Resampler(down=decimate) if decimate > 1 else None
        self._leftover = np.zeros(0, dtype=np.int16)

    def decode(self, payload: bytes) -> Pcm:
        try:
            frames = self._ctx.decode(av.Packet(payload))
        except av.error.FFmpegError as exc:  # type: ignore[attr-defined]
            raise CodecError(f"cannot decode {self._ctx.name} payload: {exc}") from exc
        pcm = _frames_to_pcm(list(frames))
        if self._resampler is None:
            return pcm
        pcm = np.concatenate((self._leftover, pcm))
        usable = len(pcm) - len(pcm) % self._decimate
        self._leftover = pcm[usable:]
        return self._resampler.process(pcm[:usable])


class _AvEncoder:
    def __init__(
        self, codec: str, rate: int, interpolate: int, bit_rate: int | None = None
    ) -> None:
        self._ctx = cast(AudioCodecContext, av.CodecContext.create(codec, "w"))
        self._ctx.sample_rate = rate
        self._ctx.layout = "mono"
        self._ctx.format = "s16"
        if bit_rate:
            self._ctx.bit_rate = bit_rate
        self._ctx.open()
        self._rate = rate
        self._resampler = Resampler(up=interpolate) if interpolate > 1 else None
        self._pts = 0

    def encode(self, pcm: Pcm) -> bytes:
        if self._resampler is not None:
            pcm = self._resampler.process(pcm)
        frame = _audio_frame(pcm, self._rate)
        frame.pts = self._pts
        self._pts += len(pcm)
        return b"".join(bytes(p) for p in self._ctx.encode(frame))


def create_decoder(spec: CodecSpec) -> Decoder:
    """A decoder for one leg's received stream, producing PCM at :data:`MIX_RATE`."""
    name = spec.name.upper()
    if name == "PCMU":
        return PcmuCodec()
    if name == "PCMA":
        return PcmaCodec()
    if name == "G722":
        return _AvDecoder("g722", 16000, 1, 2)
    if name == "OPUS":
        return _AvDecoder("libopus", 48000, spec.channels, 6)
    raise CodecError(f"unsupported codec {spec.name!r}")


def create_encoder(spec: CodecSpec) -> Encoder:
    """An encoder for one leg's sent stream, taking PCM at :data:`MIX_RATE`.

    Each call to ``encode`` must get exactly one packet's worth of samples (ptime).
    """
    name = spec.name.upper()
    if name == "PCMU":
        return PcmuCodec()
    if name == "PCMA":
        return PcmaCodec()
    if name == "G722":
        return _AvEncoder("g722", 16000, 2)
    if name == "OPUS":
        return _AvEncoder("libopus", MIX_RATE, 1, bit_rate=24000)
    raise CodecError(f"unsupported codec {spec.name!r}")
