"""The conditional diffusion family "palette" (super-resolution, colorization) and the UNet's channel options."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch

import genaug
import genaug.models.palette  # noqa: F401  (registers the family)
from genaug.data.arrayset import from_arrays
from genaug.data.images import image_patches, read_images
from genaug.data.pairs import make_pairs
from genaug.models.image2image import ImageToImage
from genaug.nn.color import luma
from genaug.nn.unet import UNet
from genaug.transforms import Colorize

TINY = {"channels": 8, "levels": 2, "blocks": 1, "sample_steps": 3, "train_crop": 8}
QUIET = {"progress": False, "checkpoint_every": 0}


def _seed(s: int) -> torch.Generator:
    return torch.Generator().manual_seed(s)


@pytest.fixture(scope="module")
def patches():
    return image_patches(read_images("photos:china"), size=16, count=48, seed=0)


@pytest.fixture(scope="module")
def models(patches):
    return {
        "superres": genaug.fit(make_pairs(patches, "superres", scale=2), "palette", steps=3, train=QUIET, **TINY),
        "colorize": genaug.fit(make_pairs(patches, "colorize"), "palette", steps=3, train=QUIET, **TINY),
    }


# ------------------------------------------------------------------ UNet channels
def test_unet_reads_and_writes_other_channel_counts_and_keeps_its_keys():
    plain = UNet((3, 8, 8), channels=8, levels=2, blocks=1)
    same = UNet((3, 8, 8), channels=8, levels=2, blocks=1, in_channels=3, out_channels=3)
    assert {k: v.shape for k, v in plain.state_dict().items()} == {k: v.shape for k, v in same.state_dict().items()}
    net = UNet((2, 8, 8), channels=8, levels=2, blocks=1, in_channels=5)
    assert net(torch.zeros(2, 5, 7, 9), torch.tensor([0, 3]), torch.zeros(2, net.cond_dim)).shape == (2, 2, 7, 9)
    with pytest.raises(ValueError, match=r"in_channels: expected a positive integer or None \(the shape's 2\), got 0"):
        UNet((2, 8, 8), channels=8, levels=2, blocks=1, in_channels=0)


# ------------------------------------------------------------------ apply
@pytest.mark.parametrize("task, channels, scale", [("superres", 3, 2), ("colorize", 1, 1)])
def test_apply_takes_any_size_and_keeps_dtype_and_range(models, task, channels, scale):
    model = models[task]
    assert isinstance(model, ImageToImage) and model.family == "palette" and model.size_multiple == 2
    x = torch.randint(0, 256, (2, channels, 13, 18), dtype=torch.uint8)
    out = model.apply(x, generator=_seed(0))
    assert out.shape == (2, 3, 13 * scale, 18 * scale) and out.dtype == torch.uint8
    unit = model.apply(x.float() / 255, value_range=(0, 1), generator=_seed(0))
    assert unit.shape == out.shape and unit.dtype == torch.float32 and 0 <= unit.min() and unit.max() <= 1
    assert (unit * 255 - out.float()).abs().max() <= 1.0  # the same draws, whatever the inputs' values


def test_colorize_keeps_the_lightness_and_superres_stays_near_bicubic(models, patches):
    gray = torch.randint(0, 256, (3, 1, 9, 11), dtype=torch.uint8)
    colour = models["colorize"].apply(gray, generator=_seed(1))
    assert (luma(colour.float()) - gray.float()).abs().mean() < 6  # L* is the input's; gamut clipping moves it a little
    low = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    sr = models["superres"].apply(low, generator=_seed(1)).float()
    down = torch.nn.functional.avg_pool2d(sr, 2)
    assert (down - low.float()).abs().mean() < 40  # the output is the input's image, plus a drawn residual


def test_same_seed_same_output_and_two_seeds_give_visibly_different_colourings(models):
    gray = torch.randint(0, 256, (2, 1, 16, 16), dtype=torch.uint8)
    model = models["colorize"]
    a, again, b = (model.apply(gray, generator=_seed(s)) for s in (0, 0, 1))
    assert torch.equal(a, again)
    assert (a.float() - b.float()).abs().mean() > 3.0  # mean absolute difference on the 0..255 scale
    low = torch.randint(0, 256, (1, 3, 8, 8), dtype=torch.uint8)
    sr = models["superres"]
    assert torch.equal(sr.apply(low, generator=_seed(5)), sr.apply(low, generator=_seed(5)))
    assert not torch.equal(sr.apply(low, generator=_seed(5)), sr.apply(low, generator=_seed(6)))


def test_sampling_options_per_call_and_kept(models, patches):
    model = models["colorize"]
    gray = torch.randint(0, 256, (1, 1, 8, 8), dtype=torch.uint8)
    assert not torch.equal(model.apply(gray, generator=_seed(0)), model.apply(gray, generator=_seed(0), sample_steps=2))
    cond = {"gray": make_pairs(patches, "colorize").cond["gray"][:2]}  # model space, as training records
    out = model.sample(2, cond=cond, generator=_seed(0), eta=1.0)
    assert out.shape == (2, 3, 16, 16) and out.dtype == torch.uint8
    with pytest.raises(TypeError, match="temperature: not a sampling option of the 'palette' family"):
        model.sample(2, cond=cond, temperature=0.5)
    with pytest.raises(ValueError, match="sample_steps"):
        model.apply(gray, sample_steps=0)
    with pytest.raises(ValueError, match="sample_steps: expected at most timesteps=1000, got 1001"):
        model.apply(gray, sample_steps=1001)
    for option in ("guidance", "eta"):
        with pytest.raises(ValueError, match=rf"{option}: .*finite number, got inf"):
            model.apply(gray, **{option: float("inf")})
    with pytest.raises(ValueError, match=r"fields: only \['sample_steps', 'eta', 'clip_x0', 'guidance'\] can change .*, got \['channels'\]"):
        model.configure_sampling(channels=4)


def test_guidance_extrapolates_from_the_blank_input_prediction(models, patches):
    from genaug.models.diffusion import noise_schedule

    model = models["colorize"]
    context = model._context(torch.rand(2, 1, 8, 8))
    vector = model.condition_vector({"label": torch.zeros(2, dtype=torch.long)})
    schedule = noise_schedule(model.config.schedule, model.config.timesteps)
    x = torch.randn(2, 2, 8, 8)
    (cond, _), (blank, _) = (model._predictor(c, vector, schedule, None)(x, 500) for c in (context, torch.zeros_like(context)))
    assert not torch.allclose(cond, blank)
    for w in (0.0, 2.5):
        guided, _ = model._predictor(context, vector, schedule, None, guidance=w)(x, 500)
        assert torch.allclose(guided, blank + w * (cond - blank), atol=1e-5)
    gray = torch.randint(0, 256, (1, 1, 8, 8), dtype=torch.uint8)
    # the default is per task: 5 for colorize, 1 (one pass, no blank input) for superres
    assert torch.equal(model.apply(gray, generator=_seed(0), guidance=5.0), model.apply(gray, generator=_seed(0)))
    assert not torch.equal(model.apply(gray, generator=_seed(0), guidance=1.0), model.apply(gray, generator=_seed(0)))
    low = torch.randint(0, 256, (1, 3, 4, 4), dtype=torch.uint8)
    sr = models["superres"]
    assert torch.equal(sr.apply(low, generator=_seed(0), guidance=1.0), sr.apply(low, generator=_seed(0)))
    # training blanks a share of the inputs: with nearly all blanked, the loss no longer depends on them
    pairs = make_pairs(patches, "colorize")
    batch = {"x": pairs.x[:4], "label": pairs.y[:4], "gray": pairs.cond["gray"][:4]}
    other = {**batch, "gray": pairs.cond["gray"][4:8]}
    blanking, plain = (genaug.create("palette", pairs.spec, **{**TINY, "input_dropout": p}) for p in (0.999, 0.0))
    for net in (blanking, plain):  # the trained weights (a new net's zero head ignores every input)
        net.load_state_dict(model.state_dict())
    assert blanking.denoising_loss(batch, _seed(1)) == blanking.denoising_loss(other, _seed(1))
    assert plain.denoising_loss(batch, _seed(1)) != plain.denoising_loss(other, _seed(1))
    with pytest.raises(ValueError, match="guidance: this model was trained with input_dropout=0"):
        plain.apply(gray, guidance=2.0)
    assert plain.apply(gray).shape == (1, 3, 8, 8)  # its default is no guidance


def test_a_model_saved_before_input_guidance_loads_without_it(models, tmp_path):
    import json

    model = models["colorize"]
    model.save_pretrained(tmp_path / "old")
    meta = json.loads((tmp_path / "old" / "config.json").read_text())
    for field in ("input_dropout", "guidance"):
        del meta["config"][field]
    (tmp_path / "old" / "config.json").write_text(json.dumps(meta))
    old = genaug.load(tmp_path / "old")
    assert old.config.input_dropout == 0.0 and old.config.guidance == 1.0
    gray = torch.randint(0, 256, (1, 1, 8, 8), dtype=torch.uint8)
    assert torch.equal(old.apply(gray, generator=_seed(0)), model.apply(gray, generator=_seed(0), guidance=1.0))


# ------------------------------------------------------------------ training and persistence
@pytest.mark.parametrize("task", ["superres", "colorize"])
def test_validation_loss_is_finite_and_repeatable_and_training_reaches_the_net(models, patches, task):
    pairs = make_pairs(patches, task, scale=2)
    batch = {"x": pairs.x[:8], "label": pairs.y[:8], **{k: v[:8] for k, v in pairs.cond.items()}}
    model = models[task]
    first, second = (model.validation_step(batch, generator=_seed(3))["loss"].item() for _ in range(2))
    assert math.isfinite(first) and first == second
    model.zero_grad()
    model.training_step(batch, step=0, group="main", generator=_seed(4))["loss"].backward()
    assert model.net.head[-1].weight.grad.abs().sum() > 0
    model.zero_grad()


def test_save_load_round_trip_gives_the_same_outputs(models, tmp_path):
    for task, model in models.items():
        model.configure_sampling(eta=0.5)
        model.save_pretrained(tmp_path / task)
        loaded = genaug.load(tmp_path / task)
        assert loaded.family == "palette" and loaded.task.name == task and loaded.config == model.config
        x = torch.randint(0, 256, (2, model.in_channels, 7, 9), dtype=torch.uint8)
        assert torch.equal(loaded.apply(x, generator=_seed(2)), model.apply(x, generator=_seed(2)))
        model.configure_sampling(eta=0.0)


def test_pickles_for_dataloader_workers_and_runs_inside_the_colorize_transform(models):
    model = models["colorize"]
    gray = torch.randint(0, 256, (1, 1, 10, 12), dtype=torch.uint8)
    copy = pickle.loads(pickle.dumps(model))
    assert torch.equal(copy.apply(gray, generator=_seed(0)), model.apply(gray, generator=_seed(0)))
    transform = Colorize(model, seed=0, options={"sample_steps": 2})
    image = torch.randint(0, 256, (3, 10, 12), dtype=torch.uint8)
    out = transform(image)
    assert out.shape == (3, 10, 12) and out.dtype == torch.uint8


# ------------------------------------------------------------------ errors
def test_errors_are_clear(models, patches):
    with pytest.raises(ValueError, match=r"images: expected a tensor \(N, 1, H, W\) of gray images, got \(1, 3, 8, 8\)"):
        models["colorize"].apply(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"images: expected a tensor \(N, 3, H, W\) of lowres images, got \(2, 1, 8, 8\)"):
        models["superres"].apply(torch.zeros(2, 1, 8, 8, dtype=torch.uint8))
    translate = from_arrays(np.zeros((4, 3, 8, 8), np.uint8), [0, 1, 0, 1], layout="CHW", levels=256, value_range=(0, 255))
    with pytest.raises(ValueError, match=r"the 'palette' family learns \['superres', 'colorize'\], not 'translate'"):
        genaug.create("palette", make_pairs(translate, "translate").spec)
    with pytest.raises(ValueError, match="is an image-to-image model; fit it on pairs"):
        genaug.create("palette", patches.spec)
    with pytest.raises(ValueError, match="target_scale"):
        genaug.create("palette", make_pairs(patches, "colorize").spec, target_scale=0)
