"""Image-to-image core (issue 19): images of any size, pairs, the image condition, the rescnn family, the CLI, the scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import genaug
from genaug.cli import main
from genaug.data.arrayset import from_arrays
from genaug.data.conditions import get_condition_kind
from genaug.data.images import downscale, image_patches, load_image, read_images, save_image
from genaug.data.pairs import degrade, from_unit, make_pairs, task_data, to_unit
from genaug.evaluate.image2image import (
    chroma_psnr,
    colourfulness,
    evaluate_colorize,
    evaluate_harmonize,
    evaluate_superres,
    psnr_y,
    save_strips,
    ssim_y,
)
from genaug.models.image2image import ImageToImage
from genaug.nn.color import gray_to_lightness, lab_to_rgb, luma, rgb_to_lab

TINY = {"channels": 8, "blocks": 1}
QUIET = {"progress": False, "checkpoint_every": 0}


def _write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture(scope="module")
def china():
    return read_images("photos:china")


@pytest.fixture(scope="module")
def sr_model(china):
    pairs = make_pairs(image_patches(china, size=16, count=64, seed=0), "superres", scale=2)
    return genaug.fit(pairs, "rescnn", steps=3, train=QUIET, **TINY)


@pytest.fixture(scope="module")
def color_model(china):
    pairs = make_pairs(image_patches(china, size=16, count=64, seed=0), "colorize")
    return genaug.fit(pairs, "rescnn", steps=3, train=QUIET, **TINY)


# ------------------------------------------------------------------ colour
def test_lab_matches_scikit_image_and_round_trips():
    skcolor = pytest.importorskip("skimage.color")
    rgb = torch.rand(2, 3, 5, 7, dtype=torch.float64)
    ours = rgb_to_lab(rgb).permute(0, 2, 3, 1).numpy()
    ref = np.stack([skcolor.rgb2lab(im.permute(1, 2, 0).numpy()) for im in rgb])
    assert np.abs(ours - ref).max() < 0.01
    assert torch.allclose(lab_to_rgb(rgb_to_lab(rgb)), rgb, atol=1e-5)
    gray = torch.rand(1, 1, 3, 3)
    lab = rgb_to_lab(gray.expand(1, 3, 3, 3))
    assert torch.allclose(gray_to_lightness(gray), lab[:, :1]) and lab[:, 1:].abs().max() < 1e-3  # gray has no colour


def test_colour_functions_refuse_wrong_channels():
    with pytest.raises(ValueError, match=r"rgb: expected a tensor \(\.\.\., 3, H, W\)"):
        rgb_to_lab(torch.zeros(1, 1, 4, 4))


# ------------------------------------------------------------------ images of any size
def test_read_images_reads_a_nested_folder_of_any_sizes(tmp_path):
    _write(tmp_path / "a.png", np.zeros((10, 12, 3), np.uint8))
    _write(tmp_path / "sub" / "b.jpg", np.full((20, 9, 3), 200, np.uint8))
    (tmp_path / ".hidden.png").write_bytes(b"")
    images = read_images(tmp_path)
    assert [i.name for i in images] == ["a", "sub/b"]
    assert [i.array.shape for i in images] == [(10, 12, 3), (20, 9, 3)]


def test_read_images_errors_name_the_file(tmp_path):
    _write(tmp_path / "gray.png", np.zeros((8, 8), np.uint8))
    _write(tmp_path / "rgb.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="mixed gray .* and colour"):
        read_images(tmp_path)
    assert [i.array.shape for i in read_images(tmp_path, channels=3)] == [(8, 8, 3), (8, 8, 3)]
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"bad.png: not a readable image"):
        read_images(tmp_path / "bad.png")
    with pytest.raises(FileNotFoundError, match="no such image file or folder"):
        read_images(tmp_path / "missing")
    with pytest.raises(ValueError, match="not among the bundled photos"):
        read_images("photos:nosuch")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        read_images(empty)


def test_patches_cover_every_image_in_proportion_and_refuse_small_images(china):
    patches = image_patches(china, size=24, count=30, seed=1)
    assert patches.x.shape == (30, 3, 24, 24) and patches.spec.levels == 256
    again = image_patches(china, size=24, count=30, seed=1)
    assert torch.equal(patches.x, again.x)
    with pytest.raises(ValueError, match=r"patches of 500x500 do not fit in \['china \(427x640\)'\]"):
        image_patches(china, size=500, count=3)


# ------------------------------------------------------------------ pairs
def test_superres_pairs_are_the_bicubic_antialiased_downscale_on_the_8_bit_grid(china):
    patches = image_patches(china, size=17, count=4)
    pairs = make_pairs(patches, "superres", scale=2)
    assert pairs.x.shape == (4, 3, 16, 16) and pairs.cond["lowres"].shape == (4, 3, 8, 8)  # cropped to multiples of 2
    assert pairs.spec.conditions == {"lowres": {"kind": "image", "channels": 3, "scale": 2, "task": "superres"}}
    u = patches.user_x()[:, :, :16, :16].double() / 255
    expected = torch.round(F.interpolate(u, size=(8, 8), mode="bicubic", antialias=True).clamp(0, 1) * 255)
    assert torch.allclose(to_unit(pairs.spec, pairs.cond["lowres"]).double() * 255, expected, atol=1e-3)


def test_colorize_pairs_hold_the_luma(china):
    patches = image_patches(china, size=8, count=3)
    pairs = make_pairs(patches, "colorize")
    gray = to_unit(pairs.spec, pairs.cond["gray"]) * 255
    assert torch.allclose(gray, torch.round(luma(patches.user_x().double()).float()), atol=1e-3)


def test_pairs_refuse_what_a_task_cannot_learn(china):
    gray = from_arrays(np.zeros((4, 8, 8), np.uint8), levels=256, value_range=(0, 255))
    with pytest.raises(ValueError, match="colorize needs colour"):
        make_pairs(gray, "colorize")
    with pytest.raises(ValueError, match="translate needs images of two domains"):
        make_pairs(gray, "translate")
    with pytest.raises(ValueError, match="image-to-image tasks take images, got vector"):
        make_pairs(genaug.load_source("wine"), "superres")
    with pytest.raises(ValueError, match=r"scale: the superres task takes \[2, 3, 4, 8\], got 5"):
        make_pairs(gray, "superres", scale=5)
    with pytest.raises(ValueError, match="task: expected one of"):
        make_pairs(gray, "inpaint")
    with pytest.raises(ValueError, match="source_b: translate needs"):
        task_data("photos:china", "translate")


def test_superres_data_halves_jpeg_images_so_their_artifacts_are_not_learned(tmp_path, caplog):
    rng = np.random.default_rng(0)
    _write(tmp_path / "big.jpg", rng.integers(0, 256, (40, 44, 3), dtype=np.uint8))
    _write(tmp_path / "small.jpg", rng.integers(0, 256, (30, 30, 3), dtype=np.uint8))
    _write(tmp_path / "clean.png", rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    images = {i.name: i for i in read_images(tmp_path)}
    assert {n: i.lossy for n, i in images.items()} == {"big": True, "clean": False, "small": True}
    assert read_images("photos:china")[0].lossy  # the bundled JPEGs are marked too
    assert downscale(images["big"], 2).array.shape == (20, 22, 3) and downscale(images["big"], 2).lossy
    with caplog.at_level("INFO", logger="genaug.data.pairs"):
        halved = task_data(tmp_path, "superres", scale=2, size=16, count=600, seed=0)
    assert "1 JPEG image(s) halved" in caplog.text and ": big" in caplog.text
    assert "too small to halve into a 16x16 patch" in caplog.text and "small" in caplog.text
    assert len(halved) == 600
    one = tmp_path / "one"
    _write(one / "big.jpg", np.asarray(Image.open(tmp_path / "big.jpg")))
    small = downscale(read_images(one)[0], 2).array  # 20 x 22: a 20 x 20 patch starts in column 0, 1 or 2
    crops = [torch.from_numpy(small[:, c : c + 20]).permute(2, 0, 1).float() for c in range(3)]
    patches = task_data(one, "superres", scale=2, size=20, count=6, seed=0).user_x()
    assert all(any(torch.equal(p, c) for c in crops) for p in patches)
    assert task_data(one, "superres", scale=2, size=40, count=2, seed=0, lossy="keep").x.shape[-2:] == (40, 40)
    colour = task_data(tmp_path, "colorize", size=16, count=8, seed=0)  # only super-resolution halves them
    assert torch.equal(colour.x, task_data(tmp_path, "colorize", size=16, count=8, seed=0, lossy="keep").x)
    with pytest.raises(ValueError, match=r"lossy: expected one of \['downscale', 'keep'\], got 'drop'"):
        task_data(tmp_path, "superres", size=16, count=8, lossy="drop")
    with pytest.raises(ValueError, match="factor: expected an integer from 1 to 40"):
        downscale(images["clean"], 0)


def test_translate_data_from_two_folders_names_the_domains(tmp_path):
    _write(tmp_path / "summer" / "1.png", np.full((20, 20, 3), 50, np.uint8))
    _write(tmp_path / "winter" / "1.png", np.full((30, 20), 220, np.uint8))  # gray: made colour to match
    data = task_data(tmp_path / "summer", "translate", source_b=tmp_path / "winter", size=8, count=40)
    assert list(data.spec.class_names) == ["summer", "winter"] and data.spec.shape == (3, 8, 8)
    assert torch.equal(data.cond["source"], data.x)
    winter = data.x[data.y == 1]
    assert len(winter) > 0 and torch.allclose(winter, winter[:1].expand_as(winter))


def test_image_condition_kind_checks_channels_and_values():
    kind = get_condition_kind("image")
    declared = {"kind": "image", "channels": 1, "scale": 1}
    assert kind.batch(declared, torch.zeros(2, 1, 5, 7), "cond.gray").shape == (2, 1, 5, 7)
    with pytest.raises(ValueError, match=r"cond.gray: expected images \(N, 1, H, W\)"):
        kind.batch(declared, torch.zeros(2, 3, 5, 7), "cond.gray")
    with pytest.raises(ValueError, match="cond.gray: contains NaN"):
        kind.batch(declared, torch.full((1, 1, 2, 2), float("nan")), "cond.gray")
    with pytest.raises(ValueError, match="'channels', a positive integer"):
        kind.check({"kind": "image"}, "conditions.x")


# ------------------------------------------------------------------ rescnn
def test_an_untrained_superres_model_is_bicubic(china):
    pairs = make_pairs(image_patches(china, size=16, count=8), "superres", scale=2)
    torch.manual_seed(0)
    model = genaug.create("rescnn", pairs.spec, **TINY)  # the head starts at zero: output = bicubic
    low = pairs.cond["lowres"][:2]
    out = model.sample(2, cond={"lowres": low})
    bicubic = F.interpolate(to_unit(pairs.spec, low), scale_factor=2, mode="bicubic").clamp(0, 1)
    assert out.shape == (2, 3, 16, 16) and out.dtype == torch.uint8
    assert (out.float() - torch.round(bicubic * 255)).abs().max() <= 1


def test_apply_takes_any_size_and_keeps_dtype_and_range(sr_model, color_model):
    x = torch.randint(0, 256, (2, 3, 13, 18), dtype=torch.uint8)
    out = sr_model.apply(x)
    assert out.shape == (2, 3, 26, 36) and out.dtype == torch.uint8
    unit = sr_model.apply(x.float() / 255, value_range=(0, 1))
    assert unit.dtype == torch.float32 and 0 <= unit.min() and unit.max() <= 1
    assert (unit * 255 - out.float()).abs().max() <= 1.0
    gray = torch.randint(0, 256, (3, 1, 9, 11), dtype=torch.uint8)
    colour = color_model.apply(gray)
    assert colour.shape == (3, 3, 9, 11)
    # the lightness is the input's: the luma of the output stays close to the gray input
    assert (luma(colour.float()) - gray.float()).abs().mean() < 6


def test_apply_and_fit_errors_are_clear(sr_model, china):
    with pytest.raises(ValueError, match=r"images: expected a tensor \(N, 3, H, W\) of lowres images, got \(3, 8, 8\)"):
        sr_model.apply(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="images: contain NaN"):
        sr_model.apply(torch.full((1, 3, 4, 4), float("nan")), value_range=(0, 1))
    with pytest.raises(ValueError, match="value_range: expected"):
        sr_model.apply(torch.zeros(1, 3, 4, 4), value_range=(1, 0))
    with pytest.raises(ValueError, match="is an image-to-image model; fit it on pairs"):
        genaug.fit(image_patches(china, size=8, count=8), "rescnn", steps=1)
    translate = from_arrays(np.zeros((4, 3, 8, 8), np.uint8), [0, 1, 0, 1], layout="CHW", levels=256, value_range=(0, 255))
    with pytest.raises(ValueError, match=r"learns \['superres', 'colorize', 'harmonize'\], not 'translate'"):
        genaug.create("rescnn", make_pairs(translate, "translate").spec)
    with pytest.raises(ValueError, match=r"cannot condition on \{'lowres': 'image'\}"):
        genaug.create("vae", make_pairs(image_patches(china, size=8, count=8), "superres").spec)


def test_save_load_round_trip_gives_the_same_outputs(sr_model, tmp_path):
    sr_model.save_pretrained(tmp_path / "m")
    loaded = genaug.load(tmp_path / "m")
    assert isinstance(loaded, ImageToImage) and loaded.task.name == "superres" and loaded.scale == 2
    x = torch.randint(0, 256, (1, 3, 7, 9), dtype=torch.uint8)
    assert torch.equal(loaded.apply(x), sr_model.apply(x))


def _rectangles(n: int, seed: int) -> genaug.ArraySet:
    """Colour images of a few flat rectangles: sharp edges that bicubic upscaling blurs."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, 3, 24, 24), np.uint8)
    for image in out:
        image[:] = rng.integers(0, 256, 3)[:, None, None]
        for _ in range(3):
            (top, left), (h, w) = rng.integers(0, 20, 2), rng.integers(3, 12, 2)
            image[:, top : top + h, left : left + w] = rng.integers(0, 256, 3)[:, None, None]
    return from_arrays(out, layout="CHW", levels=256, value_range=(0, 255))


