"""Memorization: do synthetic samples copy training records?

A sample's distance to its closest training record (DCR) means little on its own: digits of one
class lie closer together than photographs do. genaug divides it by the leave-one-out distance of
that training record to *its* closest other training record, so the score reads the same on any data:

    ratio(s) = d(s, t*) / d_loo(t*),   t* = the training record closest to s

A fresh sample from the data distribution scores about 1 (real held-out records score ~1.0 on
digits); a sample that interpolates between training records (SMOTE) scores ~0.3; a copy scores 0.
The summary is the median ratio; samples whose ratio is below ``threshold`` count as near-copies.
Distances are Euclidean, in model space ("pixel") or in a feature space (`FeatureSpace.features`).

Example:
    >>> import torch
    >>> train = torch.randn(200, 5, generator=torch.Generator().manual_seed(0))
    >>> fresh = torch.randn(100, 5, generator=torch.Generator().manual_seed(1))
    >>> 0.7 < memorization(fresh, train).ratio < 1.4
    True
    >>> memorization(train[:50], train).near_copy_share
    1.0
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from genaug.data.spec import DataSpec

__all__ = [
    "Memorization",
    "NearestRecords",
    "edit_distances",
    "memorization",
    "nearest",
    "nearest_records",
    "nearest_strings",
    "record_spacing",
    "save_nearest_pairs",
]


@dataclass(frozen=True)
class Memorization:
    """How close synthetic samples lie to the training records, relative to the records' own spacing."""

    space: str  # "pixel" (model space) or "feature"
    ratio: float  # median over samples of d(sample, closest record) / that record's leave-one-out distance
    ratio_quantiles: dict[str, float]  # 5%, 25%, 50%, 75% quantiles of the ratio
    near_copy_share: float  # share of samples whose ratio is below `threshold`
    threshold: float
    n_samples: int
    n_train: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class NearestRecords:
    """Per sample: distance to the closest training record, that record, and the memorization ratio."""

    distance: torch.Tensor  # (M,) float64
    index: torch.Tensor  # (M,) int64 row of the training set
    ratio: torch.Tensor  # (M,) float64


