"""`genaug.mix`: wrap any DataLoader so a share of every batch is synthetic.

The wrapper keeps the loader's batch structure (a tuple/list ``(x, y, ...)`` or a dict) and batch
size, and a share ``ratio`` of each batch comes from a `SamplePool`, with the labels the samples were
drawn for. Two modes:

- ``"replace"`` (default): batches and epochs keep their length; a share ``ratio`` of each batch's
  samples is replaced (those real samples sit out that epoch). ``ratio`` may also be a schedule: a
  function of the batch number (0, 1, ...) returning the share for that batch, e.g. `linear_decay`
  (synthetic-heavy early, real data alone at the end of training).
- ``"extend"``: every real sample is kept. The loader's batches are re-cut (a copy with a smaller
  batch sampler) to ``round((1 - ratio) * batch_size)`` real samples, and synthetic samples fill
  each batch back to ``batch_size``, after the real ones. An epoch holds every real sample once in
  about ``1 / (1 - ratio)`` times as many batches, and the loader loads only the real share of each
  batch, so at a cheap generator the mixed stream is faster than the plain one.

``balance`` decides the synthetic labels: ``None`` follows the real labels (replace: the label of
each replaced sample, a same-class swap; extend: the labels of the batch's real samples, each taken
once while there are enough);
``"uniform"`` or ``{class: weight}`` picks them so that the mixed stream approaches that class
distribution (rare classes get more synthetic samples), using the class frequencies seen in the
real batches so far.

Text models: the inputs of a batch are either a list of strings (what the default ``collate_fn``
makes of ``(str, label)`` items), and synthetic strings join them (the inputs come out as a list of
``str``), or a ``(B, L)`` tensor of token ids ("tokenized batches", integer or float, in a tuple or
under an ``input_ids`` key). Then ``transform`` maps one synthetic string to one ``(L,)`` item (your
tokenizer, padded to the batch's width); without it the strings are encoded as the model encodes them
(``model.spec.to_model``: ids 1..V-1, then 0 as end mark and padding), cast to the batch's dtype,
which assumes that the batch was encoded with the model's vocabulary (e.g. ``model.spec.to_model(strings)``;
otherwise pass ``transform=``). A synthetic string longer than ``L`` widens the whole batch, padded with
0 (dynamic padding), rather than being cut; a dict batch's ``attention_mask`` of the same shape is
padded alike and set to ``ids != 0`` on the synthetic rows (with ``transform=`` such a mask cannot be
computed and is refused). Other per-sample fields are left as they were, as for images.

Where the mixing runs: for a `torch.utils.data.DataLoader` with worker processes (and a pool on the
CPU) it runs inside the workers, as part of the loader's ``collate_fn``: each worker has its own
pool and stream, generation runs in parallel with the training step, and the main process pays
nothing per batch. Otherwise it runs in the main process (a fixed cost of some tens of microseconds
per batch; see BENCHMARKS.md): as batches come out of the loader, or, in extend mode with a pool on
the CPU, in the re-cut copy's ``collate_fn``.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, get_worker_info

from genaug.inject.core import Balancer, Form, check_value_range, to_form_values
from genaug.inject.pool import SamplePool

__all__ = ["MixedLoader", "linear_decay", "mix"]

_MODES = ("replace", "extend")

_INPUT_KEYS = ("image", "pixel_values", "img", "x", "input", "inputs", "input_ids", "text")
_MASK_KEY = "attention_mask"  # a tokenized text batch's mask, kept in step with its token ids
_LABEL_KEYS = ("label", "labels", "y", "target", "targets")


def mix(
    loader: Iterable,
    pool: SamplePool,
    ratio: float | Callable[[int], float] = 0.5,
    *,
    mode: str = "replace",
    balance: None | str | Mapping[int | str, float] = None,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    value_range: tuple[float, float] | None = None,
    keys: tuple[str, str] | None = None,
    seed: int = 0,
    in_workers: bool | None = None,
) -> MixedLoader:
    """Wrap ``loader`` so that about ``ratio`` of every batch is synthetic.

    Args:
        loader: any iterable of batches, e.g. a `torch.utils.data.DataLoader` (also one prepared
            by Accelerate). Batches are ``(x, y, ...)`` tuples/lists or dicts. For a text model ``x``
            is a list of strings or a ``(B, L)`` tensor of token ids (see the module docstring).
        pool: the `SamplePool` synthetic samples come from.
        ratio: expected share of synthetic samples per batch, in [0, 1]; or a schedule
            ``ratio(batch_number) -> share`` (batches counted from 0 over all epochs of this
            MixedLoader; mixing then runs in the main process, where the count is global).
        mode: ``"replace"`` (batches and epochs keep their length; the replaced real samples sit out
            that epoch) or ``"extend"`` (every real sample kept; batches re-cut to the real share
            and filled up with synthetic samples, so an epoch has about 1 / (1 - ratio) times as
            many batches). Extend needs a torch DataLoader with a ``batch_size`` (with Accelerate,
            mix first and prepare `MixedLoader.dataloader`), a fixed ratio below 1, and batches
            without per-sample fields besides inputs and labels; the share it reaches is the
            nearest multiple of 1 / batch_size.
        balance: ``None`` (follow the real labels), ``"uniform"``, or target weights per class (index or name).
        transform: maps one synthetic sample (user space, as the model's data) to the form of one
            item of ``x`` (e.g. the loader's normalisation). Default: the samples take the batch's
            layout (read from its first batch, as the transforms read a sample: a channel axis
            added or moved, ``(N, 1, 8, 8)`` batches from a model of ``(8, 8)`` digits) and dtype,
            their values as they are or mapped by ``value_range``. Text models: one synthetic ``str``
            -> one item (a ``str`` for batches of strings; an ``(L,)`` tensor of token ids for
            tokenized batches, default: the model's own encoding, widening the batch when needed).
        value_range: where the model's value range goes in the batches, e.g. ``(0, 1)`` for a loader of
            ``ToDtype(scale=True)`` images from a model of 8-bit images (default: unchanged values).
            Not for text models.
        keys: for dict batches, the (input, label) keys; default: guessed from common names
            (inputs: ``image``, ``pixel_values``, ``img``, ``x``, ``input``, ``inputs``, ``input_ids``,
            ``text``; labels: ``label``, ``labels``, ``y``, ``target``, ``targets``).
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
    return MixedLoader(
        loader, pool, ratio, mode=mode, balance=balance, transform=transform, value_range=value_range, keys=keys, seed=seed, in_workers=in_workers
    )


class MixedLoader:
    """Iterates ``loader`` and replaces a share of every batch by synthetic samples (see `mix`)."""

    def __init__(
        self,
        loader: Iterable,
        pool: SamplePool,
        ratio: float | Callable[[int], float],
        *,
        mode: str = "replace",
        balance: None | str | Mapping[int | str, float] = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        value_range: tuple[float, float] | None = None,
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
        if mode not in _MODES:
            raise ValueError(f"mode: expected one of {', '.join(map(repr, _MODES))}, got {mode!r}")
        extend = mode == "extend"
        if extend and schedule is not None:
            raise ValueError("ratio: mode='extend' re-cuts the loader's batches once, for a fixed share; a schedule needs mode='replace'")
        if extend and ratio >= 1.0:
            raise ValueError(f"ratio: mode='extend' keeps every real sample, so the synthetic share must be below 1, got {ratio!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform: expected a callable, got {type(transform).__name__}")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"seed: expected an integer, got {type(seed).__name__}")
        spec = getattr(getattr(loader, "dataset", None), "spec", None)
        if spec is not None:
            pool.check_fits(spec, "loader")
        self.loader, self.pool, self.ratio, self.mode = loader, pool, float(ratio), mode
        source, fill = _recut(loader, ratio) if extend else (loader, None)
        share = fill[1] / sum(fill) if fill else self.ratio  # the synthetic share of a (full) mixed batch
        balancer = None if balance is None else Balancer(balance, pool.spec, share)
        self.mixer = _Mixer(pool, share, balancer, transform, keys, seed, fill, check_value_range(value_range, pool.spec))
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
        # extend without workers and a CPU pool: the re-cut copy's collate_fn mixes (in this process), so
        # `dataloader` can be prepared by Accelerate like a mixing-in-workers one
        self._in_collate = self.in_workers or (extend and on_cpu and not workers)
        self._source = _with_mixing_collate(source, self.mixer) if self._in_collate else source

    def __len__(self) -> int:
        return len(self._source)

    @property
    def dataloader(self) -> DataLoader:
        """The copy of the loader that mixes in its ``collate_fn``, e.g. for ``accelerator.prepare``.

        It exists when mixing runs in the loader's workers, and in extend mode with a pool on the CPU.
        Example: ``loader = accelerator.prepare(genaug.mix(loader, pool).dataloader)`` mixes in the
        workers of every process's shard.
        """
        if not self._in_collate:
            raise ValueError("dataloader: this MixedLoader mixes in the main process as batches come out (in_workers=False); iterate it instead")
        return self._source

    def __iter__(self) -> Iterator[Any]:
        if self._in_collate:
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


def _recut(loader: Iterable, ratio: float) -> tuple[DataLoader, tuple[int, int]]:
    """A copy of ``loader`` whose batches hold the real share of its batch size, and (real, synthetic) per batch."""
    if not issubclass(type(loader), DataLoader) or loader.batch_size is None:
        what = type(loader).__name__ if not isinstance(loader, DataLoader) else "a DataLoader with batch_size=None (a custom batch_sampler)"
        raise ValueError(
            f"mode: 'extend' re-cuts a torch DataLoader's batches and needs one built with batch_size=; got {what}. "
            "With Accelerate, mix first and prepare MixedLoader.dataloader; otherwise use mode='replace'"
        )
    size = loader.batch_size
    real = max(1, round((1.0 - ratio) * size))
    clone = _unstarted_copy(loader)
    # DataLoader refuses to change these once built (they must not change under running workers); the copy has never run
    object.__setattr__(clone, "batch_size", real)
    object.__setattr__(clone, "batch_sampler", BatchSampler(loader.sampler, real, loader.drop_last))
    return clone, (real, size - real)


def _unstarted_copy(loader: DataLoader) -> DataLoader:
    """A shallow copy of ``loader`` that starts its own workers (a persistent-workers loader shares none with it)."""
    clone = copy.copy(loader)
    clone._iterator = None
    return clone


def _with_mixing_collate(loader: DataLoader, mixer: _Mixer) -> DataLoader:
    """A shallow copy of ``loader`` whose ``collate_fn`` mixes."""
    clone = _unstarted_copy(loader)
    clone.collate_fn = _MixingCollate(loader.collate_fn, mixer)
    return clone


class _MixingCollate:
    """The loader's ``collate_fn``, then `_Mixer`: mixing runs where the batch is made."""

    def __init__(self, collate: Callable[[list[Any]], Any], mixer: _Mixer) -> None:
        self.collate, self.mixer = collate, mixer

    def __call__(self, items: list[Any]) -> Any:
        return self.mixer(self.collate(items))


class _Mixer:
    """Mixes synthetic samples into one batch, in the process that makes the batch.

    ``fill`` is None to replace a share ``ratio`` of each batch, or (real, synthetic) per full batch
    to extend batches of ``real`` samples by ``synthetic`` ones (a shorter batch gets its share).
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
        fill: tuple[int, int] | None = None,
        value_range: tuple[float, float] | None = None,
    ) -> None:
        self.pool, self.ratio, self.balancer, self.transform, self.keys, self.seed = pool, ratio, balancer, transform, keys, seed
        self.fill, self.value_range = fill, value_range
        self._forms: dict[tuple[tuple[int, ...], torch.dtype], Form] = {}  # the batches' sample form, by item shape and dtype
        self.num_classes = pool.spec.num_classes
        self.strings = pool.spec.kind.string_samples  # a text model: strings or token ids in, strings served
        self._owner: tuple[int, int | None] | None = None
        self._rng: np.random.Generator | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_owner": None, "_rng": None}

    def _form(self, x: torch.Tensor) -> Form:
        """The form of one of the batch's inputs (its layout among the model's; values as given or by ``value_range``)."""
        key = (tuple(x.shape[1:]), x.dtype)
        if key not in self._forms:
            leaf = torch.empty(key[0], dtype=x.dtype)  # Form.of reads the shape and dtype only
            try:
                form = Form.of(leaf, self.pool.spec, value_range=self.value_range, what="loader batch item")
            except ValueError as err:
                raise ValueError(f"transform: {err}; or pass transform= to map a sample to the loader's form") from None
            self._forms[key] = form if self.value_range is not None else dataclasses.replace(form, mapping=None)
        return self._forms[key]

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

    def _class_counts(self, labels: np.ndarray) -> np.ndarray:
        """Counts per class of a batch's labels; ValueError if one is not a class index of the generator."""
        try:
            counts = np.bincount(labels, minlength=self.num_classes) if labels.dtype.kind in "iu" else None
        except (ValueError, TypeError):  # a negative label, or one beyond int64
            counts = None
        if counts is None or len(counts) > self.num_classes:
            raise ValueError(
                f"labels: batch labels span {labels.min()}..{labels.max()} ({labels.dtype}), "
                f"but the generator knows classes 0..{self.num_classes - 1}"
            )
        return counts

    def __call__(self, batch: Any) -> Any:
        x, y, put, others = _unpack(batch, self.keys)
        if self.strings or (isinstance(x, list | tuple) and len(x) and isinstance(x[0], str)):
            self._check_text_inputs(batch, x)
        rng = self.rng()
        n = len(y)
        if self.fill is None:
            count = min(n, int(self.ratio * n + rng.random()))  # stochastic rounding: E[count] = ratio * n
        else:
            real, synthetic = self.fill
            count = synthetic if n == real else int(n * synthetic / real + rng.random())
        if count == 0:
            return batch
        labels = y.numpy() if y.device.type == "cpu" and not y.requires_grad else y.detach().cpu().numpy()
        seen = self._class_counts(labels)
        if self.fill is None:
            where = follow = rng.permutation(n)[:count]
        else:
            where = None
            fields = others()
            if self.strings and isinstance(x, torch.Tensor):
                fields.pop(repr(_MASK_KEY), None)  # kept in step with the token ids
            _refuse_per_sample_fields(fields, n)
            # extend: each synthetic sample takes the label of a different real sample of the batch (while there are enough)
            follow = slice(None) if count == n else rng.permutation(n)[:count] if count < n else rng.integers(0, n, count)
        if self.balancer is None:
            new_labels = labels[follow].astype(np.int64, copy=False)
        else:
            self.balancer.observe_counts(seen)
            new_labels = self.balancer.pick(torch.from_numpy(rng.random(count))).numpy()
        samples = self.pool.serve(new_labels)
        if self.strings:
            return self._mix_text(batch, x, y, put, where, new_labels, samples.tolist())
        if self.transform is not None:
            samples = torch.stack([self.transform(s) for s in torch.from_numpy(samples)])
        elif tuple(samples.shape[1:]) != tuple(x.shape[1:]) or self.value_range is not None:
            samples = to_form_values(torch.from_numpy(samples), self._form(x))
        if tuple(samples.shape[1:]) != tuple(x.shape[1:]):
            raise ValueError(
                f"transform: synthetic samples have shape {tuple(samples.shape[1:])} but the batch's inputs have "
                f"{tuple(x.shape[1:])}; pass transform= to map a sample to the loader's form"
            )
        same_labels = self.balancer is None and self.fill is None  # a same-class swap leaves y as it was
        if x.device.type == y.device.type == "cpu" and type(x) is torch.Tensor and not x.requires_grad and x.dtype != torch.bfloat16:
            # numpy: a fifth of the per-batch overhead of torch's small indexing ops (see bench_inject.py)
            samples = samples.numpy() if isinstance(samples, torch.Tensor) else samples
            x_np = x.numpy()
            if self.fill is not None:
                x_out = np.concatenate([x_np, samples.astype(x_np.dtype, copy=False)])
                y_out = np.concatenate([labels, new_labels.astype(labels.dtype, copy=False)])
                return put(torch.from_numpy(x_out), torch.from_numpy(y_out))
            x_out = x_np.copy()
            x_out[where] = samples
            if same_labels:
                return put(torch.from_numpy(x_out), y)
            y_out = labels.copy()
            y_out[where] = new_labels
            return put(torch.from_numpy(x_out), torch.from_numpy(y_out))
        samples = torch.as_tensor(samples).to(device=x.device, dtype=x.dtype)
        new_y = torch.from_numpy(new_labels).to(device=y.device, dtype=y.dtype)
        if self.fill is not None:
            return put(torch.cat([x, samples]), torch.cat([y, new_y]))
        index = torch.from_numpy(where).to(x.device)
        x = x.index_put((index,), samples)  # out of place: the loader's batch is left as it was
        return put(x, y if same_labels else y.index_put((index.to(y.device),), new_y))

    # ------------------------------------------------------------------ text
    def _check_text_inputs(self, batch: Any, x: Any) -> None:
        """Refuse inputs a text model cannot join (or strings a non-text model cannot), naming both."""
        spec = self.pool.spec
        strings = isinstance(x, list | tuple) and all(isinstance(s, str) for s in x)
        if not self.strings:
            raise ValueError(
                f"loader: the generator does not fit: the batch's inputs are strings (here {x[0]!r:.40}), the model makes "
                f"{spec.modality}s of shape {spec.shape}; use a text model (e.g. the 'charlm' family) for text batches"
            )
        ids = isinstance(x, torch.Tensor) and x.ndim == 2 and x.dtype != torch.bool and not x.dtype.is_complex
        if not (strings or ids):
            got = f"a {type(x).__name__}" + (f" of shape {tuple(x.shape)} ({x.dtype})" if isinstance(x, torch.Tensor) else "")
            raise ValueError(
                f"loader: the generator does not fit: the model makes text (one str per sample, {spec.num_classes} classes), "
                f"the batch's inputs are {got}; expected a list of strings (what the default collate_fn makes of "
                "(str, label) items) or a (B, L) tensor of token ids"
            )
        if ids and self.transform is not None and isinstance(batch, Mapping) and _MASK_KEY in batch:
            raise ValueError(
                f"transform: the batch has an {_MASK_KEY!r}, which genaug cannot compute for the items transform= makes "
                f"(it does not know their padding id); drop {_MASK_KEY!r} and compute it after mixing (ids != pad id), "
                "or leave transform unset to use the model's own encoding"
            )

    def _mix_text(
        self, batch: Any, x: Any, y: torch.Tensor, put: Callable[..., Any], where: np.ndarray | None, new_labels: np.ndarray, texts: list[str]
    ) -> Any:
        """Synthetic strings into a text batch: a list of strings, or token ids (replace: at ``where``; extend: after)."""
        extra: dict[str, Any] = {}
        if isinstance(x, torch.Tensor):
            rows = self._token_rows(texts, x)
            mask = batch.get(_MASK_KEY) if isinstance(batch, Mapping) else None
            if isinstance(mask, torch.Tensor) and tuple(mask.shape) == tuple(x.shape):
                extra[_MASK_KEY] = _join_rows(_widen(mask, rows.shape[1]), (rows != 0).to(device=mask.device, dtype=mask.dtype), where)
            x_out = _join_rows(_widen(x, rows.shape[1]), rows, where)
        else:
            if self.transform is not None:
                texts = [self.transform(text) for text in texts]
            x_out = list(x)
            if where is None:
                x_out += texts
            else:
                for at, text in zip(where.tolist(), texts):
                    x_out[at] = text
        new_y = torch.from_numpy(new_labels).to(device=y.device, dtype=y.dtype)
        if where is None:
            y_out = torch.cat([y, new_y])
        elif self.balancer is None:  # a same-class swap leaves y as it was
            y_out = y
        else:
            y_out = y.index_put((torch.from_numpy(where).to(y.device),), new_y)
        return put(x_out, y_out, **extra)

    def _token_rows(self, texts: list[str], x: torch.Tensor) -> torch.Tensor:
        """Synthetic strings as rows of token ids in the batch's dtype and device: (k, W), W >= the batch's width."""
        if self.transform is not None:
            rows = torch.stack([torch.as_tensor(self.transform(text)) for text in texts])
            if tuple(rows.shape[1:]) != tuple(x.shape[1:]):
                raise ValueError(
                    f"transform: it made items of shape {tuple(rows.shape[1:])} from the synthetic strings, but the batch's "
                    f"token ids have {tuple(x.shape[1:])}; make it pad (or cut) each item to the batch's width"
                )
            return rows.to(device=x.device, dtype=x.dtype)
        ids = self.pool.spec.to_model(texts)  # float32 (k, T): ids 1..V-1, then 0 (end mark and padding)
        width = max(int(x.shape[1]), int((ids != 0).sum(1).max()))  # dynamic padding: never cut a string
        ids = ids[:, :width] if width <= ids.shape[1] else torch.nn.functional.pad(ids, (0, width - ids.shape[1]))
        if not x.dtype.is_floating_point and int(ids.max()) > torch.iinfo(x.dtype).max:
            raise ValueError(
                f"loader: the batch's token ids are {x.dtype}, which cannot hold the model's ids (up to {int(ids.max())}); "
                "use a wider integer dtype or pass transform="
            )
        return ids.to(device=x.device, dtype=x.dtype)


def _widen(x: torch.Tensor, width: int) -> torch.Tensor:
    """``x`` (B, L) padded on the right with 0 to ``width`` columns (as it is when L >= width)."""
    return x if x.shape[1] >= width else torch.nn.functional.pad(x, (0, width - x.shape[1]))


def _join_rows(x: torch.Tensor, rows: torch.Tensor, where: np.ndarray | None) -> torch.Tensor:
    """``rows`` after ``x`` (``where`` None), or in place of its rows ``where`` (out of place)."""
    if where is None:
        return torch.cat([x, rows])
    return x.index_put((torch.from_numpy(where).to(x.device),), rows)


def _refuse_per_sample_fields(others: Mapping[str, Any], n: int) -> None:
    """Extend mode adds samples to a batch: other per-sample fields would have no value for them."""
    per_sample = [name for name, value in others.items() if isinstance(value, (torch.Tensor, np.ndarray, list, tuple)) and len(value) == n]
    if per_sample:
        raise ValueError(
            f"mode: 'extend' adds synthetic samples to each batch, but the batch has other per-sample fields ({', '.join(per_sample)}) "
            "with no value for them; drop those fields or use mode='replace'"
        )


def _unpack(
    batch: Any, keys: tuple[str, str] | None
) -> tuple[Any, torch.Tensor, Callable[..., Any], Callable[[], dict[str, Any]]]:
    """(inputs, labels, put, others): ``put(x, y)`` rebuilds a batch of the same structure (a dict batch's
    ``put(x, y, **fields)`` also sets other fields); ``others()`` names the other fields."""
    if isinstance(batch, Mapping):
        x_key = keys[0] if keys else next((k for k in _INPUT_KEYS if k in batch), None)
        y_key = keys[1] if keys else next((k for k in _LABEL_KEYS if k in batch), None)
        if x_key not in batch or y_key not in batch:
            raise ValueError(f"keys: dict batches need input and label keys; got keys {sorted(batch)}, pass keys=(input, label)")
        others = lambda: {repr(k): v for k, v in batch.items() if k not in (x_key, y_key)}
        return batch[x_key], batch[y_key], lambda x, y, **fields: type(batch)({**batch, **fields, x_key: x, y_key: y}), others
    if isinstance(batch, Sequence) and not isinstance(batch, (str, bytes)) and len(batch) >= 2:
        rest = list(batch[2:])
        others = lambda: {f"item {i}": v for i, v in enumerate(rest, start=2)}
        if isinstance(batch, tuple):
            return batch[0], batch[1], (lambda x, y: type(batch)((x, y, *rest)) if type(batch) is tuple else type(batch)(x, y, *rest)), others
        return batch[0], batch[1], lambda x, y: [x, y, *rest], others
    raise ValueError(f"loader: expected batches of (inputs, labels, ...) or dicts, got {type(batch).__name__}")
