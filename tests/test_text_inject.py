"""Text models in every injector (issue 18): SamplePool, SyntheticSwap, SyntheticRows, generate_dataset, mix."""

from __future__ import annotations

import pickle
from collections import Counter

import datasets
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset
from torchvision.transforms import v2

import genaug
from conftest import toy_words
from genaug.data import from_texts
from genaug.evaluate.textmetrics import CopyFilter
from genaug.hf import SyntheticRows, generate_dataset
from genaug.inject import SamplePool, mix
from genaug.modalities import get_modality
from genaug.transforms import CharSwap, LatentJitter, SyntheticSwap

TINY = {"embed": 8, "residual": 8, "skip": 8, "head": 16, "label_dim": 4}
CLASSES = ("first", "second")
FEATURES = datasets.Features(
    {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=list(CLASSES)), "id": datasets.Value("int64")}
)


@pytest.fixture(scope="module")
def toy():
    return from_texts(*toy_words())


@pytest.fixture(scope="module")
def model_dir(toy, tmp_path_factory):
    """A charlm of the toy data, saved (pools made from the folder reload it in worker processes)."""
    model = genaug.fit(toy, "charlm", steps=150, train={"progress": False, "eval_every": 50}, **TINY)
    out = tmp_path_factory.mktemp("charlm")
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def model(model_dir):
    return genaug.load(model_dir)


def is_model_string(text: object, spec) -> bool:
    """A string the model can make: a str of 1..T-1 characters of its vocabulary that round-trips its encoding."""
    return (
        isinstance(text, str)
        and 1 <= len(text) <= spec.shape[0] - 1
        and set(text) <= set(spec.vocabulary)
        and spec.to_user(spec.to_model([text])) == [text]
    )


def of_class(text: str, label: int) -> bool:
    return text.startswith("a" if label == 0 else "n")


def table(toy, n: int = 24) -> datasets.Dataset:
    texts = toy.user_x()[:n]
    return datasets.Dataset.from_dict({"text": texts, "label": toy.y[:n].tolist(), "id": list(range(n))}, features=FEATURES)


# ---------------------------------------------------------------------------------------- SamplePool
def test_pool_serves_strings_of_the_asked_classes_that_provenance_regenerates(model):
    pool = SamplePool(model, batch_size=32, seed=0)
    texts, info = pool.take([0, 1, 0, "second"])
    assert isinstance(texts, list) and len(texts) == 4 and all(is_model_string(t, model.spec) for t in texts)
    assert [p.label for p in info] == [0, 1, 0, 1] and {p.family for p in info} == {"charlm"}
    for text, p in zip(texts, info):  # the provenance regenerates each string
        again = model.sample(32, labels=torch.full((32,), p.label), generator=torch.Generator().manual_seed(p.seed))
        assert again[p.index] == text
    many = pool.take([0] * 40 + [1] * 40)[0]
    assert sum(of_class(t, 0) for t in many[:40]) >= 30 and sum(of_class(t, 1) for t in many[40:]) >= 30
    served = pool.serve(np.array([1, 0, 1]))
    assert served.dtype == np.dtype(f"<U{model.spec.shape[0] - 1}") and served.shape == (3,)
    assert all(is_model_string(t, model.spec) for t in served.tolist())
    assert pool.take([], provenance=False) == ([], None)


def test_pool_text_streams_depend_on_the_seeds_only_and_survive_pickling(model_dir):
    a = SamplePool(model_dir, batch_size=16, seed=3, prefetch=False).take([1] * 40)[0]
    pool = SamplePool(model_dir, batch_size=16, seed=3, prefetch=True)
    served = [t for _ in range(20) for t in pool.take([1, 0, 0, 1])[0]]
    b = [t for i, t in enumerate(served) if i % 4 in (0, 3)]  # the class-1 requests, in order
    assert a == b
    assert SamplePool(model_dir, batch_size=16, seed=4).take([1] * 40)[0] != a
    copy = pickle.loads(pickle.dumps(SamplePool(model_dir, batch_size=16, seed=3)))
    assert copy.take([1] * 40)[0] == a


def test_reuse_serves_every_string_k_times(model):
    pool = SamplePool(model, batch_size=16, seed=0, reuse=3, prefetch=False)
    texts, info = pool.take([0] * 48)
    assert set(Counter((p.seed, p.index) for p in info).values()) == {3}  # 16 draws, each served 3 times
    by_draw = {(p.seed, p.index): t for t, p in zip(texts, info)}
    assert all(by_draw[(p.seed, p.index)] == t for t, p in zip(texts, info))


