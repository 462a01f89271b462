"""torchvision v2 transforms that inject a generator into a per-sample pipeline.

Both transforms take the whole sample (an ``(image, label)`` tuple, a dict, or any structure v2
accepts), act on its image (the first ``tv_tensors.Image``, PIL image, or else the first plain
tensor, as v2 decides) and its class label (the first Python/numpy integer or 0-d integer tensor),
and pass every other leaf through. Images keep their type, dtype, shape and device; labels keep
their type. Like v2's own random transforms they draw their decisions from torch's global RNG
(seeded by ``torch.manual_seed`` and, in DataLoader workers, by the worker seed); synthetic samples
come from the `SamplePool`'s own seeded stream.

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
from collections.abc import Mapping
from typing import Any

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

__all__ = ["LatentJitter", "SyntheticSwap"]

_GEOMETRY = (tv_tensors.BoundingBoxes, tv_tensors.Mask)


def _is_image(leaf: Any) -> bool:
    """A tv_tensors.Image, a PIL image, or a plain tensor of at least one dimension (not another TVTensor)."""
    plain = isinstance(leaf, torch.Tensor) and not isinstance(leaf, tv_tensors.TVTensor)
    return isinstance(leaf, tv_tensors.Image | PIL.Image.Image) or plain and leaf.ndim >= 1


class _SampleTransform(Transform):
    """Marks the sample's image and label leaves for `transform`; everything else passes through."""

    needs_label = False

    def _needs_transform_list(self, flat_inputs: list[Any]) -> list[bool]:
        explicit = any(isinstance(leaf, tv_tensors.Image | PIL.Image.Image) for leaf in flat_inputs)
        image = next(
            (i for i, leaf in enumerate(flat_inputs) if (isinstance(leaf, tv_tensors.Image | PIL.Image.Image) if explicit else _is_image(leaf))),
            None,
        )
        label = next((i for i, leaf in enumerate(flat_inputs) if is_label(leaf)), None)
        if image is None:
            raise ValueError(
                f"{type(self).__name__}: the sample holds no image (a tv_tensors.Image, PIL image or tensor); "
                f"got leaves of types {[type(leaf).__name__ for leaf in flat_inputs]}"
            )
        if label is None and self.needs_label:
            raise ValueError(
                f"{type(self).__name__}: the sample holds no class label (an int or 0-d integer tensor beside the image); "
                "pass (image, label) samples"
            )
        return [i in (image, label) for i in range(len(flat_inputs))]

    def _split(self, flat_inputs: list[Any]) -> tuple[Any, Any]:
        """(image, label or None) among the leaves marked by `_needs_transform_list`."""
        image = next(leaf for leaf in flat_inputs if not is_label(leaf))
        label = next((leaf for leaf in flat_inputs if is_label(leaf)), None)
        return image, label

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if not params.get("apply"):
            return inpt
        if is_label(inpt):
            return label_like(params["label"], inpt) if "label" in params else inpt
        return params["image"]


class SyntheticSwap(_SampleTransform):
    """With probability ``p``, replace the sample by a synthetic one of the same class.

    With ``balance``, the synthetic sample's class is chosen to pull the stream's class
    distribution toward the target (rare classes are swapped in more), and the label is updated.

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
    ) -> None:
        super().__init__()
        self.pool = pool if isinstance(pool, SamplePool) else SamplePool(pool)
        self.p = check_p(p)
        self.value_range = check_value_range(value_range, self.pool.spec)
        self.balancer = None if balance is None else Balancer(balance, self.pool.spec, self.p)
        if data is not None:
            check_fits(self.pool.spec, spec_of(data))

    def check_inputs(self, flat_inputs: list[Any]) -> None:
        geometry = [type(leaf).__name__ for leaf in flat_inputs if isinstance(leaf, _GEOMETRY)]
        if geometry:
            raise ValueError(
                f"SyntheticSwap: the sample holds {geometry}, which a synthetic image would not match; "
                "SyntheticSwap is for (image, label) classification samples"
            )

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        image, label = self._split(flat_inputs)
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
        return {"apply": True, "image": to_form(x[0], form, like=image), "label": index}

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
    ) -> None:
        super().__init__()
        self.handle = ModelHandle(model, device)
        check_encoder(self.handle.model)
        self.sigma, self.p = check_sigma(sigma), check_p(p)
        self.value_range = check_value_range(value_range, self.handle.spec)
        if data is not None:
            check_fits(self.handle.spec, spec_of(data))

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        image, label = self._split(flat_inputs)
        spec = self.handle.spec
        form = Form.of(image, spec, value_range=self.value_range, what=f"{type(self).__name__} image")
        labels = None if label is None else torch.tensor([spec.class_index(int(label))])
        if not torch.rand(1).item() < self.p:
            return {"apply": False}
        model = self.handle.model
        if labels is None:
            labels = model.labels_or_most_frequent(None, 1, torch.device("cpu"))["label"]
        x = jitter(model, from_form(image, form, spec), labels, self.sigma)
        return {"apply": True, "image": to_form(x[0], form, like=image)}

    def extra_repr(self) -> str:
        return f"model={self.handle!r}, sigma={self.sigma}, p={self.p}"
