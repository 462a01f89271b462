"""Class-conditional GAN with a projection discriminator and DiffAugment (family ``"gan"``).

Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014; DCGAN-style nets after Radford et al.,
ICLR 2016; spectral normalization and the hinge loss after Miyato et al., "Spectral Normalization for
Generative Adversarial Networks", ICLR 2018; the projection discriminator after Miyato & Koyama,
"cGANs with Projection Discriminator", ICLR 2018; differentiable augmentation after Zhao et al.,
"Differentiable Augmentation for Data-Efficient GAN Training", NeurIPS 2020; the mode-seeking term after
Mao et al., "Mode Seeking Generative Adversarial Networks for Diverse Image Synthesis", CVPR 2019.

The generator draws ``z ~ N(0, I)`` and maps it with its class to model space: images through
upsampling convolutions with class-conditional normalization and a tanh output in [-1, 1], vectors
through an MLP with a linear output. The spectrally normalized discriminator scores
``psi(phi(x)) + <embed(y), phi(x)>`` on DiffAugment-ed inputs, real and fake alike, so a small data
set is not simply memorized by it. A mode-seeking term keeps the samples of one class as varied as
the real ones (without it, the generator gives each digit about one look). Two optimizer groups,
``"discriminator"`` then ``"generator"``, alternate through the contract's hooks; the Trainer's EMA
weights are the ones samples come from. There is no likelihood and no encoder.

Example:
    >>> import genaug, torch
    >>> data = genaug.load_source("digits")
    >>> model = genaug.fit(data, "gan", steps=10)
    >>> model.sample(4, labels=[0, 1, 2, 3], generator=torch.Generator().manual_seed(0)).shape
    torch.Size([4, 8, 8])
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from genaug.data.spec import DataSpec
from genaug.models.base import Generator, GeneratorConfig, OptimizerGroup, rand, randn
from genaug.models.nets import MLP, conv_sizes
from genaug.models.registry import register

__all__ = ["GAN", "GANConfig", "diff_augment"]

AugmentOp = Literal["color", "translation", "cutout", "noise"]
_IMAGE_OPS = ("color", "translation", "cutout")
_VECTOR_OPS = ("noise",)


class GANConfig(GeneratorConfig):
    """Architecture, objective and augmentation of the GAN."""

    latent_dim: int = Field(32, ge=1)  # size of the generator's noise vector z
    channels: int = Field(32, ge=1)  # images: width of the full-resolution conv stage (doubles per stage)
    depth: int = Field(2, ge=0)  # images: stride-2 stages; vectors: hidden layers
    hidden: int = Field(256, ge=1)  # vectors: hidden units per MLP layer
    label_dim: int = Field(32, ge=1)  # size of the generator's class embedding
    loss: Literal["hinge", "nonsaturating"] = "hinge"  # adversarial objective
    augment: tuple[AugmentOp, ...] | None = None  # DiffAugment ops; None: images all 3, vectors noise; (): off
    translation: float = Field(0.125, ge=0, le=0.5)  # largest shift, as a fraction of the image side
    cutout: float = Field(0.5, ge=0, le=1)  # side of the erased square, as a fraction of the image side
    noise: float = Field(0.1, ge=0)  # vectors: std of the Gaussian jitter (in standardized units)
    mode_seeking: float = Field(0.03, ge=0)  # weight of the mode-seeking term against within-class collapse
    dequantize: bool = True  # show D uniformly dequantized grid data, so the grid does not give reals away
    d_lr_scale: float = Field(1.0, gt=0)  # discriminator lr = Trainer lr * this
    g_lr_scale: float = Field(1.0, gt=0)  # generator lr = Trainer lr * this
    betas: tuple[float, float] = (0.5, 0.999)  # Adam betas of both groups


# ---------------------------------------------------------------------- DiffAugment
def _randint(
    high: int, shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """Integers uniform in [0, high) drawn from ``generator``."""
    return (rand(shape, generator, device) * high).long()


def _translate(x: torch.Tensor, ratio: float, generator: torch.Generator | None) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its side, filling with zeros (differentiable gather)."""
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = _randint(2 * sh + 1, (n, 1, 1), generator, x.device) - sh  # (N, 1, 1)
    dx = _randint(2 * sw + 1, (n, 1, 1), generator, x.device) - sw
    rows = (torch.arange(h, device=x.device).view(1, h, 1) + dy).clamp(-1, h)  # (N, H, 1), -1 and h hit the padding
    cols = (torch.arange(w, device=x.device).view(1, 1, w) + dx).clamp(-1, w)  # (N, 1, W)
    padded = F.pad(x, (1, 1, 1, 1))  # (N, C, H+2, W+2)
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows + 1, cols + 1].permute(0, 3, 1, 2)


