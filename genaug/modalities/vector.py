"""Vectors: ``(D,)`` samples given as ``(N, D)``, e.g. the rows of a table.

Everything is the `Modality` default: standardized features, dense blocks, an MLP classifier. Samples
carry observation noise (each feature is its own measurement), so decoder-based families add it.

Example:
    >>> from genaug.modalities import get_modality
    >>> get_modality("vector").infer_layout((100, 13))
    'D'
"""

from __future__ import annotations

from genaug.modalities.base import Modality, register_modality

__all__ = ["Vector"]


@register_modality
class Vector(Modality):
    name = "vector"
    layouts = ("D",)
    guessed = True
    sample_noise = True
    feature_columns = True
    flow_lr_scale = 0.25  # dense couplings overfit a small table within tens of epochs
