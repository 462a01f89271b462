"""Arguments the sub-commands share: labels, KEY=VALUE lists, sampling options, data sources and splits."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from typing import Any

import yaml

__all__ = ["add_split_args", "add_value_args", "key_values", "load_data", "load_split", "option_flag", "option_values", "parse_labels"]


def parse_labels(text: str | None, n: int, class_names: Sequence[str]) -> list[int] | None:
    """Labels for ``n`` samples from the ``--labels`` syntax.

    ``None``: the training proportions (decided by the model); ``"balanced"``: equal counts per
    class (the first classes get one more when ``n`` does not divide); ``"3"`` or a class name: all
    of that class; ``"0,3,7"``: the listed classes in turn until there are ``n``.

    Example:
        >>> parse_labels("0,3", 5, [str(i) for i in range(10)])
        [0, 3, 0, 3, 0]
    """
    if text is None:
        return None
    names = list(class_names)

    def index(token: str) -> int:
        token = token.strip()
        if token in names:
            return names.index(token)
        if token.lstrip("-").isdigit() and 0 <= int(token) < len(names):
            return int(token)
        raise ValueError(f"--labels: unknown class {token!r}; expected 0..{len(names) - 1}, one of {names}, or 'balanced'")

    if text.strip() == "balanced":
        return [i % len(names) for i in range(n)]
    classes = [index(token) for token in text.split(",") if token.strip()]
    if not classes:
        raise ValueError(f"--labels: no class given in {text!r}")
    return [classes[i % len(classes)] for i in range(n)]


def key_values(pairs: Sequence[str], flag: str) -> dict[str, Any]:
    """``["a=1", "b=[2, 3]"]`` -> ``{"a": 1, "b": [2, 3]}`` (values read as numbers or YAML)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag}: expected KEY=VALUE, got {pair!r}")
        try:
            out[key.strip()] = _scalar(value)
        except yaml.YAMLError as err:  # a value YAML cannot read, or a tag safe loading refuses (!!python/...)
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise ValueError(f"{flag}: {key.strip()}={value!r:.60} is not a number, a string or a YAML list/mapping ({problem})") from None
    return out


def option_values(args: argparse.Namespace, model: Any) -> dict[str, Any]:
    """``--option KEY=VALUE ...``: the model family's sampling options, checked by name before anything is drawn."""
    options = key_values(args.option or [], "--option")
    try:
        model.check_sampling_options(options)
    except TypeError as err:
        raise ValueError(f"--option: {err}") from None
    return options


def option_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--option", nargs="*", metavar="KEY=VALUE",
                   help="the family's sampling options, e.g. --option guidance=3 (diffusion) or temperature=0.8 (vae); see `genaug families`")


def _scalar(text: str) -> Any:
    """A number when ``text`` is one (YAML 1.1 would read ``1e-3`` as a string), else YAML."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return yaml.safe_load(text)


def add_value_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--levels", type=int, default=None, metavar="N",
                   help="the values are a grid of N levels (with --value-range: over it; e.g. --levels 17 --value-range 0 16)")
    p.add_argument("--value-range", dest="value_range", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help="the lowest and highest value the data can take (default: inferred and printed by fit)")
    p.add_argument("--text-column", dest="text_column", default=None, metavar="NAME",
                   help="text files (.csv, .jsonl, .json): the column holding the strings (default: text)")
    p.add_argument("--label-column", dest="label_column", default=None, metavar="NAME",
                   help="text files: the column holding the labels (default: label)")


def _value_options(args: argparse.Namespace) -> dict[str, Any]:
    """`load_source` keyword arguments of --levels / --value-range (checked here, so errors name the flag)."""
    options: dict[str, Any] = {}
    levels, value_range = getattr(args, "levels", None), getattr(args, "value_range", None)
    if levels is not None:
        if levels < 2:
            raise ValueError(f"--levels: expected a grid of at least 2 levels, got {levels}")
        options["levels"] = levels
    if value_range is not None:
        low, high = value_range
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"--value-range: expected LOW < HIGH, two finite numbers; got {low:g} {high:g}")
        options["value_range"] = (low, high)
    return options


def _column_options(args: argparse.Namespace) -> dict[str, Any]:
    """`load_source` keyword arguments of --text-column / --label-column."""
    return {k: getattr(args, k) for k in ("text_column", "label_column") if getattr(args, k, None) is not None}


def load_data(args: argparse.Namespace, source: str) -> Any:
    """``source`` with the --levels / --value-range declaration, refused clearly where the source has its own."""
    import genaug

    options, columns = _value_options(args), _column_options(args)
    try:
        return genaug.load_source(source, **options, **columns)
    except TypeError as err:
        if not options and not columns:
            raise
        flags = " and ".join(f"--{name.replace('_', '-')}" for name in [*options, *columns])
        what = "declares its own values and takes" if options else "has no columns to choose and takes"
        raise ValueError(f"{flags}: the source {source!r} {what} no such option ({err})") from None


def add_split_args(p: argparse.ArgumentParser, part: str) -> None:
    p.add_argument("--holdout", type=float, default=None, metavar="FRACTION",
                   help=f"use the {part} part of a stratified split of --data that holds out FRACTION (scikit-learn's train_test_split)")
    p.add_argument("--split-seed", dest="split_seed", type=int, default=0, help="random_state of the --holdout split (default 0)")


def load_split(args: argparse.Namespace, part: str) -> Any:
    """The ``--data`` source, or its ``part`` ("train"/"test") of the ``--holdout`` split."""
    data = load_data(args, args.data)
    if args.holdout is None:
        return data
    train, test = data.train_test_split(args.holdout, seed=args.split_seed)
    return train if part == "train" else test
