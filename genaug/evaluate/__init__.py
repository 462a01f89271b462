"""Evaluation of fitted generators: likelihood (bits/dim) and class agreement, one entry point.

Example:
    >>> import genaug
    >>> train, test = genaug.load_source("digits").train_test_split(0.5)
    >>> report = genaug.evaluate(genaug.fit(train, "gmm", steps=10), test)
    >>> sorted(report)
    ['class_agreement', 'family', 'fingerprint', 'likelihood', 'n']
"""

from __future__ import annotations

from typing import Any

from genaug.data.arrayset import ArraySet
from genaug.evaluate.conditional import ClassAgreement, class_agreement
from genaug.evaluate.likelihood import LikelihoodResult, bits_per_dim
from genaug.models.base import Generator

__all__ = ["ClassAgreement", "LikelihoodResult", "bits_per_dim", "class_agreement", "evaluate"]


def evaluate(model: Generator, data: ArraySet, *, seed: int = 0, draws: int = 1, n_per_class: int = 50) -> dict[str, Any]:
    """Every metric that applies to ``model``, on ``data`` (held out from training, ideally).

    Args:
        model: a fitted generator.
        data: evaluation samples with labels (conformed to the model's spec).
        seed: seeds dequantization noise and the samples drawn.
        draws: dequantization draws per sample for the likelihood.
        n_per_class: samples per class for class agreement.

    Returns:
        A JSON-ready dict: ``family``, ``fingerprint``, ``n``, ``likelihood`` (a `LikelihoodResult`
        as a dict, or None for families without one) and ``class_agreement``.
    """
    data = data.conform(model.spec)
    likelihood = bits_per_dim(model, data, draws=draws, seed=seed).to_dict() if model.has_likelihood else None
    return {
        "family": model.family,
        "fingerprint": model.fingerprint(),
        "n": len(data),
        "likelihood": likelihood,
        "class_agreement": class_agreement(model, data, n_per_class=n_per_class, seed=seed).to_dict(),
    }
