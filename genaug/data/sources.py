"""Data sources: everything a user may hand genaug becomes one validated `ArraySet`.

`load_source(name)` resolves the one-string names the CLI takes: ``digits``, ``wine``,
``breast_cancer``, ``faces`` (scikit-image's faces and non-faces, `genaug.data.faces`), ``mnist1d`` and
``ucr:NAME`` (time series, `genaug.data.series_sets`), a ``.npz``,
``.ts`` or ``.tsv`` file, an image folder, or a folder written by ``datasets.Dataset.save_to_disk``.
Each source only reads its format into arrays and ends in `from_arrays`, which does the shared
validation (empty data, NaN/inf, labels).

Images read with PIL stay in the layout they were read in: ``(H, W)`` uint8 for grayscale,
``(H, W, C)`` uint8 for colour, so ``ArraySet.user_x()`` gives back what the files held.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from genaug.data.arrayset import ArraySet, from_arrays
from genaug.data.faces import FACES_SOURCE, load_faces
from genaug.data.series import SERIES_SUFFIXES, from_series_file
from genaug.data.series_sets import SERIES_NAMES, load_series_name
from genaug.data.spec import Layout
from genaug.data.text import NAMES_SOURCE, TEXT_SUFFIXES, from_text_file, from_texts, load_names
from genaug.modalities import column_modality

if TYPE_CHECKING:
    import datasets as hf

__all__ = [
    "BUNDLED",
    "IMAGE_EXTENSIONS",
    "carries_identities",
    "from_hf_dataset",
    "from_hf_disk",
    "from_image_folder",
    "from_npz",
    "from_torch_dataset",
    "load_bundled",
    "load_source",
]

BUNDLED = ("digits", "wine", "breast_cancer")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
# files `save_to_disk` writes: a Dataset folder holds the first two, a DatasetDict folder the last
_HF_MARKERS = ("state.json", "dataset_info.json", "dataset_dict.json")
# sources whose records are people: a sample that copies one leaks an identity (recipes drop near-copies by default)
IDENTITY_SOURCES = (FACES_SOURCE,)
_ACCEPTED = (
    f"one of {list(BUNDLED)}, {FACES_SOURCE} (scikit-image's faces and non-faces), mnist1d[:test|:all], ucr:NAME[:test], names (text), a .npz file, a .ts or .tsv file of time "
    "series, a .csv, .jsonl or .json file of labelled text, an image folder (one sub-folder per class) or a save_to_disk folder"
)


def load_bundled(name: str) -> ArraySet:
    """One of scikit-learn's bundled data sets (no download): digits, wine or breast_cancer.

    Digits are (1797, 8, 8) images on the 17-level grid 0..16, in sklearn's dtype (float64).
    """
    from sklearn import datasets as skd

    if name == "digits":
        bunch = skd.load_digits()
        names = [str(c) for c in bunch.target_names]
        return from_arrays(bunch.images, bunch.target, class_names=names, levels=17, value_range=(0.0, 16.0))
    if name in ("wine", "breast_cancer"):
        bunch = getattr(skd, f"load_{name}")()
        return from_arrays(
            bunch.data, bunch.target, class_names=[str(c) for c in bunch.target_names], feature_names=list(bunch.feature_names)
        )
    raise ValueError(f"name: unknown bundled data set {name!r}; expected one of {list(BUNDLED)}")


# ---------------------------------------------------------------------------------------- images
def _pil_to_array(image: Image.Image) -> tuple[np.ndarray, Layout]:
    """A PIL image as uint8 ``(H, W)`` (mode L) or ``(H, W, C)`` (RGB, RGBA; other modes via RGB)."""
    if image.mode == "1":
        image = image.convert("L")  # bilevel is grayscale; RGB would triple it for nothing
    elif image.mode not in ("L", "RGB", "RGBA"):
        image = image.convert("RGB")
    array = np.asarray(image)
    return array, "HW" if array.ndim == 2 else "HWC"


def _as_sample(value: Any, where: str) -> tuple[np.ndarray, Layout | None]:
    """One sample as an array with its layout (None: let `from_arrays` infer it)."""
    if isinstance(value, Image.Image):
        return _pil_to_array(value)
    if isinstance(value, torch.Tensor):
        array = value.detach().cpu().numpy()
        return array, {2: "HW", 3: "CHW"}.get(array.ndim)  # torch images are channels first
    if isinstance(value, np.ndarray):
        return value, "HW" if value.ndim == 2 else None
    raise TypeError(f"{where}: expected a PIL image, a torch tensor or a numpy array, got {type(value).__name__}")


def _channels(array: np.ndarray, layout: Layout | None) -> int | None:
    if layout == "HW":
        return 1
    if layout == "HWC":
        return array.shape[-1]
    if layout == "CHW":
        return array.shape[0]
    return None


def _stack(
    samples: list[np.ndarray], layouts: list[Layout | None], name: Callable[[int], str]
) -> tuple[np.ndarray, Layout | None]:
    """Stack per-sample arrays into one batch, naming the first sample that does not match sample 0.

    Returns an empty array when there are no samples, so `from_arrays` raises its empty-data error.
    """
    if not samples:
        return np.zeros((0,)), None
    first, layout, channels = samples[0], layouts[0], _channels(samples[0], layouts[0])
    for i in range(1, len(samples)):
        other = _channels(samples[i], layouts[i])
        if channels is not None and other is not None and other != channels:
            raise ValueError(
                f"x: mixed channel counts: {name(0)} has {channels} channel(s) but {name(i)} has {other}; "
                "convert all images to one mode (all grayscale 'L' or all 'RGB')"
            )
        if samples[i].shape != first.shape or layouts[i] != layout:
            raise ValueError(
                f"x: ragged or mixed shapes: {name(0)} has shape {first.shape} ({layout or 'array'}) but "
                f"{name(i)} has shape {samples[i].shape} ({layouts[i] or 'array'}); "
                "every sample must have the same size"
            )
    return np.stack(samples), layout


# ---------------------------------------------------------------------------------------- files
def from_npz(path: str | os.PathLike, **options: Any) -> ArraySet:
    """Read a ``.npz`` archive with an array ``x``, optional labels ``y`` and optional ``class_names``.

    Optional ``levels`` (one integer) and ``value_range`` ([low, high]) declare the values' grid, as
    `from_arrays` takes them: uint8 digits on 0..16 are then a 17-level grid, not 8-bit images.
    The file is read with ``allow_pickle=False``: object arrays are refused, never unpickled.

    Args:
        path: the ``.npz`` file, as written by ``np.savez(path, x=..., y=..., class_names=...)``.
        **options: keyword arguments of `from_arrays` (``class_names``, ``levels`` and ``value_range``
            here override the file's).

    Returns:
        The validated `ArraySet`; without ``y`` the data is unlabelled (one class).

    Example:
        >>> import numpy as np, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "d.npz")
        >>> np.savez(path, x=np.random.rand(6, 3), y=[0, 1, 0, 1, 0, 1], class_names=["a", "b"])
        >>> from_npz(path).spec.class_names
        ('a', 'b')
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"path: no such file {str(path)!r}")
    # checked first so that np.load never reads a non-zip file (it would take it for .npy or pickle)
    if not zipfile.is_zipfile(path):
        raise ValueError(f"path: {str(path)!r} is not a readable .npz archive (not a zip file); write it with np.savez")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"path: {str(path)!r} is not a readable .npz archive ({err})") from None
    with archive:
        keys = sorted(archive.files)
        if "x" not in keys:
            raise ValueError(
                f"path: {str(path)!r} has no array 'x' (it has {keys}); write it with np.savez(path, x=..., y=...)"
            )
        arrays: dict[str, np.ndarray] = {}
        for key in ("x", "y", "class_names", "levels", "value_range"):
            if key not in keys:
                continue
            try:
                arrays[key] = archive[key]
            except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
                raise ValueError(f"path: cannot read the arrays of {str(path)!r}: {key!r} ({err})") from None
            if not isinstance(arrays[key], np.ndarray):  # numpy hands back raw bytes for a non-.npy member
                raise ValueError(f"path: cannot read the arrays of {str(path)!r}: {key!r} is not a .npy array")
    x, y, names = arrays["x"], arrays.get("y"), arrays.get("class_names")
    if names is not None:
        if names.ndim != 1:
            raise ValueError(
                f"path: 'class_names' in {str(path)!r} must be a 1-D array of names, got shape {names.shape}"
            )
        options.setdefault("class_names", [str(n) for n in names.tolist()])
    if "levels" in arrays:
        levels = arrays["levels"]
        if levels.shape != () or levels.dtype.kind not in "iu" or int(levels) < 2:
            raise ValueError(f"path: 'levels' in {str(path)!r} must be one integer >= 2 (the grid's number of values), got {levels.tolist()!r}")
        options.setdefault("levels", int(levels))
    if "value_range" in arrays:
        bounds = arrays["value_range"]
        if bounds.shape != (2,) or bounds.dtype.kind not in "iuf" or not np.isfinite(bounds).all() or not bounds[0] < bounds[1]:
            raise ValueError(f"path: 'value_range' in {str(path)!r} must be two finite numbers [low, high] with low < high, got {bounds.tolist()!r}")
        options.setdefault("value_range", (float(bounds[0]), float(bounds[1])))
    return from_arrays(x, y, **options)


