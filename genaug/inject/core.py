"""What every injector shares: sample forms, label leaves, balancing and jitter.

An injector meets samples in the form its pipeline gives them: a torch tensor or
``tv_tensors.Image`` (CHW or HW), a PIL image, a numpy array (HWC or HW, as albumentations uses),
a row of numbers. The model makes samples in the user's space of its training data (`DataSpec`:
dtype, range, layout). `Form` describes one pipeline sample; `to_form` and `from_form` convert
between the two, so a synthetic sample looks like the real one it replaces (type, dtype, shape),
and a real one can be encoded (`jitter`).

Values follow the libraries' conventions where the dtypes differ: a model of 8-bit data feeding a
float pipeline gives floats in [0, 1] (as ``v2.ToDtype(..., scale=True)`` and albumentations make
them); PIL images are 0..255. Otherwise values keep the model's own range (digits stay 0..16).
``value_range=(lo, hi)`` says explicitly where the model's range goes.

Text: a text model's sample is a ``str`` (the modality's ``string_samples``), and so is a text
pipeline's sample: its `Form` has kind ``"string"``, shape ``()`` and no mapping, and `to_form` gives
the string as it is. A string where the model makes arrays, or anything but a string where it makes
text, is refused with one ValueError naming both; text has no value range (``value_range`` is refused).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from genaug.data.spec import DataSpec
from genaug.modalities import get_modality
from genaug.models.base import Generator

__all__ = [
    "Balancer",
    "Form",
    "check_fits",
    "check_value_range",
    "from_form",
    "is_label",
    "jitter",
    "label_like",
    "spec_of",
    "to_form",
]


# ---------------------------------------------------------------------------------------- data
def spec_of(data: Any) -> DataSpec:
    """The `DataSpec` of ``data``: a DataSpec, an ArraySet, or anything with a ``.spec``."""
    spec = data if isinstance(data, DataSpec) else getattr(data, "spec", None)
    if not isinstance(spec, DataSpec):
        raise TypeError(f"data: expected a DataSpec, an ArraySet or a dataset with a .spec, got {type(data).__name__}")
    return spec


def check_fits(model_spec: DataSpec, spec: DataSpec, what: str = "data") -> None:
    """Refuse data whose spec the generator does not fit, naming both specs.

    The modality decides which shapes fit (`Modality.takes_shape`): text models fit text data of any longest string.
    """
    problems = []
    if spec.modality != model_spec.modality or not model_spec.kind.takes_shape(model_spec.shape, spec.shape):
        problems.append(
            f"{what} holds {spec.modality}s of shape {spec.shape}, the model makes {model_spec.modality}s of shape {model_spec.shape}"
        )
    unknown = [name for name in spec.class_names if name not in model_spec.class_names]
    if unknown:
        problems.append(f"classes {unknown[:5]} of the {what} are unknown to the model (its classes: {list(model_spec.class_names)})")
    elif tuple(spec.class_names) != tuple(model_spec.class_names[: spec.num_classes]):
        problems.append(
            f"labels are class indices, but the {what}'s classes {list(spec.class_names)} are not in the model's order "
            f"{list(model_spec.class_names)}"
        )
    if problems:
        raise ValueError(f"{what}: the generator does not fit: " + "; ".join(problems))


# ---------------------------------------------------------------------------------------- forms
Kind = Literal["tensor", "pil", "numpy", "string"]


@dataclass(frozen=True)
class Form:
    """How one sample looks in a pipeline: container kind, per-sample shape and layout, dtype, value range.

    ``shape`` is the sample's own shape and ``layout`` the layout of the model's modality it is in
    (``"CHW"``, ``"HWC"``, ``"HW"``, ``"D"``, ``"CT"``, ``"TC"``, ``"T"``, ...); ``model_layout`` is the
    layout of the model's own samples; ``mapping`` is the linear map of the model's values to the
    pipeline's (None: the model's values as they are). A string sample of a text model has kind
    ``"string"``, shape ``()``, dtype ``str`` and no mapping.
    """

    kind: Kind
    shape: tuple[int, ...]
    dtype: Any  # torch.dtype for tensors, numpy dtype for arrays, PIL mode for images
    layout: str
    mapping: tuple[float, float, float, float] | None  # (model lo, model hi, pipeline lo, pipeline hi)
    modality: str = ""  # the model's modality: it converts between the layouts
    model_layout: str = ""

    @classmethod
    def of(
        cls,
        leaf: Any,
        spec: DataSpec,
        *,
        value_range: tuple[float, float] | None = None,
        what: str = "sample",
        either_order: bool = False,
    ) -> Form:
        """The form of ``leaf``; ValueError naming both shapes when the model's samples cannot take it.

        Tensors are read channels first, numpy arrays and PIL images channels last (as torchvision and
        albumentations use them). ``either_order`` also accepts the other order when it fits (a table
        cell may hold either), the model's own layout deciding a tie.
        """
        if isinstance(leaf, str) or spec.kind.string_samples:
            return cls._of_text(leaf, spec, what)
        kind, shape, dtype, channels_last = _describe(leaf, what)
        layout = _layout_of(shape, channels_last, spec, either_order, what)
        if kind == "pil":
            mapping = _mapping(spec, value_range if value_range is not None else (0.0, 255.0))
        elif value_range is not None:
            mapping = _mapping(spec, value_range)
        else:
            mapping = _default_mapping(spec, _is_float(dtype), dtype)
        return cls(kind, shape, dtype, layout, mapping, spec.modality, spec.layout)

    @classmethod
    def _of_text(cls, leaf: Any, spec: DataSpec, what: str) -> Form:
        """The form of a string sample; ValueError naming both when the model and the sample disagree on text."""
        if isinstance(leaf, str) and spec.kind.string_samples:
            return cls("string", (), str, spec.layout, None, spec.modality, spec.layout)
        if isinstance(leaf, str):
            raise ValueError(
                f"{what}: the generator does not fit: the pipeline's samples are strings (here {leaf!r:.40}), "
                f"the model makes {spec.modality}s of shape {spec.shape} ({spec.num_classes} classes); use a text model "
                "(e.g. the 'charlm' family) for text samples"
            )
        shape = getattr(leaf, "shape", None)
        got = f"a {type(leaf).__name__}" + (f" of shape {tuple(shape)}" if shape is not None else "")
        if hasattr(leaf, "size") and hasattr(leaf, "mode"):  # a PIL image
            got = f"a PIL image of size {leaf.size}"
        raise ValueError(
            f"{what}: the generator does not fit: the pipeline's samples are {got}, the model makes text "
            f"(one str per sample, up to {spec.shape[0] - 1} symbols; {spec.num_classes} classes); "
            "a text model serves strings only"
        )


def _describe(leaf: Any, what: str) -> tuple[Kind, tuple[int, ...], Any, bool]:
    from PIL import Image

    if isinstance(leaf, torch.Tensor):
        return "tensor", tuple(leaf.shape), leaf.dtype, False
    if isinstance(leaf, Image.Image):
        if leaf.mode not in ("L", "RGB", "RGBA"):
            raise ValueError(f"{what}: PIL images of mode {leaf.mode!r} are not supported; expected 'L', 'RGB' or 'RGBA'")
        channels = len(leaf.getbands())
        shape = (leaf.height, leaf.width) if channels == 1 else (leaf.height, leaf.width, channels)
        return "pil", shape, leaf.mode, True
    if isinstance(leaf, np.ndarray):
        return "numpy", tuple(leaf.shape), leaf.dtype, True
    raise TypeError(f"{what}: expected a tensor, a PIL image or a numpy array, got {type(leaf).__name__}")


def _layout_of(shape: tuple[int, ...], channels_last: bool, spec: DataSpec, either_order: bool, what: str) -> str:
    """The layout (of the model's modality) a pipeline sample of ``shape`` is in; ValueError when none fits."""
    kind = spec.kind
    candidates = list(kind.sample_layouts(channels_last))
    if either_order:
        candidates = [spec.layout, *candidates, *kind.sample_layouts(not channels_last)]
    for layout in dict.fromkeys(candidates):
        if layout in kind.layouts and kind.user_shape(spec.shape, layout) == tuple(shape) and _allowed(kind, layout, spec.shape):
            return layout
    raise ValueError(
        f"{what}: the generator does not fit: the pipeline's samples have shape {shape} here, "
        f"the model makes {spec.modality}s of shape {spec.shape} ({spec.num_classes} classes); place the injector where "
        "samples still have the model's shape (before resizing or cropping)"
    )


def _allowed(kind: Any, layout: str, shape: tuple[int, ...]) -> bool:
    try:
        kind.check_layout(layout, shape)
    except ValueError:
        return False
    return True


def _is_float(dtype: Any) -> bool:
    if isinstance(dtype, torch.dtype):
        return dtype.is_floating_point
    if isinstance(dtype, str):  # PIL mode
        return False
    return np.issubdtype(dtype, np.floating)


def _model_range(spec: DataSpec) -> tuple[float, float] | None:
    return tuple(spec.value_range) if spec.scaling in ("grid", "range") else None


def _mapping(spec: DataSpec, target: tuple[float, float]) -> tuple[float, float, float, float] | None:
    source = _model_range(spec)
    if source is None:
        raise ValueError(f"value_range: the model's data are standardised features with no fixed range; got value_range={target}, leave it unset")
    lo, hi = (float(v) for v in target)
    if not hi > lo:
        raise ValueError(f"value_range: expected (low, high) with high > low, got {target}")
    return None if (lo, hi) == source else (*source, lo, hi)


def check_value_range(value_range: Any, spec: DataSpec) -> tuple[float, float] | None:
    """``value_range`` as a pair of floats; ValueError unless (low, high) numbers the model can map to."""
    if value_range is None:
        return None
    if spec.kind.string_samples:
        raise ValueError(f"value_range: the model makes {spec.modality} (strings), which has no value range; got value_range={value_range!r}, leave it unset")
    finite = lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_) and bool(np.isfinite(v))
    if not isinstance(value_range, tuple | list) or len(value_range) != 2 or not all(map(finite, value_range)):
        raise ValueError(f"value_range: expected None or (low, high) finite numbers, got {value_range!r}")
    pair = (float(value_range[0]), float(value_range[1]))
    _mapping(spec, pair)  # refuses high <= low, and models of standardised features (no fixed range)
    return pair


