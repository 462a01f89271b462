"""Every family with its defaults on digits: fit time, held-out bits/dim, class-conditional fidelity.

Protocol: ``train_test_split(test_size=0.5, stratify=y, random_state=0)`` on the 1797 digits. Each
family is fitted with its default configuration on the 898 training images through the CLI
(``genaug fit --data digits --holdout 0.5 --family F``: a fresh process, import time included; the
Trainer holds 10% of them out for validation) and then:

- bits/dim on the 899 test images with `genaug.bits_per_dim` (uniform dequantization ``x + U[0, 1)``
  on the 0..17 scale, so a uniform model scores log2(17) = 4.088), for families with a likelihood;
- fidelity: the share of 500 class-conditional samples (50 per class) that a logistic regression
  trained on all 1797 real digits assigns to the asked class.

Anchors, in the same run: scikit-learn's `GaussianMixture` (best of a grid of components,
covariance types and regularisations) and `KernelDensity` (best of a grid of bandwidths), fitted on
the same dequantized training pixels (0..17 scale) and scored on the dequantized test pixels; the
grids are picked on the test half, which flatters the anchors.

Usage:
    python benchmarks/bench_fit.py [--families flow pixelcnn] [--draws 4] [--write]
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _report import command, machine, write_section
from sklearn.linear_model import LogisticRegression
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KernelDensity

import genaug

D = 64  # dimensions of a digit


def fidelity(model: genaug.Generator, clf: LogisticRegression, seed: int = 0) -> tuple[float, float]:
    """(share of 50 samples per class that ``clf`` labels as asked, seconds to draw the 500 samples)."""
    labels = torch.arange(10).repeat_interleave(50)
    start = time.perf_counter()
    x = model.sample(500, labels=labels, generator=torch.Generator().manual_seed(seed))
    seconds = time.perf_counter() - start
    return float(np.mean(clf.predict(x.reshape(500, -1).cpu().numpy()) == labels.numpy())), seconds


def dequantized_pixels(data: genaug.ArraySet, seed: int) -> np.ndarray:
    """User-space pixels 0..16 plus U[0, 1) noise: (N, 64) on the 0..17 scale."""
    x = data.user_x().reshape(len(data), -1).numpy().astype(np.float64)
    return x + np.random.default_rng(seed).random(x.shape)


def to_bits(log_density: np.ndarray) -> float:
    return float(-np.mean(log_density) / (D * math.log(2)))


def sklearn_anchors(train: genaug.ArraySet, test: genaug.ArraySet) -> list[tuple[str, str, float, float]]:
    """(name, configuration, held-out bits/dim, fit seconds) of the best GaussianMixture and KernelDensity."""
    x_train, x_test = dequantized_pixels(train, 0), dequantized_pixels(test, 1)
    best: tuple[float, str, float] | None = None
    for covariance, k, reg in itertools.product(("full", "diag", "tied"), (1, 2, 5, 10, 20, 40, 80), (1e-6, 1e-2)):
        start = time.perf_counter()
        try:
            gm = GaussianMixture(k, covariance_type=covariance, reg_covar=reg, random_state=0).fit(x_train)
        except ValueError:  # a degenerate covariance at this regularisation
            continue
        bits = to_bits(gm.score_samples(x_test))
        if best is None or bits < best[0]:
            best = (bits, f"{covariance}, {k} components, reg_covar {reg:g}", time.perf_counter() - start)
    rows = [("scikit-learn GaussianMixture", best[1], best[0], best[2])]
    best = None
    for bandwidth in (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0):
        start = time.perf_counter()
        kde = KernelDensity(bandwidth=bandwidth).fit(x_train)
        bits = to_bits(kde.score_samples(x_test))
        if best is None or bits < best[0]:
            best = (bits, f"bandwidth {bandwidth}", time.perf_counter() - start)
    rows.append(("scikit-learn KernelDensity", best[1], best[0], best[2]))
    return rows


def fit_with_cli(family: str, out: Path, mixed_precision: str | None) -> float:
    cli = Path(sys.executable).with_name("genaug")
    cmd = [str(cli), "fit", "--data", "digits", "--holdout", "0.5", "--family", family, "--out", str(out)]
    if mixed_precision:
        cmd += ["--mixed-precision", mixed_precision]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    image_families = [f for f in genaug.families() if "image" in (genaug.models.get_family(f).modalities or ("image",))]
    parser.add_argument("--families", nargs="*", default=image_families, help="default: every family that models images (wavenet does not)")
    parser.add_argument("--draws", type=int, default=4, help="dequantization draws per test image")
    parser.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"], default=None, help="passed to genaug fit (GPU runs)")
    parser.add_argument("--section", default="bench_fit", help="BENCHMARKS.md section to write (e.g. bench_fit_gpu)")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    real = genaug.load_source("digits")
    train, test = real.train_test_split(0.5, seed=0)
    clf = LogisticRegression(max_iter=3000).fit(real.user_x().reshape(len(real), -1).numpy(), real.y.numpy())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families:
            seconds = fit_with_cli(family, Path(tmp) / family, args.mixed_precision)
            model = genaug.load(Path(tmp) / family)
            if torch.cuda.is_available():
                model = model.cuda()
            agreement, sample_seconds = fidelity(model, clf)
            bits = None
            if model.has_likelihood:
                result = genaug.bits_per_dim(model, test, draws=args.draws)
                bits = f"{result.bits_per_dim:.3f}" + (" (bound)" if result.is_bound else "")
            rows.append((f"genaug `{family}`", "default", bits or "n/a", seconds, agreement, sample_seconds))
            print(f"{family}: fit {seconds:.0f} s, bits/dim {bits or 'n/a'}, fidelity {agreement:.3f}", flush=True)
    for name, config, bits, seconds in sklearn_anchors(train, test):
        rows.append((name, config, f"{bits:.3f}", seconds, None, None))
    rows.append(("uniform over the 17 levels", "-", f"{math.log2(17):.3f}", 0.0, None, None))
    table = [
        "| model | configuration | held-out bits/dim | fit time (s) | fidelity (500 samples) | sampling 500 (s) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, config, bits, seconds, agreement, sample_seconds in rows:
        table.append(
            f"| {name} | {config} | {bits} | {seconds:.1f} | {'' if agreement is None else f'{agreement:.1%}'} "
            f"| {'' if sample_seconds is None else f'{sample_seconds:.2f}'} |"
        )
    body = "\n".join(
        [
            "## Every family on digits (`bench_fit.py`)",
            "",
            f"Command: `{command()}`  ",
            f"Machine: {machine()}",
            "",
            "Fitted with the family's defaults on the 898 training digits of `train_test_split(test_size=0.5,",
            "stratify=y, random_state=0)` by `genaug fit --data digits --holdout 0.5` (wall time of the process,",
            f"import included). Held-out bits/dim: the marginal p(x) on the other 899 digits, {args.draws} dequantization draws",
            "each (lower is better; uniform: 4.088; \"bound\": the VAE's importance-weighted bound, an upper bound on its",
            "bits/dim). Fidelity: share of 50 samples per class that a logistic regression trained on all real digits",
            "labels as asked. scikit-learn anchors: best of a grid picked on the test half, in the data's 0..17 units.",
            "",
            *table,
        ]
    )
    print(body)
    if args.write:
        write_section(args.section, body)


if __name__ == "__main__":
    main()
