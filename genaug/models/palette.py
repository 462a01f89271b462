"""Conditional diffusion for super-resolution and colorization (family ``"palette"``).

Saharia et al., "Image Super-Resolution via Iterative Refinement" (SR3), 2021, and "Palette:
Image-to-Image Diffusion Models", SIGGRAPH 2022: the denoiser reads the noisy target concatenated
with the conditioning image, so one network learns ``p(x | input image)`` and every seed draws
another plausible output. Objective, schedule and sampler are the diffusion family's
(`genaug.models.diffusion`: v-prediction, cosine schedule, DDIM); the denoiser is its UNet
(`genaug.nn.unet`) with more input than output channels.

- ``superres``: the diffused target is the residual over the bicubic upscaling of the input,
  ``x - up(lowres)`` in [-1, 1] units, times ``target_scale`` (about unit variance); the denoiser
  reads ``concat(r_t, up(lowres))`` and the output is ``up(lowres) + r_0``.
- ``colorize``: the target is a*, b* of CIE Lab over ``AB_SCALE`` (times ``target_scale``); the
  denoiser reads ``concat(ab_t, gray)`` and the output's lightness L* is the gray input's, so two
  seeds differ in colour only (Zhang et al. 2016).

Input guidance (classifier-free guidance, Ho & Salimans 2022, with the input image as the condition,
as InstructPix2Pix guides by its input image): training blanks ``input_dropout`` of the inputs
(zeros), so the same network also predicts the target with no input; ``guidance`` w other than 1
samples with ``uncond + w * (cond - uncond)`` (two passes per step, batched). w > 1 pushes each output
further from what the blank input predicts: more saturated colourings. ``guidance=None`` (the default)
is 5 for colorization (its colourings grey out without it) and 1 for super-resolution. A model saved
before this option loads with ``input_dropout=0`` and ``guidance=1``: it was not trained for guidance.

Training sees random ``train_crop`` squares (a quarter of the cost of 64 x 64 patches); the network
is convolutional, so it samples whole images of any size. ``sample_steps``, ``eta``, ``clip_x0`` and ``guidance``
are read at sampling time: pass them per call (``model.apply(gray, sample_steps=50)``) or keep new
values with `Palette.configure_sampling`. With ``clip_x0`` every step's predicted output stays valid:
colours inside the a*, b* box, super-resolved pixels inside the value range.

Example:
    >>> import genaug, torch
    >>> from genaug.data.images import image_patches, read_images
    >>> from genaug.data.pairs import make_pairs
    >>> pairs = make_pairs(image_patches(read_images("photos:china"), size=16, count=32), "colorize")
    >>> model = genaug.fit(pairs, "palette", steps=2, channels=8, levels=2, sample_steps=3, train={"progress": False})
    >>> gray = torch.zeros(2, 1, 13, 18, dtype=torch.uint8)
    >>> model.apply(gray, generator=torch.Generator().manual_seed(0)).shape
    torch.Size([2, 3, 13, 18])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator

from genaug.data.pairs import from_unit, to_unit
from genaug.data.spec import DataSpec
from genaug.models.base import Cond, GeneratorConfig, rand, randn
from genaug.models.diffusion import ddim_sample, noise_schedule
from genaug.models.image2image import ImageToImage
from genaug.models.registry import register
from genaug.nn.color import AB_SCALE, gray_to_lightness, lab_to_rgb, rgb_to_lab
from genaug.nn.unet import UNet

__all__ = ["Palette", "PaletteConfig"]

# target_scale when the config leaves it None: on the bundled photos the residual of a 2x bicubic
# upscaling has a standard deviation of about 0.08 in [-1, 1] units (0.12 at 4x), a*, b* / AB_SCALE 0.17
_TARGET_SCALE = {"superres": 10.0, "colorize": 4.0}
# guidance when the config leaves it None: colourings greyed out without it (colourfulness 29 at w = 1, 36 at 2, 43 at 3,
# 56.6 at 5 against 57.4 for the true colours of the held-out photos; BENCHMARKS.md); super-resolution keeps its input's detail
_GUIDANCE = {"superres": 1.0, "colorize": 5.0}
_SAMPLING_FIELDS = ("sample_steps", "eta", "clip_x0", "guidance")


class PaletteConfig(GeneratorConfig):
    """Denoiser, noise schedule and sampler of the conditional diffusion model."""

    schedule: Literal["cosine", "linear"] = "cosine"  # how alpha_bar falls from 1 to 0 over the timesteps
    timesteps: int = Field(1000, ge=2)  # training timesteps T of the discrete forward process
    channels: int = Field(24, ge=1)  # UNet width at full resolution (x1, x2, x4 per level)
    levels: int = Field(4, ge=1)  # UNet resolutions, each halving the size (attention at the lowest costs area^2)
    blocks: int = Field(1, ge=1)  # residual blocks per resolution
    dropout: float = Field(0.0, ge=0, lt=1)  # dropout inside residual blocks
    train_crop: int | None = Field(32, ge=1)  # training: the loss on a random square of this side; None: whole images
    target_scale: float | None = Field(None, gt=0)  # brings the diffused target to about unit variance; None: per task
    sample_steps: int = Field(20, ge=1)  # sampling: DDIM steps (at most timesteps)
    eta: float = Field(0.0, ge=0)  # sampling: DDIM noise (0: a deterministic map of the seeded start, 1: as DDPM)
    clip_x0: bool = True  # sampling: keep every step's predicted output in the valid range
    input_dropout: float = Field(0.1, ge=0, lt=1)  # training: share of input images blanked (zeros), so guidance has an unconditional model
    guidance: float | None = Field(None, ge=0)  # sampling: input guidance w, uncond + w * (cond - uncond); 1: none; None: per task

    @classmethod
    def saved_defaults(cls, saved: dict[str, Any]) -> dict[str, Any]:
        """A model saved before input guidance was trained without blanked inputs: no guidance."""
        return saved if "input_dropout" in saved else {**saved, "input_dropout": 0.0, "guidance": 1.0}

    @model_validator(mode="after")
    def _check(self) -> PaletteConfig:
        if self.sample_steps > self.timesteps:
            raise ValueError(f"sample_steps: expected at most timesteps={self.timesteps}, got {self.sample_steps}")
        return self


@register
class Palette(ImageToImage):
    """Image-conditioned denoising diffusion, sampled with DDIM (see the module docstring)."""

    family = "palette"
    config_class = PaletteConfig
    tasks = ("superres", "colorize")
    # ~4,000 patches of 64 x 64 on 2 idle CPU cores: 0.17 s a step (batch 16 of 32 x 32 crops), 0.22 s
    # with the Trainer's validation and EMA: under 7 minutes; the EMA weights sample
    train_defaults = {
        "steps": 1800, "batch_size": 16, "lr": 5e-4, "ema_decay": 0.995, "eval_every": 250, "min_epochs": 0.0,
    }

    def __init__(self, spec: DataSpec, config: PaletteConfig | None = None) -> None:
        super().__init__(spec, config)
        cfg = self.config
        colorize = self.task.name == "colorize"
        self.target_channels = 2 if colorize else self.out_channels  # a*, b*, or the residual of every channel
        self.target_scale = cfg.target_scale if cfg.target_scale is not None else _TARGET_SCALE[self.task.name]
        self.net = UNet(
            (self.target_channels, *spec.shape[1:]), channels=cfg.channels, levels=cfg.levels, blocks=cfg.blocks,
            dropout=cfg.dropout, in_channels=self.target_channels + self.in_channels,
        )
        self.embed_conditions(self.net.cond_dim)
        # float32 copy of the schedule for training; it follows the config, so it is not saved
        self.register_buffer("alpha_bar", noise_schedule(cfg.schedule, cfg.timesteps).float(), persistent=False)

    @property
    def size_multiple(self) -> int:  # type: ignore[override]
        return 2 ** (self.config.levels - 1)

    def configure_sampling(self, **fields: Any) -> Palette:
        """Change how outputs are drawn (``sample_steps``, ``eta``, ``clip_x0``) without retraining.

        Validated like the config; the new values are saved with the model. Returns the model.
        """
        self.config = self.config.replaced(_SAMPLING_FIELDS, **fields)
        return self

    # ------------------------------------------------------------------ target <-> image
    def _context(self, source: torch.Tensor) -> torch.Tensor:
        """Input images in [0, 1] (N, c, h, w) -> what the denoiser reads beside the noisy target, in
        [-1, 1] at the output's size: the gray image, or the bicubic upscaling (the residual's base)."""
        if self.scale > 1:
            source = F.interpolate(source, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return source * 2 - 1

    def _target(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Training images in [0, 1] (N, C, H, W) -> the diffused target (N, target_channels, H, W)."""
        if self.task.name == "colorize":
            return rgb_to_lab(x.clamp(0, 1))[:, 1:] / AB_SCALE * self.target_scale
        return (x * 2 - 1 - context) * self.target_scale

    def _bounds(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Where the target of a valid output lies: a*, b* within +-AB_SCALE, pixels within [-1, 1]."""
        if self.task.name == "colorize":
            edge = torch.full_like(context, self.target_scale)
            return -edge, edge
        return (-1 - context) * self.target_scale, (1 - context) * self.target_scale

    def _output(self, target: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """A sampled target -> the output images in [0, 1]."""
        if self.task.name == "colorize":
            lightness = gray_to_lightness(((context + 1) / 2).clamp(0, 1))
            return lab_to_rgb(torch.cat([lightness, target / self.target_scale * AB_SCALE], dim=1))
        return ((context + target / self.target_scale + 1) / 2).clamp(0, 1)

    # ------------------------------------------------------------------ objective
    def denoising_loss(self, batch: Cond, generator: torch.Generator | None) -> torch.Tensor:
        """Mean squared error of the predicted v at a random timestep per image, on a random crop."""
        x = batch["x"]
        with torch.autocast(device_type=x.device.type, enabled=False):
            context = self._context(to_unit(self.spec, batch[self.condition].float()))  # (N, c, H, W)
            x0 = self._target(to_unit(self.spec, x.float()), context)  # (N, target_channels, H, W)
        context, x0 = self._crop(generator, context, x0)
        n, steps = len(x0), self.config.timesteps
        if self.config.input_dropout > 0:  # blanked inputs teach p(target) too: the unconditional half of guidance
            keep = rand((n,), generator, x0.device) >= self.config.input_dropout
            context = context * keep.view(-1, 1, 1, 1).to(context.dtype)
        t = (rand((n,), generator, x0.device) * steps).long().clamp(max=steps - 1)  # (N,)
        eps = randn(x0.shape, generator, x0.device)
        a = self.alpha_bar[t].view(-1, 1, 1, 1)
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
        out = self.net(torch.cat([x_t, context], dim=1), t, self.condition_vector(batch))
        with torch.autocast(device_type=x.device.type, enabled=False):
            return F.mse_loss(out.float(), a.sqrt() * eps - (1 - a).sqrt() * x0)

    def _crop(self, generator: torch.Generator | None, *images: torch.Tensor) -> list[torch.Tensor]:
        """The same random ``train_crop`` square of each (N, C, H, W) tensor (whole images when smaller)."""
        side, (h, w) = self.config.train_crop, images[0].shape[-2:]
        if side is None or (side >= h and side >= w):
            return list(images)
        ch, cw = min(side, h), min(side, w)
        top, left = (int(v) for v in rand((2,), generator, "cpu") * torch.tensor([h - ch + 1, w - cw + 1]))
        return [image[..., top : top + ch, left : left + cw] for image in images]

    def training_step(self, batch, *, step, group, generator):
        return {"loss": self.denoising_loss(batch, generator)}

    @torch.no_grad()
    def validation_step(self, batch, *, generator):
        return {"loss": self.denoising_loss(batch, generator)}

    # ------------------------------------------------------------------ generation
    def sample_model(
        self,
        cond: Cond,
        *,
        generator: torch.Generator | None = None,
        sample_steps: int | None = None,
        eta: float | None = None,
        clip_x0: bool | None = None,
        guidance: float | None = None,
    ) -> torch.Tensor:
        # named options, so `Generator.sample` accepts them and names any other one as unknown
        return super().sample_model(cond, generator=generator, sample_steps=sample_steps, eta=eta, clip_x0=clip_x0, guidance=guidance)

    @torch.no_grad()
    def predict(
        self,
        cond: Cond,
        *,
        generator: torch.Generator | None = None,
        sample_steps: int | None = None,
        eta: float | None = None,
        clip_x0: bool | None = None,
        guidance: float | None = None,
    ) -> torch.Tensor:
        """One drawn output per input image; the sampling options override the config's for this call."""
        given = {"sample_steps": sample_steps, "eta": eta, "clip_x0": clip_x0, "guidance": guidance}
        cfg = self.config.replaced(_SAMPLING_FIELDS, **{k: v for k, v in given.items() if v is not None})
        context = self._context(to_unit(self.spec, cond[self.condition].float()))  # (N, c, H, W)
        schedule = noise_schedule(cfg.schedule, cfg.timesteps).to(self.device)  # float64: exact x0 <-> eps maps
        bounds = self._bounds(context) if cfg.clip_x0 else None
        guidance = cfg.guidance if cfg.guidance is not None else _GUIDANCE[self.task.name] if cfg.input_dropout > 0 else 1.0
        predict = self._predictor(context, self.condition_vector(cond), schedule, bounds, guidance)
        noise = randn((len(context), self.target_channels, *context.shape[-2:]), generator, self.device)
        target = ddim_sample(predict, noise, schedule, cfg.sample_steps, eta=cfg.eta, generator=generator)
        return from_unit(self.spec, self._output(target, context))

    def _predictor(
        self,
        context: torch.Tensor,
        vector: torch.Tensor,
        alpha_bar: torch.Tensor,
        bounds: tuple[torch.Tensor, torch.Tensor] | None,
        guidance: float = 1.0,
    ) -> Callable[[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]:
        """The denoiser ``(x_t, t) -> (x0, eps)`` given the conditioning image; x0 clipped to ``bounds``.

        With ``guidance`` w other than 1 the prediction is ``uncond + w * (cond - uncond)``, the
        unconditional one reading a blank input (what ``input_dropout`` trained), both in one batched pass.
        """
        low, high = (b.double() for b in bounds) if bounds is not None else (None, None)
        guided = guidance != 1.0
        if guided and self.config.input_dropout == 0:
            raise ValueError("guidance: this model was trained with input_dropout=0, so it has no unconditional prediction to guide by")
        if guided:
            context, vector = torch.cat([context, torch.zeros_like(context)]), torch.cat([vector, vector])

        def predict(x: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
            x_in = torch.cat([x, x]) if guided else x
            steps = torch.full((len(x_in),), t, device=x.device, dtype=torch.long)
            v = self.net(torch.cat([x_in.to(context.dtype), context], dim=1), steps, vector).double()
            if guided:
                cond, uncond = v.chunk(2)
                v = uncond + guidance * (cond - uncond)
            a, x64 = alpha_bar[t], x.double()
            x0 = a.sqrt() * x64 - (1 - a).sqrt() * v
            if low is None:
                return x0, (1 - a).sqrt() * x64 + a.sqrt() * v
            x0 = torch.maximum(torch.minimum(x0, high), low)
            return x0, (x64 - a.sqrt() * x0) / (1 - a).sqrt()

        return predict
