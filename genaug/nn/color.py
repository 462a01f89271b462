"""Colour spaces as differentiable torch functions: sRGB <-> CIE L*a*b* (D65), and luma.

Colorization predicts colour in a perceptual space (Zhang, Isola & Efros, "Colorful Image
Colorization", ECCV 2016): the lightness ``L*`` comes from the gray input, the model predicts
``a*`` and ``b*``. Formulas as in scikit-image's ``rgb2lab``/``lab2rgb`` (sRGB primaries, D65 white),
on ``(N, 3, H, W)`` tensors with values in [0, 1].

Example:
    >>> import torch
    >>> rgb = torch.rand(2, 3, 4, 5)
    >>> bool(torch.allclose(lab_to_rgb(rgb_to_lab(rgb)), rgb, atol=1e-4))
    True
"""

from __future__ import annotations

import torch

__all__ = ["AB_SCALE", "gray_to_lightness", "lab_to_rgb", "luma", "rgb_to_lab"]

AB_SCALE = 110.0  # |a*|, |b*| of sRGB colours stay below about 110: a*/AB_SCALE lies in [-1, 1]
_M = torch.tensor([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]])
_WHITE = torch.tensor([0.950456, 1.0, 1.088754])
_EPS = 0.008856  # (6/29)^3
_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, as PIL's and torchvision's rgb_to_grayscale


def _check(x: torch.Tensor, channels: int, name: str) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim < 3 or x.shape[-3] != channels:
        raise ValueError(f"{name}: expected a tensor (..., {channels}, H, W), got {tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")


def luma(rgb: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) -> (..., 1, H, W): the BT.601 gray value, as ``torchvision.transforms.v2.Grayscale``.

    Linear with weights summing to 1, so it works in any affine value range ([0, 1], [-1, 1], 0..255).
    """
    _check(rgb, 3, "rgb")
    r, g, b = rgb.unbind(-3)
    return (_LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b).unsqueeze(-3)


def _linear(c: torch.Tensor) -> torch.Tensor:
    return torch.where(c > 0.04045, ((c.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4, c / 12.92)


def _gamma(c: torch.Tensor) -> torch.Tensor:
    return torch.where(c > 0.0031308, 1.055 * c.clamp(min=0.0031308) ** (1 / 2.4) - 0.055, 12.92 * c)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) sRGB in [0, 1] -> (..., 3, H, W) L* in [0, 100], a*, b* in about [-110, 110]."""
    _check(rgb, 3, "rgb")
    lin = _linear(rgb.clamp(0, 1))
    xyz = torch.einsum("ij,...jhw->...ihw", _M.to(lin), lin) / _WHITE.to(lin).view(3, 1, 1)
    f = torch.where(xyz > _EPS, xyz.clamp(min=_EPS) ** (1 / 3), 7.787 * xyz + 16 / 116)
    fx, fy, fz = f.unbind(-3)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=-3)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) L*a*b* -> sRGB in [0, 1] (colours outside the gamut are clipped)."""
    _check(lab, 3, "lab")
    l, a, b = lab.unbind(-3)
    fy = (l + 16) / 116
    f = torch.stack([fy + a / 500, fy, fy - b / 200], dim=-3)
    xyz = torch.where(f > 6 / 29, f**3, (f - 16 / 116) / 7.787) * _WHITE.to(lab).view(3, 1, 1)
    lin = torch.einsum("ij,...jhw->...ihw", torch.linalg.inv(_M).to(lab), xyz)
    return _gamma(lin.clamp(0, 1)).clamp(0, 1)


def gray_to_lightness(gray: torch.Tensor) -> torch.Tensor:
    """(..., 1, H, W) gray values in [0, 1] -> (..., 1, H, W) the L* of that gray (R = G = B)."""
    _check(gray, 1, "gray")
    return rgb_to_lab(gray.expand(*gray.shape[:-3], 3, *gray.shape[-2:]))[..., :1, :, :]