@pytest.mark.slow
def test_superres_training_beats_bicubic_on_held_out_images():
    train, test = make_pairs(_rectangles(400, 0), "superres"), make_pairs(_rectangles(64, 1), "superres")
    model = genaug.fit(train, "rescnn", steps=250, channels=16, blocks=2, train={**QUIET, "lr": 1e-3, "eval_every": 50})
    truth, low = to_unit(test.spec, test.x), to_unit(test.spec, test.cond["lowres"])
    error = (model.apply(low, value_range=(0, 1)) - truth).abs().mean()
    bicubic = (F.interpolate(low, scale_factor=2, mode="bicubic").clamp(0, 1) - truth).abs().mean()
    assert error < 0.95 * bicubic, f"L1 error {error:.4f} after fitting, bicubic's {bicubic:.4f}"


# ------------------------------------------------------------------ scores
def test_scores_on_known_cases():
    x = torch.rand(2, 3, 12, 12)
    assert (psnr_y(x, x) > 100).all() and torch.allclose(ssim_y(x, x), torch.ones(2, dtype=torch.float64))
    noisy = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
    assert (psnr_y(noisy, x, border=2) < 30).all() and (ssim_y(noisy, x) < 0.99).all()
    gray = luma(x).expand(-1, 3, -1, -1)
    assert torch.allclose(colourfulness(gray), torch.zeros(2, dtype=torch.float64), atol=1e-3)
    assert (colourfulness(x) > 20).all()
    assert (chroma_psnr(gray, x) < chroma_psnr(x, x)).all()


