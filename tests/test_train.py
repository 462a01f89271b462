"""Trainer contracts: exact resume, multi-process runs, checkpoints, early stopping."""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import genaug
from genaug.cli import main as cli_main
from genaug.train.checkpoint import list_checkpoints


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        assert torch.equal(wa[name], wb[name]), name


def interrupt_at(run: Path, copy: Path, step: int) -> None:
    """Make ``copy`` look like ``run`` killed just after its checkpoint at ``step``."""
    shutil.copytree(run, copy)
    for path in list_checkpoints(copy / "checkpoints"):
        if int(path.name.split("_")[1]) > step:
            shutil.rmtree(path)
    (copy / "model.safetensors").unlink()
    (copy / "config.json").unlink()


@pytest.mark.parametrize(
    ("family", "args", "stop_at"),
    [
        # 25 batches per epoch: the interruption falls mid-way through the second epoch
        ("vae", ["--steps", "24", "--batch-size", "64", "--train", "checkpoint_every=5", "keep_checkpoints=9", "grad_accum=2", "eval_every=8"], 15),
        ("gmm", ["--steps", "12", "--set", "n_components=2", "tol=1e-12", "--train", "checkpoint_every=5", "keep_checkpoints=5"], 5),
    ],
)
def test_resume_matches_uninterrupted_run(tmp_path, family, args, stop_at):
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    base = ["fit", "--data", "digits", "--family", family, *args]
    assert cli_main([*base[:5], "--out", str(full), *base[5:]]) == 0
    interrupt_at(full, resumed, stop_at)
    assert cli_main(["fit", "--out", str(resumed), "--resume", *args]) == 0
    assert_same_weights(full, resumed)


def test_resume_without_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert cli_main(["fit", "--out", str(tmp_path / "none"), "--resume", "--steps", "2"]) == 2
    assert "holds no run to continue" in capsys.readouterr().err


def test_resume_refuses_a_changed_config_but_not_a_resolved_default(tmp_path):
    out = tmp_path / "run"
    genaug.fit("digits", "gmm", out=out, steps=2, n_components=1, train={"checkpoint_every": 1})
    assert json.loads((out / "run.json").read_text())["config"]["reg_covar"] != "auto"  # stored as chosen
    with pytest.raises(ValueError, match="keeps its config.*n_components"):
        genaug.fit("digits", out=out, steps=4, resume=True, n_components=2)
    genaug.fit("digits", out=out, steps=4, resume=True, n_components=1)  # reg_covar left to its default: fine


def test_resume_refuses_another_family(tmp_path):
    out = tmp_path / "run"
    genaug.fit("digits", "gmm", out=out, steps=2, n_components=1)
    with pytest.raises(ValueError, match="'gmm' run"):
        genaug.fit("digits", "vae", out=out, steps=4, resume=True)


def test_corrupt_checkpoint_state_is_reported(tmp_path):
    out = tmp_path / "run"
    genaug.fit("digits", "gmm", out=out, steps=3, n_components=1, train={"checkpoint_every": 1})
    newest = list_checkpoints(out / "checkpoints")[-1]
    (newest / "trainer_state.json").write_text("{not json")
    with pytest.raises(ValueError, match="corrupt trainer state"):
        genaug.fit("digits", out=out, steps=6, resume=True)


def test_run_folder_holds_model_grids_metrics_and_checkpoints(tmp_path):
    out = tmp_path / "run"
    model = genaug.fit("digits", "vae", out=out, steps=20, train={"sample_every": 10, "checkpoint_every": 10, "log_every": 5, "eval_every": 10})
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "run.json", "metrics.jsonl", "samples", "checkpoints"} <= names
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step_00000010.png", "step_00000020.png"]
    assert [p.name for p in list_checkpoints(out / "checkpoints")] == ["step_00000010", "step_00000020"]
    assert not [p for p in (out / "checkpoints").iterdir() if p.name.startswith(".tmp")]
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert any('"val/loss"' in line for line in lines) and any('"loss"' in line for line in lines)
    loaded = genaug.load(out)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(model.sample(12, labels=4, generator=g1), loaded.sample(12, labels=4, generator=g2))