def test_filters_see_lists_of_strings_and_drop_what_they_should(toy, model):
    seen = []

    def short(x, labels):
        seen.append((type(x).__name__, {type(t).__name__ for t in x}, len(x)))
        return torch.tensor([len(t) <= 4 for t in x])

    texts = SamplePool(model, batch_size=32, seed=0, filter=short, prefetch=False).take([0] * 20 + [1] * 20)[0]
    assert all(len(t) <= 4 for t in texts) and seen[0] == ("list", {"str"}, 32)
    copies = CopyFilter(toy)
    texts = SamplePool(model, batch_size=64, seed=0, filter=copies, prefetch=False).take([0, 1] * 30)[0]
    training = set(toy.user_x())
    assert not training & set(texts) and copies.dropped > 0  # the model copies some training strings; none are served


def test_data_checks_take_text_of_any_length_and_refuse_other_modalities(toy, model, digits):
    longer = from_texts(["aeiouaeiouaeioun", "na"], list(CLASSES))  # a longer longest string than the model's
    assert SamplePool(model, data=longer).spec.shape != longer.spec.shape
    with pytest.raises(ValueError, match=r"data: the generator does not fit: data holds images of shape \(1, 8, 8\), the model makes texts"):
        SamplePool(model, data=digits)
    with pytest.raises(ValueError, match=r"classes \['third'\] of the data are unknown to the model"):
        SamplePool(model, data=from_texts(["ab", "ba"], ["first", "third"]))
    with pytest.raises(ValueError, match="loader: the generator does not fit"):
        mix(DataLoader(digits, batch_size=4), SamplePool(model))


def test_the_bank_is_wide_enough_for_the_longest_string_of_either_tokenizer():
    text = get_modality("text")
    spec = from_texts(["日本語", "ab"], tokenizer="byte").spec  # 9 bytes: T = 10
    assert text.bank_dtype(spec) == np.dtype("<U9")
    assert text.samples_to_numpy(spec, ["日本語", "\ufffd" * 9]).tolist() == ["日本語", "\ufffd" * 9]
    with pytest.raises(ValueError, match=r"samples\[0\]: 'abcdefghij' has 10 characters, more than the 9"):
        text.samples_to_numpy(spec, ["abcdefghij"])
    with pytest.raises(ValueError, match=r"samples\[1\]: expected a string, got int"):
        text.samples_to_numpy(spec, ["ab", 3])
    assert get_modality("image").bank_dtype(genaug.load_source("digits").spec) == np.dtype("float64")


# ---------------------------------------------------------------------------------------- SyntheticSwap
def test_synthetic_swap_replaces_the_string_of_tuples_lists_and_dicts(model):
    swap = SyntheticSwap(SamplePool(model, batch_size=32, seed=0), p=1.0)
    text, label = swap(("aeen", 0))
    assert is_model_string(text, model.spec) and label == 0
    out = swap(["naoa", torch.tensor(1)])
    assert isinstance(out, list) and is_model_string(out[0], model.spec) and torch.equal(out[1], torch.tensor(1))
    row = swap({"id": 7, "text": "aeen", "label": np.int64(0), "source": "census"})
    assert set(row) == {"id", "text", "label", "source"} and row["id"] == 7 and row["source"] == "census"
    assert is_model_string(row["text"], model.spec) and row["label"] == 0 and isinstance(row["label"], np.int64)
    swapped = [swap(("naoa", 1))[0] for _ in range(30)]
    assert sum(of_class(t, 1) for t in swapped) >= 22  # strings of the sample's class
    assert SyntheticSwap(model, p=0.0)(("aeen", 0)) == ("aeen", 0)


def test_synthetic_swap_is_seeded_by_torch_and_works_in_compose(model_dir, model):
    def run() -> list:
        torch.manual_seed(0)
        pipeline = v2.Compose([SyntheticSwap(SamplePool(model_dir, batch_size=16, seed=1), p=0.5), CharSwap(p=0.0, at_least_one=False)])
        return [pipeline(("aeiin", 0)) for _ in range(20)]

    a = run()
    assert a == run()
    swapped = [text for text, _ in a if text != "aeiin"]
    assert 3 <= len(swapped) <= 17 and all(is_model_string(t, model.spec) for t in swapped)
    two_inputs = v2.Compose([SyntheticSwap(model, p=1.0)])("aeen", 0)  # v2 unpacks several inputs
    assert isinstance(two_inputs, tuple) and is_model_string(two_inputs[0], model.spec) and two_inputs[1] == 0


