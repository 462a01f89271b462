"""`genaug.evaluate`: every check that applies to a fitted generator, in one JSON-ready report."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genaug.data.arrayset import ArraySet
from genaug.evaluate.conditional import class_agreement
from genaug.evaluate.features import FeatureSpace
from genaug.evaluate.fidelity import fidelity
from genaug.evaluate.filters import ConfidenceFilter, LikelihoodFilter, QualityFilter
from genaug.evaluate.likelihood import LikelihoodResult, anomaly_scores, fpr_threshold, log_likelihoods, to_bits_per_dim
from genaug.evaluate.memorization import memorization, nearest_records, nearest_strings, save_nearest_pairs
from genaug.evaluate.textmetrics import distinct_n, text_memorization
from genaug.models.base import Generator

__all__ = ["evaluate"]


def evaluate(
    model: Generator,
    data: ArraySet,
    *,
    train: ArraySet | None = None,
    seed: int = 0,
    draws: int = 1,
    n_per_class: int = 100,
    cache_dir: str | os.PathLike | None = None,
    pairs: str | os.PathLike | None = None,
    near_copy_threshold: float = 0.1,
    quality_filter: QualityFilter | None = None,
) -> dict[str, Any]:
    """Every metric that applies to ``model``: likelihood, fidelity and diversity, memorization, filters.

    Args:
        model: a fitted generator.
        data: real samples held out from training (fidelity and likelihood are measured on them).
        train: the records the model was fitted on (memorization is measured against them, the
            feature classifier is trained on them). Default: ``data`` itself, for a model fitted
            on all of it (then fidelity compares with the training data).
        seed: seeds the samples drawn, dequantization noise and the metrics' random choices.
        draws: dequantization draws per sample for the likelihood.
        n_per_class: synthetic samples drawn per class present in ``data``.
        cache_dir: where the feature classifier is cached (the model's run folder's ``eval/``).
        pairs: write the closest (sample, training record) pairs as a PNG here.
        near_copy_threshold: memorization ratio below which a sample counts as a near-copy.
        quality_filter: the filter samples pass before they are injected (a recipe's `NearCopyFilter`): the
            samples drawn are also scored after it, in ``memorization["after_filter"]``.

    Returns:
        A JSON-ready dict: ``family``, ``fingerprint``, ``n`` (held-out samples), ``n_train``,
        ``likelihood`` (None for families without one; with ``train_bits_per_dim`` on the training
        records and ``generalization_gap``, held-out minus training bits/dim), ``class_agreement`` (None for one class), ``fidelity`` (feature
        space: Frechet distance, KID, precision/recall/density/coverage, MMD, C2ST, per-class
        fidelity), ``memorization`` (pixel and feature space; for text ``edit`` instead of ``pixel``: exact
        copies, the edit-distance ratio, novelty and distinct-2/3, `genaug.evaluate.textmetrics`; all samples
        drawn, and with ``quality_filter`` also ``after_filter``: the filter's report (``seen``, ``dropped``),
        ``kept`` and the same two entries for the samples it kept, None where it kept none), ``filters`` (the share of the
        samples each quality filter would drop) and ``anomaly`` (families with a likelihood: the
        share of held-out data that a `genaug.detect` threshold, fitted on the training records
        for 5% false positives, flags; far above 5% means the model fits its records too closely).
    """
    if not isinstance(model, Generator):
        raise TypeError(f"model: expected a genaug Generator, got {type(model).__name__}")
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, int) or n_per_class < 1:
        raise ValueError(f"n_per_class: expected a positive number of samples per class, got {n_per_class!r}")
    spec = model.spec
    data = data.conform(spec)
    train = data if train is None else train.conform(spec)
    if len(data) == 0 or len(train) < 2:
        raise ValueError(f"data: expected held-out samples and at least 2 training records, got {len(data)} and {len(train)}")
    labels = torch.unique(data.y).repeat_interleave(n_per_class)
    several = len(torch.unique(data.y)) > 1  # class agreement needs two classes to tell apart
    samples = model.sample(len(labels), labels=labels, generator=torch.Generator().manual_seed(seed))
    strings = spec.scaling == "tokens"  # text: samples are str, compared by edit distance
    samples = samples if strings else samples.cpu()
    fake = spec.to_model(samples).float()
    space = FeatureSpace.fit(train, seed=seed, cache_dir=cache_dir)
    # pixel (edit) memorization and the pairs PNG share one search
    closest = nearest_strings(samples, train.user_x()) if strings else nearest_records(fake, train.x)
    train_features = space.features(train.x)  # memorization of all samples and of those the filter keeps
    report: dict[str, Any] = {
        "family": model.family,
        "fingerprint": model.fingerprint(),
        "n": len(data),
        "n_train": len(train),
        "n_samples": len(labels),
        "likelihood": None,
        "class_agreement": class_agreement(model, data, n_per_class=min(n_per_class, 50), seed=seed).to_dict() if several else None,
        "fidelity": fidelity(space, data, fake, labels, seed=seed),
        "memorization": _memorization(samples, fake, train, space, near_copy_threshold, found=closest, train_features=train_features),
        "filters": _filter_shares(model, train, space, samples, labels, seed),
        "anomaly": None,
    }
    if quality_filter is not None:
        keep = quality_filter(samples, labels)
        kept = [s for s, k in zip(samples, keep.tolist()) if k] if strings else samples[keep]
        after = {**quality_filter.report(), "kept": int(keep.sum())}
        after.update(_memorization(kept, fake[keep], train, space, near_copy_threshold, train_features=train_features) if keep.any() else {"edit" if strings else "pixel": None, "feature": None})
        report["memorization"]["after_filter"] = after
    if model.has_likelihood:  # one scoring of the held-out data serves bits/dim and the anomaly calibration
        marginal, conditional = log_likelihoods(model, data.x, data.y, draws=draws, seed=seed)
        report["likelihood"] = LikelihoodResult.of(model, marginal, conditional, draws, spec.kind.units(spec, data.x)).to_dict()
        train_bits = _record_bits(model, train, seed, draws)  # the generalization gap and the anomaly threshold share them
        units = spec.kind.units(spec, train.x).numpy()  # pooled as the held-out bits are: total bits over total units
        train_pooled = float((np.asarray(train_bits) * units).sum() / units.sum())
        report["likelihood"]["train_bits_per_dim"] = train_pooled
        report["likelihood"]["generalization_gap"] = report["likelihood"]["bits_per_dim"] - train_pooled
        report["anomaly"] = _anomaly_calibration(train_bits, to_bits_per_dim(spec, marginal, data.x))
    if pairs is not None:
        shown = save_nearest_pairs(spec, fake, train.x, pairs, found=closest)
        report["pairs"] = {"path": str(Path(pairs)), "closest": [{"sample": s, "train": t, "ratio": r} for s, t, r in shown]}
    return report


def _memorization(
    samples: Any, fake: torch.Tensor, train: ArraySet, space: FeatureSpace, threshold: float, *, train_features: torch.Tensor, found: Any = None
) -> dict[str, Any]:
    """Memorization of ``samples`` (``fake``: in model space) in the data's own space (``pixel``; ``edit`` for text) and in ``space``.

    ``train_features``: ``space.features(train.x)``, computed once by the caller for every call.
    """
    if train.spec.scaling == "tokens":
        own = text_memorization(samples, train.user_x(), threshold=threshold, found=found).to_dict()
        own.update({f"distinct_{n}": distinct_n(samples, n) for n in (2, 3)})
    else:
        own = memorization(fake, train.x, threshold=threshold, space="pixel", found=found).to_dict()
    feature = memorization(space.features(fake), train_features, threshold=threshold, space="feature").to_dict()
    return {"edit" if train.spec.scaling == "tokens" else "pixel": own, "feature": feature}


def _filter_shares(model: Generator, train: ArraySet, space: FeatureSpace, samples: torch.Tensor, labels: torch.Tensor, seed: int) -> dict:
    """The share of ``samples`` each default quality filter would drop (near-copies: see memorization)."""
    filters = [ConfidenceFilter(space)]
    if model.has_likelihood:
        filters.append(LikelihoodFilter(model, train, seed=seed))
    shares = {}
    for quality in filters:
        quality(samples, labels)
        report = quality.report()
        shares[report.pop("filter")] = report
    return shares


def _record_bits(model: Generator, train: ArraySet, seed: int, draws: int) -> torch.Tensor:
    """Bits/dim of each training record, as `genaug.detect` scores them (an ArraySet read in the user's values)."""
    spec = train.spec
    if spec.scaling == "tokens":  # strings have no units to read back: their encoding is scored
        log_p, _ = log_likelihoods(model, train.x, draws=draws, seed=seed)
        return to_bits_per_dim(spec, log_p, train.x).numpy()
    values = spec.canonical(train.user_x()).to(torch.float64)
    return anomaly_scores(model, values, draws=draws, seed=seed)


def _anomaly_calibration(train_bits: torch.Tensor, held_out_bits: torch.Tensor, fpr: float = 0.05) -> dict[str, float]:
    """How a `genaug.detect` threshold fitted on the training records for ``fpr`` transfers to held-out data (both scores given)."""
    threshold = fpr_threshold(train_bits, fpr)
    return {"fpr": fpr, "threshold_bits_per_dim": threshold, "held_out_flagged": float((held_out_bits > threshold).double().mean())}
