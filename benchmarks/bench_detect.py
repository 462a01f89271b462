"""Anomaly detection on digits: each likelihood family trained on classes 0-8, the nines as anomalies.

Protocol: ``train_test_split(test_size=0.5, stratify=y, random_state=0)`` on the 1797 digits. The
training half without its nines (808 digits) is rebuilt as a 9-class data set (`genaug.from_arrays`
with class names "0".."8" on the digits' 17-level grid) and each family is fitted on it with its
defaults (the Trainer holds 10% of it out for validation). A `genaug.detect.AnomalyDetector` scores
the whole test half (809 digits of classes 0-8, 90 nines) by the marginal -log2 p(x) / 64 (labels
unused), and reports:

- AUROC, nines positive;
- the threshold fitted for fpr=0.05 on the training half (classes 0-8, the model's own training
  data), and at it the share of test inliers flagged (the FPR reached) and of nines flagged.

Anchor, in the same run: scikit-learn's `GaussianMixture` (unconditional) fitted on the same 808
training digits dequantized to the 0..17 scale (``x + U[0, 1)``), its configuration picked from a
small grid by BIC on those training digits (never on the test half); scores are -log2 p / 64 of the
dequantized digits, the units of genaug's scores.

Usage:
    python benchmarks/bench_detect.py [--families gmm flow] [--steps 200] [--draws 1] [--write]
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from _report import command, machine, write_section
from bench_fit import dequantized_pixels
from sklearn.mixture import GaussianMixture

import genaug
from genaug.detect import AnomalyDetector, auroc

FAMILIES = ("gmm", "flow", "pixelcnn", "vae")
ANOMALY = 9  # the held-out class
FPR = 0.05
D = 64
REG_COVAR = 1e-2  # the regularisation of bench_fit's best GaussianMixture


@dataclass(frozen=True)
class Row:
    model: str
    config: str
    auroc: float
    threshold: float
    test_fpr: float  # share of test inliers scoring above the threshold
    detected: float  # share of test anomalies scoring above it
    held_out_fpr: float  # the same, threshold fitted on every other test inlier, FPR on the rest
    seconds: float  # fit time


def digits_without_nines() -> tuple[genaug.ArraySet, genaug.ArraySet]:
    """(training half without its nines, as a 9-class set; the whole test half)."""
    train, test = genaug.load_source("digits").train_test_split(0.5, seed=0)
    keep = (train.y != ANOMALY).numpy()
    names = [str(c) for c in range(10) if c != ANOMALY]
    inliers = genaug.from_arrays(
        train.user_x().numpy()[keep], train.y.numpy()[keep], class_names=names, levels=17, value_range=(0.0, 16.0)
    )
    return inliers, test


def fpr_threshold(scores: np.ndarray) -> float:
    """The threshold `AnomalyDetector.fit` sets for fpr=FPR on ``scores``."""
    return float(np.quantile(scores, 1.0 - FPR, method="higher"))


def row(
    model: str, config: str, train_scores: np.ndarray, test_scores: np.ndarray, is_anomaly: np.ndarray, seconds: float
) -> Row:
    """The metrics of one scorer, with the threshold as `AnomalyDetector.fit` sets it."""
    threshold = fpr_threshold(train_scores)
    flagged = test_scores > threshold
    inliers = test_scores[~is_anomaly]
    return Row(
        model,
        config,
        auroc(test_scores[~is_anomaly], test_scores[is_anomaly]),
        threshold,
        float(flagged[~is_anomaly].mean()),
        float(flagged[is_anomaly].mean()),
        float((inliers[1::2] > fpr_threshold(inliers[::2])).mean()),
        seconds,
    )


def genaug_row(family: str, train: genaug.ArraySet, test: genaug.ArraySet, is_anomaly: np.ndarray, args) -> Row:
    start = time.perf_counter()
    model = genaug.fit(train, family, steps=args.steps, train={"checkpoint_every": 0, "sample_every": 0})
    seconds = time.perf_counter() - start
    detector = AnomalyDetector(model, draws=args.draws).fit(train, fpr=FPR)
    test_scores = detector.score(test)
    config = "default" if args.steps is None else f"default, {args.steps} steps"
    result = row(
        f"genaug `{family}`" + (" (bound)" if detector.is_bound else ""),
        config,
        detector.score(train),
        test_scores,
        is_anomaly,
        seconds,
    )
    assert result.threshold == detector.threshold  # the benchmark's threshold is the detector's
    return result


def sklearn_row(train: genaug.ArraySet, test: genaug.ArraySet, is_anomaly: np.ndarray) -> Row:
    """scikit-learn GaussianMixture, configuration of lowest train-set BIC."""
    x_train, x_test = dequantized_pixels(train, 0), dequantized_pixels(test, 1)
    grid = [("full", k) for k in (1, 2, 5, 10)] + [("diag", k) for k in (1, 5, 10, 20, 40)]
    best: tuple[float, str, GaussianMixture, float] | None = None
    for covariance, k in grid:
        start = time.perf_counter()
        gm = GaussianMixture(k, covariance_type=covariance, reg_covar=REG_COVAR, random_state=0).fit(x_train)
        seconds = time.perf_counter() - start
        bic = gm.bic(x_train)
        if best is None or bic < best[0]:
            best = (bic, f"{covariance}, {k} components, reg_covar {REG_COVAR:g} (lowest train BIC)", gm, seconds)
    _, config, gm, seconds = best
    train_bits, test_bits = (-gm.score_samples(x) / (D * math.log(2)) for x in (x_train, x_test))
    return row("scikit-learn GaussianMixture", config, train_bits, test_bits, is_anomaly, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="*", default=list(FAMILIES))
    parser.add_argument(
        "--steps", type=int, default=None, help="training steps for every family (default: each family's own)"
    )
    parser.add_argument("--draws", type=int, default=1, help="dequantization draws per scored digit")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    torch.manual_seed(0)
    train, test = digits_without_nines()
    is_anomaly = (test.y == ANOMALY).numpy()
    rows = []
    for family in args.families:
        rows.append(genaug_row(family, train, test, is_anomaly, args))
        print(f"{family}: AUROC {rows[-1].auroc:.4f}, fit {rows[-1].seconds:.0f} s", flush=True)
    rows.append(sklearn_row(train, test, is_anomaly))
    table = [
        (
            "| model | configuration | AUROC (nines vs 0-8) | threshold (bits/dim) | test FPR at it "
            "| nines flagged at it | FPR, threshold on held-out inliers | fit time (s) |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        table.append(
            f"| {r.model} | {r.config} | {r.auroc:.4f} | {r.threshold:.3f} | {r.test_fpr:.1%} | {r.detected:.1%} | {r.held_out_fpr:.1%} | {r.seconds:.1f} |"
        )
    best = max(rows[:-1], key=lambda r: r.auroc, default=None)
    body = "\n".join(
        [
            "## Anomaly detection on digits (`bench_detect.py`)",
            "",
            f"Command: `{command()}`  ",
            f"Machine: {machine()}",
            "",
            f"Each family fitted with its defaults on the {len(train)} training digits of classes 0-8 (`train_test_split(test_size=0.5,",
            "stratify=y, random_state=0)`, nines removed); `genaug.detect.AnomalyDetector` scores the whole test half",
            (
                f"({int((~is_anomaly).sum())} digits of 0-8, {int(is_anomaly.sum())} nines) by the marginal "
                f"-log2 p(x) / 64, {args.draws} dequantization draw(s), labels unused."
            ),
            "AUROC: nines positive. Threshold: fitted for fpr=0.05 on the training digits (the model's own training data,",
            "whose scores are lower than new digits': the FPR reached on test inliers is higher than 5%; fit the threshold",
            "on held-out inliers to calibrate it, as the next column does: threshold from every other test inlier, FPR",
            'measured on the other half). "bound": the VAE scores with its importance-weighted bound.',
            "scikit-learn anchor: unconditional `GaussianMixture` on the same training digits dequantized to 0..17,",
            "configuration by train-set BIC.",
            "",
            *table,
            "",
            f"Best genaug family: {best.model} with AUROC {best.auroc:.4f} (acceptance: > 0.95)." if best else "",
        ]
    )
    print(body)
    if args.write:
        write_section("bench_detect", body)


if __name__ == "__main__":
    main()
