"""Time-series sets that ship inside packages: MNIST-1D (built locally) and the UCR sets aeon ships.

``load_mnist1d`` builds MNIST-1D with the ``mnist1d`` package (its ``make_dataset``, never its
downloading ``get_dataset``); ``load_ucr`` reads the UCR archive's ``.ts`` files that aeon ships,
without importing aeon. Both need ``pip install 'genaug[timeseries]'``. ``load_series_name`` resolves
the source names ``mnist1d[:split]`` and ``ucr:NAME[:split]``.
"""

from __future__ import annotations

import functools
import importlib.util
import random
from pathlib import Path
from typing import Any, Literal

import numpy as np

from genaug.data.arrayset import ArraySet, from_arrays
from genaug.data.series import Lengths, Missing, SeriesArrays, from_ts

__all__ = [
    "MNIST1D_LEVELS",
    "MNIST1D_RANGE",
    "SERIES_NAMES",
    "load_mnist1d",
    "load_series_name",
    "load_ucr",
    "make_mnist1d",
    "ucr_names",
    "ucr_path",
]

SERIES_NAMES = ("mnist1d", "ucr")  # the prefixes of `load_series_name`: mnist1d[:split], ucr:NAME[:split]
# MNIST-1D is standardized (mean 0, std 1); with the default seed its values lie in [-5.48, 4.53]
# (train) and [-4.21, 4.42] (test), so 256 levels over [-6, 6] hold both splits (step 12/255 ~ 0.047)
MNIST1D_LEVELS = 256
MNIST1D_RANGE = (-6.0, 6.0)
_INSTALL = "pip install 'genaug[timeseries]'"


# ---------------------------------------------------------------------------------------- MNIST-1D
@functools.lru_cache(maxsize=2)
def _mnist1d(seed: int) -> dict[str, np.ndarray]:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise ValueError(f"mnist1d: MNIST-1D is built by the mnist1d package; {_INSTALL}") from None
    args = get_dataset_args()
    args.seed = seed
    # make_dataset seeds Python's and numpy's global generators; the caller's streams are put back
    states = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(args)  # local and procedural: ~3 s, no download, no printing
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
    arrays = {key: np.asarray(data[key]) for key in ("x", "y", "x_test", "y_test")}
    for array in arrays.values():
        array.flags.writeable = False  # cached: shared by every call
    return arrays


