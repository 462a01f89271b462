"""`ArraySet`: a data set held in memory in model space, with its named conditions and its `DataSpec`.

Every source ends in `from_arrays`, which validates at the edge: empty data, NaN/inf, ragged shapes,
non-integer or out-of-range labels raise a `ValueError` that names the problem.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from genaug.data.conditions import get_condition_kind
from genaug.data.spec import DataSpec, Layout, Modality

__all__ = ["MAX_CLASSES", "ArraySet", "as_numpy", "from_arrays", "validate_labels"]

MAX_CLASSES = 100_000  # integer labels without class names: classes 0..max(y); a larger max is an id, not a class


@dataclass(frozen=True)
class ArraySet:
    """Samples in model space (float32, canonical layout), their conditions, and their spec.

    Every sample has the categorical condition ``"label"`` (``y``); the spec may declare more, whose
    per-sample values ``cond`` holds by name (model space). `tensors` gives them all as one dict,
    the form the Trainer's batches take.

    Example:
        >>> from genaug.data import load_source
        >>> ds = load_source("digits")
        >>> ds.x.shape, ds.y.shape, ds.spec.levels
        (torch.Size([1797, 1, 8, 8]), torch.Size([1797]), 17)
    """

    x: torch.Tensor  # (N, *spec.shape) float32, model space
    y: torch.Tensor  # (N,) int64 class indices: the "label" condition
    spec: DataSpec
    cond: Mapping[str, torch.Tensor] = field(default_factory=dict)  # the spec's other conditions, (N, ...) each

    def __post_init__(self) -> None:
        assert self.x.shape[1:] == self.spec.shape and self.x.shape[0] == self.y.shape[0]
        assert set(self.cond) == set(self.spec.conditions) and all(len(v) == len(self.y) for v in self.cond.values())

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def conditions(self) -> dict[str, torch.Tensor]:
        """Every named condition per sample: ``{"label": y, **cond}``."""
        return {"label": self.y, **self.cond}

    def tensors(self) -> dict[str, torch.Tensor]:
        """The samples and their conditions as one dict, ``{"x": x, "label": y, **cond}`` (a Trainer batch)."""
        return {"x": self.x, **self.conditions}

    def subset(self, index: torch.Tensor | np.ndarray | Sequence[int]) -> ArraySet:
        """The rows ``index`` (the spec, class counts included, is kept: it describes the source)."""
        index = torch.as_tensor(np.asarray(index), dtype=torch.long)
        return ArraySet(self.x[index], self.y[index], self.spec, {k: v[index] for k, v in self.cond.items()})

    def split(self, fraction: float, seed: int = 0) -> tuple[ArraySet, ArraySet]:
        """Stratified split into (rest, held_out) with about ``fraction`` of each class held out.

        Classes with a single sample stay in ``rest``.
        """
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"fraction: expected a number in (0, 1), got {fraction!r}")
        rng = np.random.default_rng(seed)
        labels = self.y.numpy()
        held: list[np.ndarray] = []
        for c in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == c))
            k = min(int(round(fraction * len(members))), len(members) - 1)
            held.append(members[:k])
        held_idx = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
        rest_idx = np.setdiff1d(np.arange(len(self)), held_idx)
        return self.subset(rest_idx), self.subset(held_idx)

    def user_x(self) -> torch.Tensor:
        """The samples in the user's space (dtype, range and layout of the source)."""
        return self.spec.to_user(self.x)

    def train_test_split(self, test_size: float, seed: int = 0) -> tuple[ArraySet, ArraySet]:
        """Stratified (train, test) split, identical to scikit-learn's ``train_test_split(..., stratify=y)``.

        Example:
            >>> from genaug.data import load_source
            >>> train, test = load_source("digits").train_test_split(0.5, seed=0)
            >>> len(train), len(test)
            (898, 899)
        """
        from sklearn.model_selection import train_test_split

        if not 0.0 < test_size < 1.0:
            raise ValueError(f"test_size: expected a fraction in (0, 1), got {test_size!r}")
        try:
            train, test = train_test_split(np.arange(len(self)), test_size=test_size, stratify=self.y.numpy(), random_state=seed)
        except ValueError as err:  # too few samples of a class to put one on each side
            raise ValueError(f"test_size: cannot split {len(self)} samples stratified by class with test_size={test_size} ({err})") from None
        return self.subset(np.sort(train)), self.subset(np.sort(test))

    def conform(self, spec: DataSpec) -> ArraySet:
        """The same samples expressed in another ``spec`` (a model's): its classes, scaling and layout.

        Evaluating a model on data loaded separately needs this: the data's own spec was inferred
        from the data alone (its value range, class list and order may differ). Classes are matched
        by name; grid data must lie on the model's grid.
        """
        if spec == self.spec:
            return self
        tokens = spec.scaling == "tokens" or self.spec.scaling == "tokens"  # strings: re-encoded, of any length
        if spec.modality != self.spec.modality or (not tokens and spec.shape != self.spec.shape):
            raise ValueError(
                f"data: {self.spec.modality} samples of shape {self.spec.shape} do not fit a model of "
                f"{spec.modality} samples of shape {spec.shape}"
            )
        labels = _conform_classes(self, spec)
        if tokens:
            values = spec.to_model(self.user_x())
        else:
            canonical = self.spec.canonical(self.user_x()).to(torch.float64)  # (N, *shape) user values
            if spec.scaling == "grid":
                lo, hi = spec.value_range
                steps = (canonical - lo) / (hi - lo) * (spec.levels - 1)
                if canonical.min() < lo or canonical.max() > hi or not torch.allclose(steps, steps.round(), atol=1e-6):
                    raise ValueError(
                        f"data: values in [{canonical.min().item():g}, {canonical.max().item():g}] are not on the model's grid of "
                        f"{spec.levels} levels over {list(spec.value_range)}"
                    )
            values = spec.to_model(spec.user_layout(canonical))
        if spec.conditions != self.spec.conditions:
            raise ValueError(f"data: its conditions {self.spec.conditions} differ from the model's {spec.conditions}")
        return ArraySet(values, labels, spec, dict(self.cond))


