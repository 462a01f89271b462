"""The command line: label syntax, sample files, help and error messages."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from genaug.cli import main, parse_labels

NAMES = [str(i) for i in range(10)]


def test_parse_labels_syntax():
    assert parse_labels(None, 5, NAMES) is None
    assert parse_labels("3", 4, NAMES) == [3, 3, 3, 3]
    assert parse_labels("0,3,7", 7, NAMES) == [0, 3, 7, 0, 3, 7, 0]
    assert parse_labels("0,3,7", 3, NAMES) == [0, 3, 7]
    assert np.bincount(parse_labels("balanced", 30, NAMES)).tolist() == [3] * 10
    assert parse_labels("cat, dog", 3, ["cat", "dog"]) == [0, 1, 0]
    for bad in ("10", "-1", "x", ","):
        with pytest.raises(ValueError, match="--labels"):
            parse_labels(bad, 3, NAMES)


@pytest.fixture(scope="module")
def gmm_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gmm")
    assert main(["fit", "--data", "digits", "--family", "gmm", "--out", str(out), "--steps", "3", "--set", "n_components=1"]) == 0
    return out


def test_sample_writes_user_space_npz_and_grid(gmm_run, tmp_path):
    npz, grid = tmp_path / "s.npz", tmp_path / "s.png"
    assert main(["sample", str(gmm_run), "-n", "6", "--labels", "0,3,7", "--seed", "1", "--out", str(npz), "--grid", str(grid)]) == 0
    with np.load(npz, allow_pickle=False) as f:
        x, y, names = f["x"], f["y"], f["class_names"]
    assert x.shape == (6, 8, 8) and x.dtype == np.float64
    assert y.tolist() == [0, 3, 7, 0, 3, 7] and names.tolist() == NAMES
    assert np.array_equal(x, np.round(x)) and x.min() >= 0 and x.max() <= 16
    with Image.open(grid) as image:
        assert image.format == "PNG" and image.size[0] > 8 * 6


def test_sample_is_reproducible_and_balanced(gmm_run, tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    for path in (a, b):
        assert main(["sample", str(gmm_run), "-n", "20", "--labels", "balanced", "--out", str(path)]) == 0
    with np.load(a) as fa, np.load(b) as fb:
        assert np.array_equal(fa["x"], fb["x"])
        assert np.bincount(fa["y"]).tolist() == [2] * 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-n", "3", "--labels", "42", "--out", "x.npz"], "unknown class '42'"),
        (["-n", "3", "--out", "x.txt"], "ending in .npz"),
        (["-n", "-1", "--out", "x.npz"], "non-negative"),
        (["-n", "3", "--out", "x.npz", "--option", "temperature=0.5"], "--option: temperature: not a sampling option of the 'gmm' family; it takes none"),
        (["-n", "3", "--out", "x.npz", "--option", "temperature"], "--option: expected KEY=VALUE, got 'temperature'"),
    ],
)
def test_sample_errors_are_one_clear_line(gmm_run, tmp_path, capsys, args, message):
    args = [a.replace("x.", str(tmp_path / "x.")) for a in args]
    assert main(["sample", str(gmm_run), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_sampling_options_reach_the_model(tmp_path):
    """``--option KEY=VALUE``: the family's sampling options, on sample and generate (same draws as the API's)."""
    import datasets
    import torch

    import genaug

    out = tmp_path / "vae"
    assert main(["fit", "--data", "digits", "--family", "vae", "--out", str(out), "--steps", "3", "--set", "latent_dim=4", "channels=8", "hidden=32"]) == 0
    for temperature in ("0.05", "1.0"):
        assert main(["sample", str(out), "-n", "20", "--labels", "3", "--seed", "2", "--out", str(tmp_path / f"{temperature}.npz"), "--option", f"temperature={temperature}"]) == 0
    with np.load(tmp_path / "0.05.npz") as cold, np.load(tmp_path / "1.0.npz") as warm:
        model, generator = genaug.load(out), torch.Generator().manual_seed(2)
        labels = model.resolve_labels(20, [3] * 20, generator=generator)
        assert np.array_equal(cold["x"], model.sample(20, labels, generator=generator, temperature=0.05).numpy())
        assert cold["x"].std(0).mean() < warm["x"].std(0).mean()
    assert main(["generate", str(out), "-n", "8", "--out", str(tmp_path / "ds"), "--option", "temperature=0.05"]) == 0
    assert main(["generate", str(out), "-n", "8", "--out", str(tmp_path / "ds1"), "--option", "temperature=1.0"]) == 0
    cold, warm = (np.asarray(datasets.load_from_disk(str(tmp_path / name))["image"], dtype=float) for name in ("ds", "ds1"))
    assert cold.shape == warm.shape and not np.array_equal(cold, warm)


def test_grid_of_vectors_is_drawn_as_the_vector_modality_draws_them(tmp_path):
    out = tmp_path / "wine"
    assert main(["fit", "--data", "wine", "--family", "gmm", "--out", str(out), "--steps", "2", "--set", "n_components=1"]) == 0
    assert main(["sample", str(out), "-n", "4", "--out", str(tmp_path / "w.npz"), "--grid", str(tmp_path / "w.png")]) == 0
    from PIL import Image

    with Image.open(tmp_path / "w.png") as picture:  # one row of grey cells per sample
        assert picture.width > picture.height > 0


def test_fit_errors_name_the_problem(tmp_path, capsys):
    assert main(["fit", "--data", "no_such_source", "--out", str(tmp_path / "r")]) == 2
    assert "unknown source 'no_such_source'" in capsys.readouterr().err
    assert main(["fit", "--family", "gmm", "--out", str(tmp_path / "r"), "--set", "n_compnents=2"]) == 2
    assert "n_compnents" in capsys.readouterr().err
    assert main(["fit", "--family", "nope", "--out", str(tmp_path / "r")]) == 2
    assert "unknown family 'nope'" in capsys.readouterr().err
    assert main(["fit", "--out", str(tmp_path / "r"), "--train", "steps"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_families_and_help(capsys):
    assert main(["families"]) == 0
    listed = capsys.readouterr().out
    assert "gmm" in listed and "vae" in listed and "has_encoder" in listed
    assert "sampling: clip_x0, eta, guidance, sample_steps" in listed and "sampling: temperature" in listed
    for command in ("fit", "sample", "families"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0


def test_declared_grid_keeps_uint8_digits_on_their_17_levels(tmp_path, caplog):
    """uint8 digits (0..16) read as 8-bit images unless the grid is declared: by flags or by arrays in the .npz."""
    import sklearn.datasets

    digits = sklearn.datasets.load_digits()
    x, y = digits.images.astype(np.uint8)[:200], digits.target[:200]
    plain, declared = tmp_path / "plain.npz", tmp_path / "declared.npz"
    np.savez(plain, x=x, y=y)
    np.savez(declared, x=x, y=y, levels=17, value_range=[0, 16])
    runs = {
        "inferred": ["--data", str(plain)],
        "flags": ["--data", str(plain), "--levels", "17", "--value-range", "0", "16"],
        "arrays": ["--data", str(declared)],
    }
    for name, args in runs.items():
        caplog.clear()
        with caplog.at_level("INFO", logger="genaug.train.fit"):
            assert main(["fit", *args, "--family", "gmm", "--steps", "5", "--out", str(tmp_path / name)]) == 0
        grid = "a grid of 256 levels over [0, 255]" if name == "inferred" else "a grid of 17 levels over [0, 16]"
        assert f"200 image samples of shape (8, 8), 10 classes; values: {grid}" in caplog.text  # said before sampling
        assert main(["sample", str(tmp_path / name), "-n", "300", "--out", str(tmp_path / f"{name}.npz")]) == 0
        samples = np.load(tmp_path / f"{name}.npz")["x"]
        assert samples.dtype == np.uint8 and np.array_equal(samples, np.round(samples))
        if name != "inferred":
            assert samples.max() <= 16  # only values of the declared grid


@pytest.mark.parametrize(
    "arrays, args, message",
    [
        ({"levels": 1}, [], "'levels' in"),
        ({"value_range": [16, 0]}, [], "'value_range' in"),
        ({}, ["--value-range", "16", "0"], "--value-range: expected LOW < HIGH"),
        ({}, ["--levels", "1"], "--levels: expected a grid of at least 2 levels, got 1"),
    ],
)
def test_bad_value_declarations_are_one_clear_error(tmp_path, capsys, arrays, args, message):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((4, 8, 8), dtype=np.uint8), y=[0, 1, 0, 1], **arrays)
    assert main(["fit", "--data", str(path), "--family", "gmm", "--out", str(tmp_path / "r"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
