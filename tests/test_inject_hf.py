"""Hugging Face datasets: SyntheticRows in Dataset.map / IterableDataset.map, and generate_dataset."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
import torch
from PIL import Image

import genaug
from genaug.hf import SyntheticRows, _dataset, generate_dataset

COLOURS = ("red", "green", "blue")  # class c: channel c bright


def colour_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 8, 8, 3) uint8 images whose class is the bright channel, and their labels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    x = rng.integers(10, 50, size=(n, 8, 8, 3))
    x[np.arange(n), :, :, labels] += 160
    return x.astype(np.uint8), labels


@pytest.fixture(scope="module")
def rgb_model(tmp_path_factory):
    x, y = colour_images(60)
    out = tmp_path_factory.mktemp("rgb")
    genaug.fit(
        genaug.from_arrays(x, y, class_names=list(COLOURS)), "gmm", steps=5, out=out, train={"checkpoint_every": 0}
    )
    return out


@pytest.fixture(scope="module")
def wine_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("wine")
    genaug.fit("wine", "gmm", steps=5, out=out, train={"checkpoint_every": 0})
    return out


def image_table(names=COLOURS, n: int = 48) -> datasets.Dataset:
    x, y = colour_images(n, seed=1)
    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=list(names)), "id": datasets.Value("int64")}
    )
    return datasets.Dataset.from_dict(
        {"image": [Image.fromarray(a) for a in x], "label": y.tolist(), "id": list(range(n))}, features=features
    )


def digits_table(digits, n: int = 60) -> datasets.Dataset:
    names = list(digits.spec.class_names)
    features = datasets.Features(
        {
            "pixels": datasets.List(datasets.List(datasets.Value("float64"))),
            "label": datasets.ClassLabel(names=names),
            "id": datasets.Value("int64"),
        }
    )
    x = digits.user_x()[:n].tolist()
    return datasets.Dataset.from_dict(
        {"pixels": x, "label": digits.y[:n].tolist(), "id": list(range(n))}, features=features
    )


def wine_table(keep_per_class=(59, 30, 8)) -> datasets.Dataset:
    """Wine as a table, one column per feature, imbalanced: the first rows of each class."""
    wine = genaug.load_source("wine")
    x, y = wine.user_x().numpy(), wine.y.numpy()
    rows = np.concatenate([np.flatnonzero(y == c)[:k] for c, k in enumerate(keep_per_class)])
    columns = {name: x[rows, d].tolist() for d, name in enumerate(wine.spec.feature_names)}
    features = datasets.Features(
        {name: datasets.Value("float64") for name in columns}
        | {"label": datasets.ClassLabel(names=list(wine.spec.class_names))}
    )
    return datasets.Dataset.from_dict(columns | {"label": y[rows].tolist()}, features=features)


def dominant_channel(image: Image.Image) -> int:
    return int(np.asarray(image, dtype=np.float64).mean(axis=(0, 1)).argmax())


def as_arrays(rows) -> list:
    return [np.asarray(row["image"]) if row["image"] is not None else None for row in rows]


# ---------------------------------------------------------------------------------------- map: append / swap
def test_append_adds_flagged_synthetic_images_after_each_batch(rgb_model):
    table = image_table()
    rows = SyntheticRows(rgb_model, ratio=0.5, data=table, seed=0)
    out = table.map(rows, batched=True, with_indices=True, batch_size=16)
    assert out.features["image"] == datasets.Image() and out.features["label"] == table.features["label"]
    assert out.features["is_synthetic"] == datasets.Value("bool")
    real, synthetic = out.filter(lambda r: not r["is_synthetic"]), out.filter(lambda r: r["is_synthetic"])
    assert real["id"] == table["id"] and [np.asarray(i).tolist() for i in real["image"]] == [
        np.asarray(i).tolist() for i in table["image"]
    ]
    assert 12 <= len(synthetic) <= 36 and set(synthetic["id"]) == {None}
    for row in synthetic:
        assert row["image"].mode == "RGB" and row["image"].size == (8, 8)
        assert dominant_channel(row["image"]) == row["label"]  # the sample is of the class it is labelled with
    # each batch of 16 real rows is followed by its synthetic rows, labelled like rows of that batch
    batch_labels, seen = set(), 0
    for row in out:
        if not row["is_synthetic"]:
            if seen % 16 == 0:
                batch_labels = set()
            batch_labels.add(row["label"])
            seen += 1
        else:
            assert row["label"] in batch_labels


def test_swap_on_an_array_column_keeps_lists_labels_and_length(digits_gmm_dir, digits):
    table = digits_table(digits)
    out = table.map(
        SyntheticRows(digits_gmm_dir, mode="swap", ratio=0.3, columns="pixels", seed=0), batched=True, batch_size=20
    )
    assert len(out) == len(table) and out["label"] == table["label"]  # same-class swaps
    flags = np.array(out["is_synthetic"])
    assert 8 <= flags.sum() <= 30
    for new, old in zip(out, table):
        if new["is_synthetic"]:
            pixels = np.array(new["pixels"])
            assert isinstance(new["pixels"], list) and pixels.shape == (8, 8) and new["id"] is None
            assert np.array_equal(pixels, pixels.round()) and pixels.min() >= 0 and pixels.max() <= 16
            assert not np.array_equal(pixels, np.array(old["pixels"]))
        else:
            assert new == {**old, "is_synthetic": False}


def test_numpy_formatted_arrays_come_back_as_arrays(digits_gmm_dir, digits):
    table = digits_table(digits, 24).cast_column("pixels", datasets.Array2D((8, 8), "float64")).with_format("numpy")
    rows = SyntheticRows(digits_gmm_dir, mode="swap", ratio=1.0, columns="pixels", data=table, seed=0)
    batch = table[:8]
    out = rows(batch, list(range(8)))
    dtype = batch["pixels"].dtype  # datasets' numpy format hands out float32
    assert all(isinstance(cell, np.ndarray) and cell.shape == (8, 8) and cell.dtype == dtype for cell in out["pixels"])
    assert out["is_synthetic"] == [True] * 8 and [int(v) for v in out["label"]] == batch["label"].tolist()
    mapped = table.map(rows, batched=True, batch_size=8)
    assert mapped.features["pixels"] == datasets.Array2D((8, 8), "float64") and all(mapped["is_synthetic"])


def test_numeric_columns_with_uniform_balance_even_out_the_classes(wine_model):
    table = wine_table()
    rows = SyntheticRows(wine_model, ratio=1.0, balance="uniform", data=table, provenance=True, seed=0)
    out = table.map(rows, batched=True, with_indices=True, batch_size=32)
    before = np.bincount(table["label"], minlength=3) / len(table)
    after = np.bincount(out["label"], minlength=3) / len(out)
    assert before[2] < 0.1 and after[2] > 0.25 and after[0] < 0.45
    spec = genaug.load(wine_model).spec
    synthetic = out.filter(lambda r: r["is_synthetic"])
    for d, name in enumerate(spec.feature_names):  # one scalar per feature, in the model's range
        values = np.array(synthetic[name])
        assert (
            values.dtype == np.float64 and spec.feature_min[d] <= values.min() and values.max() <= spec.feature_max[d]
        )
    info = synthetic[0]["provenance"]
    assert info["family"] == "gmm" and info["label"] == synthetic[0]["label"]
    assert set(out.filter(lambda r: not r["is_synthetic"])["provenance"]) == {None}


def test_class_names_are_matched_by_name_not_position(rgb_model):
    reordered = ("blue", "red", "green")  # data index 0 is the model's class 2
    x, y = colour_images(24, seed=2)
    table = datasets.Dataset.from_dict(
        {"image": [Image.fromarray(a) for a in x], "label": [reordered.index(COLOURS[c]) for c in y]},
        features=datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=list(reordered))}),
    )
    out = table.map(SyntheticRows(rgb_model, ratio=1.0, data=table, seed=0), batched=True, batch_size=8)
    synthetic = out.filter(lambda r: r["is_synthetic"])
    assert len(synthetic) > 0
    assert all(COLOURS[dominant_channel(r["image"])] == reordered[r["label"]] for r in synthetic)


# ---------------------------------------------------------------------------------------- IterableDataset, determinism
def test_iterable_dataset_map_gives_what_dataset_map_gives(rgb_model):
    table = image_table()
    eager = table.map(SyntheticRows(rgb_model, ratio=0.5, seed=3), batched=True, with_indices=True, batch_size=16)
    lazy = table.to_iterable_dataset().map(
        SyntheticRows(rgb_model, ratio=0.5, seed=3), batched=True, with_indices=True, batch_size=16
    )
    lazy_rows = list(lazy)
    assert [r["is_synthetic"] for r in lazy_rows] == eager["is_synthetic"] and [r["label"] for r in lazy_rows] == eager[
        "label"
    ]
    assert all(np.array_equal(a, b) for a, b in zip(as_arrays(lazy_rows), as_arrays(eager)))


def test_same_seed_same_rows_other_seed_other_rows(digits_gmm_dir, digits):
    table = digits_table(digits)

    def run(seed: int) -> datasets.Dataset:
        return table.map(
            SyntheticRows(digits_gmm_dir, ratio=0.7, columns="pixels", seed=seed), batched=True, batch_size=16
        )

    a, b, c = run(5), run(5), run(6)
    assert a.to_dict() == b.to_dict()
    assert a.to_dict() != c.to_dict()


def test_with_indices_the_choice_of_rows_does_not_depend_on_the_batch_size(digits_gmm_dir, digits):
    table = digits_table(digits)

    def flags(batch_size: int) -> list[bool]:
        rows = SyntheticRows(
            digits_gmm_dir, mode="swap", ratio=0.4, balance="uniform", data=table, columns="pixels", seed=1
        )
        out = table.map(rows, batched=True, with_indices=True, batch_size=batch_size)
        return list(zip(out["is_synthetic"], out["label"]))

    assert flags(7) == flags(32) == flags(60)


def test_map_with_num_proc_gives_each_process_its_own_stream(digits_gmm_dir, digits):
    table = digits_table(digits, 40)

    def run(**kwargs) -> datasets.Dataset:
        rows = SyntheticRows(digits_gmm_dir, mode="swap", ratio=1.0, columns="pixels", seed=0)
        return table.map(rows, batched=True, batch_size=10, num_proc=2, **kwargs)

    a, b = run(with_indices=True), run(with_indices=True)
    assert a.to_dict() == b.to_dict()
    first, second = np.array(a["pixels"][:20]), np.array(a["pixels"][20:])
    same_label = np.array(a["label"][:20]) == np.array(a["label"][20:])
    assert not any(
        np.array_equal(p, q) for p, q, s in zip(first, second, same_label) if s
    )  # shards draw distinct samples
    with pytest.raises(RuntimeError, match="pass with_indices=True"):
        run()


# ---------------------------------------------------------------------------------------- refusals
def test_a_misfit_model_or_bad_arguments_are_refused_at_construction(rgb_model, digits_gmm_dir, digits):
    with pytest.raises(ValueError, match=r"the model makes images of shape \(3, 8, 8\)"):
        SyntheticRows(rgb_model, columns="pixels", data=digits_table(digits))
    with pytest.raises(ValueError, match=r"the model makes images of shape \(1, 8, 8\)"):
        SyntheticRows(digits_gmm_dir, data=image_table())
    with pytest.raises(
        ValueError,
        match=r"classes \['cat'\] of the data's 'label' column are unknown to the model.*'red', 'green', 'blue'",
    ):
        SyntheticRows(rgb_model, data=image_table(names=("red", "green", "cat")))
    with pytest.raises(ValueError, match=r"columns: no column\(s\) \['nope'\]"):
        SyntheticRows(rgb_model, columns="nope", data=image_table())
    with pytest.raises(ValueError, match="columns: none of"):
        SyntheticRows(digits_gmm_dir, data=digits_table(digits))  # no image-like column name
    with pytest.raises(ValueError, match=r"ratio: expected a share of rows in \[0, 1\] for mode='swap'"):
        SyntheticRows(rgb_model, mode="swap", ratio=1.5)
    with pytest.raises(ValueError, match="mode: expected 'append' or 'swap'"):
        SyntheticRows(rgb_model, mode="insert")
    with pytest.raises(ValueError, match="columns: a list of columns means one numeric column per feature"):
        SyntheticRows(rgb_model, columns=["a", "b"])
    with pytest.raises(ValueError, match="balance: unknown class 'cat'"):
        SyntheticRows(rgb_model, balance={"cat": 1.0}, data=image_table())


def test_without_data_the_first_batch_is_checked(rgb_model, digits_gmm_dir, digits):
    with pytest.raises(ValueError, match=r"the model makes images of shape \(3, 8, 8\)"):
        digits_table(digits).map(SyntheticRows(rgb_model, columns="pixels"), batched=True)
    table = datasets.Dataset.from_dict({"pixels": digits.user_x()[:4].tolist(), "label": [0, 1, 2, 12]})
    with pytest.raises(ValueError, match=r"label: labels span 0..12 .* expected 0..9"):
        table.map(SyntheticRows(digits_gmm_dir, columns="pixels"), batched=True)


# ---------------------------------------------------------------------------------------- generate_dataset
def test_generate_dataset_round_trips_images_arrays_and_vectors(tmp_path, rgb_model, digits_gmm_dir, wine_model):
    rgb = generate_dataset(rgb_model, 50, tmp_path / "rgb", chunk_size=16, provenance=True)
    assert len(rgb) == 50 and rgb.features["image"] == datasets.Image()
    assert rgb.features["label"].names == list(COLOURS) and all(rgb["is_synthetic"])
    assert rgb[0]["image"].mode == "RGB" and dominant_channel(rgb[0]["image"]) == rgb[0]["label"]
    assert rgb[0]["provenance"]["family"] == "gmm"
    loaded = genaug.load_source(tmp_path / "rgb")
    assert loaded.spec.shape == (3, 8, 8) and loaded.spec.class_names == COLOURS and len(loaded) == 50

    assert genaug.fit(str(tmp_path / "rgb"), "gmm", steps=2).spec.class_names == COLOURS  # genaug fit --data path

    digits = generate_dataset(digits_gmm_dir, 30, tmp_path / "digits", chunk_size=7, batch_size=16, provenance=True)
    assert digits.features["image"] == datasets.Array2D((8, 8), "float64")
    assert datasets.load_from_disk(str(tmp_path / "digits")).to_dict() == digits.to_dict()
    assert genaug.load_source(tmp_path / "digits").spec.shape == (1, 8, 8)
    row, model = digits[29], genaug.load(digits_gmm_dir)
    info = row["provenance"]  # regenerates the row, as Provenance documents
    again = model.sample(16, labels=info["label"], generator=torch.Generator().manual_seed(info["seed"]))[info["index"]]
    assert np.array_equal(again.numpy(), np.array(row["image"])) and info["label"] == row["label"]

    wine = generate_dataset(wine_model, 40, tmp_path / "wine", labels="uniform", chunk_size=9)
    spec = genaug.load(wine_model).spec
    assert list(wine.features)[:13] == list(spec.feature_names) and wine.features["alcohol"] == datasets.Value(
        "float64"
    )
    assert genaug.load_source(tmp_path / "wine").spec.feature_names == spec.feature_names


def test_generate_dataset_is_deterministic_and_independent_of_the_chunk_size(tmp_path, digits_gmm_dir):
    def run(name: str, n: int = 45, **kwargs) -> dict:
        return generate_dataset(digits_gmm_dir, n, tmp_path / name, batch_size=32, **kwargs).to_dict()

    a = run("a", chunk_size=10)
    assert run("b", chunk_size=10) == a
    assert run("c", chunk_size=7) == a
    assert run("d", n=20, chunk_size=10) == {k: v[:20] for k, v in a.items()}  # a prefix
    assert run("e", chunk_size=10, seed=1) != a


def test_generate_dataset_labels(tmp_path, digits_gmm_dir):
    uniform = np.bincount(generate_dataset(digits_gmm_dir, 500, tmp_path / "u", labels="uniform")["label"], minlength=10)
    assert uniform.min() > 25
    only = generate_dataset(digits_gmm_dir, 20, tmp_path / "w", labels={"3": 1.0, 7: 0.0})["label"]
    assert set(only) == {3}
    given = [1, 2, "3", 4] * 5
    assert generate_dataset(digits_gmm_dir, 20, tmp_path / "s", labels=given)["label"] == [int(v) for v in given]
    with pytest.raises(ValueError, match="labels: unknown class 'cat'"):
        generate_dataset(digits_gmm_dir, 20, tmp_path / "x", labels={"cat": 1.0})
    with pytest.raises(ValueError, match="labels: weight of class 3 must be a number >= 0"):
        generate_dataset(digits_gmm_dir, 20, tmp_path / "x", labels={3: -1.0})
    with pytest.raises(ValueError, match=r"labels: expected 20 labels"):
        generate_dataset(digits_gmm_dir, 20, tmp_path / "x", labels=[1, 2])
    with pytest.raises(ValueError, match="labels: expected 'prior', 'uniform'"):
        generate_dataset(digits_gmm_dir, 20, tmp_path / "x", labels="balanced")
    with pytest.raises(ValueError, match="n: expected a positive integer, got 0"):
        generate_dataset(digits_gmm_dir, 0, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_generate_dataset_refuses_to_overwrite_and_replaces_atomically(tmp_path, digits_gmm_dir, monkeypatch):
    target = tmp_path / "out"
    first = generate_dataset(digits_gmm_dir, 12, target, chunk_size=5).to_dict()
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        generate_dataset(digits_gmm_dir, 12, target)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        generate_dataset(digits_gmm_dir, 12, tmp_path / "file")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("x")
    with pytest.raises(ValueError, match="is not a dataset folder"):
        generate_dataset(digits_gmm_dir, 12, tmp_path / "notes", overwrite=True)

    encode, calls = _dataset._TableLayout.encode, []

    def failing(self, x, info):  # the third chunk fails, after two were written
        calls.append(len(x))
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return encode(self, x, info)

    monkeypatch.setattr(_dataset._TableLayout, "encode", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        generate_dataset(digits_gmm_dir, 30, target, chunk_size=5, seed=9, overwrite=True)
    monkeypatch.undo()
    assert datasets.load_from_disk(str(target)).to_dict() == first  # the old dataset, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "notes", "out"]  # no temporary folders left
    replaced = generate_dataset(digits_gmm_dir, 30, target, chunk_size=5, seed=9, overwrite=True)
    assert len(replaced) == 30 and len(datasets.load_from_disk(str(target))) == 30
