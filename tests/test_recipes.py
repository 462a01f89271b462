"""Recipes end to end: validation before training, tiny runs for images and vectors, resume, reproducibility, no leakage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import genaug
from genaug.recipes import RecipeError, labelled_subset, load_recipe, run
from genaug.recipes import runner as runner_module

REPO = Path(__file__).resolve().parent.parent
FAST_GMM = {"family": "gmm", "train": {"steps": 5, "checkpoint_every": 0, "sample_every": 0}, "pool_batch": 128}


def tiny(out: Path, **overrides) -> dict:
    """A recipe that runs in seconds: a 5-step gmm, 40-step classifiers, one seed."""
    recipe = {
        "name": "tiny",
        "data": {"source": "digits"},
        "subset": {"shots": 10},
        "generator": FAST_GMM,
        "classic": {"transforms": [{"RandomAffine": {"degrees": 10, "translate": [0.125, 0.125]}}]},
        "downstream": {"steps": 40, "log_every": 10},
        "evaluation": {"enabled": False},
        "arms": ["none", "classic", "generative", "classic+generative"],
        "seeds": [0],
        "output": str(out),
    }
    recipe.update(overrides)
    return recipe


# ---------------------------------------------------------------------- invalid recipes: one clear error, nothing trained
@pytest.mark.parametrize(
    "change, message",
    [
        ({"generator": {"family": "vea"}}, f"generator.family: unknown family 'vea'; expected one of {genaug.families()}"),
        ({"injection": {"ratio": -0.5}}, "injection.ratio: Input should be greater than or equal to 0 (got -0.5)"),
        ({"data": {"test_size": 0.5}}, "data.source: missing; expected digits, wine, breast_cancer"),
        ({"generatr": FAST_GMM}, "generatr: unknown key (did you mean 'generator'?); allowed keys: name, data,"),
        ({"generator": {"famly": "gmm"}}, "generator.famly: unknown key (did you mean 'family'?); allowed keys: family, config,"),
        ({"generator": {"family": "vae", "config": {"latent_dimm": 4}}}, "generator.config.latent_dimm: unknown key (did you mean 'latent_dim'?)"),
        ({"generator": {"train": {"stepz": 4}}}, "generator.train.stepz: unknown key (did you mean 'steps'?)"),
        ({"filters": [{"name": "near_copy", "treshold": 0.2}]}, "filters.0.treshold: unknown key (did you mean 'threshold'?); allowed keys: name, threshold"),
        ({"filters": [{"name": "nearcopy"}]}, "filters.0.name: expected near_copy, likelihood or confidence (got 'nearcopy')"),
        ({"arms": ["none", "clasic"]}, "arms.1: unknown arm 'clasic' (did you mean 'classic'?); expected one of none, classic, generative, classic+generative, smote, kde, or generative:<variant>"),
        ({"arms": ["none", "generative:gmm"]}, "arms: 'generative:gmm' names the variant 'gmm', which is not among variants []"),
        ({"arms": ["none", "classic:gmm"], "variants": {"gmm": {}}}, "arms.1: unknown arm 'classic:gmm'"),
        ({"variants": {"a/b": {}}}, "variants: 'a/b': expected a name of letters, digits"),
        ({"injection": {"sampling": {"temperature": 1.0}}}, "injection.sampling: temperature: not a sampling option of the 'gmm' family; it takes none"),
        ({"generator": {"family": "vae"}, "injection": {"sampling": {"temprature": 0.5}}}, "injection.sampling: temprature: not a sampling option of the 'vae' family (did you mean 'temperature'?)"),
        ({"generator": {"family": "vae"}, "injection": {"sampling": {"temperature": -1}}}, "injection.sampling.temperature: Input should be greater than 0 (got -1)"),
        ({"injection": {"sampler": "interpolate", "sampling": {"x": 1}}}, "injection.sampling: options of the generator's own draws; sampler 'interpolate'"),
        ({"variants": {"v": {"generator": {"famly": "gmm"}}}}, "variants.v.generator.famly: unknown key (did you mean 'family'?)"),
        ({"variants": {"v": {"generator": {"fit_on": "classic"}}}, "classic": None, "arms": ["none"]}, "variants.v.generator.fit_on: 'classic' needs a classic section"),
        ({"generator": {**FAST_GMM, "unlabelled": "pseudo_label"}, "subset": {"shots": "all"}}, "generator.unlabelled: subset.shots 'all' labels the whole training part"),
        ({"injection": {"where": "loader"}}, "injection.where: Input should be 'mix', 'transform' or 'hf' (got 'loader')"),
        ({"injection": {"where": "transform", "schedule": "linear_decay"}}, "injection.schedule: 'linear_decay' changes the share per batch, which only where: mix does"),
        ({"injection": {"interpolation_range": [1, 0]}}, "injection.interpolation_range: expected [low, high] with low <= high, got [1.0, 0.0]"),
        ({"injection": {"where": "hf", "mode": "extend"}}, "injection.mode: 'extend' re-cuts the loader's batches, which only where: mix does"),
        ({"injection": {"mode": "extend", "ratio": 1.0}}, "injection.mode: 'extend' keeps every real record, so ratio must be below 1; got ratio: 1.0"),
        ({"injection": {"mode": "extend", "schedule": "linear_decay"}}, "injection.mode: 'extend' re-cuts the batches once, for a constant ratio"),
        ({"variants": {"v": {"injection": {"sampler": "interpolate"}}}, "arms": ["none", "generative:v"]},
         "variants.v.injection.sampler: 'interpolate' needs a family with an encoder (flow, vae); this generator is 'gmm'"),
        ({"subset": {"shots": [5, 0]}}, "subset.shots: expected a positive number of shots per class"),
        ({"classic": None}, "arms: a 'classic' arm needs a classic section"),
        ({"seeds": [0, 0]}, "seeds: values repeat in [0, 0]"),
        ({"downstream": {"model": "resnet"}}, "downstream.model: unknown model 'resnet'"),
    ],
)
def test_invalid_recipe_is_one_error_naming_the_field(tmp_path, change, message):
    recipe = tiny(tmp_path / "out", **change)
    with pytest.raises(RecipeError) as caught:
        run(recipe, progress=False)
    assert message in str(caught.value)
    assert str(caught.value).startswith("recipe: 1 problem")
    assert not (tmp_path / "out").exists()  # refused before anything was written or trained


@pytest.mark.parametrize(
    "change, error, message",
    [
        ({"data": {"source": "no/such/file.npz"}}, FileNotFoundError, "no/such/file.npz"),
        ({"subset": {"shots": 500}}, RecipeError, "subset.shots: 500 per class, but class '0' has only 89 training records"),
        ({"classic": {"transforms": [{"RandomAfine": {}}]}}, RecipeError, "classic.transforms.0: torchvision.transforms.v2 has no transform 'RandomAfine'"),
        ({"classic": {"transforms": [{"RandomAffine": {"degres": 10}}]}}, RecipeError, "classic.transforms.0.RandomAffine:"),
        ({"classic": {"transforms": [{"Resize": {"size": 16}}]}}, RecipeError, "classic.transforms: the chain turns a (1, 8, 8) sample into (1, 16, 16)"),
        ({"downstream": {"model": "no_such_module:net"}}, ValueError, "downstream.model: cannot import 'no_such_module:net'"),
    ],
)
def test_recipe_that_does_not_fit_the_data_fails_before_training(tmp_path, monkeypatch, change, error, message):
    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(runner_module.Cell, "fit", no_training)
    monkeypatch.setattr(runner_module, "train_classifier", no_training)
    with pytest.raises(error) as caught:
        run(tiny(tmp_path / "out", **change), progress=False)
    assert message in str(caught.value)


def test_yaml_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ndata: {source: digits\n")
    with pytest.raises(RecipeError, match="bad.yaml: not valid YAML"):
        load_recipe(path)
    path.write_text("- just\n- a list\n")
    with pytest.raises(RecipeError, match="expected a mapping of sections"):
        load_recipe(path)
    for value in (".inf", ".nan"):  # a number of a recipe is finite: named by its path, not a NaN downstream run
        path.write_text(f"name: x\ndata: {{source: digits}}\ngenerator: {{family: gmm}}\ninjection: {{ratio: {value}}}\narms: [none]\n")
        with pytest.raises(RecipeError, match="injection.ratio: Input should be a finite number"):
            load_recipe(path)


def test_shipped_recipes_are_valid():
    names = sorted(p.stem for p in (REPO / "recipes").glob("*.yaml"))
    assert "quick" in names
    for name in names:
        recipe = load_recipe(REPO / "recipes" / f"{name}.yaml")
        assert recipe.name == name


# ---------------------------------------------------------------------- subsets
def test_labelled_subset_is_per_class_nested_and_seeded(digits):
    five, ten = labelled_subset(digits, 5, seed=3), labelled_subset(digits, 10, seed=3)
    assert np.bincount(digits.y.numpy()[five]).tolist() == [5] * 10
    assert set(five) <= set(ten)
    assert not np.array_equal(five, labelled_subset(digits, 5, seed=4))
    assert len(labelled_subset(digits, "all", seed=0)) == len(digits)


# ---------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("recipe") / "images"
    recipe = tiny(out, evaluation={"enabled": True, "n_per_class": 10}, filters=[{"name": "near_copy"}], seeds=[0, 1])
    return out, recipe, run(recipe, progress=False)


def test_image_recipe_writes_metrics_report_and_pngs(image_run):
    out, recipe, metrics = image_run
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert metrics["arms"] == recipe["arms"] and metrics["shots"] == [10] and metrics["seeds"] == [0, 1]
    assert metrics["data"]["n_train_pool"] == 898 and metrics["data"]["n_test"] == 899
    assert len(metrics["results"]) == 2 * 4 and len(metrics["generators"]) == 2
    for result in metrics["results"]:
        assert 0.3 < result["accuracy"] <= 1.0  # 40 steps on 100 digits: far above chance (0.1)
        assert len(result["per_class"]) == 10
        assert [p["step"] for p in result["curve"]] == [10, 20, 30, 40]
        assert ("filters" in result) == ("generative" in result["arm"])
    generative = [r for r in metrics["results"] if r["arm"] == "generative"]
    assert all(r["filters"][0]["filter"] == "near_copy" and r["filters"][0]["seen"] > 0 for r in generative)
    rows = {(row["shots"], row["arm"]): row for row in metrics["summary"]}
    none = [r["accuracy"] for r in metrics["results"] if r["arm"] == "none"]
    assert rows[(10, "none")]["accuracy_mean"] == pytest.approx(np.mean(none))
    assert rows[(10, "none")]["vs_baseline"] is None and rows[(10, "generative")]["vs_baseline"]["n"] == 2
    for entry in metrics["generators"]:
        assert entry["evaluation"]["n_train"] == 100  # evaluated against the 10-shot subset it was fitted on
        for key in ("grid", "pairs"):
            assert (out / entry[key]).is_file()
    report = (out / "report.html").read_text()
    assert "<table" in report and report.count("data:image/png;base64,") >= 4
    timings = json.loads((out / "timings.json").read_text())
    assert set(timings["units"]) == {f"k10/seed{s}/{u}" for s in (0, 1) for u in ("fit", "evaluate", *recipe["arms"])}


def test_real_report_renders_in_chromium(image_run, tmp_path, chromium_render):
    out, recipe, metrics = image_run
    dom = chromium_render(out / "report.html", tmp_path / "report.png")
    screenshot = np.asarray(Image.open(tmp_path / "report.png").convert("RGB"))
    assert screenshot.shape[1] == 1280 and len(np.unique(screenshot.reshape(-1, 3), axis=0)) > 10
    assert "<table>" in dom and all(f"<td>{arm}</td>" in dom for arm in recipe["arms"])
    assert dom.count("<img") >= 6  # 2 sample grids, 2 pairs, the downstream and generator curves


def test_rerun_skips_finished_units_and_reproduces_metrics(image_run, monkeypatch):
    out, recipe, metrics = image_run

    def no_training(*args, **kwargs):
        raise AssertionError("a finished unit ran again")

    monkeypatch.setattr(runner_module.Cell, "fit", no_training)
    monkeypatch.setattr(runner_module, "train_classifier", no_training)
    assert run(recipe, progress=False) == metrics


def test_same_recipe_and_seeds_give_the_same_metrics(image_run, tmp_path):
    out, recipe, metrics = image_run
    again = run({**recipe, "output": str(tmp_path / "again")}, progress=False)
    assert again["results"] == metrics["results"] and again["summary"] == metrics["summary"]
    assert (tmp_path / "again" / "metrics.json").read_text().replace(str(tmp_path / "again"), "") == (
        (out / "metrics.json").read_text().replace(str(out), "")
    )


def test_interrupted_run_continues_where_it_stopped(tmp_path, monkeypatch):
    recipe = tiny(tmp_path / "cut", arms=["none", "generative"], seeds=[0, 1])
    reference = run({**recipe, "output": str(tmp_path / "whole")}, progress=False)
    real = runner_module.Cell.train_arm

    def crash_on_seed1(self, arm):
        if self.seed == 1 and arm == "generative":
            raise KeyboardInterrupt
        return real(self, arm)

    monkeypatch.setattr(runner_module.Cell, "train_arm", crash_on_seed1)
    with pytest.raises(KeyboardInterrupt):
        run(recipe, progress=False)
    finished = tmp_path / "cut" / "k10" / "seed0" / "arms" / "generative.json"
    stamp = finished.stat().st_mtime_ns
    monkeypatch.undo()
    calls = []
    monkeypatch.setattr(runner_module.Cell, "train_arm", lambda self, arm: calls.append((self.seed, arm)) or real(self, arm))
    assert run(recipe, progress=False)["results"] == reference["results"]
    assert calls == [(1, "generative")] and finished.stat().st_mtime_ns == stamp


def test_editing_the_recipe_reruns_only_what_the_edit_touches(tmp_path, monkeypatch):
    recipe = tiny(tmp_path / "out", arms=["none", "generative"])
    run(recipe, progress=False)
    calls = []
    real = runner_module.Cell.train_arm
    monkeypatch.setattr(runner_module.Cell, "train_arm", lambda self, arm: calls.append(arm) or real(self, arm))
    run({**recipe, "injection": {"ratio": 0.25}}, progress=False)
    assert calls == ["generative"]


@pytest.mark.parametrize("where", ["transform", "hf"])
def test_injection_sites_put_synthetic_samples_into_training(tmp_path, monkeypatch, where):
    seen = []
    real = runner_module.train_classifier

    def spy(net, batches, test, **kwargs):
        seen.append(len(torch.cat([b[0] for b in batches])))  # one epoch
        return real(net, batches, test, **kwargs)

    monkeypatch.setattr(runner_module, "train_classifier", spy)
    metrics = run(tiny(tmp_path / where, arms=["none", "generative"], injection={"where": where, "ratio": 0.5}), progress=False)
    assert {r["arm"] for r in metrics["results"]} == {"none", "generative"}
    if where == "hf":
        assert seen[0] == 100 and 130 <= seen[1] <= 170  # ~50 synthetic rows appended to the 100 real ones
    generative = next(r for r in metrics["results"] if r["arm"] == "generative")
    assert 0.3 < generative["accuracy"] <= 1.0


def test_smote_and_kde_anchor_arms_append_oversampled_records(tmp_path, monkeypatch):
    pytest.importorskip("imblearn")
    sizes = []
    real = runner_module.train_classifier

    def spy(net, batches, test, **kwargs):
        sizes.append(len(torch.cat([b[0] for b in batches])))
        return real(net, batches, test, **kwargs)

    monkeypatch.setattr(runner_module, "train_classifier", spy)
    recipe = tiny(tmp_path / "anchors", arms=["none", "smote", "kde"], oversample={"per_record": 2})
    metrics = run(recipe, progress=False)
    assert sizes == [100, 300, 300]  # 10 labelled digits per class, 20 oversampled per class
    accuracy = {r["arm"]: r["accuracy"] for r in metrics["results"]}
    assert accuracy["smote"] != accuracy["kde"] and min(accuracy.values()) > 0.3
    assert not any(name.endswith("/fit") for name in json.loads((tmp_path / "anchors" / "timings.json").read_text())["units"])


def test_albumentations_classic_chain(tmp_path):
    classic = {"library": "albumentations", "transforms": [{"Affine": {"rotate": [-10, 10], "p": 1.0}}]}
    metrics = run(tiny(tmp_path / "albu", arms=["none", "classic"], classic=classic), progress=False)
    none, classic_run = (next(r for r in metrics["results"] if r["arm"] == arm) for arm in ("none", "classic"))
    assert none["curve"] != classic_run["curve"]  # the chain changed what the classifier saw


def test_vector_recipe_end_to_end(tmp_path):
    recipe = {
        "name": "wine-tiny",
        "data": {"source": "wine"},
        "subset": {"shots": [5, "all"]},
        "generator": FAST_GMM,
        "downstream": {"model": "logreg", "steps": 60, "log_every": 20},
        "evaluation": {"enabled": True, "n_per_class": 10},
        "arms": ["none", "generative"],
        "seeds": [0, 1],
        "output": str(tmp_path / "wine"),
    }
    metrics = run(recipe, progress=False)
    assert metrics["data"]["modality"] == "vector" and metrics["shots"] == [5, "all"]
    assert {(row["shots"], row["arm"]) for row in metrics["summary"]} == {(k, a) for k in (5, "all") for a in ("none", "generative")}
    assert all(0.4 < r["accuracy"] <= 1.0 and len(r["per_class"]) == 3 for r in metrics["results"])
    assert all((tmp_path / "wine" / g["grid"]).is_file() for g in metrics["generators"])  # vectors drawn as rows of cells
    assert (tmp_path / "wine" / "report.html").is_file()
    with pytest.raises(RecipeError, match="injection.where: 'transform' swaps samples in the classifier's value range"):
        run({**recipe, "injection": {"where": "transform"}}, progress=False)


@pytest.mark.parametrize("fit_on", ["labelled", "classic", "pseudo_label"])
def test_generators_and_filters_never_see_test_images(tmp_path, monkeypatch, digits, fit_on):
    """Everything a generator is fitted on, every filter is built from and every interpolation anchor comes from
    the labelled subset (with ``unlabelled: pseudo_label``, also from the unlabelled rest of the training part)."""
    train, test = digits.train_test_split(0.5, seed=0)
    test_rows = {row.numpy().tobytes() for row in test.x}
    handed = []
    from genaug.evaluate import filters as filters_module
    from genaug.evaluate.features import FeatureSpace
    from genaug.recipes import pseudo as pseudo_module
    fit_module = sys.modules["genaug.train.fit"]  # genaug.train.fit the attribute is the function

    real_fit = fit_module.fit
    monkeypatch.setattr(fit_module, "fit", lambda data, *a, **k: handed.append(("fit", data.x)) or real_fit(data, *a, **k))
    for name in ("NearCopyFilter", "LikelihoodFilter"):
        cls = getattr(filters_module, name)
        real_init = cls.__init__

        def spy_init(self, *args, _real=real_init, _name=name, **kwargs):
            data = args[0] if _name == "NearCopyFilter" else args[1]
            handed.append((_name, data.x))
            _real(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", spy_init)
    real_pseudo = pseudo_module.pseudo_labelled

    def spy_pseudo(recipe, labelled, unlabelled, *args):
        handed.extend([("labelled", labelled.x), ("unlabelled", unlabelled.x)])
        return real_pseudo(recipe, labelled, unlabelled, *args)

    monkeypatch.setattr(pseudo_module, "pseudo_labelled", spy_pseudo)
    interpolate_module = sys.modules["genaug.inject.interpolate"]
    real_anchors = interpolate_module.LatentInterpolation.__init__
    monkeypatch.setattr(interpolate_module.LatentInterpolation, "__init__",
                        lambda self, data, **k: handed.append(("anchors", data.x)) or real_anchors(self, data, **k))
    # the data they are built from is what counts here; a 5-step gmm's samples would not all pass them
    monkeypatch.setattr(filters_module.QualityFilter, "__call__", lambda self, x, labels: torch.ones(len(labels), dtype=torch.bool))
    real_space = FeatureSpace.fit.__func__
    spaces = []

    def spy_space(cls, data, **kwargs):
        spaces.append(data.x)
        return real_space(cls, data, **kwargs)

    monkeypatch.setattr(FeatureSpace, "fit", classmethod(spy_space))
    filters = [{"name": "near_copy"}, {"name": "likelihood"}, {"name": "confidence"}]
    generator = {**FAST_GMM, "fit_on": "classic", "classic_copies": 2} if fit_on == "classic" else {**FAST_GMM}
    if fit_on == "pseudo_label":
        generator.update(unlabelled="pseudo_label", pseudo_confidence=0.5)
    # the interpolation sampler's anchors: the records its generator (a VAE of the same fit_on) was fitted on
    fast_vae = {**generator, "family": "vae", "train": {"steps": 2, "checkpoint_every": 0, "sample_every": 0}}
    variants = {"between": {"generator": fast_vae, "filters": [], "injection": {"sampler": "interpolate"}}}
    recipe = tiny(tmp_path / "leak", arms=["none", "generative", "generative:between"], generator=generator, filters=filters,
                  variants=variants, seeds=[0, 1])
    run(recipe, progress=False)
    extra = {"labelled", "unlabelled"} if fit_on == "pseudo_label" else set()
    assert {name for name, _ in handed} == {"fit", "NearCopyFilter", "LikelihoodFilter", "anchors", *extra} and spaces
    train_rows = {row.numpy().tobytes() for row in train.x}
    for name, x in handed + [("space", x) for x in spaces]:
        rows = [row.numpy().tobytes() for row in x]
        assert not (set(rows) & test_rows)
        if name in ("fit", "anchors") and fit_on == "classic":
            assert len(x) == 300 and set(rows[:100]) <= train_rows  # the subset, then two passes of the classic chain
        elif name == "unlabelled":
            assert len(x) == len(train) - 100 and set(rows) <= train_rows  # the rest of the training part
        elif name in ("fit", "anchors") and fit_on == "pseudo_label":
            assert 100 < len(x) <= len(train) and set(rows) <= train_rows  # the subset and the kept pseudo-labelled
        else:
            assert len(x) == 100 and set(rows) <= train_rows


def test_pseudo_labels_join_the_generators_data(tmp_path):
    generator = {**FAST_GMM, "unlabelled": "pseudo_label", "pseudo_confidence": 0.8}
    metrics = run(tiny(tmp_path / "pseudo", arms=["none", "generative"], generator=generator, downstream={"steps": 150}), progress=False)
    (entry,) = metrics["generators"]
    pseudo = entry["pseudo_labels"]
    assert pseudo["n_unlabelled"] == 898 - 100 and 100 < pseudo["n_kept"] <= 798
    assert sum(pseudo["kept_per_class"]) == pseudo["n_kept"] and pseudo["accuracy"] > 0.8  # a 150-step CNN on 100 digits
    assert "+ %d pseudo" % pseudo["n_kept"] in (tmp_path / "pseudo" / "report.html").read_text()
    model = genaug.load(tmp_path / "pseudo" / "k10" / "seed0" / "generator")
    assert model.fingerprint() == json.loads((tmp_path / "pseudo" / "k10" / "seed0" / "fit.json").read_text())["result"]["fingerprint"]


def test_variants_are_arms_of_their_own(tmp_path, monkeypatch):
    """Named variants: each its own generator folder, fit, arms and report rows; editing one reruns only its units."""
    variants = {
        "two": {"generator": {**FAST_GMM, "config": {"n_components": 2}}, "injection": {"ratio": 0.25}},
        "kept": {"filters": [{"name": "near_copy"}]},  # no generator of its own: samples the recipe's
    }
    arms = ["none", "generative", "generative:two", "classic+generative:two", "generative:kept"]
    recipe = tiny(tmp_path / "v", variants=variants, arms=arms)
    metrics = run(recipe, progress=False)
    cell = tmp_path / "v" / "k10" / "seed0"
    assert (cell / "generator" / "config.json").is_file() and (cell / "generator-two" / "config.json").is_file()
    assert not (cell / "generator-kept").exists()
    assert json.loads((cell / "generator-two" / "config.json").read_text())["config"]["n_components"] == 2
    arm_files = {"none", "generative", "generative.two", "classic-plus-generative.two", "generative.kept"}
    assert {p.name for p in (cell / "arms").iterdir()} == {f"{name}.json" for name in arm_files}
    kept = json.loads((cell / "arms" / "generative.kept.json").read_text())["result"]
    assert [f["filter"] for f in kept["filters"]] == ["near_copy"]
    assert [(g["variant"], g["family"]) for g in metrics["generators"]] == [(None, "gmm"), ("two", "gmm")]
    assert [row["arm"] for row in metrics["summary"]] == arms
    assert "two (gmm)" in (tmp_path / "v" / "report.html").read_text()
    fits, trained = [], []
    real_fit, real_arm = runner_module.Cell.fit, runner_module.Cell.train_arm
    monkeypatch.setattr(runner_module.Cell, "fit", lambda self, slot: fits.append(slot.variant) or real_fit(self, slot))
    monkeypatch.setattr(runner_module.Cell, "train_arm", lambda self, arm: trained.append(arm) or real_arm(self, arm))
    variants["two"]["injection"] = {"ratio": 0.5}
    run(recipe, progress=False)
    assert fits == [] and trained == ["generative:two", "classic+generative:two"]
    variants["kept"]["filters"] = [{"name": "near_copy", "threshold": 0.2}]
    run(recipe, progress=False)
    assert fits == [] and trained[2:] == ["generative:kept"]


def test_a_variant_that_changes_only_sampling_shares_the_fit(tmp_path, monkeypatch):
    """injection.sampling: a variant with the same generator section samples the fitted generator with its own options."""
    fast_vae = {"family": "vae", "config": {"latent_dim": 4, "channels": 8, "hidden": 32},
                "train": {"steps": 5, "checkpoint_every": 0, "sample_every": 0}, "pool_batch": 64}
    variants = {
        "cold": {"generator": fast_vae, "injection": {"ratio": 0.5, "sampling": {"temperature": 0.5}}},
        "colder": {"generator": dict(fast_vae), "injection": {"ratio": 0.5, "sampling": {"temperature": 0.1}}},
        "own": {"injection": {"sampling": {"temperature": 0.7}}},  # no generator section: the recipe's
    }
    arms = ["none", "generative", "generative:cold", "generative:colder", "generative:own"]
    recipe = tiny(tmp_path / "s", generator=fast_vae, variants=variants, arms=arms)
    assert {v: load_recipe(recipe).fitted_by(v) for v in ["cold", "colder", "own"]} == {"cold": None, "colder": None, "own": None}
    recipe["generator"] = FAST_GMM  # now the variants' vae is not the recipe's generator: "cold" fits it, "colder" samples that fit
    with pytest.raises(RecipeError, match="variants.own.injection.sampling: temperature: not a sampling option of the 'gmm' family; it takes none"):
        load_recipe(recipe)  # "own" samples the recipe's gmm, which has no temperature
    del variants["own"], recipe["arms"][-1]
    parsed = load_recipe(recipe)
    assert [parsed.fitted_by(v) for v in ["cold", "colder"]] == ["cold", "cold"] and parsed.generator_variants() == [None, "cold"]
    drawn = []
    real_sample = genaug.Generator.sample
    monkeypatch.setattr(genaug.Generator, "sample", lambda self, n, labels=None, **k: drawn.append((self.family, k.get("temperature"))) or real_sample(self, n, labels, **k))
    fits = []
    real_fit = runner_module.Cell.fit
    monkeypatch.setattr(runner_module.Cell, "fit", lambda self, slot: fits.append(slot.variant) or real_fit(self, slot))
    metrics = run(recipe, progress=False)
    cell = tmp_path / "s" / "k10" / "seed0"
    assert sorted(map(str, fits)) == ["None", "cold"] and not (cell / "generator-colder").exists()
    assert [(g["variant"], g["family"]) for g in metrics["generators"]] == [(None, "gmm"), ("cold", "vae")]
    assert {t for family, t in drawn if family == "vae"} == {0.5, 0.1}
    results = {arm: json.loads((cell / "arms" / f"generative.{arm}.json").read_text())["result"]["accuracy"] for arm in ["cold", "colder"]}
    assert all(0 <= a <= 1 for a in results.values())
    # sampling options are part of the arm's key: changing one reruns that arm only, never the fit
    trained = []
    real_arm = runner_module.Cell.train_arm
    monkeypatch.setattr(runner_module.Cell, "train_arm", lambda self, arm: trained.append(arm) or real_arm(self, arm))
    variants["colder"]["injection"]["sampling"] = {"temperature": 0.2}
    fits.clear()
    run(recipe, progress=False)
    assert fits == [] and trained == ["generative:colder"]


def test_a_variant_that_changes_only_serving_shares_the_fit(tmp_path, monkeypatch):
    """reuse / pool_batch change how samples are served, not the fit: such a variant samples the same fitted generator."""
    variants = {"reused": {"generator": {**FAST_GMM, "reuse": 4, "pool_batch": 32}}}
    recipe = tiny(tmp_path / "r", variants=variants, arms=["none", "generative", "generative:reused"])
    parsed = load_recipe(recipe)
    assert parsed.fitted_by("reused") is None and parsed.generator_variants() == [None]
    pools = []
    pool_module = sys.modules["genaug.inject.pool"]
    real_init = pool_module.SamplePool.__init__
    monkeypatch.setattr(pool_module.SamplePool, "__init__", lambda self, *a, **k: pools.append((k["reuse"], k["batch_size"])) or real_init(self, *a, **k))
    fits = []
    real_fit = runner_module.Cell.fit
    monkeypatch.setattr(runner_module.Cell, "fit", lambda self, slot: fits.append(slot.variant) or real_fit(self, slot))
    run(recipe, progress=False)
    cell = tmp_path / "r" / "k10" / "seed0"
    assert fits == [None] and not (cell / "generator-reused").exists()
    assert sorted(pools) == [(1, FAST_GMM["pool_batch"]), (4, 32)]  # each arm served as its section says
    # serving is part of the arm's key: changing it reruns that arm only, never the fit
    trained = []
    real_arm = runner_module.Cell.train_arm
    monkeypatch.setattr(runner_module.Cell, "train_arm", lambda self, arm: trained.append(arm) or real_arm(self, arm))
    variants["reused"]["generator"]["reuse"] = 2
    fits.clear()
    run(recipe, progress=False)
    assert fits == [] and trained == ["generative:reused"]
    # a fit setting still makes a fit of its own
    variants["reused"]["generator"]["config"] = {"n_components": 2}
    assert load_recipe(recipe).fitted_by("reused") == "reused"


def test_a_default_that_moved_after_fits_were_stored_is_part_of_the_fit_key():
    """A wavenet fitted before its temperature default moved to 0.6 loads at 1: a recipe that leaves it unset must refit."""
    assert runner_module._moved_defaults("wavenet", {}) == {"temperature": 0.6}
    assert runner_module._moved_defaults("wavenet", {"temperature": 1.0}) == {}
    assert runner_module._moved_defaults("gmm", {}) == {}
    # a default the data decide is keyed as a fit of that data gets it, and only where it differs from the saved one:
    # the pixelcnn samples images as before (unguided at 1: keys unchanged) and sequences guided at 0.6
    images = genaug.load_source("digits").spec
    series = genaug.from_arrays(np.zeros((4, 1, 16)), [0, 1, 0, 1], modality="sequence", levels=8).spec
    assert runner_module._moved_defaults("pixelcnn", {}, images) == {}
    assert runner_module._moved_defaults("pixelcnn", {}, series) == {"guidance": 1.0, "temperature": 0.6}
    assert runner_module._moved_defaults("pixelcnn", {"temperature": 1.0}, series) == {"guidance": 1.0}
    assert runner_module._moved_defaults("wavenet", {}, series) == {"temperature": 0.6}


def test_interpolating_and_decaying_variants(tmp_path, monkeypatch):
    """sampler: interpolate decodes between the generator's own training records; schedule: linear_decay ends on real data."""
    fast_vae = {"family": "vae", "train": {"steps": 5, "checkpoint_every": 0, "sample_every": 0}, "pool_batch": 64,
                "fit_on": "classic", "classic_copies": 2}
    variants = {"between": {"generator": fast_vae, "injection": {"sampler": "interpolate", "interpolation_range": [0.0, 1.0]}},
                "decay": {"injection": {"ratio": 1.0, "schedule": "linear_decay"}}}
    anchors, ratios = [], []
    interpolate_module, mix_module = sys.modules["genaug.inject.interpolate"], sys.modules["genaug.inject.mix"]  # not the functions

    real_init = interpolate_module.LatentInterpolation.__init__
    monkeypatch.setattr(interpolate_module.LatentInterpolation, "__init__", lambda self, data, **k: anchors.append(data) or real_init(self, data, **k))
    real_mixer = mix_module._Mixer.__call__
    monkeypatch.setattr(mix_module._Mixer, "__call__", lambda self, batch: ratios.append(self.ratio) or real_mixer(self, batch))
    recipe = tiny(tmp_path / "v", variants=variants, arms=["none", "generative", "generative:between", "generative:decay"])
    metrics = run(recipe, progress=False)
    assert [row["arm"] for row in metrics["summary"]] == recipe["arms"]
    (data,) = anchors  # the VAE's fit data: the 100 labelled digits and two passes through the classic chain
    fitted = genaug.load(tmp_path / "v" / "k10" / "seed0" / "generator-between")
    assert len(data) == 300 and fitted.family == "vae" and data.x.shape[1:] == fitted.spec.shape
    decay = ratios[-40:]  # 40 steps, ratio 1 -> 0; the constant arm mixed 0.5 throughout before it
    assert ratios[:40] == [0.5] * 40 and decay[0] == 1.0 and decay[-1] == pytest.approx(1 / 40) and decay == sorted(decay, reverse=True)


