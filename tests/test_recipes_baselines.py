"""genaug.recipes.baselines: SMOTE and per-class KDE over-sampling of a labelled subset."""

from __future__ import annotations

import importlib.util
import re
import sys

import numpy as np
import pytest
import torch

import genaug
from genaug.recipes import labelled_subset
from genaug.recipes.baselines import BANDWIDTH_FACTORS, OVERSAMPLERS, kde_bandwidth, oversample

needs_imblearn = pytest.mark.skipif(
    importlib.util.find_spec("imblearn") is None,
    reason="SMOTE needs imbalanced-learn (pip install 'genaug[baselines]')",
)
METHODS = [pytest.param("smote", marks=needs_imblearn), "kde"]


@pytest.fixture(scope="module")
def digits_5shot(digits):
    return digits.subset(labelled_subset(digits, 5, seed=0))


@pytest.fixture(scope="module")
def blobs():
    """Continuous 3-D vectors, 3 classes of 6 (more than 7 decimals: `to_user` does not round them)."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 6)
    x = rng.normal(size=(18, 3)) + 4.0 * y[:, None]
    return genaug.from_arrays(x, y)


def nearest_segment(points: np.ndarray, records: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per point, its distance to the nearest segment between two of ``records`` and where on it (0..1)."""
    best, where = np.full(len(points), np.inf), np.zeros(len(points))
    for i in range(len(records)):
        for j in range(i + 1, len(records)):
            a, d = records[i], records[j] - records[i]
            t = np.clip((points - a) @ d / (d @ d), 0.0, 1.0)
            distance = np.linalg.norm(points - (a + t[:, None] * d), axis=1)
            closer = distance < best
            best, where = np.where(closer, distance, best), np.where(closer, t, where)
    return best, where


@pytest.mark.parametrize("method", METHODS)
def test_digits_samples_look_like_digits_and_are_balanced(method, digits_5shot):
    x, y = oversample(method, digits_5shot, 7, seed=0)
    assert x.shape == (70, 8, 8) and x.dtype == np.float64 and y.dtype == np.int64
    assert np.all(x == np.round(x)) and x.min() >= 0 and x.max() <= 16
    assert np.array_equal(y, np.repeat(np.arange(10), 7))  # balanced, class by class
    real = {row.tobytes() for row in digits_5shot.user_x().numpy().reshape(50, -1)}
    made = [row.tobytes() for row in x.reshape(70, -1)]
    copies = sum(row in real for row in made)
    # mostly new records; a SMOTE step near 0 or 1 rounds back onto a record of the grid
    assert copies == 0 if method == "kde" else copies <= 10
    assert len(set(made)) >= 63


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_records_other_seed_other_records(method, digits_5shot):
    first = oversample(method, digits_5shot, 4, seed=3)
    again = oversample(method, digits_5shot, 4, seed=3)
    other = oversample(method, digits_5shot, 4, seed=4)
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


@needs_imblearn
def test_smote_points_lie_on_segments_between_two_records_of_their_class(blobs):
    x, y = oversample("smote", blobs, 20, seed=0)
    real, labels = blobs.user_x().numpy(), blobs.y.numpy()
    assert not (x[:, None] == real[None]).all(axis=2).any()  # only the new rows: none of the records themselves
    for c in range(3):
        # float32 model space: on a segment up to rounding
        assert nearest_segment(x[y == c], real[labels == c])[0].max() < 1e-5
        for other in {0, 1, 2} - {c}:  # not between two records of another class
            assert nearest_segment(x[y == c], real[labels == other])[0].min() > 0.1
    # the check has teeth: KDE draws are off the segments
    kde_x, kde_y = oversample("kde", blobs, 20, seed=0)
    assert nearest_segment(kde_x[kde_y == 0], real[labels == 0])[0].mean() > 0.05


@needs_imblearn
def test_smote_classes_get_their_own_draws(blobs):
    # imblearn re-seeds every class from an int random_state: equal-sized classes would get the
    # same interpolation steps in the same order; one RandomState stream gives each class its own
    x, y = oversample("smote", blobs, 10, seed=0)
    real, labels = blobs.user_x().numpy(), blobs.y.numpy()
    steps = [nearest_segment(x[y == c], real[labels == c])[1] for c in range(3)]
    folded = [np.minimum(t, 1 - t) for t in steps]  # a segment read from either end
    assert not np.allclose(folded[0], folded[1], atol=1e-3)


