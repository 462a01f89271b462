"""Class-conditional normalizing flow with an exact likelihood (family ``"flow"``).

Dinh et al., "Density estimation using Real NVP", ICLR 2017 (affine coupling, checkerboard and
channel masks, squeeze, logit preprocessing); Kingma & Dhariwal, "Glow: Generative Flow with
Invertible 1x1 Convolutions", NeurIPS 2018 (actnorm with data-dependent init, LU-parametrised 1x1
convolutions).

Images and sequences: an optional logit map of the bounded model space onto R, a per-element actnorm, then
``scales`` resolutions of ``flow_steps`` steps (actnorm, 1x1 convolution when there are several
channels, affine coupling with a small conv net), with a squeeze between two resolutions when the sizes
are even (odd sizes keep their resolution; checkerboard masks work at any size); the modality gives
the masks, squeeze and coupling nets (`genaug.modalities`). Vectors:
the same steps with dense mixing and MLP couplings. Every coupling reads a learned class embedding,
and the base distribution is a diagonal Gaussian per class, so ``log_prob(z, labels)`` is the exact
``log p(z | label)`` over model space (grid data: of the dequantized ``z``, which is what training
fits) and ``log_prob(z)`` the exact mixture over classes.

Bounded (grid or range) data: the logit margin ``logit_alpha`` makes the flow's support the open box
``(-limit, limit)^D`` with ``limit = 1 / (1 - 2 logit_alpha)``, slightly wider than [-1, 1]; the
density integrates to one there, is -inf outside, and samples in the margin are clamped by the
`DataSpec` when mapped back to the user's space.

Example:
    >>> import genaug, torch
    >>> data = genaug.load_source("digits")
    >>> model = genaug.fit(data, "flow", steps=5, scales=1, flow_steps=2, channels=8)
    >>> model.sample(4, labels=[0, 1, 2, 3], generator=torch.Generator().manual_seed(0)).shape
    torch.Size([4, 8, 8])
"""

from __future__ import annotations

import math

import torch
from pydantic import Field
from torch import nn

from genaug.data.spec import DataSpec
from genaug.models.base import Cond, Generator, GeneratorConfig, OptimizerGroup, randn
from genaug.models.guidance import check_temperature
from genaug.models.registry import register
from genaug.nn.flow import ActNorm, AffineCoupling, FlowLayer, InvertibleLinear, Logit

__all__ = ["Flow", "FlowConfig"]

_LOG_2PI = math.log(2 * math.pi)


class FlowConfig(GeneratorConfig):
    """Architecture, regularisation and sampling of the flow."""

    scales: int = Field(3, ge=1)  # conv data (images, sequences): resolutions, a squeeze between two when the sizes are even; vectors: unused
    flow_steps: int = Field(4, ge=1)  # steps (actnorm, channel mixing, coupling) per scale (vectors: in all)
    channels: int = Field(64, ge=1)  # conv data: hidden channels of each coupling network
    hidden: int = Field(16, ge=1)  # vectors: hidden units of each coupling network (tables are small)
    label_dim: int = Field(8, ge=1)  # size of the class embedding every coupling network reads
    dropout: float = Field(0.3, ge=0, lt=1)  # dropout inside the coupling networks (small data overfit)
    weight_decay: float = Field(0.0, ge=0)  # AdamW decoupled weight decay on every parameter
    # multiplies the Trainer's lr; None: the modality's (1 for conv data; 0.25 for vectors, whose MLP couplings overfit a
    # small table within tens of epochs, before a validation every eval_every steps could catch the best)
    lr_scale: float | None = Field(None, gt=0)
    clamp: float = Field(2.0, gt=0)  # a coupling's log-scale is soft-clamped to (-clamp, clamp)
    logit_alpha: float = Field(0.05, gt=0, lt=0.5)  # bounded data: margin of the logit map onto R
    # sampling: standard deviation multiplier of the base noise (below 1: more typical samples, less variety; Glow's
    # temperature); per call: model.sample(n, temperature=0.7)
    temperature: float = Field(1.0, gt=0.0)
    init_samples: int = Field(1024, ge=2)  # training samples the data-dependent initialisation sees