def test_new_injection_fields_at_their_defaults_keep_stored_results_valid():
    """Results stored before schedule / sampler existed keep their keys; setting one changes the key."""
    from genaug.recipes.runner import _injection_key
    from genaug.recipes.schema import InjectionSection

    assert _injection_key(InjectionSection()) == {"where": "mix", "ratio": 0.5, "balance": None}
    assert _injection_key(InjectionSection(schedule="linear_decay"))["schedule"] == "linear_decay"
    assert _injection_key(InjectionSection(mode="extend"))["mode"] == "extend"
    assert _injection_key(InjectionSection(sampling={"guidance": 3.0}))["sampling"] == {"guidance": 3.0}


def test_an_extending_variant_trains_on_every_labelled_record_filled_up_with_synthetic_ones(tmp_path, monkeypatch):
    """injection.mode: extend: half-size real batches from the labelled subset, synthetic samples after them."""
    seen = []
    mix_module = sys.modules["genaug.inject.mix"]
    real_mixer = mix_module._Mixer.__call__
    monkeypatch.setattr(mix_module._Mixer, "__call__", lambda self, batch: seen.append((self.fill, len(batch[1]))) or real_mixer(self, batch))
    recipe = tiny(tmp_path / "e", variants={"kept": {"injection": {"mode": "extend"}}}, arms=["none", "generative:kept"])
    metrics = run(recipe, progress=False)
    assert [row["arm"] for row in metrics["summary"]] == recipe["arms"]
    # batches of 64 (the default), 32 of them real: the 100 labelled digits come as 32 + 32 + 32 + 4 per epoch
    assert len(seen) == 40 and all(fill == (32, 32) for fill, _ in seen)
    assert [n for _, n in seen[:8]] == [32, 32, 32, 4] * 2


