"""Quality filters for `SamplePool` (``SamplePool(model, filter=...)``).

A filter is called with each refill's samples (user space, as the pool serves them) and their
labels, and returns a keep mask. Each filter here counts what it saw and dropped (`report`); in
DataLoader workers every worker counts its own copy.

- `NearCopyFilter`: drops samples that lie much closer to a training record than training records
  lie to each other (the memorization ratio of `genaug.evaluate.memorization` below a threshold).
- `LikelihoodFilter`: drops samples the model itself finds unlikely: log p(x | label) below a low
  quantile of the training records' scores of that class.
- `ConfidenceFilter`: drops samples that a classifier trained on the real data (`FeatureSpace`)
  does not assign to their label with enough confidence.

Example:
    >>> import genaug
    >>> data = genaug.load_source("digits")
    >>> model = genaug.fit(data, "gmm", steps=5)
    >>> near_copies = NearCopyFilter(data, threshold=0.1)
    >>> pool = genaug.SamplePool(model, batch_size=256, filter=near_copies)
    >>> x, _ = pool.take([0, 1, 2])
    >>> near_copies.report()["seen"] >= 256
    True
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, Any

import torch

from genaug.data.arrayset import ArraySet
from genaug.evaluate.likelihood import log_likelihoods
from genaug.evaluate.memorization import nearest, nearest_strings, record_spacing
from genaug.models.base import Generator
from genaug.models.handle import ModelHandle

if TYPE_CHECKING:
    from genaug.evaluate.features import FeatureSpace

__all__ = ["ConfidenceFilter", "LikelihoodFilter", "NearCopyFilter", "QualityFilter"]


class QualityFilter:
    """Base of the filters: validation, counting, the report. Subclasses implement `keep`."""

    name = "filter"
    num_classes: int  # set by subclasses: labels must lie in 0..num_classes - 1

    def __init__(self) -> None:
        self.seen = 0
        self.dropped = 0

    def __call__(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Keep mask (N,) bool for user-space samples ``x`` (a tensor, or a list of strings) with class indices ``labels``."""
        strings = isinstance(x, (list, tuple)) and all(isinstance(v, str) for v in x)
        x = list(x) if strings else torch.as_tensor(x).detach().cpu()
        labels = torch.as_tensor(labels).detach().cpu().reshape(-1).long()
        if len(x) != len(labels):
            raise ValueError(f"labels: expected one label per sample ({len(x)}), got {len(labels)}")
        if len(labels) and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"labels: class indices must lie in 0..{self.num_classes - 1}, got {labels.min().item()}..{labels.max().item()}")
        keep = self.keep(x, labels).reshape(-1).bool().cpu()  # the pool indexes CPU samples with it
        self.seen += len(keep)
        self.dropped += int((~keep).sum())
        return keep

    def keep(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        return {}

    def report(self) -> dict[str, Any]:
        """What the filter saw and dropped so far, with its settings (JSON-ready)."""
        share = self.dropped / self.seen if self.seen else 0.0
        return {"filter": self.name, **self.settings(), "seen": self.seen, "dropped": self.dropped, "dropped_share": share}

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({settings}; dropped {self.dropped} of {self.seen})"


def _check_share(value: float, name: str, *, low_open: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0.0 < value < 1.0 if low_open else 0.0 <= value <= 1.0):
        raise ValueError(f"{name}: expected a number in {'(0, 1)' if low_open else '[0, 1]'}, got {value!r}")
    return float(value)


class NearCopyFilter(QualityFilter):
    """Drop samples whose memorization ratio to the training records is below ``threshold``.

    Args:
        train: the training records (an ArraySet, in its own spec: the model's).
        threshold: drop a sample closer to its closest record than ``threshold`` times that
            record's distance to its own closest other record (0.1: far closer than any two
            training records usually are; a copy has ratio 0).
        space: compare in this `FeatureSpace` instead of model space ("pixel").

    Strings (text data) are compared by edit distance (`genaug.evaluate.memorization.nearest_strings`):
    an exact copy has ratio 0 and is always dropped; with the default 0.1 a string one edit from a
    training string is dropped only when that string's closest other is 10 or more edits away.
    """

    name = "near_copy"

    def __init__(self, train: ArraySet, *, threshold: float = 0.1, space: FeatureSpace | None = None) -> None:
        super().__init__()
        if not isinstance(train, ArraySet):
            raise TypeError(f"train: expected an ArraySet of training records, got {type(train).__name__}")
        if len(train) < 2:
            raise ValueError(f"train: expected at least 2 training records, got {len(train)}")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not threshold > 0:
            raise ValueError(f"threshold: expected a positive ratio, got {threshold!r}")
        self.spec, self.threshold, self.space = train.spec, float(threshold), space
        self.num_classes = train.spec.num_classes
        self.strings: list[str] | None = None
        if train.spec.scaling == "tokens":  # strings: the edit-distance ratio (copies 0), in no feature space
            if space is not None:
                raise ValueError("space: near-copies of strings are found by edit distance; leave space=None")
            self.strings = list(train.user_x())
            return
        self.records = self._embed(train.x)
        self.scale = record_spacing(self.records)

    def _embed(self, z: torch.Tensor) -> torch.Tensor:
        z = z.float()
        return (self.space.features(z) if self.space is not None else z).reshape(len(z), -1).double().cpu()

    def keep(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.strings is not None:
            return nearest_strings(list(x), self.strings).ratio >= self.threshold
        distance, index = nearest(self._embed(self.spec.to_model(x)), self.records)
        return distance / self.scale[index] >= self.threshold

    def settings(self) -> dict[str, Any]:
        space = "edit" if self.strings is not None else "feature" if self.space is not None else "pixel"
        return {"threshold": self.threshold, "space": space}


class LikelihoodFilter(QualityFilter):
    """Drop samples with log p(x | label) below the ``quantile`` of the training records of that class.

    Args:
        model: the generator whose likelihood scores samples (a `Generator` with ``has_likelihood``,
            or its folder); usually the pool's own model.
        train: the training records the thresholds come from.
        quantile: the share of training records of a class that would be dropped (e.g. 0.05).
        seed: seeds the dequantization noise (grid data); a batch's noise also depends on the batch.
    """

    name = "likelihood"

    def __init__(self, model: Generator | str | os.PathLike, train: ArraySet, *, quantile: float = 0.05, seed: int = 0) -> None:
        super().__init__()
        device = model.device if isinstance(model, Generator) else None  # an in-memory model stays where it is
        self.handle = ModelHandle(model, device=device)
        if not self.handle.model.has_likelihood:
            raise ValueError(f"model: the {self.handle.family!r} family has no likelihood; LikelihoodFilter needs log_prob")
        if not isinstance(train, ArraySet):
            raise TypeError(f"train: expected an ArraySet of training records, got {type(train).__name__}")
        self.quantile, self.seed = _check_share(quantile, "quantile"), int(seed)
        spec = self.handle.spec
        self.num_classes = spec.num_classes
        train = train.conform(spec)
        scores = self._scores(train.x, train.y)
        self.thresholds = torch.full((spec.num_classes,), -torch.inf, dtype=torch.float64)
        for c in train.y.unique().tolist():
            self.thresholds[c] = torch.quantile(scores[train.y == c], self.quantile)

    def _scores(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """log p(z | label), with dequantization noise seeded by ``seed`` and the batch itself."""
        digest = hashlib.blake2b(z.detach().cpu().contiguous().numpy().tobytes(), digest_size=8, key=str(self.seed).encode()).digest()
        _, conditional = log_likelihoods(self.handle.model, z, labels, marginal=False, seed=int.from_bytes(digest, "little") >> 1, batch_size=1024)
        return conditional

    def keep(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        z = self.handle.spec.to_model(x).float()
        return self._scores(z, labels) >= self.thresholds[labels]

    def settings(self) -> dict[str, Any]:
        return {"quantile": self.quantile}


class ConfidenceFilter(QualityFilter):
    """Drop samples that a classifier trained on real data does not assign to their label with ``min_confidence``.

    A sample is kept when its label is the classifier's most probable class and its probability is
    at least ``min_confidence``.

    Args:
        space: a `FeatureSpace` fitted on the real data (its classifier head is used).
        min_confidence: the least predicted probability of the asked class to keep a sample.
    """

    name = "confidence"

    def __init__(self, space: FeatureSpace, *, min_confidence: float = 0.5) -> None:
        super().__init__()
        if not hasattr(space, "predict_proba"):
            raise TypeError(f"space: expected a FeatureSpace, got {type(space).__name__}")
        self.space, self.min_confidence = space, _check_share(min_confidence, "min_confidence")
        self.num_classes = space.spec.num_classes

    def keep(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        proba = self.space.predict_proba(self.space.spec.to_model(x).float()).cpu()
        asked = proba[torch.arange(len(labels)), labels]
        return (proba.argmax(dim=1) == labels) & (asked >= self.min_confidence)

    def settings(self) -> dict[str, Any]:
        return {"min_confidence": self.min_confidence}
