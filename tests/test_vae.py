"""Tests of the VAE family's decoder density (`genaug.models.vae`): the outlier component and its size-dependent weight.

The contract itself (sampling, save/load, errors) is checked in ``test_models.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import genaug
from genaug.models.vae import VAEConfig, auto_outlier_weight

TINY = {"latent_dim": 4, "channels": 4, "hidden": 16, "label_dim": 4}


def digits_like(n: int) -> genaug.ArraySet:
    x = np.random.default_rng(0).integers(0, 17, size=(n, 8, 8))
    return genaug.from_arrays(x, np.arange(n) % 2, levels=17, value_range=(0, 16))


def test_auto_outlier_weight_shrinks_as_the_records_grow(tmp_path):
    assert VAEConfig().outlier_weight == "auto"
    assert auto_outlier_weight(None) == 0.01
    weights = {}
    for n in (40, 200, 400, 4000):
        model = genaug.create("vae", digits_like(n).spec, **TINY)
        model.init_from_data(digits_like(n).tensors(), generator=torch.Generator().manual_seed(0))
        weights[n] = model.config.outlier_weight
    assert weights == {40: 0.1, 200: 0.1, 400: 0.05, 4000: 0.005}
    # a fit sizes it to the records it trains on, the validation tenth held out: 20 / 360
    data = digits_like(400)
    model = genaug.fit(data, "vae", out=tmp_path / "run", steps=2, train={"progress": False, "checkpoint_every": 0}, **TINY)
    assert model.config.outlier_weight == pytest.approx(20 / 360)
    assert genaug.load(tmp_path / "run").config.outlier_weight == pytest.approx(20 / 360)  # config.json keeps the number
    # before any fit, an "auto" model prices outliers with the records its spec counts
    assert genaug.create("vae", data.spec, **TINY).outlier_weight == 0.05


@pytest.mark.parametrize("bad", [-0.1, 1.0, "sometimes"])
def test_outlier_weight_must_be_a_share_or_auto(bad):
    with pytest.raises(ValueError, match="outlier_weight"):
        VAEConfig(outlier_weight=bad)


def test_a_value_never_seen_costs_a_bounded_amount():
    data = digits_like(40)
    with_outliers = genaug.create("vae", data.spec, outlier_weight=0.1, **TINY)
    gaussian_only = genaug.create("vae", data.spec, outlier_weight=0.0, **TINY)
    gaussian_only.load_state_dict(with_outliers.state_dict())
    mean = torch.full((1, 8, 8), -0.95)  # a blank pixel everywhere, as the decoder of blank borders learns
    z = mean.clone()
    z[0, 0, 0] = 0.9  # ink where the training records had none
    with torch.no_grad():
        for m in (with_outliers, gaussian_only):
            m.log_scale.fill_(math.log(0.03))
        near, far = (float(with_outliers._log_likelihood(v, mean)) for v in (mean, z))
        lone_gaussian = float(gaussian_only._log_likelihood(z, mean))
        # a proper density per dimension on [-1, 1]: every dimension at the same value, so per dim = total / 64
        grid = torch.linspace(-1, 1, 20001)
        per_dim = with_outliers._log_likelihood(grid.view(-1, 1, 1).expand(-1, 8, 8), torch.zeros(1, 8, 8)) / 64
    # the far pixel scores at least log(0.1 / 2) = -3.0 nats, where a pixel at the mean scored near / 64
    assert far >= near - near / 64 + math.log(0.1 / 2) - 1e-4
    assert lone_gaussian < far - 1000  # the Gaussian alone: (1.85 / 0.03)^2 / 2 nats
    assert torch.trapezoid(per_dim.exp(), grid).item() == pytest.approx(1.0, abs=2e-3)


def test_standardized_data_get_a_normal_outlier_component():
    x = np.random.default_rng(0).normal(size=(60, 5)).astype(np.float32)
    data = genaug.from_arrays(x, np.arange(60) % 3)
    model = genaug.create("vae", data.spec, outlier_weight=0.2, **TINY)
    far = torch.full((1, 5), 40.0)
    with torch.no_grad():
        value = model._log_likelihood(far, torch.zeros(1, 5))
    assert torch.isfinite(value).all()
    expected = 5 * (math.log(0.2) - 0.5 * 40.0**2 - 0.5 * math.log(2 * math.pi))  # the standard normal dominates
    assert float(value) == pytest.approx(expected, rel=1e-3)


# ---------------------------------------------------------------- the fitted latent prior


def _two_blobs(n: int = 120) -> genaug.ArraySet:
    """Two classes of 8 x 8 images that differ in where the ink is, so the latent codes separate by class."""
    rng = np.random.default_rng(1)
    labels = np.arange(n) % 2
    x = rng.integers(0, 4, size=(n, 8, 8))
    x[labels == 0, :4] += 12
    x[labels == 1, 4:] += 12
    return genaug.from_arrays(x, labels, levels=17, value_range=(0, 16))


def test_the_fit_sets_each_class_prior_to_the_moments_of_its_posteriors(tmp_path):
    from torch.distributions import MultivariateNormal, kl_divergence

    data = _two_blobs()
    model = genaug.fit(data, "vae", out=tmp_path / "run", steps=150, seed=0, train={"progress": False, "checkpoint_every": 0, "val_fraction": 0}, **TINY)
    tensors = data.tensors()
    with torch.no_grad():
        mean, log_var = model._posterior(tensors["x"], {"label": tensors["label"]})
    for c in (0, 1):
        rows = tensors["label"] == c
        assert torch.allclose(model.prior_mean[c], mean[rows].mean(0), atol=1e-5)
        cov = torch.cov(mean[rows].T, correction=0) + torch.diag(log_var[rows].exp().mean(0))
        fitted = model.prior_scale_tril[c] @ model.prior_scale_tril[c].T
        assert torch.allclose(fitted, cov, atol=1e-4)
    # the closed-form KL against the fitted prior is torch.distributions'
    labels = tensors["label"][:6]
    ours = model._kl(mean[:6], log_var[:6], labels)
    ref = torch.stack(
        [
            kl_divergence(MultivariateNormal(mean[i], torch.diag(log_var[i].exp())), MultivariateNormal(model.prior_mean[labels[i]], scale_tril=model.prior_scale_tril[labels[i]]))
            for i in range(6)
        ]
    )
    assert torch.allclose(ours, ref, rtol=1e-4, atol=1e-4)
    # moment matching minimizes the KL term averaged over the records it was fitted on: below N(0, I)'s
    standard = 0.5 * (mean**2 + log_var.exp() - 1.0 - log_var).sum(1)
    assert model._kl(mean, log_var, tensors["label"]).mean() < standard.mean()
    # saved and loaded with the weights; samples of a class come from its prior
    loaded = genaug.load(tmp_path / "run")
    assert torch.equal(loaded.prior_mean, model.prior_mean) and torch.equal(loaded.prior_scale_tril, model.prior_scale_tril)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(loaded.sample(8, labels=1, generator=g), model.sample(8, labels=1, generator=torch.Generator().manual_seed(0)))


def test_prior_standard_keeps_the_normal_prior_and_an_older_folder_loads_with_it(tmp_path):
    from safetensors.torch import load_file, save_file

    data = _two_blobs(40)
    model = genaug.fit(data, "vae", out=tmp_path / "std", steps=5, prior="standard", train={"progress": False, "checkpoint_every": 0}, **TINY)
    assert not model.prior_mean.any() and torch.equal(model.prior_scale_tril, torch.eye(4).repeat(2, 1, 1))
    fitted = genaug.fit(data, "vae", out=tmp_path / "old", steps=5, train={"progress": False, "checkpoint_every": 0}, **TINY)
    assert fitted.prior_mean.any()
    # a folder saved before the fitted prior existed has no prior tensors: it loads, with N(0, I)
    weights = tmp_path / "old" / "model.safetensors"
    state = {k: v for k, v in load_file(str(weights)).items() if not k.startswith("prior_")}
    save_file(state, str(weights))
    old = genaug.load(tmp_path / "old")
    assert not old.prior_mean.any() and not old._prior_is_fitted()
    assert old.sample(4, labels=0, generator=torch.Generator().manual_seed(0)).shape == (4, 8, 8)
    # a weights file missing any other tensor is still refused
    save_file({k: v for k, v in state.items() if k != "log_scale"}, str(weights))
    with pytest.raises(ValueError, match="weights do not match"):
        genaug.load(tmp_path / "old")


def test_a_checkpoint_written_before_the_fitted_prior_resumes(tmp_path):
    """Checkpoints from before a family added an ``optional_state`` tensor lack it; resuming keeps the model's own."""
    from safetensors.torch import load_file, save_file

    data = _two_blobs(40)
    train = {"progress": False, "checkpoint_every": 4, "eval_every": 4}
    genaug.fit(data, "vae", out=tmp_path / "run", steps=4, seed=0, train=train, **TINY)
    (checkpoint,) = (tmp_path / "run" / "checkpoints").iterdir()
    stripped = 0
    for name in ("model.safetensors", "genaug_ema.safetensors", "genaug_best.safetensors"):
        if (checkpoint / name).exists():
            state = load_file(str(checkpoint / name))
            save_file({k: v for k, v in state.items() if not k.startswith("prior_")}, str(checkpoint / name))
            stripped += any(k.startswith("prior_") for k in state)
    assert stripped >= 2  # the model's and the EMA's weights held the prior before
    model = genaug.fit(data, "vae", out=tmp_path / "run", steps=8, seed=0, resume=True, train=train, **TINY)
    assert model.prior_mean.any()  # fitted at the end of the resumed run
    # a checkpoint missing any other tensor is still refused
    (checkpoint,) = sorted((tmp_path / "run" / "checkpoints").iterdir())[-1:]
    state = load_file(str(checkpoint / "model.safetensors"))
    save_file({k: v for k, v in state.items() if k != "log_scale"}, str(checkpoint / "model.safetensors"))
    with pytest.raises(Exception, match="log_scale"):
        genaug.fit(data, "vae", out=tmp_path / "run", steps=12, seed=0, resume=True, train=train, **TINY)


