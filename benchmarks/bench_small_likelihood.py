"""Issue 17, acceptance 1: do default fits on 200 digits generalize? Train and held-out bits/dim side by side.

Protocol: digits, ``train_test_split(0.5, seed=0)`` (898 training, 899 test digits). Per seed, 20 digits
per class are drawn from the training half (200 records). Every family with a likelihood is fitted on
them with its default settings through the same path as ``genaug.fit`` (`resolve_train_config` with the
data's size, then the `Trainer`; early stopping holds out a tenth of the 200, stratified), and scored
with `genaug.bits_per_dim` (marginal p(x), uniform dequantization on the 0..17 scale, 4 draws):

- train bits/dim: on the 200 records the fit was given (the validation tenth included);
- held-out bits/dim: on the 899 test digits; gap = held-out minus train.

The VAE and the gmm are also fitted with their earlier defaults, so each change can be seen: the VAE
without the decoder's outlier component (outlier_weight 0, the default until it came), and without
early stopping either (no patience, the last weights, validation every 500 steps); the gmm without
shrinkage (reg_covar auto only), and with a fixed reg_covar of 0.002 and no shrinkage. Anchors in the same
run: the uniform model over the 17 levels (log2 17 = 4.087) and scikit-learn's `GaussianMixture`, the
best of a grid (covariance type x components x reg_covar) chosen on a stratified validation fifth of the
same 200 dequantized records, refitted on all 200 and scored on the same dequantized test digits.

Usage:
    python benchmarks/bench_small_likelihood.py [--families gmm vae] [--seeds 0 1 2] [--shots 20] [--write]
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import time

import numpy as np
import torch
from _report import command, machine, write_section
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import train_test_split

import genaug
from genaug.train import resolve_train_config

D = 64
UNIFORM = math.log2(17)
QUIET = {"progress": False, "checkpoint_every": 0, "sample_every": 0}
# the VAE as it was fitted before early stopping was on by default (before 35e9f40)
EARLIER_VAE = {"patience": None, "restore_best": False, "eval_every": 500}
# earlier defaults of the model configurations: each (label, config) a fit of its own
EARLIER = {
    "vae": [("no outlier component (the default at 59d3819)", {}, {"outlier_weight": 0.0}),
            ("no outlier component, no early stopping (the default before 35e9f40)", EARLIER_VAE, {"outlier_weight": 0.0})],
    "gmm": [("no shrinkage, reg_covar auto (the default at 59d3819)", {}, {"shrinkage": 0.0}),
            ("reg_covar 0.002, no shrinkage (the default before 423a623)", {}, {"reg_covar": 2e-3, "shrinkage": 0.0})],
}


def few_shot(train: genaug.ArraySet, shots: int, seed: int) -> genaug.ArraySet:
    g = torch.Generator().manual_seed(seed)
    rows = [torch.nonzero(train.y == c)[:, 0] for c in range(train.spec.num_classes)]
    picked = [r[torch.randperm(len(r), generator=g)[:shots]] for r in rows]
    return train.subset(torch.cat(picked))


def fit_and_score(
    family: str, data: genaug.ArraySet, test: genaug.ArraySet, seed: int, train: dict, draws: int, model_config: dict | None = None
) -> dict:
    config = resolve_train_config(family, {**QUIET, **train}, n_records=len(data), seed=seed)
    torch.manual_seed(config.seed)
    model = genaug.create(family, data.spec, **(model_config or {}))
    trainer = genaug.Trainer(model, data, config)
    start = time.perf_counter()
    model = trainer.fit()
    seconds = time.perf_counter() - start
    held = genaug.bits_per_dim(model, test, draws=draws)
    seen = genaug.bits_per_dim(model, data, draws=draws)
    chosen = {k: getattr(model.config, k) for k in ("reg_covar", "shrinkage", "outlier_weight") if hasattr(model.config, k)}
    return {
        "config": "default" + (f" ({', '.join(f'{k} {v:g}' for k, v in chosen.items())})" if not train and not model_config and chosen else ""),
        "train": seen.bits_per_dim,
        "held_out": held.bits_per_dim,
        "bound": held.is_bound,
        "steps": trainer.state.step,
        "best_step": trainer.state.best_step if config.restore_best else None,
        "seconds": seconds,
    }


def dequantized(data: genaug.ArraySet, seed: int) -> np.ndarray:
    x = data.user_x().reshape(len(data), -1).numpy().astype(np.float64)
    return x + np.random.default_rng(seed).random(x.shape)


def sklearn_best(data: genaug.ArraySet, test: genaug.ArraySet, seed: int) -> dict:
    """Best GaussianMixture of a grid, chosen on a validation fifth of ``data``; refitted on all of it."""
    x, y = dequantized(data, seed), data.y.numpy()
    fit_x, val_x = train_test_split(x, test_size=0.2, stratify=y, random_state=seed)
    best = None
    for cov, k, reg in itertools.product(("full", "diag", "tied", "spherical"), (1, 2, 5, 10), (1e-3, 1e-2, 1e-1, 1.0)):
        try:
            score = GaussianMixture(k, covariance_type=cov, reg_covar=reg, random_state=seed).fit(fit_x).score(val_x)
        except ValueError:
            continue
        if best is None or score > best[0]:
            best = (score, cov, k, reg)
    _, cov, k, reg = best
    start = time.perf_counter()
    model = GaussianMixture(k, covariance_type=cov, reg_covar=reg, random_state=seed).fit(x)
    seconds = time.perf_counter() - start
    bits = lambda ll: float(-ll / (D * math.log(2)))  # noqa: E731
    return {
        "train": bits(model.score(x)),
        "held_out": bits(model.score(dequantized(test, 10_000 + seed))),
        "config": f"{cov}, {k} components, reg_covar {reg:g}",
        "seconds": seconds,
    }


def mean_sd(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    likelihood = [f for f in genaug.families() if genaug.models.get_family(f).has_likelihood and f != "wavenet"]
    parser.add_argument("--families", nargs="*", default=likelihood)
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    parser.add_argument("--shots", type=int, default=20)
    parser.add_argument("--draws", type=int, default=4)
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    train_half, test = genaug.load_source("digits").train_test_split(0.5, seed=0)
    arms = [(f, "default", {}, {}) for f in args.families]
    arms += [(f, label, train, config) for f in args.families for label, train, config in EARLIER.get(f, [])]
    results: dict[tuple[str, str], list[dict]] = {}
    configs: dict[str, list[str]] = {}
    anchors = []
    for seed in args.seeds:
        data = few_shot(train_half, args.shots, seed)
        for family, label, train, model_config in arms:
            r = fit_and_score(family, data, test, seed, train, args.draws, model_config)
            results.setdefault((family, label), []).append(r)
            if label == "default" and r["config"] != "default" and r["config"] not in configs.get(family, []):
                configs.setdefault(family, []).append(r["config"])
            print(f"seed {seed} {family} ({r['config'] if label == 'default' else label}): train {r['train']:.3f}, held-out {r['held_out']:.3f}, "
                  f"steps {r['steps']} (best {r['best_step']}), {r['seconds']:.0f} s", flush=True)
        anchors.append(sklearn_best(data, test, seed))
        print(f"seed {seed} sklearn ({anchors[-1]['config']}): train {anchors[-1]['train']:.3f}, held-out {anchors[-1]['held_out']:.3f}", flush=True)
    sk = statistics.mean(a["held_out"] for a in anchors)
    table = [
        "| model | configuration | steps run (best kept) | train bits/dim | held-out bits/dim | gap | fit (s) | below uniform | below scikit-learn |",
        "|---|---|---|---:|---:|---:|---:|---|---|",
    ]
    for (family, label), rs in results.items():
        held = [r["held_out"] for r in rs]
        steps = ", ".join(f"{r['steps']}" + (f" ({r['best_step']})" if r["best_step"] is not None else "") for r in rs)
        bound = " (bound)" if rs[0]["bound"] else ""
        table.append(
            f"| genaug `{family}` | {'; '.join(configs[family]) if label == 'default' and family in configs else label} | {steps} | {mean_sd([r['train'] for r in rs])} | {mean_sd(held)}{bound} "
            f"| {statistics.mean(h - r['train'] for h, r in zip(held, rs)):+.3f} | {statistics.mean(r['seconds'] for r in rs):.0f} "
            f"| {'yes' if statistics.mean(held) < UNIFORM else 'no'} | {'yes' if statistics.mean(held) < sk else 'no'} |"
        )
    sk_configs = "; ".join(sorted({a["config"] for a in anchors}))
    table.append(
        f"| scikit-learn GaussianMixture | best on a validation fifth: {sk_configs} | | {mean_sd([a['train'] for a in anchors])} "
        f"| {mean_sd([a['held_out'] for a in anchors])} | {statistics.mean(a['held_out'] - a['train'] for a in anchors):+.3f} "
        f"| {statistics.mean(a['seconds'] for a in anchors):.1f} | | |"
    )
    table.append(f"| uniform over the 17 levels | - | | {UNIFORM:.3f} | {UNIFORM:.3f} | 0 | 0 | | |")
    body = "\n".join(
        [
            "## Default fits on 200 digits: train and held-out bits/dim (`bench_small_likelihood.py`, issue 17)",
            "",
            f"Command: `{command()}`  ",
            f"Machine: {machine()}",
            "",
            f"{args.shots} digits per class drawn from the training half of `train_test_split(0.5, seed=0)` (seeds "
            f"{', '.join(map(str, args.seeds))}), each family fitted with its defaults (early stopping on a stratified tenth "
            "of the 200), scored with `genaug.bits_per_dim` (marginal p(x), 4 dequantization draws) on the 200 and on the "
            "899 test digits; mean ± sd over seeds. Steps run: where the fit ended, and in brackets the step whose weights "
            "it kept. scikit-learn's GaussianMixture: best of covariance type x {1, 2, 5, 10} components x reg_covar "
            "{0.001, 0.01, 0.1, 1}, chosen on a stratified validation fifth of the same 200, refitted on all 200.",
            "",
            *table,
        ]
    )
    print(body)
    if args.write:
        write_section("bench_small_likelihood", body)


if __name__ == "__main__":
    main()
