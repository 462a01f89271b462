"""The ``genaug`` command line: ``families``, ``fit``, ``sample``, ``generate``, ``eval``, ``apply`` and ``run``.

Every sub-command has ``--help``. Errors a user can cause or meet (a bad argument, a missing or corrupt
file, a full disk, a read-only output folder) print one line and exit with status 2, leaving no
half-written file behind; ``--debug`` also prints the traceback. An interrupt (Ctrl-C) exits with 130.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

__all__ = ["main", "parse_labels"]

logger = logging.getLogger("genaug")


def parse_labels(text: str | None, n: int, class_names: Sequence[str]) -> list[int] | None:
    """Labels for ``n`` samples from the ``--labels`` syntax.

    ``None``: the training proportions (decided by the model); ``"balanced"``: equal counts per
    class (the first classes get one more when ``n`` does not divide); ``"3"`` or a class name: all
    of that class; ``"0,3,7"``: the listed classes in turn until there are ``n``.

    Example:
        >>> parse_labels("0,3", 5, [str(i) for i in range(10)])
        [0, 3, 0, 3, 0]
    """
    if text is None:
        return None
    names = list(class_names)

    def index(token: str) -> int:
        token = token.strip()
        if token in names:
            return names.index(token)
        if token.lstrip("-").isdigit() and 0 <= int(token) < len(names):
            return int(token)
        raise ValueError(f"--labels: unknown class {token!r}; expected 0..{len(names) - 1}, one of {names}, or 'balanced'")

    if text.strip() == "balanced":
        return [i % len(names) for i in range(n)]
    classes = [index(token) for token in text.split(",") if token.strip()]
    if not classes:
        raise ValueError(f"--labels: no class given in {text!r}")
    return [classes[i % len(classes)] for i in range(n)]


def _key_values(pairs: Sequence[str], flag: str) -> dict[str, Any]:
    """``["a=1", "b=[2, 3]"]`` -> ``{"a": 1, "b": [2, 3]}`` (values read as numbers or YAML)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag}: expected KEY=VALUE, got {pair!r}")
        try:
            out[key.strip()] = _scalar(value)
        except yaml.YAMLError as err:  # a value YAML cannot read, or a tag safe loading refuses (!!python/...)
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise ValueError(f"{flag}: {key.strip()}={value!r:.60} is not a number, a string or a YAML list/mapping ({problem})") from None
    return out


def _sampling_options(args: argparse.Namespace, model: Any) -> dict[str, Any]:
    """``--option KEY=VALUE ...``: the model family's sampling options, checked by name before anything is drawn."""
    options = _key_values(args.option or [], "--option")
    try:
        model.check_sampling_options(options)
    except TypeError as err:
        raise ValueError(f"--option: {err}") from None
    return options


def _option_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--option", nargs="*", metavar="KEY=VALUE",
                   help="the family's sampling options, e.g. --option guidance=3 (diffusion) or temperature=0.8 (vae); see `genaug families`")


