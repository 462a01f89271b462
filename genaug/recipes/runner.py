"""`run`: carry out a recipe, unit by unit, into its output folder.

The plan, per shots value k and seed s: draw the labelled subset (k per class from the training
part; the test part is never shown to a generator or a filter), fit the generator on it, evaluate
the generator (against the test part: reported, never used to choose anything), then train the
downstream model once per arm:

- ``none``: the labelled subset.
- ``classic``: the subset through the recipe's torchvision v2 / albumentations chain, per sample.
- ``generative``: the subset with synthetic samples injected where the recipe says: ``mix``
  (`genaug.mix` replaces ``ratio`` of every batch), ``transform`` (`SyntheticSwap` per sample with
  probability ``ratio``) or ``hf`` (`SyntheticRows` appends ``ratio`` synthetic rows per real row to a
  `datasets.Dataset` once). The pool draws from the generator, or (``sampler: interpolate``) decodes
  latents between two of its training records of the class; with ``schedule: linear_decay`` the mixed
  share falls from ``ratio`` to 0 over the downstream training.
- ``classic+generative``: both (the classic chain sees the real samples; with ``transform`` also the
  swapped-in synthetic ones).
- ``smote``, ``kde``: the anchors a generator must beat: the subset plus ``oversample.per_record``
  synthetic records per record from SMOTE (imbalanced-learn) or a per-class Gaussian KDE, fitted on
  the subset and appended once.
- ``generative:<variant>``, ``classic+generative:<variant>``: the same with a named variant's
  generator, filters and injection (a variant without a generator section samples the recipe's).

On data whose records are people (``data.identities``; ``auto``: as the source declares, the faces set)
every generative arm also drops near-copies of the labelled records: a `NearCopyFilter` at the default
threshold, before the arm's own filters, unless they list one. Where every arm that samples a generator
filters near-copies, its evaluation scores the samples that filter keeps (what is injected) beside all
samples drawn.

A generator with ``unlabelled: pseudo_label`` is fitted on the subset plus the rest of the training
part as labelled by the downstream model (`genaug.recipes.pseudo`); the test part still never
reaches it.

Every arm of a seed starts from the same classifier weights, batch order and synthetic stream, so
arms are compared pairwise. Each unit writes its result atomically beside a key of the recipe
fields it depends on; a rerun skips units whose key matches (an interrupted run continues; an
edited recipe reruns only what the edit touches).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from genaug.data.arrayset import ArraySet
from genaug.data.spec import DataSpec
from genaug.data.sources import load_source
from genaug.models.registry import get_family
from genaug.recipes.baselines import OVERSAMPLERS
from genaug.recipes.downstream import build_classifier, to_input, train_classifier
from genaug.recipes.schema import InjectionSection, Recipe, RecipeError, arm_base, arm_variant, load_recipe
from genaug.recipes.streams import arm_batches, classic_chain
from genaug.utils.io import atomic_write_json, atomic_write_text

__all__ = ["labelled_subset", "run"]

logger = logging.getLogger("genaug")


def run(recipe: str | os.PathLike | dict[str, Any] | Recipe, *, progress: bool = True) -> dict[str, Any]:
    """Run ``recipe`` (a YAML path, dict or `Recipe`) and return its metrics (also in ``output/metrics.json``).

    Everything is checked before the first unit trains: the recipe, the data source, the split,
    the subsets, the classic chain (applied to one sample), the downstream model (built once).
    """
    recipe = load_recipe(recipe)
    plan = Plan.prepare(recipe)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    bar = tqdm(total=len(plan.units), desc=f"genaug run {recipe.name}", unit="unit", disable=not progress)
    with bar, logging_redirect_tqdm():  # log lines print above the bar instead of through it
        for unit in plan.units:
            bar.set_postfix_str(unit.name)
            seconds = unit.run_if_needed()
            if seconds is not None:
                timings[unit.name] = seconds
            bar.update()
    metrics = plan.metrics()
    atomic_write_json(plan.out / "metrics.json", metrics)
    units = {**(_read_json(plan.out / "timings.json") or {}).get("units", {}), **timings}
    # seconds are not reproducible: they live beside metrics.json, not in it
    timings_all = {"total_seconds": sum(units.values()), "this_invocation_seconds": time.perf_counter() - started, "units": units}
    atomic_write_json(plan.out / "timings.json", timings_all)
    from genaug.recipes.report import write_report

    write_report(plan.out, metrics, timings_all)
    return metrics


def labelled_subset(train: ArraySet, shots: int | str, seed: int) -> np.ndarray:
    """Indices of ``shots`` records per class of ``train`` (all for ``"all"``), drawn with ``seed``.

    One permutation per class and seed: the 5-shot subset of a seed is part of its 10-shot subset.

    Example:
        >>> import genaug
        >>> train = genaug.load_source("digits")
        >>> len(labelled_subset(train, 5, seed=0))
        50
    """
    if shots == "all":
        return np.arange(len(train))
    rng = np.random.default_rng(seed)
    labels = train.y.numpy()
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < shots:
            raise RecipeError(
                f"subset.shots: {shots} per class, but class {train.spec.class_names[c]!r} has only {len(members)} training records"
            )
        chosen.append(rng.permutation(members)[:shots])
    return np.sort(np.concatenate(chosen))


def _test_set(source: str, train: ArraySet) -> ArraySet:
    """``source`` loaded and expressed in the training pool's spec (its classes, scaling and layout)."""
    try:
        test = load_source(source)
    except (ValueError, OSError, TypeError) as err:
        raise RecipeError(f"data.test_source: {err}") from None
    try:
        test = test.conform(train.spec)
    except ValueError as err:
        raise RecipeError(f"data.test_source: {source!r} does not match data.source: {err}") from None
    if len(test) == 0:
        raise RecipeError(f"data.test_source: {source!r} holds no samples")
    return test


