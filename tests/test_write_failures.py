"""Writes that fail (a full disk, a read-only or vanished folder, an interrupt): one line, exit 2, nothing half-written.

Faults are injected where the bytes are written (safetensors, torch.save, numpy, PIL, the final rename),
in the words the real writer uses when a disk fills up; the last test fills a real tmpfs where the
machine lets a user mount one (``unshare``).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
import yaml
from PIL import Image
from safetensors import SafetensorError

import genaug
from genaug.cli import main
from genaug.utils.io import WriteError, append_line, atomic_write_text, save_weights

REPO = Path(__file__).resolve().parent.parent
FULL = "Error while serializing: I/O error: No space left on device (os error 28)"  # safetensors' words on a full disk
GMM = ["--family", "gmm", "--set", "n_components=2", "tol=1e-12", "reg_covar=0.01", "shrinkage=0", "init_kmeans_iters=2"]  # no early convergence
VAE = ["--family", "vae", "--set", "latent_dim=2", "channels=4", "hidden=8", "iw_samples=1"]


def enospc(path: object = None) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), None if path is None else str(path))


def the_error_line(stderr: str, command: str) -> str:
    """The one line ``genaug COMMAND: ...`` that ends stderr (log lines may come before it), with no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    ours = [line for line in lines if line.startswith(f"genaug {command}: ")]
    assert len(ours) == 1 and lines[-1] == ours[0], stderr
    return ours[0]


