"""Exactness and training tests of the normalizing flow family (`genaug.models.flow`).

Invertibility and log-determinants are checked on untrained models whose weights are perturbed
away from the identity initialisation, so every layer really transforms its input.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.model_selection import train_test_split

import genaug
from genaug.data import ArraySet
from genaug.models.flow import Flow

SMALL = {"scales": 3, "flow_steps": 2, "channels": 8, "hidden": 16, "label_dim": 4}


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def perturbed_flow(data: ArraySet, **config) -> Flow:
    """An initialised flow with every weight nudged, so no coupling is the identity."""
    torch.manual_seed(0)
    model = genaug.create("flow", data.spec, **{**SMALL, **config})
    model.init_from_data({"x": data.x, "label": data.y}, generator=gen(0))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model.eval()


@pytest.fixture(scope="module")
def wine() -> ArraySet:
    return genaug.load_source("wine")


def odd_images(shape: tuple[int, int, int]) -> ArraySet:
    """Random 8-bit images of (H, W, C) ``shape`` in HWC layout, 3 classes."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(60, *shape), dtype=np.uint8)
    return genaug.from_arrays(x, np.arange(60) % 3)


# ---------------------------------------------------------------------- exact inverse
@pytest.mark.parametrize("source", ["digits", "odd-rgb", "squeeze-then-odd", "wine"])
def test_decode_inverts_encode(source, digits, wine):
    data = {
        "digits": digits,
        "odd-rgb": odd_images((7, 5, 3)),  # no squeeze possible: checkerboard and channel masks only
        "squeeze-then-odd": odd_images((6, 10, 3)),  # one squeeze to 3x5, then odd
        "wine": wine,
    }[source]
    model = perturbed_flow(data)
    z, y = data.spec.dequantize(data.x[:32], gen(1)), data.y[:32]
    latent = model.encode(z, y)
    assert latent.shape == (32, data.spec.dim)
    torch.testing.assert_close(model.decode(latent, y), z, atol=1e-4, rtol=0)


def test_encode_inverts_decode_on_vectors(wine):
    """From base noise and back (images too, except where float32 saturates the logit map's sigmoid)."""
    model = perturbed_flow(wine)
    noise = torch.randn(64, wine.spec.dim, generator=gen(2))
    labels = torch.arange(64) % wine.spec.num_classes
    torch.testing.assert_close(model.encode(model.decode(noise, labels), labels), noise, atol=1e-4, rtol=1e-4)


def test_squeezes_only_even_sizes(digits):
    assert perturbed_flow(digits).latent_shape == (16, 2, 2)  # 1x8x8 -> 4x4x4 -> 16x2x2
    assert perturbed_flow(odd_images((6, 10, 3))).latent_shape == (12, 3, 5)
    assert perturbed_flow(odd_images((7, 5, 3))).latent_shape == (3, 7, 5)


# ---------------------------------------------------------------------- exact density
@pytest.mark.parametrize("source", ["wine", "digits"])
def test_log_det_matches_brute_force_jacobian(source, digits, wine):
    data = digits if source == "digits" else wine
    model = perturbed_flow(data, scales=2).double()
    z = data.spec.dequantize(data.x[:2].double(), gen(3))
    for i in range(2):
        label = data.y[i : i + 1]
        jacobian = torch.autograd.functional.jacobian(
            lambda v: model._to_latent(v.view(1, *data.spec.shape), {"label": label})[0].flatten(), z[i].flatten()
        )  # (D, D)
        expected = torch.linalg.slogdet(jacobian)[1]
        torch.testing.assert_close(model._to_latent(z[i : i + 1], {"label": label})[1][0], expected, atol=1e-8, rtol=1e-8)


def _grid_2d(lo: float, hi: float, n: int) -> tuple[torch.Tensor, float]:
    centres = lo + (torch.arange(n, dtype=torch.float64) + 0.5) * (hi - lo) / n
    a, b = torch.meshgrid(centres, centres, indexing="ij")
    return torch.stack([a.flatten(), b.flatten()], dim=1), ((hi - lo) / n) ** 2


def test_density_integrates_to_one_on_vectors():
    x = np.random.default_rng(0).normal(size=(200, 2)) * [1.0, 3.0]
    data = genaug.from_arrays(x.round(3), np.arange(200) % 2)
    model = perturbed_flow(data, flow_steps=3).double()
    points, cell = _grid_2d(-12.0, 12.0, 400)
    for label in range(2):
        with torch.no_grad():
            mass = model.log_prob(points, torch.full((len(points),), label)).exp().sum() * cell
        assert abs(mass.item() - 1.0) < 2e-3, mass.item()


def test_density_integrates_to_one_on_bounded_images():
    """A 1x1x2 'image' on a grid: with the logit map, the density is exact on its support box."""
    x = np.random.default_rng(0).integers(0, 17, size=(100, 1, 1, 2)).astype("float64")
    data = genaug.from_arrays(x, np.arange(100) % 2, layout="CHW")
    model = perturbed_flow(data, scales=1, flow_steps=4).double()
    limit = model.support_limit
    assert limit == pytest.approx(1.0 / (1.0 - 2.0 * model.config.logit_alpha))
    points, cell = _grid_2d(-limit, limit, 250)
    with torch.no_grad():
        for label in range(2):
            mass = model.log_prob(points.view(-1, 1, 1, 2), torch.full((len(points),), label)).exp().sum() * cell
            assert abs(mass.item() - 1.0) < 2e-3, mass.item()
        outside = torch.tensor([[[[limit + 0.01, 0.0]]]], dtype=torch.float64)
        assert model.log_prob(outside, torch.tensor([0])).item() == -math.inf


