"""Virtual try-on as augmentation: an accessory on every face of an image (torchvision v2 transform `TryOn`).

`TryOn` finds the faces of a sample's image (`genaug.data.facedetect.detect_faces`, scikit-image's
LBP frontal-face cascade), scales and places an accessory on each by the face box's geometry
(`genaug.data.accessories`: ``sunglasses``, ``hat``, ``mask``, or an RGBA picture of your own), and
blends it in. Blending is plain alpha compositing by default; with ``harmonizer=`` a learned
image-to-image model (the ``harmonize`` task of `genaug.data.pairs`, fitted on your own images by
re-lighting regions of them) then adjusts the pasted pixels to the light of the image around them.
Either way only the pixels under the accessory (its alpha above 0) change; every other pixel is the
input's own value, exactly. An image without a detected face passes through unchanged (the very object).

The image is found as v2 finds it (the first ``tv_tensors.Image`` or PIL image, else the first plain
tensor, else a numpy array), as `genaug.transforms.SuperResolve` finds it, and comes back in its own
container, dtype and value range (`genaug.transforms._image2image.read_image` / ``write_image``):
tensors ``(..., C, H, W)`` or ``(H, W)``, numpy ``(H, W, C)`` or ``(H, W)``, PIL ``"L"`` / ``"RGB"``; C is
1 (a gray accessory, BT.601 luma) or 3. Other leaves (labels, masks, boxes) pass through: the
geometry does not change, and a segmentation mask stays the person's, accessory or not.

Counts: ``seen`` (images looked at), ``tried`` (chosen by ``p``), ``changed`` (given an accessory:
at least one face) and ``faces``, also as `TryOn.report`. In DataLoader workers each worker holds
its own copy of the transform, so the counts of the copy in the main process stay 0; count inside
the dataset (return a flag with the sample), or run the transform in the main process to count.

Example:
    >>> import skimage.data, torch
    >>> faces = torch.from_numpy(skimage.data.lfw_subset()[:4]).float()[:, None]  # four (1, 25, 25) faces
    >>> tryon = TryOn("sunglasses")
    >>> outs = [tryon(face) for face in faces]
    >>> tryon.report()
    {'seen': 4, 'tried': 4, 'changed': 4, 'faces': 4}
    >>> bool((outs[0] != faces[0]).any()), outs[0].shape, outs[0].dtype
    (True, torch.Size([1, 25, 25]), torch.float32)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import PIL.Image
import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import Transform

from genaug.data.accessories import Accessory, Anchor, load_accessory
from genaug.data.facedetect import check_min_face, detect_faces
from genaug.inject.core import check_p
from genaug.models.base import Generator
from genaug.models.handle import ModelHandle
from genaug.models.image2image import ImageToImage
from genaug.nn.color import luma
from genaug.transforms._image2image import ImageForm, _check_range, _find_image, _shape_of, read_image, write_image

__all__ = ["Harmonizer", "TryOn", "try_on"]

_CONTEXT = 0.5  # the harmonizer sees the accessory's box grown by this share of its size on every side


@runtime_checkable
class Harmonizer(Protocol):
    """What `TryOn` needs of a harmonization model (a fitted ``harmonize`` `ImageToImage` is one).

    ``apply`` takes ``(N, C + 1, H, W)`` images in ``value_range``: the composite's C channels, then the
    accessory's alpha in the same range; it returns the harmonized ``(N, C, H, W)``.
    """

    in_channels: int

    def apply(self, images: torch.Tensor, *, value_range: tuple[float, float]) -> torch.Tensor: ...


def _check_harmonizer_channels(model: Harmonizer, channels: int | None = None) -> None:
    want = model.in_channels
    if channels is None:
        if want not in (2, 4):
            raise ValueError(
                f"harmonizer: expected a model of gray or colour images plus their alpha (in_channels 2 or 4), got in_channels={want}"
            )
    elif want != channels + 1:
        raise ValueError(
            f"harmonizer: the model takes {want - 1}-channel images plus alpha (in_channels={want}), the image has "
            f"{channels} channel(s); fit the harmonizer on images like these"
        )


def _load_harmonizer(harmonizer: Any, device: str | torch.device | None) -> ModelHandle | Harmonizer | None:
    """A model folder or `Generator` as a `ModelHandle` (pickles as its folder), another `Harmonizer` as it is."""
    if harmonizer is None:
        return None
    if isinstance(harmonizer, ModelHandle | Generator | str | os.PathLike):
        handle = harmonizer if isinstance(harmonizer, ModelHandle) else ModelHandle(harmonizer, device)
        model = handle.model
        if not isinstance(model, ImageToImage) or model.task.name != "harmonize":
            what = f"a {model.task.name!r} model" if isinstance(model, ImageToImage) else "a model of another kind"
            raise ValueError(
                f"harmonizer: expected a 'harmonize' image-to-image model (genaug fit --task harmonize), got {what} ({model.family})"
            )
        _check_harmonizer_channels(model)
        return handle
    if (
        not isinstance(harmonizer, Harmonizer)
        or isinstance(harmonizer.in_channels, bool)
        or not isinstance(harmonizer.in_channels, int)
    ):
        raise TypeError(
            "harmonizer: expected a model folder, a fitted 'harmonize' model, or an object with in_channels and "
            f"apply(images, value_range=); got {type(harmonizer).__name__}"
        )
    _check_harmonizer_channels(harmonizer)
    return harmonizer


# ---------------------------------------------------------------------------------------- the core
def _scaled(rgba: np.ndarray, height: int, width: int, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The accessory resized to height x width: colour (channels, h, w) and alpha (1, h, w), straight, in [0, 1]."""
    picture = PIL.Image.fromarray(rgba).resize((width, height), PIL.Image.Resampling.LANCZOS)  # premultiplied inside
    values = torch.from_numpy(np.asarray(picture, dtype=np.float32) / 255).permute(2, 0, 1)
    colour, alpha = values[:3], values[3:]
    return (luma(colour) if channels == 1 else colour), alpha