def _scalar(text: str) -> Any:
    """A number when ``text`` is one (YAML 1.1 would read ``1e-3`` as a string), else YAML."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return yaml.safe_load(text)


def _cmd_families(args: argparse.Namespace) -> int:
    import genaug

    for name in genaug.families():
        cls = genaug.models.get_family(name)
        caps = [c for c in ("has_likelihood", "likelihood_is_bound", "has_encoder") if getattr(cls, c)]
        options = cls.sampling_options()
        caps += [f"sampling: {', '.join(options)}"] if options else []
        print(f"{name:10s} {cls.__name__:18s} {' '.join(caps)}")
    return 0


def _cmd_fit(args: argparse.Namespace) -> int:
    import genaug

    train = _key_values(args.train or [], "--train")
    for field in ("batch_size", "lr", "mixed_precision"):
        if getattr(args, field) is not None:
            train[field] = getattr(args, field)
    config = _key_values(args.set or [], "--set")
    data = _task_data(args) if args.task is not None else _load_split(args, "train")
    family = args.family or (_TASK_FAMILIES.get(args.task) if not args.resume else None)
    model = genaug.fit(
        data, family, out=args.out, steps=args.steps, seed=args.seed, resume=args.resume, train=train, **config
    )
    logger.info("saved %s model to %s", model.family, args.out)
    return 0


_TASK_FAMILIES = {"superres": "rescnn", "colorize": "rescnn", "translate": "cyclegan", "harmonize": "rescnn"}  # default family per --task


def _task_data(args: argparse.Namespace) -> Any:
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
    options = _sampling_options(args, model)
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


def _cmd_sample(args: argparse.Namespace) -> int:
    import genaug
    from genaug.utils.io import atomic_path

    if args.n < 0:
        raise ValueError(f"-n: expected a non-negative number of samples, got {args.n}")
    if not str(args.out).endswith(".npz"):
        raise ValueError(f"--out: expected a path ending in .npz, got {args.out}")
    model = genaug.load(args.model)
    options = _sampling_options(args, model)
    spec = model.spec
    labels = parse_labels(args.labels, args.n, spec.class_names)
    generator = torch.Generator().manual_seed(args.seed)
    resolved = model.resolve_labels(args.n, labels, generator=generator)
    samples = model.sample(args.n, resolved, generator=generator, **options)
    x = samples.cpu().numpy() if isinstance(samples, torch.Tensor) else np.asarray(samples, dtype=str)  # text: a string array
    with atomic_path(args.out, suffix=".npz") as tmp, open(tmp, "wb") as f:
        np.savez(f, x=x, y=resolved.cpu().numpy(), class_names=np.array(spec.class_names))
    if args.grid is not None:
        spec.save_samples(spec.to_model(x), args.grid, nrow=min(10, max(1, args.n)))
    logger.info("wrote %d samples to %s", args.n, args.out)
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from genaug.hf import generate_dataset

    if args.n < 1:
        raise ValueError(f"-n: expected a positive number of rows, got {args.n}")
    import genaug

    device = args.device
    if device is None and torch.cuda.is_available():  # each process on its own GPU (shared round-robin when fewer)
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0')) % torch.cuda.device_count()}"
    model = genaug.load(args.model, device=device)  # once: its classes read the labels, then it samples
    labels: Any = (args.labels or "prior").strip()
    if labels not in ("prior", "uniform"):
        labels = parse_labels(args.labels, args.n, model.spec.class_names)
    data = generate_dataset(
        model, args.n, args.out, labels=labels, seed=args.seed, batch_size=args.batch_size,
        chunk_size=args.chunk_size, provenance=args.provenance, overwrite=args.overwrite, device=device,
        options=_sampling_options(args, model),
    )
    if int(os.environ.get("RANK", "0")) == 0:
        processes = int(os.environ.get("WORLD_SIZE", "1"))
        logger.info("wrote %d rows to %s (%d process%s)", len(data), args.out, processes, "es" if processes > 1 else "")
    return 0


def _load_split(args: argparse.Namespace, part: str) -> Any:
    """The ``--data`` source, or its ``part`` ("train"/"test") of the ``--holdout`` split."""
    data = _load_data(args, args.data)
    if args.holdout is None:
        return data
    train, test = data.train_test_split(args.holdout, seed=args.split_seed)
    return train if part == "train" else test


def _cmd_eval(args: argparse.Namespace) -> int:
    import genaug
    from genaug.utils.io import atomic_write_json

    model = genaug.load(args.model)
    if args.train is not None and args.holdout is not None:
        raise ValueError(f"--train: {args.train!r} names the training data, which --holdout {args.holdout:g} splits off --data; give one")
    data = _load_data(args, args.data)
    if args.train is not None:
        train, test = _load_data(args, args.train), data
    else:
        train, test = data.train_test_split(args.holdout, seed=args.split_seed) if args.holdout is not None else (data, data)
    cache = args.model / "eval"
    pairs = args.pairs if args.pairs is not None else cache / "nearest_pairs.png"
    report = {"model": str(args.model), "data": args.data, "train": args.train, "holdout": args.holdout, "split_seed": args.split_seed}
    report.update(
        genaug.evaluate(model, test, train=train, seed=args.seed, draws=args.draws, n_per_class=args.n_per_class, cache_dir=cache, pairs=pairs)
    )
    where = (
        f" (held-out {args.holdout:g}; memorization against the other part)" if args.holdout is not None
        else f" (memorization against {args.train})" if args.train is not None
        else " (the data it was fitted on, presumably)"
    )
    print(f"{model.family} model {args.model} on {len(test)} samples of {args.data}{where}; {report['n_samples']} samples drawn")
    for name, value, note in _eval_rows(report):
        print(f"  {name:<34} {value:>10}  {note}")
    if args.json is not None:
        atomic_write_json(args.json, report)
    return 0


def _eval_rows(report: dict) -> list[tuple[str, str, str]]:
    """(metric, value, how to read it) rows of `genaug eval`'s table."""
    rows = []
    likelihood = report["likelihood"]
    if likelihood is None:
        rows.append(("bits/dim", "n/a", "the family has no likelihood"))
    else:
        note = "upper bound (the family's likelihood is a bound)" if likelihood["is_bound"] else "lower is better"
        rows.append(("bits/dim", f"{likelihood['bits_per_dim']:.4f}", note + ("" if likelihood["discrete"] else "; continuous density")))
        rows.append(("bits/dim given the label", f"{likelihood['bits_per_dim_conditional']:.4f}", ""))
        rows.append(("bits/dim on the training records", f"{likelihood['train_bits_per_dim']:.4f}",
                     f"gap {likelihood['generalization_gap']:+.4f}: held-out minus training; large = memorizing"))
    fid = report["fidelity"]
    rows += [
        ("class fidelity", f"{fid['class_fidelity']['accuracy']:.3f}", "share labelled as asked by the real-data classifier"),
        ("Frechet distance (features)", f"{fid['frechet_distance']:.3f}", "0 = same mean and covariance"),
        ("KID (features)", f"{fid['kid']['mean']:.4f}", f"+- {fid['kid']['std']:.4f}; 0 = same distribution"),
        ("precision / recall", f"{fid['prdc']['precision']:.3f} / {fid['prdc']['recall']:.3f}", "fidelity / diversity"),
        ("density / coverage", f"{fid['prdc']['density']:.3f} / {fid['prdc']['coverage']:.3f}", "Naeem et al. 2020; ~1 / ~1 for real data"),
        ("MMD^2 (features)", f"{fid['mmd']:.4f}", "Gaussian kernel, median bandwidth; 0 = same distribution"),
        ("C2ST accuracy", f"{fid['c2st']['accuracy']:.3f}", "real vs synthetic classifier; 0.5 = indistinguishable"),
    ]
    for space, result in report["memorization"].items():
        rows.append((f"memorization ratio ({space})", f"{result['ratio']:.3f}", f"~1 = fresh samples, 0 = copies; near-copies {result['near_copy_share']:.1%}"))
    for name, result in report["filters"].items():
        rows.append((f"{name} filter would drop", f"{result['dropped_share']:.1%}", ", ".join(f"{k}={v}" for k, v in result.items() if k not in ("seen", "dropped", "dropped_share"))))
    if report["anomaly"] is not None:
        anomaly = report["anomaly"]
        rows.append(("anomaly threshold flags (held out)", f"{anomaly['held_out_flagged']:.1%}",
                     f"threshold fitted on the training records for {anomaly['fpr']:.0%} false positives"))
    if "pairs" in report:
        rows.append(("closest pairs", "", report["pairs"]["path"]))
    return rows


