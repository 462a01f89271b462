"""Residual CNN trained with an L1 loss (family ``"rescnn"``): fast, deterministic super-resolution and colorization.

One forward pass per image, the same output every time: the restoration model to use as
preprocessing, and the baseline the generative models are compared with. Trained with a cosine
learning rate and each pair in a random flip/rotation (Lim et al. 2017); ``self_ensemble`` (a config
field or a sampling option) averages the outputs of the 8 flips/rotations at 8 times the cost.

- ``superres``: the network reads the low-resolution image and adds a sub-pixel residual to its
  bicubic upscaling (`genaug.nn.restore.ResidualCNN`), trained with L1 on the [0, 1] values
  (Lim et al., EDSR, 2017: L1 over L2 for restoration).
- ``colorize``: the network reads the gray image and predicts the colour channels a*, b* of CIE Lab;
  the lightness L* is the gray input's, so the output keeps the input's structure exactly (Zhang et
  al. 2016). L1 on a*, b*: a regression toward the average colour, which is why its colourings are
  muted; the conditional diffusion model gives varied, more colourful ones.
- ``harmonize``: the network reads the composite and its region's alpha and adds a residual inside the
  region only (``composite + alpha * residual``): pixels outside the pasted region never change. Three
  down/up levels give it the whole patch's light to match.

Example:
    >>> import genaug
    >>> from genaug.data.images import image_patches, read_images
    >>> from genaug.data.pairs import make_pairs
    >>> pairs = make_pairs(image_patches(read_images("photos:china"), size=16, count=32), "superres", scale=2)
    >>> model = genaug.fit(pairs, "rescnn", steps=5, channels=8, blocks=1)
    >>> model.apply(torch.zeros(1, 3, 10, 12, dtype=torch.uint8)).shape
    torch.Size([1, 3, 20, 24])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from genaug.data.pairs import from_unit, to_unit
from genaug.data.spec import DataSpec
from genaug.models.base import Cond, GeneratorConfig
from genaug.models.image2image import ImageToImage
from genaug.models.registry import register
from genaug.nn.color import AB_SCALE, gray_to_lightness, lab_to_rgb, rgb_to_lab
from genaug.nn.restore import ResidualCNN

__all__ = ["ResCNN", "ResCNNConfig"]

_LEVELS = {"superres": 0, "colorize": 2, "harmonize": 3}  # default down/up levels: colour and light need context


class ResCNNConfig(GeneratorConfig):
    """Width and depth of the residual CNN."""

    channels: int = Field(48, ge=1)  # feature maps in every layer
    blocks: int = Field(6, ge=1)  # residual blocks
    levels: int | None = Field(None, ge=0)  # stride-2 down/up steps around the blocks; None: 0 superres, 2 colorize, 3 harmonize
    flips: bool = True  # training: each pair in a random one of the 8 flips/rotations (EDSR's augmentation)
    self_ensemble: bool = False  # sampling: average the outputs of the 8 flips/rotations (EDSR+; 8x slower)


@register
class ResCNN(ImageToImage):
    """Deterministic image-to-image regression (see the module docstring)."""

    family = "rescnn"
    config_class = ResCNNConfig
    tasks = ("superres", "colorize", "harmonize")
    train_defaults = {
        "steps": 2000, "batch_size": 16, "lr": 1e-3, "lr_schedule": "cosine", "ema_decay": 0.0, "eval_every": 200, "min_epochs": 0.0,
    }

    @classmethod
    def train_defaults_for(cls, spec: DataSpec | None) -> dict:
        """Harmonization pairs teach faster (and a step costs more: the net is deeper): fewer steps."""
        harmonize = spec is not None and any(d.get("task") == "harmonize" for d in spec.conditions.values())
        return {**cls.train_defaults, "steps": 1000} if harmonize else cls.train_defaults

    def __init__(self, spec: DataSpec, config: ResCNNConfig | None = None) -> None:
        super().__init__(spec, config)
        cfg = self.config
        colorize = self.task.name == "colorize"
        levels = cfg.levels if cfg.levels is not None else _LEVELS[self.task.name]
        out = 2 if colorize else self.out_channels
        self.net = ResidualCNN(self.in_channels, out, channels=cfg.channels, blocks=cfg.blocks, levels=levels, upscale=self.scale)
        self.size_multiple_ = 2**levels

    @property
    def size_multiple(self) -> int:  # type: ignore[override]
        return self.size_multiple_

    def _forward_unit(self, source: torch.Tensor) -> torch.Tensor:
        """Model-space input -> the output in [0, 1] (superres, harmonize) or a*, b* / AB_SCALE (colorize)."""
        u = to_unit(self.spec, source)
        residual = self.net(u * 2 - 1)
        if self.task.name == "colorize":
            return residual
        if self.task.name == "harmonize":
            return u[:, :-1] + u[:, -1:].clamp(0, 1) * residual
        base = F.interpolate(u, scale_factor=self.scale, mode="bicubic", align_corners=False) if self.scale > 1 else u
        return base + residual

    def predict(self, cond: Cond, *, generator: torch.Generator | None = None, self_ensemble: bool | None = None) -> torch.Tensor:
        source = cond[self.condition]
        ensemble = self.config.self_ensemble if self_ensemble is None else self_ensemble
        if ensemble:  # the mean over the 8 flips/rotations, each mapped back
            out = torch.stack([_dihedral(self._forward_unit(_dihedral(source, k)), k, inverse=True) for k in range(8)]).mean(0)
        else:
            out = self._forward_unit(source)
        if self.task.name == "colorize":
            lightness = gray_to_lightness(to_unit(self.spec, source).clamp(0, 1))
            out = lab_to_rgb(torch.cat([lightness, out.float() * AB_SCALE], dim=1))
        return from_unit(self.spec, out.float().clamp(0, 1))

    def _loss(self, batch: Cond) -> torch.Tensor:
        out = self._forward_unit(batch[self.condition])
        with torch.autocast(device_type=out.device.type, enabled=False):
            target = to_unit(self.spec, batch["x"].float())
            if self.task.name == "colorize":
                target = rgb_to_lab(target.clamp(0, 1))[:, 1:] / AB_SCALE
            if self.task.name == "harmonize":  # per pixel of the region, so small regions weigh as much (Sofiiuk et al. 2021)
                alpha = to_unit(self.spec, batch[self.condition][:, -1:].float()).clamp(0, 1)
                error = (out.float() - target).abs().sum(dim=(1, 2, 3))
                return (error / (out.shape[1] * alpha.sum(dim=(1, 2, 3)).clamp(min=16.0))).mean()
            return F.l1_loss(out.float(), target)

    def training_step(self, batch, *, step, group, generator):
        if self.config.flips:
            k = int(torch.randint(8, (1,), generator=generator, device=generator.device if generator is not None else "cpu"))
            batch = {**batch, "x": _dihedral(batch["x"], k), self.condition: _dihedral(batch[self.condition], k)}
        return {"loss": self._loss(batch)}

    @torch.no_grad()
    def validation_step(self, batch, *, generator):
        return {"loss": self._loss(batch)}


def _dihedral(x: torch.Tensor, k: int, *, inverse: bool = False) -> torch.Tensor:
    """One of the 8 symmetries of the square on the last two axes: transpose if k >= 4, then k % 4 quarter turns."""
    turns = k % 4
    if inverse:
        x = torch.rot90(x, -turns, dims=(-2, -1))
        return x.transpose(-2, -1) if k >= 4 else x
    x = x.transpose(-2, -1) if k >= 4 else x
    return torch.rot90(x, turns, dims=(-2, -1))
