"""Contracts of the data layer: `DataSpec` maps, every source, and the errors bad input raises."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import datasets as hf
import numpy as np
import pytest
import torch
from PIL import Image
from sklearn import datasets as skd
from torchvision.datasets import FakeData, ImageFolder
from torchvision.transforms import ToTensor

from genaug.data import (
    ArraySet,
    DataSpec,
    from_arrays,
    from_hf_dataset,
    from_hf_disk,
    from_image_folder,
    from_npz,
    from_torch_dataset,
    load_source,
)

RNG = np.random.default_rng(0)


def _uint8(*shape: int) -> np.ndarray:
    return RNG.integers(0, 256, size=shape, dtype=np.uint8)


def _write_folder(root: Path, images: dict[str, list[np.ndarray]], suffix: str = ".png") -> Path:
    """root/<class>/<i><suffix> for each array, written losslessly by PIL."""
    for name, arrays in images.items():
        (root / name).mkdir(parents=True)
        for i, array in enumerate(arrays):
            Image.fromarray(array).save(root / name / f"{i}{suffix}")
    return root


def _hf_images(arrays: list[np.ndarray], labels: list[int], names: list[str]) -> hf.Dataset:
    table = hf.Dataset.from_dict({"image": [Image.fromarray(a) for a in arrays], "label": labels})
    return table.cast_column("image", hf.Image()).cast_column("label", hf.ClassLabel(names=names))


def _hf_table() -> hf.Dataset:
    return hf.Dataset.from_dict(
        {
            "width": [1.5, 2.25, 3.0, 4.75, 0.5, 2.0],
            "count": [3, 1, 4, 1, 5, 9],
            "note": ["a", "b", "c", "d", "e", "f"],  # not numeric: left out of the vector
            "label": [0, 1, 0, 1, 1, 0],
        }
    )


def _specs() -> dict[str, ArraySet]:
    return {
        "digits": load_source("digits"),
        "wine": load_source("wine"),
        "uint8_hwc": from_arrays(_uint8(12, 6, 5, 3), np.arange(12) % 2),
        "float_range": from_arrays(RNG.random((12, 1, 6, 5)).astype(np.float32)),
    }


SPECS = _specs()


# ---------------------------------------------------------------------------------------- DataSpec
def test_digits_round_trip_exact() -> None:
    ds = load_source("digits")
    back = ds.user_x().numpy()
    assert back.dtype == np.float64
    assert ds.spec.levels == 17 and ds.spec.layout == "HW"
    np.testing.assert_array_equal(back, skd.load_digits().images)


@pytest.mark.parametrize(
    ("shape", "layout"),
    [((10, 6, 5), "HW"), ((10, 6, 5, 3), "HWC"), ((10, 6, 5, 4), "HWC"), ((10, 3, 6, 5), "CHW")],
)
def test_uint8_images_round_trip_exact(shape: tuple[int, ...], layout: str) -> None:
    x = _uint8(*shape)
    ds = from_arrays(x, np.arange(len(x)) % 3)
    assert (ds.spec.layout, ds.spec.levels, ds.spec.value_range) == (layout, 256, (0.0, 255.0))
    back = ds.user_x()
    assert back.dtype == torch.uint8 and tuple(back.shape) == shape
    np.testing.assert_array_equal(back.numpy(), x)


@pytest.mark.parametrize("name", ["wine", "breast_cancer"])
def test_tabular_round_trip_exact(name: str) -> None:
    ds = load_source(name)
    bunch = getattr(skd, f"load_{name}")()
    assert ds.spec.scaling == "standard" and ds.spec.feature_names == tuple(bunch.feature_names)
    np.testing.assert_array_equal(ds.user_x().numpy(), bunch.data)
    np.testing.assert_array_equal(ds.y.numpy(), bunch.target)


@pytest.mark.parametrize("key", ["digits", "uint8_hwc"])
def test_to_user_lands_on_grid(key: str) -> None:
    spec = SPECS[key].spec
    z = 3.0 * torch.randn((64, *spec.shape), generator=torch.Generator().manual_seed(1))  # also far outside [-1, 1]
    x = spec.to_user(z).to(torch.float64)
    lo, hi = spec.value_range
    steps = (x - lo) / (hi - lo) * (spec.levels - 1)
    assert torch.equal(steps, torch.round(steps))
    assert x.min() >= lo and x.max() <= hi


def test_to_user_stays_in_range_for_continuous_data() -> None:
    for key in ("wine", "float_range"):
        spec = SPECS[key].spec
        x = spec.to_user(3.0 * torch.randn((64, *spec.shape), generator=torch.Generator().manual_seed(2)))
        if spec.scaling == "standard":
            flat = x.reshape(len(x), -1)
            assert (flat >= torch.tensor(spec.feature_min, dtype=flat.dtype)).all()
            assert (flat <= torch.tensor(spec.feature_max, dtype=flat.dtype)).all()
        else:
            assert x.min() >= spec.value_range[0] and x.max() <= spec.value_range[1]


@pytest.mark.parametrize("key", ["digits", "uint8_hwc"])
def test_dequantize_stays_in_bin(key: str) -> None:
    ds = SPECS[key]
    generator = torch.Generator().manual_seed(3)
    for _ in range(5):
        q = ds.spec.dequantize(ds.x, generator)
        assert q.min() >= -1.0 and q.max() < 1.0
        assert ((q - ds.x).abs() <= ds.spec.bin_width / 2 + 1e-6).all()
        assert torch.equal(ds.spec.to_user(q), ds.spec.to_user(ds.x))
        assert not torch.equal(q, ds.x)


@pytest.mark.parametrize("u", [0.0, 1.0 - 2.0**-24])
def test_dequantize_extreme_draws_stay_in_bin(monkeypatch: pytest.MonkeyPatch, u: float) -> None:
    spec = SPECS["uint8_hwc"].spec
    z = spec.to_model(torch.arange(256, dtype=torch.uint8).repeat(30).reshape(-1, 6, 5, 1).expand(-1, 6, 5, 3))
    # float32 rounding used to carry the highest draw of the top bin onto 1.0
    monkeypatch.setattr(torch, "rand", lambda shape, **kw: torch.full(shape, u, dtype=kw.get("dtype")))
    q = spec.dequantize(z)
    assert q.min() >= -1.0 and q.max() < 1.0
    assert torch.equal(spec.to_user(q), spec.to_user(z))


def test_dequantize_keeps_continuous_data() -> None:
    ds = SPECS["float_range"]
    assert torch.equal(ds.spec.dequantize(ds.x), ds.x)


@pytest.mark.parametrize("key", list(SPECS))
def test_spec_json_round_trip(key: str) -> None:
    spec = SPECS[key].spec
    assert DataSpec.model_validate_json(spec.model_dump_json()) == spec


@pytest.mark.parametrize(("key", "levels"), [("digits", 17), ("uint8_hwc", 256)])
def test_uniform_density_scores_log2_levels_bits_per_dim(key: str, levels: int) -> None:
    spec = SPECS[key].spec
    d = spec.dim
    bits = -(d * math.log(0.5) + spec.log_det_to_data()) / (d * math.log(2.0))
    assert bits == pytest.approx(math.log2(levels), rel=1e-12)


# ---------------------------------------------------------------------------------------- sources
def test_npz_labelled_and_unlabelled(tmp_path: Path) -> None:
    x = _uint8(8, 6, 5)
    np.savez(tmp_path / "a.npz", x=x, y=np.array([0, 1] * 4), class_names=np.array(["cat", "dog"]))
    ds = from_npz(tmp_path / "a.npz")
    assert ds.spec.class_names == ("cat", "dog") and ds.spec.class_counts == (4, 4)
    np.testing.assert_array_equal(ds.user_x().numpy(), x)
    np.savez(tmp_path / "b.npz", x=RNG.random((8, 3)))
    unlabelled = load_source(str(tmp_path / "b.npz"))
    assert unlabelled.spec.num_classes == 1 and unlabelled.spec.modality == "vector"
    renamed = from_npz(tmp_path / "a.npz", class_names=["x", "y"])
    assert renamed.spec.class_names == ("x", "y")


@pytest.mark.parametrize(("channels", "layout"), [(3, "HWC"), (1, "HW")])
def test_torch_fakedata_pil(channels: int, layout: str) -> None:
    data = FakeData(size=10, image_size=(channels, 6, 5), num_classes=3)
    ds = from_torch_dataset(data)
    first = np.asarray(data[0][0])
    assert ds.spec.layout == layout and ds.spec.dtype == "uint8"
    assert tuple(ds.user_x().shape) == (10, *first.shape)
    np.testing.assert_array_equal(ds.user_x()[0].numpy(), first)
    np.testing.assert_array_equal(ds.y.numpy(), [data[i][1] for i in range(10)])


def test_torch_fakedata_tensors_limit_and_names() -> None:
    data = FakeData(size=10, image_size=(3, 6, 5), num_classes=2, transform=ToTensor())
    ds = from_torch_dataset(data, class_names=["a", "b"], limit=4)
    assert len(ds) == 4 and ds.spec.class_names == ("a", "b")
    assert ds.spec.layout == "CHW" and ds.spec.scaling == "range" and ds.spec.shape == (3, 6, 5)
    torch.testing.assert_close(ds.user_x()[1], data[1][0], atol=1e-6, rtol=0)


def test_torchvision_image_folder_matches_loader(tmp_path: Path) -> None:
    images = {"dog": [_uint8(6, 5, 3) for _ in range(3)], "cat": [_uint8(6, 5, 3) for _ in range(2)]}
    root = _write_folder(tmp_path / "pets", images)
    via_torch = from_torch_dataset(ImageFolder(str(root)))
    direct = from_image_folder(root)
    assert via_torch.spec.class_names == direct.spec.class_names == ("cat", "dog")
    assert direct.spec.class_counts == (2, 3) and direct.spec.layout == "HWC"
    np.testing.assert_array_equal(direct.user_x().numpy(), np.stack(images["cat"] + images["dog"]))
    assert torch.equal(via_torch.user_x(), direct.user_x()) and torch.equal(via_torch.y, direct.y)


@pytest.mark.parametrize(("shape", "layout"), [((6, 5), "HW"), ((6, 5, 3), "HWC"), ((6, 5, 4), "HWC")])
def test_image_folder_keeps_channels(tmp_path: Path, shape: tuple[int, ...], layout: str) -> None:
    images = {"b": [_uint8(*shape) for _ in range(2)], "a": [_uint8(*shape)]}
    root = _write_folder(tmp_path / "imgs", images)
    (root / "a" / "notes.txt").write_text("not an image")
    (root / "b" / "nested").mkdir()
    nested = _uint8(*shape)
    Image.fromarray(nested).save(root / "b" / "nested" / "9.PNG")
    ds = load_source(str(root))
    assert ds.spec.layout == layout and ds.spec.class_names == ("a", "b") and ds.spec.class_counts == (1, 3)
    np.testing.assert_array_equal(ds.user_x().numpy(), np.stack(images["a"] + images["b"] + [nested]))


def test_image_folder_converts_palette_to_rgb(tmp_path: Path) -> None:
    root = tmp_path / "pal"
    (root / "only").mkdir(parents=True)
    for i in range(2):
        Image.fromarray(_uint8(6, 5, 3)).convert("P").save(root / "only" / f"{i}.gif")
    ds = from_image_folder(root)
    assert ds.spec.shape == (3, 6, 5) and ds.spec.layout == "HWC"


def test_hf_image_column(tmp_path: Path) -> None:
    arrays = [_uint8(6, 5, 3) for _ in range(4)]
    table = _hf_images(arrays, [0, 1, 1, 0], ["cat", "dog"])
    ds = from_hf_dataset(table)
    assert ds.spec.class_names == ("cat", "dog") and ds.spec.layout == "HWC"
    np.testing.assert_array_equal(ds.user_x().numpy(), np.stack(arrays))
    np.testing.assert_array_equal(ds.y.numpy(), [0, 1, 1, 0])
    table.save_to_disk(str(tmp_path / "saved"))
    again = load_source(str(tmp_path / "saved"))
    assert torch.equal(again.x, ds.x) and again.spec == ds.spec


def test_hf_grayscale_images() -> None:
    arrays = [_uint8(6, 5) for _ in range(3)]
    ds = from_hf_dataset(_hf_images(arrays, [0, 1, 2], ["a", "b", "c"]))
    assert ds.spec.layout == "HW"
    np.testing.assert_array_equal(ds.user_x().numpy(), np.stack(arrays))


def test_hf_numeric_columns() -> None:
    table = _hf_table()
    ds = from_hf_dataset(table)
    assert ds.spec.modality == "vector" and ds.spec.feature_names == ("width", "count")
    np.testing.assert_array_equal(ds.user_x().numpy(), np.stack([table["width"], table["count"]], axis=1))
    only = from_hf_dataset(table, feature_columns=["count"])
    assert only.spec.feature_names == ("count",)
    unlabelled = from_hf_dataset(table, label_column=None, feature_columns=["width", "label"])
    assert unlabelled.spec.num_classes == 1


def test_hf_dataset_dict_folder(tmp_path: Path) -> None:
    table = _hf_table()
    hf.DatasetDict({"train": table, "test": table.select([0, 1])}).save_to_disk(str(tmp_path / "dict"))
    ds = load_source(str(tmp_path / "dict"))
    assert len(ds) == 6 and ds.spec.feature_names == ("width", "count")
    width = from_hf_disk(tmp_path / "dict", feature_columns=["width"])
    assert torch.equal(width.x, from_hf_dataset(table, feature_columns=["width"]).x)


def test_load_source_bundled() -> None:
    assert load_source("digits").spec.shape == (1, 8, 8)
    assert load_source("breast_cancer").spec.shape == (30,)


# ---------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("x", "y", "kwargs", "match"),
    [
        (np.zeros((0, 4)), None, {}, "empty data set"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), None, {}, "NaN or infinite"),
        (np.array([[1.0, 2.0], [np.inf, 1.0]]), None, {}, "NaN or infinite"),
        ([np.zeros((4, 4)), np.zeros((5, 5))], None, {}, "ragged or mixed shapes"),
        (np.zeros((3, 2)), [0, 1.5, 1], {}, "labels must be integers.*1.5"),
        (np.zeros((3, 2)), [0, -1, 1], {}, "labels must be >= 0"),
        (np.zeros((3, 2)), [0, 1, 2], {"class_names": ["a", "b"]}, "label 2 is out of range for 2 classes"),
        (np.zeros((3, 2)), ["a", "b", "z"], {"class_names": ["a", "b"]}, r"\['z'\] are not among the class names"),
        (np.zeros((3, 2)), [0, 1], {}, r"one label per sample, shape \(3,\)"),
    ],
)
def test_from_arrays_rejects(x: object, y: object, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        from_arrays(x, y, **kwargs)


def test_image_folder_mixed_channels_names_both_files(tmp_path: Path) -> None:
    root = tmp_path / "mixed"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    Image.fromarray(_uint8(6, 5)).save(root / "a" / "gray.png")
    Image.fromarray(_uint8(6, 5, 3)).save(root / "b" / "color.png")
    with pytest.raises(ValueError, match=r"mixed channel counts: .*gray\.png has 1 .*color\.png has 3"):
        load_source(str(root))


def test_image_folder_mixed_sizes_names_files(tmp_path: Path) -> None:
    root = _write_folder(tmp_path / "sizes", {"a": [_uint8(6, 5)], "b": [_uint8(7, 5)]})
    with pytest.raises(ValueError, match=r"ragged or mixed shapes: .*0\.png has shape \(6, 5\).*\(7, 5\)"):
        from_image_folder(root)


def test_image_folder_without_classes_or_images(tmp_path: Path) -> None:
    (tmp_path / "flat").mkdir()
    Image.fromarray(_uint8(6, 5)).save(tmp_path / "flat" / "0.png")
    with pytest.raises(ValueError, match="no class sub-folders"):
        from_image_folder(tmp_path / "flat")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"class folders \['a'\].*hold no images"):
        load_source(str(tmp_path / "empty"))


def test_torch_dataset_mixed_channels_and_sizes() -> None:
    mixed = [(Image.fromarray(_uint8(6, 5)), 0), (Image.fromarray(_uint8(6, 5, 3)), 1)]
    with pytest.raises(ValueError, match="mixed channel counts: index 0 has 1 channel.*index 1 has 3"):
        from_torch_dataset(mixed)
    ragged = [(Image.fromarray(_uint8(6, 5, 3)), 0)] * 2 + [(Image.fromarray(_uint8(4, 5, 3)), 1)]
    with pytest.raises(ValueError, match=r"ragged or mixed shapes: .*index 2 has shape \(4, 5, 3\)"):
        from_torch_dataset(ragged)


def test_torch_dataset_float_labels() -> None:
    with pytest.raises(ValueError, match="labels must be integers"):
        from_torch_dataset([(Image.fromarray(_uint8(6, 5)), 0.5)])


def test_hf_bad_columns() -> None:
    table = _hf_table()
    with pytest.raises(ValueError, match=r"label_column: no column 'target'.*\['width', 'count', 'note', 'label'\]"):
        from_hf_dataset(table, label_column="target")
    with pytest.raises(ValueError, match=r"feature_columns: columns \['note'\] are not numeric"):
        from_hf_dataset(table, feature_columns=["note"])
    with pytest.raises(ValueError, match=r"needs a 'train' split, got splits \['test'\]"):
        from_hf_dataset(hf.DatasetDict({"test": table}))


def test_npz_without_x(tmp_path: Path) -> None:
    np.savez(tmp_path / "nox.npz", data=np.zeros((3, 2)), y=np.zeros(3))
    with pytest.raises(ValueError, match=r"nox\.npz.*no array 'x'.*\['data', 'y'\]"):
        load_source(str(tmp_path / "nox.npz"))


@pytest.mark.parametrize("content", [b"", b"this is not a zip archive", b"PK\x03\x04 truncated", b"\x93NUMPY\x01\x00"])
def test_corrupt_npz(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "bad.npz").write_bytes(content)
    with pytest.raises(ValueError, match=r"bad\.npz.*not a readable \.npz"):
        from_npz(tmp_path / "bad.npz")


def test_npz_with_corrupt_member(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "member.npz", "w") as archive:
        archive.writestr("x.npy", b"not an npy array")
    with pytest.raises(ValueError, match=r"cannot read the arrays of .*member\.npz"):
        from_npz(tmp_path / "member.npz")


def test_npz_refuses_pickled_arrays(tmp_path: Path) -> None:
    np.savez(tmp_path / "obj.npz", x=np.zeros((2, 2)), class_names=np.array(["a", None], dtype=object))
    with pytest.raises(ValueError, match=r"cannot read the arrays of .*obj\.npz"):
        from_npz(tmp_path / "obj.npz")


def test_missing_paths(tmp_path: Path) -> None:
    for missing in (str(tmp_path / "nope"), str(tmp_path / "nope.npz"), "nope.npz"):
        with pytest.raises(FileNotFoundError, match="nope"):
            load_source(missing)


@pytest.mark.parametrize("source", ["mnist", "digitz"])
def test_unknown_source(source: str) -> None:
    with pytest.raises(ValueError, match=rf"unknown source '{source}'.*digits.*\.npz.*image folder"):
        load_source(source)


def test_unknown_file_kind(tmp_path: Path) -> None:
    (tmp_path / "table.txt").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="unknown source"):
        load_source(str(tmp_path / "table.txt"))
    # a .csv is read as labelled text: one without a text column says which columns it has
    (tmp_path / "table.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"text_column: no column 'text' in table.csv .*\['a', 'b'\]"):
        load_source(str(tmp_path / "table.csv"))