def nearest(query: torch.Tensor, reference: torch.Tensor, *, exclude_self: bool = False, chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Euclidean distance from every row of ``query`` to its closest row of ``reference``, and that row.

    Exact distances (no matrix-product shortcut), so a copy is at distance 0. ``exclude_self``:
    ``query`` is ``reference`` and each row's own entry is skipped (leave-one-out).
    """
    query, reference = _rows(query, "query"), _rows(reference, "reference")
    if query.shape[1] != reference.shape[1]:
        raise ValueError(f"query: rows of {query.shape[1]} values cannot be compared with reference rows of {reference.shape[1]}")
    if len(reference) < (2 if exclude_self else 1):
        raise ValueError(f"reference: expected at least {2 if exclude_self else 1} rows, got {len(reference)}")
    distances, indices = [], []
    for start in range(0, len(query), chunk):
        block = torch.cdist(query[start : start + chunk], reference, compute_mode="donot_use_mm_for_euclid_dist")
        if exclude_self:
            rows = torch.arange(start, start + len(block))
            block[torch.arange(len(block)), rows] = math.inf
        d, i = block.min(dim=1)
        distances.append(d)
        indices.append(i)
    return torch.cat(distances), torch.cat(indices)


def _rows(x: torch.Tensor, name: str) -> torch.Tensor:
    x = torch.as_tensor(x).detach().cpu()
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"{name}: expected a non-empty batch of samples (N, ...), got shape {tuple(x.shape)}")
    x = x.reshape(len(x), -1).to(torch.float64)
    if not torch.isfinite(x).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return x


def record_spacing(train: torch.Tensor) -> torch.Tensor:
    """Each training record's leave-one-out distance to its closest other record: float64 (N,), > 0.

    A record with an exact duplicate in the training set has no spacing of its own: it gets the
    median spacing of the others.
    """
    loo, _ = nearest(train, train, exclude_self=True)
    positive = loo[loo > 0]
    floor = positive.median() if len(positive) else torch.tensor(1.0, dtype=torch.float64)
    return torch.where(loo > 0, loo, floor)


def nearest_records(samples: torch.Tensor, train: torch.Tensor) -> NearestRecords:
    """Every sample's closest training record and its memorization ratio (one search for `memorization` and `save_nearest_pairs`)."""
    distance, index = nearest(samples, train)
    return NearestRecords(distance, index, distance / record_spacing(train)[index])


def memorization(
    samples: torch.Tensor, train: torch.Tensor, *, threshold: float = 0.1, space: str = "pixel", found: NearestRecords | None = None
) -> Memorization:
    """Memorization score of ``samples`` against the ``train`` records they must not copy.

    Args:
        samples: synthetic samples (M, ...), in the same space as ``train`` (model space, or features).
        train: the training records (N, ...), N >= 2.
        threshold: a sample whose ratio is below it counts as a near-copy.
        space: a name for the space the rows live in, recorded in the result.
        found: ``nearest_records(samples, train)`` if already computed.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not threshold > 0:
        raise ValueError(f"threshold: expected a positive ratio, got {threshold!r}")
    found = nearest_records(samples, train) if found is None else found
    quantiles = torch.quantile(found.ratio, torch.tensor([0.05, 0.25, 0.5, 0.75], dtype=torch.float64)).tolist()
    return Memorization(
        space=space,
        ratio=float(found.ratio.median()),
        ratio_quantiles=dict(zip(["q05", "q25", "q50", "q75"], quantiles)),
        near_copy_share=float((found.ratio < threshold).double().mean()),
        threshold=float(threshold),
        n_samples=len(found.ratio),
        n_train=len(train),
    )


def save_nearest_pairs(
    spec: DataSpec,
    samples: torch.Tensor,
    train: torch.Tensor,
    path: str | os.PathLike,
    *,
    k: int = 16,
    pairs_per_row: int = 4,
    found: NearestRecords | None = None,
) -> list[tuple[int, int, float]]:
    """Render the ``k`` samples closest to a training record beside that record, as one PNG.

    ``samples`` and ``train`` are model-space images; each pair is (sample, its closest training
    record), the closest (smallest ratio) first, ``pairs_per_row`` pairs per row, drawn as the data's
    modality draws pairs (images side by side, sequences overlaid, vectors as rows of cells).
    Returns (sample row, training row, ratio) per pair.
    ``found``: ``nearest_records(samples, train)`` if already computed.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k: expected a positive number of pairs, got {k!r}")
    found = nearest_records(samples, train) if found is None else found
    order = torch.argsort(found.ratio)[:k]
    pairs = [(int(i), int(found.index[i]), float(found.ratio[i])) for i in order]
    spec.kind.save_pairs(spec, samples[order], train[found.index[order]], path, per_row=pairs_per_row)
    return pairs


# ---------------------------------------------------------------------- strings: edit distance
def _codes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Strings as a padded (N, L) int32 array of code points (-1 pad) and their lengths."""
    lengths = np.array([len(t) for t in texts], dtype=np.int64)
    out = np.full((len(texts), max(1, int(lengths.max(initial=0)))), -1, dtype=np.int32)
    for i, t in enumerate(texts):
        out[i, : len(t)] = [ord(c) for c in t]
    return out, lengths


def edit_distances(queries: Sequence[str], references: Sequence[str], *, chunk: int = 64) -> np.ndarray:
    """Levenshtein distances (insert, delete, substitute: 1 each) between every query and every reference: int (Q, R)."""
    b, b_len = _codes(references)
    out = np.zeros((len(queries), len(references)), dtype=np.int64)
    width = b.shape[1]
    for start in range(0, len(queries), chunk):
        a, a_len = _codes(queries[start : start + chunk])
        q = len(a)
        # row[j] = distance between the query's first i characters and the reference's first j
        row = np.broadcast_to(np.arange(width + 1), (q, len(references), width + 1)).copy()
        result = np.zeros((q, len(references)), dtype=np.int64)
        result[a_len == 0] = b_len  # empty queries
        for i in range(a.shape[1]):
            new = np.empty_like(row)
            new[..., 0] = i + 1
            same = a[:, i][:, None, None] == b[None]  # (q, R, width)
            substitute = row[..., :-1] + ~same
            delete = row[..., 1:] + 1
            best = np.minimum(substitute, delete)
            for j in range(width):  # insertion runs along the reference: sequential in j
                new[..., j + 1] = np.minimum(best[..., j], new[..., j] + 1)
            row = new
            ended = a_len == i + 1
            if ended.any():
                result[ended] = np.take_along_axis(row[ended], b_len[None, :, None], axis=2)[..., 0]
        out[start : start + q] = result
    return out


def nearest_strings(samples: Sequence[str], train: Sequence[str]) -> NearestRecords:
    """Per sample: edit distance to the closest training string, that string's row in ``train``, and the ratio.

    The ratio divides the distance by the closest string's own distance to its closest other
    training string (a string that appears twice in ``train`` has spacing 0); copies score 0.
    The same `NearestRecords` as `genaug.evaluate.memorization.nearest_records` returns for arrays.

    Example:
        >>> found = nearest_strings(["anna", "annie"], ["anna", "anne", "bob"])
        >>> found.distance.tolist(), found.index.tolist(), found.ratio.tolist()
        ([0.0, 1.0], [0, 1], [0.0, 1.0])
    """
    samples, train = list(samples), list(train)
    if len(train) < 2:
        raise ValueError(f"train: expected at least 2 training strings, got {len(train)}")
    distinct = sorted(set(train))
    first = {s: i for i, s in reversed(list(enumerate(train)))}  # a distinct string's first row in train
    to_train = edit_distances(samples, distinct)
    closest = to_train.argmin(axis=1) if len(samples) else np.zeros(0, dtype=np.int64)
    d = to_train[np.arange(len(samples)), closest].astype(np.float64)
    counts = Counter(train)
    among = edit_distances(distinct, distinct).astype(np.float64)
    np.fill_diagonal(among, np.inf)
    spacing = np.where([counts[s] > 1 for s in distinct], 0.0, among.min(axis=1))
    ratio = np.where(d == 0, 0.0, d / np.maximum(spacing[closest], 1e-12))
    rows = np.array([first[distinct[c]] for c in closest], dtype=np.int64)
    return NearestRecords(torch.from_numpy(d), torch.from_numpy(rows), torch.from_numpy(ratio))