def _conform_classes(data: ArraySet, spec: DataSpec) -> torch.Tensor:
    """``data``'s labels as indices of ``spec``'s classes (matched by name); ValueError for a class the spec lacks."""
    present = set(np.unique(data.y.numpy()).tolist())
    unknown = [name for i, name in enumerate(data.spec.class_names) if name not in spec.class_names and i in present]
    if unknown:
        raise ValueError(f"data: classes {unknown[:5]} are unknown to the model, whose classes are {list(spec.class_names)}")
    lookup = torch.tensor([spec.class_names.index(n) if n in spec.class_names else -1 for n in data.spec.class_names])
    return lookup[data.y]


def validate_labels(
    y: np.ndarray | torch.Tensor | Sequence, n: int, class_names: Sequence[str] | None = None
) -> tuple[np.ndarray, list[str]]:
    """Check labels and return them as int64 class indices, with the class names.

    Integer labels must lie in ``0..len(class_names)-1`` (or be >= 0 when no names are given:
    the classes are then ``0..max(y)``). String labels are mapped to ``class_names`` (sorted unique
    names when none are given).
    """
    try:
        y = np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y)
    except (ValueError, TypeError) as err:  # ragged, or bytes and str mixed
        raise ValueError(f"y: expected one integer or string label per sample ({err})") from None
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"y: expected one label per sample, shape ({n},), got shape {y.shape}")
    if y.dtype.kind in "USO":
        names = list(class_names) if class_names is not None else sorted({str(v) for v in y})
        lookup = {name: i for i, name in enumerate(names)}
        unknown = sorted({str(v) for v in y} - lookup.keys())
        if unknown:
            raise ValueError(f"y: labels {unknown[:5]} are not among the class names {names}")
        return np.array([lookup[str(v)] for v in y], dtype=np.int64), names
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(np.mod(y, 1) == 0):
            bad = y[~(np.isfinite(y) & (np.mod(np.nan_to_num(y), 1) == 0))][:5]
            raise ValueError(f"y: labels must be integers, got non-integer values such as {bad.tolist()}")
    elif y.dtype.kind not in "iub":
        raise ValueError(f"y: labels must be integers or strings, got dtype {y.dtype}")
    if len(y) and y.dtype.kind != "b" and (y.min() < 0 or y.max() > np.iinfo(np.int64).max // 2):
        raise ValueError(f"y: labels must be >= 0 class indices, got values from {y.min()} to {y.max()}")
    y = y.astype(np.int64)
    if class_names is None and len(y) and int(y.max()) >= MAX_CLASSES:
        raise ValueError(
            f"y: label {int(y.max())} would make {int(y.max()) + 1} classes (0..max); number the classes 0..K-1 "
            f"(at most {MAX_CLASSES}) or pass class_names"
        )
    names = list(class_names) if class_names is not None else [str(i) for i in range(int(y.max()) + 1 if len(y) else 1)]
    if len(y) and y.max() >= len(names):
        raise ValueError(f"y: label {int(y.max())} is out of range for {len(names)} classes {names}")
    return y, names


def as_numpy(x: Any, name: str = "x") -> np.ndarray:
    """A batch given as a tensor, an array or nested lists, as a numpy array; ValueError if ragged."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except ValueError as err:  # numpy refuses ragged nested sequences
        raise ValueError(f"{name}: samples have ragged or mixed shapes ({err})") from None


def from_arrays(
    x: np.ndarray | torch.Tensor | Sequence,
    y: np.ndarray | torch.Tensor | Sequence | None = None,
    *,
    class_names: Sequence[str] | None = None,
    modality: Modality | None = None,
    layout: Layout | None = None,
    levels: int | None | Literal["auto"] = "auto",
    value_range: tuple[float, float] | None = None,
    feature_names: Sequence[str] | None = None,
    conditions: Mapping[str, Any] | None = None,
) -> ArraySet:
    """Build a validated `ArraySet` from arrays in the user's space.

    Args:
        x: ``(N, D)`` vectors, ``(N, H, W)`` grayscale images, ``(N, C, H, W)`` or ``(N, H, W, C)``
            images, in any real dtype; with ``modality="sequence"``, ``(N, T)``, ``(N, C, T)`` or
            ``(N, T, C)`` sequences.
        y: ``(N,)`` integer class indices or string class names; ``None`` for unlabelled data (one class).
        class_names: names of the classes, in index order.
        modality, layout, levels, value_range: override what `DataSpec.infer` would guess.
        feature_names: column names of vector data.
        conditions: further named conditions, one value per sample each: strings or integers
            (a categorical condition over the sorted unique values) or float arrays (an ``array``
            condition of their per-sample shape, taken as model space).

    Example:
        >>> import numpy as np
        >>> ds = from_arrays(np.random.rand(20, 4), np.arange(20) % 2)
        >>> ds.spec.modality, ds.spec.num_classes
        ('vector', 2)
    """
    x = as_numpy(x)
    if x.ndim == 1 and (x.dtype.kind in "US" or (x.dtype == object and len(x) and all(isinstance(v, str) for v in x))):
        raise ValueError("x: strings are text data; build it with genaug.from_texts(texts, labels) (genaug.data.text)")
    if x.dtype == object:
        raise ValueError("x: samples have ragged or mixed shapes; every sample must have the same shape")
    if x.ndim == 0 or x.size == 0:
        raise ValueError(f"x: empty data set (shape {x.shape}); at least one sample of at least one value is needed")
    if x.dtype.kind not in "iuf":
        raise ValueError(f"x: expected real numbers, got dtype {x.dtype}")
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        bad = np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))
        raise ValueError(f"x: contains NaN or infinite values in {len(bad)} samples (first at index {int(bad[0])})")
    labels, names = validate_labels(np.zeros(len(x), dtype=np.int64) if y is None else y, len(x), class_names)
    if feature_names is not None and (x.ndim != 2 or len(feature_names) != x.shape[1]):
        raise ValueError(f"feature_names: expected {x.shape[1] if x.ndim == 2 else 'no'} names for x of shape {x.shape}")
    counts = np.bincount(labels, minlength=len(names)).tolist()
    declared, values = _declare_conditions(conditions or {}, len(x))
    spec = DataSpec.infer(
        x,
        names,
        class_counts=counts,
        modality=modality,
        layout=layout,
        levels=levels,
        value_range=value_range,
        feature_names=list(feature_names) if feature_names is not None else None,
        conditions=declared,
    )
    return ArraySet(spec.to_model(x), torch.from_numpy(labels), spec, values)


def _declare_conditions(conditions: Mapping[str, Any], n: int) -> tuple[dict[str, dict[str, Any]], dict[str, torch.Tensor]]:
    """Declarations and model-space values of user-given named conditions (see `from_arrays`)."""
    declared, values = {}, {}
    for name, given in conditions.items():
        if name in ("label", "x"):
            raise ValueError(f"conditions: {name!r} is reserved (the labels are y=); name the condition otherwise")
        array = as_numpy(given, f"conditions.{name}")
        if len(array) != n:
            raise ValueError(f"conditions.{name}: expected one value per sample ({n}), got {len(array)}")
        if array.dtype.kind in "USOiub" and array.ndim == 1:
            unique = sorted({str(v) for v in array}, key=lambda v: (not v.lstrip("-").isdigit(), int(v) if v.lstrip("-").isdigit() else 0, v))
            declared[name] = {"kind": "categorical", "names": unique}
            array = np.asarray([str(v) for v in array])
        elif array.dtype.kind == "f":
            declared[name] = {"kind": "array", "shape": list(array.shape[1:])}
        else:
            raise ValueError(f"conditions.{name}: expected strings, integers or float arrays, got dtype {array.dtype}")
        kind = get_condition_kind(declared[name]["kind"])
        kind.check(declared[name], f"conditions.{name}")
        values[name] = kind.batch(declared[name], array, f"conditions.{name}")
    return declared, values
