"""The sub-commands on generators: ``families``, ``fit``, ``sample``, ``generate`` and ``eval``."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genaug.cli.images import TASK_FAMILIES, task_pairs
from genaug.cli.options import (
    add_split_args,
    add_value_args,
    key_values,
    load_data,
    load_split,
    option_flag,
    option_values,
    parse_labels,
)

__all__ = ["add_parsers"]

logger = logging.getLogger("genaug")


def add_parsers(sub: Any) -> None:
    """The sub-commands of this module, on the parser's ``add_subparsers`` object."""
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
    add_split_args(p, "train")
    add_value_args(p)
    p.add_argument("--task", choices=list(TASK_FAMILIES), default=None,
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
    option_flag(p)
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
    option_flag(p)
    p.set_defaults(run=_cmd_generate)

    p = sub.add_parser("eval", help="evaluate a fitted generator: likelihood, fidelity, diversity, memorization, filters",
                       description="Evaluate a model folder on a data set. With --holdout, metrics use the held-out part and "
                       "memorization the other (the part `genaug fit --holdout` trained on).")
    p.add_argument("model", type=Path, help="model folder (a run folder of `genaug fit`)")
    p.add_argument("--data", required=True, help="evaluation data: a source as for `genaug fit --data`")
    add_split_args(p, "test")
    p.add_argument("--train", default=None, metavar="SOURCE",
                   help="the data the model was fitted on, when it is a source of its own (e.g. --data ucr:GunPoint:test "
                   "--train ucr:GunPoint:train): memorization is measured against it and the feature classifier trained on it")
    p.add_argument("--seed", type=int, default=0, help="seeds dequantization noise and samples (default 0)")
    p.add_argument("--draws", type=int, default=1, help="dequantization draws per sample (default 1)")
    p.add_argument("--n-per-class", dest="n_per_class", type=int, default=100, help="samples drawn per class (default 100)")
    p.add_argument("--pairs", type=Path, default=None, help="PNG of the closest (sample, training record) pairs (default: MODEL/eval/nearest_pairs.png)")
    p.add_argument("--json", type=Path, default=None, help="also write the metrics to this JSON file")
    p.set_defaults(run=_cmd_eval)


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

    train = key_values(args.train or [], "--train")
    for field in ("batch_size", "lr", "mixed_precision"):
        if getattr(args, field) is not None:
            train[field] = getattr(args, field)
    config = key_values(args.set or [], "--set")
    data = task_pairs(args) if args.task is not None else load_split(args, "train")
    family = args.family or (TASK_FAMILIES.get(args.task) if not args.resume else None)
    model = genaug.fit(
        data, family, out=args.out, steps=args.steps, seed=args.seed, resume=args.resume, train=train, **config
    )
    logger.info("saved %s model to %s", model.family, args.out)
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    import genaug
    from genaug.utils.io import atomic_path

    if args.n < 0:
        raise ValueError(f"-n: expected a non-negative number of samples, got {args.n}")
    if not str(args.out).endswith(".npz"):
        raise ValueError(f"--out: expected a path ending in .npz, got {args.out}")
    model = genaug.load(args.model)
    options = option_values(args, model)
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
        options=option_values(args, model),
    )
    if int(os.environ.get("RANK", "0")) == 0:
        processes = int(os.environ.get("WORLD_SIZE", "1"))
        logger.info("wrote %d rows to %s (%d process%s)", len(data), args.out, processes, "es" if processes > 1 else "")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    import genaug
    from genaug.utils.io import atomic_write_json

    model = genaug.load(args.model)
    if args.train is not None and args.holdout is not None:
        raise ValueError(f"--train: {args.train!r} names the training data, which --holdout {args.holdout:g} splits off --data; give one")
    data = load_data(args, args.data)
    if args.train is not None:
        train, test = load_data(args, args.train), data
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
