"""`genaug.hf.generate_dataset`: a large synthetic dataset written to disk chunk by chunk.

It writes ``n`` synthetic rows as the folder ``save_to_disk`` would write (Arrow shards,
``state.json``, ``dataset_info.json``), so ``datasets.load_from_disk`` and ``genaug.load_source``
read it. Memory stays flat in ``n``: one chunk and the pool's refills are held at a time.

Under ``torchrun`` / ``accelerate launch`` every process writes a contiguous share of the rows as
shards of its own into one temporary folder; the first process then lists them in row order and
moves the folder into place. Which process writes a row never changes the row: its label comes
from ``(seed, row)`` and its sample from the pool's per-class streams, which each process enters
where its share starts (`SamplePool.seek`).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from genaug.data.spec import DataSpec
from genaug.hf._rows import _PIL_MODES, PROVENANCE_COLUMN, SYNTHETIC_COLUMN, row_uniforms
from genaug.hf._team import Team
from genaug.inject.core import Balancer, Form, to_form
from genaug.inject.pool import Provenances, SamplePool
from genaug.models.base import Generator
from genaug.utils.io import writing
from genaug.utils.seeding import derive_seed

if TYPE_CHECKING:
    import datasets as hf
    import pyarrow as pa

__all__ = ["generate_dataset"]

_DATASET_MARKERS = ("state.json", "dataset_info.json", "dataset_dict.json")
_SHARD_BYTES = 500 * 10**6  # the largest Arrow shard, as save_to_disk's default max_shard_size ("500MB")


def generate_dataset(
    model: Generator | str | os.PathLike,
    n: int,
    path: str | os.PathLike,
    *,
    labels: str | Mapping[int | str, float] | Sequence[int | str] | torch.Tensor | np.ndarray = "prior",
    seed: int = 0,
    chunk_size: int = 10_000,
    batch_size: int = 1024,
    image_column: str | None = None,
    label_column: str = "label",
    provenance: bool = False,
    overwrite: bool = False,
    device: str | torch.device | None = None,
    options: Mapping[str, Any] | None = None,
) -> hf.Dataset:
    """Write ``n`` synthetic rows to ``path`` as a dataset folder, chunk by chunk; return it, loaded.

    The folder is the one ``Dataset.save_to_disk`` writes (``datasets.load_from_disk(path)``,
    ``genaug.load_source(path)`` and ``genaug fit --data path`` read it). Columns:

    - images of an 8-bit model as a ``datasets.Image()`` column (PIL images, PNG-encoded); other
      image models as an ``Array2D``/``Array3D`` column of the data's dtype and layout (digits:
      ``(8, 8)`` float64 on 0..16); vector models as one ``Value`` column per feature (the model's
      ``feature_names``, else ``x0``, ``x1``, ...); sequences as an ``Array2D`` ``(C, T)`` column
      (``series``) of the data's dtype; text models as a ``Value("string")`` column (``text``), one
      generated ``str`` per row;
    - ``label_column``: ``ClassLabel(names=model's classes)``; ``is_synthetic``: True;
      ``provenance`` (optional): each row's `Provenance` as a dict.

    Row ``i``'s label depends on ``seed`` and ``i`` only, and samples come from a `SamplePool`'s
    per-class streams, so the output depends on the model, ``seed``, ``labels``, ``options``, ``batch_size`` and
    the kind of ``device`` (CPU or CUDA draw different numbers), not on ``chunk_size`` nor on the
    number of processes; a smaller ``n`` gives a prefix of a larger one. Memory holds one chunk and
    the pool's refills (two per class) whatever ``n`` is. The folder is written beside ``path`` and
    renamed into place once complete: an error leaves ``path`` as it was, and a failed write (a full
    disk, a read-only folder) raises a `genaug.utils.io.WriteError` naming ``path``.

    Several processes: called by every process of a ``torch.distributed`` group (or under
    ``torchrun`` / ``accelerate launch`` with no group yet: a gloo group is started for the call),
    each process writes ``n / size`` consecutive rows, each on its own ``device``, into the same
    folder (``path`` must be on a file system they all see); every process returns the whole
    dataset. An error on one process raises on all of them and leaves ``path`` as it was.

    Args:
        model: a fitted `Generator` or a model folder.
        n: number of rows, >= 1.
        path: the folder to write; an existing one is replaced only with ``overwrite=True`` (and
            only if it is a dataset folder or empty).
        labels: ``"prior"`` (the training class frequencies), ``"uniform"``, ``{class: weight}``
            (index or name), or one label per row (a sequence of ``n`` indices or names).
        seed: seeds the labels and the pool.
        chunk_size: rows generated, encoded and written at a time.
        batch_size: samples per pool refill (one ``model.sample`` call of one class).
        image_column: the samples' column (not for vectors, whose features are columns of their own);
            default: the modality's first column name (``image`` for images, ``series`` for sequences,
            ``text`` for text).
        label_column: the labels' column.
        provenance: add the ``provenance`` column.
        overwrite: replace an existing dataset folder at ``path``.
        device: where the model samples (default: CPU).
        options: the family's sampling options for every draw (``{"guidance": 3.0}``; `SamplePool`'s ``options``).

    Returns:
        The written dataset, memory-mapped from ``path``.

    Example:
        >>> import genaug, tempfile
        >>> model = genaug.fit("wine", "gmm", steps=5)
        >>> ds = generate_dataset(model, 100, tempfile.mkdtemp() + "/wine", labels="uniform", chunk_size=32)
        >>> len(ds), ds.features["label"].names, ds[0]["is_synthetic"]
        (100, ['class_0', 'class_1', 'class_2'], True)
    """
    import datasets as hf

    for name, value in (("n", n), ("chunk_size", chunk_size)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed: expected an integer, got {type(seed).__name__}")
    n, chunk_size = int(n), int(chunk_size)
    target = _check_target(path, overwrite)
    pool = SamplePool(model, batch_size=batch_size, seed=seed, device=device, options=options)
    pick = _label_picker(labels, pool, n, seed)
    table = _TableLayout(pool.spec, image_column, label_column, provenance)
    folder = None
    with Team.join() as team, writing(target):
        try:
            folder = Path(team.each(lambda: _make_folder(target, overwrite), first_only=True)[0])
            low, high = n * team.rank // team.size, n * (team.rank + 1) // team.size  # this process's rows
            counts = _class_counts(pick, pool.spec.num_classes, (low, high), chunk_size)
            pool.seek(*counts)  # each class's stream from where the rows before `low` left it
            chunks = (
                table.encode(*pool.take(pick(np.arange(start, min(start + chunk_size, high)))))
                for start in range(low, high, chunk_size)
            )
            shards = team.each(lambda: _write_shards(folder, chunks, f"part-{team.rank:05d}-"))
            files = [name for names in shards for name in names]  # in row order: rank 0's rows come first
            description = f"{n} synthetic rows from {pool!r}, seed {seed}"
            fingerprint = _fingerprint(pool, n, seed, labels, table.features)
            team.each(lambda: _finish(folder, target, files, table.features, fingerprint, description), first_only=True)
        finally:
            pool.close()
            if team.rank == 0 and folder is not None and folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
    return hf.load_from_disk(str(target))


def _make_folder(target: Path, overwrite: bool) -> str:
    """A new temporary folder beside ``target``, for the dataset until it is complete.

    What a killed write to ``target`` left beside it goes first (one writer per path: two would clash
    at the final rename anyway): its temporary folders, and the old dataset it had moved aside to
    replace it, put back when ``target`` is missing (the kill fell between the two renames); that
    dataset is then replaced only with ``overwrite``, as if the killed write had never begun.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    for old in target.parent.glob(f".{glob.escape(target.name)}.*.old"):
        if not target.exists() and (old / "dataset").is_dir():
            os.replace(old / "dataset", target)
            if not overwrite:
                shutil.rmtree(old, ignore_errors=True)
                raise FileExistsError(
                    f"path: {str(target)!r} exists (put back from an overwrite that was interrupted); "
                    "pass overwrite=True to replace it"
                )
        shutil.rmtree(old, ignore_errors=True)
    for stale in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)


