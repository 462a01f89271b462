"""Anomaly detection: outlier scores from a generator's likelihood, and a threshold for a false-positive rate.

A sample's anomaly score is its negative log-likelihood in bits per dimension under the model's
marginal ``p(x)``: classes are mixed by the training prior and labels are never read, since an
anomaly may belong to a class the model never saw. The score is measured as `genaug.bits_per_dim`
measures it (grid data uniformly dequantized inside their bins with seeded noise, the density
expressed per grid step), so the mean score of a data set is its bits/dim. Higher is more
anomalous. A VAE's score comes from its importance-weighted bound, an upper bound on the true
negative log-likelihood (`AnomalyDetector.is_bound`). Samples with values outside the model's value
range (grid and range data) score ``+inf``: the model gives them no density.

`AnomalyDetector.fit` sets the threshold at the ``1 - fpr`` quantile of the scores of inlier data;
`predict`, `flag` and `drop` then act on arrays, tensors and ArraySets, and `hf_columns` /
`hf_filter` on Hugging Face ``datasets`` (``Dataset`` and streaming ``IterableDataset``).

Example:
    >>> import genaug, numpy as np
    >>> digits = genaug.load_source("digits")
    >>> detector = AnomalyDetector(genaug.fit(digits, "gmm", steps=5)).fit(digits, fpr=0.05)
    >>> noise = np.random.default_rng(0).integers(0, 17, size=(20, 8, 8))
    >>> bool(detector.predict(noise).all()), round(float(detector.predict(digits).mean()), 2)
    (True, 0.05)
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from genaug.data.arrayset import ArraySet, as_numpy
from genaug.data.spec import DataSpec
from genaug.evaluate.likelihood import anomaly_scores, fpr_threshold
from genaug.inject.columns import check_columns, is_number, resolve_columns, sample_form
from genaug.inject.core import check_value_range, from_form
from genaug.models.base import Generator
from genaug.models.handle import ModelHandle

__all__ = ["OUTLIER_COLUMN", "SCORE_COLUMN", "AnomalyDetector", "auroc"]

SCORE_COLUMN = "anomaly_score"
OUTLIER_COLUMN = "is_outlier"

SamplesLike = ArraySet | np.ndarray | torch.Tensor | Sequence


class AnomalyDetector:
    """Scores samples by their negative log-likelihood (bits/dim) under a fitted generator.

    Args:
        model: a fitted `Generator` with a likelihood (``gmm``, ``flow``, ``pixelcnn``, ``vae``)
            or its model folder.
        draws: dequantization noise draws per sample (their mean log-likelihood is used).
        seed: seeds the dequantization noise: the same samples, in the same order and batch, get
            the same scores. A sample's noise depends on its position in the call, so a dataset
            scored in batches of another size gets slightly different scores on grid data.
        batch_size: samples per forward pass.
        device: where the model runs; default: an in-memory model stays where it is, a folder
            loads on the CPU.

    Attributes:
        threshold: scores above it are outliers (None until `fit`).
        fpr: the false-positive rate `fit` aimed at (None until `fit`).

    Example:
        >>> import genaug
        >>> detector = AnomalyDetector(genaug.fit("digits", "gmm", steps=5))
        >>> detector.score(genaug.load_source("digits").user_x()[:3]).shape
        (3,)
    """

    def __init__(
        self,
        model: Generator | str | os.PathLike,
        *,
        draws: int = 1,
        seed: int = 0,
        batch_size: int = 256,
        device: str | torch.device | None = None,
    ) -> None:
        for name, value, least in (("draws", draws, 1), ("batch_size", batch_size, 1), ("seed", seed, 0)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
                raise ValueError(f"{name}: expected an integer >= {least}, got {value!r}")
        if device is None and isinstance(model, Generator):
            device = model.device  # ModelHandle would move it to the CPU
        self._handle = ModelHandle(model, device=device)  # pickles as its folder (map worker processes)
        if not self.model.has_likelihood:
            raise ValueError(
                f"model: the {self._handle.family!r} family has no likelihood (has_likelihood is False), so it "
                f"cannot score anomalies; use one of the families with a likelihood: {_likelihood_families()}"
            )
        self.spec: DataSpec = self._handle.spec
        self.draws, self.seed, self.batch_size = int(draws), int(seed), int(batch_size)
        self.threshold: float | None = None
        self.fpr: float | None = None

    @property
    def model(self) -> Generator:
        return self._handle.model

    @property
    def is_bound(self) -> bool:
        """True when the scores come from a likelihood bound (VAE): upper bounds on the true NLL."""
        return self.model.likelihood_is_bound

    # ------------------------------------------------------------------ scores
    def score(self, x: SamplesLike) -> np.ndarray:
        """Anomaly scores of ``x``: -log2 p(x) / D, per sample, float64 (N,); higher is more anomalous.

        Args:
            x: an `ArraySet` (its labels are ignored), or a batch in the user's space
                ``(N, *spec.user_shape())`` (numpy array, tensor or nested lists), as the model's
                training data looked.
        """
        return anomaly_scores(self.model, self._user_values(x), draws=self.draws, seed=self.seed, batch_size=self.batch_size)

    def fit(self, train: SamplesLike, *, fpr: float = 0.05) -> AnomalyDetector:
        """Set ``threshold`` to the ``1 - fpr`` quantile of the scores of ``train`` (inliers); returns self.

        The quantile is a score of ``train`` itself (numpy's ``method="higher"``), so at most
        ``fpr`` of ``train`` scores above it. Scores of the model's own training data are lower
        than those of new inliers: a threshold fitted on held-out inliers calibrates better.

        Args:
            train: inlier samples, as `score` takes them.
            fpr: the share of inliers to flag, in (0, 1).
        """
        if isinstance(fpr, bool) or not isinstance(fpr, numbers.Real) or not 0.0 < fpr < 1.0:
            raise ValueError(f"fpr: expected a false-positive rate in (0, 1), got {fpr!r}")
        scores = self.score(train)
        self.threshold = fpr_threshold(scores, fpr)
        self.fpr = float(fpr)
        return self

    def predict(self, x: SamplesLike) -> np.ndarray:
        """Outlier flags of ``x``: bool (N,), True where the score is above ``threshold``."""
        threshold = self._fitted_threshold()
        return self.score(x) > threshold

    def flag(self, x: SamplesLike) -> np.ndarray:
        """Indices of the outliers in ``x``: int64, ascending."""
        return np.flatnonzero(self.predict(x))

    def drop(self, x: SamplesLike, y: np.ndarray | torch.Tensor | Sequence | None = None) -> Any:
        """The inliers of ``x`` (same type as ``x``), and with ``y`` also their labels: ``(x_kept, y_kept)``.

        Args:
            x: samples as `score` takes them; an `ArraySet` keeps its labels (pass no ``y``).
            y: one label (or any per-sample value) per sample of ``x``.
        """
        if y is not None and isinstance(x, ArraySet):
            raise ValueError("y: an ArraySet carries its own labels; call drop(data) without y")
        if y is not None and len(y) != len(x):
            raise ValueError(f"y: expected one label per sample ({len(x)}), got {len(y)}")
        keep = np.flatnonzero(~self.predict(x))
        kept = _take(x, keep)
        return kept if y is None else (kept, _take(y, keep))

    # ------------------------------------------------------------------ Hugging Face datasets
    def hf_columns(
        self, column: str | Sequence[str] | None = None, *, value_range: tuple[float, float] | None = None
    ) -> Callable[[Mapping[str, Any]], dict[str, list]]:
        """A function for ``Dataset.map(fn, batched=True)`` / ``IterableDataset.map``: adds score and flag columns.

        Every row gets ``anomaly_score`` (float) and ``is_outlier`` (bool, score above ``threshold``).

        Args:
            column: where the samples are: an image column (PIL images, as ``datasets.Image``
                decodes them), an array column (one sample per cell: nested lists, arrays or
                tensors), or one numeric column per feature of a vector model, in the model's
                order. Default: an ``image``/``img``/``pixel_values`` column for image models, the
                model's ``feature_names`` for vector models.
            value_range: where the model's value range lies in the data (PIL images default to 0..255).

        Example:
            >>> import datasets, genaug
            >>> digits = genaug.load_source("digits")
            >>> detector = AnomalyDetector(genaug.fit(digits, "gmm", steps=5)).fit(digits)
            >>> table = datasets.Dataset.from_dict({"image": digits.user_x()[:8].tolist()})
            >>> table.map(detector.hf_columns(), batched=True).column_names
            ['image', 'anomaly_score', 'is_outlier']
        """
        self._fitted_threshold()
        return _DatasetScorer(self, column, value_range, keep_inliers=False)

    def hf_filter(
        self, column: str | Sequence[str] | None = None, *, value_range: tuple[float, float] | None = None
    ) -> Callable[[Mapping[str, Any]], list[bool]]:
        """A function for ``Dataset.filter(fn, batched=True)`` / ``IterableDataset.filter`` that keeps the inliers.

        Args:
            column, value_range: as in `hf_columns`.
        """
        self._fitted_threshold()
        return _DatasetScorer(self, column, value_range, keep_inliers=True)

    # ------------------------------------------------------------------ helpers
    def _fitted_threshold(self) -> float:
        if self.threshold is None:
            raise ValueError(
                "threshold: the detector has no threshold yet; call fit(inliers, fpr=...) first (score() needs none)"
            )
        return self.threshold

    def _user_values(self, x: SamplesLike) -> torch.Tensor:
        """``x`` in the user's units, canonical layout: float64 (N, *spec.shape); bad input -> ValueError/TypeError."""
        spec = self.spec
        if isinstance(x, ArraySet):
            if (x.spec.modality, x.spec.shape) != (spec.modality, spec.shape):
                raise ValueError(
                    f"x: the data set holds {x.spec.modality}s of shape {x.spec.shape}, the model scores "
                    f"{spec.modality}s of shape {spec.shape}"
                )
            if len(x) == 0:
                raise ValueError("x: no samples to score (an empty ArraySet)")
            values = x.spec.canonical(x.user_x()).to(torch.float64)
        else:
            array = _as_array(x)
            if len(array) == 0:
                raise ValueError(f"x: no samples to score (shape {array.shape})")
            if array.shape[1:] != spec.user_shape():
                raise ValueError(
                    f"x: expected a batch of shape (N, {', '.join(map(str, spec.user_shape()))}) in the user's "
                    f"layout ({spec.layout}) of the model's {spec.modality}s, got shape {array.shape}"
                )
            values = spec.canonical(torch.from_numpy(array.astype(np.float64, copy=False)))
        finite = torch.isfinite(values).flatten(1).all(1)
        if not finite.all():
            bad = torch.nonzero(~finite).flatten()
            raise ValueError(
                f"x: NaN or infinite values in {len(bad)} of {len(values)} samples (first at index {int(bad[0])})"
            )
        return values

    def __repr__(self) -> str:
        return (
            f"AnomalyDetector({self._handle!r}, draws={self.draws}, seed={self.seed}, "
            f"threshold={self.threshold}, fpr={self.fpr})"
        )


def auroc(scores_inliers: np.ndarray | Sequence[float], scores_outliers: np.ndarray | Sequence[float]) -> float:
    """Area under the ROC curve of anomaly scores (outliers positive): 1.0 ranks every outlier above every inlier.

    ``+inf``/``-inf`` scores are allowed (the AUROC depends on ranks only); NaN is refused.

    Example:
        >>> round(auroc([0.1, 0.4, 0.2], [0.9, 0.3, float("inf")]), 4)
        0.8889
    """
    from scipy.stats import rankdata
    from sklearn.metrics import roc_auc_score

    parts = []
    for name, scores in (("scores_inliers", scores_inliers), ("scores_outliers", scores_outliers)):
        scores = np.asarray(scores, dtype=np.float64)
        if scores.ndim != 1 or len(scores) == 0:
            raise ValueError(f"{name}: expected a non-empty 1-D array of scores, got shape {scores.shape}")
        if np.isnan(scores).any():
            raise ValueError(f"{name}: contains NaN at index {int(np.flatnonzero(np.isnan(scores))[0])}")
        parts.append(scores)
    truth = np.r_[np.zeros(len(parts[0])), np.ones(len(parts[1]))]
    # roc_auc_score refuses infinite scores; their ranks (ties averaged) give the same curve
    return float(roc_auc_score(truth, rankdata(np.concatenate(parts))))


# ---------------------------------------------------------------------------------------- scoring
def _likelihood_families() -> list[str]:
    from genaug.models.registry import families, get_family

    return [name for name in families() if get_family(name).has_likelihood]


def _as_array(x: Any) -> np.ndarray:
    """A batch given as a tensor, an array or nested lists, as a real-valued numpy array."""
    array = as_numpy(x)
    if array.ndim == 0 or array.dtype.kind not in "iuf":
        raise TypeError(
            f"x: expected an ArraySet, or a batch of real numbers (numpy array, tensor or nested lists), "
            f"got {type(x).__name__}" + (f" of dtype {array.dtype}" if array.ndim else "")
        )
    return array


def _take(values: Any, index: np.ndarray) -> Any:
    """The rows ``index`` of an ArraySet, array, tensor or sequence, in the same type (a list for sequences)."""
    if isinstance(values, ArraySet):
        return values.subset(index)
    if isinstance(values, torch.Tensor):
        return values[torch.from_numpy(index).to(values.device)]
    if isinstance(values, np.ndarray):
        return values[index]
    return [values[i] for i in index.tolist()]


# ---------------------------------------------------------------------------------------- datasets
class _DatasetScorer:
    """The function behind `AnomalyDetector.hf_columns` and `hf_filter`: one batch of rows in, scores out."""

    def __init__(
        self,
        detector: AnomalyDetector,
        column: str | Sequence[str] | None,
        value_range: tuple[float, float] | None,
        *,
        keep_inliers: bool,
    ) -> None:
        self.detector = detector
        self.column = check_columns(column, detector.spec)
        self.value_range = check_value_range(value_range, detector.spec)
        self.keep_inliers = keep_inliers

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, list] | list[bool]:
        if not isinstance(batch, Mapping):
            raise TypeError(
                f"batch: expected the dict of columns that map/filter(batched=True) passes, got {type(batch).__name__}"
            )
        x = self._samples(batch)
        scores = self.detector.score(x) if len(x) else np.zeros(0)
        outlier = scores > self.detector._fitted_threshold()
        if self.keep_inliers:
            return (~outlier).tolist()
        return {SCORE_COLUMN: scores.tolist(), OUTLIER_COLUMN: outlier.tolist()}

    def _samples(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """The batch's samples in the model's user space: float64 (n, *spec.user_shape())."""
        spec = self.detector.spec
        column = resolve_columns(self.column, spec, list(batch), "column")
        if isinstance(column, str):
            cells = [self._cell(value, column) for value in batch[column]]
            return torch.cat(cells) if cells else torch.zeros((0, *spec.user_shape()), dtype=torch.float64)
        features = []
        for name in column:
            values = list(batch[name])
            bad = [i for i, v in enumerate(values) if not is_number(v)]
            if bad:
                raise ValueError(
                    f"columns: column {name!r} must hold one number per row; row {bad[0]} holds {values[bad[0]]!r}"
                )
            features.append(np.asarray([float(v) for v in values], dtype=np.float64))
        return torch.from_numpy(np.stack(features, axis=1))  # (n, D)

    def _cell(self, value: Any, column: str) -> torch.Tensor:
        """One sample cell (PIL image, array, tensor or nested lists) in the user's space: (1, *user_shape)."""
        if value is None:
            raise ValueError(f"columns: a cell of column {column!r} is empty (None); expected a sample")
        if isinstance(value, list | tuple):
            value = np.asarray(value)
        form = sample_form(value, self.detector.spec, self.value_range, f"columns: column {column!r}")
        return from_form(value, form, self.detector.spec)

    def __repr__(self) -> str:
        kind = "hf_filter" if self.keep_inliers else "hf_columns"
        return f"{kind}({self.detector!r}, column={self.column!r})"
