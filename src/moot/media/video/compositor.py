"""The video compositor: one I420 picture of a layout's panes, with the participants' names.

:class:`Compositor` draws the :class:`~moot.media.video.layout.Pane` list of a view onto a
``width`` x ``height`` I420 canvas (the picture format of ``moot.media.video``: a uint8
array of shape ``(height * 3 // 2, width)``, Y then U then V):

- a participant's picture is scaled to *fill* its pane: the picture is cropped to the
  pane's aspect ratio around its centre (nothing is letterboxed), then scaled with
  libswscale through PyAV (area averaging when shrinking, bilinear when enlarging), one
  thread, no per-pixel Python;
- a participant without a picture (audio only, or no picture decoded yet) gets a
  placeholder: a dark pane with a coloured disc holding the initials and, in panes at
  least 320x180, an "audio only" caption;
- every pane of at least 160x90 gets a label: the name in white on a semi-transparent dark
  box at the bottom left (top left when a later pane, such as telepresence's overlay row,
  covers the bottom of the pane), its size proportional to the pane's height (names too
  long are shortened with an ellipsis); under the box the colour is muted towards grey;
- no panes at all: a "Waiting for others to join" card;
- canvas areas no pane covers are black.

Scaling is the expensive part, so scaled pictures are cached per ``(id(picture), w, h)``
in a :class:`ScaleCache`: views composed in the same tick share the work. The cache holds a
reference to each picture it keyed, so an id cannot be reused while its entry lives, but
it assumes pictures are not modified in place: call :meth:`Compositor.clear_cache` (or
:meth:`ScaleCache.clear`) once per tick. Placeholders, labels and the card are cached per
name and size. ``compose`` returns a new array on every call, which the caller may keep.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import av
import numpy as np
import numpy.typing as npt
from av.video.reformatter import VideoReformatter

from moot.media.video.layout import Pane
from moot.media.video.text import fit_text_mask, text_mask

__all__ = ["Compositor", "ScaleCache", "yuv"]

Picture = npt.NDArray[np.uint8]
Planes = tuple[Picture, Picture, Picture]
_Weights = npt.NDArray[np.uint16]

# Colours (limited-range BT.601 Y, U, V).
BLACK = (16, 128, 128)
WHITE_Y = 235
# A label box keeps this fraction (in 1/128) of what is under it: about 40 %.
_BOX_KEEP = 51
# Smallest pane with a label, and smallest label text.
MIN_LABEL_PANE = (160, 90)
_MIN_TEXT = 10
_MIN_CAPTION_PANE = (320, 180)
WAITING_TEXT = "Waiting for others to join"
AUDIO_ONLY_TEXT = "audio only"

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def yuv(red: int, green: int, blue: int) -> tuple[int, int, int]:
    """Limited-range BT.601 (Y, U, V) of an 8-bit RGB colour."""
    y = 16 + (65.738 * red + 129.057 * green + 25.064 * blue) / 256
    u = 128 + (-37.945 * red - 74.494 * green + 112.439 * blue) / 256
    v = 128 + (112.439 * red - 94.154 * green - 18.285 * blue) / 256
    return round(y), round(u), round(v)


_BACKGROUND = yuv(40, 44, 52)
_CAPTION_Y = 170
_AVATAR_COLOURS = tuple(
    yuv(*rgb)
    for rgb in (
        (66, 118, 204),
        (196, 72, 60),
        (30, 140, 90),
        (150, 80, 170),
        (0, 140, 160),
        (210, 110, 50),
    )
)


def _even(value: float) -> int:
    return int(value) // 2 * 2


def _planes(picture: Picture, width: int, height: int) -> Planes:
    """Y, U and V views of an I420 picture."""
    flat = picture.reshape(-1)
    luma = width * height
    chroma = luma // 4
    return (
        flat[:luma].reshape(height, width),
        flat[luma : luma + chroma].reshape(height // 2, width // 2),
        flat[luma + chroma : luma + 2 * chroma].reshape(height // 2, width // 2),
    )


def _picture_size(picture: Picture) -> tuple[int, int] | None:
    """(width, height) of a valid I420 picture, None if the array is not one."""
    if picture.dtype != np.uint8 or picture.ndim != 2 or not picture.flags.c_contiguous:
        return None
    width, height = picture.shape[1], picture.shape[0] * 2 // 3
    if width < 2 or height < 2 or width % 2 or height % 2 or picture.shape[0] != height * 3 // 2:
        return None
    return width, height


def _frame_planes(frame: av.VideoFrame) -> Planes:
    """Views of a yuv420p frame's planes (they keep the frame alive)."""
    views = []
    for plane in frame.planes:
        rows = np.frombuffer(
            memoryview(plane), dtype=np.uint8, count=plane.line_size * plane.height
        )
        views.append(rows.reshape(plane.height, plane.line_size)[:, : plane.width])
    return views[0], views[1], views[2]


