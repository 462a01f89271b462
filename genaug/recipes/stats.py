"""Downstream statistics of a recipe run: arm means over seeds and paired differences against a baseline.

Every arm is trained on the same seeds (the same k-shot subset, the same classifier initialisation),
so an arm is compared with the baseline seed by seed: the paired difference removes the variation
that seeds share, and its Student-t interval is the honest uncertainty of "did this arm help".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

__all__ = ["paired_difference", "summarize", "verdict"]


def paired_difference(arm: Sequence[float], baseline: Sequence[float], confidence: float = 0.95) -> dict[str, Any]:
    """Seed-by-seed differences ``arm - baseline``: their mean, spread, Student-t interval and win count.

    Args:
        arm: one score per seed (e.g. accuracy).
        baseline: the baseline's score on the same seeds, in the same order.
        confidence: coverage of the interval, in (0, 1).

    Returns:
        A JSON-ready dict: ``mean``, ``std`` (ddof=1; 0.0 for one seed), ``ci`` ([lo, hi], the
        two-sided Student-t interval of the mean difference; None for one seed, where no interval
        exists), ``confidence``, ``n``, ``wins`` (seeds where the arm scored higher), ``losses``
        (lower) and ``ties``.

    Example:
        >>> d = paired_difference([0.82, 0.85, 0.84], [0.80, 0.81, 0.83])
        >>> round(d["mean"], 4), d["wins"], d["n"]
        (0.0233, 3, 3)
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: expected a coverage in (0, 1), got {confidence!r}")
    a, b = _scores(arm, "arm"), _scores(baseline, "baseline")
    if len(a) != len(b):
        raise ValueError(f"baseline: expected one score per seed of arm ({len(a)}), got {len(b)}")
    diff = a - b
    n = len(diff)
    mean = float(diff.mean())
    std = float(diff.std(ddof=1)) if n > 1 else 0.0
    ci = None
    if n > 1:
        half = float(scipy_stats.t.ppf(0.5 + confidence / 2, df=n - 1)) * std / math.sqrt(n)
        ci = [mean - half, mean + half]
    return {
        "mean": mean,
        "std": std,
        "ci": ci,
        "confidence": float(confidence),
        "n": n,
        "wins": int((diff > 0).sum()),
        "losses": int((diff < 0).sum()),
        "ties": int((diff == 0).sum()),
    }


def verdict(difference: dict[str, Any] | None) -> str | None:
    """ "helped" when the interval lies above zero, "hurt" below, else "no clear difference" (also for one seed).

    Example:
        >>> verdict({"ci": [0.01, 0.05]}), verdict({"ci": [-0.01, 0.05]}), verdict(None)
        ('helped', 'no clear difference', None)
    """
    if difference is None:
        return None
    ci = difference.get("ci")
    if ci is None:
        return "no clear difference"
    if ci[0] > 0:
        return "helped"
    if ci[1] < 0:
        return "hurt"
    return "no clear difference"


def summarize(
    results: list[dict[str, Any]], arms: Sequence[str], baseline: str | None = "none"
) -> list[dict[str, Any]]:
    """One JSON-ready row per (shots, arm): accuracy over seeds and the paired difference against ``baseline``.

    Args:
        results: one dict per (shots, seed, arm) with ``shots``, ``seed``, ``arm``, ``accuracy`` and
            optionally ``per_class`` (accuracy per class; None entries are classes without test samples).
        arms: the arms in the order to report; every result's arm must be one of them.
        baseline: the arm differences are taken against; None or an arm absent from ``arms``: no differences.

    Returns:
        Rows in shots first-seen order, then ``arms`` order (an arm with no result at some shots has
        no row there): ``shots``, ``arm``, ``n``, ``seeds``, ``accuracy_mean``, ``accuracy_std``
        (ddof=1; 0.0 for one seed), ``per_class_mean`` (None without per-class results),
        ``vs_baseline`` (`paired_difference` over the seeds both arms have; None for the baseline
        itself, without a baseline or without a common seed) and ``verdict`` (see `verdict`).

    Example:
        >>> rows = summarize(
        ...     [{"shots": 5, "seed": s, "arm": a, "accuracy": acc}
        ...      for s, (x, y) in enumerate([(0.80, 0.84), (0.81, 0.86), (0.79, 0.84)])
        ...      for a, acc in (("none", x), ("generative", y))],
        ...     arms=["none", "generative"])
        >>> [(r["arm"], round(r["accuracy_mean"], 3), r["verdict"]) for r in rows]
        [('none', 0.8, None), ('generative', 0.847, 'helped')]
    """
    arms = list(arms)
    if not arms or not all(isinstance(a, str) for a in arms) or len(set(arms)) != len(arms):
        raise ValueError(f"arms: expected distinct arm names, got {arms!r}")
    scores = _index(results, arms)
    shots_order = list(dict.fromkeys(shots for shots, _ in scores))
    rows = []
    for shots in shots_order:
        base = scores.get((shots, baseline)) if baseline in arms else None
        for arm in arms:
            by_seed = scores.get((shots, arm))
            if by_seed:
                rows.append(_row(shots, arm, by_seed, None if arm == baseline else base))
    return rows


