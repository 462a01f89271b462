"""Denoising networks of the diffusion family: a small UNet for images, a residual MLP for vectors.

Both map a noisy sample, a diffusion timestep and a class index to a tensor of the sample's shape.
The class table has one row more than there are classes: the last row is the "no class" token
that classifier-free guidance trains with (Ho & Salimans, "Classifier-Free Diffusion Guidance",
2022). The UNet follows Ho et al., "Denoising Diffusion Probabilistic Models", NeurIPS 2020 and
Dhariwal & Nichol, "Diffusion Models Beat GANs on Image Synthesis", NeurIPS 2021 (scale-shift
conditioning of residual blocks), scaled down for 8x8 to 32x32 images of any height and width.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ConditionEmbedding", "DenoiserMLP", "UNet", "timestep_embedding"]


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of timesteps (Vaswani et al. 2017): (N,) -> (N, dim), float32.

    Example:
        >>> timestep_embedding(torch.tensor([0, 999]), 6).shape
        torch.Size([2, 6])
    """
    half = dim // 2
    exponents = torch.arange(half, device=t.device, dtype=torch.float32) / max(half, 1)
    freqs = torch.exp(-math.log(max_period) * exponents)  # (half,) from 1 down to 1 / max_period
    args = t.float()[:, None] * freqs[None]  # (N, half)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    return F.pad(emb, (0, dim - 2 * half))  # odd dim: one zero column


class ConditionEmbedding(nn.Module):
    """Timestep and class index -> one conditioning vector (N, dim) that every block reads."""

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.time = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.label = nn.Embedding(num_classes + 1, dim)  # last row: the null class of guidance

    def forward(self, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.time(timestep_embedding(t, self.dim)) + self.label(labels)


def _groups(channels: int) -> int:
    """GroupNorm groups: the largest of 8, 4, 2, 1 that divides ``channels``."""
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


def _zero(module: nn.Module) -> nn.Module:
    """Zero-initialise a layer that ends a residual branch, so every block starts as the identity."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class ResBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection; the condition scales and shifts the middle."""

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(in_channels), in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.cond = nn.Linear(cond_dim, 2 * out_channels)
        self.norm2 = nn.GroupNorm(_groups(out_channels), out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = _zero(nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (N, out, H, W)
        scale, shift = self.cond(F.silu(cond))[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        return self.skip(x) + self.conv2(self.dropout(F.silu(h)))


class Attention(nn.Module):
    """Single-head self-attention over the pixels of the lowest resolution (global shape context)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(_groups(channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = _zero(nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).flatten(2).transpose(1, 2).chunk(3, dim=2)  # (N, HW, C) each
        y = F.scaled_dot_product_attention(q, k, v)  # (N, HW, C)
        return x + self.out(y.transpose(1, 2).reshape(n, c, h, w))


class UNet(nn.Module):
    """(N, C, H, W) noisy image, (N,) timesteps, (N,) classes -> (N, C, H, W).

    ``levels`` resolutions, each with ``blocks`` residual blocks; stride-2 convolutions go down
    (sizes round up: 7 -> 4 -> 2) and nearest upsampling goes back to the exact size of the skip
    connection, so any height and width works. Widths are ``channels`` times 1, 2, 4, 4, ... per level.

    Example:
        >>> net = UNet((3, 7, 9), num_classes=2, channels=8, levels=3, blocks=1)
        >>> net(torch.zeros(2, 3, 7, 9), torch.tensor([0, 5]), torch.tensor([0, 2])).shape
        torch.Size([2, 3, 7, 9])
    """

    def __init__(
        self,
        shape: tuple[int, int, int],
        *,
        num_classes: int,
        channels: int,
        levels: int,
        blocks: int,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        c = shape[0]
        widths = [channels * min(2**level, 4) for level in range(levels)]
        cond_dim = 4 * channels
        self.embed = ConditionEmbedding(num_classes, cond_dim)
        self.stem = nn.Conv2d(c, channels, 3, padding=1)
        self.down = nn.ModuleList()
        skips, width = [channels], channels  # channels of every tensor the up path reads back
        for level, out in enumerate(widths):
            for _ in range(blocks):
                self.down.append(ResBlock(width, out, cond_dim, dropout))
                width = out
                skips.append(width)
            if level < levels - 1:
                self.down.append(nn.Conv2d(width, width, 3, stride=2, padding=1))
                skips.append(width)
        self.mid = nn.ModuleList(
            [ResBlock(width, width, cond_dim, dropout), Attention(width), ResBlock(width, width, cond_dim, dropout)]
        )
        self.up = nn.ModuleList()
        for level, out in reversed(list(enumerate(widths))):
            for _ in range(blocks + 1):
                self.up.append(ResBlock(width + skips.pop(), out, cond_dim, dropout))
                width = out
            if level > 0:
                self.up.append(nn.Conv2d(width, width, 3, padding=1))  # after upsampling to the skip's size
        self.head = nn.Sequential(
            nn.GroupNorm(_groups(width), width), nn.SiLU(), _zero(nn.Conv2d(width, c, 3, padding=1))
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cond = self.embed(t, labels)  # (N, 4 * channels)
        h = self.stem(x)
        saved = [h]
        for layer in self.down:
            h = layer(h, cond) if isinstance(layer, ResBlock) else layer(h)
            saved.append(h)
        for layer in self.mid:
            h = layer(h, cond) if isinstance(layer, ResBlock) else layer(h)
        for layer in self.up:
            if isinstance(layer, ResBlock):
                h = layer(torch.cat([h, saved.pop()], dim=1), cond)
            else:
                h = layer(F.interpolate(h, size=saved[-1].shape[-2:], mode="nearest"))
        return self.head(h)


class DenoiserMLP(nn.Module):
    """(N, D) noisy vector, (N,) timesteps, (N,) classes -> (N, D), with ``depth`` residual blocks.

    Example:
        >>> net = DenoiserMLP(13, num_classes=3, hidden=16, depth=2)
        >>> net(torch.zeros(4, 13), torch.arange(4), torch.tensor([0, 1, 2, 3])).shape
        torch.Size([4, 13])
    """

    def __init__(self, dim: int, *, num_classes: int, hidden: int, depth: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.embed = ConditionEmbedding(num_classes, hidden)
        self.stem = nn.Linear(dim, hidden)
        self.blocks = nn.ModuleList(
            nn.ModuleDict(
                {
                    "norm": nn.LayerNorm(hidden),
                    "cond": nn.Linear(hidden, hidden),
                    "mlp": nn.Sequential(
                        nn.Linear(hidden, 2 * hidden), nn.SiLU(), nn.Dropout(dropout), _zero(nn.Linear(2 * hidden, hidden))
                    ),
                }
            )
            for _ in range(depth)
        )
        self.head = nn.Sequential(nn.LayerNorm(hidden), nn.SiLU(), _zero(nn.Linear(hidden, dim)))

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cond = F.silu(self.embed(t, labels))  # (N, hidden)
        h = self.stem(x)
        for block in self.blocks:
            h = h + block["mlp"](block["norm"](h) + block["cond"](cond))
        return self.head(h)