def test_training_lowers_the_loss(tmp_path):
    out = tmp_path / "run"
    genaug.fit("digits", "vae", out=out, steps=150, train={"log_every": 25, "val_fraction": 0.0})
    import json

    losses = [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines() if '"loss"' in line]
    assert losses[-1] < losses[0] - 1.0


def _val_losses(out) -> list[float]:
    return [r["val/loss"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "val/loss" in r]


def _overfitting_case():
    """10 digits per class, a wide VAE and a high learning rate: the held-out ELBO turns upward after ~200 steps.

    The VAE is made without its decoder's outlier component (outlier_weight=0), a regularizer that
    would damp the overfitting this case exists to show.
    """
    digits = genaug.load_source("digits")
    few = digits.subset(torch.cat([torch.nonzero(digits.y == c)[:10, 0] for c in range(10)]))
    cfg = dict(steps=3000, lr=3e-3, eval_every=50, val_fraction=0.2, ema_decay=0.9, progress=False, checkpoint_every=0)
    return few, cfg


@pytest.mark.parametrize("restore_best", [True, False])
def test_early_stopping_stops_an_overfitting_fit_and_keeps_the_best_weights(tmp_path, restore_best):
    few, cfg = _overfitting_case()
    torch.manual_seed(0)
    # prior="standard": the fitted latent prior (set after the fit) changes the ELBO the kept weights are checked by
    model = genaug.create("vae", few.spec, hidden=256, latent_dim=32, outlier_weight=0.0, prior="standard")
    trainer = genaug.Trainer(model, few, genaug.TrainConfig(**cfg, patience=4, restore_best=restore_best), out=tmp_path / "run")
    fitted = trainer.fit()
    losses = _val_losses(tmp_path / "run")
    assert trainer.state.step < 3000, "patience should have ended the run"
    assert losses[-1] > min(losses) + 0.05, f"the case must overfit: {losses}"
    assert trainer.state.best_val == pytest.approx(min(losses))
    assert losses.index(min(losses)) == len(losses) - 5  # four validations without gain, then the stop
    kept = trainer.validation_loss(fitted)
    assert kept == pytest.approx(min(losses) if restore_best else losses[-1], rel=1e-4)
    logged = [r["kept_step"] for r in map(json.loads, (tmp_path / "run/metrics.jsonl").read_text().splitlines()) if "kept_step" in r]
    assert logged == ([trainer.state.best_step] if restore_best else [])  # the report marks it on the curves


def test_early_stopping_is_on_by_default():
    cfg = genaug.TrainConfig()
    assert cfg.patience is not None and cfg.restore_best
    for family in genaug.families():
        resolved = genaug.train.resolve_train_config(family)
        # every family validates (then stops early and keeps its best weights) but the gmm, whose EM
        # stops by its own tolerance and chooses its regularization on a fifth it holds out itself
        if family == "gmm":
            assert resolved.val_fraction == 0
            continue
        assert resolved.val_fraction > 0, family
        assert resolved.patience is not None and resolved.restore_best, family
        assert resolved.eval_every * resolved.patience < resolved.steps, family


def test_default_steps_grow_with_the_data_size():
    from genaug.train import resolve_train_config

    family_default = genaug.models.get_family("vae").train_defaults["steps"]
    assert resolve_train_config("vae", n_records=200).steps == family_default  # small data: the default budget
    assert resolve_train_config("vae", n_records=50_000).steps == math.ceil(20 * 50_000 / 128)  # 20 passes
    assert resolve_train_config("vae", {"batch_size": 512}, n_records=50_000).steps == family_default
    # steps someone set are kept, whatever the size
    assert resolve_train_config("vae", {"steps": 100}, n_records=50_000).steps == 100
    assert resolve_train_config("vae", n_records=50_000, steps=100).steps == 100
    assert resolve_train_config("vae", {"min_epochs": 0}, n_records=50_000).steps == family_default
    # closed-form EM takes the whole data every step: its iteration cap does not move
    assert resolve_train_config("gmm", n_records=50_000).steps == genaug.models.get_family("gmm").train_defaults["steps"]


def test_validations_come_every_few_passes_over_a_small_set_when_the_family_asks():
    from genaug.train import resolve_train_config

    # charlm sets eval_epochs 5: 20 records (18 after the validation tenth, one batch a step) are checked every 5 steps
    assert resolve_train_config("charlm", n_records=20).eval_every == 5
    assert resolve_train_config("charlm", n_records=100).eval_every == math.ceil(5 * 90 / 64)
    assert resolve_train_config("charlm", n_records=5_000).eval_every == 100  # a large set keeps the family's cadence
    assert resolve_train_config("charlm", {"eval_every": 50}, n_records=20).eval_every == 50  # asked for: kept
    assert resolve_train_config("charlm", {"batch_size": 0}, n_records=20).eval_every == 5  # whole set per step
    # families without eval_epochs validate every eval_every steps whatever the size
    assert resolve_train_config("vae", n_records=20).eval_every == genaug.models.get_family("vae").train_defaults.get("eval_every", 250)


def test_fit_sizes_the_step_budget_to_its_data(monkeypatch):
    import importlib

    fit_module = importlib.import_module("genaug.train.fit")  # the module; genaug.train.fit is the function

    seen = {}

    class Recorder:
        def __init__(self, model, data, config, out=None):
            seen["steps"], seen["n"] = config.steps, len(data)

        def fit(self, resume=False):
            return None

    monkeypatch.setattr(fit_module, "Trainer", Recorder)
    digits = genaug.load_source("digits")
    genaug.fit(digits, "vae", train={"batch_size": 16})
    assert seen == {"steps": math.ceil(20 * len(digits) / 16), "n": len(digits)}
    genaug.fit(digits, "vae", steps=7, train={"batch_size": 16})
    assert seen["steps"] == 7


def test_a_validation_split_that_holds_nothing_fits_without_validation(tmp_path, caplog):
    digits = genaug.load_source("digits")
    few = digits.subset(torch.cat([torch.nonzero(digits.y == c)[:4, 0] for c in range(10)]))  # 4 per class: a tenth rounds to 0
    cfg = genaug.TrainConfig(steps=6, val_fraction=0.1, eval_every=2, patience=1, progress=False, checkpoint_every=0)
    with caplog.at_level("WARNING", logger="genaug.train.trainer"):
        trainer = genaug.Trainer(genaug.create("vae", few.spec, channels=4), few, cfg, out=tmp_path / "run")
        trainer.fit()
    assert trainer.state.step == 6 and trainer.val is None
    assert "holds out none (too few per class)" in caplog.text


def test_a_validation_split_of_a_few_samples_is_named_in_a_warning(tmp_path, caplog):
    digits = genaug.load_source("digits")
    cfg = genaug.TrainConfig(steps=2, val_fraction=0.1, eval_every=1, progress=False, checkpoint_every=0)
    def fit(per_class: int) -> str:
        part = digits.subset(torch.cat([torch.nonzero(digits.y == c)[:per_class, 0] for c in range(10)]))
        caplog.clear()
        with caplog.at_level("WARNING", logger="genaug.train.trainer"):
            genaug.Trainer(genaug.create("vae", part.spec, channels=4), part, cfg, out=tmp_path / f"run{per_class}").fit()
        return caplog.text

    assert "holds out only 10" in fit(10)  # one per class: the kept weights are picked on 10 samples
    assert "holds out only" not in fit(30)  # 30 held out: enough to be trusted


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _image_families() -> list[str]:
    """Families that fit images (not image-to-image pairs: those have their own torchrun test below)."""
    from genaug.models.image2image import ImageToImage

    return [f for f in genaug.families() if genaug.models.get_family(f).modalities in (None, ("image",))
            and not issubclass(genaug.models.get_family(f), ImageToImage)]


@pytest.mark.slow
def test_torchrun_two_processes_fit_an_image_to_image_task(tmp_path):
    out = tmp_path / "run"
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--nproc_per_node", "2", "--master_port", str(free_port()), "-m", "genaug.cli",
           "fit", "--data", "photos:china", "--task", "superres", "--patch-size", "16", "--patches", "64", "--out", str(out),
           "--steps", "4", "--set", "channels=4", "blocks=1", "--train", "checkpoint_every=2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-12000:]
    assert "rank 0/2 finished" in log and "rank 1/2 finished" in log, log[-4000:]
    assert genaug.load(out).apply(torch.zeros(1, 3, 5, 6, dtype=torch.uint8)).shape == (1, 3, 10, 12)


@pytest.mark.slow
@pytest.mark.parametrize("family", _image_families())
def test_torchrun_two_processes_on_cpu(tmp_path, family):
    out = tmp_path / "run"
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--nproc_per_node", "2", "--master_port", str(free_port()), "-m", "genaug.cli",
           "fit", "--data", "digits", "--family", family, "--out", str(out), "--steps", "6", "--train", "checkpoint_every=3"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-12000:]
    assert "rank 0/2 finished" in log and "rank 1/2 finished" in log, log[-4000:]
    model = genaug.load(out)
    assert model.sample(5, generator=torch.Generator().manual_seed(0)).shape == (5, 8, 8)
    if family == "gmm":  # EM statistics summed over both shards: the same fit as one process
        single = genaug.fit("digits", "gmm", steps=6)
        x, y = genaug.load_source("digits").x[:200], genaug.load_source("digits").y[:200]
        torch.testing.assert_close(model.log_prob(x, y), single.log_prob(x, y), rtol=1e-4, atol=1e-3)


