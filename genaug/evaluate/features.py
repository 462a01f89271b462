"""A domain feature space: a small classifier trained on the real data, read at its penultimate layer.

Frechet distance, KID, precision/recall and the other sample metrics need an embedding in which
distances mean something. The usual one, a pretrained Inception, cannot be downloaded here and knows
nothing of 8x8 digits, time series or tabular rows, so genaug trains a small classifier on the real data
(the modality's feature body: a CNN for images, a 1-D CNN for sequences, an MLP for vectors) and uses the ``dim`` activations that feed its class head.

The trained space is cached as a folder ``cache_dir/<key>/`` of ``config.json`` + ``model.safetensors``
(no pickle), ``key`` being a hash of the training data and the settings, so a second evaluation of the
same run loads it instead of training again.

Example:
    >>> import numpy as np
    >>> from genaug.data import from_arrays
    >>> rng = np.random.default_rng(0)
    >>> data = from_arrays(rng.normal(size=(100, 4)) + np.arange(100)[:, None] % 2 * 4, np.arange(100) % 2)
    >>> space = FeatureSpace.fit(data, dim=8, steps=50)
    >>> space.features(data.x).shape, space.val_accuracy
    (torch.Size([100, 8]), 1.0)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from genaug.data.arrayset import ArraySet
from genaug.data.spec import DataSpec
from genaug.modalities import Standardized
from genaug.utils.io import read_json, save_weights

__all__ = ["FeatureConfig", "FeatureSpace"]

logger = logging.getLogger(__name__)

FORMAT = "genaug-feature-space"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class FeatureConfig:
    """Settings of a feature space; together with the training data they make its cache key."""

    dim: int = 64  # features: width of the layer that feeds the class head
    width: int = 32  # channels of the first conv block (doubled per block) / hidden units of the MLP
    steps: int = 400  # AdamW steps (fixed: no early stopping, so the result depends on the seed only)
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    held_out: float = 0.2  # stratified share kept out of training to measure val_accuracy
    seed: int = 0  # weight initialisation, batch order and the held-out split

    def __post_init__(self) -> None:
        for name in ("dim", "width", "steps", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if not self.lr > 0 or self.weight_decay < 0:
            raise ValueError(
                f"lr, weight_decay: expected lr > 0 and weight_decay >= 0, got {self.lr!r}, {self.weight_decay!r}"
            )
        if not 0.0 < self.held_out < 1.0:
            raise ValueError(f"held_out: expected a fraction in (0, 1), got {self.held_out!r}")


class FeatureSpace(nn.Module):
    """A classifier of the real data; its penultimate activations are the features of every sample metric.

    Build one with `FeatureSpace.fit`; ``features`` and ``predict_proba`` take model-space samples
    ``(N, *spec.shape)``.

    Attributes:
        spec: the data spec it was trained on (its shape and classes).
        config: the `FeatureConfig` it was trained with.
        dim: number of features.
        val_accuracy: accuracy on the stratified held-out share of the training data (None when too
            few samples per class to hold any out).
    """

    def __init__(
        self, spec: DataSpec, config: FeatureConfig | None = None, *, val_accuracy: float | None = None
    ) -> None:
        super().__init__()
        self.spec = spec
        self.config = config or FeatureConfig()
        self.val_accuracy = val_accuracy
        self.body: nn.Module = spec.kind.feature_body(spec.shape, width=self.config.width, dim=self.config.dim)
        self.head = nn.Linear(self.config.dim, spec.num_classes)
        # features are centred and divided by one number, both set from the real data given to fit, so
        # that their average per-feature variance is 1: metric values compare across data sets, and
        # KID's polynomial kernel (gamma = 1/dim) sees the unit scale it was designed for
        self.register_buffer("feature_mean", torch.zeros(self.config.dim))
        self.register_buffer("feature_scale", torch.ones(1))

    @property
    def dim(self) -> int:
        return self.config.dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(N, K)`` of model-space samples (training mode is the caller's business)."""
        return self.head(self.body(x))

    # ------------------------------------------------------------------ reading
    def check_input(self, x: torch.Tensor, name: str = "x") -> torch.Tensor:
        """``x`` as float32 on the module's device, after checking it is a batch of the spec's shape."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor of model-space samples, got {type(x).__name__}")
        if x.ndim != len(self.spec.shape) + 1 or tuple(x.shape[1:]) != self.spec.shape:
            raise ValueError(
                f"{name}: expected model-space samples of shape (N, {', '.join(map(str, self.spec.shape))}) "
                f"as the feature space's spec says, got shape {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise TypeError(f"{name}: expected floating-point model-space samples, got dtype {x.dtype}")
        return x.to(device=self.head.weight.device, dtype=torch.float32)

    @torch.no_grad()
    def _batched(self, x: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor], batch_size: int) -> torch.Tensor:
        x = self.check_input(x)
        was_training = self.training
        self.eval()
        try:
            outputs = [fn(chunk) for chunk in x.split(batch_size)]
        finally:
            self.train(was_training)
        return torch.cat(outputs) if outputs else torch.zeros(0, 0)

    def features(self, x: torch.Tensor, *, batch_size: int = 512) -> torch.Tensor:
        """Penultimate activations ``(N, dim)`` of model-space samples ``x`` ``(N, *spec.shape)``.

        Centred and scaled (one factor for all features) so that on the real data the space was fitted
        on they have mean 0 and an average per-feature variance of 1.
        """
        features = self._batched(
            x, lambda chunk: (self.body(chunk) - self.feature_mean) / self.feature_scale, batch_size
        )
        return features.reshape(len(x), self.dim)

    def predict_proba(self, x: torch.Tensor, *, batch_size: int = 512) -> torch.Tensor:
        """Class probabilities ``(N, K)`` of model-space samples ``x`` ``(N, *spec.shape)``."""
        probs = self._batched(x, lambda chunk: self(chunk).softmax(dim=1), batch_size)
        return probs.reshape(len(x), self.spec.num_classes)

    # ------------------------------------------------------------------ training
    @classmethod
    def fit(
        cls,
        data: ArraySet,
        *,
        dim: int = 64,
        steps: int = 400,
        seed: int = 0,
        cache_dir: str | os.PathLike | None = None,
        **settings: Any,
    ) -> FeatureSpace:
        """Train a feature space on ``data``, or load it from ``cache_dir`` if it was trained there before.

        Args:
            data: the real samples and their labels (model space).
            dim: number of features.
            steps: optimizer steps (AdamW).
            seed: seeds initialisation, batches and the held-out split; on CPU the result repeats exactly.
            cache_dir: folder of cached spaces (a run's ``eval`` folder); None trains without caching.
            settings: other `FeatureConfig` fields (``width``, ``batch_size``, ``lr``, ...).

        Returns:
            The trained `FeatureSpace` in eval mode, its ``val_accuracy`` measured on a stratified
            ``held_out`` share that it was not trained on.
        """
        if not isinstance(data, ArraySet):
            raise TypeError(f"data: expected an ArraySet, got {type(data).__name__}")
        if len(data) < 2:
            raise ValueError(f"data: a feature space needs at least 2 samples, got {len(data)}")
        if len(torch.unique(data.y)) < 2:
            warnings.warn(
                "data: a single class gives the classifier nothing to learn; its features stay those of a randomly "
                "initialised network, so feature-space metrics are only a rough guide",
                stacklevel=2,
            )
        try:
            config = FeatureConfig(dim=dim, steps=steps, seed=seed, **settings)
        except TypeError as err:
            raise TypeError(f"settings: {err}; expected fields of FeatureConfig") from None
        if cache_dir is None:
            return _train(data, config)
        entry = Path(cache_dir) / _cache_key(data, config)
        space = _load_cached(entry, data.spec, config)
        if space is None:
            space = _train(data, config)
            space.save_pretrained(entry)
        return space

    # ------------------------------------------------------------------ persistence
    def config_dict(self) -> dict[str, Any]:
        """What ``config.json`` holds: enough to rebuild the module before loading its weights."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "spec": self.spec.model_dump(mode="json"),
            "config": asdict(self.config),
            "val_accuracy": self.val_accuracy,
        }

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """Write ``config.json`` and ``model.safetensors`` into ``directory`` (each atomically, weights first)."""
        tensors = {name: t.detach().cpu().clone().contiguous() for name, t in self.state_dict().items()}
        save_weights(directory, tensors, self.config_dict(), metadata={"format": FORMAT})

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike) -> FeatureSpace:
        """Load a space written by `save_pretrained` (never unpickles); errors name the file at fault."""
        config_path, weights_path = Path(directory) / "config.json", Path(directory) / "model.safetensors"
        try:
            described = read_json(config_path, what="feature space config")
            if not isinstance(described, dict) or described.get("format") != FORMAT:
                raise ValueError(f"format {FORMAT!r} expected")
            space = cls(
                DataSpec.model_validate(described["spec"]),
                FeatureConfig(**described["config"]),
                val_accuracy=described["val_accuracy"],
            )
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{config_path}: not a readable genaug feature space config ({err!r})") from None
        try:
            space.load_state_dict(load_file(str(weights_path)))
        except (OSError, SafetensorError, RuntimeError) as err:
            raise ValueError(f"{weights_path}: unreadable or mismatched weights ({err!r})") from None
        return space.eval()


