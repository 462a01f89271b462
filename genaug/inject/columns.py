"""Where a table's samples live: checking and resolving sample columns, reading a cell as a `Form`.

Shared by the injectors that meet ``datasets`` batches (`genaug.hf.SyntheticRows`) and by
`genaug.detect.AnomalyDetector.hf_columns` and `hf_filter`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from genaug.data.spec import DataSpec
from genaug.inject.core import Form

__all__ = ["check_columns", "is_number", "resolve_columns", "sample_form"]


def sample_form(value: Any, spec: DataSpec, value_range: tuple[float, float] | None, what: str) -> Form:
    """`Form.of` for a table cell: channels first or last, whichever fits the model's shape.

    Arrays default to channels last and tensors to channels first (as albumentations and torchvision
    use them); datasets hands out ``Array3D`` columns either way, so the other order is taken when only
    it fits (the model's own layout decides a tie, e.g. 3x3x3).
    """
    return Form.of(value, spec, value_range=value_range, what=what, either_order=True)


def is_number(value: Any) -> bool:
    """Whether a table cell holds one number (a bool or a tensor with more than one value does not)."""
    if isinstance(value, torch.Tensor):
        return value.ndim == 0 and value.dtype != torch.bool
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool | np.bool_)


def check_columns(columns: str | Sequence[str] | None, spec: DataSpec) -> str | tuple[str, ...] | None:
    """``columns`` as given by a user, checked against the model: None, one column name, or one name per feature."""
    if columns is None or isinstance(columns, str):
        return columns
    if not isinstance(columns, Sequence) or not all(isinstance(c, str) for c in columns):
        raise TypeError(f"columns: expected a column name or a list of column names, got {columns!r}")
    if not spec.kind.feature_columns:
        raise ValueError(
            f"columns: a list of columns means one numeric column per feature, but the model makes {spec.modality}s of shape "
            f"{spec.shape}; pass the name of the {spec.modality} column, got {list(columns)}"
        )
    if len(columns) != spec.shape[0]:
        raise ValueError(
            f"columns: expected {spec.shape[0]} column names (one per feature of the model), "
            f"got {len(columns)}: {list(columns)}"
        )
    return tuple(columns)


def resolve_columns(columns: str | Sequence[str] | None, spec: DataSpec, available: Sequence[str], name: str = "columns") -> str | tuple[str, ...]:
    """The sample column(s) of a batch: as given (checked), else the first image column or the model's feature names.

    ``name`` is the caller's argument, named in errors.
    """
    available = list(available)
    if columns is not None:
        wanted = [columns] if isinstance(columns, str) else list(columns)
        missing = [c for c in wanted if c not in available]
        if missing:
            raise ValueError(f"{name}: no column(s) {missing}; the data has columns {available}")
        return columns if isinstance(columns, str) else tuple(columns)
    if not spec.kind.feature_columns:
        searched = spec.kind.column_names
        found = next((c for c in searched if c in available), None)
        if found is None:
            raise ValueError(f"{name}: none of {list(searched)} among the data's columns {available}; pass {name}='<the column holding the {spec.modality}s>'")
        return found
    names = spec.feature_names
    if names is None or any(feature not in available for feature in names):
        raise ValueError(
            f"{name}: the model's features {list(names) if names else f'({spec.shape[0]} unnamed)'} are not all columns of the "
            f"data ({available}); pass {name}=[...] (one numeric column per feature, in order) or {name}='<array column>'"
        )
    return tuple(names)
