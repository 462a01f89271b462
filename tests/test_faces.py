"""The faces set (scikit-image's lfw_subset) and the near-copy filter that data carrying identities gets by default."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import genaug
from genaug.data.sources import carries_identities
from genaug.recipes import RecipeError, load_recipe, run
from genaug.recipes import runner as runner_module

REPO = Path(__file__).resolve().parent.parent
# one Gaussian per class with a fixed regularization (no held-out search): a fit of a second on 625 dimensions
FAST_GMM = {"family": "gmm", "config": {"reg_covar": 0.01, "shrinkage": 0.0}, "train": {"steps": 3, "checkpoint_every": 0}, "pool_batch": 64}


@pytest.fixture(scope="module")
def faces():
    return genaug.load_source("faces")


# ---------------------------------------------------------------------- the data source
def test_faces_source_is_the_lfw_subset_with_two_named_classes(faces):
    from skimage.data import lfw_subset

    assert faces.spec.modality == "image" and tuple(faces.x.shape) == (200, 1, 25, 25)
    assert faces.spec.class_names == ("face", "non-face") and faces.spec.class_counts == (100, 100)
    assert faces.y.tolist() == [0] * 100 + [1] * 100  # lfw_subset holds the faces first
    assert faces.spec.scaling == "range" and faces.spec.value_range == (0.0, 1.0) and faces.spec.levels is None
    np.testing.assert_allclose(faces.user_x().numpy(), lfw_subset(), atol=1e-6)  # the values come back as shipped
    assert faces.x.min() >= -1.0 and faces.x.max() <= 1.0


def test_faces_source_refuses_options_and_needs_scikit_image(monkeypatch):
    with pytest.raises(TypeError, match="the bundled data set 'faces' takes no options, got \\['levels'\\]"):
        genaug.load_source("faces", levels=256)
    monkeypatch.setitem(sys.modules, "skimage", None)  # `import skimage...` now raises ImportError, as when it is missing
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    with pytest.raises(ImportError, match=r"data: the 'faces' set is scikit-image's lfw_subset; install it with pip install 'genaug\[images\]'"):
        genaug.load_source("faces")


def test_unknown_source_lists_faces():
    with pytest.raises(ValueError, match="faces \\(scikit-image's faces and non-faces\\)"):
        genaug.load_source("facez")


def test_only_the_faces_source_carries_identities():
    assert carries_identities("faces") and not carries_identities("digits") and not carries_identities("faces.npz")


# ---------------------------------------------------------------------- data.identities in the schema
def test_identities_default_adds_a_near_copy_filter_to_every_generative_arm():
    variants = {"own": {"filters": [{"name": "near_copy", "threshold": 0.2}]}, "conf": {"filters": [{"name": "confidence"}]}}
    arms = ["none", "generative", "generative:own", "generative:conf"]
    recipe = load_recipe({"name": "f", "data": {"source": "faces"}, "variants": variants, "arms": arms})
    assert recipe.data.identities == "auto" and recipe.data.carries_identities()
    assert [f.name for f in recipe.applied_filters(None)] == ["near_copy"] and recipe.identity_filter_added(None)
    assert [(f.name, f.threshold) for f in recipe.applied_filters("own")] == [("near_copy", 0.2)]  # the recipe's own is kept, not doubled
    assert not recipe.identity_filter_added("own")
    assert [f.name for f in recipe.applied_filters("conf")] == ["near_copy", "confidence"]  # first: it counts out of every draw
    assert recipe.near_copy_threshold(None) == 0.1  # the recipe's generator feeds generative, :own and :conf: the lowest
    off = load_recipe({"name": "f", "data": {"source": "faces", "identities": False}, "variants": variants, "arms": arms})
    assert off.applied_filters(None) == [] and off.near_copy_threshold(None) is None  # one of its arms keeps near-copies
    digits = load_recipe({"name": "d", "data": {"source": "digits"}})
    assert not digits.data.carries_identities() and digits.applied_filters(None) == []
    forced = load_recipe({"name": "d", "data": {"source": "digits", "identities": True}})
    assert [f.name for f in forced.applied_filters(None)] == ["near_copy"]


def test_identities_must_be_a_boolean_or_auto():
    with pytest.raises(RecipeError, match="data.identities"):
        load_recipe({"name": "f", "data": {"source": "faces", "identities": "sometimes"}})


def test_shipped_faces_recipes_fit_every_image_family_with_the_filter_on():
    faces = load_recipe(REPO / "recipes" / "faces.yaml")
    families = {faces.generator_of(faces.fitted_by(v)).family for v in faces.arm_variants()}
    assert families == {"gmm", "vae", "gan", "flow", "pixelcnn", "diffusion"}
    assert faces.evaluation.enabled and all(faces.identity_filter_added(v) for v in faces.arm_variants())
    fewshot = load_recipe(REPO / "recipes" / "fewshot-faces.yaml")
    assert fewshot.subset.values() == [5, 10] and fewshot.seeds == [0, 1, 2, 3, 4]
    assert {"none", "classic", "generative", "classic+generative"} <= set(fewshot.arms)


# ---------------------------------------------------------------------- a tiny faces run: the filter, its counts, the report
def tiny_faces(out: Path, **overrides) -> dict:
    recipe = {
        "name": "tiny-faces",
        "data": {"source": "faces"},
        "subset": {"shots": 10},
        "generator": FAST_GMM,
        "downstream": {"steps": 20, "log_every": 10},
        "evaluation": {"enabled": True, "n_per_class": 20},
        "arms": ["none", "generative"],
        "seeds": [0],
        "output": str(out),
    }
    recipe.update(overrides)
    return recipe


@pytest.fixture(scope="module")
def faces_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("faces") / "run"
    recipe = tiny_faces(out)
    return out, recipe, run(recipe, progress=False)


def test_faces_run_drops_near_copies_by_default_and_counts_them(faces_run):
    out, recipe, metrics = faces_run
    assert metrics["data"]["identities"] is True and metrics["data"]["class_names"] == ["face", "non-face"]
    (generative,) = [r for r in metrics["results"] if r["arm"] == "generative"]
    (near,) = generative["filters"]
    assert near["filter"] == "near_copy" and near["threshold"] == 0.1 and near["added_for"] == "identities"
    assert near["seen"] >= 2 * 64 and 0 <= near["dropped"] <= near["seen"]  # at least one refill per class
    (entry,) = metrics["generators"]
    memo = entry["evaluation"]["memorization"]
    after = memo["after_filter"]
    assert after["seen"] == memo["pixel"]["n_samples"] == 40  # every sample the evaluation drew reached the filter
    assert after["kept"] + after["dropped"] == 40 and after["pixel"]["n_samples"] == after["kept"]
    assert after["pixel"]["near_copy_share"] == 0.0  # what the arms inject holds no near-copy in pixel space
    assert after["pixel"]["ratio"] >= memo["pixel"]["ratio"] - 1e-9
    page = (out / "report.html").read_text()
    assert "Quality filters" in page and "on by default: identities" in page
    assert f"<td class=\"num\">{near['seen']}</td>" in page and "dropped as near-copies" in page
    assert f"{after['dropped']} of 40" in page and "memorization (injected)" in page and "class fidelity" in page


def test_a_generator_that_copies_its_records_has_every_sample_dropped(faces):
    """evaluate(quality_filter=...): the filter drops every copy, and nothing is left to score after it."""
    from genaug.evaluate import evaluate
    from genaug.evaluate.filters import NearCopyFilter

    train, test = faces.subset(np.r_[0:10, 100:110]), faces.subset(np.r_[50:60, 150:160])
    copies = genaug.fit(train, "gmm", steps=3, n_components=10, reg_covar=1e-8, shrinkage=0.0, train={"progress": False})
    report = evaluate(copies, test, train=train, n_per_class=20, quality_filter=NearCopyFilter(train))
    after = report["memorization"]["after_filter"]
    assert report["memorization"]["pixel"]["near_copy_share"] == 1.0
    assert after["dropped"] == after["seen"] == 40 and after["kept"] == 0 and after["pixel"] is None and after["feature"] is None


def test_turning_identities_off_reruns_arms_and_evaluation_but_not_the_fit(faces_run, monkeypatch, tmp_path):
    done, recipe, _ = faces_run
    out = tmp_path / "run"
    shutil.copytree(done, out)  # the finished run, continued with the field changed
    fits, evaluated, trained = [], [], []
    real_fit, real_eval, real_arm = runner_module.Cell.fit, runner_module.Cell.evaluate, runner_module.Cell.train_arm
    monkeypatch.setattr(runner_module.Cell, "fit", lambda self, slot: fits.append(slot) or real_fit(self, slot))
    monkeypatch.setattr(runner_module.Cell, "evaluate", lambda self, slot: evaluated.append(slot) or real_eval(self, slot))
    monkeypatch.setattr(runner_module.Cell, "train_arm", lambda self, arm: trained.append(arm) or real_arm(self, arm))
    off = run({**recipe, "data": {"source": "faces", "identities": False}, "output": str(out)}, progress=False)
    assert fits == [] and len(evaluated) == 1 and trained == ["generative"]
    assert "filters" not in [r for r in off["results"] if r["arm"] == "generative"][0]
    assert "after_filter" not in off["generators"][0]["evaluation"]["memorization"]
    assert off["data"]["identities"] is False and "Quality filters" not in (out / "report.html").read_text()
