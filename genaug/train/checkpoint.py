"""Checkpoint folders: Accelerate's ``save_state`` plus genaug's own state, written atomically.

A checkpoint is ``<out>/checkpoints/step_<N>/``: Accelerate writes the prepared model, optimizers
and RNG states (loaded back with torch's ``weights_only`` loader, which runs no pickled code);
genaug adds the model when Accelerate did not prepare it (closed-form families such as EM), the
EMA and best weights as safetensors, and ``trainer_state.json``. Nothing here is registered as
an Accelerate custom object, because those are loaded with full unpickling.

The folder is written under a temporary name and renamed when complete, and an old one is renamed
away before it is deleted, so an interrupted save (even by kill -9) never leaves a checkpoint that
looks valid; a resumed run deletes such temporary folders.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from genaug.utils.io import read_json

__all__ = ["TrainerState", "latest_checkpoint", "list_checkpoints", "load_tensors", "save_tensors"]

_NAME = re.compile(r"^step_(\d{8})$")


@dataclass
class TrainerState:
    """What the loop needs beyond weights to continue exactly where it stopped."""

    step: int = 0  # optimizer updates done
    best_val: float | None = None  # best validation loss seen
    best_step: int | None = None  # the step that reached it
    evals_since_best: int = 0  # validations without improvement (early stopping)
    ema_updates: int = 0  # EMA warm-up position
    finished: bool = False  # the run reached its end (steps, early stop or convergence)
    scalers: list[dict] | None = None  # fp16: the loss scalers' states, one per optimizer group

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def read(cls, path: Path) -> TrainerState:
        try:
            return cls(**read_json(path, what="trainer state"))
        except ValueError as err:
            raise ValueError(f"{err}; delete this checkpoint to fall back to an older one") from None
        except (OSError, TypeError) as err:
            raise ValueError(f"{path}: corrupt trainer state ({err}); delete this checkpoint to fall back to an older one") from None


def list_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoint folders under ``root``, oldest first."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and _NAME.match(p.name)]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))


def latest_checkpoint(root: Path) -> Path | None:
    found = list_checkpoints(root)
    return found[-1] if found else None


def checkpoint_name(step: int) -> str:
    return f"step_{step:08d}"


def save_tensors(path: Path, state: dict[str, torch.Tensor]) -> None:
    save_file({k: v.detach().cpu().clone().contiguous() for k, v in state.items()}, str(path))


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{path}: corrupt checkpoint file ({err})") from None


def finalize(tmp: Path, final: Path, keep: int) -> None:
    """Move a completed temporary checkpoint into place and drop the oldest beyond ``keep``."""
    if final.exists():
        _drop(final)
    os.replace(tmp, final)
    for old in list_checkpoints(final.parent)[:-keep]:
        with contextlib.suppress(OSError):  # an old checkpoint that stays is no reason to fail this save
            _drop(old)


def _drop(folder: Path) -> None:
    """Delete a checkpoint folder; renamed out of the ``step_*`` names first, so a kill mid-way leaves no half checkpoint."""
    trash = folder.with_name(f".tmp-drop-{folder.name}")
    shutil.rmtree(trash, ignore_errors=True)
    os.replace(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)
