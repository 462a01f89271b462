"""torchvision v2 transforms: SyntheticSwap and LatentJitter inside v2.Compose, on every input type."""

from __future__ import annotations

import pickle

import numpy as np
import PIL.Image
import pytest
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

import genaug
from genaug.inject import SamplePool
from genaug.transforms import LatentJitter, SyntheticSwap


@pytest.fixture(scope="module")
def vae(digits):
    # a small, short fit whose latent carries the image: without the decoder's outlier component, which at
    # 150 steps leaves such a small VAE's latent almost unused (KL 0.02 nats/dim against 0.22 without it)
    torch.manual_seed(0)
    return genaug.fit(digits, "vae", steps=150, train={"checkpoint_every": 0, "batch_size": 128}, latent_dim=8, channels=8, kl_warmup=50, outlier_weight=0.0)


@pytest.fixture(scope="module")
def rgb_dir(tmp_path_factory):
    """A tiny 8-bit RGB model: class 0 dark images, class 1 bright ones."""
    rng = np.random.default_rng(0)
    y = np.arange(60) % 2
    x = np.where(y[:, None, None, None] == 0, rng.integers(0, 60, (60, 6, 6, 3)), rng.integers(190, 256, (60, 6, 6, 3))).astype(np.uint8)
    out = tmp_path_factory.mktemp("rgb")
    genaug.fit(genaug.from_arrays(x, y, class_names=["dark", "bright"]), "gmm", steps=5, out=out, train={"checkpoint_every": 0})
    return out


def class_means(digits):
    real = digits.user_x().double()
    return torch.stack([real[digits.y == c].mean(0) for c in range(10)])


def nearest_class(image: torch.Tensor, means: torch.Tensor) -> int:
    return int((means - image.double().reshape(8, 8)).flatten(1).norm(dim=1).argmin())


def test_swap_in_compose_keeps_type_dtype_shape_and_same_label(digits_gmm_dir, digits):
    pipeline = v2.Compose([SyntheticSwap(SamplePool(digits_gmm_dir, batch_size=32), p=1.0), v2.RandomHorizontalFlip(p=0.0)])
    means = class_means(digits)
    for i in range(5):
        real, label = digits.user_x()[i], int(digits.y[i])
        for image in (real.unsqueeze(0).float(), tv_tensors.Image(real.unsqueeze(0).to(torch.uint8)), real.clone()):
            out, out_label = pipeline(image, label)
            assert type(out) is type(image) and out.dtype == image.dtype and out.shape == image.shape
            assert out_label == label and type(out_label) is int
            assert not torch.equal(out.double().reshape(8, 8), real.double())
            assert out.min() >= 0 and out.max() <= 16 and torch.equal(out, out.round())  # digits stay on their 0..16 grid
        assert nearest_class(out, means) == label  # a synthetic sample of the asked class


def test_unrelated_leaves_pass_through_and_p_zero_is_identity(digits_gmm_dir, digits):
    swap = SyntheticSwap(digits_gmm_dir, p=0.0)
    image = tv_tensors.Image(digits.user_x()[:1].float())
    sample = {"image": image, "label": torch.tensor(3), "id": "row-7", "weight": torch.tensor([0.5, 2.0])}
    out = swap(sample)
    assert out["image"] is image and out["id"] == "row-7" and out["weight"] is sample["weight"]
    swap.p = 1.0
    out = swap(sample)
    assert out["id"] == "row-7" and out["weight"] is sample["weight"] and out["label"].dtype == torch.int64 and int(out["label"]) == 3
    assert not torch.equal(out["image"], image)
    with pytest.raises(ValueError, match="holds no class label"):
        swap(image)
    with pytest.raises(ValueError, match=r"holds \['BoundingBoxes'\]"):
        swap(image, tv_tensors.BoundingBoxes([[0, 0, 2, 2]], format="XYXY", canvas_size=(8, 8)), 3)


def test_8bit_model_feeds_pil_uint8_and_scaled_float_pipelines(rgb_dir):
    pool = SamplePool(rgb_dir, batch_size=16)
    pil = PIL.Image.fromarray(np.zeros((6, 6, 3), dtype=np.uint8))
    out, label = SyntheticSwap(pool, p=1.0)(pil, 1)
    assert isinstance(out, PIL.Image.Image) and out.mode == "RGB" and out.size == (6, 6) and label == 1
    assert np.asarray(out).mean() > 150  # a bright sample, 0..255
    pipeline = v2.Compose([v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True), SyntheticSwap(pool, p=1.0), v2.RandomVerticalFlip()])
    image, label = pipeline(pil, 1)
    assert image.dtype == torch.float32 and image.shape == (3, 6, 6) and image.min() >= 0 and image.max() <= 1 and image.mean() > 0.6
    uint8 = v2.Compose([v2.ToImage(), SyntheticSwap(pool, p=1.0)])(pil, 0)[0]
    assert isinstance(uint8, tv_tensors.Image) and uint8.dtype == torch.uint8 and uint8.float().mean() < 60  # dark class, 0..255
    halves = SyntheticSwap(pool, p=1.0, value_range=(-1.0, 1.0))(torch.zeros(3, 6, 6), 1)[0]
    assert halves.min() >= -1 and halves.max() <= 1 and halves.mean() > 0.2


