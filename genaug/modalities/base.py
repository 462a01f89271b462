"""`Modality`: everything genaug knows about one kind of sample, asked by the rest of the code.

A modality owns the per-sample layouts a user may hand genaug and the canonical one models see, the
default value space (grid, range or standardized), the network blocks every family builds on, how
samples are drawn for people, the feature-space classifier, the downstream classifiers and the classic
augmentations. Code outside `genaug.modalities` asks ``spec.kind`` (the registered `Modality`) and never
branches on a modality's name, so a new modality is one new module that subclasses `Modality` and calls
`register_modality`.

The defaults here treat a sample as a flat vector: dense blocks over the flattened sample, pictures as
rows of grey cells, an MLP classifier. A modality overrides what its structure makes better
(`genaug.modalities.image`: convolutions over (C, H, W); `genaug.modalities.sequence`: over (C, T)).
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from genaug.nn import autoregressive as ar
from genaug.nn import conv, flow, unet

if TYPE_CHECKING:
    from genaug.data.spec import DataSpec

__all__ = ["Modality", "Standardized", "column_modality", "get_modality", "modalities", "register_modality"]

_MODALITIES: dict[str, Modality] = {}


def register_modality(cls: type[Modality]) -> type[Modality]:
    """Class decorator: make a `Modality` subclass available under ``cls.name`` (an instance is kept)."""
    if not cls.name:
        raise TypeError(f"{cls.__name__}: set the class attribute 'name' before registering")
    if cls.name in _MODALITIES and type(_MODALITIES[cls.name]) is not cls:
        raise ValueError(f"modality {cls.name!r} is already registered by {type(_MODALITIES[cls.name]).__name__}")
    _MODALITIES[cls.name] = cls()
    return cls


def modalities() -> list[str]:
    """Names of every registered modality, in registration order."""
    return list(_MODALITIES)


def column_modality(column: str) -> Modality | None:
    """The one registered modality whose ``column_names`` hold ``column`` (``series`` -> sequence), else None.

    A table column named after a modality declares its samples: arrays alone cannot tell a (1, 40) series
    from a 1 x 40 image. A name that several modalities use (``x``) declares nothing.
    """
    found = [m for m in _MODALITIES.values() if column in m.column_names]
    return found[0] if len(found) == 1 else None


def get_modality(name: str) -> Modality:
    """The registered `Modality` called ``name``; ValueError naming the known ones."""
    if name not in _MODALITIES:
        raise ValueError(f"modality: unknown modality {name!r}; expected one of {modalities()}")
    return _MODALITIES[name]


class Modality:
    """One kind of sample (see the module docstring). Subclasses set the class attributes and override methods."""

    name: ClassVar[str] = ""
    layouts: ClassVar[tuple[str, ...]] = ()  # per-sample layouts of the user's data; the first is the canonical one
    guessed: ClassVar[bool] = False  # an undeclared array may be read as this modality from its shape alone
    sample_noise: ClassVar[bool] = False  # decoder-based families add their observation noise to samples (tables)
    default_classifier: ClassVar[str] = "mlp"  # the downstream model recipes use for "auto"
    classic_library: ClassVar[str | None] = None  # module whose transforms make a recipe's classic chain
    diff_augment_ops: ClassVar[tuple[str, ...]] = ("noise",)  # differentiable augmentations a GAN discriminator sees
    feature_columns: ClassVar[bool] = False  # in a table, one numeric column per feature (else one array column per sample)
    column_names: ClassVar[tuple[str, ...]] = ("x",)  # a table's sample column, searched in this order when none is named
    flow_lr_scale: ClassVar[float] = 0.25  # a flow's learning-rate factor: dense couplings overfit small tables fast
    # sampling defaults of the autoregressive family (pixelcnn) on this modality: class guidance costs num_classes
    # passes per element, which a pixel-by-pixel image cannot afford
    autoregressive_defaults: ClassVar[dict[str, Any]] = {"guidance": 0.0, "temperature": 1.0}
    generic_families: ClassVar[bool] = True  # families that declare no modalities (dense blocks over real values) model it
    string_samples: ClassVar[bool] = False  # a user-space sample is one Python str (text), not an array

    def __repr__(self) -> str:
        return f"<modality {self.name!r}>"

    # ------------------------------------------------------------------ layouts
    def claim(self, shape: tuple[int, ...]) -> str | None:
        """The layout of an undeclared batch of ``shape`` (N, ...) if it can only be this modality, else None."""
        return self.infer_layout(shape) if self.guessed and len(shape) == 2 else None

    def infer_layout(self, shape: tuple[int, ...]) -> str:
        """The layout of a batch of ``shape`` (N, ...) declared as this modality; ValueError if none fits."""
        if len(shape) != 2:
            raise ValueError(f"x: {self.name} data needs shape (N, D); got shape {tuple(shape)}")
        return self.layouts[0]

    def check_shape(self, shape: tuple[int, ...]) -> None:
        """Refuse a canonical per-sample ``shape`` that is not one of this modality's."""
        if len(shape) != 1 or shape[0] <= 0:
            raise ValueError(f"shape: {self.name} data needs one positive dimension (D,), got {shape}")

    def check_layout(self, layout: str, shape: tuple[int, ...]) -> None:
        if layout not in self.layouts:
            raise ValueError(f"layout: {self.name} data takes one of {self.layouts}, got {layout!r}")

    def canonical_shape(self, user_shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
        """Per-sample shape in model space of samples of ``user_shape`` in ``layout``."""
        return tuple(user_shape)

    def user_shape(self, shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
        """Per-sample shape in ``layout`` of canonical samples of ``shape``."""
        return tuple(shape)

    def to_canonical(self, x: torch.Tensor, layout: str) -> torch.Tensor:
        """A batch (N, *layout shape) -> (N, *canonical shape)."""
        return x

    def from_canonical(self, x: torch.Tensor, layout: str) -> torch.Tensor:
        """A batch (N, *canonical shape) -> (N, *layout shape)."""
        return x

    def sample_layouts(self, channels_last: bool) -> tuple[str, ...]:
        """The layouts one pipeline sample may be in, preferred first: numpy arrays and PIL images are
        read ``channels_last``, torch tensors channels first (as albumentations and torchvision use them)."""
        return (self.layouts[0],)

    # ------------------------------------------------------------------ values
    def default_values(self, x: np.ndarray, lo: float, hi: float, integral: bool) -> dict[str, Any]:
        """The value space of data ``x`` when the user declared none: ``{"scaling": ..., "levels": ..., ...}``.

        Default: standardized per feature (tables).
        """
        return {"scaling": "standard"}

    def values_to_model(self, spec: DataSpec, x: Any) -> torch.Tensor:
        """User values -> model space, for a spec whose scaling is ``"tokens"`` (values the modality maps itself)."""
        raise NotImplementedError(f"{self.name} data has no token values")

    def values_to_user(self, spec: DataSpec, z: torch.Tensor) -> Any:
        """Inverse of `values_to_model`."""
        raise NotImplementedError(f"{self.name} data has no token values")

    def units(self, spec: DataSpec, z: torch.Tensor) -> torch.Tensor:
        """How many units a likelihood is reported per, for each model-space sample: float64 (N,).

        Default: the sample's dimensions (bits/dim); text counts each string's symbols (bits per character).
        """
        return torch.full((len(z),), float(spec.dim), dtype=torch.float64)

    def describe_values(self, spec: DataSpec) -> str:
        """The value space in words, for a ``"tokens"`` spec (`DataSpec.value_space`)."""
        raise NotImplementedError(f"{self.name} data has no token values")

    def takes_shape(self, model_shape: tuple[int, ...], shape: tuple[int, ...]) -> bool:
        """Whether a model of samples of ``model_shape`` fits data of this modality of ``shape`` (default: the same shape)."""
        return tuple(model_shape) == tuple(shape)

    # ------------------------------------------------------------------ injection (SamplePool's bank)
    def bank_dtype(self, spec: DataSpec) -> np.dtype:
        """The numpy dtype a `SamplePool` stores user-space samples in (default: the data's own dtype)."""
        return np.dtype(spec.dtype)

    def samples_to_numpy(self, spec: DataSpec, samples: Any) -> np.ndarray:
        """What ``model.sample`` (or a pool's sampler) returned -> a numpy batch of `bank_dtype` (N, *user shape)."""
        return torch.as_tensor(samples).cpu().numpy()

    def numpy_to_samples(self, spec: DataSpec, array: np.ndarray) -> Any:
        """A numpy batch of the bank -> user-space samples as ``model.sample`` returns them (default: a tensor)."""
        return torch.from_numpy(array)

    # ------------------------------------------------------------------ network blocks
    def encoder(self, shape: tuple[int, ...], out_dim: int, *, channels: int, hidden: int, depth: int, cond_dim: int) -> nn.Module:
        """(N, *shape) samples + (N, cond_dim) condition -> (N, out_dim)."""
        return conv.CondMLP(math.prod(shape), (out_dim,), cond_dim=cond_dim, hidden=hidden, depth=depth)

    def decoder(self, in_dim: int, shape: tuple[int, ...], *, channels: int, hidden: int, depth: int, cond_dim: int) -> nn.Module:
        """(N, in_dim) codes + (N, cond_dim) condition -> (N, *shape) samples."""
        return conv.CondMLP(in_dim, shape, cond_dim=cond_dim, hidden=hidden, depth=depth)

    def generator(self, in_dim: int, shape: tuple[int, ...], *, channels: int, hidden: int, depth: int, cond_dim: int) -> nn.Module:
        """A GAN generator: (N, in_dim) noise + (N, cond_dim) condition -> (N, *shape), unbounded."""
        return self.decoder(in_dim, shape, channels=channels, hidden=hidden, depth=depth, cond_dim=cond_dim)

    def critic(self, shape: tuple[int, ...], *, channels: int, hidden: int, depth: int) -> tuple[nn.Sequential, int]:
        """A discriminator's feature extractor (N, *shape) -> (N, F), and F (every layer may be spectrally normalized)."""
        return conv.mlp_critic(math.prod(shape), hidden=hidden, depth=depth)

    def denoiser(self, shape: tuple[int, ...], *, channels: int, levels: int, blocks: int, hidden: int, depth: int, dropout: float) -> nn.Module:
        """A diffusion denoiser ``(x_t, t, cond (N, net.cond_dim)) -> (N, *shape)``."""
        return unet.DenoiserMLP(math.prod(shape), hidden=hidden, depth=depth, dropout=dropout)

    def autoregressive(self, shape: tuple[int, ...], n_params: int, *, cond_dim: int, options: dict[str, Any]) -> nn.Module:
        """An autoregressive net: ``forward(x, cond) -> (N, *shape, n_params)``, ``sample(cond, shape, draw)``.

        ``options`` holds the family's architecture fields (channels, layers, kernel_size, position, head,
        hidden, depth, dropout); each modality uses those that apply to it.
        """
        return ar.MADE(math.prod(shape), n_params, cond_dim=cond_dim, hidden=options["hidden"], depth=options["depth"], dropout=options["dropout"])

    def flow_shapes(self, shape: tuple[int, ...], scales: int) -> list[tuple[bool, tuple[int, ...]]]:
        """A flow's resolutions: per scale, (squeeze before it, sample shape inside it). Dense data: one scale."""
        return [(False, tuple(shape))]

    def flow_squeeze(self) -> flow.FlowLayer:
        return flow.Squeeze()

    def coupling_mask(self, shape: tuple[int, ...], step: int) -> torch.Tensor:
        """The mask of the ``step``-th coupling at a resolution of ``shape`` (1 = passes unchanged)."""
        return flow.split_mask(math.prod(shape), step % 2).reshape(shape)

    def coupling_net(self, shape: tuple[int, ...], *, channels: int, hidden: int, cond_dim: int, dropout: float) -> nn.Module:
        return flow.coupling_net(shape, hidden, cond_dim, dropout)

    def diff_augment(self, x: torch.Tensor, op: str, generator: torch.Generator | None, options: dict[str, float]) -> torch.Tensor:
        """One differentiable augmentation ``op`` (of `diff_augment_ops`) drawn per sample from ``generator``."""
        if op == "noise":
            from genaug.utils.random import randn

            return x + options.get("noise", 0.1) * randn(x.shape, generator, x.device, x.dtype)
        raise ValueError(f"augment: unknown DiffAugment op {op!r} for {self.name} data; expected among {self.diff_augment_ops}")

    # ------------------------------------------------------------------ pictures
    def save_samples(self, spec: DataSpec, z: torch.Tensor, path: str | os.PathLike, *, nrow: int = 8) -> None:
        """Draw model-space samples ``z`` (N, *spec.shape) into one PNG for people.

        Default: each sample a row of grey cells, one per dimension, -3..3 (z-scores) black..white.
        """
        from genaug.utils.pictures import save_image_grid

        cells = (z.detach().cpu().float().reshape(len(z), 1, 1, -1) / 3.0).clamp(-1.0, 1.0)
        save_image_grid((cells + 1.0) / 2.0, path, nrow=nrow, upscale=8)

    def save_pairs(self, spec: DataSpec, left: torch.Tensor, right: torch.Tensor, path: str | os.PathLike, *, per_row: int = 4) -> None:
        """Draw pairs (left[i], right[i]) side by side, ``per_row`` pairs per row, into one PNG."""
        self.save_samples(spec, torch.stack([left, right], dim=1).reshape(-1, *spec.shape), path, nrow=2 * per_row)

    # ------------------------------------------------------------------ classifiers
    def feature_body(self, shape: tuple[int, ...], *, width: int, dim: int) -> nn.Module:
        """The body of the feature-space classifier: (N, *shape) model-space samples -> (N, dim) features."""
        return Standardized(math.prod(shape), nn.Sequential(nn.Linear(math.prod(shape), max(width, 2 * dim)), nn.SiLU(), nn.Linear(max(width, 2 * dim), dim), nn.SiLU()))

    def classifier_input(self, spec: DataSpec, x_user: torch.Tensor) -> torch.Tensor:
        """User-space samples -> a downstream classifier's float32 inputs (default: model space)."""
        return spec.to_model(x_user)

    def classifier_range(self, spec: DataSpec) -> tuple[float, float] | None:
        """Where the data's value range lands in `classifier_input` (None: nowhere fixed, e.g. standardized tables)."""
        if spec.scaling == "range":
            return (-1.0, 1.0)
        if spec.scaling == "grid":  # the lowest and highest levels sit at bin centres
            return (-1.0 + 1.0 / spec.levels, 1.0 - 1.0 / spec.levels)
        return None

    def classifier_to_user(self, spec: DataSpec, x: torch.Tensor) -> torch.Tensor:
        """Inverse of `classifier_input` (a classic chain's outputs back to the user's space)."""
        return spec.to_user(x)

    def classifiers(self) -> tuple[str, ...]:
        """Names of the built-in downstream classifiers for this modality."""
        return ("mlp", "logreg")

    def classifier(self, name: str, shape: tuple[int, ...], classes: int, **args: Any) -> nn.Module:
        """The built-in downstream classifier ``name`` (logits (N, classes)); ValueError for another name."""
        if name == "mlp":
            return _mlp(shape, classes, **args)
        if name == "logreg":
            if args:
                raise ValueError(f"downstream.model_args: 'logreg' takes no arguments, got {sorted(args)}")
            return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(shape), classes))
        raise ValueError(f"downstream.model: {name!r} is not a classifier of {self.name} data; expected one of {list(self.classifiers())} or 'package.module:factory'")

    def linear_features(self, spec: DataSpec, z: torch.Tensor) -> Any:
        """Features a linear classifier reads (class agreement): (N, F) numpy or scipy sparse; default model space, flat."""
        return z.reshape(len(z), -1).detach().cpu().numpy()

    def classic_defaults(self) -> list[dict[str, dict[str, Any]]]:
        """A recipe's classic chain when it names none (empty: no classic arm by default)."""
        return []


class Standardized(nn.Module):
    """Flattens, standardizes with statistics set from the training data (``mean``/``std`` buffers), then ``body``."""

    def __init__(self, dim: int, body: nn.Module) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        self.layers = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers((x.flatten(1) - self.mean) / self.std)


def _mlp(in_shape: tuple[int, ...], classes: int, hidden: int = 128, depth: int = 2) -> nn.Module:
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(in_shape)
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    return nn.Sequential(*layers, nn.Linear(width, classes))
