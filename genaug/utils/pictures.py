"""PNG files for people to look at, written atomically: image grids and line plots."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from genaug.utils.io import atomic_path

__all__ = ["save_image_grid", "save_line_plots"]


def save_image_grid(images: torch.Tensor, path: str | os.PathLike, *, nrow: int = 8, upscale: int = 4) -> None:
    """Write images (N, C, H, W) with values in [0, 1] as one PNG grid, ``nrow`` images per row.

    Small images (digits are 8x8) are upscaled ``upscale`` times with nearest neighbours so a person
    can see them. Only 1- and 3-channel images can be shown (a 4th channel is dropped).
    """
    from torchvision.utils import save_image

    images = images.detach().cpu().float()[:, :3].clamp(0.0, 1.0)
    if upscale > 1:
        images = torch.nn.functional.interpolate(images, scale_factor=upscale, mode="nearest")
    with atomic_path(path, suffix=".png") as tmp:
        save_image(images, tmp, nrow=max(1, nrow), padding=2, pad_value=1.0, format="png")


def save_line_plots(
    panels: Sequence[Sequence[torch.Tensor]], path: str | os.PathLike, *, ncol: int = 8, limits: tuple[float, float] | None = None
) -> None:
    """Write one small line plot per panel into a PNG grid, ``ncol`` panels per row.

    Each panel is a list of series ``(C, T)`` drawn on the same axes: the first solid, one colour per
    channel (a sample); the others black and dashed (the training record closest to it).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(1, len(panels))
    ncol = max(1, min(ncol, n))
    nrows = (n + ncol - 1) // ncol
    fig, axes = plt.subplots(nrows, ncol, figsize=(1.8 * ncol, 1.2 * nrows), squeeze=False, sharex=True, sharey=limits is not None)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= len(panels):
            ax.axis("off")
            continue
        for k, series in enumerate(panels[i]):
            values = series.detach().cpu().float().reshape(-1, series.shape[-1])
            for c, row in enumerate(values):
                if k == 0:
                    ax.plot(row.numpy(), color=colours[c % len(colours)], linewidth=1.0)
                else:  # the compared record: black dashes over the sample, so that a near-copy shows as one line
                    ax.plot(row.numpy(), color="black", linewidth=0.8, linestyle="--", alpha=0.7)
        if limits is not None:
            ax.set_ylim(*limits)
    fig.tight_layout(pad=0.2)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