def _default_mapping(spec: DataSpec, pipeline_float: bool, dtype: Any) -> tuple[float, float, float, float] | None:
    """Library conventions: 8-bit model -> float pipeline in [0, 1]; [0, 1]-valued model -> integer pipeline 0..max."""
    source = _model_range(spec)
    model_float = np.issubdtype(np.dtype(spec.dtype), np.floating)
    if source is None or pipeline_float == model_float:
        return None
    if pipeline_float:  # integer model data (8-bit images) in a float pipeline
        return _mapping(spec, (0.0, 1.0))
    integral = spec.scaling == "grid" and all(float(v).is_integer() for v in source) and spec.levels == source[1] - source[0] + 1
    top = torch.iinfo(dtype).max if isinstance(dtype, torch.dtype) else np.iinfo(dtype).max
    if integral and source[0] >= 0 and source[1] <= top:
        return None  # integer-valued grid (digits 0..16): the same integers
    return _mapping(spec, (0.0, float(min(top, 255))))


def to_form_values(x: torch.Tensor, form: Form) -> torch.Tensor:
    """A batch of model samples (N, *spec.user_shape()) as float64 values in ``form``'s layout and range: (N, *form.shape)."""
    kind = get_modality(form.modality)
    values = kind.to_canonical(x.detach().to(torch.float64), form.model_layout)
    if form.mapping is not None:
        lo, hi, new_lo, new_hi = form.mapping
        values = (values - lo) / (hi - lo) * (new_hi - new_lo) + new_lo
    return kind.from_canonical(values, form.layout)


