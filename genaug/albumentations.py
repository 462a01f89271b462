"""albumentations transforms backed by a generator: ``from genaug.albumentations import SyntheticSwap, LatentJitter``.

Importing this module registers the transforms with albumentations, which ``A.from_dict`` and
``A.load`` need to rebuild a saved pipeline. Serialized pipelines name the classes by their home,
``genaug.inject.albumentations``.
"""

from genaug.inject.albumentations import LatentJitter, SyntheticSwap

__all__ = ["LatentJitter", "SyntheticSwap"]
