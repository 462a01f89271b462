"""Tests of the autoregressive family (`genaug.models.pixelcnn`): causality, exact normalisation,
the likelihood by hand, sampling that follows the density, and a tiny fit that learns digits."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch
from sklearn.model_selection import train_test_split

import genaug
from genaug.data.spec import DataSpec
from genaug.models.pixelcnn import PixelCNN

LABELS = ["a", "b"]


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def grid_spec(shape: tuple[int, ...], levels: int) -> DataSpec:
    """A grid spec of per-sample ``shape`` in the user's layout (HW, CHW or D) with ``levels`` steps."""
    x = np.zeros((2, *shape))
    modality = "vector" if len(shape) == 1 else "image"
    return DataSpec.infer(x, LABELS, modality=modality, levels=levels, value_range=(0.0, levels - 1.0))


def tiny(spec: DataSpec, **config) -> PixelCNN:
    torch.manual_seed(0)
    config = {"channels": 8, "layers": 3, "head": 8, "hidden": 16, "dropout": 0.0, **config}
    return genaug.create("pixelcnn", spec, **config).eval()


def every_grid_point(spec: DataSpec) -> torch.Tensor:
    """All levels**D bin centres of a small grid: (levels**D, *spec.shape)."""
    centres = [(k + 0.5) / spec.levels * 2.0 - 1.0 for k in range(spec.levels)]
    points = torch.tensor(list(itertools.product(centres, repeat=spec.dim)), dtype=torch.float32)
    return points.view(-1, *spec.shape)


# ---------------------------------------------------------------------- causality
@pytest.mark.parametrize("user_shape", [(8, 8), (3, 5, 7)])
def test_each_subpixel_sees_exactly_the_earlier_ones(user_shape):
    """d params(c, i, j) / d x is zero at (i, j) for channels >= c and at later pixels, nonzero at every
    earlier one (the receptive field covers the image: no blind spot up-right of (i, j))."""
    spec = grid_spec(user_shape, 256)
    c_, h_, w_ = spec.shape
    model = tiny(spec, layers=max(h_, w_) + 1)
    x = torch.randn(1, *spec.shape, requires_grad=True)
    labels = torch.tensor([1])
    params = model.conditionals(x, labels)  # (1, C, H, W, 256)
    assert params.shape == (1, *spec.shape, 256)
    for c, i, j in itertools.product(range(c_), range(h_), range(w_)):
        (grad,) = torch.autograd.grad(params[0, c, i, j].sum(), x, retain_graph=True)
        seen = grad[0].abs() > 0  # (C, H, W)
        pixel = torch.arange(h_ * w_).view(h_, w_)
        earlier = (pixel < i * w_ + j).expand(c_, h_, w_).clone()
        earlier[:c, i, j] = True  # the pixel's earlier channels
        assert torch.equal(seen, earlier), (c, i, j)
        if i > 0 and j + 1 < w_:
            assert seen[:, i - 1, j + 1].all()  # up-right: the classic PixelCNN blind spot


def test_made_outputs_see_exactly_the_earlier_features():
    spec = grid_spec((6,), 5)
    model = tiny(spec)
    x = torch.randn(1, 6, requires_grad=True)
    params = model.conditionals(x, torch.tensor([0]))  # (1, D, levels)
    for d in range(6):
        (grad,) = torch.autograd.grad(params[0, d].sum(), x, retain_graph=True)
        assert torch.equal(grad[0].abs() > 0, torch.arange(6) < d), d


# ---------------------------------------------------------------------- exact likelihood
@pytest.mark.parametrize("user_shape, levels", [((2, 2), 3), ((3, 1, 2), 2), ((4,), 3)])
def test_probabilities_of_every_grid_point_sum_to_one(user_shape, levels):
    """Summed over the whole grid, P(bins) = exp(log_prob) * bin_width**D adds up to 1 per class."""
    spec = grid_spec(user_shape, levels)
    model = tiny(spec)
    points = every_grid_point(spec)
    with torch.no_grad():
        for label in (0, 1):
            labels = torch.full((len(points),), label)
            log_p = model.log_prob(points, labels) + spec.dim * math.log(spec.bin_width)
            torch.testing.assert_close(torch.logsumexp(log_p.double(), 0).exp().item(), 1.0, rtol=0, atol=1e-5)
        log_p = model.log_prob(points) + spec.dim * math.log(spec.bin_width)
        torch.testing.assert_close(torch.logsumexp(log_p.double(), 0).exp().item(), 1.0, rtol=0, atol=1e-5)
        level_probs = model.conditionals(points, labels).float().softmax(-1).sum(-1)
        torch.testing.assert_close(level_probs, torch.ones_like(level_probs))


