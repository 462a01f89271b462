"""Time-series files: UCR ``.tsv`` files and sktime/aeon ``.ts`` files (the bundled sets: `genaug.data.series_sets`).

Each format has a reader (`read_ucr_tsv`, `read_ts`) that returns plain numpy as `SeriesArrays`:
``x`` of shape ``(N, C, T)`` float64, one label per series, the class names. The ``from_*``
functions end in `from_arrays` with the ``sequence`` modality, layout ``CT``.

Missing values and unequal lengths are refused by default with an error naming the file and line;
``missing="interpolate"`` and ``lengths="pad" | "resample"`` repair them, and say so in the log.
Trailing missing values count as a shorter series, not as missing values: the UCR archive pads
unequal-length series with NaN up to the longest one.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple, TextIO

import numpy as np

from genaug.data.arrayset import ArraySet, from_arrays

__all__ = [
    "SERIES_SUFFIXES",
    "Lengths",
    "Missing",
    "SeriesArrays",
    "from_series_file",
    "from_ts",
    "from_ucr_tsv",
    "read_ts",
    "read_ucr_tsv",
]

logger = logging.getLogger(__name__)

Missing = Literal["error", "interpolate"]
Lengths = Literal["error", "pad", "resample"]
SERIES_SUFFIXES = (".ts", ".tsv")  # files `load_source` reads as series by suffix (.txt/.csv are too ambiguous)


class SeriesArrays(NamedTuple):
    """What a series reader found: the values, the labels and the class names."""

    x: np.ndarray  # (N, C, T) float64
    labels: np.ndarray | None  # (N,) class names (str) or class indices (int); None: unlabelled
    class_names: list[str]


@dataclass
class _Row:
    line: int  # 1-based line number in the file
    channels: list[np.ndarray]  # (T_c,) float64 per channel, NaN where missing
    tokens: list[list[str]] | None  # the values as written, kept only for rows with a missing value


# ---------------------------------------------------------------------------------------- parsing
def _number(token: str, path: Path, line: int) -> float:
    text = token.strip()
    if text in ("?", ""):
        return float("nan")
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{path}: line {line}: {token!r} is not a number") from None


def _row(line: int, channels: list[list[str]], path: Path) -> _Row:
    values = []
    for tokens in channels:
        try:
            v = np.asarray(tokens, dtype=np.float64)
        except ValueError:  # '?', '' or a bad token: go one by one to name it
            v = np.array([_number(t, path, line) for t in tokens], dtype=np.float64)
        if np.isinf(v).any():
            raise ValueError(f"{path}: line {line}: infinite value {tokens[int(np.flatnonzero(np.isinf(v))[0])]!r}")
        values.append(v)
    has_nan = any(np.isnan(v).any() for v in values)
    return _Row(line, values, channels if has_nan else None)


def _label(text: str) -> str:
    """A label as a class name: numbers as written by their value (UCR's ``1.0000000e+00`` is ``1``)."""
    try:
        value = float(text)
    except ValueError:
        return text
    return str(int(value)) if value.is_integer() else text


def _sorted_names(names: set[str]) -> list[str]:
    """Sorted class names, in numeric order when every name is a number (``2`` before ``10``)."""
    try:
        return sorted(names, key=float)
    except ValueError:
        return sorted(names)


def _check_options(missing: str, lengths: str) -> None:
    if missing not in ("error", "interpolate"):
        raise ValueError(f"missing: expected 'error' or 'interpolate', got {missing!r}")
    if lengths not in ("error", "pad", "resample"):
        raise ValueError(f"lengths: expected 'error', 'pad' or 'resample', got {lengths!r}")


def _finish(path: Path, rows: list[_Row], missing: Missing, lengths: Lengths) -> np.ndarray:
    """Repair (or refuse) missing values and unequal lengths, and stack the rows into (N, C, T)."""
    if not rows:
        raise ValueError(f"{path}: no series found")
    channels = len(rows[0].channels)
    series: list[list[np.ndarray]] = []
    for row in rows:
        if len(row.channels) != channels:
            raise ValueError(
                f"{path}: line {row.line}: {len(row.channels)} dimensions, but line {rows[0].line} has {channels}"
            )
        trimmed = []
        for c, v in enumerate(row.channels):
            known = np.flatnonzero(~np.isnan(v))
            if known.size == 0:
                raise ValueError(f"{path}: line {row.line}: dimension {c} has no values")
            trimmed.append(v[: known[-1] + 1])  # trailing NaN: the UCR padding of a shorter series
        series.append(trimmed)
    interpolated = 0
    for row, values in zip(rows, series):
        if not any(np.isnan(v).any() for v in values):
            continue
        if missing == "error":
            c = next(c for c, v in enumerate(values) if np.isnan(v).any())
            t = int(np.flatnonzero(np.isnan(values[c]))[0])
            where = f"index {t}" + (f" of dimension {c}" if channels > 1 else "")
            raise ValueError(
                f"{path}: line {row.line}: missing value {row.tokens[c][t].strip()!r} at {where}; pass "
                "missing='interpolate' to fill missing values by linear interpolation"
            )
        for c, v in enumerate(values):
            gaps = np.isnan(v)
            if gaps.any():  # np.interp carries the edge values out past the first/last known value
                values[c] = np.interp(np.arange(len(v)), np.flatnonzero(~gaps), v[~gaps])
        interpolated += 1
    if missing == "interpolate":
        logger.info("%s: filled missing values of %d series by linear interpolation", path, interpolated)
    if lengths == "error":
        first = len(series[0][0])
        for row, values in zip(rows, series):
            n = next((len(v) for v in values if len(v) != first), None)
            if n is not None:
                raise ValueError(
                    f"{path}: line {row.line}: series of length {n}, but line {rows[0].line} has length {first}; pass "
                    "lengths='pad' (repeat the last value) or lengths='resample' (linear interpolation) to bring "
                    "every series to the longest length"
                )
    longest = max(len(v) for values in series for v in values)
    changed = 0
    for values in series:
        if all(len(v) == longest for v in values):
            continue
        for c, v in enumerate(values):
            if lengths == "pad":
                values[c] = np.concatenate([v, np.full(longest - len(v), v[-1])])
            else:
                values[c] = np.interp(np.linspace(0.0, len(v) - 1.0, longest), np.arange(len(v)), v)
        changed += 1
    if lengths != "error":
        how = "padded with their last value" if lengths == "pad" else "resampled by linear interpolation"
        logger.info("%s: %s %d series to length %d", path, how, changed, longest)
    return np.stack([np.stack(values) for values in series])  # (N, C, T)


@contextlib.contextmanager
def _utf8(path: Path) -> Iterator[TextIO]:
    """``path`` open as UTF-8 text; a file that is not UTF-8 is a ValueError naming it."""
    try:
        with path.open(encoding="utf-8") as f:
            yield f
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err})") from None


