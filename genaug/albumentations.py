"""albumentations transforms that inject a generator into a per-sample pipeline.

`SyntheticSwap` and `LatentJitter` are image-only albumentations transforms: they sit in
``A.Compose([...])`` beside ``A.HorizontalFlip`` and friends, take ``image=`` (an HWC or HW numpy
array, any dtype; uint8 and float32 are the usual ones) and give back an array of the same dtype
and shape. Values follow `genaug.inject.core`: a model of 8-bit images feeds uint8 pipelines 0..255
and float pipelines [0, 1]; other models keep their own range (digits stay 0..16) unless
``value_range=`` says where it goes. A classification pipeline passes the class label beside the
image, ``pipeline(image=img, label=y)``; the label key is a target of the transforms (so strict
``Compose`` accepts it) and comes back in the type it was given (int, numpy or 0-d tensor integer).

Randomness comes from albumentations' own per-transform generators, set by ``set_random_seed``
(``A.Compose(..., seed=s)`` calls it for every transform): the apply-or-not decision is
albumentations' (``py_random`` against ``p``); balanced class picks and latent noise are drawn from
``random_generator``; the `SamplePool` that serves synthetic samples is seeded by a draw from that
same generator. Two pipelines built with the same seed therefore give identical outputs for the same
inputs, and so does a pipeline restored by ``A.from_dict`` once re-seeded (albumentations 2.0.8 does
not serialize the seed).

Two gaps of albumentations 2.0.8 are closed here for these transforms. It gives every transform of a
pipeline the same seed, so transforms with the same ``p`` fire together: these transforms seed their
generators from the pipeline's seed and their class name instead, so a swap does not imply, say, a
flip. And it does nothing for DataLoader workers, which all start from a copy of the same generator
state: these transforms re-seed themselves on their first call in a worker process from their seed
and the seed torch gives that worker (``get_worker_info().seed``: distinct per worker and per epoch,
fixed by ``torch.manual_seed`` or the loader's ``generator``), so their streams differ across workers
and epochs and reproduce from run to run. albumentations' own transforms keep their behaviour.

Place them where images still have the model's shape, before resizing or cropping::

    pipeline = A.Compose([
        SyntheticSwap("runs/pets-vae", p=0.3),
        A.HorizontalFlip(),
        A.RandomBrightnessContrast(),
    ], seed=0)
    out = pipeline(image=image, label=label)  # out["image"], out["label"]

Both transforms serialize with ``A.to_dict`` / ``A.save``, the model referenced by its folder, under
their home ``genaug.albumentations`` (``"__class_fullname__": "genaug.albumentations.SyntheticSwap"``);
import ``genaug.albumentations`` before ``A.from_dict`` / ``A.load`` so albumentations can find the
classes. They pickle as their folder too (never the weights), for DataLoader workers.

Import them as ``from genaug.albumentations import SyntheticSwap, LatentJitter``.

Image-to-image models: `SuperResolve`, `Colorize` and `Translate` run a fitted `ImageToImage` model on
``image=`` (``(H, W, C)`` or ``(H, W)``, uint8 0..255 or float [0, 1]) as `genaug.transforms.SuperResolve`
and friends do, with the randomness, worker re-seeding and serialization described above.
`SuperResolve` changes the image's size and resizes ``mask``/``masks`` (nearest neighbour),
``bboxes`` and ``keypoints`` along; the two others keep the geometry.

Virtual try-on: `TryOn` puts an accessory (sunglasses, a hat, a face mask, or an RGBA file) on every
detected face of ``image=``, as `genaug.transforms.TryOn`; masks, boxes and keypoints pass unchanged.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np
import torch
from albumentations.core.composition import AVAILABLE_KEYS
from albumentations.augmentations.geometric.functional import keypoints_scale
from albumentations.core.transforms_interface import DualTransform, ImageOnlyTransform
from albumentations.core.type_definitions import Targets

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
from genaug.transforms import _image2image as i2i
from genaug.transforms import _tryon as tryon
from genaug.utils.seeding import derive_seed

__all__ = ["Colorize", "LatentJitter", "SuperResolve", "SyntheticSwap", "Translate", "TryOn"]

_RESERVED_KEYS = frozenset(AVAILABLE_KEYS) | {"images", "applied_transforms"}
_GEOMETRY_KEYS = ("mask", "masks", "bboxes", "keypoints")
_BATCH_SIZE = 256  # samples per class refill of an internal pool


class _Sample(NamedTuple):
    """What one pipeline call holds for the transform: the image, its form and its class."""

    image: np.ndarray
    form: Form
    index: int | None  # class index of the label in the model's classes; None without a label


def _check_label_key(label_key: Any) -> str:
    if not isinstance(label_key, str) or not label_key:
        raise TypeError(f"label_key: expected a non-empty string, got {label_key!r}")
    if label_key in _RESERVED_KEYS:
        raise ValueError(f"label_key: {label_key!r} is an albumentations target of its own; use another key")
    return label_key


class _OwnStream:
    """Seeding every genaug albumentations transform shares (mixed in before the albumentations class):
    a stream of its own from the pipeline's seed, re-seeded from the worker's seed in DataLoader workers."""

    def set_random_seed(self, seed: int | None) -> None:
        super().set_random_seed(seed)
        if seed is not None:  # our own stream, not in lockstep with the pipeline's other transforms
            own = derive_seed(seed, type(self).__name__)
            super().set_random_state(np.random.default_rng(own), random.Random(own))
        self._restart_streams()

    def _restart_streams(self) -> None:
        """Forget whatever was drawn from the previous random state (hook)."""

    def _follow_worker(self) -> None:
        """On the first call in a DataLoader worker, re-seed from our seed and the worker's seed."""
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        info = torch.utils.data.get_worker_info()
        if info is not None:
            base = self.seed if self.seed is not None else int(self.random_generator.integers(2**63))
            self.set_random_seed(derive_seed(base, "worker", info.seed))