def test_synthetic_swap_with_balance_updates_the_label(model):
    torch.manual_seed(0)
    swap = SyntheticSwap(SamplePool(model, batch_size=32, seed=0), p=1.0, balance={"second": 1.0})
    for sample in [("aeen", 0), {"text": "aon", "label": torch.tensor(0)}]:
        out = swap(sample)
        text, label = (out["text"], out["label"]) if isinstance(out, dict) else out
        assert int(label) == 1 and is_model_string(text, model.spec)
        assert type(label) is type(sample[1] if isinstance(sample, tuple) else sample["label"])


def test_synthetic_swap_refuses_samples_of_the_other_modality(model, digits_gmm_dir):
    swap = SyntheticSwap(model, p=1.0)
    with pytest.raises(ValueError, match=r"SyntheticSwap: the generator does not fit: the model makes text .* holds no string .*Tensor"):
        swap((torch.zeros(1, 8, 8), 0))
    with pytest.raises(ValueError, match="SyntheticSwap: the sample holds no class label"):
        swap("aeen")
    with pytest.raises(ValueError, match=r"the sample holds a string \('aeen'\) and no image, the model makes images of shape \(1, 8, 8\)"):
        SyntheticSwap(digits_gmm_dir, p=1.0)(("aeen", 3))
    image, label = SyntheticSwap(digits_gmm_dir, p=1.0)((torch.zeros(1, 8, 8), 3, "file.png"))[:2]  # a path beside an image is fine
    assert image.shape == (1, 8, 8) and label == 3
    with pytest.raises(ValueError, match="value_range: the model makes text"):
        SyntheticSwap(model, value_range=(0, 1))
    with pytest.raises(ValueError, match="LatentJitter needs a family with an encoder"):
        LatentJitter(model)


# ---------------------------------------------------------------------------------------- SyntheticRows
def test_synthetic_rows_append_and_swap_strings(toy, model):
    data = table(toy)
    rows = SyntheticRows(SamplePool(model, batch_size=32, seed=0), ratio=0.5, data=data, provenance=True)
    out = data.map(rows, batched=True, with_indices=True, batch_size=8)
    assert out.features["text"] == datasets.Value("string") and out.features["label"] == FEATURES["label"]
    real, synthetic = out.filter(lambda r: not r["is_synthetic"]), out.filter(lambda r: r["is_synthetic"])
    assert real["text"] == data["text"] and real["id"] == data["id"] and 4 <= len(synthetic) <= 20
    drawn = {}
    for row in synthetic:
        assert is_model_string(row["text"], model.spec) and row["id"] is None
        p = row["provenance"]
        if (p["label"], p["seed"]) not in drawn:
            drawn[p["label"], p["seed"]] = model.sample(32, labels=p["label"], generator=torch.Generator().manual_seed(p["seed"]))
        assert drawn[p["label"], p["seed"]][p["index"]] == row["text"] and p["label"] == row["label"]
    swapped = data.map(SyntheticRows(model, mode="swap", ratio=0.5, seed=0), batched=True, batch_size=8)
    assert len(swapped) == len(data) and swapped["label"] == data["label"]
    flags = np.array(swapped["is_synthetic"])
    assert 4 <= flags.sum() <= 20
    for new, old in zip(swapped, data):
        if new["is_synthetic"]:
            assert is_model_string(new["text"], model.spec) and new["id"] is None
        else:
            assert new == {**old, "is_synthetic": False}


def test_synthetic_rows_streaming_gives_what_dataset_map_gives(toy, model_dir):
    data = table(toy)
    eager = data.map(SyntheticRows(model_dir, ratio=0.7, seed=3), batched=True, with_indices=True, batch_size=8)
    lazy = list(data.to_iterable_dataset().map(SyntheticRows(model_dir, ratio=0.7, seed=3), batched=True, with_indices=True, batch_size=8))
    assert [r["text"] for r in lazy] == eager["text"] and [r["label"] for r in lazy] == eager["label"]
    assert [r["is_synthetic"] for r in lazy] == eager["is_synthetic"]
    other = data.map(SyntheticRows(model_dir, ratio=0.7, seed=4), batched=True, with_indices=True, batch_size=8)
    assert other["text"] != eager["text"]


