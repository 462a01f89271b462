"""CycleGAN (family ``"cyclegan"``): unpaired translation between two image domains.

Zhu et al., "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks",
ICCV 2017. The data's two classes are the domains, class 0 = A and class 1 = B
(`genaug.data.pairs.make_pairs` with ``"translate"``). Two ResNet generators, ``G_AB`` and
``G_BA``, and two PatchGAN discriminators, ``D_A`` and ``D_B`` (`genaug.nn.cyclegan`), are trained
with the paper's losses:

- adversarial, least squares (Mao et al., "Least Squares Generative Adversarial Networks", ICCV
  2017): ``D_B`` scores real B images 1 and ``G_AB(a)`` 0, ``G_AB`` pushes its fakes toward 1; the
  same for ``G_BA`` and ``D_A``;
- cycle consistency: ``|G_BA(G_AB(a)) - a|_1`` and ``|G_AB(G_BA(b)) - b|_1``, weight ``lambda_cycle``;
- identity: ``|G_AB(b) - b|_1`` and ``|G_BA(a) - a|_1``, weight ``lambda_identity`` (the paper's
  0.5 * ``lambda_cycle``), which keeps colours where nothing needs translating.

A batch mixes both domains; it is split by label and a domain absent from it drops its terms.
The two optimizer groups, ``"discriminator"`` then ``"generator"``, alternate through the
contract's hooks as in `genaug.models.gan`. The paper's history buffer of 50 fakes is left out: the
discriminator sees the current generators' fakes. Translation is deterministic: ``predict`` sends
each source image to the domain its label names (label 1: through ``G_AB``, label 0: through
``G_BA``); `apply` translates A -> B unless told otherwise.

The validation loss (early stopping, best weights) is the kernel distance (KID's unbiased MMD^2,
`genaug.models.gan.kernel_mmd2`, in model space as the gan family's) of the held-out A images
translated to B against the held-out B images, plus the same from B to A. The cycle loss alone
would not do: the identity map reconstructs perfectly and translates nothing, so the checkpoint
kept would be the least translated one. The cycle L1 is logged beside it (``"cycle"``).

Example:
    >>> import genaug, numpy as np, torch
    >>> from genaug.data.arrayset import from_arrays
    >>> from genaug.data.pairs import make_pairs
    >>> rng = np.random.default_rng(0)
    >>> dark, bright = rng.integers(0, 80, (8, 1, 16, 16)), rng.integers(170, 256, (8, 1, 16, 16))
    >>> x = np.concatenate([dark, bright]).astype(np.uint8)
    >>> data = make_pairs(from_arrays(x, [0] * 8 + [1] * 8, class_names=["a", "b"], levels=256), "translate")
    >>> model = genaug.fit(data, "cyclegan", steps=2, channels=4, blocks=1, disc_channels=4, disc_layers=2)
    >>> model.apply(torch.zeros(1, 1, 13, 18, dtype=torch.uint8), labels="b").shape
    torch.Size([1, 1, 13, 18])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from pydantic import Field
from torch import nn

from genaug.data.pairs import to_unit
from genaug.data.spec import DataSpec
from genaug.models.base import Cond, GeneratorConfig, OptimizerGroup
from genaug.models.gan import frozen, kernel_mmd2
from genaug.models.image2image import ImageToImage
from genaug.models.registry import register
from genaug.nn.cyclegan import PatchDiscriminator, ResnetGenerator

__all__ = ["CycleGAN", "CycleGANConfig"]


class CycleGANConfig(GeneratorConfig):
    """Networks and loss weights of CycleGAN."""

    channels: int = Field(16, ge=1)  # generator feature maps at full resolution (doubled per downsampling)
    blocks: int = Field(3, ge=1)  # generator residual blocks at its lowest resolution (the paper: 6 at 128 px)
    downsamplings: int = Field(2, ge=0, le=5)  # generator stride-2 steps; apply pads inputs to multiples of 2**this
    disc_channels: int = Field(32, ge=1)  # discriminator feature maps of its first layer (doubled per layer, at most 8x)
    disc_layers: int = Field(3, ge=1)  # PatchGAN stride-2 layers (3: 70 x 70 patches); patches need 3 * 2**this px
    lambda_cycle: float = Field(10.0, ge=0)  # weight of the cycle-consistency L1
    lambda_identity: float | None = Field(None, ge=0)  # weight of the identity L1; None: 0.5 * lambda_cycle (the paper)
    betas: tuple[float, float] = (0.5, 0.999)  # Adam betas of both groups


@register
class CycleGAN(ImageToImage):
    """Unpaired two-domain translation with cycle consistency (see the module docstring)."""

    family = "cyclegan"
    config_class = CycleGANConfig
    tasks = ("translate",)
    # Sized for 1,000-4,000 patches of 64 x 64 on 2 CPU cores: a step at batch 8 takes about 0.5 s of
    # one core's time, so 1000 steps and the validations take 5 to 8 minutes. Constant lr 2e-4 and no
    # gradient clipping, as the paper; the best cycle loss on held-out patches is kept.
    train_defaults = {
        "steps": 1000,
        "batch_size": 8,
        "lr": 2e-4,
        "ema_decay": 0.0,
        "clip_grad": None,
        "eval_every": 100,
        "min_epochs": 0.0,
    }

    def __init__(self, spec: DataSpec, config: CycleGANConfig | None = None) -> None:
        super().__init__(spec, config)
        if spec.num_classes != 2:
            raise ValueError(
                f"spec: the 'cyclegan' family translates between two domains (two classes), got {spec.num_classes} classes"
            )
        cfg = self.config
        h, w = spec.shape[1:]
        side = min(h, w) // 2**cfg.disc_layers  # the PatchGAN's map after its stride-2 layers; two 4x4 convs follow
        if side < 3:
            least = 3 * 2**cfg.disc_layers
            raise ValueError(
                f"disc_layers: {cfg.disc_layers} stride-2 layers need patches of at least {least} pixels a side, "
                f"got {h}x{w}; lower disc_layers or cut larger patches"
            )
        c = self.in_channels
        self.g_ab = ResnetGenerator(c, channels=cfg.channels, blocks=cfg.blocks, downsamplings=cfg.downsamplings)
        self.g_ba = ResnetGenerator(c, channels=cfg.channels, blocks=cfg.blocks, downsamplings=cfg.downsamplings)
        self.d_a = PatchDiscriminator(c, channels=cfg.disc_channels, layers=cfg.disc_layers)
        self.d_b = PatchDiscriminator(c, channels=cfg.disc_channels, layers=cfg.disc_layers)
        self.lambda_identity = cfg.lambda_identity if cfg.lambda_identity is not None else 0.5 * cfg.lambda_cycle

    @property
    def size_multiple(self) -> int:  # type: ignore[override]
        return 2**self.config.downsamplings

    def default_labels(self, n: int) -> torch.Tensor:
        """Translate into domain B (class 1) unless told otherwise."""
        return torch.ones(n, dtype=torch.long, device=self.device)

    # ------------------------------------------------------------------ routing
    def translate(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Model-space images ``x`` (N, C, H, W) into the domains ``target`` (N,): 1 through G_AB, 0 through G_BA."""
        return self._route(x, target, (self.g_ba, self.g_ab))

    def discriminate(self, x: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        """Patch scores (N, 1, h, w) of images ``x`` as members of ``domain`` (N,): D_A for 0, D_B for 1."""
        return self._route(x, domain, (self.d_a, self.d_b)).float()

    @staticmethod
    def _route(x: torch.Tensor, index: torch.Tensor, nets: tuple[nn.Module, nn.Module]) -> torch.Tensor:
        """Row i of the result is ``nets[index[i]](x[i])``; each net runs once on its rows."""
        parts = [(mask, nets[d](x[mask])) for d in (0, 1) if (mask := index == d).any()]
        if not parts:  # no rows
            return nets[0](x)
        out = parts[0][1].new_empty((len(x), *parts[0][1].shape[1:]))
        for mask, part in parts:
            out[mask] = part.to(out.dtype)
        return out

    # ------------------------------------------------------------------ contract
    @torch.no_grad()
    def predict(self, cond: Cond, *, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.translate(cond[self.condition], cond["label"]).float()

    def optimizer_groups(self) -> list[OptimizerGroup]:
        betas = self.config.betas
        return [
            OptimizerGroup("discriminator", [*self.d_a.parameters(), *self.d_b.parameters()], betas=betas),
            OptimizerGroup("generator", [*self.g_ab.parameters(), *self.g_ba.parameters()], betas=betas),
        ]

    def training_step(self, batch, *, step, group, generator):
        x, domain = batch["x"], batch["label"]
        if group == "discriminator":
            return self._discriminator_step(x, domain)
        if group == "generator":
            return self._generator_step(x, domain)
        raise ValueError(f"group: expected 'discriminator' or 'generator', got {group!r}")

    def _discriminator_step(self, x: torch.Tensor, domain: torch.Tensor) -> dict[str, torch.Tensor]:
        other = 1 - domain
        with torch.no_grad():  # fakes are constants here: this group only moves the discriminators
            fake = self.translate(x, other)
        # each real image scored by its own domain's D, each fake by the D of the domain it pretends to be in
        scores = self.discriminate(torch.cat([x, fake.to(x.dtype)]), torch.cat([domain, other]))
        real_score, fake_score = scores.chunk(2)
        with torch.autocast(device_type=x.device.type, enabled=False):
            # per domain: 0.5 * (E[(D(real) - 1)^2] + E[D(fake)^2]), halved as the paper to slow D down
            real_term = _per_domain((real_score - 1).square().flatten(1).mean(1), domain)
            fake_term = _per_domain(fake_score.square().flatten(1).mean(1), other)
            loss = 0.5 * (real_term + fake_term)
        return {"loss": loss, "real_score": real_score.mean().detach(), "fake_score": fake_score.mean().detach()}

    def _generator_step(self, x: torch.Tensor, domain: torch.Tensor) -> dict[str, torch.Tensor]:
        other = 1 - domain
        fake = self.translate(x, other)
        rec = self.translate(fake, domain)
        with frozen(self.d_a), frozen(self.d_b):
            fake_score = self.discriminate(fake, other)
        same = self.translate(x, domain) if self.lambda_identity > 0 else None
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.float()
            adversarial = _per_domain(((fake_score - 1).square()).flatten(1).mean(1), other)
            cycle = _per_domain((rec.float() - x).abs().flatten(1).mean(1), domain)
            loss = adversarial + self.config.lambda_cycle * cycle
            logged = {"adversarial": adversarial.detach(), "cycle": cycle.detach()}
            if same is not None:
                identity = _per_domain((same.float() - x).abs().flatten(1).mean(1), domain)
                loss = loss + self.lambda_identity * identity
                logged["identity"] = identity.detach()
        return {"loss": loss, **logged}

    @torch.no_grad()
    def validation_step(self, batch: Cond, *, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """``"loss"``: KID's MMD^2 of translated A to real B plus translated B to real A (model space);
        ``"cycle"``: the cycle-reconstruction L1 of both directions (see the module docstring)."""
        x, domain = batch["x"].float(), batch["label"]
        a, b = x[domain == 0], x[domain == 1]
        if len(a) < 2 or len(b) < 2:
            return {}
        to_b, to_a = self.translate(a, torch.ones_like(domain[domain == 0])).float(), self.translate(b, torch.zeros_like(domain[domain == 1])).float()
        loss = kernel_mmd2(b.flatten(1), to_b.flatten(1)) + kernel_mmd2(a.flatten(1), to_a.flatten(1))
        rec = self.translate(self.translate(x, 1 - domain), domain).float()
        return {"loss": loss, "cycle": (rec - x).abs().mean()}

    @torch.no_grad()
    def cycle_psnr(self, x: torch.Tensor, labels: int | str | Sequence[int | str] | torch.Tensor) -> torch.Tensor:
        """PSNR (dB, over the [0, 1] value range) of each image's round trip to the other domain and back: (N,).

        Args:
            x: model-space images (N, C, H, W), H and W multiples of `size_multiple`.
            labels: the domain of each image, by index (0: A, 1: B) or class name, one for all or one per image.
        """
        m = self.size_multiple
        shaped = isinstance(x, torch.Tensor) and x.ndim == 4 and x.shape[1] == self.in_channels
        if not shaped or x.shape[2] % m or x.shape[3] % m:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"x: expected model-space images (N, {self.in_channels}, H, W) with H and W multiples of {m}, got {got}"
            )
        if labels is None:
            names = list(self.spec.class_names)
            raise ValueError(f"labels: expected the images' domain, 0, 1 or a class name of {names}, got None")
        domain = self.resolve_labels(len(x), labels)
        x = x.to(self.device, torch.float32)
        rec = self.translate(self.translate(x, 1 - domain), domain).float()
        mse = (to_unit(self.spec, rec).clamp(0, 1) - to_unit(self.spec, x).clamp(0, 1)).square().flatten(1).mean(1)
        return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))


def _per_domain(values: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
    """The sum over the domains present of the mean of ``values`` (N,) over each domain's rows."""
    return sum(values[domain == d].mean() for d in (0, 1) if (domain == d).any())
