"""Images: ``(C, H, W)`` samples, given as ``(N, C, H, W)``, ``(N, H, W, C)`` or grayscale ``(N, H, W)``.

Blocks are 2-D convolutions, the gated PixelCNN and a UNet; samples are drawn as an image grid; the
feature classifier and the downstream ``cnn`` are small CNNs; the classic augmentations are
torchvision's v2 transforms; DiffAugment's color, translation and cutout.

Example:
    >>> from genaug.modalities import get_modality
    >>> image = get_modality("image")
    >>> image.infer_layout((10, 8, 8)), image.infer_layout((10, 32, 32, 3)), image.canonical_shape((32, 32, 3), "HWC")
    ('HW', 'HWC', (3, 32, 32))
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from genaug.modalities.base import register_modality
from genaug.modalities.channels import ChannelModality
from genaug.nn import autoregressive as ar
from genaug.nn import diffaugment as da

__all__ = ["Image"]

_CHANNELS = (1, 3, 4)


@register_modality
class Image(ChannelModality):
    name = "image"
    spatial = "HW"
    guessed = True
    default_classifier = "cnn"
    classic_library = "torchvision.transforms.v2"
    diff_augment_ops = ("color", "translation", "cutout")
    column_names = ("image", "img", "pixel_values")

    def claim(self, shape):
        return self.infer_layout(shape) if len(shape) in (3, 4) else None

    def infer_layout(self, shape):
        """``(N, H, W)`` is grayscale; ``(N, C, H, W)`` or ``(N, H, W, C)`` with 1, 3 or 4 channels (channels first when both fit)."""
        ndim = len(shape) - 1
        if ndim == 2:
            return "HW"
        if ndim == 3:
            if shape[1] in _CHANNELS:
                return "CHW"
            if shape[3] in _CHANNELS:
                return "HWC"
            raise ValueError(
                f"x: cannot tell the channel axis of shape {tuple(shape)}; expected 1, 3 or 4 channels "
                "first (N, C, H, W) or last (N, H, W, C)"
            )
        raise ValueError(f"x: image data needs (N, H, W) or (N, C, H, W); got shape {tuple(shape)}")

    def default_values(self, x: np.ndarray, lo: float, hi: float, integral: bool) -> dict[str, Any]:
        """uint8: the 8-bit grid 0..255; integers: a grid from min to max; floats: [0, 1] when they fit, else their range."""
        if x.dtype == np.uint8:
            return {"scaling": "grid", "levels": 256, "value_range": (0.0, 255.0)}
        if not (integral and hi > lo) and lo >= 0.0 and hi <= 1.0:
            return {"scaling": "range", "value_range": (0.0, 1.0)}
        return super().default_values(x, lo, hi, integral)

    # ------------------------------------------------------------------ blocks
    def autoregressive(self, shape, n_params, *, cond_dim, options):
        return ar.GatedPixelCNN(
            shape,
            n_params,
            cond_dim=cond_dim,
            channels=options["channels"],
            layers=options["layers"],
            kernel_size=options["kernel_size"],
            position=options["position"],
            head=options["head"],
            dropout=options["dropout"],
        )

    def diff_augment(self, x, op, generator, options):
        if op == "color":
            return da.color(x, generator)
        if op == "translation":
            return da.translate(x, options.get("translation", 0.125), generator)
        if op == "cutout":
            return da.cut_out(x, options.get("cutout", 0.5), generator)
        return super().diff_augment(x, op, generator, options)

    # ------------------------------------------------------------------ pictures
    def save_samples(self, spec, z, path, *, nrow=8):
        from genaug.utils.pictures import save_image_grid

        save_image_grid(((z.detach().cpu().float() + 1.0) / 2.0).clamp(0.0, 1.0), path, nrow=nrow)

    # ------------------------------------------------------------------ classifiers
    def classifier_input(self, spec, x_user):
        """Floats in [0, 1]: the data's value range mapped there (digits are ``x / 16``), channels first."""
        lo, hi = spec.value_range
        return ((spec.canonical(torch.as_tensor(x_user)).to(torch.float64) - lo) / (hi - lo)).to(torch.float32)

    def classifier_range(self, spec):
        return (0.0, 1.0)

    def classifier_to_user(self, spec, x):
        lo, hi = spec.value_range
        return spec.user_layout(x.to(torch.float64) * (hi - lo) + lo)

    def classifiers(self):
        return ("cnn", "mlp", "logreg")

    def classifier(self, name, shape, classes, **args):
        if name == "cnn":
            return _cnn(shape, classes, **args)
        return super().classifier(name, shape, classes, **args)

    def classic_defaults(self):
        return [{"RandomAffine": {"degrees": 10, "translate": [0.125, 0.125], "scale": [0.9, 1.1]}}]


def _cnn(in_shape: tuple[int, ...], classes: int, width: int = 32) -> nn.Module:
    """conv32-conv64-maxpool-linear, the few-shot digits protocol."""
    channels, height, width_px = in_shape
    return nn.Sequential(
        nn.Conv2d(channels, width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * width * (height // 2) * (width_px // 2), classes),
    )