def test_synthetic_rows_refuse_columns_of_the_other_modality(toy, model, digits_gmm_dir, digits):
    with pytest.raises(ValueError, match=r"the pipeline's samples are strings \(here 'a.*'\), the model makes images"):
        SyntheticRows(digits_gmm_dir, columns="text", data=table(toy))
    pixels = datasets.Dataset.from_dict({"text": digits.user_x()[:4].tolist(), "label": [0, 1, 0, 1]})
    with pytest.raises(ValueError, match=r"the pipeline's samples are a ndarray of shape \(8, 8\), the model makes text"):
        SyntheticRows(model, data=pixels)
    numbers = datasets.Features({"text": datasets.Value("float32"), "label": datasets.ClassLabel(names=list(CLASSES))})
    with pytest.raises(ValueError, match=r"column 'text' holds Value\('float32'\), the model makes text"):
        SyntheticRows(model, data=numbers)
    SyntheticRows(model, data=FEATURES)  # a string column fits
    with pytest.raises(ValueError, match="columns: none of"):
        SyntheticRows(model, data=datasets.Dataset.from_dict({"title": ["aen"], "label": [0]}))
    with pytest.raises(ValueError, match="the model makes text"):  # checked on the first batch without data=
        pixels.map(SyntheticRows(model), batched=True)


# ---------------------------------------------------------------------------------------- generate_dataset
def test_generate_dataset_writes_a_string_column(tmp_path, model):
    ds = generate_dataset(model, 50, tmp_path / "names", labels="uniform", chunk_size=16, batch_size=32, provenance=True)
    assert ds.features["text"] == datasets.Value("string") and ds.features["label"].names == list(CLASSES)
    assert len(ds) == 50 and all(ds["is_synthetic"]) and all(is_model_string(t, model.spec) for t in ds["text"])
    assert sum(of_class(t, label) for t, label in zip(ds["text"], ds["label"])) >= 40
    again = generate_dataset(model, 20, tmp_path / "prefix", labels="uniform", chunk_size=7, batch_size=32)
    assert again["text"] == ds["text"][:20] and again["label"] == ds["label"][:20]
    assert genaug.data.from_hf_dataset(ds).user_x() == ds["text"]
    named = generate_dataset(model, 4, tmp_path / "named", image_column="name", labels=[0, 1, 1, 0])
    assert named.column_names[0] == "name" and named["label"] == [0, 1, 1, 0]


# ---------------------------------------------------------------------------------------- mix
class Names(torch.utils.data.Dataset):
    def __init__(self, texts, labels):
        self.texts, self.labels = texts, labels

    def __len__(self):
        return len(self.texts)

    def __getitem__(self, i):
        return self.texts[i], int(self.labels[i])


def test_mix_lists_of_strings_replace_and_extend(toy, model_dir, model):
    texts, labels = toy.user_x()[:64], toy.y[:64]
    loader = DataLoader(Names(texts, labels), batch_size=16)
    pool = SamplePool(model_dir, batch_size=64, seed=0)
    for (x, y), (x0, y0) in zip(mix(loader, pool, ratio=0.5), loader):
        assert isinstance(x, list) and len(x) == 16 and torch.equal(y, y0)
        new = [i for i in range(16) if x[i] != x0[i]]
        assert 3 <= len(new) <= 13 and all(is_model_string(x[i], model.spec) for i in new)
    extended = list(mix(loader, pool, ratio=0.25, mode="extend"))
    assert len(extended) == 6 and all(len(x) == len(y) for x, y in extended)
    x, y = extended[0]
    assert x[:12] == texts[:12] and y[:12].tolist() == labels[:12].tolist() and len(x) == 16
    assert all(is_model_string(t, model.spec) for t in x[12:]) and set(y[12:].tolist()) <= set(y[:12].tolist())
    balanced = next(iter(mix(loader, pool, ratio=1.0, balance={"second": 1.0})))
    assert balanced[1].tolist() == [1] * 16 and sum(of_class(t, 1) for t in balanced[0]) >= 12


def test_mix_in_worker_processes_draws_strings(toy, model_dir, model):
    loader = DataLoader(Names(toy.user_x()[:32], toy.y[:32]), batch_size=8, num_workers=1, generator=torch.Generator().manual_seed(0))
    mixed = mix(loader, SamplePool(model_dir, batch_size=32, seed=0), ratio=1.0)
    assert mixed.in_workers
    batches = list(mixed)
    assert len(batches) == 4 and all(all(is_model_string(t, model.spec) for t in x) for x, _ in batches)
    assert [b[1].tolist() for b in batches] == [toy.y[i : i + 8].tolist() for i in range(0, 32, 8)]