def test_evaluations_give_a_row_per_held_out_image(sr_model, color_model, tmp_path):
    held_out = [i for i in read_images("photos:china")]
    small = [type(i)(i.name, i.array[:40, :60]) for i in held_out]
    report = evaluate_superres(sr_model, small)
    assert [r["image"] for r in report["rows"]] == ["china"]
    assert report["mean"]["psnr"] > 20 and 0 < report["mean"]["ssim"] <= 1
    colour = evaluate_colorize(color_model, small)
    assert colour["mean"]["seed_difference"] == 0.0  # deterministic
    assert colour["mean"]["gray_chroma_psnr"] > 0
    save_strips(sr_model, small, tmp_path / "strips.png", crop=16)
    assert Image.open(tmp_path / "strips.png").size[0] > 4 * 16


# ------------------------------------------------------------------ CLI
def test_cli_fits_a_task_and_applies_it_to_files_and_folders(tmp_path, capsys):
    _write(tmp_path / "photos" / "one.png", (np.random.default_rng(0).random((30, 40, 3)) * 255).astype(np.uint8))
    model = tmp_path / "m"
    assert main(["fit", "--data", str(tmp_path / "photos"), "--task", "superres", "--patch-size", "16", "--patches", "32",
                 "--steps", "2", "--set", "channels=4", "blocks=1", "--out", str(model), "--train", "progress=false"]) == 0
    assert genaug.load(model).family == "rescnn"
    _write(tmp_path / "in" / "a.png", np.zeros((7, 9, 3), np.uint8))
    _write(tmp_path / "in" / "deep" / "b.jpg", np.zeros((5, 6), np.uint8))  # gray: read as RGB for a colour model
    assert main(["apply", str(model), str(tmp_path / "in"), "--out", str(tmp_path / "out")]) == 0
    assert Image.open(tmp_path / "out" / "a.png").size == (18, 14)
    assert Image.open(tmp_path / "out" / "deep" / "b.jpg").size == (12, 10)
    assert main(["apply", str(model), str(tmp_path / "in" / "a.png"), "--out", str(tmp_path / "single.png")]) == 0
    assert load_image(tmp_path / "single.png", 3).shape == (3, 14, 18)
    assert main(["apply", str(model), str(tmp_path / "in" / "a.png"), "--out", str(tmp_path / "ens.png"), "--option", "self_ensemble=true"]) == 0
    assert load_image(tmp_path / "ens.png", 3).shape == (3, 14, 18)
    capsys.readouterr()
    assert main(["apply", str(model), str(tmp_path / "in" / "a.png"), "--out", str(tmp_path / "x.png"), "--option", "guidance=3"]) == 2
    assert "--option: guidance: not a sampling option of the 'rescnn' family; it takes ['self_ensemble']" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
    assert main(["apply", str(model), str(tmp_path / "in"), "--out", str(tmp_path / "in")]) == 2
    assert "would overwrite the input images" in capsys.readouterr().err
    assert main(["fit", "--data", "photos:china", "--task", "superres", "--holdout", "0.2", "--out", str(tmp_path / "x")]) == 2
    assert "--holdout: not taken with --task" in capsys.readouterr().err