class _GenerativeTransform(_OwnStream, ImageOnlyTransform):
    """What both transforms share: reading the sample, seeding, worker streams, serialization."""

    _targets = Targets.IMAGE
    needs_label = False

    def __init__(self, handle: ModelHandle, p: float, label_key: str, value_range: Any, data: Any) -> None:
        # set before albumentations' __init__, which reads `targets` and calls `set_random_seed`
        self.handle = handle
        self.label_key = _check_label_key(label_key)
        self.value_range = check_value_range(value_range, handle.spec)
        if data is not None:
            check_fits(handle.spec, spec_of(data))
        self._pid = os.getpid()
        super().__init__(p=check_p(p))

    @property
    def targets(self) -> dict[str, Callable[..., Any]]:
        return {"image": self.apply, self.label_key: self.apply_to_label}

    # ------------------------------------------------------------------ seeding
    def set_random_state(self, random_generator: np.random.Generator, py_random: random.Random) -> None:
        super().set_random_state(random_generator, py_random)
        self._restart_streams()

    # ------------------------------------------------------------------ one call
    def __call__(self, *args: Any, force_apply: bool = False, **data: Any) -> Any:
        if not args and not self.replay_mode:
            # checked on every call, applied or not, so a misfit fails at the first sample
            self._follow_worker()
            self._inspect(self._read(data), data)
        return super().__call__(*args, force_apply=force_apply, **data)

    def _read(self, data: dict[str, Any]) -> _Sample:
        name = type(self).__name__
        image = data.get("image")
        if not isinstance(image, np.ndarray):
            raise TypeError(
                f"{name}: expected image= an (H, W, C) or (H, W) numpy array, got {type(image).__name__} "
                f"(keys given: {sorted(data)})"
            )
        form = Form.of(image, self.handle.spec, value_range=self.value_range, what=f"{name} image")
        label = data.get(self.label_key)
        if label is None:
            if self.needs_label:
                raise ValueError(
                    f"{name}: the sample's class label is needed; call the pipeline as "
                    f"pipeline(image=..., {self.label_key}=y) (keys given: {sorted(data)})"
                )
            return _Sample(image, form, None)
        if not is_label(label):
            raise TypeError(
                f"{self.label_key}: expected an integer class index (int, numpy integer or 0-d tensor), got {label!r}"
            )
        return _Sample(image, form, self.handle.spec.class_index(int(label)))

    def _inspect(self, sample: _Sample, data: dict[str, Any]) -> None:
        """Look at every sample before the apply-or-not decision (hook)."""

    def apply(self, img: np.ndarray, replacement: np.ndarray, **params: Any) -> np.ndarray:
        return replacement

    def apply_to_label(self, label: Any, **params: Any) -> Any:
        return label

    # ------------------------------------------------------------------ serialization
    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return tuple(self.get_transform_init_args())

    def get_transform_init_args(self) -> dict[str, Any]:
        folder = self.handle.folder
        return {
            "model": str(folder) if folder is not None else repr(self.handle),
            "label_key": self.label_key,
            "value_range": self.value_range,
            "device": str(self.handle.device),
        }

    def to_dict_private(self) -> dict[str, Any]:
        if self.handle.folder is None:
            raise ValueError(
                f"{type(self).__name__}: cannot serialize a model held in memory; save it with "
                "model.save_pretrained(folder) and pass the folder as model="
            )
        return super().to_dict_private()


