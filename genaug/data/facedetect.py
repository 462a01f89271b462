"""Faces in an image: boxes from the LBP frontal-face cascade that ships with scikit-image.

`detect_faces` runs ``skimage.feature.Cascade`` (OpenCV's ``lbpcascade_frontalface`` file, bundled
as ``skimage.data.lbp_frontal_face_cascade_filename()``) over an image of any size, resized first
(`search_scale`) to where the cascade works well and fast, and maps the boxes back to the image's
own pixels:

- small images (shorter side below 64 pixels) are upsampled, bicubic, by the smallest whole factor
  that brings them to 64: a 25 x 25 face of scikit-image's ``lfw_subset`` is searched at 75 x 75.
  The cascade scans windows of 24 x 24 pixels and up, and finds few faces at 25 or 50 pixels;
- large images whose smallest face looked for is over 48 pixels are downscaled until it spans 48
  (a 512 x 512 photo, faces from 64 pixels, is searched at 384 x 384): the same faces, fewer windows.

Faces smaller than an eighth of the shorter side, or than 12 pixels of the image itself, are not
looked for unless ``min_face`` says so (upsampled, a smaller face is mostly blur, and the cascade
fires on textures there). The cascade groups neighbouring windows; what still overlaps (a face
found at two scales) is merged here into the largest box, so each face gives one box. Nothing is random.

On ``lfw_subset`` (100 faces, 100 non-faces, 25 x 25) it finds 84 faces with no detection on the
non-faces; on the same images upsampled beforehand to 50 or 100 pixels, 85 faces, and 3 or 1 of
the non-faces (``benchmarks/bench_tryon.py``).

scikit-image is the optional extra ``genaug[images]``; it is imported on first use.

Example:
    >>> import skimage.data
    >>> faces = skimage.data.lfw_subset()
    >>> [len(detect_faces(faces[i])) for i in (0, 1, 2, 100, 101)]
    [1, 1, 1, 0, 0]
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import torch
from PIL import Image

from genaug.nn.color import luma

__all__ = ["FaceBox", "check_min_face", "detect_faces", "search_scale"]

WINDOW = 24  # the cascade's smallest window, pixels
WORK_SIDE = 64  # images with a shorter side below this are upsampled to reach it
SEARCH_FACE = 48  # larger images are downscaled until the smallest face looked for spans this many pixels
MIN_DETAIL = 12  # default smallest face, pixels of the image itself: an upsampled smaller face is mostly blur
_MERGE_OVERLAP = 0.5  # two boxes whose intersection covers this share of the smaller one are one face


class FaceBox(NamedTuple):
    """A face's box in the image's pixels (fractional when the image was upsampled to search it)."""

    row: float  # top edge
    col: float  # left edge
    height: float
    width: float


@lru_cache(maxsize=1)
def _cascade() -> Any:
    try:
        import skimage.data
        import skimage.feature
    except ImportError:
        raise ImportError(
            "face detection uses scikit-image's bundled LBP cascade; install it with pip install 'genaug[images]'"
        ) from None
    return skimage.feature.Cascade(skimage.data.lbp_frontal_face_cascade_filename())


def _default_min_face(height: int, width: int) -> float:
    return max(min(height, width) / 8, MIN_DETAIL)


def search_scale(height: int, width: int, min_face: float | None = None) -> float:
    """How much an ``height x width`` image is resized for the search: the faces' sizes there over their sizes in it.

    Up by the smallest whole factor that brings the shorter side to 64 pixels; down when even the
    smallest face looked for (``min_face``, default as in `detect_faces`) is over 48 pixels, so that
    it spans 48 (the cascade's window is 24, a face twice that is plenty); else 1.

    Example:
        >>> search_scale(25, 25), search_scale(32, 100), search_scale(128, 128), search_scale(512, 512)
        (3.0, 2.0, 1.0, 0.75)
    """
    up = math.ceil(WORK_SIDE / min(height, width))
    if up > 1:
        return float(up)
    smallest = _default_min_face(height, width) if min_face is None else min_face
    return min(1.0, SEARCH_FACE / smallest)


def _gray(image: Any) -> np.ndarray:
    """An (H, W) float64 array in [0, 1] from an (H, W) or (H, W, C) uint8 or float [0, 1] array."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image: expected a numpy array (H, W) or (H, W, C), got {type(image).__name__}")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3, 4))):
        raise ValueError(f"image: expected an array (H, W) or (H, W, C) with C = 1, 3 or 4, got shape {image.shape}")
    if min(image.shape) < 1:
        raise ValueError(f"image: the image is empty (shape {image.shape})")
    if image.dtype == np.uint8:
        values = image.astype(np.float64) / 255
    elif image.dtype.kind == "f":
        values = image.astype(np.float64)
    else:
        raise ValueError(f"image: expected uint8 (0..255) or floating-point ([0, 1]) values, got {image.dtype}")
    if values.ndim == 2:
        return values
    if values.shape[2] == 1:
        return values[..., 0]
    return luma(torch.from_numpy(values[..., :3]).permute(2, 0, 1))[0].numpy()  # an RGBA's alpha is ignored


