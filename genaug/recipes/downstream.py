"""The downstream model a recipe trains once per arm and seed, and how it is trained and scored.

Inputs and built-in models are the modality's (`genaug.modalities`): images as floats in [0, 1] (the
data's value range mapped there: digits are ``x / 16``) for ``cnn`` (conv32-conv64-maxpool-linear, the
few-shot digits protocol); sequences in model space for ``fcn`` (Wang et al. 2017); vectors in the
data's standardized model space; ``mlp`` and ``logreg`` for every modality; ``auto`` is the
modality's default. Any ``package.module:factory`` is called as
``factory(in_shape=..., num_classes=..., **model_args)`` and must return an ``nn.Module`` of logits.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from genaug.data.spec import DataSpec

__all__ = ["build_classifier", "to_input", "train_classifier"]


def to_input(spec: DataSpec, x_user: torch.Tensor | np.ndarray | list) -> torch.Tensor:
    """User-space samples -> the classifier's float32 inputs (canonical layout; see the module docstring).

    Strings (text) become their UTF-8 byte ids, padded to the longest of the batch.

    Example:
        >>> import genaug
        >>> data = genaug.load_source("digits")
        >>> x = to_input(data.spec, data.user_x()[:2])
        >>> x.shape, float(x.max()) <= 1.0
        (torch.Size([2, 1, 8, 8]), True)
    """
    if not isinstance(x_user, torch.Tensor):
        array = np.asarray(x_user)
        # values that are no numbers (text: str) go to the modality as they are
        x_user = torch.as_tensor(array) if array.dtype.kind in "biuf" else x_user
    return spec.kind.classifier_input(spec, x_user)


def build_classifier(spec: DataSpec, model: str = "auto", model_args: dict[str, Any] | None = None) -> nn.Module:
    """The downstream classifier ``model`` for data of ``spec`` (see the module docstring).

    Example:
        >>> import genaug
        >>> net = build_classifier(genaug.load_source("digits").spec, "cnn")
        >>> net(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """
    args = dict(model_args or {})
    in_shape, classes = tuple(spec.shape), spec.num_classes
    if ":" in model:
        return _imported(model, in_shape, classes, args)
    if model == "auto":
        model = spec.kind.default_classifier
    if model not in spec.kind.classifiers():
        raise ValueError(
            f"downstream.model: {model!r} does not take {spec.modality} data of shape {in_shape}; "
            f"expected one of {['auto', *spec.kind.classifiers()]} or 'package.module:factory'"
        )
    return spec.kind.classifier(model, in_shape, classes, **args)


def _imported(path: str, in_shape: tuple[int, ...], classes: int, args: dict[str, Any]) -> nn.Module:
    """``factory(in_shape=, num_classes=, **args)`` of the import path ``package.module:factory``, checked to be a model.

    Importing the module and calling the factory run its code: a recipe's import path is code it executes.
    """
    module_name, _, attr = path.partition(":")
    call = f"{path}(in_shape={in_shape}, num_classes={classes}{''.join(f', {k}={v!r}' for k, v in args.items())})"
    expected = "expected 'package.module:factory', a callable returning a torch.nn.Module of logits"
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except Exception as err:  # ImportError, AttributeError, an empty name, or the module failing as it imports
        raise ValueError(f"downstream.model: cannot import {path!r} ({type(err).__name__}: {err}); {expected}") from None
    if not callable(factory):
        raise ValueError(f"downstream.model: {path!r} is a {type(factory).__name__}, not callable; {expected}")
    try:
        inspect.signature(factory).bind(in_shape=in_shape, num_classes=classes, **args)
    except TypeError as err:  # refused before it runs: the factory does not take the documented arguments
        raise ValueError(f"downstream.model: {path!r} cannot be called as {call} ({err}); {expected}") from None
    except ValueError:  # no signature to read (some builtins): the call itself tells
        pass
    try:
        net = factory(in_shape=in_shape, num_classes=classes, **args)
    except Exception as err:  # the recipe's own code: name the field, keep the cause's words
        raise ValueError(f"downstream.model: {call} raised {type(err).__name__}: {err}; {expected}") from err
    if not isinstance(net, nn.Module):
        raise ValueError(f"downstream.model: {call} returned a {type(net).__name__}; {expected}")
    return net


def train_classifier(
    net: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    test: tuple[torch.Tensor, torch.Tensor] | None,
    *,
    num_classes: int,
    steps: int,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    log_every: int = 50,
) -> dict[str, Any]:
    """Train ``net`` for ``steps`` Adam updates on ``batches`` (cycled), then score it on ``test``.

    Args:
        net: a classifier returning logits.
        batches: (inputs, labels) batches; iterated again from the start when exhausted.
        test: (inputs, labels) of the test split; None: not scored.
        num_classes: classes of the labels (per-class accuracy has one entry per class).
        steps, lr, weight_decay: the optimization.
        log_every: steps per point of the training curve (mean loss and accuracy over them).

    Returns:
        ``{"accuracy", "per_class" (None for a class without test samples), "curve": [{"step",
        "loss", "train_accuracy"}]}``.
    """
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    curve: list[dict[str, float]] = []
    loss_sum, correct, seen = 0.0, 0, 0
    net.train()
    for step, (x, y) in enumerate(itertools.islice(_cycle(batches), steps), start=1):
        logits = net(x)
        loss = nn.functional.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.item() * len(y)
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
        if step % log_every == 0 or step == steps:
            curve.append({"step": step, "loss": loss_sum / seen, "train_accuracy": correct / seen})
            loss_sum, correct, seen = 0.0, 0, 0
    scores = {} if test is None else score(net, *test, num_classes=num_classes)
    return {**scores, "curve": curve}


@torch.no_grad()
def score(net: nn.Module, x: torch.Tensor, y: torch.Tensor, *, num_classes: int) -> dict[str, Any]:
    """Accuracy and per-class accuracy of ``net`` on (x, y)."""
    net.eval()
    predicted = torch.cat([net(chunk).argmax(1) for chunk in x.split(1024)])
    hits = (predicted == y).double()
    per_class = [float(hits[y == c].mean()) if bool((y == c).any()) else None for c in range(num_classes)]
    return {"accuracy": float(hits.mean()), "per_class": per_class}


def _cycle(batches: Iterable[Any]) -> Iterator[Any]:
    while True:
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty:
            raise ValueError("batches: the training stream yielded no batch")
