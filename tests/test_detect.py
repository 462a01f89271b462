"""genaug.detect: likelihood anomaly scores, the fitted threshold, arrays and Hugging Face datasets."""

from __future__ import annotations

import pickle

import datasets
import numpy as np
import pytest
import torch
from PIL import Image

import genaug
from genaug.detect import OUTLIER_COLUMN, SCORE_COLUMN, AnomalyDetector, auroc

QUICK = {"checkpoint_every": 0, "sample_every": 0}


@pytest.fixture(scope="module")
def halves(digits):
    """(train, test) halves of the digits, stratified, seed 0."""
    return digits.train_test_split(0.5, seed=0)


@pytest.fixture(scope="module")
def detector(halves):
    """A detector of a gmm fitted on the training half (all ten classes)."""
    return AnomalyDetector(genaug.fit(halves[0], "gmm", steps=5, train=QUICK))


@pytest.fixture(scope="module")
def fitted(detector, halves):
    """``detector`` with a threshold for fpr=0.1 fitted on the test half's first 450 digits."""
    detector = AnomalyDetector(detector.model)
    return detector.fit(halves[1].subset(range(450)), fpr=0.1)


@pytest.fixture(scope="module")
def wine_detector():
    wine = genaug.load_source("wine")
    return AnomalyDetector(genaug.fit(wine, "gmm", steps=5, train=QUICK)).fit(wine, fpr=0.1), wine


# ---------------------------------------------------------------------------------------- scores
def test_scores_average_to_bits_per_dim_and_repeat(digits_gmm_dir, digits):
    model = genaug.load(digits_gmm_dir)
    detector = AnomalyDetector(digits_gmm_dir, draws=2, seed=3)
    scores = detector.score(digits)
    assert scores.dtype == np.float64 and scores.shape == (len(digits),) and np.isfinite(scores).all()
    # the same seeded dequantization as genaug.bits_per_dim, kept per sample
    assert scores.mean() == pytest.approx(genaug.bits_per_dim(model, digits, draws=2, seed=3).bits_per_dim, rel=1e-9)
    assert np.array_equal(scores, detector.score(digits.user_x().numpy()))  # ArraySet or user-space array
    assert np.array_equal(scores, detector.score(digits.user_x()))
    assert not np.array_equal(scores, AnomalyDetector(model, draws=2, seed=4).score(digits))  # the noise is seeded
    assert not detector.is_bound


def test_labels_are_not_used_so_unseen_classes_score(digits, halves):
    train, test = halves
    keep = (train.y != 9).numpy()
    no_nines = genaug.from_arrays(
        train.user_x().numpy()[keep],
        train.y.numpy()[keep],
        class_names=[str(c) for c in range(9)],
        levels=17,
        value_range=(0, 16),
    )
    detector = AnomalyDetector(genaug.fit(no_nines, "gmm", steps=5, train=QUICK))
    scores = detector.score(test)  # holds nines, a class the model does not know
    nines = (test.y == 9).numpy()
    assert auroc(scores[~nines], scores[nines]) > 0.9


def test_noise_and_inverted_digits_are_anomalies(detector, halves):
    test = halves[1].user_x().numpy()
    inliers = detector.score(test)
    noise = np.random.default_rng(0).integers(0, 17, size=(200, 8, 8))
    assert auroc(inliers, detector.score(noise)) > 0.99
    assert auroc(inliers, detector.score(16 - test[:200])) > 0.95
    # shuffled inliers are no anomaly: a chance-level AUROC
    assert 0.4 < auroc(inliers[::2], inliers[1::2]) < 0.6


def test_values_outside_the_models_range_score_infinity(fitted, digits):
    x = digits.user_x().numpy()[:4].copy()
    x[1, 0, 0] = 40.0  # beyond the 0..16 grid: to_model would clip it
    x[2, 3, 3] = 16.4  # rounds onto the grid's last level
    scores = fitted.score(x)
    assert np.isinf(scores[1]) and np.isfinite(scores[[0, 2, 3]]).all()
    assert fitted.predict(x)[1]


