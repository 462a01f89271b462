"""Hugging Face ``datasets``: an image-to-image model over an image column, inside ``Dataset.map(batched=True)``.

`ImageToImageMap` runs a super-resolution, colorization or translation model on the images of a
column, one ``model.apply`` per batch and image size, and writes the outputs back to that column or
to a new one. The cells keep their form: PIL images (what ``datasets.Image`` decodes to) stay PIL
images; numpy arrays ``(H, W, C)`` or ``(H, W)`` and tensors (``with_format("torch")``: ``(C, H, W)``
for an Image column, ``(H, W, C)`` for an array column, told apart by where the 1 or 3 channels are)
keep their type, layout and dtype; nested lists (the default format of array columns) come back as
numpy arrays, which Arrow stores as lists again. Integer values must be 8-bit (0..255, whatever
their dtype: the numpy and torch formats give int64); floats are taken in [0, 1].

Which rows are transformed (the transform's ``p``) and the seeds of a generative model's draws come
from a counter-based hash of ``(seed, row id)`` (`row_uniforms`): with ``with_indices=True`` the row id
is the dataset index, so the result does not depend on the batch size, on ``num_proc`` or on the
order batches run in; without indices it is the running count of rows seen in the process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from genaug.hf._rows import row_uniforms
from genaug.transforms._image2image import ImageToImageTransform, ModelLike, _check_batch_size, as_image_to_image
from genaug.utils.seeding import derive_seed

__all__ = ["ImageToImageMap"]


def _as_uint8(array: np.ndarray, row: int, column: str) -> np.ndarray:
    """Integers (what array columns give: int64 in the numpy and torch formats) as 8-bit values."""
    if array.size and (array.min() < 0 or array.max() > 255):
        raise ValueError(
            f"column: row {row} of column {column!r} holds integers {array.min()}..{array.max()}; "
            "expected 8-bit values 0..255 (or floats in [0, 1])"
        )
    return array.astype(np.uint8)


def _cell(value: Any, row: int, column: str) -> tuple[Any, Callable[[Any], Any]]:
    """A column cell as an image leaf, and the function that gives an output leaf the cell's form."""
    keep = lambda leaf: leaf
    if value is None:
        raise ValueError(f"column: row {row} of column {column!r} holds no image (None)")
    if isinstance(value, list | tuple):  # nested lists: written back as arrays, which Arrow stores as lists
        array = np.asarray(value)
        if array.dtype.kind in "iu":
            return _as_uint8(array, row, column), keep
        if array.dtype.kind != "f":
            raise ValueError(
                f"column: row {row} of column {column!r} holds nested lists of {array.dtype}; expected numbers"
            )
        return array.astype(np.float32), keep
    if isinstance(value, np.ndarray) and value.dtype.kind in "iu" and value.dtype != np.uint8:
        return _as_uint8(value, row, column), lambda leaf: leaf.astype(value.dtype)
    if isinstance(value, torch.Tensor):
        leaf, restore = value, keep
        if value.ndim == 3 and value.shape[0] not in (1, 3) and value.shape[-1] in (1, 3):  # an array column: (H, W, C)
            leaf, restore = value.permute(2, 0, 1), lambda out: out.permute(1, 2, 0)
        if not value.dtype.is_floating_point and value.dtype != torch.uint8:
            leaf = torch.from_numpy(_as_uint8(leaf.numpy(), row, column))
            return leaf, lambda out, back=restore: back(out).to(value.dtype)
        return leaf, restore
    return value, keep


