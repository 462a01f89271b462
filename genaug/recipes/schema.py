"""`Recipe`: the validated form of a recipe YAML file, one typed section per stage.

Every section refuses unknown keys, so a typo is an error that names the key, the keys allowed
there and the closest one; every value is checked against its allowed values. `load_recipe`
turns all of a file's problems into one `RecipeError` listing each by its dotted field path.

Example:
    >>> recipe = load_recipe({"name": "demo", "data": {"source": "digits"}, "seeds": [0]})
    >>> recipe.generator.family, recipe.arms, recipe.output
    ('vae', ['none', 'generative'], 'runs/demo')
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = ["ARMS", "Recipe", "RecipeError", "arm_base", "arm_variant", "load_recipe"]

ARMS = ("none", "classic", "generative", "classic+generative", "smote", "kde")  # what each arm trains on: see runner.py
_GENERATIVE = ("generative", "classic+generative")  # the arms that take a generator: also as ARM:VARIANT
_SERVING = {"reuse", "pool_batch"}  # generator fields that change how samples are served, not the fit
_VARIANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # it names files: generator-<variant>/


class RecipeError(ValueError):
    """A recipe that cannot run: every problem, each named by its field path."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # no number field means inf or NaN


class DataSection(_Section):
    source: str  # a `genaug.load_source` string: digits, wine, breast_cancer, a .npz, an image folder, a save_to_disk folder
    # a separate test set (a UCR set's standard TEST file: ucr:GunPoint:test, path/X_TEST.tsv); the whole source is
    # then the training pool and nothing is split. Its classes must be among the source's, its shape the same
    test_source: str | None = None
    test_size: float = Field(0.5, gt=0, lt=1)  # stratified test share (scikit-learn train_test_split); never seen by a generator
    split_seed: int = 0  # random_state of that split
    # the records are people: a sample that copies one leaks an identity, so every generative arm whose filters list no
    # near_copy filter gets one (default threshold, before its other filters) and the report counts what it dropped;
    # "auto": as the source declares (genaug.data.sources.carries_identities: the faces set)
    identities: bool | Literal["auto"] = "auto"

    @model_validator(mode="after")
    def _one_test_set(self) -> DataSection:
        split = sorted({"test_size", "split_seed"} & self.model_fields_set)
        if self.test_source is not None and split:
            raise ValueError(
                f"test_source: {self.test_source!r} is the test set, so nothing is split off the source; "
                f"drop {' and '.join(split)} or test_source"
            )
        return self

    def carries_identities(self) -> bool:
        """``identities`` resolved: ``auto`` asks the data layer whether the source's records are people."""
        if self.identities == "auto":
            from genaug.data.sources import carries_identities

            return carries_identities(self.source)
        return self.identities


class SubsetSection(_Section):
    # labelled images per class drawn from the training part, one subset per seed; "all" = the whole training part;
    # a list runs each value (a few-shot benchmark)
    shots: int | str | list[int | str] = "all"

    @field_validator("shots", mode="before")
    @classmethod
    def _positive(cls, shots: Any) -> Any:
        values = shots if isinstance(shots, list) else [shots]
        ok = all(v == "all" or (isinstance(v, int) and not isinstance(v, bool) and v >= 1) for v in values)
        if not values or not ok:
            raise ValueError(f"expected a positive number of shots per class, 'all', or a list of them, got {shots!r}")
        if len(set(map(str, values))) != len(values):
            raise ValueError(f"values repeat in {shots!r}")
        return shots

    def values(self) -> list[int | str]:
        return list(self.shots) if isinstance(self.shots, list) else [self.shots]


