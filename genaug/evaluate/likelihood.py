"""Bits per dimension: one likelihood definition for every family that has one.

A model's ``log_prob`` is a density over model space. On grid data (digits, 8-bit images) the data
are uniformly dequantized inside their bins and the density is expressed per grid step, so

    bits/dim = -(log p_model(dequantize(z)) + spec.log_det_to_data()) / (D ln 2)

which for digits is the density of ``x + U[0, 1)`` on the 0..17 scale: a uniform model scores
log2(17) = 4.088, and a discrete model (PixelCNN) scores exactly its ``-log2 P(x) / D``. On
continuous data the same formula gives bits/dim of the density in the data's own units.

`anomaly_scores` and `fpr_threshold` are the scoring and calibration behind `genaug.detect`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from genaug.data.arrayset import ArraySet
from genaug.data.spec import DataSpec
from genaug.models.base import Generator

__all__ = ["LikelihoodResult", "anomaly_scores", "bits_per_dim", "fpr_threshold", "log_likelihoods", "outside_range", "to_bits_per_dim"]


@dataclass(frozen=True)
class LikelihoodResult:
    """Held-out likelihood of a model, per dimension."""

    bits_per_dim: float  # marginal over classes: -log2 p(x) / D (text: per character, the end mark included)
    bits_per_dim_conditional: float  # given the true label: -log2 p(x | y) / D
    is_bound: bool  # the family's log_prob is a lower bound, so these are upper bounds
    discrete: bool  # measured on the data's grid (dequantized) or on tokens (exact); False: a continuous density
    n: int  # samples evaluated
    dequantization_draws: int  # uniform noise draws averaged per sample

    @classmethod
    def of(cls, model: Generator, marginal: torch.Tensor, conditional: torch.Tensor, draws: int, units: torch.Tensor | None = None) -> LikelihoodResult:
        """The result for per-sample log-likelihoods (nats, model space) from `log_likelihoods`.

        ``units``: what each sample's likelihood is reported per (`Modality.units`; default: its
        dimensions). The result is the total over the samples divided by their total units, which for
        samples of one size is the mean of the per-sample figures.
        """
        spec = model.spec
        units = torch.full((len(marginal),), float(spec.dim), dtype=torch.float64) if units is None else units.to(torch.float64)

        def pooled(log_likelihood: torch.Tensor) -> float:
            return float(-(log_likelihood.double() + spec.log_det_to_data()).sum() / (units.sum() * math.log(2)))

        return cls(
            bits_per_dim=pooled(marginal),
            bits_per_dim_conditional=pooled(conditional),
            is_bound=model.likelihood_is_bound,
            discrete=spec.scaling in ("grid", "tokens"),
            n=len(marginal),
            dequantization_draws=draws,
        )

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def bits_per_dim(
    model: Generator,
    data: ArraySet,
    *,
    draws: int = 1,
    seed: int = 0,
    batch_size: int = 256,
) -> LikelihoodResult:
    """Bits per dimension of ``data`` under ``model`` (lower is better); for text, bits per character.

    Text counts every string's characters (bytes with the byte tokenizer) and its end mark, and divides
    the total bits by the total count (`genaug.modalities.text`).

    Args:
        model: a fitted generator with ``has_likelihood``.
        data: the samples to score, usually held out; conformed to the model's spec first.
        draws: dequantization noise draws per sample (their mean log-likelihood is used).
        seed: seeds the dequantization noise, so results repeat.
        batch_size: samples per forward pass.

    Example:
        >>> import genaug
        >>> train, test = genaug.load_source("digits").train_test_split(0.5)
        >>> model = genaug.fit(train, "gmm", steps=10)
        >>> round(bits_per_dim(model, test).bits_per_dim, 1) < 4.088  # beats the uniform model
        True
    """
    if not isinstance(model, Generator):
        raise TypeError(f"model: expected a genaug Generator, got {type(model).__name__}")
    if not model.has_likelihood:
        raise ValueError(f"model: the {model.family!r} family has no likelihood (has_likelihood is False)")
    if not isinstance(data, ArraySet):
        raise TypeError(f"data: expected an ArraySet, got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError("data: no samples to evaluate")
    if draws < 1:
        raise ValueError(f"draws: expected at least 1 dequantization draw, got {draws}")
    spec = model.spec
    data = data.conform(spec)
    marginal, conditional = log_likelihoods(model, data.x, data.y, draws=draws, seed=seed, batch_size=batch_size)
    return LikelihoodResult.of(model, marginal, conditional, draws, spec.kind.units(spec, data.x))


@torch.no_grad()
def log_likelihoods(
    model: Generator,
    z: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    marginal: bool = True,
    draws: int = 1,
    seed: int = 0,
    batch_size: int = 256,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Per sample, the mean over ``draws`` of log p(dequantized z): marginal, and given ``labels``.

    ``z`` is model space (N, *spec.shape); float64 (N,) results, densities over model space (see
    `to_bits_per_dim`), each None when not asked for (``marginal=False``; no ``labels``). The noise is drawn draw by draw, batch by batch, from ``seed``: the same
    samples in the same order get the same noise.
    """
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise ValueError(f"draws: expected at least 1 dequantization draw, got {draws!r}")
    if labels is not None:
        labels = torch.as_tensor(labels)
        if labels.shape != (len(z),):
            raise ValueError(f"labels: expected one label per sample ({len(z)}), got shape {tuple(labels.shape)}")
    spec, device = model.spec, model.device
    generator = torch.Generator(device).manual_seed(seed)
    unconditional = torch.zeros(len(z), dtype=torch.float64) if marginal else None
    conditional = None if labels is None else torch.zeros(len(z), dtype=torch.float64)
    was_training = model.training
    model.eval()
    try:
        for _ in range(draws):
            for start in range(0, len(z), batch_size):
                dequantized = spec.dequantize(z[start : start + batch_size].to(device), generator)
                rows = slice(start, start + len(dequantized))
                if unconditional is not None:
                    unconditional[rows] += model.log_prob(dequantized).double().cpu()
                if conditional is not None:
                    conditional[rows] += model.log_prob(dequantized, labels[rows].to(device)).double().cpu()
    finally:
        model.train(was_training)
    return (
        None if unconditional is None else unconditional / draws,
        None if conditional is None else conditional / draws,
    )