def check_min_face(min_face: object) -> float | None:
    """``min_face`` as `detect_faces` takes it (a positive number of pixels, or None); ValueError otherwise."""
    if min_face is not None and (
        isinstance(min_face, bool)
        or not isinstance(min_face, int | float)
        or not (math.isfinite(min_face) and min_face > 0)
    ):
        raise ValueError(
            f"min_face: expected the smallest face's side in pixels, a positive number, or None; got {min_face!r}"
        )
    return None if min_face is None else float(min_face)


def _merge(boxes: list[FaceBox]) -> list[FaceBox]:
    """One box per face: the largest of each group of boxes that overlap (ties: the first found)."""
    kept: list[FaceBox] = []
    for box in sorted(boxes, key=lambda b: -b.height * b.width):
        if all(_overlap(box, other) <= _MERGE_OVERLAP for other in kept):
            kept.append(box)
    return sorted(kept, key=lambda b: (b.row, b.col))


def _overlap(a: FaceBox, b: FaceBox) -> float:
    """The intersection of two boxes as a share of the smaller one's area."""
    rows = min(a.row + a.height, b.row + b.height) - max(a.row, b.row)
    cols = min(a.col + a.width, b.col + b.width) - max(a.col, b.col)
    if rows <= 0 or cols <= 0:
        return 0.0
    return rows * cols / min(a.height * a.width, b.height * b.width)


def detect_faces(
    image: np.ndarray,
    *,
    min_face: float | None = None,
    scale_factor: float = 1.1,
    step_ratio: float = 1.0,
) -> list[FaceBox]:
    """The frontal faces in ``image``: one `FaceBox` per face, top to bottom, in the image's pixels.

    Args:
        image: an ``(H, W)`` or ``(H, W, C)`` array (C = 1, 3 or 4: RGB is turned gray by BT.601 luma,
            an alpha channel ignored), uint8 0..255 or floating-point [0, 1].
        min_face: the side of the smallest face to look for, in the image's pixels; None: an eighth
            of the shorter side, and at least 12 pixels (an upsampled smaller face is mostly blur, and
            the cascade fires on textures there). Never below the cascade's 24-pixel window after upsampling.
        scale_factor: how much larger each search window is than the last (smaller: slower, finds more).
        step_ratio: the search stride relative to the window (1: every pixel; larger: faster, finds less).

    Returns:
        `FaceBox` (row, col, height, width) per face; an empty list when there is none.

    Example:
        >>> import numpy as np
        >>> detect_faces(np.zeros((40, 30), dtype=np.uint8))
        []
    """
    gray = _gray(image)
    for name, value, low in (("scale_factor", scale_factor, 1.0), ("step_ratio", step_ratio, 0.0)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not (math.isfinite(value) and value > low):
            raise ValueError(f"{name}: expected a number above {low:g}, got {value!r}")
    check_min_face(min_face)
    h, w = gray.shape
    scale = search_scale(h, w, min_face)
    if scale != 1:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        picture = Image.fromarray(gray.astype(np.float32), mode="F").resize(
            size, Image.Resampling.BICUBIC
        )  # antialiased down
        gray = np.clip(np.asarray(picture, dtype=np.float64), 0.0, 1.0)
    sy, sx = gray.shape[0] / h, gray.shape[1] / w  # the scale per axis, after rounding
    side = min(gray.shape)
    smallest = (_default_min_face(h, w) if min_face is None else min_face) * min(sy, sx)
    smallest = int(min(side, max(WINDOW, round(smallest))))
    found = _cascade().detect_multi_scale(
        gray,
        scale_factor=float(scale_factor),
        step_ratio=float(step_ratio),
        min_size=(smallest, smallest),
        max_size=(side, side),
    )
    boxes = [FaceBox(d["r"] / sy, d["c"] / sx, d["height"] / sy, d["width"] / sx) for d in found]
    return _merge(boxes)
