"""The image-to-image sub-command ``apply`` (and its ``--tryon``), and the training pairs of ``fit --task``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genaug.cli.options import option_flag, option_values

__all__ = ["TASK_FAMILIES", "add_parsers", "task_pairs"]

logger = logging.getLogger("genaug")


def add_parsers(sub: Any) -> None:
    """The sub-commands of this module, on the parser's ``add_subparsers`` object."""
    p = sub.add_parser("apply", help="run an image-to-image model (super-resolve, colorize, translate), or a virtual try-on, on images",
                       description="Apply a model fitted with `genaug fit --task` to INPUT (an image file, or a folder searched "
                       "recursively) and write the results to --out (a file, or a folder mirroring INPUT's). With --tryon ACCESSORY "
                       "(no MODEL): put the accessory on every face found in INPUT's images, write the results and contact_sheet.png "
                       "(each input beside its output) to the folder --out, and print how many images changed.")
    p.add_argument("model", type=Path, nargs="?", default=None, help="model folder of `genaug fit --task ...` (not with --tryon)")
    p.add_argument("input", type=Path, help="an image file or a folder of images")
    p.add_argument("--out", required=True, type=Path, help="output image file, or a folder (--tryon: always a folder)")
    p.add_argument("--to", default=None, help="translate: the target domain, by name or index (default: domain B)")
    option_flag(p)
    p.add_argument("--seed", type=int, default=0, help="seeds a generative model's draws (default 0)")
    p.add_argument("--tryon", default=None, metavar="ACCESSORY",
                   help="virtual try-on: sunglasses, hat, mask, or an RGBA image file, placed on every detected face")
    p.add_argument("--harmonizer", type=Path, default=None, metavar="MODEL",
                   help="--tryon: a model folder of `genaug fit --task harmonize` that blends the accessory into the image's light "
                   "(default: plain alpha compositing); gray or colour images are converted to its channels")
    p.set_defaults(run=_cmd_apply)


TASK_FAMILIES = {"superres": "rescnn", "colorize": "rescnn", "translate": "cyclegan", "harmonize": "rescnn"}  # default family per --task


def task_pairs(args: argparse.Namespace) -> Any:
    """Training pairs of ``--task`` from the images of ``--data`` (and ``--data-b``), any size."""
    from genaug.data.pairs import task_data

    flags = [f for f, v in (("--holdout", args.holdout), ("--levels", args.levels), ("--value-range", args.value_range)) if v is not None]
    if flags:
        raise ValueError(f"{' and '.join(flags)}: not taken with --task (hold out whole images: keep them in another folder)")
    if args.lossy is not None and args.task != "superres":
        raise ValueError(f"--lossy: taken only with --task superres, not {args.task}")
    return task_data(
        args.data, args.task, scale=args.scale, source_b=args.data_b, size=args.patch_size, count=args.patches, seed=args.seed or 0,
        lossy=args.lossy or "downscale",
    )


def _cmd_apply(args: argparse.Namespace) -> int:
    import genaug
    from genaug.data.images import load_image, save_image
    from genaug.models.image2image import ImageToImage

    if args.tryon is not None:
        return _apply_tryon(args)
    if args.harmonizer is not None:
        raise ValueError(f"--harmonizer: {str(args.harmonizer)!r} blends a try-on; it is taken only with --tryon")
    if args.model is None:
        raise ValueError("model: expected MODEL INPUT (an image-to-image model folder, then the images), or --tryon ACCESSORY INPUT")
    model = genaug.load(args.model)
    if not isinstance(model, ImageToImage):
        raise ValueError(f"model: {args.model} holds a {model.family!r} generator, not an image-to-image model (fit one with --task)")
    options = option_values(args, model)
    files, targets = _apply_targets(Path(args.input), Path(args.out), folder_out=False)
    generator = torch.Generator().manual_seed(args.seed)
    for f, t in zip(files, targets):
        image = load_image(f, model.in_channels)
        result = model.apply(image[None], args.to, value_range=(0, 255), generator=generator, **options)[0]
        save_image(result, t)
    logger.info("wrote %d %s image(s) to %s", len(files), model.task.name, args.out)
    return 0


