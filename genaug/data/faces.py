"""Faces: scikit-image's ``lfw_subset``, 100 faces and 100 non-faces (25 x 25 grayscale, no download).

The set ships inside scikit-image (the optional extra ``genaug[images]``): 100 face crops from
Labeled Faces in the Wild and 100 patches of the same photographs without a face, each 25 x 25,
float64 in [0, 1]. ``load_faces`` reads it as an `ArraySet` with the classes ``face`` and
``non-face``; the source name ``faces`` (`genaug.load_source`, ``genaug fit --data faces``) does the same.

Its records are people: a generated face that copies a training face leaks that person's identity,
so recipes on this source drop near-copies by default (`carries_identities`, the recipe field
``data.identities``).

Example:
    >>> faces = load_faces()
    >>> tuple(faces.x.shape), faces.spec.class_names, faces.spec.value_range
    ((200, 1, 25, 25), ('face', 'non-face'), (0.0, 1.0))
"""

from __future__ import annotations

import numpy as np

from genaug.data.arrayset import ArraySet, from_arrays

__all__ = ["FACE_CLASSES", "FACES_SOURCE", "load_faces"]

FACES_SOURCE = "faces"  # the `load_source` name of the set
FACE_CLASSES = ("face", "non-face")  # lfw_subset holds the 100 faces first, then the 100 non-faces
_PER_CLASS = 100


def load_faces() -> ArraySet:
    """scikit-image's ``lfw_subset``: 200 grayscale 25 x 25 images, values in [0, 1], classes face and non-face.

    The values are continuous (not an 8-bit grid), so the spec's scaling is ``range`` over (0, 1).

    Returns:
        The validated `ArraySet`: x ``(200, 1, 25, 25)`` in model space, labels 0 (face) for the first
        100 records and 1 (non-face) for the last 100.

    Raises:
        ImportError: scikit-image is not installed (``pip install 'genaug[images]'``).

    Example:
        >>> faces = load_faces()
        >>> faces.spec.class_counts, faces.spec.scaling
        ((100, 100), 'range')
    """
    try:
        from skimage.data import lfw_subset
    except ImportError:
        raise ImportError(
            f"data: the {FACES_SOURCE!r} set is scikit-image's lfw_subset; install it with pip install 'genaug[images]'"
        ) from None
    x = np.asarray(lfw_subset())  # (200, 25, 25) float64
    expected = (len(FACE_CLASSES) * _PER_CLASS, 25, 25)
    if x.shape != expected:  # a scikit-image release that changed the set: refuse it instead of mislabelling it
        raise ValueError(f"data: scikit-image's lfw_subset has shape {x.shape}; expected {expected} (100 faces, then 100 non-faces)")
    labels = np.repeat(np.arange(len(FACE_CLASSES)), _PER_CLASS)
    return from_arrays(x, labels, class_names=list(FACE_CLASSES), levels=None, value_range=(0.0, 1.0))