class GeneratorSection(_Section):
    family: str = "vae"  # a registered family (genaug.families())
    config: dict[str, Any] = {}  # the family's config fields (e.g. latent_dim: 8)
    train: dict[str, Any] = {}  # TrainConfig fields (steps, batch_size, lr, ...), over the family's defaults
    # what the generator is fitted on: the labelled subset, or the subset plus `classic_copies` passes of it through the
    # recipe's classic chain (the generator then learns the chain's invariances and can interpolate beyond them)
    fit_on: Literal["labelled", "classic"] = "labelled"
    classic_copies: int = Field(10, ge=1)
    # the rest of the training part without its labels: "ignore" it, or "pseudo_label" it (the recipe's downstream model,
    # trained on the labelled subset with the classic chain when there is one, labels it; records it labels at least
    # `pseudo_confidence` surely join the labelled subset for the fit)
    unlabelled: Literal["ignore", "pseudo_label"] = "ignore"
    pseudo_confidence: float = Field(0.9, ge=0, le=1)
    # how the fitted generator's samples are served; two sections that differ only here share one fit
    pool_batch: int = Field(1024, ge=1)  # samples drawn per class refill of the SamplePool
    reuse: int = Field(1, ge=1)  # times each drawn sample is served (for slow families)

    def fits_like(self, other: GeneratorSection) -> bool:
        """Whether ``other`` is fitted the same way (it may serve the samples differently: ``reuse``, ``pool_batch``)."""
        return self.model_dump(exclude=_SERVING) == other.model_dump(exclude=_SERVING)

    def serving(self) -> dict[str, int]:
        """How the samples are served: ``reuse`` and ``pool_batch``."""
        return self.model_dump(include=_SERVING)

    @field_validator("family")
    @classmethod
    def _known(cls, family: str) -> str:
        from genaug.models.registry import families

        if family not in families():
            raise ValueError(f"unknown family {family!r}; expected one of {families()}")
        return family

    @model_validator(mode="after")
    def _fields(self) -> GeneratorSection:
        from genaug.models.registry import get_family
        from genaug.train.config import TrainConfig
        from genaug.train.fit import resolve_train_config

        config_class = get_family(self.family).config_class
        _check_fields("config", config_class, self.config, lambda: config_class(**self.config), f"{self.family} config")
        _check_fields("train", TrainConfig, self.train, lambda: resolve_train_config(self.family, self.train), "TrainConfig")
        return self


def _check_sampling(sampling: dict[str, Any], gen: GeneratorSection, where: str) -> None:
    """``sampling`` names options of ``gen``'s family; those that are also config fields (their defaults) take valid values."""
    from genaug.models.registry import get_family

    family = get_family(gen.family)
    try:
        family.check_sampling_options(sampling)
    except TypeError as err:
        raise ValueError(f"{where}.sampling: {err}") from None
    config_class, fields = family.config_class, {k: v for k, v in sampling.items() if k in family.config_class.model_fields}
    _check_fields(f"{where}.sampling", config_class, fields, lambda: config_class(**{**gen.config, **fields}), f"{gen.family} config")


def _check_fields(section: str, model: type[BaseModel], given: dict[str, Any], build: Any, what: str) -> None:
    """Validate ``given`` as ``model``'s fields; a ValueError naming ``section.key`` and the allowed keys."""
    allowed = list(model.model_fields)
    for key in given:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{section}.{key}: unknown key{hint}; {what} fields: {', '.join(allowed)}")
    try:
        build()
    except ValidationError as err:
        first = err.errors()[0]
        raise ValueError(f"{section}.{'.'.join(map(str, first['loc']))}: {first['msg']} (got {first.get('input')!r})") from None


class NearCopyFilterSection(_Section):
    name: Literal["near_copy"]
    threshold: float = Field(0.1, gt=0, lt=1)  # drop samples with memorization ratio below this


class LikelihoodFilterSection(_Section):
    name: Literal["likelihood"]
    quantile: float = Field(0.05, gt=0, lt=1)  # drop samples less likely than this quantile of the labelled records


class ConfidenceFilterSection(_Section):
    name: Literal["confidence"]
    min_confidence: float = Field(0.5, ge=0, le=1)  # a classifier fitted on the labelled subset must agree this surely


FilterSection = Annotated[NearCopyFilterSection | LikelihoodFilterSection | ConfidenceFilterSection, Field(discriminator="name")]


