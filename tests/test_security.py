"""The promises of SECURITY.md, one test each: nothing genaug loads is unpickled, YAML is read safely, reads of
headers and JSON are bounded, and code runs only from the import paths a recipe names, checked before they run.
"""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import genaug
from genaug.cli import main
from genaug.recipes import RecipeError, load_recipe

REPO = Path(__file__).resolve().parent.parent
VAE = {"latent_dim": 2, "channels": 4, "hidden": 8, "iw_samples": 1}
TRAIN = {"checkpoint_every": 2, "sample_every": 0, "val_fraction": 0, "progress": False}


class _Trap:
    """Pickled, it would touch ``marker`` when unpickled: a stranger's code running on load."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture
def no_unpickling(monkeypatch):
    """Every way into Python's unpickler raises while the test runs (numpy's and torch's go through these too)."""

    class Refused(pickle.Unpickler):
        def __init__(self, *args, **kwargs):
            raise AssertionError("genaug unpickled something")

    def refuse(*args, **kwargs):
        raise AssertionError("genaug unpickled something")

    monkeypatch.setattr(pickle, "Unpickler", Refused)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)


def test_loading_every_artefact_never_unpickles(tmp_path, digits, no_unpickling):
    """A model folder, a checkpoint resumed, a feature space, an .npz, a recipe and a synthetic data set, all with
    the unpickler made to fail."""
    from genaug.evaluate.features import FeatureSpace

    run = tmp_path / "vae"
    genaug.fit(digits, "vae", steps=4, out=run, train=TRAIN, **VAE, seed=0)  # writes checkpoints step 2 and 4
    model = genaug.load(run)
    assert model.sample(2, labels=1).shape == (2, 8, 8)
    resumed = genaug.fit(digits, "vae", steps=6, out=run, train=TRAIN, **VAE, seed=0, resume=True)
    assert resumed is not None and (run / "checkpoints").is_dir()

    space = FeatureSpace.fit(digits.subset(np.arange(60)), dim=8, steps=5, seed=0, cache_dir=tmp_path / "features")
    FeatureSpace.from_pretrained(next(p for p in (tmp_path / "features").rglob("config.json")).parent)

    np.savez(tmp_path / "d.npz", x=np.zeros((4, 8, 8), np.uint8), y=np.array([0, 1, 0, 1]))
    assert len(genaug.load_source(tmp_path / "d.npz")) == 4

    assert load_recipe(REPO / "recipes" / "quick.yaml").name == "quick"

    rows = genaug.hf.generate_dataset(model, 6, tmp_path / "synthetic", seed=0)
    assert len(genaug.load_source(tmp_path / "synthetic")) == len(rows) == 6
    del space


def test_a_pickle_posing_as_weights_is_refused_and_never_run(tmp_path, digits_gmm_dir):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_bytes((digits_gmm_dir / "config.json").read_bytes())
    marker = tmp_path / "ran"
    (folder / "model.safetensors").write_bytes(pickle.dumps(_Trap(marker)))
    torch.save({"w": _Trap(marker)}, folder / "pytorch_model.bin")  # a torch pickle beside it is never looked at
    with pytest.raises(ValueError, match="model.safetensors"):
        genaug.load(folder)
    assert not marker.exists()


def test_a_checkpoint_that_is_a_pickle_is_refused_and_never_run(tmp_path, digits):
    """Accelerate reads a checkpoint's optimizer and RNG files with torch's weights-only loader: code in them never runs."""
    run = tmp_path / "vae"
    genaug.fit(digits, "vae", steps=2, out=run, train=TRAIN, **VAE, seed=0)
    checkpoint = next((run / "checkpoints").glob("step_*"))
    marker = tmp_path / "ran"
    for name in ("optimizer.bin", "random_states_0.pkl"):
        buffer = io.BytesIO()
        torch.save({"state": _Trap(marker)}, buffer)
        (checkpoint / name).write_bytes(buffer.getvalue())
    with pytest.raises(Exception) as caught:
        genaug.fit(digits, "vae", steps=4, out=run, train=TRAIN, **VAE, seed=0, resume=True)
    assert "Weights only load failed" in str(caught.value) or "weights_only" in str(caught.value), caught.value
    assert not marker.exists()


@pytest.mark.parametrize(
    "text",
    [
        "!!python/object/apply:pathlib.Path.touch [MARKER]",
        "name: quick\ndata: !!python/object/apply:pathlib.Path.touch [MARKER]\n",
    ],
)
def test_yaml_tags_that_run_code_are_refused(tmp_path, text):
    marker = tmp_path / "ran"
    path = tmp_path / "recipe.yaml"
    path.write_text(text.replace("MARKER", json.dumps(str(marker))))
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(path)
    assert main(["fit", "--data", "digits", "--family", "gmm", "--out", str(tmp_path / "m"), "--set", f"n_components=!!python/object/apply:pathlib.Path.touch [{json.dumps(str(marker))}]"]) == 2
    assert not marker.exists()


def test_json_reads_are_bounded(tmp_path, digits_gmm_dir):
    from genaug.utils.io import MAX_JSON_BYTES

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes((digits_gmm_dir / "model.safetensors").read_bytes())
    with open(folder / "config.json", "wb") as f:
        f.truncate(MAX_JSON_BYTES + 1)  # a sparse file: what a stranger's 'config' could be, far larger still
    with pytest.raises(ValueError, match=f"corrupt config file, larger than {MAX_JSON_BYTES} bytes"):
        genaug.load(folder)
    (folder / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="config.json"):
        genaug.load(folder)


def test_a_safetensors_header_claiming_a_huge_size_is_refused(tmp_path, digits_gmm_dir):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_bytes((digits_gmm_dir / "config.json").read_bytes())
    (folder / "model.safetensors").write_bytes((2**62).to_bytes(8, "little") + b"{}")  # header length: 4 EiB
    with pytest.raises(ValueError, match="model.safetensors"):
        genaug.load(folder)


@pytest.mark.parametrize("path", ["os:system", "builtins:print", "os:sep", "json:loads"])
def test_a_recipe_import_path_that_is_no_model_factory_is_one_line_and_exit_2(tmp_path, capsys, path):
    """Issue 21's `"os:system"`: refused before it is called, with the field, the path and what is expected."""
    recipe = load_recipe(REPO / "recipes" / "quick.yaml").model_dump(mode="json")
    recipe["downstream"]["model"] = path
    recipe["output"] = str(tmp_path / "run")
    (tmp_path / "r.yaml").write_text(json.dumps(recipe))
    assert main(["run", str(tmp_path / "r.yaml"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("genaug run: error: downstream.model: ") and repr(path) in last
    assert "expected 'package.module:factory', a callable returning a torch.nn.Module of logits" in last
