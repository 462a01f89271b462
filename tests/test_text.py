"""Text (issue 18): the text modality, its sources, the charlm family, bits per character."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch

import genaug
from conftest import toy_words
from genaug.data import from_text_file, from_texts, load_source
from genaug.modalities.text import END, CharCNN, NgramLogReg, lengths

TINY = {"embed": 8, "residual": 8, "skip": 8, "head": 16, "label_dim": 4}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def toy():
    return from_texts(*toy_words())


@pytest.fixture(scope="module")
def toy_model(toy):
    return genaug.fit(toy, "charlm", steps=150, train={"progress": False, "eval_every": 50}, **TINY)


# ------------------------------------------------------------------------------------ data
def test_strings_round_trip_exactly_with_either_tokenizer():
    texts = ["Zoë", "日本語", "a b\tc", "x"]
    for tokenizer in ("char", "byte"):
        data = from_texts(texts, [0, 1, 0, 1], tokenizer=tokenizer)
        assert data.user_x() == texts
        assert data.spec.to_user(data.spec.to_model(texts)) == texts
    assert from_texts(texts, tokenizer="byte").spec.shape == (len("日本語".encode()) + 1,)
    with pytest.raises(ValueError, match="strings are text data; build it with genaug.from_texts"):
        genaug.from_arrays(np.array(["ab", "c"]), ["x", "y"])


def test_model_space_is_ids_then_end_marks():
    data = from_texts(["ba", "abc"], max_length=5)
    assert data.spec.vocabulary == ("a", "b", "c") and data.spec.shape == (6,)
    assert data.x.tolist() == [[2, 1, END, END, END, END], [1, 2, 3, END, END, END]]
    assert lengths(data.x).tolist() == [2, 3]
    assert "3 characters" in data.spec.value_space() and "up to 5" in data.spec.value_space()


@pytest.mark.parametrize(
    ("texts", "options", "message"),
    [
        ([], {}, "empty data set"),
        (["ok", ""], {}, r"texts\[1\]: empty string"),
        (["ok", None], {}, r"texts\[1\]: expected a string, got NoneType"),
        (["ok", 3], {}, r"texts\[1\]: expected a string, got int"),
        ("one string", {}, "wrap it in a list"),
        (["abc"], {"max_length": 2}, "max_length: 2 is shorter than the longest string"),
        (["abc"], {"vocabulary": []}, "vocabulary: empty"),
        (["abc"], {"vocabulary": ["a", "b"]}, r"characters \['c'\]"),
        (["abc"], {"tokenizer": "word"}, "tokenizer: expected one of"),
    ],
)
def test_bad_text_input_gets_one_clear_error(texts, options, message):
    with pytest.raises(ValueError, match=message):
        from_texts(texts, **options)


def test_unknown_characters_and_too_long_strings_are_refused_when_scoring():
    spec = from_texts(["abc", "cab"]).spec
    with pytest.raises(ValueError, match=r"characters \['z'\].*tokenizer='byte'"):
        spec.to_model(["abz"])
    with pytest.raises(ValueError, match="more than the 3 the model takes"):
        spec.to_model(["abca"])
    with pytest.raises(ValueError, match=r"labels \['y'\] are not among the class names \['x'\]"):
        from_texts(["a", "b"], ["x", "y"], class_names=["x"])


def test_text_files_csv_jsonl_json(tmp_path):
    (tmp_path / "a.csv").write_text("text,label\nanna,f\nbob,m\n", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text('{"name": "anna", "sex": 0}\n\n{"name": "bob", "sex": 1}\n', encoding="utf-8")
    (tmp_path / "c.json").write_text(json.dumps([{"text": "zoë", "label": "f"}]), encoding="utf-8")
    a = load_source(tmp_path / "a.csv")
    assert a.user_x() == ["anna", "bob"] and a.spec.class_names == ("f", "m")
    b = from_text_file(tmp_path / "b.jsonl", text_column="name", label_column="sex")
    assert b.user_x() == ["anna", "bob"] and b.y.tolist() == [0, 1]
    assert load_source(str(tmp_path / "c.json")).user_x() == ["zoë"]
    with pytest.raises(ValueError, match=r"text_column: no column 'text' in b.jsonl.*\['name', 'sex'\]"):
        load_source(tmp_path / "b.jsonl")
    with pytest.raises(ValueError, match="label_column: no column 'label'.*label_column=None"):
        from_text_file(tmp_path / "b.jsonl", text_column="name")
    assert from_text_file(tmp_path / "b.jsonl", text_column="name", label_column=None).spec.num_classes == 1
    (tmp_path / "d.jsonl").write_text('{"text": "a", "label": 0}\n{"text": \n', encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: not valid JSON"):
        load_source(tmp_path / "d.jsonl")
    (tmp_path / "e.csv").write_text("text,label\nanna,f\n,m\n", encoding="utf-8")
    with pytest.raises(ValueError, match="record 1 of 'text' is an empty string"):
        load_source(tmp_path / "e.csv")


def test_hf_dataset_text_column():
    datasets = pytest.importorskip("datasets")
    table = datasets.Dataset.from_dict({"text": ["anna", "bob", "eve"], "label": [0, 1, 0]})
    data = genaug.data.from_hf_dataset(table)
    assert data.spec.modality == "text" and data.user_x() == ["anna", "bob", "eve"]
    other = datasets.Dataset.from_dict({"title": ["x y", "z"], "label": ["a", "b"]})
    assert genaug.data.from_hf_dataset(other, text_column="title", tokenizer="byte").spec.tokenizer == "byte"
    with pytest.raises(ValueError, match="text_column: no column 'body'"):
        genaug.data.from_hf_dataset(other, text_column="body")


def test_census_names_handle_the_names_on_both_lists():
    pytest.importorskip("names")
    from genaug.data.text import census_names, load_names

    lists = census_names()
    assert (len(lists["male"]), len(lists["female"])) == (1219, 4275)
    shared = {n for n, _ in lists["male"]} & {n for n, _ in lists["female"]}
    assert len(shared) == 331
    assert len(load_names(both="keep")) == 1219 + 4275
    assert len(load_names(both="drop")) == 1219 + 4275 - 2 * 331
    frequent = load_names()
    assert len(frequent) == 1219 + 4275 - 331 and len(set(frequent.user_x())) == len(frequent)
    rows = dict(zip(frequent.user_x(), frequent.y.tolist()))
    male, female = dict(lists["male"]), dict(lists["female"])
    for name in sorted(shared)[:50]:
        assert rows[name.lower()] == (1 if male[name] > female[name] else 0), name


# ------------------------------------------------------------------------------------ charlm
def test_generic_families_refuse_text_and_name_the_one_that_takes_it(toy):
    with pytest.raises(ValueError, match=r"the 'vae' family does not model text data; families for it: \['charlm'\]"):
        genaug.create("vae", toy.spec)
    with pytest.raises(ValueError, match="models text data, not image data"):
        genaug.create("charlm", genaug.load_source("digits").spec)


def test_log_prob_is_a_distribution_over_every_string():
    # 2 symbols, at most 3 per string: 2 + 4 + 8 strings; an untrained model's probabilities sum to one (no empty string)
    data = from_texts(["ab", "bab", "a"], ["x", "y", "x"])
    model = genaug.create("charlm", data.spec, **TINY).eval()
    strings = ["".join(s) for n in (1, 2, 3) for s in itertools.product("ab", repeat=n)]
    z = data.spec.to_model(strings)
    for label in (0, 1):
        total = model.log_prob(z, torch.full((len(z),), label)).detach().exp().sum()
        assert math.isclose(float(total), 1.0, rel_tol=1e-5)
    assert math.isclose(float(model.log_prob(z).detach().exp().sum()), 1.0, rel_tol=1e-5)  # marginal over classes too


def test_fast_generation_follows_the_parallel_network(toy_model):
    # greedy draws (top_k=1): every generated symbol is the argmax of the teacher-forced logits at its position
    z = toy_model.sample_model({"label": torch.tensor([0, 1, 0, 1])}, top_k=1)
    logits = toy_model._logits(z.long(), {"label": torch.tensor([0, 1, 0, 1])})
    n = lengths(z)
    for i in range(len(z)):
        for t in range(int(n[i]) + 1):
            assert int(logits[i, t].argmax()) == int(z[i, t]), (i, t)


def test_samples_are_strings_of_the_asked_class_seeded_and_prefixed(toy, toy_model):
    a = toy_model.sample(40, labels="first", generator=gen(1))
    assert a == toy_model.sample(40, labels="first", generator=gen(1))
    assert all(isinstance(s, str) and s for s in a)
    assert sum(s.startswith("a") for s in a) >= 30  # class "first" starts with a
    b = toy_model.sample(40, labels="second", generator=gen(1))
    assert sum(s.startswith("n") for s in b) >= 30
    assert all(s.startswith("nu") for s in toy_model.sample(10, labels="first", prefix="nu", generator=gen(2)))
    mixed = toy_model.sample(2, labels=[0, 1], prefix=["ae", "ni"], generator=gen(2))
    assert mixed[0].startswith("ae") and mixed[1].startswith("ni")
    assert toy_model.sample(5, generator=gen(3), temperature=0.5, top_p=0.9) != toy_model.sample(5, generator=gen(4))


def test_guidance_draws_each_symbol_from_the_class_posterior_weighted_distribution():
    """The first symbol of a guided sample follows p(s | c) (p(s | c) / p(s)) ** w, p(s) the prior-weighted mix."""
    # overlapping classes: "first" starts with a 70% of the time, "second" 30%
    texts = [("a" if i % 10 < 7 else "b") + "x" for i in range(100)] + [("a" if i % 10 < 3 else "b") + "y" for i in range(100)]
    data = from_texts(texts, ["first"] * 100 + ["second"] * 100)
    model = genaug.fit(data, "charlm", steps=300, train={"progress": False, "eval_every": 100, "patience": None}, **TINY).eval()
    with torch.no_grad():
        first = model._logits(torch.zeros(2, data.spec.shape[0], dtype=torch.long), {"label": torch.tensor([0, 1])})[:, 0].log_softmax(-1)
    marginal = torch.logsumexp(first + model.class_prior.log()[:, None], 0)
    w, n, a = 2.0, 4000, data.spec.vocabulary.index("a") + 1
    guided = torch.where(torch.isfinite(first[0]), first[0] + w * (first[0] - marginal), first[0]).softmax(-1)
    counts = lambda samples: torch.bincount(data.spec.to_model(samples)[:, 0].long(), minlength=len(guided)).double() / n
    observed = counts(model.sample(n, labels="first", guidance=w, generator=gen(7)))
    plain = counts(model.sample(n, labels="first", guidance=0.0, generator=gen(7)))
    assert torch.allclose(observed, guided.double(), atol=0.03)
    assert torch.allclose(plain, first[0].exp().double(), atol=0.03)
    assert 0.55 < plain[a] < 0.85 and observed[a] > plain[a] + 0.1  # guidance pulls toward what sets the class apart
    with pytest.raises(ValueError, match="guidance: expected a finite number >= 0"):
        model.sample(2, guidance=-1.0)


def test_default_fit_on_twenty_strings_generalizes_instead_of_memorizing():
    # validated every 100 steps, a charlm memorized 20 strings between two checks (held-out 5.8 bits per
    # character here, worse than uniform); validated every 5 passes it stops before that
    texts, labels = toy_words(220, seed=1)
    data = from_texts(texts, labels)
    train, test = data.subset(np.arange(20)), data.subset(np.arange(20, 220))
    model = genaug.fit(train, "charlm", train={"progress": False})
    uniform = math.log2(len(data.spec.vocabulary) + 1)  # every symbol and the end mark equally likely
    assert genaug.bits_per_dim(model, test).bits_per_dim < uniform - 0.3
    samples = model.sample(100, labels="first", generator=gen())
    assert sum(s in set(texts[:20]) for s in samples) < 50  # not a copying machine


def test_sampling_options_are_checked(toy_model):
    for bad in (0, float("inf")):
        with pytest.raises(ValueError, match="temperature: expected a finite number > 0"):
            toy_model.sample(2, temperature=bad)
    with pytest.raises(ValueError, match="top_k: expected an integer"):
        toy_model.sample(2, top_k=0)
    with pytest.raises(ValueError, match=r"top_p: expected a probability"):
        toy_model.sample(2, top_p=1.5)
    with pytest.raises(ValueError, match=r"prefix: characters \['z'\]"):
        toy_model.sample(2, prefix="z")
    with pytest.raises(ValueError, match="prefix: expected one string or 2"):
        toy_model.sample(2, prefix=["a", "a", "a"])
    with pytest.raises(TypeError, match="temperature: not a sampling option of the 'gmm' family"):
        genaug.fit("wine", "gmm", steps=2).sample(2, temperature=0.5)


def test_bits_per_character_count_each_strings_end_mark(toy, toy_model):
    result = genaug.bits_per_dim(toy_model, toy)
    log_p = toy_model.log_prob(toy.x, toy.y).detach()
    expected = float(-log_p.double().sum() / math.log(2) / (lengths(toy.x) + 1).sum())
    assert math.isclose(result.bits_per_dim_conditional, expected, rel_tol=1e-6)
    assert result.discrete and result.bits_per_dim < math.log2(toy.spec.shape[0])  # far below uniform over the symbols
    held_out = from_texts(["aeen", "naoa"], ["first", "second"])  # another spec: conformed to the model's
    assert genaug.bits_per_dim(toy_model, held_out).n == 2
    with pytest.raises(ValueError, match=r"characters \['z'\]"):
        genaug.bits_per_dim(toy_model, from_texts(["az"], ["first"]))


def test_save_and_load_keep_the_vocabulary(toy_model, tmp_path):
    toy_model.save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["spec"]["vocabulary"] == list(toy_model.spec.vocabulary) and config["spec"]["tokenizer"] == "char"
    loaded = genaug.load(tmp_path / "m")
    assert loaded.sample(8, generator=gen(5)) == toy_model.sample(8, generator=gen(5))


def test_text_classifiers_learn_the_classes(toy):
    for model in (NgramLogReg(2, buckets=1024), CharCNN(10, 2, width=16)):
        optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
        for _ in range(60):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(toy.x), toy.y).backward()
            optimizer.step()
        assert (model(toy.x).argmax(1) == toy.y).float().mean() > 0.95, type(model).__name__


def test_text_samples_are_drawn_as_a_table(toy, tmp_path):
    toy.spec.save_samples(toy.x[:10], tmp_path / "s.png", nrow=4)
    assert (tmp_path / "s.png").stat().st_size > 100


def test_ngram_baselines_are_distributions_and_choose_on_validation():
    from genaug.evaluate.ngram import NgramLM, best_ngram

    texts = ["anna", "anne", "hanna", "bob", "bobby", "ann"]
    for lm in (NgramLM(texts, 3), NgramLM(texts, 2, smoothing="add-k", k=0.5), NgramLM(texts, 1)):
        for context in ("", "a", "an", "zz"):
            assert math.isclose(sum(lm.prob(context, s) for s in lm.symbols), 1.0, rel_tol=1e-9), (lm.order, context)
    lm = NgramLM(texts, 2, smoothing="add-k", k=1.0)
    assert math.isclose(lm.prob("a", "n"), (4 + 1) / (6 + 1 * len(lm.symbols)))  # a then n 4 times, a 6 times
    best, tried = best_ngram(texts, ["anna", "bob"], orders=(2, 3), ks=(0.1,))
    assert len(tried) == 4 and best.validation_bits_per_char == min(t.validation_bits_per_char for t in tried)


def test_cli_fits_a_text_file_and_samples_strings(tmp_path, capsys):
    from genaug.cli import main

    rows = [{"name": n, "sex": s} for n, s in [("anna", "f"), ("anne", "f"), ("bob", "m"), ("bert", "m")] * 10]
    (tmp_path / "names.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    out = tmp_path / "m"
    args = ["fit", "--data", str(tmp_path / "names.jsonl"), "--text-column", "name", "--label-column", "sex"]
    assert main([*args, "--family", "charlm", "--out", str(out), "--steps", "20", "--set", "embed=8", "residual=8", "skip=8", "head=8"]) == 0
    assert main(["sample", str(out), "-n", "6", "--labels", "m", "--out", str(tmp_path / "s.npz"), "--grid", str(tmp_path / "s.png")]) == 0
    saved = np.load(tmp_path / "s.npz", allow_pickle=False)
    assert saved["x"].dtype.kind == "U" and len(saved["x"]) == 6 and set(saved["y"].tolist()) == {1}
    assert (tmp_path / "s.png").stat().st_size > 100
    assert main(["fit", "--data", "digits", "--text-column", "name", "--out", str(tmp_path / "x")]) == 2
    assert "--text-column: the source 'digits'" in capsys.readouterr().err


def test_edit_distances_memorization_and_the_copy_filter():
    from genaug.evaluate.memorization import edit_distances
    from genaug.evaluate.textmetrics import CopyFilter, distinct_n, text_memorization

    rng = np.random.default_rng(0)
    words = ["".join(rng.choice(list("abcd"), size=rng.integers(0, 7))) for _ in range(40)]

    def reference(a: str, b: str) -> int:  # the textbook dynamic programme
        row = list(range(len(b) + 1))
        for i, ca in enumerate(a, 1):
            prev, row[0] = row[0], i
            for j, cb in enumerate(b, 1):
                prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
        return row[-1]

    got = edit_distances(words, words[::-1])
    assert got.tolist() == [[reference(a, b) for b in words[::-1]] for a in words]
    train = ["anna", "anne", "bob", "bert", "carl"]
    copies = text_memorization(train * 2, train)
    assert copies.exact_copy_share == 1.0 and copies.ratio == 0.0 and copies.novelty == 0.0
    fresh = text_memorization(["zed", "ulla", "bobby"], train)
    assert fresh.exact_copy_share == 0.0 and fresh.novelty == 1.0 and fresh.ratio > 0.3
    assert distinct_n(["abab"], 2) == 2 / 3 and distinct_n(["ab", "cd"], 2) == 1.0
    data = from_texts(train)
    keep = CopyFilter(data)(["anna", "annas", "zed"], torch.zeros(3, dtype=torch.long))
    assert keep.tolist() == [False, True, True]
    near = CopyFilter(data, max_distance=1)
    assert near(["anna", "annas", "zed"], torch.zeros(3, dtype=torch.long)).tolist() == [False, False, True]
    assert near.report()["dropped"] == 2


def test_feature_space_and_class_fidelity_on_text(toy, toy_model):
    from genaug.evaluate.features import FeatureSpace
    from genaug.evaluate.fidelity import class_fidelity

    space = FeatureSpace.fit(toy, steps=100)
    assert space.val_accuracy > 0.9 and space.features(toy.x).shape == (len(toy), 64)
    labels = torch.tensor([0, 1] * 50)
    samples = toy_model.sample(100, labels=labels, generator=gen(0))
    assert class_fidelity(space, toy.spec.to_model(samples), labels)["accuracy"] > 0.8


def test_character_noise_transforms_keep_the_structure_and_never_empty_a_string():
    from torchvision.transforms import v2

    from genaug.transforms import CharDelete, CharInsert, CharSwap, KeyboardSubstitute

    torch.manual_seed(0)
    assert sorted(CharSwap(p=1.0)("abcd")) == list("abcd")
    assert CharDelete(p=1.0)("abc") in {"a", "b", "c"}
    assert len(CharInsert(p=1.0, alphabet="z")("ab")) == 4 and CharInsert(p=1.0, alphabet="z")("ab") == "azbz"
    changed = KeyboardSubstitute(p=1.0)("Qa-1")
    assert changed[0].isupper() and changed[0] in "WA" and changed[1] in "qwsz" and changed[2] == "-" and changed[3] in "2q"
    assert CharSwap(p=0.5)(("martha", "female"))[1] == "female"
    assert CharDelete(p=0.5)({"text": "martha", "label": 1})["label"] == 1
    assert isinstance(CharSwap(p=0.5)(["martha", 0]), list)
    torch.manual_seed(3)
    first = v2.Compose([CharSwap(0.2), v2.RandomApply([KeyboardSubstitute(0.2)], p=0.5)])(("martha", 0))
    torch.manual_seed(3)
    assert v2.Compose([CharSwap(0.2), v2.RandomApply([KeyboardSubstitute(0.2)], p=0.5)])(("martha", 0)) == first
    with pytest.raises(ValueError, match="p: expected a probability"):
        CharSwap(p=2)
    with pytest.raises(TypeError, match="expected a string"):
        CharSwap()(3)
