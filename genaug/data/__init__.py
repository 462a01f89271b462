"""Data layer: `DataSpec`, `ArraySet` and the sources that build them."""

from genaug.data.arrayset import ArraySet, from_arrays, validate_labels
from genaug.data.sources import BUNDLED, load_bundled, load_source
from genaug.data.spec import DataSpec

__all__ = ["BUNDLED", "ArraySet", "DataSpec", "from_arrays", "load_bundled", "load_source", "validate_labels"]
