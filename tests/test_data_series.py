"""Time-series sources: UCR .tsv and aeon .ts readers, missing values and unequal lengths, the UCR
sets aeon ships, MNIST-1D, and their wiring into `load_source`."""

from __future__ import annotations

import logging
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genaug.data import load_source
from genaug.data import series_sets
from genaug.data.series import read_ts, read_ucr_tsv
from genaug.data.series_sets import MNIST1D_LEVELS, MNIST1D_RANGE, load_mnist1d, load_ucr, make_mnist1d, ucr_names, ucr_path

TS_HEADER = (
    "# a comment\n% another\n@problemName toy\n@timeStamps false\n@univariate true\n@classLabel true 1 2 10\n@data\n"
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------------------- UCR .tsv
@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("toy_TRAIN.tsv", "2\t1.0\t2.0\t3.0\n10\t4.0\t5.0\t6.0\n1\t7.0\t8.0\t9.0\n"),
        ("toy_TRAIN.csv", "2,1.0,2.0,3.0\n10,4.0,5.0,6.0\n1,7.0,8.0,9.0\n"),
        # the older archive: whitespace-separated, labels written as floats
        ("toy_TRAIN.txt", "  2.0000000e+00  1.0e+00  2.0e+00  3.0e+00\n  1.0000000e+01  4.0  5.0  6.0\n\n 1.0 7 8 9\n"),
    ],
)
def test_read_ucr_tsv_separators_and_numeric_class_order(tmp_path, name, text):
    x, labels, names = read_ucr_tsv(write(tmp_path, name, text))
    assert x.shape == (3, 1, 3) and x.dtype == np.float64
    np.testing.assert_array_equal(x[:, 0], [[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    assert labels.tolist() == ["2", "10", "1"]
    assert names == ["1", "2", "10"]  # numeric order, not "1", "10", "2"


def test_read_ucr_tsv_string_labels_sorted(tmp_path):
    _, labels, names = read_ucr_tsv(write(tmp_path, "t.tsv", "walk\t1\t2\nrun\t3\t4\nwalk\t5\t6\n"))
    assert labels.tolist() == ["walk", "run", "walk"] and names == ["run", "walk"]


def test_read_ucr_tsv_bad_token_names_file_and_line(tmp_path):
    path = write(tmp_path, "t.tsv", "1\t1\t2\n\n2\t3\tabc\n")
    with pytest.raises(ValueError, match=rf"{path}: line 3: 'abc' is not a number"):
        read_ucr_tsv(path)


def test_read_ucr_tsv_refuses_empty_and_label_only(tmp_path):
    with pytest.raises(ValueError, match="no series found"):
        read_ucr_tsv(write(tmp_path, "empty.tsv", "\n\n"))
    with pytest.raises(ValueError, match="line 1: expected a label then the values"):
        read_ucr_tsv(write(tmp_path, "label.tsv", "1\n"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_ucr_tsv(tmp_path / "missing.tsv")


# ---------------------------------------------------------------------------------------- .ts
def test_read_ts_univariate_with_comments_and_declared_classes(tmp_path):
    path = write(tmp_path, "toy.ts", TS_HEADER + "1,2,3:1\n\n4,5,6:2\n")
    x, labels, names = read_ts(path)
    assert x.shape == (2, 1, 3)
    np.testing.assert_array_equal(x[:, 0], [[1, 2, 3], [4, 5, 6]])
    assert labels.tolist() == ["1", "2"]
    assert names == ["1", "2", "10"]  # declared classes count even when absent (train and test agree)


def test_read_ts_multivariate_and_header_case(tmp_path):
    header = "@PROBLEMNAME m\n@timestamps false\n@dimensions 3\n@classlabel true a b\n@data\n"
    text = header + "1,2:3,4:5,6:b\n0,0:1,1:2,2:a\n"
    x, labels, names = read_ts(write(tmp_path, "m.ts", text))
    assert x.shape == (2, 3, 2)
    np.testing.assert_array_equal(x[0], [[1, 2], [3, 4], [5, 6]])
    assert labels.tolist() == ["b", "a"] and names == ["a", "b"]


def test_read_ts_unlabelled(tmp_path):
    x, labels, names = read_ts(write(tmp_path, "u.ts", "@classLabel false\n@data\n1,2,3\n4,5,6\n"))
    assert x.shape == (2, 1, 3) and labels is None and names == []


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("@timeStamps true\n@classLabel true 1\n@data\n(0,1),(1,2):1\n", r"line 1: @timeStamps true is not supported"),
        ("@targetLabel true\n@data\n1,2:0.5\n", r"line 1: @targetLabel true \(regression\) is not supported"),
        ("@classLabel true 1 2\n1,2:1\n", r"line 2: expected a header line starting with @ before @data"),
        ("@classLabel true 1 2\n", r"no @data line"),
        ("@classLabel true 1 2\n@data\n1,2:1\n3,4:3\n", r"line 4: class label '3' is not declared in @classLabel"),
        ("@dimensions 2\n@data\n1,2:3,4\n1,2\n", r"line 4: 1 dimensions, but @dimensions says 2"),
        ("@classLabel true 1\n@data\n1,2:3,4:1\n1,2:1\n", r"line 4: 1 dimensions, but line 3 has 2"),
        ("@classLabel true 1\n@data\n1,2:1\n?,?:1\n", r"line 4: dimension 0 has no values"),
    ],
)
def test_read_ts_refuses_with_file_and_line(tmp_path, text, match):
    path = write(tmp_path, "bad.ts", text)
    with pytest.raises(ValueError, match=match) as info:
        read_ts(path)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------------------------------- missing / lengths
MISSING = {
    "tsv": ("m.tsv", "1\t1\t2\t3\t4\n2\tNaN\t2\tNaN\t8\n1\t5\t6\t7\t8\n", read_ucr_tsv, "NaN", 2, 0),
    "ts": ("m.ts", TS_HEADER + "1,2,3,4:1\n?,2,?,8:2\n5,6,7,8:1\n", read_ts, "?", 9, 0),
}


@pytest.mark.parametrize("kind", sorted(MISSING))
def test_missing_values_error_names_file_line_and_value(tmp_path, kind):
    name, text, reader, token, line, index = MISSING[kind]
    path = write(tmp_path, name, text)
    message = f"line {line}: missing value '{token}' at index {index}; pass missing='interpolate'"
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        reader(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("kind", sorted(MISSING))
def test_missing_interpolate_fills_inside_and_carries_edges(tmp_path, kind, caplog):
    name, text, reader, *_ = MISSING[kind]
    path = write(tmp_path, name, text)
    with caplog.at_level(logging.INFO, logger="genaug.data.series"):
        x, _, _ = reader(path, missing="interpolate")
    np.testing.assert_allclose(x[1, 0], [2, 2, 5, 8])  # leading gap: first known value; inside: linear
    np.testing.assert_array_equal(x[[0, 2], 0], [[1, 2, 3, 4], [5, 6, 7, 8]])
    lines = [r.getMessage() for r in caplog.records if r.name == "genaug.data.series"]
    assert len(lines) == 1 and "filled missing values of 1 series by linear interpolation" in lines[0]


def test_missing_interpolate_multivariate(tmp_path):
    text = "@dimensions 2\n@classLabel true a\n@data\n1,2,3:1,?,?,4:a\n"
    with pytest.raises(ValueError, match=r"line 4: missing value '\?' at index 1 of dimension 1"):
        read_ts(write(tmp_path, "mv.ts", text))
    # dimension 0 is shorter (3 values against 4): a length question, not a missing value
    x, _, _ = read_ts(write(tmp_path, "mv.ts", text), missing="interpolate", lengths="pad")
    np.testing.assert_allclose(x[0], [[1, 2, 3, 3], [1, 2, 3, 4]])


LENGTHS = {
    # the UCR convention: shorter series padded with trailing NaN
    "tsv": ("l.tsv", "1\t1\t2\t3\t4\n2\t0\t6\tNaN\tNaN\n", read_ucr_tsv, 2, 1),
    "ts": ("l.ts", TS_HEADER + "1,2,3,4:1\n0,6:2\n", read_ts, 9, 8),
}


@pytest.mark.parametrize("kind", sorted(LENGTHS))
def test_unequal_lengths_error_names_file_line_and_lengths(tmp_path, kind):
    name, text, reader, line, first = LENGTHS[kind]
    path = write(tmp_path, name, text)
    message = rf"line {line}: series of length 2, but line {first} has length 4; pass lengths='pad'"
    with pytest.raises(ValueError, match=message) as info:
        reader(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("kind", sorted(LENGTHS))
@pytest.mark.parametrize(
    ("lengths", "expected", "verb"),
    [
        ("pad", [0, 6, 6, 6], "padded with their last value"),
        ("resample", [0, 2, 4, 6], "resampled by linear interpolation"),
    ],
)
def test_unequal_lengths_pad_and_resample(tmp_path, kind, lengths, expected, verb, caplog):
    name, text, reader, *_ = LENGTHS[kind]
    with caplog.at_level(logging.INFO, logger="genaug.data.series"):
        x, _, _ = reader(write(tmp_path, name, text), lengths=lengths)
    assert x.shape == (2, 1, 4)
    np.testing.assert_allclose(x[0, 0], [1, 2, 3, 4])
    np.testing.assert_allclose(x[1, 0], expected)
    lines = [r.getMessage() for r in caplog.records if r.name == "genaug.data.series"]
    assert len(lines) == 1 and f"{verb} 1 series to length 4" in lines[0]


def test_missing_and_lengths_together(tmp_path, caplog):
    path = write(tmp_path, "both.tsv", "1\t1\tNaN\t3\t4\n2\t0\t6\tNaN\tNaN\n")
    with pytest.raises(ValueError, match="missing value"):
        read_ucr_tsv(path, lengths="pad")
    with pytest.raises(ValueError, match="series of length 2"):
        read_ucr_tsv(path, missing="interpolate")
    with caplog.at_level(logging.INFO, logger="genaug.data.series"):
        x, _, _ = read_ucr_tsv(path, missing="interpolate", lengths="resample")
    np.testing.assert_allclose(x[:, 0], [[1, 2, 3, 4], [0, 2, 4, 6]])
    assert len([r for r in caplog.records if r.name == "genaug.data.series"]) == 2


@pytest.mark.parametrize(("option", "value"), [("missing", "drop"), ("lengths", "truncate")])
@pytest.mark.parametrize("reader", [read_ucr_tsv, read_ts])
def test_bad_options_name_the_argument(tmp_path, reader, option, value):
    with pytest.raises(ValueError, match=rf"{option}: expected .*, got '{value}'"):
        reader(tmp_path / "never_read", **{option: value})


# ---------------------------------------------------------------------------------------- UCR sets aeon ships
UCR = [("GunPoint", 50, 150, 150, 2), ("ArrowHead", 36, 175, 251, 3), ("ItalyPowerDemand", 67, 1029, 24, 2)]


@pytest.mark.parametrize(("name", "n_train", "n_test", "length", "classes"), UCR)
def test_bundled_ucr_counts(name, n_train, n_test, length, classes):
    assert name in ucr_names()
    train, test = read_ts(ucr_path(name, "train")), read_ts(ucr_path(name.lower(), "test"))
    assert train.x.shape == (n_train, 1, length) and test.x.shape == (n_test, 1, length)
    assert len(train.class_names) == classes and train.class_names == test.class_names
    assert set(train.labels.tolist()) == set(train.class_names)
    assert np.isfinite(train.x).all() and np.isfinite(test.x).all()


def test_bundled_ucr_tsv_and_ts_agree():
    folder = ucr_path("GunPoint").parent
    tsv, ts = read_ucr_tsv(folder / "GunPoint_TRAIN.tsv"), read_ts(folder / "GunPoint_TRAIN.ts")
    np.testing.assert_allclose(tsv.x, ts.x)
    assert tsv.labels.tolist() == ts.labels.tolist() and tsv.class_names == ts.class_names


def test_bundled_ucr_found_without_importing_aeon():
    code = (
        "import sys\nfrom genaug.data.series import read_ts\nfrom genaug.data.series_sets import ucr_path\n"
        "read_ts(ucr_path('GunPoint'))\nprint('aeon' in sys.modules, 'numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_bundled_ucr_errors(monkeypatch):
    with pytest.raises(ValueError, match=r"name: unknown UCR set 'NoSuchSet'; the installed aeon ships \[.*'GunPoint'"):
        ucr_path("NoSuchSet")
    with pytest.raises(ValueError, match="split: expected 'train' or 'test', got 'val'"):
        ucr_path("GunPoint", "val")
    monkeypatch.setattr(series_sets.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ValueError, match=r"pip install 'genaug\[timeseries\]'"):
        ucr_path("GunPoint")


# ---------------------------------------------------------------------------------------- MNIST-1D
@pytest.mark.slow
def test_make_mnist1d_shapes_grid_and_determinism():
    py_state, np_state = random.getstate(), np.random.get_state()
    train, test, both = make_mnist1d("train"), make_mnist1d("test"), make_mnist1d("all")
    # make_dataset reseeds the global generators; the caller's streams must come back unchanged
    assert random.getstate() == py_state and np.array_equal(np.random.get_state()[1], np_state[1])
    assert train.x.shape == (4000, 1, 40) and test.x.shape == (1000, 1, 40) and both.x.shape == (5000, 1, 40)
    assert train.class_names == [str(i) for i in range(10)]
    assert set(train.labels.tolist()) == set(range(10)) == set(test.labels.tolist())
    lo, hi = MNIST1D_RANGE
    for part in (train, test):
        assert lo < part.x.min() and part.x.max() < hi
    np.testing.assert_array_equal(both.x, np.concatenate([train.x, test.x]))
    fresh = series_sets._mnist1d.__wrapped__(42)  # a second build, past the cache: same seed, same data
    np.testing.assert_array_equal(fresh["x"], train.x[:, 0])
    np.testing.assert_array_equal(fresh["y_test"], test.labels)


def test_make_mnist1d_errors(monkeypatch):
    with pytest.raises(ValueError, match="split: expected 'train', 'test' or 'all', got 'val'"):
        make_mnist1d("val")
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)  # as if mnist1d were not installed
    with pytest.raises(ValueError, match=r"pip install 'genaug\[timeseries\]'"):
        make_mnist1d("train", seed=7)


# ---------------------------------------------------------------------------------------- ArraySet level
@pytest.mark.slow
def test_load_mnist1d_on_its_grid():
    data = load_mnist1d("test")
    assert data.spec.modality == "sequence" and data.spec.shape == (1, 40) and len(data) == 1000
    assert data.spec.levels == MNIST1D_LEVELS and tuple(data.spec.value_range) == MNIST1D_RANGE
    step = (MNIST1D_RANGE[1] - MNIST1D_RANGE[0]) / (MNIST1D_LEVELS - 1)
    x = make_mnist1d("test").x
    assert np.abs(data.user_x().numpy() - x).max() <= step / 2 + 1e-9
    assert load_source("mnist1d:test").spec == data.spec


@pytest.mark.parametrize(("name", "n_train", "n_test", "length", "classes"), UCR)
def test_load_ucr(name, n_train, n_test, length, classes):
    train, test = load_ucr(name), load_source(f"ucr:{name}:test")
    assert train.spec.modality == "sequence" and train.spec.shape == (1, length)
    assert (len(train), len(test)) == (n_train, n_test)
    assert train.spec.num_classes == classes and train.spec.class_names == test.spec.class_names


def test_load_source_series_files(tmp_path):
    tsv = load_source(write(tmp_path, "toy_TRAIN.tsv", "2\t1\t2\t3\n10\t4\t5\t6\n1\t7\t8\t9\n"))
    assert tsv.spec.modality == "sequence" and tsv.spec.shape == (1, 3) and tsv.spec.class_names == ("1", "2", "10")
    assert tsv.y.tolist() == [1, 2, 0]
    ts = load_source(str(write(tmp_path, "toy.ts", TS_HEADER + "1,?,3:1\n4,5,6:2\n")), missing="interpolate")
    assert ts.spec.shape == (1, 3) and ts.spec.class_names == ("1", "2", "10")
    with pytest.raises(ValueError, match="missing value"):
        load_source(str(tmp_path / "toy.ts"))


def test_load_source_series_names_and_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown UCR set 'nope'"):
        load_source("ucr:nope")
    with pytest.raises(ValueError, match="split: expected 'train', 'test' or 'all', got 'val'"):
        load_source("mnist1d:val")
    # .txt / .csv are too ambiguous to read as series by suffix
    with pytest.raises(ValueError, match=r"unknown source .*mnist1d.*ucr:NAME.*\.ts or \.tsv"):
        load_source(write(tmp_path, "toy_TRAIN.txt", "1 1 2\n"))