def test_cli_apply_refuses_a_model_of_another_kind(digits_gmm_dir, tmp_path, capsys):
    _write(tmp_path / "a.png", np.zeros((7, 9, 3), np.uint8))
    assert main(["apply", str(digits_gmm_dir), str(tmp_path / "a.png"), "--out", str(tmp_path / "b.png")]) == 2
    assert "not an image-to-image model" in capsys.readouterr().err


def test_save_image_is_atomic_and_checks_its_input(tmp_path):
    with pytest.raises(ValueError, match="does not end in an image suffix"):
        save_image(torch.zeros(3, 4, 4, dtype=torch.uint8), tmp_path / "a.txt")
    with pytest.raises(ValueError, match=r"expected a uint8 tensor \(1 or 3, H, W\)"):
        save_image(torch.zeros(3, 4, 4), tmp_path / "a.png")
    save_image(torch.full((1, 4, 5), 7, dtype=torch.uint8), tmp_path / "g.png")
    assert np.asarray(Image.open(tmp_path / "g.png")).tolist() == [[7] * 5] * 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.png"]


def test_unit_maps_are_exact_on_the_grid(china):
    spec = image_patches(china, size=16, count=2).spec
    levels = torch.arange(256, dtype=torch.float64)
    z = spec.to_model(levels.view(1, 1, 16, 16).expand(1, 3, 16, 16).to(torch.uint8))
    assert torch.allclose(to_unit(spec, z.double())[0, 0].flatten() * 255, levels, atol=1e-4)
    assert torch.allclose(from_unit(spec, to_unit(spec, z)), z, atol=1e-6)
    assert torch.allclose(degrade(spec, z, "translate"), z, atol=1e-5)


