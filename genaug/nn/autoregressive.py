"""Autoregressive networks: each output is the parameters of one dimension's conditional given the earlier ones.

`GatedPixelCNN` for images (van den Oord et al., "Conditional Image Generation with PixelCNN Decoders",
NeurIPS 2016): a vertical stack sees the rows above a pixel and a horizontal stack the pixels to its
left, the condition vector enters every gate next to a learned per-position bias. `MADE` for vectors
(Germain et al., "MADE: Masked Autoencoder for Distribution Estimation", ICML 2015). The 1-D causal
network of sequences is `genaug.nn.wavenet.WaveNet`. Each net has ``forward(x, cond) -> (N, *shape, P)``
and ``sample(cond, shape, draw)``, ``draw(params (N, P)) -> values (N,)`` being the caller's distribution.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MADE", "Draw", "GatedPixelCNN"]

Draw = Callable[[torch.Tensor], torch.Tensor]  # conditional parameters (N, P) -> one value per row (N,)


# ---------------------------------------------------------------------- images: gated PixelCNN
def _shift_down(x: torch.Tensor) -> torch.Tensor:
    """Move every row one down (zeros on top): row i then only holds what rows < i held."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


def _shift_right(x: torch.Tensor) -> torch.Tensor:
    return F.pad(x, (1, 0))[..., :-1]


