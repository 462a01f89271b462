"""Invertible layers of the ``flow`` family, each with an exact log-determinant.

Every layer maps ``forward(x, cond) -> (y, log|det dy/dx|)`` per sample, and back with
``inverse(y, cond) -> x``. ``x`` is a batch of channels over any number of spatial axes,
``(N, C, *spatial)`` (images ``(N, C, H, W)``, sequences ``(N, C, T)``), or of vectors ``(N, D)``;
``cond`` is the condition embedding ``(N, E)`` that only the coupling networks read.

The main path (what is inverted) keeps the input's dtype (float32, or float64 for exact checks)
even under autocast: only the coupling networks may run in bf16, and their outputs are cast back
before they touch the data or a log-determinant.

Example:
    >>> layer = ActNorm((3,))
    >>> x = torch.randn(5, 3, 4, 4)
    >>> y, log_det = layer(x, None)
    >>> bool(torch.allclose(layer.inverse(y, None), x)), log_det.shape
    (True, torch.Size([5]))
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = [
    "ActNorm",
    "AffineCoupling",
    "FlowLayer",
    "InvertibleLinear",
    "Logit",
    "Squeeze",
    "can_squeeze",
    "channel_mask",
    "checkerboard",
    "coupling_net",
    "split_mask",
]


def _spatial(x: torch.Tensor) -> int:
    """Positions per sample that share one channel's parameters (H*W for images, 1 for vectors)."""
    return math.prod(x.shape[2:])


class FlowLayer(nn.Module):
    """An invertible map with a tractable log-determinant."""

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def inverse(self, y: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError


class Logit(FlowLayer):
    """[-1, 1] -> R: ``logit(alpha + (1 - 2 alpha) (x + 1) / 2)``, for data with bounded support.

    ``alpha`` keeps the boundary values finite (Dinh et al., "Density estimation using Real NVP").
    """

    def __init__(self, alpha: float) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x, cond):
        p = self.alpha + (1.0 - 2.0 * self.alpha) * (x + 1.0) / 2.0
        log_p, log_q = torch.log(p), torch.log1p(-p)
        per_dim = math.log((1.0 - 2.0 * self.alpha) / 2.0) - log_p - log_q
        return log_p - log_q, per_dim.flatten(1).sum(1)

    def inverse(self, y, cond):
        return 2.0 * (torch.sigmoid(y) - self.alpha) / (1.0 - 2.0 * self.alpha) - 1.0


