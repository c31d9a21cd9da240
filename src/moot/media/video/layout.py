"""Screen layouts: which participant goes where in a participant's view of the call.

The layout names are those of the Cisco Meeting Server API (``LAYOUTS``). :func:`arrange`
turns a layout name, a canvas size and the call's participants into a tuple of
:class:`Pane` rectangles, each showing one participant. Geometry, as on the product:

- ``speakerOnly``: the active speaker fills the canvas.
- ``allEqual``: equal panes in a grid that grows with the number of others (one pane,
  two side by side, 2x2, 3x3, 4x4, 5x5 at most); the fixed grids
  ``allEqualQuarters`` (2x2), ``allEqualNinths`` (3x3), ``allEqualSixteenths`` (4x4),
  ``allEqualTwentyFifths`` (5x5) always use the same pane size. Panes keep the canvas
  aspect ratio (16:9 panes in a 16:9 canvas): a grid with fewer rows than columns is
  centred vertically and a short last row is centred horizontally.
- ``telepresence``: the speaker fills the canvas, up to 5 small panes (1/6 of the canvas)
  are overlaid along the bottom.
- ``stacked``: the speaker in a big pane at the top (4/5 of the canvas, centred), up to 5
  small panes (1/5 of the canvas) in a row below it.
- ``onePlusFive`` / ``onePlusSeven`` / ``onePlusNine``: a 3x3 / 4x4 / 5x5 grid whose
  top-left 2x2 / 3x3 / 4x4 cells are the speaker's big pane; the small panes fill the
  right column (top down), then the bottom row (left to right).
- ``onePlusN``: like ``stacked`` with up to 8 small panes: the row has
  ``clamp(small panes, 5, 8)`` slots of 1/slots of the canvas, the big pane takes the rest
  of the height.
- ``automatic``: ``speakerOnly`` with one other participant, ``allEqual`` with up to
  four, ``onePlusN`` beyond.

The big pane shows the active speaker, or - when there is none, or the viewer is the
speaker - the previous speaker, or else the most important other participant; it never
shows the viewer. No layout shows the viewer at all (people see themselves locally: the web
app's self view, an endpoint's own); the small panes show the others in order of
importance. All coordinates and sizes are even (I420 chroma is subsampled by 2), the
result depends only on the arguments, and it is empty when there is nobody but the viewer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["LAYOUTS", "Pane", "arrange"]

LAYOUTS: tuple[str, ...] = (
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
)

# Columns of the fixed equal grids; allEqual grows up to MAX_GRID columns.
_FIXED_GRIDS = {
    "allEqualQuarters": 2,
    "allEqualNinths": 3,
    "allEqualSixteenths": 4,
    "allEqualTwentyFifths": 5,
}
MAX_GRID = 5
# Grid size of the onePlusX layouts (the big pane is (size-1) x (size-1) cells).
_ONE_PLUS_GRIDS = {"onePlusFive": 3, "onePlusSeven": 4, "onePlusNine": 5}
# telepresence: overlay size as a fraction of the canvas, and how many at most.
_OVERLAY_FRACTION = 6
_MAX_OVERLAYS = 5
# stacked: row slots; onePlusN: row slots between these bounds.
_STACKED_SLOTS = 5
_ONE_PLUS_N_MAX = 8


@dataclass(frozen=True)
class Pane:
    """A rectangle of the canvas showing ``source`` (a participant id); ``big`` for the speaker pane."""

    x: int
    y: int
    w: int
    h: int
    source: str | None
    big: bool


def _even(value: float) -> int:
    """Round down to an even integer."""
    return int(value) // 2 * 2


def _main_source(
    others: Sequence[str], viewer: str | None, speaker: str | None, previous_speaker: str | None
) -> str:
    for candidate in (speaker, previous_speaker):
        if candidate is not None and candidate != viewer and candidate in others:
            return candidate
    return others[0]


def _row(sources: Sequence[str], y: int, w: int, h: int, width: int, gap: int = 0) -> list[Pane]:
    """Small panes of w x h side by side at height y, centred horizontally."""
    total = len(sources) * w + max(len(sources) - 1, 0) * gap
    x0 = _even((width - total) / 2)
    return [Pane(x0 + i * (w + gap), y, w, h, source, False) for i, source in enumerate(sources)]


def _grid(sources: Sequence[str], width: int, height: int, columns: int) -> list[Pane]:
    """Equal panes of 1/columns of the canvas, rows centred vertically, last row centred."""
    w, h = _even(width / columns), _even(height / columns)
    rows = math.ceil(len(sources) / columns)
    y0 = _even((height - rows * h) / 2)
    panes: list[Pane] = []
    for row in range(rows):
        panes += _row(sources[row * columns : (row + 1) * columns], y0 + row * h, w, h, width)
    return panes


def _all_equal_columns(count: int) -> int:
    return min(MAX_GRID, math.ceil(math.sqrt(count)))


def _big_and_row(
    main: str, small: Sequence[str], width: int, height: int, slots: int
) -> list[Pane]:
    """A big pane on top and a row of ``slots`` small-pane slots (1/slots of the canvas) below."""
    w, h = _even(width / slots), _even(height / slots)
    big_h = height - h
    big_w = min(width, _even(big_h * width / height))
    big = Pane(_even((width - big_w) / 2), 0, big_w, big_h, main, True)
    return [big, *_row(small[:slots], big_h, w, h, width)]


def _telepresence(main: str, small: Sequence[str], width: int, height: int) -> list[Pane]:
    w, h = _even(width / _OVERLAY_FRACTION), _even(height / _OVERLAY_FRACTION)
    gap = max(2, _even(width / 80))
    overlays = _row(small[:_MAX_OVERLAYS], height - h - gap, w, h, width, gap)
    return [Pane(0, 0, width, height, main, True), *overlays]


def _one_plus(main: str, small: Sequence[str], width: int, height: int, size: int) -> list[Pane]:
    w, h = _even(width / size), _even(height / size)
    x0, y0 = _even((width - size * w) / 2), _even((height - size * h) / 2)
    last = size - 1
    slots = [(x0 + last * w, y0 + row * h) for row in range(last)]
    slots += [(x0 + column * w, y0 + last * h) for column in range(size)]
    panes = [Pane(x0, y0, last * w, last * h, main, True)]
    panes += [Pane(x, y, w, h, source, False) for (x, y), source in zip(slots, small, strict=False)]
    return panes


def _layout_panes(
    layout: str,
    width: int,
    height: int,
    viewer: str | None,
    sources: Sequence[str],
    speaker: str | None,
    previous_speaker: str | None,
) -> list[Pane]:
    """The panes of :func:`arrange` before dropping those a tiny canvas reduces to nothing."""
    ordered = list(dict.fromkeys(sources))
    others = [source for source in ordered if source != viewer]
    if not others:
        return []
    if layout == "automatic":
        if len(others) == 1:
            layout = "speakerOnly"
        elif len(others) <= 4:
            layout = "allEqual"
        else:
            layout = "onePlusN"
    if layout == "allEqual":
        shown = others[: MAX_GRID * MAX_GRID]
        return _grid(shown, width, height, _all_equal_columns(len(shown)))
    if layout in _FIXED_GRIDS:
        columns = _FIXED_GRIDS[layout]
        return _grid(others[: columns * columns], width, height, columns)
    main = _main_source(others, viewer, speaker, previous_speaker)
    small = [source for source in others if source != main]  # never oneself
    if layout == "speakerOnly":
        return [Pane(0, 0, width, height, main, True)]
    if layout == "telepresence":
        return _telepresence(main, small, width, height)
    if layout == "stacked":
        return _big_and_row(main, small, width, height, _STACKED_SLOTS)
    if layout == "onePlusN":
        slots = min(_ONE_PLUS_N_MAX, max(_STACKED_SLOTS, len(small)))
        return _big_and_row(main, small, width, height, slots)
    return _one_plus(main, small, width, height, _ONE_PLUS_GRIDS[layout])


def arrange(
    layout: str,
    width: int,
    height: int,
    *,
    viewer: str | None,
    sources: Sequence[str],
    speaker: str | None,
    previous_speaker: str | None,
) -> tuple[Pane, ...]:
    """The panes of ``viewer``'s view of a ``width`` x ``height`` canvas in ``layout``.

    ``sources`` are the call's participants, most important (most recent speakers) first,
    possibly including the viewer; duplicates are ignored. Raises ValueError for an
    unknown layout or a canvas that is not even-sized.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}")
    if width < 2 or height < 2 or width % 2 or height % 2:
        raise ValueError(f"canvas must be even-sized, got {width}x{height}")
    panes = _layout_panes(layout, width, height, viewer, sources, speaker, previous_speaker)
    return tuple(pane for pane in panes if pane.w > 0 and pane.h > 0 and pane.y >= 0)
