"""Accessories to put on faces: RGBA pictures and where each goes on a face's box.

Three ship with genaug, drawn by the code below (antialiased: drawn four times larger with PIL's
``ImageDraw``, then reduced with premultiplied alpha), so nothing is downloaded or stored as a file:

- ``sunglasses``: two dark lenses in a black frame, across the eye line (rows 0.26 .. 0.50 of the
  face box, as wide as the box);
- ``hat``: a brimmed hat with a band, sitting on the top of the box (its brim at row 0.12, 1.4 boxes wide);
- ``mask``: a light-blue surgical face mask with pleats and ear loops, over the lower half (rows
  0.47 .. 1.08).

A user's own accessory is an image file with an alpha channel (an RGBA or LA PNG): the alpha marks
the accessory, everything transparent is left as it was. Where it goes is an `Anchor`, by default the
sunglasses' (centred on the eye line, as wide as the face box), or one of the shipped names' anchors.

Example:
    >>> rgba, anchor = load_accessory("sunglasses")
    >>> rgba.shape, rgba.dtype, anchor.width
    ((48, 192, 4), dtype('uint8'), 1.0)
    >>> anchor.place((10.0, 20.0, 40.0, 40.0), rgba.shape[:2])  # a 40-pixel face at row 10, column 20
    (20.2, 20.0, 10.0, 40.0)
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw, UnidentifiedImageError

__all__ = ["ACCESSORIES", "Accessory", "Anchor", "load_accessory"]

_SUPERSAMPLE = 4  # drawn this many times larger, then reduced: antialiased edges


class Anchor(NamedTuple):
    """Where an accessory goes on a face box, in units of the box (0: its top or left edge, 1: its bottom or right).

    The accessory keeps its aspect ratio: ``width`` sets its size, and its row ``pivot`` (0: its top,
    0.5: its middle, 1: its bottom) lands on the box's row ``row``, its middle on the box's column ``col``.
    """

    row: float  # the face box's row where the accessory's pivot row goes
    col: float  # the face box's column where the accessory's centre goes
    width: float  # the accessory's width, in face-box widths
    pivot: float  # which of the accessory's rows sits at `row`: 0 its top, 0.5 its middle, 1 its bottom

    def place(self, box: Sequence[float], size: tuple[int, int]) -> tuple[float, float, float, float]:
        """Where an accessory of ``size`` (height, width) goes on a face ``box`` (row, col, height, width).

        Returns:
            (row, col, height, width) of the accessory, in the box's pixels.
        """
        top, left, box_h, box_w = (float(v) for v in box)
        width = self.width * box_w
        height = width * size[0] / size[1]
        return (
            top + self.row * box_h - self.pivot * height,
            left + self.col * box_w - width / 2,
            height,
            width,
        )


class Accessory(NamedTuple):
    """An accessory: its RGBA picture (H, W, 4) uint8, and where it goes on a face box."""

    rgba: np.ndarray
    anchor: Anchor


# ---------------------------------------------------------------------------------------- drawing
Layer = Callable[[], ImageDraw.ImageDraw]  # a fresh transparent sheet over the ones before, to draw on


def _draw(width: int, height: int, paint: Callable[[Layer, float], None]) -> np.ndarray:
    """An antialiased (height, width, 4) uint8 picture: ``paint(layer, unit)`` draws it ``_SUPERSAMPLE`` times larger.

    ``unit`` is one output pixel in the drawing's pixels. Each ``layer()`` is a transparent sheet
    composited over the earlier ones (within a sheet a shape replaces what it covers; across
    sheets translucent shapes blend).
    """
    big = (width * _SUPERSAMPLE, height * _SUPERSAMPLE)
    sheets: list[Image.Image] = []

    def layer() -> ImageDraw.ImageDraw:
        sheets.append(Image.new("RGBA", big, (0, 0, 0, 0)))
        return ImageDraw.Draw(sheets[-1])

    paint(layer, _SUPERSAMPLE)
    canvas = Image.new("RGBA", big, (0, 0, 0, 0))
    for sheet in sheets:
        canvas = Image.alpha_composite(canvas, sheet)
    small = canvas.resize((width, height), Image.Resampling.BOX)  # Pillow reduces RGBA with premultiplied alpha
    return np.asarray(small, dtype=np.uint8).copy()


def _sunglasses() -> np.ndarray:
    def paint(layer: Layer, u: float) -> None:
        frame, lens, glare = (12, 12, 14, 255), (34, 40, 52, 255), (255, 255, 255, 70)
        lenses = [(6 * u, 6 * u, 88 * u, 44 * u), (104 * u, 6 * u, 186 * u, 44 * u)]
        d = layer()
        for box in lenses:
            d.rounded_rectangle(box, radius=16 * u, fill=frame)
        d.line([(88 * u, 14 * u), (96 * u, 10 * u), (104 * u, 14 * u)], fill=frame, width=round(5 * u))  # the bridge
        d.line([(0, 12 * u), (8 * u, 10 * u)], fill=frame, width=round(5 * u))  # the temples, going back
        d.line([(184 * u, 10 * u), (192 * u, 12 * u)], fill=frame, width=round(5 * u))
        inner = [(x0 + 4 * u, y0 + 4 * u, x1 - 4 * u, y1 - 4 * u) for x0, y0, x1, y1 in lenses]
        for box in inner:
            d.rounded_rectangle(box, radius=12 * u, fill=lens)
        d = layer()  # a reflection across each lens, translucent
        for x0, y0, _, y1 in inner:
            d.line([(x0 + 12 * u, y1 - 8 * u), (x0 + 34 * u, y0 + 6 * u)], fill=glare, width=round(6 * u))

    return _draw(192, 48, paint)


def _hat() -> np.ndarray:
    def paint(layer: Layer, u: float) -> None:
        felt, shade, band = (58, 44, 36, 255), (42, 31, 25, 255), (120, 28, 30, 255)
        d = layer()
        d.rounded_rectangle((52 * u, 8 * u, 188 * u, 126 * u), radius=34 * u, fill=felt)  # the crown
        d.polygon([(108 * u, 8 * u), (120 * u, 40 * u), (132 * u, 8 * u)], fill=shade)  # its dent
        d.rectangle((52 * u, 92 * u, 188 * u, 112 * u), fill=band)
        d.ellipse((0, 104 * u, 240 * u, 146 * u), fill=shade)  # the brim, seen slightly from above
        d.ellipse((8 * u, 108 * u, 232 * u, 136 * u), fill=felt)
        d.rectangle((52 * u, 100 * u, 188 * u, 112 * u), fill=band)  # the band in front of the brim's far side

    return _draw(240, 150, paint)


def _mask() -> np.ndarray:
    def paint(layer: Layer, u: float) -> None:
        cloth, pleat, loop = (168, 206, 232, 255), (128, 170, 204, 255), (236, 240, 244, 255)
        d = layer()
        for start, end in [((2, 10), (26, 30)), ((2, 112), (26, 88)), ((198, 10), (174, 30)), ((198, 112), (174, 88))]:
            d.line([(start[0] * u, start[1] * u), (end[0] * u, end[1] * u)], fill=loop, width=round(3 * u))  # ear loops
        d.rounded_rectangle((22 * u, 14 * u, 178 * u, 112 * u), radius=30 * u, fill=cloth)
        for y in (42, 62, 82):
            d.line([(34 * u, y * u), (166 * u, y * u)], fill=pleat, width=round(3 * u))
        d.line(
            [(60 * u, 18 * u), (100 * u, 14 * u), (140 * u, 18 * u)], fill=pleat, width=round(4 * u)
        )  # the nose wire

    return _draw(200, 120, paint)


_SHIPPED: dict[str, tuple[Callable[[], np.ndarray], Anchor]] = {
    "sunglasses": (_sunglasses, Anchor(row=0.38, col=0.5, width=1.0, pivot=0.5)),
    "hat": (_hat, Anchor(row=0.12, col=0.5, width=1.4, pivot=1.0)),
    "mask": (_mask, Anchor(row=0.47, col=0.5, width=1.0, pivot=0.0)),
}
ACCESSORIES: tuple[str, ...] = tuple(_SHIPPED)


@cache
def _shipped(name: str) -> np.ndarray:
    rgba = _SHIPPED[name][0]()
    rgba.flags.writeable = False  # shared by every caller
    return rgba


def _check_anchor(anchor: Anchor | Sequence[float] | str) -> Anchor:
    if isinstance(anchor, str):
        if anchor not in _SHIPPED:
            raise ValueError(
                f"anchor: unknown accessory {anchor!r} to borrow the placement of; expected one of {list(ACCESSORIES)}"
            )
        return _SHIPPED[anchor][1]
    try:
        row, col, width, pivot = (float(v) for v in anchor)
    except (TypeError, ValueError):
        raise ValueError(
            f"anchor: expected (row, col, width, pivot) in face-box units or a shipped name, got {anchor!r}"
        ) from None
    if not all(math.isfinite(v) for v in (row, col, width)) or width <= 0 or not 0 <= pivot <= 1:
        raise ValueError(f"anchor: expected finite row and col, width > 0 and pivot in [0, 1], got {anchor!r}")
    return Anchor(row, col, width, pivot)


def _read_rgba(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            image.load()
            has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info
            mode = image.mode
            rgba = np.asarray(image.convert("RGBA"), dtype=np.uint8).copy() if has_alpha else None
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"accessory: {str(path)!r} is not a readable image ({err})") from None
    if rgba is None:
        raise ValueError(
            f"accessory: {str(path)!r} has no alpha channel (mode {mode!r}); expected an RGBA or LA image "
            "(a PNG) whose alpha marks the accessory"
        )
    if not rgba[..., 3].any():
        raise ValueError(f"accessory: {str(path)!r} is transparent everywhere; its alpha should mark the accessory")
    return rgba


def _check_rgba(rgba: object) -> np.ndarray:
    if (
        not isinstance(rgba, np.ndarray)
        or rgba.ndim != 3
        or rgba.shape[2] != 4
        or rgba.dtype != np.uint8
        or min(rgba.shape[:2]) < 1
    ):
        got = f"{rgba.shape} {rgba.dtype}" if isinstance(rgba, np.ndarray) else type(rgba).__name__
        raise ValueError(f"accessory: expected an RGBA picture, a uint8 array (H, W, 4), got {got}")
    return rgba


def load_accessory(
    accessory: Accessory | str | os.PathLike, anchor: Anchor | Sequence[float] | str | None = None
) -> Accessory:
    """An accessory by name (``sunglasses``, ``hat``, ``mask``) or the path of an image with an alpha channel.

    Args:
        accessory: a shipped name (`ACCESSORIES`), an RGBA/LA image file, or an `Accessory` (checked, and
            re-anchored when ``anchor`` is given).
        anchor: where it goes on a face box: an `Anchor` or (row, col, width, pivot), or a shipped
            name whose placement to borrow; None: the shipped accessory's own, and for a file the
            sunglasses' (centred on the eye line, one face box wide).

    Returns:
        `Accessory` (rgba, anchor): the picture ``(H, W, 4)`` uint8 (read-only for a shipped one) and its anchor.

    Raises:
        ValueError: an unknown name, an unreadable file, a file without alpha (each named).

    Example:
        >>> rgba, anchor = load_accessory("mask", anchor="sunglasses")
        >>> rgba.shape, anchor.row
        ((120, 200, 4), 0.38)
    """
    if isinstance(accessory, Accessory):
        rgba, default = _check_rgba(accessory.rgba), _check_anchor(accessory.anchor)
    elif isinstance(accessory, str) and accessory in _SHIPPED:
        rgba, default = _shipped(accessory), _SHIPPED[accessory][1]
    elif isinstance(accessory, str | os.PathLike):
        path = Path(accessory).expanduser()
        if not path.is_file():
            raise ValueError(
                f"accessory: {os.fspath(accessory)!r} is neither a shipped accessory {list(ACCESSORIES)} nor an image file"
            )
        rgba, default = _read_rgba(path), _SHIPPED["sunglasses"][1]
    else:
        raise TypeError(
            f"accessory: expected a name {list(ACCESSORIES)} or the path of an RGBA image, got {type(accessory).__name__}"
        )
    return Accessory(rgba, default if anchor is None else _check_anchor(anchor))