class InjectionSection(_Section):
    where: Literal["mix", "transform", "hf"] = "mix"  # genaug.mix on the loader / SyntheticSwap per sample / SyntheticRows appended
    ratio: float = Field(0.5, ge=0, le=1)  # synthetic share of each batch (mix), swap probability (transform), appended rows per real row (hf)
    balance: None | Literal["uniform"] | dict[str, float] = None  # class balance of the synthetic labels (mix, transform)
    # mix only: "constant" ratio, or "linear_decay" from ratio at the first step to 0 at the last (real data alone at the end)
    schedule: Literal["constant", "linear_decay"] = "constant"
    # mix only: "replace" a share of each batch, or "extend": keep every real record, batches of the real share
    # filled up with synthetic samples (genaug.mix's mode; the same number of optimizer steps either way)
    mode: Literal["replace", "extend"] = "replace"
    # how the pool draws: "draw" from the generator, or "interpolate": decode latents between two of the generator's
    # training records of the class (families with an encoder: vae, flow), t uniform in interpolation_range
    sampler: Literal["draw", "interpolate"] = "draw"
    interpolation_range: tuple[float, float] = (0.0, 1.0)
    # sampler: draw only: the family's sampling options for every draw (e.g. {guidance: 3.0} for diffusion, {temperature: 0.8}
    # for the vae): a variant that changes only these samples the same fitted generator, it is not fitted again
    sampling: dict[str, Any] = {}

    @model_validator(mode="after")
    def _consistent(self) -> InjectionSection:
        if self.schedule != "constant" and self.where != "mix":
            raise ValueError(f"schedule: {self.schedule!r} changes the share per batch, which only where: mix does; got where: {self.where!r}")
        if self.mode == "extend":
            if self.where != "mix":
                raise ValueError(f"mode: 'extend' re-cuts the loader's batches, which only where: mix does; got where: {self.where!r}")
            if self.schedule != "constant":
                raise ValueError(f"mode: 'extend' re-cuts the batches once, for a constant ratio; got schedule: {self.schedule!r}")
            if self.ratio >= 1:
                raise ValueError(f"mode: 'extend' keeps every real record, so ratio must be below 1; got ratio: {self.ratio}")
        if self.sampling and self.sampler != "draw":
            raise ValueError(f"sampling: options of the generator's own draws; sampler {self.sampler!r} draws otherwise, got sampling: {self.sampling}")
        low, high = self.interpolation_range
        if low > high:
            raise ValueError(f"interpolation_range: expected [low, high] with low <= high, got {list(self.interpolation_range)}")
        return self


class ClassicSection(_Section):
    # torchvision's v2 transforms, albumentations', or genaug.transforms' (the time-series augmentations of sequences)
    library: Literal["torchvision", "albumentations", "genaug"] = "torchvision"
    # the chain, in order: each item {TransformName: {argument: value}}, e.g. {RandomAffine: {degrees: 10}}
    transforms: list[dict[str, dict[str, Any]]] = Field(min_length=1)

    @field_validator("transforms")
    @classmethod
    def _one_name_each(cls, transforms: list[dict[str, dict[str, Any]]]) -> list[dict[str, dict[str, Any]]]:
        for i, item in enumerate(transforms):
            if len(item) != 1:
                raise ValueError(f"item {i}: expected one {{TransformName: {{arguments}}}}, got keys {sorted(item)}")
        return transforms


class DownstreamSection(_Section):
    # "auto" (the modality's: cnn for images, fcn for sequences, mlp for vectors), a built-in name of the data's modality
    # ("cnn", "fcn", "mlp", "logreg"), or "package.module:factory" called as
    # factory(in_shape=..., num_classes=..., **model_args) -> torch.nn.Module
    model: str = "auto"
    model_args: dict[str, Any] = {}
    steps: int = Field(1000, ge=1)  # optimizer updates
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0)  # Adam
    weight_decay: float = Field(0.0, ge=0)
    log_every: int = Field(50, ge=1)  # steps per point of the training curve

    @field_validator("model")
    @classmethod
    def _model(cls, model: str) -> str:
        from genaug.modalities import get_modality, modalities

        known = ["auto", *dict.fromkeys(name for m in modalities() for name in get_modality(m).classifiers())]
        if model not in known and ":" not in model:
            raise ValueError(f"unknown model {model!r}; expected one of {known} or an import path 'package.module:factory'")
        return model


class OversampleSection(_Section):
    # the anchor arms smote (imbalanced-learn) and kde (per-class Gaussian KDE, scikit-learn): this many synthetic
    # records per labelled record, fitted on the labelled subset and appended once
    per_record: float = Field(1.0, gt=0)
    k_neighbors: int = Field(5, ge=1)  # SMOTE's neighbours (fewer when a class has fewer records)


