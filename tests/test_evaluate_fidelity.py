"""Feature space and fidelity metrics: hand-computed Frechet distances, the prdc reference, toy cases, digits."""

from __future__ import annotations

import math

import numpy as np
import prdc as prdc_reference
import pytest
import scipy.linalg
import torch

import genaug
from genaug.evaluate import features as features_module
from genaug.evaluate.features import FeatureSpace
from genaug.evaluate.fidelity import c2st, class_fidelity, fidelity, frechet_distance, kernel_distance, mmd, prdc


def gaussian(n: int, d: int, seed: int, scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale + shift


@pytest.fixture(scope="module")
def digit_split(digits):
    return digits.split(0.2, seed=1)  # (train, held out)


@pytest.fixture(scope="module")
def digits_space_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("feature-cache")


@pytest.fixture(scope="module")
def digits_space(digit_split, digits_space_dir):
    return FeatureSpace.fit(digit_split[0], cache_dir=digits_space_dir)


@pytest.fixture(scope="module")
def small_vectors():
    rng = np.random.default_rng(0)
    y = np.arange(120) % 3
    return genaug.from_arrays(rng.normal(size=(120, 5)) + y[:, None] * 2.0, y)


# ---------------------------------------------------------------- Frechet distance
def test_identical_sets_have_zero_frechet_distance_and_c2st_one_half():
    x = gaussian(400, 16, seed=0, scale=30.0, shift=5.0)
    scale = float(torch.cov(x.T).trace())
    assert abs(frechet_distance(x, x)) < 1e-6 * scale
    result = c2st(x, x)
    assert result == {"accuracy": 0.5, "std": 0.0, "n": 800}


def test_a_shift_moves_the_frechet_distance_by_its_squared_norm():
    x = gaussian(1000, 4, seed=1)
    delta = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    assert frechet_distance(x, x + delta) == pytest.approx(float(delta.square().sum()), rel=1e-9)  # 14.25


def test_scaling_a_gaussian_gives_d_times_one_minus_s_squared():
    d, s = 6, 2.5
    x = gaussian(2000, d, seed=2)
    # the same sample scaled: exact for its empirical mean m and covariance S, (1 - s)^2 (tr S + |m|^2)
    exact = (1 - s) ** 2 * (float(torch.cov(x.T).trace()) + float(x.mean(0).square().sum()))
    assert frechet_distance(x, s * x) == pytest.approx(exact, rel=1e-9)
    # independent samples of N(0, I) and N(0, s^2 I): d (1 - s)^2 = 13.5, up to sampling error
    far = frechet_distance(gaussian(20000, d, seed=3), gaussian(20000, d, seed=4, scale=s))
    assert far == pytest.approx(d * (1 - s) ** 2, rel=0.03)


def test_frechet_distance_matches_scipy_sqrtm_on_correlated_gaussians():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    x, y = rng.normal(size=(800, 5)) @ a, rng.normal(size=(600, 5)) @ b + 1.0
    mx, my, sx, sy = x.mean(0), y.mean(0), np.cov(x.T), np.cov(y.T)
    by_hand = np.sum((mx - my) ** 2) + np.trace(sx + sy - 2 * scipy.linalg.sqrtm(sx @ sy).real)
    assert frechet_distance(x, y) == pytest.approx(by_hand, rel=1e-8)


# ---------------------------------------------------------------- precision, recall, density, coverage
@pytest.mark.parametrize("n_fake, shift, k", [(250, 0.5, 5), (300, 0.0, 3), (180, 2.0, 10)])
def test_prdc_equals_the_reference_package(capsys, n_fake, shift, k):
    real = gaussian(300, 5, seed=6).numpy()
    fake = gaussian(n_fake, 5, seed=7, shift=shift).numpy()
    ours = prdc(real, fake, k=k, chunk=64)  # chunks smaller than the sets exercise the block loop
    reference = prdc_reference.compute_prdc(real, fake, nearest_k=k)
    capsys.readouterr()  # the reference prints its sizes
    assert ours == pytest.approx({name: float(value) for name, value in reference.items()}, abs=1e-12)


def test_prdc_equals_the_reference_package_on_ties(capsys):
    # points on a small integer grid: many equal distances, and duplicates, where `<` versus `<=` matters
    rng = np.random.default_rng(24)
    real, fake = rng.integers(0, 3, size=(200, 3)).astype(float), rng.integers(0, 4, size=(150, 3)).astype(float)
    ours = prdc(real, fake, k=4)
    reference = prdc_reference.compute_prdc(real, fake, nearest_k=4)
    capsys.readouterr()
    assert ours == pytest.approx({name: float(value) for name, value in reference.items()}, abs=1e-12)


def test_prdc_on_two_gaussians_behaves_as_published():
    real = gaussian(1000, 2, seed=8)
    narrow = prdc(real, gaussian(1000, 2, seed=9, scale=0.25))  # fakes on the core of the real support
    assert narrow["precision"] > 0.95 and narrow["recall"] < 0.4 and narrow["coverage"] < 0.4
    wide = prdc(real, gaussian(1000, 2, seed=10, scale=3.0))  # fakes spread far beyond it
    assert wide["recall"] > 0.95 and wide["coverage"] > narrow["coverage"] + 0.3
    assert wide["precision"] < 0.7  # inflated by the big balls of outlying real samples
    assert wide["density"] < wide["precision"] - 0.1  # which density discounts


def test_prdc_of_one_distribution_has_density_one_and_coverage_one_minus_half_to_the_k():
    # Naeem et al. 2020: E[density] = 1 and E[coverage] -> 1 - 2^-k for equal sizes of one distribution
    k = 5
    runs = [prdc(gaussian(1000, 8, seed=20 + i), gaussian(1000, 8, seed=40 + i), k=k) for i in range(3)]
    assert np.mean([r["density"] for r in runs]) == pytest.approx(1.0, abs=0.05)
    assert np.mean([r["coverage"] for r in runs]) == pytest.approx(1 - 0.5**k, abs=0.015)


def test_density_is_robust_to_a_real_outlier_that_inflates_precision():
    real = torch.cat([gaussian(500, 2, seed=11), torch.tensor([[30.0, 30.0]], dtype=torch.float64)])
    fake = gaussian(500, 2, seed=12, shift=4.0)  # mostly off the real support
    with_outlier, without = prdc(real, fake), prdc(real[:-1], fake)
    assert with_outlier["precision"] > without["precision"] + 0.3  # the outlier's huge ball swallows fakes
    assert with_outlier["density"] < 0.3  # one ball of k=5 adds at most 0.2 per fake


# ---------------------------------------------------------------- KID, MMD, C2ST
def test_kid_is_about_zero_for_one_distribution_and_positive_for_a_shift():
    real, same, shifted = gaussian(600, 8, seed=13), gaussian(600, 8, seed=14), gaussian(600, 8, seed=15, shift=0.5)
    state = torch.get_rng_state()
    mean_same, std_same = kernel_distance(real, same, subsets=20, subset_size=300, seed=3)
    assert torch.equal(torch.get_rng_state(), state)  # seeded without touching the global generator
    assert (mean_same, std_same) == kernel_distance(real, same, subsets=20, subset_size=300, seed=3)
    assert abs(mean_same) < 0.01
    mean_shift, _ = kernel_distance(real, shifted, subsets=20, subset_size=5000)  # capped at 600
    assert mean_shift > 0.1 and mean_shift > 10 * (abs(mean_same) + std_same)


def test_mmd_is_about_zero_for_one_distribution_and_positive_for_a_shift():
    real, same, shifted = gaussian(500, 4, seed=16), gaussian(500, 4, seed=17), gaussian(500, 4, seed=18, shift=1.0)
    assert abs(mmd(real, same)) < 0.005
    assert mmd(real, shifted) > 0.2
    assert mmd(real, shifted, bandwidth=100.0) < mmd(real, shifted, bandwidth=2.0)  # a very wide kernel sees little


def test_mmd_equals_a_dense_computation():
    x, y = gaussian(40, 3, seed=19), gaussian(30, 3, seed=20, shift=0.3)
    kxx, kyy, kxy = (torch.exp(-torch.cdist(a, b).square() / (2 * 1.5**2)) for a, b in ((x, x), (y, y), (x, y)))
    dense = (kxx.sum() - kxx.trace()) / (40 * 39) + (kyy.sum() - kyy.trace()) / (30 * 29) - 2 * kxy.mean()
    assert mmd(x, y, bandwidth=1.5, chunk=7) == pytest.approx(float(dense), abs=1e-12)


def test_c2st_tells_far_sets_apart_and_not_samples_of_one_distribution():
    real = gaussian(400, 6, seed=21)
    assert c2st(real, gaussian(300, 6, seed=22, shift=3.0))["accuracy"] > 0.99
    same = c2st(real, gaussian(300, 6, seed=23))
    assert abs(same["accuracy"] - 0.5) < 0.08 and same["n"] == 600  # the larger set is subsampled to 300
    assert same == c2st(real, gaussian(300, 6, seed=23))


# ---------------------------------------------------------------- feature space
def test_feature_space_on_digits_is_accurate_and_shaped(digits_space, digit_split):
    assert digits_space.val_accuracy >= 0.95
    held = digit_split[1]
    feats = digits_space.features(held.x)
    assert feats.shape == (len(held), 64) and feats.dtype == torch.float32
    probs = digits_space.predict_proba(held.x)
    assert probs.shape == (len(held), 10) and torch.allclose(probs.sum(1), torch.ones(len(held)))
    assert (probs.argmax(1) == held.y).double().mean() >= 0.95  # held out of its training entirely
    train_features = digits_space.features(digit_split[0].x).double()  # standardized on the data it was fitted on
    assert train_features.mean(0).abs().max() < 1e-4 and train_features.var(0, correction=0).mean() == pytest.approx(
        1.0, abs=1e-4
    )


def test_feature_space_cache_is_loaded_not_retrained(digits_space, digit_split, digits_space_dir, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("trained again instead of loading the cache")

    monkeypatch.setattr(features_module, "_train", no_training)
    (entry,) = [p for p in digits_space_dir.iterdir() if p.is_dir()]
    assert sorted(p.name for p in entry.iterdir()) == ["config.json", "model.safetensors"]
    loaded = FeatureSpace.fit(digit_split[0], cache_dir=digits_space_dir)
    assert loaded.val_accuracy == digits_space.val_accuracy
    assert torch.equal(loaded.features(digit_split[1].x), digits_space.features(digit_split[1].x))
    with pytest.raises(AssertionError, match="trained again"):  # other settings: another key
        FeatureSpace.fit(digit_split[0], cache_dir=digits_space_dir, dim=32)


def test_feature_space_training_repeats_and_depends_on_the_seed(small_vectors):
    a, b = FeatureSpace.fit(small_vectors, steps=50), FeatureSpace.fit(small_vectors, steps=50)
    c = FeatureSpace.fit(small_vectors, steps=50, seed=1)
    assert torch.equal(a.features(small_vectors.x), b.features(small_vectors.x))
    assert not torch.equal(a.features(small_vectors.x), c.features(small_vectors.x))
    assert a.val_accuracy > 0.9


@pytest.mark.parametrize("damaged, content", [("model.safetensors", b"not safetensors"), ("config.json", b"{broken")])
def test_a_corrupt_cache_entry_warns_and_is_replaced(small_vectors, tmp_path, damaged, content):
    first = FeatureSpace.fit(small_vectors, steps=50, cache_dir=tmp_path)
    (entry,) = list(tmp_path.iterdir())
    (entry / damaged).write_bytes(content)
    with pytest.warns(UserWarning, match=damaged):
        again = FeatureSpace.fit(small_vectors, steps=50, cache_dir=tmp_path)
    assert torch.equal(again.features(small_vectors.x), first.features(small_vectors.x))
    reloaded = FeatureSpace.from_pretrained(entry)  # the entry was rewritten whole
    assert torch.equal(reloaded.features(small_vectors.x), first.features(small_vectors.x))


def test_feature_space_refuses_samples_of_another_shape(digits_space):
    with pytest.raises(
        ValueError, match=r"x: expected model-space samples of shape \(N, 1, 8, 8\).*got shape \(3, 64\)"
    ):
        digits_space.features(torch.zeros(3, 64))
    with pytest.raises(TypeError, match="x: expected a torch.Tensor"):
        digits_space.predict_proba(np.zeros((3, 1, 8, 8)))
    with pytest.raises(ValueError, match="steps: expected a positive integer"):
        FeatureSpace.fit(genaug.load_source("digits"), steps=0)


# ---------------------------------------------------------------- digits: a fitted model against noise
def test_gmm_samples_score_much_closer_to_held_out_digits_than_noise(digits_space, digit_split, digits_gmm_dir):
    model = genaug.load(digits_gmm_dir)
    labels = torch.arange(10).repeat_interleave(40)
    generator = torch.Generator().manual_seed(0)
    samples = model.spec.to_model(model.sample(len(labels), labels=labels, generator=generator))
    noise = model.spec.to_model(torch.randint(0, 17, (len(labels), 8, 8), generator=generator).double())
    held = digit_split[1]
    good = fidelity(digits_space, held, samples, labels)
    bad = fidelity(digits_space, held, noise, labels)
    assert good["frechet_distance"] < bad["frechet_distance"] / 5
    assert good["c2st"]["accuracy"] < bad["c2st"]["accuracy"] - 0.1 and bad["c2st"]["accuracy"] > 0.95
    assert good["prdc"]["precision"] > bad["prdc"]["precision"] + 0.3
    assert good["class_fidelity"]["accuracy"] > 0.8 and bad["class_fidelity"]["accuracy"] < 0.3
    assert set(good["class_fidelity"]["per_class"]) == set(model.spec.class_names)
    assert (good["n_real"], good["n_fake"], good["feature_dim"]) == (len(held), 400, 64)
    assert good["classifier_val_accuracy"] == digits_space.val_accuracy
    assert all(isinstance(v, (int, float)) for v in (good["mmd"], good["kid"]["mean"], good["frechet_distance"]))


def test_class_fidelity_counts_the_asked_class(digits_space, digit_split):
    held = digit_split[1]
    right = class_fidelity(digits_space, held.x, held.y)
    wrong = class_fidelity(digits_space, held.x, (held.y + 1) % 10, [f"digit {i}" for i in range(10)])
    assert right["accuracy"] >= 0.95 and wrong["accuracy"] < 0.05
    assert sorted(wrong["per_class"]) == sorted(f"digit {i}" for i in range(10))
    assert right["accuracy"] == pytest.approx(np.mean(list(right["per_class"].values())), abs=0.02)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "real, fake, match",
    [
        (np.zeros(10), np.zeros((10, 2)), r"real: expected a 2-D array of features \(N, F\), got shape \(10,\)"),
        (np.zeros((10, 2)), np.zeros((10, 3)), "fake: expected 2 features per row like real, got 3"),
        (np.zeros((10, 2)), np.full((10, 2), math.nan), "fake: contains NaN or infinite values"),
        (np.zeros((1, 2)), np.zeros((10, 2)), r"real: expected at least \d+ rows"),
    ],
)
def test_bad_feature_arrays_raise_naming_the_argument(real, fake, match):
    for metric in (frechet_distance, kernel_distance, mmd, prdc, c2st):
        with pytest.raises(ValueError, match=match):
            metric(real, fake)


def test_bad_settings_raise_naming_the_argument(digits_space, digit_split):
    x = gaussian(20, 2, seed=0)
    with pytest.raises(ValueError, match="k: expected a positive number"):
        prdc(x, x, k=0)
    with pytest.raises(ValueError, match="real: expected at least 21 rows"):
        prdc(x, x, k=20)
    with pytest.raises(ValueError, match="folds: expected an integer >= 2"):
        c2st(x, x, folds=1)
    with pytest.raises(ValueError, match="bandwidth: expected a positive"):
        mmd(x, x, bandwidth=-1.0)
    with pytest.raises(TypeError, match="real: expected a torch.Tensor or numpy array"):
        mmd([[0.0]], x)
    held = digit_split[1]
    with pytest.raises(ValueError, match="asked_labels: unknown class 10"):
        class_fidelity(digits_space, held.x[:3], torch.tensor([0, 1, 10]))
    with pytest.raises(ValueError, match=r"asked_labels: expected one class index per sample, shape \(3,\)"):
        class_fidelity(digits_space, held.x[:3], torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="class_names: expected 10 names"):
        class_fidelity(digits_space, held.x[:3], torch.tensor([0, 1, 2]), ["a", "b"])
    with pytest.raises(ValueError, match=r"fake_x_model: expected model-space samples of shape \(N, 1, 8, 8\)"):
        fidelity(digits_space, held, torch.zeros(10, 64), torch.zeros(10, dtype=torch.long))
    with pytest.raises(ValueError, match="fake_labels: unknown class -1"):
        fidelity(digits_space, held, held.x[:10], torch.full((10,), -1))