def test_balanced_swap_updates_labels_toward_rare_classes(digits_gmm_dir, digits):
    torch.manual_seed(0)
    swap = SyntheticSwap(digits_gmm_dir, p=0.5, balance="uniform")
    means = class_means(digits)
    image = digits.user_x()[0].unsqueeze(0).float()
    labels, agree = [], 0
    for _ in range(300):  # a stream of zeros only
        out, label = swap(image, 0)
        labels.append(label)
        if label != 0:
            agree += nearest_class(out, means) == label
    counts = np.bincount(labels, minlength=10)
    assert counts[0] < 170 and (counts[1:] > 5).all()  # half the stream was swapped, mostly into the other classes
    assert agree / (300 - counts[0]) > 0.8  # swapped images show the class of their new label


def test_misfit_generators_are_refused_naming_both_specs(digits_gmm_dir):
    with pytest.raises(ValueError, match=r"holds vectors of shape \(13,\), the model makes images of shape \(1, 8, 8\)"):
        SyntheticSwap(digits_gmm_dir, p=0.5, data=genaug.load_source("wine"))
    swap = v2.Compose([v2.Resize(16), SyntheticSwap(digits_gmm_dir, p=0.0)])  # p=0: the check does not wait for a swap
    with pytest.raises(ValueError, match=r"have shape \(1, 16, 16\).*the model makes images of shape \(1, 8, 8\)"):
        swap(torch.zeros(1, 8, 8), 1)
    with pytest.raises(ValueError, match="unknown class 12"):
        SyntheticSwap(digits_gmm_dir, p=1.0)(torch.zeros(8, 8), 12)
    with pytest.raises(ValueError, match=r"p: expected a probability in \[0, 1\], got 2"):
        SyntheticSwap(digits_gmm_dir, p=2)
    with pytest.raises(ValueError, match="LatentJitter needs a family with an encoder"):
        LatentJitter(digits_gmm_dir)


def test_latent_jitter_moves_samples_by_sigma_and_keeps_labels(vae, digits):
    images, labels = digits.user_x()[:40].float(), digits.y[:40]
    means = class_means(digits)

    def distance(sigma: float) -> float:
        torch.manual_seed(1)
        jit = v2.Compose([LatentJitter(vae, sigma=sigma, p=1.0), v2.ToDtype(torch.float32)])
        outs = [jit(tv_tensors.Image(x.unsqueeze(0)), int(y)) for x, y in zip(images, labels)]
        assert all(isinstance(o, tv_tensors.Image) and o.shape == (1, 8, 8) and lab == int(y) for (o, lab), y in zip(outs, labels))
        return float(torch.stack([(o.reshape(8, 8) - x).norm() for (o, _), x in zip(outs, images)]).mean())

    near, far = distance(0.1), distance(2.0)
    assert near < far  # more latent noise, farther from the input
    real_spread = float((images - images.roll(1, 0)).flatten(1).norm(dim=1).mean())
    assert near < 0.8 * real_spread  # a small jitter stays closer to its input than another real digit is
    torch.manual_seed(2)
    kept = [nearest_class(LatentJitter(vae, sigma=0.1, p=1.0)(x, int(y))[0], means) == int(y) for x, y in zip(images, labels)]
    assert np.mean(kept) > 0.8


def test_transforms_pickle_small_and_work_after_unpickling(digits_gmm_dir, vae, tmp_path):
    swap = SyntheticSwap(digits_gmm_dir, p=1.0)
    blob = pickle.dumps(v2.Compose([swap, v2.RandomHorizontalFlip()]))
    assert len(blob) < 30_000  # the model travels as its folder
    out, label = pickle.loads(blob)(torch.zeros(8, 8), 4)
    assert out.shape == (8, 8) and label == 4
    vae.save_pretrained(tmp_path / "vae")
    assert len(pickle.dumps(LatentJitter(tmp_path / "vae"))) < 30_000


class Digits(Dataset):
    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform) -> None:
        self.x, self.y, self.transform = x, y, transform

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.transform(self.x[i].unsqueeze(0).float(), int(self.y[i]))


def stream(digits_gmm_dir, digits, seed: int) -> torch.Tensor:
    pipeline = v2.Compose([SyntheticSwap(SamplePool(digits_gmm_dir, batch_size=8, seed=0), p=0.5), v2.RandomHorizontalFlip()])
    loader = DataLoader(
        Digits(digits.user_x()[:40], digits.y[:40], pipeline),
        batch_size=10,
        num_workers=2,
        multiprocessing_context="spawn",
        generator=torch.Generator().manual_seed(seed),
    )
    return torch.cat([x for x, _ in loader])


