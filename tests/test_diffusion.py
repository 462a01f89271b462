"""The diffusion family: schedule, DDIM sampler, guidance, training signal, shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import genaug
from genaug.models.diffusion import Diffusion, DiffusionConfig, ddim_sample, noise_schedule
from genaug.train import TrainConfig, Trainer

TINY = {"channels": 8, "levels": 2, "blocks": 1, "sample_steps": 5}


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def trained(digits):
    """A tiny model on digits, with its validation loss before and after 100 steps."""
    torch.manual_seed(0)
    model = genaug.create("diffusion", digits.spec, **TINY)
    x, y = digits.x[:400], digits.y[:400]
    before = model.validation_step({"x": x, "label": y}, generator=gen(0))["loss"].item()
    config = TrainConfig(steps=100, batch_size=64, lr=2e-3, ema_decay=0, val_fraction=0, checkpoint_every=0, sample_every=0)
    model = Trainer(model, digits, config).fit()
    after = model.validation_step({"x": x, "label": y}, generator=gen(0))["loss"].item()
    return model, before, after


@pytest.mark.parametrize("name", ["cosine", "linear"])
@pytest.mark.parametrize("timesteps", [2, 50, 1000])
def test_schedule_is_decreasing_inside_the_unit_interval(name, timesteps):
    alpha_bar = noise_schedule(name, timesteps)
    assert alpha_bar.shape == (timesteps,)
    assert (alpha_bar > 0).all() and (alpha_bar < 1).all()
    assert (alpha_bar.diff() < 0).all()
    if timesteps == 1000:  # nearly clean at the start, nearly pure noise at the end
        assert alpha_bar[0] > 0.999 and alpha_bar[-1] < 0.01


def test_loss_falls_over_a_tiny_run(trained):
    _, before, after = trained
    assert after < 0.6 * before, (before, after)


@pytest.mark.parametrize("eta", [0.0, 1.0])
@pytest.mark.parametrize("steps", [1, 7, 100])
def test_ddim_with_a_perfect_denoiser_returns_the_clean_sample(eta, steps):
    x0 = torch.rand(6, 3, 5, generator=gen(0)) * 2 - 1
    alpha_bar = noise_schedule("cosine", 100)

    def oracle(x: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        a = alpha_bar[t]
        return x0.double(), (x.double() - a.sqrt() * x0) / (1 - a).sqrt()

    out = ddim_sample(oracle, torch.randn(6, 3, 5, generator=gen(1)), alpha_bar, steps, eta=eta, generator=gen(2))
    torch.testing.assert_close(out, x0, atol=1e-5, rtol=0)


class OracleNet(torch.nn.Module):
    """Outputs the exact training target (noise or v) for clean images ``x0``, whatever the class."""

    def __init__(self, x0: torch.Tensor, prediction: str, alpha_bar: torch.Tensor) -> None:
        super().__init__()
        self.x0, self.prediction, self.alpha_bar = x0.double(), prediction, alpha_bar

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        x0 = self.x0.repeat(len(x) // len(self.x0), 1, 1, 1)  # guidance doubles the batch
        a = self.alpha_bar[t].view(-1, 1, 1, 1)
        eps = (x.double() - a.sqrt() * x0) / (1 - a).sqrt()
        return (eps if self.prediction == "eps" else a.sqrt() * eps - (1 - a).sqrt() * x0).float()


@pytest.mark.parametrize("prediction", ["eps", "v"])
@pytest.mark.parametrize("guidance", [1.0, 2.0])
def test_the_model_turns_an_exact_network_output_into_the_clean_sample(digits, prediction, guidance):
    """Checks the x0 / noise algebra of both parametrisations end to end through ``sample_model``."""
    model = Diffusion(digits.spec, DiffusionConfig(**{**TINY, "prediction": prediction, "guidance": guidance}))
    x0 = digits.x[:6]
    model.net = OracleNet(x0, prediction, noise_schedule("cosine", 1000))
    torch.testing.assert_close(model.sample_model({"label": digits.y[:6]}, generator=gen(0)), x0, atol=1e-4, rtol=0)


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_with_the_exact_gaussian_denoiser_samples_the_gaussian(eta):
    """For data N(mu, s^2) the optimal denoiser is known; DDIM (deterministic or not) must give N(mu, s^2).

    Fewer steps shrink the spread (the discretisation error), so this runs all 1000 timesteps.
    """
    mu, s = 0.5, 0.3
    alpha_bar = noise_schedule("cosine", 1000)

    def posterior_mean(x: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        a = alpha_bar[t]
        x = x.double()
        x0 = mu + a.sqrt() * s**2 / (a * s**2 + 1 - a) * (x - a.sqrt() * mu)  # E[x0 | x_t]
        return x0, (x - a.sqrt() * x0) / (1 - a).sqrt()

    out = ddim_sample(posterior_mean, torch.randn(20000, 1, generator=gen(0)), alpha_bar, 1000, eta=eta, generator=gen(1))
    assert abs(out.mean().item() - mu) < 0.01
    assert abs(out.std().item() - s) < 0.006


def test_eta_zero_is_a_deterministic_map_of_the_starting_noise(trained):
    model, _, _ = trained
    labels = torch.arange(10)
    alpha_bar = noise_schedule("cosine", 1000)
    start = torch.randn(10, 1, 8, 8, generator=gen(0))

    def run(eta: float, seed: int) -> torch.Tensor:
        return ddim_sample(model._predictor({"label": labels}, alpha_bar), start, alpha_bar, 10, eta=eta, generator=gen(seed))

    assert torch.equal(run(0.0, 1), run(0.0, 2))  # no fresh noise is drawn
    assert not torch.equal(run(1.0, 1), run(1.0, 2))


def test_guidance_zero_ignores_the_label_and_one_ignores_the_null_class(trained):
    model, _, _ = trained
    original = model.config

    def draw(label: int) -> torch.Tensor:
        return model.sample_model({"label": torch.full((8,), label)}, generator=gen(3))

    try:
        model.configure_sampling(guidance=0.0)
        assert torch.equal(draw(0), draw(5))  # unconditional
        model.configure_sampling(guidance=1.0)
        conditional = draw(0)
        assert not torch.equal(conditional, draw(5))
        null_row = model.embed.weight[model.null_label]
        with torch.no_grad():
            saved = null_row.clone()
            null_row.add_(1.0)  # a different null token changes nothing at guidance 1 ...
            assert torch.equal(draw(0), conditional)
            model.configure_sampling(guidance=3.0)  # ... but guided samples read it
            assert not torch.allclose(draw(0), conditional)
            null_row.copy_(saved)
    finally:
        model.config = original


class LabelNet(torch.nn.Module):
    """Outputs the first entry of the condition vector everywhere (the test sets it to the class index)."""

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return cond[:, :1].float().view(-1, 1, 1, 1).expand_as(x)


@pytest.mark.parametrize("guidance", [0.0, 1.0, 2.5])
def test_guided_noise_estimate_extrapolates_from_the_unconditional_one(digits, guidance):
    model = Diffusion(digits.spec, DiffusionConfig(**TINY, prediction="eps", guidance=guidance))
    model.net = LabelNet()
    with torch.no_grad():  # the null class K's row reads K, class c's row reads c
        model.embed.weight.zero_()
        model.embed.weight[:, 0] = torch.arange(model.null_label + 1, dtype=torch.float32)
    labels = torch.tensor([0, 3, 7])
    x = torch.randn(3, 1, 8, 8, generator=gen(0))
    _, eps = model._predictor({"label": labels}, noise_schedule("cosine", 1000))(x, 500)
    null = float(model.null_label)
    expected = null + guidance * (labels.double() - null)  # eps_uncond + w (eps_cond - eps_uncond)
    torch.testing.assert_close(eps, expected.view(-1, 1, 1, 1).expand_as(eps))


def test_sampling_settings_change_without_retraining_and_are_validated(trained, tmp_path):
    model, _, _ = trained
    original = model.config
    try:
        assert model.configure_sampling(sample_steps=3, guidance=2.5, eta=0.5) is model
        assert (model.config.sample_steps, model.config.guidance, model.config.eta) == (3, 2.5, 0.5)
        model.save_pretrained(tmp_path / "m")
        assert genaug.load(tmp_path / "m").config == model.config
        with pytest.raises(ValueError, match="only .* can change after training.*channels"):
            model.configure_sampling(channels=64)
        with pytest.raises(ValueError, match="sample_steps"):
            model.configure_sampling(sample_steps=model.config.timesteps + 1)
        with pytest.raises(ValueError, match="guidance"):
            model.configure_sampling(guidance=-1.0)
    finally:
        model.config = original


def test_sampling_settings_per_call_match_the_configured_ones_and_leave_the_config(trained):
    model, _, _ = trained
    original = model.config
    seed = lambda: torch.Generator().manual_seed(0)
    per_call = model.sample(6, labels=1, generator=seed(), guidance=3.0, sample_steps=4, eta=0.5)
    assert model.config == original  # one call's settings, not the model's
    try:
        configured = model.configure_sampling(guidance=3.0, sample_steps=4, eta=0.5).sample(6, labels=1, generator=seed())
    finally:
        model.config = original
    torch.testing.assert_close(per_call, configured)
    assert not torch.equal(per_call, model.sample(6, labels=1, generator=seed()))
    with pytest.raises(ValueError, match=r"^guidance: .*greater than or equal to 0, got -1.0"):
        model.sample(2, guidance=-1.0)
    with pytest.raises(ValueError, match=r"^sample_steps: expected at most timesteps"):
        model.sample(2, sample_steps=model.config.timesteps + 1)
    for option in ("guidance", "eta"):  # an infinite weight or noise gave saturated or NaN samples before it was refused
        with pytest.raises(ValueError, match=rf"^{option}: .*finite number, got inf"):
            model.sample(2, **{option: float("inf")})


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_odd_sized_colour_images_train_and_sample(prediction):
    x = np.random.default_rng(0).integers(0, 256, size=(12, 7, 9, 3), dtype=np.uint8)
    data = genaug.from_arrays(x, np.arange(12) % 2)
    assert data.spec.shape == (3, 7, 9)
    model = Diffusion(data.spec, DiffusionConfig(channels=8, levels=3, blocks=1, prediction=prediction, schedule="linear", sample_steps=4))
    out = model.training_step({"x": data.x, "label": data.y}, step=0, group="main", generator=gen(0))
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and all(p.grad is not None for p in model.net.parameters())
    z = model.sample_model({"label": torch.tensor([0, 1, 1])}, generator=gen(1))
    assert z.shape == (3, 3, 7, 9) and z.abs().max() <= 1.0  # x0 is clipped on grid data
    assert model.sample(5, generator=gen(1)).shape == (5, 7, 9, 3)


def test_vectors_train_and_sample_unclipped():
    data = genaug.load_source("wine")
    model = Diffusion(data.spec, DiffusionConfig(hidden=16, depth=2, sample_steps=4))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model.training_step({"x": data.x[:32], "label": data.y[:32]}, step=0, group="main", generator=gen(0))["loss"]
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    z = model.sample_model({"label": torch.zeros(40, dtype=torch.long)}, generator=gen(1))
    assert z.shape == (40, 13) and z.abs().max() > 1.0  # standardized data is not clipped to [-1, 1]


def test_training_uses_only_the_given_generator(digits):
    """Same generator seed, same loss: noise, timesteps and label dropout all come from it."""
    model = Diffusion(digits.spec, DiffusionConfig(**TINY))
    x, y = digits.x[:16], digits.y[:16]
    a = model.training_step({"x": x, "label": y}, step=0, group="main", generator=gen(4))["loss"]
    torch.manual_seed(123)
    b = model.training_step({"x": x, "label": y}, step=0, group="main", generator=gen(4))["loss"]
    assert a.item() == b.item() and math.isfinite(a.item())
