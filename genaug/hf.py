"""Hugging Face ``datasets`` integration: ``from genaug.hf import SyntheticRows, generate_dataset``."""

from genaug.inject.hf import PROVENANCE_COLUMN, SYNTHETIC_COLUMN, SyntheticRows
from genaug.inject.hf_dataset import generate_dataset

__all__ = ["PROVENANCE_COLUMN", "SYNTHETIC_COLUMN", "SyntheticRows", "generate_dataset"]
