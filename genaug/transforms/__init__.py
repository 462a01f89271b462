"""torchvision v2 transforms: generators in a per-sample pipeline, and classic time-series augmentations.

``from genaug.transforms import SyntheticSwap, LatentJitter`` (a fitted generator swaps or jitters
samples), ``SuperResolve, Colorize, Translate`` (an image-to-image model maps the sample's image: a
super-resolved, recoloured or translated copy; ``BatchedImageToImage`` runs them once per DataLoader batch),
``TryOn`` (virtual try-on: sunglasses, a hat or a face mask on every detected face, optionally blended
by a learned harmonization model)
and ``Jitter, Scaling, MagnitudeWarp, TimeWarp, WindowSlice, WindowWarp`` (Iwana & Uchida 2021,
on ``(C, T)`` sequences; the classic chain of a sequence recipe, ``classic.library: genaug``), and the
character noise of nlpaug's character augmenters for strings: ``CharSwap, CharDelete, CharInsert,
KeyboardSubstitute``.
"""

from genaug.transforms._image2image import BatchedImageToImage, Colorize, SuperResolve, Translate
from genaug.transforms._synthetic import LatentJitter, SyntheticSwap
from genaug.transforms._text import CharDelete, CharInsert, CharSwap, KeyboardSubstitute
from genaug.transforms._timeseries import Jitter, MagnitudeWarp, Scaling, TimeWarp, WindowSlice, WindowWarp
from genaug.transforms._tryon import TryOn

__all__ = [
    "BatchedImageToImage",
    "CharDelete",
    "CharInsert",
    "CharSwap",
    "Colorize",
    "Jitter",
    "KeyboardSubstitute",
    "LatentJitter",
    "MagnitudeWarp",
    "Scaling",
    "SuperResolve",
    "SyntheticSwap",
    "TimeWarp",
    "Translate",
    "TryOn",
    "WindowSlice",
    "WindowWarp",
]
