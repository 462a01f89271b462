"""torchvision v2 transforms: generators in a per-sample pipeline, and classic time-series augmentations.

``from genaug.transforms import SyntheticSwap, LatentJitter`` (a fitted generator swaps or jitters
samples) and ``Jitter, Scaling, MagnitudeWarp, TimeWarp, WindowSlice, WindowWarp`` (Iwana & Uchida 2021,
on ``(C, T)`` sequences; the classic chain of a sequence recipe, ``classic.library: genaug``).
"""

from genaug.transforms._synthetic import LatentJitter, SyntheticSwap
from genaug.transforms._timeseries import Jitter, MagnitudeWarp, Scaling, TimeWarp, WindowSlice, WindowWarp

__all__ = ["Jitter", "LatentJitter", "MagnitudeWarp", "Scaling", "SyntheticSwap", "TimeWarp", "WindowSlice", "WindowWarp"]
