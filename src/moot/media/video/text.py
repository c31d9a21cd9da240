"""Text for the video compositor: a string rendered to a uint8 alpha mask.

Labels and captions are drawn by the compositor as "alpha masks": 2-D ``uint8`` arrays
where 255 is fully covered by the glyphs and 0 is background. The masks come from
Pillow's built-in scalable font (``ImageFont.load_default(size=...)``, Aileron, needs
Pillow >= 10.1 with FreeType); without FreeType Pillow's small bitmap font is scaled up by
pixel repetition. Every mask of a given ``size`` has the same height (the font's ascent
plus descent), so labels line up whatever their letters. Masks are cached (the same
names are drawn 30 times a second) and returned read-only: callers must not modify them.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

__all__ = ["ELLIPSIS", "fit_text_mask", "text_mask"]

Mask = npt.NDArray[np.uint8]

ELLIPSIS = "\u2026"
# Height in pixels of Pillow's bitmap fallback font (used only without FreeType).
_BITMAP_FONT_HEIGHT = 11


@lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _render(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> Mask:
    if isinstance(font, ImageFont.FreeTypeFont):
        ascent, descent = font.getmetrics()
        height = ascent + descent
        width = int(np.ceil(font.getlength(text)))
    else:
        _, _, right, bottom = font.getbbox(text)
        height, width = max(int(bottom), _BITMAP_FONT_HEIGHT), int(right)
    if width <= 0:
        return np.zeros((height, 0), dtype=np.uint8)
    image = Image.new("L", (width, height), 0)
    ImageDraw.Draw(image).text((0, 0), text, fill=255, font=font)
    return np.array(image, dtype=np.uint8)


@lru_cache(maxsize=1024)
def text_mask(text: str, size: int) -> Mask:
    """``text`` as an alpha mask about ``size`` pixels tall (shape ``(height, width)``).

    The height depends only on ``size``; the width on the text (0 for an empty string).
    """
    if size < 1:
        raise ValueError(f"text size must be positive, got {size}")
    font = _font(size)
    mask = _render(text, font)
    if not isinstance(font, ImageFont.FreeTypeFont):
        factor = max(1, round(size / _BITMAP_FONT_HEIGHT))
        mask = np.repeat(np.repeat(mask, factor, axis=0), factor, axis=1)
    mask.setflags(write=False)
    return mask


@lru_cache(maxsize=1024)
def fit_text_mask(text: str, size: int, max_width: int) -> Mask:
    """Like :func:`text_mask`, shortened with an ellipsis so it is at most ``max_width`` wide.

    Trailing characters are dropped (whole characters, never half a glyph); if not even
    the ellipsis fits, the result is an empty (zero-width) mask.
    """
    mask = text_mask(text, size)
    if mask.shape[1] <= max_width:
        return mask
    # Binary search for the longest prefix that still fits with the ellipsis.
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if text_mask(text[:middle].rstrip() + ELLIPSIS, size).shape[1] <= max_width:
            low = middle
        else:
            high = middle - 1
    shortened = text_mask(text[:low].rstrip() + ELLIPSIS, size)
    if shortened.shape[1] <= max_width:
        return shortened
    empty = np.zeros((mask.shape[0], 0), dtype=np.uint8)
    empty.setflags(write=False)
    return empty