def _class_counts(
    pick: Callable[[np.ndarray], torch.Tensor], classes: int, bounds: tuple[int, int], chunk_size: int
) -> list[list[int]]:
    """Per bound ``b`` (ascending), the rows of each class among rows ``0 .. b - 1``, counted a chunk at a time."""
    counts, out, begin = np.zeros(classes, dtype=np.int64), [], 0
    for bound in bounds:
        for start in range(begin, bound, chunk_size):
            counts += np.bincount(pick(np.arange(start, min(start + chunk_size, bound))).numpy(), minlength=classes)
        out.append(counts.tolist())
        begin = bound
    return out


def _check_target(path: str | os.PathLike, overwrite: bool) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path: expected a folder path, got {type(path).__name__}")
    target = Path(path).expanduser().absolute()
    if target.exists() and not target.is_dir():
        raise ValueError(f"path: {str(target)!r} is a file; expected a folder to write the dataset into")
    if target.is_dir():
        if not overwrite:
            raise FileExistsError(f"path: {str(target)!r} exists; pass overwrite=True to replace it")
        if any(target.iterdir()) and not any((target / marker).is_file() for marker in _DATASET_MARKERS):
            raise ValueError(
                f"path: {str(target)!r} is not a dataset folder (no {' / '.join(_DATASET_MARKERS)}); "
                "refusing to replace it"
            )
    return target


