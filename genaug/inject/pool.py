"""`SamplePool`: the one source of synthetic samples for every injector.

A pool draws samples from a fitted generator in large batches (one ``sample`` call of
``batch_size`` samples of a class), keeps a queue per class and refills a class when it runs dry.
Each sample comes in the user's space (dtype, layout and range of the training data) with its
provenance. For text models (``spec.kind.string_samples``) a sample is a ``str``: `SamplePool.take`
returns a list of strings, `SamplePool.serve` a numpy unicode array, and a filter sees each refill
as a list of strings; the queues hold numpy unicode arrays as wide as the longest string the model
makes (the modality's ``bank_dtype``).

Streams are seeded per class and stateless to reproduce: refill ``j`` of class ``c`` in a pool with
seed ``s`` draws from ``derive_seed(s, "pool", stream, c, j)``, where ``stream`` is the main process
or, in a DataLoader worker, the seed torch gives that worker (``get_worker_info().seed``: distinct
per worker and per epoch, fixed by the loader's ``generator`` or ``torch.manual_seed``). What a class
yields therefore depends on the seeds only, never on which other classes were asked for, in what
order, or on timing: the same seeds give the same stream on every run, with or without prefetching.
Without a filter the ``k``-th sample of a class is known in advance (refill ``k // batch_size``,
position ``k % batch_size`` with ``reuse=1``), so processes can split one stream: `SamplePool.seek`
starts a fresh pool at any point of it (`genaug.hf.generate_dataset` under ``torchrun``).

``prefetch=True`` draws a class's next refill in a background thread as soon as its current one is
in use, so generation overlaps the training step. ``reuse=k`` serves every drawn sample ``k`` times
(in ``k`` seeded shuffled passes over the refill) before the next refill is needed: for families
that sample slowly on the hardware at hand (diffusion on a CPU), it trades freshness for throughput.

A pool pickles as its model folder and settings (never as weights), so ``spawn`` and ``fork``
workers reload the model themselves, lazily, on first use.
"""

from __future__ import annotations

import atexit
import os
import queue
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from genaug.data.spec import DataSpec
from genaug.inject.core import check_fits
from genaug.models.base import Generator
from genaug.models.handle import ModelHandle
from genaug.utils.seeding import derive_seed

__all__ = ["Provenance", "Provenances", "SampleFilter", "SamplePool"]

SampleFilter = Callable[[Any, torch.Tensor], torch.Tensor]
"""``filter(x, labels) -> keep``: a boolean mask over a refill's samples (user space: a tensor, or a
list of ``str`` for text models; (N,) labels)."""


@dataclass(frozen=True)
class Provenance:
    """Where a synthetic sample came from: enough to regenerate or audit it.

    ``model.sample(n, labels=full(n, label), generator=Generator().manual_seed(seed))[index]``
    regenerates it, ``n`` being the pool's ``batch_size``.
    """

    family: str
    fingerprint: str  # `Generator.fingerprint()` of the model
    seed: int  # the seed of the refill that drew it
    label: int  # class index
    index: int  # position within its refill

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "fingerprint": self.fingerprint, "seed": self.seed, "label": self.label, "index": self.index}


@dataclass(frozen=True)
class Provenances(Sequence):
    """The provenance of a batch of samples, stored as columns; indexing gives a `Provenance`."""

    family: str
    fingerprint: str
    seeds: torch.Tensor  # (N,) int64
    labels: torch.Tensor  # (N,) int64
    indices: torch.Tensor  # (N,) int64

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> Provenance:  # type: ignore[override]
        if isinstance(i, slice):
            raise TypeError("Provenances: index with an integer")
        return Provenance(self.family, self.fingerprint, int(self.seeds[i]), int(self.labels[i]), int(self.indices[i]))

    def __iter__(self) -> Iterator[Provenance]:
        return (self[i] for i in range(len(self)))


@dataclass(frozen=True)
class _Refill:
    """Samples of one class from one ``sample`` call, and the order they are served in."""

    x: np.ndarray  # (m, *user_shape): the samples the filter kept (a unicode array (m,) for text)
    seed: int
    index: np.ndarray  # (m,) position of each kept sample in the call
    order: np.ndarray | None  # positions into x in serving order (reuse passes); None: x in order, once


