"""Noise drawn from an explicit ``torch.Generator`` that may live on another device than the result.

Example:
    >>> g = torch.Generator().manual_seed(0)
    >>> randn((2, 3), g, "cpu").shape
    torch.Size([2, 3])
"""

from __future__ import annotations

import torch

__all__ = ["rand", "randn"]


def _on_device(draw, shape, generator, device, dtype):
    """Draw on the generator's device, then move: the same seed gives the same noise on CPU and GPU."""
    gen_device = generator.device if generator is not None else device
    return draw(shape, generator=generator, device=gen_device, dtype=dtype).to(device)


def randn(shape, generator: torch.Generator | None, device, dtype=torch.float32) -> torch.Tensor:
    """Standard normal noise of ``shape`` on ``device`` from ``generator`` (which may live elsewhere)."""
    return _on_device(torch.randn, shape, generator, device, dtype)


def rand(shape, generator: torch.Generator | None, device, dtype=torch.float32) -> torch.Tensor:
    """Uniform [0, 1) noise of ``shape`` on ``device`` from ``generator``."""
    return _on_device(torch.rand, shape, generator, device, dtype)
