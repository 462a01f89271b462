"""Text in evaluate(), the quality filters and recipes (issue 18): strings scored, filtered and trained on end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import genaug
from conftest import toy_words
from genaug.data.text import from_texts
from genaug.evaluate.conditional import class_agreement
from genaug.evaluate.filters import NearCopyFilter
from genaug.evaluate.memorization import nearest_strings
from genaug.evaluate.textmetrics import text_memorization
from genaug.recipes import RecipeError, run
from genaug.recipes.downstream import to_input

TINY = {"embed": 8, "residual": 8, "skip": 8, "head": 16, "label_dim": 4}


@pytest.fixture(scope="module")
def split():
    return from_texts(*toy_words(200)).train_test_split(0.3, seed=0)


@pytest.fixture(scope="module")
def model(split):
    train, _ = split
    return genaug.fit(train, "charlm", steps=150, train={"progress": False, "eval_every": 50}, **TINY)


# ------------------------------------------------------------------------------ evaluation
def test_evaluate_scores_a_text_model(model, split, tmp_path):
    train, test = split
    report = genaug.evaluate(model, test, train=train, n_per_class=40, pairs=tmp_path / "pairs.png")
    json.dumps(report)  # JSON-ready
    likelihood = report["likelihood"]
    assert likelihood["discrete"] and not likelihood["is_bound"]
    # bits per character: below a uniform draw over the vocabulary and the end mark
    assert 0 < likelihood["bits_per_dim"] < np.log2(len(train.spec.vocabulary) + 1)
    assert likelihood["generalization_gap"] == pytest.approx(likelihood["bits_per_dim"] - likelihood["train_bits_per_dim"])
    edit = report["memorization"]["edit"]
    assert "pixel" not in report["memorization"]
    # the same samples, scored by the text metrics directly, give the same copy share
    labels = torch.unique(test.y).repeat_interleave(40)
    samples = model.sample(len(labels), labels=labels, generator=torch.Generator().manual_seed(0))
    assert edit["exact_copy_share"] == text_memorization(samples, train.user_x()).exact_copy_share
    assert 0 < edit["distinct_2"] <= 1 and 0 < edit["distinct_3"] <= 1
    # the toy classes differ in their first letter: a fitted model draws the class asked for
    assert report["class_agreement"]["accuracy"] > 0.8
    assert report["class_agreement"]["real_accuracy"] == 1.0
    assert report["fidelity"]["class_fidelity"]["accuracy"] > 0.7
    assert 0.0 <= report["anomaly"]["held_out_flagged"] <= 1.0
    assert (tmp_path / "pairs.png").read_bytes().startswith(b"\x89PNG")
    first = report["pairs"]["closest"][0]  # the closest pair first: a copy scores 0
    assert first["ratio"] == min(p["ratio"] for p in report["pairs"]["closest"])


def test_class_agreement_reads_strings_as_ngram_counts(split):
    train, test = split

    class Swapped:  # a "generator" that draws the other class's strings: agreement must be near 0
        spec = train.spec

        def sample(self, n, labels, generator=None):
            pool = {c: [t for t, y in zip(train.user_x(), train.y.tolist()) if y != c] for c in (0, 1)}
            return [pool[int(c)][i % len(pool[int(c)])] for i, c in enumerate(labels)]

    result = class_agreement(Swapped(), test, n_per_class=20)
    assert result.accuracy == 0.0 and result.real_accuracy == 1.0


def test_nearest_strings_and_the_near_copy_filter_on_strings():
    train = from_texts(["anna", "anne", "bob", "bobby"], [0, 0, 1, 1])
    found = nearest_strings(["anna", "annx", "zzzzzzzz"], train.user_x())
    assert found.distance.tolist() == [0.0, 1.0, 8.0]
    assert found.index.tolist()[:2] == [0, 0] or found.index.tolist()[1] in (0, 1)
    assert found.ratio[0] == 0.0 and found.ratio[1] == 1.0  # anna's closest other (anne) is 1 edit away
    keep = NearCopyFilter(train)(["anna", "annx", "carol"], torch.tensor([0, 0, 1]))
    assert keep.tolist() == [False, True, True]
    strict = NearCopyFilter(train, threshold=1.5)(["anna", "annx", "carol"], torch.tensor([0, 0, 1]))
    assert strict.tolist() == [False, False, True]
    assert NearCopyFilter(train).report()["space"] == "edit"
    with pytest.raises(ValueError, match="space: near-copies of strings"):
        NearCopyFilter(train, space=object())


def test_classifier_inputs_are_utf8_bytes_of_any_string(split):
    train, _ = split
    x = to_input(train.spec, ["ab", "zoë"])  # 'z', 'o', 'ë' (2 bytes): characters the model never saw
    assert x.dtype == torch.float32 and x.shape == (2, 5)
    assert x[0].tolist() == [ord("a") + 1, ord("b") + 1, 0, 0, 0]
    assert x[1, 3].item() == "ë".encode()[1] + 1
    with pytest.raises(ValueError, match=r"x\[1\]: empty string"):
        to_input(train.spec, ["ab", ""])


# ------------------------------------------------------------------------------ recipes
@pytest.fixture(scope="module")
def csv_source(tmp_path_factory):
    texts, labels = toy_words(160, seed=1)
    path = tmp_path_factory.mktemp("text") / "words.csv"
    path.write_text("text,label\n" + "\n".join(f"{t},{y}" for t, y in zip(texts, labels)) + "\n")
    return str(path)


def _recipe(source: str, out: Path, **overrides) -> dict:
    recipe = {
        "name": "words",
        "data": {"source": source, "test_size": 0.5},
        "subset": {"shots": 8},
        "generator": {"family": "charlm", "config": TINY, "train": {"steps": 60, "checkpoint_every": 0, "sample_every": 0}, "pool_batch": 64},
        "filters": [{"name": "near_copy"}],
        "injection": {"where": "mix", "ratio": 0.5},
        "classic": {"library": "genaug", "transforms": [{"CharSwap": {"p": 0.2}}, {"KeyboardSubstitute": {"p": 0.1}}]},
        "downstream": {"model": "ngram", "steps": 40, "batch_size": 8, "log_every": 10},
        "evaluation": {"enabled": True, "n_per_class": 20},
        "arms": ["none", "classic", "generative", "classic+generative"],
        "seeds": [0],
        "output": str(out),
    }
    recipe.update(overrides)
    return recipe


def test_text_recipe_end_to_end(csv_source, tmp_path):
    metrics = run(_recipe(csv_source, tmp_path / "run"), progress=False)
    arms = {r["arm"]: r for r in metrics["results"]}
    assert set(arms) == {"none", "classic", "generative", "classic+generative"}
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in arms.values())
    # the near-copy filter ran on the generated strings and reported what it dropped
    (near_copy,) = arms["generative"]["filters"]
    assert near_copy["filter"] == "near_copy" and near_copy["space"] == "edit" and near_copy["seen"] > 0
    (generator,) = metrics["generators"]
    evaluation = generator["evaluation"]
    assert set(evaluation["samples"]) == {"first", "second"}
    assert all(isinstance(s, str) and s for texts in evaluation["samples"].values() for s in texts)
    assert "edit" in evaluation["memorization"]
    html = (tmp_path / "run" / "report.html").read_text()
    assert "Generated strings" in html and evaluation["samples"]["first"][0] in html


@pytest.mark.parametrize("where", ["transform", "hf"])
def test_text_recipe_injects_strings_per_sample_and_through_datasets(csv_source, tmp_path, where):
    recipe = _recipe(csv_source, tmp_path / where, injection={"where": where, "ratio": 0.5}, arms=["none", "generative"], evaluation={"enabled": False})
    metrics = run(recipe, progress=False)
    assert {r["arm"] for r in metrics["results"]} == {"none", "generative"}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"arms": ["none", "smote"]}, "arms: 'smote' interpolates numeric records; text data has none"),
        ({"generator": {"family": "charlm", "fit_on": "classic"}}, "generator.fit_on: 'classic'"),
        ({"classic": {"library": "genaug", "transforms": [{"Jitter": {}}]}}, "classic.transforms: the chain leaves each of 20 text samples unchanged"),
        ({"classic": {"library": "genaug", "transforms": [{"CharInsert": {"alphabet": ""}}]}}, "classic.transforms.0.CharInsert: alphabet"),
    ],
)
def test_text_recipes_refuse_what_strings_cannot_take(csv_source, tmp_path, change, message):
    with pytest.raises(RecipeError, match=message):
        run(_recipe(csv_source, tmp_path / "bad", **change), progress=False)
    assert not (tmp_path / "bad" / "metrics.json").exists()
