"""Records of any form (PIL images, torch tensors, numpy arrays) read into one array with its layout.

What the file and library sources share: each record becomes an array and the layout it was read in
(``HW``, ``HWC``, ``CHW``, or None for `from_arrays` to infer), and the records are stacked into one
batch with an error that names the first record that does not match the first one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image

from genaug.data.spec import Layout

__all__ = ["as_sample", "pil_to_array", "stack_samples"]


def pil_to_array(image: Image.Image) -> tuple[np.ndarray, Layout]:
    """A PIL image as uint8 ``(H, W)`` (mode L) or ``(H, W, C)`` (RGB, RGBA; other modes via RGB)."""
    if image.mode == "1":
        image = image.convert("L")  # bilevel is grayscale; RGB would triple it for nothing
    elif image.mode not in ("L", "RGB", "RGBA"):
        image = image.convert("RGB")
    array = np.asarray(image)
    return array, "HW" if array.ndim == 2 else "HWC"


def as_sample(value: Any, where: str) -> tuple[np.ndarray, Layout | None]:
    """One sample as an array with its layout (None: let `from_arrays` infer it)."""
    if isinstance(value, Image.Image):
        return pil_to_array(value)
    if isinstance(value, torch.Tensor):
        array = value.detach().cpu().numpy()
        return array, {2: "HW", 3: "CHW"}.get(array.ndim)  # torch images are channels first
    if isinstance(value, np.ndarray):
        return value, "HW" if value.ndim == 2 else None
    raise TypeError(f"{where}: expected a PIL image, a torch tensor or a numpy array, got {type(value).__name__}")


def _channels(array: np.ndarray, layout: Layout | None) -> int | None:
    if layout == "HW":
        return 1
    if layout == "HWC":
        return array.shape[-1]
    if layout == "CHW":
        return array.shape[0]
    return None


def stack_samples(
    samples: list[np.ndarray], layouts: list[Layout | None], name: Callable[[int], str]
) -> tuple[np.ndarray, Layout | None]:
    """Stack per-sample arrays into one batch, naming the first sample that does not match sample 0.

    Returns an empty array when there are no samples, so `from_arrays` raises its empty-data error.
    """
    if not samples:
        return np.zeros((0,)), None
    first, layout, channels = samples[0], layouts[0], _channels(samples[0], layouts[0])
    for i in range(1, len(samples)):
        other = _channels(samples[i], layouts[i])
        if channels is not None and other is not None and other != channels:
            raise ValueError(
                f"x: mixed channel counts: {name(0)} has {channels} channel(s) but {name(i)} has {other}; "
                "convert all images to one mode (all grayscale 'L' or all 'RGB')"
            )
        if samples[i].shape != first.shape or layouts[i] != layout:
            raise ValueError(
                f"x: ragged or mixed shapes: {name(0)} has shape {first.shape} ({layout or 'array'}) but "
                f"{name(i)} has shape {samples[i].shape} ({layouts[i] or 'array'}); "
                "every sample must have the same size"
            )
    return np.stack(samples), layout
