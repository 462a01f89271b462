"""Generator families behind one contract. Importing this package registers every family."""

from genaug.models import charlm, cyclegan, diffusion, flow, gan, gmm, palette, pixelcnn, rescnn, vae, wavenet  # noqa: F401  (registration side effect)
from genaug.models.base import Generator, GeneratorConfig, OptimizerGroup
from genaug.models.registry import create, families, get_family, load, register

__all__ = ["Generator", "GeneratorConfig", "OptimizerGroup", "create", "families", "get_family", "load", "register"]
