"""The `Generator` contract every family implements, and its folder format.

A family is a `Generator` subclass with a typed `GeneratorConfig`, registered by name
(`genaug.models.registry.register`). The rest of genaug only talks to this contract:

- generation: ``sample_model(labels, generator)`` (family) behind ``sample(n, labels)`` (here),
  which returns samples in the user's space (dtype, layout and range of the training data);
- likelihood: ``log_prob(z, labels)`` over model space where ``has_likelihood`` (a bound where
  ``likelihood_is_bound``); ``encode``/``decode`` where ``has_encoder``;
- training: ``init_from_data`` (data-dependent init), ``optimizer_groups`` (what to optimize, any
  number of groups), ``training_step`` (one update of one group, or a closed-form update when the
  family has no optimizer, as EM), ``validation_step`` (the held-out loss for early stopping),
  ``should_stop`` (a family's own convergence test) and ``train_defaults`` (its budget);
- persistence: ``save_pretrained(dir)`` writes ``config.json`` + ``model.safetensors`` atomically;
  `genaug.load` reads them back without unpickling anything.

Conditioning is a class label today. Samples, labels and any future condition travel as keyword
arguments, so image-to-image or sequence families can add theirs without a new contract.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict
from safetensors.torch import save_file
from torch import nn

from genaug.data.spec import DataSpec
from genaug.utils.io import atomic_path, atomic_write_json

__all__ = ["FORMAT_VERSION", "Generator", "GeneratorConfig", "OptimizerGroup", "randn", "rand"]

FORMAT_VERSION = 1
LabelsLike = int | str | Sequence[int | str] | torch.Tensor | np.ndarray | None


class GeneratorConfig(BaseModel):
    """Base of every family's config: typed, JSON round-trip, unknown keys refused by name."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class OptimizerGroup:
    """A set of parameters the Trainer optimizes together, with one optimizer.

    ``training_step`` is called once per group and per step with ``group=name``.
    """

    name: str
    params: list[nn.Parameter]
    lr_scale: float = 1.0  # multiplies the Trainer's learning rate
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _on_device(draw, shape, generator, device, dtype):
    """Draw on the generator's device, then move: the same seed gives the same noise on CPU and GPU."""
    gen_device = generator.device if generator is not None else device
    return draw(shape, generator=generator, device=gen_device, dtype=dtype).to(device)


def randn(shape, generator: torch.Generator | None, device, dtype=torch.float32) -> torch.Tensor:
    """Standard normal noise of ``shape`` on ``device`` from ``generator`` (which may live elsewhere)."""
    return _on_device(torch.randn, shape, generator, device, dtype)


def rand(shape, generator: torch.Generator | None, device, dtype=torch.float32) -> torch.Tensor:
    """Uniform [0, 1) noise of ``shape`` on ``device`` from ``generator``."""
    return _on_device(torch.rand, shape, generator, device, dtype)


