"""`genaug.mix`: wrap any DataLoader so a share of every batch is synthetic.

The wrapper keeps the loader's batch structure (a tuple/list ``(x, y, ...)`` or a dict), batch size
and length; it replaces a share ``ratio`` of each batch's samples with samples from a `SamplePool`,
with the labels they were drawn for. ``balance`` decides those labels: ``None`` keeps the label of
each replaced sample (a same-class swap); ``"uniform"`` or ``{class: weight}`` picks the synthetic
labels so that the mixed stream approaches that class distribution (rare classes get more
synthetic samples), using the class frequencies seen in the real batches so far.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from genaug.inject.core import Balancer
from genaug.inject.pool import SamplePool

__all__ = ["MixedLoader", "mix"]

_IMAGE_KEYS = ("image", "pixel_values", "img", "x", "input", "inputs")
_LABEL_KEYS = ("label", "labels", "y", "target", "targets")


def mix(
    loader: Iterable,
    pool: SamplePool,
    ratio: float = 0.5,
    *,
    balance: None | str | Mapping[int | str, float] = None,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    keys: tuple[str, str] | None = None,
    seed: int = 0,
) -> MixedLoader:
    """Wrap ``loader`` so that about ``ratio`` of every batch is synthetic.

    Args:
        loader: any iterable of batches, e.g. a `torch.utils.data.DataLoader` (also one prepared
            by Accelerate). Batches are ``(x, y, ...)`` tuples/lists or dicts.
        pool: the `SamplePool` synthetic samples come from.
        ratio: expected share of synthetic samples per batch, in [0, 1].
        balance: ``None`` (keep labels), ``"uniform"``, or target weights per class (index or name).
        transform: maps one synthetic sample (user space, as the model's data) to the form of one
            item of ``x`` (e.g. the loader's normalisation). Default: used as is, cast to x's dtype.
        keys: for dict batches, the (input, label) keys; default: guessed from common names.
        seed: seeds which positions are replaced and the labels drawn for balancing.

    Example:
        >>> import genaug, torch
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> data = genaug.load_source("digits")
        >>> pool = genaug.SamplePool(genaug.fit(data, "gmm", steps=5), batch_size=256)
        >>> loader = DataLoader(TensorDataset(data.user_x(), data.y), batch_size=32)
        >>> x, y = next(iter(genaug.mix(loader, pool, ratio=0.5)))
        >>> x.shape, y.shape
        (torch.Size([32, 8, 8]), torch.Size([32]))
    """
    return MixedLoader(loader, pool, ratio, balance=balance, transform=transform, keys=keys, seed=seed)


class MixedLoader:
    """Iterates ``loader`` and replaces a share of every batch by synthetic samples (see `mix`)."""

    def __init__(
        self,
        loader: Iterable,
        pool: SamplePool,
        ratio: float,
        *,
        balance: None | str | Mapping[int | str, float] = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        keys: tuple[str, str] | None = None,
        seed: int = 0,
    ) -> None:
        if not isinstance(pool, SamplePool):
            raise TypeError(f"pool: expected a genaug SamplePool, got {type(pool).__name__}")
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 <= ratio <= 1.0:
            raise ValueError(f"ratio: expected a share of synthetic samples in [0, 1], got {ratio!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform: expected a callable, got {type(transform).__name__}")
        spec = getattr(getattr(loader, "dataset", None), "spec", None)
        if spec is not None:
            pool.check_fits(spec, "loader")
        self.loader, self.pool, self.ratio = loader, pool, float(ratio)
        self.transform, self.keys = transform, keys
        self.balancer = None if balance is None else Balancer(balance, pool.spec, ratio)
        self.rng = np.random.default_rng(seed)  # numpy: a few microseconds less per batch than torch

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        for batch in self.loader:
            yield self._mix(batch)

    # ------------------------------------------------------------------ one batch
    def _mix(self, batch: Any) -> Any:
        x, y, put = _unpack(batch, self.keys)
        n = len(y)
        count = min(n, int(self.ratio * n + self.rng.random()))  # stochastic rounding: E[count] = ratio * n
        if count == 0:
            return batch
        labels = y.detach().cpu().numpy()
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= self.pool.spec.num_classes:
            raise ValueError(
                f"labels: batch labels span {low}..{high}, but the generator knows classes 0..{self.pool.spec.num_classes - 1}"
            )
        where = self.rng.permutation(n)[:count]
        if self.balancer is None:
            new_labels = labels[where]
        else:
            self.balancer.observe(torch.from_numpy(labels))
            new_labels = self.balancer.pick(torch.from_numpy(self.rng.random(count))).numpy()
        samples, _ = self.pool.take(torch.from_numpy(new_labels), provenance=False)
        if self.transform is not None:
            samples = torch.stack([self.transform(s) for s in samples])
        if tuple(samples.shape[1:]) != tuple(x.shape[1:]):
            raise ValueError(
                f"transform: synthetic samples have shape {tuple(samples.shape[1:])} but the batch's inputs have "
                f"{tuple(x.shape[1:])}; pass transform= to map a sample to the loader's form"
            )
        if x.device.type == y.device.type == "cpu" and type(x) is torch.Tensor and not x.requires_grad and x.dtype != torch.bfloat16:
            # numpy: a fifth of the per-batch overhead of torch's small indexing ops (see bench_inject.py)
            x_out, y_out = x.numpy().copy(), labels.copy()
            x_out[where], y_out[where] = samples.numpy(), new_labels
            return put(torch.from_numpy(x_out), torch.from_numpy(y_out).to(y.dtype))
        index = torch.from_numpy(where).to(x.device)
        x = x.index_put((index,), samples.to(device=x.device, dtype=x.dtype))  # out of place: the loader's batch is left as it was
        y = y.index_put((index.to(y.device),), torch.from_numpy(new_labels).to(device=y.device, dtype=y.dtype))
        return put(x, y)


def _unpack(batch: Any, keys: tuple[str, str] | None) -> tuple[torch.Tensor, torch.Tensor, Callable[[torch.Tensor, torch.Tensor], Any]]:
    """(inputs, labels, put) where ``put(x, y)`` rebuilds a batch of the same structure."""
    if isinstance(batch, Mapping):
        x_key = keys[0] if keys else next((k for k in _IMAGE_KEYS if k in batch), None)
        y_key = keys[1] if keys else next((k for k in _LABEL_KEYS if k in batch), None)
        if x_key not in batch or y_key not in batch:
            raise ValueError(f"keys: dict batches need input and label keys; got keys {sorted(batch)}, pass keys=(input, label)")
        return batch[x_key], batch[y_key], lambda x, y: type(batch)({**batch, x_key: x, y_key: y})
    if isinstance(batch, Sequence) and not isinstance(batch, (str, bytes)) and len(batch) >= 2:
        rest = list(batch[2:])
        if isinstance(batch, tuple):
            return batch[0], batch[1], lambda x, y: type(batch)((x, y, *rest)) if type(batch) is tuple else type(batch)(x, y, *rest)
        return batch[0], batch[1], lambda x, y: [x, y, *rest]
    raise ValueError(f"loader: expected batches of (inputs, labels, ...) or dicts, got {type(batch).__name__}")