class VariantSection(_Section):
    """A second (third, ...) generative arm: the sections it changes; the others are the recipe's own."""

    generator: GeneratorSection | None = None
    filters: list[FilterSection] | None = None
    injection: InjectionSection | None = None


class EvaluationSection(_Section):
    enabled: bool = True  # genaug.evaluate each generator against the test split (reported only; nothing is selected by it)
    n_per_class: int = Field(100, ge=1)


class Recipe(_Section):
    name: str = Field(min_length=1)
    data: DataSection
    subset: SubsetSection = SubsetSection()
    generator: GeneratorSection = GeneratorSection()
    filters: list[FilterSection] = []
    injection: InjectionSection = InjectionSection()
    classic: ClassicSection | None = None
    downstream: DownstreamSection = DownstreamSection()
    evaluation: EvaluationSection = EvaluationSection()
    oversample: OversampleSection = OversampleSection()
    # named generative variants; the arms "generative:<name>" and "classic+generative:<name>" use them
    variants: dict[str, VariantSection] = {}
    # none, classic, generative, classic+generative, smote, kde; generative:<variant>, classic+generative:<variant>
    arms: list[str] = Field(["none", "generative"], min_length=1)
    baseline: str | None = "none"  # paired differences against it
    seeds: list[int] = Field([0, 1, 2], min_length=1)  # one labelled subset, generator and classifier init per seed
    output: str | None = None  # the run folder; default runs/<name>

    @field_validator("arms", "seeds")
    @classmethod
    def _unique(cls, values: list[Any]) -> list[Any]:
        if len(set(values)) != len(values):
            raise ValueError(f"values repeat in {values!r}")
        return values

    @field_validator("variants")
    @classmethod
    def _variant_names(cls, variants: dict[str, VariantSection]) -> dict[str, VariantSection]:
        for name in variants:
            if not _VARIANT_NAME.match(name):
                raise ValueError(f"{name!r}: expected a name of letters, digits, '_', '.' and '-' (it names a folder)")
        return variants

    @field_validator("arms", mode="after")
    @classmethod
    def _known_arms(cls, arms: list[str]) -> list[str]:
        for i, arm in enumerate(arms):
            base, _, variant = arm.partition(":")
            if base not in ARMS or (variant and base not in _GENERATIVE):
                close = difflib.get_close_matches(base, ARMS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close and close[0] != base else ""
                raise ValueError(
                    f"{i}: unknown arm {arm!r}{hint}; expected one of {', '.join(ARMS)}, or generative:<variant> / classic+generative:<variant>"
                )
        return arms

    @model_validator(mode="after")
    def _consistent(self) -> Recipe:
        from genaug.models.registry import families, get_family

        for arm in self.arms:
            variant = arm_variant(arm)
            if variant is not None and variant not in self.variants:
                raise ValueError(f"arms: {arm!r} names the variant {variant!r}, which is not among variants {sorted(self.variants)}")
        if any(arm_base(arm) in ("classic", "classic+generative") for arm in self.arms) and self.classic is None:
            raise ValueError("arms: a 'classic' arm needs a classic section listing the transforms")
        for variant in [None, *self.variants]:
            gen, where = self.generator_of(variant), "generator" if variant is None else f"variants.{variant}.generator"
            if gen.fit_on == "classic" and self.classic is None:
                raise ValueError(f"{where}.fit_on: 'classic' needs a classic section listing the transforms")
            if gen.unlabelled != "ignore" and "all" in self.subset.values():
                raise ValueError(f"{where}.unlabelled: subset.shots 'all' labels the whole training part; nothing is left unlabelled")
        for variant in self.arm_variants():
            gen = self.generator_of(self.fitted_by(variant))
            family = gen.family
            _check_sampling(self.injection_of(variant).sampling, gen, self.injection_field(variant))
            if self.injection_of(variant).sampler == "interpolate" and not get_family(family).has_encoder:
                where = self.injection_field(variant)
                with_encoder = [name for name in families() if get_family(name).has_encoder]
                raise ValueError(f"{where}.sampler: 'interpolate' needs a family with an encoder ({', '.join(with_encoder)}); this generator is {family!r}")
        if self.baseline is not None and self.baseline not in self.arms:
            raise ValueError(f"baseline: {self.baseline!r} is not among the arms {self.arms}")
        if self.output is None:
            object.__setattr__(self, "output", f"runs/{self.name}")
        return self

    def uses_generator(self) -> bool:
        return bool(self.generator_variants())

    def arm_variants(self) -> list[str | None]:
        """The variants the generative arms name, in arm order: None for the recipe's own sections."""
        return list(dict.fromkeys(arm_variant(arm) for arm in self.arms if arm_base(arm) in _GENERATIVE))

    def generator_variants(self) -> list[str | None]:
        """The generators the arms use, in arm order: None for the recipe's own, else a variant's name."""
        return list(dict.fromkeys(self.fitted_by(variant) for variant in self.arm_variants()))

    def fitted_by(self, variant: str | None) -> str | None:
        """Whose generator ``variant``'s arms sample: the recipe's (None) when the variant has no generator section or
        one fitted the same way; else the first variant, in arm order, whose generator is fitted the same way (fitted
        once, sampled by each with its own injection, ``reuse`` and ``pool_batch``); else its own."""
        own = None if variant is None else self.variants[variant].generator
        if own is None or own.fits_like(self.generator):
            return None
        return next(v for v in self.arm_variants() + [variant] if v is not None and own.fits_like(self.generator_of(v)))

    def generator_of(self, variant: str | None) -> GeneratorSection:
        own = None if variant is None else self.variants[variant].generator
        return own if own is not None else self.generator

    def filters_of(self, variant: str | None) -> list[Any]:
        own = None if variant is None else self.variants[variant].filters
        return own if own is not None else self.filters

    def identity_filter_added(self, variant: str | None) -> bool:
        """Whether ``variant``'s arms get a near_copy filter the recipe does not list (data that carries identities)."""
        return self.data.carries_identities() and not any(f.name == "near_copy" for f in self.filters_of(variant))

    def applied_filters(self, variant: str | None) -> list[Any]:
        """The filters ``variant``'s arms apply, in order: the identities' near_copy filter when added, then the listed ones.

        The added filter runs first, so what it drops is counted out of every sample drawn.
        """
        added = [NearCopyFilterSection(name="near_copy")] if self.identity_filter_added(variant) else []
        return [*added, *self.filters_of(variant)]

    def near_copy_threshold(self, generator: str | None) -> float | None:
        """The near-copy threshold of the samples ``generator``'s arms inject (the lowest where they differ).

        None when one of the generative arms that sample it keeps near-copies (no near_copy filter).
        """
        thresholds = []
        for variant in self.arm_variants():
            if self.fitted_by(variant) == generator:
                near = [f.threshold for f in self.applied_filters(variant) if f.name == "near_copy"]
                if not near:
                    return None
                thresholds.append(min(near))
        return min(thresholds, default=None)

    def injection_of(self, variant: str | None) -> InjectionSection:
        own = None if variant is None else self.variants[variant].injection
        return own if own is not None else self.injection

    def injection_field(self, variant: str | None) -> str:
        """Where ``variant``'s injection section is written in the recipe (for error messages)."""
        return "injection" if variant is None or self.variants[variant].injection is None else f"variants.{variant}.injection"


def arm_base(arm: str) -> str:
    """The kind of an arm: ``"classic+generative:gmm"`` -> ``"classic+generative"``."""
    return arm.partition(":")[0]


def arm_variant(arm: str) -> str | None:
    """The variant an arm's generator comes from: ``"generative:gmm"`` -> ``"gmm"``; None for the recipe's own."""
    return arm.partition(":")[2] or None


def load_recipe(recipe: str | os.PathLike | dict[str, Any] | Recipe) -> Recipe:
    """Read and validate a recipe (a YAML path, a dict or a `Recipe`); `RecipeError` lists every problem.

    Example:
        >>> load_recipe({"name": "x", "data": {"source": "digits"}, "injection": {"ratio": -1}})
        Traceback (most recent call last):
        ...
        genaug.recipes.schema.RecipeError: recipe: 1 problem
          injection.ratio: Input should be greater than or equal to 0 (got -1)
    """
    if isinstance(recipe, Recipe):
        return recipe
    where = "recipe"
    if isinstance(recipe, (str, os.PathLike)):
        path, where = Path(recipe), str(recipe)
        if not path.is_file():
            raise FileNotFoundError(f"recipe: {str(path)!r} is not a file")
        try:
            recipe = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise RecipeError(f"{where}: not valid YAML ({err})") from None
        except UnicodeDecodeError as err:
            raise RecipeError(f"{where}: not UTF-8 text ({err}); save the recipe as UTF-8") from None
    if not isinstance(recipe, dict):
        raise RecipeError(f"{where}: expected a mapping of sections (name, data, generator, ...), got {type(recipe).__name__}")
    try:
        return Recipe(**recipe)
    except ValidationError as err:
        problems = list(dict.fromkeys(_describe(e, recipe) for e in err.errors()))
        raise RecipeError(f"{where}: {len(problems)} problem{'s' * (len(problems) > 1)}\n  " + "\n  ".join(problems)) from None


def _describe(error: dict[str, Any], recipe: dict[str, Any]) -> str:
    """One line for one pydantic error: the dotted field path, what is wrong, what is allowed."""
    loc = _without_tags(list(error["loc"]), recipe)
    field = ".".join(str(part) for part in loc) or "recipe"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1], recipe)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{field}: unknown key{hint}; allowed keys: {', '.join(allowed)}"
    if error["type"] == "missing":
        return f"{field}: missing; {_MISSING.get(field, 'this field is required')}"
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        got = f" (got {error['ctx']['tag']!r})" if "tag" in error.get("ctx", {}) else ""
        return f"{field}.name: expected near_copy, likelihood or confidence{got}"
    if re.match(r"^[\w.]+: ", message):  # a section's own check names its sub-field
        return f"{'' if field == 'recipe' else field + '.'}{message}"
    shown = error.get("input")
    if not isinstance(shown, dict) and "got" not in message and repr(shown) not in message:
        message += f" (got {shown!r})"
    return f"{field}: {message}"


