"""genaug: generative models fitted on your own small data set, as data augmentation.

Example:
    >>> import genaug, torch
    >>> data = genaug.load_source("digits")
    >>> model = genaug.fit(data, "vae", steps=20)  # add out="runs/vae" to keep the run
    >>> model.sample(16, labels=3, generator=torch.Generator().manual_seed(0)).shape
    torch.Size([16, 8, 8])
"""

from genaug.utils.version import __version__
from genaug.data import ArraySet, DataSpec, from_arrays, from_texts, load_source
from genaug.models import Generator, create, families, load
from genaug.evaluate import bits_per_dim, evaluate
from genaug.inject import SamplePool, mix
from genaug.train import TrainConfig, Trainer, fit

__all__ = [
    "ArraySet",
    "DataSpec",
    "Generator",
    "SamplePool",
    "TrainConfig",
    "Trainer",
    "__version__",
    "bits_per_dim",
    "create",
    "evaluate",
    "families",
    "fit",
    "from_arrays",
    "from_texts",
    "load",
    "load_source",
    "mix",
]

_SUBMODULES = ("albumentations", "detect", "hf", "transforms")  # imported on first access: they pull in their library


def __getattr__(name: str):
    """``genaug.hf``, ``genaug.transforms``, ``genaug.albumentations``, ``genaug.detect`` without importing them up front."""
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"genaug.{name}")
    raise AttributeError(f"module 'genaug' has no attribute {name!r}")
