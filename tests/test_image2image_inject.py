"""Image-to-image models as transforms: torchvision v2, albumentations, a batched collate, a datasets mapper."""

from __future__ import annotations

import pickle

import albumentations as A
import datasets
import numpy as np
import PIL.Image
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

import genaug
import genaug.albumentations as GA
from genaug.data.images import image_patches, read_images
from genaug.data.pairs import from_unit, make_pairs, to_unit
from genaug.hf import ImageToImageMap
from genaug.models.image2image import ImageToImage
from genaug.transforms import BatchedImageToImage, Colorize, SuperResolve, Translate

H, W = 13, 18  # odd sizes: the models' own size multiples must not matter


class ToyTranslate(ImageToImage):
    """A translate model without training: domain 1 inverts the image, domain 0 keeps it; ``noise`` adds draws."""

    family = "toy-translate"  # not registered: the registry stays as the other tests know it
    tasks = ("translate",)

    def __init__(self, spec, config=None) -> None:
        super().__init__(spec, config)
        self.gain = nn.Parameter(torch.ones(()))

    def predict(self, cond, *, generator=None, noise: float = 0.0) -> torch.Tensor:
        u = to_unit(self.spec, cond["source"])
        flip = (cond["label"] == 1).view(-1, 1, 1, 1)
        u = torch.where(flip, 1 - u, u) * self.gain
        if noise:
            u = u + noise * torch.randn(u.shape, generator=generator)
        return from_unit(self.spec, u)


@pytest.fixture(scope="module")
def patches():
    return image_patches(read_images("photos:china"), size=16, count=32)


@pytest.fixture(scope="module")
def folders(patches, tmp_path_factory):
    """rescnn models of the two tasks it learns, fitted in 5 steps and saved: {task: folder}."""
    out = {}
    for task in ("superres", "colorize"):
        torch.manual_seed(0)
        pairs = make_pairs(patches, task, scale=2)
        model = genaug.fit(pairs, "rescnn", steps=5, channels=8, blocks=1, train={"progress": False})
        out[task] = tmp_path_factory.mktemp(task)
        model.save_pretrained(out[task])
    return out


@pytest.fixture(scope="module")
def toy(patches):
    x = patches.user_x().permute(0, 2, 3, 1).numpy()
    domains = genaug.from_arrays(x, np.arange(len(x)) % 2, class_names=["day", "night"])
    return ToyTranslate(make_pairs(domains, "translate").spec)


def rgb(h: int = H, w: int = W, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (3, h, w), dtype=np.uint8))


def layouts(image: torch.Tensor) -> dict[str, object]:
    """One uint8 (C, H, W) image in every form a pipeline may hold it."""
    hwc = image.permute(1, 2, 0).numpy()
    return {
        "tensor-uint8": image.clone(),
        "tensor-float": image.float() / 255,
        "tv-image": tv_tensors.Image(image.clone()),
        "pil": PIL.Image.fromarray(hwc[..., 0] if len(image) == 1 else hwc),
        "numpy-uint8": hwc[..., 0].copy() if len(image) == 1 else hwc.copy(),
        "numpy-float": (hwc.astype(np.float32) / 255)[..., 0] if len(image) == 1 else hwc.astype(np.float32) / 255,
    }


def size_of(image) -> tuple[int, int]:
    if isinstance(image, PIL.Image.Image):
        return image.height, image.width
    return tuple(image.shape[-2:]) if isinstance(image, torch.Tensor) else image.shape[:2]


def channels_of(image) -> int:
    if isinstance(image, PIL.Image.Image):
        return len(image.getbands())
    if isinstance(image, torch.Tensor):
        return 1 if image.ndim == 2 else image.shape[-3]
    return 1 if image.ndim == 2 else image.shape[-1]


def check_same_form(out, image, channels: int) -> None:
    """The container, dtype and value range of ``image``, with ``channels`` channels."""
    assert type(out) is type(image)
    if isinstance(image, PIL.Image.Image):
        assert out.mode == ("RGB" if channels == 3 else "L")
        return
    assert out.dtype == image.dtype and channels_of(out) == channels
    values = torch.as_tensor(np.asarray(out)).double()
    if image.dtype in (torch.uint8, np.uint8):
        assert values.min() >= 0 and 1 < values.max() <= 255  # 0..255, not [0, 1]
    else:
        assert values.min() >= 0 and values.max() <= 1


