"""Pseudo-labels: let a generator learn from the unlabelled rest of the training part.

`pseudo_labelled` trains the recipe's downstream model on the labelled subset (through the classic
chain when the recipe has one, as the ``classic`` arm does), labels the unlabelled records with it and
keeps those it labels at least ``min_confidence`` surely. The generator is then fitted on the labelled
subset plus the kept records, so it sees ten to a hundred times more images of each class than the
few labelled ones, at the price of the classifier's mistakes.

Only the labelled subset and the unlabelled records are used; the true labels of the unlabelled
records are read once, after the choice is made, to report how many pseudo-labels are right.

Reference: D.-H. Lee, "Pseudo-label: the simple and efficient semi-supervised learning method for
deep neural networks", ICML workshop on challenges in representation learning, 2013.
"""

from __future__ import annotations

from typing import Any

import torch

from genaug.data.arrayset import ArraySet
from genaug.recipes.downstream import build_classifier, to_input, train_classifier
from genaug.recipes.schema import Recipe
from genaug.recipes.streams import arm_batches

__all__ = ["pseudo_labelled"]


def pseudo_labelled(recipe: Recipe, labelled: ArraySet, unlabelled: ArraySet, min_confidence: float, seed: int) -> tuple[ArraySet, dict[str, Any]]:
    """``labelled`` plus the records of ``unlabelled`` pseudo-labelled at least ``min_confidence`` surely.

    Returns the joined set and a report: ``n_unlabelled``, ``n_kept``, ``kept_per_class`` and
    ``accuracy`` (of the kept pseudo-labels, against the true labels: reported only).
    """
    if len(unlabelled) == 0:
        raise ValueError("unlabelled: no records left to pseudo-label (every training record is in the labelled subset)")
    spec, down = labelled.spec, recipe.downstream
    torch.manual_seed(seed)
    net = build_classifier(spec, down.model, down.model_args)
    batches = arm_batches("classic" if recipe.classic is not None else "none", recipe, labelled, None, seed)
    train_classifier(net, batches, None, num_classes=spec.num_classes, steps=down.steps, lr=down.lr, weight_decay=down.weight_decay, log_every=down.log_every)
    net.eval()
    with torch.no_grad():
        x = to_input(spec, unlabelled.user_x())
        probs = torch.cat([net(chunk).softmax(1) for chunk in x.split(1024)])
    confidence, labels = probs.max(1)
    keep = (confidence >= min_confidence).nonzero().reshape(-1)
    kept = unlabelled.subset(keep)
    joined = ArraySet(torch.cat([labelled.x, kept.x]), torch.cat([labelled.y, labels[keep]]), spec)
    report = {
        "n_unlabelled": len(unlabelled),
        "n_kept": len(keep),
        "kept_per_class": torch.bincount(labels[keep], minlength=spec.num_classes).tolist(),
        "accuracy": float((labels[keep] == kept.y).double().mean()) if len(keep) else None,  # reported only
    }
    return joined, report