def _row(shots: Any, arm: str, by_seed: dict[Any, dict], base: dict[Any, dict] | None) -> dict[str, Any]:
    """The summary row of one (shots, arm) from its results by seed, and the baseline's by seed."""
    accuracy = np.array([r["accuracy"] for r in by_seed.values()], dtype=np.float64)
    vs_baseline = None
    if base:
        common = [seed for seed in by_seed if seed in base]  # pair seed by seed, in the arm's order
        if common:
            vs_baseline = paired_difference(
                [by_seed[s]["accuracy"] for s in common], [base[s]["accuracy"] for s in common]
            )
    return {
        "shots": shots,
        "arm": arm,
        "n": len(accuracy),
        "seeds": list(by_seed),
        "accuracy_mean": float(accuracy.mean()),
        "accuracy_std": float(accuracy.std(ddof=1)) if len(accuracy) > 1 else 0.0,
        "per_class_mean": _per_class_mean([r.get("per_class") for r in by_seed.values()], shots, arm),
        "vs_baseline": vs_baseline,
        "verdict": verdict(vs_baseline),
    }


def _index(results: list[dict[str, Any]], arms: list[str]) -> dict[tuple[Any, str], dict[Any, dict]]:
    """Results keyed by (shots, arm), then seed, in first-seen order; checks every field used."""
    if not isinstance(results, list):
        raise TypeError(f"results: expected a list of dicts, got {type(results).__name__}")
    scores: dict[tuple[Any, str], dict[Any, dict]] = {}
    for i, r in enumerate(results):
        if not isinstance(r, dict) or not {"shots", "seed", "arm", "accuracy"} <= r.keys():
            raise ValueError(f"results[{i}]: expected a dict with shots, seed, arm and accuracy, got {r!r}")
        if r["arm"] not in arms:
            raise ValueError(f"results[{i}]: arm {r['arm']!r} is not one of arms {arms!r}")
        _scores([r["accuracy"]], f"results[{i}].accuracy")
        by_seed = scores.setdefault((r["shots"], r["arm"]), {})
        if r["seed"] in by_seed:
            raise ValueError(
                f"results[{i}]: a second result for shots={r['shots']!r}, seed={r['seed']!r}, arm={r['arm']!r}"
            )
        by_seed[r["seed"]] = r
    return scores


def _per_class_mean(per_class: list[Sequence[float | None] | None], shots: Any, arm: str) -> list[float | None] | None:
    """Mean accuracy per class over seeds, skipping missing values; None when no seed has per-class results."""
    present = [p for p in per_class if p is not None]
    if not present:
        return None
    width = len(present[0])
    if any(len(p) != width for p in present):
        raise ValueError(
            f"results: per_class lengths differ across seeds at shots={shots!r}, arm={arm!r}: "
            f"{[len(p) for p in present]}"
        )
    means = []
    for column in zip(*present):
        values = [float(v) for v in column if v is not None and math.isfinite(v)]
        means.append(float(np.mean(values)) if values else None)
    return means


def _scores(values: Sequence[float], name: str) -> np.ndarray:
    """``values`` as a float64 array, checked to be a non-empty sequence of finite numbers."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence | np.ndarray):
        raise TypeError(f"{name}: expected a sequence of numbers, got {type(values).__name__}")
    if any(isinstance(v, bool) or not isinstance(v, int | float | np.number) for v in values):
        raise ValueError(f"{name}: expected numbers, got {list(values)!r}")
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or len(array) == 0:
        raise ValueError(f"{name}: expected at least one score, got {list(values)!r}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: expected finite scores, got {array.tolist()!r}")
    return array
