"""torchvision v2 transforms that run an image-to-image model on a sample's image: super-resolve, colorize, translate.

`SuperResolve`, `Colorize` and `Translate` take a fitted `ImageToImage` model (or its folder) and
map the image of each sample through ``model.apply``: a super-resolved copy (``scale`` times the
height and width), a colour version of a gray image, an image moved into another domain. The image
is found as v2 finds it (the first ``tv_tensors.Image`` or PIL image, else the first plain tensor),
and failing those the first numpy array of two or three dimensions; every other leaf passes through
untouched, labels included (an ``(image, label)`` tuple keeps its label: a labelled image in a new
guise is the augmentation).

Inputs and outputs: tensors and ``tv_tensors.Image`` are channels first, ``(..., C, H, W)`` (leading
dimensions are a batch) or ``(H, W)``; numpy arrays ``(H, W, C)`` or ``(H, W)``; PIL images of mode
``"L"`` or ``"RGB"``. The output keeps the input's container, dtype and value range: uint8 values
(and PIL images) are 0..255, floating-point values [0, 1] (``value_range=`` says otherwise), and
only the channel count and size change as the task says (`Colorize` gives three channels: a PIL
``"L"`` image becomes ``"RGB"``, an ``(H, W)`` one ``(3, H, W)`` or ``(H, W, 3)``).

Randomness: as v2's own random transforms, whether a sample is transformed (``p``) is drawn from
torch's global RNG (seeded by ``torch.manual_seed`` and, in DataLoader workers, by the worker seed).
A generative model's draws (a diffusion colorizer's colours) are seeded per sample by a seed drawn
from that RNG too, or, with ``seed=``, from the transform's own stream, which DataLoader workers
re-seed from ``seed`` and their worker seed. Deterministic models (``rescnn``) draw nothing.

Batches: `BatchedImageToImage` is a DataLoader ``collate_fn`` that runs the model once per batch
(per image size) instead of once per sample, with the same per-sample decisions.

Example:
    >>> import genaug, torch
    >>> from torchvision.transforms import v2
    >>> from genaug.data.images import image_patches, read_images
    >>> from genaug.data.pairs import make_pairs
    >>> pairs = make_pairs(image_patches(read_images("photos:china"), size=16, count=32), "superres", scale=2)
    >>> model = genaug.fit(pairs, "rescnn", steps=5, channels=8, blocks=1, train={"progress": False})
    >>> pipeline = v2.Compose([v2.RandomCrop(10), SuperResolve(model), v2.ToDtype(torch.float32, scale=True)])
    >>> image, label = pipeline(torch.zeros(3, 13, 18, dtype=torch.uint8), 3)
    >>> image.shape, image.dtype, label
    (torch.Size([3, 20, 20]), torch.float32, 3)
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import PIL.Image
import torch
from torch.utils.data import default_collate, get_worker_info
from torchvision import tv_tensors
from torchvision.transforms.v2 import Transform
from torchvision.transforms.v2 import functional as TF

from genaug.inject.core import check_p
from genaug.models.base import Generator
from genaug.models.handle import ModelHandle
from genaug.models.image2image import ImageToImage
from genaug.nn.color import luma
from genaug.utils.seeding import derive_seed

__all__ = [
    "BatchedImageToImage",
    "Colorize",
    "ImageForm",
    "ImageToImageTransform",
    "SuperResolve",
    "Translate",
    "as_image_to_image",
    "read_image",
    "write_image",
]

ModelLike = ImageToImage | ModelHandle | str | os.PathLike
_SEED_BOUND = 2**62


# ---------------------------------------------------------------------------------------- image leaves
@dataclass(frozen=True)
class ImageForm:
    """How one image looks in a pipeline, so the output can look the same."""

    kind: Literal["tensor", "pil", "numpy"]
    dtype: Any  # torch.dtype, numpy dtype, or the PIL mode
    value_range: tuple[float, float]  # the values of black and white
    lead: tuple[int, ...]  # tensors: the batch dimensions before (C, H, W); () for one image
    channel_axis: bool  # False: an (H, W) image, one channel and no axis for it


def _is_uint8(dtype: Any) -> bool:
    return dtype == torch.uint8 if isinstance(dtype, torch.dtype) else np.dtype(dtype) == np.uint8


def _is_plain_tensor(leaf: Any) -> bool:
    """A tensor that is no tv_tensor (a Mask, BoundingBoxes, ...)."""
    return isinstance(leaf, torch.Tensor) and not isinstance(leaf, tv_tensors.TVTensor)


def _range_of(dtype: Any, float_range: tuple[float, float], what: str) -> tuple[float, float]:
    if _is_uint8(dtype):
        return 0.0, 255.0
    if dtype.is_floating_point if isinstance(dtype, torch.dtype) else np.dtype(dtype).kind == "f":
        return float_range
    raise ValueError(
        f"{what}: expected uint8 (0..255) or floating-point values, got {dtype}; convert them first "
        "(v2.ToDtype(torch.uint8, scale=True), array.astype(np.uint8))"
    )


def read_image(
    leaf: Any, *, float_range: tuple[float, float] = (0.0, 1.0), what: str = "image"
) -> tuple[torch.Tensor, ImageForm]:
    """An image leaf as float32 values in [0, 1], (N, C, H, W), and its `ImageForm`.

    Args:
        leaf: a tensor or ``tv_tensors.Image`` ``(..., C, H, W)`` or ``(H, W)``, a numpy array
            ``(H, W, C)`` or ``(H, W)``, or a PIL image of mode ``"L"`` or ``"RGB"``; uint8 or floats.
        float_range: the value range of floating-point values.
        what: names the leaf in errors.

    Example:
        >>> u, form = read_image(np.full((2, 3), 255, dtype=np.uint8))
        >>> tuple(u.shape), float(u.max()), form.kind, form.channel_axis
        ((1, 1, 2, 3), 1.0, 'numpy', False)
    """
    if isinstance(leaf, PIL.Image.Image):
        if leaf.mode not in ("L", "RGB"):
            raise ValueError(
                f"{what}: expected a PIL image of mode 'L' or 'RGB', got mode {leaf.mode!r}; convert it first"
            )
        x = torch.from_numpy(np.array(leaf, dtype=np.uint8))
        x = x[None] if x.ndim == 2 else x.permute(2, 0, 1)
        form = ImageForm("pil", leaf.mode, (0.0, 255.0), (), True)
    elif isinstance(leaf, np.ndarray):
        if leaf.ndim not in (2, 3):
            raise ValueError(f"{what}: expected a numpy image (H, W, C) or (H, W), got an array of shape {leaf.shape}")
        value_range = _range_of(leaf.dtype, float_range, what)
        x = torch.from_numpy(np.ascontiguousarray(leaf))
        x = x[None] if leaf.ndim == 2 else x.permute(2, 0, 1)
        form = ImageForm("numpy", leaf.dtype, value_range, (), leaf.ndim == 3)
    elif isinstance(leaf, tv_tensors.Image) or _is_plain_tensor(leaf):
        if leaf.ndim < 2:
            raise ValueError(
                f"{what}: expected an image tensor (..., C, H, W) or (H, W), got shape {tuple(leaf.shape)}"
            )
        value_range = _range_of(leaf.dtype, float_range, what)
        lead = tuple(leaf.shape[:-3]) if leaf.ndim >= 3 else ()
        x = leaf.detach()[None] if leaf.ndim == 2 else leaf.detach()
        form = ImageForm("tensor", leaf.dtype, value_range, lead, leaf.ndim >= 3)
    else:
        raise TypeError(
            f"{what}: expected an image (a tensor or tv_tensors.Image (C, H, W), a PIL image, or a numpy array "
            f"(H, W, C)), got {type(leaf).__name__}"
        )
    if x.shape[-1] < 1 or x.shape[-2] < 1:
        raise ValueError(f"{what}: the image is empty (height x width {x.shape[-2]}x{x.shape[-1]})")
    lo, hi = form.value_range
    x = x.reshape(-1, *x.shape[-3:])  # (N, C, H, W)
    return (x.to(torch.float32) - lo) / (hi - lo), form


def write_image(u: torch.Tensor, form: ImageForm, like: Any = None) -> Any:
    """Values in [0, 1], (N, C, H, W), as an image leaf of ``form`` (``like``: the input leaf, for its device and type).

    Example:
        >>> u, form = read_image(np.zeros((2, 3), dtype=np.uint8))
        >>> write_image(torch.ones(1, 3, 4, 6), form).shape
        (4, 6, 3)
    """
    n, c, h, w = u.shape
    lo, hi = form.value_range
    values = lo + u.detach().to(torch.float32) * (hi - lo)
    if form.kind == "tensor":
        if not form.dtype.is_floating_point:
            values = values.round().clamp(lo, hi)
        device = like.device if isinstance(like, torch.Tensor) else values.device
        out = values.to(device, form.dtype)
        out = out.reshape(*form.lead, c, h, w) if form.channel_axis or c > 1 else out.reshape(h, w)
        return tv_tensors.wrap(out, like=like) if isinstance(like, tv_tensors.TVTensor) else out
    hwc = values[0].permute(1, 2, 0).cpu().numpy()  # (H, W, C)
    if form.kind == "pil" or _is_uint8(form.dtype):
        hwc = np.clip(np.rint(hwc), 0, 255).astype(np.uint8)
    else:
        hwc = hwc.astype(form.dtype)
    if form.kind == "pil":
        return PIL.Image.fromarray(hwc[..., 0] if c == 1 else hwc)
    return hwc[..., 0] if c == 1 and not form.channel_axis else hwc


def _find_image(flat_inputs: list[Any], name: str) -> Any:
    """The sample's image among the leaves v2 hands over: an Image or PIL image, a tensor, a 2-d or 3-d array."""
    for found in (
        [leaf for leaf in flat_inputs if isinstance(leaf, tv_tensors.Image | PIL.Image.Image)],
        [leaf for leaf in flat_inputs if _is_plain_tensor(leaf) and leaf.ndim >= 2],
        [leaf for leaf in flat_inputs if isinstance(leaf, np.ndarray) and leaf.ndim in (2, 3)],
    ):
        if found:
            return found[0]
    got = [type(leaf).__name__ for leaf in flat_inputs] or "no tensor, image or array"
    raise ValueError(
        f"{name}: the sample holds no image (a tv_tensors.Image, PIL image, tensor (C, H, W) or (H, W), or numpy "
        f"array (H, W, C) or (H, W)); got {got}"
    )