class _Bank:
    """The refill each class is serving, stacked per class so a batch is served by a few numpy ops.

    Class ``c`` serves ``x[c, order[c, pos[c]:]]`` (or ``x[c, pos[c]:]`` without reuse) and has
    ``left[c]`` samples to go; `install` puts a new refill in its place.
    """

    def __init__(self, classes: int, size: int, user_shape: tuple[int, ...], dtype: np.dtype, reuse: int) -> None:
        self.x = np.empty((classes, size, *user_shape), dtype=dtype)
        self.index = np.zeros((classes, size), dtype=np.int64)
        self.order = np.zeros((classes, size * reuse), dtype=np.int32) if reuse > 1 else None  # 4 bytes per served slot
        self.seed = np.zeros(classes, dtype=np.int64)
        self.pos = np.zeros(classes, dtype=np.int64)
        self.left = np.zeros(classes, dtype=np.int64)  # 0: nothing installed yet, or spent

    def install(self, c: int, refill: _Refill) -> None:
        m = len(refill.x)
        self.x[c, :m], self.index[c, :m], self.seed[c] = refill.x, refill.index, refill.seed
        if self.order is not None:
            self.order[c, : len(refill.order)] = refill.order
        self.pos[c], self.left[c] = 0, m if refill.order is None else len(refill.order)

    def rows(self, c: np.ndarray | int, slots: np.ndarray | slice) -> np.ndarray | slice:
        """Rows of ``x`` for serving positions ``slots`` of class(es) ``c``."""
        return slots if self.order is None else self.order[c, slots]


class _Background:
    """One daemon thread running refills in submission order.

    Fork safety: a process forked while this thread is inside a torch kernel could inherit the
    locks that kernel holds and hang at its first torch call (DataLoader ``fork`` workers,
    ``Dataset.map(num_proc=...)``). Each refill runs under ``busy``, and every fork waits for the
    running refills to end (`_hold_all`, registered with ``os.register_at_fork``). At interpreter
    exit the thread finishes the refill it is running and stops (`_stop_all`): a daemon thread
    killed inside a torch kernel aborts the process.
    """

    _alive: weakref.WeakSet[_Background] = weakref.WeakSet()
    _held: list[threading.Lock] = []  # locks taken before a fork, released after it

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.busy = threading.Lock()
        # the thread holds the queue, not this object: a dropped pool's thread gets its sentinel from __del__
        self.thread = threading.Thread(target=_Background._run, args=(self.jobs, self.busy), name="genaug-pool", daemon=True)
        self.thread.start()
        _Background._alive.add(self)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        self.jobs.put((future, fn, args))
        return future

    def stop(self) -> None:
        self.jobs.put(None)
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join()

    @staticmethod
    def _run(jobs: queue.SimpleQueue, busy: threading.Lock) -> None:
        while (job := jobs.get()) is not None:
            future, fn, args = job
            with busy:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn(*args))
                    except BaseException as error:  # handed to the consumer, raised where it waits
                        future.set_exception(error)
            del job, future, fn, args  # hold no reference to the pool while waiting

    def __del__(self) -> None:
        self.jobs.put(None)

    @staticmethod
    def _hold_all() -> None:
        for background in list(_Background._alive):
            background.busy.acquire()
            _Background._held.append(background.busy)

    @staticmethod
    def _release_all() -> None:
        while _Background._held:
            _Background._held.pop().release()

    @staticmethod
    @atexit.register
    def _stop_all() -> None:
        for background in list(_Background._alive):
            background.stop()


def _after_fork_in_child() -> None:
    """A forked child runs torch on one thread, as DataLoader workers do.

    With OpenMP (GNU libgomp), a child forked after its parent ran a parallel region hangs in its
    own first parallel region: ``Dataset.map(num_proc=...)`` workers loading a model would stall.
    """
    _Background._release_all()
    torch.set_num_threads(1)


os.register_at_fork(before=_Background._hold_all, after_in_parent=_Background._release_all, after_in_child=_after_fork_in_child)