def _add_value_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--levels", type=int, default=None, metavar="N",
                   help="the values are a grid of N levels (with --value-range: over it; e.g. --levels 17 --value-range 0 16)")
    p.add_argument("--value-range", dest="value_range", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help="the lowest and highest value the data can take (default: inferred and printed by fit)")
    p.add_argument("--text-column", dest="text_column", default=None, metavar="NAME",
                   help="text files (.csv, .jsonl, .json): the column holding the strings (default: text)")
    p.add_argument("--label-column", dest="label_column", default=None, metavar="NAME",
                   help="text files: the column holding the labels (default: label)")


def _value_options(args: argparse.Namespace) -> dict[str, Any]:
    """`load_source` keyword arguments of --levels / --value-range (checked here, so errors name the flag)."""
    options: dict[str, Any] = {}
    levels, value_range = getattr(args, "levels", None), getattr(args, "value_range", None)
    if levels is not None:
        if levels < 2:
            raise ValueError(f"--levels: expected a grid of at least 2 levels, got {levels}")
        options["levels"] = levels
    if value_range is not None:
        low, high = value_range
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"--value-range: expected LOW < HIGH, two finite numbers; got {low:g} {high:g}")
        options["value_range"] = (low, high)
    return options


def _column_options(args: argparse.Namespace) -> dict[str, Any]:
    """`load_source` keyword arguments of --text-column / --label-column."""
    return {k: getattr(args, k) for k in ("text_column", "label_column") if getattr(args, k, None) is not None}