# ---------------------------------------------------------------------------------------- per sample, every input type
@pytest.mark.parametrize("kind", ["tensor-uint8", "tensor-float", "tv-image", "pil", "numpy-uint8", "numpy-float"])
def test_superresolve_doubles_the_size_and_keeps_the_form_and_the_label(folders, kind):
    image = layouts(rgb())[kind]
    out, label = SuperResolve(folders["superres"])(image, 7)
    assert label == 7 and type(label) is int
    assert size_of(out) == (2 * H, 2 * W)
    check_same_form(out, image, 3)
    sample = {"image": image, "label": torch.tensor(2), "id": "row-3", "weights": torch.ones(4)}
    out = SuperResolve(folders["superres"])(sample)
    assert size_of(out["image"]) == (2 * H, 2 * W) and out["id"] == "row-3"
    assert out["label"] is sample["label"] and out["weights"] is sample["weights"]


@pytest.mark.parametrize("kind", ["tensor-uint8", "tensor-float", "tv-image", "pil", "numpy-uint8", "numpy-float"])
def test_colorize_gives_three_channels_from_gray_and_colour_inputs(folders, kind):
    paint = Colorize(folders["colorize"])
    for image in (layouts(rgb()[:1])[kind], layouts(rgb())[kind]):
        out, label = paint(image, 1)
        assert label == 1 and size_of(out) == (H, W)
        check_same_form(out, image, 3)
    gray = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (H, W), dtype=np.uint8))
    assert paint(gray).shape == (3, H, W)  # an (H, W) tensor: one channel without an axis
    assert paint(gray.numpy()[..., None]).shape == (H, W, 3)


def test_colorize_recolours_a_colour_image_through_its_8_bit_gray(folders):
    paint = Colorize(folders["colorize"])
    colour = rgb()
    gray = torch.round(0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]).to(torch.uint8)
    assert torch.equal(paint(colour), paint(gray[None]))


def test_translate_moves_the_image_into_the_domain_and_keeps_the_label(toy):
    image = rgb()
    night, label = Translate(toy, to="night")(image, 5)
    assert torch.equal(night, 255 - image) and label == 5
    day, _ = Translate(toy, to=0)(tv_tensors.Image(image), 5)
    assert type(day) is tv_tensors.Image and torch.equal(day.as_subclass(torch.Tensor), image)
    pil = PIL.Image.fromarray(image.permute(1, 2, 0).numpy())
    assert np.array_equal(np.asarray(Translate(toy, to=1)({"image": pil})["image"]), 255 - np.asarray(pil))


def test_p_draws_from_torch_rng_and_p_zero_is_identity(folders, toy):
    image = rgb()
    assert SuperResolve(folders["superres"], p=0.0)(image) is image
    half = Translate(toy, to="night", p=0.5)

    def decisions(seed: int) -> list[bool]:
        torch.manual_seed(seed)
        return [half(image) is not image for _ in range(40)]

    first = decisions(0)
    assert first == decisions(0) and first != decisions(1)
    assert 8 < sum(first) < 32


def test_a_generative_models_draws_follow_the_seed(toy):
    image = rgb()
    make = lambda seed: Translate(toy, to=1, seed=seed, options={"noise": 0.2})
    a, b, c = make(0), make(0), make(1)
    torch.manual_seed(0)
    before = torch.rand(1)
    outs = [(a(image), b(image), c(image)) for _ in range(2)]
    torch.manual_seed(0)
    assert torch.equal(torch.rand(1), before)  # with a seed, the global RNG decides only p (p=1: draws nothing)
    assert all(torch.equal(x, y) and not torch.equal(x, z) for x, y, z in outs)
    assert not torch.equal(outs[0][0], outs[1][0])  # a stream, not one seed over and over


