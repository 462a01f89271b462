"""torchvision v2 transforms backed by a generator: ``from genaug.transforms import SyntheticSwap, LatentJitter``."""

from genaug.inject.transforms import LatentJitter, SyntheticSwap

__all__ = ["LatentJitter", "SyntheticSwap"]