@dataclass
class Unit:
    """One piece of the plan: runs ``work`` unless ``path`` holds a result written under the same ``key``."""

    name: str
    path: Path
    key: str
    work: Callable[[], dict[str, Any]]

    def done(self) -> dict[str, Any] | None:
        stored = _read_json(self.path)
        return stored["result"] if stored is not None and stored.get("key") == self.key else None

    def run_if_needed(self) -> float | None:
        if self.done() is not None:
            return None
        start = time.perf_counter()
        result = self.work()
        atomic_write_json(self.path, {"key": self.key, "result": result})
        return time.perf_counter() - start


@dataclass
class Plan:
    recipe: Recipe
    out: Path
    train: ArraySet
    test: ArraySet
    units: list[Unit] = field(default_factory=list)
    cells: list[tuple[int | str, int]] = field(default_factory=list)  # (shots, seed) in plan order

    @classmethod
    def prepare(cls, recipe: Recipe) -> Plan:
        data = load_source(recipe.data.source)
        if recipe.data.test_source is None:
            train, test = data.train_test_split(recipe.data.test_size, seed=recipe.data.split_seed)
        else:
            train, test = data, _test_set(recipe.data.test_source, data)
        plan = cls(recipe, Path(recipe.output), train, test)
        plan._check()
        for shots in recipe.subset.values():
            for seed in recipe.seeds:
                plan.cells.append((shots, seed))
                plan.units += Cell(plan, shots, seed).units()
        plan.out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(plan.out / "recipe.json", recipe.model_dump(mode="json"))
        return plan

    def _check(self) -> None:
        """Everything that can be wrong with the recipe for this data, before anything trains."""
        recipe, spec = self.recipe, self.train.spec
        for shots in recipe.subset.values():
            labelled_subset(self.train, shots, recipe.seeds[0])
        build_classifier(spec, recipe.downstream.model, recipe.downstream.model_args)
        first = self.train.user_x()[:1]
        values = spec.kind.string_samples  # samples that are values, not arrays (text: str)
        if recipe.classic is not None:
            x = first[0] if values else to_input(spec, first)[0]
            what = f"{type(x).__name__} sample {x!r:.40}" if values else f"{tuple(x.shape)} sample"
            chain = classic_chain(recipe, seed=0)
            try:
                out = chain(x)
            except Exception as err:  # the user's transform arguments: reported as the recipe's problem
                raise RecipeError(f"classic.transforms: the chain fails on one {what} of this data: {err}") from None
            if values and type(out) is not type(x):
                raise RecipeError(f"classic.transforms: the chain turns a {what} into a {type(out).__name__}; it must return a {type(x).__name__}")
            if values:  # torchvision passes leaves it does not know through: a chain of image or series transforms would do nothing
                torch.manual_seed(0)
                probe = list(self.train.user_x()[:20])
                if all(chain(v) == v for v in probe):
                    raise RecipeError(
                        f"classic.transforms: the chain leaves each of {len(probe)} {spec.modality} samples unchanged, so its transforms "
                        f"do not act on {type(x).__name__} values; for text use genaug.transforms' CharSwap, CharDelete, CharInsert, KeyboardSubstitute"
                    )
            if not values and tuple(out.shape) != tuple(x.shape):
                raise RecipeError(f"classic.transforms: the chain turns a {what} into {tuple(out.shape)}; it must keep the shape")
        for arm in recipe.arms:
            if values and arm in OVERSAMPLERS:
                raise RecipeError(f"arms: {arm!r} interpolates numeric records; {spec.modality} data has none (drop it from arms)")
        for variant in recipe.arm_variants():
            if values and recipe.generator_of(variant).fit_on == "classic":
                raise RecipeError(
                    f"generator.fit_on: 'classic' fits the generator on classic passes of the records; {spec.modality} data "
                    "cannot be re-encoded after character noise (new characters, longer strings): use 'labelled'"
                )
        if "smote" in recipe.arms:
            try:
                import imblearn  # noqa: F401
            except ImportError:
                raise RecipeError("arms: 'smote' needs imbalanced-learn: pip install 'genaug[baselines]'") from None
        for variant in recipe.arm_variants():
            if recipe.injection_of(variant).where == "transform" and spec.kind.classifier_range(spec) is None and not values:
                raise RecipeError(
                    f"{recipe.injection_field(variant)}.where: 'transform' swaps samples in the classifier's value range; "
                    f"this {spec.modality} data is standardized and has none: use 'mix' or 'hf'"
                )

    def metrics(self) -> dict[str, Any]:
        from genaug.recipes.stats import summarize

        recipe = self.recipe
        generators, results = [], []
        for shots, seed in self.cells:
            cell = Cell(self, shots, seed)
            generators += cell.generator_entries()
            for arm in recipe.arms:
                result = _read_json(cell.arm_path(arm))["result"]
                results.append({"shots": shots, "seed": seed, "arm": arm, **result})
        spec = self.train.spec
        return {
            "format": 1,
            "name": recipe.name,
            "recipe": recipe.model_dump(mode="json"),
            "data": {
                "source": recipe.data.source,
                "test_source": recipe.data.test_source,
                "modality": spec.modality,
                "shape": list(spec.shape),
                "class_names": list(spec.class_names),
                "n_train_pool": len(self.train),
                "n_test": len(self.test),
                "identities": recipe.data.carries_identities(),
            },
            "arms": list(recipe.arms),
            "baseline": recipe.baseline,
            "shots": recipe.subset.values(),
            "seeds": list(recipe.seeds),
            "generators": generators,
            "results": results,
            "summary": summarize(results, recipe.arms, recipe.baseline),
        }