class Generator(nn.Module):
    """A class-conditional generative model of one data set (see the module docstring).

    Subclasses set ``family`` and ``config_class`` and implement ``sample_model`` and
    ``training_step``; the rest is optional and announced by the capability attributes.
    """

    family: ClassVar[str] = ""
    config_class: ClassVar[type[GeneratorConfig]] = GeneratorConfig
    has_likelihood: ClassVar[bool] = False  # log_prob is offered
    likelihood_is_bound: ClassVar[bool] = False  # log_prob is a lower bound (ELBO), not exact
    has_encoder: ClassVar[bool] = False  # encode / decode are offered
    train_defaults: ClassVar[dict[str, Any]] = {}  # TrainConfig fields this family needs changed

    def __init__(self, spec: DataSpec, config: GeneratorConfig | None = None) -> None:
        super().__init__()
        if not isinstance(spec, DataSpec):
            raise TypeError(f"spec: expected a DataSpec, got {type(spec).__name__}")
        config = config if config is not None else self.config_class()
        if not isinstance(config, self.config_class):
            raise TypeError(f"config: expected {self.config_class.__name__}, got {type(config).__name__}")
        self.spec = spec
        self.config = config
        counts = torch.tensor(spec.class_counts or [1] * spec.num_classes, dtype=torch.float32)
        self.register_buffer("class_prior", counts / counts.sum(), persistent=False)

    # ------------------------------------------------------------------ generation
    @property
    def device(self) -> torch.device:
        for tensor in [*self.parameters(), *self.buffers()]:
            return tensor.device
        return torch.device("cpu")

    def sample_model(self, labels: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw one sample per label, in model space: (N, *spec.shape) float."""
        raise NotImplementedError(f"{type(self).__name__} must implement sample_model")

    @torch.no_grad()
    def sample(
        self,
        n: int,
        labels: LabelsLike = None,
        *,
        generator: torch.Generator | None = None,
        batch_size: int = 4096,
    ) -> torch.Tensor:
        """Draw ``n`` samples in the user's space (dtype, range and layout of the training data).

        Args:
            n: number of samples.
            labels: one class for all (index or name), one per sample (a sequence, tensor or array),
                or ``None``: classes drawn in the training proportions.
            generator: a ``torch.Generator``; the same seed gives the same samples.
            batch_size: samples per forward pass.

        Example:
            >>> import genaug, torch
            >>> model = genaug.fit("digits", "gmm", steps=5)
            >>> x = model.sample(16, labels=3, generator=torch.Generator().manual_seed(0))
            >>> x.shape, x.dtype
            (torch.Size([16, 8, 8]), torch.float64)
        """
        labels = self.resolve_labels(n, labels, generator=generator)
        was_training = self.training
        self.eval()
        try:
            parts = [self.sample_model(chunk, generator=generator) for chunk in labels.split(batch_size)]
        finally:
            self.train(was_training)
        return self.spec.to_user(torch.cat(parts) if parts else torch.zeros((0, *self.spec.shape)))

    def resolve_labels(self, n: int, labels: LabelsLike, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Turn any accepted ``labels`` argument into a LongTensor of ``n`` class indices."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n: expected a non-negative integer, got {n!r}")
        n = int(n)
        if labels is None:
            prior = self.class_prior.detach().cpu()
            if n == 0:
                return torch.zeros(0, dtype=torch.long, device=self.device)
            draw = torch.multinomial(prior, n, replacement=True, generator=generator if generator is not None and generator.device.type == "cpu" else None)
            return draw.to(self.device)
        if isinstance(labels, (int, np.integer, str)):
            return torch.full((n,), self.spec.class_index(labels), dtype=torch.long, device=self.device)
        if isinstance(labels, torch.Tensor):
            labels = labels.detach().cpu().tolist()
        labels = list(np.asarray(labels).tolist()) if isinstance(labels, np.ndarray) else list(labels)
        if len(labels) != n:
            raise ValueError(f"labels: expected {n} labels (one per sample), got {len(labels)}")
        index = [self.spec.class_index(label) for label in labels]
        return torch.tensor(index, dtype=torch.long, device=self.device)

    def check_input(self, z: torch.Tensor, labels: torch.Tensor | None, name: str = "x") -> torch.Tensor | None:
        """Validate a model-space batch and its labels; returns labels on the model's device."""
        if not isinstance(z, torch.Tensor) or tuple(z.shape[1:]) != self.spec.shape:
            got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"{name}: expected a model-space tensor of shape (N, {', '.join(map(str, self.spec.shape))}), got {got}")
        if not torch.isfinite(z).all():
            raise ValueError(f"{name}: contains NaN or infinite values")
        if labels is None:
            return None
        labels = torch.as_tensor(labels, device=z.device)
        if labels.shape != (z.shape[0],) or labels.dtype.is_floating_point:
            raise ValueError(f"labels: expected ({z.shape[0]},) integer class indices, got shape {tuple(labels.shape)} dtype {labels.dtype}")
        if len(labels) and (labels.min() < 0 or labels.max() >= self.spec.num_classes):
            raise ValueError(f"labels: class indices must lie in 0..{self.spec.num_classes - 1}, got {labels.min().item()}..{labels.max().item()}")
        return labels.long()

    # ------------------------------------------------------------------ likelihood and latents
    def log_prob(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """log density of model-space samples ``z``, per sample: (N,).

        With ``labels`` it is ``log p(z | label)``, without ``log p(z)`` (classes marginalised by the
        training prior). Add ``spec.log_det_to_data()`` for a density over the data's own units.
        """
        raise NotImplementedError(f"the {self.family!r} family has no tractable likelihood (has_likelihood is False)")

    def marginal_over_classes(self, conditional: Callable[[torch.Tensor], torch.Tensor], n: int, device: torch.device) -> torch.Tensor:
        """``log p(z) = logsumexp_c log p(c) + log p(z | c)`` from ``conditional(labels) -> (n,)``.

        For families whose ``log_prob`` is conditional at heart: each class is scored on all ``n``
        samples, then mixed with the training prior.
        """
        per_class = torch.stack(
            [conditional(torch.full((n,), c, dtype=torch.long, device=device)) for c in range(self.spec.num_classes)], dim=1
        )  # (n, classes)
        return torch.logsumexp(per_class + self.class_prior.log().to(device), dim=1)

    def labels_or_most_frequent(self, labels: torch.Tensor | None, n: int, device: torch.device) -> torch.Tensor:
        """``labels`` on ``device``, or the most frequent training class for all ``n`` samples when None.

        Where a family needs a condition and the caller gave none (``encode``/``decode``).
        """
        if labels is not None:
            return labels.to(device).long()
        return torch.full((n,), int(self.class_prior.argmax()), dtype=torch.long, device=device)

    def encode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Map model-space samples to the latent space."""
        raise NotImplementedError(f"the {self.family!r} family has no encoder (has_encoder is False)")

    def decode(self, latent: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Map latents back to model space."""
        raise NotImplementedError(f"the {self.family!r} family has no decoder (has_encoder is False)")

    # ------------------------------------------------------------------ training hooks
    def init_from_data(self, x: torch.Tensor, labels: torch.Tensor, *, generator: torch.Generator) -> None:
        """Data-dependent initialisation, called once with the whole training set before step 0."""

    def optimizer_groups(self) -> list[OptimizerGroup]:
        """What the Trainer optimizes. Default: every trainable parameter in one group ``"main"``.

        An empty list means the family updates itself in ``training_step`` (closed form, as EM).
        """
        params = [p for p in self.parameters() if p.requires_grad]
        return [OptimizerGroup("main", params)] if params else []

    def training_step(
        self, x: torch.Tensor, labels: torch.Tensor, *, step: int, group: str | None, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        """One training step on a model-space batch. Returns named scalars.

        With an optimizer group, ``"loss"`` is what the Trainer back-propagates for that group;
        without one (``group is None``) the family updates itself and the dict is only logged.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement training_step")

    def forward(self, x: torch.Tensor, labels: torch.Tensor, **kwargs: Any) -> dict[str, torch.Tensor]:
        # The Trainer calls the (possibly DDP-wrapped) module, so gradient sync hooks run.
        return self.training_step(x, labels, **kwargs)

    @torch.no_grad()
    def validation_step(self, x: torch.Tensor, labels: torch.Tensor, *, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Held-out metrics; ``"loss"`` drives early stopping. Default: mean negative log-likelihood."""
        if not self.has_likelihood:
            return {}
        return {"loss": -self.log_prob(self.spec.dequantize(x, generator), labels).mean()}

    def should_stop(self) -> bool:
        """True once the family has converged by its own test (EM tolerance); the Trainer stops."""
        return False

    # ------------------------------------------------------------------ persistence
    def config_dict(self) -> dict[str, Any]:
        """What ``config.json`` holds: enough to rebuild the module before loading weights."""
        from genaug import __version__

        return {
            "format": "genaug",
            "format_version": FORMAT_VERSION,
            "genaug_version": __version__,
            "family": self.family,
            "spec": self.spec.model_dump(mode="json"),
            "config": self.config.model_dump(mode="json"),
        }

    def fingerprint(self) -> str:
        """A short hash of config and weights: tells two models apart in provenance records."""
        described = {k: v for k, v in self.config_dict().items() if k != "genaug_version"}
        digest = hashlib.sha256(json.dumps(described, sort_keys=True).encode())
        for name, tensor in sorted(self.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """Write ``config.json`` and ``model.safetensors`` into ``directory`` (each atomically)."""
        os.makedirs(directory, exist_ok=True)
        tensors = {name: t.detach().cpu().clone().contiguous() for name, t in self.state_dict().items()}
        with atomic_path(os.path.join(directory, "model.safetensors")) as tmp:
            save_file(tensors, str(tmp), metadata={"format": "pt", "family": self.family})
        atomic_write_json(os.path.join(directory, "config.json"), self.config_dict())

    def extra_repr(self) -> str:
        return f"family={self.family!r}, shape={self.spec.shape}, classes={self.spec.num_classes}"