def test_mix_tokenized_batches_use_the_models_encoding_and_widen_the_batch(toy, model):
    spec = model.spec
    texts = toy.user_x()[:32]
    ids = spec.to_model(texts).long()
    short = ids[:, :3]  # a batch cut to 3 columns: synthetic strings need more, so the batch widens
    pool = SamplePool(model, batch_size=64, seed=0)
    x, y = next(iter(mix(DataLoader(TensorDataset(short, toy.y[:32]), batch_size=16), pool, ratio=0.5)))
    assert x.dtype == torch.long and x.shape[0] == 16 and x.shape[1] > 3
    decoded = spec.to_user(x.float())
    real = [i for i in range(16) if torch.equal(x[i, :3], short[i]) and not x[i, 3:].any()]
    new = [i for i in range(16) if i not in real]
    assert 3 <= len(new) <= 13 and all(is_model_string(decoded[i], spec) for i in new)
    assert max(len(decoded[i]) for i in new) == x.shape[1] - int((x[new] == 0).all(0).sum())  # widened to the longest, no more
    assert torch.equal(y, toy.y[:16])
    # a full-width float batch keeps its width and dtype; the dict's attention_mask follows the ids
    batch = {"input_ids": ids[:16].float(), "attention_mask": (ids[:16] != 0).long(), "label": toy.y[:16]}
    out = next(iter(mix([batch], pool, ratio=0.5, mode="replace", seed=1)))
    assert out["input_ids"].dtype == torch.float32 and out["input_ids"].shape == (16, spec.shape[0])
    assert torch.equal(out["attention_mask"], (out["input_ids"] != 0).long())
    assert all(is_model_string(t, spec) for t in spec.to_user(out["input_ids"]))
    wide = next(iter(mix([{"input_ids": short[:8], "attention_mask": (short[:8] != 0).long(), "label": toy.y[:8]}], pool, ratio=1.0)))
    assert wide["input_ids"].shape == wide["attention_mask"].shape and torch.equal(wide["attention_mask"], (wide["input_ids"] != 0).long())


def test_mix_tokenized_extend_and_transform(toy, model):
    spec = model.spec
    ids = spec.to_model(toy.user_x()[:32]).long()
    pool = SamplePool(model, batch_size=64, seed=0)
    loader = DataLoader(TensorDataset(ids, toy.y[:32]), batch_size=8)
    x, y = next(iter(mix(loader, pool, ratio=0.5, mode="extend")))
    assert x.shape == (8, spec.shape[0]) and torch.equal(x[:4], ids[:4]) and y[:4].tolist() == toy.y[:4].tolist()
    assert all(is_model_string(t, spec) for t in spec.to_user(x[4:].float()))

    def reverse_ids(text: str) -> torch.Tensor:  # a tokenizer of the caller's: the string reversed, padded to 8
        row = spec.to_model([text[::-1]])[0].long()
        return torch.nn.functional.pad(row, (0, 8 - len(row)))

    padded = torch.nn.functional.pad(ids, (0, 8 - ids.shape[1]))
    x, y = next(iter(mix(DataLoader(TensorDataset(padded, toy.y[:32]), batch_size=8), pool, ratio=1.0, transform=reverse_ids)))
    assert x.shape == (8, 8) and x.dtype == torch.long and y.tolist() == toy.y[:8].tolist()
    assert all(is_model_string(t[::-1], spec) for t in spec.to_user(x.float()))
    with pytest.raises(ValueError, match=r"transform: it made items of shape \(3,\)"):
        next(iter(mix(loader, pool, ratio=1.0, transform=lambda text: torch.zeros(3, dtype=torch.long))))
    with pytest.raises(ValueError, match="transform: the batch has an 'attention_mask'"):
        next(iter(mix([{"input_ids": ids[:4], "attention_mask": ids[:4] != 0, "label": toy.y[:4]}], pool, transform=reverse_ids)))
    lowered = next(iter(mix(DataLoader(Names(toy.user_x()[:8], toy.y[:8]), batch_size=8), pool, ratio=1.0, transform=str.upper)))
    assert all(t.isupper() and is_model_string(t.lower(), spec) for t in lowered[0])


def test_mix_refuses_batches_of_the_other_modality(toy, model, digits_gmm_dir, digits):
    pool = SamplePool(model, batch_size=16)
    with pytest.raises(ValueError, match=r"the model makes text .* the batch's inputs are a Tensor of shape \(4, 8, 8\)"):
        next(iter(mix([(digits.user_x()[:4], digits.y[:4])], pool)))
    with pytest.raises(ValueError, match=r"the batch's inputs are strings \(here 'aeen'\), the model makes images of shape \(1, 8, 8\)"):
        next(iter(mix([(["aeen", "naa"], torch.tensor([0, 1]))], SamplePool(digits_gmm_dir, batch_size=16))))
    with pytest.raises(ValueError, match="value_range: the model makes text"):
        mix([], pool, value_range=(0, 1))
    with pytest.raises(ValueError, match=r"the batch's inputs are a Tensor of shape \(4, 3, 2\)"):
        next(iter(mix([(torch.ones(4, 3, 2, dtype=torch.long), torch.tensor([0, 1, 0, 1]))], pool)))
