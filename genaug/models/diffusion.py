"""Class-conditional denoising diffusion (family ``"diffusion"``).

Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020 (training);
Nichol & Dhariwal, "Improved Denoising Diffusion Probabilistic Models", ICML 2021 (cosine schedule);
Salimans & Ho, "Progressive Distillation for Fast Sampling of Diffusion Models", ICLR 2022
(v-prediction); Ho & Salimans, "Classifier-Free Diffusion Guidance", 2022 (label dropout, guidance);
Song, Meng & Ermon, "Denoising Diffusion Implicit Models", ICLR 2021 (the sampler).

The denoiser is the modality's block: a small UNet over images and sequences (`genaug.nn.unet`), a
residual MLP over vectors. Samples come from DDIM with
``sample_steps`` steps; a guidance scale w other than 0 or 1 mixes the conditional and unconditional
outputs as ``uncond + w * (cond - uncond)``, both from one batched forward pass per step.
``sample_steps``, ``eta``, ``guidance`` and ``clip_x0`` are only read at sampling time, so
`Diffusion.configure_sampling` changes them on a trained model, and ``model.sample(n, guidance=3)``
for one call (more steps: slightly more spread,
proportionally slower; higher guidance: more typical samples of the class, less variety). There is
no tractable likelihood (``has_likelihood`` is False); the validation loss is the denoising loss.

Example:
    >>> import genaug, torch
    >>> data = genaug.load_source("digits")
    >>> model = genaug.fit(data, "diffusion", steps=10, channels=8, levels=1, blocks=1)
    >>> model.configure_sampling(sample_steps=5, guidance=2.0).config.sample_steps
    5
    >>> model.sample(4, labels=[0, 1, 2, 3], generator=torch.Generator().manual_seed(0)).shape
    torch.Size([4, 8, 8])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator

from genaug.data.spec import DataSpec
from genaug.models.base import Cond, Generator, GeneratorConfig, rand, randn
from genaug.models.registry import register

__all__ = ["Diffusion", "DiffusionConfig", "ddim_sample", "noise_schedule"]

# (x_t, timestep) -> (predicted x0, predicted noise), both shaped like x_t
Predictor = Callable[[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]


class DiffusionConfig(GeneratorConfig):
    """Network, noise schedule, objective and sampler of the diffusion model."""

    prediction: Literal["eps", "v"] = "v"  # network target: the noise, or v = alpha * eps - sigma * x0
    schedule: Literal["cosine", "linear"] = "cosine"  # how alpha_bar falls from 1 to 0 over the timesteps
    timesteps: int = Field(1000, ge=2)  # training timesteps T of the discrete forward process
    channels: int = Field(32, ge=1)  # images, sequences: UNet width at full resolution (x1, x2, x4 per level)
    levels: int = Field(2, ge=1)  # images, sequences: UNet resolutions (each halves every size)
    blocks: int = Field(1, ge=1)  # images: residual blocks per resolution
    hidden: int = Field(256, ge=1)  # vectors: width of the residual MLP
    depth: int = Field(3, ge=1)  # vectors: residual MLP blocks
    dropout: float = Field(0.0, ge=0, lt=1)  # dropout inside residual blocks
    label_dropout: float = Field(0.1, ge=0, le=1)  # share of training labels replaced by the null class
    guidance: float = Field(1.5, ge=0)  # sampling: classifier-free guidance scale (0 unconditional, 1 conditional)
    sample_steps: int = Field(25, ge=1)  # sampling: DDIM steps (at most timesteps)
    eta: float = Field(0.0, ge=0)  # sampling: DDIM noise (0 deterministic, 1 as DDPM's ancestral sampler)
    clip_x0: bool | None = None  # sampling: clip predicted x0 to [-1, 1]; None: for grid and range data

    @model_validator(mode="after")
    def _check(self) -> DiffusionConfig:
        if self.sample_steps > self.timesteps:
            raise ValueError(f"sample_steps: expected at most timesteps={self.timesteps}, got {self.sample_steps}")
        return self


_SAMPLING_FIELDS = ("guidance", "sample_steps", "eta", "clip_x0")


def noise_schedule(name: Literal["cosine", "linear"], timesteps: int) -> torch.Tensor:
    """alpha_bar_t = prod_{s<=t} (1 - beta_s) for t = 0..T-1: (T,) float64, decreasing in (0, 1).

    ``x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps``. ``"linear"``: betas from 1e-4 to 0.02
    (Ho et al., rescaled to T steps); ``"cosine"``: Nichol & Dhariwal's, betas capped at 0.999.

    Example:
        >>> a = noise_schedule("cosine", 1000)
        >>> bool(a[0] > 0.999 and a[-1] < 1e-4 and (a.diff() < 0).all())
        True
    """
    if name == "linear":
        scale = 1000.0 / timesteps
        betas = torch.linspace(1e-4 * scale, 0.02 * scale, timesteps, dtype=torch.float64).clamp(max=0.999)
    elif name == "cosine":
        s = 0.008
        u = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
        f = torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2
        betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    else:
        raise ValueError(f"name: expected 'cosine' or 'linear', got {name!r}")
    return torch.cumprod(1 - betas, dim=0)


def ddim_sample(
    predict: Predictor,
    x: torch.Tensor,
    alpha_bar: torch.Tensor,
    steps: int,
    *,
    eta: float = 0.0,
    clip: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Run DDIM (Song et al. 2021) from pure noise ``x`` at t = T-1 down to t = 0; returns x0.

    Args:
        predict: ``(x_t, t) -> (x0, eps)``, the denoiser's estimates at timestep ``t``.
        x: the starting noise, (N, ...).
        alpha_bar: the schedule, (T,) (see `noise_schedule`).
        steps: number of denoising steps, on timesteps evenly spread over 0..T-1.
        eta: 0 gives the deterministic DDIM map, 1 the variance of DDPM's ancestral sampler.
        clip: clip predicted x0 to [-1, 1] (and make the noise estimate agree with it).
        generator: source of the fresh noise when ``eta > 0``.
    """
    alpha_bar = alpha_bar.to(device=x.device, dtype=torch.float64)
    times = torch.linspace(len(alpha_bar) - 1, 0, steps).round().long().unique_consecutive().tolist()
    for i, t in enumerate(times):
        a = alpha_bar[t]
        a_prev = alpha_bar[times[i + 1]] if i + 1 < len(times) else torch.ones_like(a)  # the last step lands on x0
        x0, eps = predict(x, t)
        if clip:
            x0 = x0.clamp(-1.0, 1.0)
            eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
        sigma = eta * ((1 - a_prev) / (1 - a) * (1 - a / a_prev)).sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev - sigma**2).clamp(min=0).sqrt() * eps
        if eta > 0 and i + 1 < len(times):
            x = x + sigma * randn(x.shape, generator, x.device, x.dtype)
        x = x.float()
    return x


