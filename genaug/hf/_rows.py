"""Hugging Face ``datasets``: synthetic rows inside ``map``, and synthetic datasets written to disk.

`SyntheticRows` is a callable for ``Dataset.map(rows, batched=True)`` and
``IterableDataset.map(rows, batched=True)``: it appends synthetic rows to every batch (``mode="append"``)
or swaps a share of the rows for synthetic ones (``mode="swap"``), and marks every row with a boolean
``is_synthetic`` column. Samples may live in an image column (PIL images, as ``datasets.Image``
decodes them), an array column (nested lists, numpy arrays or tensors, as the dataset's format
gives them), in numeric columns, one scalar per feature (tables), or, for text models, in a string
column (``Value("string")``: one ``str`` per row, by default the first of ``text``, ``name``,
``sentence``). Synthetic samples come from a `SamplePool` and take the form of the real ones
(`Form`, `to_form`; a text model's samples are ``str``).

Randomness is per row: which rows are swapped, how many synthetic rows follow a real row and the
labels that balancing draws come from a counter-based hash of ``(seed, row id)``. With
``with_indices=True`` the row id is the dataset index, so these choices do not depend on the batch
size, on ``num_proc`` or on the order batches run in; without indices the row id is the running
count of rows the callable has seen in its process. The synthetic samples themselves follow the
pool's per-class streams: the same seeds, batch size and ``num_proc`` give the same dataset.

`generate_dataset` (`genaug.hf`) writes large synthetic datasets to disk.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from genaug.data.spec import DataSpec
from genaug.inject.columns import check_columns, is_number, resolve_columns, sample_form
from genaug.inject.core import Balancer, Form, check_value_range, label_like, to_form
from genaug.inject.pool import Provenances, SamplePool
from genaug.models.base import Generator
from genaug.utils.seeding import derive_seed

if TYPE_CHECKING:
    import datasets as hf

__all__ = ["PROVENANCE_COLUMN", "SYNTHETIC_COLUMN", "SyntheticRows", "row_uniforms"]

SYNTHETIC_COLUMN = "is_synthetic"
PROVENANCE_COLUMN = "provenance"
_PIL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def row_uniforms(key: int, rows: np.ndarray) -> np.ndarray:
    """One uniform draw in [0, 1) per row id: SplitMix64 of ``key + row * golden ratio``.

    A row's draw depends on ``key`` and its id only, never on how the rows were batched.

    Example:
        >>> u = row_uniforms(7, np.arange(5))
        >>> bool((u == row_uniforms(7, np.arange(10))[:5]).all()), bool(((u >= 0) & (u < 1)).all())
        (True, True)
    """
    z = np.asarray(rows, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(key)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _scalar_like(value: float, like: Any) -> Any:
    """``value`` in the type of the table cell ``like`` (ints are rounded)."""
    if isinstance(like, torch.Tensor):
        return torch.tensor(round(value) if not like.dtype.is_floating_point else value, dtype=like.dtype)
    if isinstance(like, int | np.integer) and not isinstance(like, bool | np.bool_):
        return label_like(round(value), like)
    if isinstance(like, np.floating):
        return type(like)(value)
    return float(value)


@dataclass(frozen=True)
class _Batch:
    """What one batch holds: its size, class indices (model's) and the form of its samples."""

    n: int
    labels: np.ndarray  # (n,) model class indices
    form: Form | None  # sample column: the form of its first value (None: numeric columns or no rows)
    as_list: bool  # sample column: values are nested lists


# ---------------------------------------------------------------------------------------- map
class SyntheticRows:
    """A ``map(batched=True)`` function that adds synthetic rows to, or swaps them into, each batch.

    Every output row gets ``is_synthetic`` (False for real rows). Synthetic rows carry a sample in the
    sample column(s) and a label; their other columns are None (Arrow columns are nullable, whatever
    their feature type). In ``"swap"`` mode the other columns of a swapped row are set to None too:
    they described the real sample that is gone.

    Args:
        source: a `SamplePool`, a fitted `Generator` or a model folder (a pool with ``seed`` is made).
        mode: ``"append"``: about ``ratio`` synthetic rows per real row, after the batch's real rows
            (each real row is followed by ``floor(ratio + u)`` synthetic rows, u uniform);
            ``"swap"``: each row is replaced with probability ``ratio``.
        ratio: synthetic rows per real row (append, >= 0) or share of rows swapped (swap, in [0, 1]).
        balance: None: a synthetic row takes the label of the real row it follows or replaces (the
            batch's class distribution); ``"uniform"`` or ``{class: weight}`` (index or name): labels
            drawn with `Balancer` so that the output approaches that distribution. With a
            ``datasets.Dataset`` as ``data`` the real distribution is read from it once (the draws
            then do not depend on the batch order); otherwise it is counted batch after batch.
        columns: where the samples are: one column name (images, arrays or strings, one sample per
            cell), or one numeric column per feature of a vector model, in the model's order. Default:
            an ``image``/``img``/``pixel_values`` column for image models, a ``series``/``sequence``/
            ``values``/``x`` column for sequence models, a ``text``/``name``/``sentence`` column (of
            strings) for text models, the model's ``feature_names`` for vector models. A string column
            with a non-text model, or another column with a text model, is refused naming both.
        label_column: the column of class indices (``ClassLabel`` ints).
        data: the ``datasets.Dataset`` / ``IterableDataset`` (or its ``Features``) to be mapped:
            its columns, ``ClassLabel`` names and sample shapes are checked now. Class names are
            matched to the model's by name, so the orders may differ. Without it, labels are the
            model's class indices and the checks run on the first batch.
        value_range: where the model's range goes in the data (see `Form`); default: library
            conventions (PIL 0..255, floats of an 8-bit model in [0, 1]). Not for text models.
        provenance: add a ``provenance`` column: the `Provenance` of each synthetic row (a dict:
            family, fingerprint, seed, label, index), None for real rows.
        seed: seeds the per-row choices (and the pool made from a model).

    Dataset.map may run the function in several processes (``num_proc``). Pass
    ``with_indices=True`` (or ``with_rank=True``) then: each process draws its own pool stream,
    keyed by its rank or its first index; without either, the processes could not tell themselves
    apart and would draw the same samples, so the call is refused. DataLoader workers iterating an
    ``IterableDataset`` need nothing: the pool gives each worker its own stream.

    Example:
        >>> import datasets, genaug
        >>> digits = genaug.load_source("digits")
        >>> table = datasets.Dataset.from_dict({"image": digits.user_x()[:8].tolist(), "label": digits.y[:8].tolist()})
        >>> rows = SyntheticRows(genaug.fit(digits, "gmm", steps=5), ratio=0.5, seed=0)
        >>> out = table.map(rows, batched=True, with_indices=True, batch_size=4)
        >>> out.features["is_synthetic"], sum(out["is_synthetic"]) == len(out) - len(table)
        (Value('bool'), True)
    """

    def __init__(
        self,
        source: SamplePool | Generator | str | os.PathLike,
        *,
        mode: Literal["append", "swap"] = "append",
        ratio: float = 0.5,
        balance: None | str | Mapping[int | str, float] = None,
        columns: str | Sequence[str] | None = None,
        label_column: str = "label",
        data: Any = None,
        value_range: tuple[float, float] | None = None,
        provenance: bool = False,
        seed: int = 0,
    ) -> None:
        if mode not in ("append", "swap"):
            raise ValueError(f"mode: expected 'append' or 'swap', got {mode!r}")
        top = 1.0 if mode == "swap" else math.inf
        if (
            isinstance(ratio, bool)
            or not isinstance(ratio, int | float)
            or not 0.0 <= ratio <= top
            or math.isinf(ratio)
        ):
            expected = (
                "a share of rows in [0, 1]" if mode == "swap" else "a finite number of synthetic rows per real row >= 0"
            )
            raise ValueError(f"ratio: expected {expected} for mode={mode!r}, got {ratio!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed: expected an integer, got {type(seed).__name__}")
        if not isinstance(label_column, str):
            raise TypeError(f"label_column: expected a column name, got {type(label_column).__name__}")
        self.pool = source if isinstance(source, SamplePool) else SamplePool(source, seed=seed)
        self.spec: DataSpec = self.pool.spec
        self.mode, self.ratio, self.seed, self.label_column = mode, float(ratio), seed, label_column
        self.columns = check_columns(columns, self.spec)
        self.value_range = check_value_range(value_range, self.spec)
        self.provenance = bool(provenance)
        self._to_model: np.ndarray | None = None  # data class index -> model class index
        self._to_data: np.ndarray | None = None  # model class index -> data class index (-1: not in the data)
        self._names: tuple[str, ...] | None = None
        self._rows_seen = 0
        self._home = os.getpid()
        self._local: SamplePool | None = None  # this process's pool, in a map worker process
        known_labels = self._check_data(data) if data is not None else None
        self.balancer: Balancer | None = None
        self._observe = known_labels is None  # count real labels batch by batch
        if balance is not None:
            share = self.ratio if mode == "swap" else self.ratio / (1.0 + self.ratio)
            self.balancer = Balancer(self._balance_target(balance), self.spec, share)
            if known_labels is not None:
                self.balancer.observe(torch.from_numpy(known_labels))

    # ------------------------------------------------------------------ checks
    def _check_data(self, data: Any) -> np.ndarray | None:
        """Check ``data`` now (columns, sample shape, class names); return its labels when it is a Dataset."""
        import datasets as hf

        if isinstance(data, hf.Features):
            features = data
        elif isinstance(data, hf.Dataset | hf.IterableDataset):
            features = data.features
        else:
            raise TypeError(
                f"data: expected a datasets.Dataset, IterableDataset or Features, got {type(data).__name__}"
            )
        if features is None:  # an IterableDataset of unknown features: the first batch is checked
            return None
        first = data[:1] if isinstance(data, hf.Dataset) and len(data) else None  # the first row, as map hands it over
        self._check_features(features, first)
        if first is None:
            return None
        return self._model_labels(np.asarray(data.with_format("numpy")[self.label_column]))

    def _check_features(self, features: hf.Features, first: Mapping[str, list] | None) -> None:
        """Columns, then sample shape (first row, or an ArrayND feature's shape), then class names."""
        import datasets as hf

        available = list(features)
        if self.label_column not in features:
            raise ValueError(f"label_column: no column {self.label_column!r}; the data has columns {available}")
        columns = self._resolve_columns(available)
        if isinstance(columns, str):
            feature = features[columns]
            strings = isinstance(feature, hf.Value) and feature.dtype in ("string", "large_string")
            if first is not None:
                self._cell_form(first[columns][0], columns)
            elif isinstance(feature, hf.Array2D | hf.Array3D | hf.Array4D | hf.Array5D):
                self._cell_form(np.zeros(feature.shape, dtype=feature.dtype), columns)
            elif strings or self.spec.kind.string_samples:
                if not strings:
                    raise ValueError(
                        f"columns: the generator does not fit: column {columns!r} holds {feature}, the model makes text "
                        "(one str per row: a Value('string') column)"
                    )
                self._cell_form("", columns)  # refuses a model that does not make strings, naming both
        else:
            numeric = [isinstance(features[c], hf.Value) and np.dtype(features[c].dtype).kind in "iuf" for c in columns]
            other = [c for c, ok in zip(columns, numeric) if not ok]
            if other:
                raise ValueError(
                    f"columns: {other} are not numeric columns ({[str(features[c]) for c in other]}); "
                    "one number per feature is expected"
                )
        if isinstance(features[self.label_column], hf.ClassLabel):
            self._set_class_names(features[self.label_column].names)

    def _cell_form(self, value: Any, column: str) -> tuple[Form, bool]:
        """The form of one sample cell (nested lists read as an array; a ``str`` as text), and whether it is nested lists."""
        if value is None:
            raise ValueError(f"columns: a cell of column {column!r} is empty (None); expected a sample")
        as_list = isinstance(value, list | tuple)
        array = np.asarray(value) if as_list else value
        return sample_form(array, self.spec, self.value_range, f"columns: column {column!r}"), as_list

    def _set_class_names(self, names: Sequence[str]) -> None:
        unknown = [name for name in names if name not in self.spec.class_names]
        if unknown:
            raise ValueError(
                f"data: the generator does not fit: classes {unknown[:5]} of the data's {self.label_column!r} "
                f"column are unknown to the model (the data's classes: {list(names)}; "
                f"the model's: {list(self.spec.class_names)})"
            )
        self._names = tuple(names)
        self._to_model = np.array([self.spec.class_names.index(name) for name in names], dtype=np.int64)
        self._to_data = np.full(self.spec.num_classes, -1, dtype=np.int64)
        self._to_data[self._to_model] = np.arange(len(names))

    def _balance_target(self, balance: str | Mapping[int | str, float]) -> str | Mapping[int | str, float]:
        """The balance target in model classes: with the data's class names, only those classes."""
        if self._names is None:
            return balance
        if balance == "uniform":
            return {name: 1.0 for name in self._names}
        if isinstance(balance, Mapping):
            target = {}
            for label, weight in balance.items():
                name = self._names[label] if is_number(label) and 0 <= int(label) < len(self._names) else label
                if name not in self._names:
                    raise ValueError(f"balance: unknown class {label!r}; the data's classes are {list(self._names)}")
                target[name] = weight
            return target
        return balance  # Balancer names what is wrong with it

    def _resolve_columns(self, available: Sequence[str]) -> str | tuple[str, ...]:
        return resolve_columns(self.columns, self.spec, available, "columns")

    def _model_labels(self, values: Any) -> np.ndarray:
        """The label column as model class indices; ValueError for missing or unknown labels."""
        if isinstance(values, torch.Tensor):
            values = values.cpu().numpy()
        elif not isinstance(values, np.ndarray):
            values = list(values)
            if any(v is None for v in values):
                raise ValueError(
                    f"{self.label_column}: row {values.index(None)} has no label (None); every row needs a class index"
                )
            values = np.asarray([v.item() if isinstance(v, torch.Tensor) else v for v in values])
        if values.ndim != 1 or (len(values) and values.dtype.kind not in "iu"):
            raise ValueError(
                f"{self.label_column}: expected one integer class index per row, "
                f"got {values.dtype} values of shape {values.shape}"
            )
        known = len(self._names) if self._names is not None else self.spec.num_classes
        if len(values) and (values.min() < 0 or values.max() >= known):
            owner = (
                f"the data's classes {list(self._names)}"
                if self._names is not None
                else f"the model's classes {list(self.spec.class_names)}"
            )
            raise ValueError(
                f"{self.label_column}: labels span {values.min()}..{values.max()} (-1: a missing ClassLabel), "
                f"expected 0..{known - 1} for {owner}"
            )
        values = values.astype(np.int64)
        return self._to_model[values] if self._to_model is not None else values

    def _prepare(self, batch: Mapping[str, Any]) -> _Batch:
        """Check a batch (columns, sample shape, labels) and describe it."""
        if not isinstance(batch, Mapping):
            raise TypeError(
                f"batch: expected the dict of columns that map(batched=True) passes, got {type(batch).__name__}; "
                "call map without input_columns"
            )
        if self.label_column not in batch:
            raise ValueError(
                f"label_column: no column {self.label_column!r} in the batch; it has columns {list(batch)}"
            )
        columns = self.columns = self._resolve_columns(list(batch))
        n = len(batch[self.label_column])
        form, as_list = None, False
        if n and isinstance(columns, str):
            form, as_list = self._cell_form(batch[columns][0], columns)
        elif n:
            bad = [c for c in columns if not is_number(batch[c][0])]
            if bad:
                raise ValueError(
                    f"columns: {bad} do not hold one number per row "
                    f"(row 0: {[type(batch[c][0]).__name__ for c in bad]})"
                )
        return _Batch(n, self._model_labels(batch[self.label_column]), form, as_list)

    # ------------------------------------------------------------------ one batch
    def __call__(
        self, batch: Mapping[str, Any], indices: Sequence[int] | int | None = None, rank: int | None = None
    ) -> dict[str, list]:
        """The batch with synthetic rows appended or swapped in (``map(..., batched=True)``)."""
        if isinstance(indices, int):  # with_rank=True without with_indices passes the rank second
            indices, rank = None, indices
        prepared = self._prepare(batch)
        ids = self._row_ids(indices, prepared.n)
        u = row_uniforms(self._key("rows"), ids)
        if self.mode == "append":
            counts = np.floor(self.ratio + u).astype(np.int64)
            source = np.repeat(np.arange(prepared.n), counts)  # the real row each synthetic row follows
            slot = np.arange(len(source)) - np.repeat(np.cumsum(counts) - counts, counts)
        else:
            source = np.flatnonzero(u < self.ratio)
            slot = np.zeros(len(source), dtype=np.int64)
        labels = self._synthetic_labels(prepared.labels, ids, source, slot)
        x, info = self._process_pool(indices, rank).take(torch.from_numpy(labels))
        return self._assemble(batch, prepared, source, labels, x, info)

    def _row_ids(self, indices: Sequence[int] | None, n: int) -> np.ndarray:
        if indices is not None:
            ids = np.asarray(indices, dtype=np.int64).reshape(-1)
            if len(ids) != n:
                raise ValueError(f"indices: expected {n} indices (one per row of the batch), got {len(ids)}")
        else:
            ids = self._rows_seen + np.arange(n, dtype=np.int64)
        self._rows_seen += n
        return ids

    def _key(self, purpose: str, *parts: Any) -> int:
        """Seed of a family of row draws; DataLoader workers (distinct ``seed`` each) get their own."""
        worker = torch.utils.data.get_worker_info()
        return derive_seed(self.seed, "rows", purpose, "main" if worker is None else worker.seed, *parts)

    def _synthetic_labels(self, real: np.ndarray, ids: np.ndarray, source: np.ndarray, slot: np.ndarray) -> np.ndarray:
        if self.balancer is None:
            return real[source]
        if self._observe:
            self.balancer.observe(torch.from_numpy(real))
        u = np.empty(len(source))
        for s in np.unique(slot):  # the k-th synthetic row of a real row has its own draw
            here = slot == s
            u[here] = row_uniforms(self._key("label", int(s)), ids[source[here]])
        return self.balancer.pick(torch.from_numpy(u)).numpy()

    def _process_pool(self, indices: Sequence[int] | None, rank: int | None) -> SamplePool:
        """The pool, or in a ``Dataset.map`` worker process a copy with its own stream."""
        if os.getpid() == self._home or torch.utils.data.get_worker_info() is not None:
            return self.pool
        if self._local is None:
            key = rank if rank is not None else (int(indices[0]) if indices is not None and len(indices) else None)
            if key is None:
                raise RuntimeError(
                    "SyntheticRows: called in another process (map with num_proc?) without indices or rank: "
                    "every process would draw the same synthetic samples; "
                    "pass with_indices=True (or with_rank=True) to map"
                )
            pool = self.pool
            self._local = SamplePool(
                pool.folder if pool.folder is not None else pool.model,
                batch_size=pool.batch_size,
                seed=derive_seed(pool.seed, "map-process", key),
                reuse=pool.reuse,
                prefetch=pool.prefetch,
                filter=pool.filter,
                device=pool.handle.device,
                max_attempts=pool.max_attempts,
            )
        return self._local

    def _assemble(
        self,
        batch: Mapping[str, Any],
        prepared: _Batch,
        source: np.ndarray,
        labels: np.ndarray,
        x: torch.Tensor | list[str],
        info: Provenances,
    ) -> dict[str, list]:
        """The output columns: the batch's, with the synthetic rows placed and flagged."""
        n, m = prepared.n, len(source)
        append = self.mode == "append"
        at = list(range(n, n + m)) if append else source.tolist()  # output positions of the synthetic rows
        out = {name: list(values) + [None] * m if append else list(values) for name, values in batch.items()}
        out.setdefault(SYNTHETIC_COLUMN, [False] * len(out[self.label_column]))
        if self.provenance:
            out.setdefault(PROVENANCE_COLUMN, [None] * len(out[self.label_column]))
        if not append:  # the swapped rows' other cells described the real samples
            kept = {self.label_column, SYNTHETIC_COLUMN, PROVENANCE_COLUMN}
            for name in out.keys() - kept:
                for p in at:
                    out[name][p] = None
        for column, cells in self._cells(x, prepared, source, batch).items():
            for p, cell in zip(at, cells):
                out[column][p] = cell
        like = batch[self.label_column][0] if n else 0
        data_labels = self._to_data[labels] if self._to_data is not None else labels
        for j, p in enumerate(at):
            out[self.label_column][p] = label_like(int(data_labels[j]), like)
            out[SYNTHETIC_COLUMN][p] = True
            if self.provenance:
                out[PROVENANCE_COLUMN][p] = info[j].to_dict()
        out[SYNTHETIC_COLUMN] = [bool(flag) for flag in out[SYNTHETIC_COLUMN]]
        return out

    def _cells(
        self, x: torch.Tensor | list[str], prepared: _Batch, source: np.ndarray, batch: Mapping[str, Any]
    ) -> dict[str, list]:
        """Synthetic samples (user space) as table cells shaped like the real cells they follow or replace (text: ``str``)."""
        if not len(source):
            return {}
        if prepared.form is not None:
            column = batch[self.columns]
            cells = [to_form(sample, prepared.form, like=column[i]) for sample, i in zip(x, source.tolist())]
            return {self.columns: [cell.tolist() for cell in cells] if prepared.as_list else cells}
        flat = x.reshape(len(x), -1).to(torch.float64).numpy()
        return {
            name: [_scalar_like(float(v), batch[name][i]) for v, i in zip(flat[:, d], source.tolist())]
            for d, name in enumerate(self.columns)
        }

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_local"] = None  # each worker process makes its own
        return state

    def __repr__(self) -> str:
        return f"SyntheticRows({self.pool!r}, mode={self.mode!r}, ratio={self.ratio}, seed={self.seed})"