def to_bits_per_dim(spec: DataSpec, log_likelihood: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
    """Model-space log densities -> bits per dimension in the data's units (lower is better).

    With the model-space samples ``z`` they were scored on, each is divided by its own units
    (`Modality.units`: a string's symbols for text; the same dimensions for every other sample).
    """
    units = spec.dim if z is None else spec.kind.units(spec, z).to(log_likelihood)
    return -(log_likelihood + spec.log_det_to_data()) / (units * math.log(2))


def anomaly_scores(model: Generator, values: torch.Tensor, *, draws: int = 1, seed: int = 0, batch_size: int = 256) -> np.ndarray:
    """Per-sample anomaly scores, -log2 p(x) / D under the model's marginal: float64 (N,); higher is more anomalous.

    Args:
        model: a fitted generator with ``has_likelihood``.
        values: samples in the user's units, canonical layout: float64 (N, *spec.shape).
        draws, seed, batch_size: as `log_likelihoods` takes them.

    Samples with a value outside the model's value range (`outside_range`) score ``+inf``.
    """
    spec = model.spec
    z = spec.to_model(spec.user_layout(values))
    log_p, _ = log_likelihoods(model, z, draws=draws, seed=seed, batch_size=batch_size)
    scores = to_bits_per_dim(spec, log_p).numpy()
    scores[outside_range(values, spec).numpy()] = math.inf
    return scores


def fpr_threshold(scores: np.ndarray, fpr: float) -> float:
    """The threshold that flags at most ``fpr`` of inlier ``scores``: their ``1 - fpr`` quantile.

    The quantile is one of the scores (numpy's ``method="higher"``), so at most ``fpr`` of them lie above it.

    Example:
        >>> fpr_threshold(np.arange(10.0), 0.2)
        8.0
    """
    return float(np.quantile(scores, 1.0 - float(fpr), method="higher"))


def outside_range(values: torch.Tensor, spec: DataSpec) -> torch.Tensor:
    """Samples (user units, canonical layout) with a value `spec.to_model` would clip: bool (N,).

    Grid values round to the nearest level, so half a step beyond either end still lands on the grid.
    """
    if spec.scaling == "standard":
        return torch.zeros(len(values), dtype=torch.bool)
    lo, hi = spec.value_range
    slack = (hi - lo) / (spec.levels - 1) / 2 if spec.scaling == "grid" else 1e-6 * (hi - lo)
    return ((values < lo - slack) | (values > hi + slack)).flatten(1).any(1)
