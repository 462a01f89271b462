"""`fit`: the one-call entry point that builds a generator and trains it with the `Trainer`."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import torch

from genaug.data.arrayset import ArraySet
from genaug.data.sources import load_source
from genaug.data.spec import DataSpec
from genaug.models.base import Generator
from genaug.models.registry import create, get_family
from genaug.train.config import TrainConfig
from genaug.train.trainer import Trainer
from genaug.utils.io import read_json

__all__ = ["fit", "resolve_train_config"]

logger = logging.getLogger(__name__)


def resolve_train_config(
    family: str,
    overrides: TrainConfig | dict[str, Any] | None = None,
    *,
    n_records: int | None = None,
    spec: DataSpec | None = None,
    **fields: Any,
) -> TrainConfig:
    """Trainer defaults, then the family's ``train_defaults`` (for data of ``spec``), then ``overrides``, then ``fields``.

    With ``n_records`` (the size of the data to fit), a step budget nobody asked for is sized to the
    data: the family's default ``steps`` (set for a few thousand records) rise to ``min_epochs``
    passes over ``n_records`` at the configured batch size, so a fit on 50,000 records is not starved.
    Steps set in ``overrides`` or ``fields`` are kept as given; a small data set keeps the default
    budget, and early stopping (``patience``) ends the fit when held-out loss stops improving. With
    ``eval_epochs`` set (by the family or the caller) and ``eval_every`` not asked for, validations
    come at least every ``eval_epochs`` passes over the records, so a fit on 20 strings is checked
    every few steps instead of after it has memorized them.

    Example:
        >>> resolve_train_config("vae", n_records=200).steps, resolve_train_config("vae", n_records=50_000).steps
        (2000, 7813)
    """
    if isinstance(overrides, TrainConfig):
        overrides = overrides.model_dump(exclude_unset=True)
    asked = {**(overrides or {}), **{k: v for k, v in fields.items() if v is not None}}
    config = TrainConfig(**{**get_family(family).train_defaults_for(spec), **asked})
    if n_records is not None and "steps" not in asked:
        steps = _sized_steps(config, n_records)
        if steps > config.steps:
            logger.info(
                "steps: %d, not the %s default of %d: %g passes over %d records at batch size %d (min_epochs)",
                steps, family, config.steps, config.min_epochs, n_records, config.batch_size * config.grad_accum,
            )
            config = config.model_copy(update={"steps": steps})
    if n_records is not None and config.eval_epochs is not None and "eval_every" not in asked:
        every = _sized_eval_every(config, n_records)
        if every < config.eval_every:
            logger.info("eval_every: %d steps, not %d: %g passes over %d records (eval_epochs)", every, config.eval_every, config.eval_epochs, n_records)
            config = config.model_copy(update={"eval_every": every})
    return config


def _sized_eval_every(config: TrainConfig, n_records: int) -> int:
    """Steps in ``config.eval_epochs`` passes over the records left for training after the validation split."""
    train = max(1, round(n_records * (1 - config.val_fraction)))
    per_step = min(config.batch_size * config.grad_accum, train) if config.batch_size else train
    return max(1, math.ceil(config.eval_epochs * train / per_step))


def _sized_steps(config: TrainConfig, n_records: int) -> int:
    """Updates for ``config.min_epochs`` passes over ``n_records`` (one pass per step when batch_size is 0)."""
    per_step = config.batch_size * config.grad_accum if config.batch_size else max(n_records, 1)
    return math.ceil(config.min_epochs * n_records / per_step)


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
    hint = "" if spec.scaling == "tokens" else (
        " (declare them with levels= / value_range=, or --levels / --value-range, if that is not what they are)"
    )
    logger.info(
        "data: %d %s samples of shape %s, %d classes; values: %s%s",
        len(data), spec.modality, spec.user_shape(), spec.num_classes, spec.value_space(), hint,
    )
    if resume:
        family, config = _stored_setup(out, family, config)
    family = family or "vae"
    train_config = resolve_train_config(family, train, n_records=len(data), spec=data.spec, steps=steps, seed=seed)
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
    stored = read_json(path, what="run file")
    try:
        stored_family, stored_config = stored["family"], stored["config"]
    except (KeyError, TypeError) as err:
        raise ValueError(f"{path}: corrupt run file ({err})") from None
    if family is not None and family != stored_family:
        raise ValueError(f"family: the run in {out} is a {stored_family!r} run; cannot resume it as {family!r}")
    if isinstance(stored_config, dict):  # a run started before a field existed resumes with the value it had then
        stored_config = get_family(stored_family).config_class.saved_defaults(dict(stored_config))
    if config:
        config_class = get_family(stored_family).config_class
        # only the fields given now are compared: the stored config holds what the fit resolved (gmm's
        # reg_covar="auto" is stored as the value it chose), and defaults may have moved since
        asked, kept = config_class(**config).model_dump(exclude_unset=True), config_class(**stored_config).model_dump()
        changed = {k: v for k, v in asked.items() if kept[k] != v}
        if changed:
            raise ValueError(f"config: a resumed run keeps its config; {changed} differs from the run's {kept}")
    return stored_family, stored_config
