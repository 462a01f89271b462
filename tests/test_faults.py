"""Kill -9 at chosen points of a fit, of `generate_dataset` and of `genaug run`; the rerun finishes the work exactly.

Each killed run is a subprocess of ``tests/_faults.py``, which sends itself SIGKILL at the point (no
``finally`` block runs). A reader then finds the model folder absent or loadable, only complete
``checkpoints/step_*`` and the dataset absent or whole; the rerun (``--resume`` for fits) ends with
weights bit-identical to an uninterrupted run's. benchmarks/bench_faults.py runs every kill point.
"""

from __future__ import annotations

import json

import datasets
import pytest
import yaml
from _faults import (
    DATASET_POINTS,
    FAMILIES,
    FIT_POINTS,
    RECIPE,
    RUN_POINTS,
    TRAIN,
    dataset_problems,
    differing_tensors,
    fit_problems,
    hidden,
    parse_spec,
    run_killed,
    run_problems,
    same_dataset,
    without_output,
)

from genaug.cli import main
from genaug.hf import generate_dataset

# validation (best weights) and EMA on, so a checkpoint holds every kind of state a resume restores


def fit_args(family: str, out) -> list[str]:
    return ["fit", "--data", "digits", *FAMILIES[family], "--steps", "8", "--batch-size", "16", "--seed", "0", *TRAIN, "--out", str(out)]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """``family -> (run folder, file names of its checkpoints)`` of fits nobody killed, made on first use."""
    runs = {}

    def get(family: str):
        if family not in runs:
            out = tmp_path_factory.mktemp(f"{family}-full")
            assert main(fit_args(family, out)) == 0
            newest = max((out / "checkpoints").glob("step_*"))
            runs[family] = out, {p.name for p in newest.iterdir()}
        return runs[family]

    return get


def test_a_kill_spec_names_a_target_and_when():
    point = parse_spec("target=os.replace,nth=2,when=after,match=.tmp-step_")
    assert (point.target, point.nth, point.when, point.match) == ("os.replace", 2, "after", ".tmp-step_")
    for bad in ("nth=2", "target=os.replace,when=during", "target=os.replace,at=2"):
        with pytest.raises(ValueError, match="kill spec"):
            parse_spec(bad)


@pytest.mark.slow
@pytest.mark.parametrize(
    "family, point",
    [("vae", "inside save_state"), ("vae", "weights written, config not"), ("gan", "dropping an old checkpoint")],
)
def test_a_fit_killed_resumes_to_the_same_weights(tmp_path, uninterrupted, family, point):
    full, files = uninterrupted(family)
    out = tmp_path / "run"
    killed = run_killed([FIT_POINTS[point]], fit_args(family, out))
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert fit_problems(out, files) == []
    if point == "inside save_state":  # the half-written checkpoint exists, under its temporary name only
        assert hidden(out / "checkpoints") == [".tmp-step_00000004"]
        assert (out / "checkpoints" / ".tmp-step_00000004" / "model.safetensors").is_file()
    if point == "weights written, config not":
        assert (out / "model.safetensors").is_file() and not (out / "config.json").exists()
    assert main([*fit_args(family, out), "--resume"]) == 0
    assert fit_problems(out, files) == [] and hidden(out) == []  # the resumed run removed the killed one's temporaries
    assert differing_tensors(full / "model.safetensors", out / "model.safetensors") == []


@pytest.mark.slow
def test_generate_dataset_killed_while_replacing_a_dataset_reruns_to_the_same_rows(tmp_path, uninterrupted):
    model, _ = uninterrupted("vae")
    reference = generate_dataset(str(model), 40, tmp_path / "reference", chunk_size=16)
    path = tmp_path / "synthetic"
    previous = generate_dataset(str(model), 20, path, chunk_size=16)
    command = ["generate_dataset", str(model), str(path), "40", "16", "--overwrite"]
    killed = run_killed([DATASET_POINTS["overwrite: old moved away, new not in place"]], command)
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert not path.exists()  # the old dataset moved aside, the new one not yet in place: a reader finds none
    assert dataset_problems(path, reference, previous) == []
    with pytest.raises(FileExistsError, match="put back from an overwrite that was interrupted"):
        generate_dataset(str(model), 40, path, chunk_size=16)  # without overwrite: the old dataset back, untouched
    assert same_dataset(datasets.load_from_disk(str(path)), previous)
    rerun = generate_dataset(str(model), 40, path, chunk_size=16, overwrite=True)
    assert same_dataset(rerun, reference) and same_dataset(datasets.load_from_disk(str(path)), reference)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # the killed write's folders are gone




@pytest.mark.slow
def test_a_recipe_run_killed_in_its_generator_fit_reruns_to_the_same_results(tmp_path):
    recipe = tmp_path / "faults.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    full, out = tmp_path / "full", tmp_path / "killed"
    assert main(["run", str(recipe), "--out", str(full), "-q"]) == 0
    generator = "k10/seed0/generator"
    files = {p.name for p in max((full / generator / "checkpoints").glob("step_*")).iterdir()}
    killed = run_killed([RUN_POINTS["generator fit, between steps"]], ["run", str(recipe), "--out", str(out), "-q"])
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert run_problems(out, files) == [] and not (out / "metrics.json").exists()
    assert [p.name for p in (out / generator / "checkpoints").iterdir()] == ["step_00000002"]  # what the rerun resumes from
    assert main(["run", str(recipe), "--out", str(out), "-q"]) == 0
    for name in ("fit.json", "arms/none.json", "arms/generative.json"):
        path = f"k10/seed0/{name}"
        assert json.loads((out / path).read_text()) == json.loads((full / path).read_text()), name
    assert without_output(json.loads((out / "metrics.json").read_text())) == without_output(json.loads((full / "metrics.json").read_text()))
    assert differing_tensors(full / generator / "model.safetensors", out / generator / "model.safetensors") == []