@register
class Diffusion(Generator):
    """DDPM with classifier-free guidance, sampled with DDIM; no likelihood (``has_likelihood`` False)."""

    family = "diffusion"
    config_class = DiffusionConfig
    # 1500 steps: about 4 min on 2 CPU cores for digits, samples recognised as their class >= 97%
    train_defaults = {"steps": 1500, "batch_size": 128, "lr": 1e-3, "ema_decay": 0.995, "eval_every": 250}

    def __init__(self, spec: DataSpec, config: DiffusionConfig | None = None) -> None:
        super().__init__(spec, config)
        cfg = self.config
        self.net = spec.kind.denoiser(
            spec.shape, channels=cfg.channels, levels=cfg.levels, blocks=cfg.blocks, hidden=cfg.hidden, depth=cfg.depth, dropout=cfg.dropout
        )
        # the label table has one row more than there are classes: the "no class" of guidance
        self.embed_conditions(self.net.cond_dim, null_label=True)
        # float32 copy of the schedule for training; it follows the config, so it is not saved
        self.register_buffer("alpha_bar", noise_schedule(cfg.schedule, cfg.timesteps).float(), persistent=False)

    @property
    def null_label(self) -> int:
        """The class index that means "no class" (trained by label dropout, used by guidance)."""
        return self.spec.num_classes

    def configure_sampling(self, **fields: Any) -> Diffusion:
        """Change how samples are drawn (``guidance``, ``sample_steps``, ``eta``, ``clip_x0``) without retraining.

        Validated like the config; the new values are saved with the model. Returns the model.
        """
        self.config = self.config.replaced(_SAMPLING_FIELDS, **fields)
        return self

    # ------------------------------------------------------------------ objective
    def _broadcast(self, values: torch.Tensor) -> torch.Tensor:
        """(N,) per-sample values -> (N, 1, ...) to scale samples of shape (N, *spec.shape)."""
        return values.view(-1, *[1] * len(self.spec.shape))

    def denoising_loss(self, x0: torch.Tensor, cond: Cond, generator: torch.Generator | None) -> torch.Tensor:
        """Mean squared error of the network's prediction (noise or v) at a random timestep per sample."""
        n, cfg = len(x0), self.config
        t = (rand((n,), generator, x0.device) * cfg.timesteps).long().clamp(max=cfg.timesteps - 1)  # (N,)
        eps = randn(x0.shape, generator, x0.device)
        a = self._broadcast(self.alpha_bar[t])
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
        out = self.net(x_t, t, self.condition_vector(cond))
        target = eps if cfg.prediction == "eps" else a.sqrt() * eps - (1 - a).sqrt() * x0
        with torch.autocast(device_type=x0.device.type, enabled=False):
            return F.mse_loss(out.float(), target.float())

    def training_step(self, batch, *, step, group, generator):
        # Classifier-free guidance: some labels become the null class, so one network also learns p(x).
        labels = batch["label"]
        drop = rand((len(labels),), generator, labels.device) < self.config.label_dropout
        labels = torch.where(drop, torch.full_like(labels, self.null_label), labels)
        return {"loss": self.denoising_loss(batch["x"], self.with_label(batch, labels), generator)}

    @torch.no_grad()
    def validation_step(self, batch, *, generator):
        return {"loss": self.denoising_loss(batch["x"], batch, generator)}

    # ------------------------------------------------------------------ generation
    def _predictor(self, cond: Cond, alpha_bar: torch.Tensor, guidance: float | None = None) -> Predictor:
        """The guided denoiser ``(x_t, t) -> (x0, eps)`` for these conditions (one forward pass per call);
        ``guidance`` w (default: the config's)."""
        cfg = self.config
        w = cfg.guidance if guidance is None else guidance
        labels = cond["label"]
        null = torch.full_like(labels, self.null_label)
        # w = 1 needs only the conditional output and w = 0 only the unconditional one
        asked = [labels] if w == 1 else [null] if w == 0 else [labels, null]
        vector = self.condition_vector({k: torch.cat([v] * len(asked)) if k != "label" else torch.cat(asked) for k, v in cond.items()})

        def predict(x: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
            steps = torch.full((len(vector),), t, device=x.device, dtype=torch.long)
            out = self.net(x.repeat(len(asked), *[1] * (x.ndim - 1)), steps, vector).float()
            if len(asked) == 2:
                cond, uncond = out.chunk(2)
                out = uncond + w * (cond - uncond)
            a = alpha_bar[t]
            x64, out = x.double(), out.double()
            if cfg.prediction == "eps":
                return (x64 - (1 - a).sqrt() * out) / a.sqrt(), out
            return a.sqrt() * x64 - (1 - a).sqrt() * out, (1 - a).sqrt() * x64 + a.sqrt() * out

        return predict

    @torch.no_grad()
    def sample_model(
        self,
        cond: Cond,
        *,
        generator: torch.Generator | None = None,
        guidance: float | None = None,
        sample_steps: int | None = None,
        eta: float | None = None,
        clip_x0: bool | None = None,
    ) -> torch.Tensor:
        """One sample per row of ``cond`` by DDIM; the sampling fields given here (``model.sample(n, guidance=3)``)
        stand in for the config's for this call only (`configure_sampling` changes them for good)."""
        given = {k: v for k, v in dict(guidance=guidance, sample_steps=sample_steps, eta=eta, clip_x0=clip_x0).items() if v is not None}
        cfg = self.config.replaced(_SAMPLING_FIELDS, **given)
        cond = {k: v.to(self.device) for k, v in cond.items()}
        x = randn((len(cond["label"]), *self.spec.shape), generator, self.device)
        clip = cfg.clip_x0 if cfg.clip_x0 is not None else self.spec.scaling in ("grid", "range")
        schedule = noise_schedule(cfg.schedule, cfg.timesteps).to(self.device)  # float64: exact x0 <-> eps maps
        predict = self._predictor(cond, schedule, cfg.guidance)
        return ddim_sample(predict, x, schedule, cfg.sample_steps, eta=cfg.eta, clip=clip, generator=generator)
