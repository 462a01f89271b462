"""Sample grids as PNG files, for people to look at."""

from __future__ import annotations

import os

import torch
from torchvision.utils import save_image

from genaug.data.spec import DataSpec
from genaug.utils.io import atomic_path

__all__ = ["save_sample_grid"]


def save_sample_grid(spec: DataSpec, z: torch.Tensor, path: str | os.PathLike, *, nrow: int = 8, upscale: int = 4) -> None:
    """Write model-space images ``z`` (N, C, H, W) as one PNG grid, ``nrow`` images per row.

    Small images (digits are 8x8) are upscaled ``upscale`` times with nearest neighbours so a
    person can see them. Only 1- and 3-channel images can be shown (a 4th channel is dropped).
    """
    if spec.modality != "image":
        raise ValueError(f"spec: sample grids need image data, got modality {spec.modality!r}")
    images = spec.to_unit(z.detach().cpu())[:, :3]
    if upscale > 1:
        images = torch.nn.functional.interpolate(images, scale_factor=upscale, mode="nearest")
    with atomic_path(path, suffix=".png") as tmp:
        save_image(images, tmp, nrow=nrow, padding=2, pad_value=1.0, format="png")
