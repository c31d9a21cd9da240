from __future__ import annotations

import warnings

import numpy as np
import pytest

from moot.media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode

ALL_PCM = np.arange(-32768, 32768, dtype=np.int16)


def test_known_ulaw_values() -> None:
    assert ulaw_decode(b"\xff\x7f\x00\x80\x7e").tolist() == [0, 0, -32124, 32124, -8]
    assert ulaw_encode(np.array([0, -1, 32767, -32768, 8], dtype=np.int16)) == (
        b"\xff\x7e\x80\x00\xfe"
    )


def test_known_alaw_values() -> None:
    assert alaw_decode(b"\xd5\x55\xaa\x2a").tolist() == [8, -8, 32256, -32256]
    assert alaw_encode(np.array([0, -1, 32767, -32768], dtype=np.int16)) == b"\xd5\x55\xaa\x2a"


def test_matches_audioop_exhaustively() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")
    raw = ALL_PCM.tobytes()
    codes = bytes(range(256))
    assert ulaw_encode(ALL_PCM) == audioop.lin2ulaw(raw, 2)
    assert alaw_encode(ALL_PCM) == audioop.lin2alaw(raw, 2)
    assert ulaw_decode(codes).tobytes() == audioop.ulaw2lin(codes, 2)
    assert alaw_decode(codes).tobytes() == audioop.alaw2lin(codes, 2)


@pytest.mark.parametrize(("enc", "dec"), [(ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)])
def test_round_trip(enc, dec) -> None:  # type: ignore[no-untyped-def]
    # Decoding every code word and re-encoding it gives the same code word (except -0).
    codes = bytes(range(256))
    again = enc(dec(codes))
    decoded = dec(codes)
    assert dec(again).tolist() == decoded.tolist()
    # Quantisation error of a full-scale ramp stays within G.711's step size (<= 1/16).
    back = dec(enc(ALL_PCM)).astype(np.int32)
    err = np.abs(back - ALL_PCM.astype(np.int32))
    assert np.all(err <= np.maximum(64, np.abs(ALL_PCM.astype(np.int32)) // 15))


def test_encode_rejects_non_int16() -> None:
    with pytest.raises(TypeError, match="int16"):
        ulaw_encode(np.zeros(4, dtype=np.float32))
    assert ulaw_decode(b"").shape == (0,)
