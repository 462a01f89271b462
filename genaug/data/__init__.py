"""Data layer: `DataSpec`, `ArraySet` and the sources that build them."""

from genaug.data.arrayset import ArraySet, from_arrays, validate_labels
from genaug.data.sources import (
    BUNDLED,
    IMAGE_EXTENSIONS,
    from_hf_dataset,
    from_hf_disk,
    from_image_folder,
    from_npz,
    from_torch_dataset,
    load_bundled,
    load_source,
)
from genaug.data.spec import DataSpec

__all__ = [
    "BUNDLED",
    "IMAGE_EXTENSIONS",
    "ArraySet",
    "DataSpec",
    "from_arrays",
    "from_hf_dataset",
    "from_hf_disk",
    "from_image_folder",
    "from_npz",
    "from_torch_dataset",
    "load_bundled",
    "load_source",
    "validate_labels",
]
