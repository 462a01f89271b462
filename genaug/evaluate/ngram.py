"""Smoothed character n-gram language models: the baseline a text generator's likelihood must beat.

`NgramLM` counts characters after each context of ``order - 1`` characters (strings padded with start
marks, ended by an end mark) and smooths the counts with either

- interpolated Kneser-Ney (Kneser and Ney 1995; Chen and Goodman 1998): absolute discounting with one
  discount per order (``n1 / (n1 + 2 n2)``), lower orders on continuation counts, the lowest mixed with
  a uniform distribution over the vocabulary and the end mark so no symbol has probability zero; or
- add-k (Lidstone): ``(count + k) / (context count + k V)``.

`best_ngram` chooses the order and the smoothing on validation strings, as a user would. Scores are
bits per character with the end mark counted, the unit of `genaug.bits_per_dim` on text.

Example:
    >>> lm = NgramLM(["anna", "anne", "hanna"], order=3)
    >>> round(lm.bits_per_char(["anna"]), 2) < round(lm.bits_per_char(["xqz"]), 2)
    True
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["NgramChoice", "NgramLM", "best_ngram"]

_START, _END = "\x02", "\x03"


class NgramLM:
    """A character n-gram model of strings (see the module docstring).

    Args:
        texts: the training strings.
        order: n, the characters a prediction looks at plus one (1: unigram).
        smoothing: ``"kneser-ney"`` or ``"add-k"``.
        k: add-k's pseudo-count.
        vocabulary: symbols with probability > 0 (default: the training characters); the end mark is added.
    """

    def __init__(self, texts: Sequence[str], order: int, *, smoothing: str = "kneser-ney", k: float = 0.1, vocabulary: Sequence[str] | None = None) -> None:
        if order < 1:
            raise ValueError(f"order: expected an integer >= 1, got {order!r}")
        if smoothing not in ("kneser-ney", "add-k"):
            raise ValueError(f"smoothing: expected 'kneser-ney' or 'add-k', got {smoothing!r}")
        if not texts:
            raise ValueError("texts: no training strings")
        self.order, self.smoothing, self.k = order, smoothing, k
        self.symbols = sorted(set(vocabulary) if vocabulary is not None else {c for t in texts for c in t}) + [_END]
        self.counts: list[Counter] = [Counter() for _ in range(order)]  # counts[m][(context of m chars, symbol)]
        for text in texts:
            padded = _START * (order - 1) + text + _END
            for i in range(order - 1, len(padded)):
                for m in range(order):
                    self.counts[m][(padded[i - m : i], padded[i])] += 1
        self._prepare()

    def _prepare(self) -> None:
        self.context_total: list[Counter] = [Counter() for _ in range(self.order)]
        self.context_types: list[Counter] = [Counter() for _ in range(self.order)]
        for m, counts in enumerate(self.counts):
            for (context, _), c in counts.items():
                self.context_total[m][context] += c
                self.context_types[m][context] += 1
        # Kneser-Ney: lower orders count the distinct contexts a (context, symbol) pair follows
        self.continuation: list[Counter] = [Counter() for _ in range(self.order)]
        for m in range(1, self.order):
            for (context, symbol) in self.counts[m]:
                self.continuation[m - 1][(context[1:], symbol)] += 1
        self.cont_total: list[Counter] = [Counter() for _ in range(self.order)]
        self.cont_types: list[Counter] = [Counter() for _ in range(self.order)]
        for m in range(self.order - 1):
            for (context, _), c in self.continuation[m].items():
                self.cont_total[m][context] += c
                self.cont_types[m][context] += 1
        self.discount = []
        for m in range(self.order):
            table = self.counts[m] if m == self.order - 1 else self.continuation[m]
            freq = Counter(table.values())
            n1, n2 = freq.get(1, 0), freq.get(2, 0)
            self.discount.append(n1 / (n1 + 2 * n2) if n1 + n2 else 0.5)
        self._cache: dict[tuple[str, str], float] = {}

    def prob(self, context: str, symbol: str) -> float:
        """P(symbol | the last ``order - 1`` characters of ``context``, start marks before the string)."""
        padded = _START * (self.order - 1) + context
        return self._prob(padded[len(padded) - (self.order - 1) :], symbol)

    def _prob(self, context: str, symbol: str) -> float:
        key = (context, symbol)
        if key not in self._cache:
            self._cache[key] = self._kn(context, symbol, len(context)) if self.smoothing == "kneser-ney" else self._addk(context, symbol)
        return self._cache[key]

    def _addk(self, context: str, symbol: str) -> float:
        m = len(context)
        return (self.counts[m][(context, symbol)] + self.k) / (self.context_total[m][context] + self.k * len(self.symbols))

    def _kn(self, context: str, symbol: str, m: int) -> float:
        uniform = 1.0 / len(self.symbols)
        if m < 0:
            return uniform
        highest = m == self.order - 1
        counts, total, types = (self.counts[m], self.context_total[m], self.context_types[m]) if highest else (self.continuation[m], self.cont_total[m], self.cont_types[m])
        lower = self._kn(context[1:], symbol, m - 1)
        n = total[context]
        if n == 0:
            return lower
        d = self.discount[m]
        return max(counts[(context, symbol)] - d, 0.0) / n + d * types[context] / n * lower

    def log2_prob(self, text: str) -> float:
        """log2 P(text, then the end mark)."""
        padded = _START * (self.order - 1) + text + _END
        return sum(math.log2(self._prob(padded[i - self.order + 1 : i], padded[i])) for i in range(self.order - 1, len(padded)))

    def bits_per_char(self, texts: Sequence[str]) -> float:
        """Total bits over total symbols (each string's characters and its end mark)."""
        bits = -sum(self.log2_prob(t) for t in texts)
        return bits / sum(len(t) + 1 for t in texts)


@dataclass(frozen=True)
class NgramChoice:
    """One candidate of `best_ngram` and its validation score (``k`` only for add-k)."""

    order: int
    smoothing: str
    k: float | None
    validation_bits_per_char: float


def best_ngram(
    train: Sequence[str],
    validation: Sequence[str],
    *,
    orders: Sequence[int] = (2, 3, 4, 5),
    ks: Sequence[float] = (0.01, 0.03, 0.1, 0.3, 1.0),
    vocabulary: Sequence[str] | None = None,
) -> tuple[NgramChoice, list[NgramChoice]]:
    """The order and smoothing (Kneser-Ney, or add-k with each of ``ks``) with the lowest bits per character
    on ``validation`` when fitted on ``train``; returns the best and every candidate."""
    vocab = sorted(set(vocabulary) if vocabulary is not None else {c for t in [*train, *validation] for c in t})
    tried = []
    for order in orders:
        tried.append(NgramChoice(order, "kneser-ney", None, NgramLM(train, order, vocabulary=vocab).bits_per_char(validation)))
        for k in ks:
            tried.append(NgramChoice(order, "add-k", k, NgramLM(train, order, smoothing="add-k", k=k, vocabulary=vocab).bits_per_char(validation)))
    return min(tried, key=lambda c: c.validation_bits_per_char), tried
