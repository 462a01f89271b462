"""Properties over genaug's edges, shared by tests/test_fuzz.py (a small fixed budget) and benchmarks/bench_fuzz.py.

Each `Property` draws what a user, or a stranger's file, could hand genaug at one edge and checks that
genaug keeps its contract there or refuses with its documented error, never another exception:

- ``from_arrays``: arrays of any shape, dtype and values (NaN, inf, objects, strings, empty), any labels
  and options -> a valid `ArraySet` whose model space is finite float32, or ValueError/TypeError;
- ``load_source``: files of random bytes or random arrays under every suffix genaug reads, and folders
  -> an `ArraySet`, or ValueError/TypeError (FileNotFoundError for what is not there);
- ``spec_round_trip``: user space -> model space -> user space is exact on every grid a dtype resolves,
  and a spec survives its JSON form (``config.json``);
- ``recipe``: random YAML documents, mutations of a valid recipe and random YAML text -> a `Recipe`
  or a `RecipeError`;
- ``transforms``: the time-series transforms on random leaves in random containers, with random
  arguments -> the same container, type, shape and dtype, or ValueError/TypeError;
- ``cli``: random command lines -> exit 0 or 2 with one error line and no traceback (the heavy work,
  fitting and evaluating, is replaced by a stub once the arguments are through).

``check`` returns the outcome's name (what was returned or refused) and raises on a broken contract.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

__all__ = ["PROPERTIES", "Property"]


@dataclass(frozen=True)
class Property:
    name: str
    strategy: st.SearchStrategy
    check: Callable[[Any], str]  # the outcome's name; raises when the contract is broken
    examples: int  # cases in the test suite's fixed budget


# Contract breaks the fuzzing found and that are not fixed yet: counted under these names (the benchmark lists them
# apart) instead of failing; delete an entry once its module is fixed. Empty: every break found so far is fixed.
KNOWN: dict[str, str] = {}


def _refused(err: BaseException, named: bool = False) -> str:
    """The outcome of a documented refusal; ``named``: its message must start by naming what is wrong (``x: ...``)."""
    if named:
        assert re.match(r"^\S+: \S", str(err)), f"an error that names nothing: {type(err).__name__}: {err}"
    return f"refused: {type(err).__name__}"


# ---------------------------------------------------------------------- from_arrays
DTYPES = ["bool", "int8", "uint8", "int16", "int32", "int64", "uint64", "float16", "float32", "float64", "complex64", "datetime64[s]", "U3", "object"]
_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=3), st.binary(max_size=3))


@st.composite
def _arrays(draw: st.DrawFn, min_dims: int = 0, form: str | None = None) -> Any:
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=5, min_side=0, max_side=5))
    if dtype == "object":
        x = np.empty(shape, dtype=object)
        for index in np.ndindex(shape):
            x[index] = draw(st.one_of(_LEAF, st.lists(st.floats(), max_size=3)))
    else:
        x = draw(hnp.arrays(np.dtype(dtype), shape))
    form = form or draw(st.sampled_from(["numpy", "numpy", "list", "tensor"]))
    if form == "list":
        return x.tolist()
    if form == "tensor" and x.dtype.kind in "biuf" and x.dtype != np.uint64:
        return torch.from_numpy(x.copy())
    return x


@st.composite
def _plausible_arrays(draw: st.DrawFn) -> np.ndarray:
    """A batch that could be data: (N, ...) of a real dtype, finite values, now and then one NaN or inf."""
    dtype = np.dtype(draw(st.sampled_from(["uint8", "int8", "int64", "float16", "float32", "float64", "bool"])))
    shape = (draw(st.integers(1, 6)), *draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5)))
    if dtype.kind == "f":
        bound = float(draw(st.sampled_from([1.0, 16.0, 255.0, 1e4 if dtype.itemsize > 2 else 1e3, float(np.finfo(dtype).max)])))
        elements = st.floats(-bound, bound, width=8 * dtype.itemsize)
    else:
        elements = None
    x = draw(hnp.arrays(dtype, shape, elements=elements))
    if dtype.kind == "f" and draw(st.integers(0, 5)) == 0:
        x.flat[draw(st.integers(0, x.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return x


@st.composite
def _from_arrays_cases(draw: st.DrawFn) -> tuple[Any, Any, dict[str, Any]]:
    x = draw(st.one_of(_plausible_arrays(), _arrays(min_dims=draw(st.sampled_from([0, 1, 2])))))
    n = len(x) if isinstance(x, list) or getattr(x, "ndim", 0) > 0 else 0
    y = draw(
        st.one_of(
            st.none(),
            st.lists(st.integers(0, 3), min_size=n, max_size=n),
            st.lists(st.integers(-2, 4), min_size=n, max_size=n),
            st.lists(st.sampled_from(["a", "b", "", "a"]), min_size=n, max_size=n),
            st.lists(_LEAF, max_size=6),
            st.just(np.full(n, np.nan)),
        )
    )
    options: dict[str, Any] = {}
    maybe = {
        "levels": st.one_of(st.just("auto"), st.none(), st.integers(-2, 70_000), st.floats(), st.text(max_size=2)),
        "value_range": st.one_of(st.none(), st.tuples(st.floats(), st.floats()), st.lists(st.integers(-5, 300), max_size=3)),
        "modality": st.sampled_from([None, "vector", "image", "sequence", "text", "nope", 3]),
        "layout": st.sampled_from([None, "D", "HW", "CHW", "HWC", "T", "CT", "TC", "nope"]),
        "class_names": st.one_of(st.none(), st.lists(st.text(max_size=2), max_size=4)),
        "feature_names": st.one_of(st.none(), st.lists(st.text(max_size=2), max_size=6)),
    }
    for key, strategy in maybe.items():
        if draw(st.integers(0, 3)) == 0:
            options[key] = draw(strategy)
    return x, y, options


def _check_from_arrays(case: tuple[Any, Any, dict[str, Any]]) -> str:
    from genaug.data.arrayset import from_arrays

    x, y, options = case
    try:
        data = from_arrays(x, y, **options)
    except (ValueError, TypeError) as err:
        return _refused(err, named=True)
    n = len(x)
    assert len(data) == n, (len(data), n)
    assert data.x.dtype == torch.float32 and bool(torch.isfinite(data.x).all()), "model space must be finite float32"
    back = data.spec.to_user(data.x)
    assert tuple(back.shape) == (n, *data.spec.user_shape()), (tuple(back.shape), data.spec.user_shape())
    assert not back.dtype.is_floating_point or bool(torch.isfinite(back).all()), "back in user space, values must stay finite"
    return f"ArraySet ({data.spec.modality}, {data.spec.scaling})"


# ---------------------------------------------------------------------- load_source: files and folders
SUFFIXES = [".npz", ".csv", ".jsonl", ".json", ".tsv", ".ts", ".png", ".txt", ""]
_CELL = st.one_of(st.floats(-100, 100).map(lambda v: f"{v:.3g}"), st.sampled_from(["?", "NaN", "", "x", "1e999", "-0"]))


@st.composite
def _series_text(draw: st.DrawFn, ts: bool) -> str:
    """A UCR .tsv (label, then values) or an aeon .ts file (header, then values:label), mostly well formed."""
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        values = draw(st.lists(_CELL, min_size=0, max_size=6))
        label = draw(st.sampled_from(["a", "b", "1", "2", ""]))
        rows.append(f"{','.join(values)}:{label}" if ts else "\t".join([label, *values]))
    if not ts:
        return "\n".join(rows)
    header = draw(st.lists(st.sampled_from(["@problemName x", "@timeStamps false", "@timeStamps true", "@univariate true",
                                            "@dimensions 1", "@dimensions 0", "@classLabel true a b 1 2", "@classLabel false",
                                            "@targetLabel true", "@nope"]), max_size=4))
    return "\n".join([*header, *(["@data"] if draw(st.integers(0, 4)) else []), *rows])


@st.composite
def _table_text(draw: st.DrawFn, suffix: str) -> str:
    """Labelled strings as .csv, .jsonl or .json, mostly well formed."""
    import json

    rows = draw(st.lists(st.fixed_dictionaries({"text": st.one_of(st.text(max_size=8), st.integers(), st.none())},
                                               optional={"label": st.sampled_from(["a", "b", 1]), "other": st.text(max_size=3)}), max_size=6))
    if suffix == ".json":
        return json.dumps(rows if draw(st.integers(0, 3)) else {"rows": rows})
    if suffix == ".jsonl":
        return "\n".join(json.dumps(r) for r in rows)
    lines = ["text,label", *(f"{r['text']},{r.get('label', '')}" for r in rows)]
    return "\n".join(lines[draw(st.integers(0, 1)):])


@st.composite
def _png(draw: st.DrawFn) -> bytes:
    """A small PNG or JPEG image (gray, RGB or RGBA), or now and then some bytes that are none."""
    from PIL import Image

    if draw(st.integers(0, 5)) == 0:
        return draw(st.binary(max_size=40))
    mode = draw(st.sampled_from(["L", "RGB", "RGBA"]))
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    pixels = draw(hnp.arrays(np.uint8, (h, w, len(mode)) if mode != "L" else (h, w)))
    out = io.BytesIO()
    Image.fromarray(pixels, mode).save(out, format="PNG")
    return out.getvalue()


@st.composite
def _source_cases(draw: st.DrawFn) -> tuple[str, Any]:
    kind = draw(st.sampled_from(["npz", "npz", "series", "table", "folder", "bytes", "missing"]))
    if kind == "bytes":
        return kind, (draw(st.sampled_from(SUFFIXES)), draw(st.binary(max_size=200)))
    if kind == "npz":
        x = draw(st.one_of(_plausible_arrays(), _arrays(form="numpy")))
        arrays = {"x": x}
        if draw(st.booleans()):
            arrays["y"] = draw(st.one_of(hnp.arrays(np.int64, len(x) if x.ndim else 1, elements=st.integers(0, 3)), _arrays(form="numpy")))
        for name in draw(st.lists(st.sampled_from(["class_names", "feature_names", "other"]), max_size=2, unique=True)):
            arrays[name] = draw(_arrays(form="numpy"))
        if draw(st.integers(0, 5)) == 0:
            arrays = {k: v for k, v in arrays.items() if k != "x"}
        return kind, arrays
    if kind == "series":
        suffix = draw(st.sampled_from([".tsv", ".ts"]))
        return "text", (suffix, draw(_series_text(ts=suffix == ".ts")))
    if kind == "table":
        suffix = draw(st.sampled_from([".csv", ".jsonl", ".json"]))
        return "text", (suffix, draw(_table_text(suffix)))
    if kind == "folder":
        files = st.tuples(st.sampled_from(["a", "b", "a/c", "."]), st.sampled_from([".png", ".png", ".jpg", ".txt"]), _png())
        return kind, draw(st.lists(files, max_size=5))
    return kind, draw(st.sampled_from(["", "nope", "ucr:", "ucr:Nope", "mnist1d:nope", "photos:nope", ":", "digits:"]))


def _check_load_source(case: tuple[str, Any]) -> str:
    from genaug.data.sources import load_source

    kind, content = case
    with tempfile.TemporaryDirectory(prefix="genaug-fuzz-") as root:
        if kind == "bytes" or kind == "text":
            suffix, data = content
            path = Path(root) / f"data{suffix}"
            path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        elif kind == "npz":
            path = Path(root) / "data.npz"
            with open(path, "wb") as f:
                np.savez(f, **content)
        elif kind == "folder":
            path = Path(root) / "images"
            path.mkdir()
            for i, (folder, suffix, data) in enumerate(content):
                (path / folder).mkdir(parents=True, exist_ok=True)
                (path / folder / f"{i}{suffix}").write_bytes(data)
        else:
            path = content if content in ("", ":", "digits:") or ":" in content else Path(root) / content
        try:
            data = load_source(str(path))
        except (ValueError, TypeError, FileNotFoundError) as err:
            return _refused(err, named=True)
        assert data.x.dtype == torch.float32 and bool(torch.isfinite(data.x).all()) or data.spec.scaling == "tokens"
        assert len(data) >= 1
        return f"ArraySet ({kind})"


# ---------------------------------------------------------------------- DataSpec: user -> model -> user, exact on the grid
_SHAPES = {  # (modality, layout) -> per-sample user shapes
    ("vector", "D"): st.tuples(st.integers(1, 5)),
    ("image", "HW"): st.tuples(st.integers(1, 4), st.integers(1, 4)),
    ("image", "CHW"): st.tuples(st.sampled_from([1, 3, 4]), st.integers(1, 4), st.integers(1, 4)),
    ("image", "HWC"): st.tuples(st.integers(1, 4), st.integers(1, 4), st.sampled_from([1, 3, 4])),
    ("sequence", "T"): st.tuples(st.integers(1, 6)),
    ("sequence", "CT"): st.tuples(st.integers(1, 3), st.integers(1, 6)),
    ("sequence", "TC"): st.tuples(st.integers(1, 6), st.integers(1, 3)),
}
_RESOLUTION = {"float64": 2.0**-40, "float32": 2.0**-20, "float16": 2.0**-9}  # the smallest step / magnitude a grid may have


@st.composite
def _grid_cases(draw: st.DrawFn) -> tuple[np.ndarray, dict[str, Any]]:
    modality, layout = draw(st.sampled_from(sorted(_SHAPES)))
    shape = (draw(st.integers(1, 3)), *draw(_SHAPES[(modality, layout)]))
    dtype = draw(st.sampled_from(["float64", "float32", "float16", "int16", "int32", "int64", "uint8"]))
    if dtype in _RESOLUTION:
        levels = draw(st.integers(2, 2**20 if dtype != "float16" else 2**10))
        bound = 1e6 if dtype != "float16" else 3e4
        lo = draw(st.floats(-bound, bound))
        span = draw(st.floats(1e-3, bound))
        hi = lo + span
        assume(hi > lo and span / (levels - 1) >= max(abs(lo), abs(hi)) * _RESOLUTION[dtype])
    else:
        low, high = max(int(np.iinfo(dtype).min), -1000), min(int(np.iinfo(dtype).max), 1000)
        step = draw(st.integers(1, 5))
        levels = draw(st.integers(2, min(300, (high - low) // step + 1)))
        lo = float(draw(st.integers(low, high - (levels - 1) * step)))
        hi = lo + (levels - 1) * step
    k = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, levels - 1)))
    x = (lo + k * (hi - lo) / (levels - 1)).astype(dtype)  # the grid as DataSpec.to_user computes it
    return x, dict(modality=modality, layout=layout, levels=levels, value_range=(lo, hi))


def _check_spec_round_trip(case: tuple[np.ndarray, dict[str, Any]]) -> str:
    from genaug.data.spec import DataSpec

    x, options = case
    spec = DataSpec.infer(x, ["a"], **options)
    assert spec.scaling == "grid" and spec.levels == options["levels"]
    z = spec.to_model(x)
    assert z.dtype == torch.float32 and bool((z.abs() < 1).all())
    back = spec.to_user(z).numpy()
    assert back.dtype == x.dtype and back.shape == x.shape
    assert np.array_equal(back, x), f"not exact: {x.ravel()[:4]} -> {back.ravel()[:4]}"
    assert DataSpec.model_validate_json(spec.model_dump_json()) == spec
    assert np.array_equal(spec.to_user(spec.dequantize(z, torch.Generator().manual_seed(0))).numpy(), x)  # within its bin
    return f"exact ({x.dtype})"


# ---------------------------------------------------------------------- recipes
_YAML_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-(2**65), 2**65), st.floats(), st.text(max_size=8))
_YAML = st.recursive(_YAML_SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)), max_leaves=12)
_RECIPE_VALUE = st.one_of(  # values recipes hold, then anything
    st.sampled_from(["gmm", "vae", "flow", "mix", "transform", "hf", "classic", "labelled", "none", "generative", "auto", "cnn", "mlp",
                     "digits", "wine", "all", "near_copy", "pseudo_label", "os:getcwd", "torch.nn:Linear", 0, 1, 5, 0.5, 1.5, -1, True, [0, 1], {}]),
    _YAML,
)
_VALID = {
    "name": "fuzz",
    "data": {"source": "digits", "test_size": 0.5},
    "subset": {"shots": [5, 10]},
    "generator": {"family": "gmm", "config": {"n_components": 2}, "train": {"steps": 5}, "fit_on": "classic"},
    "classic": {"library": "torchvision", "transforms": [{"RandomAffine": {"degrees": 10}}]},
    "injection": {"where": "mix", "ratio": 0.5},
    "filters": [{"name": "near_copy", "threshold": 0.2}],
    "variants": {"v": {"generator": {"family": "gmm"}}},
    "downstream": {"model": "cnn", "steps": 40},
    "arms": ["none", "classic", "generative", "generative:v"],
    "seeds": [0, 1],
}


def _recipe_vocabulary() -> list[str]:
    """Every field name of the recipe schema and its sections (read from the models, so new fields join)."""
    from genaug.recipes.schema import Recipe, _models_in

    names, todo, seen = set(), [Recipe], set()
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            names.add(name)
            todo += _models_in(field.annotation)
    return sorted(names)


@st.composite
def _mutated_recipes(draw: st.DrawFn) -> Any:
    """The valid recipe with a few values replaced, keys added or removed, at any depth."""
    recipe = yaml.safe_load(yaml.safe_dump(_VALID))
    vocabulary = _recipe_vocabulary()
    for _ in range(draw(st.integers(0, 3))):
        node, key = recipe, None
        while True:  # walk down to a random container
            keys = list(node) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
            if not keys or draw(st.integers(0, 2)) == 0:
                break
            key = draw(st.sampled_from(keys))
            if not isinstance(node[key], dict | list):
                break
            node = node[key]
        action = draw(st.sampled_from(["replace", "add", "delete"]))
        if isinstance(node, dict):
            if action == "add" or key is None or key not in node:
                node[draw(st.one_of(st.sampled_from(vocabulary), st.text(max_size=5)))] = draw(_RECIPE_VALUE)
            elif action == "delete":
                del node[key]
            else:
                node[key] = draw(_RECIPE_VALUE)
        elif isinstance(node, list) and node and isinstance(key, int) and key < len(node):
            node[key] = draw(_RECIPE_VALUE)
    return recipe


_RECIPE_DOCS = st.one_of(
    _mutated_recipes(),
    _mutated_recipes(),
    _mutated_recipes(),
    st.dictionaries(st.sampled_from(["name", "data", "generator", "arms", "seeds", "output", "nope"]), _YAML, max_size=5),
    _YAML,
    st.text(max_size=60).map(lambda text: ("yaml-text", text)),
    st.binary(max_size=60).map(lambda data: ("yaml-bytes", data)),
)


def _check_recipe(doc: Any) -> str:
    from genaug.recipes.schema import Recipe, RecipeError, load_recipe

    path = None
    if isinstance(doc, str):  # load_recipe reads a string as a path: give it a file of that YAML
        doc = ("yaml-text", yaml.safe_dump(doc))
    if isinstance(doc, tuple) and doc and doc[0] in ("yaml-text", "yaml-bytes"):
        path = Path(tempfile.gettempdir()) / f"genaug-fuzz-{os.getpid()}.yaml"
        path.write_bytes(doc[1].encode("utf-8") if isinstance(doc[1], str) else doc[1])
    try:
        recipe = load_recipe(path if path is not None else doc)
    except RecipeError:
        return "refused: RecipeError"
    finally:
        if path is not None:
            path.unlink(missing_ok=True)
    assert isinstance(recipe, Recipe)
    assert load_recipe(recipe.model_dump(mode="json")) == recipe  # what recipe.json stores reads back the same
    return "Recipe"


# ---------------------------------------------------------------------- time-series transforms in containers
_JUNK = st.one_of(st.floats(), st.integers(-2, 8), st.booleans(), st.text(max_size=2), st.none())
_TRANSFORMS = {  # each argument: mostly a value in its documented range, now and then anything
    "Jitter": {"sigma": st.floats(0, 1)},
    "Scaling": {"sigma": st.floats(0, 1)},
    "MagnitudeWarp": {"sigma": st.floats(0, 1), "knots": st.integers(1, 8)},
    "TimeWarp": {"sigma": st.floats(0, 1), "knots": st.integers(1, 8)},
    "WindowSlice": {"ratio": st.floats(0.01, 1)},
    "WindowWarp": {"window_ratio": st.floats(0.01, 1), "scales": st.lists(st.floats(0.1, 4), min_size=1, max_size=3)},
}


@st.composite
def _transform_cases(draw: st.DrawFn) -> tuple[str, dict[str, Any], Any]:
    name = draw(st.sampled_from(sorted(_TRANSFORMS)))
    args = {}
    for key, strategy in _TRANSFORMS[name].items():
        if draw(st.booleans()):
            args[key] = draw(_JUNK if draw(st.integers(0, 5)) == 0 else strategy)
    if draw(st.integers(0, 3)):  # a sequence: (T,) or (C, T) floats
        dtype = draw(st.sampled_from(["float16", "float32", "float64"]))
        shape = draw(st.one_of(st.tuples(st.integers(1, 40)), st.tuples(st.integers(1, 3), st.integers(1, 40))))
        leaf = draw(hnp.arrays(np.dtype(dtype), shape, elements=st.floats(-10, 10, width=8 * np.dtype(dtype).itemsize)))
    else:  # anything
        dtype = draw(st.sampled_from(["float16", "float32", "float64", "int64", "bool", "complex64"]))
        leaf = draw(hnp.arrays(np.dtype(dtype), draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6))))
    if draw(st.booleans()) and leaf.dtype not in (np.complex64, np.float16):
        leaf = torch.from_numpy(leaf.copy())
    container = draw(st.sampled_from(["leaf", "tuple", "dict", "list"]))
    sample = {"leaf": leaf, "tuple": (leaf, 3), "dict": {"series": leaf, "label": "a"}, "list": [leaf, torch.tensor(1)]}[container]
    return name, args, sample


def _check_transform(case: tuple[str, dict[str, Any], Any]) -> str:
    import genaug.transforms as T

    name, args, sample = case
    try:
        transform = getattr(T, name)(**args)
    except (ValueError, TypeError) as err:
        return f"constructor {_refused(err)}"
    try:
        out = transform(sample)
    except (ValueError, TypeError) as err:
        return _refused(err)
    leaf = sample if isinstance(sample, np.ndarray | torch.Tensor) else sample["series"] if isinstance(sample, dict) else sample[0]
    got = out if isinstance(out, np.ndarray | torch.Tensor) else out["series"] if isinstance(out, dict) else out[0]
    assert type(out) is type(sample) and type(got) is type(leaf), (type(out), type(got))
    assert got.shape == leaf.shape and got.dtype == leaf.dtype, (got.shape, leaf.shape, got.dtype, leaf.dtype)
    if isinstance(sample, dict):
        assert out["label"] == "a"
    return f"transformed ({type(leaf).__name__})"


# ---------------------------------------------------------------------- the command line
class _Reached(Exception):
    """The arguments got through to the work (which the property does not do)."""


_FLAGS = {
    "fit": ["--data", "--family", "--out", "--steps", "--seed", "--resume", "--batch-size", "--lr", "--mixed-precision", "--set", "--train",
            "--holdout", "--split-seed", "--levels", "--value-range", "--task", "--scale", "--data-b", "--patch-size", "--patches",
            "--text-column", "--label-column"],
    "sample": ["-n", "--labels", "--seed", "--out", "--grid", "--option"],
    "eval": ["--data", "--holdout", "--train", "--seed", "--draws", "--n-per-class", "--pairs", "--json"],
    "apply": ["--out", "--to", "--seed", "--tryon", "--harmonizer", "--option"],
    "run": ["--out", "-q"],
    "families": ["-v"],
}
_VALUES = ["digits", "wine", "nope", "", "-1", "0", "1", "0.5", "1e-3", "nan", "inf", "gmm", "vae", "nope.npz", "x.npz", "x.png",
           "superres", "a=1", "steps=2", "=", "a=", "balanced", "0,1", "fp16", "--", "-", "sunglasses", "/nonexistent/model", "ucr:Nope"]


_GOOD = {  # values a flag takes (the rest of _VALUES and random text come too)
    "--data": ["digits", "wine", "names", "ucr:Nope"], "--family": ["gmm", "vae", "charlm", "rescnn"], "--steps": ["1", "0", "-3"],
    "--set": ["n_components=2", "latent_dim=x"], "--train": ["steps=2", "progress=false", "nope=1"], "--holdout": ["0.2", "1.5"],
    "--levels": ["17", "1", "99999999"], "--value-range": ["0", "16"], "--task": ["superres", "colorize", "translate"],
    "-n": ["3", "-1", "0"], "--labels": ["balanced", "0,3", "99"], "--out": ["/nonexistent-genaug/out", "out.npz"],
    "--mixed-precision": ["no", "fp16"], "--option": ["temperature=0.5", "self_ensemble=true", "nope=1"], "--tryon": ["sunglasses", "hat", "nope.png"], "--to": ["1", "b"],
}


_REQUIRED = {"fit": ["--out"], "sample": ["-n", "--out"], "eval": ["--data"], "apply": ["--out"]}


@st.composite
def _argvs(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from([*sorted(_FLAGS), "nope", "--help", "-h", "--debug", "-v"]))
    argv = [command]
    if command in _FLAGS:
        if command in ("sample", "eval", "apply") and draw(st.integers(0, 3)):
            argv.append("/nonexistent/model")
        if command == "apply" and draw(st.booleans()):
            argv.append("/nonexistent/input.png")
        for flag in _REQUIRED.get(command, []):
            if draw(st.integers(0, 5)):
                argv += [flag, draw(st.sampled_from(_GOOD[flag]))]
        if draw(st.integers(0, 9)) == 0:
            argv.append("--help")
        for _ in range(draw(st.integers(0, 5))):
            if draw(st.integers(0, 6)) == 0:
                argv.append(draw(st.one_of(st.sampled_from(_VALUES), st.text(max_size=4))))
                continue
            flag = draw(st.sampled_from(_FLAGS[command]))
            argv.append(flag)
            if draw(st.integers(0, 7)):
                argv.append(draw(st.one_of(st.sampled_from(_GOOD.get(flag, ["1"])), st.sampled_from(_VALUES))))
                if flag == "--value-range":
                    argv.append(draw(st.sampled_from(["16", "0", "nan", "x"])))
    return argv


def _check_cli(argv: list[str]) -> str:
    import genaug
    import genaug.recipes
    from genaug.cli import main

    def reached(*args: Any, **kwargs: Any) -> Any:
        raise _Reached

    stubs = {(genaug, "fit"): reached, (genaug, "evaluate"): reached, (genaug.recipes, "run"): reached}
    saved = {key: getattr(*key) for key in stubs}
    out, err = io.StringIO(), io.StringIO()
    try:
        for (owner, name), stub in stubs.items():
            setattr(owner, name, stub)
        # relative paths in the drawn arguments (--out 0, --out digits) land in a folder of their own, never the caller's
        with tempfile.TemporaryDirectory() as cwd, contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exit_:  # argparse: --help (0) or a usage error (2)
                assert exit_.code in (0, 2), exit_.code
                return f"argparse exit {exit_.code}"
    except _Reached:
        return "reached the work"
    finally:
        for (owner, name), real in saved.items():
            setattr(owner, name, real)
    assert code in (0, 2), code
    text = err.getvalue()
    assert "Traceback" not in text, text
    if code == 2:
        last = text.rstrip().splitlines()[-1]
        assert last.startswith(f"genaug {argv[0] if argv[0] in _FLAGS else ''}"), text
    return f"exit {code}"


PROPERTIES = [
    Property("from_arrays", _from_arrays_cases(), _check_from_arrays, 120),
    Property("load_source", _source_cases(), _check_load_source, 60),
    Property("spec_round_trip", _grid_cases(), _check_spec_round_trip, 100),
    Property("recipe", _RECIPE_DOCS, _check_recipe, 100),
    Property("transforms", _transform_cases(), _check_transform, 80),
    Property("cli", _argvs(), _check_cli, 60),
]