def _file(path: str | os.PathLike) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"path: no such file {str(path)!r}")
    return path


# ---------------------------------------------------------------------------------------- readers
def read_ucr_tsv(path: str | os.PathLike, *, missing: Missing = "error", lengths: Lengths = "error") -> SeriesArrays:
    """Read a UCR archive file: one series per line, the label then the values.

    Values are tab-separated (``NAME_TRAIN.tsv``, the 2018 archive), or comma- or
    whitespace-separated (the older ``NAME_TRAIN.txt``). ``NaN``, ``?`` or an empty field is a
    missing value; trailing missing values make the series shorter (unequal lengths).

    Args:
        path: the file.
        missing: ``"error"`` (default) refuses missing values; ``"interpolate"`` fills them by linear
            interpolation between the known neighbours, carrying the first/last known value out to
            the ends.
        lengths: ``"error"`` (default) refuses series of unequal length; ``"pad"`` repeats each
            series' last value up to the longest length; ``"resample"`` stretches each series to the
            longest length by linear interpolation.

    Returns:
        `SeriesArrays`: x ``(N, 1, T)``, the labels as class names, the sorted class names (numeric
        order when they are numbers).

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "toy_TRAIN.tsv")
        >>> _ = open(path, "w").write("1\\t0.5\\t0.7\\t0.1\\n2\\t0.2\\t0.3\\t0.4\\n")
        >>> x, labels, names = read_ucr_tsv(path)
        >>> x.shape, labels.tolist(), names
        ((2, 1, 3), ['1', '2'], ['1', '2'])
    """
    _check_options(missing, lengths)
    path = _file(path)
    rows: list[_Row] = []
    labels: list[str] = []
    with _utf8(path) as f:
        for line, raw in enumerate(f, 1):
            text = raw.strip()
            if not text:
                continue
            tokens = text.split("\t") if "\t" in text else text.split(",") if "," in text else text.split()
            if len(tokens) < 2:
                raise ValueError(f"{path}: line {line}: expected a label then the values, got {text[:40]!r}")
            labels.append(_label(tokens[0].strip()))
            rows.append(_row(line, [tokens[1:]], path))
    x = _finish(path, rows, missing, lengths)
    return SeriesArrays(x, np.array(labels), _sorted_names(set(labels)))


def _ts_header(path: Path, key: str, value: str, line: int) -> None:
    if key == "timestamps" and value.lower() == "true":
        raise ValueError(
            f"{path}: line {line}: @timeStamps true is not supported; genaug reads equally spaced values "
            "(write the file with @timeStamps false)"
        )
    if key == "targetlabel" and value.lower() == "true":
        raise ValueError(
            f"{path}: line {line}: @targetLabel true (regression) is not supported; genaug needs class labels"
        )


