"""Text sources: labelled strings from Python, CSV / JSON Lines files, Hugging Face datasets, and the
US Census first names of the ``names`` package.

Every source ends in `from_texts`, which validates at the edge (no strings, empty strings, unknown
labels, an empty vocabulary) and builds the ``text`` spec (`genaug.modalities.text`).

Example:
    >>> data = from_texts(["anna", "bob", "eve"], ["f", "m", "f"])
    >>> data.spec.modality, data.spec.shape, data.spec.vocabulary, data.spec.class_names
    ('text', (5,), ('a', 'b', 'e', 'n', 'o', 'v'), ('f', 'm'))
    >>> data.user_x()
    ['anna', 'bob', 'eve']
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from genaug.data.arrayset import ArraySet, validate_labels
from genaug.data.spec import DataSpec
from genaug.modalities.text import TOKENIZERS, build_vocabulary, check_texts, encode

__all__ = ["NAMES_SOURCE", "TEXT_SUFFIXES", "from_text_file", "from_texts", "load_names", "read_text_file"]

TEXT_SUFFIXES = (".csv", ".jsonl", ".json")
NAMES_SOURCE = "names"


def from_texts(
    texts: Sequence[str] | np.ndarray,
    labels: Sequence | np.ndarray | torch.Tensor | None = None,
    *,
    class_names: Sequence[str] | None = None,
    tokenizer: Literal["char", "byte"] = "char",
    max_length: int | None = None,
    vocabulary: Sequence[str] | None = None,
) -> ArraySet:
    """Build a validated text `ArraySet` from strings and their labels.

    Args:
        texts: one non-empty string per sample.
        labels: class indices or names, one per string; None for unlabelled text (one class).
        class_names: names of the classes in index order (default: from the labels).
        tokenizer: ``"char"`` (vocabulary = the characters of ``texts``) or ``"byte"`` (UTF-8 bytes).
        max_length: the longest string a model of this data takes (default: the longest here).
        vocabulary: a char tokenizer's symbols (default: those of ``texts``); every character of
            ``texts`` must be among them.

    Returns:
        The `ArraySet` (model space: token ids, see `genaug.modalities.text`).
    """
    if tokenizer not in TOKENIZERS:
        raise ValueError(f"tokenizer: expected one of {list(TOKENIZERS)}, got {tokenizer!r}")
    if isinstance(texts, (list, tuple, np.ndarray)) and len(texts) == 0:
        raise ValueError("texts: empty data set; at least one string is needed")
    texts = check_texts(texts, "texts")
    if not texts:
        raise ValueError("texts: empty data set; at least one string is needed")
    y, names = validate_labels(np.zeros(len(texts), dtype=np.int64) if labels is None else labels, len(texts), class_names)
    if tokenizer == "byte":
        if vocabulary is not None:
            raise ValueError("vocabulary: the byte tokenizer has a fixed vocabulary (the 256 byte values); pass none")
        vocab, longest = None, max(len(t.encode("utf-8")) for t in texts)
    else:
        vocab = tuple(vocabulary) if vocabulary is not None else build_vocabulary(texts)
        if not vocab:
            raise ValueError("vocabulary: empty; at least one character is needed")
        longest = max(len(t) for t in texts)
    if max_length is not None:
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
            raise ValueError(f"max_length: expected an integer >= 1, got {max_length!r}")
        if max_length < longest:
            raise ValueError(f"max_length: {max_length} is shorter than the longest string ({longest} symbols)")
        longest = max_length
    spec = DataSpec(
        modality="text",
        shape=(longest + 1,),
        class_names=tuple(names),
        class_counts=tuple(np.bincount(y, minlength=len(names)).tolist()),
        dtype="str",
        layout="S",
        scaling="tokens",
        tokenizer=tokenizer,
        vocabulary=vocab,
    )
    return ArraySet(encode(texts, tokenizer, vocab, longest + 1, "texts"), torch.from_numpy(y), spec)


def read_text_file(path: str | os.PathLike, *, text_column: str = "text", label_column: str | None = "label") -> tuple[list[Any], list[Any] | None]:
    """The text and label columns of a ``.csv`` (header row), ``.jsonl`` (one object per line) or ``.json``
    (a list of objects) file; ValueError naming a missing column, a bad line or an unreadable file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"path: no such file {str(path)!r}")
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES:
        raise ValueError(f"path: expected a {', '.join(TEXT_SUFFIXES)} file, got {path.name!r}")
    try:
        content = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err})") from None
    if suffix == ".csv":
        reader = csv.DictReader(content.splitlines())
        rows, columns = list(reader), list(reader.fieldnames or [])
    else:
        rows = []
        try:
            if suffix == ".json":
                rows = json.loads(content)
                if not isinstance(rows, list):
                    raise ValueError("expected a list of objects")
            else:
                for number, line in enumerate(content.splitlines(), 1):
                    if line.strip():
                        rows.append(json.loads(line))
        except (json.JSONDecodeError, ValueError) as err:
            where = f": line {number}" if suffix == ".jsonl" else ""  # "PATH: line N: ...", as the series readers say it
            raise ValueError(f"{path}{where}: not valid JSON ({err})") from None
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise ValueError(f"{path}: record {i} is a {type(row).__name__}, expected an object with a {text_column!r} field")
        columns = sorted({k for row in rows for k in row})
    if not rows:
        raise ValueError(f"{path}: no records")
    for name, option in ((text_column, "text_column"), (label_column, "label_column")):
        if name is not None and any(name not in row for row in rows):
            first = next(i for i, row in enumerate(rows) if name not in row)
            where = f"record {first}" if name in columns else "any record"  # some records have it: name the first without
            raise ValueError(
                f"{option}: no column {name!r} in {path.name} ({where}); its columns are {columns}"
                + (" (label_column=None reads it unlabelled)" if option == "label_column" else "")
            )
    texts = [row[text_column] for row in rows]
    labels = None if label_column is None else [row[label_column] for row in rows]
    if labels is not None:
        for i, value in enumerate(labels):
            if value is None or value == "" or isinstance(value, (dict, list, bool)) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(f"label_column: record {i} has label {value!r}; expected a class name or an integer")
        numeric = all(isinstance(v, (int, float)) for v in labels)
        labels = [int(v) for v in labels] if numeric else [str(v) for v in labels]
    return texts, labels


