"""Classic time-series augmentations as torchvision v2 transforms.

The six transforms benchmarked by Iwana & Uchida, "An empirical survey of data augmentation for time
series classification with neural networks", PLOS ONE 16(7), 2021, with the defaults of their
reference code (github.com/uchidalab/time_series_augmentation, ``utils/augmentation.py``):

- `Jitter`: adds Gaussian noise of std ``sigma`` to every value (Um et al. 2017).
- `Scaling`: multiplies each channel by one random factor drawn from N(1, ``sigma``) (Um et al. 2017).
- `MagnitudeWarp`: multiplies each channel by a smooth random curve, a cubic spline through ``knots + 2``
  evenly spaced knots drawn from N(1, ``sigma``) (Um et al. 2017).
- `TimeWarp`: resamples each channel along a smooth random time map, a cubic spline through knots
  whose local speed is drawn from N(1, ``sigma``) (Um et al. 2017).
- `WindowSlice`: crops a random window of ``ratio`` of the length and stretches it back to full length
  (Le Guennec et al. 2016).
- `WindowWarp`: speeds up or slows down a random window of ``window_ratio`` of the length by a factor
  chosen from ``scales``, then resamples the whole series back to its length (Le Guennec et al. 2016).

They are written here rather than wrapped from a library: tsaug, the usual choice, has had no release
since 2020 and transforms numpy batches outside torchvision's per-sample pipeline; the six methods are
short and their reference code is public.

Each transform takes one sample: a float tensor or numpy array of shape ``(C, T)`` (channels first,
as genaug's sequence modality) or ``(T,)``, alone or inside any structure v2 accepts, such as an
``(x, label)`` tuple. It returns the same type, dtype, shape and device; the output length always
equals the input length, so batches stay stackable. The sequence is the first plain tensor of the
sample (v2's rule for plain tensors) and every numpy array; other leaves (labels) pass through. As in
the reference, noise and scaling factors are drawn per channel and per value, magnitude and time warps
draw one spline per channel, and the two window transforms use one window for all channels.

Like v2's own random transforms they draw their randomness once per call from torch's global RNG in
``make_params``, so ``torch.manual_seed`` reproduces them and DataLoader workers (seeded apart by
torch) differ. Wrap one in ``v2.RandomApply`` to apply it with a probability::

    pipeline = v2.Compose([v2.RandomApply([TimeWarp()], p=0.5), Jitter()])

Where the reference is loose, these differ from it: window slicing interpolates within the window
(the reference reads one step past it, clamping the last few values), any window start is possible,
and the time warp's knot speeds are clipped positive and its time map made non-decreasing so that
time never runs backwards.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy.interpolate import CubicSpline
from torchvision import tv_tensors
from torchvision.transforms.v2 import Transform

__all__ = ["Jitter", "MagnitudeWarp", "Scaling", "TimeWarp", "WindowSlice", "WindowWarp"]

# Smallest knot speed of a time warp: keeps the warped time running forward for large sigmas.
_MIN_SPEED = 1e-3


def _is_plain_tensor(leaf: Any) -> bool:
    # tv_tensors (images, boxes, masks) are not sequences; v2 itself only ever transforms the
    # first plain tensor of a sample and passes the others (tensor labels) through.
    return isinstance(leaf, torch.Tensor) and not isinstance(leaf, tv_tensors.TVTensor)


def _check_number(name: str, value: Any, *, low: float, low_inclusive: bool = True, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}")
    ok_low = value >= low if low_inclusive else value > low
    if not (math.isfinite(value) and ok_low and value <= high):
        bracket = "[" if low_inclusive else "("
        upper = "inf)" if math.isinf(high) else f"{high}]"
        raise ValueError(f"{name} must be a finite number in {bracket}{low}, {upper}, got {value!r}")
    return float(value)


def _check_knots(knots: Any) -> int:
    if isinstance(knots, bool) or not isinstance(knots, numbers.Integral):
        raise TypeError(f"knots must be an int, got {knots!r} of type {type(knots).__name__}")
    if knots < 1:
        raise ValueError(f"knots must be >= 1, got {knots!r}")
    return int(knots)


def _check_scales(scales: Any) -> tuple[float, ...]:
    if isinstance(scales, (str, bytes)) or not isinstance(scales, Sequence):
        raise TypeError(f"scales must be a sequence of positive numbers, got {scales!r}")
    if len(scales) == 0:
        raise ValueError(f"scales must hold at least one scale, got {scales!r}")
    for scale in scales:
        if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
            raise TypeError(f"scales must hold real numbers, got {scales!r}")
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"scales must hold finite numbers > 0, got {scales!r}")
    return tuple(float(scale) for scale in scales)


def _sequence_shape(inpt: torch.Tensor | np.ndarray) -> tuple[int, int]:
    """(channels, length) of a ``(C, T)`` or ``(T,)`` float sequence; the documented errors otherwise."""
    if isinstance(inpt, torch.Tensor):
        is_float = inpt.dtype.is_floating_point
    else:
        is_float = np.issubdtype(inpt.dtype, np.floating)
    if not is_float:
        raise TypeError(f"time-series transforms need a floating-point sequence, got dtype {inpt.dtype}")
    if inpt.ndim not in (1, 2) or inpt.shape[-1] == 0:
        raise ValueError(f"a sequence must have shape (C, T) or (T,) with T >= 1, got shape {tuple(inpt.shape)}")
    return (1, inpt.shape[0]) if inpt.ndim == 1 else (inpt.shape[0], inpt.shape[1])


def _interp(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Linear interpolation of ``x`` (C, T) at fractional ``positions`` (N,) or (C, N) in [0, T - 1] -> (C, N).

    Every output is a convex combination of two neighbouring inputs, so it stays within their range.
    """
    length = x.shape[-1]
    positions = positions.to(device=x.device, dtype=x.dtype).expand(x.shape[0], -1)  # (C, N)
    lower = positions.floor().long().clamp(0, max(length - 2, 0))
    upper = (lower + 1).clamp(max=length - 1)
    weight = (positions - lower).clamp(0, 1)
    return torch.lerp(x.gather(-1, lower), x.gather(-1, upper), weight)