class _Bounded(Generic[K, V]):
    """A dict that forgets its oldest entries beyond ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        return self.items.get(key)

    def put(self, key: K, value: V) -> V:
        self.items[key] = value
        while len(self.items) > self.limit:
            self.items.popitem(last=False)
        return value

    def clear(self) -> None:
        self.items.clear()


class ScaleCache:
    """Scaled pictures keyed by ``(id(picture), width, height)``, shareable by compositors."""

    def __init__(self, limit: int = 64) -> None:
        self._entries: _Bounded[tuple[int, int, int], tuple[Picture, Planes]] = _Bounded(limit)
        self.hits = 0
        self.misses = 0

    def get(self, picture: Picture, width: int, height: int) -> Planes | None:
        entry = self._entries.get((id(picture), width, height))
        if entry is None or entry[0] is not picture:
            self.misses += 1
            return None
        self.hits += 1
        return entry[1]

    def put(self, picture: Picture, width: int, height: int, planes: Planes) -> Planes:
        self._entries.put((id(picture), width, height), (picture, planes))
        return planes

    def clear(self) -> None:
        self._entries.clear()


def _blend(plane: Picture, alpha: npt.NDArray[np.float32], value: float) -> None:
    """plane := plane + (value - plane) * alpha, in place (alpha in 0..1, same shape)."""
    mixed = plane + (value - plane.astype(np.float32)) * alpha
    plane[...] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def _half(alpha: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """2x2 average of an even-sized alpha array (its chroma-resolution version)."""
    height, width = alpha.shape
    blocks = alpha.reshape(height // 2, 2, width // 2, 2)
    half: npt.NDArray[np.float32] = blocks.sum(axis=(1, 3), dtype=np.float32) / np.float32(4)
    return half


def _paste_text(planes: Planes, mask: Picture, x: int, y: int, value: tuple[int, int, int]) -> None:
    """Blend an alpha mask of colour ``value`` at (x, y) (even), clipped to the planes."""
    luma = planes[0]
    height = min(mask.shape[0], luma.shape[0] - y)
    width = min(mask.shape[1], luma.shape[1] - x)
    height, width = _even(height), _even(width)
    if height <= 0 or width <= 0 or x < 0 or y < 0:
        return
    alpha = mask[:height, :width].astype(np.float32) / np.float32(255)
    _blend(luma[y : y + height, x : x + width], alpha, value[0])
    alpha_c = _half(alpha)
    for plane, level in zip(planes[1:], value[1:], strict=True):
        _blend(plane[y // 2 : (y + height) // 2, x // 2 : (x + width) // 2], alpha_c, level)


def _fill(planes: Planes, value: tuple[int, int, int]) -> None:
    for plane, level in zip(planes, value, strict=True):
        plane.fill(level)


def _initials(name: str) -> str:
    words = [
        word for word in name.replace("@", " ").replace(".", " ").split() if word[:1].isalnum()
    ]
    return "".join(word[0] for word in words[:2]).upper() or "?"


@dataclass(frozen=True)
class _Label:
    """A label precomputed as out = (under * keep + add) >> 7 over an even-aligned box."""

    x: int
    y: int
    keep: tuple[_Weights, _Weights]  # luma, chroma
    add: tuple[_Weights, _Weights]

    def apply(self, planes: Planes) -> None:
        for index, plane in enumerate(planes):
            level = 0 if index == 0 else 1
            keep, add = self.keep[level], self.add[level]
            scale = 1 if index == 0 else 2
            x, y = self.x // scale, self.y // scale
            region = plane[y : y + keep.shape[0], x : x + keep.shape[1]]
            mixed = np.multiply(region, keep, dtype=np.uint16)
            mixed += add
            mixed >>= 7
            region[...] = mixed


@dataclass(frozen=True)
class _LabelBox:
    """Label geometry for a pane height: text size, padding, margin, box height."""

    size: int
    pad: int
    margin: int
    box_h: int

    @staticmethod
    def for_height(height: int) -> _LabelBox:
        size = max(_MIN_TEXT, height // 24)
        pad = max(2, _even(size / 3))
        margin = max(2, _even(size / 2))
        box_h = _even(text_mask("", size).shape[0] + pad + 1)
        return _LabelBox(size, pad, margin, box_h)

    @property
    def band(self) -> int:
        """Height of the strip at the bottom (or top) of the pane the label lives in."""
        return self.margin + self.box_h


def _make_label(name: str, width: int, height: int, at_top: bool) -> _Label | None:
    if width < MIN_LABEL_PANE[0] or height < MIN_LABEL_PANE[1]:
        return None
    box = _LabelBox.for_height(height)
    pad, margin = box.pad, box.margin
    mask = fit_text_mask(name, box.size, width - 2 * margin - 2 * pad)
    if mask.shape[1] == 0:
        return None
    box_w = min(width - 2 * margin, _even(mask.shape[1] + 2 * pad + 1))
    text = np.zeros((box.box_h, box_w), dtype=np.float32)
    top = (box.box_h - mask.shape[0]) // 2
    text[top : top + mask.shape[0], pad : pad + mask.shape[1]] = mask[:, : box_w - pad] / 255
    text_c = _half(text)
    # out = under * BOX_KEEP/128 * (1 - t) + target * t   (target: white luma, grey chroma)
    keep_y = np.rint(_BOX_KEEP * (1 - text)).astype(np.uint16)
    add_y = np.rint(128 * WHITE_Y * text).astype(np.uint16)
    keep_c = np.rint(_BOX_KEEP * (1 - text_c)).astype(np.uint16)
    add_c = ((128 - keep_c) * 128).astype(np.uint16)
    y = margin if at_top else height - box.band
    return _Label(margin, y, (keep_y, keep_c), (add_y, add_c))


@dataclass(frozen=True)
class _Plan:
    """What a pane list needs beyond its panes: a black background, labels moved to the top."""

    covered: bool
    labels_at_top: tuple[bool, ...]

    @staticmethod
    def of(panes: tuple[Pane, ...], width: int, height: int) -> _Plan:
        mask = np.zeros((height // 2, width // 2), dtype=np.bool_)
        for pane in panes:
            mask[pane.y // 2 : (pane.y + pane.h) // 2, pane.x // 2 : (pane.x + pane.w) // 2] = True
        at_top = []
        for index, pane in enumerate(panes):
            # A label whose strip a later pane (an overlay) covers goes to the top of its pane.
            band_top = pane.y + pane.h - _LabelBox.for_height(pane.h).band
            at_top.append(
                any(
                    other.x < pane.x + pane.w
                    and pane.x < other.x + other.w
                    and other.y < pane.y + pane.h
                    and band_top < other.y + other.h
                    for other in panes[index + 1 :]
                )
            )
        return _Plan(bool(mask.all()), tuple(at_top))


class Compositor:
    """Composes views of ``width`` x ``height`` (even) into I420 pictures.

    ``interpolation`` forces one libswscale algorithm (a PyAV ``Interpolation`` name such
    as ``"FAST_BILINEAR"``); by default ``"AREA"`` when shrinking, ``"BILINEAR"`` when
    enlarging. ``cache`` lets several compositors share scaled pictures; ``labels=False``
    leaves names out.
    """

    def __init__(
        self,
        width: int,
        height: int,
        *,
        cache: ScaleCache | None = None,
        interpolation: str | None = None,
        labels: bool = True,
    ) -> None:
        if width < 2 or height < 2 or width % 2 or height % 2:
            raise ValueError(f"canvas must be even-sized, got {width}x{height}")
        self.width = width
        self.height = height
        self.cache = cache if cache is not None else ScaleCache()
        self.interpolation = interpolation
        self.labels = labels
        self._inputs: _Bounded[tuple[int, int], av.VideoFrame] = _Bounded(16)
        self._scalers: _Bounded[tuple[int, int, int, int], VideoReformatter] = _Bounded(32)
        self._placeholders: _Bounded[tuple[str, int, int], Planes] = _Bounded(64)
        self._labels: _Bounded[tuple[str, int, int, bool], _Label | None] = _Bounded(128)
        self._plans: _Bounded[tuple[Pane, ...], _Plan] = _Bounded(32)
        self._waiting: Picture | None = None

    def clear_cache(self) -> None:
        """Forget the scaled pictures (once per tick: new pictures arrive)."""
        self.cache.clear()

    # ------------------------------------------------------------------ composing
    def compose(
        self,
        panes: Sequence[Pane],
        pictures: Mapping[str, Picture | None],
        names: Mapping[str, str],
    ) -> Picture:
        """The view as a new I420 picture; a source missing from ``names`` shows its id.

        Raises ValueError for a pane outside the canvas or not even-aligned. A picture
        that is not a valid I420 array counts as no picture.
        """
        if not panes:
            return self.waiting_card().copy()
        panes = tuple(panes)
        for pane in panes:
            self._check(pane)
        canvas = np.empty((self.height * 3 // 2, self.width), dtype=np.uint8)
        plan = self._plans.get(panes)
        if plan is None:
            plan = self._plans.put(panes, _Plan.of(panes, self.width, self.height))
        if not plan.covered:
            canvas[: self.height] = BLACK[0]
            canvas[self.height :] = BLACK[1]
        y_plane, u_plane, v_plane = _planes(canvas, self.width, self.height)
        for pane, label_at_top in zip(panes, plan.labels_at_top, strict=True):
            target = (
                y_plane[pane.y : pane.y + pane.h, pane.x : pane.x + pane.w],
                u_plane[pane.y // 2 : (pane.y + pane.h) // 2, pane.x // 2 : (pane.x + pane.w) // 2],
                v_plane[pane.y // 2 : (pane.y + pane.h) // 2, pane.x // 2 : (pane.x + pane.w) // 2],
            )
            if pane.source is None:
                _fill(target, BLACK)
                continue
            name = names.get(pane.source, pane.source)
            picture = pictures.get(pane.source)
            scaled = None if picture is None else self.scaled(picture, pane.w, pane.h)
            if scaled is None:
                scaled = self.placeholder(name, pane.w, pane.h)
            for plane, source in zip(target, scaled, strict=True):
                plane[...] = source
            if self.labels:
                self._label(name, pane.w, pane.h, label_at_top, target)
        return canvas

    def _check(self, pane: Pane) -> None:
        if (
            pane.x < 0
            or pane.y < 0
            or pane.w < 2
            or pane.h < 2
            or pane.x + pane.w > self.width
            or pane.y + pane.h > self.height
            or (pane.x | pane.y | pane.w | pane.h) & 1
        ):
            raise ValueError(f"pane {pane} does not fit an even grid of {self.width}x{self.height}")

    def _label(self, name: str, width: int, height: int, at_top: bool, target: Planes) -> None:
        key = (name, width, height, at_top)
        if key in self._labels.items:
            label = self._labels.items[key]
        else:
            label = self._labels.put(key, _make_label(name, width, height, at_top))
        if label is not None:
            label.apply(target)

    # ------------------------------------------------------------------ scaling
    def scaled(self, picture: Picture, width: int, height: int) -> Planes | None:
        """``picture`` cropped around its centre to the aspect of, and scaled to, width x height.

        Returns the (Y, U, V) planes (shared, read them only) or None if ``picture`` is not
        a valid I420 array. Cached in :attr:`cache`.
        """
        cached = self.cache.get(picture, width, height)
        if cached is not None:
            return cached
        size = _picture_size(picture)
        if size is None:
            return None
        source_w, source_h = size
        if source_w * height > source_h * width:  # wider than the pane: crop the sides
            crop_w, crop_h = max(2, _even(source_h * width / height)), source_h
        else:
            crop_w, crop_h = source_w, max(2, _even(source_w * height / width))
        left, top = _even((source_w - crop_w) / 2), _even((source_h - crop_h) / 2)
        crop = tuple(
            plane[top // s : (top + crop_h) // s, left // s : (left + crop_w) // s]
            for plane, s in zip(_planes(picture, source_w, source_h), (1, 2, 2), strict=True)
        )
        if (crop_w, crop_h) == (width, height):
            return self.cache.put(picture, width, height, (crop[0], crop[1], crop[2]))
        frame = self._inputs.get((crop_w, crop_h))
        if frame is None:
            frame = self._inputs.put((crop_w, crop_h), av.VideoFrame(crop_w, crop_h, "yuv420p"))
        for plane, source in zip(_frame_planes(frame), crop, strict=True):
            plane[...] = source
        scaler_key = (crop_w, crop_h, width, height)
        scaler = self._scalers.get(scaler_key)
        if scaler is None:
            scaler = self._scalers.put(scaler_key, VideoReformatter())
        interpolation = self.interpolation or ("AREA" if width < crop_w else "BILINEAR")
        out = scaler.reformat(
            frame, width=width, height=height, interpolation=interpolation, threads=1
        )
        return self.cache.put(picture, width, height, _frame_planes(out))

    # ------------------------------------------------------------------ cards
    def placeholder(self, name: str, width: int, height: int) -> Planes:
        """The pane shown for ``name`` without a picture (cached; read it only)."""
        key = (name, width, height)
        cached = self._placeholders.get(key)
        if cached is not None:
            return cached
        picture = np.empty((height * 3 // 2, width), dtype=np.uint8)
        planes = _planes(picture, width, height)
        _fill(planes, _BACKGROUND)
        radius = max(2.0, min(width, height) * 0.22)
        centre_x, centre_y = width / 2, height * 0.45
        rows, columns = np.ogrid[0:height, 0:width]
        distance = np.hypot(columns + 0.5 - centre_x, rows + 0.5 - centre_y)
        disc = np.clip(radius + 0.5 - distance, 0, 1).astype(np.float32)
        colour = _AVATAR_COLOURS[zlib.crc32(name.encode()) % len(_AVATAR_COLOURS)]
        _blend(planes[0], disc, colour[0])
        disc_c = _half(disc)
        _blend(planes[1], disc_c, colour[1])
        _blend(planes[2], disc_c, colour[2])
        initials = text_mask(_initials(name), max(_MIN_TEXT, int(radius * 0.9)))
        _paste_text(
            planes,
            initials,
            _even(centre_x - initials.shape[1] / 2),
            _even(centre_y - initials.shape[0] / 2),
            (WHITE_Y, 128, 128),
        )
        if width >= _MIN_CAPTION_PANE[0] and height >= _MIN_CAPTION_PANE[1]:
            caption = fit_text_mask(AUDIO_ONLY_TEXT, max(12, height // 24), width)
            _paste_text(
                planes,
                caption,
                _even((width - caption.shape[1]) / 2),
                _even(centre_y + radius + height * 0.04),
                (_CAPTION_Y, 128, 128),
            )
        return self._placeholders.put(key, planes)

    def caption(self, canvas: Picture, text: str) -> Picture:
        """A copy of ``canvas`` with ``text`` over a dark band across its top (one or two
        lines, split between words): a notice every participant must read (licence
        enforcement, guide B.4)."""
        out = canvas.copy()
        planes = _planes(out, self.width, self.height)
        size = max(_MIN_TEXT, self.height // 24)
        margin = _even(size)
        words = text.split()
        lines = [text]
        if text_mask(text, size).shape[1] > self.width - 2 * margin and len(words) > 1:
            half = len(text) / 2
            cut = min(range(1, len(words)), key=lambda i: abs(len(" ".join(words[:i])) - half))
            lines = [" ".join(words[:cut]), " ".join(words[cut:])]
        masks = [fit_text_mask(line, size, self.width - 2 * margin) for line in lines]
        band = _even(sum(m.shape[0] for m in masks) + 2 * margin)
        luma, u, v = planes
        luma[:band] = (luma[:band].astype(np.uint16) * 3 // 10).astype(np.uint8)
        u[: band // 2] = 128
        v[: band // 2] = 128
        y = margin
        for mask in masks:
            _paste_text(planes, mask, _even((self.width - mask.shape[1]) / 2), y, (WHITE_Y, 128, 128))
            y += _even(mask.shape[0])
        return out

    def waiting_card(self) -> Picture:
        """The picture shown when there is nobody else (cached; read it only)."""
        if self._waiting is None:
            card = np.empty((self.height * 3 // 2, self.width), dtype=np.uint8)
            planes = _planes(card, self.width, self.height)
            _fill(planes, _BACKGROUND)
            size = max(_MIN_TEXT, self.height // 18)
            mask = fit_text_mask(WAITING_TEXT, size, self.width - 2 * _even(size))
            _paste_text(
                planes,
                mask,
                _even((self.width - mask.shape[1]) / 2),
                _even((self.height - mask.shape[0]) / 2),
                (WHITE_Y, 128, 128),
            )
            self._waiting = card
        return self._waiting