def _apply_targets(source: Path, out: Path, *, folder_out: bool) -> tuple[list[Path], list[Path]]:
    """The image files of ``source`` (a file, or a folder searched recursively) and where each result goes.

    ``folder_out``: ``out`` is always a folder (try-on: the results beside a contact sheet).
    """
    from genaug.data.images import IMAGE_SUFFIXES

    if out.exists() and not out.is_dir() and (folder_out or source.is_dir()):
        raise ValueError(f"--out: {str(out)!r} is a file; {'--tryon' if folder_out else 'an input folder'} needs an output folder")
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
        if not files:
            raise ValueError(f"input: the folder {str(source)!r} holds no images with suffixes {list(IMAGE_SUFFIXES)}")
        targets = [out / f.relative_to(source) for f in files]
    elif source.is_file():
        files, targets = [source], [out / source.name if folder_out or out.is_dir() else out]
    else:
        raise FileNotFoundError(f"input: no such image file or folder {str(source)!r}")
    if any(t.resolve() == f.resolve() for f, t in zip(files, targets)):
        raise ValueError(f"--out: {str(out)!r} would overwrite the input images; choose another path")
    return files, targets


_SHEET_CELL = 128  # pixels per image of the contact sheet


_SHEET_IMAGES = 64  # images (pairs) shown on it at most


def _apply_tryon(args: argparse.Namespace) -> int:
    """`genaug apply --tryon`: the accessory on every face of INPUT's images, the results and a contact sheet in --out."""
    from genaug.data.images import read_images, save_image, with_channels
    from genaug.transforms import TryOn
    from genaug.utils.pictures import save_image_grid

    if args.model is not None:
        raise ValueError(f"model: {str(args.model)!r} is not taken with --tryon; give INPUT alone (the blending model is --harmonizer)")
    if args.to is not None:
        raise ValueError(f"--to: {args.to!r} is for translate models, not --tryon")
    out = Path(args.out)
    files, targets = _apply_targets(Path(args.input), out, folder_out=True)
    if out / "contact_sheet.png" in targets:
        raise ValueError(f"input: an image named contact_sheet.png would be overwritten by the contact sheet in {str(out)!r}; rename it")
    tryon = TryOn(args.tryon, harmonizer=args.harmonizer)
    channels = None if tryon.harmonizer is None else tryon.harmonizer_model.in_channels - 1
    sheet = []
    for f, t in zip(files, targets):
        image = read_images(f)[0]
        array = with_channels(image, channels).array if channels else image.array
        before, after = (torch.from_numpy(np.ascontiguousarray(a.reshape(*a.shape[:2], -1).transpose(2, 0, 1))) for a in (array, tryon(array)))
        save_image(after, t)
        if len(sheet) < 2 * _SHEET_IMAGES:
            sheet += [_sheet_cell(before), _sheet_cell(after)]
    save_image_grid(torch.stack(sheet), out / "contact_sheet.png", nrow=2 * min(4, len(files)), upscale=1)
    counts = tryon.report()
    print(f"tryon {args.tryon}: changed {counts['changed']} of {counts['seen']} image(s) ({counts['faces']} face(s)); "
          f"wrote {len(files)} image(s) and contact_sheet.png to {out}")
    return 0


def _sheet_cell(image: torch.Tensor) -> torch.Tensor:
    """A uint8 (C, H, W) image fitted into a white RGB square of `_SHEET_CELL` pixels, [0, 1], for the contact sheet."""
    scale = _SHEET_CELL / max(image.shape[1:])
    size = [max(1, round(image.shape[1] * scale)), max(1, round(image.shape[2] * scale))]
    resized = torch.nn.functional.interpolate(image[None].float() / 255, size=size, mode="bilinear", antialias=True, align_corners=False)[0]
    cell = torch.ones(3, _SHEET_CELL, _SHEET_CELL)
    top, left = (_SHEET_CELL - size[0]) // 2, (_SHEET_CELL - size[1]) // 2
    cell[:, top : top + size[0], left : left + size[1]] = resized.clamp(0, 1).expand(3, -1, -1)
    return cell
