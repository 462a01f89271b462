"""Scores of image-to-image models against ground truth: super-resolution, colorization, translation.

Held-out images are whole images the model was not fitted on (hold out by image: patches of one
photo are near copies of each other). Every function takes `genaug.data.images.NamedImage` lists
and returns one row per image plus the means, so a benchmark prints a per-image table.

- Super-resolution: PSNR and SSIM on the luminance Y of YCbCr (ITU-R BT.601, 16..235), with
  ``scale`` pixels cropped from each border, as the literature reports (SRCNN, EDSR); the same for
  bicubic upsampling of the same low-resolution input. SSIM: torchmetrics' (Gaussian window 11, sigma 1.5).
- Colorization: PSNR of the colour channels Cb, Cr (the luminance is given), against copying the gray
  input (Cb = Cr = 128); colourfulness (Hasler & Suesstrunk 2003) of outputs and truth; the mean
  absolute difference between two seeds' outputs (0 for a deterministic model).
- Translation: Frechet distance of translated A -> B to real B, next to A's own distance to B, in
  the features of a classifier trained to tell the two domains apart (`FeatureSpace`), and the
  cycle reconstruction PSNR A -> B -> A.
- Harmonization: on patches of held-out images with a region re-lit (`genaug.data.pairs.degrade`), the
  mean squared error inside the region (fMSE, 0..255 values, alpha-weighted) and the PSNR of the
  whole patch, for the harmonized output and for the composite as given (plain compositing).

`save_strips` draws side-by-side strips (input, output, truth, bicubic) for a report.

Example:
    >>> import torch
    >>> a = torch.rand(1, 3, 16, 16)
    >>> round(psnr_y(a, a.clone(), border=2)[0].item(), 1) > 90
    True
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics.functional.image import structural_similarity_index_measure

from genaug.data.arrayset import from_arrays
from genaug.data.images import NamedImage, image_patches, with_channels
from genaug.data.pairs import degrade, from_unit, to_unit
from genaug.evaluate.features import FeatureSpace
from genaug.evaluate.fidelity import frechet_distance
from genaug.models.image2image import ImageToImage
from genaug.nn.color import luma

__all__ = [
    "chroma_psnr",
    "colourfulness",
    "evaluate_colorize",
    "evaluate_harmonize",
    "evaluate_superres",
    "evaluate_translate",
    "fmse",
    "psnr_y",
    "save_strips",
    "ssim_y",
]


def _y(u: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> (N, 1, H, W) BT.601 studio-range Y in [0, 1] (16/255..235/255)."""
    r, g, b = u.unbind(1)
    return ((16.0 + 65.481 * r + 128.553 * g + 24.966 * b) / 255.0).unsqueeze(1)


def _crop(x: torch.Tensor, border: int) -> torch.Tensor:
    return x[..., border : x.shape[-2] - border, border : x.shape[-1] - border] if border else x


def _psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    mse = (a.double() - b.double()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp(min=1e-12))


def psnr_y(output: torch.Tensor, truth: torch.Tensor, *, border: int = 0) -> torch.Tensor:
    """Per-image PSNR (dB) on luminance Y of RGB images (N, 3, H, W) in [0, 1] (gray: (N, 1, H, W) as is)."""
    y_out, y_true = (_y(v) if v.shape[1] == 3 else v for v in (output, truth))
    return _psnr(_crop(y_out, border), _crop(y_true, border))


def ssim_y(output: torch.Tensor, truth: torch.Tensor, *, border: int = 0) -> torch.Tensor:
    """Per-image SSIM on luminance Y (see `psnr_y`)."""
    y_out, y_true = (_crop(_y(v) if v.shape[1] == 3 else v, border).double() for v in (output, truth))
    return structural_similarity_index_measure(y_out, y_true, data_range=1.0, reduction="none")


