"""Image-to-image tasks, and the training pairs they make from the user's own images.

An image-to-image model is a generator of images conditioned on another image (an ``image``
condition, `genaug.data.conditions`): ``p(x | lowres)``, ``p(x | gray)``, ``p(x | source, domain)``.
Pairs come from unpaired images, so any image folder trains the first two with no labels:

- ``superres``: the condition ``lowres`` is the image downscaled ``scale`` times (bicubic with
  antialiasing, the degradation of the super-resolution literature), on the data's 8-bit grid.
  `task_data` first halves JPEG images (``lossy="downscale"``): a model trained to restore their
  pixels learns to draw their 8 x 8 blocks and ringing, and loses 0.7 dB on clean held-out photos
  (BENCHMARKS.md, image-to-image);
- ``colorize``: the condition ``gray`` is the image's BT.601 luma (as ``v2.Grayscale``);
- ``translate``: unpaired translation between two domains, the data's two classes; the condition
  ``source`` is the image to translate, and the label names the domain to translate it into. The
  training records are their own sources (nothing is paired).
- ``harmonize``: image harmonization (Cong et al., DoveNet, CVPR 2020: pairs by re-lighting a region of
  a real image). The condition ``composite`` is the image with a random region re-lit (brightness,
  contrast, gamma, colour cast) plus one more channel, the region's alpha (in the image's value range,
  as an RGBA or LA image's alpha): the model learns to make a pasted object's lighting match the
  image around it, which is what `genaug.transforms.TryOn` blends an accessory with.

The declaration in ``spec.conditions`` names the task, so a saved model knows what it does:
``{"lowres": {"kind": "image", "channels": 3, "scale": 2, "task": "superres"}}``.

Values: models work in model space (`DataSpec.to_model`); `to_unit`/`from_unit` map image data
(``grid`` or ``range`` scaling) to [0, 1] and back, continuously (the grid is applied only when
samples go back to the user).

Example:
    >>> import genaug
    >>> from genaug.data.images import image_patches, read_images
    >>> patches = image_patches(read_images("photos:china"), size=16, count=4)
    >>> pairs = make_pairs(patches, "superres", scale=2)
    >>> pairs.x.shape, pairs.cond["lowres"].shape
    (torch.Size([4, 3, 16, 16]), torch.Size([4, 3, 8, 8]))
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from genaug.data.arrayset import ArraySet
from genaug.data.conditions import ImageCondition
from genaug.data.images import NamedImage, downscale, image_patches, read_images, with_channels
from genaug.data.spec import DataSpec
from genaug.nn.color import luma

__all__ = ["LOSSY_POLICIES", "TASKS", "ImageTask", "degrade", "from_unit", "image_task", "make_pairs", "task_data", "to_unit"]


@dataclass(frozen=True)
class ImageTask:
    """One image-to-image task: the condition it adds and how (see the module docstring)."""

    name: str
    condition: str  # the condition's name in the spec
    paired: bool  # whether the condition is made from the record itself (False: unpaired domains)
    scales: tuple[int, ...] = (1,)  # the scales it takes


_IMAGE_MODALITIES = ("image",)  # what the tasks take: channels-first images with a value range

logger = logging.getLogger(__name__)

LOSSY_POLICIES = ("downscale", "keep")  # task_data(lossy=...): JPEG images for super-resolution

TASKS: dict[str, ImageTask] = {
    "superres": ImageTask("superres", "lowres", True, (2, 3, 4, 8)),
    "colorize": ImageTask("colorize", "gray", True),
    "translate": ImageTask("translate", "source", False),
    "harmonize": ImageTask("harmonize", "composite", True),
}


def _unit_map(spec: DataSpec) -> tuple[float, float]:
    """``u = a * z + b`` from model space to [0, 1] of the value range (exact on the grid's bin centres)."""
    if spec.scaling == "grid":
        levels = spec.levels
        return levels / (2.0 * (levels - 1)), (levels / 2.0 - 0.5) / (levels - 1)
    if spec.scaling == "range":
        return 0.5, 0.5
    raise ValueError(f"spec: image-to-image tasks need images with a value range (grid or range scaling), not {spec.scaling!r} data")


def to_unit(spec: DataSpec, z: torch.Tensor) -> torch.Tensor:
    """Model-space images -> [0, 1] of the spec's value range (any channel count, not clipped)."""
    a, b = _unit_map(spec)
    return z * a + b


def from_unit(spec: DataSpec, u: torch.Tensor) -> torch.Tensor:
    """[0, 1] of the spec's value range -> model space (any channel count)."""
    a, b = _unit_map(spec)
    return (u - b) / a


def _quantize(spec: DataSpec, u: torch.Tensor) -> torch.Tensor:
    """Round [0, 1] values to the data's grid (an 8-bit input is what a model will be given)."""
    u = u.clamp(0, 1)
    return torch.round(u * (spec.levels - 1)) / (spec.levels - 1) if spec.scaling == "grid" else u


def image_task(spec: DataSpec) -> tuple[ImageTask, dict[str, Any]]:
    """The task and condition declaration of an image-to-image spec; ValueError if it has none."""
    found = [(TASKS[d["task"]], d) for d in spec.conditions.values() if d.get("kind") == ImageCondition.name and d.get("task") in TASKS]
    if len(found) != 1:
        raise ValueError(
            f"spec: expected exactly one image condition naming a task {sorted(TASKS)} (data from genaug.data.pairs.make_pairs), "
            f"got conditions {spec.conditions}"
        )
    return found[0]


def degrade(spec: DataSpec, x: torch.Tensor, task: str, scale: int = 1, *, seed: int = 0) -> torch.Tensor:
    """The condition a paired task makes from model-space images ``x`` (N, C, H, W): model space.

    ``superres``: ``H`` and ``W`` must be multiples of ``scale``. ``harmonize``: ``seed`` draws the
    regions and their re-lighting; the result has ``C + 1`` channels (the composite, then the alpha).
    """
    u = to_unit(spec, x.float())
    if task == "harmonize":
        generator = torch.Generator().manual_seed(seed)
        alpha = region_masks(len(u), *u.shape[-2:], generator=generator)
        composite = alpha * relight(u, generator=generator) + (1 - alpha) * u
        return from_unit(spec, torch.cat([_quantize(spec, composite), _quantize(spec, alpha)], dim=1))
    if task == "superres":
        h, w = x.shape[-2:]
        if h % scale or w % scale:
            raise ValueError(f"x: height and width {h}x{w} must be multiples of scale={scale}")
        u = F.interpolate(u, size=(h // scale, w // scale), mode="bicubic", antialias=True, align_corners=False)
    elif task == "colorize":
        u = luma(u)
    elif task != "translate":
        raise ValueError(f"task: expected one of {sorted(TASKS)}, got {task!r}")
    return from_unit(spec, _quantize(spec, u))


def region_masks(n: int, height: int, width: int, *, generator: torch.Generator) -> torch.Tensor:
    """``n`` random soft-edged regions (N, 1, H, W) in [0, 1]: an ellipse, a box, or two ellipses side by side.

    Sizes from a fifth to two thirds of the image's side, centred in its middle 70%: the shapes and sizes an
    accessory covers on a face (a hat's brim, a mask, the two lenses of sunglasses).
    """
    rows = torch.arange(height, dtype=torch.float32)[:, None] + 0.5
    cols = torch.arange(width, dtype=torch.float32)[None, :] + 0.5
    masks = torch.empty(n, 1, height, width)
    params = torch.rand(n, 6, generator=generator)
    for i, (kind, cy, cx, ry, rx, gap) in enumerate(params.tolist()):
        ry, rx = (0.1 + ry * 0.23) * height, (0.1 + rx * 0.23) * width
        cy, cx = (0.15 + 0.7 * cy) * height, (0.15 + 0.7 * cx) * width  # inside the image
        shape = int(kind * 3)
        if shape == 0:  # ellipse: the soft edge is one pixel wide
            dist = torch.sqrt(((rows - cy) / ry) ** 2 + ((cols - cx) / rx) ** 2)
            mask = ((1 - dist) * min(ry, rx) + 0.5).clamp(0, 1)
        elif shape == 1:  # box
            mask = ((ry - (rows - cy).abs() + 0.5).clamp(0, 1)) * ((rx - (cols - cx).abs() + 0.5).clamp(0, 1))
        else:  # two ellipses side by side (lenses)
            half, offset = rx / 2, rx * (0.55 + 0.3 * gap)
            lens = [torch.sqrt(((rows - cy) / (0.6 * ry)) ** 2 + ((cols - cx - s * offset) / half) ** 2) for s in (-1, 1)]
            mask = torch.maximum(*[((1 - d) * min(0.6 * ry, half) + 0.5).clamp(0, 1) for d in lens])
        masks[i, 0] = mask
    return masks


def relight(u: torch.Tensor, *, generator: torch.Generator) -> torch.Tensor:
    """``u`` (N, C, H, W) in [0, 1] under a random other light: gain, gamma, offset and (colour) a cast per image."""
    n, c = u.shape[:2]
    draw = lambda *shape: torch.rand(*shape, generator=generator)
    gain = torch.exp((draw(n, 1, 1, 1) * 2 - 1) * 0.5)  # 0.61 .. 1.65
    gamma = torch.exp((draw(n, 1, 1, 1) * 2 - 1) * 0.4)  # 0.67 .. 1.49
    offset = (draw(n, 1, 1, 1) * 2 - 1) * 0.1
    cast = torch.exp((draw(n, c, 1, 1) * 2 - 1) * 0.2) if c > 1 else torch.ones(n, 1, 1, 1)  # 0.82 .. 1.22 per channel
    return (gain * cast * u.clamp(0, 1) ** gamma + offset).clamp(0, 1)


def make_pairs(data: ArraySet, task: str, *, scale: int = 2, seed: int = 0) -> ArraySet:
    """Training data for ``task``: ``data``'s images with the task's condition (see the module docstring).

    Args:
        data: image data with a value range (e.g. `genaug.data.images.image_patches`); for
            ``translate``, two classes, the two domains.
        task: ``superres``, ``colorize``, ``translate`` or ``harmonize``.
        scale: the super-resolution factor (2, 3, 4 or 8); images are cropped to its multiples.
        seed: ``harmonize``: the re-lit regions.
    """
    if task not in TASKS:
        raise ValueError(f"task: expected one of {sorted(TASKS)}, got {task!r}")
    spec, info = data.spec, TASKS[task]
    if spec.modality not in _IMAGE_MODALITIES:
        raise ValueError(f"data: image-to-image tasks take images, got {spec.modality} data")
    _unit_map(spec)
    if spec.conditions:
        raise ValueError(f"data: already has conditions {sorted(spec.conditions)}; pass plain images")
    scale = scale if task == "superres" else 1
    if scale not in info.scales:
        raise ValueError(f"scale: the {task} task takes {list(info.scales)}, got {scale!r}")
    channels = spec.shape[0]
    if task == "colorize" and channels != 3:
        raise ValueError(f"data: colorize needs colour (3-channel) images to learn from, got {channels} channel(s)")
    if task == "translate" and spec.num_classes != 2:
        raise ValueError(
            f"data: translate needs images of two domains as two classes, got {spec.num_classes} ({list(spec.class_names)})"
        )
    x = data.x
    if scale > 1:
        h, w = (s - s % scale for s in spec.shape[1:])
        if h == 0 or w == 0:
            raise ValueError(f"data: images of {spec.shape[1]}x{spec.shape[2]} are smaller than scale={scale}")
        x = x[:, :, :h, :w]
    cond = x.clone() if task == "translate" else degrade(spec, x, task, scale, seed=seed)
    cond_channels = {"colorize": 1, "harmonize": channels + 1}.get(task, channels)
    declared = {info.condition: {"kind": ImageCondition.name, "channels": cond_channels, "scale": scale, "task": task}}
    new_spec = spec.model_copy(update={"shape": tuple(x.shape[1:]), "conditions": declared})
    new_spec = DataSpec.model_validate(new_spec.model_dump())
    return ArraySet(x.contiguous(), data.y, new_spec, {info.condition: cond.contiguous()})


def task_data(
    source: Any,
    task: str,
    *,
    scale: int = 2,
    source_b: Any = None,
    size: int | None = None,
    count: int | None = None,
    seed: int = 0,
    lossy: str = "downscale",
) -> ArraySet:
    """Training pairs for ``task`` from whole images of any size: what ``genaug fit --task`` fits on.

    Args:
        source: images for `genaug.data.images.read_images` (a file, a folder, a list, ``photos``,
            ``photos:china,flower``, ``textures:grass``); for ``translate``, domain A.
        task: ``superres``, ``colorize``, ``translate`` or ``harmonize``.
        scale: the super-resolution factor.
        source_b: ``translate`` only: the images of domain B.
        size: the side of the square training patches (of the output, at full resolution); default
            ``32 * scale`` for superres (32 x 32 inputs whatever the scale, so a step costs the same
            and sees as many pixels at x4 as at x2), 64 for the others.
        count: patches in all (random crops: they overlap, more is more variety); default 4,000.
        seed: the patches' positions (and ``harmonize``'s re-lit regions).
        lossy: ``superres`` only, what to do with images decoded from a lossy format (JPEG):
            ``"downscale"`` halves them first (antialiased), which averages their compression
            artifacts away, so the model does not learn to draw them (an image too small to halve
            into one patch is kept as it is, with a warning); ``"keep"`` uses them as they are.

    Example:
        >>> task_data("photos:china", "colorize", size=16, count=8).spec.conditions["gray"]["task"]
        'colorize'
    """
    if task not in TASKS:
        raise ValueError(f"task: expected one of {sorted(TASKS)}, got {task!r}")
    if (task == "translate") != (source_b is not None):
        raise ValueError(
            "source_b: translate needs the images of a second domain (--data-b), and only translate takes them"
            if task == "translate" else f"source_b: only the translate task takes a second image source, not {task}"
        )
    if size is None:
        size = 32 * scale if task == "superres" else 64
    if isinstance(size, bool) or not isinstance(size, int) or size < 2:
        raise ValueError(f"size: expected the patch side in pixels, an integer >= 2, got {size!r}")
    if lossy not in LOSSY_POLICIES:
        raise ValueError(f"lossy: expected one of {list(LOSSY_POLICIES)}, got {lossy!r}")
    channels = 3 if task == "colorize" else None
    images = read_images(source, channels=channels)
    if task == "superres" and lossy == "downscale":
        images = _clean_lossy(images, size)
    labels = None
    if task == "translate":
        images_b = read_images(source_b)
        images = _same_channel_count(images, images_b)
        name_a, name_b = _domain_name(source, "a"), _domain_name(source_b, "b")
        if name_a == name_b:
            name_a, name_b = "a", "b"
        labels = [name_a] * (len(images) - len(images_b)) + [name_b] * len(images_b)
    if count is None:
        count = 4000
    return make_pairs(image_patches(images, size, count, seed=seed, labels=labels), task, scale=scale, seed=seed)


def _clean_lossy(images: list[NamedImage], size: int) -> list[NamedImage]:
    """Each lossy image halved (antialiased), unless that leaves no ``size`` patch; logged either way."""
    halved, kept, out = [], [], []
    for image in images:
        if image.lossy and min(image.array.shape[:2]) // 2 >= size:
            image = downscale(image, 2)
            halved.append(image.name)
        elif image.lossy:
            kept.append(image.name)
        out.append(image)
    if halved:
        logger.info("superres: %d JPEG image(s) halved before cutting patches, so the model does not learn their "
                    "compression artifacts (lossy='keep' uses them as they are): %s", len(halved), ", ".join(halved[:5]))
    if kept:
        logger.warning("superres: %d JPEG image(s) too small to halve into a %dx%d patch, used as they are (their "
                       "compression artifacts are learned as detail): %s", len(kept), size, size, ", ".join(kept[:5]))
    return out


def _same_channel_count(images_a: list, images_b: list) -> list:
    """Domain A's images followed by B's, all with B's channel count (gray A and colour B: colour)."""
    channels = 3 if any(i.array.ndim == 3 for i in [*images_a, *images_b]) else 1
    return [with_channels(i, channels) for i in [*images_a, *images_b]]


def _domain_name(source: Any, default: str) -> str:
    """A short name for a domain's source: the folder's or file's name, the bundled image names."""
    if isinstance(source, (list, tuple)):
        return default
    text = os.fspath(source)
    group, _, names = text.partition(":")
    if group in ("photos", "textures"):
        return names.replace(",", "+") or group
    return Path(text).stem or default