_MISSING = {
    "name": "give the recipe a name (it names the output folder runs/<name>)",
    "data": "add a data section with a source (digits, wine, breast_cancer, path/to/file.npz, an image folder or a datasets folder)",
    "data.source": "expected digits, wine, breast_cancer, path/to/file.npz, path/to/imagefolder/ or path/to/hf_dataset_dir/",
    "classic.transforms": "list the classic chain, e.g. [{RandomAffine: {degrees: 10}}]",
}


def _without_tags(loc: list[Any], recipe: dict[str, Any]) -> list[Any]:
    """``loc`` without the tags pydantic puts in for discriminated unions (keys the recipe does not have)."""
    kept, node = [], recipe
    for i, part in enumerate(loc):
        if isinstance(part, str) and isinstance(node, dict) and part not in node and i < len(loc) - 1:
            continue
        kept.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return kept


def _allowed_keys(loc: list[Any], recipe: dict[str, Any]) -> list[str]:
    """The keys the section at ``loc`` accepts."""
    model: type[BaseModel] = Recipe
    candidates: list[type[BaseModel]] = [Recipe]
    node: Any = recipe
    for part in loc:
        if isinstance(part, str) and part in model.model_fields:  # not a key of a mapping (variants)
            candidates = _models_in(model.model_fields[part].annotation) or candidates
        node = node[part] if isinstance(node, (dict, list)) else None
        if isinstance(node, dict):
            model = next((m for m in candidates if _matches(m, node)), candidates[0])
    return list(model.model_fields)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The BaseModel classes inside a (possibly nested) type annotation."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()) or ():
        found += _models_in(arg)
    for meta in getattr(annotation, "__metadata__", ()) or ():
        found += _models_in(meta)
    return found


def _matches(model: type[BaseModel], node: dict[str, Any]) -> bool:
    """For the filter union: the section whose ``name`` literal matches the node's name."""
    name = model.model_fields.get("name")
    if name is None or "name" not in node or getattr(name.annotation, "__args__", None) is None:
        return True
    return node["name"] in name.annotation.__args__
