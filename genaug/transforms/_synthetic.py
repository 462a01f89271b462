"""torchvision v2 transforms that inject a generator into a per-sample pipeline.

Both transforms take the whole sample (an ``(image, label)`` tuple, a dict, or any structure v2
accepts), act on its image (the first ``tv_tensors.Image``, PIL image, or else the first plain
tensor, as v2 decides) and its class label, found as torchvision's label-aware transforms find it: a
``labels_getter`` (``"default"``: the second item of a tuple or a label-like dict key; a callable; or
None), and pass every other leaf through. Images keep their type, dtype, shape and device; labels keep
their type. Like v2's own random transforms they draw their decisions from torch's global RNG
(seeded by ``torch.manual_seed`` and, in DataLoader workers, by the worker seed); synthetic samples
come from the `SamplePool`'s own seeded stream.

Text models: `SyntheticSwap` also takes text samples, a ``str`` with its label: an ``(text, label)``
tuple, a ``[text, label]`` list or a dict (``{"text": ..., "label": ...}``). The string is found as
`genaug.transforms.TextTransform` finds it (the first string of a tuple or list, the ``"text"`` key
of a dict, else its first string value), the label as for images, and the swapped-in string is a
``str`` from the pool. torchvision does not transform strings, so these samples are handled before
v2's own input handling; they compose with ``v2.Compose`` and the character transforms of
`genaug.transforms` all the same. A text model meeting an image sample, or an image model meeting a
string sample (one holding a string and no image), raises one ValueError naming both.

Place them where samples still have the model's shape, before resizing, cropping or
normalising transforms, so those apply to real and synthetic samples alike::

    pipeline = v2.Compose([
        v2.ToImage(),
        SyntheticSwap(pool, p=0.3),
        v2.RandomHorizontalFlip(),
        v2.ToDtype(torch.float32, scale=True),
    ])
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Union

import PIL.Image
import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import Transform

from genaug.inject.core import (
    Balancer,
    Form,
    check_encoder,
    check_fits,
    check_p,
    check_sigma,
    check_value_range,
    from_form,
    is_label,
    jitter,
    label_like,
    spec_of,
    to_form,
)
from genaug.inject.pool import SamplePool
from genaug.models.base import Generator
from genaug.models.handle import ModelHandle

if TYPE_CHECKING:
    from genaug.data.spec import DataSpec

__all__ = ["LatentJitter", "SyntheticSwap"]

_GEOMETRY = (tv_tensors.BoundingBoxes, tv_tensors.Mask)


LabelsGetter = Union[str, Callable[[Any], Any], None]


def _is_image(leaf: Any) -> bool:
    """A tv_tensors.Image, a PIL image, or a plain tensor of at least one dimension (not another TVTensor)."""
    plain = isinstance(leaf, torch.Tensor) and not isinstance(leaf, tv_tensors.TVTensor)
    return isinstance(leaf, tv_tensors.Image | PIL.Image.Image) or plain and leaf.ndim >= 1


def _label_key(mapping: Mapping) -> Any:
    """torchvision's rule for a label-like key: ``labels`` (any case), else the first key containing ``label``."""
    keys = [key for key in mapping if isinstance(key, str)]
    exact = [key for key in keys if key.lower() == "labels"]
    return (exact or [key for key in keys if "label" in key.lower()] or [None])[0]


def default_label_path(sample: Any) -> tuple[Any, ...] | None:
    """Where the class label sits in ``sample``, by the heuristic of torchvision's ``labels_getter="default"``.

    The second item of a tuple or list (``(image, label)``, what classification datasets yield), or a
    label-like key (``labels``, else any key containing ``label``) of a dict or of a tuple's second item
    (``(image, {"label": ...})``). Unlike torchvision's, the label may be a Python or numpy integer as well
    as a 0-d integer tensor. None when the sample has no label there.

    Example:
        >>> default_label_path((None, 3)), default_label_path({"image": None, "label": 3}), default_label_path(None)
        ((1,), ('label',), None)
    """
    node, path = sample, ()
    if isinstance(node, tuple | list) and len(node) >= 2:
        node, path = node[1], (1,)
        if is_label(node):
            return path
    if isinstance(node, Mapping):
        key = _label_key(node)
        if key is not None and is_label(node[key]):
            return (*path, key)
    return None


