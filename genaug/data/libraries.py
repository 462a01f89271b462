"""Data from other libraries: a torchvision-style map dataset, a Hugging Face ``datasets.Dataset`` or a
folder written by its ``save_to_disk``; each ends in `from_arrays` (or `from_texts` for text columns)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from genaug.data.arrayset import ArraySet, from_arrays
from genaug.data.records import as_sample, stack_samples
from genaug.data.spec import Layout
from genaug.data.text import from_texts
from genaug.modalities import column_modality

if TYPE_CHECKING:
    import datasets as hf

__all__ = ["HF_MARKERS", "from_hf_dataset", "from_hf_disk", "from_torch_dataset"]

# files `save_to_disk` writes: a Dataset folder holds the first two, a DatasetDict folder the last
HF_MARKERS = ("state.json", "dataset_info.json", "dataset_dict.json")


def from_torch_dataset(
    dataset: Any, *, class_names: Sequence[str] | None = None, limit: int | None = None
) -> ArraySet:
    """Read a torchvision-style map dataset whose items are ``(image, label)`` pairs.

    Images may be PIL images (kept as uint8 ``(H, W)`` / ``(H, W, C)``), tensors (channels first,
    as ``ToTensor`` makes them) or numpy arrays.

    Args:
        dataset: anything with ``__len__`` and ``__getitem__`` returning ``(image, label)``.
        class_names: names of the classes in index order; default ``dataset.classes`` if it has one.
        limit: read only the first ``limit`` items.

    Returns:
        The validated `ArraySet`.

    Example:
        >>> from torchvision.datasets import FakeData
        >>> ds = from_torch_dataset(FakeData(size=8, image_size=(3, 6, 5)))
        >>> tuple(ds.user_x().shape), ds.spec.layout
        ((8, 6, 5, 3), 'HWC')
    """
    if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
        raise TypeError(
            f"dataset: expected a map-style dataset with __len__ and __getitem__, got {type(dataset).__name__}"
        )
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit: expected a positive integer or None, got {limit!r}")
    n = len(dataset) if limit is None else min(limit, len(dataset))
    samples: list[np.ndarray] = []
    layouts: list[Layout | None] = []
    labels: list[Any] = []
    for i in range(n):
        item = dataset[i]
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise TypeError(f"dataset: item {i} should be an (image, label) pair, got {type(item).__name__}")
        array, layout = as_sample(item[0], f"dataset[{i}]")
        samples.append(array)
        layouts.append(layout)
        label = item[1]
        labels.append(label.item() if isinstance(label, torch.Tensor) and label.numel() == 1 else label)
    x, layout = stack_samples(samples, layouts, lambda i: f"index {i}")
    names = class_names if class_names is not None else getattr(dataset, "classes", None)
    return from_arrays(x, labels, class_names=names, layout=layout)


def _is_numeric(feature: Any) -> bool:
    import datasets as hf

    if not isinstance(feature, hf.Value):
        return False
    try:
        return np.dtype(feature.dtype).kind in "iuf"
    except TypeError:  # arrow-only dtypes: string, timestamp[s], ...
        return False


def _is_string(feature: Any) -> bool:
    import datasets as hf

    return isinstance(feature, hf.Value) and feature.dtype in ("string", "large_string")


def _declares_modality(column: str) -> bool:
    """A column named for a modality that shapes alone never reveal (``series``: a sequence)."""
    declared = column_modality(column)
    return declared is not None and not declared.guessed


def from_hf_dataset(
    dataset: hf.Dataset | hf.DatasetDict,
    *,
    image_column: str | None = None,
    label_column: str | None = "label",
    feature_columns: Sequence[str] | None = None,
    text_column: str | None = None,
    **text_options: Any,
) -> ArraySet:
    """Read a Hugging Face ``datasets.Dataset`` (a ``DatasetDict`` gives its ``train`` split).

    With an image column (given, or the one ``datasets.Image`` column, or else the one
    ``Array2D``/``Array3D`` column), images are decoded by PIL as in `from_image_folder`; an array
    column named for a modality that shapes do not reveal (``series``, ``sequence``: what
    `genaug.hf.generate_dataset` writes for sequences) is read as that modality. Otherwise the numeric columns other than the label form vectors
    named by ``feature_names``. A ``ClassLabel`` label column gives the class names.

    Args:
        dataset: the dataset.
        image_column: the column holding images; found from the features when None.
        label_column: the column holding labels; None for unlabelled data.
        feature_columns: the numeric columns to use as a vector (default: all but the label).
        text_column: a string column to read as text (`genaug.data.text`); found when the dataset has
            no image column and one string column named ``text`` (or another name the text modality
            searches). ``text_options`` (``tokenizer``, ``max_length``) go to `from_texts`.

    Returns:
        The validated `ArraySet`.

    Example:
        >>> import datasets
        >>> table = datasets.Dataset.from_dict({"a": [1.0, 2.0, 3.0], "b": [4, 5, 7], "label": [0, 1, 0]})
        >>> from_hf_dataset(table).spec.feature_names
        ('a', 'b')
    """
    import datasets as hf

    if isinstance(dataset, hf.DatasetDict):
        if "train" not in dataset:
            raise ValueError(f"dataset: a DatasetDict needs a 'train' split, got splits {list(dataset)}")
        dataset = dataset["train"]
    if not isinstance(dataset, hf.Dataset):
        raise TypeError(f"dataset: expected a datasets.Dataset or DatasetDict, got {type(dataset).__name__}")
    columns, features = list(dataset.column_names), dataset.features
    if label_column is not None and label_column not in columns:
        raise ValueError(
            f"label_column: no column {label_column!r}; the dataset has columns {columns} "
            "(label_column=None reads it unlabelled)"
        )
    if image_column is not None and image_column not in columns:
        raise ValueError(f"image_column: no column {image_column!r}; the dataset has columns {columns}")
    if image_column is not None and feature_columns is not None:
        raise ValueError(f"image_column / feature_columns: give one, got {image_column!r} and {list(feature_columns)}")
    if text_column is not None and text_column not in columns:
        raise ValueError(f"text_column: no column {text_column!r}; the dataset has columns {columns}")
    labels, names = None, None
    if label_column is not None:
        labels = np.asarray(dataset.with_format("numpy")[label_column])
        if isinstance(features[label_column], hf.ClassLabel):
            names = list(features[label_column].names)
    if text_column is None and image_column is None and feature_columns is None:
        strings = [c for c in columns if c != label_column and _is_string(features[c]) and column_modality(c) is not None and not column_modality(c).generic_families]
        text_column = strings[0] if len(strings) == 1 else None
    if text_column is not None:
        if not _is_string(features[text_column]):
            raise ValueError(f"text_column: column {text_column!r} holds {features[text_column]}, not strings")
        return from_texts(list(dataset[text_column]), labels, class_names=names, **text_options)
    if text_options:
        raise TypeError(f"{sorted(text_options)}: options of text data; pass text_column= too")
    if image_column is None and feature_columns is None:
        found = [c for c in columns if isinstance(features[c], hf.Image)]
        found = found or [c for c in columns if isinstance(features[c], hf.Array2D | hf.Array3D)]  # e.g. digits as arrays
        found = found or [c for c in columns if _declares_modality(c) and c != label_column]  # e.g. a list column "series"
        if len(found) > 1:
            raise ValueError(f"image_column: the dataset has several image columns {found}; pass the one to use")
        image_column = found[0] if found else None
    if image_column is not None:
        feature = features[image_column]
        if isinstance(feature, hf.Image):
            if not feature.decode:
                dataset = dataset.cast_column(image_column, hf.Image(decode=True))
            values = dataset[image_column]
        else:
            values = dataset.with_format("numpy")[image_column]
        declared = column_modality(image_column)
        if _declares_modality(image_column) and not isinstance(feature, hf.Image):
            # a column named for a modality that shapes alone never reveal (``series``): declare it
            rows = [np.asarray(value) for value in values]
            x, _ = stack_samples(rows, [None] * len(rows), lambda i: f"{image_column}[{i}]")
            return from_arrays(x, labels, class_names=names, modality=declared.name)
        pairs = [as_sample(value, f"{image_column}[{i}]") for i, value in enumerate(values)]
        x, layout = stack_samples([p[0] for p in pairs], [p[1] for p in pairs], lambda i: f"row {i}")
        return from_arrays(x, labels, class_names=names, layout=layout)
    if feature_columns is not None:
        chosen = list(feature_columns)
    else:
        chosen = [c for c in columns if c != label_column and _is_numeric(features[c])]
    missing = [c for c in chosen if c not in columns]
    if missing:
        raise ValueError(f"feature_columns: no columns {missing}; the dataset has columns {columns}")
    other = [c for c in chosen if not _is_numeric(features[c])]
    if other:
        raise ValueError(f"feature_columns: columns {other} are not numeric ({[str(features[c]) for c in other]})")
    if not chosen:
        raise ValueError(f"dataset: no image column and no numeric feature columns among {columns}")
    table = dataset.with_format("numpy")
    x = np.stack([np.asarray(table[c]) for c in chosen], axis=1)  # (N, D)
    return from_arrays(x, labels, class_names=names, feature_names=chosen)


def from_hf_disk(path: str | os.PathLike, **options: Any) -> ArraySet:
    """Read a folder written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``.

    Args:
        path: the folder.
        **options: keyword arguments of `from_hf_dataset`.

    Returns:
        The validated `ArraySet`.

    Example:
        >>> import datasets, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> datasets.Dataset.from_dict({"a": [1.0, 2.0], "label": [0, 1]}).save_to_disk(folder)  # doctest: +SKIP
        >>> from_hf_disk(folder).spec.num_classes  # doctest: +SKIP
        2
    """
    import datasets as hf

    path = Path(path).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"path: no such folder {str(path)!r}")
    try:
        loaded = hf.load_from_disk(str(path))
    except FileNotFoundError as err:  # raised by datasets for a folder it did not write
        raise ValueError(f"path: {str(path)!r} is not a folder written by save_to_disk ({err})") from None
    return from_hf_dataset(loaded, **options)