def _cut_out(x: torch.Tensor, ratio: float, generator: torch.Generator | None) -> torch.Tensor:
    """Zero one square of side ``ratio`` of the image, centred anywhere on it."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = _randint(h + (1 - ch % 2), (n, 1, 1), generator, x.device)  # (N, 1, 1) centre rows
    cx = _randint(w + (1 - cw % 2), (n, 1, 1), generator, x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (rows >= cy - ch // 2) & (rows < cy - ch // 2 + ch) & (cols >= cx - cw // 2) & (cols < cx - cw // 2 + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)  # (N, C, H, W)


def _color(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Random brightness, saturation (colour images) and contrast, as in DiffAugment."""
    n = x.shape[0]
    x = x + (rand((n, 1, 1, 1), generator, x.device, x.dtype) - 0.5)
    if x.shape[1] > 1:
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (rand((n, 1, 1, 1), generator, x.device, x.dtype) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (rand((n, 1, 1, 1), generator, x.device, x.dtype) + 0.5) + mean


def diff_augment(
    x: torch.Tensor,
    ops: tuple[str, ...],
    generator: torch.Generator | None,
    *,
    translation: float = 0.125,
    cutout: float = 0.5,
    noise: float = 0.1,
) -> torch.Tensor:
    """Apply the DiffAugment ``ops`` in order, each drawn per sample from ``generator``.

    Every op is differentiable in ``x``, so the generator learns through it. Images (N, C, H, W)
    take ``"color"``, ``"translation"`` and ``"cutout"``, vectors (N, D) take ``"noise"``.

    Example:
        >>> x = torch.zeros(2, 1, 8, 8)
        >>> diff_augment(x, ("translation", "cutout"), torch.Generator().manual_seed(0)).shape
        torch.Size([2, 1, 8, 8])
    """
    for op in ops:
        if op == "color":
            x = _color(x, generator)
        elif op == "translation":
            x = _translate(x, translation, generator)
        elif op == "cutout":
            x = _cut_out(x, cutout, generator)
        elif op == "noise":
            x = x + noise * randn(x.shape, generator, x.device, x.dtype)
        else:
            raise ValueError(f"ops: unknown DiffAugment op {op!r}; expected among {_IMAGE_OPS + _VECTOR_OPS}")
    return x


# ---------------------------------------------------------------------- networks
class _CondNorm(nn.Module):
    """Group normalization whose per-channel gain and bias come from the class embedding.

    Per-sample statistics: a sample does not depend on the rest of its batch, in training as in
    sampling, so EMA weights need no recomputed batch statistics.
    """

    def __init__(self, channels: int, cond_dim: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(min(8, channels), channels, affine=False)
        self.film = nn.Linear(cond_dim, 2 * channels)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)  # starts as the identity affine map

    def forward(self, h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        gain, bias = self.film(cond)[:, :, None, None].chunk(2, dim=1)  # (N, C, 1, 1) each
        return self.norm(h) * (1 + gain) + bias


class _UpBlock(nn.Module):
    """Nearest upsampling to ``size``, 3x3 conv, conditional norm, ReLU."""

    def __init__(self, c_in: int, c_out: int, size: tuple[int, int], cond_dim: int) -> None:
        super().__init__()
        self.size = size
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm = _CondNorm(c_out, cond_dim)

    def forward(self, h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.conv(F.interpolate(h, size=self.size, mode="nearest"))
        return F.relu(self.norm(h, cond))


class _ImageGenerator(nn.Module):
    """(N, latent) noise + (N, E) class embedding -> (N, C, H, W) in [-1, 1], for any H, W."""

    def __init__(
        self, latent_dim: int, shape: tuple[int, int, int], *, channels: int, depth: int, cond_dim: int
    ) -> None:
        super().__init__()
        c, h, w = shape
        sizes = conv_sizes(h, w, depth)
        width = channels * 2**depth
        self.start = (width, *sizes[-1])
        self.project = nn.Linear(latent_dim + cond_dim, width * sizes[-1][0] * sizes[-1][1])
        self.start_norm = _CondNorm(width, cond_dim)
        blocks: list[_UpBlock] = []
        for size in reversed(sizes[:-1]):
            blocks.append(_UpBlock(width, width // 2, size, cond_dim))
            width //= 2
        self.blocks = nn.ModuleList(blocks)
        self.out = nn.Conv2d(width, c, 3, padding=1)

    def forward(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.project(torch.cat([z, cond], dim=1)).view(-1, *self.start)  # (N, width, fh, fw)
        h = F.relu(self.start_norm(h, cond))
        for block in self.blocks:
            h = block(h, cond)
        return torch.tanh(self.out(h))


class _VectorGenerator(nn.Module):
    """(N, latent) noise + (N, E) class embedding -> (N, D), linear output for standardized features."""

    def __init__(self, latent_dim: int, dim: int, *, hidden: int, depth: int, cond_dim: int) -> None:
        super().__init__()
        self.mlp = MLP(latent_dim + cond_dim, dim, hidden=hidden, depth=depth)

    def forward(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.cat([z, cond], dim=1))


class _ProjectionDiscriminator(nn.Module):
    """Score ``psi(phi(x)) + <embed(y), phi(x)>`` (Miyato & Koyama 2018), spectrally normalized.

    ``phi`` is a strided conv net for images (any H, W) or an MLP for vectors; every layer,
    the class embedding included, is wrapped in `spectral_norm`, so D is about 1-Lipschitz per layer.
    """

    def __init__(self, spec: DataSpec, *, channels: int, depth: int, hidden: int) -> None:
        super().__init__()
        act = nn.LeakyReLU(0.2)
        if spec.modality == "image":
            c, h, w = spec.shape
            layers: list[nn.Module] = [nn.Conv2d(c, channels, 3, padding=1), act]
            width = channels
            for _ in range(depth):
                layers += [nn.Conv2d(width, width * 2, 3, stride=2, padding=1), act]
                width *= 2
            fh, fw = conv_sizes(h, w, depth)[-1]
            features = width * fh * fw
            layers.append(nn.Flatten())
        else:
            layers, width = [], spec.dim
            for _ in range(max(depth, 1)):
                layers += [nn.Linear(width, hidden), act]
                width = hidden
            features = width
        self.phi = nn.Sequential(*layers)
        self.psi = nn.Linear(features, 1)
        self.embed = nn.Embedding(spec.num_classes, features)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear, nn.Embedding)):
                spectral_norm(module)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.phi(x)  # (N, F)
        return self.psi(h).squeeze(1) + (self.embed(labels) * h).sum(1)  # (N,)


@contextmanager
def _frozen(module: nn.Module) -> Iterator[None]:
    """Build the graph without gradients for ``module``'s weights (they are not being optimized)."""
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


def _rebuild(cls: type[GAN], spec: DataSpec, config: GANConfig, state: dict[str, torch.Tensor], training: bool) -> GAN:
    """Unpickle a `GAN` from its spec, config and weights (see `GAN.__reduce__`)."""
    with torch.random.fork_rng(devices=[]):  # the throwaway initialisation leaves the global RNG alone
        model = cls(spec, config)
    model.load_state_dict(state)
    device = next(iter(state.values())).device
    return model.to(device).train(training)


# ---------------------------------------------------------------------- family
@register
class GAN(Generator):
    """Conditional GAN: hinge (or non-saturating) loss, projection D with spectral norm, DiffAugment."""

    family = "gan"
    config_class = GANConfig
    # No held-out loss exists (validation_step is empty), so no data is held out for one.
    train_defaults = {
        "steps": 3000,
        "batch_size": 64,
        "lr": 2e-4,
        "ema_decay": 0.999,
        "clip_grad": None,  # unclipped, as in the SNGAN and DiffAugment recipes
        "val_fraction": 0.0,
    }

    def __init__(self, spec: DataSpec, config: GANConfig | None = None) -> None:
        super().__init__(spec, config)
        cfg = self.config
        image = spec.modality == "image"
        allowed = _IMAGE_OPS if image else _VECTOR_OPS
        self.augment_ops = cfg.augment if cfg.augment is not None else allowed
        wrong = [op for op in self.augment_ops if op not in allowed]
        if wrong:
            raise ValueError(f"augment: {wrong} do not apply to {spec.modality} data; expected ops among {allowed}")
        self.embed = nn.Embedding(spec.num_classes, cfg.label_dim)
        latent, cond = cfg.latent_dim, cfg.label_dim
        if image:
            self.g_net = _ImageGenerator(latent, spec.shape, channels=cfg.channels, depth=cfg.depth, cond_dim=cond)
        else:
            self.g_net = _VectorGenerator(latent, spec.dim, hidden=cfg.hidden, depth=cfg.depth, cond_dim=cond)
        self.d_net = _ProjectionDiscriminator(spec, channels=cfg.channels, depth=cfg.depth, hidden=cfg.hidden)

    def __reduce__(self) -> tuple[Any, ...]:
        # Spectrally normalized (parametrized) modules refuse to pickle; DataLoader workers and
        # deep copies get the model rebuilt from its config and weights, as `genaug.load` does.
        return (_rebuild, (type(self), self.spec, self.config, self.state_dict(), self.training))

    # ------------------------------------------------------------------ pieces
    def generator_params(self) -> list[nn.Parameter]:
        """What the generator group optimizes: G's net and its class embedding."""
        return [*self.embed.parameters(), *self.g_net.parameters()]

    def generate(self, labels: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """One model-space fake per label, with gradients: (N, *spec.shape)."""
        z = randn((len(labels), self.config.latent_dim), generator, self.device)
        return self.g_net(z, self.embed(labels))

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """D's float32 scores of DiffAugment-ed ``x``: (N,)."""
        cfg = self.config
        strengths = {"translation": cfg.translation, "cutout": cfg.cutout, "noise": cfg.noise}
        x = diff_augment(x, self.augment_ops, generator, **strengths)
        return self.d_net(x, labels).float()

    # ------------------------------------------------------------------ training
    def optimizer_groups(self) -> list[OptimizerGroup]:
        cfg = self.config
        return [
            OptimizerGroup("discriminator", list(self.d_net.parameters()), lr_scale=cfg.d_lr_scale, betas=cfg.betas),
            OptimizerGroup("generator", self.generator_params(), lr_scale=cfg.g_lr_scale, betas=cfg.betas),
        ]

    def training_step(self, x, labels, *, step, group, generator):
        if group == "discriminator":
            return self._discriminator_step(x, labels, generator)
        if group == "generator":
            return self._generator_step(labels, generator)
        raise ValueError(f"group: expected 'discriminator' or 'generator', got {group!r}")

    def _discriminator_step(
        self, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        real = self.spec.dequantize(x, generator) if self.config.dequantize else x
        with torch.no_grad():  # fakes are constants here: this group only moves D
            fake = self.generate(labels, generator)
        scores = self.discriminate(torch.cat([real, fake.to(real.dtype)]), torch.cat([labels, labels]), generator)
        with torch.autocast(device_type=x.device.type, enabled=False):
            real_score, fake_score = scores.chunk(2)  # (N,) each
            if self.config.loss == "hinge":
                loss = F.relu(1 - real_score).mean() + F.relu(1 + fake_score).mean()
            else:
                loss = F.softplus(-real_score).mean() + F.softplus(fake_score).mean()
        return {"loss": loss, "real_score": real_score.mean().detach(), "fake_score": fake_score.mean().detach()}

    def _generator_step(self, labels: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        cfg = self.config
        half = len(labels) // 2 if cfg.mode_seeking > 0 else 0
        if half:
            labels = torch.cat([labels[:half], labels[:half], labels[2 * half :]])  # fakes i and i + half share a class
        z = randn((len(labels), cfg.latent_dim), generator, self.device)  # (N, latent)
        fake = self.g_net(z, self.embed(labels))
        with _frozen(self.d_net):
            fake_score = self.discriminate(fake, labels, generator)
        with torch.autocast(device_type=fake.device.type, enabled=False):
            adversarial = -fake_score.mean() if cfg.loss == "hinge" else F.softplus(-fake_score).mean()
            if not half:
                return {"loss": adversarial}
            # Mao et al. 2019: two fakes of one class must lie apart in proportion to their noises,
            # else the generator may ignore z and give each class one look
            dx = (fake[:half] - fake[half : 2 * half]).float().abs().flatten(1).mean(1)  # (half,)
            dz = (z[:half] - z[half : 2 * half]).abs().mean(1)  # (half,)
            ratio = (dx / dz).mean()
            loss = adversarial + cfg.mode_seeking / (ratio + 1e-5)
        return {"loss": loss, "adversarial": adversarial.detach(), "mode_seeking_ratio": ratio.detach()}

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def sample_model(self, labels: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.generate(labels.to(self.device), generator).float()
