"""Class-conditional GAN with a projection discriminator and DiffAugment (family ``"gan"``).

Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014; DCGAN-style nets after Radford et al.,
ICLR 2016; spectral normalization and the hinge loss after Miyato et al., "Spectral Normalization for
Generative Adversarial Networks", ICLR 2018; the projection discriminator after Miyato & Koyama,
"cGANs with Projection Discriminator", ICLR 2018; differentiable augmentation after Zhao et al.,
"Differentiable Augmentation for Data-Efficient GAN Training", NeurIPS 2020; the mode-seeking term after
Mao et al., "Mode Seeking Generative Adversarial Networks for Diverse Image Synthesis", CVPR 2019.

The generator draws ``z ~ N(0, I)`` and maps it with its class to model space through the modality's
generator block (images and sequences: upsampling convolutions with class-conditional normalization;
vectors: an MLP), with a tanh output in [-1, 1] for bounded data (a grid or a range) and a linear one
for standardized data. The spectrally normalized discriminator scores
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
from genaug.modalities import Modality
from genaug.models.base import Cond, Generator, GeneratorConfig, OptimizerGroup, randn
from genaug.models.registry import register

__all__ = ["GAN", "GANConfig", "diff_augment", "frozen", "kernel_mmd2"]

class GANConfig(GeneratorConfig):
    """Architecture, objective and augmentation of the GAN."""

    latent_dim: int = Field(32, ge=1)  # size of the generator's noise vector z
    channels: int = Field(32, ge=1)  # images: width of the full-resolution conv stage (doubles per stage)
    depth: int = Field(2, ge=0)  # images: stride-2 stages; vectors: hidden layers
    hidden: int = Field(256, ge=1)  # vectors: hidden units per MLP layer
    label_dim: int = Field(32, ge=1)  # size of the generator's class embedding
    loss: Literal["hinge", "nonsaturating"] = "hinge"  # adversarial objective
    augment: tuple[str, ...] | None = None  # DiffAugment ops of the modality (images: color, translation, cutout); None: all; (): off
    translation: float = Field(0.125, ge=0, le=0.5)  # largest shift, as a fraction of the sample's side (length)
    cutout: float = Field(0.5, ge=0, le=1)  # side of the erased square (window), as a fraction of the side
    noise: float = Field(0.1, ge=0)  # vectors: std of the Gaussian jitter (in standardized units)
    mode_seeking: float = Field(0.03, ge=0)  # weight of the mode-seeking term against within-class collapse
    dequantize: bool = True  # show D uniformly dequantized grid data, so the grid does not give reals away
    d_lr_scale: float = Field(1.0, gt=0)  # discriminator lr = Trainer lr * this
    g_lr_scale: float = Field(1.0, gt=0)  # generator lr = Trainer lr * this
    betas: tuple[float, float] = (0.5, 0.999)  # Adam betas of both groups
    val_samples: int = Field(4, ge=1)  # validation: fakes drawn per held-out record for the kernel distance


# ---------------------------------------------------------------------- DiffAugment
def diff_augment(
    x: torch.Tensor,
    ops: tuple[str, ...],
    generator: torch.Generator | None,
    *,
    kind: Modality,
    translation: float = 0.125,
    cutout: float = 0.5,
    noise: float = 0.1,
) -> torch.Tensor:
    """Apply the DiffAugment ``ops`` of modality ``kind`` in order, each drawn per sample from ``generator``.

    Every op is differentiable in ``x``, so the generator learns through it (`genaug.nn.diffaugment`).

    Example:
        >>> from genaug.modalities import get_modality
        >>> x = torch.zeros(2, 1, 8, 8)
        >>> diff_augment(x, ("translation", "cutout"), torch.Generator().manual_seed(0), kind=get_modality("image")).shape
        torch.Size([2, 1, 8, 8])
    """
    options = {"translation": translation, "cutout": cutout, "noise": noise}
    for op in ops:
        x = kind.diff_augment(x, op, generator, options)
    return x


class _ProjectionDiscriminator(nn.Module):
    """Score ``psi(phi(x)) + <embed(y), phi(x)>`` (Miyato & Koyama 2018), spectrally normalized.

    ``phi`` is the modality's critic (a strided conv net over images and sequences, an MLP over
    vectors); every layer, the class embedding included, is wrapped in `spectral_norm`, so D is
    about 1-Lipschitz per layer.
    """

    def __init__(self, spec: DataSpec, *, channels: int, depth: int, hidden: int) -> None:
        super().__init__()
        self.phi, features = spec.kind.critic(spec.shape, channels=channels, hidden=hidden, depth=depth)
        self.psi = nn.Linear(features, 1)
        self.embed = nn.Embedding(spec.num_classes, features)
        for module in self.modules():
            if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear, nn.Embedding)):
                spectral_norm(module)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.phi(x)  # (N, F)
        return self.psi(h).squeeze(1) + (self.embed(labels) * h).sum(1)  # (N,)


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
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
    condition_kinds = ()  # the projection discriminator projects on the label only
    # No likelihood: validation_step scores the kernel distance between fakes and the held-out
    # records (the Trainer's default tenth), and early stopping keeps the weights where it was lowest.
    train_defaults = {
        "steps": 3000,
        "batch_size": 64,
        "lr": 2e-4,
        "ema_decay": 0.999,
        "clip_grad": None,  # unclipped, as in the SNGAN and DiffAugment recipes
        "eval_every": 250,
    }

    def __init__(self, spec: DataSpec, config: GANConfig | None = None) -> None:
        super().__init__(spec, config)
        cfg = self.config
        allowed = spec.kind.diff_augment_ops
        self.augment_ops = cfg.augment if cfg.augment is not None else allowed
        wrong = [op for op in self.augment_ops if op not in allowed]
        if wrong:
            raise ValueError(f"augment: {wrong} do not apply to {spec.modality} data; expected ops among {allowed}")
        cond_dim = self.embed_conditions(cfg.label_dim)
        self.g_net = spec.kind.generator(cfg.latent_dim, spec.shape, channels=cfg.channels, hidden=cfg.hidden, depth=cfg.depth, cond_dim=cond_dim)
        # bounded data (a grid or a range, [-1, 1] in model space) come out of a tanh; standardized data unbounded
        self.bounded = spec.scaling in ("grid", "range")
        self.d_net = _ProjectionDiscriminator(spec, channels=cfg.channels, depth=cfg.depth, hidden=cfg.hidden)

    def __reduce__(self) -> tuple[Any, ...]:
        # Spectrally normalized (parametrized) modules refuse to pickle; DataLoader workers and
        # deep copies get the model rebuilt from its config and weights, as `genaug.load` does.
        return (_rebuild, (type(self), self.spec, self.config, self.state_dict(), self.training))

    # ------------------------------------------------------------------ pieces
    def generator_params(self) -> list[nn.Parameter]:
        """What the generator group optimizes: G's net and its class embedding."""
        return [*self.embed.parameters(), *self.g_net.parameters()]

    def _g(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        out = self.g_net(z, self.condition_vector({"label": labels}))
        return torch.tanh(out) if self.bounded else out

    def generate(self, labels: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """One model-space fake per label, with gradients: (N, *spec.shape)."""
        z = randn((len(labels), self.config.latent_dim), generator, self.device)
        return self._g(z, labels)

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """D's float32 scores of DiffAugment-ed ``x``: (N,)."""
        cfg = self.config
        strengths = {"translation": cfg.translation, "cutout": cfg.cutout, "noise": cfg.noise}
        x = diff_augment(x, self.augment_ops, generator, kind=self.spec.kind, **strengths)
        return self.d_net(x, labels).float()

    # ------------------------------------------------------------------ training
    def optimizer_groups(self) -> list[OptimizerGroup]:
        cfg = self.config
        return [
            OptimizerGroup("discriminator", list(self.d_net.parameters()), lr_scale=cfg.d_lr_scale, betas=cfg.betas),
            OptimizerGroup("generator", self.generator_params(), lr_scale=cfg.g_lr_scale, betas=cfg.betas),
        ]

    def training_step(self, batch, *, step, group, generator):
        if group == "discriminator":
            return self._discriminator_step(batch["x"], batch["label"], generator)
        if group == "generator":
            return self._generator_step(batch["label"], generator)
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
        fake = self._g(z, labels)
        with frozen(self.d_net):
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

    @torch.no_grad()
    def validation_step(self, batch: Cond, *, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """The GAN's held-out criterion: the kernel distance (KID's estimator) between fakes and held-out records.

        ``val_samples`` fakes per record, with the records' labels, are compared with the records in
        model space, flattened: the unbiased MMD^2 of a cubic polynomial kernel (Binkowski et al.,
        "Demystifying MMD GANs", ICLR 2018), which, unlike the Frechet distance, has no bias that
        grows as the held-out split shrinks. The Trainer draws the same noise at every validation,
        so two calls compare weights. ``"loss"``: the MMD^2 (lower is better; 0 when the fakes
        match the records' distribution).
        """
        real = (self.spec.dequantize(batch["x"], generator) if self.config.dequantize else batch["x"]).float().flatten(1)
        if len(real) < 2:
            return {}
        fake = self.generate(batch["label"].repeat(self.config.val_samples), generator).float().flatten(1)
        return {"loss": kernel_mmd2(real, fake)}

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def sample_model(self, cond: Cond, *, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.generate(cond["label"].to(self.device), generator).float()


def kernel_mmd2(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD^2 between the rows of ``x`` (n, D) and ``y`` (m, D), cubic polynomial kernel (x.y / D + 1)^3.

    The estimator of KID (Binkowski et al. 2018), on whatever features it is given; n, m >= 2.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> a, b = torch.randn(300, 4, generator=g), torch.randn(300, 4, generator=g)
        >>> same, shifted = float(kernel_mmd2(a, b)), float(kernel_mmd2(a, b + 1.0))
        >>> abs(same) < 0.05 * shifted  # two draws of one distribution vs a shift by one standard deviation
        True
    """
    n, m, d = len(x), len(y), x.shape[1]
    x, y = x.double(), y.double()
    k_xx, k_yy, k_xy = ((a @ b.T / d + 1.0) ** 3 for a, b in ((x, x), (y, y), (x, y)))
    within_x = (k_xx.sum() - k_xx.diagonal().sum()) / (n * (n - 1))
    within_y = (k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return (within_x + within_y - 2.0 * k_xy.mean()).float()