def from_text_file(
    path: str | os.PathLike, *, text_column: str = "text", label_column: str | None = "label", **options: Any
) -> ArraySet:
    """A text data set from a ``.csv``, ``.jsonl`` or ``.json`` file (`read_text_file`); ``options`` go to `from_texts`."""
    texts, labels = read_text_file(path, text_column=text_column, label_column=label_column)
    return from_texts(_checked(texts, text_column), labels, **options)


def _checked(texts: list[Any], column: str) -> list[str]:
    for i, value in enumerate(texts):
        if not isinstance(value, str):
            raise ValueError(f"text_column: record {i} of {column!r} is {type(value).__name__} {value!r:.40}, expected a string")
        if not value:
            raise ValueError(f"text_column: record {i} of {column!r} is an empty string; drop empty rows first")
    return texts


def census_names() -> dict[str, list[tuple[str, float]]]:
    """The US Census 1990 first-name lists of the ``names`` package: ``{"female": [(NAME, percent), ...], "male": ...}``."""
    try:
        import names as names_package
    except ImportError:
        raise ImportError("the 'names' data set needs the names package: pip install 'genaug[text]'") from None
    folder = Path(names_package.__file__).parent
    out = {}
    for sex in ("female", "male"):
        rows = []
        for line in (folder / f"dist.{sex}.first").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2:
                rows.append((parts[0], float(parts[1])))
        out[sex] = rows
    return out


def load_names(*, both: Literal["frequent", "drop", "keep"] = "frequent", lowercase: bool = True, **options: Any) -> ArraySet:
    """US Census 1990 first names labelled by sex (the ``names`` package: 1,219 male, 4,275 female).

    331 names appear in both lists. ``both`` says what to do with them: ``"frequent"`` (default) keeps
    each once, labelled by the list where its census frequency is higher (a tie goes to female, the
    larger list); ``"drop"`` removes them; ``"keep"`` keeps both rows (the same string with two labels).
    Names are lowercased by default (capitals carry no information here). ``options`` go to `from_texts`.

    Example:
        >>> data = load_names()  # doctest: +SKIP
        >>> len(data), data.spec.class_names  # doctest: +SKIP
        (5163, ('female', 'male'))
    """
    if both not in ("frequent", "drop", "keep"):
        raise ValueError(f"both: expected 'frequent', 'drop' or 'keep', got {both!r}")
    lists = census_names()
    freq = {sex: dict(rows) for sex, rows in lists.items()}
    shared = freq["female"].keys() & freq["male"].keys()
    texts, labels = [], []
    for sex in ("female", "male"):
        for name, percent in lists[sex]:
            if name in shared and both == "drop":
                continue
            if name in shared and both == "frequent":
                other = freq["male" if sex == "female" else "female"][name]
                if percent < other or (percent == other and sex == "male"):
                    continue
            texts.append(name.lower() if lowercase else name)
            labels.append(sex)
    return from_texts(texts, labels, class_names=["female", "male"], **options)
