"""Memorization scores, nearest-pair renders and the quality filters that plug into SamplePool."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import genaug
from genaug.evaluate.filters import ConfidenceFilter, LikelihoodFilter, NearCopyFilter
from genaug.evaluate.memorization import memorization, nearest, save_nearest_pairs
from genaug.models.base import Generator


class Copier(Generator):
    """A generator that memorized its data: every sample is a training record of the asked class."""

    family = "copier"

    def __init__(self, data: genaug.ArraySet) -> None:
        super().__init__(data.spec)
        self.register_buffer("records", data.x.clone())
        self.register_buffer("record_labels", data.y.clone())

    def sample_model(self, cond: dict[str, torch.Tensor], *, generator: torch.Generator | None = None) -> torch.Tensor:
        labels = cond["label"]
        u = torch.rand(len(labels), generator=generator)
        rows = []
        for label, draw in zip(labels.tolist(), u.tolist()):
            members = torch.nonzero(self.record_labels == label).flatten()
            rows.append(members[int(draw * len(members))])
        return self.records[torch.stack(rows)]


@pytest.fixture(scope="module")
def halves(digits):
    return digits.train_test_split(0.5, seed=0)


def smote(data: genaug.ArraySet, n: int, seed: int = 0) -> torch.Tensor:
    """SMOTE: points on the segment between a record and one of its 5 nearest same-class records."""
    rng = np.random.default_rng(seed)
    x = data.x.reshape(len(data), -1).numpy()
    out = []
    for i in rng.integers(0, len(data), n):
        same = np.flatnonzero(data.y.numpy() == int(data.y[i]))
        d = np.linalg.norm(x[same] - x[i], axis=1)
        j = same[np.argsort(d)[1:6][rng.integers(0, 5)]]
        out.append(x[i] + rng.random() * (x[j] - x[i]))
    return torch.tensor(np.stack(out)).reshape(n, *data.spec.shape)


def test_nearest_is_exact_and_leave_one_out_skips_the_row_itself():
    a = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])
    d, i = nearest(a, a)
    assert torch.equal(d, torch.zeros(3, dtype=torch.float64)) and torch.equal(i, torch.arange(3))
    d, i = nearest(a, a, exclude_self=True)
    assert torch.allclose(d, torch.tensor([1.0, 18**0.5, 1.0], dtype=torch.float64)) and i.tolist() == [2, 2, 0]
    with pytest.raises(ValueError, match=r"query: rows of 3 values cannot be compared with reference rows of 2"):
        nearest(torch.zeros(2, 3), a)
    with pytest.raises(ValueError, match="query: contains NaN"):
        nearest(torch.tensor([[float("nan"), 0.0]]), a)


def test_ratio_orders_copies_interpolations_and_fresh_samples_as_published(halves):
    train, test = halves
    copies = memorization(train.x[:300], train.x)
    held_out = memorization(test.x, train.x)
    interpolated = memorization(smote(train, 400), train.x)
    assert copies.ratio == 0.0 and copies.near_copy_share == 1.0
    assert 0.85 < held_out.ratio < 1.25 and held_out.near_copy_share < 0.05  # real unseen digits: about 1
    assert 0.15 < interpolated.ratio < 0.6  # SMOTE: about 0.3
    assert held_out.n_samples == len(test) and held_out.n_train == len(train)
    assert held_out.ratio_quantiles["q50"] == pytest.approx(held_out.ratio)


def test_duplicate_training_records_give_finite_ratios():
    train = torch.tensor([[0.0, 0.0], [0.0, 0.0], [2.0, 0.0], [5.0, 0.0]])
    result = memorization(torch.tensor([[0.0, 0.5], [5.0, 0.0]]), train)
    assert np.isfinite(result.ratio) and result.near_copy_share == 0.5  # the copy of [5, 0]
    with pytest.raises(ValueError, match="threshold: expected a positive ratio"):
        memorization(train, train, threshold=0)


def test_nearest_pairs_render_the_closest_first_for_images_and_vectors(tmp_path, halves):
    train, _ = halves
    samples = torch.cat([train.x[:3], smote(train, 20)])
    pairs = save_nearest_pairs(train.spec, samples, train.x, tmp_path / "pairs.png", k=8)
    assert [p[2] for p in pairs] == sorted(p[2] for p in pairs) and {p[0] for p in pairs[:3]} == {0, 1, 2}
    assert all(p[2] == 0.0 for p in pairs[:3]) and [p[1] for p in pairs[:3]] == [p[0] for p in pairs[:3]]
    width, height = Image.open(tmp_path / "pairs.png").size
    assert width > height > 0  # 4 pairs (8 images) per row, 2 rows
    wine = genaug.load_source("wine")
    pairs = save_nearest_pairs(wine.spec, wine.x[:5] + 0.01, wine.x, tmp_path / "wine.png", k=5)
    assert len(pairs) == 5 and (tmp_path / "wine.png").stat().st_size > 0


def test_a_copying_generator_is_flagged_and_the_near_copy_filter_removes_its_samples(halves):
    train, test = halves
    copier = Copier(train)
    samples = copier.sample(200, generator=torch.Generator().manual_seed(0))
    assert memorization(train.spec.to_model(samples), train.x).near_copy_share == 1.0
    near_copies = NearCopyFilter(train)
    # the same filter lets fresh data through: held-out digits are not copies
    assert near_copies(test.user_x()[:200], test.y[:200]).float().mean() > 0.95
    pool = genaug.SamplePool(copier, batch_size=64, filter=near_copies, max_attempts=2)
    with pytest.raises(RuntimeError, match="filter: rejected every sample of class 0 in 2 refills of 64"):
        pool.take([0])
    report = near_copies.report()
    assert report["filter"] == "near_copy" and report["dropped"] >= 128 and report["seen"] == 200 + 128


def test_likelihood_filter_drops_what_the_model_finds_unlikely(digits_gmm_dir, halves):
    train, _ = halves
    model = genaug.load(digits_gmm_dir)
    unlikely = LikelihoodFilter(model, train, quantile=0.05)
    kept_train = unlikely(train.user_x(), train.y).float().mean()
    assert 0.9 < kept_train < 0.99  # about 1 - quantile of the records the thresholds came from
    noise = torch.randint(0, 17, (100, 8, 8), generator=torch.Generator().manual_seed(0)).double()
    assert unlikely(noise, torch.zeros(100, dtype=torch.long)).sum() == 0
    assert torch.equal(unlikely(train.user_x()[:50], train.y[:50]), unlikely(train.user_x()[:50], train.y[:50]))  # seeded
    assert unlikely.report()["dropped"] >= 100
    with pytest.raises(ValueError, match="quantile: expected a number in \\(0, 1\\), got 1.5"):
        LikelihoodFilter(model, train, quantile=1.5)


def test_filters_refuse_bad_arguments(digits, halves):
    train, _ = halves
    with pytest.raises(TypeError, match="train: expected an ArraySet"):
        NearCopyFilter(train.x)
    with pytest.raises(ValueError, match="threshold: expected a positive ratio, got -1"):
        NearCopyFilter(train, threshold=-1)
    with pytest.raises(TypeError, match="space: expected a FeatureSpace, got int"):
        ConfidenceFilter(3)
    gan = genaug.create("gan", digits.spec)
    with pytest.raises(ValueError, match="model: the 'gan' family has no likelihood"):
        LikelihoodFilter(gan, train)
    with pytest.raises(ValueError, match=r"labels: expected one label per sample \(3\), got 2"):
        NearCopyFilter(train)(train.user_x()[:3], train.y[:2])


def test_confidence_filter_keeps_what_the_real_data_classifier_recognises(halves):
    from genaug.evaluate import FeatureSpace

    train, test = halves
    space = FeatureSpace.fit(train, steps=200)
    confident = ConfidenceFilter(space, min_confidence=0.5)
    assert confident(test.user_x(), test.y).float().mean() > 0.9  # real digits, labelled right
    wrong = (test.y + 1) % 10
    assert confident(test.user_x(), wrong).float().mean() < 0.1  # the same digits asked to be another class
    assert confident.report()["dropped"] > len(test) * 0.9
    with pytest.raises(ValueError, match=r"min_confidence: expected a number in \(0, 1\), got 0"):
        ConfidenceFilter(space, min_confidence=0)


def test_feature_space_memorization_flags_copies_too(halves):
    from genaug.evaluate import FeatureSpace

    train, test = halves
    space = FeatureSpace.fit(train, steps=200)
    copies = memorization(space.features(train.x[:100]), space.features(train.x), space="feature")
    fresh = memorization(space.features(test.x), space.features(train.x), space="feature")
    assert copies.near_copy_share == 1.0 and copies.space == "feature"
    assert 0.7 < fresh.ratio < 1.4 and fresh.near_copy_share < 0.1


def test_evaluate_works_for_a_single_class_and_filters_check_labels(digits):
    from genaug.evaluate import FeatureSpace

    ones = digits.subset(torch.nonzero(digits.y == 1).flatten())
    single = genaug.from_arrays(ones.user_x().numpy(), np.zeros(len(ones), dtype=np.int64), levels=17, value_range=(0, 16))
    model = genaug.fit(single, "gmm", steps=3)
    with pytest.warns(UserWarning, match="a single class gives the classifier nothing to learn"):
        report = genaug.evaluate(model, single, n_per_class=30)
    assert report["class_agreement"] is None and report["memorization"]["pixel"]["n_samples"] == 30
    space = FeatureSpace.fit(digits, steps=50)
    with pytest.raises(ValueError, match=r"labels: class indices must lie in 0..9, got 3..12"):
        ConfidenceFilter(space)(digits.user_x()[:2], torch.tensor([3, 12]))