def test_log_prob_is_the_hand_computed_sum_and_uniform_within_bins():
    spec = grid_spec((3, 4), 17)
    model = tiny(spec)
    k = torch.randint(0, 17, (5, *spec.shape), generator=gen(0))
    centres = (k + 0.5) / 17 * 2.0 - 1.0
    labels = torch.tensor([0, 1, 1, 0, 1])
    with torch.no_grad():
        logits = model.conditionals(centres, labels)  # (5, 1, 3, 4, 17)
        per_pixel = logits.log_softmax(-1).gather(-1, k.unsqueeze(-1)).squeeze(-1)
        expected = per_pixel.flatten(1).sum(1) - spec.dim * math.log(2.0 / 17)
        torch.testing.assert_close(model.log_prob(centres, labels), expected)
        dequantized = spec.dequantize(centres, gen(1))
        assert not torch.equal(dequantized, centres)
        torch.testing.assert_close(model.log_prob(dequantized, labels), expected)  # uniform within each bin
        per_class = torch.stack([model.log_prob(centres, torch.full((5,), c)) for c in (0, 1)], 1)
        marginal = torch.logsumexp(per_class + model.class_prior.log(), 1)
        torch.testing.assert_close(model.log_prob(centres), marginal)
        outside = centres.clone()
        outside[0, 0, 1, 2] = 1.0  # the right edge of the last bin is off the grid
        off_grid = model.log_prob(outside, labels)
        assert off_grid[0] == -math.inf and torch.isfinite(off_grid[1:]).all()


def test_continuous_density_integrates_to_one():
    """Vectors without a grid get a mixture of Gaussians per feature: a proper density."""
    x = np.random.default_rng(0).normal(size=(40, 1))
    spec = DataSpec.infer(x, LABELS)
    assert spec.scaling == "standard"
    model = tiny(spec, mixture=3)
    with torch.no_grad():
        model.net.out.bias.normal_(generator=gen(0))  # a lopsided mixture, not the default init
        grid = torch.linspace(-30.0, 30.0, 60001).unsqueeze(1)
        density = model.log_prob(grid, torch.zeros(len(grid), dtype=torch.long)).double().exp()
    assert abs(torch.trapezoid(density, grid[:, 0].double()).item() - 1.0) < 1e-3


# ---------------------------------------------------------------------- sampling
def test_samples_follow_the_density_and_are_batched():
    """Empirical frequencies of 20000 samples of a 9-point grid match exp(log_prob); one pass per pixel."""
    spec = grid_spec((1, 2), 3)
    model = tiny(spec)
    with torch.no_grad():
        model.net.out[0].bias.normal_(generator=gen(0))
    calls = []
    features = model.net.features
    model.net.features = lambda x, labels: calls.append(len(x)) or features(x, labels)
    labels = torch.ones(20000, dtype=torch.long)
    x = model.sample_model({"label": labels}, generator=gen(0))
    assert calls == [20000, 20000]  # H * W passes, every sample in each
    points = every_grid_point(spec)
    with torch.no_grad():
        expected = (model.log_prob(points, torch.ones(9, dtype=torch.long)) + 2 * math.log(spec.bin_width)).exp()
    index = (spec.bin_index(x).long().view(len(x), 2) * torch.tensor([3, 1])).sum(1)
    freq = torch.bincount(index, minlength=9).float() / len(x)
    torch.testing.assert_close(freq, expected, atol=0.015, rtol=0)
    assert torch.equal(x, model.sample_model({"label": labels}, generator=gen(0)))
    assert not torch.equal(x, model.sample_model({"label": labels}, generator=gen(1)))


def test_rgb_images_fit_and_sample_in_the_users_space():
    x = np.random.default_rng(0).integers(0, 256, size=(24, 5, 7, 3)).astype("uint8")
    data = genaug.from_arrays(x, np.arange(24) % 2)
    assert data.spec.shape == (3, 5, 7) and data.spec.levels == 256
    train = {"steps": 3, "batch_size": 8, "val_fraction": 0}
    model = genaug.fit(data, "pixelcnn", channels=8, layers=2, head=8, train=train)
    samples = model.sample(6, labels=[0, 1, 0, 1, 0, 1], generator=gen(0))
    assert samples.shape == (6, 5, 7, 3) and samples.dtype == torch.uint8
    assert torch.equal(samples, model.sample(6, labels=[0, 1, 0, 1, 0, 1], generator=gen(0)))


def test_continuous_images_get_a_mixture_per_subpixel():
    x = np.random.default_rng(0).random((16, 1, 4, 5)).astype("float32")
    data = genaug.from_arrays(x, np.arange(16) % 2)
    assert data.spec.scaling == "range"
    model = genaug.fit(data, "pixelcnn", channels=8, layers=2, head=8, mixture=2, train={"steps": 3, "val_fraction": 0})
    assert model.conditionals(data.x, data.y).shape == (16, 1, 4, 5, 6)  # (logits, means, log-scales) x 2
    assert torch.isfinite(model.log_prob(data.x, data.y)).all()
    samples = model.sample(4, labels=1, generator=gen(0))
    assert samples.shape == (4, 1, 4, 5) and samples.dtype == torch.float32


