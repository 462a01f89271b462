"""Hugging Face ``datasets`` integration: ``from genaug.hf import SyntheticRows, ImageToImageMap, generate_dataset``.

`SyntheticRows` appends or swaps in synthetic rows inside ``Dataset.map``; `ImageToImageMap` runs an
image-to-image model (super-resolution, colorization, translation) over an image column inside
``Dataset.map``; `generate_dataset` writes a large synthetic dataset to disk.
"""

from genaug.hf._dataset import generate_dataset
from genaug.hf._image2image import ImageToImageMap
from genaug.hf._rows import PROVENANCE_COLUMN, SYNTHETIC_COLUMN, SyntheticRows, row_uniforms

__all__ = ["ImageToImageMap", "PROVENANCE_COLUMN", "SYNTHETIC_COLUMN", "SyntheticRows", "generate_dataset", "row_uniforms"]