class _SequenceTransform(Transform):
    """Draws parameters for the sample's ``(C, T)`` sequence once, then applies them to it in float."""

    _transformed_types = (_is_plain_tensor, np.ndarray)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        if not flat_inputs:
            return {}
        shape = _sequence_shape(flat_inputs[0])
        return {"shape": shape, **self._draw(*shape)}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        shape = _sequence_shape(inpt)
        if shape != params["shape"]:
            raise ValueError(
                f"{type(self).__name__}: all sequences of a sample must share one shape; got {params['shape']} "
                f"and {shape} (channels, length)"
            )
        tensor = torch.tensor(inpt) if isinstance(inpt, np.ndarray) else inpt
        # Half precision is too coarse for warped time positions: compute in float32 (float64 stays).
        compute = torch.promote_types(tensor.dtype, torch.float32)
        out = self._apply(tensor.to(compute).reshape(shape), params).reshape(tensor.shape).to(tensor.dtype)
        return out.numpy() if isinstance(inpt, np.ndarray) else out

    def _draw(self, channels: int, length: int) -> dict[str, Any]:
        raise NotImplementedError

    def _apply(self, x: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        raise NotImplementedError


class Jitter(_SequenceTransform):
    """Adds Gaussian noise N(0, sigma^2) to every value of the sequence.

    Jittering in Iwana & Uchida, PLOS ONE 2021 (after Um et al., ICMI 2017).

    Args:
        sigma: standard deviation of the noise, >= 0.

    Example:
        >>> from genaug.transforms import Jitter
        >>> x = torch.zeros(3, 100)
        >>> y = Jitter(sigma=0.03)(x)
        >>> y.shape, bool(y.std() < 0.1)
        (torch.Size([3, 100]), True)
    """

    def __init__(self, sigma: float = 0.03) -> None:
        super().__init__()
        self.sigma = _check_number("sigma", sigma, low=0.0)

    def _draw(self, channels: int, length: int) -> dict[str, Any]:
        return {"noise": self.sigma * torch.randn(channels, length, dtype=torch.float64)}

    def _apply(self, x: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return x + params["noise"].to(device=x.device, dtype=x.dtype)


class Scaling(_SequenceTransform):
    """Multiplies each channel by one random factor drawn from N(1, sigma^2).

    Scaling in Iwana & Uchida, PLOS ONE 2021 (after Um et al., ICMI 2017).

    Args:
        sigma: standard deviation of the factors around 1, >= 0.

    Example:
        >>> from genaug.transforms import Scaling
        >>> x = torch.ones(2, 50)
        >>> y = Scaling(sigma=0.1)(x)
        >>> bool((y == y[:, :1]).all())  # one factor per channel
        True
    """

    def __init__(self, sigma: float = 0.1) -> None:
        super().__init__()
        self.sigma = _check_number("sigma", sigma, low=0.0)

    def _draw(self, channels: int, length: int) -> dict[str, Any]:
        return {"factor": 1.0 + self.sigma * torch.randn(channels, 1, dtype=torch.float64)}

    def _apply(self, x: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return x * params["factor"].to(device=x.device, dtype=x.dtype)


def _splines(knot_values: np.ndarray, length: int) -> np.ndarray:
    """Cubic splines through ``knot_values`` (C, K) at K evenly spaced steps of [0, length - 1] -> (C, length)."""
    if length == 1:
        return knot_values[:, :1]
    steps = np.linspace(0.0, length - 1.0, num=knot_values.shape[1])
    return CubicSpline(steps, knot_values, axis=1)(np.arange(length))


class MagnitudeWarp(_SequenceTransform):
    """Multiplies each channel by a smooth random curve around 1.

    Magnitude warping in Iwana & Uchida, PLOS ONE 2021 (after Um et al., ICMI 2017): the curve is a
    cubic spline through ``knots + 2`` evenly spaced knots whose values are drawn from N(1, sigma^2),
    one curve per channel.

    Args:
        sigma: standard deviation of the knot values around 1, >= 0.
        knots: number of interior knots, >= 1.

    Example:
        >>> from genaug.transforms import MagnitudeWarp
        >>> x = torch.sin(torch.linspace(0, 6.28, 128)).expand(3, 128)
        >>> MagnitudeWarp(sigma=0.2, knots=4)(x).shape
        torch.Size([3, 128])
    """

    def __init__(self, sigma: float = 0.2, knots: int = 4) -> None:
        super().__init__()
        self.sigma = _check_number("sigma", sigma, low=0.0)
        self.knots = _check_knots(knots)

    def _draw(self, channels: int, length: int) -> dict[str, Any]:
        knot_values = 1.0 + self.sigma * torch.randn(channels, self.knots + 2, dtype=torch.float64)
        return {"curve": torch.from_numpy(_splines(knot_values.numpy(), length))}  # (C, T)

    def _apply(self, x: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return x * params["curve"].to(device=x.device, dtype=x.dtype)


class TimeWarp(_SequenceTransform):
    """Resamples each channel along a smooth random time map.

    Time warping in Iwana & Uchida, PLOS ONE 2021 (after Um et al., ICMI 2017): the warped time is a
    cubic spline through ``knots + 2`` evenly spaced steps ``s`` with values ``s * w``, ``w`` drawn
    from N(1, sigma^2) (one spline per channel), rescaled to end at ``T - 1``; each channel is
    linearly resampled so that its value at step ``i`` lands at warped time ``i``. Output values stay
    within the input's range.

    Args:
        sigma: standard deviation of the knots' speeds around 1, >= 0.
        knots: number of interior knots, >= 1.

    Example:
        >>> from genaug.transforms import TimeWarp
        >>> x = torch.linspace(0, 1, 64).expand(2, 64)
        >>> y = TimeWarp(sigma=0.2, knots=4)(x)
        >>> y.shape, bool(y.min() >= 0 and y.max() <= 1)
        (torch.Size([2, 64]), True)
    """

    def __init__(self, sigma: float = 0.2, knots: int = 4) -> None:
        super().__init__()
        self.sigma = _check_number("sigma", sigma, low=0.0)
        self.knots = _check_knots(knots)

    def _draw(self, channels: int, length: int) -> dict[str, Any]:
        speeds = 1.0 + self.sigma * torch.randn(channels, self.knots + 2, dtype=torch.float64)
        if length == 1:
            return {"positions": torch.zeros(channels, 1, dtype=torch.float64)}
        steps = np.arange(length, dtype=np.float64)
        knot_steps = np.linspace(0.0, length - 1.0, num=self.knots + 2)
        warped = _splines(knot_steps * np.clip(speeds.numpy(), _MIN_SPEED, None), length)  # (C, T)
        warped = np.clip(warped * (length - 1) / warped[:, -1:], 0, length - 1)
        warped = np.maximum.accumulate(warped, axis=1)  # time never runs backwards
        # Sample i of the input sits at warped time warped[c, i]; output step t reads the input at the
        # (fractional) index whose warped time is t: the inverse map, by linear interpolation.
        positions = np.stack([np.interp(steps, row, steps) for row in warped])
        return {"positions": torch.from_numpy(positions)}

    def _apply(self, x: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return _interp(x, params["positions"])


class WindowSlice(_SequenceTransform):
    """Crops a random window of ``ceil(ratio * T)`` steps and stretches it back to ``T`` steps.

    Window slicing in Iwana & Uchida, PLOS ONE 2021 (after Le Guennec et al., AALTD 2016); the same
    window for all channels, linear interpolation for the stretch. ``ratio=1`` is the identity.

    Args:
        ratio: fraction of the series kept, in (0, 1].

    Example:
        >>> from genaug.transforms import WindowSlice
        >>> x = torch.arange(100.0).expand(2, 100)
        >>> y = WindowSlice(ratio=0.9)(x)
        >>> y.shape, bool(y[0, -1] - y[0, 0] <= 90)
        (torch.Size([2, 100]), True)
    """

    def __init__(self, ratio: float = 0.9) -> None:
        super().__init__()
        self.ratio = _check_number("ratio", ratio, low=0.0, low_inclusive=False, high=1.0)

    def _draw(self, channels: int, length: int) -> dict[str, Any]:
        window = min(math.ceil(self.ratio * length), length)
        start = int(torch.randint(length - window + 1, ()))
        return {"positions": torch.linspace(start, start + window - 1, length, dtype=torch.float64)}

    def _apply(self, x: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return _interp(x, params["positions"])


class WindowWarp(_SequenceTransform):
    """Speeds up or slows down a random window, then resamples the series back to its length.

    Window warping in Iwana & Uchida, PLOS ONE 2021 (after Le Guennec et al., AALTD 2016): a window of
    ``ceil(window_ratio * T)`` steps is stretched by a factor chosen uniformly from ``scales`` (0.5
    halves it, 2 doubles it), the same window and factor for all channels, and the whole series is
    linearly resampled to ``T`` steps. Output values stay within the input's range.

    Args:
        window_ratio: fraction of the series warped, in (0, 1].
        scales: the stretch factors to choose from, each > 0.

    Example:
        >>> from genaug.transforms import WindowWarp
        >>> x = torch.sin(torch.linspace(0, 6.28, 128)).expand(3, 128)
        >>> WindowWarp(window_ratio=0.1, scales=(0.5, 2.0))(x).shape
        torch.Size([3, 128])
    """

    def __init__(self, window_ratio: float = 0.1, scales: Sequence[float] = (0.5, 2.0)) -> None:
        super().__init__()
        self.window_ratio = _check_number("window_ratio", window_ratio, low=0.0, low_inclusive=False, high=1.0)
        self.scales = _check_scales(scales)

    def _draw(self, channels: int, length: int) -> dict[str, Any]:
        scale = self.scales[int(torch.randint(len(self.scales), ()))]
        window = min(math.ceil(self.window_ratio * length), length)
        start = int(torch.randint(length - window + 1, ()))
        stretched = max(1, int(window * scale))
        # Positions in the input of the warped series: head, stretched window, tail.
        warped = torch.cat([
            torch.arange(start, dtype=torch.float64),
            torch.linspace(start, start + window - 1, stretched, dtype=torch.float64),
            torch.arange(start + window, length, dtype=torch.float64),
        ])
        resample = torch.linspace(0, len(warped) - 1, length, dtype=torch.float64)
        return {"warped": warped, "resample": resample}

    def _apply(self, x: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return _interp(_interp(x, params["warped"]), params["resample"])
