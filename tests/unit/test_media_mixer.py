from __future__ import annotations

import numpy as np

from moot.media.mixer import ActiveSpeakerDetector, PromptPlayer, mix_n_minus_1


def test_n_minus_1_each_hears_the_others() -> None:
    frames = np.array([[100] * 4, [20] * 4, [3] * 4], dtype=np.int16)
    out = mix_n_minus_1(frames, np.ones(3, bool), np.ones(3, bool))
    assert out[:, 0].tolist() == [23, 103, 120]


def test_rx_mute_and_tx_mute() -> None:
    frames = np.array([[100] * 4, [20] * 4, [3] * 4], dtype=np.int16)
    contribute = np.array([False, True, True])
    hear = np.array([True, True, False])
    out = mix_n_minus_1(frames, contribute, hear)
    assert out[:, 0].tolist() == [23, 3, 0]


def test_saturates_instead_of_wrapping() -> None:
    frames = np.array([[30000, -30000]] * 3, dtype=np.int16)
    out = mix_n_minus_1(frames, np.ones(3, bool), np.ones(3, bool))
    assert out.tolist() == [[32767, -32768]] * 3
    assert out.astype(np.int16).tolist() == [[32767, -32768]] * 3


def test_active_speaker_hysteresis() -> None:
    det = ActiveSpeakerDetector(hold=3, release=4)
    loud, quiet, silent = 5000, 1000, 0
    contribute = np.ones(3, bool)
    det.resize(3)

    def frame(a: int, b: int, c: int) -> np.ndarray:
        return np.array([[a] * 160, [b] * 160, [c] * 160], dtype=np.int16)

    changes = [det.update(frame(loud, quiet, silent), contribute) for _ in range(10)]
    assert det.speaker == 0 and changes.count(True) == 1
    # Leg 1 becomes slightly louder than leg 0: not enough margin, no switch.
    for _ in range(20):
        det.update(frame(loud, int(loud * 1.2), silent), contribute)
    assert det.speaker == 0
    # Leg 1 clearly louder for long enough: switch.
    for _ in range(20):
        det.update(frame(quiet, loud * 2, silent), contribute)
    assert det.speaker == 1
    # A muted (non-contributing) loud leg never takes the floor.
    muted = np.array([True, True, False])
    for _ in range(20):
        det.update(frame(silent, quiet, 20000), muted)
    assert det.speaker == 1
    # Everybody silent: released.
    for _ in range(60):
        det.update(frame(0, 0, 0), contribute)
    assert det.speaker is None


def test_speaker_remove_shifts_index() -> None:
    det = ActiveSpeakerDetector()
    det.resize(3)
    det.speaker = 2
    det.remove(0)
    assert det.speaker == 1 and len(det.energy) == 2
    det.remove(1)
    assert det.speaker is None


def test_prompt_player_once_and_loop() -> None:
    pcm = np.arange(1, 251, dtype=np.int16)
    once = PromptPlayer(pcm)
    first, second = once.next_frame(160), once.next_frame(160)
    assert first is not None and second is not None
    assert first.tolist() == list(range(1, 161))
    assert second[:90].tolist() == list(range(161, 251)) and not second[90:].any()
    assert once.next_frame(160) is None and once.finished
    looped = PromptPlayer(pcm, loop=True)
    frames = [looped.next_frame(160) for _ in range(3)]
    assert all(f is not None for f in frames)
    joined = np.concatenate([f for f in frames if f is not None])
    assert joined[250] == 1 and joined[479] == (479 % 250) + 1
    assert not looped.finished


def test_equally_loud_talkers_still_elect_a_speaker() -> None:
    det = ActiveSpeakerDetector(hold=5)
    det.resize(3)
    rng = np.random.default_rng(1)
    contribute = np.ones(3, bool)
    changed = False
    for _ in range(20):
        frames = (rng.normal(0, 3000, (3, 160))).astype(np.int16)  # loudest flips randomly
        changed |= det.update(frames, contribute)
    assert changed and det.speaker in (0, 1, 2)
