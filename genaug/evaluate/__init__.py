"""Evaluation of fitted generators: likelihood, fidelity and diversity, memorization, quality filters.

`evaluate` runs every check that applies to a model; the pieces are usable on their own:

- `bits_per_dim`: one likelihood definition for every family that has one;
- `FeatureSpace`: a small classifier trained on the real data, whose penultimate features are the
  space the sample metrics are computed in (`frechet_distance`, `kernel_distance`, `prdc`, `mmd`,
  `c2st`, `class_fidelity`, all at once: `fidelity`);
- `memorization`: distance to the closest training record relative to the records' own spacing;
- quality filters for `SamplePool` (`NearCopyFilter`, `LikelihoodFilter`, `ConfidenceFilter`).

Anomaly scores live in `genaug.detect`.

Example:
    >>> import genaug
    >>> train, test = genaug.load_source("digits").train_test_split(0.5)
    >>> report = genaug.evaluate(genaug.fit(train, "gmm", steps=10), test, train=train, n_per_class=20)
    >>> sorted(report)[:4]
    ['anomaly', 'class_agreement', 'family', 'fidelity']
"""

from __future__ import annotations

from genaug.evaluate.conditional import ClassAgreement, class_agreement
from genaug.evaluate.features import FeatureConfig, FeatureSpace
from genaug.evaluate.fidelity import c2st, class_fidelity, fidelity, frechet_distance, kernel_distance, mmd, prdc
from genaug.evaluate.filters import ConfidenceFilter, LikelihoodFilter, NearCopyFilter, QualityFilter
from genaug.evaluate.likelihood import LikelihoodResult, bits_per_dim, log_likelihoods, to_bits_per_dim
from genaug.evaluate.memorization import Memorization, memorization, nearest, save_nearest_pairs
from genaug.evaluate.suite import evaluate

__all__ = [
    "ClassAgreement",
    "ConfidenceFilter",
    "FeatureConfig",
    "FeatureSpace",
    "LikelihoodFilter",
    "LikelihoodResult",
    "Memorization",
    "NearCopyFilter",
    "QualityFilter",
    "bits_per_dim",
    "c2st",
    "class_agreement",
    "class_fidelity",
    "evaluate",
    "fidelity",
    "frechet_distance",
    "kernel_distance",
    "log_likelihoods",
    "memorization",
    "mmd",
    "nearest",
    "prdc",
    "save_nearest_pairs",
    "to_bits_per_dim",
]