class SyntheticSwap(_GenerativeTransform):
    """With probability ``p``, replace the image by a synthetic one of its class.

    With ``balance``, the synthetic image's class is chosen to pull the stream's class distribution
    toward the target (`Balancer` with ratio ``p``, fed the real labels seen), so rare classes are
    swapped in more, and the label is updated (in DataLoader workers, each worker balances the labels
    it sees). The label must be passed: ``pipeline(image=img, label=y)``; it comes back in the type it
    was given.

    Args:
        model: a model folder (written by ``genaug fit`` or ``save_pretrained``), a fitted
            `Generator`, or a `SamplePool` whose settings (batch size, reuse, prefetch, filter,
            device) are used; its seed is replaced by one drawn from the pipeline's seed.
        p: probability of replacing an image.
        balance: ``None`` (same label), ``"uniform"`` or ``{class (index or name): weight}``.
        label_key: the key the label is passed under.
        value_range: where the model's value range goes in the pipeline (default: the
            conventions of `genaug.inject.core`).
        batch_size: samples the internal pool draws per class refill (default 256; not with a
            `SamplePool`, which has its own).
        device: where to run the model (default CPU; not with a `SamplePool`).
        data: optional data (DataSpec, ArraySet, dataset with ``.spec``) the pipeline reads; the
            generator is checked against it now.

    Example:
        >>> import albumentations as A, genaug, numpy as np
        >>> model = genaug.fit("digits", "gmm", steps=5)  # or its folder, to serialize the pipeline
        >>> pipeline = A.Compose([SyntheticSwap(model, p=1.0), A.HorizontalFlip()], seed=0)
        >>> out = pipeline(image=np.zeros((8, 8), dtype=np.float32), label=3)
        >>> out["image"].shape, out["image"].dtype, out["label"]
        ((8, 8), dtype('float32'), 3)
    """

    needs_label = True

    def __init__(
        self,
        model: SamplePool | Generator | str | os.PathLike,
        p: float = 0.5,
        *,
        balance: None | str | Mapping[int | str, float] = None,
        label_key: str = "label",
        value_range: tuple[float, float] | None = None,
        batch_size: int | None = None,
        device: str | torch.device | None = None,
        data: Any = None,
    ) -> None:
        p = check_p(p)
        if not isinstance(model, SamplePool | Generator | str | os.PathLike):
            raise TypeError(
                f"model: expected a model folder, a genaug Generator or a SamplePool, got {type(model).__name__}"
            )
        if isinstance(model, SamplePool):
            if batch_size is not None or device is not None:
                raise ValueError(
                    "batch_size, device: set them on the SamplePool given as model "
                    f"(got batch_size={batch_size!r}, device={device!r})"
                )
            self.source = model
        else:
            batch_size = _BATCH_SIZE if batch_size is None else batch_size
            self.source = SamplePool(model, batch_size=batch_size, prefetch=False, device=device)
        self.balance = balance
        self._balancer = None if balance is None else Balancer(balance, self.source.spec, p)
        self._pool: SamplePool | None = None
        super().__init__(self.source.handle, p, label_key, value_range, data)

    def _restart_streams(self) -> None:
        self._pool = None

    def _stream(self) -> SamplePool:
        """The pool serving this random state, seeded by a draw from it (built on first use)."""
        if self._pool is None:
            source = self.source
            self._pool = SamplePool(
                source.model,
                batch_size=source.batch_size,
                seed=int(self.random_generator.integers(2**63)),
                reuse=source.reuse,
                prefetch=source.prefetch,
                filter=source.filter,
                device=source.handle.device,
            )
        return self._pool

    def _inspect(self, sample: _Sample, data: dict[str, Any]) -> None:
        geometry = [key for key in _GEOMETRY_KEYS if data.get(key) is not None and len(data[key])]
        if geometry:
            raise ValueError(
                f"SyntheticSwap: the sample holds {geometry}, which a synthetic image would not match; "
                "SyntheticSwap is for (image, label) classification samples"
            )
        if self._balancer is not None:
            self._balancer.observe(torch.tensor([sample.index]))

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        sample = self._read(data)  # called only when albumentations decided to apply the transform
        index = sample.index
        if self._balancer is not None:
            index = int(self._balancer.pick(torch.tensor([self.random_generator.random()], dtype=torch.float64))[0])
        x, _ = self._stream().take([index])
        return {"replacement": to_form(x[0], sample.form), "class_index": index}

    def apply_to_label(self, label: Any, class_index: int, **params: Any) -> Any:
        return label_like(class_index, label)

    def get_transform_init_args(self) -> dict[str, Any]:
        return {**super().get_transform_init_args(), "balance": self.balance, "batch_size": self.source.batch_size}

    def to_dict_private(self) -> dict[str, Any]:
        if self.source.filter is not None or self.source.reuse != 1:
            raise ValueError(
                "SyntheticSwap: cannot serialize a SamplePool's filter or reuse "
                f"(filter={self.source.filter!r}, reuse={self.source.reuse}); "
                "build the transform from the model folder to serialize it"
            )
        return super().to_dict_private()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_pool"] = None  # holds the model in memory; rebuilt from `source` (a folder) on first use
        return state


