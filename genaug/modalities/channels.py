"""`ChannelModality`: samples made of channels over spatial axes, the shared base of images and sequences.

The canonical per-sample layout is channels first, ``(C, *S)``: ``"CHW"`` for images, ``"CT"`` for
sequences. A user may also hand genaug channels last (``"HWC"``, ``"TC"``) or, with one channel, no
channel axis (``"HW"``, ``"T"``). Blocks are convolutional over the spatial axes (`genaug.nn.conv`,
`genaug.nn.unet`, `genaug.nn.flow`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from genaug.modalities.base import Modality
from genaug.nn import conv, flow, unet

__all__ = ["ChannelModality", "ConvFeatures"]


class ChannelModality(Modality):
    """Channels over the spatial axes named by ``spatial`` (one letter per axis)."""

    spatial: ClassVar[str] = ""
    flow_lr_scale: ClassVar[float] = 1.0
    feature_kernels: ClassVar[tuple[int, int, int]] = (3, 3, 3)  # kernel sizes of the feature classifier's convolutions

    @property
    def canonical(self) -> str:
        return "C" + self.spatial

    @property
    def channels_last(self) -> str:
        return self.spatial + "C"

    @property
    def layouts(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.canonical, self.channels_last, self.spatial)

    # ------------------------------------------------------------------ layouts
    def check_shape(self, shape: tuple[int, ...]) -> None:
        k = len(self.spatial)
        if len(shape) != k + 1 or any(s <= 0 for s in shape):
            raise ValueError(f"shape: {self.name} data needs {k + 1} positive dims ({', '.join(self.canonical)}), got {shape}")

    def check_layout(self, layout: str, shape: tuple[int, ...]) -> None:
        super().check_layout(layout, shape)
        if layout == self.spatial and shape[0] != 1:
            raise ValueError(f"layout: {layout!r} means one channel, but shape is {shape}")

    def canonical_shape(self, user_shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
        if layout == self.spatial:
            return (1, *user_shape)
        if layout == self.channels_last:
            return (*user_shape[-1:], *user_shape[:-1])  # samples of no dims stay () for check_shape to refuse
        return tuple(user_shape)

    def user_shape(self, shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
        if layout == self.spatial:
            return tuple(shape[1:])
        if layout == self.channels_last:
            return (*shape[1:], shape[0])
        return tuple(shape)

    def to_canonical(self, x: torch.Tensor, layout: str) -> torch.Tensor:
        if layout == self.spatial:
            return x.unsqueeze(1)
        if layout == self.channels_last:
            return x.movedim(-1, 1)
        return x

    def from_canonical(self, x: torch.Tensor, layout: str) -> torch.Tensor:
        if layout == self.spatial:
            return x.squeeze(1)
        if layout == self.channels_last:
            return x.movedim(1, -1).contiguous()
        return x

    def sample_layouts(self, channels_last: bool) -> tuple[str, ...]:
        return (self.channels_last if channels_last else self.canonical, self.spatial)

    # ------------------------------------------------------------------ values
    def default_values(self, x: np.ndarray, lo: float, hi: float, integral: bool) -> dict[str, Any]:
        """Integer-valued data: a grid from the minimum to the maximum; other data: continuous in their range."""
        if integral and hi > lo:
            return {"scaling": "grid", "levels": int(round(hi - lo)) + 1, "value_range": (lo, hi)}
        return {"scaling": "range", "value_range": (lo, hi if hi > lo else lo + 1.0)}

    # ------------------------------------------------------------------ blocks
    def encoder(self, shape, out_dim, *, channels, hidden, depth, cond_dim):
        return conv.ConvEncoder(shape, out_dim, channels=channels, depth=depth, cond_dim=cond_dim)

    def decoder(self, in_dim, shape, *, channels, hidden, depth, cond_dim):
        return conv.ConvDecoder(in_dim, shape, channels=channels, depth=depth, cond_dim=cond_dim)

    def generator(self, in_dim, shape, *, channels, hidden, depth, cond_dim):
        return conv.FiLMConvGenerator(in_dim, shape, channels=channels, depth=depth, cond_dim=cond_dim)

    def critic(self, shape, *, channels, hidden, depth):
        return conv.conv_critic(shape, channels=channels, depth=depth)

    def denoiser(self, shape, *, channels, levels, blocks, hidden, depth, dropout):
        return unet.UNet(shape, channels=channels, levels=levels, blocks=blocks, dropout=dropout)

    def flow_shapes(self, shape, scales):
        shapes: list[tuple[bool, tuple[int, ...]]] = []
        for scale in range(scales):
            squeeze = scale > 0 and flow.can_squeeze(shape)
            if squeeze:
                c, *size = shape
                shape = (c * 2 ** len(size), *[s // 2 for s in size])
            shapes.append((squeeze, tuple(shape)))
        return shapes

    def coupling_mask(self, shape, step):
        c = shape[0]
        if c > 1 and step % 2 == 0:  # channel mask: the mixing before it decides what is kept
            return flow.channel_mask(shape)
        return flow.checkerboard(shape, parity=(step // 2 if c > 1 else step) % 2)

    def coupling_net(self, shape, *, channels, hidden, cond_dim, dropout):
        return flow.coupling_net(shape, channels, cond_dim, dropout)

    # ------------------------------------------------------------------ classifiers
    def feature_body(self, shape, *, width, dim):
        return ConvFeatures(shape[0], width, dim, dims=len(shape) - 1, kernels=self.feature_kernels)


class ConvFeatures(nn.Module):
    """(N, C, *S) -> (N, dim): three conv blocks (the last two stride 2), global average pool, linear."""

    def __init__(self, channels: int, width: int, dim: int, *, dims: int, kernels: tuple[int, int, int] = (3, 3, 3)) -> None:
        super().__init__()
        layer = conv.conv_layer(dims)
        k1, k2, k3 = kernels
        self.convs = nn.Sequential(
            layer(channels, width, k1, padding=k1 // 2),
            nn.SiLU(),
            layer(width, 2 * width, k2, stride=2, padding=k2 // 2),
            nn.SiLU(),
            layer(2 * width, 4 * width, k3, stride=2, padding=k3 // 2),
            nn.SiLU(),
        )
        self.project = nn.Sequential(nn.Linear(4 * width, dim), nn.SiLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.convs(x).flatten(2).mean(dim=2)  # (N, 4 * width): global average pool, any size
        return self.project(h)
