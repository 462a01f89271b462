"""`ImageToImage`: the base of generators conditioned on an image (super-resolution, colorization, translation).

Such a model is a `Generator` like every family (the Trainer fits it, it saves as ``config.json`` +
``model.safetensors``, `genaug.load` reads it back) whose spec declares one ``image`` condition
naming its task (`genaug.data.pairs`): ``sample_model({"label": ..., "lowres": ...})`` returns one
output per input image. On top of the contract it offers `ImageToImage.apply`, which maps a batch
of images of any height and width in the user's values (uint8 0..255, float 0..1, ...) to outputs in
the same values: what the transforms (`genaug.transforms.SuperResolve`, `Colorize`, `Translate`)
and ``genaug apply`` call.

A family subclasses it, sets ``tasks`` (the tasks it can learn) and implements ``predict(cond,
generator)``; ``sample_model`` calls it. ``size_multiple`` is the factor the network's input height
and width must be a multiple of; `apply` pads by reflection and crops the result back.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from genaug.data.conditions import ImageCondition
from genaug.data.pairs import ImageTask, from_unit, image_task, to_unit
from genaug.data.spec import DataSpec
from genaug.models.base import Cond, Generator, GeneratorConfig, keyword_options

__all__ = ["ImageToImage"]


class ImageToImage(Generator):
    """A generator of images conditioned on an image (see the module docstring)."""

    modalities = ("image",)
    condition_kinds = ("categorical", "image")
    tasks: ClassVar[tuple[str, ...]] = ()  # the image-to-image tasks the family learns
    size_multiple: ClassVar[int] = 1  # the network's input sizes must be multiples of it

    def __init__(self, spec: DataSpec, config: GeneratorConfig | None = None) -> None:
        if not any(d.get("kind") == ImageCondition.name for d in spec.conditions.values()):
            raise ValueError(
                f"spec: the {self.family!r} family is an image-to-image model; fit it on pairs "
                "(genaug fit --task superres|colorize|translate, or genaug.data.pairs.make_pairs)"
            )
        super().__init__(spec, config)
        task, declared = image_task(spec)
        if task.name not in self.tasks:
            raise ValueError(f"spec: the {self.family!r} family learns {list(self.tasks)}, not {task.name!r}")
        self.task: ImageTask = task
        self.scale: int = int(declared["scale"])
        self.in_channels: int = int(declared["channels"])
        self.out_channels: int = spec.shape[0]

    @property
    def condition(self) -> str:
        """The name of the input image's condition (``lowres``, ``gray``, ``source``)."""
        return self.task.condition

    # ------------------------------------------------------------------ contract
    def predict(self, cond: Cond, *, generator: torch.Generator | None = None, **options: Any) -> torch.Tensor:
        """Model-space outputs (N, C, s*h, s*w) for ``cond[self.condition]`` (N, c, h, w) and ``cond["label"]``."""
        raise NotImplementedError(f"{type(self).__name__} must implement predict")

    @classmethod
    def sampling_options(cls) -> list[str]:
        """The keyword options of the family's ``predict`` (what `apply` and `sample` pass on)."""
        return sorted(keyword_options(cls.predict))

    def sample_model(self, cond: Cond, *, generator: torch.Generator | None = None, **options: Any) -> torch.Tensor:
        return self.predict({k: v.to(self.device) for k, v in cond.items()}, generator=generator, **options)

    def default_labels(self, n: int) -> torch.Tensor:
        """The label of every output when the caller gives none: the most frequent class."""
        return torch.full((n,), int(self.class_prior.argmax()), dtype=torch.long, device=self.device)

    # ------------------------------------------------------------------ any-size batches
    @torch.no_grad()
    def apply(
        self,
        images: torch.Tensor,
        labels: Any = None,
        *,
        value_range: tuple[float, float] | None = None,
        generator: torch.Generator | None = None,
        batch_size: int = 16,
        **options: Any,
    ) -> torch.Tensor:
        """Map a batch of input images (N, c, h, w), any h and w, to outputs (N, C, s*h, s*w).

        Args:
            images: inputs (low-resolution, gray or source images), channels first, in
                ``value_range``; any real dtype.
            labels: the output's class for each image (translate: the target domain, by index or
                name); None: `default_labels`.
            value_range: the inputs' (and outputs') value range; default the training data's
                (e.g. 0..255 for 8-bit images; pass (0, 1) for float tensors).
            generator: seeds a generative model's draws (two seeds give two outputs).
            batch_size: images per forward pass.
            **options: the family's sampling options.

        Returns:
            Outputs in ``value_range`` and the inputs' dtype (integer inputs are rounded).
        """
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != self.in_channels:
            got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"images: expected a tensor (N, {self.in_channels}, H, W) of {self.condition} images, got {got}")
        if images.shape[-1] < 1 or images.shape[-2] < 1:
            raise ValueError(f"images: empty height or width {tuple(images.shape[-2:])}")
        lo, hi = value_range if value_range is not None else self.spec.value_range
        if not hi > lo:
            raise ValueError(f"value_range: expected (low, high) with high > low, got {(lo, hi)}")
        x = images.detach().to(self.device, torch.float32)
        if not torch.isfinite(x).all():
            raise ValueError("images: contain NaN or infinite values")
        self.check_sampling_options(options)
        n, (h, w) = len(x), x.shape[-2:]
        label_ids = self.default_labels(n) if labels is None else self.resolve_labels(n, labels)
        z = from_unit(self.spec, (x - lo) / (hi - lo))
        m = self.size_multiple
        pad_h, pad_w = (-h) % m, (-w) % m
        if pad_h or pad_w:
            mode = "reflect" if pad_h < h and pad_w < w else "replicate"
            z = F.pad(z, (0, pad_w, 0, pad_h), mode=mode)
        was_training = self.training
        self.eval()
        try:
            parts = [
                self.sample_model({"label": label_ids[s : s + batch_size], self.condition: z[s : s + batch_size]}, generator=generator, **options)
                for s in range(0, n, batch_size)
            ]
        finally:
            self.train(was_training)
        out = torch.cat(parts)[..., : h * self.scale, : w * self.scale] if parts else z.new_zeros((0, self.out_channels, h * self.scale, w * self.scale))
        u = to_unit(self.spec, out).clamp(0, 1)
        if self.spec.scaling == "grid":
            u = torch.round(u * (self.spec.levels - 1)) / (self.spec.levels - 1)
        result = lo + u * (hi - lo)
        if not images.dtype.is_floating_point:
            result = torch.round(result)
        result = result.to(images.device, images.dtype)
        if self.task.name == "harmonize":  # outside the region (alpha at its low end) the input comes back as given, off-grid too
            result = torch.where(images[:, -1:] <= lo, images[:, :-1], result)
        return result
