"""Tests of the CycleGAN family (`genaug.models.cyclegan`): unpaired translation between two domains.

Two tiny synthetic domains: ``a`` dark noise, ``b`` bright noise, 16 x 16 RGB patches.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

import genaug
import genaug.models.cyclegan  # noqa: F401  (registers the family)
from genaug.data.arrayset import from_arrays
from genaug.data.pairs import make_pairs
from genaug.models.cyclegan import CycleGAN, CycleGANConfig
from genaug.nn.cyclegan import PatchDiscriminator, ResnetGenerator

TINY = {"channels": 8, "blocks": 1, "downsamplings": 2, "disc_channels": 8, "disc_layers": 2}
TRAIN = {"batch_size": 8, "lr": 1e-3, "checkpoint_every": 0, "sample_every": 0, "progress": False}


def domains(n: int = 32, *, classes: int = 2, seed: int = 0) -> genaug.ArraySet:
    """``n`` uint8 patches (3, 16, 16) per class: class 0 dark noise (0..79), 1 bright (170..255), 2 mid-gray."""
    rng = np.random.default_rng(seed)
    ranges = [(0, 80), (170, 256), (100, 150)][:classes]
    x = np.concatenate([rng.integers(lo, hi, (n, 3, 16, 16)) for lo, hi in ranges]).astype(np.uint8)
    names = ["a", "b", "c"][:classes]
    return from_arrays(x, np.repeat(np.arange(classes), n), class_names=names, levels=256)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Run this file's tiny convolutions on one thread: more only add OpenMP spinning (10x slower on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def pairs() -> genaug.ArraySet:
    return make_pairs(domains(), "translate")


@pytest.fixture(scope="module")
def trained(pairs) -> CycleGAN:
    """Fitted for 40 steps: enough to carry dark noise most of the way to bright noise."""
    return genaug.fit(pairs, "cyclegan", steps=40, train=TRAIN, **TINY)


def test_networks_keep_any_multiple_size_and_score_patches():
    g = ResnetGenerator(3, channels=4, blocks=1, downsamplings=2)
    out = g(torch.randn(2, 3, 12, 20))
    assert out.shape == (2, 3, 12, 20) and out.abs().max() <= 1
    assert g(torch.randn(1, 3, 13, 18)).shape == (1, 3, 13, 18)  # odd sizes come back as they went in
    assert g(torch.randn(1, 3, 4, 4)).shape == (1, 3, 4, 4)  # 1 x 1 at the bottleneck: replicate padding, zero norm
    assert PatchDiscriminator(3, channels=4, layers=3)(torch.randn(2, 3, 64, 64)).shape == (2, 1, 6, 6)


def test_optimizer_groups_split_discriminators_from_generators(pairs):
    model = CycleGAN(pairs.spec, CycleGANConfig(**TINY))
    d, g = model.optimizer_groups()
    assert (d.name, g.name) == ("discriminator", "generator") and d.betas == g.betas == (0.5, 0.999)
    d_ids, g_ids = {id(p) for p in d.params}, {id(p) for p in g.params}
    assert not d_ids & g_ids and d_ids | g_ids == {id(p) for p in model.parameters()}
    assert d_ids == {id(p) for net in (model.d_a, model.d_b) for p in net.parameters()}


@pytest.mark.parametrize("labels", [[0, 1, 0, 1, 1, 0], [0] * 6, [1] * 6])
def test_losses_are_finite_with_one_or_both_domains_and_move_only_their_group(pairs, labels):
    model = CycleGAN(pairs.spec, CycleGANConfig(**TINY))
    groups = {grp.name: grp for grp in model.optimizer_groups()}
    batch = {**{k: v[:6] for k, v in pairs.tensors().items()}, "label": torch.tensor(labels)}
    for group, other in (("discriminator", "generator"), ("generator", "discriminator")):
        model.zero_grad(set_to_none=True)
        out = model(batch, step=0, group=group, generator=torch.Generator().manual_seed(0))
        assert all(torch.isfinite(v) for v in out.values()), out
        out["loss"].backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in groups[group].params)
        assert all(p.grad is None for p in groups[other].params)
    assert set(out) == {"loss", "adversarial", "cycle", "identity"}


def test_identity_weight_defaults_to_half_the_cycle_weight(pairs):
    assert CycleGAN(pairs.spec, CycleGANConfig(**TINY, lambda_cycle=4.0)).lambda_identity == 2.0
    assert CycleGAN(pairs.spec, CycleGANConfig(**TINY, lambda_identity=0.0)).lambda_identity == 0.0


def test_translation_moves_dark_noise_toward_bright_noise_and_back(trained, pairs):
    images = pairs.user_x()  # uint8
    a, b = images[pairs.y == 0], images[pairs.y == 1]
    mean_a, mean_b = a.float().mean().item(), b.float().mean().item()  # about 40 and 212
    to_b = trained.apply(a).float().mean().item()  # default: translate into domain b
    to_a = trained.apply(b, labels="a").float().mean().item()
    # an untrained net gives about the middle (127), an identity the input's own mean
    assert to_b > mean_a + 0.75 * (mean_b - mean_a), (mean_a, to_b, mean_b)
    assert to_a < mean_b - 0.75 * (mean_b - mean_a), (mean_b, to_a, mean_a)


def test_apply_keeps_any_size_dtype_and_routes_rows_by_label(trained):
    images = domains(2).user_x()[:, :, :13, :]  # two of each domain, cut to 13 x 16
    images = torch.cat([images, images[..., :2]], dim=-1)  # 13 x 18: neither side a multiple of 4
    out = trained.apply(images, labels=["b", "b", "a", "a"])
    assert out.shape == (4, 3, 13, 18) and out.dtype == torch.uint8
    assert torch.equal(out[:2], trained.apply(images[:2], labels=1))
    assert torch.equal(out[2:], trained.apply(images[2:], labels=0))
    assert torch.equal(trained.apply(images[:2]), trained.apply(images[:2], labels="b"))
    floats = trained.apply(images.float() / 255, value_range=(0, 1))
    assert floats.dtype == torch.float32 and 0 <= floats.min() and floats.max() <= 1


def test_translation_is_deterministic_and_ignores_the_generator(trained, pairs):
    x = pairs.user_x()[:4]
    first = trained.apply(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(first, trained.apply(x, generator=torch.Generator().manual_seed(1)))


def test_validation_loss_and_cycle_psnr_are_finite(trained, pairs):
    batch = pairs.tensors()
    loss = trained.validation_step(batch, generator=torch.Generator().manual_seed(0))["loss"]
    assert loss.ndim == 0 and torch.isfinite(loss) and loss > 0
    psnr = trained.cycle_psnr(batch["x"][:4], "a")
    assert psnr.shape == (4,) and torch.isfinite(psnr).all()
    assert torch.equal(psnr, trained.cycle_psnr(batch["x"][:4], [0, 0, 0, 0]))


def test_save_load_round_trip_and_pickling_give_identical_outputs(trained, pairs, tmp_path):
    trained.save_pretrained(tmp_path / "m")
    loaded = genaug.load(tmp_path / "m")
    assert isinstance(loaded, CycleGAN) and loaded.config == trained.config
    assert loaded.fingerprint() == trained.fingerprint()
    images = pairs.user_x()[::8]
    assert torch.equal(loaded.apply(images), trained.apply(images))
    assert torch.equal(loaded.apply(images, labels="a"), trained.apply(images, labels="a"))
    assert torch.equal(pickle.loads(pickle.dumps(trained)).apply(images), trained.apply(images))


def test_bad_inputs_raise_clear_errors(trained, pairs):
    with pytest.raises(ValueError, match=r"images: expected a tensor \(N, 3, H, W\)"):
        trained.apply(torch.zeros(2, 1, 16, 16, dtype=torch.uint8))
    with pytest.raises(ValueError, match="unknown class"):
        trained.apply(pairs.user_x()[:2], labels="c")
    with pytest.raises(ValueError, match="unknown class 2; expected 0..1"):
        trained.apply(pairs.user_x()[:2], labels=torch.tensor([0, 2]))
    with pytest.raises(ValueError, match=r"x: expected model-space images \(N, 3, H, W\) with H and W multiples of 4"):
        trained.cycle_psnr(torch.zeros(2, 3, 13, 16), 0)
    with pytest.raises(ValueError, match="labels: expected the images' domain"):
        trained.cycle_psnr(torch.zeros(2, 3, 16, 16), None)
    with pytest.raises(ValueError, match="group: expected 'discriminator' or 'generator'"):
        trained.training_step({"x": pairs.x[:2], "label": pairs.y[:2]}, step=0, group="main", generator=None)


def test_refuses_other_tasks_and_other_domain_counts():
    with pytest.raises(ValueError, match="translate needs images of two domains"):
        make_pairs(domains(4, classes=3), "translate")
    superres = make_pairs(domains(4), "superres", scale=2)
    with pytest.raises(ValueError, match=r"the 'cyclegan' family learns \['translate'\], not 'superres'"):
        genaug.create("cyclegan", superres.spec, **TINY)
    with pytest.raises(ValueError, match="fit it on pairs"):
        genaug.create("cyclegan", domains(4).spec, **TINY)
    with pytest.raises(ValueError, match="disc_layers"):
        CycleGANConfig(disc_layers=0)
    with pytest.raises(ValueError, match="disc_layers: 3 stride-2 layers need patches of at least 24 pixels a side, got 16"):
        genaug.create("cyclegan", make_pairs(domains(4), "translate").spec, **{**TINY, "disc_layers": 3})
