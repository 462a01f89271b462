"""The batches the downstream model trains on, per arm: the subset through classic chains and injectors.

`arm_batches` builds the stream of one base arm (see `genaug.recipes.runner`); `classic_chain` turns
the recipe's ``classic`` section into one per-sample function. Both `genaug.recipes.runner` and
`genaug.recipes.pseudo` train through them.

Array samples (images, series, vectors) become classifier inputs first and the chain and injectors act
on those; samples that are Python values (text: ``str``) stay values until each batch is made, so the
classic chain (character noise), `SyntheticSwap`, `genaug.mix` and `SyntheticRows` all see strings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from genaug.data.arrayset import ArraySet
from genaug.recipes.baselines import OVERSAMPLERS, oversample
from genaug.recipes.downstream import to_input
from genaug.recipes.schema import Recipe, RecipeError

__all__ = ["arm_batches", "classic_chain"]


def classic_chain(recipe: Recipe, seed: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """The recipe's classic chain as one function of a (C, H, W) float tensor in [0, 1]."""
    classic = recipe.classic
    assert classic is not None
    steps = [(name, args) for item in classic.transforms for name, args in item.items()]
    if classic.library in ("torchvision", "genaug"):
        import importlib

        from torchvision.transforms import v2

        module_name = "torchvision.transforms.v2" if classic.library == "torchvision" else "genaug.transforms"
        module = importlib.import_module(module_name)
        built = [_build(module, module_name, name, args, i) for i, (name, args) in enumerate(steps)]
        return v2.Compose(built)
    import albumentations as A

    pipeline = A.Compose([_build(A, "albumentations", name, args, i) for i, (name, args) in enumerate(steps)], seed=seed)

    def apply(x: torch.Tensor) -> torch.Tensor:
        image = np.ascontiguousarray(x.permute(1, 2, 0).numpy())  # (H, W, C) float32, as albumentations expects
        return torch.from_numpy(np.ascontiguousarray(pipeline(image=image)["image"])).permute(2, 0, 1)

    return apply


def _build(module: Any, module_name: str, name: str, args: dict[str, Any], index: int) -> Any:
    cls = getattr(module, name, None)
    if not isinstance(cls, type):
        raise RecipeError(f"classic.transforms.{index}: {module_name} has no transform {name!r}")
    try:
        return cls(**args)
    except Exception as err:  # the library's own check of the arguments
        raise RecipeError(f"classic.transforms.{index}.{name}: {err}") from None


class _PerSample(Dataset):
    """(input, label) pairs through a per-sample function (classic chain, synthetic swap)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, fn: Callable[[tuple[torch.Tensor, int]], tuple[torch.Tensor, int]]) -> None:
        self.x, self.y, self.fn = x, y, fn

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.fn((self.x[i], int(self.y[i])))


def arm_batches(
    arm: str, recipe: Recipe, subset: ArraySet, pool: Any, seed: int, *, injection: Any = None
) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """The (input, label) batches the downstream model trains on in ``arm`` (a base arm, see the module docstring).

    ``injection``: the generative arms' injection section (default: the recipe's own).
    """
    spec, inj = subset.spec, injection or recipe.injection
    if spec.kind.string_samples:  # samples that are values, not arrays (text: str)
        return _value_batches(arm, recipe, subset, pool, seed, inj)
    x, y = to_input(spec, subset.user_x()), subset.y
    generative, classic = "generative" in arm, "classic" in arm
    if generative and inj.where == "hf":
        x, y = _hf_appended(subset, pool, inj.ratio)
    if arm in OVERSAMPLERS:
        per_class = max(1, round(recipe.oversample.per_record * len(subset) / len(torch.unique(y))))
        x_new, y_new = oversample(arm, subset, per_class, seed=seed, k_neighbors=recipe.oversample.k_neighbors)
        x, y = torch.cat([x, to_input(spec, x_new)]), torch.cat([y, torch.from_numpy(y_new)])
    steps: list[Callable[[tuple[torch.Tensor, int]], tuple[torch.Tensor, int]]] = []
    if generative and inj.where == "transform":
        from genaug.transforms import SyntheticSwap

        swap = SyntheticSwap(pool, p=inj.ratio, balance=inj.balance, value_range=spec.kind.classifier_range(spec))
        steps.append(lambda item: (lambda out: (out[0], int(out[1])))(swap(item)))
    if classic:
        chain = classic_chain(recipe, seed)
        steps.append(lambda item: (chain(item[0]), item[1]))
    dataset: Dataset = TensorDataset(x, y) if not steps else _PerSample(x, y, _compose(steps))
    loader = DataLoader(dataset, batch_size=min(recipe.downstream.batch_size, len(dataset)), shuffle=True, generator=torch.Generator().manual_seed(seed))
    if generative and inj.where == "mix":
        from genaug.inject.mix import linear_decay, mix

        ratio = inj.ratio if inj.schedule == "constant" else linear_decay(inj.ratio, steps=recipe.downstream.steps)
        to_form = lambda s: to_input(spec, s[None])[0]
        return mix(loader, pool, ratio, mode=inj.mode, balance=inj.balance, transform=to_form, seed=seed, in_workers=False)
    return loader


def _compose(steps: list[Callable[[Any], Any]]) -> Callable[[Any], Any]:
    def apply(item: Any) -> Any:
        for step in steps:
            item = step(item)
        return item

    return apply


def _hf_appended(subset: ArraySet, pool: Any, ratio: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The subset as a `datasets.Dataset` with ``ratio`` synthetic rows per real row appended by `SyntheticRows`."""
    import datasets

    from genaug.hf import SyntheticRows

    spec = subset.spec
    table = datasets.Dataset.from_dict({"x": subset.user_x().numpy(), "label": subset.y.numpy()})
    rows = SyntheticRows(pool, mode="append", ratio=ratio, columns="x", label_column="label")
    table = table.map(rows, batched=True, with_indices=True, batch_size=len(table), load_from_cache_file=False).with_format("numpy")
    return to_input(spec, table["x"]), torch.as_tensor(table["label"], dtype=torch.long)


