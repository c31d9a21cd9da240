"""Layouts: pane counts, geometry and who goes where, for every layout of the CMS API."""

from __future__ import annotations

import itertools

import pytest

from moot.media.video.layout import LAYOUTS, Pane, arrange

W, H = 1280, 720
VIEWER = "me"
EQUAL = {
    "allEqualQuarters": 4,
    "allEqualNinths": 9,
    "allEqualSixteenths": 16,
    "allEqualTwentyFifths": 25,
}


def others(count: int) -> list[str]:
    return [f"p{i}" for i in range(count)]


def view(
    layout: str,
    count: int,
    *,
    speaker: str | None = None,
    previous: str | None = None,
    width: int = W,
    height: int = H,
) -> tuple[Pane, ...]:
    """``VIEWER``'s view with ``count`` others; the viewer is in the middle of the sources."""
    sources = others(count)
    sources.insert(len(sources) // 2, VIEWER)
    return arrange(
        layout,
        width,
        height,
        viewer=VIEWER,
        sources=sources,
        speaker=speaker,
        previous_speaker=previous,
    )


def expected_count(layout: str, n: int) -> int:
    """Panes for n others (the viewer never appears: people see themselves locally)."""
    if n == 0:
        return 0
    if layout == "automatic":
        layout = "speakerOnly" if n == 1 else "allEqual" if n <= 4 else "onePlusN"
    small = {
        "telepresence": 5,
        "stacked": 5,
        "onePlusFive": 5,
        "onePlusSeven": 7,
        "onePlusNine": 9,
        "onePlusN": 8,
    }
    if layout == "allEqual":
        return min(n, 25)
    if layout in EQUAL:
        return min(n, EQUAL[layout])
    if layout == "speakerOnly":
        return 1
    # the big pane plus the other others, up to the row's capacity
    return 1 + min(n - 1, small[layout])


def overlaps(a: Pane, b: Pane) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def test_layout_names_are_the_cms_api_names() -> None:
    assert set(LAYOUTS) == {
        "allEqual",
        "speakerOnly",
        "telepresence",
        "stacked",
        "allEqualQuarters",
        "allEqualNinths",
        "allEqualSixteenths",
        "allEqualTwentyFifths",
        "onePlusFive",
        "onePlusSeven",
        "onePlusNine",
        "automatic",
        "onePlusN",
    }
    assert len(LAYOUTS) == 13


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("count", [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 16, 17, 25, 30])
def test_pane_counts_geometry_and_roles(layout: str, count: int) -> None:
    panes = view(layout, count, speaker="p1" if count > 1 else None)
    assert len(panes) == expected_count(layout, count)
    assert len({pane.source for pane in panes}) == len(panes)  # nobody twice
    for pane in panes:
        assert pane.source is not None
        assert pane.x >= 0 and pane.y >= 0
        assert pane.x + pane.w <= W and pane.y + pane.h <= H
        assert pane.w > 0 and pane.h > 0
        assert pane.x % 2 == pane.y % 2 == pane.w % 2 == pane.h % 2 == 0
    big = [pane for pane in panes if pane.big]
    assert len(big) <= 1
    assert all(pane.source != VIEWER for pane in big)
    assert VIEWER not in {pane.source for pane in panes}
    # no overlaps, except telepresence's overlays over its big pane
    for a, b in itertools.combinations(panes, 2):
        if layout == "telepresence" and (a.big or b.big):
            continue
        assert not overlaps(a, b), (a, b)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_deterministic(layout: str) -> None:
    first = view(layout, 7, speaker="p3", previous="p2")
    again = view(layout, 7, speaker="p3", previous="p2")
    assert first == again
    assert arrange(
        layout, W, H, viewer="p0", sources=others(7), speaker="p3", previous_speaker=None
    ) == arrange(layout, W, H, viewer="p0", sources=others(7), speaker="p3", previous_speaker=None)


@pytest.mark.parametrize("layout", [name for name in LAYOUTS if not name.startswith("allEqual")])
def test_big_pane_shows_speaker_or_previous_never_viewer(layout: str) -> None:
    layout_count = 1 if layout == "automatic" else 6  # automatic: speakerOnly with one other

    def big_source(speaker: str | None, previous: str | None) -> str | None:
        panes = view(layout, layout_count, speaker=speaker, previous=previous)
        return next(pane.source for pane in panes if pane.big)

    last = f"p{layout_count - 1}"
    assert big_source(last, "p0") == last
    # the viewer is speaking: they see the previous speaker
    assert big_source(VIEWER, last) == last
    # nobody speaking and no previous speaker: the most important other participant
    assert big_source(None, None) == "p0"
    assert big_source(VIEWER, VIEWER) == "p0"
    # a speaker who is no longer in the call is ignored
    assert big_source("gone", last) == last


def test_speaker_only_shows_one_full_canvas_pane() -> None:
    panes = view("speakerOnly", 3, speaker="p2")
    assert panes == (Pane(0, 0, W, H, "p2", True),)


def test_nobody_else_gives_no_panes() -> None:
    for layout in LAYOUTS:
        assert (
            arrange(
                layout, W, H, viewer=VIEWER, sources=[VIEWER], speaker=VIEWER, previous_speaker=None
            )
            == ()
        )
        assert (
            arrange(layout, W, H, viewer=VIEWER, sources=[], speaker=None, previous_speaker=None)
            == ()
        )


@pytest.mark.parametrize(
    ("count", "size"),
    [
        (1, (1280, 720)),
        (2, (640, 360)),
        (4, (640, 360)),
        (5, (426, 240)),
        (9, (426, 240)),
        (10, (320, 180)),
        (16, (320, 180)),
        (17, (256, 144)),
        (25, (256, 144)),
        (40, (256, 144)),
    ],
)
def test_all_equal_grid_grows_with_16_9_panes(count: int, size: tuple[int, int]) -> None:
    panes = view("allEqual", count)
    assert {(pane.w, pane.h) for pane in panes} == {size}
    assert all(abs(pane.w / pane.h - 16 / 9) < 0.02 for pane in panes)
    # the panes are centred: the free space above equals the free space below (within 2 px)
    top = min(pane.y for pane in panes)
    bottom = H - max(pane.y + pane.h for pane in panes)
    assert abs(top - bottom) <= 2
    # sources in order of importance, reading order
    order = sorted(panes, key=lambda pane: (pane.y, pane.x))
    assert [pane.source for pane in order] == others(min(count, 25))


def test_two_others_side_by_side() -> None:
    a, b = view("allEqual", 2)
    assert a.y == b.y == (H - 360) // 2
    assert (a.x, b.x) == (0, 640)


@pytest.mark.parametrize(
    ("layout", "columns"),
    [
        ("allEqualQuarters", 2),
        ("allEqualNinths", 3),
        ("allEqualSixteenths", 4),
        ("allEqualTwentyFifths", 5),
    ],
)
def test_fixed_grids_keep_their_pane_size(layout: str, columns: int) -> None:
    for count in (1, 2, columns * columns, columns * columns + 3):
        panes = view(layout, count)
        assert {(pane.w, pane.h) for pane in panes} == {
            (W // columns // 2 * 2, H // columns // 2 * 2)
        }


@pytest.mark.parametrize(
    ("layout", "grid"), [("onePlusFive", 3), ("onePlusSeven", 4), ("onePlusNine", 5)]
)
def test_one_plus_grids(layout: str, grid: int) -> None:
    panes = view(layout, 20, speaker="p4")
    big, *small = panes
    cell_w, cell_h = W // grid // 2 * 2, H // grid // 2 * 2
    assert big.big and big.source == "p4"
    assert (big.w, big.h) == ((grid - 1) * cell_w, (grid - 1) * cell_h)
    assert len(small) == grid * grid - (grid - 1) ** 2
    assert all((pane.w, pane.h) == (cell_w, cell_h) for pane in small)
    # right column top-down, then the bottom row left to right
    right = [pane for pane in small if pane.x == big.x + big.w]
    bottom = [pane for pane in small if pane.y == big.y + big.h]
    assert len(right) == grid  # the bottom-right corner is in both
    assert len(bottom) == grid
    assert [pane.y for pane in small[: grid - 1]] == sorted(pane.y for pane in small[: grid - 1])


def test_stacked_row_below_big_pane() -> None:
    big, *small = view("stacked", 8, speaker="p0")
    assert big.big and big.y == 0 and abs(big.w / big.h - 16 / 9) < 0.02
    assert len(small) == 5
    assert all(pane.y == big.y + big.h and pane.y + pane.h <= H for pane in small)
    assert [pane.x for pane in small] == sorted(pane.x for pane in small)


def test_telepresence_overlays_along_the_bottom() -> None:
    big, *small = view("telepresence", 8, speaker="p0")
    assert (big.x, big.y, big.w, big.h) == (0, 0, W, H)
    assert len(small) == 5
    assert all(pane.y + pane.h <= H and pane.y >= H * 3 // 4 for pane in small)
    assert all(overlaps(big, pane) for pane in small)
    for a, b in itertools.combinations(small, 2):
        assert not overlaps(a, b)


def test_one_plus_n_row_of_up_to_eight() -> None:
    big, *small = view("onePlusN", 12, speaker="p0")
    assert big.big and len(small) == 8
    assert {(pane.w, pane.h) for pane in small} == {(160, 90)}
    assert all(pane.y == big.h for pane in small)
    # few others: bigger small panes (the row has at least 5 slots)
    big, *small = view("onePlusN", 2, speaker="p0")
    assert {(pane.w, pane.h) for pane in small} == {(256, 144)}


def test_small_panes_leave_the_viewer_out_in_order_of_importance() -> None:
    panes = arrange(
        "stacked", W, H, viewer="b", sources=["a", "b", "c", "d"], speaker="c", previous_speaker=None
    )
    assert [(pane.source, pane.big) for pane in panes] == [("c", True), ("a", False), ("d", False)]


def test_automatic_picks_by_number_of_others() -> None:
    assert len(view("automatic", 1)) == 1 and view("automatic", 1)[0].big
    assert view("automatic", 3) == view("allEqual", 3)
    assert view("automatic", 4) == view("allEqual", 4)
    assert view("automatic", 5, speaker="p2") == view("onePlusN", 5, speaker="p2")


def test_duplicates_ignored() -> None:
    panes = arrange(
        "allEqual", W, H, viewer=None, sources=["a", "b", "a"], speaker=None, previous_speaker=None
    )
    assert [pane.source for pane in panes] == ["a", "b"]


def test_other_canvas_sizes_stay_even_and_inside() -> None:
    for (width, height), layout in itertools.product(
        [(1920, 1080), (640, 360), (176, 144), (854, 480)], LAYOUTS
    ):
        for pane in view(layout, 12, speaker="p1", width=width, height=height):
            assert pane.x % 2 == pane.y % 2 == pane.w % 2 == pane.h % 2 == 0
            assert pane.x + pane.w <= width and pane.y + pane.h <= height


def test_rejects_unknown_layout_and_odd_canvas() -> None:
    with pytest.raises(ValueError):
        arrange("bogus", W, H, viewer=None, sources=["a"], speaker=None, previous_speaker=None)
    with pytest.raises(ValueError):
        arrange(
            "allEqual", 1279, 720, viewer=None, sources=["a"], speaker=None, previous_speaker=None
        )