class LatentJitter(_GenerativeTransform):
    """With probability ``p``, encode the image, add ``sigma`` x N(0, 1) to its latent, decode.

    For families with an encoder (``has_encoder``: vae, flow). The label, when passed
    (``pipeline(image=img, label=y)``), conditions the encoder and decoder and is not changed;
    without one the model's most frequent class is assumed.

    Args:
        model: a model folder or a fitted `Generator`.
        sigma: scale of the latent noise (the latents are standard normal under the model).
        p: probability of jittering an image.
        label_key: the key the label is passed under.
        value_range: as for `SyntheticSwap`.
        device: where to run the model (default CPU).
        data: optional data the pipeline reads; the generator is checked against it now.

    Example:
        >>> import albumentations as A, genaug, numpy as np
        >>> model = genaug.fit("digits", "vae", steps=20)
        >>> pipeline = A.Compose([LatentJitter(model, sigma=0.2, p=1.0)], seed=0)
        >>> pipeline(image=np.zeros((8, 8), dtype=np.float32), label=0)["image"].shape
        (8, 8)
    """

    def __init__(
        self,
        model: Generator | str | os.PathLike,
        sigma: float = 0.1,
        p: float = 0.5,
        *,
        label_key: str = "label",
        value_range: tuple[float, float] | None = None,
        device: str | torch.device | None = None,
        data: Any = None,
    ) -> None:
        handle = ModelHandle(model, device)
        check_encoder(handle.model)
        self.sigma = check_sigma(sigma)
        super().__init__(handle, p, label_key, value_range, data)

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        sample = self._read(data)
        model, spec = self.handle.model, self.handle.spec
        if sample.index is None:
            labels = model.labels_or_most_frequent(None, 1, torch.device("cpu"))["label"]
        else:
            labels = torch.tensor([sample.index])
        x = from_form(sample.image, sample.form, spec)  # (1, *user_shape)
        noise = lambda shape: torch.from_numpy(self.random_generator.standard_normal(shape))
        return {"replacement": to_form(jitter(model, x, labels, self.sigma, noise)[0], sample.form)}

    def get_transform_init_args(self) -> dict[str, Any]:
        return {**super().get_transform_init_args(), "sigma": self.sigma}


