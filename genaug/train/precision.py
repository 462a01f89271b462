"""Mixed precision, applied by the Trainer itself so that every fit of a process may choose its own.

Accelerate keeps one process-wide ``AcceleratorState`` whose mixed precision cannot change once set
(and offers no public way to reset it), while a library fits many models per process (notebooks,
recipes, tests). The Trainer therefore builds its `Accelerator` without a precision (a process
launched with ``accelerate launch --mixed_precision ...`` keeps that setting) and applies the fit's
own: ``torch.autocast`` around each training forward, and for fp16 a ``torch.amp.GradScaler`` per
optimizer group, as Accelerate would.

Example:
    >>> precision = Precision("bf16", torch.device("cpu"), groups=1)
    >>> with precision.autocast():
    ...     y = torch.nn.Linear(2, 2)(torch.zeros(1, 2))
    >>> y.dtype
    torch.bfloat16
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

__all__ = ["Precision"]

_DTYPES = {"no": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """Autocast for ``mode`` (``"no"``, ``"bf16"``, ``"fp16"``) on ``device``; loss scaling per group for fp16."""

    def __init__(self, mode: str, device: torch.device, groups: int) -> None:
        if mode not in _DTYPES:
            raise ValueError(f"mixed_precision: expected one of {list(_DTYPES)}, got {mode!r}")
        self.dtype, self.device_type = _DTYPES[mode], device.type
        self.scalers = [torch.amp.GradScaler(device.type) for _ in range(groups)] if mode == "fp16" else None

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(self.device_type, dtype=self.dtype) if self.dtype is not None else contextlib.nullcontext()

    def scale(self, group: int, loss: torch.Tensor) -> torch.Tensor:
        return loss if self.scalers is None else self.scalers[group].scale(loss)

    def unscale(self, group: int, optimizer: torch.optim.Optimizer) -> None:
        """Undo the loss scale on the gradients (before clipping them)."""
        if self.scalers is not None:
            self.scalers[group].unscale_(optimizer)

    def step(self, group: int, optimizer: torch.optim.Optimizer) -> None:
        """``optimizer.step()``; with fp16 skipped when the scaled gradients overflowed, and the scale updated."""
        if self.scalers is None:
            optimizer.step()
            return
        self.scalers[group].step(optimizer)
        self.scalers[group].update()

    def state_dict(self) -> list[dict[str, Any]] | None:
        """The scalers' states (plain numbers: they go into trainer_state.json)."""
        if self.scalers is None:
            return None
        return [{k: (v.item() if isinstance(v, torch.Tensor) else v) for k, v in s.state_dict().items()} for s in self.scalers]

    def load_state_dict(self, states: list[dict[str, Any]] | None) -> None:
        if self.scalers is not None and states is not None:
            for scaler, state in zip(self.scalers, states):
                scaler.load_state_dict(state)
