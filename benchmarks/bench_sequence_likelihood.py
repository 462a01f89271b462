"""Held-out bits/dim on MNIST-1D (issue 16, acceptance 3 and 7): genaug's families against scikit-learn's best GaussianMixture.

MNIST-1D (`genaug.data.series_sets.load_mnist1d`: 4,000 training and 1,000 test series of 40 values,
built locally) on its declared grid of 256 levels over [-6, 6]. Every genaug family is fitted with its
defaults on the training series (its own validation split comes out of them) and scored on the test
series by `genaug.bits_per_dim` (uniform dequantization inside the grid's bins, the same definition
for every family). scikit-learn's GaussianMixture is fitted on the dequantized training series in
model space over a grid of components and covariance types; the setting with the best likelihood on
a validation tenth of the training series is refitted on all of them and scored on the same
dequantized test series. Fit times are wall-clock seconds on this machine.

    python benchmarks/bench_sequence_likelihood.py [--families wavenet gmm ...] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

import genaug
from genaug.data.series_sets import load_mnist1d
from genaug.evaluate.likelihood import to_bits_per_dim


def sklearn_best(train: genaug.ArraySet, test: genaug.ArraySet, seed: int) -> dict:
    from sklearn.mixture import GaussianMixture

    spec = train.spec
    g = torch.Generator().manual_seed(seed)
    x_train = spec.dequantize(train.x, g).reshape(len(train), -1).double().numpy()
    x_test = spec.dequantize(test.x, g).reshape(len(test), -1).double().numpy()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x_train))
    val, fit = x_train[order[: len(order) // 10]], x_train[order[len(order) // 10 :]]
    grid = [(k, cov) for cov in ("full", "diag") for k in (1, 2, 4, 8, 16, 32)]
    scores = {}
    for k, cov in grid:
        model = GaussianMixture(k, covariance_type=cov, reg_covar=1e-4, random_state=seed).fit(fit)
        scores[(k, cov)] = model.score(val)
    k, cov = max(scores, key=scores.get)
    start = time.perf_counter()
    model = GaussianMixture(k, covariance_type=cov, reg_covar=1e-4, random_state=seed).fit(x_train)
    seconds = time.perf_counter() - start
    bits = to_bits_per_dim(spec, torch.from_numpy(model.score_samples(x_test))).mean().item()
    return {"model": f"sklearn GaussianMixture(n_components={k}, covariance_type={cov!r})", "bits_per_dim": bits, "fit_seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", nargs="*", default=["wavenet", "gmm", "pixelcnn", "vae", "flow"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args()
    train, test = load_mnist1d("train"), load_mnist1d("test")
    rows = [sklearn_best(train, test, args.seed)]
    print(rows[-1], flush=True)
    for family in args.families:
        start = time.perf_counter()
        model = genaug.fit(train, family, seed=args.seed, train={"progress": False, "checkpoint_every": 0})
        seconds = time.perf_counter() - start
        result = genaug.bits_per_dim(model, test, seed=args.seed)
        rows.append({"model": f"genaug {family} (defaults)", "bits_per_dim": result.bits_per_dim, "is_bound": result.is_bound, "fit_seconds": seconds})
        print(rows[-1], flush=True)
    print(f"\nMNIST-1D, 1000 test series on the 256-level grid over [-6, 6] (uniform: {np.log2(256):.3f} bits/dim)")
    print("| model | held-out bits/dim | fit (s) |\n|---|---|---|")
    for row in sorted(rows, key=lambda r: r["bits_per_dim"]):
        bound = " (upper bound)" if row.get("is_bound") else ""
        print(f"| {row['model']} | {row['bits_per_dim']:.3f}{bound} | {row['fit_seconds']:.1f} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
