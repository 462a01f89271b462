"""Memorization of every family's default model on digits, against real data, KDE and SMOTE anchors.

Protocol: ``train_test_split(test_size=0.5, stratify=y, random_state=0)`` on the 1797 digits. Each
family is fitted with its default configuration on the 898 training images (`genaug.fit`, as
``genaug fit --data digits --holdout 0.5`` does), draws 100 samples per class, and is scored with
`genaug.evaluate.memorization` against those training images: per sample, the distance to its
closest training image divided by that image's leave-one-out distance to its own closest other
training image; the median over samples is the memorization ratio (fresh samples ~1, copies 0).
Near-copies: samples with ratio < 0.1. Pixel space (model space) and the feature space of the
real-data classifier (`FeatureSpace`, trained on the same 898 images).

Anchors in the same run, 1000 samples each, rounded onto the 0..16 grid like genaug's samples:
the 899 real test images (what fresh data scores), scikit-learn `KernelDensity` per class (Gaussian
kernel, bandwidth picked by 5-fold cross-validated likelihood on the training images), and SMOTE
(a point on the segment between a training image and one of its 5 nearest same-class images).

Usage:
    python benchmarks/bench_memorization.py [--families gmm vae] [--steps 50] [--write]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _report import command, machine, write_section
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity, NearestNeighbors

import genaug
from genaug.evaluate.features import FeatureSpace
from genaug.evaluate.memorization import memorization

PER_CLASS = 100


def kde_samples(train: genaug.ArraySet, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-class Gaussian KDE samples on the 0..16 grid, and the cross-validated bandwidth."""
    x, y = train.user_x().reshape(len(train), -1).numpy().astype(np.float64), train.y.numpy()
    search = GridSearchCV(KernelDensity(), {"bandwidth": np.geomspace(0.5, 8.0, 13)}, cv=5).fit(x)
    bandwidth = float(search.best_params_["bandwidth"])
    out, labels = [], []
    for c in np.unique(y):
        kde = KernelDensity(bandwidth=bandwidth).fit(x[y == c])
        out.append(kde.sample(PER_CLASS, random_state=seed + int(c)))
        labels.append(np.full(PER_CLASS, c))
    return np.clip(np.rint(np.concatenate(out)), 0, 16), np.concatenate(labels), bandwidth


def smote_samples(train: genaug.ArraySet, seed: int, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """SMOTE within each class, rounded onto the 0..16 grid."""
    rng = np.random.default_rng(seed)
    x, y = train.user_x().reshape(len(train), -1).numpy().astype(np.float64), train.y.numpy()
    out, labels = [], []
    for c in np.unique(y):
        members = x[y == c]
        _, neighbours = NearestNeighbors(n_neighbors=k + 1).fit(members).kneighbors(members)
        base = rng.integers(0, len(members), PER_CLASS)
        other = neighbours[base, rng.integers(1, k + 1, PER_CLASS)]
        out.append(members[base] + rng.random((PER_CLASS, 1)) * (members[other] - members[base]))
        labels.append(np.full(PER_CLASS, c))
    return np.clip(np.rint(np.concatenate(out)), 0, 16), np.concatenate(labels)


def scores(name: str, setting: str, fake_model: torch.Tensor, train: genaug.ArraySet, space: FeatureSpace, seconds: float | None) -> dict:
    pixel = memorization(fake_model, train.x)
    feature = memorization(space.features(fake_model), space.features(train.x), space="feature")
    row = {"name": name, "setting": setting, "pixel": pixel.ratio, "feature": feature.ratio, "copies": pixel.near_copy_share, "seconds": seconds}
    print(f"{name} ({setting}): ratio pixel {pixel.ratio:.3f} feature {feature.ratio:.3f}, near-copies {pixel.near_copy_share:.1%}", flush=True)
    return row


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    image_families = [f for f in genaug.families() if "image" in (genaug.models.get_family(f).modalities or ("image",))]
    parser.add_argument("--families", nargs="*", default=image_families, help="default: every family that models images (wavenet does not)")
    parser.add_argument("--steps", type=int, default=None, help="override the families' default training steps (quick runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    digits = genaug.load_source("digits")
    train, test = digits.train_test_split(0.5, seed=0)
    spec = digits.spec
    space = FeatureSpace.fit(train, seed=args.seed)
    rows = [scores("real test images", f"{len(test)} held out", test.x, train, space, None)]
    kde, _, bandwidth = kde_samples(train, args.seed)
    rows.append(scores("scikit-learn KernelDensity", f"per class, bandwidth {bandwidth:.2f} (CV)", spec.to_model(torch.tensor(kde).reshape(-1, 8, 8)).float(), train, space, None))
    smote, _ = smote_samples(train, args.seed)
    rows.append(scores("SMOTE", "k=5, within class", spec.to_model(torch.tensor(smote).reshape(-1, 8, 8)).float(), train, space, None))
    labels = torch.arange(10).repeat_interleave(PER_CLASS)
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families:
            start = time.perf_counter()
            model = genaug.fit(train, family, steps=args.steps, seed=args.seed, out=Path(tmp) / family, train={"checkpoint_every": 0, "sample_every": 0})
            seconds = time.perf_counter() - start
            fake = spec.to_model(model.sample(len(labels), labels=labels, generator=torch.Generator().manual_seed(args.seed)).cpu()).float()
            rows.append(scores(f"genaug `{family}`", "default" if args.steps is None else f"{args.steps} steps", fake, train, space, seconds))
    body = "\n".join(
        [
            "## Memorization on digits (`bench_memorization.py`)",
            "",
            f"Command: `{command()}`  ",
            f"Machine: {machine()}",
            "",
            "Models fitted with their defaults on the 898 training digits of `train_test_split(0.5, seed=0)`; 100 samples",
            "per class. Memorization ratio: median over samples of (distance to the closest training image) / (that image's",
            "distance to its own closest other training image); fresh data ~1, copies 0. Near-copies: ratio < 0.1 (pixel",
            f"space). Feature space: the real-data classifier's penultimate features (`FeatureSpace`, {space.dim} dims). Anchors are",
            "rounded onto the 0..16 grid like genaug's samples.",
            "",
            "| samples | setting | ratio (pixels) | ratio (features) | near-copies | fit time (s) |",
            "|---|---|---:|---:|---:|---:|",
            *(
                f"| {r['name']} | {r['setting']} | {r['pixel']:.3f} | {r['feature']:.3f} | {r['copies']:.1%} | {_seconds(r['seconds'])} |"
                for r in rows
            ),
        ]
    )
    print(body)
    if args.write:
        write_section("bench_memorization", body)


if __name__ == "__main__":
    main()
