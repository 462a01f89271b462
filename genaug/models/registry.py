"""Family registry: names -> `Generator` classes, `create` and `load`.

Example:
    >>> import genaug
    >>> "vae" in genaug.families()
    True
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file

from genaug.data.spec import DataSpec
from genaug.models.base import FORMAT_VERSION, Generator

__all__ = ["create", "families", "get_family", "load", "register"]

_FAMILIES: dict[str, type[Generator]] = {}


def register(cls: type[Generator]) -> type[Generator]:
    """Class decorator: make a `Generator` subclass available under ``cls.family``."""
    if not cls.family:
        raise TypeError(f"{cls.__name__}: set the class attribute 'family' before registering")
    if cls.family in _FAMILIES and _FAMILIES[cls.family] is not cls:
        raise ValueError(f"family {cls.family!r} is already registered by {_FAMILIES[cls.family].__name__}")
    _FAMILIES[cls.family] = cls
    return cls


def families() -> list[str]:
    """Names of every registered family, sorted."""
    return sorted(_FAMILIES)


def get_family(name: str) -> type[Generator]:
    """The `Generator` class registered as ``name``."""
    if name not in _FAMILIES:
        raise ValueError(f"family: unknown family {name!r}; expected one of {families()}")
    return _FAMILIES[name]


def create(name: str, spec: DataSpec, **config: Any) -> Generator:
    """Build an untrained generator of family ``name`` for data described by ``spec``.

    Keyword arguments are the family's config fields; an unknown or ill-typed one raises a
    ``ValueError`` (pydantic's ``ValidationError``) that names it.

    Example:
        >>> import genaug
        >>> spec = genaug.load_source("digits").spec
        >>> genaug.create("gmm", spec, n_components=2).family
        'gmm'
    """
    cls = get_family(name)
    return cls(spec, cls.config_class(**config))


def load(directory: str | os.PathLike, *, device: str | torch.device | None = None) -> Generator:
    """Load a generator saved by ``save_pretrained`` (``config.json`` + ``model.safetensors``).

    Nothing is unpickled. A missing, corrupt or mismatched file raises an error that names it.
    """
    directory = Path(directory)
    config_path, weights_path = directory / "config.json", directory / "model.safetensors"
    if not config_path.is_file():
        raise FileNotFoundError(f"{directory}: no config.json here; not a genaug model folder")
    if not weights_path.is_file():
        raise FileNotFoundError(f"{directory}: no model.safetensors here; the model was not saved completely")
    try:
        meta = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{config_path}: corrupt config file, not valid JSON ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != "genaug":
        raise ValueError(f"{config_path}: not a genaug config (expected \"format\": \"genaug\")")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{config_path}: format_version {meta.get('format_version')!r} is not supported (expected {FORMAT_VERSION})")
    cls = get_family(meta.get("family"))
    try:
        spec = DataSpec.model_validate(meta.get("spec"))
        config = cls.config_class.model_validate(meta.get("config"))
    except ValidationError as err:
        raise ValueError(f"{config_path}: invalid spec or config: {err}") from None
    model = cls(spec, config)
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{weights_path}: corrupt weights file ({err})") from None
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