# ---------------------------------------------------------------------------------------- pipelines
def test_inside_v2_compose_with_real_transforms(folders):
    pipeline = v2.Compose([
        v2.ToImage(),
        v2.RandomCrop((10, 12)),
        SuperResolve(folders["superres"]),
        v2.RandomHorizontalFlip(),
        Colorize(folders["colorize"]),
        v2.ToDtype(torch.float32, scale=True),
    ])
    image, label = pipeline(PIL.Image.fromarray(rgb().permute(1, 2, 0).numpy()), 3)
    assert type(image) is tv_tensors.Image and image.shape == (3, 20, 24) and image.dtype == torch.float32
    assert 0 <= image.min() and image.max() <= 1 and label == 3


def test_superresolve_resizes_masks_and_boxes_along(folders):
    mask = torch.zeros(H, W, dtype=torch.uint8)
    mask[2:5, 3:9] = 1
    boxes = tv_tensors.BoundingBoxes([[3, 2, 9, 5]], format="XYXY", canvas_size=(H, W))
    sample = {"image": tv_tensors.Image(rgb()), "mask": tv_tensors.Mask(mask), "boxes": boxes, "label": 1}
    out = SuperResolve(folders["superres"])(sample)
    assert out["image"].shape == (3, 2 * H, 2 * W) and out["label"] == 1
    assert torch.equal(out["mask"].as_subclass(torch.Tensor), mask.repeat_interleave(2, 0).repeat_interleave(2, 1))
    assert out["boxes"].canvas_size == (2 * H, 2 * W) and out["boxes"].tolist() == [[6, 4, 18, 10]]


def test_inside_albumentations_compose_with_real_transforms(folders):
    image = rgb().permute(1, 2, 0).numpy()
    mask = np.zeros((H, W), dtype=np.uint8)
    mask[2:5, 3:9] = 1
    pipeline = A.Compose(
        [GA.SuperResolve(folders["superres"]), A.HorizontalFlip(p=1.0), A.RandomBrightnessContrast(p=1.0)],
        bbox_params=A.BboxParams(format="pascal_voc", label_fields=["classes"]),
        keypoint_params=A.KeypointParams(format="xy"),
        seed=0,
    )
    out = pipeline(image=image, mask=mask, bboxes=[[3, 2, 9, 5]], classes=[1], keypoints=[[4, 3]], label=6)
    assert out["image"].shape == (2 * H, 2 * W, 3) and out["image"].dtype == np.uint8 and out["label"] == 6
    assert np.array_equal(out["mask"], np.repeat(np.repeat(mask, 2, 0), 2, 1)[:, ::-1])
    assert np.allclose(out["bboxes"], [[2 * W - 18, 4, 2 * W - 6, 10]], atol=1e-3)
    assert np.allclose(out["keypoints"], [[2 * W - 1 - 8, 6]], atol=1e-3)  # albumentations flips x to W - 1 - x
    paint = A.Compose([A.RandomBrightnessContrast(p=0.0), GA.Colorize(folders["colorize"])], seed=0)
    for gray in (image[..., 0], image[..., :1], image[..., 0].astype(np.float32) / 255):
        out = paint(image=gray, label=2)
        assert out["image"].shape == (H, W, 3) and out["image"].dtype == gray.dtype and out["label"] == 2


def test_albumentations_transforms_serialize_and_reload_with_identical_output(folders, toy):
    pipeline = A.Compose([GA.SuperResolve(folders["superres"], p=0.5), GA.Colorize(folders["colorize"], p=0.5)], seed=3)
    restored = A.from_dict(A.to_dict(pipeline))
    restored.set_random_seed(3)  # albumentations 2.0.8 does not serialize the seed
    for i in range(6):
        image = rgb(seed=i).permute(1, 2, 0).numpy()
        assert np.array_equal(pipeline(image=image)["image"], restored(image=image)["image"])
    with pytest.raises(ValueError, match="cannot serialize a model held in memory"):
        A.to_dict(A.Compose([GA.Translate(toy, to="night")]))
    out = A.Compose([GA.Translate(toy, to="night")], seed=0)(image=rgb().permute(1, 2, 0).numpy(), label=1)
    assert np.array_equal(out["image"], 255 - rgb().permute(1, 2, 0).numpy()) and out["label"] == 1


