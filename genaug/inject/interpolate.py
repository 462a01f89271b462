"""`LatentInterpolation`: a `SamplePool` sampler that decodes points between two real records of a class.

For families with an encoder (``has_encoder``: vae, flow), a sample of class c is
``decode((1 - t) * encode(a) + t * encode(b))`` for two anchor records a, b of class c drawn at
random and t drawn uniformly from ``[low, high]``: ``(0, 1)`` interpolates, a range beyond it
(e.g. ``(-0.25, 1.25)``) also extrapolates. The samples stay near the data (between real records)
where a draw from the prior may wander off it. The anchors are the user's labelled records (or the
generator's training data); they travel with the pool to DataLoader workers (tensors, no model).

Example:
    >>> import genaug, torch
    >>> data = genaug.load_source("digits")
    >>> model = genaug.fit(data, "vae", steps=5)
    >>> pool = genaug.SamplePool(model, batch_size=64, sampler=LatentInterpolation(data))
    >>> x, info = pool.take([3, 3, 5])
    >>> x.shape, [p.label for p in info]
    (torch.Size([3, 8, 8]), [3, 3, 5])
"""

from __future__ import annotations

import math
from typing import Any

import torch

from genaug.data.spec import DataSpec
from genaug.models.base import Generator

__all__ = ["LatentInterpolation"]


class LatentInterpolation:
    """Sampler ``(model, labels, generator) -> user-space samples`` interpolating the latents of anchor pairs.

    Args:
        anchors: the records to interpolate between: an `ArraySet` (model space) or anything with
            ``x`` (model space) and ``y`` (class indices), e.g. the labelled subset.
        low, high: the range t is drawn from (0 is the first anchor, 1 the second).
    """

    def __init__(self, anchors: Any, *, low: float = 0.0, high: float = 1.0) -> None:
        x, y = getattr(anchors, "x", None), getattr(anchors, "y", None)
        if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
            raise TypeError(f"anchors: expected an ArraySet (model-space x and labels y), got {type(anchors).__name__}")
        if x.ndim < 2 or len(x) == 0 or y.shape != (len(x),):
            raise ValueError(f"anchors: expected N >= 1 records with one label each, got x {tuple(x.shape)} and y {tuple(y.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError("anchors: x contains NaN or infinite values")
        for name, value in (("low", low), ("high", high)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name}: expected a finite number, got {value!r}")
        if low > high:
            raise ValueError(f"low, high: expected low <= high, got {low} > {high}")
        self.x, self.y = x.detach().to(torch.float32).cpu(), y.detach().long().cpu()
        self.low, self.high = float(low), float(high)
        self.members = {int(c): torch.nonzero(self.y == c).reshape(-1) for c in torch.unique(self.y)}

    def check(self, model: Generator) -> None:
        """Refuse a model it cannot serve: no encoder, another sample shape, a class without anchors."""
        spec: DataSpec = model.spec
        if not model.has_encoder:
            raise ValueError(f"sampler: latent interpolation needs a family with an encoder (has_encoder), got the {model.family!r} family")
        if tuple(self.x.shape[1:]) != tuple(spec.shape):
            raise ValueError(f"anchors: records of shape {tuple(self.x.shape[1:])}, but the {model.family} model's samples have shape {tuple(spec.shape)}")
        missing = [spec.class_names[c] for c in range(spec.num_classes) if c not in self.members]
        if missing or max(self.members) >= spec.num_classes:
            raise ValueError(f"anchors: every class of the model needs an anchor record; none for {missing}" if missing else
                             f"anchors: labels up to {max(self.members)}, but the model knows classes 0..{spec.num_classes - 1}")

    @torch.no_grad()
    def __call__(self, model: Generator, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One sample per label, in the user's space (as `Generator.sample` returns)."""
        device = model.device
        cpu = torch.Generator().manual_seed(int(torch.randint(2**62, (1,), generator=generator, device=generator.device)))
        labels = labels.cpu().long()
        first, second = torch.empty(len(labels), dtype=torch.long), torch.empty(len(labels), dtype=torch.long)
        for c in torch.unique(labels).tolist():
            where, members = labels == c, self.members[c]
            n, m = int(where.sum()), len(members)
            i = torch.randint(m, (n,), generator=cpu)
            j = (i + 1 + torch.randint(max(m - 1, 1), (n,), generator=cpu)) % m if m > 1 else i  # another record when there is one
            first[where], second[where] = members[i], members[j]
        t = self.low + (self.high - self.low) * torch.rand(len(labels), 1, generator=cpu)
        on = labels.to(device)
        was_training = model.training
        model.eval()
        try:
            za = model.encode(self.x[first].to(device), on)
            zb = model.encode(self.x[second].to(device), on)
            t = t.to(device=device, dtype=za.dtype)
            decoded = model.decode((1 - t) * za + t * zb, on)
        finally:
            model.train(was_training)
        return model.spec.to_user(decoded.cpu())

    def __repr__(self) -> str:
        return f"LatentInterpolation({len(self.y)} anchors, t in [{self.low}, {self.high}])"