def chroma_psnr(output: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR (dB) of the colour channels Cb, Cr (BT.601) of RGB images in [0, 1]."""

    def cbcr(u: torch.Tensor) -> torch.Tensor:
        r, g, b = u.unbind(1)
        return torch.stack([(-37.797 * r - 74.203 * g + 112.0 * b) / 255.0, (112.0 * r - 93.786 * g - 18.214 * b) / 255.0], 1)

    return _psnr(cbcr(output), cbcr(truth))


def colourfulness(u: torch.Tensor) -> torch.Tensor:
    """Per-image colourfulness M of Hasler & Suesstrunk (2003) of RGB images in [0, 1], on the 0..255 scale.

    0 for a gray image; about 15 "slightly", 33 "moderately", 45 "averagely", 59 "quite" colourful.
    """
    r, g, b = (255.0 * u.double()).unbind(1)
    rg, yb = (r - g).flatten(1), (0.5 * (r + g) - b).flatten(1)
    return (rg.var(1, unbiased=False) + yb.var(1, unbiased=False)).sqrt() + 0.3 * (rg.mean(1) ** 2 + yb.mean(1) ** 2).sqrt()


def _unit(image: NamedImage, channels: int) -> torch.Tensor:
    array = with_channels(image, channels).array
    array = array if array.ndim == 3 else array[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1))).float()[None] / 255.0


def _check(model: Any, task: str) -> ImageToImage:
    if not isinstance(model, ImageToImage) or model.task.name != task:
        what = model.task.name if isinstance(model, ImageToImage) else type(model).__name__
        raise ValueError(f"model: expected a {task} model, got {what}")
    return model


def _mean_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k, v in rows[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return {"image": "mean", **{k: float(np.mean([r[k] for r in rows])) for k in keys}}


def evaluate_superres(
    model: ImageToImage, images: Sequence[NamedImage], *, seed: int = 0, batch_size: int = 1, **options: Any
) -> dict[str, Any]:
    """Super-resolve each held-out image's own downscaled version; PSNR/SSIM on Y against it and bicubic's.

    ``options`` go to ``model.apply`` (the family's sampling options, e.g. ``self_ensemble=True``).

    Returns ``{"rows": [{"image", "psnr", "ssim", "bicubic_psnr", "bicubic_ssim"}, ...], "mean": {...}}``.
    """
    model = _check(model, "superres")
    s, rows = model.scale, []
    for image in images:
        truth = _unit(image, model.out_channels)
        h, w = truth.shape[-2:]
        truth = truth[..., : h - h % s, : w - w % s]
        low = to_unit(model.spec, degrade(model.spec, from_unit(model.spec, truth), "superres", s)).clamp(0, 1)
        out = model.apply(low, value_range=(0, 1), generator=torch.Generator().manual_seed(seed), batch_size=batch_size, **options)
        bicubic = F.interpolate(low, scale_factor=s, mode="bicubic", align_corners=False).clamp(0, 1)
        bicubic = torch.round(bicubic * 255) / 255
        rows.append({
            "image": image.name,
            "psnr": psnr_y(out, truth, border=s).item(), "ssim": ssim_y(out, truth, border=s).item(),
            "bicubic_psnr": psnr_y(bicubic, truth, border=s).item(), "bicubic_ssim": ssim_y(bicubic, truth, border=s).item(),
        })
    return {"rows": rows, "mean": _mean_row(rows)}


def evaluate_colorize(model: ImageToImage, images: Sequence[NamedImage], *, seeds: Sequence[int] = (0, 1)) -> dict[str, Any]:
    """Colorize each held-out photo's gray version with two seeds; colour PSNR, colourfulness and seed difference.

    Returns rows ``{"image", "chroma_psnr", "gray_chroma_psnr", "colourfulness", "true_colourfulness",
    "seed_difference"}`` (seed difference: mean absolute difference of two seeds' outputs, 0..255) and the means.
    """
    model = _check(model, "colorize")
    if len(seeds) != 2:
        raise ValueError(f"seeds: expected two seeds to compare, got {list(seeds)}")
    rows = []
    for image in images:
        truth = _unit(image, 3)
        gray = torch.round(luma(truth) * 255) / 255
        outs = [model.apply(gray, value_range=(0, 1), generator=torch.Generator().manual_seed(s)) for s in seeds]
        rows.append({
            "image": image.name,
            "chroma_psnr": chroma_psnr(outs[0], truth).item(),
            "gray_chroma_psnr": chroma_psnr(gray.expand(-1, 3, -1, -1), truth).item(),
            "colourfulness": colourfulness(outs[0]).item(),
            "true_colourfulness": colourfulness(truth).item(),
            "seed_difference": 255.0 * (outs[0] - outs[1]).abs().mean().item(),
        })
    return {"rows": rows, "mean": _mean_row(rows)}


def fmse(output: torch.Tensor, truth: torch.Tensor, alpha: torch.Tensor) -> float:
    """Foreground MSE (iHarmony4): squared error inside the region ``alpha`` weighs, in 0..255 values, per region pixel and channel.

    ``output``, ``truth``: ``(..., C, H, W)`` in [0, 1]; ``alpha``: ``(..., 1, H, W)`` in [0, 1].
    """
    channels = output.shape[-3]
    return (255.0**2 * (alpha * (output - truth) ** 2).sum() / (alpha.sum() * channels).clamp(min=1e-6)).item()


def evaluate_harmonize(
    model: ImageToImage, images: Sequence[NamedImage], *, patches: int = 16, size: int = 64, seed: int = 0
) -> dict[str, Any]:
    """Harmonize ``patches`` re-lit patches of each held-out image; fMSE and PSNR against the real patch.

    Returns rows ``{"image", "fmse", "composite_fmse", "psnr", "composite_psnr"}`` (fMSE: mean squared
    error inside the re-lit region in 0..255 values; lower is closer to the real image) and the means.
    """
    model = _check(model, "harmonize")
    channels, rows = model.out_channels, []
    for index, image in enumerate(images):
        data = image_patches([with_channels(image, channels)], min(size, *image.array.shape[:2]), patches, seed=seed + index)
        spec = data.spec  # data.x is in model space
        truth = to_unit(spec, data.x).clamp(0, 1)
        composite = to_unit(spec, degrade(spec, data.x, "harmonize", seed=seed + index)).clamp(0, 1)
        alpha = composite[:, -1:]
        output = model.apply(composite, value_range=(0, 1))
        rows.append({
            "image": image.name,
            "fmse": fmse(output, truth, alpha),
            "composite_fmse": fmse(composite[:, :-1], truth, alpha),
            "psnr": _psnr(output, truth).mean().item(),
            "composite_psnr": _psnr(composite[:, :-1], truth).mean().item(),
        })
    return {"rows": rows, "mean": _mean_row(rows)}


def evaluate_translate(
    model: ImageToImage,
    images_a: Sequence[NamedImage],
    images_b: Sequence[NamedImage],
    *,
    size: int = 64,
    count: int = 256,
    seed: int = 0,
    feature_steps: int = 400,
) -> dict[str, Any]:
    """Frechet distance of translated A -> B to real B, against A's to B, and the cycle PSNR A -> B -> A.

    ``count`` patches of ``size`` per domain from the held-out images; the feature space is a
    classifier trained to tell those A patches from those B patches.
    """
    model = _check(model, "translate")
    names = list(model.spec.class_names)
    c = model.out_channels
    a = image_patches([with_channels(i, c) for i in images_a], size, count, seed=seed).user_x().float() / 255.0
    b = image_patches([with_channels(i, c) for i in images_b], size, count, seed=seed + 1).user_x().float() / 255.0
    to_b = model.apply(a, names[1], value_range=(0, 1), batch_size=32)
    back = model.apply(to_b, names[0], value_range=(0, 1), batch_size=32)
    both = torch.cat([a, b])
    labels = np.array([0] * len(a) + [1] * len(b))
    data = from_arrays((both * 255).round().to(torch.uint8).numpy(), labels, class_names=names, layout="CHW", levels=256, value_range=(0.0, 255.0))
    space = FeatureSpace.fit(data, steps=feature_steps, seed=seed)

    def features(u: torch.Tensor) -> torch.Tensor:
        return space.features(from_unit(data.spec, torch.round(u * 255) / 255))

    fa, fb, ft = features(a), features(b), features(to_b)
    p_b = space.predict_proba(from_unit(data.spec, torch.round(to_b * 255) / 255))[:, 1]
    return {
        "frechet_translated_to_b": frechet_distance(fb, ft),
        "frechet_a_to_b": frechet_distance(fb, fa),
        "frechet_b_halves": frechet_distance(fb[: len(fb) // 2], fb[len(fb) // 2 :]),
        "translated_classified_b": float((p_b > 0.5).float().mean()),
        "cycle_psnr": float(_psnr(back, a).mean()),
        "domain_classifier_val_accuracy": space.val_accuracy,
        "patches": count,
        "size": size,
    }


def save_strips(
    model: ImageToImage, images: Sequence[NamedImage], path: str | os.PathLike, *, crop: int = 96, seed: int = 0
) -> None:
    """A PNG with one row per image: input (nearest-upscaled), output, truth and, for superres, bicubic.

    A centre crop of ``crop`` output pixels per image keeps the strip readable.
    """
    from torchvision.utils import save_image

    from genaug.utils.io import atomic_path

    rows = []
    crop = min([crop, *(min(i.array.shape[:2]) for i in images)])
    for image in images:
        truth = _unit(image, model.out_channels)
        h, w = truth.shape[-2:]
        top, left = max(0, (h - crop) // 2), max(0, (w - crop) // 2)
        s = model.scale
        truth = truth[..., top : top + crop - crop % s, left : left + crop - crop % s]
        if model.task.name == "superres":
            source = to_unit(model.spec, degrade(model.spec, from_unit(model.spec, truth), "superres", s)).clamp(0, 1)
        elif model.task.name == "colorize":
            source = torch.round(luma(truth) * 255) / 255
        else:
            source = truth
        out = model.apply(source, value_range=(0, 1), generator=torch.Generator().manual_seed(seed))
        shown = [F.interpolate(source, scale_factor=s, mode="nearest").expand(-1, out.shape[1], -1, -1), out]
        if model.task.name != "translate":
            shown.append(truth)
        if model.task.name == "superres":
            shown.append(F.interpolate(source, scale_factor=s, mode="bicubic", align_corners=False).clamp(0, 1))
        rows.extend(v[0].expand(3, -1, -1) if v.shape[1] == 1 else v[0] for v in shown)
    with atomic_path(path, suffix=".png") as tmp:
        save_image(torch.stack(rows), tmp, nrow=len(rows) // len(images), padding=2, pad_value=1.0)


