"""Exponential moving average of a module's weights, for sampling."""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["EMA"]


class EMA:
    """Keeps ``shadow``, a copy of ``model`` whose floating weights trail the live ones.

    The decay warms up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so early averages
    are not dominated by the random initialisation. Buffers (e.g. norm statistics) are copied.

    Example:
        >>> ema = EMA(nn.Linear(2, 2), decay=0.99)
        >>> ema.update(nn.Linear(2, 2))
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay: expected a number in (0, 1), got {decay!r}")
        self.decay = decay
        self.num_updates = 0
        self.shadow = copy.deepcopy(model).eval().requires_grad_(False)
        self._averaged = {name for name, p in self.shadow.named_parameters() if p.dtype.is_floating_point}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.num_updates += 1
        decay = min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))
        live = model.state_dict()
        for name, value in self.shadow.state_dict().items():
            if name in self._averaged:
                value.lerp_(live[name].to(value.dtype), 1.0 - decay)
            else:
                value.copy_(live[name])

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.shadow.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor], num_updates: int) -> None:
        self.shadow.load_state_dict(state)
        self.num_updates = num_updates