class ActNorm(FlowLayer):
    """Affine map ``(x + bias) * exp(log_scale)`` with data-dependent initialisation (Glow).

    ``shape`` is ``(C,)`` for one scale and bias per channel (shared over positions), or a whole
    sample's shape for one per dimension.
    """

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(shape))
        self.log_scale = nn.Parameter(torch.zeros(shape))

    def _view(self, p: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return p.view(1, *p.shape, *[1] * (x.ndim - 1 - p.ndim))

    @torch.no_grad()
    def initialize(self, x: torch.Tensor) -> None:
        """Set the parameters so that ``x`` comes out with zero mean and unit variance."""
        dims = [0, *range(1 + self.bias.ndim, x.ndim)]  # the batch and the shared positions
        mean = x.mean(dims)
        std = x.std(dims, correction=0).clamp_min(1e-3)  # a constant feature must not blow up
        self.bias.copy_(-mean)
        self.log_scale.copy_(-std.log())

    def forward(self, x, cond):
        y = (x + self._view(self.bias, x)) * self._view(self.log_scale, x).exp()
        shared = math.prod(x.shape[1 + self.bias.ndim :])
        log_det = (self.log_scale.sum() * shared).expand(len(x))
        return y, log_det

    def inverse(self, y, cond):
        return y * self._view(-self.log_scale, y).exp() - self._view(self.bias, y)


class InvertibleLinear(FlowLayer):
    """Channel mixing by an invertible matrix in LU form: a 1x1 convolution (Glow), or a dense map on vectors.

    ``W = P L (U + diag(sign * exp(log_s)))`` with P fixed, so ``log|det W| = sum(log_s)``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        weight = torch.linalg.qr(torch.randn(channels, channels))[0]  # a random rotation to start
        perm, lower, upper = torch.linalg.lu(weight)
        diag = torch.diagonal(upper)
        self.register_buffer("perm", perm)
        self.register_buffer("sign", diag.sign())
        self.lower = nn.Parameter(torch.tril(lower, -1))
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_s = nn.Parameter(diag.abs().log())

    def weight(self) -> torch.Tensor:
        eye = torch.eye(len(self.sign), device=self.sign.device)
        lower = torch.tril(self.lower, -1) + eye
        upper = torch.triu(self.upper, 1) + torch.diag(self.sign * self.log_s.exp())
        return self.perm @ lower @ upper  # (C, C)

    @staticmethod
    def _mix(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            return torch.einsum("ij,nj...->ni...", w.to(x.dtype), x)

    def forward(self, x, cond):
        return self._mix(self.weight(), x), (self.log_s.sum() * _spatial(x)).expand(len(x))

    def inverse(self, y, cond):
        w = self.weight().double()
        return self._mix(torch.linalg.inv(w), y)


class Squeeze(FlowLayer):
    """(N, C, *S) -> (N, C * 2^k, *S / 2): each 2 x ... x 2 patch of the k spatial axes becomes channels.

    Volume preserving. Images: (N, C, H, W) -> (N, 4C, H/2, W/2); sequences: (N, C, T) -> (N, 2C, T/2).
    """

    def forward(self, x, cond):
        n, c, *size = x.shape
        k = len(size)
        split = [v for s in size for v in (s // 2, 2)]  # (S1/2, 2, S2/2, 2, ...)
        order = [0, 1, *[3 + 2 * i for i in range(k)], *[2 + 2 * i for i in range(k)]]
        y = x.reshape(n, c, *split).permute(order).reshape(n, c * 2**k, *[s // 2 for s in size])
        return y, x.new_zeros(n)

    def inverse(self, y, cond):
        n, ck, *size = y.shape
        k = len(size)
        c = ck // 2**k
        inverse = [0, 1]
        for i in range(k):
            inverse += [2 + k + i, 2 + i]  # (S_i/2, 2) pairs back in place
        return y.reshape(n, c, *[2] * k, *size).permute(inverse).reshape(n, c, *[2 * s for s in size])


def can_squeeze(shape: tuple[int, ...]) -> bool:
    """Whether `Squeeze` applies to samples of ``shape`` (C, *S): every spatial size even."""
    return len(shape) > 1 and all(s % 2 == 0 for s in shape[1:])


def checkerboard(shape: tuple[int, ...], parity: int) -> torch.Tensor:
    """(C, *S) mask: 1 where the sum of the spatial indices is ``parity`` mod 2, on every channel."""
    c, *size = shape
    total = torch.zeros(size, dtype=torch.long)
    for axis, s in enumerate(size):
        total = total + torch.arange(s).view(*[s if a == axis else 1 for a in range(len(size))])
    return (total % 2 == parity).float().expand(c, *size).clone()


def channel_mask(shape: tuple[int, ...]) -> torch.Tensor:
    """(C, *S) mask keeping the first half of the channels (the mixing before it decides what is kept)."""
    mask = torch.zeros(shape)
    mask[: shape[0] // 2] = 1.0
    return mask


def split_mask(dim: int, parity: int) -> torch.Tensor:
    """(D,) mask keeping the first half of the features (parity 0) or the second (parity 1)."""
    mask = (torch.arange(dim) < (dim + 1) // 2).float()
    return mask if parity == 0 else 1.0 - mask


class AffineCoupling(FlowLayer):
    """Masked affine coupling (Real NVP): the masked-in part conditions a scale and shift of the rest.

    ``y = x*m + (1-m) * (x * exp(s) + t)`` with ``s, t = net(x*m, m, cond)``; ``s`` is soft-clamped
    to ``(-clamp, clamp)`` so a single layer cannot blow up the scale.
    """

    def __init__(self, mask: torch.Tensor, net: nn.Module, clamp: float) -> None:
        super().__init__()
        self.register_buffer("mask", mask)  # (C, H, W) or (D,): 1 = passes unchanged
        self.net = net
        self.clamp = clamp

    def _scale_shift(self, kept: torch.Tensor, cond: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        raw_s, t = self.net(kept, self.mask.expand_as(kept), cond).to(kept.dtype).chunk(2, dim=1)
        free = 1.0 - self.mask
        s = self.clamp * torch.tanh(raw_s / self.clamp) * free
        return s, t * free

    def forward(self, x, cond):
        kept = x * self.mask
        s, t = self._scale_shift(kept, cond)
        y = kept + (1.0 - self.mask) * (x * s.exp() + t)
        return y, s.flatten(1).sum(1)

    def inverse(self, y, cond):
        kept = y * self.mask
        s, t = self._scale_shift(kept, cond)
        return kept + (1.0 - self.mask) * ((y - t) * (-s).exp())


class _ConvNet(nn.Module):
    """(kept, mask, cond) over 1 or 2 spatial axes -> 2C channels (scale and shift): k, 1, k convolutions (k = 3)."""

    def __init__(self, channels: int, hidden: int, cond_dim: int, dropout: float, dims: int) -> None:
        super().__init__()
        conv = {1: nn.Conv1d, 2: nn.Conv2d}[dims]
        self.body = nn.Sequential(
            conv(2 * channels + cond_dim, hidden, 3, padding=1),
            nn.SiLU(),
            conv(hidden, hidden, 1),
            nn.SiLU(),
            nn.Dropout(dropout),
            _zero(conv(hidden, 2 * channels, 3, padding=1)),
        )

    def forward(self, kept: torch.Tensor, mask: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        n, _, *size = kept.shape
        cond_map = cond.view(n, cond.shape[1], *[1] * len(size)).expand(n, cond.shape[1], *size)  # (N, E, *S)
        return self.body(torch.cat([kept, mask, cond_map.to(kept.dtype)], dim=1))


class _MLPNet(nn.Module):
    """(kept, mask, cond) vectors -> 2D outputs (scale and shift): two hidden layers."""

    def __init__(self, dim: int, hidden: int, cond_dim: int, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(2 * dim + cond_dim, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Dropout(dropout),
            _zero(nn.Linear(hidden, 2 * dim)),
        )

    def forward(self, kept: torch.Tensor, mask: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([kept, mask, cond.to(kept.dtype)], dim=1))


def _zero(layer: nn.Module) -> nn.Module:
    """Zero the last layer, so every coupling starts as the identity (Glow)."""
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def coupling_net(shape: tuple[int, ...], hidden: int, cond_dim: int, dropout: float) -> nn.Module:
    """The scale-and-shift network of a coupling on samples of ``shape``: convolutional over (C, *S), dense over (D,)."""
    if len(shape) > 1:
        return _ConvNet(shape[0], hidden, cond_dim, dropout, dims=len(shape) - 1)
    return _MLPNet(shape[0], hidden, cond_dim, dropout)