class SamplePool:
    """Per-class queues of synthetic samples, refilled in large batches.

    Args:
        model: a model folder (written by ``genaug fit`` or ``save_pretrained``), or a fitted
            `Generator`. A folder is what worker processes reload; a `Generator` without a
            folder is pickled whole.
        batch_size: samples drawn per refill of a class (one ``sample`` call).
        seed: seeds every refill; workers derive distinct streams from it.
        reuse: how many times each drawn sample is served (1: every sample is fresh). The serving
            order takes ``4 * batch_size * reuse`` bytes per class.
        prefetch: draw each class's next refill in a background thread.
        filter: optional ``filter(x, labels) -> keep mask`` applied to each refill (quality filters;
            ``x`` is a list of strings for text models, e.g. `genaug.evaluate.textmetrics.CopyFilter`).
        device: where to run the model (default: CPU; ``"cuda"`` when the loader feeds a GPU).
        max_attempts: refills in a row that may all be filtered out before giving up.
        data: optional data (DataSpec, ArraySet, or dataset with a ``.spec``) the samples will
            join; refused now, naming both specs, if the generator does not fit it.
        sampler: optional ``sampler(model, labels, generator) -> user-space samples`` used instead
            of ``model.sample`` for each refill, e.g. `LatentInterpolation` (decodes points between
            real records of the class); its ``check(model)``, if any, runs now. Pickled with the pool.
            For text models it returns a list of ``N`` strings.
        options: sampling options passed to every ``model.sample`` call (the family's
            ``sampling_options()``, e.g. ``{"guidance": 3.0}`` for diffusion, ``{"temperature": 0.8}``
            for the vae): one fitted model sampled several ways, without refitting. Checked by name
            now; pickled with the pool. Not with ``sampler``, which draws by itself.

    Example:
        >>> import genaug
        >>> model = genaug.fit("digits", "gmm", steps=5)
        >>> pool = SamplePool(model, batch_size=64, seed=0)
        >>> x, info = pool.take([3, 3, 5])
        >>> x.shape, [p.label for p in info]
        (torch.Size([3, 8, 8]), [3, 3, 5])

    A text model's pool serves strings::

        >>> names = genaug.from_texts(["anna", "bob", "eve", "dan"] * 3, ["f", "m", "f", "m"] * 3)
        >>> texts, info = SamplePool(genaug.fit(names, "charlm", steps=2), batch_size=8).take(["f", "m"])
        >>> [type(t).__name__ for t in texts], [p.label for p in info]
        (['str', 'str'], [0, 1])
    """

    def __init__(
        self,
        model: Generator | str | os.PathLike,
        *,
        batch_size: int = 1024,
        seed: int = 0,
        reuse: int = 1,
        prefetch: bool = True,
        filter: SampleFilter | None = None,
        device: str | torch.device | None = None,
        max_attempts: int = 10,
        data: Any = None,
        sampler: Callable[[Generator, torch.Tensor, torch.Generator], torch.Tensor] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        for name, value in (("batch_size", batch_size), ("reuse", reuse), ("max_attempts", max_attempts)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"seed: expected an integer, got {type(seed).__name__}")
        if filter is not None and not callable(filter):
            raise TypeError(f"filter: expected a callable filter(x, labels) -> mask, got {type(filter).__name__}")
        if sampler is not None and not callable(sampler):
            raise TypeError(f"sampler: expected a callable sampler(model, labels, generator) -> samples, got {type(sampler).__name__}")
        if options is not None and not isinstance(options, Mapping):
            raise TypeError(f"options: expected a mapping of sampling options, e.g. {{'guidance': 3.0}}, got {type(options).__name__}")
        if options and sampler is not None:
            raise ValueError(f"options: {sorted(options)} are model.sample's options; a custom sampler draws by itself, so pass one or the other")
        self.handle = ModelHandle(model, device)
        self.sampler = sampler
        self.options: dict[str, Any] = dict(options or {})
        if self.options:  # by the model's own class: a user's unregistered Generator subclass pools too
            type(self.handle.model).check_sampling_options(self.options)
        if sampler is not None and hasattr(sampler, "check"):
            sampler.check(self.handle.model)
        self.batch_size, self.seed, self.reuse, self.prefetch = batch_size, seed, reuse, bool(prefetch)
        self.filter, self.max_attempts = filter, max_attempts
        self.spec: DataSpec = self.handle.spec
        self.family: str = self.handle.family
        self.fingerprint: str = self.handle.fingerprint
        if data is not None:
            from genaug.inject.core import spec_of

            self.check_fits(spec_of(data))
        self._reset_stream()

    def _reset_stream(self) -> None:
        self._bank: _Bank | None = None  # allocated on first use
        self._next: dict[int, Future] = {}
        self._refills: dict[int, int] = {}  # class -> refills started
        self._skip: dict[int, int] = {}  # class -> samples of its next refill already served elsewhere (`seek`)
        self._until: dict[int, int] = {}  # class -> the refill number (seed index) prefetching stops at (`seek`)
        self._stream: int | str | None = None
        self._background: _Background | None = None
        self._pid = os.getpid()

    # ------------------------------------------------------------------ pickling (DataLoader workers)
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_bank=None, _next={}, _refills={}, _skip={}, _until={}, _stream=None, _background=None)
        return state

    @property
    def model(self) -> Generator:
        """The generator (reloaded from its folder on first use in a worker process)."""
        return self.handle.model

    @property
    def folder(self):
        return self.handle.folder

    # ------------------------------------------------------------------ drawing
    def _stream_id(self) -> int | str:
        """``"main"``, or the seed torch gave this DataLoader worker; fixed at first use."""
        if self._pid != os.getpid():  # a forked worker inherited the parent's queues: start its own stream
            self._reset_stream()
        if self._stream is None:
            info = torch.utils.data.get_worker_info()
            self._stream = info.seed if info is not None else "main"
        return self._stream

    def _draw(self, c: int, first: int) -> _Refill:
        """Refill ``first`` of class ``c`` (or the next ones, while the filter rejects everything)."""
        stream = self._stream_id()
        for j in range(first, first + self.max_attempts):
            seed = derive_seed(self.seed, "pool", stream, c, j)
            generator = torch.Generator(self.handle.device).manual_seed(seed)
            labels = torch.full((self.batch_size,), c, dtype=torch.long)
            kind = self.spec.kind
            with torch.no_grad():
                on = labels.to(self.handle.device)
                if self.sampler is None:
                    x = kind.samples_to_numpy(self.spec, self.model.sample(self.batch_size, labels=on, generator=generator, **self.options))
                else:
                    x = kind.samples_to_numpy(self.spec, self.sampler(self.model, on, generator))
                    if tuple(x.shape) != (self.batch_size, *self.spec.user_shape()):
                        raise ValueError(f"sampler: expected {self.batch_size} samples of shape {self.spec.user_shape()}, got {tuple(x.shape)}")
            index = np.arange(self.batch_size)
            if self.filter is not None:
                keep = torch.as_tensor(self.filter(kind.numpy_to_samples(self.spec, x), labels), dtype=torch.bool).reshape(-1)
                if keep.shape != (len(x),):
                    raise ValueError(f"filter: expected a mask of {len(x)} booleans, got shape {tuple(keep.shape)}")
                keep = keep.numpy()
                x, index = x[keep], index[keep]
            if len(x):
                order = None
                if self.reuse > 1:
                    shuffle = torch.Generator().manual_seed(seed)
                    order = torch.cat([torch.randperm(len(x), generator=shuffle, dtype=torch.int32) for _ in range(self.reuse)]).numpy()
                return _Refill(x, seed, index, order)
        raise RuntimeError(
            f"filter: rejected every sample of class {c} in {self.max_attempts} refills of {self.batch_size}; "
            "loosen the filter or raise max_attempts"
        )

    def _start(self, c: int) -> Future:
        """Begin the next refill of class ``c``: in the background thread, or now when not prefetching."""
        j = self._refills.get(c, 0)
        self._refills[c] = j + self.max_attempts  # a refill may use up to max_attempts seeds
        if not self.prefetch:
            future: Future = Future()
            future.set_result(self._draw(c, j))
            return future
        if self._background is None:
            self._background = _Background()
        return self._background.submit(self._draw, c, j)

    def _advance(self, c: int) -> _Bank:
        """Install the class's next refill in the bank (its current one is spent or there is none)."""
        if self._bank is None:
            spec = self.spec
            self._bank = _Bank(spec.num_classes, self.batch_size, spec.user_shape(), spec.kind.bank_dtype(spec), self.reuse)
        future = self._next.pop(c, None) or self._start(c)
        self._bank.install(c, future.result())
        skip = self._skip.pop(c, 0)
        self._bank.pos[c] += skip
        self._bank.left[c] -= skip
        until = self._until.get(c)
        if self.prefetch and (until is None or self._refills[c] < until):
            self._next[c] = self._start(c)
        return self._bank

    def seek(self, start: Sequence[int], stop: Sequence[int] | None = None) -> SamplePool:
        """Start each class's stream at its ``start[c]``-th sample, as if this pool had served that many.

        Processes that share out one stream each seek to their part and together serve what one
        pool would. ``stop[c]`` (optional) is where the class's part ends: no refill past it is
        prefetched (taking more still works). Only on a pool that has drawn nothing yet, without a
        filter (a filter makes the refills' sizes unknown before they are drawn).

        Args:
            start: per class, the number of samples to pass over.
            stop: per class, the number of samples (from the start of the stream) that will be taken.

        Example:
            >>> import genaug
            >>> model = genaug.fit("digits", "gmm", steps=5)
            >>> x, _ = SamplePool(model, batch_size=8, seed=0).take([3] * 12)
            >>> y, _ = SamplePool(model, batch_size=8, seed=0).seek([0, 0, 0, 10] + [0] * 6).take([3, 3])
            >>> bool((y == x[10:]).all())
            True
        """
        if self.filter is not None:
            raise ValueError("seek: a pool with a filter cannot seek (its refills' sizes are known only once drawn)")
        if self._refills or self._bank is not None:
            raise RuntimeError("seek: only a pool that has drawn nothing yet can seek")
        classes = self.spec.num_classes
        bounds = {"start": start, "stop": start if stop is None else stop}
        for name, value in bounds.items():
            if len(value) != classes or any(isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0 for k in value):
                raise ValueError(f"{name}: expected {classes} non-negative sample counts, one per class, got {list(value)!r}")
        if any(b < a for a, b in zip(start, bounds["stop"])):
            raise ValueError(f"stop: expected counts >= start's {list(start)}, got {list(stop)}")
        served = self.batch_size * self.reuse  # samples one refill serves (no filter: always all of them)
        for c in range(classes):
            refill, self._skip[c] = divmod(int(start[c]), served)
            self._refills[c] = refill * self.max_attempts  # a refill's seed index, as `_start` counts them
            if stop is not None:
                self._until[c] = -(-int(stop[c]) // served) * self.max_attempts
        return self

    def warm(self, classes: Sequence[int | str] | None = None) -> SamplePool:
        """Draw the first refill of ``classes`` (default: all) now, so that the stream starts at speed."""
        for c in range(self.spec.num_classes) if classes is None else [self.spec.class_index(k) for k in classes]:
            self._stream_id()
            if self._bank is None or self._bank.left[c] == 0:
                self._advance(c)
        return self

    def wait(self) -> SamplePool:
        """Block until the refills drawing in the background are done (benchmarks, tests)."""
        for pending in list(self._next.values()):
            pending.result()
        return self

    def close(self) -> None:
        """Stop the background thread after the refill it is drawing; queued refills are dropped.

        The pool stays usable (a new thread starts on demand), but its stream then skips the
        dropped refills: close a pool when you are done with it.
        """
        self._next = {c: pending for c, pending in self._next.items() if not pending.cancel()}
        if self._background is not None:
            self._background.stop()
            self._background = None

    def __enter__(self) -> SamplePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def take(self, labels: Sequence[int | str] | torch.Tensor, *, provenance: bool = True) -> tuple[torch.Tensor | list[str], Provenances | None]:
        """One synthetic sample per label, in the user's space: ((N, *user_shape), provenances).

        Labels are class indices (or names) of the model's classes. ``provenance=False`` skips
        the provenance (None), for callers that do not keep it. Text models give a list of ``N``
        strings instead of a tensor.
        """
        index = self._class_indices(labels)
        out, seeds, within = self._serve(index, provenance)
        samples = self.spec.kind.numpy_to_samples(self.spec, out)
        if not provenance:
            return samples, None
        as_tensor = torch.from_numpy
        return samples, Provenances(self.family, self.fingerprint, as_tensor(seeds), as_tensor(index), as_tensor(within))

    def serve(self, index: np.ndarray) -> np.ndarray:
        """`take` for injectors on the hot path: int64 class indices known to be valid, numpy out, no provenance.

        Text models give a numpy unicode array (N,).
        """
        return self._serve(index, False)[0]

    def _serve(self, index: np.ndarray, provenance: bool) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        self._stream_id()
        n, bank = len(index), self._bank
        counts = np.bincount(index, minlength=self.spec.num_classes)
        grouped = np.argsort(index, kind="stable")  # the requests grouped by class, in request order
        if bank is None or (bank.left.min() < n and (counts > bank.left).any()):  # some class needs its next refill
            return self._take_slowly(index, counts, grouped, provenance)
        in_order = index[grouped]
        rank = np.empty(n, dtype=np.int64)  # each request's place among its class's requests
        rank[grouped] = np.arange(n) - np.searchsorted(in_order, in_order)
        rows = bank.rows(index, bank.pos[index] + rank)
        out = bank.x[index, rows]
        seeds, within = (bank.seed[index], bank.index[index, rows]) if provenance else (None, None)
        bank.pos += counts
        bank.left -= counts
        return out, seeds, within

    def _take_slowly(
        self, index: np.ndarray, counts: np.ndarray, grouped: np.ndarray, provenance: bool
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """`take` class by class, installing refills as they run out."""
        pieces, seeds, within = [], [], []
        for c in np.flatnonzero(counts).tolist():
            k = int(counts[c])
            while k:
                bank = self._bank if self._bank is not None and self._bank.left[c] else self._advance(c)
                step = min(int(bank.left[c]), k)
                rows = bank.rows(c, slice(int(bank.pos[c]), int(bank.pos[c]) + step))
                pieces.append(bank.x[c, rows].copy())  # a copy: the next install overwrites this row block
                if provenance:
                    seeds.append(np.full(step, bank.seed[c], dtype=np.int64))
                    within.append(bank.index[c, rows].copy())
                bank.pos[c] += step
                bank.left[c] -= step
                k -= step
        out = np.empty((len(index), *self.spec.user_shape()), dtype=self.spec.kind.bank_dtype(self.spec))
        seeds_out = within_out = None
        if pieces:
            out[grouped] = np.concatenate(pieces)
        if provenance:
            seeds_out, within_out = np.zeros(len(index), dtype=np.int64), np.zeros(len(index), dtype=np.int64)
            if pieces:
                seeds_out[grouped], within_out[grouped] = np.concatenate(seeds), np.concatenate(within)
        return out, seeds_out, within_out

    def _class_indices(self, labels: Sequence[int | str] | torch.Tensor) -> np.ndarray:
        """Class indices (int64 numpy) of ``labels``; ValueError naming an unknown class."""
        if isinstance(labels, torch.Tensor) and not labels.dtype.is_floating_point and labels.dtype != torch.bool:
            index = labels.detach().reshape(-1).cpu().numpy().astype(np.int64, copy=False)
            if len(index):
                low, high = int(index.min()), int(index.max())
                if low < 0 or high >= self.spec.num_classes:
                    self.spec.class_index(low if low < 0 else high)  # raises, naming the classes
            return index
        if isinstance(labels, torch.Tensor):
            labels = labels.reshape(-1).tolist()
        return np.array([self.spec.class_index(label) for label in labels], dtype=np.int64)

    # ------------------------------------------------------------------ checks
    def check_fits(self, spec: DataSpec, what: str = "data") -> None:
        """Refuse data whose spec the generator does not fit, naming both specs."""
        check_fits(self.spec, spec, what)

    def __repr__(self) -> str:
        source = str(self.folder) if self.folder is not None else "in-memory model"
        options = f", options={self.options}" if self.options else ""
        return f"SamplePool({self.family}, {source}, batch_size={self.batch_size}, seed={self.seed}, reuse={self.reuse}{options})"