# ---------------------------------------------------------------------------------------- transforms
@dataclass
class _Job:
    """One sample's image on its way through the model."""

    source: Any  # the image leaf
    form: ImageForm
    x: torch.Tensor  # (N, c, h, w) the model's input, in [0, 1]
    apply: bool
    seed: int | None  # seeds a generative model's draws
    output: Any = None  # the output leaf, once run


def _check_seed(seed: Any) -> int | None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
        raise TypeError(f"seed: expected an integer or None, got {seed!r}")
    return None if seed is None else int(seed)


def _check_range(value_range: Any) -> tuple[float, float]:
    if value_range is None:
        return 0.0, 1.0
    try:
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError):
        lo, hi = math.nan, math.nan
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise ValueError(
            f"value_range: expected (low, high) of floating-point inputs with high > low, got {value_range!r}"
        )
    return lo, hi


def _check_batch_size(batch_size: Any) -> int | None:
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(
            f"batch_size: expected a positive integer (images per forward pass) or None, got {batch_size!r}"
        )
    return batch_size


@dataclass
class _Batch:
    """The state of one `ImageToImageTransform.transform_samples` call."""

    draws: list[tuple[bool, int]] | None  # per sample (apply, seed), or None: drawn as one call would
    jobs: list[_Job] = field(default_factory=list)  # planned in the first pass
    replay: Any = None  # the second pass: an iterator over jobs


