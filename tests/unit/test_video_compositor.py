"""The compositor and its text: real pixels of composed I420 pictures."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from moot.media.video.compositor import Compositor, ScaleCache, yuv
from moot.media.video.layout import Pane, arrange
from moot.media.video.text import fit_text_mask, text_mask

Picture = npt.NDArray[np.uint8]
W, H = 1280, 720
RED = yuv(220, 30, 30)
GREEN = yuv(30, 200, 40)
BLUE = yuv(30, 40, 220)
GREY = yuv(128, 128, 128)
BLACK = (16, 128, 128)


def solid(width: int, height: int, colour: tuple[int, int, int]) -> Picture:
    picture = np.empty((height * 3 // 2, width), dtype=np.uint8)
    flat = picture.reshape(-1)
    flat[: width * height] = colour[0]
    flat[width * height : width * height * 5 // 4] = colour[1]
    flat[width * height * 5 // 4 :] = colour[2]
    return picture


def planes(picture: Picture) -> tuple[Picture, Picture, Picture]:
    height, width = picture.shape[0] * 2 // 3, picture.shape[1]
    flat = picture.reshape(-1)
    size = width * height
    return (
        flat[:size].reshape(height, width),
        flat[size : size * 5 // 4].reshape(height // 2, width // 2),
        flat[size * 5 // 4 :].reshape(height // 2, width // 2),
    )


def colour_at(picture: Picture, x: int, y: int) -> tuple[int, int, int]:
    luma, u, v = planes(picture)
    return int(luma[y, x]), int(u[y // 2, x // 2]), int(v[y // 2, x // 2])


def close(a: tuple[int, int, int], b: tuple[int, int, int], tolerance: int = 2) -> bool:
    return all(abs(p - q) <= tolerance for p, q in zip(a, b, strict=True))


def centre(pane: Pane) -> tuple[int, int]:
    return pane.x + pane.w // 2, pane.y + pane.h // 2


def region(picture: Picture, x: int, y: int, w: int, h: int) -> Picture:
    return planes(picture)[0][y : y + h, x : x + w]


def test_all_equal_puts_each_colour_in_its_pane() -> None:
    pictures: dict[str, Picture | None] = {
        "a": solid(1280, 720, RED),
        "b": solid(640, 360, GREEN),
        "c": solid(320, 240, BLUE),  # 4:3, smaller than its pane: cropped and enlarged
    }
    panes = arrange(
        "allEqual",
        W,
        H,
        viewer="me",
        sources=["me", "a", "b", "c"],
        speaker=None,
        previous_speaker=None,
    )
    assert len(panes) == 3
    canvas = Compositor(W, H).compose(panes, pictures, {"a": "A", "b": "B", "c": "C"})
    assert canvas.shape == (H * 3 // 2, W) and canvas.dtype == np.uint8
    expected = {"a": RED, "b": GREEN, "c": BLUE}
    for pane in panes:
        assert pane.source is not None
        assert close(colour_at(canvas, *centre(pane)), expected[pane.source]), pane
    # 3 panes in a 2x2 grid: the fourth cell (bottom right of the centred last row) is black
    assert close(colour_at(canvas, 20, H - 20), BLACK) or close(
        colour_at(canvas, W - 20, H - 20), BLACK
    )


def test_speaker_only_hides_the_viewer_who_is_speaking() -> None:
    pictures: dict[str, Picture | None] = {
        "me": solid(640, 360, RED),
        "prev": solid(640, 360, GREEN),
        "other": solid(640, 360, BLUE),
    }
    panes = arrange(
        "speakerOnly",
        W,
        H,
        viewer="me",
        sources=["me", "prev", "other"],
        speaker="me",
        previous_speaker="prev",
    )
    canvas = Compositor(W, H).compose(panes, pictures, {})
    luma, _u, v = planes(canvas)
    assert not np.any(
        (np.abs(luma.astype(int) - RED[0]) <= 2)[::2, ::2] & (np.abs(v.astype(int) - RED[2]) <= 2)
    )
    assert close(colour_at(canvas, W // 2, H // 2), GREEN)
    # the previous speaker fills the canvas (apart from the label)
    assert np.mean(np.abs(luma.astype(int) - GREEN[0]) <= 2) > 0.95


def test_cropping_fills_the_pane_around_the_centre() -> None:
    # a 4:3 source whose top and bottom 40 rows are red: a 16:9 pane crops them away
    picture = solid(640, 480, GREEN)
    luma, u, v = planes(picture)
    for rows in (slice(0, 40), slice(440, 480)):
        luma[rows] = RED[0]
        u[rows.start // 2 : rows.stop // 2] = RED[1]
        v[rows.start // 2 : rows.stop // 2] = RED[2]
    pane = Pane(0, 0, 640, 360, "a", False)
    canvas = Compositor(640, 360, labels=False).compose([pane], {"a": picture}, {})
    assert np.all(np.abs(planes(canvas)[0].astype(int) - GREEN[0]) <= 2)
    # a 16:9 source in a 4:3 pane: the left and right are cropped, the pane is filled
    wide = solid(1280, 720, GREEN)
    wide_luma = planes(wide)[0]
    wide_luma[:, :100] = RED[0]
    wide_luma[:, -100:] = RED[0]
    pane = Pane(0, 0, 480, 360, "a", False)
    canvas = Compositor(480, 360, labels=False).compose([pane], {"a": wide}, {})
    assert np.all(np.abs(planes(canvas)[0].astype(int) - GREEN[0]) <= 2)


def test_scaling_keeps_the_picture() -> None:
    # a horizontal ramp shrunk to a quarter stays a monotonic ramp over the same range
    ramp = solid(1280, 720, GREY)
    planes(ramp)[0][:] = np.linspace(16, 235, 1280).astype(np.uint8)
    canvas = Compositor(320, 180, labels=False).compose(
        [Pane(0, 0, 320, 180, "a", False)], {"a": ramp}, {}
    )
    row = planes(canvas)[0][90].astype(int)
    assert np.all(np.diff(row) >= 0)
    assert row[0] < 25 and row[-1] > 225
    assert abs(row[160] - 125) <= 4


def test_placeholder_for_no_picture_is_not_black_and_has_a_label() -> None:
    panes = arrange(
        "allEqual", W, H, viewer=None, sources=["a", "b"], speaker=None, previous_speaker=None
    )
    canvas = Compositor(W, H).compose(panes, {"a": None}, {"a": "Alice Example", "b": "Bob"})
    for pane in panes:  # "b" is missing from pictures: a placeholder as well
        area = region(canvas, pane.x, pane.y, pane.w, pane.h)
        assert area.mean() > BLACK[0] + 10
        # background that is neither black nor the picture of someone
        assert not close(colour_at(canvas, pane.x + 4, pane.y + 4), BLACK)
        # the initials in the middle and the name label at the bottom left are bright
        assert (area[pane.h // 4 : pane.h * 3 // 4] > 200).sum() > 50
        assert (area[pane.h * 3 // 4 :, : pane.w // 2] > 200).sum() > 50
    a, b = panes
    left = region(canvas, a.x, a.y, a.w, a.h)
    right = region(canvas, b.x, b.y, b.w, b.h)
    assert not np.array_equal(left, right)  # each carries its own name


def test_invalid_picture_counts_as_none() -> None:
    pane = Pane(0, 0, 640, 360, "a", False)
    compositor = Compositor(640, 360)
    bad = np.zeros((100, 101), dtype=np.uint8)
    assert np.array_equal(
        compositor.compose([pane], {"a": bad}, {"a": "A"}),
        compositor.compose([pane], {"a": None}, {"a": "A"}),
    )


def test_waiting_card_when_no_panes() -> None:
    canvas = Compositor(W, H).compose([], {}, {})
    assert canvas.shape == (H * 3 // 2, W)
    luma = planes(canvas)[0]
    assert not close(colour_at(canvas, 10, 10), BLACK)
    middle = luma[H // 2 - 40 : H // 2 + 40]
    assert (middle > 200).sum() > 500  # the text
    assert (luma[: H // 4] > 200).sum() == 0


def test_labels_are_drawn_at_the_bottom_left() -> None:
    dark = solid(1280, 720, BLACK)
    pane = Pane(0, 0, W, H, "a", True)
    compositor = Compositor(W, H)
    canvas = compositor.compose([pane], {"a": dark}, {"a": "Alice"})
    luma = planes(canvas)[0]
    assert (luma[H * 3 // 4 :, : W // 4] > 200).sum() > 100
    assert (luma[: H * 3 // 4] > 20).sum() == 0  # nothing above the label
    assert (luma[:, W // 2 :] > 20).sum() == 0  # a short name stays on the left
    plain = Compositor(W, H, labels=False).compose([pane], {"a": dark}, {"a": "Alice"})
    assert (planes(plain)[0] > 20).sum() == 0
    # a source without a name shows its id
    by_id = compositor.compose([pane], {"a": dark}, {})
    assert not np.array_equal(by_id, canvas)


def test_label_box_is_semi_transparent_and_mutes_colour() -> None:
    red = solid(640, 360, RED)
    pane = Pane(0, 0, 640, 360, "a", False)
    canvas = Compositor(640, 360).compose([pane], {"a": red}, {"a": "W"})
    luma, _u, v = planes(canvas)
    # the box's corner, next to the bottom-left margin, is darker but not black
    corner_y, corner_x = 360 - 12, 12
    assert 16 < luma[corner_y, corner_x] < RED[0] - 20
    # its chroma is closer to grey than the picture's
    assert abs(int(v[corner_y // 2, corner_x // 2]) - 128) < abs(RED[2] - 128) // 2
    # bright text pixels
    assert (luma[300:, :100] > 200).sum() > 20


def test_labels_skipped_on_tiny_panes_and_long_names_fit() -> None:
    dark = solid(320, 180, BLACK)
    tiny = Pane(0, 0, 150, 84, "a", False)
    canvas = Compositor(320, 180).compose([tiny], {"a": dark}, {"a": "Alice"})
    assert (planes(canvas)[0] > 20).sum() == 0
    small = Pane(0, 0, 160, 90, "a", False)
    canvas = Compositor(320, 180).compose(
        [small], {"a": dark}, {"a": "A very long name that cannot possibly fit in a small pane"}
    )
    luma = planes(canvas)[0]
    assert (luma[:90, :160] > 200).sum() > 10
    assert (luma[:, 160:] > 20).sum() == 0 and (luma[90:] > 20).sum() == 0


def test_telepresence_big_label_moves_above_the_overlays() -> None:
    dark = solid(1280, 720, BLACK)
    sources = ["a", "b", "c", "d", "e", "f"]
    panes = arrange(
        "telepresence", W, H, viewer=None, sources=sources, speaker="a", previous_speaker=None
    )
    canvas = Compositor(W, H).compose(panes, dict.fromkeys(sources, dark), {"a": "Alice"})
    luma = planes(canvas)[0]
    assert (luma[: H // 8, : W // 4] > 200).sum() > 50


def test_uncovered_areas_are_black() -> None:
    panes = arrange(
        "stacked", W, H, viewer=None, sources=["a", "b"], speaker="a", previous_speaker=None
    )
    white = solid(1280, 720, yuv(255, 255, 255))
    canvas = Compositor(W, H).compose(panes, {"a": white, "b": white}, {})
    big = panes[0]
    assert big.x > 0
    assert close(colour_at(canvas, big.x // 2, H // 2), BLACK, 0)
    assert close(colour_at(canvas, W - big.x // 2, H // 2), BLACK, 0)


def test_compose_returns_a_new_picture_each_time() -> None:
    compositor = Compositor(640, 360)
    pane = Pane(0, 0, 640, 360, "a", False)
    first = compositor.compose([pane], {"a": solid(640, 360, RED)}, {})
    second = compositor.compose([pane], {"a": solid(640, 360, GREEN)}, {})
    assert close(colour_at(first, 320, 100), RED) and close(colour_at(second, 320, 100), GREEN)
    card = compositor.compose([], {}, {})
    card[:] = 0
    assert not np.array_equal(compositor.compose([], {}, {}), card)


def test_scaled_pictures_are_shared_within_a_tick() -> None:
    cache = ScaleCache()
    one, two = Compositor(W, H, cache=cache), Compositor(W, H, cache=cache)
    picture = solid(1280, 720, RED)
    pictures: dict[str, Picture | None] = {"a": picture, "b": solid(1280, 720, BLUE)}
    view_a = arrange(
        "allEqual", W, H, viewer="b", sources=["a", "b", "c"], speaker=None, previous_speaker=None
    )
    view_c = arrange(
        "allEqual", W, H, viewer="c", sources=["a", "b", "c"], speaker=None, previous_speaker=None
    )
    first = one.compose(view_a, pictures, {})
    misses = cache.misses
    again = two.compose(view_a, pictures, {})
    assert cache.misses == misses and cache.hits >= 1
    assert np.array_equal(first, again)
    two.compose(view_c, pictures, {})  # "a" at the same size: shared
    assert cache.hits >= 2
    one.clear_cache()
    hits = cache.hits
    cleared = one.compose(view_a, pictures, {})
    assert cache.hits == hits
    assert np.array_equal(first, cleared)


def test_rejects_panes_outside_the_canvas() -> None:
    compositor = Compositor(640, 360)
    with pytest.raises(ValueError):
        compositor.compose([Pane(600, 0, 100, 100, "a", False)], {}, {})
    with pytest.raises(ValueError):
        compositor.compose([Pane(1, 0, 100, 100, "a", False)], {}, {})
    with pytest.raises(ValueError):
        Compositor(641, 360)


def test_text_masks() -> None:
    short, long = text_mask("Al", 20), text_mask("Alice Anderson", 20)
    assert short.shape[0] == long.shape[0] == text_mask("gy", 20).shape[0]
    assert long.shape[1] > short.shape[1] > 0
    assert long.max() == 255 and long.dtype == np.uint8
    assert text_mask("Alice", 40).shape[0] > text_mask("Alice", 20).shape[0]
    fitted = fit_text_mask("Alice Anderson", 20, 60)
    assert 0 < fitted.shape[1] <= 60
    assert fit_text_mask("Alice Anderson", 20, 1000) is long
    assert fit_text_mask("Alice", 20, 2).shape[1] == 0
    with pytest.raises(ValueError):  # cached masks are shared: read-only
        long[0, 0] = 1