def make_mnist1d(split: Literal["train", "test", "all"] = "train", *, seed: int = 42) -> SeriesArrays:
    """Build MNIST-1D (Greydanus & Kobak, 2020) locally with the ``mnist1d`` package; nothing is downloaded.

    With mnist1d's default arguments (seed 42): 4000 training and 1000 test series of length 40,
    10 classes, standardized. The build takes a few seconds and is cached per seed.

    Args:
        split: ``"train"``, ``"test"`` or ``"all"`` (train then test).
        seed: the seed of the generator (42 is mnist1d's default).

    Returns:
        `SeriesArrays`: x ``(N, 1, 40)`` float64, labels as class indices, class names ``"0"``..``"9"``.

    Example:
        >>> x, labels, names = make_mnist1d("test")
        >>> x.shape, len(names)
        ((1000, 1, 40), 10)
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split: expected 'train', 'test' or 'all', got {split!r}")
    data = _mnist1d(seed)
    parts = {"train": [("x", "y")], "test": [("x_test", "y_test")], "all": [("x", "y"), ("x_test", "y_test")]}[split]
    x = np.concatenate([data[k] for k, _ in parts]).astype(np.float64)[:, None, :]  # (N, 1, 40)
    y = np.concatenate([data[k] for _, k in parts]).astype(np.int64)
    lo, hi = MNIST1D_RANGE
    if x.min() < lo or x.max() > hi:
        raise ValueError(
            f"seed: with seed {seed} MNIST-1D has values in [{x.min():.3g}, {x.max():.3g}], "
            f"outside the grid {list(MNIST1D_RANGE)}"
        )
    return SeriesArrays(x, y, [str(i) for i in range(10)])


def load_mnist1d(split: Literal["train", "test", "all"] = "train", *, seed: int = 42) -> ArraySet:
    """MNIST-1D as an `ArraySet` on a grid of 256 levels over [-6, 6] (values are rounded to it).

    Example:
        >>> load_mnist1d("test").spec.shape
        (1, 40)
    """
    x, y, names = make_mnist1d(split, seed=seed)
    return from_arrays(
        x, y, class_names=names, modality="sequence", layout="CT", levels=MNIST1D_LEVELS, value_range=MNIST1D_RANGE
    )


# ---------------------------------------------------------------------------------------- UCR sets in aeon
def _aeon_data() -> Path:
    # find_spec of a top-level package locates it without running it: importing aeon loads numba
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"ucr: the bundled UCR sets are the files of the aeon package; {_INSTALL}")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def _is_classification(path: Path) -> bool:
    """Whether a .ts header declares class labels and no time stamps."""
    header: dict[str, str] = {}
    with path.open(encoding="utf-8") as f:
        for raw in f:
            key, _, value = raw.strip()[1:].partition(" ") if raw.startswith("@") else ("", "", "")
            if key.lower() == "data":
                break
            header[key.lower()] = value.strip().lower()
    return header.get("classlabel", "").startswith("true") and header.get("timestamps", "false") != "true"


@functools.lru_cache(maxsize=4)
def _ucr_folders(root: Path) -> dict[str, Path]:
    found = {}
    for train in root.glob("*/*_TRAIN.ts"):
        name = train.name[: -len("_TRAIN.ts")]
        if (train.parent / f"{name}_TEST.ts").is_file() and _is_classification(train):
            found[name] = train.parent
    return dict(sorted(found.items(), key=lambda item: item[0].lower()))


def ucr_names() -> list[str]:
    """The UCR/UEA classification sets the installed aeon package ships (train and test ``.ts`` files)."""
    return list(_ucr_folders(_aeon_data()))


def ucr_path(name: str, split: Literal["train", "test"] = "train") -> Path:
    """The ``.ts`` file of a UCR/UEA set aeon ships, found without importing aeon (which loads numba).

    Args:
        name: the set, any case (``GunPoint``, ``gunpoint``); `ucr_names` lists them.
        split: ``"train"`` or ``"test"``.

    Example:
        >>> ucr_path("GunPoint", "test").name
        'GunPoint_TEST.ts'
    """
    if split not in ("train", "test"):
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    folders = _ucr_folders(_aeon_data())
    match = {n.lower(): n for n in folders}.get(name.lower())
    if match is None:
        raise ValueError(f"name: unknown UCR set {name!r}; the installed aeon ships {list(folders)}")
    return folders[match] / f"{match}_{split.upper()}.ts"


def load_ucr(
    name: str,
    split: Literal["train", "test"] = "train",
    *,
    missing: Missing = "error",
    lengths: Lengths = "error",
    **options: Any,
) -> ArraySet:
    """A UCR/UEA set bundled with aeon (GunPoint, ArrowHead, ItalyPowerDemand, ...): `ucr_path`, then `from_ts`.

    Args:
        name: the set, any case; `ucr_names` lists them.
        split: ``"train"`` or ``"test"``.
        missing, lengths: as in `read_ucr_tsv` (JapaneseVowels and PickupGestureWiimoteZ need ``lengths``).
        **options: keyword arguments of `from_arrays`.

    Example:
        >>> load_ucr("GunPoint").spec.shape
        (1, 150)
    """
    return from_ts(ucr_path(name, split), missing=missing, lengths=lengths, **options)


def load_series_name(text: str, **options: Any) -> ArraySet:
    """Resolve ``mnist1d[:train|:test|:all]`` or ``ucr:NAME[:train|:test]`` (the default split is train)."""
    kind, _, rest = text.partition(":")
    if kind == "mnist1d":
        return load_mnist1d(rest or "train", **options)  # type: ignore[arg-type]
    if kind == "ucr":
        name, _, split = rest.partition(":")
        return load_ucr(name, split or "train", **options)  # type: ignore[arg-type]
    raise ValueError(f"data: {text!r} is not a series name; expected mnist1d[:split] or ucr:NAME[:split]")
