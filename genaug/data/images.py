"""Images of any size for image-to-image tasks: files, folders, the photos bundled in packages, and patches.

Super-resolution, colorization and translation models train on fixed-size patches cut from whole
images of any size. `read_images` reads what a user hands over (an image file, a folder searched
recursively, or a bundled name); `image_patches` cuts random patches from them into an `ArraySet`
(uint8 on the 256-level grid 0..255, channels first).

Bundled images ship inside packages, nothing is downloaded:

- ``photos``: colour photographs, scikit-learn's ``china`` and ``flower`` (`load_sample_images`) and
  scikit-image's ``astronaut``, ``chelsea``, ``coffee``, ``rocket`` and ``motorcycle`` (the left view
  of ``stereo_motorcycle``); ``photos:NAME,NAME`` picks some of them. scikit-image is the optional
  extra ``genaug[images]``; without it only the two scikit-learn photos exist.
- ``textures``: scikit-image's grayscale ``brick``, ``grass`` and ``gravel`` (512 x 512), e.g. two
  domains for translation (``textures:grass`` and ``textures:brick``).

Hold out by image, not by patch: patches of one photo are near copies of each other, so a model
scored on patches of its own training photos looks better than it is. Pass the held-out photos'
names to `read_images` separately.

Example:
    >>> images = read_images("photos:china")
    >>> images[0].name, images[0].array.shape
    ('china', (427, 640, 3))
    >>> patches = image_patches(images, size=32, count=10, seed=0)
    >>> patches.x.shape, patches.spec.value_range
    (torch.Size([10, 3, 32, 32]), (0.0, 255.0))
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from genaug.data.arrayset import ArraySet, from_arrays
from genaug.utils.io import atomic_path

__all__ = ["BUNDLED_IMAGES", "LOSSY_FORMATS", "NamedImage", "bundled_image", "downscale", "image_patches", "load_image", "read_images", "save_image", "with_channels"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _sklearn(index: int) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_images

        return load_sample_images().images[index]

    return load


def _skimage(name: str, pick: Callable[[object], np.ndarray] = lambda a: a) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        try:
            import skimage.data
        except ImportError:
            raise ImportError(
                f"the bundled image {name!r} ships with scikit-image; install it with pip install 'genaug[images]'"
            ) from None
        return np.asarray(pick(getattr(skimage.data, name)()))

    return load


# name -> (group, loader of an (H, W, 3) or (H, W) uint8 array)
LOSSY_FORMATS = ("JPEG", "MPO")  # PIL formats whose pixels carry compression artifacts (8 x 8 blocks, ringing)
_LOSSY_BUNDLED = ("china", "flower", "rocket")  # shipped as JPEG files (scikit-learn's two, scikit-image's rocket.jpg)
BUNDLED_IMAGES: dict[str, tuple[str, Callable[[], np.ndarray]]] = {
    "china": ("photos", _sklearn(0)),
    "flower": ("photos", _sklearn(1)),
    "astronaut": ("photos", _skimage("astronaut")),
    "chelsea": ("photos", _skimage("chelsea")),
    "coffee": ("photos", _skimage("coffee")),
    "rocket": ("photos", _skimage("rocket")),
    "motorcycle": ("photos", _skimage("stereo_motorcycle", lambda views: views[0])),
    "brick": ("textures", _skimage("brick")),
    "grass": ("textures", _skimage("grass")),
    "gravel": ("textures", _skimage("gravel")),
}


@dataclass(frozen=True)
class NamedImage:
    """One whole image: where it came from, and its pixels as uint8 ``(H, W)`` or ``(H, W, C)``."""

    name: str
    array: np.ndarray
    lossy: bool = False  # decoded from a lossy format (JPEG): compression artifacts are part of its pixels


def bundled_image(name: str) -> NamedImage:
    """One of `BUNDLED_IMAGES` by name."""
    if name not in BUNDLED_IMAGES:
        raise ValueError(f"name: unknown bundled image {name!r}; expected one of {sorted(BUNDLED_IMAGES)}")
    return NamedImage(name, np.ascontiguousarray(BUNDLED_IMAGES[name][1]()), lossy=name in _LOSSY_BUNDLED)


def _bundled(source: str) -> list[NamedImage] | None:
    group, _, names = source.partition(":")
    if group not in ("photos", "textures"):
        return None
    if names:
        asked = [n.strip() for n in names.split(",") if n.strip()]
        wrong = [n for n in asked if BUNDLED_IMAGES.get(n, ("",))[0] != group]
        if wrong or not asked:
            members = sorted(n for n, (g, _) in BUNDLED_IMAGES.items() if g == group)
            raise ValueError(f"data: {wrong or names!r} not among the bundled {group} {members}")
        return [bundled_image(n) for n in asked]
    names_in = [n for n, (g, _) in BUNDLED_IMAGES.items() if g == group]
    try:
        import skimage  # noqa: F401
    except ImportError:
        names_in = [n for n in names_in if BUNDLED_IMAGES[n][1].__qualname__.startswith("_sklearn")]
        if not names_in:
            raise ImportError(f"data: the bundled {group} ship with scikit-image; pip install 'genaug[images]'") from None
    return [bundled_image(n) for n in names_in]


def _read_file(path: Path) -> NamedImage:
    try:
        with Image.open(path) as image:
            image.load()
            lossy = image.format in LOSSY_FORMATS
            if image.mode == "1" or image.mode in ("I;16", "I", "F"):
                image = image.convert("L")
            elif image.mode not in ("L", "RGB"):
                image = image.convert("RGB")  # RGBA, P, CMYK, LA...: colour without alpha
            return NamedImage(path.stem, np.asarray(image).copy(), lossy=lossy)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"{path}: not a readable image ({err})") from None


def read_images(source: str | os.PathLike | NamedImage | Sequence[str | os.PathLike | NamedImage], *, channels: int | None = None) -> list[NamedImage]:
    """Whole images of any size from a file, a folder (searched recursively, sorted), a `NamedImage`, a list of those,
    or a bundled name (``photos``, ``photos:china,flower``, ``textures:grass``; see the module docstring).

    Args:
        channels: 3 converts grayscale images to RGB, 1 converts colour to gray (BT.601 luma);
            None keeps them, and refuses a mix of gray and colour images.

    Raises:
        FileNotFoundError: a path that does not exist. ValueError: an unreadable file (named), a
        folder without images, mixed gray and colour images with ``channels=None``.
    """
    if channels not in (None, 1, 3):
        raise ValueError(f"channels: expected 1, 3 or None, got {channels!r}")
    if isinstance(source, NamedImage):
        images = [source]
    elif isinstance(source, (list, tuple)):
        images = [image for item in source for image in read_images(item, channels=channels)]
    else:
        text = os.fspath(source)
        images = _bundled(text)
        if images is None:
            path = Path(text).expanduser()
            if path.is_file():
                images = [_read_file(path)]
            elif path.is_dir():
                files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
                if not files:
                    raise ValueError(f"data: the folder {text!r} holds no images with suffixes {list(IMAGE_SUFFIXES)}")
                images = [dataclasses.replace(_read_file(p), name=str(p.relative_to(path).with_suffix(""))) for p in files]
            else:
                raise FileNotFoundError(f"data: no such image file or folder {text!r} (or a bundled name: photos, textures)")
    if not images:
        raise ValueError(f"data: no images in {source!r}")
    return [with_channels(image, channels) for image in images] if channels else _same_channels(images)


def downscale(image: NamedImage, factor: int) -> NamedImage:
    """``image`` reduced ``factor`` times in each side (Lanczos, antialiased), keeping its name and ``lossy`` flag."""
    height, width = image.array.shape[:2]
    if factor < 1 or height // factor < 1 or width // factor < 1:
        raise ValueError(f"factor: expected an integer from 1 to {min(height, width)} for {image.name!r} ({height}x{width}), got {factor!r}")
    small = Image.fromarray(image.array).resize((width // factor, height // factor), Image.Resampling.LANCZOS)
    return dataclasses.replace(image, array=np.array(small))


def with_channels(image: NamedImage, channels: int) -> NamedImage:
    """``image`` with 3 channels (gray repeated) or 1 (BT.601 luma, as PIL's "L")."""
    array = image.array
    if channels == 3 and array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    elif channels == 1 and array.ndim == 3:
        array = np.asarray(Image.fromarray(array).convert("L"))
    return dataclasses.replace(image, array=array)


def _same_channels(images: list[NamedImage]) -> list[NamedImage]:
    gray = [i.name for i in images if i.array.ndim == 2]
    if gray and len(gray) != len(images):
        colour = next(i.name for i in images if i.array.ndim == 3)
        raise ValueError(f"data: mixed gray ({gray[0]!r}) and colour ({colour!r}) images; pass channels=3 or channels=1")
    return images


def image_patches(
    images: Sequence[NamedImage], size: int, count: int, *, seed: int = 0, labels: Sequence[str] | None = None
) -> ArraySet:
    """``count`` random ``size x size`` patches of ``images``, each image giving a share in proportion to its area.

    Args:
        images: from `read_images` (all gray or all colour).
        size: the patch's height and width in pixels.
        count: how many patches in all.
        seed: the crop positions.
        labels: a class name per image (e.g. its domain); None: one class.

    Returns:
        An `ArraySet` of uint8 ``(count, C, size, size)`` patches on the grid 0..255.
    """
    if not images:
        raise ValueError("images: no images to cut patches from")
    if size < 1 or count < 1:
        raise ValueError(f"size, count: expected positive integers, got size={size!r}, count={count!r}")
    small = [f"{i.name} ({i.array.shape[0]}x{i.array.shape[1]})" for i in images if min(i.array.shape[:2]) < size]
    if small:
        raise ValueError(f"size: patches of {size}x{size} do not fit in {small[:3]}; pass a smaller size")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"labels: expected one per image ({len(images)}), got {len(labels)}")
    _same_channels(list(images))
    rng = np.random.default_rng(seed)
    areas = np.array([i.array.shape[0] * i.array.shape[1] for i in images], dtype=np.float64)
    owner = rng.choice(len(images), size=count, p=areas / areas.sum())
    patches = []
    for index in owner:
        array = images[index].array
        top = rng.integers(0, array.shape[0] - size + 1)
        left = rng.integers(0, array.shape[1] - size + 1)
        patch = array[top : top + size, left : left + size]
        patches.append(patch.transpose(2, 0, 1) if patch.ndim == 3 else patch[None])
    y = None if labels is None else [labels[i] for i in owner]
    names = None if labels is None else sorted(set(labels), key=list(labels).index)
    return from_arrays(np.stack(patches), y, class_names=names, layout="CHW", levels=256, value_range=(0.0, 255.0))


