"""Classic over-samplers, the anchors a generative arm must beat: SMOTE and a per-class Gaussian KDE.

SMOTE (Chawla et al., 2002) draws points on the segments between a record and one of its
``k_neighbors`` nearest records of the same class; a kernel density estimate draws a record and adds
Gaussian noise of a bandwidth chosen by leave-one-out likelihood. Both see the labelled subset only
and make a static augmented set (the synthetic records are appended once), as scikit-learn and
imbalanced-learn users do. A generator that does not beat interpolating between the records or
blurring them has learned nothing an over-sampler could not; running them as arms of the same
recipe (the same subsets, seeds, classifier weights and test split) makes the comparison paired:
"SMOTE and KDE arms so the anchors are measured in the same run".

Both work on the flattened model-space records and map what they make back with
``spec.to_user``, so synthetic records look like real ones (digits: 0..16 integers on the grid).

Example:
    >>> import numpy as np
    >>> import genaug
    >>> data = genaug.from_arrays(np.random.default_rng(0).normal(size=(12, 3)), np.arange(12) % 2)
    >>> x, y = oversample("kde", data, 4, seed=0)
    >>> x.shape, np.bincount(y).tolist()
    ((8, 3), [4, 4])
"""

from __future__ import annotations

import numpy as np
import torch

from genaug.data.arrayset import ArraySet

__all__ = ["BANDWIDTH_FACTORS", "OVERSAMPLERS", "kde_bandwidth", "oversample"]

OVERSAMPLERS = ("smote", "kde")
BANDWIDTH_FACTORS = np.logspace(-1.5, 0.5, 12)  # KDE bandwidth candidates, times a class's mean per-dimension std