@dataclass(frozen=True)
class Slot:
    """Where one generator of a cell lives: the recipe's own (``variant`` None) or a named variant's."""

    variant: str | None
    dir: Path

    def _named(self, stem: str, suffix: str) -> Path:
        return self.dir / (f"{stem}{suffix}" if self.variant is None else f"{stem}-{self.variant}{suffix}")

    @property
    def generator_dir(self) -> Path:
        return self._named("generator", "")

    @property
    def fit_path(self) -> Path:  # the units' results
        return self._named("fit", ".json")

    @property
    def evaluation_path(self) -> Path:
        return self._named("evaluation", ".json")

    @property
    def grid_path(self) -> Path:
        return self._named("samples", ".png")

    @property
    def pairs_path(self) -> Path:
        return self._named("nearest_pairs", ".png")


class Cell:
    """The units of one (shots, seed): per generator a fit and an evaluation, one downstream training per arm."""

    def __init__(self, plan: Plan, shots: int | str, seed: int) -> None:
        self.plan, self.recipe, self.shots, self.seed = plan, plan.recipe, shots, seed
        self.dir = plan.out / f"k{shots}" / f"seed{seed}"
        self.slots = {variant: Slot(variant, self.dir) for variant in self.recipe.generator_variants()}
        self.fit_keys: dict[str | None, str] = {}
        self._subset: ArraySet | None = None
        self._fit_data: dict[str | None, tuple[ArraySet, dict[str, Any]]] = {}

    @property
    def subset(self) -> ArraySet:
        if self._subset is None:
            self._subset = self.plan.train.subset(self.labelled_index())
        return self._subset

    def labelled_index(self) -> np.ndarray:
        return labelled_subset(self.plan.train, self.shots, self.seed)

    def unlabelled(self) -> ArraySet:
        """The rest of the training part (its labels are never read but to report pseudo-label accuracy)."""
        rest = np.setdiff1d(np.arange(len(self.plan.train)), self.labelled_index())
        return self.plan.train.subset(rest)

    def _key(self, *parts: Any) -> str:
        # data.identities acts through the near_copy filter it adds: keyed where that filter acts (arms, evaluation)
        data = self.recipe.data.model_dump(exclude={"identities"})
        text = json.dumps([data, self.shots, self.seed, *parts], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def units(self) -> list[Unit]:
        recipe, name = self.recipe, f"k{self.shots}/seed{self.seed}"
        units = []
        for variant, slot in self.slots.items():
            gen = recipe.generator_of(variant)
            fit_parts: list[Any] = [gen.model_dump()]
            moved = _moved_defaults(gen.family, gen.config, self.plan.train.spec)
            if moved:  # a fit stored before such a default moved samples with the old one: it must not be reused
                fit_parts.append({"defaults": moved})
            if gen.fit_on == "classic" or gen.unlabelled == "pseudo_label":
                fit_parts.append(recipe.classic.model_dump() if recipe.classic is not None else None)
            if gen.unlabelled == "pseudo_label":
                fit_parts.append(recipe.downstream.model_dump())
            self.fit_keys[variant] = fit_key = self._key(*fit_parts)
            label = "" if variant is None else f":{variant}"
            units.append(Unit(f"{name}/fit{label}", slot.fit_path, fit_key, lambda slot=slot: self.fit(slot)))
            if recipe.evaluation.enabled:
                threshold = recipe.near_copy_threshold(variant)  # the samples are also scored after that filter
                eval_key = self._key(fit_key, recipe.evaluation.model_dump(), *([] if threshold is None else [{"near_copy": threshold}]))
                units.append(Unit(f"{name}/evaluate{label}", slot.evaluation_path, eval_key, lambda slot=slot: self.evaluate(slot)))
        for arm in recipe.arms:
            base, variant = arm_base(arm), arm_variant(arm)
            parts = [base, recipe.downstream.model_dump()]
            if "classic" in base:
                parts.append(recipe.classic.model_dump())
            if "generative" in base:
                filters = [f.model_dump() for f in recipe.applied_filters(variant)]
                fitted_by = recipe.fitted_by(variant)
                parts += [self.fit_keys[fitted_by], _injection_key(recipe.injection_of(variant)), filters]
                serving = recipe.generator_of(variant).serving()
                if serving != recipe.generator_of(fitted_by).serving():  # keyed only then: the fit's key holds its own
                    parts.append({"serving": serving})
            if base in OVERSAMPLERS:
                parts.append(recipe.oversample.model_dump())
            units.append(Unit(f"{name}/{arm}", self.arm_path(arm), self._key(*parts), lambda arm=arm: self.train_arm(arm)))
        return units

    def arm_path(self, arm: str) -> Path:
        """Where the result of ``arm``'s unit is stored."""
        return self.dir / "arms" / f"{arm.replace('+', '-plus-').replace(':', '.')}.json"

    # ------------------------------------------------------------------ units
    def fit(self, slot: Slot) -> dict[str, Any]:
        from genaug.train.fit import fit

        gen, out = self.recipe.generator_of(slot.variant), slot.generator_dir
        stamp = out / "unit-key"
        fit_key = self.fit_keys[slot.variant]
        resume = (out / "checkpoints").is_dir() and stamp.is_file() and stamp.read_text() == fit_key
        if out.exists() and not resume:  # a fit of another configuration: its folder is ours to replace
            shutil.rmtree(out)
        if not resume:
            atomic_write_text(stamp, fit_key)
        train = {"seed": self.seed, **gen.train, "progress": False}
        data, result = self.fit_data(slot.variant)
        model = fit(data, gen.family, out=out, train=train, resume=resume, **({} if resume else gen.config))
        return {"family": model.family, "fingerprint": model.fingerprint(), **result}

    def fit_data(self, variant: str | None) -> tuple[ArraySet, dict[str, Any]]:
        """What ``variant``'s generator is fitted on (and what its fit result reports about that data).

        The labelled subset; with ``unlabelled: pseudo_label`` plus the surely pseudo-labelled rest; with
        ``fit_on: classic`` followed by passes through the classic chain. Deterministic per cell, so the
        interpolation sampler's anchors are the records the generator was fitted on.
        """
        if variant not in self._fit_data:
            gen = self.recipe.generator_of(variant)
            data, result = self.subset, {"n_labelled": len(self.subset)}
            if gen.unlabelled == "pseudo_label":
                from genaug.recipes.pseudo import pseudo_labelled

                data, result["pseudo_labels"] = pseudo_labelled(self.recipe, self.subset, self.unlabelled(), gen.pseudo_confidence, self.seed)
            if gen.fit_on == "classic":
                data = classic_expanded(self.recipe, data, self.seed, gen.classic_copies)
            self._fit_data[variant] = data, result
        return self._fit_data[variant]

    def evaluate(self, slot: Slot) -> dict[str, Any]:
        from genaug.evaluate.filters import NearCopyFilter
        from genaug.evaluate.suite import evaluate
        from genaug.models.registry import load

        model = load(slot.generator_dir)
        spec = model.spec
        threshold = self.recipe.near_copy_threshold(slot.variant)
        # the arms inject only what their near_copy filter keeps: memorization is scored for those samples too
        injected = None if threshold is None else NearCopyFilter(self.subset, threshold=threshold)
        report = evaluate(
            model,
            self.plan.test,
            train=self.subset,
            seed=self.seed,
            n_per_class=self.recipe.evaluation.n_per_class,
            cache_dir=slot.generator_dir / "eval",
            pairs=slot.pairs_path,
            quality_filter=injected,
        )
        report["pairs"]["path"] = slot.pairs_path.name
        per_class = 10
        labels = torch.arange(spec.num_classes).repeat_interleave(per_class)
        samples = model.sample(len(labels), labels=labels, generator=torch.Generator().manual_seed(self.seed))
        spec.save_samples(spec.to_model(samples), slot.grid_path, nrow=per_class)
        if isinstance(samples, list):  # strings (text): the report shows them as a table too
            report["samples"] = {name: samples[c * per_class : (c + 1) * per_class] for c, name in enumerate(spec.class_names)}
        return report

    def train_arm(self, arm: str) -> dict[str, Any]:
        recipe, spec = self.recipe, self.plan.train.spec
        down, variant = recipe.downstream, arm_variant(arm)
        torch.manual_seed(self.seed)  # the same initial weights in every arm of this seed
        net = build_classifier(spec, down.model, down.model_args)
        pool, filters = (self._pool(variant) if "generative" in arm_base(arm) else (None, None))
        batches = arm_batches(arm_base(arm), recipe, self.subset, pool, self.seed, injection=recipe.injection_of(variant))
        test = (to_input(spec, self.plan.test.user_x()), self.plan.test.y)
        result = train_classifier(
            net, batches, test, num_classes=spec.num_classes, steps=down.steps, lr=down.lr, weight_decay=down.weight_decay, log_every=down.log_every
        )
        if filters is not None:
            result["filters"] = [f.report() for f in filters]
            if recipe.identity_filter_added(variant):  # applied_filters puts it first
                result["filters"][0]["added_for"] = "identities"
        return result

    def _pool(self, variant: str | None) -> tuple[Any, list[Any] | None]:
        """The synthetic samples of ``variant``'s arms: its generator's, through its filters."""
        from genaug.inject.pool import SamplePool

        slot = self.slots[self.recipe.fitted_by(variant)]
        filters = self._filters(variant, slot)
        chain = None if not filters else AllFilters(filters)
        gen, inj = self.recipe.generator_of(variant), self.recipe.injection_of(variant)  # served as the variant says
        sampler = None
        if inj.sampler == "interpolate":
            from genaug.inject.interpolate import LatentInterpolation

            low, high = inj.interpolation_range
            sampler = LatentInterpolation(self.fit_data(slot.variant)[0], low=low, high=high)
        pool = SamplePool(slot.generator_dir, batch_size=gen.pool_batch, seed=self.seed, reuse=gen.reuse, filter=chain, sampler=sampler, options=inj.sampling)
        return pool, filters or None

    def _filters(self, variant: str | None, slot: Slot) -> list[Any]:
        from genaug.evaluate.features import FeatureSpace
        from genaug.evaluate.filters import ConfidenceFilter, LikelihoodFilter, NearCopyFilter

        made = []
        for spec in self.recipe.applied_filters(variant):  # every filter sees the labelled subset only
            if spec.name == "near_copy":
                made.append(NearCopyFilter(self.subset, threshold=spec.threshold))
            elif spec.name == "likelihood":
                made.append(LikelihoodFilter(slot.generator_dir, self.subset, quantile=spec.quantile, seed=self.seed))
            else:
                space = FeatureSpace.fit(self.subset, seed=self.seed, cache_dir=slot.generator_dir / "eval")
                made.append(ConfidenceFilter(space, min_confidence=spec.min_confidence))
        return made

    def generator_entries(self) -> list[dict[str, Any]]:
        return [self._generator_entry(slot) for slot in self.slots.values()]

    def _generator_entry(self, slot: Slot) -> dict[str, Any]:
        fitted = _read_json(slot.fit_path)["result"]
        evaluation = _read_json(slot.evaluation_path)
        rel = lambda p: str(p.relative_to(self.plan.out)) if p.exists() else None
        return {
            "shots": self.shots,
            "seed": self.seed,
            "variant": slot.variant,
            "n_labelled": fitted["n_labelled"],
            "pseudo_labels": fitted.get("pseudo_labels"),
            "family": fitted["family"],
            "folder": rel(slot.generator_dir),
            "grid": rel(slot.grid_path),
            "pairs": rel(slot.pairs_path),
            "evaluation": None if evaluation is None else evaluation["result"],
        }


class AllFilters:
    """Keep a sample only if every filter keeps it (each filter sees only the survivors of the ones before)."""

    def __init__(self, filters: list[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]) -> None:
        self.filters = filters

    def __call__(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        values = isinstance(x, list)  # strings (text) stay a list
        x, labels = (x if values else torch.as_tensor(x)), torch.as_tensor(labels)
        keep = torch.ones(len(labels), dtype=torch.bool)
        for quality in self.filters:
            alive = keep.nonzero().reshape(-1)
            if len(alive) == 0:
                break
            keep[alive] = quality([x[i] for i in alive.tolist()] if values else x[alive], labels[alive])
        return keep


# ---------------------------------------------------------------------- classic chain
def classic_expanded(recipe: Recipe, subset: ArraySet, seed: int, copies: int) -> ArraySet:
    """``subset`` followed by ``copies`` passes of it through the recipe's classic chain (model space)."""
    spec, chain = subset.spec, classic_chain(recipe, seed)
    torch.manual_seed(seed)  # torchvision's transforms draw from the global generator
    x = to_input(spec, subset.user_x())
    passes = [x] + [torch.stack([chain(sample) for sample in x]) for _ in range(copies)]
    user = spec.kind.classifier_to_user(spec, torch.cat(passes))
    return ArraySet(spec.to_model(user), subset.y.repeat(len(passes)), spec)


_KEYED_WHEN_SET = ("schedule", "mode", "sampler", "interpolation_range", "sampling")  # injection fields added after results were first stored


def _injection_key(injection: InjectionSection) -> dict[str, Any]:
    """The injection fields an arm's result depends on; later fields only when set, so stored results stay valid."""
    fields = InjectionSection.model_fields
    unset = {name for name in _KEYED_WHEN_SET if getattr(injection, name) == fields[name].default}
    return injection.model_dump(exclude=unset)


def _moved_defaults(family: str, config: dict[str, Any], spec: DataSpec | None = None) -> dict[str, Any]:
    """The current defaults of ``family``'s config fields whose default changed after models were saved
    (those its ``saved_defaults`` fills in) and that ``config`` leaves unset: those a fit of data ``spec``
    would get (`Generator.config_defaults_for`) where the data decide, and only where they differ from the
    value a model saved before gets back."""
    cls = get_family(family)
    moved = cls.config_class.saved_defaults({})
    current = {k: f.default for k, f in cls.config_class.model_fields.items()}
    if spec is not None:
        current.update(cls.config_defaults_for(spec))
    return {k: current[k] for k in sorted(moved) if k not in config and current[k] != moved[k]}


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