def test_vae_scores_are_labelled_as_a_bound(digits):
    vae = genaug.fit(digits.subset(range(200)), "vae", steps=5, latent_dim=2, channels=4, iw_samples=2, train=QUICK)
    detector = AnomalyDetector(vae)
    assert detector.is_bound and np.isfinite(detector.score(digits.subset(range(20)))).all()


# ---------------------------------------------------------------------------------------- threshold
def test_threshold_holds_the_false_positive_rate_on_held_out_inliers(fitted, halves):
    test = halves[1]
    calibration, held_out = test.subset(range(450)), test.subset(range(450, len(test)))
    assert fitted.fpr == 0.1 and fitted.threshold == pytest.approx(
        np.quantile(fitted.score(calibration), 0.9), rel=0.02
    )
    assert 0.1 - 2 / 450 <= fitted.predict(calibration).mean() <= 0.1
    assert abs(fitted.predict(held_out).mean() - 0.1) < 0.05


def test_predict_flag_and_drop_keep_types_and_shapes(fitted, halves):
    test = halves[1]
    x, y = test.user_x().numpy(), test.y.numpy()
    outlier = fitted.predict(x)
    assert outlier.dtype == np.bool_ and outlier.shape == (len(x),) and 0 < outlier.sum() < len(x)
    index = fitted.flag(x)
    assert index.dtype == np.int64 and np.array_equal(index, np.flatnonzero(outlier))
    kept, kept_y = fitted.drop(x, y)
    assert isinstance(kept, np.ndarray) and kept.shape == (len(x) - outlier.sum(), 8, 8)
    assert np.array_equal(kept, x[~outlier]) and np.array_equal(kept_y, y[~outlier])
    as_tensor = fitted.drop(torch.from_numpy(x))
    assert isinstance(as_tensor, torch.Tensor) and torch.equal(as_tensor, torch.from_numpy(x[~outlier]))
    kept_set = fitted.drop(test)
    assert isinstance(kept_set, genaug.ArraySet) and torch.equal(kept_set.y, test.y[torch.from_numpy(~outlier)])
    assert fitted.drop(x.tolist(), y.tolist())[1] == y[~outlier].tolist()


# ---------------------------------------------------------------------------------------- datasets
def pil_table(digits, n: int = 120) -> datasets.Dataset:
    """Digits as 8-bit PIL images (0..16 spread over 0..255, as an Image column holds them)."""
    images = [Image.fromarray(np.round(a * 255 / 16).astype(np.uint8), mode="L") for a in digits.user_x()[:n].numpy()]
    features = datasets.Features({"image": datasets.Image(), "label": datasets.Value("int64")})
    return datasets.Dataset.from_dict({"image": images, "label": digits.y[:n].tolist()}, features=features)


def test_hf_map_and_filter_on_an_image_column(fitted, digits):
    table = pil_table(digits)
    out = table.map(fitted.hf_columns(), batched=True, batch_size=200)
    assert out.features[SCORE_COLUMN] == datasets.Value("float64") and out.features[OUTLIER_COLUMN] == datasets.Value(
        "bool"
    )
    expected = fitted.score(digits.user_x()[:120])  # one batch: the same noise as one call
    assert np.allclose(out[SCORE_COLUMN], expected) and out[OUTLIER_COLUMN] == (expected > fitted.threshold).tolist()
    assert out["label"] == table["label"]
    kept = table.filter(fitted.hf_filter(), batched=True, batch_size=200)
    assert len(kept) == int((expected <= fitted.threshold).sum()) and 0 < len(kept) < len(table)


