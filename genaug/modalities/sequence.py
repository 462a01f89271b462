"""Sequences: ``(C, T)`` samples (time series, sensor signals, audio-like data), given as ``(N, C, T)``,
``(N, T, C)`` or one channel ``(N, T)``.

A sequence must be declared (``from_arrays(..., modality="sequence")``, or a sequence source such as
a UCR ``.tsv``/``.ts`` file): an ``(N, C, T)`` array could as well be grayscale images. Of a 3-D array
the smaller of the last two axes is read as the channels (time series are longer than they are wide);
``layout="TC"`` or ``"CT"`` says it outright.

Blocks are 1-D convolutions, a 1-D UNet and a causal dilated convolution stack (WaveNet) for the
autoregressive family; samples are drawn as line plots; the feature classifier is a 1-D CNN and the
downstream ``fcn`` the fully convolutional network of Wang et al. (2017); the classic augmentations
are `genaug.transforms`' time-series transforms (Iwana & Uchida 2021); DiffAugment's ideas along time.

Example:
    >>> from genaug.modalities import get_modality
    >>> sequence = get_modality("sequence")
    >>> sequence.infer_layout((10, 150)), sequence.infer_layout((10, 3, 100)), sequence.infer_layout((10, 100, 3))
    ('T', 'CT', 'TC')
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genaug.modalities.base import register_modality
from genaug.modalities.channels import ChannelModality
from genaug.nn import diffaugment as da
from genaug.nn.autoregressive import Draw
from genaug.nn.wavenet import WaveNet

__all__ = ["FCN", "Sequence"]


@register_modality
class Sequence(ChannelModality):
    name = "sequence"
    spatial = "T"
    default_classifier = "fcn"
    classic_library = "genaug.transforms"
    diff_augment_ops = ("amplitude", "shift", "cutout")
    feature_kernels = (7, 5, 3)
    column_names = ("series", "sequence", "values", "x")
    # the pixelcnn samples sequences as the wavenet does: class guidance 1 and temperature 0.6 lift its class fidelity
    # (BENCHMARKS.md, class fidelity) at a cost sequences can afford
    autoregressive_defaults = {"guidance": 1.0, "temperature": 0.6}

    def infer_layout(self, shape):
        """``(N, T)`` is one channel; of ``(N, A, B)`` the smaller of A and B is the channel axis (A on a tie)."""
        if len(shape) == 2:
            return "T"
        if len(shape) == 3:
            return "CT" if shape[1] <= shape[2] else "TC"
        raise ValueError(f"x: sequence data needs (N, T), (N, C, T) or (N, T, C); got shape {tuple(shape)}")

    # ------------------------------------------------------------------ blocks
    def autoregressive(self, shape, n_params, *, cond_dim, options):
        """A WaveNet-style causal stack whose dilations double per layer (receptive field 2^layers)."""
        layers = options["layers"]
        return CausalNet(
            shape[0], n_params, cond_dim=cond_dim, residual=options["channels"], skip=options["channels"],
            layers=layers, cycle=layers, head=options["head"], dropout=options["dropout"],
        )

    def diff_augment(self, x, op, generator, options):
        if op == "amplitude":
            return da.amplitude(x, generator)
        if op == "shift":
            return da.shift(x, options.get("translation", 0.125), generator)
        if op == "cutout":
            return da.cut_window(x, options.get("cutout", 0.5) / 2, generator)
        return super().diff_augment(x, op, generator, options)

    # ------------------------------------------------------------------ pictures
    def save_samples(self, spec, z, path, *, nrow=8):
        from genaug.utils.pictures import save_line_plots

        save_line_plots([[s] for s in z], path, ncol=nrow, limits=(-1.05, 1.05) if spec.scaling != "standard" else None)

    def save_pairs(self, spec, left, right, path, *, per_row=4):
        from genaug.utils.pictures import save_line_plots

        save_line_plots([[a, b] for a, b in zip(left, right)], path, ncol=per_row, limits=(-1.05, 1.05) if spec.scaling != "standard" else None)

    # ------------------------------------------------------------------ classifiers
    def classifiers(self):
        return ("fcn", "mlp", "logreg")

    def classifier(self, name, shape, classes, **args):
        if name == "fcn":
            return FCN(shape[0], classes, **args)
        return super().classifier(name, shape, classes, **args)

    def classic_defaults(self) -> list[dict[str, dict[str, Any]]]:
        return [{"WindowWarp": {}}, {"Jitter": {}}]


class CausalNet(WaveNet):
    """`WaveNet` with the autoregressive-block interface: ``sample(cond, shape, draw)``."""

    def sample(self, cond: torch.Tensor, shape: tuple[int, ...], draw: Draw) -> torch.Tensor:  # type: ignore[override]
        return super().sample(shape[-1], cond, draw)


class SameConv1d(nn.Conv1d):
    """``Conv1d(..., padding="same")`` with the padding done explicitly (left ``(k - 1) // 2``, right the rest, as
    torch pads): the same outputs and weights, without torch's warning about even kernels on every forward."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size)
        self.pads = ((kernel_size - 1) // 2, kernel_size - 1 - (kernel_size - 1) // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.pads))


class FCN(nn.Module):
    """The fully convolutional network of Wang, Yan and Oates, "Time Series Classification from Scratch with
    Deep Neural Networks: A Strong Baseline", IJCNN 2017: three conv blocks (kernels 8, 5, 3; widths w, 2w,
    w), batch norm, ReLU, global average pooling, a linear head. ``width`` 128 is the paper's; the default 64
    keeps few-shot benchmarks affordable on a CPU.

    Example:
        >>> FCN(2, 3, width=8)(torch.zeros(4, 2, 50)).shape
        torch.Size([4, 3])
    """

    def __init__(self, channels: int, classes: int, width: int = 64) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        widths = [channels, width, 2 * width, width]
        for k, (a, b) in zip((8, 5, 3), zip(widths, widths[1:])):
            blocks += [SameConv1d(a, b, k), nn.BatchNorm1d(b), nn.ReLU()]
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).mean(dim=2))
