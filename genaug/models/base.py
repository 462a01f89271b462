"""The `Generator` contract every family implements, and its folder format.

A family is a `Generator` subclass with a typed `GeneratorConfig`, registered by name
(`genaug.models.registry.register`). The rest of genaug only talks to this contract:

- conditions: a generator models ``p(x | cond)`` for the named conditions its spec declares
  (``spec.condition_names``: the categorical ``"label"`` always, others per `genaug.data.conditions`).
  Conditions travel as a dict of model-space tensors, ``{"label": (N,) int64, ...}``;
- generation: ``sample_model(cond, generator=)`` (family) behind ``sample(n, labels, cond=)`` (here),
  which returns samples in the user's space (dtype, layout and range of the training data);
- likelihood: ``log_prob(z, cond)`` over model space where ``has_likelihood`` (a bound where
  ``likelihood_is_bound``); ``encode``/``decode`` where ``has_encoder``;
- training: ``init_from_data(data)`` (data-dependent init from the whole training set as a dict),
  ``optimizer_groups`` (what to optimize, any number of groups), ``training_step(batch)`` (one update
  of one group on a dict batch ``{"x": ..., "label": ..., ...}``, or a closed-form update when the
  family has no optimizer, as EM), ``validation_step(batch)`` (the held-out loss for early
  stopping), ``should_stop`` (a family's own convergence test), ``finish_fit(data)`` (estimates made
  once on the final weights, as the VAE's fitted latent prior) and ``train_defaults`` (its budget);
- networks: a family builds on the blocks of the data's modality (``spec.kind``: `genaug.modalities`),
  so it never branches on what the data are;
- persistence: ``save_pretrained(dir)`` writes ``config.json`` + ``model.safetensors`` atomically
  (tensors a family added later are named in ``optional_state``, so older folders still load);
  `genaug.load` / ``Generator.from_pretrained`` read them back without unpickling anything. The
  class is a ``huggingface_hub.ModelHubMixin``: a model folder is a Hub repository (``push_to_hub``,
  ``from_pretrained("user/repo")``).

The public label API (``model.sample(64, labels=3)``, ``model.log_prob(z, labels)``) keeps working:
a tensor where a condition dict is expected is the label.
"""

from __future__ import annotations

import difflib
import hashlib
import inspect
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from huggingface_hub import ModelHubMixin
from pydantic import BaseModel, ConfigDict, ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from genaug.data.conditions import get_condition_kind
from genaug.data.spec import DataSpec
from genaug.utils.io import read_json, save_weights
from genaug.utils.random import rand, randn
from genaug.utils.version import __version__

__all__ = ["FORMAT_VERSION", "Cond", "Generator", "GeneratorConfig", "OptimizerGroup", "rand", "randn"]

FORMAT_VERSION = 1
LabelsLike = int | str | Sequence[int | str] | torch.Tensor | np.ndarray | None
Cond = dict[str, torch.Tensor]  # named conditions in model space, one row per sample
CondLike = Mapping[str, Any] | torch.Tensor | None  # a condition dict, or a tensor of labels
FAMILIES: dict[str, type[Generator]] = {}  # filled by `genaug.models.registry.register`


