"""genaug: generative models fitted on your own small data set, as data augmentation.

Example:
    >>> import genaug, torch
    >>> data = genaug.load_source("digits")
    >>> model = genaug.fit(data, "vae", steps=20)  # add out="runs/vae" to keep the run
    >>> model.sample(16, labels=3, generator=torch.Generator().manual_seed(0)).shape
    torch.Size([16, 8, 8])
"""

__version__ = "0.1.0"

from genaug.data import ArraySet, DataSpec, from_arrays, load_source  # noqa: E402
from genaug.models import Generator, create, families, load  # noqa: E402
from genaug.evaluate import bits_per_dim, evaluate  # noqa: E402
from genaug.inject import SamplePool, mix  # noqa: E402
from genaug.train import TrainConfig, Trainer, fit  # noqa: E402

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
    "load",
    "load_source",
    "mix",
]

_SUBMODULES = ("albumentations", "detect", "hf", "transforms")  # imported on first access: they pull in their library


def __getattr__(name: str):
    """``genaug.hf``, ``genaug.transforms``, ``genaug.albumentations`` without importing them up front."""
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"genaug.{name}")
    raise AttributeError(f"module 'genaug' has no attribute {name!r}")