def test_bf16_mixed_precision_trains_on_cpu(tmp_path):
    model = genaug.fit("digits", "vae", steps=10, train={"mixed_precision": "bf16", "val_fraction": 0.0}, channels=8)
    assert torch.isfinite(model.log_prob(genaug.load_source("digits").x[:8])).all()


def test_trainer_refuses_data_of_another_shape():
    digits, wine = genaug.load_source("digits"), genaug.load_source("wine")
    with pytest.raises(ValueError, match="does not fit the model"):
        genaug.Trainer(genaug.create("vae", digits.spec), wine, genaug.TrainConfig())


def test_fits_of_one_process_each_choose_their_mixed_precision():
    """bf16, then fp16 (loss scaling), then none in one process: Accelerate's state is never reset."""
    for precision in ("bf16", "fp16", "no"):
        model = genaug.fit("digits", "vae", steps=4, train={"mixed_precision": precision, "val_fraction": 0.0, "progress": False}, channels=4)
        assert torch.isfinite(model.log_prob(genaug.load_source("digits").x[:4])).all()


def test_fp16_loss_scaler_resumes_exactly(tmp_path):
    train = {"mixed_precision": "fp16", "val_fraction": 0.0, "checkpoint_every": 3, "progress": False, "ema_decay": 0.0}
    whole = genaug.fit("digits", "vae", steps=6, out=tmp_path / "whole", train=train, channels=4)
    genaug.fit("digits", "vae", steps=3, out=tmp_path / "part", train=train, channels=4)
    resumed = genaug.fit("digits", "vae", steps=6, out=tmp_path / "part", train=train, resume=True)
    state = json.loads((tmp_path / "part" / "checkpoints" / "step_00000006" / "trainer_state.json").read_text())
    assert state["scalers"] and state["scalers"][0]["scale"] > 0
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b)
