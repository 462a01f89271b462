"""Fidelity and diversity of synthetic samples, measured in a domain feature space.

Every metric compares two feature arrays, ``real (N, F)`` and ``fake (M, F)`` (torch tensors or
numpy arrays), usually penultimate activations of a `FeatureSpace` classifier trained on real data:

- `frechet_distance`: Frechet distance between Gaussians fitted to both sets (FID, Heusel et al. 2017),
  computed by torchmetrics' ``FrechetInceptionDistance`` fed with the precomputed features.
- `kernel_distance`: KID (Binkowski et al. 2018), torchmetrics' ``KernelInceptionDistance``, seeded.
- `prdc`: precision, recall, density and coverage (Naeem et al. 2020, "Reliable Fidelity and
  Diversity Metrics for Generative Models"), the reference package's definitions in chunked torch.
- `mmd`: unbiased squared MMD with a Gaussian kernel (Gretton et al. 2012), median-heuristic bandwidth.
- `c2st`: classifier two-sample test (Lopez-Paz & Oquab 2017): held-out accuracy of a logistic
  regression telling real from synthetic; 0.5 means indistinguishable.
- `class_fidelity`: share of class-conditional samples the real-data classifier labels as asked.

`fidelity` runs them all on a feature space and returns a JSON-ready dict.

Example:
    >>> import torch
    >>> real = torch.randn(300, 4, generator=torch.Generator().manual_seed(0))
    >>> fake = torch.randn(300, 4, generator=torch.Generator().manual_seed(1)) + 3.0
    >>> round(frechet_distance(real, real), 6), frechet_distance(real, fake) > 30
    (0.0, True)
    >>> c2st(real, real)["accuracy"], c2st(real, fake)["accuracy"] > 0.95
    (0.5, True)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from genaug.data.arrayset import ArraySet
from genaug.evaluate.features import FeatureSpace

__all__ = ["c2st", "class_fidelity", "fidelity", "frechet_distance", "kernel_distance", "mmd", "prdc"]

ArrayLike = torch.Tensor | np.ndarray


class _Precomputed(nn.Module):
    """The identity, posing as a torchmetrics feature extractor of ``num_features`` outputs."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def _features(value: ArrayLike, name: str, min_rows: int) -> torch.Tensor:
    """``value`` as a float64 CPU tensor (N, F), after checking shape, finiteness and row count."""
    if not isinstance(value, (torch.Tensor, np.ndarray)):
        raise TypeError(
            f"{name}: expected a torch.Tensor or numpy array of features (N, F), got {type(value).__name__}"
        )
    x = torch.as_tensor(value).detach().cpu()
    if x.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array of features (N, F), got shape {tuple(x.shape)}")
    if x.dtype == torch.bool or x.is_complex():
        raise TypeError(f"{name}: expected real-valued features, got dtype {x.dtype}")
    x = x.to(torch.float64)
    if len(x) < min_rows:
        raise ValueError(f"{name}: expected at least {min_rows} rows of features, got {len(x)}")
    if x.shape[1] < 1:
        raise ValueError(f"{name}: expected at least one feature per row, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        bad = int((~torch.isfinite(x).all(dim=1)).nonzero()[0])
        raise ValueError(f"{name}: contains NaN or infinite values (first in row {bad})")
    return x


def _pair(real: ArrayLike, fake: ArrayLike, min_rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Both feature sets, checked, with the same number of features."""
    r, f = _features(real, "real", min_rows), _features(fake, "fake", min_rows)
    if r.shape[1] != f.shape[1]:
        raise ValueError(
            f"fake: expected {r.shape[1]} features per row like real, got {f.shape[1]} (shape {tuple(f.shape)})"
        )
    return r, f


def frechet_distance(real: ArrayLike, fake: ArrayLike) -> float:
    """Frechet distance between Gaussians fitted to ``real`` and ``fake`` (FID in this feature space).

    ``||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2))`` in float64, via torchmetrics.

    Args:
        real: ``(N, F)`` features of real samples, N >= 2.
        fake: ``(M, F)`` features of synthetic samples, M >= 2.

    Example:
        >>> import torch
        >>> x = torch.randn(1000, 2, generator=torch.Generator().manual_seed(0))
        >>> round(frechet_distance(x, x + torch.tensor([3.0, 4.0])), 6)  # ||shift||^2
        25.0
    """
    from torchmetrics.image.fid import FrechetInceptionDistance

    r, f = _pair(real, fake, min_rows=2)
    metric = FrechetInceptionDistance(feature=_Precomputed(r.shape[1]))  # its running sums are float64
    metric.update(r, real=True)
    metric.update(f, real=False)
    return max(float(metric.compute()), 0.0)  # float error can leave -1e-12 where the sets agree


def kernel_distance(
    real: ArrayLike, fake: ArrayLike, *, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID: mean and std over random subsets of the unbiased MMD^2 with a cubic polynomial kernel.

    Args:
        real: ``(N, F)`` features of real samples.
        fake: ``(M, F)`` features of synthetic samples.
        subsets: number of random subsets.
        subset_size: rows per subset, capped at ``min(N, M)``.
        seed: seeds the subsets (torchmetrics draws them with the global RNG, which is forked and
            restored, so the caller's random state is untouched).

    Example:
        >>> import torch
        >>> x = torch.randn(200, 3, generator=torch.Generator().manual_seed(0))
        >>> kernel_distance(x, x + 2.0, subsets=10)[0] > 0.1
        True
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    r, f = _pair(real, fake, min_rows=2)
    if not isinstance(subsets, int) or subsets < 1:
        raise ValueError(f"subsets: expected a positive integer, got {subsets!r}")
    if not isinstance(subset_size, int) or subset_size < 2:
        raise ValueError(f"subset_size: expected an integer >= 2, got {subset_size!r}")
    size = min(subset_size, len(r), len(f))
    with warnings.catch_warnings():  # it warns that it keeps every feature in memory: so do we, by design
        warnings.filterwarnings("ignore", message=".*will save all extracted features", category=UserWarning)
        metric = KernelInceptionDistance(feature=_Precomputed(r.shape[1]), subsets=subsets, subset_size=size)
    metric.update(r, real=True)
    metric.update(f, real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


def _check_k(k: int) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k: expected a positive number of neighbours, got {k!r}")


def _kth_neighbour_radii(x: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    """Distance from each row of ``x`` to its k-th nearest other row (the row itself counts as the 0th)."""
    radii = [
        torch.cdist(block, x, compute_mode="donot_use_mm_for_euclid_dist")
        .topk(k + 1, dim=1, largest=False)
        .values[:, -1]
        for block in x.split(chunk)
    ]
    return torch.cat(radii)


def prdc(real: ArrayLike, fake: ArrayLike, *, k: int = 5, chunk: int = 1024) -> dict[str, float]:
    """Precision, recall, density and coverage with k-nearest-neighbour balls (Naeem et al. 2020).

    - precision: share of fake samples inside some real sample's k-NN ball (fidelity);
    - recall: share of real samples inside some fake sample's k-NN ball (diversity);
    - density: mean number of real balls holding a fake sample, divided by k (about 1 when the
      distributions agree; above 1 when fakes sit closer to real samples than those lie to each
      other; unlike precision, barely moved by the large balls of outlying real samples);
    - coverage: share of real samples whose ball holds a fake sample (about 1 - 2^-k for equal sets).

    Same definitions as the reference package ``prdc`` (strict ``<`` against the radius), computed in
    float64 with exact distances, ``chunk`` rows at a time.

    Args:
        real: ``(N, F)`` features of real samples, N > k.
        fake: ``(M, F)`` features of synthetic samples, M > k.
        k: neighbours that set each ball's radius.
        chunk: rows per distance block (memory is about ``chunk * max(N, M)`` floats).

    Example:
        >>> import torch
        >>> x = torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
        >>> scores = prdc(x, x)
        >>> scores["precision"], scores["recall"], scores["coverage"]
        (1.0, 1.0, 1.0)
    """
    _check_k(k)
    r, f = _pair(real, fake, min_rows=k + 1)
    real_radii = _kth_neighbour_radii(r, k, chunk)  # (N,)
    fake_radii = _kth_neighbour_radii(f, k, chunk)  # (M,)
    balls_holding = torch.zeros(len(f), dtype=torch.float64)  # per fake: real balls it lies in
    recalled = torch.zeros(len(r), dtype=torch.bool)  # per real: inside some fake ball
    closest_fake = torch.full((len(r),), math.inf, dtype=torch.float64)  # per real: distance to nearest fake
    for start in range(0, len(f), chunk):
        block, radii = f[start : start + chunk], fake_radii[start : start + chunk]
        d = torch.cdist(r, block, compute_mode="donot_use_mm_for_euclid_dist")  # (N, chunk)
        balls_holding[start : start + len(block)] = (d < real_radii[:, None]).sum(dim=0).double()
        recalled |= (d < radii[None, :]).any(dim=1)
        closest_fake = torch.minimum(closest_fake, d.min(dim=1).values)
    return {
        "precision": float((balls_holding > 0).double().mean()),
        "recall": float(recalled.double().mean()),
        "density": float(balls_holding.mean() / k),
        "coverage": float((closest_fake < real_radii).double().mean()),
    }


def _pairwise_sq(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist").square()


def _median_distance(pooled: torch.Tensor, most: int = 2000) -> float:
    """Median pairwise distance between distinct rows (of at most ``most`` evenly spaced rows)."""
    if len(pooled) > most:
        pooled = pooled[torch.linspace(0, len(pooled) - 1, most).long()]
    return float(torch.pdist(pooled).median())


def _kernel_sum(a: torch.Tensor, b: torch.Tensor, gamma: float, *, skip_diagonal: bool, chunk: int) -> float:
    """Sum of exp(-gamma ||a_i - b_j||^2) over all pairs (without i == j when ``a`` is ``b``)."""
    total = 0.0
    for start in range(0, len(a), chunk):
        k = torch.exp(-gamma * _pairwise_sq(a[start : start + chunk], b))
        total += float(k.sum())
    return total - (len(a) if skip_diagonal else 0.0)  # exp(0) = 1 on the diagonal


def mmd(real: ArrayLike, fake: ArrayLike, *, bandwidth: float | None = None, chunk: int = 1024) -> float:
    """Unbiased squared maximum mean discrepancy with a Gaussian kernel (Gretton et al. 2012).

    ``k(x, y) = exp(-||x - y||^2 / (2 bandwidth^2))``; the bandwidth defaults to the median pairwise
    distance of the pooled set (at most 2000 evenly spaced rows of it). Unbiased, so it can dip
    slightly below 0 when the two sets come from one distribution. torchmetrics has no sample MMD
    (its KID uses a polynomial kernel), so this is written here.

    Args:
        real: ``(N, F)`` features of real samples, N >= 2.
        fake: ``(M, F)`` features of synthetic samples, M >= 2.
        bandwidth: kernel width > 0 in feature units; None for the median heuristic.
        chunk: rows per kernel block.

    Example:
        >>> import torch
        >>> x = torch.randn(300, 3, generator=torch.Generator().manual_seed(0))
        >>> y = torch.randn(300, 3, generator=torch.Generator().manual_seed(1))
        >>> abs(mmd(x, y)) < 0.01, mmd(x, y + 2.0) > 0.3
        (True, True)
    """
    r, f = _pair(real, fake, min_rows=2)
    if bandwidth is None:
        bandwidth = _median_distance(torch.cat([r, f]))
        if bandwidth == 0.0:  # more than half the pairs coincide: the sets are (nearly) one point
            bandwidth = 1.0
    elif not isinstance(bandwidth, (int, float)) or not math.isfinite(bandwidth) or bandwidth <= 0:
        raise ValueError(f"bandwidth: expected a positive finite number or None, got {bandwidth!r}")
    gamma = 1.0 / (2.0 * float(bandwidth) ** 2)
    n, m = len(r), len(f)
    xx = _kernel_sum(r, r, gamma, skip_diagonal=True, chunk=chunk) / (n * (n - 1))
    yy = _kernel_sum(f, f, gamma, skip_diagonal=True, chunk=chunk) / (m * (m - 1))
    xy = _kernel_sum(r, f, gamma, skip_diagonal=False, chunk=chunk) / (n * m)
    return xx + yy - 2.0 * xy


def c2st(real: ArrayLike, fake: ArrayLike, *, folds: int = 5, seed: int = 0) -> dict[str, float | int]:
    """Classifier two-sample test: held-out accuracy of a classifier telling real from synthetic.

    The larger set is subsampled (seeded) to the size of the smaller, each real row is paired with
    a synthetic one, and the pairs are split into ``folds`` folds, so every fold is exactly balanced.
    A logistic regression on standardized features is trained on the other folds and scored on each.
    0.5 means the sets cannot be told apart (literally identical sets give exactly 0.5: a pair of
    equal points gets one prediction, right for one of them); 1.0 means they are fully separable.

    Args:
        real: ``(N, F)`` features of real samples.
        fake: ``(M, F)`` features of synthetic samples; ``min(N, M) >= folds``.
        folds: cross-validation folds (>= 2).
        seed: seeds the subsampling and the fold assignment.

    Returns:
        ``accuracy`` (mean over folds), ``std`` (over folds) and ``n`` (rows used, both classes).

    Example:
        >>> import torch
        >>> x = torch.randn(200, 3, generator=torch.Generator().manual_seed(0))
        >>> c2st(x, x)["accuracy"], c2st(x, x + 5.0)["accuracy"]
        (0.5, 1.0)
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if not isinstance(folds, int) or folds < 2:
        raise ValueError(f"folds: expected an integer >= 2, got {folds!r}")
    r, f = _pair(real, fake, min_rows=folds)
    rng = np.random.default_rng(seed)
    n = min(len(r), len(f))
    r_np = r.numpy() if len(r) == n else r.numpy()[np.sort(rng.choice(len(r), n, replace=False))]
    f_np = f.numpy() if len(f) == n else f.numpy()[np.sort(rng.choice(len(f), n, replace=False))]
    fold_of_pair = np.empty(n, dtype=np.int64)
    for fold, members in enumerate(np.array_split(rng.permutation(n), folds)):
        fold_of_pair[members] = fold
    x = np.concatenate([r_np, f_np])
    y = np.concatenate([np.ones(n, dtype=np.int64), np.zeros(n, dtype=np.int64)])
    fold_of_row = np.concatenate([fold_of_pair, fold_of_pair])
    scores = []
    for fold in range(folds):
        test = fold_of_row == fold
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        clf.fit(x[~test], y[~test])
        scores.append(float((clf.predict(x[test]) == y[test]).mean()))
    return {"accuracy": float(np.mean(scores)), "std": float(np.std(scores)), "n": int(2 * n)}