def _label_picker(labels: Any, pool: SamplePool, n: int, seed: int) -> Callable[[np.ndarray], torch.Tensor]:
    """rows -> their class indices: from per-row draws (weights), or looked up (one label per row)."""
    spec = pool.spec
    if isinstance(labels, str | Mapping):
        if labels == "prior":
            labels = dict(enumerate(spec.class_counts or [1] * spec.num_classes))
        if labels != "uniform" and not isinstance(labels, Mapping):
            raise ValueError(
                f"labels: expected 'prior', 'uniform', a {{class: weight}} mapping or {n} labels, got {labels!r}"
            )
        try:
            weights = Balancer(labels, spec, 1.0)  # ratio 1: draws follow the target as it is
        except ValueError as err:
            message = str(err)
            raise ValueError("labels: " + message.removeprefix("balance: ").removeprefix("labels: ")) from None
        key = derive_seed(seed, "generate", "labels")
        return lambda rows: weights.pick(torch.from_numpy(row_uniforms(key, rows)))
    if isinstance(labels, Sequence | np.ndarray | torch.Tensor):
        fixed = pool.model.resolve_labels(n, labels).cpu()
        return lambda rows: fixed[torch.from_numpy(rows)]
    raise TypeError(
        f"labels: expected 'prior', 'uniform', a {{class: weight}} mapping or a sequence of {n} labels, "
        f"got {type(labels).__name__}"
    )


class _TableLayout:
    """The columns of a generated dataset, and one chunk of samples as an Arrow table."""

    def __init__(self, spec: DataSpec, image_column: str | None, label_column: str, provenance: bool) -> None:
        import datasets as hf

        image_column = spec.kind.column_names[0] if image_column is None else image_column
        for name, value in (("image_column", image_column), ("label_column", label_column)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name}: expected a column name, got {value!r}")
        self.spec, self.label_column, self.provenance = spec, label_column, provenance
        self.pil: Form | None = None
        if spec.kind.feature_columns:
            self.sample_columns = list(spec.feature_names or [f"x{d}" for d in range(spec.shape[0])])
            sample_features = {name: hf.Value(spec.dtype) for name in self.sample_columns}
        else:
            self.sample_columns = [image_column]
            if spec.kind.string_samples:
                sample_features = {image_column: hf.Value("string")}
            elif _is_8bit(spec):
                from PIL import Image

                c, h, w = spec.shape
                self.pil = Form.of(Image.new(_PIL_MODES[c], (w, h)), spec)
                sample_features = {image_column: hf.Image()}
            else:
                shape = spec.user_shape()
                if len(shape) == 1:
                    sample_features = {image_column: hf.List(hf.Value(spec.dtype), length=shape[0])}
                else:
                    array = {2: hf.Array2D, 3: hf.Array3D, 4: hf.Array4D, 5: hf.Array5D}[len(shape)]
                    sample_features = {image_column: array(shape=shape, dtype=spec.dtype)}
        names = [*self.sample_columns, label_column, SYNTHETIC_COLUMN] + ([PROVENANCE_COLUMN] if provenance else [])
        clashes = sorted({name for name in names if names.count(name) > 1})
        if clashes:
            raise ValueError(f"image_column / label_column: column names {clashes} are used twice among {names}")
        self.features = hf.Features(
            {
                **sample_features,
                label_column: hf.ClassLabel(names=list(spec.class_names)),
                SYNTHETIC_COLUMN: hf.Value("bool"),
                **({PROVENANCE_COLUMN: _provenance_feature()} if provenance else {}),
            }
        )

    def encode(self, x: torch.Tensor | list[str], info: Provenances) -> pa.Table:
        """One chunk (user-space samples and their provenance) as an Arrow table of ``features``."""
        import datasets as hf

        columns: dict[str, Any] = {}
        if self.spec.kind.string_samples:
            columns[self.sample_columns[0]] = list(x)
        elif self.pil is not None:
            columns[self.sample_columns[0]] = [to_form(sample, self.pil) for sample in x]
        elif self.spec.kind.feature_columns:
            columns.update({name: x[:, d].numpy() for d, name in enumerate(self.sample_columns)})
        else:
            columns[self.sample_columns[0]] = x.numpy()
        columns[self.label_column] = info.labels.numpy()
        columns[SYNTHETIC_COLUMN] = np.ones(len(x), dtype=bool)
        if self.provenance:
            columns[PROVENANCE_COLUMN] = [p.to_dict() for p in info]
        return hf.Dataset.from_dict(columns, features=self.features).with_format("arrow")[:]


