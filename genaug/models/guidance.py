"""Bayes class guidance for autoregressive families: the model's own class posterior, no second network.

An autoregressive model with a class condition gives ``log p(prefix | class)`` for every class as it
generates, so the class posterior ``p(class | prefix)`` of each prefix is exact (the class prior times
those likelihoods, normalized). Guidance with weight ``w`` draws each next element ``v`` from

    p(v | prefix, class) * (p(class | prefix + v) / p(class | prefix)) ** w
        = p(v | prefix, class) ** (1 + w) / p(v | prefix) ** w

(as classifier-free guidance, Ho and Salimans 2022, with the unconditional model exact here): above 0
samples are more typical of their class, so a classifier labels them as asked more often, and less
varied. Every row runs once per class, so sampling costs ``num_classes`` times as much.

`guided_log_weights` gives the unnormalized log weights of the candidates of one step; `ClassGuide`
keeps ``log p(prefix | class)`` across steps and draws one element of a continuous or discrete
conditional (`genaug.models.distributions`): exactly for a categorical, by sampling-importance-
resampling of ``candidates`` draws from the asked class's conditional for a mixture of Gaussians.
`sample_guided` runs a family's autoregressive net (``sample(cond, ..., draw)``) with it.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from genaug.models.distributions import Categorical, gumbel_argmax

__all__ = ["ClassGuide", "check_guidance", "check_temperature", "every_class", "guided_log_weights", "sample_guided"]


def check_guidance(guidance: Any) -> float:
    """``guidance`` as a float, or a ValueError naming it (a finite number >= 0)."""
    if isinstance(guidance, bool) or not isinstance(guidance, (int, float)) or not guidance >= 0 or math.isinf(guidance):
        raise ValueError(f"guidance: expected a finite number >= 0, got {guidance!r}")
    return float(guidance)


def guided_log_weights(per_class: torch.Tensor, log_posterior: torch.Tensor, asked: torch.Tensor, guidance: float) -> torch.Tensor:
    """Log weights (N, V) of V candidates: ``log p(v | class) + guidance * log(p(v | class) / p(v))``.

    Args:
        per_class: (N, K, V) log p(candidate | prefix, class) for each of the K classes.
        log_posterior: (N, K) log p(class | prefix).
        asked: (N,) the class each row is drawn for.
        guidance: the weight w (0: the plain conditional).

    A candidate the asked class rules out (-inf) stays ruled out (no lift is added to it).

    Example:
        >>> per_class = torch.log(torch.tensor([[[0.9, 0.1], [0.1, 0.9]]]))  # class 0 prefers v = 0
        >>> w = guided_log_weights(per_class, torch.log(torch.tensor([[0.5, 0.5]])), torch.tensor([0]), 1.0)
        >>> bool(w.softmax(-1)[0, 0] > 0.9)  # sharper than 0.9
        True
    """
    marginal = torch.logsumexp(per_class + log_posterior[..., None], dim=1)  # log p(v | prefix)
    mine = per_class[torch.arange(len(asked), device=per_class.device), asked]
    lift = torch.where(torch.isfinite(mine), mine - marginal, 0.0)
    return mine + guidance * lift


def every_class(cond: dict[str, torch.Tensor], classes: int) -> dict[str, torch.Tensor]:
    """``cond`` with each row repeated once per class: row i becomes rows ``i * K + k`` with label k."""
    every = {k: v.repeat_interleave(classes, 0) for k, v in cond.items()}
    every["label"] = torch.arange(classes, device=cond["label"].device).repeat(len(cond["label"]))
    return every


class ClassGuide:
    """Draws one element at a time for N rows, each run once per class (rows ``i * K + k``), with guidance.

    Args:
        dist: the output distribution (`Categorical` or `GaussianMixture`): ``log_prob``, ``sample``.
        asked: (N,) the class each sample is drawn for.
        log_prior: (K,) log class prior.
        guidance: the weight w.
        candidates: draws per element for a continuous conditional (sampling-importance-resampling).
        generator: the random numbers.
    """

    def __init__(self, dist: Any, asked: torch.Tensor, log_prior: torch.Tensor, guidance: float, *, candidates: int = 32, generator: torch.Generator | None = None) -> None:
        self.dist, self.asked, self.guidance = dist, asked, guidance
        self.classes, self.candidates, self.generator = len(log_prior), candidates, generator
        self.log_prior = log_prior
        self.seen = torch.zeros(len(asked), self.classes, device=asked.device)  # log p(prefix | class)

    def draw(self, params: torch.Tensor) -> torch.Tensor:
        """Parameters (N * K, P) of one element's conditional under every class -> the value (N * K,),
        the same for the K copies of a row."""
        n, k = len(self.asked), self.classes
        params = params.float().reshape(n, k, -1)
        log_posterior = (self.seen + self.log_prior).log_softmax(1)
        rows = torch.arange(n, device=params.device)
        if isinstance(self.dist, Categorical):  # every bin is a candidate: the draw is exact
            per_class = params.log_softmax(-1)  # (N, K, L); the bins' common width cancels
            value = self.dist.sample(guided_log_weights(per_class, log_posterior, self.asked, self.guidance), self.generator)
        else:  # continuous: candidates from the asked class's conditional, resampled by their lift
            mine = params[rows, self.asked]  # (N, P)
            cand = self.dist.sample(mine[:, None].expand(n, self.candidates, -1), self.generator)  # (N, M)
            per_class = self.dist.log_prob(params[:, :, None].expand(n, k, self.candidates, -1), cand[:, None].expand(n, k, -1))
            weights = guided_log_weights(per_class, log_posterior, self.asked, self.guidance) - per_class[rows, self.asked]
            value = cand[rows, gumbel_argmax(weights, self.generator)]
        self.seen = self.seen + self.dist.log_prob(params, value[:, None].expand(n, k).to(params.dtype))
        return value.repeat_interleave(k)


def check_temperature(temperature: Any) -> float:
    """``temperature`` as a float, or a ValueError naming it (a finite number > 0)."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0 or math.isinf(temperature):
        raise ValueError(f"temperature: expected a finite number > 0, got {temperature!r}")
    return float(temperature)


