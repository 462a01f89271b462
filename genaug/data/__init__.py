"""Data layer: `DataSpec`, `ArraySet` and the sources that build them (images, faces, vectors, time series, text)."""

from genaug.data.arrayset import ArraySet, from_arrays, validate_labels
from genaug.data.faces import load_faces
from genaug.data.libraries import from_hf_dataset, from_hf_disk, from_torch_dataset
from genaug.data.series import SeriesArrays, from_ts, from_ucr_tsv, read_ts, read_ucr_tsv
from genaug.data.series_sets import load_mnist1d, load_ucr, make_mnist1d, ucr_names, ucr_path
from genaug.data.sources import BUNDLED, IMAGE_EXTENSIONS, from_image_folder, from_npz, load_bundled, load_source
from genaug.data.spec import DataSpec
from genaug.data.text import from_text_file, from_texts, load_names, read_text_file

__all__ = [
    "BUNDLED",
    "IMAGE_EXTENSIONS",
    "ArraySet",
    "DataSpec",
    "SeriesArrays",
    "from_arrays",
    "from_hf_dataset",
    "from_hf_disk",
    "from_image_folder",
    "from_npz",
    "from_text_file",
    "from_texts",
    "from_torch_dataset",
    "from_ts",
    "from_ucr_tsv",
    "load_bundled",
    "load_faces",
    "load_mnist1d",
    "load_names",
    "load_source",
    "load_ucr",
    "make_mnist1d",
    "read_text_file",
    "read_ts",
    "read_ucr_tsv",
    "ucr_names",
    "ucr_path",
    "validate_labels",
]