def leftovers(root: Path) -> list[str]:
    """Temporary files or folders under ``root`` (atomic writes' ``.NAME.*.tmp``, checkpoints' ``.tmp-step_*``)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.name.startswith(".") or ".tmp" in p.name)


def fit(out: Path, family: list[str], *extra: str, steps: int = 4) -> int:
    args = ["fit", "--data", "digits", *family, "--steps", str(steps), "--out", str(out)]
    return main([*args, "--train", "progress=false", "checkpoint_every=2", "sample_every=0", "val_fraction=0", *extra])


def fail_nth(monkeypatch, owner: object, name: str, error: BaseException, nth: int = 1, target_arg: int = 1) -> None:
    """Make the ``nth`` call of ``owner.name`` write half a file at its target argument, then raise ``error``."""
    real, calls = getattr(owner, name), []

    def writer(*args, **kwargs):
        calls.append(args)
        if len(calls) != nth:
            return real(*args, **kwargs)
        target = args[target_arg]
        if isinstance(target, str | os.PathLike):
            Path(target).write_bytes(b"half a file")
        else:
            target.write(b"half a file")
        raise error

    monkeypatch.setattr(owner, name, writer)


# ---------------------------------------------------------------------- fit: checkpoints and the final model
@pytest.mark.parametrize(
    "family, owner, name, error, nth",
    [  # nth: the call that writes the second checkpoint (step 4)
        (GMM, "genaug.train.checkpoint", "save_file", SafetensorError(FULL), 2),  # closed-form: genaug's own weights file
        (VAE, "accelerate.utils.other", "safe_save_file", SafetensorError(FULL), 2),  # Accelerate's model.safetensors
        (VAE, "torch", "save", RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598"), 3),  # optimizer.bin
    ],
    ids=["gmm-weights", "vae-model", "vae-optimizer"],
)
def test_a_checkpoint_on_a_full_disk_is_one_line_and_leaves_no_temporary_folder(tmp_path, capsys, monkeypatch, family, owner, name, error, nth):
    import importlib

    fail_nth(monkeypatch, importlib.import_module(owner), name, error, nth=nth)
    out = tmp_path / "run"
    assert fit(out, family) == 2
    line = the_error_line(capsys.readouterr().err, "fit")
    assert line.startswith(f"genaug fit: error: cannot write {out / 'checkpoints' / 'step_00000004'}: ")
    assert "--resume continues from" in line and "step_00000002" in line  # what to do next
    if isinstance(error, SafetensorError):
        assert "No space left on device; the disk is full: free some space" in line
    assert leftovers(out) == []
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step_00000002"]  # the complete one stays
    assert not (out / "model.safetensors").exists()
    monkeypatch.undo()  # space freed: the run continues from its checkpoint
    assert fit(out, ["--family", family[1]], "--resume") == 0
    assert genaug.load(out).family == family[1]


def test_the_final_model_on_a_full_disk_is_one_line_and_leaves_no_half_model(tmp_path, capsys, monkeypatch):
    fail_nth(monkeypatch, safetensors.torch, "save_file", SafetensorError(FULL))  # save_weights' model.safetensors
    out = tmp_path / "run"
    assert fit(out, GMM) == 2
    line = the_error_line(capsys.readouterr().err, "fit")
    assert line.startswith(f"genaug fit: error: cannot write {out / 'model.safetensors'}: No space left on device")
    assert leftovers(out) == [] and not (out / "model.safetensors").exists() and not (out / "config.json").exists()


def test_weights_without_their_config_are_removed(tmp_path, gmm_dir, monkeypatch):
    model = genaug.load(gmm_dir)
    folder = tmp_path / "m"
    model.save_pretrained(folder)
    real_replace = os.replace

    def replace(src, dst):
        if Path(dst).name == "config.json":
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(WriteError, match="config.json: Read-only file system; the file system is read-only") as caught:
        model.save_pretrained(folder)
    assert caught.value.errno == errno.EROFS and isinstance(caught.value, OSError)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json"]  # the old config, no weights: load says so
    with pytest.raises(FileNotFoundError, match="model was not saved completely"):
        genaug.load(folder)


def test_an_interrupted_save_leaves_nothing_half_written_and_exits_130(tmp_path, capsys, monkeypatch):
    fail_nth(monkeypatch, safetensors.torch, "save_file", KeyboardInterrupt())
    out = tmp_path / "run"
    assert fit(out, GMM) == 130
    line = the_error_line(capsys.readouterr().err, "fit")
    assert "interrupted; the files written so far are complete; the same command with --resume continues from" in line
    assert leftovers(out) == [] and not (out / "model.safetensors").exists()


def test_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    fail_nth(monkeypatch, safetensors.torch, "save_file", SafetensorError(FULL))
    assert main(["--debug", "fit", "--data", "digits", *GMM, "--steps", "2", "--out", str(tmp_path / "r"),
                 "--train", "progress=false", "checkpoint_every=0"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "SafetensorError" in err and err.rstrip().splitlines()[-1].startswith("genaug fit: error: cannot write")


def test_a_failed_metrics_append_leaves_the_log_as_it_was(tmp_path, monkeypatch):
    log = tmp_path / "metrics.jsonl"
    append_line(log, json.dumps({"step": 1}))
    import genaug.utils.io as io_module

    class HalfFile:
        """A file that takes 5 bytes of a write, then reports a full disk."""

        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def seek(self, *args):
            return self.f.seek(*args)

        def fileno(self):
            return self.f.fileno()

        def write(self, data):
            if len(data) > 5:
                return self.f.write(data[:5])
            raise enospc()

    monkeypatch.setattr(io_module, "open", lambda *a, **k: HalfFile(open(*a, **k)), raising=False)
    with pytest.raises(WriteError, match="metrics.jsonl: No space left on device"):
        append_line(log, json.dumps({"step": 2, "loss": 0.5}))
    assert log.read_text() == '{"step": 1}\n'


# ---------------------------------------------------------------------- sample, apply, a recipe's report
@pytest.fixture(scope="module")
def gmm_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("gmm")
    genaug.fit("digits", "gmm", steps=2, out=out, reg_covar=0.01, shrinkage=0.0, train={"checkpoint_every": 0, "progress": False})
    return out


def test_sample_on_a_full_disk(gmm_dir, tmp_path, capsys, monkeypatch):
    fail_nth(monkeypatch, np, "savez", enospc(), target_arg=0)
    out = tmp_path / "s" / "x.npz"
    assert main(["sample", str(gmm_dir), "-n", "5", "--out", str(out)]) == 2
    line = the_error_line(capsys.readouterr().err, "sample")
    assert line == f"genaug sample: error: cannot write {out}: No space left on device; the disk is full: free some space or write to another disk"
    assert list((tmp_path / "s").iterdir()) == []


@pytest.mark.parametrize(
    "code, advice",
    [
        (errno.EROFS, "Read-only file system; the file system is read-only: write to another folder"),
        (errno.EACCES, "Permission denied; no permission to write there"),
    ],
)
def test_sample_into_a_read_only_folder(gmm_dir, tmp_path, capsys, monkeypatch, code, advice):
    import tempfile

    real = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).name == "ro":
            raise OSError(code, os.strerror(code), str(dir))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    (tmp_path / "ro").mkdir()
    assert main(["sample", str(gmm_dir), "-n", "5", "--out", str(tmp_path / "ro" / "x.npz")]) == 2
    assert the_error_line(capsys.readouterr().err, "sample").endswith(f"x.npz: {advice}" + (": write to another folder or change its permissions" if code == errno.EACCES else ""))
    assert list((tmp_path / "ro").iterdir()) == []


def test_sample_into_a_folder_that_vanishes(gmm_dir, tmp_path, capsys, monkeypatch):
    real = os.replace

    def replace(src, dst):
        shutil.rmtree(Path(dst).parent)  # deleted (or unmounted) while the file was being written
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    out = tmp_path / "gone" / "x.npz"
    assert main(["sample", str(gmm_dir), "-n", "5", "--out", str(out)]) == 2
    line = the_error_line(capsys.readouterr().err, "sample")
    assert line.endswith(f"{out}: No such file or directory; its folder vanished (deleted or unmounted) while genaug wrote: create it again or write elsewhere")


@pytest.fixture(scope="module")
def superres_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("superres")
    (root / "photos").mkdir()
    Image.fromarray((np.random.default_rng(0).random((24, 24, 3)) * 255).astype(np.uint8)).save(root / "photos" / "a.png")
    assert main(["fit", "--data", str(root / "photos"), "--task", "superres", "--patch-size", "8", "--patches", "8", "--steps", "1",
                 "--set", "channels=4", "blocks=1", "--out", str(root / "m"), "--train", "progress=false", "checkpoint_every=0"]) == 0
    return root


def test_apply_on_a_full_disk_keeps_only_complete_images(superres_dir, tmp_path, capsys, monkeypatch):
    for name in ("a", "b", "c"):
        Image.fromarray(np.zeros((6, 7, 3), np.uint8)).save(tmp_path / f"{name}.png")
    fail_nth(monkeypatch, Image.Image, "save", enospc(), nth=2)  # the second image's file
    out = tmp_path / "out"
    assert main(["apply", str(superres_dir / "m"), str(tmp_path), "--out", str(out)]) == 2
    line = the_error_line(capsys.readouterr().err, "apply")
    assert line.startswith(f"genaug apply: error: cannot write {out / 'b.png'}: No space left on device")
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]  # written whole before the disk filled up
    assert Image.open(out / "a.png").size == (14, 12)


def test_a_recipe_report_on_a_full_disk_and_the_rerun_that_finishes_it(tmp_path, capsys, monkeypatch):
    recipe = {
        "name": "tiny",
        "data": {"source": "wine"},
        "subset": {"shots": 10},
        "generator": {"family": "gmm", "config": {"reg_covar": 0.01, "shrinkage": 0.0}, "train": {"steps": 2, "checkpoint_every": 0, "sample_every": 0}},
        "downstream": {"steps": 5, "log_every": 5},
        "evaluation": {"enabled": False},
        "arms": ["none", "generative"],
        "seeds": [0],
        "output": str(tmp_path / "out"),
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(recipe))
    real = os.replace

    def replace(src, dst):
        if Path(dst).name == "report.html":
            raise enospc(dst)
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    assert main(["run", str(path), "-q"]) == 2
    line = the_error_line(capsys.readouterr().err, "run")
    assert line.startswith(f"genaug run: error: cannot write {tmp_path / 'out' / 'report.html'}: No space left on device")
    assert line.endswith("the same command again continues where this one stopped (finished units are kept)")
    assert leftovers(tmp_path / "out") == [] and not (tmp_path / "out" / "report.html").exists()
    monkeypatch.undo()
    assert main(["run", str(path), "-q"]) == 0
    assert (tmp_path / "out" / "report.html").is_file()


# ---------------------------------------------------------------------- generate_dataset
def test_generate_dataset_on_a_full_disk_keeps_the_old_dataset(gmm_dir, tmp_path, monkeypatch):
    from genaug.hf import generate_dataset

    digits_model = genaug.load(gmm_dir)
    target = tmp_path / "ds"
    generate_dataset(digits_model, 20, target, chunk_size=8)
    before = sorted(p.name for p in target.iterdir())
    real = os.replace

    def replace(src, dst):
        if Path(dst) == target and Path(src).suffix == ".tmp":  # the new folder's rename into place
            raise enospc(dst)
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(WriteError, match=f"cannot write {target}: No space left on device"):
        generate_dataset(digits_model, 30, target, chunk_size=8, overwrite=True)
    assert sorted(p.name for p in target.iterdir()) == before and leftovers(tmp_path) == []
    monkeypatch.undo()
    assert len(genaug.load_source(str(target))) == 20  # still the old one, whole


def test_atomic_write_keeps_the_old_file_when_the_disk_fills_up(tmp_path, monkeypatch):
    path = tmp_path / "a.txt"
    atomic_write_text(path, "old")
    monkeypatch.setattr(Path, "write_bytes", lambda self, data: (_ for _ in ()).throw(enospc()))
    with pytest.raises(WriteError, match="a.txt: No space left on device"):
        atomic_write_text(path, "new")
    assert path.read_text() == "old" and leftovers(tmp_path) == []
    with pytest.raises(WriteError):
        save_weights(tmp_path / "w", {"a": torch.zeros(2)}, {"format": "x"}, metadata={})
    assert not (tmp_path / "w" / "model.safetensors").exists()


# ---------------------------------------------------------------------- a real full disk
UNSHARE = shutil.which("unshare")


def _can_mount() -> bool:
    if UNSHARE is None or sys.platform != "linux":
        return False
    probe = subprocess.run([UNSHARE, "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"], capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.skipif(not _can_mount(), reason="needs user and mount namespaces (unshare -rm) to mount a small tmpfs")
def test_a_real_full_tmpfs(gmm_dir, tmp_path):
    """A fit (its first checkpoint) and a sample on tmpfs disks too small for them: one line, exit 2, only complete files."""
    disks = {"fit": tmp_path / "fit", "sample": tmp_path / "sample"}
    script = textwrap.dedent(
        f"""
        import contextlib, io, json, pathlib, subprocess
        from genaug.cli import main
        runs = {{
            "fit": ["fit", "--data", "digits", "--family", "vae", "--set", "latent_dim=2", "--steps", "2", "--out", {str(disks["fit"] / "run")!r},
                    "--train", "progress=false", "checkpoint_every=2", "sample_every=0", "val_fraction=0"],
            "sample": ["sample", {str(gmm_dir)!r}, "-n", "2000", "--out", {str(disks["sample"] / "x.npz")!r}],
        }}
        results = {{}}
        for name, argv in runs.items():
            disk = pathlib.Path({str(tmp_path)!r}) / name
            disk.mkdir()
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(disk)], check=True)
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                code = main(argv)
            results[name] = {{"code": code, "err": err.getvalue(), "files": sorted(str(p.relative_to(disk)) for p in disk.rglob("*"))}}
        print(json.dumps(results))
        """
    )
    done = subprocess.run([UNSHARE, "-rm", sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.strip().splitlines()[-1])
    for name, path in [("fit", disks["fit"] / "run" / "checkpoints" / "step_00000002"), ("sample", disks["sample"] / "x.npz")]:
        result = results[name]
        assert result["code"] == 2, result
        line = the_error_line(result["err"], name)
        assert line.startswith(f"genaug {name}: error: cannot write {path}: No space left on device; the disk is full"), line
        assert not any(".tmp" in f or Path(f).name.startswith(".") for f in result["files"]), result["files"]
