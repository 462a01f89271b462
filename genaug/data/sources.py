"""Data sources: everything a user may hand genaug becomes one validated `ArraySet`.

`load_source(name)` resolves the one-string names the CLI takes: ``digits``, ``wine``,
``breast_cancer``, ``faces`` (scikit-image's faces and non-faces, `genaug.data.faces`), ``mnist1d`` and
``ucr:NAME`` (time series, `genaug.data.series_sets`), a ``.npz``,
``.ts`` or ``.tsv`` file, an image folder, or a folder written by ``datasets.Dataset.save_to_disk``.
Each source only reads its format into arrays and ends in `from_arrays`, which does the shared
validation (empty data, NaN/inf, labels).

Images read with PIL stay in the layout they were read in: ``(H, W)`` uint8 for grayscale,
``(H, W, C)`` uint8 for colour, so ``ArraySet.user_x()`` gives back what the files held. The readers of
other libraries' datasets (torch, Hugging Face) live in `genaug.data.libraries`; what both stack records
with, in `genaug.data.records`.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from genaug.data.arrayset import ArraySet, from_arrays
from genaug.data.faces import FACES_SOURCE, load_faces
from genaug.data.libraries import HF_MARKERS, from_hf_disk
from genaug.data.records import pil_to_array, stack_samples
from genaug.data.series import SERIES_SUFFIXES, from_series_file
from genaug.data.series_sets import SERIES_NAMES, load_series_name
from genaug.data.spec import Layout
from genaug.data.text import NAMES_SOURCE, TEXT_SUFFIXES, from_text_file, load_names

__all__ = [
    "BUNDLED",
    "IMAGE_EXTENSIONS",
    "carries_identities",
    "from_image_folder",
    "from_npz",
    "load_bundled",
    "load_source",
]

BUNDLED = ("digits", "wine", "breast_cancer")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
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
                array, layout = pil_to_array(image)
        except OSError as err:  # PIL's UnidentifiedImageError and truncated files are OSErrors
            raise ValueError(f"root: cannot read image {str(path)!r} ({err})") from None
        samples.append(array)
        layouts.append(layout)
    x, layout = stack_samples(samples, layouts, lambda i: str(files[i]))
    return from_arrays(x, labels, class_names=classes, layout=layout)


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
        if any((path / marker).is_file() for marker in HF_MARKERS):
            return from_hf_disk(path, **options)
        return from_image_folder(path, **options)
    if not path.exists() and _looks_like_path(text):
        raise FileNotFoundError(f"data: no such file or folder {text!r}")
    raise ValueError(f"data: unknown source {text!r}; expected {_ACCEPTED}")