def _cache_key(data: ArraySet, config: FeatureConfig) -> str:
    """A short hash of the training data (samples, labels, spec) and the settings: the cache folder's name."""
    digest = hashlib.sha256()
    described = {"format_version": FORMAT_VERSION, "spec": data.spec.model_dump(mode="json"), "config": asdict(config)}
    digest.update(json.dumps(described, sort_keys=True).encode())
    for tensor in (data.x, data.y):
        digest.update(str((tuple(tensor.shape), str(tensor.dtype))).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _load_cached(entry: Path, spec: DataSpec, config: FeatureConfig) -> FeatureSpace | None:
    """The cached space in ``entry``, or None when there is none; a damaged entry warns and gives None."""
    if not entry.exists():
        return None
    try:
        space = FeatureSpace.from_pretrained(entry)
        if space.spec != spec or space.config != config:
            raise ValueError(f"{entry / 'config.json'}: describes other data or settings than its key")
    except ValueError as err:  # from_pretrained names the damaged file
        warnings.warn(
            f"feature space cache {entry}: cannot read it ({err}); training again and replacing it", stacklevel=3
        )
        return None
    logger.info("feature space loaded from %s", entry)
    return space


def _train(data: ArraySet, config: FeatureConfig) -> FeatureSpace:
    """Train a `FeatureSpace` on the non-held-out part of ``data`` with AdamW; measure it on the rest."""
    train, held = data.split(config.held_out, seed=config.seed)
    with torch.random.fork_rng(devices=[]):  # seed the weight initialisation without touching global state
        torch.manual_seed(config.seed)
        space = FeatureSpace(data.spec, config)
    if isinstance(space.body, Standardized):  # dense bodies standardize their inputs with the training data's statistics
        flat = train.x.reshape(len(train), -1)
        space.body.mean.copy_(flat.mean(dim=0))
        space.body.std.copy_(flat.std(dim=0, correction=0).clamp_min(1e-6))
    optimizer = torch.optim.AdamW(space.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    space.train()
    for _ in range(config.steps):
        index = torch.randint(len(train), (min(config.batch_size, len(train)),), generator=generator)
        loss = nn.functional.cross_entropy(space(train.x[index]), train.y[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    space.eval()
    raw = space._batched(data.x, space.body, batch_size=512).double()  # (N, dim): all the real data given
    space.feature_mean.copy_(raw.mean(dim=0))
    space.feature_scale.fill_(float(raw.var(dim=0, correction=0).mean().sqrt().clamp_min(1e-12)))
    if len(held):
        predicted = space.predict_proba(held.x).argmax(dim=1)
        space.val_accuracy = float((predicted == held.y).double().mean())
    logger.info("feature space trained: %d steps, held-out accuracy %s", config.steps, space.val_accuracy)
    return space
