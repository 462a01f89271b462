"""The networks of CycleGAN: a ResNet generator and a PatchGAN discriminator, both fully convolutional.

After Zhu et al., "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks",
ICCV 2017 (its reference code, junyanz/pytorch-CycleGAN-and-pix2pix), which follows Johnson et al.,
"Perceptual Losses for Real-Time Style Transfer and Super-Resolution", ECCV 2016 (the generator) and
Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017 (the
discriminator). Instance normalization (Ulyanov et al. 2016) throughout, as the paper; upsampling
is nearest-neighbour then a convolution rather than a transposed convolution, which avoids
checkerboard artifacts (Odena et al., "Deconvolution and Checkerboard Artifacts", Distill 2016).

Example:
    >>> g = ResnetGenerator(3, channels=8, blocks=2, downsamplings=2)
    >>> g(torch.zeros(2, 3, 16, 21)).shape
    torch.Size([2, 3, 16, 21])
    >>> PatchDiscriminator(3, channels=8, layers=2)(torch.zeros(2, 3, 16, 20)).shape
    torch.Size([2, 1, 2, 3])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PatchDiscriminator", "ResnetGenerator"]


class _Pad(nn.Module):
    """Reflection padding where the map is large enough for it, else replication (tiny inputs)."""

    def __init__(self, pad: int) -> None:
        super().__init__()
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mode = "reflect" if min(x.shape[-2:]) > self.pad else "replicate"
        return F.pad(x, (self.pad,) * 4, mode=mode)


class _InstanceNorm(nn.Module):
    """Instance normalization without affine parameters or running statistics (the reference code's
    ``"instance"`` norm); a 1 x 1 map, which torch refuses, normalizes to zeros."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x) if x.shape[-2] * x.shape[-1] > 1 else torch.zeros_like(x)


class _ResBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _Pad(1), nn.Conv2d(channels, channels, 3), _InstanceNorm(), nn.ReLU(inplace=True),
            _Pad(1), nn.Conv2d(channels, channels, 3), _InstanceNorm(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """(N, C, H, W) in [-1, 1] -> (N, C, H, W) in [-1, 1], any H and W.

    Each upsampling returns to the size its downsampling started from, so odd sizes work too;
    multiples of ``2**downsamplings`` avoid the rounding (`ImageToImage.apply` pads to them).

    Args:
        image_channels: channels of the input and output images.
        channels: feature maps at full resolution (doubled per downsampling).
        blocks: residual blocks at the lowest resolution.
        downsamplings: stride-2 convolutions before the blocks (and as many upsamplings after).
    """

    def __init__(self, image_channels: int, *, channels: int, blocks: int, downsamplings: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(_Pad(3), nn.Conv2d(image_channels, channels, 7), _InstanceNorm(), nn.ReLU(inplace=True))
        widths = [channels * 2**i for i in range(downsamplings)]  # input widths of the downsamplings
        self.down = nn.ModuleList(
            nn.Sequential(nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), _InstanceNorm(), nn.ReLU(inplace=True))
            for w in widths
        )
        self.blocks = nn.Sequential(*[_ResBlock(channels * 2**downsamplings) for _ in range(blocks)])
        self.up = nn.ModuleList(
            nn.Sequential(_Pad(1), nn.Conv2d(2 * w, w, 3), _InstanceNorm(), nn.ReLU(inplace=True))
            for w in reversed(widths)
        )
        self.head = nn.Sequential(_Pad(3), nn.Conv2d(channels, image_channels, 7), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        sizes = []
        for down in self.down:
            sizes.append(h.shape[-2:])
            h = down(h)
        h = self.blocks(h)
        for up in self.up:
            h = up(F.interpolate(h, size=sizes.pop(), mode="nearest"))
        return self.head(h)


class PatchDiscriminator(nn.Module):
    """(N, C, H, W) -> (N, 1, h, w) realness scores of overlapping patches (LSGAN targets: 1 real, 0 fake).

    ``layers`` stride-2 convolutions (the first without normalization), then two stride-1 ones;
    ``layers=3`` is the paper's 70 x 70 PatchGAN. The input must be at least ``2**layers * 3``
    pixels on each side for the last map to be non-empty.

    Args:
        image_channels: channels of the images scored.
        channels: feature maps of the first layer (doubled per layer, at most 8 times).
        layers: stride-2 convolutions.
    """

    def __init__(self, image_channels: int, *, channels: int, layers: int) -> None:
        super().__init__()
        blocks: list[nn.Module] = [
            nn.Conv2d(image_channels, channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)
        ]
        width = channels
        for i in range(1, layers + 1):
            stride = 2 if i < layers else 1
            wider = channels * min(2**i, 8)
            conv = nn.Conv2d(width, wider, 4, stride=stride, padding=1)
            blocks += [conv, _InstanceNorm(), nn.LeakyReLU(0.2, inplace=True)]
            width = wider
        blocks.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