def _is_8bit(spec: DataSpec) -> bool:
    return (
        spec.dtype == "uint8"
        and spec.scaling == "grid"
        and spec.levels == 256
        and tuple(spec.value_range) == (0.0, 255.0)
        and spec.shape[0] in _PIL_MODES
    )


def _provenance_feature() -> dict[str, Any]:
    import datasets as hf

    return {
        "family": hf.Value("string"),
        "fingerprint": hf.Value("string"),
        "seed": hf.Value("int64"),
        "label": hf.Value("int64"),
        "index": hf.Value("int64"),
    }


def _write_shards(folder: Path, chunks: Iterator[pa.Table], prefix: str) -> list[str]:
    """Stream the chunks into Arrow IPC stream files (datasets' format) of about 500 MB at most.

    Files are named ``prefix`` and a count (`_finish` gives them ``save_to_disk``'s names); their row
    count is set from the first chunk's bytes per row.
    """
    import pyarrow as pa

    files: list[str] = []
    writer, rows_per_shard, rows_in_shard = None, 0, 0
    try:
        for table in chunks:
            if not rows_per_shard:
                rows_per_shard = max(1, int(_SHARD_BYTES // max(1.0, table.nbytes / max(1, len(table)))))
            while len(table):
                if writer is None:
                    files.append(f"{prefix}{len(files):05d}.arrow")
                    writer, rows_in_shard = pa.ipc.new_stream(str(folder / files[-1]), table.schema), 0
                take = min(len(table), rows_per_shard - rows_in_shard)
                writer.write_table(table.slice(0, take))
                table, rows_in_shard = table.slice(take), rows_in_shard + take
                if rows_in_shard == rows_per_shard:
                    writer.close()
                    writer = None
    finally:
        if writer is not None:
            writer.close()
    return files


def _finish(folder: Path, target: Path, files: list[str], features: hf.Features, fingerprint: str, description: str) -> None:
    """Name the shards (in row order) as ``save_to_disk`` does, write the metadata, move ``folder`` to ``target``."""
    names = [f"data-{i:05d}-of-{len(files):05d}.arrow" for i in range(len(files))]
    for old, new in zip(files, names):
        os.replace(folder / old, folder / new)
    _write_metadata(folder, features, names, fingerprint, description)
    _move_into_place(folder, target)


def _fingerprint(pool: SamplePool, n: int, seed: int, labels: Any, features: hf.Features) -> str:
    """What the dataset is made of, hashed (its ``_fingerprint`` in ``state.json``)."""
    digest = hashlib.blake2b(digest_size=8)
    described = {
        "model": pool.fingerprint,
        "n": n,
        "seed": seed,
        "batch_size": pool.batch_size,
        "features": features.to_dict(),
    }
    if isinstance(labels, str | Mapping):
        described["labels"] = labels if isinstance(labels, str) else {str(k): float(v) for k, v in labels.items()}
    digest.update(json.dumps(described, sort_keys=True).encode())
    if not isinstance(labels, str | Mapping):
        digest.update(np.asarray(labels).astype(str).tobytes())
    return digest.hexdigest()


def _write_metadata(folder: Path, features: hf.Features, files: list[str], fingerprint: str, description: str) -> None:
    """``dataset_info.json`` and ``state.json``, as ``save_to_disk`` writes them (``load_from_disk`` needs both)."""
    import datasets as hf

    hf.DatasetInfo(description=description, features=features).write_to_directory(str(folder))
    state = {
        "_data_files": [{"filename": name} for name in files],
        "_fingerprint": fingerprint,
        "_format_columns": None,
        "_format_kwargs": {},
        "_format_type": None,
        "_output_all_columns": False,
        "_split": None,
    }
    (folder / hf.config.DATASET_STATE_JSON_FILENAME).write_text(
        json.dumps(state, indent=2, sort_keys=True), encoding="utf-8"
    )
    for file in folder.iterdir():  # on disk before the rename makes the folder visible
        with open(file, "rb+") as handle:
            os.fsync(handle.fileno())


def _move_into_place(folder: Path, target: Path) -> None:
    """Rename the complete ``folder`` to ``target``; an old ``target`` is removed only afterwards."""
    if not target.exists():
        os.replace(folder, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    try:
        os.replace(target, old / "dataset")
        try:
            os.replace(folder, target)
        except BaseException:
            os.replace(old / "dataset", target)  # the old dataset back where it was
            raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
