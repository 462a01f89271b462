"""Class agreement: does a class-conditional generator draw the class it is asked for?

A logistic regression is trained on real data (the evaluation set, as its modality's `linear_features`: model space
flattened; hashed character n-gram counts for text); the score is the
share of class-conditional samples it assigns to the class they were asked for. It needs no
likelihood, so it applies to every family (GANs and diffusion included).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from genaug.data.arrayset import ArraySet
from genaug.models.base import Generator

__all__ = ["ClassAgreement", "class_agreement"]


@dataclass(frozen=True)
class ClassAgreement:
    """Share of samples a classifier trained on real data labels as asked."""

    accuracy: float  # over all samples
    per_class: dict[str, float]  # class name -> share of its samples labelled as asked
    real_accuracy: float  # the classifier on the real data it was trained on (its ceiling)
    n_samples: int

    def to_dict(self) -> dict:
        return asdict(self)


def class_agreement(model: Generator, data: ArraySet, *, n_per_class: int = 50, seed: int = 0) -> ClassAgreement:
    """Train a classifier on ``data``, then score ``n_per_class`` samples per class of ``model``.

    Example:
        >>> import genaug
        >>> data = genaug.load_source("digits")
        >>> model = genaug.fit(data, "gmm", steps=10)
        >>> class_agreement(model, data, n_per_class=20).accuracy > 0.8
        True
    """
    from sklearn.linear_model import LogisticRegression

    if n_per_class < 1:
        raise ValueError(f"n_per_class: expected at least 1 sample per class, got {n_per_class}")
    spec = model.spec
    data = data.conform(spec)
    present = np.unique(data.y.numpy())
    if len(present) < 2:
        raise ValueError(f"data: class agreement needs samples of at least 2 classes, got {len(present)}")
    x_real = spec.kind.linear_features(spec, data.x)
    clf = LogisticRegression(max_iter=3000).fit(x_real, data.y.numpy())
    labels = torch.as_tensor(present).repeat_interleave(n_per_class)
    samples = model.sample(len(labels), labels=labels, generator=torch.Generator().manual_seed(seed))
    samples = samples.cpu() if isinstance(samples, torch.Tensor) else samples  # text: a list of str
    predicted = clf.predict(spec.kind.linear_features(spec, spec.to_model(samples)))
    hits = predicted == labels.numpy()
    per_class = {spec.class_names[c]: float(hits[labels.numpy() == c].mean()) for c in present}
    return ClassAgreement(
        accuracy=float(hits.mean()),
        per_class=per_class,
        real_accuracy=float(clf.score(x_real, data.y.numpy())),
        n_samples=len(labels),
    )