def sample_guided(
    model: Any,
    cond: dict[str, torch.Tensor],
    run: Any,
    generator: torch.Generator | None,
    *,
    guidance: Any = None,
    temperature: Any = None,
) -> torch.Tensor:
    """Samples of an autoregressive family with class guidance (0, or one class: the plain conditional).

    Args:
        model: the `Generator` (``spec``, ``dist``, ``class_prior``, ``condition_vector``, ``device``; its
            config's ``guidance``, ``temperature`` and ``guidance_candidates``, the draws per element of a
            continuous conditional).
        cond: the model-space conditions, one row per sample.
        run: ``run(condition_vectors, draw) -> samples``: the net's sampling loop, calling
            ``draw(params (rows, P)) -> values (rows,)`` once per element in generation order.
        generator: the random numbers.
        guidance: the weight w (checked here); None: the config's.
        temperature: every element's conditional (under every class) tempered first (``dist.tempered``):
            below 1 sharper and smoother samples, less varied; 1 the model itself; None: the config's.
    """
    cfg = model.config
    guidance = cfg.guidance if guidance is None else guidance
    temperature = cfg.temperature if temperature is None else temperature
    guidance, temperature = check_guidance(guidance), check_temperature(temperature)
    cond = {k: v.to(model.device) for k, v in cond.items()}
    classes = model.spec.num_classes
    temper = (lambda params: params) if temperature == 1.0 else (lambda params: model.dist.tempered(params, temperature))
    if guidance == 0 or classes < 2:
        return run(model.condition_vector(cond), lambda params: model.dist.sample(temper(params), generator))
    guide = ClassGuide(model.dist, cond["label"], model.class_prior.log().to(model.device), guidance, candidates=cfg.guidance_candidates, generator=generator)
    return run(model.condition_vector(every_class(cond, classes)), lambda params: guide.draw(temper(params)))[::classes]