# ---------------------------------------------------------------------------------------- workers and batches
class Images(Dataset):
    """(float image, label) samples, 16x16 and 13x18 in turn (or 16x16 only), through a per-sample transform."""

    def __init__(self, transform=None, n: int = 8, mixed: bool = True) -> None:
        self.transform, self.n, self.mixed = transform, n, mixed

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        image = rgb(H, W, seed=i) if i % 2 and self.mixed else rgb(16, 16, seed=i)
        sample = (image.float() / 255, i % 3)
        return self.transform(*sample) if self.transform is not None else sample


def test_transforms_pickle_and_run_in_two_dataloader_workers(folders, toy):
    for transform in (SuperResolve(folders["superres"]), Colorize(folders["colorize"]), Translate(toy, to=1)):
        again = pickle.loads(pickle.dumps(transform))
        assert torch.equal(again(rgb()), transform(rgb()))
    assert len(pickle.dumps(SuperResolve(folders["superres"]))) < 20_000  # a folder, not the weights
    pipeline = v2.Compose(
        [v2.RandomCrop(8), SuperResolve(folders["superres"], p=0.5), v2.Resize(16), v2.ToDtype(torch.float32)]
    )
    loader = DataLoader(Images(pipeline), batch_size=4, num_workers=2, generator=torch.Generator().manual_seed(0))
    batches = list(loader)
    assert [tuple(x.shape) for x, _ in batches] == [(4, 3, 16, 16)] * 2
    assert [y.tolist() for _, y in batches] == [[0, 1, 2, 0], [1, 2, 0, 1]]


def test_seeded_draws_differ_across_dataloader_workers_and_reproduce(toy):
    image = rgb().float() / 255
    noisy = Translate(toy, to=1, seed=0, options={"noise": 0.2})

    class Same(Dataset):
        def __len__(self) -> int:
            return 4

        def __getitem__(self, i: int) -> torch.Tensor:
            return noisy(image)

    def batches() -> list[torch.Tensor]:
        loader = DataLoader(Same(), batch_size=2, num_workers=2, generator=torch.Generator().manual_seed(0))
        return list(loader)  # batch 0 from worker 0, batch 1 from worker 1

    first, second = batches(), batches()
    assert not torch.equal(first[0][0], first[0][1]) and not torch.equal(first[0], first[1])
    assert all(torch.equal(a, b) for a, b in zip(first, second))


def count_calls(monkeypatch, model) -> list[int]:
    """The batch size of every ``model.apply`` call."""
    calls, apply = [], model.apply

    def counted(images, *args, **kwargs):
        calls.append(len(images))
        return apply(images, *args, **kwargs)

    monkeypatch.setattr(model, "apply", counted)
    return calls


@pytest.mark.parametrize("p", [1.0, 0.5])
def test_batched_collate_equals_the_per_sample_outputs_with_one_model_call_per_size(folders, monkeypatch, p):
    samples = [Images()[i] for i in range(8)]
    transform = SuperResolve(folders["superres"], p=p)
    torch.manual_seed(0)
    single = [transform(*sample) for sample in samples]
    collate = BatchedImageToImage(transform, collate_fn=list)
    calls = count_calls(monkeypatch, transform.model)
    torch.manual_seed(0)
    batched = collate(samples)
    assert len(calls) == 2 and sum(calls) == sum(s[0].shape[-1] != b[0].shape[-1] for s, b in zip(samples, batched))
    for (x, y), (a, b) in zip(single, batched):
        assert y == b and x.shape == a.shape and torch.allclose(x, a, atol=1e-5)


def test_batched_collate_in_a_dataloader_with_two_workers(folders):
    collate = BatchedImageToImage(folders["superres"])  # a model: its task's transform, p=1
    loader = DataLoader(Images(n=8, mixed=False), batch_size=4, num_workers=2, collate_fn=collate)
    batches = list(loader)
    assert [tuple(x.shape) for x, _ in batches] == [(4, 3, 32, 32)] * 2 and batches[1][1].tolist() == [1, 2, 0, 1]
    single = SuperResolve(folders["superres"])
    assert torch.allclose(batches[1][0][2], single(Images(mixed=False)[6][0]), atol=1e-5)


