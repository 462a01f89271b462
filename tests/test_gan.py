"""Tests of the conditional GAN family (`genaug.models.gan`): its two optimizer groups, DiffAugment,
spectral norm, shapes on odd images and vectors, pickling, and that a tiny run's discriminator learns.

The contract itself (sampling, save/load, errors) is checked in ``test_models.py``.
"""

from __future__ import annotations

import copy
import json
import pickle

import numpy as np
import pytest
import torch

import genaug
from genaug.modalities import get_modality
from genaug.models.gan import GAN, diff_augment

IMAGE = get_modality("image")

TINY = {"latent_dim": 8, "channels": 8, "hidden": 32, "label_dim": 8}


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def odd_rgb() -> genaug.ArraySet:
    """40 random 8-bit colour images of an odd size, (N, 7, 9, 3), in 2 classes."""
    x = np.random.default_rng(0).integers(0, 256, size=(40, 7, 9, 3)).astype(np.uint8)
    return genaug.from_arrays(x, np.arange(40) % 2)


def step_with(model: GAN, group: str, x: torch.Tensor, y: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> None:
    """What the Trainer does for one group: zero its grads, back-propagate its loss, step its optimizer."""
    optimizers[group].zero_grad(set_to_none=True)
    model({"x": x, "label": y}, step=0, group=group, generator=gen(1))["loss"].backward()
    optimizers[group].step()


def test_optimizer_groups_are_disjoint_and_cover_every_trainable_parameter(digits):
    model = genaug.create("gan", digits.spec, **TINY)
    d, g = model.optimizer_groups()
    assert (d.name, g.name) == ("discriminator", "generator")
    d_ids, g_ids = {id(p) for p in d.params}, {id(p) for p in g.params}
    assert d_ids and g_ids and not d_ids & g_ids
    assert d_ids | g_ids == {id(p) for p in model.parameters() if p.requires_grad}
    assert d_ids == {id(p) for p in model.d_net.parameters()}


def test_each_step_moves_only_its_own_network(digits):
    model = genaug.create("gan", digits.spec, **TINY)
    groups = model.optimizer_groups()
    optimizers = {grp.name: torch.optim.Adam(grp.params, lr=1e-2) for grp in groups}
    names = {grp.name: {name for name, p in model.named_parameters() if any(p is q for q in grp.params)} for grp in groups}
    x, y = digits.x[:16], digits.y[:16]

    for group, other in (("discriminator", "generator"), ("generator", "discriminator")):
        model.zero_grad(set_to_none=True)
        before = {name: p.detach().clone() for name, p in model.named_parameters()}
        step_with(model, group, x, y, optimizers)
        after = dict(model.named_parameters())
        moved = {name for name in before if not torch.equal(before[name], after[name])}
        assert moved and moved <= names[group], (group, moved - names[group])
        assert all(after[name].grad is None for name in names[other])  # not even a gradient for the other net


def test_diff_augment_is_reproducible_differentiable_and_off_when_empty():
    x = torch.randn(6, 3, 9, 7, requires_grad=True)
    ops = ("color", "translation", "cutout")
    a, b, c = (diff_augment(x, ops, gen(s), kind=IMAGE) for s in (3, 3, 4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape
    a.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert diff_augment(x, (), gen(0), kind=IMAGE) is x
    with pytest.raises(ValueError, match="unknown DiffAugment op 'blur'"):
        diff_augment(x, ("blur",), gen(0), kind=IMAGE)


def test_translation_moves_pixels_by_at_most_the_shift_and_cutout_erases_a_square():
    n, h, w = 200, 8, 8
    x = torch.zeros(n, 1, h, w)
    x[:, 0, 3, 4] = 1.0  # one lit pixel
    shifted = diff_augment(x, ("translation",), gen(0), kind=IMAGE, translation=0.125)  # at most 1 pixel
    assert torch.equal(shifted.sum(dim=(1, 2, 3)), torch.ones(n))  # moved, never blurred or lost
    rows, cols = shifted[:, 0].nonzero()[:, 1], shifted[:, 0].nonzero()[:, 2]
    assert (rows - 3).abs().max() == 1 and (cols - 4).abs().max() == 1  # every shift in -1..1 occurs
    erased = diff_augment(torch.ones(n, 1, h, w), ("cutout",), gen(0), kind=IMAGE, cutout=0.5)
    zeros = (erased == 0).sum(dim=(1, 2, 3))
    assert zeros.max() == 16 and zeros.min() >= 4  # a 4x4 square, clipped at the border
    assert set(erased.unique().tolist()) == {0.0, 1.0}


def test_a_model_without_augmentation_shows_d_its_input_unchanged(digits):
    model = genaug.create("gan", digits.spec, augment=(), **TINY).eval()
    x, y = digits.x[:8], digits.y[:8]
    torch.testing.assert_close(model.discriminate(x, y, gen(0)), model.d_net(x, y))
    with pytest.raises(ValueError, match="augment"):
        genaug.create("gan", genaug.load_source("wine").spec, augment=("translation",))


def test_spectral_norm_keeps_every_discriminator_layer_at_unit_norm(digits):
    model = genaug.create("gan", digits.spec, **TINY)
    layers = [m for m in model.d_net.modules() if hasattr(m, "parametrizations")]
    assert len(layers) == 5  # stem, 2 strided convs, psi, class embedding
    with torch.no_grad():
        for layer in layers:  # raw weights far from unit norm, so the normalization must do the work
            original = layer.parametrizations.weight.original
            original.mul_(5.0 / torch.linalg.matrix_norm(original.flatten(1), ord=2))
    x, y = digits.x[:32], digits.y[:32]
    for _ in range(30):  # power iterations run in training-mode forward passes
        model.d_net(x, y)
    for layer in layers:
        sigma = torch.linalg.matrix_norm(layer.weight.flatten(1), ord=2)
        assert abs(sigma.item() - 1.0) < 0.02, (layer, sigma)


@pytest.mark.parametrize("which", ["odd_rgb", "wine"])
def test_shapes_and_finite_losses_on_odd_colour_images_and_vectors(which, request):
    data = request.getfixturevalue(which) if which == "odd_rgb" else genaug.load_source("wine")
    model = genaug.create("gan", data.spec, **TINY)
    x, y = data.x[:10], data.y[:10]
    for group in ("discriminator", "generator"):
        out = model({"x": x, "label": y}, step=0, group=group, generator=gen(0))
        assert out["loss"].shape == () and torch.isfinite(out["loss"])
        out["loss"].backward()
    z = model.sample_model({"label": y}, generator=gen(0))
    assert z.shape == x.shape and z.dtype == torch.float32
    if data.spec.modality == "image":
        assert z.abs().max() <= 1.0  # tanh output
    assert model.sample(5, generator=gen(0)).shape == (5, *data.user_x().shape[1:])


def test_losses_stay_float32_under_bf16_autocast(digits):
    model = genaug.create("gan", digits.spec, **TINY)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        for group in ("discriminator", "generator"):
            loss = model({"x": digits.x[:8], "label": digits.y[:8]}, step=0, group=group, generator=gen(0))["loss"]
            assert loss.dtype == torch.float32 and torch.isfinite(loss)


def test_pickle_and_deepcopy_keep_weights_and_leave_the_global_rng_alone(digits):
    model = genaug.create("gan", digits.spec, **TINY)
    model.d_net(digits.x[:4], digits.y[:4])  # moves the power-iteration vectors
    rng = torch.get_rng_state()
    for clone in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert clone.training == model.training
        state, cloned = model.state_dict(), clone.state_dict()
        assert state.keys() == cloned.keys() and all(torch.equal(state[k], cloned[k]) for k in state)
        assert all(p.data_ptr() != q.data_ptr() for p, q in zip(model.parameters(), clone.parameters()))
    assert torch.equal(torch.get_rng_state(), rng)


def test_mode_seeking_pairs_fakes_of_one_class(digits):
    model = genaug.create("gan", digits.spec, **TINY)
    out = model({"x": digits.x[:16], "label": digits.y[:16]}, step=0, group="generator", generator=gen(0))
    assert out["mode_seeking_ratio"] > 0
    assert out["loss"] > out["adversarial"]  # the term is a positive penalty
    plain = genaug.create("gan", digits.spec, mode_seeking=0.0, **TINY)
    assert set(plain({"x": digits.x[:16], "label": digits.y[:16]}, step=0, group="generator", generator=gen(0))) == {"loss"}


def test_a_tiny_run_teaches_the_discriminator(digits, tmp_path):
    """Through the real Trainer: D's hinge loss starts at chance (2) and falls well below it."""
    train = {"steps": 60, "batch_size": 64, "log_every": 10, "lr": 1e-3, "checkpoint_every": 0, "sample_every": 0}
    genaug.fit(digits, "gan", out=tmp_path, train=train, augment=(), **TINY)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    d_loss = [r["discriminator/loss"] for r in records if "discriminator/loss" in r]
    assert len(d_loss) == 6
    assert d_loss[-1] < 1.75 and d_loss[-1] < d_loss[0], d_loss
    gap = [r["discriminator/real_score"] - r["discriminator/fake_score"] for r in records if "discriminator/loss" in r]
    assert gap[-1] > 0.25, gap  # it tells the real digits from the fakes


# ---------------------------------------------------------------------- validation (early stopping)
def test_kernel_mmd2_is_unbiased_and_grows_with_the_gap():
    from genaug.models.gan import kernel_mmd2

    g = gen(0)
    same = [float(kernel_mmd2(torch.randn(50, 8, generator=g), torch.randn(200, 8, generator=g))) for _ in range(40)]
    assert abs(np.mean(same)) < 3 * np.std(same) / np.sqrt(len(same))  # zero in expectation: unbiased
    assert min(same) < 0 < max(same)
    x = torch.randn(100, 8, generator=g)
    gaps = [float(kernel_mmd2(x, torch.randn(400, 8, generator=g) + shift)) for shift in (0.5, 1.0, 2.0)]
    assert 0 < gaps[0] < gaps[1] < gaps[2], gaps


def test_validation_scores_fakes_against_the_held_out_records_and_the_best_weights_are_kept(digits, tmp_path):
    assert GAN.train_defaults.get("val_fraction", 0.1) > 0  # the Trainer's default tenth is held out
    train = {"steps": 160, "batch_size": 64, "lr": 1e-3, "eval_every": 40, "patience": None, "checkpoint_every": 0,
             "sample_every": 0, "ema_decay": 0.0, "progress": False}
    model = genaug.create("gan", digits.spec, **TINY)
    trainer = genaug.Trainer(model, digits, genaug.train.resolve_train_config("gan", train), out=tmp_path)
    trainer.fit()
    untrained = trainer.validation_loss(genaug.create("gan", digits.spec, **TINY))
    assert trainer.validation_loss(trainer.model) == trainer.validation_loss(trainer.model)  # same draws: weights, not luck
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    losses = [r["val/loss"] for r in records if "val/loss" in r]
    assert len(losses) == 4
    # noise through an untrained generator is far from the digits; 160 steps bring the fakes closer
    assert min(losses) < 0.5 * untrained, (untrained, losses)
    assert trainer.validation_loss(trainer.model) == pytest.approx(min(losses), rel=1e-4)  # the best weights kept


def test_validation_needs_two_held_out_records(digits):
    model = genaug.create("gan", digits.spec, **TINY)
    assert model.validation_step({"x": digits.x[:1], "label": digits.y[:1]}, generator=gen(0)) == {}
    assert set(model.validation_step({"x": digits.x[:4], "label": digits.y[:4]}, generator=gen(0))) == {"loss"}