def to_form(x: torch.Tensor | str, form: Form, like: Any = None) -> Any:
    """One model sample (user space, ``spec.user_shape()``) as a pipeline sample of ``form``.

    ``like`` is the pipeline sample it replaces: tensors keep its subclass (``tv_tensors.Image``)
    and device. A string form gives the string ``x`` itself (a ``str``).
    """
    if form.kind == "string":
        return str(x)
    values = to_form_values(x[None], form)[0]
    if form.kind == "pil":
        from PIL import Image

        array = values.round().clamp(0, 255).to(torch.uint8).numpy()
        return Image.fromarray(array, mode=form.dtype)
    if form.kind == "numpy":
        return _cast(values, torch.from_numpy(np.zeros(0, dtype=form.dtype)).dtype).numpy().astype(form.dtype, copy=False)
    out = _cast(values, form.dtype)
    if isinstance(like, torch.Tensor):
        out = out.to(like.device)
        if type(like) is not torch.Tensor:
            out = out.as_subclass(type(like))
    return out


def _cast(values: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    if dtype.is_floating_point:
        return values.to(dtype)
    if dtype == torch.bool:
        return values.round().clamp(0, 1).to(dtype)
    info = torch.iinfo(dtype)
    return values.round().clamp(info.min, info.max).to(dtype)


def from_form(leaf: Any, form: Form, spec: DataSpec) -> torch.Tensor | list[str]:
    """A pipeline sample of ``form`` in the model's user space: (1, *spec.user_shape()) float64 values
    (a string form: a list of the one string)."""
    if form.kind == "string":
        return [str(leaf)]
    if form.kind in ("pil", "numpy"):
        values = torch.from_numpy(np.array(leaf, dtype=np.float64))
    else:
        values = leaf.detach().cpu().as_subclass(torch.Tensor).to(torch.float64)
    values = spec.kind.to_canonical(values[None], form.layout)
    if form.mapping is not None:
        lo, hi, new_lo, new_hi = form.mapping
        values = (values - new_lo) / (new_hi - new_lo) * (hi - lo) + lo
    return spec.user_layout(values)


# ---------------------------------------------------------------------------------------- labels
def is_label(leaf: Any) -> bool:
    """A class label leaf: a Python or numpy integer, or a 0-d integer tensor."""
    if isinstance(leaf, bool | np.bool_):
        return False
    if isinstance(leaf, int | np.integer):
        return True
    return isinstance(leaf, torch.Tensor) and leaf.ndim == 0 and not leaf.dtype.is_floating_point and leaf.dtype != torch.bool


def label_like(label: int, like: Any) -> Any:
    """``label`` in the type of the label leaf it replaces."""
    if isinstance(like, torch.Tensor):
        return torch.tensor(label, dtype=like.dtype, device=like.device)
    if isinstance(like, np.integer):
        return type(like)(label)
    return int(label)


class Balancer:
    """Chooses synthetic labels that pull a stream's class distribution toward a target.

    With a share ``ratio`` of synthetic samples whose labels follow q, and real labels seen so far
    following p, the mixed stream follows (1 - r) p + r q; q = (t - (1 - r) p) / r, clipped at zero
    (real samples are never removed), reaches the target t when it can. ``balance`` is
    ``"uniform"`` or ``{class (index or name): weight}``.
    """

    def __init__(self, balance: str | Mapping[int | str, float], spec: DataSpec, ratio: float) -> None:
        k = spec.num_classes
        if balance == "uniform":
            target = torch.full((k,), 1.0 / k, dtype=torch.float64)
        elif isinstance(balance, Mapping):
            target = torch.zeros(k, dtype=torch.float64)
            for label, weight in balance.items():
                if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight >= 0:
                    raise ValueError(f"balance: weight of class {label!r} must be a number >= 0, got {weight!r}")
                target[spec.class_index(label)] = float(weight)
            if target.sum() <= 0:
                raise ValueError("balance: at least one class needs a positive weight")
            target /= target.sum()
        else:
            raise ValueError(f"balance: expected None, 'uniform' or a {{class: weight}} mapping, got {balance!r}")
        self.target, self.ratio = target, float(ratio)
        self.seen = torch.zeros(k, dtype=torch.float64)

    def observe(self, labels: torch.Tensor) -> None:
        """Count real labels (class indices)."""
        self.observe_counts(torch.bincount(labels.reshape(-1).long().cpu(), minlength=len(self.seen)))

    def observe_counts(self, counts: torch.Tensor | np.ndarray) -> None:
        """Count real labels already counted per class (a caller that has the bincount)."""
        self.seen += torch.as_tensor(counts, dtype=torch.float64)

    def weights(self) -> torch.Tensor:
        if self.seen.sum() == 0 or self.ratio == 0:
            return self.target
        real = self.seen / self.seen.sum()
        need = (self.target - (1.0 - self.ratio) * real).clamp(min=0.0)
        return need / need.sum() if need.sum() > 0 else self.target

    def pick(self, uniforms: torch.Tensor) -> torch.Tensor:
        """Labels for uniform draws in [0, 1) (inverse CDF): the caller's RNG decides."""
        cdf = torch.cumsum(self.weights(), 0)
        cdf[-1] = 1.0 + 1e-12
        return torch.searchsorted(cdf, uniforms.to(torch.float64).reshape(-1), right=True).clamp(max=len(cdf) - 1)


# ---------------------------------------------------------------------------------------- jitter
Noise = torch.Tensor | Callable[[tuple[int, ...]], torch.Tensor]


@torch.no_grad()
def jitter(model: Generator, x: torch.Tensor, labels: torch.Tensor, sigma: float, noise: Noise | None = None) -> torch.Tensor:
    """Encode user-space samples, add ``sigma`` x standard normal noise to the latent, decode.

    ``noise`` is the standard normal draw: a tensor of the latent's shape, or ``noise(shape)``
    drawing one from the caller's RNG (default: torch's global RNG). Returns user-space samples
    of ``x``'s shape.
    """
    spec = model.spec
    device = next(iter(model.parameters()), torch.zeros(())).device
    labels = labels.to(device).long()
    latent = model.encode(spec.to_model(x).to(device), labels)
    shape = tuple(latent.shape)
    draw = noise if isinstance(noise, torch.Tensor) else (noise or torch.randn)(shape)
    if tuple(draw.shape) != shape:
        raise ValueError(f"noise: expected the latent's shape {shape}, got {tuple(draw.shape)}")
    decoded = model.decode(latent + sigma * draw.to(device=device, dtype=latent.dtype), labels)
    return spec.to_user(decoded.cpu())


def check_sigma(sigma: Any) -> float:
    if isinstance(sigma, bool) or not isinstance(sigma, int | float) or not 0.0 <= sigma < float("inf"):
        raise ValueError(f"sigma: expected a latent noise scale >= 0, got {sigma!r}")
    return float(sigma)


def check_p(p: Any) -> float:
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p <= 1.0:
        raise ValueError(f"p: expected a probability in [0, 1], got {p!r}")
    return float(p)


def check_encoder(model: Generator) -> None:
    if not model.has_encoder:
        raise ValueError(
            f"model: LatentJitter needs a family with an encoder (has_encoder), the {model.family!r} family has none; "
            "use a 'vae' or 'flow' model"
        )
