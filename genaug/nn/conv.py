"""Small networks shared by families: conv encoders/decoders of any image size, MLPs.

Every net takes an optional condition vector (a class embedding today, anything tomorrow) that is
concatenated where the net is flat, so families condition the same way.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ConvDecoder", "ConvEncoder", "MLP", "conv_sizes"]


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


def conv_sizes(height: int, width: int, depth: int) -> list[tuple[int, int]]:
    """Spatial sizes after each stride-2 convolution (3x3, padding 1): ceil(size / 2)."""
    sizes = [(height, width)]
    for _ in range(depth):
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


class ConvEncoder(nn.Module):
    """(N, C, H, W) image + condition (N, E) -> (N, out_dim).

    A 3x3 stem, then ``depth`` stride-2 stages doubling the channels, then a linear head over the
    flattened features and the condition. Works for any H, W (odd sizes round up).
    """

    def __init__(self, shape: tuple[int, int, int], out_dim: int, *, channels: int, depth: int, cond_dim: int) -> None:
        super().__init__()
        c, h, w = shape
        layers: list[nn.Module] = [nn.Conv2d(c, channels, 3, padding=1), nn.SiLU()]
        width = channels
        for _ in range(depth):
            layers += [nn.Conv2d(width, width * 2, 3, stride=2, padding=1), nn.SiLU()]
            width *= 2
        self.features = nn.Sequential(*layers)
        fh, fw = conv_sizes(h, w, depth)[-1]
        self.head = nn.Linear(width * fh * fw + cond_dim, out_dim)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.features(x).flatten(1)  # (N, width * fh * fw)
        return self.head(torch.cat([h, cond], dim=1))


class ConvDecoder(nn.Module):
    """(N, in_dim) latent + condition (N, E) -> (N, C, H, W), mirroring `ConvEncoder`.

    Upsampling goes to the exact sizes the encoder saw, so any H, W comes back unchanged.
    """

    def __init__(self, in_dim: int, shape: tuple[int, int, int], *, channels: int, depth: int, cond_dim: int) -> None:
        super().__init__()
        c, h, w = shape
        sizes = conv_sizes(h, w, depth)
        width = channels * 2**depth
        self.start = (width, *sizes[-1])
        self.project = nn.Sequential(nn.Linear(in_dim + cond_dim, width * sizes[-1][0] * sizes[-1][1]), nn.SiLU())
        layers: list[nn.Module] = []
        for size in reversed(sizes[:-1]):
            layers += [nn.Upsample(size=size, mode="nearest"), nn.Conv2d(width, width // 2, 3, padding=1), nn.SiLU()]
            width //= 2
        layers.append(nn.Conv2d(width, c, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.project(torch.cat([z, cond], dim=1)).view(-1, *self.start)  # (N, width, fh, fw)
        return self.body(h)