# ---------------------------------------------------------------------- training
def test_tiny_fit_learns_digits_better_than_uniform():
    """150 steps of a small net beat the Gaussian mixture (2.82 bits/dim) on held-out digits; the loss falls."""
    data = genaug.load_source("digits")
    tr, te = train_test_split(np.arange(len(data)), test_size=0.5, stratify=data.y.numpy(), random_state=0)
    train, test = data.subset(tr), data.subset(te)
    budget = {"steps": 150, "batch_size": 64, "val_fraction": 0}
    model = genaug.fit(train, "pixelcnn", channels=16, layers=3, head=32, train=budget)
    z = test.spec.dequantize(test.x[:300], gen(0))
    with torch.no_grad():
        bpd = -(model.log_prob(z).mean() + test.spec.log_det_to_data()) / (test.spec.dim * math.log(2))
    assert bpd < 2.6, bpd  # measured 2.11; a Gaussian mixture scores 2.82, uniform 4.088
    fresh = genaug.create("pixelcnn", data.spec, channels=16, layers=3, head=32)
    with torch.no_grad():
        before = fresh.training_step({"x": test.x[:300], "label": test.y[:300]}, step=0, group="main", generator=gen(0))["loss"]
        after = model.training_step({"x": test.x[:300], "label": test.y[:300]}, step=0, group="main", generator=gen(0))["loss"]
    assert after < before - 1.0


def test_training_step_under_bf16_autocast_gives_a_float32_loss():
    data = genaug.load_source("digits")
    model = genaug.create("pixelcnn", data.spec, channels=8, layers=2, head=8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model.training_step({"x": data.x[:16], "label": data.y[:16]}, step=0, group="main", generator=gen(0))["loss"]
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()


def test_bad_config_is_refused_by_name():
    spec = grid_spec((8, 8), 17)
    with pytest.raises(ValueError, match="kernel_size: expected an odd number"):
        genaug.create("pixelcnn", spec, kernel_size=4)
    with pytest.raises(ValueError, match="dropout"):
        genaug.create("pixelcnn", spec, dropout=1.0)


# ---------------------------------------------------------------------- defaults per modality
def test_sampling_defaults_come_from_the_modality_and_are_stored_as_numbers(tmp_path):
    """Images sample unguided at temperature 1; sequences as the wavenet does (guidance 1, temperature 0.6); what is
    asked stays as asked; the network is the family's own on both."""
    image = grid_spec((4, 4), 5)
    series = genaug.from_arrays(np.zeros((4, 1, 16)), [0, 1, 0, 1], modality="sequence", levels=8).spec
    model = genaug.create("pixelcnn", image)
    assert (model.config.channels, model.config.layers, model.config.guidance, model.config.temperature) == (32, 6, 0.0, 1.0)
    model = genaug.create("pixelcnn", series)
    assert (model.config.channels, model.config.layers, model.config.guidance, model.config.temperature) == (32, 6, 1.0, 0.6)
    wavenet = genaug.create("wavenet", series)
    assert (wavenet.config.guidance, wavenet.config.temperature) == (model.config.guidance, model.config.temperature)
    assert PixelCNN.train_defaults_for(series) == PixelCNN.train_defaults_for(image) == PixelCNN.train_defaults
    asked = genaug.create("pixelcnn", series, guidance=0.0, temperature=0.9).config
    assert (asked.guidance, asked.temperature) == (0.0, 0.9)
    # saved with numbers: loading gives them back; a config saved before the sampling fields existed keeps 0 and 1
    data = genaug.from_arrays(np.random.default_rng(0).integers(0, 8, (8, 1, 16)), np.arange(8) % 2, modality="sequence", levels=8)
    genaug.fit(data, "pixelcnn", channels=4, layers=2, head=8, out=tmp_path / "m", train={"steps": 2, "val_fraction": 0, "progress": False})
    saved = json.loads((tmp_path / "m" / "config.json").read_text())
    assert (saved["config"]["guidance"], saved["config"]["temperature"]) == (1.0, 0.6)
    assert (genaug.load(tmp_path / "m").config.guidance, genaug.load(tmp_path / "m").config.temperature) == (1.0, 0.6)
    del saved["config"]["guidance"], saved["config"]["temperature"]  # as written before the sampling fields existed
    (tmp_path / "m" / "config.json").write_text(json.dumps(saved))
    assert (genaug.load(tmp_path / "m").config.guidance, genaug.load(tmp_path / "m").config.temperature) == (0.0, 1.0)
