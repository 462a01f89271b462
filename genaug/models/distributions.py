"""Output distributions of the autoregressive families: one conditional per dimension, with an exact density.

`Categorical`: over the ``levels`` bins of a grid, spread uniformly within each bin (the density of
uniformly dequantized data, so bits/dim compare across families). `GaussianMixture`: ``k`` Gaussians
per dimension for continuous data. Both take parameters ``(..., P)`` from a network and give
``log_prob(params, z)`` per dimension and ``sample(params, generator)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from genaug.data.spec import DataSpec
from genaug.utils.random import rand, randn

__all__ = ["Categorical", "GaussianMixture", "gumbel_argmax", "output_distribution"]

_LOG_2PI = math.log(2.0 * math.pi)


def gumbel_argmax(logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Index (...) drawn from the categorical of unnormalized log weights (..., V), by the Gumbel-max trick."""
    u = rand(logits.shape, generator, logits.device).clamp(1e-12, 1.0 - 1e-7)
    return (logits.float() - torch.log(-torch.log(u))).argmax(-1)


def output_distribution(spec: DataSpec, mixture: int, min_log_scale: float) -> Categorical | GaussianMixture:
    """A categorical for grid data, else a mixture of ``mixture`` Gaussians per dimension."""
    return Categorical(spec) if spec.scaling == "grid" else GaussianMixture(mixture, min_log_scale)


class Categorical:
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

    def tempered(self, params: torch.Tensor, temperature: float) -> torch.Tensor:
        """The logits of ``p ** (1 / temperature)``, renormalized: below 1 sharper, above 1 flatter."""
        return params.float() / temperature

    def sample(self, params: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """A bin centre per row of logits (..., levels) -> (...), by the Gumbel-max trick."""
        return (gumbel_argmax(params, generator) + 0.5) / self.levels * 2.0 - 1.0


class GaussianMixture:
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

    def tempered(self, params: torch.Tensor, temperature: float) -> torch.Tensor:
        """Parameters of the mixture at ``temperature``: weights ``w ** (1 / T)`` renormalized, every scale times ``T``
        (as sketch-rnn and PixelCNN++ samplers do), the scale floor ``exp(min_log_scale)`` still applying; the means stay."""
        logits, means, log_scales = params.float().split(self.k, dim=-1)
        log_scales = log_scales.clamp(min=self.min_log_scale) + math.log(temperature)  # a floored scale is scaled too
        return torch.cat([logits / temperature, means, log_scales], dim=-1)

    def sample(self, params: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        log_w, means, log_scales = self._split(params)
        pick = gumbel_argmax(log_w, generator)[..., None]  # the component
        eps = randn(pick.shape, generator, params.device)
        return (means.gather(-1, pick) + log_scales.gather(-1, pick).exp() * eps).squeeze(-1)


# ---------------------------------------------------------------------- the family
