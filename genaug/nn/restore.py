"""A residual CNN for image restoration: super-resolution (sub-pixel output) and colorization.

Residual blocks without normalization (Lim et al., "Enhanced Deep Residual Networks for Single
Image Super-Resolution", CVPR 2017 Workshops) at the input's resolution, optionally inside
``levels`` stride-2 down/up steps with skip connections for a wider view (colour needs context), and a
sub-pixel head (Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient
Sub-Pixel Convolutional Neural Network", CVPR 2016) that outputs ``upscale`` times the input size.
Fully convolutional: any height and width.

Example:
    >>> net = ResidualCNN(1, 3, channels=8, blocks=2, levels=1, upscale=2)
    >>> net(torch.zeros(2, 1, 7, 9)).shape
    torch.Size([2, 3, 14, 18])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ResidualCNN"]


class _Block(nn.Module):
    def __init__(self, channels: int, res_scale: float) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(channels, channels, 3, padding=1))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


class ResidualCNN(nn.Module):
    """(N, in_channels, H, W) -> (N, out_channels, upscale * H, upscale * W); see the module docstring."""

    def __init__(self, in_channels: int, out_channels: int, *, channels: int, blocks: int, levels: int = 0, upscale: int = 1) -> None:
        super().__init__()
        self.stem = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.down = nn.ModuleList(nn.Conv2d(channels, channels, 3, stride=2, padding=1) for _ in range(levels))
        self.body = nn.Sequential(*[_Block(channels, 0.1 if blocks > 8 else 1.0) for _ in range(blocks)], nn.Conv2d(channels, channels, 3, padding=1))
        self.up = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in range(levels))
        self.head = nn.Conv2d(channels, out_channels * upscale**2, 3, padding=1)
        nn.init.zeros_(self.head.weight)  # start as the base the caller adds (bicubic, gray): a residual from zero
        nn.init.zeros_(self.head.bias)
        self.upscale = upscale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x.contiguous(memory_format=torch.channels_last))  # oneDNN's faster convolution layout on CPUs
        skips = []
        for down in self.down:
            skips.append(h)
            h = F.relu(down(h))
        h = h + self.body(h)
        for up in self.up:
            skip = skips.pop()
            h = F.relu(up(F.interpolate(h, size=skip.shape[-2:], mode="nearest"))) + skip
        out = self.head(h)
        return F.pixel_shuffle(out, self.upscale) if self.upscale > 1 else out
