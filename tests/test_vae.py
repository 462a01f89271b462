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