# ---------------------------------------------------------------------------------------- values (text)
def _value_batches(arm: str, recipe: Recipe, subset: ArraySet, pool: Any, seed: int, inj: Any) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """`arm_batches` for samples that are Python values (strings): every step sees the values themselves.

    The classic chain and `SyntheticSwap` act on ``(str, label)`` items, `genaug.mix` on batches of
    strings and `SyntheticRows` on a string column; each batch becomes the classifier's inputs last
    (`to_input`, per batch: strings of any length).
    """
    values, y = list(subset.user_x()), subset.y
    generative, classic = "generative" in arm, "classic" in arm
    if arm in OVERSAMPLERS:
        raise RecipeError(f"arms: {arm!r} interpolates numeric records; {subset.spec.modality} data has none")
    if generative and inj.where == "hf":
        values, y = _hf_appended_values(subset, pool, inj.ratio)
    steps: list[Callable[[tuple[Any, int]], tuple[Any, int]]] = []
    if generative and inj.where == "transform":
        from genaug.transforms import SyntheticSwap

        swap = SyntheticSwap(pool, p=inj.ratio, balance=inj.balance)
        steps.append(lambda item: (lambda out: (out[0], int(out[1])))(swap(item)))
    if classic:
        chain = classic_chain(recipe, seed)
        steps.append(lambda item: (chain(item[0]), item[1]))
    dataset = _PerSample(values, y, _compose(steps))
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(dataset, batch_size=min(recipe.downstream.batch_size, len(dataset)), shuffle=True, generator=generator, collate_fn=_value_collate)
    batches: Iterable[Any] = loader
    if generative and inj.where == "mix":
        from genaug.inject.mix import linear_decay, mix

        ratio = inj.ratio if inj.schedule == "constant" else linear_decay(inj.ratio, steps=recipe.downstream.steps)
        batches = mix(loader, pool, ratio, mode=inj.mode, balance=inj.balance, seed=seed, in_workers=False)
    return _AsInputs(batches, subset.spec)


def _value_collate(items: list[tuple[Any, int]]) -> tuple[list[Any], torch.Tensor]:
    """(values, labels): the values as a list, as the default collate leaves strings."""
    return [value for value, _ in items], torch.tensor([label for _, label in items], dtype=torch.long)


class _AsInputs:
    """Batches of (values, labels) as (classifier inputs, labels); iterable again, as a loader is."""

    def __init__(self, batches: Iterable[tuple[Any, torch.Tensor]], spec: Any) -> None:
        self.batches, self.spec = batches, spec

    def __len__(self) -> int:
        return len(self.batches)  # type: ignore[arg-type]

    def __iter__(self):
        for values, labels in self.batches:
            yield to_input(self.spec, values), labels


def _hf_appended_values(subset: ArraySet, pool: Any, ratio: float) -> tuple[list[Any], torch.Tensor]:
    """The subset as a `datasets.Dataset` of values with ``ratio`` synthetic rows per real row appended by `SyntheticRows`."""
    import datasets

    from genaug.hf import SyntheticRows

    column = subset.spec.kind.column_names[0]
    table = datasets.Dataset.from_dict({column: list(subset.user_x()), "label": subset.y.tolist()})
    rows = SyntheticRows(pool, mode="append", ratio=ratio, columns=column, label_column="label")
    table = table.map(rows, batched=True, with_indices=True, batch_size=len(table), load_from_cache_file=False)
    return list(table[column]), torch.as_tensor(table["label"], dtype=torch.long)