def test_marginal_mixes_the_conditionals_by_the_prior(digits):
    model = perturbed_flow(digits)
    z = digits.spec.dequantize(digits.x[:20], gen(4))
    with torch.no_grad():
        per_class = torch.stack([model.log_prob(z, torch.full((20,), c)) for c in range(10)], dim=1)
        expected = torch.logsumexp(per_class + model.class_prior.log(), dim=1)
        torch.testing.assert_close(model.log_prob(z), expected)


# ---------------------------------------------------------------------- sampling
def test_samples_are_decoded_tempered_base_noise(digits):
    model = perturbed_flow(digits, temperature=0.7)
    labels = torch.arange(10)
    with torch.no_grad():
        z = model.sample_model({"label": labels}, generator=gen(5))
        expected = model.decode(0.7 * torch.randn(10, digits.spec.dim, generator=gen(5)), labels)
    torch.testing.assert_close(z, expected)
    assert z.shape == (10, 1, 8, 8) and (z.abs() < model.support_limit).all()
    # a per-call temperature overrides the config's: the same draws as a model configured with it
    with torch.no_grad():
        torch.testing.assert_close(perturbed_flow(digits).sample_model({"label": labels}, generator=gen(5), temperature=0.7), z)
    for bad in (0.0, float("inf"), True):
        with pytest.raises(ValueError, match="temperature: expected a finite number > 0"):
            model.sample(2, labels=0, temperature=bad)


def test_init_from_data_standardises_the_input(digits):
    model = genaug.create("flow", digits.spec, **SMALL)
    model.init_from_data({"x": digits.x, "label": digits.y}, generator=gen(0))
    z = digits.spec.dequantize(digits.x, gen(6))
    logit, _ = model.layers[0](z, None)
    h, _ = model.layers[1](logit, None)  # the per-pixel actnorm
    torch.testing.assert_close(h.mean(0), torch.zeros(1, 8, 8), atol=0.1, rtol=0)
    torch.testing.assert_close(h.std(0), torch.ones(1, 8, 8), atol=0.1, rtol=0)


# ---------------------------------------------------------------------- errors and precision
def test_bad_latents_and_out_of_range_inputs_are_refused(digits):
    model = perturbed_flow(digits)
    with pytest.raises(ValueError, match=r"latent: expected shape \(N, 64\)"):
        model.decode(torch.zeros(2, 63))
    with pytest.raises(ValueError, match=r"z: the flow's support for grid data is the open interval"):
        model.encode(torch.full((1, 1, 8, 8), 1.5))
    with pytest.raises(ValueError, match="temperature"):
        genaug.create("flow", digits.spec, temperature=0.0)


def test_bf16_autocast_keeps_the_loss_in_float32(digits):
    model = perturbed_flow(digits).train()
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        out = model.training_step({"x": digits.x[:16], "label": digits.y[:16]}, step=0, group="main", generator=gen(7))
    assert out["loss"].dtype == torch.float32 and torch.isfinite(out["loss"])
    out["loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


# ---------------------------------------------------------------------- training
def test_short_training_beats_the_uniform_model_on_held_out_digits(digits):
    """Held-out bits/dim after a short run: better than the data-dependent init, far below uniform (4.09)."""
    index = np.arange(len(digits))
    tr, te = train_test_split(index, test_size=0.5, stratify=digits.y.numpy(), random_state=0)
    train, test = digits.subset(tr), digits.subset(te)
    z = test.spec.dequantize(test.x, gen(0))

    def bits_per_dim(model: Flow) -> float:
        with torch.no_grad():
            lp = model.log_prob(z).mean()
        return -(lp.item() + test.spec.log_det_to_data()) / (test.spec.dim * math.log(2))

    config = {"scales": 2, "flow_steps": 2, "channels": 16}
    untrained = genaug.create("flow", train.spec, **config)
    untrained.init_from_data({"x": train.x, "label": train.y}, generator=gen(0))
    model = genaug.fit(train, "flow", train={"steps": 150, "val_fraction": 0.0, "ema_decay": 0.99}, **config)
    before, after = bits_per_dim(untrained), bits_per_dim(model)
    assert after < min(before - 0.1, 2.5), (before, after)


def test_default_fit_on_wine_beats_a_gaussian_per_class(wine):
    """Tabular data: the default flow's held-out log p(x | y) beats a full-covariance Gaussian per class."""
    index = np.arange(len(wine))
    tr, te = train_test_split(index, test_size=0.5, stratify=wine.y.numpy(), random_state=0)
    train, test = wine.subset(tr), wine.subset(te)
    model = genaug.fit(train, "flow", train={"checkpoint_every": 0, "sample_every": 0})
    with torch.no_grad():
        flow = model.log_prob(test.x, test.y).mean().item()
    gaussian = torch.zeros(len(test))
    for c in range(wine.spec.num_classes):
        members = train.x[train.y == c].double()
        cov = torch.cov(members.T) + 1e-3 * torch.eye(wine.spec.dim, dtype=torch.float64)
        normal = torch.distributions.MultivariateNormal(members.mean(0), covariance_matrix=cov)
        gaussian[test.y == c] = normal.log_prob(test.x[test.y == c].double()).float()
    assert flow > gaussian.mean().item() + 1.0, (flow, gaussian.mean().item())
