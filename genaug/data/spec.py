"""`DataSpec`: what the user's data looks like, and the exact map between it and model space.

Models see float32 tensors in the canonical layout of the data's modality (`genaug.modalities`):
``(N, C, H, W)`` for images, ``(N, C, T)`` for sequences, ``(N, D)`` for vectors, scaled to about
[-1, 1]. A `DataSpec` remembers how to go back, so a synthetic sample looks like a real one: same
dtype, same layout, same range, on the same discrete grid. What depends on the modality (layouts,
the default value space) is asked of ``spec.kind``, the registered `Modality`.

Three scalings:
- ``grid``: values on ``levels`` equally spaced steps from ``value_range[0]`` to ``value_range[1]``
  (digits: 17 levels 0..16; 8-bit images: 256 levels 0..255). Level ``k`` maps to the centre of
  bin ``k`` of [-1, 1] split into ``levels`` bins, so uniform dequantization stays inside [-1, 1).
  At most `MAX_LEVELS` levels: float32 model space tells finer bins apart no longer (integer data
  over a wider span is read as continuous).
- ``range``: continuous values in ``value_range``, mapped linearly onto [-1, 1].
- ``standard``: per-feature standardization (tabular vectors), clipped back to the observed
  per-feature range and rounded to the number of decimals each feature was given with.
- ``tokens``: values the modality maps itself (text: strings <-> token ids of ``tokenizer`` over
  ``vocabulary``; see `genaug.modalities.text`). Likelihoods of token data are exact probabilities:
  nothing is dequantized.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from genaug.data.conditions import get_condition_kind
from genaug.modalities import Modality as ModalityKind
from genaug.modalities import get_modality, modalities

__all__ = ["MAX_LEVELS", "DataSpec", "infer_layout", "numpy_dtype_to_torch"]

MAX_LEVELS = 2**20  # the most grid levels: float32 keeps ~2^-24 of the bin centres' spacing, so user -> model -> user stays exact

Modality = str  # a registered modality's name: "image", "vector", "sequence", ...
Layout = str  # a layout of that modality: "CHW", "HWC", "HW", "D", "CT", "TC", "T", ...


def numpy_dtype_to_torch(dtype: str | np.dtype) -> torch.dtype:
    """The torch dtype that holds numpy ``dtype`` (``"uint8"`` -> ``torch.uint8``)."""
    return torch.from_numpy(np.empty(0, dtype=np.dtype(dtype))).dtype


def infer_layout(shape: tuple[int, ...], modality: Modality | None = None) -> Layout:
    """Guess the per-sample layout of a batch of shape ``(N, ...)``, asking the modalities.

    Undeclared data: ``(N, D)`` is a vector, ``(N, H, W)`` a grayscale image, ``(N, C, H, W)`` or
    ``(N, H, W, C)`` an image with 1, 3 or 4 channels (channels first when both readings fit, as in
    torch). Sequences (and other modalities that cannot be told from a shape) must be declared.
    """
    if modality is not None:
        return get_modality(modality).infer_layout(tuple(shape))
    for name in modalities():
        layout = get_modality(name).claim(tuple(shape))
        if layout is not None:
            return layout
    raise ValueError(
        f"x: expected a batch of vectors (N, D) or images (N, [C,] H, W); got shape {tuple(shape)} "
        "(declare modality='sequence' for time series)"
    )


def modality_of_layout(layout: Layout, modality: Modality | None) -> Modality:
    """The modality a layout belongs to (the declared one when given)."""
    if modality is not None:
        return modality
    for name in modalities():
        if layout in get_modality(name).layouts:
            return name
    raise ValueError(f"layout: {layout!r} is no layout of the modalities {modalities()}")


def _declared_range(value_range: Any, dtype: np.dtype) -> tuple[float, float]:
    """A declared ``value_range`` as (low, high) floats, checked: finite, low < high, within what ``dtype`` holds."""
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):  # not iterable, not two items, not numbers
        raise TypeError(f"value_range: expected (low, high), two real numbers, got {value_range!r:.80}") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"value_range: expected low < high, two finite numbers, got ({low:g}, {high:g})")
    info = np.finfo(dtype) if dtype.kind == "f" else np.iinfo(dtype) if dtype.kind in "iu" else None
    if info is not None and (low < info.min or high > info.max):
        raise ValueError(
            f"value_range: ({low:g}, {high:g}) reaches beyond what {dtype} data holds ({info.min}..{info.max}); "
            "samples there would not fit: cast the data to a wider dtype"
        )
    return low, high


def _decimals(column: np.ndarray, most: int = 7) -> int | None:
    """The fewest decimals (up to ``most``) that every value of ``column`` is written with, else None.

    ``most`` is 7, about what float32 model space carries (breast_cancer has 7-decimal features).
    """
    for d in range(most + 1):
        scaled = column * 10.0**d
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-9 * np.maximum(1.0, np.abs(scaled))):
            return d
    return None


class DataSpec(BaseModel):
    """The shape, classes and value space of a data set, and the map to model space and back.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).integers(0, 17, size=(10, 8, 8)).astype("float64")
        >>> spec = DataSpec.infer(x, class_names=["a"])
        >>> (spec.shape, spec.levels, spec.layout)
        ((1, 8, 8), 17, 'HW')
        >>> bool((spec.to_user(spec.to_model(x)).numpy() == x).all())
        True
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    modality: Modality  # a registered modality (genaug.modalities.modalities())
    shape: tuple[int, ...]  # canonical per-sample shape: (C, H, W), (C, T), (D,), ...
    class_names: tuple[str, ...]
    class_counts: tuple[int, ...] | None = None  # training frequencies, for unlabelled sampling
    dtype: str = "float32"  # numpy dtype name of the user's data
    layout: Layout  # per-sample layout of the user's data
    scaling: Literal["grid", "range", "standard", "tokens"]
    value_range: tuple[float, float] | None = None  # grid / range: lowest and highest value
    levels: int | None = None  # grid: number of values on the grid
    loc: tuple[float, ...] | None = None  # standard: per-feature mean
    scale: tuple[float, ...] | None = None  # standard: per-feature std (> 0)
    feature_min: tuple[float, ...] | None = None  # standard: observed per-feature minimum
    feature_max: tuple[float, ...] | None = None  # standard: observed per-feature maximum
    decimals: tuple[int | None, ...] | None = None  # standard: decimals each feature was given with (None: any)
    feature_names: tuple[str, ...] | None = None  # vectors: column names, e.g. from a table
    tokenizer: Literal["char", "byte"] | None = None  # tokens: how strings become ids
    vocabulary: tuple[str, ...] | None = None  # tokens, char tokenizer: the symbols of ids 1..V-1
    # named conditions besides "label" (whose classes are class_names): {name: {"kind": ..., ...}}, see data/conditions.py
    conditions: dict[str, dict[str, Any]] = {}

    @model_validator(mode="after")
    def _check(self) -> DataSpec:
        kind = get_modality(self.modality)
        kind.check_shape(self.shape)
        kind.check_layout(self.layout, self.shape)
        for name, declared in self.conditions.items():
            if name == "label" or not isinstance(declared, dict):
                raise ValueError(f"conditions.{name}: expected a {{'kind': ...}} declaration under a name other than 'label'")
            get_condition_kind(declared.get("kind", "")).check(declared, f"conditions.{name}")
        if not self.class_names:
            raise ValueError("class_names: at least one class is needed")
        if len(set(self.class_names)) != len(self.class_names):
            raise ValueError(f"class_names: names must be unique, got {self.class_names}")
        if self.class_counts is not None and len(self.class_counts) != len(self.class_names):
            raise ValueError("class_counts: one count per class is needed")
        if self.scaling in ("grid", "range"):
            low, high = self.value_range if self.value_range is not None else (math.nan, math.nan)
            if not (low < high and math.isfinite(high - low)):
                raise ValueError(f"value_range: need finite (low, high) with low < high, got {self.value_range}")
        if self.scaling == "grid" and (self.levels is None or not 2 <= self.levels <= MAX_LEVELS):
            raise ValueError(f"levels: a grid needs 2 to {MAX_LEVELS} levels (finer data: declare it continuous, levels=None), got {self.levels}")
        if self.scaling == "tokens":
            if self.tokenizer is None:
                raise ValueError("tokenizer: token data needs a tokenizer ('char' or 'byte')")
            if self.tokenizer == "char":
                vocab = self.vocabulary
                if not vocab or any(not isinstance(c, str) or len(c) != 1 for c in vocab) or len(set(vocab)) != len(vocab):
                    raise ValueError(f"vocabulary: a char tokenizer needs a non-empty list of distinct single characters, got {vocab!r:.80}")
            elif self.vocabulary is not None:
                raise ValueError("vocabulary: the byte tokenizer has a fixed vocabulary (the 256 byte values); pass none")
        elif self.tokenizer is not None or self.vocabulary is not None:
            raise ValueError(f"tokenizer / vocabulary: only token data has them, not {self.scaling} data")
        if self.scaling == "standard":
            d = math.prod(self.shape)
            for name in ("loc", "scale", "feature_min", "feature_max", "decimals"):
                value = getattr(self, name)
                if value is None or len(value) != d:
                    raise ValueError(f"{name}: standard scaling needs {d} per-feature values, got {value}")
            if any(s <= 0 for s in self.scale):
                raise ValueError("scale: every per-feature scale must be > 0")
        return self

    # ------------------------------------------------------------------ facts
    def value_space(self) -> str:
        """The user's values in words, e.g. ``a grid of 17 levels over [0, 16]`` (what `genaug.fit` logs)."""
        if self.scaling == "grid":
            lo, hi = self.value_range
            return f"a grid of {self.levels} levels over [{lo:g}, {hi:g}]"
        if self.scaling == "range":
            lo, hi = self.value_range
            return f"continuous in [{lo:g}, {hi:g}]"
        if self.scaling == "tokens":
            return self.kind.describe_values(self)
        return f"continuous, standardized per feature ({len(self.loc)} features)"

    @property
    def kind(self) -> ModalityKind:
        """The registered `Modality` of the data: ask it whatever depends on the modality."""
        return get_modality(self.modality)

    @property
    def condition_names(self) -> tuple[str, ...]:
        """Every named condition: ``"label"`` first, then the declared ones."""
        return ("label", *self.conditions)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def dim(self) -> int:
        """Number of scalar dimensions of one sample (the D of bits/dim)."""
        return math.prod(self.shape)

    @property
    def torch_dtype(self) -> torch.dtype:
        return numpy_dtype_to_torch(self.dtype)

    @property
    def bin_width(self) -> float | None:
        """Width of one grid bin in model space, or None for continuous data."""
        return 2.0 / self.levels if self.scaling == "grid" else None

    def user_shape(self) -> tuple[int, ...]:
        """Per-sample shape in the user's layout."""
        return self.kind.user_shape(self.shape, self.layout)

    def class_index(self, label: int | str) -> int:
        """The class index of ``label`` (an index or a class name); ValueError if unknown."""
        if isinstance(label, str) and label in self.class_names:
            return self.class_names.index(label)
        try:
            index = int(label)
        except (TypeError, ValueError):
            index = -1
        if not 0 <= index < self.num_classes or (isinstance(label, float) and label != index):
            raise ValueError(f"labels: unknown class {label!r}; expected 0..{self.num_classes - 1} or one of {list(self.class_names)}")
        return index

    def log_det_to_data(self) -> float:
        """log |d model / d data| summed over one sample's dims.

        Add it to a log density over model space to get a log density over the data's own units:
        grid steps for grid data (so a uniform model scores log2(levels) bits/dim), the user's
        units otherwise.
        """
        if self.scaling == "grid":
            return self.dim * math.log(2.0 / self.levels)
        if self.scaling == "range":
            lo, hi = self.value_range
            return self.dim * math.log(2.0 / (hi - lo))
        if self.scaling == "tokens":
            return 0.0  # log_prob of token data is already a log probability
        return -float(np.log(np.asarray(self.scale, dtype=np.float64)).sum())

    # ------------------------------------------------------------------ maps
    def canonical(self, x: torch.Tensor) -> torch.Tensor:
        """User layout (N, *user_shape) -> canonical layout (N, *shape)."""
        if tuple(x.shape[1:]) != self.user_shape():
            raise ValueError(f"x: expected samples of shape {self.user_shape()} ({self.layout}), got {tuple(x.shape[1:])}")
        return self.kind.to_canonical(x, self.layout)

    def user_layout(self, x: torch.Tensor) -> torch.Tensor:
        """Canonical layout (N, *shape) -> the user's layout (N, *user_shape)."""
        return self.kind.from_canonical(x, self.layout)

    def _per_feature(self, values: tuple[float, ...], like: torch.Tensor) -> torch.Tensor:
        return torch.tensor(values, dtype=like.dtype, device=like.device).reshape(self.shape)

    def to_model(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Map a batch in the user's space and layout to float32 model space (canonical layout).

        Grid data goes to bin centres (values between grid steps are rounded to the nearest step);
        token data (strings) to ids, as the modality encodes them.
        """
        if self.scaling == "tokens":
            return self.kind.values_to_model(self, x)
        x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
        x = self.canonical(x).to(torch.float64)
        if not torch.isfinite(x).all():
            raise ValueError("x: contains NaN or infinite values")
        if self.scaling == "grid":
            lo, hi = self.value_range
            k = torch.round((x - lo) / (hi - lo) * (self.levels - 1)).clamp(0, self.levels - 1)
            z = (k + 0.5) / self.levels * 2.0 - 1.0
        elif self.scaling == "range":
            lo, hi = self.value_range
            z = (x - lo) / (hi - lo) * 2.0 - 1.0
        else:
            z = (x - self._per_feature(self.loc, x)) / self._per_feature(self.scale, x)
        z = z.to(torch.float32)
        if not torch.isfinite(z).all():
            raise ValueError(f"x: values map beyond float32 model space ({self.value_space()}); are they within the declared values?")
        return z

    def to_user(self, z: torch.Tensor) -> torch.Tensor:
        """Map a batch in model space (canonical layout) back to the user's dtype, range and layout.

        Token data come back as the modality's values (text: a list of ``str``).
        """
        if self.scaling == "tokens":
            return self.kind.values_to_user(self, z)
        z = z.detach().to(torch.float64)
        if self.scaling == "grid":
            lo, hi = self.value_range
            k = self.bin_index(z).clamp(0, self.levels - 1)
            x = lo + k * (hi - lo) / (self.levels - 1)
        elif self.scaling == "range":
            lo, hi = self.value_range
            x = ((z + 1.0) / 2.0 * (hi - lo) + lo).clamp(lo, hi)
        else:
            x = z * self._per_feature(self.scale, z) + self._per_feature(self.loc, z)
            x = torch.maximum(x, self._per_feature(self.feature_min, z))
            x = torch.minimum(x, self._per_feature(self.feature_max, z))
            for d in {d for d in self.decimals if d is not None}:
                rounded = torch.tensor([dec == d for dec in self.decimals], device=z.device).reshape(self.shape)
                x = torch.where(rounded, torch.round(x * 10.0**d) / 10.0**d, x)
        if not self.torch_dtype.is_floating_point:
            x = torch.round(x)
        return self.user_layout(x.to(self.torch_dtype))

    def dequantize(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Spread grid data uniformly over its bins (model space); continuous data is returned as is."""
        if self.scaling != "grid":
            return z
        u = torch.rand(z.shape, generator=generator, device=z.device, dtype=z.dtype)
        q = z + (u - 0.5) * self.bin_width
        # float32 rounding can carry a draw next to a bin edge onto it (or onto 1.0): such rare
        # draws stay at the centre, so every value keeps the bin `to_user` reads it from
        return torch.where(self.bin_index(q) == self.bin_index(z), q, z)

    def bin_index(self, z: torch.Tensor) -> torch.Tensor:
        """Unclamped grid bin index of model-space values (float64), as `to_user` and `dequantize` read it."""
        return torch.floor((z.to(torch.float64) + 1.0) / 2.0 * self.levels)

    def to_unit(self, z: torch.Tensor) -> torch.Tensor:
        """Model space -> [0, 1] floats for display."""
        return ((z.float() + 1.0) / 2.0).clamp(0.0, 1.0)

    def save_samples(self, z: torch.Tensor, path: Any, *, nrow: int = 8) -> None:
        """Draw model-space samples for people into one PNG, as the modality draws them."""
        self.kind.save_samples(self, z, path, nrow=nrow)

    # ------------------------------------------------------------------ inference
    @classmethod
    def infer(
        cls,
        x: np.ndarray,
        class_names: list[str] | tuple[str, ...],
        *,
        class_counts: list[int] | None = None,
        modality: Modality | None = None,
        layout: Layout | None = None,
        levels: int | None | Literal["auto"] = "auto",
        value_range: tuple[float, float] | None = None,
        feature_names: list[str] | None = None,
        conditions: dict[str, dict[str, Any]] | None = None,
    ) -> DataSpec:
        """Infer the spec of a finite batch ``x`` of shape ``(N, ...)`` in the user's layout.

        The modality (declared, or guessed from the shape: vectors and images) gives the layout and
        the default value space: images' ``uint8`` data are an 8-bit grid (256 levels, 0..255),
        integer-valued images and sequences a grid from their minimum to their maximum, other floats
        continuous in their range ([0, 1] for images that fit there); vectors are standardized per
        feature. ``levels`` and ``value_range`` override the guess (``levels=None`` forces continuous).
        """
        try:
            return cls._infer(
                np.asarray(x), class_names, class_counts=class_counts, modality=modality, layout=layout, levels=levels,
                value_range=value_range, feature_names=feature_names, conditions=conditions,
            )
        except ValidationError as err:  # a field the inference filled in is refused: the spec's own check says which
            raise ValueError("; ".join(e["msg"].removeprefix("Value error, ") for e in err.errors())) from None

    @classmethod
    def _infer(
        cls,
        x: np.ndarray,
        class_names: list[str] | tuple[str, ...],
        *,
        class_counts: list[int] | None,
        modality: Modality | None,
        layout: Layout | None,
        levels: int | None | Literal["auto"],
        value_range: tuple[float, float] | None,
        feature_names: list[str] | None,
        conditions: dict[str, dict[str, Any]] | None,
    ) -> DataSpec:
        whole = isinstance(levels, numbers.Integral) and not isinstance(levels, bool)
        if not (levels is None or whole or (isinstance(levels, str) and levels == "auto")):
            raise TypeError(f"levels: expected a whole number of grid levels, None (continuous) or 'auto', got {levels!r:.40}")
        if value_range is not None:
            value_range = _declared_range(value_range, x.dtype)
        layout = layout or infer_layout(x.shape, modality)
        modality = modality_of_layout(layout, modality)
        kind = get_modality(modality)
        kind.check_layout(layout, kind.canonical_shape(tuple(x.shape[1:]), layout))
        common = dict(
            modality=modality,
            shape=kind.canonical_shape(tuple(x.shape[1:]), layout),
            class_names=tuple(class_names),
            class_counts=tuple(int(c) for c in class_counts) if class_counts is not None else None,
            dtype=x.dtype.name,
            layout=layout,
            feature_names=tuple(feature_names) if feature_names is not None else None,
            conditions=dict(conditions or {}),
        )
        lo, hi = (float(x.min()), float(x.max())) if value_range is None else (float(value_range[0]), float(value_range[1]))
        integral = np.issubdtype(x.dtype, np.integer) or bool(np.all(np.mod(x, 1) == 0))
        if levels == "auto":
            guess = kind.default_values(x, lo, hi, integral) if value_range is None else None
            if guess is not None and guess["scaling"] != "grid":
                return cls._continuous(x, guess, common)
            if guess is not None:
                levels, (lo, hi) = guess["levels"], guess["value_range"]
            elif integral and hi > lo and kind.default_values(x, lo, hi, integral)["scaling"] == "grid":
                levels = int(round(hi - lo)) + 1  # a declared range over integer data: the integer grid
            else:
                levels = None
            if levels is not None and levels > MAX_LEVELS:  # integers over a span too wide for a grid: continuous
                levels = None
        if levels is not None:
            if hi <= lo:
                hi = lo + levels - 1  # constant data: keep the integer grid
            return cls(scaling="grid", value_range=(lo, hi), levels=int(levels), **common)
        if value_range is not None or kind.default_values(x, lo, hi, integral)["scaling"] != "standard":
            return cls(scaling="range", value_range=(lo, hi if hi > lo else lo + 1.0), **common)
        return cls._continuous(x, {"scaling": "standard"}, common)

    @classmethod
    def _continuous(cls, x: np.ndarray, guess: dict[str, Any], common: dict[str, Any]) -> DataSpec:
        if guess["scaling"] == "range":
            return cls(scaling="range", value_range=tuple(guess["value_range"]), **common)
        flat = x.reshape(len(x), -1).astype(np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            if not np.all(np.isfinite(flat.max(axis=0) - flat.min(axis=0))):
                raise ValueError("x: a feature spans more than float64 holds (about 1.8e308); rescale the data")
            mean, std = flat.mean(axis=0), flat.std(axis=0)
        if not np.all(np.isfinite(std)):  # squares of huge values overflow: the same moments of the data scaled down
            peak = np.abs(flat).max(axis=0)
            mean, std = (flat / peak).mean(axis=0) * peak, (flat / peak).std(axis=0) * peak
        return cls(
            scaling="standard",
            loc=tuple(mean.tolist()),
            scale=tuple(np.where(std > 0, std, 1.0).tolist()),
            feature_min=tuple(flat.min(axis=0).tolist()),
            feature_max=tuple(flat.max(axis=0).tolist()),
            decimals=tuple(_decimals(column) for column in flat.T),
            **common,
        )
