"""`SamplePool`: the one source of synthetic samples for every injector.

A pool draws samples from a fitted generator in large batches (one ``sample`` call for many
samples), keeps a queue per class and refills a class when it runs dry. Each sample comes in the
user's space (dtype, layout and range of the training data) with its provenance.

Streams are seeded and stateless to reproduce: refill ``k`` of a pool with seed ``s`` draws from
``derive_seed(s, stream, k)``, where ``stream`` is the main process or, in a DataLoader worker, the
seed torch gives that worker (``get_worker_info().seed``: distinct per worker and per epoch, and
fixed by the loader's ``generator`` or ``torch.manual_seed``). The same seeds give the same stream on
every run; workers, and the epochs of non-persistent workers, get distinct streams. A pool pickles as its model folder and settings (never as
weights), so ``spawn`` and ``fork`` workers reload the model themselves, lazily, on first use.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genaug.data.spec import DataSpec
from genaug.models.base import Generator
from genaug.train.trainer import derive_seed

__all__ = ["Provenance", "SamplePool", "SampleFilter"]

SampleFilter = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``filter(x, labels) -> keep``: a boolean mask over a refill's samples (user space, (N,) labels)."""


@dataclass(frozen=True)
class Provenance:
    """Where a synthetic sample came from: enough to regenerate or audit it."""

    family: str
    fingerprint: str  # `Generator.fingerprint()` of the model
    seed: int  # the seed of the refill that drew it
    label: int  # class index
    index: int  # position within its refill

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "fingerprint": self.fingerprint, "seed": self.seed, "label": self.label, "index": self.index}


