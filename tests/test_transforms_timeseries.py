"""Contracts of the classic time-series augmentations (Iwana & Uchida 2021), over all six transforms."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from scipy.interpolate import CubicSpline
from torchvision.transforms import v2

from genaug.transforms._timeseries import Jitter, MagnitudeWarp, Scaling, TimeWarp, WindowSlice, WindowWarp

TRANSFORMS = [Jitter, Scaling, MagnitudeWarp, TimeWarp, WindowSlice, WindowWarp]
WARPS = [TimeWarp, WindowSlice, WindowWarp]  # resample the series: values stay within its range


def sequence(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(params=TRANSFORMS, ids=lambda cls: cls.__name__)
def transform(request):
    return request.param()


@pytest.mark.parametrize("shape", [(3, 64), (64,), (1, 5), (2, 1)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_tensor_keeps_shape_and_dtype(transform, shape, dtype):
    x = sequence(*shape).to(dtype)
    y = transform(x)
    assert type(y) is torch.Tensor and y.shape == x.shape and y.dtype == dtype
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("shape", [(3, 64), (64,)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_keeps_type_shape_and_dtype(transform, shape, dtype):
    x = sequence(*shape).numpy().astype(dtype)
    y = transform(x)
    assert type(y) is np.ndarray and y.shape == x.shape and y.dtype == dtype


def test_numpy_and_tensor_agree(transform):
    x = sequence(3, 64)
    torch.manual_seed(1)
    from_tensor = transform(x)
    torch.manual_seed(1)
    from_numpy = transform(x.numpy())
    np.testing.assert_allclose(from_numpy, from_tensor.numpy(), rtol=1e-6, atol=1e-6)


def test_seeded_runs_repeat_and_seeds_differ(transform):
    x = sequence(3, 64)
    torch.manual_seed(0)
    first = transform(x)
    torch.manual_seed(0)
    assert torch.equal(transform(x), first)
    torch.manual_seed(1)
    assert not torch.equal(transform(x), first)


def test_compose_on_sample_passes_label_through(transform):
    x = sequence(3, 64)
    label = 7
    pipeline = v2.Compose([transform, v2.Identity()])
    y, out_label = pipeline((x, label))
    assert y.shape == x.shape and out_label == label and type(out_label) is int
    assert not torch.equal(y, x)


def test_tensor_label_passes_through(transform):
    label = torch.tensor(4)
    y, out_label = transform((sequence(2, 32), label))
    assert y.shape == (2, 32) and out_label is label


def test_dict_sample_and_random_apply(transform):
    x = sequence(2, 32)
    out = v2.RandomApply([transform], p=0.0)({"x": x, "y": 1})
    assert out["x"] is x and out["y"] == 1
    out = v2.RandomApply([transform], p=1.0)({"x": x.numpy(), "y": 1})
    assert out["x"].shape == (2, 32) and out["y"] == 1


def test_same_params_for_every_sequence_of_a_sample(transform):
    x = sequence(2, 32)
    y, z = transform((x.numpy(), x.numpy().copy()))
    np.testing.assert_array_equal(y, z)


def test_sequences_of_one_sample_must_share_a_shape(transform):
    with pytest.raises(ValueError, match="share one shape"):
        transform((np.zeros((2, 32), np.float32), np.zeros((2, 16), np.float32)))


def test_sample_without_a_sequence_passes_through(transform):
    assert transform((3, "name")) == (3, "name")


@pytest.mark.parametrize("dtype", [torch.int64, torch.uint8, torch.bool, torch.complex64])
def test_non_float_tensor_is_a_type_error(transform, dtype):
    with pytest.raises(TypeError, match=str(dtype).removeprefix("torch.")):
        transform(torch.ones(2, 16, dtype=dtype))


def test_non_float_numpy_is_a_type_error(transform):
    with pytest.raises(TypeError, match="int32"):
        transform(np.ones((2, 16), dtype=np.int32))


@pytest.mark.parametrize("shape", [(2, 3, 16), (), (2, 0)])
def test_bad_shape_is_a_value_error(transform, shape):
    with pytest.raises(ValueError, match="shape"):
        transform(torch.ones(shape))


def test_pickles_for_dataloader_workers(transform):
    clone = pickle.loads(pickle.dumps(transform))
    assert repr(clone) == repr(transform)
    x = sequence(3, 64)
    torch.manual_seed(3)
    expected = transform(x)
    torch.manual_seed(3)
    assert torch.equal(clone(x), expected)


def test_dataloader_workers(transform):
    data = [(sequence(2, 32, seed=i), i) for i in range(4)]

    class Dataset(torch.utils.data.Dataset):
        def __len__(self):
            return len(data)

        def __getitem__(self, i):
            return transform(data[i])

    loader = torch.utils.data.DataLoader(Dataset(), batch_size=2, num_workers=2)
    batches = list(loader)
    assert [tuple(x.shape) for x, _ in batches] == [(2, 2, 32)] * 2
    assert torch.equal(torch.cat([y for _, y in batches]), torch.arange(4))


def test_runs_on_the_input_device(transform):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    x = sequence(3, 64).to(device)
    assert transform(x).device == x.device


@pytest.mark.parametrize(
    ("cls", "kwargs", "match"),
    [
        (Jitter, {"sigma": -0.1}, "sigma.*-0.1"),
        (Jitter, {"sigma": float("nan")}, "sigma.*nan"),
        (Scaling, {"sigma": -1}, "sigma.*-1"),
        (MagnitudeWarp, {"sigma": -0.2}, "sigma.*-0.2"),
        (MagnitudeWarp, {"knots": 0}, "knots.*0"),
        (TimeWarp, {"sigma": -0.2}, "sigma.*-0.2"),
        (TimeWarp, {"knots": -1}, "knots.*-1"),
        (WindowSlice, {"ratio": 0.0}, "ratio.*0.0"),
        (WindowSlice, {"ratio": 1.5}, "ratio.*1.5"),
        (WindowWarp, {"window_ratio": 0}, "window_ratio.*0"),
        (WindowWarp, {"window_ratio": 1.01}, "window_ratio.*1.01"),
        (WindowWarp, {"scales": ()}, r"scales.*\(\)"),
        (WindowWarp, {"scales": (0.5, -2.0)}, r"scales.*-2.0"),
        (WindowWarp, {"scales": (0.0,)}, r"scales.*0.0"),
    ],
)
def test_bad_argument_is_a_value_error(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


@pytest.mark.parametrize(
    ("cls", "kwargs", "match"),
    [
        (Jitter, {"sigma": "0.1"}, "sigma"),
        (Scaling, {"sigma": True}, "sigma"),
        (TimeWarp, {"knots": 2.5}, "knots"),
        (WindowWarp, {"scales": 2.0}, "scales"),
        (WindowWarp, {"scales": "ab"}, "scales"),
    ],
)
def test_bad_argument_type_is_a_type_error(cls, kwargs, match):
    with pytest.raises(TypeError, match=match):
        cls(**kwargs)


def test_numpy_scalars_are_accepted_arguments():
    assert MagnitudeWarp(sigma=np.float32(0.5), knots=np.int64(3)).knots == 3


def test_jitter_noise_has_std_sigma():
    x = sequence(2, 100_000)
    noise = Jitter(sigma=0.05)(x) - x
    assert noise.mean().abs() < 0.002
    assert torch.allclose(noise.std(dim=1), torch.tensor(0.05), rtol=0.02)


def test_scaling_is_one_factor_per_channel():
    x = sequence(4, 200).abs() + 0.5
    torch.manual_seed(0)
    ratio = Scaling(sigma=0.3)(x) / x
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), rtol=1e-5)
    assert ratio[:, 0].unique().numel() == 4  # the channels get different factors


@pytest.mark.parametrize("cls", WARPS, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("seed", range(5))
def test_warps_stay_within_the_input_range(cls, seed):
    x = sequence(3, 100, seed=seed)
    torch.manual_seed(seed)
    y = cls()(x)
    low, high = x.min(dim=1, keepdim=True).values, x.max(dim=1, keepdim=True).values
    assert (y >= low).all() and (y <= high).all()


@pytest.mark.parametrize("cls", WARPS, ids=lambda cls: cls.__name__)
def test_warps_keep_the_endpoints_order_of_a_ramp(cls):
    x = torch.linspace(0, 1, 100).expand(2, 100)
    torch.manual_seed(0)
    y = cls()(x)
    assert (y.diff(dim=1) >= -1e-6).all()  # time is warped, never reversed


def test_large_sigma_time_warp_stays_monotone():
    x = torch.linspace(0, 1, 100).expand(2, 100)
    for seed in range(10):
        torch.manual_seed(seed)
        y = TimeWarp(sigma=2.0)(x)
        assert (y.diff(dim=1) >= -1e-6).all() and y.min() >= 0 and y.max() <= 1


@pytest.mark.parametrize(
    "identity",
    [WindowSlice(ratio=1.0), MagnitudeWarp(sigma=0.0), TimeWarp(sigma=0.0), Jitter(sigma=0.0), Scaling(sigma=0.0)],
    ids=repr,
)
def test_identities(identity):
    x = sequence(3, 77)
    torch.testing.assert_close(identity(x), x, rtol=1e-6, atol=1e-6)


def test_window_slice_stretches_one_window_of_all_channels():
    x = torch.arange(100.0).expand(3, 100)
    torch.manual_seed(0)
    y = WindowSlice(ratio=0.5)(x)
    start = y[0, 0]
    assert torch.equal(y, y[:1].expand_as(y))
    torch.testing.assert_close(y[0], torch.linspace(float(start), float(start) + 49, 100))


def test_window_warp_changes_only_the_time_axis_of_a_constant():
    x = torch.full((2, 50), 3.0)
    torch.testing.assert_close(WindowWarp()(x), x)


def test_window_warp_with_scale_one_is_the_identity():
    x = sequence(2, 60)
    torch.testing.assert_close(WindowWarp(scales=(1.0,))(x), x)


def reference_splines(knot_values: np.ndarray, length: int) -> np.ndarray:
    """Iwana & Uchida's splines: one CubicSpline per channel through evenly spaced knots."""
    steps = np.linspace(0, length - 1.0, num=knot_values.shape[1])
    return np.stack([CubicSpline(steps, row)(np.arange(length)) for row in knot_values])


def test_magnitude_warp_matches_the_reference():
    x = sequence(3, 80).double()
    torch.manual_seed(5)
    knots = (1.0 + 0.2 * torch.randn(3, 6, dtype=torch.float64)).numpy()
    torch.manual_seed(5)
    y = MagnitudeWarp(sigma=0.2, knots=4)(x)
    np.testing.assert_allclose(y.numpy(), x.numpy() * reference_splines(knots, 80), rtol=1e-12)


def test_time_warp_matches_the_reference():
    x = sequence(3, 80).double()
    torch.manual_seed(5)
    speeds = (1.0 + 0.1 * torch.randn(3, 6, dtype=torch.float64)).numpy()
    torch.manual_seed(5)
    y = TimeWarp(sigma=0.1, knots=4)(x)
    steps = np.arange(80)
    warped = reference_splines(np.linspace(0, 79.0, num=6) * speeds, 80)
    expected = [np.interp(steps, np.clip(79 / w[-1] * w, 0, 79), row) for w, row in zip(warped, x.numpy())]
    np.testing.assert_allclose(y.numpy(), np.stack(expected), rtol=1e-9, atol=1e-12)
