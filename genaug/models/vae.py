"""Class-conditional variational autoencoder (family ``"vae"``).

Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014; conditional form after Sohn et al.,
"Learning Structured Output Representation using Deep Conditional Generative Models", NeurIPS 2015;
importance-weighted bound from Burda et al., "Importance Weighted Autoencoders", ICLR 2016.

After the fit the latent prior is, per class, the Gaussian whose mean and covariance match those of
the training records' posteriors q(z | x, c) (``prior="fitted"``; ex-post density estimation after
Ghosh et al., "From Variational to Deterministic Autoencoders", ICLR 2020). Prior draws from N(0, I) land
in the holes the aggregate posterior leaves, which decode to blurred records of no clear class; the fitted
prior samples where the decoder was trained. Of all Gaussians it minimizes the ELBO's KL term averaged over
the training records, so ``log_prob`` (the same bound, with that prior) does not get worse on them.
``temperature`` (config or per call) multiplies the prior's standard deviation when sampling: below 1,
samples nearer their class's typical records, with less variety (the truncation trick of Kingma & Dhariwal,
"Glow", NeurIPS 2018, and Brock et al., "BigGAN", ICLR 2019).

The encoder and decoder are the blocks of the data's modality (conv nets over images and sequences,
MLPs over vectors). The decoder's density per dimension is a Gaussian with a
learned per-dimension scale, mixed with a broad outlier component of weight ``outlier_weight``
(uniform over [-1, 1] for bounded data, a standard normal for standardized ones): a pixel that was
blank in every training image can then take ink in a new one at a bounded cost, where a Gaussian
alone charges it tens of nats. It is trained on dequantized data when the data sit on a grid, so
``log_prob`` is a lower bound on the same continuous density the exact families report.

Example:
    >>> import genaug, torch
    >>> data = genaug.load_source("digits")
    >>> model = genaug.fit(data, "vae", steps=20)
    >>> model.sample(4, labels=[0, 1, 2, 3], generator=torch.Generator().manual_seed(0)).shape
    torch.Size([4, 8, 8])
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import nn

from genaug.data.spec import DataSpec
from genaug.models.base import Cond, Generator, GeneratorConfig, randn
from genaug.models.guidance import check_temperature
from genaug.models.registry import register

__all__ = ["VAE", "VAEConfig"]

_LOG_2PI = math.log(2 * math.pi)


class VAEConfig(GeneratorConfig):
    """Architecture and objective of the VAE."""

    latent_dim: int = Field(16, ge=1)  # size of the latent code
    channels: int = Field(32, ge=1)  # conv blocks (images, sequences): width of the first stage (doubles per stage)
    hidden: int = Field(256, ge=1)  # dense blocks (vectors): hidden units per MLP layer
    depth: int = Field(2, ge=0)  # conv blocks: stride-2 stages; dense blocks: hidden layers
    label_dim: int = Field(16, ge=1)  # size of the learned class embedding
    beta: float = Field(1.0, gt=0)  # weight of the KL term (1 = the true ELBO)
    kl_warmup: int = Field(500, ge=0)  # steps over which the KL weight ramps from 0 to beta
    min_log_scale: float = -7.0  # floor of the decoder's log standard deviation
    # weight of the decoder's broad outlier component per dimension; "auto": min(0.1, 20 / n) for the n records
    # init_from_data is given (the fit's training part), stored as the number it became
    outlier_weight: Annotated[float, Field(ge=0.0, lt=1.0)] | Literal["auto"] = "auto"
    dequantize: bool = True  # train on uniformly dequantized grid data
    iw_samples: int = Field(32, ge=1)  # importance samples for log_prob (1 = plain ELBO)
    sample_noise: bool | None = None  # add decoder noise to samples; None: as the modality says (tables: yes)
    # latent prior of samples and log_prob after the fit: "standard" N(0, I), as trained; "fitted": per class,
    # the Gaussian that matches the moments of the training records' posteriors (ex-post density estimation)
    prior: Literal["standard", "fitted"] = "fitted"
    # sampling: multiplies the latent prior's standard deviation (below 1: samples nearer their class's
    # typical records, less variety; the truncation trick); per call: model.sample(n, temperature=0.7)
    temperature: float = Field(1.0, gt=0.0)


@register
class VAE(Generator):
    """Conditional VAE; ``log_prob`` is the importance-weighted lower bound (``likelihood_is_bound``)."""

    family = "vae"
    config_class = VAEConfig
    has_likelihood = True
    likelihood_is_bound = True
    has_encoder = True
    # validation every 100 steps: on a few hundred records the ELBO on held-out data turns upward
    # within a few hundred steps, and the Trainer keeps the weights from before it did
    train_defaults = {"steps": 2000, "batch_size": 128, "lr": 2e-3, "ema_decay": 0.995, "eval_every": 100}

    optional_state = ("prior_mean", "prior_scale_tril")  # folders saved before the fitted prior: N(0, I)

    def __init__(self, spec: DataSpec, config: VAEConfig | None = None) -> None:
        super().__init__(spec, config)
        cfg = self.config
        cond_dim = self.embed_conditions(cfg.label_dim)
        widths = dict(channels=cfg.channels, hidden=cfg.hidden, depth=cfg.depth, cond_dim=cond_dim)
        self.encoder = spec.kind.encoder(spec.shape, 2 * cfg.latent_dim, **widths)
        self.decoder = spec.kind.decoder(cfg.latent_dim, spec.shape, **widths)
        self.log_scale = nn.Parameter(torch.full(spec.shape, math.log(0.1)))  # decoder std, per dimension
        # the latent prior per class (mean, lower Cholesky factor); N(0, I) until finish_fit fits it
        classes, dim = max(spec.num_classes, 1), cfg.latent_dim
        self.register_buffer("prior_mean", torch.zeros(classes, dim))
        self.register_buffer("prior_scale_tril", torch.eye(dim).repeat(classes, 1, 1))

    # ------------------------------------------------------------------ pieces
    def _posterior(self, z: torch.Tensor, cond: Cond) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_var = self.encoder(z, self.condition_vector(cond)).chunk(2, dim=1)  # (N, L) each
        return mean, log_var.clamp(-12.0, 8.0)

    def init_from_data(self, data: Cond, *, generator: torch.Generator) -> None:
        """Sizes ``outlier_weight="auto"`` to the records the fit is given (every process gets them all)."""
        if self.config.outlier_weight == "auto":
            self.config = self.config.model_copy(update={"outlier_weight": auto_outlier_weight(len(data["x"]))})

    @torch.no_grad()
    def finish_fit(self, data: Cond, *, generator: torch.Generator) -> None:
        """``prior="fitted"``: per class, the mean and covariance of the training records' posteriors.

        The covariance is that of the posterior means plus the mean posterior variance (the moments of the
        aggregate posterior, a mixture of the records' Gaussians). A class with one record gets that record's
        posterior; the diagonal gets 1e-5 so the factor exists.
        """
        if self.config.prior != "fitted":
            return
        was_training = self.training
        self.eval()
        try:
            means, variances = [], []
            for start in range(0, len(data["x"]), 1024):
                part = {k: v[start : start + 1024] for k, v in data.items()}
                mean, log_var = self._posterior(part["x"].to(self.device), {k: v.to(self.device) for k, v in part.items() if k != "x"})
                means.append(mean.float())
                variances.append(log_var.float().exp())
        finally:
            self.train(was_training)
        mean, var, labels = torch.cat(means), torch.cat(variances), data["label"].to(self.device)
        dim = self.config.latent_dim
        for c in range(len(self.prior_mean)):
            rows = labels == c
            if not rows.any():  # a class with no training record keeps N(0, I)
                continue
            mu, v = mean[rows], var[rows]
            centred = mu - mu.mean(0)
            cov = centred.T @ centred / len(mu) + torch.diag(v.mean(0)) + 1e-5 * torch.eye(dim, device=mu.device)
            self.prior_mean[c] = mu.mean(0).to(self.prior_mean.dtype)
            self.prior_scale_tril[c] = torch.linalg.cholesky(cov.double()).to(self.prior_scale_tril.dtype)

    def _prior_draw(self, labels: torch.Tensor, generator: torch.Generator | None, temperature: float = 1.0) -> torch.Tensor:
        eps = randn((len(labels), self.config.latent_dim), generator, self.device) * temperature
        return self.prior_mean[labels] + torch.einsum("nij,nj->ni", self.prior_scale_tril[labels], eps)

    def _whiten(self, latent: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """L_c^-1 (latent - mean_c) per row, the rows' factors L_c and log det L_c: (N, L), (N, L, L), (N,)."""
        tril = self.prior_scale_tril[labels].to(latent.dtype)
        white = torch.linalg.solve_triangular(tril, (latent - self.prior_mean[labels].to(latent.dtype)).unsqueeze(-1), upper=False).squeeze(-1)
        return white, tril, torch.diagonal(tril, dim1=-2, dim2=-1).log().sum(-1)

    def _log_prior(self, latent: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """log N(latent; prior_mean[c], L_c L_c^T) per row: (N,)."""
        white, _, half_log_det = self._whiten(latent, labels)
        return -0.5 * (white**2).sum(1) - half_log_det - 0.5 * self.config.latent_dim * _LOG_2PI

    @property
    def outlier_weight(self) -> float:
        """The decoder's outlier weight; an unfitted "auto" model uses the records its spec counts."""
        w = self.config.outlier_weight
        return auto_outlier_weight(sum(self.spec.class_counts) if self.spec.class_counts else None) if w == "auto" else w

    def _decoder_log_scale(self) -> torch.Tensor:
        return self.log_scale.clamp(min=self.config.min_log_scale)

    def _log_likelihood(self, z: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        """log [(1 - w) N(z; mean, scale^2) + w outlier(z)] summed over a sample's dims: (N,)."""
        log_scale = self._decoder_log_scale()
        per_dim = -0.5 * ((z - mean) * torch.exp(-log_scale)) ** 2 - log_scale - 0.5 * _LOG_2PI
        w = self.outlier_weight
        if w > 0:
            if self.spec.scaling == "standard":  # unbounded model space, unit variance per feature
                outlier = -0.5 * z.float() ** 2 - 0.5 * _LOG_2PI
            else:  # [-1, 1]: uniform, and nothing outside it
                inside = (z >= -1.0) & (z <= 1.0)
                outlier = torch.where(inside, math.log(0.5), -math.inf).to(per_dim.dtype)
            per_dim = torch.logaddexp(per_dim + math.log1p(-w), outlier + math.log(w))
        return per_dim.flatten(1).sum(1)

    def encode(self, z: torch.Tensor, cond=None) -> torch.Tensor:
        """Posterior mean of the latent code: (N, latent_dim)."""
        cond = self.labels_or_most_frequent(self.check_input(z, cond), len(z), z.device)
        return self._posterior(z, cond)[0]

    def decode(self, latent: torch.Tensor, cond=None) -> torch.Tensor:
        """Decoder mean in model space: (N, *spec.shape)."""
        if latent.ndim != 2 or latent.shape[1] != self.config.latent_dim:
            raise ValueError(f"latent: expected shape (N, {self.config.latent_dim}), got {tuple(latent.shape)}")
        cond = self.labels_or_most_frequent(self.conditions(cond, len(latent), latent.device), len(latent), latent.device)
        return self.decoder(latent, self.condition_vector(cond))

    # ------------------------------------------------------------------ objective
    def elbo_terms(self, z: torch.Tensor, cond: Cond, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Reconstruction log-likelihood and KL per sample, one posterior draw: (N,), (N,)."""
        mean, log_var = self._posterior(z, cond)
        eps = randn(mean.shape, generator, mean.device, mean.dtype)
        latent = mean + torch.exp(0.5 * log_var) * eps
        rec = self._log_likelihood(z, self.decoder(latent, self.condition_vector(cond)))
        return rec, self._kl(mean, log_var, cond["label"])

    def _kl(self, mean: torch.Tensor, log_var: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """KL(N(mean, diag exp(log_var)) || the class's prior) per row: (N,); the closed form of N(0, I) while training.

        Training steps never check the prior: it is fitted only after the last one (no device sync per step).
        """
        if self.training or not self._prior_is_fitted():
            return 0.5 * (mean**2 + log_var.exp() - 1.0 - log_var).sum(1)
        white_mean, tril, half_log_det = self._whiten(mean, labels)
        inverse = torch.linalg.solve_triangular(tril, torch.eye(mean.shape[1], dtype=mean.dtype, device=mean.device).expand_as(tril), upper=False)
        trace = ((inverse**2) * log_var.exp().unsqueeze(1)).sum((1, 2))  # tr(Sigma^-1 diag(v)) = sum_ij (L^-1)_ij^2 v_j
        return 0.5 * (trace + (white_mean**2).sum(1) - mean.shape[1] + 2 * half_log_det - log_var.sum(1))

    def _prior_is_fitted(self) -> bool:
        """False while the prior is still N(0, I) (during the fit, with prior="standard", or an older folder)."""
        return bool(self.prior_mean.any()) or not torch.equal(self.prior_scale_tril, torch.eye(self.config.latent_dim, device=self.prior_scale_tril.device).expand_as(self.prior_scale_tril))

    def training_step(self, batch, *, step, group, generator):
        x = batch["x"]
        z = self.spec.dequantize(x, generator) if self.config.dequantize else x
        rec, kl = self.elbo_terms(z, batch, generator)
        cfg = self.config
        weight = cfg.beta * min(1.0, step / cfg.kl_warmup) if cfg.kl_warmup else cfg.beta
        per_dim = self.spec.dim
        loss = (-(rec - weight * kl)).mean() / per_dim  # nats per dimension, a scale that suits Adam
        return {"loss": loss, "rec": -rec.mean().detach() / per_dim, "kl": kl.mean().detach() / per_dim}

    @torch.no_grad()
    def validation_step(self, batch, *, generator):
        x = batch["x"]
        z = self.spec.dequantize(x, generator) if self.config.dequantize else x
        rec, kl = self.elbo_terms(z, batch, generator)
        return {"loss": -(rec - kl).mean() / self.spec.dim}

    @torch.no_grad()
    def log_prob(self, z: torch.Tensor, cond=None, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Importance-weighted lower bound on log p(z | label) (or log p(z)) with ``iw_samples`` draws.

        The importance draws come from ``generator`` (default: a fixed seed, so the bound is
        deterministic).
        """
        cond = self.check_input(z, cond)
        # Every class sees the same importance draws, so the marginal bound is consistent with
        # the conditional ones (log p(z) >= log p(c) + bound(z | c) holds term by term).
        seed = 0 if generator is None else int(torch.randint(2**62, (1,), generator=generator))
        if "label" in cond:
            return self._iwae(z, cond, seed)
        return self.marginal_over_classes(lambda c: self._iwae(z, c, seed), cond, len(z), z.device)

    def _iwae(self, z: torch.Tensor, cond: Cond, seed: int) -> torch.Tensor:
        k = self.config.iw_samples
        generator = torch.Generator(z.device).manual_seed(seed)
        mean, log_var = self._posterior(z, cond)
        vector = self.condition_vector(cond)
        std = torch.exp(0.5 * log_var)
        weights = []
        for _ in range(k):
            eps = randn(mean.shape, generator, mean.device, mean.dtype)
            latent = mean + std * eps
            log_q = (-0.5 * eps**2 - 0.5 * log_var - 0.5 * _LOG_2PI).sum(1)
            log_prior = self._log_prior(latent, cond["label"])
            weights.append(self._log_likelihood(z, self.decoder(latent, vector)) + log_prior - log_q)
        return torch.logsumexp(torch.stack(weights), dim=0) - math.log(k)

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def sample_model(self, cond: Cond, *, generator: torch.Generator | None = None, temperature: float | None = None) -> torch.Tensor:
        """The decoder's mean for a draw from the latent prior (its class's), plus its Gaussian noise where ``sample_noise`` says.

        ``temperature`` (default: the config's) multiplies the prior's standard deviation. Samples never
        come from the outlier component: it is there to price values the training records never showed,
        not to produce them.
        """
        temperature = check_temperature(self.config.temperature if temperature is None else temperature)
        cond = {k: v.to(self.device) for k, v in cond.items()}
        mean = self.decoder(self._prior_draw(cond["label"], generator, temperature), self.condition_vector(cond))
        noisy = self.config.sample_noise if self.config.sample_noise is not None else self.spec.kind.sample_noise
        if noisy:
            mean = mean + self._decoder_log_scale().exp() * randn(mean.shape, generator, mean.device, mean.dtype)
        return mean


def auto_outlier_weight(n_records: int | None) -> float:
    """``outlier_weight="auto"``: min(0.1, 20 / n_records); 0.01 when the number is unknown.

    Few records leave many values unseen in each dimension, and the share of them falls as the
    records grow. Measured on digits (benchmarks/bench_small_likelihood.py, BENCHMARKS.md).
    """
    if not n_records:
        return 0.01
    return min(0.1, 20.0 / n_records)
