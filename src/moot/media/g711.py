"""ITU-T G.711 µ-law (PCMU) and A-law (PCMA) companding with numpy lookup tables.

G.711 maps 14-bit (µ-law) or 13-bit (A-law) linear samples to 8-bit code words. The
tables here are built once at import, over all 65536 int16 values for encoding and all
256 code words for decoding, so encoding and decoding a 20 ms frame is one numpy
fancy-index each.

The arithmetic is the reference one (Sun's g711.c, as used by CPython's ``audioop``):

* µ-law encode: the 16-bit sample is shifted to 14 bits, the magnitude clipped to 8159,
  biased by 33, and coded as segment (3 bits) + 4 mantissa bits; the code word is
  complemented (``0xFF`` is +0, ``0x7F`` is -0).
* A-law encode: the sample is shifted to 13 bits, coded as segment + mantissa and the
  even bits inverted (XOR ``0x55``); the sign bit is 1 for positive samples.
* Decoding returns the centre of the quantisation interval scaled back to 16 bits,
  e.g. µ-law ``0x00`` -> -32124, ``0xFF`` -> 0; A-law ``0xD5`` -> 8, ``0xAA`` -> 32256.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "ALAW_DECODE_TABLE",
    "ALAW_ENCODE_TABLE",
    "ULAW_DECODE_TABLE",
    "ULAW_ENCODE_TABLE",
    "alaw_decode",
    "alaw_encode",
    "ulaw_decode",
    "ulaw_encode",
]

_SEG_UEND = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
_SEG_AEND = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)
_ULAW_BIAS = 0x21
_ULAW_CLIP = 8159


def _build_ulaw_encode() -> npt.NDArray[np.uint8]:
    # Index = the int16 sample reinterpreted as uint16 (0..65535).
    pcm = np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32) >> 2
    negative = pcm < 0
    mag = np.where(negative, -pcm, pcm)
    mask = np.where(negative, 0x7F, 0xFF)
    mag = np.minimum(mag, _ULAW_CLIP) + _ULAW_BIAS
    seg = np.searchsorted(_SEG_UEND, mag, side="left")  # first seg with mag <= end
    uval = np.where(
        seg >= 8,
        0x7F,
        (np.minimum(seg, 7) << 4) | ((mag >> (np.minimum(seg, 7) + 1)) & 0xF),
    )
    return (uval ^ mask).astype(np.uint8)


def _build_ulaw_decode() -> npt.NDArray[np.int16]:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    t = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(u & 0x80, -t, t).astype(np.int16)


def _build_alaw_encode() -> npt.NDArray[np.uint8]:
    pcm = np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32) >> 3
    negative = pcm < 0
    mask = np.where(negative, 0x55, 0xD5)
    mag = np.where(negative, -pcm - 1, pcm)
    seg = np.searchsorted(_SEG_AEND, mag, side="left")
    segc = np.minimum(seg, 7)
    mant = np.where(segc < 2, (mag >> 1) & 0xF, (mag >> segc) & 0xF)
    aval = np.where(seg >= 8, 0x7F, (segc << 4) | mant)
    return (aval ^ mask).astype(np.uint8)


def _build_alaw_decode() -> npt.NDArray[np.int16]:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)


ULAW_ENCODE_TABLE: npt.NDArray[np.uint8] = _build_ulaw_encode()
ULAW_DECODE_TABLE: npt.NDArray[np.int16] = _build_ulaw_decode()
ALAW_ENCODE_TABLE: npt.NDArray[np.uint8] = _build_alaw_encode()
ALAW_DECODE_TABLE: npt.NDArray[np.int16] = _build_alaw_decode()
for _t in (ULAW_ENCODE_TABLE, ULAW_DECODE_TABLE, ALAW_ENCODE_TABLE, ALAW_DECODE_TABLE):
    _t.setflags(write=False)


def _as_index(pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.uint16]:
    arr = np.asarray(pcm)
    if arr.dtype != np.int16:
        raise TypeError(f"G.711 encode needs int16 samples, got {arr.dtype}")
    return np.ascontiguousarray(arr).reshape(-1).view(np.uint16)


def ulaw_decode(data: bytes) -> npt.NDArray[np.int16]:
    """Decode µ-law (PCMU) code words to int16 samples."""
    return ULAW_DECODE_TABLE[np.frombuffer(data, dtype=np.uint8)]


def ulaw_encode(pcm: npt.NDArray[np.int16]) -> bytes:
    """Encode int16 samples to µ-law (PCMU) code words, one byte per sample."""
    return ULAW_ENCODE_TABLE[_as_index(pcm)].tobytes()


def alaw_decode(data: bytes) -> npt.NDArray[np.int16]:
    """Decode A-law (PCMA) code words to int16 samples."""
    return ALAW_DECODE_TABLE[np.frombuffer(data, dtype=np.uint8)]


def alaw_encode(pcm: npt.NDArray[np.int16]) -> bytes:
    """Encode int16 samples to A-law (PCMA) code words, one byte per sample."""
    return ALAW_ENCODE_TABLE[_as_index(pcm)].tobytes()
