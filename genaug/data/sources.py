"""Data sources: everything a user may hand genaug becomes one validated `ArraySet`.

`load_source(name)` resolves the one-string names the CLI takes: ``digits``, ``wine``,
``breast_cancer``, a ``.npz`` file, an image folder, or a folder written by
``datasets.Dataset.save_to_disk``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from genaug.data.arrayset import ArraySet, from_arrays

__all__ = ["BUNDLED", "load_bundled", "load_source"]

BUNDLED = ("digits", "wine", "breast_cancer")


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


def load_source(source: str | os.PathLike, **options: Any) -> ArraySet:
    """Resolve a one-string data source (what ``genaug fit --data`` takes) into an `ArraySet`."""
    text = os.fspath(source)
    if text in BUNDLED:
        return load_bundled(text)
    raise ValueError(f"data: unknown source {text!r}; expected one of {list(BUNDLED)}, a .npz file, an image folder or a saved HF dataset folder")