def class_fidelity(
    space: FeatureSpace,
    x_model: torch.Tensor,
    asked_labels: torch.Tensor | np.ndarray | Sequence[int],
    class_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Share of samples that the real-data classifier assigns to the class they were asked for.

    Args:
        space: a `FeatureSpace` trained on real data (its classifier head does the labelling).
        x_model: ``(N, *spec.shape)`` model-space samples.
        asked_labels: ``(N,)`` class indices each sample was generated for.
        class_names: names for the per-class entries; the space's classes when None.

    Returns:
        ``accuracy`` over all samples and ``per_class`` {class name: share}, for the classes asked for.
    """
    if not isinstance(space, FeatureSpace):
        raise TypeError(f"space: expected a FeatureSpace, got {type(space).__name__}")
    names = list(space.spec.class_names if class_names is None else class_names)
    if len(names) != space.spec.num_classes:
        raise ValueError(
            f"class_names: expected {space.spec.num_classes} names for the space's classes, got {len(names)}: {names}"
        )
    x_model = space.check_input(x_model, "x_model")
    if len(x_model) == 0:
        raise ValueError("x_model: no samples to score")
    labels = _labels(asked_labels, len(x_model), len(names), "asked_labels")
    predicted = space.predict_proba(x_model).argmax(dim=1).cpu()
    hits = (predicted == labels).double()
    per_class = {names[c]: float(hits[labels == c].mean()) for c in labels.unique().tolist()}
    return {"accuracy": float(hits.mean()), "per_class": per_class}


def _labels(asked: torch.Tensor | np.ndarray | Sequence[int], n: int, num_classes: int, name: str) -> torch.Tensor:
    """``asked`` as an int64 tensor of ``n`` class indices in ``0..num_classes-1``."""
    labels = torch.as_tensor(np.asarray(asked.cpu() if isinstance(asked, torch.Tensor) else asked))
    if labels.ndim != 1 or len(labels) != n:
        raise ValueError(f"{name}: expected one class index per sample, shape ({n},), got shape {tuple(labels.shape)}")
    if labels.is_floating_point() or labels.dtype == torch.bool or labels.is_complex():
        raise TypeError(f"{name}: expected integer class indices, got dtype {labels.dtype}")
    labels = labels.long()
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)][0].item()
        raise ValueError(f"{name}: unknown class {bad}; expected indices 0..{num_classes - 1}")
    return labels


def fidelity(
    space: FeatureSpace,
    real: ArraySet,
    fake_x_model: torch.Tensor,
    fake_labels: torch.Tensor,
    *,
    k: int = 5,
    seed: int = 0,
) -> dict[str, Any]:
    """Every fidelity and diversity metric of synthetic samples against real ones, in ``space``.

    Args:
        space: a `FeatureSpace` trained on real data.
        real: real samples (held out from the generator's training, ideally); conformed to the space's spec.
        fake_x_model: ``(M, *spec.shape)`` synthetic samples in model space.
        fake_labels: ``(M,)`` the classes the synthetic samples were asked for.
        k: neighbours for precision/recall/density/coverage.
        seed: seeds KID's subsets and the C2ST folds.

    Returns:
        A JSON-ready dict: ``frechet_distance``, ``kid`` {mean, std}, ``prdc`` {precision, recall,
        density, coverage}, ``mmd``, ``c2st`` {accuracy, std, n}, ``class_fidelity`` {accuracy,
        per_class}, and ``n_real``, ``n_fake``, ``feature_dim``, ``classifier_val_accuracy``.
    """
    if not isinstance(space, FeatureSpace):
        raise TypeError(f"space: expected a FeatureSpace, got {type(space).__name__}")
    if not isinstance(real, ArraySet):
        raise TypeError(f"real: expected an ArraySet, got {type(real).__name__}")
    _check_k(k)
    real = real.conform(space.spec)
    fake_x_model = space.check_input(fake_x_model, "fake_x_model")
    need = max(k + 1, 5)  # prdc's k-th neighbours and C2ST's 5 folds
    for name, n in (("real", len(real)), ("fake_x_model", len(fake_x_model))):
        if n < need:
            raise ValueError(f"{name}: expected at least {need} samples for k={k} neighbours and 5 folds, got {n}")
    fake_labels = _labels(fake_labels, len(fake_x_model), space.spec.num_classes, "fake_labels")
    real_f, fake_f = space.features(real.x), space.features(fake_x_model)
    kid_mean, kid_std = kernel_distance(real_f, fake_f, seed=seed)
    return {
        "frechet_distance": frechet_distance(real_f, fake_f),
        "kid": {"mean": kid_mean, "std": kid_std},
        "prdc": prdc(real_f, fake_f, k=k),
        "mmd": mmd(real_f, fake_f),
        "c2st": c2st(real_f, fake_f, seed=seed),
        "class_fidelity": class_fidelity(space, fake_x_model, fake_labels),
        "n_real": len(real),
        "n_fake": len(fake_x_model),
        "feature_dim": space.dim,
        "classifier_val_accuracy": space.val_accuracy,
    }