def load_image(path: str | os.PathLike, channels: int) -> torch.Tensor:
    """One image file as a uint8 tensor ``(channels, H, W)`` (converted to gray or RGB as asked).

    ``channels`` 2 or 4: gray or colour plus the file's alpha (an LA or RGBA image, e.g. a composite
    whose alpha marks the pasted region for a ``harmonize`` model); a file without alpha is an error.
    """
    if channels in (2, 4):
        array = _read_alpha(Path(path), channels)
    else:
        image = with_channels(_read_file(Path(path)), channels)
        array = image.array if image.array.ndim == 3 else image.array[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def _read_alpha(path: Path, channels: int) -> np.ndarray:
    """An image file with its alpha as (H, W, channels) uint8: LA (2) or RGBA (4)."""
    try:
        with Image.open(path) as image:
            image.load()
            if "A" not in image.getbands() and "transparency" not in image.info:
                raise ValueError(f"{path}: expected an image with an alpha channel (RGBA or LA: the alpha marks the region), got mode {image.mode}")
            return np.asarray(image.convert("LA" if channels == 2 else "RGBA")).copy()
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"{path}: not a readable image ({err})") from None


def save_image(image: torch.Tensor, path: str | os.PathLike) -> None:
    """Write a uint8 ``(C, H, W)`` tensor (C = 1 or 3) to ``path`` atomically, in the format its suffix names."""
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"out: {str(path)!r} does not end in an image suffix {list(IMAGE_SUFFIXES)}")
    if image.ndim != 3 or image.shape[0] not in (1, 3) or image.dtype != torch.uint8:
        raise ValueError(f"image: expected a uint8 tensor (1 or 3, H, W), got {tuple(image.shape)} {image.dtype}")
    array = image.cpu().numpy().transpose(1, 2, 0)
    picture = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    with atomic_path(path, suffix=path.suffix) as tmp:
        picture.save(tmp, format=Image.registered_extensions().get(path.suffix.lower()))
