"""Memorization, novelty and diversity of generated strings (the text counterparts of the image metrics).

- `text_memorization`: the share of samples that are exact copies of a training string, and the
  nearest-neighbour ratio of `genaug.evaluate.memorization` with the Levenshtein edit distance: a
  sample's distance to its closest training string divided by that string's distance to its own
  closest other training string (fresh strings score about 1, copies 0).
- The edit distances and each sample's closest training string (`edit_distances`, `nearest_strings`)
  live in `genaug.evaluate.memorization`, beside the Euclidean search they stand in for.
- `distinct_n`: distinct character n-grams over all n-grams of the samples (Li et al. 2016).
- `CopyFilter`: a quality filter that drops samples equal to a training string (exact copies; with
  ``max_distance`` > 0 also strings within that many edits of one).

Example:
    >>> edit_distances(["kitten"], ["sitting", "kitten", "mitten"]).tolist()
    [[3, 0, 1]]
    >>> text_memorization(["anna", "annie", "zoe"], ["anna", "anne", "bob"]).exact_copy_share
    0.3333333333333333
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from genaug.data.arrayset import ArraySet
from genaug.evaluate.filters import QualityFilter
from genaug.evaluate.memorization import NearestRecords, edit_distances, nearest_strings

__all__ = ["CopyFilter", "TextMemorization", "distinct_n", "text_memorization"]


@dataclass(frozen=True)
class TextMemorization:
    """How close generated strings are to the training strings (see the module docstring)."""

    exact_copy_share: float  # samples equal to a training string
    ratio: float  # median over samples of edit distance to the closest training string / its own closest other's
    ratio_quantiles: dict[str, float]
    near_copy_share: float  # samples whose ratio is below `threshold` (copies included)
    threshold: float
    novelty: float  # share of distinct samples that are no training string
    n_samples: int
    n_train: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def text_memorization(
    samples: Sequence[str], train: Sequence[str], *, threshold: float = 0.1, found: NearestRecords | None = None
) -> TextMemorization:
    """Exact copies and the nearest-neighbour edit-distance ratio of ``samples`` against ``train``.

    ``found``: ``nearest_strings(samples, train)`` if already computed.
    """
    samples, train = list(samples), list(train)
    if not samples:
        raise ValueError("samples: no strings to score")
    ratio = (nearest_strings(samples, train) if found is None else found).ratio.numpy()
    known = set(train)
    unique = set(samples)
    quantiles = {f"q{int(q * 100):02d}": float(np.quantile(ratio, q)) for q in (0.05, 0.25, 0.5, 0.75)}
    return TextMemorization(
        exact_copy_share=float(np.mean([s in known for s in samples])),
        ratio=float(np.median(ratio)),
        ratio_quantiles=quantiles,
        near_copy_share=float(np.mean(ratio < threshold)),
        threshold=threshold,
        novelty=float(np.mean([s not in known for s in unique])),
        n_samples=len(samples),
        n_train=len(train),
    )


def distinct_n(samples: Sequence[str], n: int = 2) -> float:
    """Distinct character n-grams over all character n-grams of ``samples`` (1.0: no n-gram repeats)."""
    grams = [s[i : i + n] for s in samples for i in range(len(s) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


class CopyFilter(QualityFilter):
    """Drops generated strings that copy a training string (within ``max_distance`` edits; 0: exact copies).

    Example:
        >>> from genaug.data import from_texts
        >>> keep = CopyFilter(from_texts(["anna", "bob"]))
        >>> keep(["anna", "hanna"], torch.zeros(2, dtype=torch.long)).tolist()
        [False, True]
    """

    name = "copies"

    def __init__(self, train: ArraySet, *, max_distance: int = 0) -> None:
        super().__init__()
        if isinstance(max_distance, bool) or not isinstance(max_distance, int) or max_distance < 0:
            raise ValueError(f"max_distance: expected an integer >= 0, got {max_distance!r}")
        self.train = sorted(set(train.user_x()))
        self.known = set(self.train)
        self.max_distance = max_distance
        self.num_classes = train.spec.num_classes

    def keep(self, x: Any, labels: torch.Tensor) -> torch.Tensor:
        texts = list(x)
        if self.max_distance == 0:
            return torch.tensor([t not in self.known for t in texts], dtype=torch.bool)
        return torch.from_numpy(edit_distances(texts, self.train).min(axis=1) > self.max_distance)

    def settings(self) -> dict[str, Any]:
        return {"max_distance": self.max_distance}