class ImageToImageTransform(Transform):
    """What `SuperResolve`, `Colorize` and `Translate` share (see the module docstring)."""

    task: ClassVar[str] = ""  # the model's task
    _transformed_types = (torch.Tensor, PIL.Image.Image, np.ndarray)  # v2 hands numpy arrays over too

    def __init__(
        self,
        model: ModelLike,
        p: float = 1.0,
        *,
        seed: int | None = None,
        value_range: tuple[float, float] | None = None,
        device: str | torch.device | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.handle = model if isinstance(model, ModelHandle) else ModelHandle(model, device)
        found = self.handle.model
        if not isinstance(found, ImageToImage):
            raise ValueError(
                f"model: {name} needs an image-to-image model (genaug fit --task {self.task}), "
                f"got a {found.family!r} generator"
            )
        if found.task.name != self.task:
            raise ValueError(
                f"model: {name} needs a {self.task!r} model, got a {found.task.name!r} model ({found.family}); "
                f"use {_transform_name(found.task.name)} for it"
            )
        if options is not None and not isinstance(options, Mapping):
            raise TypeError(
                f"options: expected a mapping of the family's sampling options, got {type(options).__name__}"
            )
        self.p = check_p(p)
        self.seed = _check_seed(seed)
        self.value_range = _check_range(value_range)
        self.options = dict(options or {})
        self._generator: torch.Generator | None = None  # the stream of `seed`, in this process
        self._pid = os.getpid()
        self._batch: _Batch | None = None  # set while transform_samples runs

    @property
    def model(self) -> ImageToImage:
        """The image-to-image model (loaded from its folder on first use in a worker process)."""
        return self.handle.model  # type: ignore[return-value]

    # ------------------------------------------------------------------ hooks
    def _labels(self) -> Any:
        """The ``labels`` argument of ``model.apply`` (translate: the target domain)."""
        return None

    def _model_input(self, u: torch.Tensor, form: ImageForm) -> torch.Tensor:
        """The image (N, C, H, W) in [0, 1] as the model takes it; ValueError for a wrong channel count."""
        want = self.model.in_channels
        if u.shape[1] != want:
            raise ValueError(
                f"{type(self).__name__} image: the {self.task} model takes {want}-channel images, got {u.shape[1]} "
                f"channel(s) (an image of shape {_shape_of(form, u)})"
            )
        return u

    def _follow(self, inpt: Any) -> Any:
        """Another leaf of a transformed sample (a mask, boxes): unchanged unless the geometry changes."""
        return inpt

    # ------------------------------------------------------------------ one sample
    def check_inputs(self, flat_inputs: list[Any]) -> None:
        videos = [type(leaf).__name__ for leaf in flat_inputs if isinstance(leaf, tv_tensors.Video)]
        if videos:
            raise ValueError(f"{type(self).__name__}: takes images, not videos; the sample holds {videos}")

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        batch = self._batch
        if batch is not None:  # inside transform_samples
            if batch.replay is not None:
                return {"job": next(batch.replay)}
            draw = None if batch.draws is None else batch.draws[len(batch.jobs)]
            batch.jobs.append(self._plan(flat_inputs, draw))
            return {"job": None}
        job = self._plan(flat_inputs)
        if job.apply:
            self._run([job])
        return {"job": job}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        job: _Job | None = params["job"]
        if job is None or not job.apply:
            return inpt
        return job.output if inpt is job.source else self._follow(inpt)

    def _plan(self, flat_inputs: list[Any], draw: tuple[bool, int] | None = None) -> _Job:
        """Find, read and check the image (whether or not it is transformed), then draw (or take) the decision."""
        image = _find_image(flat_inputs, type(self).__name__)
        u, form = read_image(image, float_range=self.value_range, what=f"{type(self).__name__} image")
        x = self._model_input(u, form)
        if draw is None:
            apply = bool(torch.rand(1).item() < self.p)
            return _Job(image, form, x, apply, self._draw_seed() if apply else None)
        return _Job(image, form, x, bool(draw[0]), int(draw[1]))

    def _draw_seed(self) -> int:
        if self.seed is None:
            return int(torch.randint(_SEED_BOUND, (1,)).item())
        if self._generator is None or self._pid != os.getpid():
            info = get_worker_info()
            own = self.seed if info is None else derive_seed(self.seed, "worker", info.seed)
            self._generator, self._pid = torch.Generator().manual_seed(own), os.getpid()
        return int(torch.randint(_SEED_BOUND, (1,), generator=self._generator).item())

    def _run(self, jobs: list[_Job], batch_size: int | None = None) -> None:
        """One ``model.apply`` per input size; each group's draws are seeded by its first image's seed."""
        groups: dict[tuple[int, ...], list[_Job]] = {}
        for job in jobs:
            groups.setdefault(tuple(job.x.shape[1:]), []).append(job)
        sizes = {} if batch_size is None else {"batch_size": batch_size}
        for group in groups.values():
            x = torch.cat([job.x for job in group])
            generator = torch.Generator().manual_seed(group[0].seed)
            out = self.model.apply(
                x, self._labels(), value_range=(0.0, 1.0), generator=generator, **sizes, **self.options
            )
            for job, part in zip(group, out.split([len(job.x) for job in group])):
                job.output = write_image(part, job.form, job.source)

    # ------------------------------------------------------------------ many samples
    def transform_samples(
        self, samples: Sequence[Any], draws: Sequence[tuple[bool, int]] | None = None, batch_size: int | None = None
    ) -> list[Any]:
        """Each sample transformed as ``self(sample)`` would, with one model run per image size.

        Two passes through v2's own ``forward``: the first only plans each sample's job (image,
        decision, seed), then the planned images run through the model together, and the second
        pass writes each output where the first found its image.

        Args:
            samples: what a DataLoader batches (a list of samples).
            draws: per sample, (apply, seed) decided by the caller (the HF mapper); None: drawn here.
            batch_size: images per model forward pass.
        """
        if isinstance(samples, str | bytes | Mapping) or not isinstance(samples, Sequence):
            raise TypeError(
                f"samples: expected a list of samples (what a DataLoader batches), got {type(samples).__name__}"
            )
        if draws is not None and len(draws) != len(samples):
            raise ValueError(f"draws: expected one (apply, seed) per sample ({len(samples)}), got {len(draws)}")
        self._batch = _Batch(list(draws) if draws is not None else None)
        try:
            for sample in samples:
                self(sample)  # plans only: make_params records the job, transform leaves every leaf alone
            self._run([job for job in self._batch.jobs if job.apply], batch_size)
            self._batch.replay = iter(self._batch.jobs)
            return [self(sample) for sample in samples]
        finally:
            self._batch = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_generator"] = None  # a worker process starts its own stream
        return state

    def extra_repr(self) -> str:
        return f"model={self.handle!r}, p={self.p}, seed={self.seed}"


def _shape_of(form: ImageForm, u: torch.Tensor) -> tuple[int, ...]:
    """The shape the user gave, for errors."""
    c, h, w = u.shape[1:]
    if form.kind == "tensor":
        return (*form.lead, c, h, w) if form.channel_axis else (h, w)
    return (h, w, c) if form.channel_axis else (h, w)


class SuperResolve(ImageToImageTransform):
    """With probability ``p``, replace the image by the model's super-resolved copy (``model.scale`` times larger).

    The sample's ``tv_tensors.Mask`` and ``tv_tensors.BoundingBoxes`` are resized along (masks by
    nearest neighbour), so detection and segmentation samples stay consistent; a second image in the
    sample is refused (wrap a mask as ``tv_tensors.Mask``).

    Args:
        model: a fitted ``superres`` `ImageToImage` model, or its folder.
        p: probability of transforming a sample.
        seed: seeds a generative model's draws (None: torch's global RNG; see the module docstring).
        value_range: the values of floating-point inputs (default [0, 1]).
        device: where the model runs (default the CPU).
        options: the family's sampling options, passed to ``model.apply``.

    Example:
        >>> import genaug, numpy as np
        >>> from genaug.data.images import image_patches, read_images
        >>> from genaug.data.pairs import make_pairs
        >>> pairs = make_pairs(image_patches(read_images("photos:china"), size=16, count=32), "superres", scale=2)
        >>> up = SuperResolve(genaug.fit(pairs, "rescnn", steps=5, channels=8, blocks=1, train={"progress": False}))
        >>> image, label = up(np.zeros((13, 18, 3), dtype=np.uint8), 1)
        >>> image.shape, image.dtype, label
        ((26, 36, 3), dtype('uint8'), 1)
    """

    task = "superres"

    def check_inputs(self, flat_inputs: list[Any]) -> None:
        super().check_inputs(flat_inputs)
        images = [type(leaf).__name__ for leaf in flat_inputs if isinstance(leaf, tv_tensors.Image | PIL.Image.Image)]
        if len(images) > 1:
            raise ValueError(
                f"SuperResolve: the sample holds {len(images)} images ({images}) and only one is super-resolved; "
                "wrap masks as tv_tensors.Mask (resized along) or pass one image"
            )

    def _follow(self, inpt: Any) -> Any:
        if isinstance(inpt, tv_tensors.TVTensor) and not isinstance(inpt, tv_tensors.Image):
            s = self.model.scale
            return TF.resize(inpt, [d * s for d in TF.get_size(inpt)])
        return inpt


class Colorize(ImageToImageTransform):
    """With probability ``p``, replace the image by the model's colour version of it (3 channels).

    Takes gray images (one channel: ``(1, H, W)`` or ``(H, W)`` tensors, PIL ``"L"``, ``(H, W)`` or
    ``(H, W, 1)`` arrays), and colour ones (three channels), which it turns gray first (BT.601 luma,
    as ``v2.Grayscale``; rounded to 8 bits for uint8 inputs) and so recolours. A PIL ``"L"`` image
    comes back ``"RGB"``; other containers keep their type and dtype with three channels.

    Args: as `SuperResolve`, with a ``colorize`` model.

    Example:
        >>> import genaug, PIL.Image
        >>> from genaug.data.images import image_patches, read_images
        >>> from genaug.data.pairs import make_pairs
        >>> pairs = make_pairs(image_patches(read_images("photos:china"), size=16, count=32), "colorize")
        >>> paint = Colorize(genaug.fit(pairs, "rescnn", steps=5, channels=8, blocks=1, train={"progress": False}))
        >>> image, label = paint(PIL.Image.new("L", (18, 13)), 0)
        >>> image.mode, image.size, label
        ('RGB', (18, 13), 0)
    """

    task = "colorize"

    def _model_input(self, u: torch.Tensor, form: ImageForm) -> torch.Tensor:
        if u.shape[1] == 3:
            gray = luma(u)
            return torch.round(gray * 255) / 255 if form.kind == "pil" or _is_uint8(form.dtype) else gray
        if u.shape[1] != 1:
            raise ValueError(
                f"Colorize image: expected a gray (1-channel) image, or a colour (3-channel) one to turn gray "
                f"first; got {u.shape[1]} channels (an image of shape {_shape_of(form, u)})"
            )
        return u


class Translate(ImageToImageTransform):
    """With probability ``p``, replace the image by the model's translation of it into the domain ``to``.

    The sample's label is kept: a labelled image moved into another domain (photo to sketch, day
    to night) keeps its class.

    Args:
        model: a fitted ``translate`` `ImageToImage` model, or its folder.
        to: the target domain, by name or index (one of ``model.spec.class_names``); None: the
            model's default (what ``model.apply`` does without labels).
        p, seed, value_range, device, options: as `SuperResolve`.
    """

    task = "translate"

    def __init__(
        self,
        model: ModelLike,
        to: int | str | None = None,
        p: float = 1.0,
        *,
        seed: int | None = None,
        value_range: tuple[float, float] | None = None,
        device: str | torch.device | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(model, p, seed=seed, value_range=value_range, device=device, options=options)
        names = list(self.model.spec.class_names)
        if to is not None:
            try:
                self.model.spec.class_index(to)
            except ValueError:
                raise ValueError(
                    f"to: unknown domain {to!r}; the model translates into {names} (by name or index)"
                ) from None
        self.to = to

    def _labels(self) -> Any:
        return self.to

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, to={self.to!r}"


_TRANSFORMS: dict[str, type[ImageToImageTransform]] = {
    "superres": SuperResolve,
    "colorize": Colorize,
    "translate": Translate,
}


def as_image_to_image(model_or_transform: Any, device: str | torch.device | None = None) -> ImageToImageTransform:
    """An image-to-image transform as it is, or a model (folder) wrapped in its task's transform with ``p=1``."""
    if isinstance(model_or_transform, ImageToImageTransform):
        return model_or_transform
    if not isinstance(model_or_transform, Generator | ModelHandle | str | os.PathLike):
        raise TypeError(
            "model_or_transform: expected SuperResolve, Colorize or Translate, an image-to-image model or its folder, "
            f"got {type(model_or_transform).__name__}"
        )
    given = model_or_transform
    handle = given if isinstance(given, ModelHandle) else ModelHandle(given, device)
    model = handle.model
    if not isinstance(model, ImageToImage):
        raise ValueError(
            "model_or_transform: expected an image-to-image model (superres, colorize, translate), "
            f"got a {model.family!r} generator"
        )
    if model.task.name not in _TRANSFORMS:
        raise ValueError(f"model_or_transform: a {model.task.name!r} model is used through {_transform_name(model.task.name)}, not as a per-image transform")
    return _TRANSFORMS[model.task.name](handle)


def _transform_name(task: str) -> str:
    """The transform that uses a model of ``task`` (harmonize models: TryOn's ``harmonizer``)."""
    return _TRANSFORMS[task].__name__ if task in _TRANSFORMS else "TryOn(harmonizer=model)"


class BatchedImageToImage:
    """A DataLoader ``collate_fn`` that runs an image-to-image transform once per batch, then collates.

    Each sample is transformed as the per-sample transform would (the same image search, checks
    and ``p`` decision, in the same order from the same RNG), but the model runs once per image size
    in the batch (images of one size go through in one ``model.apply``), not once per sample. For a
    deterministic model (``rescnn``) the outputs are the per-sample ones; a generative model's draws
    for a group of images follow one seed (the group's first), so they differ from the per-sample draws.

    Args:
        model_or_transform: a `SuperResolve`, `Colorize` or `Translate`, or an image-to-image model
            (or its folder), used with its task's transform at ``p=1``.
        collate_fn: collates the transformed samples (default ``default_collate``: images of one
            size and dtype; PIL images need a collate of their own).
        batch_size: images per forward pass inside ``model.apply`` (None: its default).

    Example:
        >>> import genaug, torch
        >>> from genaug.data.images import image_patches, read_images
        >>> from genaug.data.pairs import make_pairs
        >>> pairs = make_pairs(image_patches(read_images("photos:china"), size=16, count=32), "superres", scale=2)
        >>> model = genaug.fit(pairs, "rescnn", steps=5, channels=8, blocks=1, train={"progress": False})
        >>> collate = BatchedImageToImage(model)
        >>> images, labels = collate([(torch.zeros(3, 8, 8), 0), (torch.ones(3, 8, 8), 1)])
        >>> images.shape, labels.tolist()
        (torch.Size([2, 3, 16, 16]), [0, 1])
    """

    def __init__(
        self,
        model_or_transform: ImageToImageTransform | ModelLike,
        collate_fn: Callable[[list[Any]], Any] = default_collate,
        *,
        batch_size: int | None = None,
    ) -> None:
        if not callable(collate_fn):
            raise TypeError(
                f"collate_fn: expected a callable list of samples -> batch, got {type(collate_fn).__name__}"
            )
        self.transform = as_image_to_image(model_or_transform)
        self.collate_fn = collate_fn
        self.batch_size = _check_batch_size(batch_size)

    def __call__(self, samples: Sequence[Any]) -> Any:
        return self.collate_fn(self.transform.transform_samples(samples, batch_size=self.batch_size))

    def __repr__(self) -> str:
        collate = getattr(self.collate_fn, "__name__", self.collate_fn)
        return f"BatchedImageToImage({self.transform!r}, collate_fn={collate})"