def test_hf_mapper_on_an_image_column(folders, monkeypatch):
    sizes = [(H, W) if i % 2 else (16, 16) for i in range(6)]
    images = [PIL.Image.fromarray(rgb(*size, seed=i).permute(1, 2, 0).numpy()) for i, size in enumerate(sizes)]
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b", "c"])})
    table = datasets.Dataset.from_dict({"image": images, "label": [i % 3 for i in range(6)]}, features=features)
    every = ImageToImageMap(folders["superres"])
    calls = count_calls(monkeypatch, every.transform.model)
    table.map(every, batched=True, batch_size=4, load_from_cache_file=False)
    assert calls == [2, 2, 1, 1]  # one model.apply per batch and image size
    half = lambda: ImageToImageMap(SuperResolve(folders["superres"], p=0.5), seed=1)
    out = table.map(half(), batched=True, batch_size=4, with_indices=True)
    assert list(out["label"]) == list(table["label"]) and out.features["image"] == datasets.Image()
    doubled = [new.size == (2 * old.width, 2 * old.height) for new, old in zip(out["image"], images)]
    kept = [np.array_equal(np.asarray(new), np.asarray(old)) for new, old in zip(out["image"], images)]
    assert any(doubled) and any(kept) and all(d != k for d, k in zip(doubled, kept))
    again = table.map(half(), batched=True, batch_size=2, with_indices=True)  # other batches, the same rows chosen
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(again["image"], out["image"]))
    recolour = ImageToImageMap(folders["colorize"], output_column="recoloured")
    colour = table.map(recolour, batched=True, load_from_cache_file=False)
    assert [i.size for i in colour["image"]] == [i.size for i in images] and colour[1]["recoloured"].size == (W, H)


def test_hf_mapper_on_array_columns_in_every_format(folders):
    arrays = [rgb(seed=i).permute(1, 2, 0).numpy() for i in range(3)]
    table = datasets.Dataset.from_dict({"image": arrays, "label": [0, 1, 0]})
    mapper = ImageToImageMap(folders["superres"], batch_size=2)
    for fmt in (None, "numpy", "torch"):
        data = table if fmt is None else table.with_format(fmt)
        out = data.map(mapper, batched=True, load_from_cache_file=False).with_format("numpy")
        assert out.features == table.features  # uint8 arrays of (H, W, 3), labels as they were
        assert out[:]["image"].shape == (3, 2 * H, 2 * W, 3) and out[:]["label"].tolist() == [0, 1, 0]