def test_self_ensemble_is_the_mean_over_the_eight_symmetries(sr_model):
    from genaug.models.rescnn import _dihedral

    x = torch.randn(2, 3, 5, 7)
    for k in range(8):
        assert torch.equal(_dihedral(_dihedral(x, k), k, inverse=True), x)
    assert len({tuple(_dihedral(x, k).flatten()[:6].tolist()) for k in range(8)}) == 8
    low = torch.randint(0, 256, (1, 3, 6, 8), dtype=torch.uint8)
    plain, ensemble = sr_model.apply(low, value_range=(0, 255)), sr_model.apply(low, self_ensemble=True)
    assert plain.shape == ensemble.shape == (1, 3, 12, 16)
    z = from_unit(sr_model.spec, low.float() / 255)
    by_hand = torch.stack([
        _dihedral(sr_model.predict({"lowres": _dihedral(z, k), "label": torch.zeros(1, dtype=torch.long)}), k, inverse=True) for k in range(8)
    ])
    unit = to_unit(sr_model.spec, by_hand).clamp(0, 1).mean(0)
    assert (torch.round(unit * 255) - ensemble.float()).abs().max() <= 1


def test_translation_scores_tell_the_domains_apart():
    from genaug.data.images import NamedImage
    from genaug.evaluate.image2image import evaluate_translate

    rng = np.random.default_rng(0)
    dark, bright = (rng.integers(0, 90, (40, 40)).astype(np.uint8), rng.integers(160, 256, (40, 40)).astype(np.uint8))
    data = make_pairs(image_patches([NamedImage("a", dark), NamedImage("b", bright)], size=16, count=64, labels=["a", "b"]), "translate")
    model = genaug.fit(data, "cyclegan", steps=2, channels=4, blocks=1, disc_channels=4, disc_layers=2, train=QUIET)
    report = evaluate_translate(model, [NamedImage("a", dark)], [NamedImage("b", bright)], size=16, count=64, feature_steps=50)
    # real dark patches are far from bright ones in the domain classifier's features; two halves of B are close
    assert report["frechet_a_to_b"] > 10 * max(report["frechet_b_halves"], 1e-3)
    assert report["domain_classifier_val_accuracy"] > 0.9 and 0 < report["cycle_psnr"] < 100