class ImageToImageMap:
    """A ``map(batched=True)`` function that runs an image-to-image model on an image column.

    Args:
        model_or_transform: a `genaug.transforms.SuperResolve`, `Colorize` or `Translate` (its ``p``,
            ``to``, value range and options are used), or an image-to-image model or its folder (its
            task's transform with ``p=1``).
        column: the image column.
        output_column: where the outputs go; None: back into ``column``. A new column gets the input
            image in the rows left untransformed.
        seed: seeds which rows are transformed and a generative model's draws.
        batch_size: images per forward pass inside ``model.apply`` (None: its default).

    ``Dataset.map`` may run the function in several processes (``num_proc``): pass ``with_indices=True``
    then, or the processes could not tell their rows apart (refused).

    Example:
        >>> import datasets, genaug, numpy as np
        >>> from genaug.data.images import image_patches, read_images
        >>> from genaug.data.pairs import make_pairs
        >>> pairs = make_pairs(image_patches(read_images("photos:china"), size=16, count=32), "superres", scale=2)
        >>> model = genaug.fit(pairs, "rescnn", steps=5, channels=8, blocks=1, train={"progress": False})
        >>> table = datasets.Dataset.from_dict({"image": [np.zeros((6, 8, 3), np.uint8)] * 3, "label": [0, 1, 0]})
        >>> out = table.map(ImageToImageMap(model, output_column="large"), batched=True, with_indices=True)
        >>> out.column_names, np.asarray(out[0]["large"]).shape
        (['image', 'label', 'large'], (12, 16, 3))
    """

    def __init__(
        self,
        model_or_transform: ImageToImageTransform | ModelLike,
        *,
        column: str = "image",
        output_column: str | None = None,
        seed: int = 0,
        batch_size: int | None = None,
    ) -> None:
        if not isinstance(column, str) or not column:
            raise TypeError(f"column: expected a column name, got {column!r}")
        if output_column is not None and (not isinstance(output_column, str) or not output_column):
            raise TypeError(f"output_column: expected a column name or None, got {output_column!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed: expected an integer, got {seed!r}")
        self.transform = as_image_to_image(model_or_transform)
        self.column, self.output_column, self.seed = column, output_column, seed
        self.batch_size = _check_batch_size(batch_size)
        self._rows_seen = 0
        self._home = os.getpid()

    def __call__(self, batch: Mapping[str, Any], indices: Sequence[int] | None = None) -> dict[str, list]:
        """The batch's outputs: ``{output column: cells}`` (``map`` keeps the other columns)."""
        if not isinstance(batch, Mapping):
            raise TypeError(
                f"batch: expected the dict of columns that map(batched=True) passes, got {type(batch).__name__}; "
                "call map with batched=True and without input_columns"
            )
        if self.column not in batch:
            raise ValueError(f"column: no column {self.column!r} in the batch; it has columns {list(batch)}")
        cells = [_cell(value, i, self.column) for i, value in enumerate(batch[self.column])]
        ids = self._row_ids(indices, len(cells))
        apply = row_uniforms(derive_seed(self.seed, "image2image", "apply"), ids) < self.transform.p
        draws = [(bool(a), derive_seed(self.seed, "image2image", "draw", int(i))) for a, i in zip(apply, ids)]
        out = self.transform.transform_samples([leaf for leaf, _ in cells], draws, self.batch_size)
        written = [restore(result if done else leaf) for result, (leaf, restore), done in zip(out, cells, apply)]
        return {self.output_column or self.column: written}

    def _row_ids(self, indices: Sequence[int] | int | None, n: int) -> np.ndarray:
        if indices is not None:
            ids = np.asarray(indices, dtype=np.int64).reshape(-1)
            if len(ids) != n:
                raise ValueError(f"indices: expected {n} indices (one per row of the batch), got {len(ids)}")
            return ids
        if os.getpid() != self._home and torch.utils.data.get_worker_info() is None:
            raise RuntimeError(
                "ImageToImageMap: called in another process (map with num_proc?) without indices: every process would "
                "make the same choices for its rows; pass with_indices=True to map"
            )
        ids = self._rows_seen + np.arange(n, dtype=np.int64)
        self._rows_seen += n
        return ids

    def __repr__(self) -> str:
        return (
            f"ImageToImageMap({self.transform!r}, column={self.column!r}, "
            f"output_column={self.output_column!r}, seed={self.seed})"
        )