def _gate(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class _GatedLayer(nn.Module):
    """One gated layer of both stacks (figure 2 of the paper).

    Causality: the vertical stack's output at row i sees input rows <= i (a (k//2+1) x k kernel
    over rows i-k//2..i); the horizontal stack's output at (i, j) sees its input at columns <= j
    of row i (a 1 x (k//2+1) kernel) plus the vertical stack shifted down a row. The first layer
    feeds the horizontal stack the image shifted right, so nothing sees pixel (i, j) itself.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        k: int,
        cond_dim: int,
        hw: tuple[int, int] | None,
        dropout: float,
        first: bool,
    ) -> None:
        super().__init__()
        self.k, self.residual = k, not first
        self.v_conv = nn.Conv2d(in_channels, 2 * channels, (k // 2 + 1, k))
        self.h_conv = nn.Conv2d(in_channels, 2 * channels, (1, k // 2 + 1))
        self.v_to_h = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.h_out = nn.Conv2d(channels, channels, 1)
        self.label = nn.Linear(cond_dim, 4 * channels)  # the condition enters both stacks' gates
        self.position = nn.Parameter(torch.zeros(4 * channels, *hw)) if hw is not None else None
        self.dropout = nn.Dropout(dropout)

    def forward(self, v: torch.Tensor, h: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows = v.shape[2]  # sampling runs on the top rows only
        cond = self.label(cond)[:, :, None, None]  # (N, 4F, 1, 1)
        if self.position is not None:
            cond = cond + self.position[:, :rows]  # (N, 4F, rows, W)
        cond_v, cond_h = cond.chunk(2, dim=1)
        p = self.k // 2
        v_pre = self.v_conv(F.pad(v, (p, p, p, 0)))  # (N, 2F, rows, W)
        h_pre = self.h_conv(F.pad(h, (p, 0))) + self.v_to_h(_shift_down(v_pre))
        h_new = self.h_out(self.dropout(_gate(h_pre + cond_h)))
        return _gate(v_pre + cond_v), (h_new + h if self.residual else h_new)


class GatedPixelCNN(nn.Module):
    """(N, C, rows, W) image + condition (N, E) -> parameters (N, C, rows, W, P) of each subpixel's conditional.

    Example:
        >>> net = GatedPixelCNN((1, 4, 4), 3, cond_dim=2, channels=4, layers=2, kernel_size=3, position=True, head=8, dropout=0.0)
        >>> net(torch.zeros(5, 1, 4, 4), torch.zeros(5, 2)).shape
        torch.Size([5, 1, 4, 4, 3])
    """

    def __init__(
        self,
        shape: tuple[int, int, int],
        n_params: int,
        *,
        cond_dim: int,
        channels: int,
        layers: int,
        kernel_size: int,
        position: bool,
        head: int,
        dropout: float,
    ) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: expected an odd number >= 3, got {kernel_size}")
        c, h, w = shape
        hw = (h, w) if position else None
        widths = [c] + [channels] * layers
        self.layers = nn.ModuleList(
            _GatedLayer(a, b, kernel_size, cond_dim, hw, dropout, first=i == 0) for i, (a, b) in enumerate(zip(widths, widths[1:]))
        )
        self.hidden = nn.Linear(channels, head)
        # channel c of a pixel also sees channels < c of the same pixel (none for c = 0)
        self.earlier = nn.ModuleList(nn.Linear(i, head, bias=False) for i in range(1, c))
        self.out = nn.ModuleList(nn.Linear(head, n_params) for _ in range(c))

    def features(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Head features from the pixels before each one: (N, rows, W, head)."""
        v, h = x, _shift_right(x)
        for layer in self.layers:
            v, h = layer(v, h, cond)
        return F.relu(self.hidden(F.relu(h).permute(0, 2, 3, 1)))

    def channel(self, c: int, features: torch.Tensor, earlier: torch.Tensor) -> torch.Tensor:
        """Parameters (..., P) of channel ``c`` from head features (..., head) and channels < c (..., c)."""
        if c > 0:
            features = features + self.earlier[c - 1](earlier)
        return self.out[c](F.relu(features))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        feats = self.features(x, cond)
        pixels = x.permute(0, 2, 3, 1)  # (N, rows, W, C)
        return torch.stack([self.channel(c, feats, pixels[..., :c]) for c in range(x.shape[1])], dim=1)

    def sample(self, cond: torch.Tensor, shape: tuple[int, ...], draw: Draw) -> torch.Tensor:
        """Fill a canvas pixel by pixel in raster order (channels in order within a pixel)."""
        c, h, w = shape
        x = torch.zeros((len(cond), c, h, w), device=cond.device)
        for i in range(h):
            for j in range(w):
                # outputs at row i only depend on rows <= i: the rows below need no computing
                feats = self.features(x[:, :, : i + 1], cond)[:, i, j]  # (N, head)
                for ch in range(c):
                    x[:, ch, i, j] = draw(self.channel(ch, feats, x[:, :ch, i, j]))
        return x


# ---------------------------------------------------------------------- vectors: MADE
class _MaskedLinear(nn.Linear):
    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask.float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    """(N, D) vector + condition (N, E) -> parameters (N, D, P): output d only sees inputs < d (0-based).

    Example:
        >>> MADE(5, 3, cond_dim=2, hidden=8, depth=2, dropout=0.0)(torch.zeros(4, 5), torch.zeros(4, 2)).shape
        torch.Size([4, 5, 3])
    """

    def __init__(self, dim: int, n_params: int, *, cond_dim: int, hidden: int, depth: int, dropout: float) -> None:
        super().__init__()
        d = dim
        degree_in = torch.arange(1, d + 1)
        # hidden units get degrees 1..D-1 (0 when D = 1: they then only see the condition)
        degree_hidden = torch.arange(hidden) % max(d - 1, 1) + min(d - 1, 1)
        degree_out = torch.arange(1, d + 1).repeat_interleave(n_params)
        layers, labels, previous = [], [], degree_in
        for _ in range(depth):
            layers.append(_MaskedLinear(degree_hidden[:, None] >= previous[None, :]))
            labels.append(nn.Linear(cond_dim, hidden))
            previous = degree_hidden
        self.layers, self.labels = nn.ModuleList(layers), nn.ModuleList(labels)
        self.out = _MaskedLinear(degree_out[:, None] > previous[None, :])
        self.dropout = nn.Dropout(dropout)
        self.n_params = n_params

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = x
        for layer, label in zip(self.layers, self.labels):
            h = self.dropout(F.silu(layer(h) + label(cond)))
        return self.out(h).view(len(x), -1, self.n_params)

    def sample(self, cond: torch.Tensor, shape: tuple[int, ...], draw: Draw) -> torch.Tensor:
        x = torch.zeros((len(cond), *shape), device=cond.device)
        for d in range(shape[0]):
            x[:, d] = draw(self(x, cond)[:, d])
        return x
