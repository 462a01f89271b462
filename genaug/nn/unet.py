"""Denoising networks of the diffusion family: a small UNet over 1 or 2 spatial axes, a residual MLP for vectors.

Both map a noisy sample, a diffusion timestep and a condition vector ``(N, cond_dim)`` (the family's
embedding of its conditions, e.g. a class table with a "no class" row for classifier-free guidance,
Ho & Salimans, "Classifier-Free Diffusion Guidance", 2022) to a tensor of the sample's shape. The UNet follows Ho et al., "Denoising Diffusion Probabilistic Models", NeurIPS 2020 and
Dhariwal & Nichol, "Diffusion Models Beat GANs on Image Synthesis", NeurIPS 2021 (scale-shift
conditioning of residual blocks), scaled down for 8x8 to 32x32 images of any height and width.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genaug.nn.conv import conv_layer

__all__ = ["DenoiserMLP", "TimeEmbedding", "UNet", "timestep_embedding"]


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


class TimeEmbedding(nn.Module):
    """Timestep -> (N, dim) through a sinusoidal code and a small MLP; the condition vector is added to it."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.time = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.time(timestep_embedding(t, self.dim)) + cond


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

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int, dropout: float, dims: int = 2) -> None:
        super().__init__()
        conv = conv_layer(dims)
        self.norm1 = nn.GroupNorm(_groups(in_channels), in_channels)
        self.conv1 = conv(in_channels, out_channels, 3, padding=1)
        self.cond = nn.Linear(cond_dim, 2 * out_channels)
        self.norm2 = nn.GroupNorm(_groups(out_channels), out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = _zero(conv(out_channels, out_channels, 3, padding=1))
        self.skip = conv(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (N, out, *S)
        scale, shift = self.cond(F.silu(cond)).view(len(x), -1, *[1] * (x.ndim - 2)).chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        return self.skip(x) + self.conv2(self.dropout(F.silu(h)))


class Attention(nn.Module):
    """Single-head self-attention over the positions of the lowest resolution (global shape context)."""

    def __init__(self, channels: int, dims: int = 2) -> None:
        super().__init__()
        conv = conv_layer(dims)
        self.norm = nn.GroupNorm(_groups(channels), channels)
        self.qkv = conv(channels, 3 * channels, 1)
        self.out = _zero(conv(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(self.norm(x)).flatten(2).transpose(1, 2).chunk(3, dim=2)  # (N, positions, C) each
        y = F.scaled_dot_product_attention(q, k, v)  # (N, positions, C)
        return x + self.out(y.transpose(1, 2).reshape(x.shape))


class UNet(nn.Module):
    """(N, C, *S) noisy sample, (N,) timesteps, (N, cond_dim) condition -> (N, C, *S), over 1 or 2 spatial axes.

    ``levels`` resolutions, each with ``blocks`` residual blocks; stride-2 convolutions go down
    (sizes round up: 7 -> 4 -> 2) and nearest upsampling goes back to the exact size of the skip
    connection, so any size works. Widths are ``channels`` times 1, 2, 4, 4, ... per level; the
    condition vector has ``cond_dim = 4 * channels`` entries. ``in_channels`` and ``out_channels``
    (default: the shape's ``C``) let the input carry more than the noisy sample: a conditional
    denoiser reads the noisy target beside the conditioning image (`genaug.models.palette`).

    Example:
        >>> net = UNet((3, 7, 9), channels=8, levels=3, blocks=1)
        >>> net(torch.zeros(2, 3, 7, 9), torch.tensor([0, 5]), torch.zeros(2, net.cond_dim)).shape
        torch.Size([2, 3, 7, 9])
        >>> net = UNet((2, 8, 8), channels=8, levels=2, blocks=1, in_channels=3)  # reads 3 channels, writes 2
        >>> net(torch.zeros(1, 3, 8, 8), torch.tensor([0]), torch.zeros(1, net.cond_dim)).shape
        torch.Size([1, 2, 8, 8])
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        *,
        channels: int,
        levels: int,
        blocks: int,
        dropout: float = 0.0,
        in_channels: int | None = None,
        out_channels: int | None = None,
    ) -> None:
        super().__init__()
        c, *size = shape
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name}: expected a positive integer or None (the shape's {c}), got {value!r}")
        in_channels, out_channels = in_channels or c, out_channels or c
        dims = len(size)
        conv = conv_layer(dims)
        widths = [channels * min(2**level, 4) for level in range(levels)]
        self.cond_dim = cond_dim = 4 * channels
        self.embed = TimeEmbedding(cond_dim)
        self.stem = conv(in_channels, channels, 3, padding=1)
        self.down = nn.ModuleList()
        skips, width = [channels], channels  # channels of every tensor the up path reads back
        for level, out in enumerate(widths):
            for _ in range(blocks):
                self.down.append(ResBlock(width, out, cond_dim, dropout, dims))
                width = out
                skips.append(width)
            if level < levels - 1:
                self.down.append(conv(width, width, 3, stride=2, padding=1))
                skips.append(width)
        self.mid = nn.ModuleList(
            [ResBlock(width, width, cond_dim, dropout, dims), Attention(width, dims), ResBlock(width, width, cond_dim, dropout, dims)]
        )
        self.up = nn.ModuleList()
        for level, out in reversed(list(enumerate(widths))):
            for _ in range(blocks + 1):
                self.up.append(ResBlock(width + skips.pop(), out, cond_dim, dropout, dims))
                width = out
            if level > 0:
                self.up.append(conv(width, width, 3, padding=1))  # after upsampling to the skip's size
        self.head = nn.Sequential(nn.GroupNorm(_groups(width), width), nn.SiLU(), _zero(conv(width, out_channels, 3, padding=1)))

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        cond = self.embed(t, cond)  # (N, 4 * channels)
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
                h = layer(F.interpolate(h, size=saved[-1].shape[2:], mode="nearest"))
        return self.head(h)


class DenoiserMLP(nn.Module):
    """(N, D) noisy vector, (N,) timesteps, (N, cond_dim) condition -> (N, D), with ``depth`` residual blocks.

    Example:
        >>> net = DenoiserMLP(13, hidden=16, depth=2)
        >>> net(torch.zeros(4, 13), torch.arange(4), torch.zeros(4, net.cond_dim)).shape
        torch.Size([4, 13])
    """

    def __init__(self, dim: int, *, hidden: int, depth: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.cond_dim = hidden
        self.embed = TimeEmbedding(hidden)
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

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        cond = F.silu(self.embed(t, cond))  # (N, hidden)
        h = self.stem(x)
        for block in self.blocks:
            h = h + block["mlp"](block["norm"](h) + block["cond"](cond))
        return self.head(h)