# ---------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda f, t, g: SuperResolve(f["colorize"]),
            ValueError,
            r"model: SuperResolve needs a 'superres' model, got a 'colorize'.*use Colorize",
        ),
        (
            lambda f, t, g: Colorize(f["superres"]),
            ValueError,
            r"model: Colorize needs a 'colorize' model, got a 'superres'",
        ),
        (lambda f, t, g: Translate(f["superres"]), ValueError, r"needs a 'translate' model"),
        (
            lambda f, t, g: SuperResolve(g),
            ValueError,
            r"model: SuperResolve needs an image-to-image model .* got a 'gmm' generator",
        ),
        (lambda f, t, g: SuperResolve(42), TypeError, r"model: expected a model folder or a genaug Generator, got int"),
        (lambda f, t, g: SuperResolve(f["superres"], p=1.5), ValueError, r"p: expected a probability"),
        (lambda f, t, g: Colorize(f["colorize"], seed="x"), TypeError, r"seed: expected an integer or None, got 'x'"),
        (
            lambda f, t, g: SuperResolve(f["superres"], value_range=(1, 0)),
            ValueError,
            r"value_range: expected \(low, high\)",
        ),
        (
            lambda f, t, g: Translate(t, to="dusk"),
            ValueError,
            r"to: unknown domain 'dusk'; the model translates into \['day', 'night'\]",
        ),
        (
            lambda f, t, g: SuperResolve(f["superres"])(rgb()[:1]),
            ValueError,
            r"SuperResolve image: the superres model takes 3-channel images, got 1 channel\(s\) "
            r"\(an image of shape \(1, 13, 18\)\)",
        ),
        (
            lambda f, t, g: SuperResolve(f["superres"])(np.zeros((H, W), np.uint8)),
            ValueError,
            r"takes 3-channel images, got 1 channel\(s\) \(an image of shape \(13, 18\)\)",
        ),
        (
            lambda f, t, g: Colorize(f["colorize"])(torch.zeros(2, H, W)),
            ValueError,
            r"Colorize image: expected a gray \(1-channel\) image, or a colour \(3-channel\) one .* got 2 channels",
        ),
        (
            lambda f, t, g: Colorize(f["colorize"])(PIL.Image.new("RGBA", (4, 4))),
            ValueError,
            r"Colorize image: expected a PIL image of mode 'L' or 'RGB', got mode 'RGBA'",
        ),
        (
            lambda f, t, g: SuperResolve(f["superres"])(torch.zeros(3, H, W, dtype=torch.int16)),
            ValueError,
            r"SuperResolve image: expected uint8 \(0..255\) or floating-point values, got torch.int16",
        ),
        (
            lambda f, t, g: SuperResolve(f["superres"])(("a caption", 3)),
            ValueError,
            r"SuperResolve: the sample holds no image .* got no tensor, image or array",
        ),
        (
            lambda f, t, g: SuperResolve(f["superres"])(torch.zeros(5)),
            ValueError,
            r"SuperResolve: the sample holds no image .* got \['Tensor'\]",
        ),
        (
            lambda f, t, g: SuperResolve(f["superres"])(np.zeros((2, 3, H, W), np.uint8)),
            ValueError,
            r"the sample holds no image",
        ),
        (
            lambda f, t, g: SuperResolve(f["superres"])(tv_tensors.Image(rgb()), tv_tensors.Image(rgb())),
            ValueError,
            r"SuperResolve: the sample holds 2 images",
        ),
        (
            lambda f, t, g: BatchedImageToImage(f["superres"], collate_fn=3),
            TypeError,
            r"collate_fn: expected a callable",
        ),
        (
            lambda f, t, g: BatchedImageToImage(g),
            ValueError,
            r"model_or_transform: expected an image-to-image model .* got a 'gmm' generator",
        ),
        (
            lambda f, t, g: BatchedImageToImage(3.5),
            TypeError,
            r"model_or_transform: expected SuperResolve, Colorize or Translate",
        ),
        (lambda f, t, g: BatchedImageToImage(f["superres"])(rgb()), TypeError, r"samples: expected a list of samples"),
        (
            lambda f, t, g: ImageToImageMap(f["superres"], column="pixels")({"image": [], "label": []}),
            ValueError,
            r"column: no column 'pixels' in the batch; it has columns \['image', 'label'\]",
        ),
        (
            lambda f, t, g: ImageToImageMap(f["superres"])({"image": [[[300, 0, 0]]]}),
            ValueError,
            r"column: row 0 of column 'image' holds integers 0..300; expected 8-bit values",
        ),
        (
            lambda f, t, g: ImageToImageMap(f["superres"])({"image": [None]}),
            ValueError,
            r"column: row 0 of column 'image' holds no image \(None\)",
        ),
        (
            lambda f, t, g: ImageToImageMap(f["superres"], batch_size=0),
            ValueError,
            r"batch_size: expected a positive integer",
        ),
        (
            lambda f, t, g: GA.SuperResolve(f["superres"])(image=torch.zeros(H, W, 3)),
            TypeError,
            r"SuperResolve: expected image= an \(H, W, C\) or \(H, W\) numpy array, got Tensor",
        ),
        (lambda f, t, g: GA.Colorize(f["superres"]), ValueError, r"model: Colorize needs a 'colorize' model"),
        (
            lambda f, t, g: GA.SuperResolve(f["superres"])(image=np.zeros((H, W), np.uint8)),
            ValueError,
            r"takes 3-channel images, got 1 channel",
        ),
        (
            lambda f, t, g: GA.SuperResolve(f["superres"])(
                image=np.zeros((H, W, 3), np.uint8), images=np.zeros((2, H, W, 3), np.uint8)
            ),
            ValueError,
            r"takes one image= per call, not \['images'\]",
        ),
        (lambda f, t, g: GA.Translate(t, to=2), ValueError, r"to: unknown domain 2"),
    ],
)
def test_bad_input_gives_one_clear_error(folders, toy, digits, call, error, match):
    gmm = genaug.create("gmm", digits.spec)  # a generator of another kind (unfitted: only its kind matters)
    with pytest.raises(error, match=match):
        call(folders, toy, gmm)