# ---------------------------------------------------------------- sampling temperature


def test_temperature_scales_the_prior_draws_and_is_a_config_default_or_a_per_call_option(tmp_path):
    data = _two_blobs()
    model = genaug.fit(data, "vae", out=tmp_path / "run", steps=40, seed=0, train={"progress": False, "checkpoint_every": 0, "val_fraction": 0}, **TINY)
    labels = torch.ones(400, dtype=torch.long)
    with torch.no_grad():
        latents = {t: model._prior_draw(labels, torch.Generator().manual_seed(0), t) for t in (1.0, 0.5)}
    # the same noise, scaled about the class mean: half the spread at temperature 0.5
    centre = model.prior_mean[1]
    assert torch.allclose(latents[0.5] - centre, 0.5 * (latents[1.0] - centre), atol=1e-6)
    assert torch.allclose(latents[1.0].mean(0), centre, atol=0.3)

    def draw(m, **options):
        return m.sample(200, labels=1, generator=torch.Generator().manual_seed(3), **options)

    plain, cold = draw(model), draw(model, temperature=0.25)
    assert cold.double().std(0).mean() < 0.8 * plain.double().std(0).mean()  # less variety
    assert torch.equal(draw(model, temperature=1.0), plain)  # 1 is the default: same draws
    # as a config default it is saved and loaded with the model; a per-call value overrides it
    warm = genaug.fit(data, "vae", out=tmp_path / "cold", steps=40, seed=0, temperature=0.25, train={"progress": False, "checkpoint_every": 0, "val_fraction": 0}, **TINY)
    loaded = genaug.load(tmp_path / "cold")
    assert loaded.config.temperature == 0.25
    assert torch.equal(draw(loaded), draw(warm)) and torch.equal(draw(loaded), draw(model, temperature=0.25))
    assert torch.equal(draw(loaded, temperature=1.0), plain)


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), float("nan"), True, "warm"])
def test_temperature_must_be_a_positive_number(bad):
    model = genaug.create("vae", digits_like(10).spec, **TINY)
    with pytest.raises(ValueError, match="temperature"):
        model.sample(2, temperature=bad)
    if not isinstance(bad, bool):  # the config, like every pydantic float, reads True as 1
        with pytest.raises(ValueError, match="temperature"):
            VAEConfig(temperature=bad)