@pytest.mark.slow
def test_two_spawn_workers_give_the_same_stream_for_the_same_seed(digits_gmm_dir, digits):
    a, b, c = stream(digits_gmm_dir, digits, 0), stream(digits_gmm_dir, digits, 0), stream(digits_gmm_dir, digits, 1)
    assert torch.equal(a, b) and not torch.equal(a, c)
    real = digits.user_x()[:40].float().unsqueeze(1)
    swapped = (a != real).flatten(1).any(1) & (a != real.flip(-1)).flatten(1).any(1)
    assert 8 < int(swapped.sum()) < 32  # about half the samples are synthetic


def test_colour_channels_land_in_the_right_place_for_every_container(tmp_path):
    """An HWC-trained model of red (class 0) and green (class 1) images, fed to HWC, CHW and PIL pipelines."""
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    x = rng.integers(0, 40, (40, 6, 6, 3))
    x[y == 0, :, :, 0] += 180
    x[y == 1, :, :, 1] += 180
    genaug.fit(genaug.from_arrays(x.astype(np.uint8), y), "gmm", steps=5, out=tmp_path, train={"checkpoint_every": 0})
    swap = SyntheticSwap(tmp_path, p=1.0)
    for label, bright in ((0, 0), (1, 1)):
        pil, _ = swap(PIL.Image.new("RGB", (6, 6)), label)
        means = np.asarray(pil).reshape(-1, 3).mean(0)
        assert means[bright] > 150 and means[1 - bright] < 60 and means[2] < 60, means
        chw, _ = swap(tv_tensors.Image(torch.zeros(3, 6, 6, dtype=torch.uint8)), label)
        means = chw.float().mean((1, 2))
        assert means[bright] > 150 and means[1 - bright] < 60 and means[2] < 60, means


def test_integration_modules_are_reachable_from_the_package():
    assert genaug.transforms.SyntheticSwap is SyntheticSwap
    assert callable(genaug.hf.generate_dataset) and callable(genaug.hf.SyntheticRows)
    assert genaug.albumentations.LatentJitter.__module__ == "genaug.albumentations"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        genaug.nope


def test_labels_are_found_by_a_labels_getter_as_torchvision_finds_them(digits_gmm_dir, digits):
    """Default: a tuple's second item or a label-like key (nested too); a callable reads; None means unlabelled."""
    from collections import namedtuple

    from genaug.transforms._synthetic import default_label_path

    image = digits.user_x()[:1].float()
    assert default_label_path((image, 3)) == (1,)
    assert default_label_path((image, {"boxes": None, "labels": torch.tensor(2)})) == (1, "labels")
    assert default_label_path({"img": image, "target_label": np.int64(4)}) == ("target_label",)
    assert default_label_path(image) is None and default_label_path((image, 2.5)) is None

    torch.manual_seed(0)
    only_nine = SyntheticSwap(digits_gmm_dir, p=1.0, balance={9: 1.0})  # every swap turns the sample into a 9
    Sample = namedtuple("Sample", "image label")
    out = only_nine(Sample(image, 0))
    assert isinstance(out, Sample) and out.label == 9 and not torch.equal(out.image, image)
    nested = only_nine((image, {"labels": torch.tensor(0, dtype=torch.int32), "id": 7}))
    assert nested[1]["labels"].dtype == torch.int32 and int(nested[1]["labels"]) == 9 and nested[1]["id"] == 7

    means = class_means(digits)
    by_key = SyntheticSwap(digits_gmm_dir, p=1.0, labels_getter=lambda s: s["y"])
    swapped = by_key({"x": image, "y": 5})
    assert swapped["y"] == 5 and nearest_class(swapped["x"], means) == 5  # the callable's label picks the class

    with pytest.raises(ValueError, match="labels_getter: returned 'five'"):
        SyntheticSwap(digits_gmm_dir, p=1.0, labels_getter=lambda s: "five")(image, 1)
    with pytest.raises(ValueError, match="labels_getter: SyntheticSwap draws a synthetic sample of the sample's class"):
        SyntheticSwap(digits_gmm_dir, labels_getter=None)
    with pytest.raises(ValueError, match="a callable getter cannot write back"):
        SyntheticSwap(digits_gmm_dir, balance="uniform", labels_getter=lambda s: s[1])
    with pytest.raises(ValueError, match=r"labels_getter: expected 'default', a callable sample -> label, or None, got 'first'"):
        SyntheticSwap(digits_gmm_dir, labels_getter="first")


def test_latent_jitter_without_labels_conditions_on_the_most_frequent_class(vae, digits):
    image = digits.user_x()[:1].float()
    jitter = LatentJitter(vae, sigma=0.1, p=1.0, labels_getter=None)
    out = jitter(image, 3)  # the 3 is not read as a label: it passes through as any other leaf
    assert out[1] == 3 and out[0].shape == image.shape and not torch.equal(out[0], image)