def oversample(
    method: str, subset: ArraySet, n_per_class: int, *, seed: int, k_neighbors: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """``n_per_class`` new synthetic records for every class present in ``subset``, made by ``method``.

    Args:
        method: ``"smote"`` (imbalanced-learn's ``SMOTE``, an optional dependency) or ``"kde"``
            (a scikit-learn ``KernelDensity`` per class, bandwidth from `kde_bandwidth`).
        subset: the labelled records the over-sampler is fitted on (and nothing else).
        n_per_class: synthetic records to make per class.
        seed: the same seed gives the same records (SMOTE draws from one ``np.random.RandomState(seed)``
            stream for all classes; the KDE of class ``c`` samples with ``random_state=seed + c``).
        k_neighbors: SMOTE's neighbourhood size, lowered to the smallest class's size minus one.

    Returns:
        ``(x, y)``: the synthetic records in the user's space, layout and dtype (``spec.to_user``:
        grid data rounded to its grid, vectors clipped and rounded like the data), class by class
        in ascending class order, and their int64 labels. The subset's own records are not included.

    Example:
        >>> import genaug
        >>> digits = genaug.load_source("digits")
        >>> x, y = oversample("kde", digits.subset(range(40)), 3, seed=0)
        >>> x.shape, x.dtype, len(y)
        ((30, 8, 8), dtype('float64'), 30)
    """
    _check_arguments(method, subset, n_per_class, seed, k_neighbors)
    flat = subset.x.reshape(len(subset), -1).numpy()  # (N, D) float32, model space
    labels = subset.y.numpy()
    classes = np.unique(labels)
    counts = {int(c): int((labels == c).sum()) for c in classes}
    if method == "smote":
        z = _smote(flat, labels, counts, n_per_class, seed, k_neighbors, subset.spec.class_names)
    else:
        z = np.concatenate(
            [_kde(flat[labels == c], n_per_class, seed + int(c), subset.spec.class_names[c]) for c in classes]
        )
    x = subset.spec.to_user(torch.from_numpy(z.astype(np.float32)).reshape(-1, *subset.spec.shape))
    return x.numpy(), np.repeat(classes, n_per_class).astype(np.int64)


def kde_bandwidth(x: np.ndarray) -> float:
    """The Gaussian KDE bandwidth of the records ``x`` (N >= 2, any shape) by leave-one-out likelihood.

    The candidates are `BANDWIDTH_FACTORS` (``np.logspace(-1.5, 0.5, 12)``) times the records' mean
    per-dimension standard deviation (1.0 when every record is the same); the one that maximizes
    ``sum_i log p_{-i}(x_i)``, the density of each record under the KDE of the others, wins (the
    smallest on ties). It is the choice ``GridSearchCV(KernelDensity(), {"bandwidth": ...},
    cv=LeaveOneOut())`` makes, computed in closed form from the pairwise distances (one
    ``N x N`` matrix instead of ``N x 12`` fits).

    Args:
        x: records of one class, ``(N, ...)``; flattened per record.

    Example:
        >>> import numpy as np
        >>> bandwidth = kde_bandwidth(np.random.default_rng(0).normal(size=(50, 2)))
        >>> 0.1 < bandwidth < 1.0
        True
    """
    from scipy.spatial.distance import pdist, squareform
    from scipy.special import logsumexp

    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    n, dim = x.shape
    if n < 2:
        raise ValueError(f"x: a leave-one-out bandwidth needs at least 2 records, got {n}")
    scale = float(x.std(axis=0).mean())
    candidates = BANDWIDTH_FACTORS * (scale if scale > 0 else 1.0)
    sq = squareform(pdist(x, "sqeuclidean"))
    np.fill_diagonal(sq, np.inf)  # leave each record out of its own density
    # (12,) sum over records of log( mean over the others of N(x_i; x_j, h^2 I) )
    scores = [
        (logsumexp(-sq / (2 * h * h), axis=1) - np.log(n - 1) - 0.5 * dim * np.log(2 * np.pi * h * h)).sum()
        for h in candidates
    ]
    return float(candidates[int(np.argmax(scores))])


def _check_arguments(method: str, subset: ArraySet, n_per_class: int, seed: int, k_neighbors: int) -> None:
    if method not in OVERSAMPLERS:
        raise ValueError(f"method: expected one of {OVERSAMPLERS}, got {method!r}")
    if not isinstance(subset, ArraySet):
        raise TypeError(f"subset: expected a genaug ArraySet, got {type(subset).__name__}")
    if len(subset) == 0:
        raise ValueError("subset: empty (0 records); an over-sampler needs records of every class it makes")
    for name, value, low in (("n_per_class", n_per_class, 1), ("k_neighbors", k_neighbors, 1), ("seed", seed, 0)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise TypeError(f"{name}: expected an integer, got {value!r}")
        if value < low:
            raise ValueError(f"{name}: expected an integer >= {low}, got {value}")


def _smote(
    flat: np.ndarray,
    labels: np.ndarray,
    counts: dict[int, int],
    n_per_class: int,
    seed: int,
    k_neighbors: int,
    class_names: tuple[str, ...],
) -> np.ndarray:
    """imbalanced-learn's SMOTE, ``n_per_class`` more records per class: the appended rows only."""
    try:
        from imblearn.over_sampling import SMOTE
    except ImportError:
        raise ImportError(
            "oversample: method 'smote' needs imbalanced-learn: pip install 'genaug[baselines]' or imbalanced-learn"
        ) from None
    if len(counts) < 2:  # imblearn's own limit: it resamples one class against the others
        name = class_names[next(iter(counts))]
        raise ValueError(
            f"subset: SMOTE needs records of at least 2 classes, got 1 (class {name!r}); method 'kde' takes one class"
        )
    single = [class_names[c] for c, count in counts.items() if count < 2]
    if single:
        raise ValueError(
            f"subset: SMOTE interpolates between two records of a class; classes {single} have a single record"
        )
    smote = SMOTE(
        sampling_strategy={c: count + n_per_class for c, count in counts.items()},
        k_neighbors=min(k_neighbors, min(counts.values()) - 1),
        # a RandomState, not the int: imblearn re-seeds per class from an int, so every class would
        # reuse the same draws (base-record positions and interpolation steps)
        random_state=np.random.RandomState(seed),
    )
    resampled, resampled_labels = smote.fit_resample(flat, labels)
    # SMOTE._fit_resample (imblearn/over_sampling/_smote/base.py, read in 0.14.2) stacks the original
    # records first, then each class's new ones in sampling_strategy_ order
    new, new_labels = resampled[len(flat) :], resampled_labels[len(flat) :]
    order = np.argsort(new_labels, kind="stable")
    return new[order]


def _kde(records: np.ndarray, n: int, seed: int, class_name: str) -> np.ndarray:
    """``n`` draws of a Gaussian KDE of one class's records (bandwidth: `kde_bandwidth`)."""
    from sklearn.neighbors import KernelDensity

    if len(records) < 2:
        raise ValueError(f"subset: class {class_name!r} has a single record; a KDE bandwidth needs at least 2")
    kde = KernelDensity(kernel="gaussian", bandwidth=kde_bandwidth(records)).fit(records.astype(np.float64))
    return kde.sample(n, random_state=seed)