def text_path(sample: Any) -> tuple[Any, ...] | None:
    """Where the string of a text sample sits, as `genaug.transforms.TextTransform` finds it; None if nowhere.

    The sample itself when it is a ``str``; the first ``str`` item of a tuple or list; the ``"text"``
    key of a dict holding a string there, else its first key with a string value.

    Example:
        >>> text_path(("anna", 0)), text_path({"label": 1, "text": "bob"}), text_path("eve"), text_path((1, 2))
        ((0,), ('text',), (), None)
    """
    if isinstance(sample, str):
        return ()
    if isinstance(sample, tuple | list):
        return next(((i,) for i, leaf in enumerate(sample) if isinstance(leaf, str)), None)
    if isinstance(sample, Mapping):
        if isinstance(sample.get("text"), str):
            return ("text",)
        return next(((key,) for key, value in sample.items() if isinstance(value, str)), None)
    return None


def _leaves(sample: Any) -> list[Any]:
    """The leaves of nested tuples, lists and dicts."""
    if isinstance(sample, tuple | list):
        return [leaf for item in sample for leaf in _leaves(item)]
    if isinstance(sample, Mapping):
        return [leaf for item in sample.values() for leaf in _leaves(item)]
    return [sample]


def _get(sample: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        sample = sample[key]
    return sample


def _with(sample: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A copy of ``sample`` (new containers along ``path`` only) holding ``value`` at ``path``."""
    if not path:
        return value
    key, rest = path[0], path[1:]
    if isinstance(sample, Mapping):
        return {**sample, key: _with(sample[key], rest, value)}
    items = list(sample)
    items[key] = _with(sample[key], rest, value)
    if hasattr(sample, "_fields"):  # a namedtuple
        return type(sample)(*items)
    return tuple(items) if isinstance(sample, tuple) else items


class _SampleTransform(Transform):
    """Finds the sample's label with a ``labels_getter`` (as torchvision's label-aware v2 transforms do) and
    lets v2's own input handling pick the image; every other leaf passes through.

    ``labels_getter``: ``"default"`` (`default_label_path`: the second item of a tuple, or a label-like key),
    a callable ``sample -> label`` (read only: a transform that changes labels needs the default), or None
    (the samples carry no label).
    """

    needs_label = False
    changes_labels = False

    def __init__(self, labels_getter: LabelsGetter = "default") -> None:
        super().__init__()
        if not (labels_getter is None or labels_getter == "default" or callable(labels_getter)):
            raise ValueError(f"labels_getter: expected 'default', a callable sample -> label, or None, got {labels_getter!r}")
        name = type(self).__name__
        if labels_getter is None and self.needs_label:
            raise ValueError(f"labels_getter: {name} draws a synthetic sample of the sample's class and needs its label; got None")
        if callable(labels_getter) and self.changes_labels:
            raise ValueError(
                f"labels_getter: {name} with balance changes the sample's label, which a callable getter cannot write back; "
                "use labels_getter='default' with (image, label) or {'image': ..., 'label': ...} samples"
            )
        self.labels_getter = labels_getter
        self._call: dict[str, Any] = {}

    def _read_label(self, sample: Any) -> tuple[Any, tuple[Any, ...] | None]:
        """(the sample's label or None, its path when the default getter found it)."""
        if self.labels_getter is None:
            return None, None
        if callable(self.labels_getter):
            label = self.labels_getter(sample)
            if label is not None and not is_label(label):
                raise ValueError(
                    f"labels_getter: returned {label!r} ({type(label).__name__}); expected a class label "
                    "(an int, numpy integer or 0-d integer tensor) or None"
                )
            return label, None
        path = default_label_path(sample)
        return (None, None) if path is None else (_get(sample, path), path)

    @property
    def model_spec(self) -> DataSpec:
        """The `DataSpec` of the model the transform draws from."""
        raise NotImplementedError

    def forward(self, *inputs: Any) -> Any:
        sample = inputs if len(inputs) > 1 else inputs[0]
        spec, at, name = self.model_spec, text_path(sample), type(self).__name__
        if spec.kind.string_samples:  # strings are no v2 leaves: text samples are handled here
            if at is None:
                leaves = [type(leaf).__name__ for leaf in _leaves(sample)]
                raise ValueError(
                    f"{name}: the generator does not fit: the model makes text (one str per sample, "
                    f"{spec.num_classes} classes), but the sample holds no string (its leaves: {leaves}); "
                    "pass (text, label) tuples, [text, label] lists or {'text': ..., 'label': ...} dicts"
                )
            return self._forward_text(sample, at, *self._read_label(sample))
        if at is not None and not any(_is_image(leaf) for leaf in _leaves(sample)):
            raise ValueError(
                f"{name}: the generator does not fit: the sample holds a string ({_get(sample, at)!r:.40}) and no image, "
                f"the model makes {spec.modality}s of shape {spec.shape}; use a text model (e.g. the 'charlm' family) "
                "for text samples"
            )
        label, path = self._read_label(sample)
        self._call = {"label": label}
        try:
            out = super().forward(sample)  # v2 picks the image leaf; make_params and transform see only it
            new = self._call.get("new_label")
        finally:
            self._call = {}
        if new is not None and path is not None:
            out = _with(out, path, label_like(new, label))
        return out

    def _forward_text(self, sample: Any, at: tuple[Any, ...], label: Any, path: tuple[Any, ...] | None) -> Any:
        """The transform of a text sample whose string sits at ``at`` (models with ``string_samples``)."""
        raise ValueError(f"{type(self).__name__}: does not take text samples")

    def _missing_label(self, what: str) -> ValueError:
        return ValueError(
            f"{type(self).__name__}: the sample holds no class label (an int or 0-d integer tensor as the second item of "
            f"({what}, label), or under a 'label' key); pass such samples or a labels_getter"
        )

    def _image_and_label(self, flat_inputs: list[Any]) -> tuple[Any, Any]:
        """The image among the leaves v2 marked for transformation, and the label the getter found (or None)."""
        label = self._call["label"]
        if label is None and self.needs_label:
            raise self._missing_label("image")
        image = next((leaf for leaf in flat_inputs if _is_image(leaf)), None)
        if image is None:
            raise ValueError(
                f"{type(self).__name__}: the sample holds no image (a tv_tensors.Image, PIL image or tensor of at least one "
                f"dimension); got {[type(leaf).__name__ for leaf in flat_inputs] or 'no tensor or image'}"
            )
        return image, label

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return params["image"] if params.get("apply") and inpt is params["source"] else inpt


class SyntheticSwap(_SampleTransform):
    """With probability ``p``, replace the sample by a synthetic one of the same class.

    With ``balance``, the synthetic sample's class is chosen to pull the stream's class
    distribution toward the target (rare classes are swapped in more), and the label is updated.

    With a text model the samples are strings with their label (``(text, label)``, ``[text, label]``,
    ``{"text": ..., "label": ...}``; see the module docstring) and the string is swapped for a
    synthetic ``str`` of the class; the structure and every other leaf stay as they were.

    Args:
        pool: a `SamplePool` (or a model folder / `Generator`, for which a pool with default
            settings is made).
        p: probability of replacing a sample.
        balance: ``None`` (same label), ``"uniform"`` or ``{class: weight}``.
        value_range: where the model's value range goes in the pipeline (default: the library
            conventions of `genaug.inject.core`).
        data: optional data (DataSpec, ArraySet, dataset with ``.spec``) the pipeline reads; the
            generator is checked against it now.

    Example:
        >>> import genaug, torch
        >>> from torchvision.transforms import v2
        >>> pool = genaug.SamplePool(genaug.fit("digits", "gmm", steps=5), batch_size=64)
        >>> pipeline = v2.Compose([SyntheticSwap(pool, p=0.5), v2.RandomAffine(degrees=10)])
        >>> image, label = pipeline(torch.zeros(1, 8, 8), 3)
        >>> image.shape, label
        (torch.Size([1, 8, 8]), 3)

    Text::

        >>> names = genaug.from_texts(["anna", "bob", "eve", "dan"] * 3, ["f", "m", "f", "m"] * 3)
        >>> swap = SyntheticSwap(genaug.fit(names, "charlm", steps=2), p=1.0)
        >>> text, label = swap(("anna", 0))
        >>> type(text).__name__, label
        ('str', 0)
    """

    needs_label = True

    def __init__(
        self,
        pool: SamplePool | Generator | str | os.PathLike,
        p: float = 0.5,
        *,
        balance: None | str | Mapping[int | str, float] = None,
        value_range: tuple[float, float] | None = None,
        data: Any = None,
        labels_getter: LabelsGetter = "default",
    ) -> None:
        self.changes_labels = balance is not None
        super().__init__(labels_getter)
        self.pool = pool if isinstance(pool, SamplePool) else SamplePool(pool)
        self.p = check_p(p)
        self.value_range = check_value_range(value_range, self.pool.spec)
        self.balancer = None if balance is None else Balancer(balance, self.pool.spec, self.p)
        if data is not None:
            check_fits(self.pool.spec, spec_of(data))

    @property
    def model_spec(self) -> DataSpec:
        return self.pool.spec

    def _forward_text(self, sample: Any, at: tuple[Any, ...], label: Any, path: tuple[Any, ...] | None) -> Any:
        if label is None:
            raise self._missing_label("text")
        spec = self.pool.spec
        form = Form.of(_get(sample, at), spec, what=f"{type(self).__name__} text")
        index = spec.class_index(int(label))
        if self.balancer is not None:
            self.balancer.observe(torch.tensor([index]))
        if not torch.rand(1).item() < self.p:
            return sample
        if self.balancer is not None:
            index = int(self.balancer.pick(torch.rand(1, dtype=torch.float64)))
        texts, _ = self.pool.take([index], provenance=False)
        out = _with(sample, at, to_form(texts[0], form))
        if self.balancer is not None and path is not None:
            out = _with(out, path, label_like(index, label))
        return out

    def check_inputs(self, flat_inputs: list[Any]) -> None:
        geometry = [type(leaf).__name__ for leaf in flat_inputs if isinstance(leaf, _GEOMETRY)]
        if geometry:
            raise ValueError(
                f"SyntheticSwap: the sample holds {geometry}, which a synthetic image would not match; "
                "SyntheticSwap is for (image, label) classification samples"
            )

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        image, label = self._image_and_label(flat_inputs)
        spec = self.pool.spec
        form = Form.of(image, spec, value_range=self.value_range, what=f"{type(self).__name__} image")
        index = spec.class_index(int(label))
        if self.balancer is not None:
            self.balancer.observe(torch.tensor([index]))
        if not torch.rand(1).item() < self.p:
            return {"apply": False}
        if self.balancer is not None:
            index = int(self.balancer.pick(torch.rand(1, dtype=torch.float64)))
        x, _ = self.pool.take([index])
        if self.balancer is not None:
            self._call["new_label"] = index
        return {"apply": True, "image": to_form(x[0], form, like=image), "source": image}

    def extra_repr(self) -> str:
        return f"pool={self.pool!r}, p={self.p}, balance={'none' if self.balancer is None else 'on'}"


class LatentJitter(_SampleTransform):
    """With probability ``p``, encode the image, add ``sigma`` x N(0, 1) to its latent, decode.

    For families with an encoder (``has_encoder``: vae, flow). The sample's label, when it has
    one, conditions the encoder and decoder; the label itself is not changed.

    Args:
        model: a model folder or a fitted `Generator`.
        sigma: scale of the latent noise (the latents are standard normal under the model).
        p: probability of jittering a sample.
        value_range: as for `SyntheticSwap`.
        data: optional data the pipeline reads; the generator is checked against it now.
        device: where to run the model.

    Example:
        >>> import genaug, torch
        >>> vae = genaug.fit("digits", "vae", steps=5)
        >>> image, label = LatentJitter(vae, sigma=0.2, p=1.0)(torch.zeros(8, 8, dtype=torch.float64), 0)
        >>> image.shape, image.dtype, label
        (torch.Size([8, 8]), torch.float64, 0)
    """

    def __init__(
        self,
        model: Generator | str | os.PathLike,
        sigma: float = 0.1,
        p: float = 0.5,
        *,
        value_range: tuple[float, float] | None = None,
        data: Any = None,
        device: str | torch.device | None = None,
        labels_getter: LabelsGetter = "default",
    ) -> None:
        super().__init__(labels_getter)
        self.handle = ModelHandle(model, device)
        check_encoder(self.handle.model)
        self.sigma, self.p = check_sigma(sigma), check_p(p)
        self.value_range = check_value_range(value_range, self.handle.spec)
        if data is not None:
            check_fits(self.handle.spec, spec_of(data))

    @property
    def model_spec(self) -> DataSpec:
        return self.handle.spec

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        image, label = self._image_and_label(flat_inputs)
        spec = self.handle.spec
        form = Form.of(image, spec, value_range=self.value_range, what=f"{type(self).__name__} image")
        labels = None if label is None else torch.tensor([spec.class_index(int(label))])
        if not torch.rand(1).item() < self.p:
            return {"apply": False}
        model = self.handle.model
        if labels is None:
            labels = model.labels_or_most_frequent(None, 1, torch.device("cpu"))["label"]
        x = jitter(model, from_form(image, form, spec), labels, self.sigma)
        return {"apply": True, "image": to_form(x[0], form, like=image), "source": image}

    def extra_repr(self) -> str:
        return f"model={self.handle!r}, sigma={self.sigma}, p={self.p}"