class GeneratorConfig(BaseModel):
    """Base of every family's config: typed, JSON round-trip, unknown keys refused by name, no inf or NaN."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @classmethod
    def saved_defaults(cls, saved: dict[str, Any]) -> dict[str, Any]:
        """A saved ``config`` dict completed for fields added after it was written (their values then).

        A field whose default for new fits would misdescribe an older model (it was not trained
        that way) sets its old value here when the saved dict lacks it; `load_folder` calls this.
        """
        return saved

    def replaced(self, allowed: Sequence[str], **fields: Any) -> GeneratorConfig:
        """This config with ``fields`` changed, validated; only the ``allowed`` ones may change (e.g. a family's
        sampling fields on a trained model). A bad value is one ValueError naming its field; no fields: this config."""
        if not fields:
            return self
        other = sorted(set(fields) - set(allowed))
        if other:
            raise ValueError(f"fields: only {list(allowed)} can change after training, got {other}")
        try:
            return type(self)(**{**self.model_dump(), **fields})
        except ValidationError as err:
            first = err.errors()[0]
            message = first["msg"].removeprefix("Value error, ")
            if first["loc"]:  # a field's own check; the cross-field ones name their field in the message
                message = f"{'.'.join(map(str, first['loc']))}: {message}, got {first.get('input')!r}"
            raise ValueError(message) from None


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


class Generator(nn.Module, ModelHubMixin, library_name="genaug", tags=["genaug", "data-augmentation"]):
    """A conditional generative model of one data set (see the module docstring).

    Subclasses set ``family`` and ``config_class`` and implement ``sample_model`` and
    ``training_step``; the rest is optional and announced by the capability attributes.
    """

    family: ClassVar[str] = ""
    config_class: ClassVar[type[GeneratorConfig]] = GeneratorConfig
    has_likelihood: ClassVar[bool] = False  # log_prob is offered
    likelihood_is_bound: ClassVar[bool] = False  # log_prob is a lower bound (ELBO), not exact
    has_encoder: ClassVar[bool] = False  # encode / decode are offered
    train_defaults: ClassVar[dict[str, Any]] = {}  # TrainConfig fields this family needs changed
    modalities: ClassVar[tuple[str, ...] | None] = None  # the modalities it models; None: every one
    condition_kinds: ClassVar[tuple[str, ...]] = ("categorical",)  # kinds of further conditions it can embed
    # state entries a folder saved by an earlier genaug may lack; loading keeps their initial values
    optional_state: ClassVar[tuple[str, ...]] = ()

    def __init__(self, spec: DataSpec, config: GeneratorConfig | None = None) -> None:
        super().__init__()
        if not isinstance(spec, DataSpec):
            raise TypeError(f"spec: expected a DataSpec, got {type(spec).__name__}")
        config = config if config is not None else self.config_class()
        if not isinstance(config, self.config_class):
            raise TypeError(f"config: expected {self.config_class.__name__}, got {type(config).__name__}")
        if self.modalities is not None and spec.modality not in self.modalities:
            raise ValueError(f"spec: the {self.family!r} family models {' and '.join(self.modalities)} data, not {spec.modality} data")
        if self.modalities is None and not spec.kind.generic_families:
            takers = sorted(name for name, cls in FAMILIES.items() if cls.modalities and spec.modality in cls.modalities)
            raise ValueError(f"spec: the {self.family!r} family does not model {spec.modality} data; families for it: {takers}")
        refused = {name: d["kind"] for name, d in spec.conditions.items() if d["kind"] not in self.condition_kinds}
        if refused:
            raise ValueError(f"spec: the {self.family!r} family cannot condition on {refused}; it takes {list(self.condition_kinds)} conditions")
        self.spec = spec
        self.config = config
        counts = torch.tensor(spec.class_counts or [1] * spec.num_classes, dtype=torch.float32)
        self.register_buffer("class_prior", counts / counts.sum(), persistent=False)

    @classmethod
    def train_defaults_for(cls, spec: DataSpec | None) -> dict[str, Any]:
        """``train_defaults`` for data of ``spec`` (None: unknown); a family whose budget depends on the data overrides it."""
        return cls.train_defaults

    @classmethod
    def config_defaults_for(cls, spec: DataSpec) -> dict[str, Any]:
        """Config fields whose default (None in the config class) the data of ``spec`` decides, with their values.

        A family that fills such fields in ``__init__`` overrides this and uses it there, so a recipe can key the
        value a fit would get without building the model (`genaug.recipes.runner`).
        """
        return {}

    # ------------------------------------------------------------------ conditions
    def embed_conditions(self, dim: int, *, null_label: bool = False) -> int:
        """Create the condition tables: ``embed`` for the label (one "no class" row more with
        ``null_label``) and one table per further categorical condition, each of width ``dim``.

        `condition_vector` sums them. Returns ``dim`` (the width a net's condition input needs).
        """
        self.embed = nn.Embedding(self.spec.num_classes + int(null_label), dim)
        others = {name: nn.Embedding(len(d["names"]), dim) for name, d in self.spec.conditions.items() if d["kind"] == "categorical"}
        if others:
            self.condition_tables = nn.ModuleDict(others)
        return dim

    def condition_vector(self, cond: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """(N, dim) embedding of the named conditions (see `embed_conditions`)."""
        vector = self.embed(cond["label"])
        for name, table in getattr(self, "condition_tables", {}).items():
            vector = vector + table(cond[name].to(vector.device))
        return vector

    def conditions(self, cond: CondLike, n: int, device: torch.device | None = None) -> Cond:
        """A condition argument as a validated dict of model-space tensors on ``device``.

        A tensor is the labels; a mapping may hold ``"label"`` (None or missing: unknown, the caller
        marginalizes) and each declared condition (required, in the user's form: class names or
        indices, float arrays).
        """
        device = device if device is not None else self.device
        given = {"label": cond} if isinstance(cond, (torch.Tensor, np.ndarray, list, tuple)) else dict(cond or {})
        unknown = sorted(set(given) - set(self.spec.condition_names))
        if unknown:
            raise ValueError(f"cond: unknown conditions {unknown}; this model is conditioned on {list(self.spec.condition_names)}")
        out: Cond = {}
        labels = given.get("label")
        if labels is not None:
            labels = torch.as_tensor(labels.cpu() if isinstance(labels, torch.Tensor) else np.asarray(labels), device=device)
            if labels.shape != (n,) or labels.dtype.is_floating_point or labels.dtype == torch.bool:
                raise ValueError(f"labels: expected ({n},) integer class indices, got shape {tuple(labels.shape)} dtype {labels.dtype}")
            if n and (labels.min() < 0 or labels.max() >= self.spec.num_classes):
                raise ValueError(f"labels: class indices must lie in 0..{self.spec.num_classes - 1}, got {labels.min().item()}..{labels.max().item()}")
            out["label"] = labels.long()
        for name, declared in self.spec.conditions.items():
            if name not in given:
                raise ValueError(f"cond: this model is conditioned on {name!r} ({declared['kind']}); pass cond={{{name!r}: ...}} with {n} values")
            value = get_condition_kind(declared["kind"]).batch(declared, given[name], f"cond.{name}")
            if len(value) != n:
                raise ValueError(f"cond.{name}: expected {n} values (one per sample), got {len(value)}")
            out[name] = value.to(device)
        return out

    def with_label(self, cond: Cond, labels: torch.Tensor) -> Cond:
        """``cond`` with its label replaced (marginalizing over classes)."""
        return {**cond, "label": labels}

    # ------------------------------------------------------------------ generation
    @property
    def device(self) -> torch.device:
        for tensor in [*self.parameters(), *self.buffers()]:
            return tensor.device
        return torch.device("cpu")

    def sample_model(self, cond: Cond, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw one sample per row of the conditions (``cond["label"]`` and the declared ones), in model space: (N, *spec.shape)."""
        raise NotImplementedError(f"{type(self).__name__} must implement sample_model")

    @classmethod
    def sampling_options(cls) -> list[str]:
        """The per-call sampling options of the family: the keyword arguments of its ``sample_model``.

        What `sample` accepts beside ``n``, ``labels`` and ``cond`` (e.g. ``["guidance", "naive"]`` for
        the wavenet); read from the class, so a recipe names them before any model is fitted.
        """
        return sorted(keyword_options(cls.sample_model))

    @classmethod
    def check_sampling_options(cls, options: Mapping[str, Any]) -> None:
        """A TypeError naming every key of ``options`` that is not one of `sampling_options`, and what the family takes."""
        takes = cls.sampling_options()
        unknown = sorted((k for k in options if k not in takes), key=str)
        if unknown:
            close = [match for k in unknown for match in difflib.get_close_matches(str(k), takes, n=1)]
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TypeError(f"{', '.join(map(str, unknown))}: not a sampling option of the {cls.family!r} family{hint}; it takes {takes or 'none'}")

    @torch.no_grad()
    def sample(
        self,
        n: int,
        labels: LabelsLike = None,
        *,
        cond: Mapping[str, Any] | None = None,
        generator: torch.Generator | None = None,
        batch_size: int = 4096,
        **options: Any,
    ) -> torch.Tensor:
        """Draw ``n`` samples in the user's space (dtype, range and layout of the training data).

        Args:
            n: number of samples.
            labels: one class for all (index or name), one per sample (a sequence, tensor or array),
                or ``None``: classes drawn in the training proportions.
            cond: the values of the further conditions the model declares (``spec.conditions``),
                ``n`` per condition, e.g. ``{"style": ["bold"] * n}``.
            generator: a ``torch.Generator``; the same seed gives the same samples.
            batch_size: samples per forward pass.
            **options: sampling options of the family's ``sample_model`` (e.g. ``temperature``, ``top_k``,
                ``top_p``, ``prefix`` for `genaug.models.charlm`); a list of ``n`` values is one per sample.

        Example:
            >>> import genaug, torch
            >>> model = genaug.fit("digits", "gmm", steps=5)
            >>> x = model.sample(16, labels=3, generator=torch.Generator().manual_seed(0))
            >>> x.shape, x.dtype
            (torch.Size([16, 8, 8]), torch.float64)
        """
        conditions = self.conditions({**(cond or {}), "label": self.resolve_labels(n, labels, generator=generator)}, int(n))
        if options:
            self.check_sampling_options(options)

        def batch_options(s: int) -> dict[str, Any]:
            return {k: v[s : s + batch_size] if isinstance(v, (list, tuple)) and len(v) == n else v for k, v in options.items()}

        was_training = self.training
        self.eval()
        try:
            starts = range(0, int(n), batch_size)
            parts = [
                self.sample_model({k: v[s : s + batch_size] for k, v in conditions.items()}, generator=generator, **batch_options(s))
                for s in starts
            ]
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

    def check_input(self, z: torch.Tensor, cond: CondLike = None, name: str = "x") -> Cond:
        """Validate a model-space batch and its conditions; returns the conditions on ``z``'s device.

        The result has ``"label"`` only when labels were given (without them, callers marginalize).
        """
        if not isinstance(z, torch.Tensor) or tuple(z.shape[1:]) != self.spec.shape:
            got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"{name}: expected a model-space tensor of shape (N, {', '.join(map(str, self.spec.shape))}), got {got}")
        if not torch.isfinite(z).all():
            raise ValueError(f"{name}: contains NaN or infinite values")
        return self.conditions(cond, len(z), z.device)

    # ------------------------------------------------------------------ likelihood and latents
    def log_prob(self, z: torch.Tensor, cond: CondLike = None) -> torch.Tensor:
        """log density of model-space samples ``z``, per sample: (N,).

        With the label in ``cond`` (or ``cond`` a tensor of labels) it is ``log p(z | cond)``, without
        ``log p(z | other conditions)`` (classes marginalised by the training prior). Add
        ``spec.log_det_to_data()`` for a density over the data's own units.
        """
        raise NotImplementedError(f"the {self.family!r} family has no tractable likelihood (has_likelihood is False)")

    def marginal_over_classes(self, conditional: Callable[[Cond], torch.Tensor], cond: Cond, n: int, device: torch.device) -> torch.Tensor:
        """``log p(z) = logsumexp_c log p(c) + log p(z | c)`` from ``conditional(cond with label c) -> (n,)``.

        For families whose ``log_prob`` is conditional at heart: each class is scored on all ``n``
        samples, then mixed with the training prior.
        """
        per_class = torch.stack(
            [conditional(self.with_label(cond, torch.full((n,), c, dtype=torch.long, device=device))) for c in range(self.spec.num_classes)], dim=1
        )  # (n, classes)
        return torch.logsumexp(per_class + self.class_prior.log().to(device), dim=1)

    def labels_or_most_frequent(self, cond: Cond | torch.Tensor | None, n: int, device: torch.device) -> Cond:
        """``cond`` on ``device`` with a label, the most frequent training class for all ``n`` samples when it has none.

        Where a family needs a condition and the caller gave none (``encode``/``decode``).
        """
        cond = {"label": cond} if isinstance(cond, torch.Tensor) else dict(cond or {})
        if cond.get("label") is None:
            cond["label"] = torch.full((n,), int(self.class_prior.argmax()), dtype=torch.long, device=device)
        return {k: v.to(device) for k, v in cond.items()}

    def encode(self, z: torch.Tensor, cond: CondLike = None) -> torch.Tensor:
        """Map model-space samples to the latent space."""
        raise NotImplementedError(f"the {self.family!r} family has no encoder (has_encoder is False)")

    def decode(self, latent: torch.Tensor, cond: CondLike = None) -> torch.Tensor:
        """Map latents back to model space."""
        raise NotImplementedError(f"the {self.family!r} family has no decoder (has_encoder is False)")

    # ------------------------------------------------------------------ training hooks
    def init_from_data(self, data: Cond, *, generator: torch.Generator) -> None:
        """Data-dependent initialisation, called once with the whole training set ``{"x": ..., "label": ..., ...}`` before step 0."""

    def finish_fit(self, data: Cond, *, generator: torch.Generator) -> None:
        """Post-fit estimates, called once with the whole training part after the final weights are in place.

        Every process calls it with the same data, on the CPU as ``init_from_data``'s (move what you use to
        ``self.device``), before the model is saved.
        Default: nothing. The VAE fits its latent prior to the training records' posteriors here.
        """

    def with_optional_state(self, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``state`` plus this model's own values of the ``optional_state`` tensors it lacks (a folder or checkpoint saved before them)."""
        own = self.state_dict()
        return {**{k: own[k].detach().clone() for k in self.optional_state if k in own and k not in state}, **state}

    def optimizer_groups(self) -> list[OptimizerGroup]:
        """What the Trainer optimizes. Default: every trainable parameter in one group ``"main"``.

        An empty list means the family updates itself in ``training_step`` (closed form, as EM).
        """
        params = [p for p in self.parameters() if p.requires_grad]
        return [OptimizerGroup("main", params)] if params else []

    def training_step(self, batch: Cond, *, step: int, group: str | None, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """One training step on a dict batch ``{"x": model-space samples, "label": ..., ...}``. Returns named scalars.

        With an optimizer group, ``"loss"`` is what the Trainer back-propagates for that group;
        without one (``group is None``) the family updates itself and the dict is only logged.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement training_step")

    def forward(self, batch: Cond, **kwargs: Any) -> dict[str, torch.Tensor]:
        # The Trainer calls the (possibly DDP-wrapped) module, so gradient sync hooks run.
        return self.training_step(batch, **kwargs)

    @torch.no_grad()
    def validation_step(self, batch: Cond, *, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Held-out metrics; ``"loss"`` drives early stopping. Default: mean negative log-likelihood."""
        if not self.has_likelihood:
            return {}
        x = batch["x"]
        return {"loss": -self.log_prob(self.spec.dequantize(x, generator), _conditions_of(batch)).mean()}

    def should_stop(self) -> bool:
        """True once the family has converged by its own test (EM tolerance); the Trainer stops."""
        return False

    # ------------------------------------------------------------------ persistence
    def config_dict(self) -> dict[str, Any]:
        """What ``config.json`` holds: enough to rebuild the module before loading weights."""
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

    def save_pretrained(self, save_directory: str | os.PathLike, *, push_to_hub: bool = False, repo_id: str | None = None, **hub_kwargs: Any) -> str | None:
        """Write ``config.json`` and ``model.safetensors`` into ``save_directory`` (each atomically, weights first).

        With ``push_to_hub=True`` the folder is then uploaded as the Hub repository ``repo_id``
        (default: the folder's name) by ``huggingface_hub``; ``hub_kwargs`` go to ``push_to_hub``.
        """
        self._save_pretrained(Path(save_directory))
        if push_to_hub:
            return self.push_to_hub(repo_id=repo_id or Path(save_directory).name, **hub_kwargs)
        return None

    def _save_pretrained(self, save_directory: Path) -> None:
        """`huggingface_hub.ModelHubMixin`'s hook: the folder format (``push_to_hub`` calls it too)."""
        tensors = {name: t.detach().cpu().clone().contiguous() for name, t in self.state_dict().items()}
        save_weights(save_directory, tensors, self.config_dict(), metadata={"format": "pt", "family": self.family})

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None = None,
        cache_dir: str | Path | None = None,
        force_download: bool = False,
        local_files_only: bool = False,
        token: str | bool | None = None,
        device: str | torch.device | None = None,
        **_: Any,
    ) -> Generator:
        """`huggingface_hub.ModelHubMixin`'s hook behind ``from_pretrained``: a local folder, or a Hub repository id."""
        folder = Path(model_id)
        if not folder.is_dir():
            from huggingface_hub import snapshot_download

            folder = Path(
                snapshot_download(
                    repo_id=model_id, revision=revision, cache_dir=cache_dir, force_download=force_download,
                    local_files_only=local_files_only, token=token, allow_patterns=["config.json", "model.safetensors"],
                )
            )
        model = load_folder(folder, device=device)
        if cls is not Generator and not isinstance(model, cls):
            raise ValueError(f"{model_id}: holds a {model.family!r} model, not a {cls.family or cls.__name__!r} one")
        return model

    def extra_repr(self) -> str:
        return f"family={self.family!r}, {self.spec.modality} shape={self.spec.shape}, classes={self.spec.num_classes}"


def _conditions_of(batch: Mapping[str, torch.Tensor]) -> Cond:
    """The conditions of a Trainer batch (everything but ``"x"``)."""
    return {k: v for k, v in batch.items() if k != "x"}


def load_folder(directory: str | os.PathLike, *, device: str | torch.device | None = None) -> Generator:
    """Load a generator saved by ``save_pretrained`` (``config.json`` + ``model.safetensors``).

    Nothing is unpickled. A missing, corrupt or mismatched file raises an error that names it.
    """
    directory = Path(directory)
    config_path, weights_path = directory / "config.json", directory / "model.safetensors"
    if not config_path.is_file():
        raise FileNotFoundError(f"{directory}: no config.json here; not a genaug model folder")
    if not weights_path.is_file():
        raise FileNotFoundError(f"{directory}: no model.safetensors here; the model was not saved completely")
    meta = read_json(config_path, what="config file")
    if not isinstance(meta, dict) or meta.get("format") != "genaug":
        raise ValueError(f"{config_path}: not a genaug config (expected \"format\": \"genaug\")")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{config_path}: format_version {meta.get('format_version')!r} is not supported (expected {FORMAT_VERSION})")
    family = meta.get("family")
    if family not in FAMILIES:
        raise ValueError(f"family: unknown family {family!r}; expected one of {sorted(FAMILIES)}")
    cls = FAMILIES[family]
    try:
        spec = DataSpec.model_validate(meta.get("spec"))
        saved = meta.get("config")
        config = cls.config_class.model_validate(cls.config_class.saved_defaults(dict(saved)) if isinstance(saved, dict) else saved)
    except (ValidationError, ValueError) as err:
        raise ValueError(f"{config_path}: invalid spec or config: {err}") from None
    model = cls(spec, config)
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{weights_path}: corrupt weights file ({err})") from None
    state = model.with_optional_state(state)
    expected = model.state_dict()
    missing, unexpected = expected.keys() - state.keys(), state.keys() - expected.keys()
    wrong = [k for k in expected.keys() & state.keys() if expected[k].shape != state[k].shape]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{weights_path}: weights do not match the {cls.family!r} config "
            f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}, wrong shape {wrong[:5]})"
        )
    model.load_state_dict(state)
    model.eval()
    return model.to(device) if device is not None else model


def keyword_options(function: Callable[..., Any]) -> list[str]:
    """The named keyword parameters of a ``sample_model``/``predict`` beside ``cond`` and ``generator``."""
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    params = inspect.signature(function).parameters.values()
    return [p.name for p in params if p.kind in kinds and p.name not in ("self", "cond", "generator")]
