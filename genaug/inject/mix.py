"""`genaug.mix`: wrap any DataLoader so a share of every batch is synthetic.

The wrapper keeps the loader's batch structure (a tuple/list ``(x, y, ...)`` or a dict), batch size
and length; it replaces a share ``ratio`` of each batch's samples with samples from a `SamplePool`,
with the labels they were drawn for. ``balance`` decides those labels: ``None`` keeps the label of
each replaced sample (a same-class swap); ``"uniform"`` or ``{class: weight}`` picks the synthetic
labels so that the mixed stream approaches that class distribution (rare classes get more
synthetic samples), using the class frequencies seen in the real batches so far. ``ratio`` may also
be a schedule: a function of the batch number (0, 1, ...) returning the share for that batch, e.g.
`linear_decay` (synthetic-heavy early, real data alone at the end of training).

Where the mixing runs: for a `torch.utils.data.DataLoader` with worker processes (and a pool on the
CPU) it runs inside the workers, as part of the loader's ``collate_fn``: each worker has its own
pool and stream, generation runs in parallel with the training step, and the main process pays
nothing per batch. Otherwise it runs in the main process as batches come out of the loader (a
fixed cost of some tens of microseconds per batch; see BENCHMARKS.md).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, get_worker_info

from genaug.inject.core import Balancer
from genaug.inject.pool import SamplePool

__all__ = ["MixedLoader", "linear_decay", "mix"]

_IMAGE_KEYS = ("image", "pixel_values", "img", "x", "input", "inputs")
_LABEL_KEYS = ("label", "labels", "y", "target", "targets")


def mix(
    loader: Iterable,
    pool: SamplePool,
    ratio: float | Callable[[int], float] = 0.5,
    *,
    balance: None | str | Mapping[int | str, float] = None,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    keys: tuple[str, str] | None = None,
    seed: int = 0,
    in_workers: bool | None = None,
) -> MixedLoader:
    """Wrap ``loader`` so that about ``ratio`` of every batch is synthetic.

    Args:
        loader: any iterable of batches, e.g. a `torch.utils.data.DataLoader` (also one prepared
            by Accelerate). Batches are ``(x, y, ...)`` tuples/lists or dicts.
        pool: the `SamplePool` synthetic samples come from.
        ratio: expected share of synthetic samples per batch, in [0, 1]; or a schedule
            ``ratio(batch_number) -> share`` (batches counted from 0 over all epochs of this
            MixedLoader; mixing then runs in the main process, where the count is global).
        balance: ``None`` (keep labels), ``"uniform"``, or target weights per class (index or name).
        transform: maps one synthetic sample (user space, as the model's data) to the form of one
            item of ``x`` (e.g. the loader's normalisation). Default: used as is, cast to x's dtype.
        keys: for dict batches, the (input, label) keys; default: guessed from common names.
        seed: seeds which positions are replaced and the labels drawn for balancing; in worker
            processes, combined with the seed torch gives each worker.
        in_workers: mix inside the loader's worker processes (see the module docstring). Default:
            when ``loader`` is a DataLoader with ``num_workers > 0`` and the pool runs on the CPU.
            The loader itself is left as it was: a copy of it with a mixing ``collate_fn`` is
            iterated (`MixedLoader.dataloader`; with Accelerate, prepare that copy). A loader
            already prepared by Accelerate mixes in the main process. Workers each draw their own refills, so the pool's ``transform`` and
            ``filter`` must pickle under ``spawn``.

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
    return MixedLoader(loader, pool, ratio, balance=balance, transform=transform, keys=keys, seed=seed, in_workers=in_workers)


class MixedLoader:
    """Iterates ``loader`` and replaces a share of every batch by synthetic samples (see `mix`)."""

    def __init__(
        self,
        loader: Iterable,
        pool: SamplePool,
        ratio: float | Callable[[int], float],
        *,
        balance: None | str | Mapping[int | str, float] = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        keys: tuple[str, str] | None = None,
        seed: int = 0,
        in_workers: bool | None = None,
    ) -> None:
        if not isinstance(pool, SamplePool):
            raise TypeError(f"pool: expected a genaug SamplePool, got {type(pool).__name__}")
        schedule = ratio if callable(ratio) else None
        if schedule is not None:
            if in_workers:
                raise ValueError("in_workers: a ratio schedule counts batches in the main process; pass in_workers=False or a fixed ratio")
            in_workers, ratio = False, _share(schedule, 0)
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 <= ratio <= 1.0:
            raise ValueError(f"ratio: expected a share of synthetic samples in [0, 1] or a schedule ratio(batch) -> share, got {ratio!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform: expected a callable, got {type(transform).__name__}")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"seed: expected an integer, got {type(seed).__name__}")
        spec = getattr(getattr(loader, "dataset", None), "spec", None)
        if spec is not None:
            pool.check_fits(spec, "loader")
        self.loader, self.pool, self.ratio = loader, pool, float(ratio)
        balancer = None if balance is None else Balancer(balance, pool.spec, ratio)
        self.mixer = _Mixer(pool, self.ratio, balancer, transform, keys, seed)
        self.schedule, self.batches = schedule, 0  # batches mixed so far (the schedule's argument)
        # a DataLoader itself: Accelerate's prepared loaders wrap one (mix before prepare, see `dataloader`)
        workers = issubclass(type(loader), DataLoader) and loader.num_workers > 0
        on_cpu = pool.handle.device.type == "cpu"
        if in_workers is None:
            in_workers = workers and on_cpu
        elif in_workers and not (workers and on_cpu):
            raise ValueError(
                "in_workers: mixing in worker processes needs a torch DataLoader with num_workers > 0 and a pool on the CPU; "
                f"got a {type(loader).__name__} with num_workers={getattr(loader, 'num_workers', None)} and a pool on {pool.handle.device}"
            )
        self.in_workers = bool(in_workers)
        self._source = _with_mixing_collate(loader, self.mixer) if self.in_workers else loader

    def __len__(self) -> int:
        return len(self.loader)

    @property
    def dataloader(self) -> DataLoader:
        """The copy of the loader that mixes in its workers, e.g. for ``accelerator.prepare`` (in_workers only).

        Example: ``loader = accelerator.prepare(genaug.mix(loader, pool).dataloader)`` mixes in the
        workers of every process's shard.
        """
        if not self.in_workers:
            raise ValueError("dataloader: this MixedLoader mixes in the main process (in_workers=False); iterate it instead")
        return self._source

    def __iter__(self) -> Iterator[Any]:
        if self.in_workers:
            yield from self._source
            return
        for batch in self._source:
            if self.schedule is not None:
                self.mixer.set_ratio(_share(self.schedule, self.batches))
            self.batches += 1
            yield self.mixer(batch)


def linear_decay(start: float, steps: int, end: float = 0.0) -> Callable[[int], float]:
    """A `mix` schedule: the share falls linearly from ``start`` at batch 0 to ``end`` at batch ``steps`` (and stays there).

    Example:
        >>> decay = linear_decay(0.5, steps=100)
        >>> decay(0), decay(50), decay(100), decay(500)
        (0.5, 0.25, 0.0, 0.0)
    """
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ValueError(f"{name}: expected a share of synthetic samples in [0, 1], got {value!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected a positive number of batches, got {steps!r}")
    return _LinearDecay(float(start), float(end), steps)


class _LinearDecay:
    def __init__(self, start: float, end: float, steps: int) -> None:
        self.start, self.end, self.steps = start, end, steps

    def __call__(self, batch: int) -> float:
        done = min(batch, self.steps) / self.steps
        return self.start + (self.end - self.start) * done

    def __repr__(self) -> str:
        return f"linear_decay({self.start}, steps={self.steps}, end={self.end})"


def _share(schedule: Callable[[int], float], batch: int) -> float:
    share = schedule(batch)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 <= share <= 1.0:
        raise ValueError(f"ratio: the schedule gave {share!r} for batch {batch}; expected a share of synthetic samples in [0, 1]")
    return float(share)


def _with_mixing_collate(loader: DataLoader, mixer: _Mixer) -> DataLoader:
    """A shallow copy of ``loader`` whose ``collate_fn`` mixes; the copy starts its own workers."""
    clone = copy.copy(loader)
    clone._iterator = None  # a persistent-workers loader shares no running workers with its copy
    clone.collate_fn = _MixingCollate(loader.collate_fn, mixer)
    return clone


class _MixingCollate:
    """The loader's ``collate_fn``, then `_Mixer`: mixing runs where the batch is made."""

    def __init__(self, collate: Callable[[list[Any]], Any], mixer: _Mixer) -> None:
        self.collate, self.mixer = collate, mixer

    def __call__(self, items: list[Any]) -> Any:
        return self.mixer(self.collate(items))


class _Mixer:
    """Replaces a share of one batch by synthetic samples, in the process that makes the batch.

    Each process has its own positions/labels RNG: the main process draws from ``seed``, a
    DataLoader worker from ``(seed, worker seed)`` (distinct per worker, fixed by the loader's
    generator), so the same seeds give the same batches.
    """

    def __init__(
        self,
        pool: SamplePool,
        ratio: float,
        balancer: Balancer | None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None,
        keys: tuple[str, str] | None,
        seed: int,
    ) -> None:
        self.pool, self.ratio, self.balancer, self.transform, self.keys, self.seed = pool, ratio, balancer, transform, keys, seed
        self.num_classes = pool.spec.num_classes
        self._owner: tuple[int, int | None] | None = None
        self._rng: np.random.Generator | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_owner": None, "_rng": None}

    def set_ratio(self, ratio: float) -> None:
        self.ratio = ratio
        if self.balancer is not None:
            self.balancer.ratio = ratio

    def rng(self) -> np.random.Generator:
        info = get_worker_info()
        owner = (os.getpid(), None if info is None else info.seed)
        if owner != self._owner:  # first batch in this process (a forked worker inherits the parent's state)
            self._owner = owner
            self._rng = np.random.default_rng(self.seed if info is None else (self.seed, info.seed))
        return self._rng

    def __call__(self, batch: Any) -> Any:
        x, y, put = _unpack(batch, self.keys)
        rng = self.rng()
        n = len(y)
        count = min(n, int(self.ratio * n + rng.random()))  # stochastic rounding: E[count] = ratio * n
        if count == 0:
            return batch
        labels = y.numpy() if y.device.type == "cpu" and not y.requires_grad else y.detach().cpu().numpy()
        low, high = labels.min(), labels.max()
        if low < 0 or high >= self.num_classes or labels.dtype.kind not in "iu":
            raise ValueError(
                f"labels: batch labels span {low}..{high} ({labels.dtype}), but the generator knows classes 0..{self.num_classes - 1}"
            )
        where = rng.permutation(n)[:count]
        if self.balancer is None:
            new_labels = labels[where].astype(np.int64, copy=False)
        else:
            self.balancer.observe(torch.from_numpy(labels))
            new_labels = self.balancer.pick(torch.from_numpy(rng.random(count))).numpy()
        samples = self.pool.serve(new_labels)
        if self.transform is not None:
            samples = torch.stack([self.transform(s) for s in torch.from_numpy(samples)])
        if tuple(samples.shape[1:]) != tuple(x.shape[1:]):
            raise ValueError(
                f"transform: synthetic samples have shape {tuple(samples.shape[1:])} but the batch's inputs have "
                f"{tuple(x.shape[1:])}; pass transform= to map a sample to the loader's form"
            )
        if x.device.type == y.device.type == "cpu" and type(x) is torch.Tensor and not x.requires_grad and x.dtype != torch.bfloat16:
            # numpy: a fifth of the per-batch overhead of torch's small indexing ops (see bench_inject.py)
            x_out, y_out = x.numpy().copy(), labels.copy()
            x_out[where], y_out[where] = samples.numpy() if isinstance(samples, torch.Tensor) else samples, new_labels
            return put(torch.from_numpy(x_out), torch.from_numpy(y_out))
        samples = torch.as_tensor(samples)
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