def context_window(alpha: torch.Tensor) -> tuple[slice, slice, slice]:
    """The box of ``alpha`` (1, H, W) > 0 grown by `_CONTEXT` of its size on every side, clipped: what the harmonizer sees."""
    rows, cols = torch.nonzero(alpha[0] > 0, as_tuple=True)
    h, w = alpha.shape[-2:]
    top, bottom, left, right = int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1
    grow_r, grow_c = round((bottom - top) * _CONTEXT), round((right - left) * _CONTEXT)
    top, bottom, left, right = (
        max(0, top - grow_r),
        min(h, bottom + grow_r),
        max(0, left - grow_c),
        min(w, right + grow_c),
    )
    return slice(None), slice(top, bottom), slice(left, right)


def _harmonize(model: Harmonizer, out: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """``out`` (C, H, W) with the pixels under ``alpha`` (1, H, W) > 0 replaced by the model's.

    The model runs on the accessory's box grown by `_CONTEXT` on every side (`context_window`): the light around it.
    """
    window = context_window(alpha)
    x = torch.cat([out[window], alpha[window]])[None]  # (1, C + 1, h, w)
    harmonized = model.apply(x, value_range=(0.0, 1.0))[0].to(out.device, out.dtype)
    out = out.clone()
    out[window] = torch.where(alpha[window] > 0, harmonized, out[window])
    return out


def try_on(
    image: torch.Tensor,
    accessory: Accessory | str | os.PathLike,
    boxes: Sequence[Sequence[float]],
    harmonizer: Harmonizer | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``image`` with ``accessory`` on every face box, and the accessory's alpha (where pixels may have changed).

    Each accessory is scaled to its face (its `Anchor` sets width and place; it keeps its aspect
    ratio), clipped to the image and composited over it with its alpha ("over", in premultiplied
    colour, so two overlapping accessories stack). A gray image gets the accessory's BT.601 luma. With
    a ``harmonizer``, the pixels under the accessory are then replaced by the model's.

    Args:
        image: ``(C, H, W)`` floating-point values in [0, 1], C = 1 or 3.
        accessory: an `Accessory`, a shipped name or an RGBA file (`genaug.data.accessories.load_accessory`).
        boxes: face boxes (row, col, height, width) in the image's pixels (`genaug.data.facedetect.detect_faces`).
        harmonizer: a `Harmonizer` with ``in_channels == C + 1``, or None: plain alpha compositing.

    Returns:
        (out, alpha): ``out`` (C, H, W), equal to ``image`` wherever ``alpha`` (H, W) is 0.

    Example:
        >>> out, alpha = try_on(torch.full((3, 40, 40), 0.5), "mask", [(5.0, 5.0, 30.0, 30.0)])
        >>> bool(torch.equal(out[:, alpha == 0], torch.full((3, 40, 40), 0.5)[:, alpha == 0])), bool((alpha > 0).any())
        (True, True)
    """
    if (
        not isinstance(image, torch.Tensor)
        or image.ndim != 3
        or image.shape[0] not in (1, 3)
        or not image.is_floating_point()
    ):
        got = f"{tuple(image.shape)} {image.dtype}" if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"image: expected a floating-point tensor (C, H, W) in [0, 1] with C = 1 or 3, got {got}")
    accessory = load_accessory(accessory)
    channels, h, w = image.shape
    if harmonizer is not None:
        _check_harmonizer_channels(harmonizer, channels)
    layer = torch.zeros(channels, h, w)  # the accessories' premultiplied colour
    alpha = torch.zeros(1, h, w)
    for box in boxes:
        top, left, height, width = accessory.anchor.place(box, accessory.rgba.shape[:2])
        top, left, height, width = round(top), round(left), max(1, round(height)), max(1, round(width))
        r0, r1, c0, c1 = max(top, 0), min(top + height, h), max(left, 0), min(left + width, w)
        if r0 >= r1 or c0 >= c1:
            continue  # off the image
        colour, a = _scaled(accessory.rgba, height, width, channels)
        inside = (slice(None), slice(r0 - top, r1 - top), slice(c0 - left, c1 - left))
        here = (slice(None), slice(r0, r1), slice(c0, c1))
        colour, a = colour[inside], a[inside]
        layer[here] = a * colour + (1 - a) * layer[here]
        alpha[here] = a + (1 - a) * alpha[here]
    layer, alpha = layer.to(image.device, image.dtype), alpha.to(image.device, image.dtype)
    out = layer + (1 - alpha) * image
    out = torch.where(alpha > 0, out, image)  # exactly the input outside the accessory
    if harmonizer is not None and bool((alpha > 0).any()):
        out = _harmonize(harmonizer, out, alpha)
    return out, alpha[0]


def _keep_outside(written: Any, leaf: Any, form: ImageForm, region: torch.Tensor) -> Any:
    """``written`` where ``region`` (N, H, W) holds, the input ``leaf``'s own values elsewhere, in the leaf's form.

    Converting to [0, 1] and back is exact for 8-bit values, not for every float (float64, other
    value ranges): the pixels outside the accessory are copied from the input instead.
    """
    h, w = region.shape[-2:]
    if form.kind == "tensor":
        mask = region.reshape(*form.lead, 1, h, w) if form.channel_axis else region.reshape(h, w)
        kept = torch.where(mask.to(leaf.device), written.as_subclass(torch.Tensor), leaf.as_subclass(torch.Tensor))
        return tv_tensors.wrap(kept, like=leaf) if isinstance(leaf, tv_tensors.TVTensor) else kept
    mask = region[0].cpu().numpy()
    before, after = np.asarray(leaf), np.asarray(written)
    kept = np.where(mask[..., None] if before.ndim == 3 else mask, after, before)
    return PIL.Image.fromarray(kept) if form.kind == "pil" else kept


# ---------------------------------------------------------------------------------------- the transform
class TryOn(Transform):
    """With probability ``p``, put an accessory on every face of the sample's image (see the module docstring).

    Args:
        accessory: ``"sunglasses"``, ``"hat"``, ``"mask"``, the path of an RGBA (or LA) image, or an `Accessory`.
        harmonizer: a fitted ``harmonize`` model or its folder, or any `Harmonizer`; None: plain alpha
            compositing. Its ``in_channels`` must be the images' channels + 1.
        p: probability of trying an accessory on an image (torch's global RNG, as v2's own transforms).
        anchor: where the accessory goes on a face box (`genaug.data.accessories.Anchor`, four numbers,
            or a shipped name whose placement to borrow); None: the accessory's own.
        min_face: the smallest face to look for, in pixels (`genaug.data.facedetect.detect_faces`).
        value_range: the values of floating-point inputs (default [0, 1]).
        device: where the harmonizer runs (default the CPU).

    Attributes:
        seen, tried, changed, faces: counts of images looked at, tried (by ``p``), changed, and faces
            dressed, in this process (see the module docstring for DataLoader workers).

    Example:
        >>> import numpy as np
        >>> tryon = TryOn("hat", p=1.0)
        >>> blank = np.zeros((30, 30, 3), dtype=np.uint8)
        >>> tryon(blank) is blank, tryon.report()["changed"]  # no face: the very input, uncounted as changed
        (True, 0)
    """

    _transformed_types = (torch.Tensor, PIL.Image.Image, np.ndarray)  # v2 hands numpy arrays over too

    def __init__(
        self,
        accessory: Accessory | str | os.PathLike = "sunglasses",
        harmonizer: ImageToImage | ModelHandle | Harmonizer | str | os.PathLike | None = None,
        p: float = 1.0,
        *,
        anchor: Anchor | Sequence[float] | str | None = None,
        min_face: float | None = None,
        value_range: tuple[float, float] | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__()
        self.accessory = load_accessory(accessory, anchor)
        self.source = None if isinstance(accessory, Accessory) else os.fspath(accessory)  # what to serialize
        self.harmonizer = _load_harmonizer(harmonizer, device)
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.p = check_p(p)
        self.min_face = check_min_face(min_face)
        self.value_range = _check_range(value_range)
        self.seen = self.tried = self.changed = self.faces = 0

    @property
    def harmonizer_model(self) -> Harmonizer | None:
        """The harmonizer (loaded from its folder on first use in a worker process), or None."""
        if isinstance(self.harmonizer, ModelHandle):
            return self.harmonizer.model  # type: ignore[return-value]
        return self.harmonizer

    def report(self) -> dict[str, int]:
        """The counts of this copy of the transform: ``seen``, ``tried``, ``changed``, ``faces``."""
        return {"seen": self.seen, "tried": self.tried, "changed": self.changed, "faces": self.faces}

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        image = _find_image(flat_inputs, type(self).__name__)
        u, form = self._read(image)  # every sample, tried or not: a misfit fails at the first one
        self.seen += len(u)
        tried = bool(torch.rand(1).item() < self.p)
        return {"source": image, "output": self._dress(image, u, form) if tried else image}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return params["output"] if inpt is params["source"] else inpt

    def _read(self, image: Any) -> tuple[torch.Tensor, ImageForm]:
        """The image as (N, C, H, W) in [0, 1] and its form; ValueError for a channel count it cannot dress."""
        name = type(self).__name__
        u, form = read_image(image, float_range=self.value_range, what=f"{name} image")
        if u.shape[1] not in (1, 3):
            raise ValueError(
                f"{name} image: expected a gray (1-channel) or colour (3-channel) image, got {u.shape[1]} channels "
                f"(an image of shape {_shape_of(form, u)})"
            )
        if self.harmonizer is not None:
            _check_harmonizer_channels(self.harmonizer_model, u.shape[1])
        return u, form

    def _dress(self, image: Any, u: torch.Tensor, form: ImageForm) -> Any:
        """The image leaf with the accessory on each face (the leaf itself when no image in it has one)."""
        outs, regions = [], []
        for one in u:  # (C, H, W)
            boxes = detect_faces(one.permute(1, 2, 0).cpu().numpy(), min_face=self.min_face)
            out, alpha = (
                try_on(one, self.accessory, boxes, self.harmonizer_model)
                if boxes
                else (one, torch.zeros(one.shape[1:]))
            )
            outs.append(out)
            regions.append(alpha > 0)
            self.faces += len(boxes)
            self.changed += int(bool(regions[-1].any()))
        self.tried += len(u)
        region = torch.stack(regions)
        if not region.any():
            return image
        return _keep_outside(write_image(torch.stack(outs), form, image), image, form, region)

    def extra_repr(self) -> str:
        accessory = self.source if self.source is not None else "in memory"
        harmonizer = None if self.harmonizer is None else repr(self.harmonizer)
        return f"accessory={accessory!r}, harmonizer={harmonizer}, p={self.p}"