@register
class Flow(Generator):
    """Conditional Real NVP / Glow; ``log_prob`` is exact and ``encode``/``decode`` are exact inverses."""

    family = "flow"
    config_class = FlowConfig
    has_likelihood = True
    has_encoder = True
    # Early stopping on the held-out NLL ends a digits fit after about 1000-2000 steps: with ~900
    # training images the flow starts to overfit within a few hundred steps of its best.
    train_defaults = {"steps": 3000, "batch_size": 64, "lr": 2e-3, "ema_decay": 0.999, "eval_every": 200, "patience": 3}

    def __init__(self, spec: DataSpec, config: FlowConfig | None = None) -> None:
        super().__init__(spec, config)
        cfg = self.config
        cond_dim = self.embed_conditions(cfg.label_dim)
        # grid and range data live in [-1, 1]; the logit map lets the flow's support be all of R
        self._bounded = spec.scaling in ("grid", "range")
        # the logit margin widens the support a little: (-limit, limit) maps onto all of R
        self.support_limit = 1.0 / (1.0 - 2.0 * cfg.logit_alpha) if self._bounded else math.inf
        layers: list[FlowLayer] = [Logit(cfg.logit_alpha)] if self._bounded else []
        layers.append(ActNorm(spec.shape))  # one scale and bias per dimension (pixel or feature)
        shape = spec.shape
        for squeeze, shape in spec.kind.flow_shapes(spec.shape, cfg.scales):
            if squeeze:
                layers.append(spec.kind.flow_squeeze())
            layers += self._steps(shape, cond_dim)
        self.latent_shape = shape
        self.layers = nn.ModuleList(layers)
        self.base_mean = nn.Parameter(torch.zeros(spec.num_classes, spec.dim))  # per class, in latent order
        self.base_log_std = nn.Parameter(torch.zeros(spec.num_classes, spec.dim))

    def _steps(self, shape: tuple[int, ...], cond_dim: int) -> list[FlowLayer]:
        """``flow_steps`` steps at one resolution: actnorm, channel (feature) mixing, a masked coupling."""
        cfg, kind = self.config, self.spec.kind
        c = shape[0]
        steps: list[FlowLayer] = []
        for k in range(cfg.flow_steps):
            steps.append(ActNorm((c,)))
            if c > 1:
                steps.append(InvertibleLinear(c))
            net = kind.coupling_net(shape, channels=cfg.channels, hidden=cfg.hidden, cond_dim=cond_dim, dropout=cfg.dropout)
            steps.append(AffineCoupling(kind.coupling_mask(shape, k), net, cfg.clamp))
        return steps

    # ------------------------------------------------------------------ the bijection
    def _to_latent(self, z: torch.Tensor, cond: Cond) -> tuple[torch.Tensor, torch.Tensor]:
        """Model space -> flat latent (N, D) before the base standardisation, and log|det| (N,)."""
        cond = self.condition_vector(cond)
        h = z.to(torch.promote_types(z.dtype, torch.float32))  # half inputs go up to float32
        log_det = torch.zeros(len(z), dtype=h.dtype, device=z.device)
        for layer in self.layers:
            h, step = layer(h, cond)
            log_det = log_det + step
        return h.flatten(1), log_det

    def _from_latent(self, latent: torch.Tensor, cond: Cond) -> torch.Tensor:
        cond = self.condition_vector(cond)
        h = latent.to(torch.promote_types(latent.dtype, torch.float32)).view(len(latent), *self.latent_shape)
        for layer in reversed(self.layers):
            h = layer.inverse(h, cond)
        return h

    def _base_log_prob(self, latent: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        mean, log_std = self.base_mean[labels], self.base_log_std[labels]  # (N, D) each
        per_dim = -0.5 * ((latent - mean) * torch.exp(-log_std)) ** 2 - log_std - 0.5 * _LOG_2PI
        return per_dim.sum(1)

    def _conditional(self, z: torch.Tensor, cond: Cond) -> torch.Tensor:
        """log p(z | cond): (N,), in the main path's dtype (float32 under autocast)."""
        if not self._bounded:
            latent, log_det = self._to_latent(z, cond)
            return self._base_log_prob(latent, cond["label"]) + log_det
        # the density is zero outside the support; those points go through as zeros, then get -inf
        inside = self._in_support(z)
        latent, log_det = self._to_latent(torch.where(inside, z, torch.zeros_like(z)), cond)
        log_p = self._base_log_prob(latent, cond["label"]) + log_det
        return torch.where(inside.flatten(1).all(1), log_p, torch.full_like(log_p, -math.inf))

    def _in_support(self, z: torch.Tensor) -> torch.Tensor:
        """Bounded data: where ``z`` lies in the open support (-limit, limit), elementwise."""
        return z.abs() < self.support_limit

    # ------------------------------------------------------------------ likelihood and latents
    def log_prob(self, z: torch.Tensor, cond=None) -> torch.Tensor:
        """Exact log p(z | label), or log p(z) mixed over classes by the training prior: (N,)."""
        cond = self.check_input(z, cond, name="z")
        if "label" in cond:
            return self._conditional(z, cond)
        return self.marginal_over_classes(lambda c: self._conditional(z, c), cond, len(z), z.device)

    def encode(self, z: torch.Tensor, cond=None) -> torch.Tensor:
        """Standardised latent (N, D): standard normal under the model for every class.

        Without ``labels`` the most frequent training class is assumed (as the VAE does).
        """
        cond = self.check_input(z, cond, name="z")
        if self._bounded and not self._in_support(z).all():
            limit = self.support_limit
            raise ValueError(
                f"z: the flow's support for {self.spec.scaling} data is the open interval (-{limit:.4g}, {limit:.4g}); "
                f"got values in [{z.min().item():g}, {z.max().item():g}]"
            )
        cond = self.labels_or_most_frequent(cond, len(z), z.device)
        labels = cond["label"]
        latent, _ = self._to_latent(z, cond)
        return (latent - self.base_mean[labels]) * torch.exp(-self.base_log_std[labels])

    def decode(self, latent: torch.Tensor, cond=None) -> torch.Tensor:
        """Model-space samples (N, *spec.shape) of standardised latents (N, D); inverts `encode`."""
        d = self.spec.dim
        if not isinstance(latent, torch.Tensor) or latent.ndim != 2 or latent.shape[1] != d:
            got = tuple(latent.shape) if isinstance(latent, torch.Tensor) else type(latent).__name__
            raise ValueError(f"latent: expected shape (N, {d}), got {got}")
        cond = self.labels_or_most_frequent(self.conditions(cond, len(latent), latent.device), len(latent), latent.device)
        labels = cond["label"]
        return self._from_latent(self.base_mean[labels] + torch.exp(self.base_log_std[labels]) * latent, cond)

    # ------------------------------------------------------------------ training
    @torch.no_grad()
    def init_from_data(self, data: Cond, *, generator: torch.Generator) -> None:
        """Actnorm layers standardise what reaches them; the base fits each class's latents."""
        x = data["x"]
        take = torch.randperm(len(x), generator=generator)[: self.config.init_samples]
        z = self.spec.dequantize(x[take], generator).to(self.device)
        labels = data["label"][take].to(self.device)
        cond = self.condition_vector({k: v[take].to(self.device) for k, v in data.items() if k != "x"})
        h = z
        for layer in self.layers:
            if isinstance(layer, ActNorm):
                layer.initialize(h)
            h, _ = layer(h, cond)
        latent = h.flatten(1)  # (n, D)
        self.base_mean.copy_(latent.mean(0).expand_as(self.base_mean))
        self.base_log_std.copy_(latent.std(0, correction=0).clamp_min(1e-3).log().expand_as(self.base_log_std))
        for c in range(self.spec.num_classes):
            members = latent[labels == c]
            if len(members) >= 2:  # too few members keep the pooled estimate
                self.base_mean[c] = members.mean(0)
                self.base_log_std[c] = members.std(0, correction=0).clamp_min(1e-3).log()

    def optimizer_groups(self) -> list[OptimizerGroup]:
        cfg = self.config
        lr_scale = cfg.lr_scale if cfg.lr_scale is not None else self.spec.kind.flow_lr_scale
        return [OptimizerGroup("main", list(self.parameters()), lr_scale=lr_scale, weight_decay=cfg.weight_decay)]

    def _nll_per_dim(self, batch: Cond, generator: torch.Generator) -> torch.Tensor:
        """Mean negative log-likelihood of dequantized ``batch["x"]`` in nats per dimension (a scale that suits Adam)."""
        return -self._conditional(self.spec.dequantize(batch["x"], generator), batch).mean() / self.spec.dim

    def training_step(self, batch, *, step, group, generator):
        loss = self._nll_per_dim(batch, generator)
        return {"loss": loss, "bpd": self._bits_per_dim(loss.detach())}

    @torch.no_grad()
    def validation_step(self, batch, *, generator):
        loss = self._nll_per_dim(batch, generator)
        return {"loss": loss, "bpd": self._bits_per_dim(loss)}

    def _bits_per_dim(self, nll_per_dim: torch.Tensor) -> torch.Tensor:
        """Nats per model-space dimension -> bits per dimension in the data's own units."""
        return (nll_per_dim - self.spec.log_det_to_data() / self.spec.dim) / math.log(2)

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def sample_model(self, cond: Cond, *, generator: torch.Generator | None = None, temperature: float | None = None) -> torch.Tensor:
        """Decoded draws of the class's base Gaussian, its standard deviation times ``temperature`` (default: the config's)."""
        temperature = check_temperature(self.config.temperature if temperature is None else temperature)
        cond = {k: v.to(self.device) for k, v in cond.items()}
        labels = cond["label"]
        eps = randn((len(labels), self.spec.dim), generator, self.device)
        return self._from_latent(self.base_mean[labels] + torch.exp(self.base_log_std[labels]) * temperature * eps, cond)