def _load_data(args: argparse.Namespace, source: str) -> Any:
    """``source`` with the --levels / --value-range declaration, refused clearly where the source has its own."""
    import genaug

    options, columns = _value_options(args), _column_options(args)
    try:
        return genaug.load_source(source, **options, **columns)
    except TypeError as err:
        if not options and not columns:
            raise
        flags = " and ".join(f"--{name.replace('_', '-')}" for name in [*options, *columns])
        what = "declares its own values and takes" if options else "has no columns to choose and takes"
        raise ValueError(f"{flags}: the source {source!r} {what} no such option ({err})") from None


def _add_split_args(p: argparse.ArgumentParser, part: str) -> None:
    p.add_argument("--holdout", type=float, default=None, metavar="FRACTION",
                   help=f"use the {part} part of a stratified split of --data that holds out FRACTION (scikit-learn's train_test_split)")
    p.add_argument("--split-seed", dest="split_seed", type=int, default=0, help="random_state of the --holdout split (default 0)")


def _cmd_run(args: argparse.Namespace) -> int:
    from genaug.recipes import load_recipe, run, shipped_recipe
    from genaug.recipes.report import render_summary_text

    if args.recipe is None:
        path = shipped_recipe("quick")
    else:
        path = args.recipe if Path(args.recipe).exists() else _shipped_or_path(args.recipe)
    recipe = load_recipe(path)
    if args.out is not None:
        recipe = recipe.model_copy(update={"output": str(args.out)})
    metrics = run(recipe, progress=not args.quiet)
    print(render_summary_text(metrics))
    print(f"report: {Path(recipe.output) / 'report.html'}")
    return 0


