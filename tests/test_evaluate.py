"""genaug.evaluate: bits/dim on hand-computed cases, class agreement, conforming data, `genaug eval`."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.model_selection import train_test_split

import genaug
from genaug.cli import main
from genaug.models.base import Generator


class StepDensity(Generator):
    """A density over model space [-1, 1)^D that is ``p_low`` per unit on [-1, 0) and ``1 - p_low`` on [0, 1)."""

    family = "step-density"
    has_likelihood = True

    def __init__(self, spec, p_low: float) -> None:
        super().__init__(spec)
        self.p_low = p_low

    def log_prob(self, z, labels=None):
        self.check_input(z, labels)
        per_dim = torch.where(z < 0, math.log(self.p_low), math.log(1 - self.p_low))
        return per_dim.flatten(1).sum(1)


def two_level_data(rows: list[list[int]]) -> genaug.ArraySet:
    x = np.array(rows, dtype=np.int64)
    return genaug.from_arrays(x, np.arange(len(x)) % 2, levels=2, value_range=(0, 1))


def test_bits_per_dim_matches_a_hand_computed_case():
    # Two levels: bins [-1, 0) and [0, 1) of width 1 in model space, one grid step in data units,
    # so bits/dim is the mean of -log2 P(level) over every scalar, whatever the dequantization noise.
    data = two_level_data([[0, 0], [0, 1], [0, 0], [1, 0]])
    assert data.spec.scaling == "grid" and data.spec.log_det_to_data() == 0.0
    result = genaug.bits_per_dim(StepDensity(data.spec, p_low=0.75), data, draws=3)
    by_hand = (6 * -math.log2(0.75) + 2 * -math.log2(0.25)) / 8  # six zeros and two ones
    assert result.bits_per_dim == pytest.approx(by_hand, abs=1e-6)
    assert result.bits_per_dim_conditional == pytest.approx(by_hand, abs=1e-6)
    assert (result.n, result.dequantization_draws, result.is_bound, result.discrete) == (4, 3, False, True)


def test_a_uniform_model_scores_log2_of_the_levels_on_digits():
    data = genaug.load_source("digits")
    uniform = StepDensity(data.spec, p_low=0.5)  # 1/2 per unit over [-1, 1): the uniform density
    assert genaug.bits_per_dim(uniform, data).bits_per_dim == pytest.approx(math.log2(17), abs=1e-6)  # 4.088


def test_gmm_held_out_bits_per_dim_beats_uniform_and_repeats():
    train, test = genaug.load_source("digits").train_test_split(0.5, seed=0)
    model = genaug.fit(train, "gmm", steps=10)
    first = genaug.bits_per_dim(model, test, seed=1)
    assert first == genaug.bits_per_dim(model, test, seed=1)
    assert first.bits_per_dim < 3.0  # the sklearn GaussianMixture anchor on this split is 2.82
    # the marginal and conditional likelihoods obey p(x) >= p(y) p(x | y): at most log2(10)/64 apart
    assert first.bits_per_dim <= first.bits_per_dim_conditional + math.log2(10) / 64 + 1e-9


def test_vae_likelihood_is_labelled_as_a_bound():
    data = genaug.load_source("digits")
    model = genaug.fit(data, "vae", steps=5, latent_dim=2, channels=4, iw_samples=2)
    assert genaug.bits_per_dim(model, data.subset(range(20))).is_bound


def test_train_test_split_is_scikit_learns():
    data = genaug.load_source("digits")
    train, test = data.train_test_split(0.5, seed=0)
    tr, te = train_test_split(np.arange(len(data)), test_size=0.5, stratify=data.y.numpy(), random_state=0)
    assert torch.equal(train.x, data.x[np.sort(tr)]) and torch.equal(test.y, data.y[np.sort(te)])
    with pytest.raises(ValueError, match="test_size: expected a fraction"):
        data.train_test_split(1.5)


def test_conform_maps_classes_by_name_and_refuses_what_does_not_fit():
    data = two_level_data([[0, 0], [0, 1], [1, 1], [1, 0]])
    model_spec = genaug.from_arrays(np.array([[0, 1]] * 3), ["b", "a", "c"], class_names=["b", "a", "c"], levels=2, value_range=(0, 1)).spec
    named = genaug.from_arrays(data.user_x().numpy(), ["a", "b", "a", "b"], levels=2, value_range=(0, 1))
    conformed = named.conform(model_spec)
    assert conformed.y.tolist() == [1, 0, 1, 0] and torch.equal(conformed.x, named.x)
    with pytest.raises(ValueError, match=r"classes \['z'\] are unknown to the model"):
        genaug.from_arrays(data.user_x().numpy(), ["z"] * 4, levels=2, value_range=(0, 1)).conform(model_spec)
    wide = genaug.from_arrays(np.array([[0, 3]] * 4), ["a", "b"] * 2, levels=4, value_range=(0, 3))
    with pytest.raises(ValueError, match="not on the model's grid"):
        wide.conform(model_spec)
    with pytest.raises(ValueError, match="do not fit a model"):
        genaug.load_source("wine").conform(model_spec)


def test_bad_arguments_raise_clear_errors():
    data = genaug.load_source("digits")
    model = StepDensity(data.spec, p_low=0.5)
    with pytest.raises(ValueError, match="draws: expected at least 1"):
        genaug.bits_per_dim(model, data, draws=0)
    with pytest.raises(ValueError, match="data: no samples"):
        genaug.bits_per_dim(model, data.subset([]))
    gan_like = type("NoLikelihood", (Generator,), {"family": "none"})(data.spec)
    with pytest.raises(ValueError, match="has no likelihood"):
        genaug.bits_per_dim(gan_like, data)
    with pytest.raises(TypeError, match="data: expected an ArraySet"):
        genaug.bits_per_dim(model, data.x)


def test_class_agreement_is_high_for_a_conditional_model_and_low_for_a_shuffled_one():
    from genaug.evaluate import class_agreement

    data = genaug.load_source("digits")
    model = genaug.fit(data, "gmm", steps=10)
    good = class_agreement(model, data, n_per_class=20).to_dict()
    assert good["accuracy"] > 0.9 and set(good["per_class"]) == set(data.spec.class_names)
    shuffled = genaug.from_arrays(data.user_x().numpy(), np.roll(data.y.numpy(), 7), class_names=data.spec.class_names)
    bad = class_agreement(genaug.fit(shuffled, "gmm", steps=10), data, n_per_class=20)
    assert bad.accuracy < 0.5


def test_cli_fit_and_eval_on_the_held_out_half(tmp_path, capsys):
    out, report = tmp_path / "gmm", tmp_path / "metrics.json"
    assert main(["fit", "--data", "digits", "--holdout", "0.5", "--family", "gmm", "--steps", "10", "--out", str(out)]) == 0
    assert main(["eval", str(out), "--data", "digits", "--holdout", "0.5", "--n-per-class", "30", "--json", str(report)]) == 0
    printed = capsys.readouterr().out
    metrics = json.loads(report.read_text())
    _, test = genaug.load_source("digits").train_test_split(0.5)
    expected = genaug.bits_per_dim(genaug.load(out), test).bits_per_dim
    assert metrics["n"] == 899 and metrics["n_train"] == 898 and metrics["n_samples"] == 300
    assert metrics["likelihood"]["bits_per_dim"] == pytest.approx(expected)
    assert re.search(rf"bits/dim +{expected:.4f}", printed)
    train_part, _ = genaug.load_source("digits").train_test_split(0.5)
    on_train = genaug.bits_per_dim(genaug.load(out), train_part).bits_per_dim
    assert metrics["likelihood"]["train_bits_per_dim"] == pytest.approx(on_train) and on_train < expected  # the records it fitted
    assert metrics["likelihood"]["generalization_gap"] == pytest.approx(expected - on_train)
    assert re.search(rf"bits/dim on the training records +{on_train:.4f} +gap \+{expected - on_train:.4f}", printed)
    for row in ("class fidelity", "Frechet distance", "C2ST accuracy", "memorization ratio (pixel)", "likelihood filter would drop", "anomaly threshold"):
        assert row in printed
    assert 0.5 < metrics["memorization"]["pixel"]["ratio"] and metrics["fidelity"]["class_fidelity"]["accuracy"] > 0.8
    assert metrics["anomaly"]["fpr"] == 0.05 and 0.0 <= metrics["anomaly"]["held_out_flagged"] <= 1.0
    assert (out / "eval" / "nearest_pairs.png").exists() and len(list((out / "eval").iterdir())) == 2  # the pairs and the cached classifier
    assert main(["eval", str(out), "--data", "wine"]) == 2
    assert "do not fit a model" in capsys.readouterr().err


def test_cli_fit_and_eval_sequences_on_separate_train_and_test_files(tmp_path, capsys):
    """Sequences from UCR-style TRAIN / TEST files: every metric, memorization against --train, pairs as line plots."""
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 30)

    def write(path, n_per_class):
        rows = []
        for label, wave in (("up", 2 * t - 1), ("wave", np.sin(4 * np.pi * t))):
            for _ in range(n_per_class):
                rows.append("\t".join([label, *(f"{v:.3f}" for v in wave + 0.05 * rng.standard_normal(len(t)))]))
        path.write_text("\n".join(rows) + "\n")
        return str(path)

    train, test = write(tmp_path / "W_TRAIN.tsv", 20), write(tmp_path / "W_TEST.tsv", 15)
    out, report = tmp_path / "gmm", tmp_path / "metrics.json"
    assert main(["fit", "--data", train, "--family", "gmm", "--steps", "10", "--out", str(out)]) == 0
    assert main(["eval", str(out), "--data", test, "--train", train, "--n-per-class", "20", "--json", str(report)]) == 0
    printed = capsys.readouterr().out
    metrics = json.loads(report.read_text())
    assert f"memorization against {train}" in printed
    assert metrics["n"] == 30 and metrics["n_train"] == 40 and metrics["train"] == train
    expected = genaug.bits_per_dim(genaug.load(out), genaug.load_source(test)).bits_per_dim
    assert metrics["likelihood"]["bits_per_dim"] == pytest.approx(expected)
    assert metrics["fidelity"]["class_fidelity"]["accuracy"] > 0.9  # ramps and sines: the 1-D CNN tells them apart
    assert metrics["memorization"]["pixel"]["ratio"] > 0.3 and 0.0 <= metrics["anomaly"]["held_out_flagged"] <= 1.0
    pairs = Image.open(out / "eval" / "nearest_pairs.png")
    assert pairs.size[0] > 100 and pairs.size[1] > 100  # line plots of (sample, nearest training series) pairs
    assert main(["eval", str(out), "--data", test, "--train", train, "--holdout", "0.5"]) == 2
    assert "--train: " in capsys.readouterr().err
