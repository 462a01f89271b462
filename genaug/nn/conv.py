"""Dense and convolutional networks shared by the families, for samples with any number of spatial axes.

Samples are vectors ``(N, D)`` or channels over spatial axes ``(N, C, *S)``: images ``(N, C, H, W)``,
sequences ``(N, C, T)``. Convolutional nets pick ``Conv1d`` or ``Conv2d`` from the number of spatial
axes. Every net takes a condition vector (a class embedding today, any condition embedding tomorrow)
that is concatenated where the net is flat, so families condition the same way on every modality.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "CondMLP",
    "ConvDecoder",
    "ConvEncoder",
    "FiLMConvGenerator",
    "MLP",
    "conv_critic",
    "conv_layer",
    "conv_sizes",
    "mlp_critic",
]


def conv_layer(dims: int) -> type[nn.Module]:
    """``nn.Conv1d`` or ``nn.Conv2d`` for samples with ``dims`` spatial axes."""
    if dims not in (1, 2):
        raise ValueError(f"dims: convolutions over 1 or 2 spatial axes are supported, got {dims}")
    return nn.Conv1d if dims == 1 else nn.Conv2d


class MLP(nn.Sequential):
    """``depth`` hidden layers of ``hidden`` units with SiLU, then a linear output.

    Example:
        >>> MLP(4, 2, hidden=8, depth=2)(torch.zeros(3, 4)).shape
        torch.Size([3, 2])
    """

    def __init__(self, in_dim: int, out_dim: int, *, hidden: int, depth: int) -> None:
        layers: list[nn.Module] = []
        width = in_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        layers.append(nn.Linear(width, out_dim))
        super().__init__(*layers)


class CondMLP(nn.Module):
    """An `MLP` over a flattened sample (or latent) concatenated with the condition: ``(x, cond) -> (N, *out_shape)``.

    Example:
        >>> CondMLP(4, (3,), cond_dim=2, hidden=8, depth=1)(torch.zeros(5, 4), torch.zeros(5, 2)).shape
        torch.Size([5, 3])
    """

    def __init__(self, in_dim: int, out_shape: tuple[int, ...], *, cond_dim: int, hidden: int, depth: int) -> None:
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.mlp = MLP(in_dim + cond_dim, math.prod(out_shape), hidden=hidden, depth=depth)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.cat([x.flatten(1), cond], dim=1)).view(len(x), *self.out_shape)


def conv_sizes(size: tuple[int, ...] | int, *more: int, depth: int | None = None) -> list[tuple[int, ...]]:
    """Spatial sizes after each stride-2 convolution (kernel 3, padding 1): ceil(size / 2) per axis.

    ``conv_sizes((8, 8), depth=2)`` (or the older ``conv_sizes(8, 8, 2)``) gives ``[(8, 8), (4, 4), (2, 2)]``.
    """
    if isinstance(size, int):  # conv_sizes(height, width, depth)
        *rest, depth = more
        size = (size, *rest)
    sizes = [tuple(size)]
    for _ in range(depth):
        sizes.append(tuple((s + 1) // 2 for s in sizes[-1]))
    return sizes


class ConvEncoder(nn.Module):
    """(N, C, *S) sample + condition (N, E) -> (N, out_dim).

    A 3-wide stem, then ``depth`` stride-2 stages doubling the channels, then a linear head over the
    flattened features and the condition. Works for any size (odd sizes round up).
    """

    def __init__(self, shape: tuple[int, ...], out_dim: int, *, channels: int, depth: int, cond_dim: int) -> None:
        super().__init__()
        c, *size = shape
        conv = conv_layer(len(size))
        layers: list[nn.Module] = [conv(c, channels, 3, padding=1), nn.SiLU()]
        width = channels
        for _ in range(depth):
            layers += [conv(width, width * 2, 3, stride=2, padding=1), nn.SiLU()]
            width *= 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(width * math.prod(conv_sizes(tuple(size), depth=depth)[-1]) + cond_dim, out_dim)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.features(x).flatten(1)  # (N, width * prod(final size))
        return self.head(torch.cat([h, cond], dim=1))


class ConvDecoder(nn.Module):
    """(N, in_dim) latent + condition (N, E) -> (N, C, *S), mirroring `ConvEncoder`.

    Upsampling goes to the exact sizes the encoder saw, so any size comes back unchanged.
    """

    def __init__(self, in_dim: int, shape: tuple[int, ...], *, channels: int, depth: int, cond_dim: int) -> None:
        super().__init__()
        c, *size = shape
        conv = conv_layer(len(size))
        sizes = conv_sizes(tuple(size), depth=depth)
        width = channels * 2**depth
        self.start = (width, *sizes[-1])
        self.project = nn.Sequential(nn.Linear(in_dim + cond_dim, width * math.prod(sizes[-1])), nn.SiLU())
        layers: list[nn.Module] = []
        for s in reversed(sizes[:-1]):
            layers += [nn.Upsample(size=s, mode="nearest"), conv(width, width // 2, 3, padding=1), nn.SiLU()]
            width //= 2
        layers.append(conv(width, c, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.project(torch.cat([z, cond], dim=1)).view(-1, *self.start)  # (N, width, *final size)
        return self.body(h)


class _CondNorm(nn.Module):
    """Group normalization whose per-channel gain and bias come from the condition (FiLM).

    Per-sample statistics: a sample does not depend on the rest of its batch, in training as in
    sampling, so EMA weights need no recomputed batch statistics.
    """

    def __init__(self, channels: int, cond_dim: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(min(8, channels), channels, affine=False)
        self.film = nn.Linear(cond_dim, 2 * channels)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)  # starts as the identity affine map

    def forward(self, h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        gain, bias = self.film(cond).view(len(h), -1, *[1] * (h.ndim - 2)).chunk(2, dim=1)  # (N, C, 1, ...) each
        return self.norm(h) * (1 + gain) + bias


class _UpBlock(nn.Module):
    """Nearest upsampling to ``size``, 3-wide conv, conditional norm, ReLU."""

    def __init__(self, c_in: int, c_out: int, size: tuple[int, ...], cond_dim: int) -> None:
        super().__init__()
        self.size = size
        self.conv = conv_layer(len(size))(c_in, c_out, 3, padding=1)
        self.norm = _CondNorm(c_out, cond_dim)

    def forward(self, h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.conv(F.interpolate(h, size=self.size, mode="nearest"))
        return F.relu(self.norm(h, cond))


class FiLMConvGenerator(nn.Module):
    """(N, latent) noise + (N, E) condition -> (N, C, *S), upsampling with condition-modulated norms (DCGAN-like)."""

    def __init__(self, latent_dim: int, shape: tuple[int, ...], *, channels: int, depth: int, cond_dim: int) -> None:
        super().__init__()
        c, *size = shape
        sizes = conv_sizes(tuple(size), depth=depth)
        width = channels * 2**depth
        self.start = (width, *sizes[-1])
        self.project = nn.Linear(latent_dim + cond_dim, width * math.prod(sizes[-1]))
        self.start_norm = _CondNorm(width, cond_dim)
        blocks: list[_UpBlock] = []
        for s in reversed(sizes[:-1]):
            blocks.append(_UpBlock(width, width // 2, s, cond_dim))
            width //= 2
        self.blocks = nn.ModuleList(blocks)
        self.out = conv_layer(len(size))(width, c, 3, padding=1)

    def forward(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.project(torch.cat([z, cond], dim=1)).view(-1, *self.start)
        h = F.relu(self.start_norm(h, cond))
        for block in self.blocks:
            h = block(h, cond)
        return self.out(h)


def conv_critic(shape: tuple[int, ...], *, channels: int, depth: int) -> tuple[nn.Sequential, int]:
    """A strided conv feature extractor for discriminators, ``(N, C, *S) -> (N, F)``, and F."""
    c, *size = shape
    conv = conv_layer(len(size))
    act = nn.LeakyReLU(0.2)
    layers: list[nn.Module] = [conv(c, channels, 3, padding=1), act]
    width = channels
    for _ in range(depth):
        layers += [conv(width, width * 2, 3, stride=2, padding=1), act]
        width *= 2
    layers.append(nn.Flatten())
    return nn.Sequential(*layers), width * math.prod(conv_sizes(tuple(size), depth=depth)[-1])


def mlp_critic(dim: int, *, hidden: int, depth: int) -> tuple[nn.Sequential, int]:
    """A dense feature extractor for discriminators, ``(N, D) -> (N, hidden)``, and its width."""
    act = nn.LeakyReLU(0.2)
    layers: list[nn.Module] = []
    width = dim
    for _ in range(max(depth, 1)):
        layers += [nn.Linear(width, hidden), act]
        width = hidden
    return nn.Sequential(*layers), width