def _shipped_or_path(text: str) -> str:
    """A recipe path, or the name of a shipped recipe (``genaug run fewshot``)."""
    from genaug.recipes import shipped_recipe

    if Path(text).suffix in (".yaml", ".yml") or "/" in text:
        return text
    return shipped_recipe(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genaug", description="Fit generative models on your data; sample them as augmentation.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--debug", action="store_true", help="on an error, also print its traceback")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("families", help="list the generator families and their capabilities")
    p.set_defaults(run=_cmd_families)

    p = sub.add_parser("fit", help="fit a generator on a data set", description="Fit a generator; the run folder becomes a model folder.")
    p.add_argument("--data", default="digits", help="digits | wine | breast_cancer | names | FILE.npz | FILE.csv/.jsonl (text) | IMAGE_FOLDER/ | HF_DATASET_DIR/; with --task: an image file or folder, photos, photos:NAME,..., textures:NAME (default: digits)")
    p.add_argument("--family", default=None, help="generator family (see `genaug families`; default: vae, or the resumed run's)")
    p.add_argument("--out", required=True, type=Path, help="run folder: model, checkpoints, sample grids, metrics")
    p.add_argument("--steps", type=int, default=None, help="training steps (EM iterations for gmm); default: the family's")
    p.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=None, help="per-process batch size (0: all data)")
    p.add_argument("--lr", type=float, default=None, help="learning rate")
    p.add_argument("--mixed-precision", dest="mixed_precision", choices=["no", "fp16", "bf16"], default=None)
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="family config fields, e.g. --set latent_dim=8")
    p.add_argument("--train", nargs="*", metavar="KEY=VALUE", help="other TrainConfig fields, e.g. --train ema_decay=0 patience=5")
    _add_split_args(p, "train")
    _add_value_args(p)
    p.add_argument("--task", choices=["superres", "colorize", "translate", "harmonize"], default=None,
                   help="fit an image-to-image model on patches of the images in --data (any sizes; pairs by downscaling or "
                   "graying; translate: unpaired, domain B in --data-b; harmonize: by re-lighting a region). Default family: rescnn "
                   "(superres, colorize, harmonize), cyclegan (translate)")
    p.add_argument("--scale", type=int, default=2, help="--task superres: the upscaling factor, 2, 3, 4 or 8 (default 2)")
    p.add_argument("--data-b", dest="data_b", default=None, metavar="SOURCE", help="--task translate: the images of domain B")
    p.add_argument("--patch-size", dest="patch_size", type=int, default=None,
                   help="--task: side of the training patches (default: 32 x --scale for superres, 64 otherwise)")
    p.add_argument("--patches", type=int, default=None, help="--task: number of training patches, random crops (default 4000)")
    p.add_argument("--lossy", choices=["downscale", "keep"], default=None,
                   help="--task superres: JPEG images are halved first so their compression artifacts are not learned (downscale, "
                        "the default), or used as they are (keep)")
    p.set_defaults(run=_cmd_fit)

    p = sub.add_parser("sample", help="draw samples from a fitted generator into an .npz file")
    p.add_argument("model", type=Path, help="model folder (a run folder of `genaug fit`)")
    p.add_argument("-n", type=int, required=True, help="number of samples")
    p.add_argument("--labels", default=None, help="3 | 0,3,7 | balanced | class names (default: training proportions)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", required=True, type=Path, help="output FILE.npz with x (user space, shaped like the data) and y")
    p.add_argument("--grid", type=Path, default=None, help="also draw the samples into a PNG (an image grid, line plots of sequences, ...)")
    _option_flag(p)
    p.set_defaults(run=_cmd_sample)

    p = sub.add_parser("generate", help="write n synthetic rows to a datasets folder (also under torchrun: one shard per process)",
                       description="Write N synthetic rows as a Hugging Face datasets folder (datasets.load_from_disk, "
                       "`genaug fit --data` read it), chunk by chunk. Under `torchrun --nproc_per_node K -m genaug.cli generate ...` "
                       "each process writes N/K of the rows, on its own GPU when there are GPUs; the rows are the same as one "
                       "process writes with the same seed.")
    p.add_argument("model", type=Path, help="model folder (a run folder of `genaug fit`)")
    p.add_argument("-n", type=int, required=True, help="number of rows")
    p.add_argument("--out", required=True, type=Path, help="the dataset folder to write")
    p.add_argument("--labels", default=None,
                   help="prior | uniform (drawn per row) | 3 | 0,3,7 | balanced | class names (in turn) (default: prior, the training proportions)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=1024,
                   help="samples per model call; the rows depend on it (default 1024)")
    p.add_argument("--chunk-size", dest="chunk_size", type=int, default=10_000,
                   help="rows held in memory and written at a time; the rows do not depend on it (default 10000)")
    p.add_argument("--provenance", action="store_true", help="add a provenance column (the seed and position that regenerate each row)")
    p.add_argument("--device", default=None, help="where the model samples (default: cuda:LOCAL_RANK when there is a GPU, else cpu)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset folder at --out")
    _option_flag(p)
    p.set_defaults(run=_cmd_generate)

    p = sub.add_parser("eval", help="evaluate a fitted generator: likelihood, fidelity, diversity, memorization, filters",
                       description="Evaluate a model folder on a data set. With --holdout, metrics use the held-out part and "
                       "memorization the other (the part `genaug fit --holdout` trained on).")
    p.add_argument("model", type=Path, help="model folder (a run folder of `genaug fit`)")
    p.add_argument("--data", required=True, help="evaluation data: a source as for `genaug fit --data`")
    _add_split_args(p, "test")
    p.add_argument("--train", default=None, metavar="SOURCE",
                   help="the data the model was fitted on, when it is a source of its own (e.g. --data ucr:GunPoint:test "
                   "--train ucr:GunPoint:train): memorization is measured against it and the feature classifier trained on it")
    p.add_argument("--seed", type=int, default=0, help="seeds dequantization noise and samples (default 0)")
    p.add_argument("--draws", type=int, default=1, help="dequantization draws per sample (default 1)")
    p.add_argument("--n-per-class", dest="n_per_class", type=int, default=100, help="samples drawn per class (default 100)")
    p.add_argument("--pairs", type=Path, default=None, help="PNG of the closest (sample, training record) pairs (default: MODEL/eval/nearest_pairs.png)")
    p.add_argument("--json", type=Path, default=None, help="also write the metrics to this JSON file")
    p.set_defaults(run=_cmd_eval)

    p = sub.add_parser("apply", help="run an image-to-image model (super-resolve, colorize, translate), or a virtual try-on, on images",
                       description="Apply a model fitted with `genaug fit --task` to INPUT (an image file, or a folder searched "
                       "recursively) and write the results to --out (a file, or a folder mirroring INPUT's). With --tryon ACCESSORY "
                       "(no MODEL): put the accessory on every face found in INPUT's images, write the results and contact_sheet.png "
                       "(each input beside its output) to the folder --out, and print how many images changed.")
    p.add_argument("model", type=Path, nargs="?", default=None, help="model folder of `genaug fit --task ...` (not with --tryon)")
    p.add_argument("input", type=Path, help="an image file or a folder of images")
    p.add_argument("--out", required=True, type=Path, help="output image file, or a folder (--tryon: always a folder)")
    p.add_argument("--to", default=None, help="translate: the target domain, by name or index (default: domain B)")
    _option_flag(p)
    p.add_argument("--seed", type=int, default=0, help="seeds a generative model's draws (default 0)")
    p.add_argument("--tryon", default=None, metavar="ACCESSORY",
                   help="virtual try-on: sunglasses, hat, mask, or an RGBA image file, placed on every detected face")
    p.add_argument("--harmonizer", type=Path, default=None, metavar="MODEL",
                   help="--tryon: a model folder of `genaug fit --task harmonize` that blends the accessory into the image's light "
                   "(default: plain alpha compositing); gray or colour images are converted to its channels")
    p.set_defaults(run=_cmd_apply)

    p = sub.add_parser("run", help="run a recipe: fit, evaluate, augment, train downstream models over seeds, write a report",
                       description="Run a recipe YAML (or a shipped recipe's name). With no argument: the shipped quick recipe on digits. "
                       "Writes OUTPUT/metrics.json, report.html and PNGs; a rerun skips finished units.")
    p.add_argument("recipe", nargs="?", default=None, help="RECIPE.yaml or a shipped recipe name (default: quick)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: the recipe's output)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_cmd_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("accelerate").setLevel(logging.WARNING)
    try:
        return args.run(args)
    except (ValueError, OSError) as err:  # OSError: missing or unreadable inputs, failed writes (WriteError)
        if args.debug:
            traceback.print_exc()
        print(f"genaug {args.command}: error: {err}{_next_step(args, err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.debug:
            traceback.print_exc()
        print(f"genaug {args.command}: interrupted; the files written so far are complete{_next_step(args, None)}", file=sys.stderr)
        return 130


def _next_step(args: argparse.Namespace, err: BaseException | None) -> str:
    """How to continue after an interrupt (``err`` None) or a failed write: a fit from its newest checkpoint, a recipe by a rerun."""
    from genaug.train.checkpoint import latest_checkpoint
    from genaug.utils.io import WriteError

    if not (err is None or isinstance(err, WriteError)):
        return ""
    if args.command == "run":
        return "; the same command again continues where this one stopped (finished units are kept)"
    if args.command != "fit":
        return ""
    try:
        last = latest_checkpoint(Path(args.out) / "checkpoints")
    except OSError:  # the folder is gone or unreadable: nothing to continue from
        return ""
    return "" if last is None else f"; the same command with --resume continues from {last}"


if __name__ == "__main__":
    sys.exit(main())
