from __future__ import annotations

import numpy as np
import pytest

from moot.media.codecs import (
    CODECS,
    MIX_RATE,
    CodecError,
    CodecSpec,
    Resampler,
    create_decoder,
    create_encoder,
)


def tone(freq: float, n: int, rate: int = MIX_RATE, amp: float = 8000) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.int16)


def level(audio: np.ndarray, freq: float, rate: int = MIX_RATE) -> float:
    w = np.hanning(len(audio))
    x = np.sum(audio * w * np.exp(-2j * np.pi * freq * np.arange(len(audio)) / rate))
    return float(2 * abs(x) / w.sum())


@pytest.mark.parametrize(
    ("name", "payload_size"), [("PCMU", 160), ("PCMA", 160), ("G722", 160), ("opus", None)]
)
def test_codec_round_trip_keeps_tone(name: str, payload_size: int | None) -> None:
    spec = CODECS[name]
    enc, dec = create_encoder(spec), create_decoder(spec)
    pcm = tone(440, 160 * 50)
    out = []
    for i in range(50):
        payload = enc.encode(pcm[i * 160 : (i + 1) * 160])
        if payload_size is not None:
            assert len(payload) == payload_size
        else:
            assert 0 < len(payload) < 160
        frame = dec.decode(payload)
        assert frame.dtype == np.int16
        out.append(frame)
    audio = np.concatenate(out).astype(np.float64)
    assert len(audio) == 160 * 50
    steady = audio[1600:]
    assert level(steady, 440) == pytest.approx(8000, rel=0.15)
    assert level(steady, 1000) < 200


def test_g722_is_wideband_on_the_wire_with_8000_rtp_clock() -> None:
    spec = CODECS["G722"]
    assert spec.clock_rate == 8000 and spec.sample_rate == 16000
    assert not spec.is_g711 and CODECS["PCMA"].is_g711


def test_unknown_codec_and_bad_payload() -> None:
    with pytest.raises(CodecError, match="unsupported"):
        create_decoder(CodecSpec("GSM", 3, 8000))
    with pytest.raises(CodecError, match="unsupported"):
        create_encoder(CodecSpec("iLBC", 97, 8000))


def test_resampler_rejects_both_directions() -> None:
    with pytest.raises(ValueError):
        Resampler(up=2, down=2)


def test_resampler_down_and_up_preserve_in_band_tone() -> None:
    down = Resampler(down=2)
    src = tone(1000, 16000, rate=16000)
    out = np.concatenate([down.process(src[i : i + 320]) for i in range(0, 16000, 320)])
    assert len(out) == 8000
    assert level(out[800:].astype(float), 1000) == pytest.approx(8000, rel=0.05)
    # A 6 kHz tone (above the 4 kHz Nyquist of 8 kHz) is filtered out, not aliased to 2 kHz.
    alias = tone(6000, 16000, rate=16000)
    out = np.concatenate([down.process(alias[i : i + 320]) for i in range(0, 16000, 320)])
    assert level(out[800:].astype(float), 2000) < 400
    up = Resampler(up=2)
    out = np.concatenate([up.process(tone(700, 8000)[i : i + 160]) for i in range(0, 8000, 160)])
    assert len(out) == 16000
    assert level(out[1600:].astype(float), 700, rate=16000) == pytest.approx(8000, rel=0.05)
