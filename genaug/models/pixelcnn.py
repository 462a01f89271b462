"""Class-conditional autoregressive models with exact likelihoods (family ``"pixelcnn"``).

Images: a gated PixelCNN (van den Oord, Kalchbrenner, Vinyals, Espeholt, Graves and Kavukcuoglu,
"Conditional Image Generation with PixelCNN Decoders", NeurIPS 2016). A vertical stack sees the
rows above a pixel and a horizontal stack the pixels to its left; the vertical stack feeds the
horizontal one shifted down by a row, so the receptive field has no blind spot. The class enters
every gate through a learned embedding, next to a learned per-position bias (the paper's
location-dependent conditioning, which matters on images as small as 8x8). Pixels are generated in
raster order; the channels of a pixel in their order (R, then G, then B): the stacks see every
channel of the earlier pixels, and a per-channel output head adds the pixel's earlier channels.

Vectors: a MADE (Germain, Gregor, Murray and Larochelle, "MADE: Masked Autoencoder for
Distribution Estimation", ICML 2015) over the features in their order, with the class embedding
added to every hidden layer.

Each dimension's conditional is a categorical over the data's grid when it has one (``spec.levels``:
17 for digits, 256 for 8-bit images), else a mixture of Gaussians (standardized tabular data,
continuous images). A categorical gives the probability of a bin; ``log_prob`` spreads it uniformly
over the bin, the exact density of dequantized data, so bits/dim compare across families.

Example:
    >>> import genaug, torch
    >>> data = genaug.load_source("digits")
    >>> model = genaug.fit(data, "pixelcnn", channels=8, layers=2, steps=5)
    >>> model.sample(4, labels=[0, 1, 2, 3], generator=torch.Generator().manual_seed(0)).shape
    torch.Size([4, 8, 8])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from genaug.data.spec import DataSpec
from genaug.models.base import Generator, GeneratorConfig, rand, randn
from genaug.models.registry import register

__all__ = ["PixelCNN", "PixelCNNConfig"]

_LOG_2PI = math.log(2.0 * math.pi)
Draw = Callable[[torch.Tensor], torch.Tensor]  # conditional parameters (N, P) -> one value per row (N,)


class PixelCNNConfig(GeneratorConfig):
    """Architecture of `PixelCNN` (images use the first block of fields, vectors the second)."""

    channels: int = Field(32, ge=1)  # images: feature maps of each stack
    layers: int = Field(6, ge=1)  # images: gated layers (the receptive field grows k//2 per layer)
    kernel_size: int = Field(3, ge=3)  # images: odd width k of the stacks' kernels (k//2+1 rows tall)
    position: bool = True  # images: learned per-position bias inside every gate
    head: int = Field(64, ge=1)  # images: hidden units of the per-pixel output head
    hidden: int = Field(128, ge=1)  # vectors: hidden units per masked layer
    depth: int = Field(2, ge=1)  # vectors: masked hidden layers
    dropout: float = Field(0.1, ge=0.0, lt=1.0)  # dropout on gate outputs and hidden layers (overfitting guard)
    mixture: int = Field(5, ge=1)  # continuous data: Gaussians per dimension
    min_log_scale: float = -7.0  # continuous data: floor of each Gaussian's log standard deviation


# ---------------------------------------------------------------------- output distributions
class _Categorical:
    """A categorical over the ``levels`` bins of a grid, spread uniformly within each bin."""

    def __init__(self, spec: DataSpec) -> None:
        self.spec, self.levels = spec, spec.levels
        self.n_params = spec.levels
        self.log_bin_width = math.log(spec.bin_width)

    def inputs(self, z: torch.Tensor) -> torch.Tensor:
        """What the network conditions on: the centre of the bin each value falls in."""
        k = self.spec.bin_index(z).clamp(0, self.levels - 1)
        return ((k + 0.5) / self.levels * 2.0 - 1.0).to(z.dtype)

    def log_prob(self, params: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Per-dimension log density of ``z`` (...), given logits (..., levels); -inf off the grid."""
        k = self.spec.bin_index(z)  # exactly the bin `to_user` reads
        inside = (k >= 0) & (k < self.levels)
        index = k.clamp(0, self.levels - 1).long().unsqueeze(-1)
        log_p = F.log_softmax(params.float(), dim=-1).gather(-1, index).squeeze(-1) - self.log_bin_width
        return torch.where(inside, log_p, torch.full_like(log_p, -math.inf))

    def sample(self, params: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """A bin centre per row of logits (..., levels) -> (...), by the Gumbel-max trick."""
        u = rand(params.shape, generator, params.device).clamp(1e-12, 1.0 - 1e-7)
        k = (params.float() - torch.log(-torch.log(u))).argmax(-1)
        return (k + 0.5) / self.levels * 2.0 - 1.0


class _GaussianMixture:
    """A mixture of ``k`` Gaussians per dimension: params are (logits, means, log-scales)."""

    def __init__(self, k: int, min_log_scale: float) -> None:
        self.k, self.min_log_scale = k, min_log_scale
        self.n_params = 3 * k

    def inputs(self, z: torch.Tensor) -> torch.Tensor:
        return z

    def _split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, means, log_scales = params.float().split(self.k, dim=-1)
        return F.log_softmax(logits, dim=-1), means, log_scales.clamp(min=self.min_log_scale)

    def log_prob(self, params: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        log_w, means, log_scales = self._split(params)  # (..., k) each
        u = (z.float().unsqueeze(-1) - means) * torch.exp(-log_scales)
        return torch.logsumexp(log_w - 0.5 * u**2 - log_scales - 0.5 * _LOG_2PI, dim=-1)

    def sample(self, params: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        log_w, means, log_scales = self._split(params)
        u = rand(log_w.shape, generator, params.device).clamp(1e-12, 1.0 - 1e-7)
        pick = (log_w - torch.log(-torch.log(u))).argmax(-1, keepdim=True)  # Gumbel-max component
        eps = randn(pick.shape, generator, params.device)
        return (means.gather(-1, pick) + log_scales.gather(-1, pick).exp() * eps).squeeze(-1)


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
        num_classes: int,
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
        self.label = nn.Embedding(num_classes, 4 * channels)  # conditions both stacks' gates
        self.position = nn.Parameter(torch.zeros(4 * channels, *hw)) if hw is not None else None
        self.dropout = nn.Dropout(dropout)

    def forward(self, v: torch.Tensor, h: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows = v.shape[2]  # sampling runs on the top rows only
        cond = self.label(labels)[:, :, None, None]  # (N, 4F, 1, 1)
        if self.position is not None:
            cond = cond + self.position[:, :rows]  # (N, 4F, rows, W)
        cond_v, cond_h = cond.chunk(2, dim=1)
        p = self.k // 2
        v_pre = self.v_conv(F.pad(v, (p, p, p, 0)))  # (N, 2F, rows, W)
        h_pre = self.h_conv(F.pad(h, (p, 0))) + self.v_to_h(_shift_down(v_pre))
        h_new = self.h_out(self.dropout(_gate(h_pre + cond_h)))
        return _gate(v_pre + cond_v), (h_new + h if self.residual else h_new)


class _GatedPixelCNN(nn.Module):
    """(N, C, rows, W) image + labels -> parameters (N, C, rows, W, P) of each subpixel's conditional."""

    def __init__(self, spec: DataSpec, cfg: PixelCNNConfig, n_params: int) -> None:
        super().__init__()
        if cfg.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: expected an odd number >= 3, got {cfg.kernel_size}")
        c, h, w = spec.shape
        hw = (h, w) if cfg.position else None
        widths = [c] + [cfg.channels] * cfg.layers
        self.layers = nn.ModuleList(
            _GatedLayer(a, b, cfg.kernel_size, spec.num_classes, hw, cfg.dropout, first=i == 0)
            for i, (a, b) in enumerate(zip(widths, widths[1:]))
        )
        self.hidden = nn.Linear(cfg.channels, cfg.head)
        # channel c of a pixel also sees channels < c of the same pixel (none for c = 0)
        self.earlier = nn.ModuleList(nn.Linear(i, cfg.head, bias=False) for i in range(1, c))
        self.out = nn.ModuleList(nn.Linear(cfg.head, n_params) for _ in range(c))

    def features(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Head features from the pixels before each one: (N, rows, W, head)."""
        v, h = x, _shift_right(x)
        for layer in self.layers:
            v, h = layer(v, h, labels)
        return F.relu(self.hidden(F.relu(h).permute(0, 2, 3, 1)))

    def channel(self, c: int, features: torch.Tensor, earlier: torch.Tensor) -> torch.Tensor:
        """Parameters (..., P) of channel ``c`` from head features (..., head) and channels < c (..., c)."""
        if c > 0:
            features = features + self.earlier[c - 1](earlier)
        return self.out[c](F.relu(features))

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        feats = self.features(x, labels)
        pixels = x.permute(0, 2, 3, 1)  # (N, rows, W, C)
        return torch.stack([self.channel(c, feats, pixels[..., :c]) for c in range(x.shape[1])], dim=1)

    def sample(self, labels: torch.Tensor, shape: tuple[int, ...], draw: Draw) -> torch.Tensor:
        """Fill a canvas pixel by pixel in raster order (channels in order within a pixel)."""
        c, h, w = shape
        x = torch.zeros((len(labels), c, h, w), device=labels.device)
        for i in range(h):
            for j in range(w):
                # outputs at row i only depend on rows <= i: the rows below need no computing
                feats = self.features(x[:, :, : i + 1], labels)[:, i, j]  # (N, head)
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


class _MADE(nn.Module):
    """(N, D) vector + labels -> parameters (N, D, P): output d only sees inputs < d (0-based)."""

    def __init__(self, spec: DataSpec, cfg: PixelCNNConfig, n_params: int) -> None:
        super().__init__()
        d = spec.dim
        degree_in = torch.arange(1, d + 1)
        # hidden units get degrees 1..D-1 (0 when D = 1: they then only see the label)
        degree_hidden = torch.arange(cfg.hidden) % max(d - 1, 1) + min(d - 1, 1)
        degree_out = torch.arange(1, d + 1).repeat_interleave(n_params)
        layers, labels, previous = [], [], degree_in
        for _ in range(cfg.depth):
            layers.append(_MaskedLinear(degree_hidden[:, None] >= previous[None, :]))
            labels.append(nn.Embedding(spec.num_classes, cfg.hidden))
            previous = degree_hidden
        self.layers, self.labels = nn.ModuleList(layers), nn.ModuleList(labels)
        self.out = _MaskedLinear(degree_out[:, None] > previous[None, :])
        self.dropout = nn.Dropout(cfg.dropout)
        self.n_params = n_params

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = x
        for layer, label in zip(self.layers, self.labels):
            h = self.dropout(F.silu(layer(h) + label(labels)))
        return self.out(h).view(len(x), -1, self.n_params)

    def sample(self, labels: torch.Tensor, shape: tuple[int, ...], draw: Draw) -> torch.Tensor:
        x = torch.zeros((len(labels), *shape), device=labels.device)
        for d in range(shape[0]):
            x[:, d] = draw(self(x, labels)[:, d])
        return x


# ---------------------------------------------------------------------- the family
@register
class PixelCNN(Generator):
    """Autoregressive model with an exact ``log_prob``: gated PixelCNN on images, MADE on vectors.

    Sampling takes one forward pass per pixel (H*W; images, all samples of a call in one batch)
    or per feature (D; vectors), plus a small head per channel.

    Args:
        spec: the data's `DataSpec`; grid data gets categorical conditionals, other data mixtures
            of ``mixture`` Gaussians.
        config: a `PixelCNNConfig`. The default (6 gated layers of 32 maps, dropout 0.1, early
            stopping on the validation likelihood) scores 1.77 bits/dim on held-out digits (half
            the set for training; a Gaussian mixture scores 2.82, a uniform model 4.09).

    Reference: van den Oord et al., "Conditional Image Generation with PixelCNN Decoders",
    NeurIPS 2016; Germain et al., "MADE: Masked Autoencoder for Distribution Estimation", ICML 2015.
    """

    family: ClassVar[str] = "pixelcnn"
    config_class: ClassVar[type[GeneratorConfig]] = PixelCNNConfig
    has_likelihood: ClassVar[bool] = True
    # Few hundred images per class overfit fast: stop on the validation likelihood and keep the best.
    train_defaults: ClassVar[dict[str, Any]] = {
        "steps": 2000,
        "batch_size": 64,
        "lr": 2e-3,
        "ema_decay": 0.995,
        "eval_every": 100,
        "patience": 3,
    }

    def __init__(self, spec: DataSpec, config: PixelCNNConfig | None = None) -> None:
        super().__init__(spec, config)
        cfg = self.config
        if spec.scaling == "grid":
            self.dist: _Categorical | _GaussianMixture = _Categorical(spec)
        else:
            self.dist = _GaussianMixture(cfg.mixture, cfg.min_log_scale)
        net = _GatedPixelCNN if spec.modality == "image" else _MADE
        self.net = net(spec, cfg, self.dist.n_params)

    def conditionals(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Parameters of every dimension's conditional given the earlier ones: (N, *spec.shape, P).

        ``x`` holds the values conditioned on (grid data: bin centres, as `DataSpec.to_model`
        gives); P is ``levels`` logits on a grid, else (logits, means, log-scales) of the mixture.
        """
        return self.net(x, labels)

    def _log_prob_given(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        params = self.conditionals(self.dist.inputs(z), labels)
        with torch.autocast(device_type=z.device.type, enabled=False):
            return self.dist.log_prob(params, z).flatten(1).sum(1)

    def log_prob(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Exact log density of model-space ``z`` (per sample, (N,)); ``-inf`` outside a grid's range.

        On a grid it is ``log P(bins of z) - D * log(bin_width)``: the categorical's probability
        spread uniformly over each bin, the density of uniformly dequantized data.
        """
        labels = self.check_input(z, labels)
        if labels is not None:
            return self._log_prob_given(z, labels)
        return self.marginal_over_classes(lambda c: self._log_prob_given(z, c), len(z), z.device)

    def training_step(self, x, labels, *, step, group, generator):
        # Grid data arrives at bin centres: the loss is the exact dequantized NLL, no noise needed.
        loss = -self._log_prob_given(x, labels).mean() / self.spec.dim  # nats per dimension
        return {"loss": loss}

    @torch.no_grad()
    def validation_step(self, x, labels, *, generator):
        return {"loss": -self._log_prob_given(x, labels).mean() / self.spec.dim}

    @torch.no_grad()
    def sample_model(self, labels: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        labels = labels.to(self.device)
        return self.net.sample(labels, self.spec.shape, lambda params: self.dist.sample(params, generator))
