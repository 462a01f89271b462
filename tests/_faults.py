"""Fault-injection driver: run a genaug command that kills itself with SIGKILL at a chosen point.

    python tests/_faults.py KILL_SPEC [KILL_SPEC ...] -- fit --data digits --out runs/x ...
    python tests/_faults.py KILL_SPEC -- generate_dataset MODEL_DIR PATH N [CHUNK_SIZE] [--overwrite]

A KILL_SPEC is ``key=value`` pairs joined by commas:

- ``target``: a dotted name to wrap, a module function or a class attribute
  (``genaug.train.trainer.Trainer._step``, ``accelerate.checkpointing.save``, ``os.replace``);
- ``nth``: the call that kills (default 1), counted among the calls that ``match``;
- ``when``: ``before`` the real call runs (default) or ``after`` it returned;
- ``match``: only calls whose arguments, as text, contain this string count (e.g. ``config.json``).

The process sends itself ``SIGKILL``: no ``finally`` block, no ``atexit`` handler and no buffered
write runs, as when the machine's OOM killer or ``kill -9`` ends a run. Production code carries no
hook for this; the driver only wraps names before ``genaug.cli.main`` (or `generate_dataset`) runs.
Any other command line is handed to ``genaug.cli.main`` as it is.

The rest of the module is what tests/test_faults.py and benchmarks/bench_faults.py share: the kill
points of a fit, a recipe run and `generate_dataset`, `run_killed`, and the checks a reader would
make of what a killed run left (`fit_problems`, `run_problems`, `dataset_problems`).
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DATASET_POINTS",
    "FAMILIES",
    "FIT_POINTS",
    "RECIPE",
    "RUN_POINTS",
    "TRAIN",
    "KillPoint",
    "dataset_problems",
    "differing_tensors",
    "fit_problems",
    "hidden",
    "main",
    "parse_spec",
    "run_killed",
    "run_problems",
    "same_dataset",
    "without_output",
]


@dataclass
class KillPoint:
    """Where a run kills itself: the ``nth`` matching call of ``target``, ``before`` or ``after`` it runs."""

    target: str
    nth: int = 1
    when: str = "before"
    match: str | None = None

    def install(self) -> None:
        owner, name = _resolve(self.target)
        real = getattr(owner, name)
        seen = 0

        @functools.wraps(real)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            nonlocal seen
            if self.match is not None and self.match not in _text(args, kwargs):
                return real(*args, **kwargs)
            seen += 1
            fatal = seen == self.nth  # this call's number, whatever calls the real one makes in turn
            if fatal and self.when == "before":
                _die()
            result = real(*args, **kwargs)
            if fatal:
                _die()
            return result

        setattr(owner, name, wrapper)


def parse_spec(text: str) -> KillPoint:
    """``"target=os.replace,nth=2,when=after,match=.tmp-step_"`` -> a `KillPoint`."""
    fields: dict[str, Any] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or key not in ("target", "nth", "when", "match"):
            raise ValueError(f"kill spec: expected target=...,nth=...,when=...,match=..., got {text!r}")
        fields[key] = int(value) if key == "nth" else value
    if "target" not in fields:
        raise ValueError(f"kill spec: {text!r} names no target")
    if fields.get("when", "before") not in ("before", "after"):
        raise ValueError(f"kill spec: when must be before or after, got {fields['when']!r}")
    return KillPoint(**fields)


def _resolve(dotted: str) -> tuple[Any, str]:
    """The object holding the last name of ``dotted`` (a module or a class) and that name."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:-1]:
            owner = getattr(owner, attr)
        if not hasattr(owner, parts[-1]):
            raise ValueError(f"kill spec: {dotted!r} does not exist")
        return owner, parts[-1]
    raise ValueError(f"kill spec: no module in {dotted!r}")