def test_kde_samples_are_near_the_records_but_not_copies():
    wine = genaug.load_source("wine")
    subset = wine.subset(labelled_subset(wine, 10, seed=0))
    x, y = oversample("kde", subset, 30, seed=0)
    real_user = subset.user_x().numpy()
    assert not any((row == real_user).all(axis=1).any() for row in x)  # no exact copies
    z, real, labels = subset.spec.to_model(x).numpy(), subset.x.numpy(), subset.y.numpy()
    dim = real.shape[1]
    for c in np.unique(labels):
        own = real[labels == c]
        h = kde_bandwidth(own)
        nearest = np.linalg.norm(z[y == c][:, None] - own[None], axis=2).min(axis=1)
        # a draw is a record plus N(0, h^2 I): about h * sqrt(D) away from it (a bit less: another record may be nearer)
        assert 0.6 * h * np.sqrt(dim) < nearest.mean() < 1.2 * h * np.sqrt(dim), (c, h, nearest.mean())


def test_kde_bandwidth_is_the_leave_one_out_grid_search_choice():
    from sklearn.model_selection import GridSearchCV, LeaveOneOut
    from sklearn.neighbors import KernelDensity

    x = np.random.default_rng(1).normal(size=(12, 4)) * [1.0, 2.0, 0.5, 1.0]
    grid = BANDWIDTH_FACTORS * x.std(axis=0).mean()
    search = GridSearchCV(KernelDensity(kernel="gaussian"), {"bandwidth": grid}, cv=LeaveOneOut()).fit(x)
    assert kde_bandwidth(x) == pytest.approx(search.best_params_["bandwidth"])


def test_kde_bandwidth_of_identical_records_is_the_smallest_candidate():
    assert kde_bandwidth(np.ones((3, 5))) == pytest.approx(BANDWIDTH_FACTORS[0])  # scale 1.0 when the std is 0
    with pytest.raises(ValueError, match="x: a leave-one-out bandwidth needs at least 2 records, got 1"):
        kde_bandwidth(np.ones((1, 5)))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"method": "gan"}, ValueError, rf"method: expected one of {re.escape(str(OVERSAMPLERS))}, got 'gan'"),
        ({"n_per_class": 0}, ValueError, "n_per_class: expected an integer >= 1, got 0"),
        ({"n_per_class": 2.5}, TypeError, "n_per_class: expected an integer"),
        ({"seed": -1}, ValueError, "seed: expected an integer >= 0"),
        ({"subset": "digits"}, TypeError, "subset: expected a genaug ArraySet"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, match, digits_5shot):
    arguments = {"method": "kde", "subset": digits_5shot, "n_per_class": 2, "seed": 0, **kwargs}
    with pytest.raises(error, match=match):
        oversample(arguments.pop("method"), arguments.pop("subset"), arguments.pop("n_per_class"), **arguments)


def test_empty_subset_is_refused(digits):
    with pytest.raises(ValueError, match="subset: empty"):
        oversample("kde", digits.subset(torch.zeros(0, dtype=torch.long)), 2, seed=0)


@needs_imblearn
def test_smote_needs_two_classes():
    one_class = genaug.from_arrays(np.random.default_rng(0).normal(size=(6, 3)))
    with pytest.raises(ValueError, match="subset: SMOTE needs records of at least 2 classes, got 1"):
        oversample("smote", one_class, 2, seed=0)
    assert oversample("kde", one_class, 2, seed=0)[0].shape == (2, 3)


@pytest.mark.parametrize("method", METHODS)
def test_a_single_record_class_is_named(method, digits):
    labels = digits.y.numpy()
    index = np.concatenate([np.flatnonzero(labels == 0)[:3], np.flatnonzero(labels == 1)[:1]])
    with pytest.raises(ValueError, match="single record") as caught:
        oversample(method, digits.subset(index), 2, seed=0)
    assert "'1'" in str(caught.value)


def test_smote_without_imbalanced_learn_says_how_to_install_it(monkeypatch, blobs):
    monkeypatch.setitem(sys.modules, "imblearn.over_sampling", None)  # makes the import fail
    with pytest.raises(ImportError, match=r"pip install 'genaug\[baselines\]' or imbalanced-learn"):
        oversample("smote", blobs, 2, seed=0)
    assert oversample("kde", blobs, 2, seed=0)[0].shape == (6, 3)  # the KDE needs scikit-learn only
