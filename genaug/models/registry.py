"""Family registry: names -> `Generator` classes, `create` and `load`.

Example:
    >>> import genaug
    >>> "vae" in genaug.families()
    True
"""

from __future__ import annotations

import os
from typing import Any

import torch

from genaug.data.spec import DataSpec
from genaug.models.base import FAMILIES, Generator, load_folder

__all__ = ["create", "families", "get_family", "load", "register"]


def register(cls: type[Generator]) -> type[Generator]:
    """Class decorator: make a `Generator` subclass available under ``cls.family``."""
    if not cls.family:
        raise TypeError(f"{cls.__name__}: set the class attribute 'family' before registering")
    if cls.family in FAMILIES and FAMILIES[cls.family] is not cls:
        raise ValueError(f"family {cls.family!r} is already registered by {FAMILIES[cls.family].__name__}")
    FAMILIES[cls.family] = cls
    return cls


def families() -> list[str]:
    """Names of every registered family, sorted."""
    return sorted(FAMILIES)


def get_family(name: str) -> type[Generator]:
    """The `Generator` class registered as ``name``."""
    if name not in FAMILIES:
        raise ValueError(f"family: unknown family {name!r}; expected one of {families()}")
    return FAMILIES[name]


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
    ``Generator.from_pretrained`` does the same and also takes a Hugging Face Hub repository id.
    """
    return load_folder(directory, device=device)