def _text(args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    return " ".join(str(a) for a in (*args, *kwargs.values()) if isinstance(a, str | bytes | os.PathLike))


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


# ---------------------------------------------------------------------- what the tests and the benchmark share
# tiny fits of 8 steps that checkpoint every 2 (the kill points below count on it)
FAMILIES = {
    "vae": ["--family", "vae", "--set", "latent_dim=2", "channels=4", "hidden=8", "iw_samples=1", "depth=1"],
    "gan": ["--family", "gan", "--set", "latent_dim=2", "channels=4", "label_dim=2", "depth=1"],
}
TRAIN = ["--train", "cpu=true", "progress=false", "checkpoint_every=2", "keep_checkpoints=2", "sample_every=3", "log_every=1", "eval_every=2"]

# a recipe of one tiny vae fit and two arms on wine: what `genaug run` is killed in
RECIPE = {
    "name": "faults",
    "data": {"source": "wine"},
    "subset": {"shots": 10},
    "generator": {
        "family": "vae",
        "config": {"latent_dim": 2, "hidden": 8, "iw_samples": 1},
        "train": {"steps": 6, "batch_size": 16, "checkpoint_every": 2, "sample_every": 0, "eval_every": 2, "log_every": 1, "cpu": True},
    },
    "downstream": {"steps": 5, "log_every": 5},
    "evaluation": {"enabled": False},
    "arms": ["none", "generative"],
    "seeds": [0],
}

DRIVER = Path(__file__).resolve()

# Kill points of a fit of 8 steps with checkpoint_every=2 and keep_checkpoints=2, for any family.
FIT_POINTS: dict[str, str] = {
    # steps 1-3 done, the newest checkpoint is step 2
    "between steps": "target=genaug.train.trainer.Trainer._step,nth=4",
    # the checkpoint of step 4 half written by acc.save_state: the model, not the optimizers
    "inside save_state": "target=accelerate.checkpointing.save,match=.tmp-step_00000004,when=after",
    # the checkpoint of step 4 complete under its temporary name, not renamed
    "before the checkpoint rename": "target=os.replace,match=.tmp-step_00000004",
    # step 6 renamed into place; the oldest (step 2) half deleted
    "dropping an old checkpoint": "target=os.unlink,match=optimizer.bin,when=after",
    # the final model.safetensors written under its temporary name, not renamed
    "inside the final weights": "target=safetensors.torch.save_file,match=.model.safetensors.,when=after",
    # the final model.safetensors in place, config.json not written
    "weights written, config not": "target=genaug.utils.io.atomic_write_json,match=config.json",
    # the model folder complete; the run ends before its last sample grid and log lines
    "after the final save": "target=genaug.models.base.save_weights,when=after",
}

# Kill points of `genaug run` on a recipe whose generator fits 6 steps with checkpoint_every=2.
RUN_POINTS: dict[str, str] = {
    "generator fit, between steps": "target=genaug.train.trainer.Trainer._step,nth=4",
    "generator saved, unit not stored": "target=genaug.models.base.save_weights,when=after",
    "fit unit stored": "target=genaug.recipes.runner.Unit.run_if_needed,nth=1,when=after",
    "training the second arm": "target=genaug.recipes.runner.Cell.train_arm,nth=2",
    "writing metrics.json": "target=genaug.utils.io.atomic_write_json,match=metrics.json",
}

# Kill points of `generate_dataset` (rows in chunks of CHUNK, so several chunks per dataset).
DATASET_POINTS: dict[str, str] = {
    "between chunks": "target=genaug.hf._dataset._TableLayout.encode,nth=2",
    "shards written, metadata not": "target=genaug.hf._dataset._write_metadata",
    "complete, not renamed": "target=genaug.hf._dataset._move_into_place",
    "overwrite: old moved away, new not in place": "target=os.replace,match=.old,when=after",
}


def run_killed(points: Sequence[str], command: Sequence[str], *, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``command`` (a genaug command line, or ``generate_dataset ...``) under the driver with ``points`` armed.

    On the CPU, with as many torch threads as this process uses: a run finished here continues it exactly.
    """
    import torch

    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": str(torch.get_num_threads())}
    return subprocess.run(
        [sys.executable, str(DRIVER), *points, "--", *command], check=False, capture_output=True, text=True, env=env, timeout=timeout
    )


def hidden(root: Path) -> list[str]:
    """Names no reader looks at: temporary files and folders of interrupted writes (``.NAME...``)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob(".*"))


def differing_tensors(a: Path, b: Path) -> list[str]:
    """Names of the tensors of two safetensors files that are not bit-identical (missing ones included)."""
    import torch
    from safetensors.torch import load_file

    ta, tb = load_file(str(a)), load_file(str(b))
    return sorted(k for k in ta.keys() | tb.keys() if k not in ta or k not in tb or not torch.equal(ta[k], tb[k]))


def fit_problems(out: Path, checkpoint_files: set[str]) -> list[str]:
    """What a reader of a (killed) fit's run folder would trip on; hidden temporary names are not looked at.

    The model folder is absent or loads (weights alone, without their config.json, are read as no
    model; they must still be a whole file); every ``checkpoints/step_*`` holds ``checkpoint_files``,
    each readable; every JSON file and metrics line parses; every sample grid decodes.
    """
    from PIL import Image
    from safetensors.torch import load_file

    import genaug
    from genaug.train.checkpoint import TrainerState, list_checkpoints

    problems = []

    def check(what: Path, read: Callable[[Path], Any]) -> None:
        try:
            read(what)
        except Exception as err:  # noqa: BLE001 - any failure to read is the finding
            problems.append(f"{what.relative_to(out)}: {type(err).__name__}: {err}")

    if (out / "config.json").exists():
        check(out, genaug.load)
    if (out / "model.safetensors").exists():
        check(out / "model.safetensors", lambda p: load_file(str(p)))
    for path in [out / "run.json", *(out / "checkpoints").glob("step_*/trainer_state.json")]:
        if path.exists():
            check(path, lambda p: json.loads(p.read_text()))
    if (out / "metrics.jsonl").exists():
        check(out / "metrics.jsonl", lambda p: [json.loads(line) for line in p.read_text().splitlines()])
    for grid in (out / "samples").glob("[!.]*"):
        check(grid, lambda p: Image.open(p).load())
    root = out / "checkpoints"
    complete = list_checkpoints(root)
    for folder in complete:
        names = {p.name for p in folder.iterdir()}
        if names != checkpoint_files:
            problems.append(f"{folder.relative_to(out)}: holds {sorted(names)}, not {sorted(checkpoint_files)}")
            continue
        for file in folder.glob("*.safetensors"):
            check(file, lambda p: load_file(str(p)))
        check(folder / "trainer_state.json", TrainerState.read)
    if root.is_dir():
        problems += [f"checkpoints/{p.name}: neither a checkpoint nor hidden" for p in root.iterdir()
                     if p not in complete and not p.name.startswith(".")]
    return problems


def run_problems(out: Path, checkpoint_files: set[str]) -> list[str]:
    """A (killed) recipe run's folder as a reader finds it: every JSON file parses, every generator run folder passes `fit_problems`."""
    problems = []
    for path in out.rglob("[!.]*.json"):
        if not any(part.startswith(".") for part in path.relative_to(out).parts):
            try:
                json.loads(path.read_text())
            except (OSError, ValueError) as err:
                problems.append(f"{path.relative_to(out)}: {type(err).__name__}: {err}")
    for run in out.rglob("run.json"):
        problems += [f"{run.parent.relative_to(out)}/{p}" for p in fit_problems(run.parent, checkpoint_files)]
    return problems


def dataset_problems(path: Path, *acceptable: Any) -> list[str]:
    """A (killed) `generate_dataset`'s folder as a reader finds it: absent, or a dataset equal to one of ``acceptable``."""
    import datasets

    if not path.exists():
        return []
    try:
        found = datasets.load_from_disk(str(path))
    except Exception as err:  # noqa: BLE001 - any failure to read is the finding
        return [f"{path.name}: {type(err).__name__}: {err}"]
    if not any(same_dataset(found, other) for other in acceptable):
        return [f"{path.name}: {len(found)} rows, equal to no complete dataset"]
    return []


def same_dataset(a: Any, b: Any) -> bool:
    """Two `datasets.Dataset`s hold the same rows, columns and fingerprint."""
    return a._fingerprint == b._fingerprint and a.features == b.features and a.data.table.equals(b.data.table)


def without_output(metrics: dict[str, Any]) -> dict[str, Any]:
    """A recipe's metrics.json without the one field that names its output folder."""
    return {**metrics, "recipe": {k: v for k, v in metrics["recipe"].items() if k != "output"}}


def _generate_dataset(argv: Sequence[str]) -> int:
    """``generate_dataset MODEL_DIR PATH N [CHUNK_SIZE] [--overwrite]``: the dataset writer, for the kill points inside it."""
    from genaug.hf import generate_dataset

    overwrite = "--overwrite" in argv
    model, path, n, *rest = [a for a in argv if a != "--overwrite"]
    generate_dataset(model, int(n), path, chunk_size=int(rest[0]) if rest else 10_000, overwrite=overwrite)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        raise SystemExit("usage: python tests/_faults.py KILL_SPEC [KILL_SPEC ...] -- COMMAND ...")
    cut = argv.index("--")
    points, command = [parse_spec(s) for s in argv[:cut]], argv[cut + 1 :]
    run: Callable[[Sequence[str]], int]
    if command[:1] == ["generate_dataset"]:
        run, command = _generate_dataset, command[1:]
    else:
        from genaug.cli import main as run
    for point in points:
        point.install()
    return run(command)


if __name__ == "__main__":
    sys.exit(main())