def from_image_folder(root: str | os.PathLike, *, extensions: Sequence[str] = IMAGE_EXTENSIONS) -> ArraySet:
    """Read ``root/<class>/**/<image>`` with PIL: one sub-folder per class, names sorted.

    Grayscale images stay one channel ``(H, W)``, RGB three and RGBA four ``(H, W, C)``; other
    modes (palette, CMYK, ...) are converted to RGB. All images must share one size and channel count.

    Args:
        root: the folder holding one sub-folder per class (hidden entries are skipped).
        extensions: file suffixes read as images, case-insensitive.

    Returns:
        The validated `ArraySet`, uint8 on the 256-level grid.

    Example:
        >>> import numpy as np, tempfile, os
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> for c in ("cat", "dog"):
        ...     os.mkdir(os.path.join(root, c))
        ...     Image.fromarray(np.zeros((4, 5), np.uint8)).save(os.path.join(root, c, "0.png"))
        >>> ds = from_image_folder(root)
        >>> ds.spec.class_names, tuple(ds.user_x().shape)
        (('cat', 'dog'), (2, 4, 5))
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"root: no such folder {str(root)!r}")
    if isinstance(extensions, str) or not extensions:
        raise ValueError(f"extensions: expected a non-empty sequence of suffixes like ('.png',), got {extensions!r}")
    suffixes = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ValueError(
            f"root: {str(root)!r} has no class sub-folders; expected one folder per class, e.g. root/cat/1.png"
        )
    files: list[Path] = []
    labels: list[int] = []
    empty: list[str] = []
    for index, name in enumerate(classes):
        found = sorted(
            p
            for p in (root / name).rglob("*")
            if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith(".")
        )
        if not found:
            empty.append(name)
        files += found
        labels += [index] * len(found)
    if empty:
        raise ValueError(
            f"root: class folders {empty} in {str(root)!r} hold no images with suffixes {sorted(suffixes)}"
        )
    samples: list[np.ndarray] = []
    layouts: list[Layout | None] = []
    for path in files:
        try:
            with Image.open(path) as image:
                array, layout = _pil_to_array(image)
        except OSError as err:  # PIL's UnidentifiedImageError and truncated files are OSErrors
            raise ValueError(f"root: cannot read image {str(path)!r} ({err})") from None
        samples.append(array)
        layouts.append(layout)
    x, layout = _stack(samples, layouts, lambda i: str(files[i]))
    return from_arrays(x, labels, class_names=classes, layout=layout)


# ---------------------------------------------------------------------------------------- libraries
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
        array, layout = _as_sample(item[0], f"dataset[{i}]")
        samples.append(array)
        layouts.append(layout)
        label = item[1]
        labels.append(label.item() if isinstance(label, torch.Tensor) and label.numel() == 1 else label)
    x, layout = _stack(samples, layouts, lambda i: f"index {i}")
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
            x, _ = _stack(rows, [None] * len(rows), lambda i: f"{image_column}[{i}]")
            return from_arrays(x, labels, class_names=names, modality=declared.name)
        pairs = [_as_sample(value, f"{image_column}[{i}]") for i, value in enumerate(values)]
        x, layout = _stack([p[0] for p in pairs], [p[1] for p in pairs], lambda i: f"row {i}")
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


# ---------------------------------------------------------------------------------------- one string
def carries_identities(source: str | os.PathLike) -> bool:
    """Whether the records of a `load_source` string are people, whose copies leak an identity (the ``faces`` set).

    Recipes read it for ``data.identities: auto``: on such data every generative arm drops near-copies.

    Example:
        >>> carries_identities("faces"), carries_identities("digits")
        (True, False)
    """
    return os.fspath(source) in IDENTITY_SOURCES


def _looks_like_path(text: str) -> bool:
    """Whether a missing source was meant as a path (so FileNotFoundError, not 'unknown name')."""
    separators = [s for s in (os.sep, os.altsep, "/") if s]
    return any(s in text for s in separators) or text.startswith(("~", ".")) or Path(text).suffix != ""


def load_source(source: str | os.PathLike, **options: Any) -> ArraySet:
    """Resolve a one-string data source (what ``genaug fit --data`` takes) into an `ArraySet`.

    Args:
        source: ``digits``, ``wine`` or ``breast_cancer``; ``faces`` (scikit-image's 100 faces and
            100 non-faces, 25 x 25, `load_faces`; needs ``genaug[images]``); ``mnist1d[:train|:test|:all]``
            (`load_mnist1d`); ``ucr:NAME[:train|:test]``, a UCR set aeon ships (`load_ucr`); a
            ``.npz`` file (`from_npz`); a ``.ts`` (`from_ts`) or ``.tsv`` (`from_ucr_tsv`) file of
            time series; ``names`` (US Census first names by sex, `load_names`) or a ``.csv``, ``.jsonl``
            or ``.json`` file of labelled strings (`from_text_file`); a folder written by ``save_to_disk`` (`from_hf_disk`); a folder with one
            sub-folder per class (`from_image_folder`).
        **options: keyword arguments of the loader the source resolves to (none for bundled sets;
            ``missing=`` and ``lengths=`` for series files and UCR sets).

    Returns:
        The validated `ArraySet`.

    Example:
        >>> load_source("wine").spec.shape
        (13,)
    """
    text = os.fspath(source)
    if text in BUNDLED:
        if options:
            raise TypeError(f"options: the bundled data set {text!r} takes no options, got {sorted(options)}")
        return load_bundled(text)
    if text == FACES_SOURCE:
        if options:
            raise TypeError(f"options: the bundled data set {text!r} takes no options, got {sorted(options)}")
        return load_faces()
    if text.partition(":")[0] in SERIES_NAMES:
        return load_series_name(text, **options)
    if text == NAMES_SOURCE:
        return load_names(**options)
    path = Path(text).expanduser()
    if path.is_file() and path.suffix.lower() in TEXT_SUFFIXES:
        return from_text_file(path, **options)
    if path.is_file() and path.suffix.lower() == ".npz":
        return from_npz(path, **options)
    if path.is_file() and path.suffix.lower() in SERIES_SUFFIXES:
        return from_series_file(path, **options)
    if path.is_dir():
        if any((path / marker).is_file() for marker in _HF_MARKERS):
            return from_hf_disk(path, **options)
        return from_image_folder(path, **options)
    if not path.exists() and _looks_like_path(text):
        raise FileNotFoundError(f"data: no such file or folder {text!r}")
    raise ValueError(f"data: unknown source {text!r}; expected {_ACCEPTED}")
