"""Injection for sequences (issue 16): mix on a DataLoader, the HF mappers on a series column (streaming
too), a per-sample torchvision transform beside the time-series augmentations, and generate_dataset."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset
from torchvision.transforms import v2

import genaug
from genaug.hf import SyntheticRows, generate_dataset
from genaug.inject import SamplePool, mix
from genaug.transforms import Jitter, SyntheticSwap, WindowWarp

LENGTH = 48


def waves(n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, T) float32 series of two classes: a rising ramp and a sine, plus noise."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, LENGTH)
    x = [t * 2 - 1, np.sin(2 * np.pi * 2 * t)]
    series = np.concatenate([x[c] + 0.05 * rng.standard_normal((n_per_class, LENGTH)) for c in (0, 1)])
    return series.astype(np.float32), np.repeat([0, 1], n_per_class)


def nearest_class(series: torch.Tensor, means: np.ndarray) -> int:
    return int(np.argmin(((means - series.reshape(1, -1).double().numpy()) ** 2).sum(axis=1)))


@pytest.fixture(scope="module")
def data():
    x, y = waves(40, seed=0)
    return x, y, genaug.from_arrays(x, y, modality="sequence")


@pytest.fixture(scope="module")
def model(data):
    return genaug.fit(data[2], "gmm", steps=20, train={"checkpoint_every": 0, "progress": False})


@pytest.fixture(scope="module")
def means(data):
    x, y, _ = data
    return np.stack([x[y == c].mean(axis=0) for c in (0, 1)]).astype(np.float64)


def test_mix_adapts_synthetic_series_to_a_loader_of_channel_first_batches(data, model, means):
    x, y, _ = data
    loader = DataLoader(TensorDataset(torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)), batch_size=16, shuffle=True)
    mixed = mix(loader, SamplePool(model, batch_size=32, seed=0), ratio=0.5, seed=0)
    synthetic = 0
    for xb, yb in mixed:
        assert xb.shape[1:] == (1, LENGTH) and xb.dtype == torch.float32  # the loader's (N, 1, T) layout and dtype
        for series, label in zip(xb, yb):
            is_real = bool((torch.from_numpy(x).unsqueeze(1) == series).all(dim=(1, 2)).any())
            synthetic += not is_real
            assert nearest_class(series, means) == int(label)  # real or synthetic, the series shows its label
    assert 0.3 * len(x) < synthetic < 0.7 * len(x)


@pytest.mark.parametrize("streaming", [False, True])
def test_synthetic_rows_append_series_to_a_series_column(data, model, means, streaming):
    x, y, _ = data
    table = datasets.Dataset.from_dict({"series": x.tolist(), "label": y.tolist(), "id": list(range(len(y)))})
    rows = SyntheticRows(model, ratio=1.0, seed=0, data=table)
    if streaming:
        out = list(table.to_iterable_dataset().map(rows, batched=True, batch_size=10))
    else:
        out = list(table.map(rows, batched=True, batch_size=10, with_indices=True))
    synthetic = [r for r in out if r["is_synthetic"]]
    assert sum(not r["is_synthetic"] for r in out) == len(x) and len(synthetic) >= len(x) // 2
    for row in synthetic:
        series = torch.tensor(row["series"])
        assert series.shape == (LENGTH,) and row["id"] is None
        assert nearest_class(series, means) == row["label"]


def test_a_series_column_of_another_length_is_refused_naming_it(model):
    table = datasets.Dataset.from_dict({"series": [[0.0] * 20] * 4, "label": [0, 1, 0, 1]})
    with pytest.raises(ValueError, match=r"series.*\(20,\)|\(20,\).*series"):
        table.map(SyntheticRows(model, ratio=1.0, seed=0), batched=True, with_indices=True)


def test_per_sample_swap_between_time_series_augmentations(data, model, means):
    x, y, _ = data
    torch.manual_seed(0)
    pipeline = v2.Compose([SyntheticSwap(model, p=1.0), WindowWarp(), Jitter(sigma=0.01)])
    for i in (0, 45):
        sample = torch.from_numpy(x[i]).unsqueeze(0)  # one (C, T) series
        out, label = pipeline(sample, int(y[i]))
        assert out.shape == (1, LENGTH) and out.dtype == torch.float32 and label == y[i]
        assert not torch.equal(out, sample) and nearest_class(out, means) == y[i]


def test_generate_dataset_writes_a_series_column_that_loads_back_as_sequences(tmp_path, model):
    ds = generate_dataset(model, 30, tmp_path / "synthetic", chunk_size=7, labels="uniform")
    assert ds.features["series"] == datasets.List(datasets.Value("float32"), length=LENGTH)  # the user's (T,) series
    back = genaug.load_source(str(tmp_path / "synthetic"))
    assert back.spec.modality == "sequence" and back.spec.shape == (1, LENGTH) and len(back) == 30
    assert np.bincount(back.y.numpy(), minlength=2).min() >= 8  # labels drawn uniformly over the two classes
    # float series pass through [-1, 1] and back in float32: equal to the last bit or one ulp off
    np.testing.assert_allclose(back.user_x().reshape(30, LENGTH).numpy(), np.array(ds["series"], dtype=np.float32), rtol=2e-7, atol=2e-7)


def test_a_channels_first_series_model_writes_an_array_column(tmp_path):
    x, y = waves(10, seed=1)
    stereo = genaug.from_arrays(np.stack([x, -x], axis=1), y, modality="sequence")  # (N, 2, T)
    model = genaug.fit(stereo, "gmm", steps=5, train={"checkpoint_every": 0, "progress": False})
    ds = generate_dataset(model, 12, tmp_path / "stereo")
    assert isinstance(ds.features["series"], datasets.Array2D) and ds.features["series"].shape == (2, LENGTH)
    back = genaug.load_source(str(tmp_path / "stereo"))
    assert back.spec.modality == "sequence" and back.spec.shape == (2, LENGTH)