def read_ts(path: str | os.PathLike, *, missing: Missing = "error", lengths: Lengths = "error") -> SeriesArrays:
    """Read a sktime / aeon ``.ts`` file (univariate or multivariate, with or without class labels).

    The header (``@problemName``, ``@timeStamps false``, ``@univariate``, ``@dimensions``,
    ``@classLabel true a b c``, ...; keys in any case) ends at ``@data``; then one case per line,
    dimensions separated by ``:``, values by ``,`` and the class label after the last ``:``. Lines
    starting with ``#`` or ``%`` are comments. ``?``, ``NaN`` or an empty field is a missing value;
    trailing missing values make the series shorter. ``@timeStamps true`` and regression targets
    (``@targetLabel true``) are refused.

    Args:
        path: the file.
        missing, lengths: as in `read_ucr_tsv`.

    Returns:
        `SeriesArrays`: x ``(N, C, T)``; labels as class names (None with ``@classLabel false``); the
        class names declared by ``@classLabel`` and found in the data, sorted as in `read_ucr_tsv`.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "toy.ts")
        >>> _ = open(path, "w").write("@dimensions 2\\n@classLabel true a b\\n@data\\n1,2,3:4,5,6:b\\n1,1,1:0,0,0:a\\n")
        >>> x, labels, names = read_ts(path)
        >>> x.shape, labels.tolist(), names
        ((2, 2, 3), ['b', 'a'], ['a', 'b'])
    """
    _check_options(missing, lengths)
    path = _file(path)
    header: dict[str, str] = {}
    rows: list[_Row] = []
    labels: list[str] = []
    declared: set[str] = set()
    labelled, dimensions, in_data = False, None, False
    with _utf8(path) as f:
        for line, raw in enumerate(f, 1):
            text = raw.strip()
            if not text or text.startswith(("#", "%")):
                continue
            if not in_data:
                if not text.startswith("@"):
                    raise ValueError(
                        f"{path}: line {line}: expected a header line starting with @ before @data, got {text[:40]!r}"
                    )
                key, _, value = text[1:].partition(" ")
                key, value = key.lower(), value.strip()
                _ts_header(path, key, value, line)
                if key == "data":
                    in_data = True
                    words = header.get("classlabel", "false").split()
                    labelled = bool(words) and words[0].lower() == "true"
                    declared = {_label(w) for w in words[1:]}
                    if "dimensions" in header:
                        if not header["dimensions"].isdigit() or int(header["dimensions"]) < 1:
                            raise ValueError(
                                f"{path}: @dimensions must be a positive integer, got {header['dimensions']!r}"
                            )
                        dimensions = int(header["dimensions"])
                header[key] = value
                continue
            parts = text.split(":")
            if labelled:
                if len(parts) < 2:
                    raise ValueError(f"{path}: line {line}: expected the values then ':' and the class label")
                label = _label(parts.pop().strip())
                if declared and label not in declared:
                    raise ValueError(
                        f"{path}: line {line}: class label {label!r} is not declared in "
                        f"@classLabel {_sorted_names(declared)}"
                    )
                labels.append(label)
            if dimensions is not None and len(parts) != dimensions:
                raise ValueError(f"{path}: line {line}: {len(parts)} dimensions, but @dimensions says {dimensions}")
            rows.append(_row(line, [part.split(",") for part in parts], path))
    if not in_data:
        raise ValueError(f"{path}: no @data line; a .ts file has a header, then @data, then one series per line")
    x = _finish(path, rows, missing, lengths)
    if not labelled:
        return SeriesArrays(x, None, [])
    return SeriesArrays(x, np.array(labels), _sorted_names(declared | set(labels)))


# ---------------------------------------------------------------------------------------- files
def _from_series(arrays: SeriesArrays, options: dict[str, Any]) -> ArraySet:
    if arrays.labels is not None:
        options.setdefault("class_names", arrays.class_names)
    return from_arrays(arrays.x, arrays.labels, modality="sequence", layout="CT", **options)


def from_ucr_tsv(
    path: str | os.PathLike, *, missing: Missing = "error", lengths: Lengths = "error", **options: Any
) -> ArraySet:
    """`read_ucr_tsv`, then `from_arrays` (``**options``: its keyword arguments, e.g. ``levels``)."""
    return _from_series(read_ucr_tsv(path, missing=missing, lengths=lengths), options)


def from_ts(
    path: str | os.PathLike, *, missing: Missing = "error", lengths: Lengths = "error", **options: Any
) -> ArraySet:
    """`read_ts`, then `from_arrays` (``**options``: its keyword arguments, e.g. ``levels``)."""
    return _from_series(read_ts(path, missing=missing, lengths=lengths), options)


def from_series_file(path: str | os.PathLike, **options: Any) -> ArraySet:
    """A ``.ts`` file with `from_ts`, any other (``.tsv``, ``.txt``) with `from_ucr_tsv`."""
    return (from_ts if Path(path).suffix.lower() == ".ts" else from_ucr_tsv)(path, **options)
