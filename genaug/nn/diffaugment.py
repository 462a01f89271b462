"""Differentiable augmentations (Zhao et al., "Differentiable Augmentation for Data-Efficient GAN Training", NeurIPS 2020).

Each op draws its randomness per sample from an explicit generator and is differentiable in ``x``,
so a GAN's generator learns through it. Images (N, C, H, W): `color`, `translate`, `cut_out`;
sequences (N, C, T): `amplitude`, `shift`, `cut_window` (the same ideas along time); any data: `noise`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genaug.utils.random import rand, randn

__all__ = ["amplitude", "color", "cut_out", "cut_window", "noise", "shift", "translate"]


def _randint(
    high: int, shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """Integers uniform in [0, high) drawn from ``generator``."""
    return (rand(shape, generator, device) * high).long()


def translate(x: torch.Tensor, ratio: float, generator: torch.Generator | None) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its side, filling with zeros (differentiable gather)."""
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = _randint(2 * sh + 1, (n, 1, 1), generator, x.device) - sh  # (N, 1, 1)
    dx = _randint(2 * sw + 1, (n, 1, 1), generator, x.device) - sw
    rows = (torch.arange(h, device=x.device).view(1, h, 1) + dy).clamp(-1, h)  # (N, H, 1), -1 and h hit the padding
    cols = (torch.arange(w, device=x.device).view(1, 1, w) + dx).clamp(-1, w)  # (N, 1, W)
    padded = F.pad(x, (1, 1, 1, 1))  # (N, C, H+2, W+2)
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows + 1, cols + 1].permute(0, 3, 1, 2)


def cut_out(x: torch.Tensor, ratio: float, generator: torch.Generator | None) -> torch.Tensor:
    """Zero one square of side ``ratio`` of the image, centred anywhere on it."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = _randint(h + (1 - ch % 2), (n, 1, 1), generator, x.device)  # (N, 1, 1) centre rows
    cx = _randint(w + (1 - cw % 2), (n, 1, 1), generator, x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (rows >= cy - ch // 2) & (rows < cy - ch // 2 + ch) & (cols >= cx - cw // 2) & (cols < cx - cw // 2 + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)  # (N, C, H, W)


def color(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Random brightness, saturation (colour images) and contrast, as in DiffAugment."""
    n = x.shape[0]
    x = x + (rand((n, 1, 1, 1), generator, x.device, x.dtype) - 0.5)
    if x.shape[1] > 1:
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (rand((n, 1, 1, 1), generator, x.device, x.dtype) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (rand((n, 1, 1, 1), generator, x.device, x.dtype) + 0.5) + mean


def noise(x: torch.Tensor, scale: float, generator: torch.Generator | None) -> torch.Tensor:
    """Add ``scale`` x standard normal noise."""
    return x + scale * randn(x.shape, generator, x.device, x.dtype)


def shift(x: torch.Tensor, ratio: float, generator: torch.Generator | None) -> torch.Tensor:
    """Shift each sequence (N, C, T) in time by up to ``ratio`` of its length, filling with zeros."""
    n, _, t = x.shape
    s = int(t * ratio + 0.5)
    d = _randint(2 * s + 1, (n, 1), generator, x.device) - s  # (N, 1)
    steps = (torch.arange(t, device=x.device).view(1, t) + d).clamp(-1, t)  # (N, T); -1 and t hit the padding
    padded = F.pad(x, (1, 1))  # (N, C, T+2)
    return padded.gather(2, (steps + 1).unsqueeze(1).expand(n, x.shape[1], t))


def cut_window(x: torch.Tensor, ratio: float, generator: torch.Generator | None) -> torch.Tensor:
    """Zero one window of ``ratio`` of each sequence's length, centred anywhere on it."""
    n, _, t = x.shape
    w = int(t * ratio + 0.5)
    centre = _randint(t + (1 - w % 2), (n, 1), generator, x.device)  # (N, 1)
    steps = torch.arange(t, device=x.device).view(1, t)
    inside = (steps >= centre - w // 2) & (steps < centre - w // 2 + w)
    return x * (~inside).unsqueeze(1).to(x.dtype)


def amplitude(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Random offset and scale of each sequence around its mean (the brightness and contrast of `color`)."""
    n = x.shape[0]
    x = x + (rand((n, 1, 1), generator, x.device, x.dtype) - 0.5)
    mean = x.mean(dim=(1, 2), keepdim=True)
    return (x - mean) * (rand((n, 1, 1), generator, x.device, x.dtype) + 0.5) + mean
