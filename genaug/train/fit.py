"""`fit`: the one-call entry point that builds a generator and trains it with the `Trainer`."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch

from genaug.data.arrayset import ArraySet
from genaug.data.sources import load_source
from genaug.models.base import Generator
from genaug.models.registry import create, get_family
from genaug.train.config import TrainConfig
from genaug.train.trainer import Trainer

__all__ = ["fit", "resolve_train_config"]

logger = logging.getLogger(__name__)


def resolve_train_config(family: str, overrides: TrainConfig | dict[str, Any] | None = None, **fields: Any) -> TrainConfig:
    """Trainer defaults, then the family's ``train_defaults``, then ``overrides``, then ``fields``."""
    if isinstance(overrides, TrainConfig):
        overrides = overrides.model_dump(exclude_unset=True)
    merged = {**get_family(family).train_defaults, **(overrides or {}), **{k: v for k, v in fields.items() if v is not None}}
    return TrainConfig(**merged)


def fit(
    data: ArraySet | str | os.PathLike,
    family: str | None = None,
    *,
    out: str | os.PathLike | None = None,
    steps: int | None = None,
    seed: int | None = None,
    resume: bool = False,
    train: TrainConfig | dict[str, Any] | None = None,
    **config: Any,
) -> Generator:
    """Fit a ``family`` generator on ``data`` and return it (saved into ``out`` when given).

    Args:
        data: an `ArraySet` or a source string for `load_source` (``"digits"``, a path, ...).
        family: a registered family name (see `genaug.families()`); default ``"vae"``, or the
            resumed run's family.
        out: run folder for the model, checkpoints, sample grids and metrics.
        steps, seed: shortcuts for the same `TrainConfig` fields.
        resume: continue the run in ``out`` from its newest checkpoint, with the family and config
            it was started with.
        train: other `TrainConfig` fields (a dict or a `TrainConfig`).
        **config: the family's config fields (e.g. ``latent_dim=8``).

    Example:
        >>> import genaug
        >>> model = genaug.fit("digits", "gmm", n_components=2, steps=10)
        >>> model.family, model.config.n_components
        ('gmm', 2)
    """
    data = data if isinstance(data, ArraySet) else load_source(data)
    spec = data.spec
    logger.info(
        "data: %d %s samples of shape %s, %d classes; values: %s (declare them with levels= / value_range=, "
        "or --levels / --value-range, if that is not what they are)",
        len(data), spec.modality, spec.user_shape(), spec.num_classes, spec.value_space(),
    )
    if resume:
        family, config = _stored_setup(out, family, config)
    family = family or "vae"
    train_config = resolve_train_config(family, train, steps=steps, seed=seed)
    torch.manual_seed(train_config.seed)  # weight initialisation happens in the constructor
    model = create(family, data.spec, **config)
    return Trainer(model, data, train_config, out=out).fit(resume=resume)


def _stored_setup(out: str | os.PathLike | None, family: str | None, config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Family and config of the run being resumed (from ``out/run.json``)."""
    if out is None:
        raise ValueError("resume: needs out=, the folder of the run to continue")
    path = Path(out) / "run.json"
    if not path.is_file():
        raise FileNotFoundError(f"resume: {path} not found; {out} holds no run to continue")
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        stored_family, stored_config = stored["family"], stored["config"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: corrupt run file ({err})") from None
    if family is not None and family != stored_family:
        raise ValueError(f"family: the run in {out} is a {stored_family!r} run; cannot resume it as {family!r}")
    if config:
        config_class = get_family(stored_family).config_class
        asked, kept = config_class(**config).model_dump(), config_class(**stored_config).model_dump()
        changed = {k: v for k, v in asked.items() if kept[k] != v}
        if changed:
            raise ValueError(f"config: a resumed run keeps its config; {changed} differs from the run's {kept}")
    return stored_family, stored_config
