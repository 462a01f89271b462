"""Bayes class guidance (genaug.models.guidance): its draws follow p(v|c)^(1+w) / p(v)^w, exactly for a
categorical and by resampling for a continuous conditional, and the wavenet samples with it."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import genaug
from genaug.data import from_arrays
from genaug.models.distributions import Categorical, GaussianMixture
from genaug.models.guidance import ClassGuide, guided_log_weights


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_guided_weights_match_the_formula_and_keep_ruled_out_symbols_out():
    p = torch.tensor([[[0.6, 0.3, 0.1, 0.0], [0.2, 0.2, 0.6, 0.0]]])  # (1, K=2, V=4); v = 3 impossible
    prior = torch.tensor([[0.25, 0.75]])
    w = 2.0
    got = guided_log_weights(p.log(), prior.log(), torch.tensor([0]), w).softmax(-1)[0]
    marginal = (prior[0, :, None] * p[0]).sum(0)
    want = p[0, 0] ** (1 + w) / marginal**w
    want[3] = 0.0
    torch.testing.assert_close(got, want / want.sum())
    assert torch.equal(guided_log_weights(p.log(), prior.log(), torch.tensor([0]), 0.0).softmax(-1)[0], p[0, 0].log().softmax(-1))


def test_categorical_guide_draws_from_the_guided_distribution_and_tracks_the_prefix_likelihood():
    spec = from_arrays(np.linspace(0, 1, 8)[:, None].repeat(4, 1), levels=4, modality="sequence").spec
    dist = Categorical(spec)
    n, w = 20_000, 1.0
    probs = torch.tensor([[0.5, 0.3, 0.1, 0.1], [0.1, 0.1, 0.3, 0.5]])  # class 0, class 1
    guide = ClassGuide(dist, torch.zeros(n, dtype=torch.long), torch.log(torch.tensor([0.5, 0.5])), w, generator=_gen())
    values = guide.draw(probs.log().repeat(n, 1))  # (N * K,) rows i * K + k share their value
    assert torch.equal(values[0::2], values[1::2])
    bins = spec.bin_index(values[0::2]).long()
    marginal = probs.mean(0)
    want = probs[0] ** (1 + w) / marginal**w
    freq = torch.bincount(bins, minlength=4).double() / n
    torch.testing.assert_close(freq, (want / want.sum()).double(), atol=0.015, rtol=0)
    # the guide now holds log p(v | class) of each drawn value for both classes
    expected = probs.log()[:, bins].T + 0.0 - math.log(spec.bin_width)
    torch.testing.assert_close(guide.seen, expected.float())


def test_continuous_guide_resamples_towards_the_asked_class():
    dist = GaussianMixture(1, -7.0)
    # one Gaussian per class: N(-1, 1) for class 0, N(+1, 1) for class 1, as (logit, mean, log-scale)
    params = torch.tensor([[0.0, -1.0, 0.0], [0.0, 1.0, 0.0]])
    n = 4000
    means = {}
    for w in (0.0, 2.0):
        guide = ClassGuide(dist, torch.zeros(n, dtype=torch.long), torch.log(torch.tensor([0.5, 0.5])), w, candidates=64, generator=_gen(1))
        means[w] = guide.draw(params.repeat(n, 1))[0::2].mean().item()
    assert abs(means[0.0] + 1.0) < 0.1  # no guidance: the class's own conditional
    # guided density N(-1,1)^3 / (mixture)^2 is pushed away from class 1: mean below -1
    assert means[2.0] < -1.4


@pytest.mark.parametrize(("family", "levels"), [("wavenet", 32), ("wavenet", None), ("pixelcnn", 32)])
def test_guidance_raises_the_models_own_class_posterior_and_stays_seeded(family, levels):
    rng = np.random.default_rng(0)
    y = np.arange(60) % 2
    t = np.linspace(0, 2 * np.pi, 24)
    x = np.sin(t[None, :] + y[:, None] * 0.8) * 0.6 + rng.normal(0, 0.25, (60, 24))
    data = from_arrays(x, y, modality="sequence", **({"levels": levels} if levels else {}))
    small = {"residual": 8, "skip": 8, "layers": 4, "cycle": 4, "head": 16} if family == "wavenet" else {"channels": 8, "layers": 4, "head": 16}
    model = genaug.fit(data, family, steps=200, train={"progress": False, "val_fraction": 0}, **small)
    assert model.config.guidance == 1.0  # on by default on sequences (the pixelcnn takes the wavenet's defaults there)
    labels = torch.tensor([0, 1] * 50)

    def posterior_of_asked(samples):
        z = model.spec.to_model(samples)
        per_class = torch.stack([model.log_prob(z, torch.full((len(z),), c)) for c in (0, 1)], 1)
        return per_class.log_softmax(1).gather(1, labels[:, None]).exp().mean().item()

    plain = model.sample(100, labels=labels, guidance=0.0, temperature=1.0, generator=_gen(2))
    guided = model.sample(100, labels=labels, guidance=3.0, temperature=1.0, generator=_gen(2))
    assert posterior_of_asked(guided) > posterior_of_asked(plain) + 0.04  # 0.93 -> 0.99 and 0.87 -> 0.98 when written
    torch.testing.assert_close(model.sample(4, labels=[0, 1, 0, 1], generator=_gen(3)), model.sample(4, labels=[0, 1, 0, 1], generator=_gen(3)))
    cond = {"label": torch.tensor([0, 1, 1])}
    if family == "wavenet":
        fast = model.sample_model(cond, generator=_gen(5), guidance=2.0)
        naive = model.sample_model(cond, generator=_gen(5), guidance=2.0, naive=True)
        assert torch.equal(fast, naive)
    with pytest.raises(ValueError, match="guidance: expected a finite number >= 0"):
        model.sample(2, labels=0, guidance=-1.0)
    # temperature: 1 is the model itself; below 1 every conditional is sharper, so the samples are likelier under it
    assert model.config.temperature == 0.6  # sequences are sampled tempered by default
    default = model.config.temperature
    assert torch.equal(model.sample(8, labels=labels[:8], temperature=default, generator=_gen(6)), model.sample(8, labels=labels[:8], generator=_gen(6)))

    def own_log_prob(samples):
        return model.log_prob(model.spec.to_model(samples), labels).mean().item()

    warm = model.sample(100, labels=labels, guidance=0.0, temperature=1.0, generator=_gen(2))
    cold = model.sample(100, labels=labels, guidance=0.0, temperature=0.5, generator=_gen(2))
    assert own_log_prob(cold) > own_log_prob(warm) + 0.1 * model.spec.dim  # nats per sample; per element: 0.1
    if family == "wavenet":
        fast = model.sample_model(cond, generator=_gen(7), guidance=2.0, temperature=0.7)
        assert torch.equal(fast, model.sample_model(cond, generator=_gen(7), guidance=2.0, temperature=0.7, naive=True))
    for bad in (0.0, -1.0, float("nan"), float("inf"), True):
        with pytest.raises(ValueError, match="temperature: expected a finite number > 0"):
            model.sample(2, labels=0, temperature=bad)
        if not isinstance(bad, bool):  # the config refuses it too (pydantic reads True as 1)
            with pytest.raises(ValueError, match="temperature"):
                type(model.config)(temperature=bad)


def test_tempering_sharpens_a_categorical_and_narrows_a_mixture():
    spec = from_arrays(np.linspace(0, 1, 8)[:, None].repeat(4, 1), levels=4, modality="sequence").spec
    probs = torch.tensor([0.5, 0.3, 0.1, 0.1])
    tempered = Categorical(spec).tempered(probs.log(), 0.5).softmax(-1)
    torch.testing.assert_close(tempered, probs**2 / (probs**2).sum())  # p ** (1 / T), renormalized
    assert torch.equal(Categorical(spec).tempered(probs.log(), 1.0), probs.log())
    dist = GaussianMixture(2, -7.0)
    params = torch.tensor([math.log(0.8), math.log(0.2), -1.0, 1.0, 0.0, math.log(2.0)])  # weights, means, log-scales
    weights, means, log_scales = dist.tempered(params, 0.5).split(2)
    torch.testing.assert_close(weights.softmax(-1), torch.tensor([0.64, 0.04]) / 0.68)
    torch.testing.assert_close(means, params[2:4])
    torch.testing.assert_close(log_scales.exp(), torch.tensor([0.5, 1.0]))
    draws = torch.stack([dist.sample(dist.tempered(params, 0.5), _gen(i)) for i in range(2000)])
    assert draws.std() < torch.stack([dist.sample(params, _gen(i)) for i in range(2000)]).std()


def test_pixelcnn_guides_images_and_vectors_pixel_by_pixel(digits):
    for data in (digits.subset(np.arange(100)), genaug.load_source("wine")):
        model = genaug.fit(data, "pixelcnn", steps=5, channels=4, layers=2, head=8, hidden=16, train={"progress": False})
        labels = torch.arange(data.spec.num_classes)
        x = model.sample(len(labels), labels=labels, guidance=2.0, generator=_gen(0))
        assert x.shape == (len(labels), *data.spec.user_shape()) and torch.isfinite(torch.as_tensor(x)).all()
        torch.testing.assert_close(model.sample(len(labels), labels=labels, guidance=2.0, generator=_gen(0)), x)


def test_a_wavenet_saved_before_the_temperature_samples_untempered(tmp_path):
    rng = np.random.default_rng(0)
    data = from_arrays(rng.normal(size=(20, 1, 16)), np.arange(20) % 2, modality="sequence", levels=16)
    model = genaug.fit(data, "wavenet", steps=2, residual=4, skip=4, layers=2, cycle=2, head=4, train={"progress": False})
    model.save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert genaug.load(tmp_path / "m").config.temperature == 0.6
    del config["config"]["temperature"]  # as written before the option existed
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    assert genaug.load(tmp_path / "m").config.temperature == 1.0
    # a run started before the field resumes with the value it had then, as a saved model loads
    from genaug.train.fit import _stored_setup

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text(json.dumps({"family": "wavenet", "config": config["config"]}))
    assert _stored_setup(tmp_path / "run", None, {})[1]["temperature"] == 1.0