# ------------------------------------------------------------------ harmonize
def test_harmonize_pairs_relight_a_region_and_carry_its_alpha(china):
    patches = image_patches(china, size=32, count=16, seed=0)
    pairs = make_pairs(patches, "harmonize", seed=3)
    assert pairs.spec.conditions == {"composite": {"kind": "image", "channels": 4, "scale": 1, "task": "harmonize"}}
    truth, composite = to_unit(pairs.spec, pairs.x), to_unit(pairs.spec, pairs.cond["composite"])
    alpha, changed = composite[:, 3:], (composite[:, :3] - truth).abs().amax(1, keepdim=True) > 1.5 / 255
    assert ((alpha > 0) | ~changed).all(), "pixels outside the region changed"
    assert changed.float().mean() > 0.02 and 0.02 < alpha.mean() < 0.6
    assert torch.equal(composite, to_unit(pairs.spec, make_pairs(patches, "harmonize", seed=3).cond["composite"]))
    assert not torch.equal(composite, to_unit(pairs.spec, make_pairs(patches, "harmonize", seed=4).cond["composite"]))
    gray = make_pairs(image_patches([genaug.data.images.with_channels(china[0], 1)], size=16, count=4), "harmonize")
    assert gray.spec.conditions["composite"]["channels"] == 2


def test_harmonize_model_changes_only_the_region_and_learns_to_undo_relighting(china, tmp_path):
    train = make_pairs(image_patches(china, size=32, count=256, seed=0), "harmonize", seed=0)
    model = genaug.fit(train, "rescnn", steps=60, channels=16, blocks=2, train={**QUIET, "lr": 2e-3})
    rgba = torch.randint(0, 256, (2, 4, 23, 30), dtype=torch.uint8)
    rgba[:, 3] = 0
    rgba[:, 3, 4:12, 6:20] = 255
    out = model.apply(rgba)
    assert out.shape == (2, 3, 23, 30) and out.dtype == torch.uint8
    outside = rgba[:, 3:].expand(-1, 3, -1, -1) == 0
    assert torch.equal(out[outside], rgba[:, :3][outside])
    from genaug.data.images import NamedImage
    held_out = [NamedImage("china-right", china[0].array[:, -200:])]
    scores = evaluate_harmonize(model, held_out, patches=8, size=32)["mean"]
    assert scores["fmse"] < scores["composite_fmse"], scores
    path = tmp_path / "composite.png"
    Image.fromarray(rgba[0].permute(1, 2, 0).numpy(), "RGBA").save(path)
    model.save_pretrained(tmp_path / "m")
    assert main(["apply", str(tmp_path / "m"), str(path), "--out", str(tmp_path / "o.png")]) == 0
    assert load_image(tmp_path / "o.png", 3).shape == (3, 23, 30)
    off_grid = torch.rand(1, 4, 9, 9, dtype=torch.float64)
    off_grid[:, 3] = 0
    off_grid[:, 3, 2:5, 2:5] = 1
    kept = model.apply(off_grid, value_range=(0, 1))
    assert torch.equal(kept[:, :, off_grid[0, 3] == 0], off_grid[:, :3, off_grid[0, 3] == 0])  # not re-rounded to the 8-bit grid
    from genaug.transforms import SuperResolve
    from genaug.transforms._image2image import as_image_to_image
    with pytest.raises(ValueError, match=r"use TryOn\(harmonizer=model\)"):
        SuperResolve(model)
    with pytest.raises(ValueError, match="not as a per-image transform"):
        as_image_to_image(model)
    _write(tmp_path / "rgb.png", np.zeros((5, 5, 3), np.uint8))
    with pytest.raises(ValueError, match="alpha channel"):
        load_image(tmp_path / "rgb.png", 4)
