"""Named conditions: what a generator is conditioned on besides noise, declared in the `DataSpec`.

Every data set has the categorical condition ``"label"`` (its classes, one class when unlabelled),
stored as the spec's ``class_names``. Further conditions are declared in ``DataSpec.conditions`` by
name, each of a registered kind:

- ``categorical``: one of ``names`` per sample (int64 indices in model space);
- ``array``: a float array of ``shape`` per sample (e.g. a prefix), already in model space (the
  data source maps it there);
- ``image``: an image per sample (``channels``, at ``1/scale`` of the sample's size, any height and
  width), in model space: the low-resolution, gray or other-domain input of an image-to-image model.

A new kind is one new `ConditionKind` subclass registered with `register_condition_kind`.

Example:
    >>> kind = get_condition_kind("categorical")
    >>> kind.batch({"kind": "categorical", "names": ["a", "b"]}, ["b", "a", "b"], "style").tolist()
    [1, 0, 1]
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

__all__ = ["ConditionKind", "condition_kinds", "get_condition_kind", "register_condition_kind"]

_KINDS: dict[str, ConditionKind] = {}


def register_condition_kind(cls: type[ConditionKind]) -> type[ConditionKind]:
    """Class decorator: make a `ConditionKind` available under ``cls.name``."""
    _KINDS[cls.name] = cls()
    return cls


def condition_kinds() -> list[str]:
    return list(_KINDS)


def get_condition_kind(name: str) -> ConditionKind:
    if name not in _KINDS:
        raise ValueError(f"conditions: unknown condition kind {name!r}; expected one of {condition_kinds()}")
    return _KINDS[name]


class ConditionKind:
    """How one kind of condition is declared, validated and batched (see the module docstring)."""

    name: ClassVar[str] = ""

    def check(self, declared: dict[str, Any], what: str) -> None:
        """Refuse a declaration (the dict in ``DataSpec.conditions``) that this kind cannot use."""

    def batch(self, declared: dict[str, Any], values: Any, what: str) -> torch.Tensor:
        """Per-sample values (user's form) -> a model-space tensor (N, ...); ValueError naming ``what``."""
        raise NotImplementedError


@register_condition_kind
class Categorical(ConditionKind):
    """One of ``declared["names"]`` per sample; values are class indices or names."""

    name = "categorical"

    def check(self, declared, what):
        names = declared.get("names")
        if not isinstance(names, (list, tuple)) or not names or len(set(map(str, names))) != len(names):
            raise ValueError(f"{what}: a categorical condition needs a non-empty list of unique 'names', got {names!r}")

    def batch(self, declared, values, what):
        names = [str(n) for n in declared["names"]]
        array = np.asarray(values.cpu() if isinstance(values, torch.Tensor) else values)
        if array.ndim != 1:
            raise ValueError(f"{what}: expected one value per sample (N,), got shape {array.shape}")
        if array.dtype.kind in "USO":
            unknown = sorted({str(v) for v in array} - set(names))
            if unknown:
                raise ValueError(f"{what}: values {unknown[:5]} are not among {names}")
            return torch.tensor([names.index(str(v)) for v in array], dtype=torch.long)
        if array.dtype.kind not in "iub" or (len(array) and (array.min() < 0 or array.max() >= len(names))):
            raise ValueError(f"{what}: expected indices in 0..{len(names) - 1} or names among {names}, got {array[:5].tolist()}")
        return torch.as_tensor(array, dtype=torch.long)


@register_condition_kind
class ArrayCondition(ConditionKind):
    """A finite float array of ``declared["shape"]`` per sample, in model space."""

    name = "array"

    def check(self, declared, what):
        shape = declared.get("shape")
        if not isinstance(shape, (list, tuple)) or not all(isinstance(s, int) and s > 0 for s in shape):
            raise ValueError(f"{what}: an array condition needs a 'shape' of positive integers, got {shape!r}")

    def batch(self, declared, values, what):
        tensor = torch.as_tensor(np.asarray(values.cpu() if isinstance(values, torch.Tensor) else values), dtype=torch.float32)
        if tuple(tensor.shape[1:]) != tuple(declared["shape"]):
            raise ValueError(f"{what}: expected per-sample shape {tuple(declared['shape'])}, got {tuple(tensor.shape[1:])}")
        if not torch.isfinite(tensor).all():
            raise ValueError(f"{what}: contains NaN or infinite values")
        return tensor


@register_condition_kind
class ImageCondition(ConditionKind):
    """An image per sample, of ``declared["channels"]`` channels at ``1 / declared["scale"]`` of the
    sample's height and width (a low-resolution version: scale 2 or 4; a gray version or another
    domain: scale 1), in model space. Any height and width: image-to-image models are fully
    convolutional (see `genaug.data.pairs`).
    """

    name = "image"

    def check(self, declared, what):
        channels, scale = declared.get("channels"), declared.get("scale", 1)
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"{what}: an image condition needs 'channels', a positive integer, got {channels!r}")
        if not isinstance(scale, int) or scale < 1:
            raise ValueError(f"{what}: an image condition's 'scale' must be a positive integer, got {scale!r}")

    def batch(self, declared, values, what):
        tensor = values if isinstance(values, torch.Tensor) else torch.as_tensor(np.asarray(values))
        tensor = tensor.detach().to(torch.float32)
        channels = declared["channels"]
        if tensor.ndim != 4 or tensor.shape[1] != channels:
            raise ValueError(f"{what}: expected images (N, {channels}, H, W) in model space, got shape {tuple(tensor.shape)}")
        if not torch.isfinite(tensor).all():
            raise ValueError(f"{what}: contains NaN or infinite values")
        return tensor