class SamplePool:
    """Per-class queues of synthetic samples, refilled in large batches.

    Args:
        model: a model folder (written by ``genaug fit`` or ``save_pretrained``), or a fitted
            `Generator`. A folder is what worker processes reload; a `Generator` without a
            folder is pickled whole.
        batch_size: samples drawn per refill (per class refilled).
        seed: seeds every refill; workers derive distinct streams from it.
        filter: optional ``filter(x, labels) -> keep mask`` applied to each refill (quality filters).
        device: where to run the model (default: CPU; ``"cuda"`` when the loader feeds a GPU).
        max_attempts: refills in a row that may all be filtered out before giving up.

    Example:
        >>> import genaug
        >>> model = genaug.fit("digits", "gmm", steps=5)
        >>> pool = SamplePool(model, batch_size=64, seed=0)
        >>> x, info = pool.take([3, 3, 5])
        >>> x.shape, [p.label for p in info]
        (torch.Size([3, 8, 8]), [3, 3, 5])
    """

    def __init__(
        self,
        model: Generator | str | os.PathLike,
        *,
        batch_size: int = 1024,
        seed: int = 0,
        filter: SampleFilter | None = None,
        device: str | torch.device | None = None,
        max_attempts: int = 10,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"seed: expected an integer, got {type(seed).__name__}")
        if filter is not None and not callable(filter):
            raise TypeError(f"filter: expected a callable filter(x, labels) -> mask, got {type(filter).__name__}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts: expected at least 1, got {max_attempts}")
        if isinstance(model, Generator):
            self._folder, self._model = None, model
        elif isinstance(model, (str, os.PathLike)):
            from genaug.models.registry import load

            self._folder = Path(model)
            self._model = load(self._folder)  # fail now, in the main process, if the folder is bad
        else:
            raise TypeError(f"model: expected a model folder or a genaug Generator, got {type(model).__name__}")
        self.batch_size, self.seed, self.filter, self.max_attempts = batch_size, seed, filter, max_attempts
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self._model = self._model.to(self.device).eval()
        self.spec: DataSpec = self._model.spec
        self.family: str = self._model.family
        self.fingerprint: str = self._model.fingerprint()
        self._reset_stream()

    def _reset_stream(self) -> None:
        self._queues: dict[int, deque[tuple[torch.Tensor, Provenance]]] = {}
        self._refills = 0
        self._stream: int | str | None = None
        self._pid = os.getpid()

    # ------------------------------------------------------------------ pickling (DataLoader workers)
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_queues"], state["_refills"], state["_stream"] = {}, 0, None
        if self._folder is not None:
            state["_model"] = None  # the worker reloads it from the folder
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    @property
    def model(self) -> Generator:
        """The generator (reloaded from its folder on first use in a worker process)."""
        if self._model is None:
            from genaug.models.registry import load

            self._model = load(self._folder).to(self.device).eval()
        return self._model

    # ------------------------------------------------------------------ drawing
    def _stream_id(self) -> int | str:
        """``"main"``, or the seed torch gave this DataLoader worker; fixed at first use."""
        if self._pid != os.getpid():  # a forked worker inherited the parent's queues: start its own stream
            self._reset_stream()
        if self._stream is None:
            info = torch.utils.data.get_worker_info()
            self._stream = info.seed if info is not None else "main"
        return self._stream

    def _refill(self, classes: Sequence[int]) -> None:
        """Draw ``batch_size`` samples for each of ``classes`` in one ``sample`` call."""
        labels = torch.tensor(classes, dtype=torch.long).repeat_interleave(self.batch_size)
        for _ in range(self.max_attempts):
            seed = derive_seed(self.seed, "pool", self._stream_id(), self._refills)
            self._refills += 1
            generator = torch.Generator(self.device).manual_seed(seed)
            x = self.model.sample(len(labels), labels=labels.to(self.device), generator=generator).cpu()
            keep = torch.ones(len(x), dtype=torch.bool)
            if self.filter is not None:
                keep = torch.as_tensor(self.filter(x, labels), dtype=torch.bool).reshape(-1)
                if keep.shape != (len(x),):
                    raise ValueError(f"filter: expected a mask of {len(x)} booleans, got shape {tuple(keep.shape)}")
            for i in torch.nonzero(keep).flatten().tolist():
                c = int(labels[i])
                provenance = Provenance(self.family, self.fingerprint, seed, c, i)
                self._queues.setdefault(c, deque()).append((x[i], provenance))
            missing = [c for c in classes if not self._queues.get(c)]
            if not missing:
                return
            labels = torch.tensor(missing, dtype=torch.long).repeat_interleave(self.batch_size)
        raise RuntimeError(
            f"filter: rejected every sample of classes {missing} in {self.max_attempts} refills of {self.batch_size}; "
            "loosen the filter or raise max_attempts"
        )

    def take(self, labels: Sequence[int] | torch.Tensor) -> tuple[torch.Tensor, list[Provenance]]:
        """One synthetic sample per label, in the user's space: ((N, *user_shape), provenances).

        Labels are class indices (or names) of the model's classes.
        """
        if isinstance(labels, torch.Tensor):
            labels = labels.reshape(-1).tolist()
        index = [self.spec.class_index(label) for label in labels]
        self._stream_id()
        needed: dict[int, int] = {}
        for c in index:
            needed[c] = needed.get(c, 0) + 1
        short = [c for c, k in needed.items() if len(self._queues.get(c, ())) < k]
        while short:
            self._refill(short)
            short = [c for c, k in needed.items() if len(self._queues.get(c, ())) < k]
        items = [self._queues[c].popleft() for c in index]
        if not items:
            return torch.zeros((0, *self.spec.user_shape()), dtype=self.spec.torch_dtype), []
        return torch.stack([x for x, _ in items]), [p for _, p in items]

    # ------------------------------------------------------------------ checks
    def check_fits(self, spec: DataSpec, what: str = "data") -> None:
        """Refuse data whose spec the generator does not fit, naming both specs."""
        mine = self.spec
        problems = []
        if (spec.modality, spec.shape) != (mine.modality, mine.shape):
            problems.append(f"{what} holds {spec.modality}s of shape {spec.shape}, the model makes {mine.modality}s of shape {mine.shape}")
        unknown = [name for name in spec.class_names if name not in mine.class_names]
        if unknown:
            problems.append(f"classes {unknown[:5]} of the {what} are unknown to the model (its classes: {list(mine.class_names)})")
        if problems:
            raise ValueError(f"{what}: the generator does not fit: " + "; ".join(problems))

    def __repr__(self) -> str:
        source = str(self._folder) if self._folder is not None else "in-memory model"
        return f"SamplePool({self.family}, {source}, batch_size={self.batch_size}, seed={self.seed})"