# ---------------------------------------------------------------------------------------- image-to-image
_UNSUPPORTED_KEYS = ("images", "volume", "volumes", "mask3d", "masks3d")


def _one_image(name: str, data: dict[str, Any]) -> np.ndarray:
    """The call's ``image=`` (an HWC or HW numpy array); TypeError/ValueError naming ``name`` otherwise."""
    image = data.get("image")
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name}: expected image= an (H, W, C) or (H, W) numpy array, got {type(image).__name__} (keys given: {sorted(data)})")
    others = [key for key in _UNSUPPORTED_KEYS if data.get(key) is not None]
    if others:
        raise ValueError(f"{name}: takes one image= per call, not {others}")
    return image


class _ImageToImage(_OwnStream):
    """What the image-to-image transforms share (mixed into an albumentations transform class).

    The model work is the torchvision transform's (`genaug.transforms.SuperResolve` ...), held at
    ``p=1``: albumentations decides whether to apply, and a seed drawn from ``random_generator``
    seeds a generative model's draws.
    """

    _transform_class: type[i2i.ImageToImageTransform]

    def __init__(
        self,
        model: Generator | str | os.PathLike,
        p: float = 1.0,
        *,
        device: str | torch.device | None = None,
        options: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        p = check_p(p)
        # before albumentations' __init__, which reads `targets` and calls `set_random_seed`
        self.inner = self._transform_class(model, p=1.0, device=device, options=options, **extra)
        self.handle = self.inner.handle
        self._pid = os.getpid()
        super().__init__(p=p)

    @property
    def targets(self) -> dict[str, Callable[..., Any]]:
        return {"image": self.apply}

    def __call__(self, *args: Any, force_apply: bool = False, **data: Any) -> Any:
        if not args and not self.replay_mode:
            self._follow_worker()
            self._check(data)
        return super().__call__(*args, force_apply=force_apply, **data)

    def _check(self, data: dict[str, Any]) -> None:
        """Check every sample, applied or not, so a misfit fails at the first one."""
        name = type(self).__name__
        image = _one_image(name, data)
        u, form = i2i.read_image(image, what=f"{name} image")
        self.inner._model_input(u, form)

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        seed = int(self.random_generator.integers(2**62))  # called only when albumentations applies the transform
        job = self.inner._plan([data["image"]], (True, seed))
        self.inner._run([job])
        return {"output": job.output}

    def apply(self, img: np.ndarray, output: np.ndarray, **params: Any) -> np.ndarray:
        return output

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return tuple(self.get_transform_init_args())

    def get_transform_init_args(self) -> dict[str, Any]:
        folder = self.handle.folder
        return {
            "model": str(folder) if folder is not None else repr(self.handle),
            "device": str(self.handle.device),
            "options": dict(self.inner.options),
        }

    def to_dict_private(self) -> dict[str, Any]:
        if self.handle.folder is None:
            raise ValueError(
                f"{type(self).__name__}: cannot serialize a model held in memory; save it with "
                "model.save_pretrained(folder) and pass the folder as model="
            )
        return super().to_dict_private()


class SuperResolve(_ImageToImage, DualTransform):
    """With probability ``p``, replace the image by the model's super-resolved copy (``model.scale`` times larger).

    The size changes, so the geometry follows: ``mask`` and ``masks`` are enlarged by nearest
    neighbour (each pixel repeated ``scale`` x ``scale`` times: the labels stay exact), ``keypoints``
    (and their size) are scaled; ``bboxes`` keep their place on the image (albumentations holds them
    normalized). Place it before crops and resizes that fix the pipeline's output size.

    Args:
        model: a fitted ``superres`` `ImageToImage` model or its folder (a folder to serialize the pipeline).
        p: probability of transforming an image.
        device: where the model runs (default the CPU).
        options: the family's sampling options, passed to ``model.apply``.

    Example:
        >>> import albumentations as A, genaug, numpy as np
        >>> from genaug.data.images import image_patches, read_images
        >>> from genaug.data.pairs import make_pairs
        >>> pairs = make_pairs(image_patches(read_images("photos:china"), size=16, count=32), "superres", scale=2)
        >>> model = genaug.fit(pairs, "rescnn", steps=5, channels=8, blocks=1, train={"progress": False})
        >>> pipeline = A.Compose([SuperResolve(model), A.HorizontalFlip()], seed=0)
        >>> out = pipeline(image=np.zeros((13, 18, 3), dtype=np.uint8), mask=np.ones((13, 18), dtype=np.uint8), label=4)
        >>> out["image"].shape, out["mask"].shape, out["label"]
        ((26, 36, 3), (26, 36), 4)
    """

    _transform_class = i2i.SuperResolve
    _targets = (Targets.IMAGE, Targets.MASK, Targets.BBOXES, Targets.KEYPOINTS)

    @property
    def targets(self) -> dict[str, Callable[..., Any]]:
        return {
            "image": self.apply,
            "mask": self.apply_to_mask,
            "masks": self.apply_to_masks,
            "bboxes": self.apply_to_bboxes,
            "keypoints": self.apply_to_keypoints,
        }

    def apply_to_mask(self, mask: np.ndarray, **params: Any) -> np.ndarray:
        s = self.inner.model.scale
        return np.repeat(np.repeat(mask, s, axis=0), s, axis=1)

    def apply_to_bboxes(self, bboxes: np.ndarray, **params: Any) -> np.ndarray:
        return bboxes  # normalized to the image's size: a uniform enlargement leaves them in place

    def apply_to_keypoints(self, keypoints: np.ndarray, **params: Any) -> np.ndarray:
        s = self.inner.model.scale
        return keypoints_scale(keypoints, s, s)


class Colorize(_ImageToImage, ImageOnlyTransform):
    """With probability ``p``, replace the image by the model's colour version of it (``(H, W, 3)``).

    Takes gray images (``(H, W)`` or ``(H, W, 1)``) and colour ones (``(H, W, 3)``, turned gray
    first: a recolouring); the output has three channels and the input's dtype.

    Args: as `SuperResolve`, with a ``colorize`` model.

    Example:
        >>> import albumentations as A, genaug, numpy as np
        >>> from genaug.data.images import image_patches, read_images
        >>> from genaug.data.pairs import make_pairs
        >>> pairs = make_pairs(image_patches(read_images("photos:china"), size=16, count=32), "colorize")
        >>> model = genaug.fit(pairs, "rescnn", steps=5, channels=8, blocks=1, train={"progress": False})
        >>> A.Compose([Colorize(model)], seed=0)(image=np.zeros((13, 18), dtype=np.uint8))["image"].shape
        (13, 18, 3)
    """

    _transform_class = i2i.Colorize
    _targets = Targets.IMAGE


class Translate(_ImageToImage, ImageOnlyTransform):
    """With probability ``p``, replace the image by the model's translation of it into the domain ``to``.

    Args:
        model: a fitted ``translate`` `ImageToImage` model or its folder.
        to: the target domain, by name or index; None: the model's default.
        p, device, options: as `SuperResolve`.
    """

    _transform_class = i2i.Translate
    _targets = Targets.IMAGE

    def __init__(
        self,
        model: Generator | str | os.PathLike,
        to: int | str | None = None,
        p: float = 1.0,
        *,
        device: str | torch.device | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(model, p, device=device, options=options, to=to)

    def get_transform_init_args(self) -> dict[str, Any]:
        return {**super().get_transform_init_args(), "to": self.inner.to}


# ---------------------------------------------------------------------------------------- try-on
class TryOn(_OwnStream, ImageOnlyTransform):
    """With probability ``p``, put an accessory on every face of ``image=`` (`genaug.transforms.TryOn`'s work).

    Faces are found by scikit-image's LBP cascade, the accessory (``sunglasses``, ``hat``, ``mask``, or
    your RGBA file) is placed by each face box and alpha-composited, or blended by a ``harmonizer``;
    only the pixels under the accessory change, and an image without a face comes back as it was.
    ``image=`` is ``(H, W, C)`` or ``(H, W)``, C = 1 or 3, uint8 0..255 or float [0, 1]; the output has
    its shape and dtype. The geometry does not change, so ``mask``/``masks``, ``bboxes`` and
    ``keypoints`` pass through unchanged (keypoints under the accessory, e.g. eyes behind
    sunglasses, stay where they are).

    Counts (``seen``, ``changed``, `report`) are those of this copy: DataLoader workers each count in
    their own copy.

    Args:
        accessory: a shipped name or the path of an RGBA image (a path to serialize the pipeline).
        harmonizer: a fitted ``harmonize`` model or its folder (a folder to serialize), or None.
        p: probability of trying an accessory on an image (albumentations' decision, from its own stream).
        anchor, min_face, device: as `genaug.transforms.TryOn`.

    Example:
        >>> import albumentations as A, numpy as np, skimage.data
        >>> face = (skimage.data.lfw_subset()[0] * 255).astype(np.uint8)  # (25, 25)
        >>> pipeline = A.Compose([TryOn("sunglasses"), A.HorizontalFlip(p=1.0)], seed=0)
        >>> out = pipeline(image=face, mask=np.ones((25, 25), dtype=np.uint8))
        >>> out["image"].shape, out["image"].dtype, int(out["mask"].sum()), pipeline.transforms[0].report()["changed"]
        ((25, 25), dtype('uint8'), 625, 1)
    """

    _targets = Targets.IMAGE

    def __init__(
        self,
        accessory: str | os.PathLike = "sunglasses",
        harmonizer: Generator | str | os.PathLike | None = None,
        p: float = 1.0,
        *,
        anchor: Any = None,
        min_face: float | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        p = check_p(p)
        # before albumentations' __init__, which reads `targets` and calls `set_random_seed`
        self.inner = tryon.TryOn(accessory, harmonizer, p=1.0, anchor=anchor, min_face=min_face, device=device)
        self._pid = os.getpid()
        super().__init__(p=p)

    @property
    def targets(self) -> dict[str, Callable[..., Any]]:
        return {"image": self.apply}

    @property
    def seen(self) -> int:
        return self.inner.seen

    @property
    def changed(self) -> int:
        return self.inner.changed

    def report(self) -> dict[str, int]:
        """Images ``seen``, ``tried`` (by ``p``), ``changed`` (given an accessory) and ``faces`` dressed, in this copy."""
        return self.inner.report()

    def __call__(self, *args: Any, force_apply: bool = False, **data: Any) -> Any:
        if not args and not self.replay_mode:
            self._follow_worker()
            image = _one_image("TryOn", data)
            self.inner.seen += len(self.inner._read(image)[0])  # every image, tried or not: a misfit fails at once
        return super().__call__(*args, force_apply=force_apply, **data)

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        image = data["image"]  # called only when albumentations applies the transform
        return {"output": self.inner._dress(image, *self.inner._read(image))}

    def apply(self, img: np.ndarray, output: np.ndarray, **params: Any) -> np.ndarray:
        return output

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return tuple(self.get_transform_init_args())

    def get_transform_init_args(self) -> dict[str, Any]:
        harmonizer = self.inner.harmonizer
        folder = harmonizer.folder if isinstance(harmonizer, ModelHandle) else None
        return {
            "accessory": self.inner.source,
            "harmonizer": None if harmonizer is None else str(folder) if folder is not None else repr(harmonizer),
            "anchor": list(self.inner.accessory.anchor),
            "min_face": self.inner.min_face,
            "device": str(self.inner.device),
        }

    def to_dict_private(self) -> dict[str, Any]:
        harmonizer = self.inner.harmonizer
        if self.inner.source is None or (harmonizer is not None and getattr(harmonizer, "folder", None) is None):
            what = "an accessory" if self.inner.source is None else "a harmonizer"
            raise ValueError(
                f"TryOn: cannot serialize {what} held in memory; pass the accessory's name or file and the harmonizer's "
                "folder (model.save_pretrained(folder))"
            )
        return super().to_dict_private()