def test_hf_map_on_numeric_columns_and_a_streaming_dataset(wine_detector):
    detector, wine = wine_detector
    x = wine.user_x().numpy()
    table = datasets.Dataset.from_dict({name: x[:, d].tolist() for d, name in enumerate(wine.spec.feature_names)})
    expected = detector.score(x)
    out = table.map(detector.hf_columns(), batched=True, batch_size=500)
    assert np.allclose(out[SCORE_COLUMN], expected) and sum(out[OUTLIER_COLUMN]) == int(
        (expected > detector.threshold).sum()
    )
    streamed = list(table.to_iterable_dataset().map(detector.hf_columns(), batched=True, batch_size=500))
    assert np.allclose([row[SCORE_COLUMN] for row in streamed], expected)
    kept = list(table.to_iterable_dataset().filter(detector.hf_filter(), batched=True, batch_size=500))
    assert len(kept) == int((expected <= detector.threshold).sum())


def test_hf_array_column_in_numpy_format(fitted, digits):
    table = datasets.Dataset.from_dict({"pixels": digits.user_x()[:50].tolist()}).with_format("numpy")
    out = table.map(fitted.hf_columns("pixels"), batched=True, batch_size=100)
    assert np.allclose(out[SCORE_COLUMN], fitted.score(digits.user_x()[:50]))


# ---------------------------------------------------------------------------------------- errors
def test_families_without_a_likelihood_are_refused(digits):
    with pytest.raises(ValueError, match=r"the 'gan' family has no likelihood.*gmm"):
        AnomalyDetector(genaug.create("gan", digits.spec))


def test_bad_input_is_refused_by_name(fitted, detector, digits):
    with pytest.raises(ValueError, match=r"x: expected a batch of shape \(N, 8, 8\).*got shape \(5, 64\)"):
        fitted.score(np.zeros((5, 64)))
    with pytest.raises(ValueError, match=r"x: NaN or infinite values in 1 of 3 samples \(first at index 2\)"):
        fitted.score(np.where(np.arange(3)[:, None, None] == 2, np.nan, np.zeros((3, 8, 8))))
    with pytest.raises(ValueError, match="x: no samples"):
        fitted.score(np.zeros((0, 8, 8)))
    with pytest.raises(TypeError, match="x: expected an ArraySet"):
        fitted.score("digits")
    with pytest.raises(ValueError, match=r"x: the data set holds vectors of shape \(13,\)"):
        fitted.score(genaug.load_source("wine"))
    with pytest.raises(ValueError, match="y: expected one label per sample"):
        fitted.drop(np.zeros((3, 8, 8)), [0, 1])
    with pytest.raises(ValueError, match=r"fpr: expected a false-positive rate in \(0, 1\), got 1.5"):
        detector.fit(digits, fpr=1.5)
    with pytest.raises(ValueError, match="draws: expected an integer >= 1"):
        AnomalyDetector(detector.model, draws=0)
    with pytest.raises(ValueError, match=r"column: none of \['image', 'img', 'pixel_values'\]"):
        datasets.Dataset.from_dict({"pixels": digits.user_x()[:2].tolist()}).map(fitted.hf_columns(), batched=True)
    with pytest.raises(ValueError, match="scores_outliers: contains NaN"):
        auroc([0.1, 0.2], [np.nan])


def test_a_threshold_is_needed_to_flag(digits_gmm_dir, digits):
    unfitted = AnomalyDetector(digits_gmm_dir)
    for call in (
        lambda: unfitted.predict(digits),
        lambda: unfitted.drop(digits),
        unfitted.hf_columns,
        unfitted.hf_filter,
    ):
        with pytest.raises(ValueError, match=r"threshold: .*call fit\(inliers"):
            call()


def test_auroc_and_pickling(fitted, digits):
    assert auroc([0.0, 1.0], [2.0, 3.0]) == 1.0 and auroc([2.0, 3.0], [0.0, 1.0]) == 0.0
    assert auroc([0.0, 1.0], [np.inf, 0.5]) == 0.75
    again = pickle.loads(pickle.dumps(fitted))  # map(num_proc=...) ships the detector to workers
    assert again.threshold == fitted.threshold
    assert np.array_equal(again.score(digits.subset(range(30))), fitted.score(digits.subset(range(30))))
