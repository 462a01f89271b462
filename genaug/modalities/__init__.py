"""Modalities: the kinds of sample genaug models, one module each, registered by name.

Importing this package registers the built-in ones (vector, image, sequence, text). A new modality is one
module: a `Modality` subclass decorated with `register_modality` (see CONTRIBUTING.md).

Example:
    >>> import genaug.modalities as m
    >>> m.modalities()[:3]
    ['vector', 'image', 'sequence']
"""

from genaug.modalities import vector, image, sequence, text  # noqa: F401, I001  (registration side effect, in this order)
from genaug.modalities.base import Modality, Standardized, column_modality, get_modality, modalities, register_modality
from genaug.modalities.channels import ChannelModality

__all__ = ["ChannelModality", "Modality", "Standardized", "column_modality", "get_modality", "modalities", "register_modality"]