def test_fit_on_classic_needs_a_classic_chain(tmp_path):
    with pytest.raises(RecipeError, match="generator.fit_on: 'classic' needs a classic section"):
        run(tiny(tmp_path / "x", classic=None, arms=["none"], generator={**FAST_GMM, "fit_on": "classic"}), progress=False)


def test_cli_run(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny(tmp_path / "cli", arms=["none", "generative"])))
    done = subprocess.run([sys.executable, "-m", "genaug.cli", "run", str(path), "-q"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "At k=10, generative:" in done.stdout and "report:" in done.stdout
    path.write_text(yaml.safe_dump(tiny(tmp_path / "cli", injection={"ratio": 2})))
    done = subprocess.run([sys.executable, "-m", "genaug.cli", "run", str(path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "injection.ratio: Input should be less than or equal to 1 (got 2)" in done.stderr


# ---------------------------------------------------------------------- a separate test set (UCR's TRAIN / TEST files)
def write_series(path: Path, n_per_class: int, seed: int, classes=("a", "b"), length: int = 32) -> Path:
    """A UCR-style .tsv of two classes of noisy waves (a: a sine, b: a square wave), the label first."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, length)
    lines = []
    for name in classes:
        for _ in range(n_per_class):
            phase = rng.uniform(0, 0.5)
            wave = np.sin(t + phase) if name == "a" else np.sign(np.sin(t + phase))
            lines.append("\t".join([name, *(f"{v:.4f}" for v in wave + 0.1 * rng.standard_normal(length))]))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_test_source_scores_on_the_given_test_file_and_splits_nothing(tmp_path):
    train = write_series(tmp_path / "Waves_TRAIN.tsv", 12, seed=0)
    test = write_series(tmp_path / "Waves_TEST.tsv", 30, seed=1)
    recipe = tiny(
        tmp_path / "out",
        data={"source": str(train), "test_source": str(test)},
        subset={"shots": 5},
        classic={"library": "genaug", "transforms": [{"WindowWarp": {}}, {"Jitter": {}}]},
        downstream={"model": "fcn", "model_args": {"width": 8}, "steps": 40, "log_every": 10},
    )
    metrics = run(recipe, progress=False)
    data = metrics["data"]
    assert data["modality"] == "sequence" and data["test_source"] == str(test)
    assert data["n_train_pool"] == 24 and data["n_test"] == 60  # the whole TRAIN file is the pool; TEST is scored whole
    none = [r["accuracy"] for r in metrics["results"] if r["arm"] == "none"]
    assert none and none[0] > 0.7  # sine against square waves: an easy test set, scored in the training file's spec


@pytest.mark.parametrize(
    "test_text, data, message",
    [
        (None, {"test_size": 0.3}, "is the test set, so nothing is split off the source; drop test_size or test_source"),
        ("c\t" + "\t".join(["0.5"] * 32) + "\n", {}, "does not match data.source: data: classes ['c'] are unknown"),
        ("a\t" + "\t".join(["0.5"] * 20) + "\n", {}, "samples of shape (1, 20) do not fit a model of sequence samples of shape (1, 32)"),
        ("", {}, "W_TEST.tsv: no series found"),
    ],
)
def test_test_source_that_cannot_serve_is_refused_before_training(tmp_path, test_text, data, message):
    train = write_series(tmp_path / "W_TRAIN.tsv", 12, seed=0)
    test = tmp_path / "W_TEST.tsv"
    if test_text is None:
        write_series(test, 5, seed=1)
    else:
        test.write_text(test_text)
    recipe = tiny(tmp_path / "out", data={"source": str(train), "test_source": str(test), **data}, subset={"shots": 5},
                  classic=None, arms=["none"])
    with pytest.raises(RecipeError) as caught:
        run(recipe, progress=False)
    assert "data.test_source: " in str(caught.value) and message in str(caught.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["fewshot-mnist1d", "fewshot-gunpoint", "fewshot-arrowhead", "fewshot-italypowerdemand"])
def test_shipped_time_series_recipes_run_on_their_standard_splits(tmp_path, name):
    """Each shipped few-shot sequence recipe, cut to one seed, one k and a few steps, runs end to end."""
    recipe = yaml.safe_load((REPO / "recipes" / f"{name}.yaml").read_text())
    recipe.update(seeds=[0], arms=["none", "classic+generative"], output=str(tmp_path / name))
    recipe["subset"] = {"shots": 5}
    recipe["generator"]["classic_copies"] = 2
    recipe["downstream"].update(steps=5, log_every=5)
    metrics = run(recipe, progress=False)
    published = {"fewshot-mnist1d": 1000, "fewshot-gunpoint": 150, "fewshot-arrowhead": 175, "fewshot-italypowerdemand": 1029}
    assert metrics["data"]["modality"] == "sequence" and metrics["data"]["n_test"] == published[name]  # the standard test files
    assert {r["arm"] for r in metrics["results"]} == {"none", "classic+generative"}
