"""albumentations transforms: in A.Compose, dtypes and shapes, labels, balancing, seeding, workers, serialization."""

from __future__ import annotations

import json
import pickle

import albumentations as A
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

import genaug
from genaug.albumentations import LatentJitter, SyntheticSwap
from genaug.inject import SamplePool


def fit_gmm(data, folder):
    genaug.fit(data, "gmm", steps=5, out=folder, train={"checkpoint_every": 0})
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory, digits):
    """Model folders: 8-bit RGB (3 classes 'a', 'b', 'c'), 8-bit gray (2 classes), digits gmm and vae."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("albu")
    rgb_images = rng.integers(0, 256, (60, 8, 8, 3), dtype=np.uint8)
    rgb = genaug.from_arrays(rgb_images, np.arange(60) % 3, class_names=["a", "b", "c"])
    gray = genaug.from_arrays(rng.integers(0, 256, (40, 8, 8), dtype=np.uint8), np.arange(40) % 2)
    genaug.fit(digits, "vae", steps=30, out=root / "vae", train={"checkpoint_every": 0}, latent_dim=4)
    return {
        "rgb": fit_gmm(rgb, root / "rgb"),
        "gray": fit_gmm(gray, root / "gray"),
        "digits": fit_gmm(digits, root / "digits"),
        "vae": root / "vae",
    }


@pytest.fixture(scope="module")
def real_digits(digits):
    """20 real digits as float32 (8, 8) images (0..16) and their int labels."""
    x = digits.user_x()[:20].numpy().astype(np.float32)
    return list(x), [int(y) for y in digits.y[:20]]


def run(pipeline, images, labels, **extra):
    outs = [pipeline(image=image, label=label, **extra) for image, label in zip(images, labels)]
    return [o["image"] for o in outs], [o["label"] for o in outs]


def same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


IMAGES = {
    "rgb uint8 HWC": ("rgb", lambda: np.full((8, 8, 3), 7, dtype=np.uint8)),
    "rgb float32 HWC": ("rgb", lambda: np.full((8, 8, 3), 0.25, dtype=np.float32)),
    "gray uint8 HW": ("gray", lambda: np.full((8, 8), 7, dtype=np.uint8)),
    "gray uint8 HW1": ("gray", lambda: np.full((8, 8, 1), 7, dtype=np.uint8)),
    "digits float32 HW": ("digits", lambda: np.zeros((8, 8), dtype=np.float32)),
}


@pytest.mark.parametrize("case", list(IMAGES))
def test_swap_sits_in_compose_beside_real_transforms_and_keeps_dtype_and_shape(models, case):
    name, make = IMAGES[case]
    pipeline = A.Compose(
        [A.HorizontalFlip(p=0.5), SyntheticSwap(models[name], p=1.0, batch_size=16), A.RandomBrightnessContrast(p=0.5)],
        seed=0,
        strict=True,  # the label key is a declared target
    )
    image = make()
    for _ in range(5):
        out = pipeline(image=image, label=1)
        assert out["image"].dtype == image.dtype and out["image"].shape == image.shape
        assert out["label"] == 1 and not np.array_equal(out["image"], image)


def test_values_follow_the_pipeline_dtype_conventions_or_value_range(models):
    def swapped(name, image, **kwargs):
        pipeline = A.Compose([SyntheticSwap(models[name], p=1.0, batch_size=64, **kwargs)], seed=0)
        return np.stack([pipeline(image=image, label=0)["image"] for _ in range(20)])

    unit = swapped("rgb", np.zeros((8, 8, 3), dtype=np.float32))
    assert unit.min() >= 0.0 and unit.max() <= 1.0 and unit.max() > 0.5  # 8-bit model -> float pipeline in [0, 1]
    wide = swapped("rgb", np.zeros((8, 8, 3), dtype=np.float32), value_range=(0, 255))
    assert wide.max() > 1.0 and wide.max() <= 255.0
    ink = swapped("digits", np.zeros((8, 8), dtype=np.float32))
    assert np.array_equal(ink, ink.round()) and ink.min() >= 0 and 1 < ink.max() <= 16  # digits keep 0..16


def test_p0_is_identity_and_p1_always_changes(models, real_digits):
    images, labels = real_digits
    for transform in (SyntheticSwap(models["digits"], p=0.0), LatentJitter(models["vae"], sigma=1.0, p=0.0)):
        out, out_labels = run(A.Compose([transform], seed=0), images, labels)
        assert same(out, images) and out_labels == labels
    for transform in (SyntheticSwap(models["digits"], p=1.0), LatentJitter(models["vae"], sigma=1.0, p=1.0)):
        out, out_labels = run(A.Compose([transform], seed=0), images, labels)
        assert not any(np.array_equal(o, i) for o, i in zip(out, images)) and out_labels == labels


@pytest.mark.parametrize("label", [3, np.int64(3), torch.tensor(3)], ids=["int", "numpy", "tensor"])
def test_same_label_swap_keeps_the_label_and_its_type_and_draws_that_class(models, digits, label):
    pipeline = A.Compose([SyntheticSwap(models["digits"], p=1.0, batch_size=32)], seed=0)
    outs = [pipeline(image=np.zeros((8, 8), dtype=np.float32), label=label) for _ in range(10)]
    assert all(type(o["label"]) is type(label) and int(o["label"]) == 3 for o in outs)
    real = digits.user_x().double().numpy()
    mean3, mean7 = real[digits.y == 3].mean(0), real[digits.y == 7].mean(0)
    synthetic = np.mean([o["image"] for o in outs], axis=0)
    assert np.linalg.norm(synthetic - mean3) < np.linalg.norm(synthetic - mean7)


def test_balance_swaps_in_the_rare_classes_and_updates_the_label(models):
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    uniform = A.Compose([SyntheticSwap(models["rgb"], p=0.5, balance="uniform", batch_size=64)], seed=0)
    labels = [uniform(image=image, label=np.int64(0))["label"] for _ in range(300)]  # a stream of class 0 only
    assert all(type(y) is np.int64 for y in labels)
    counts = np.bincount(labels, minlength=3)
    assert 0.35 < (counts[1] + counts[2]) / 300 < 0.65  # about p of the samples are swapped...
    assert min(counts[1], counts[2]) > 0.3 * (counts[1] + counts[2])  # ...into both rare classes
    only_c = A.Compose([SyntheticSwap(models["rgb"], p=1.0, balance={"c": 1.0}, batch_size=64)], seed=0)
    assert {int(only_c(image=image, label=0)["label"]) for _ in range(20)} == {2}


def test_the_label_is_required_checked_and_its_key_configurable(models):
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    never = A.Compose([SyntheticSwap(models["rgb"], p=0.0)], seed=0)
    with pytest.raises(ValueError, match=r"label=y"):  # checked on every call, applied or not
        never(image=image)
    with pytest.raises(TypeError, match="label: expected an integer class index"):
        never(image=image, label="a")
    with pytest.raises(ValueError, match="unknown class 5"):
        never(image=image, label=5)
    keyed = SyntheticSwap(models["rgb"], p=1.0, balance={"b": 1.0}, label_key="target")
    out = A.Compose([keyed], seed=0, strict=True)(image=image, target=0)
    assert out["target"] == 1 and "label" not in out
    with pytest.raises(ValueError, match=r"target=y"):
        A.Compose([keyed])(image=image, label=0)
    # LatentJitter takes the label when given, and works without one (the model's default class)
    jitter = A.Compose([LatentJitter(models["vae"], sigma=0.5, p=1.0)], seed=0)
    assert jitter(image=np.zeros((8, 8), dtype=np.float32))["image"].shape == (8, 8)


def test_misfit_data_is_refused_at_construction_and_misfit_images_at_the_first_call(models, digits):
    with pytest.raises(ValueError, match=r"\(1, 8, 8\).*\(3, 8, 8\)"):
        SyntheticSwap(models["rgb"], data=digits)
    with pytest.raises(ValueError, match=r"\(3, 8, 8\).*\(1, 8, 8\)"):
        LatentJitter(models["vae"], data=genaug.from_arrays(np.zeros((4, 8, 8, 3), dtype=np.uint8)))
    SyntheticSwap(models["digits"], data=digits)  # a fitting spec is accepted
    for transform in (SyntheticSwap(models["rgb"], p=0.0), LatentJitter(models["vae"], p=0.0)):
        with pytest.raises(ValueError, match=r"\(16, 16, 3\).*model makes images of shape \(\d, 8, 8\)"):
            A.Compose([transform])(image=np.zeros((16, 16, 3), dtype=np.uint8), label=0)
    with pytest.raises(ValueError, match=r"\['mask'\]"):  # a synthetic image would not match it
        image, mask = np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8)
        A.Compose([SyntheticSwap(models["rgb"], p=0.0)])(image=image, mask=mask, label=0)


def digits_pipeline(models, seed, **compose):
    return A.Compose(
        [
            SyntheticSwap(models["digits"], p=0.5, batch_size=16),
            LatentJitter(models["vae"], sigma=0.5, p=0.5),
            A.HorizontalFlip(p=0.5),
        ],
        seed=seed,
        **compose,
    )


def test_same_seed_same_outputs_other_seed_other_outputs(models, real_digits):
    images, labels = real_digits
    first = run(digits_pipeline(models, 7), images, labels)
    assert same(first[0], run(digits_pipeline(models, 7), images, labels)[0])
    assert not same(first[0], run(digits_pipeline(models, 8), images, labels)[0])
    # the synthetic samples themselves follow the pipeline's seed, not only the swap decisions
    always = [A.Compose([SyntheticSwap(models["digits"], p=1.0, batch_size=16)], seed=s) for s in (1, 1, 2)]
    outs = [run(pipeline, images, labels)[0] for pipeline in always]
    assert same(outs[0], outs[1]) and not any(np.array_equal(a, b) for a, b in zip(outs[0], outs[2]))


def test_decisions_are_not_in_lockstep_with_the_other_transforms(models, real_digits):
    """albumentations 2.0.8 seeds every transform alike; a swap must not imply a flip."""
    pipeline = digits_pipeline(models, 0, save_applied_params=True)
    outs = [pipeline(image=image, label=label) for image, label in zip(*real_digits)]
    applied = [{name for name, _ in out["applied_transforms"]} for out in outs]
    swapped = [("SyntheticSwap" in a) for a in applied]
    assert swapped != [("HorizontalFlip" in a) for a in applied] and swapped != [("LatentJitter" in a) for a in applied]
    assert 0 < sum(swapped) < len(swapped)


def test_to_dict_from_dict_and_save_load_round_trip_to_identical_outputs(models, real_digits, tmp_path):
    images, labels = real_digits

    def build():
        return A.Compose(
            [
                SyntheticSwap(models["digits"], p=0.5, balance={0: 1.0, "9": 2.0}, batch_size=16),
                LatentJitter(models["vae"], sigma=0.3),
            ],
            seed=3,
        )

    d = A.to_dict(build())
    swap, jitter = d["transform"]["transforms"]
    assert swap["__class_fullname__"] == "genaug.albumentations.SyntheticSwap"
    assert swap["model"] == str(models["digits"]) and swap["balance"] == {0: 1.0, "9": 2.0}
    assert jitter["model"] == str(models["vae"]) and jitter["sigma"] == 0.3
    A.save(build(), tmp_path / "pipeline.json")
    expected = run(build(), images, labels)
    for restored in (A.from_dict(json.loads(json.dumps(d))), A.load(tmp_path / "pipeline.json")):
        restored.set_random_seed(3)  # albumentations does not serialize the seed
        got = run(restored, images, labels)
        assert same(got[0], expected[0]) and got[1] == expected[1]


def test_in_memory_models_and_pool_filters_cannot_be_serialized_and_say_why(models):
    swap = SyntheticSwap(genaug.load(models["rgb"]), p=1.0)
    assert A.Compose([swap], seed=0)(image=np.zeros((8, 8, 3), np.uint8), label=0)["image"].shape == (8, 8, 3)
    with pytest.raises(ValueError, match=r"save_pretrained\(folder\)"):
        A.to_dict(A.Compose([swap]))
    with pytest.raises(ValueError, match=r"save_pretrained\(folder\)"):
        A.to_dict(A.Compose([LatentJitter(genaug.load(models["vae"]))]))
    filtered = SyntheticSwap(SamplePool(models["rgb"], filter=lambda x, y: torch.ones(len(x), dtype=torch.bool)))
    with pytest.raises(ValueError, match="filter"):
        A.to_dict(A.Compose([filtered]))


def test_a_sample_pool_given_as_model_lends_its_settings(models):
    def inky(x, labels):  # keep samples with much ink
        return x.sum(dim=(1, 2)) > 330

    pool = SamplePool(models["digits"], batch_size=32, filter=inky, prefetch=False)
    pipeline = A.Compose([SyntheticSwap(pool, p=1.0)], seed=0)
    outs = [pipeline(image=np.zeros((8, 8), np.float32), label=c % 10)["image"] for c in range(20)]
    assert all(o.sum() > 330 for o in outs)
    with pytest.raises(ValueError, match="batch_size, device: set them on the SamplePool"):
        SyntheticSwap(pool, batch_size=8)


def test_latent_jitter_moves_away_from_the_reconstruction_with_sigma_and_needs_an_encoder(models, real_digits):
    images, labels = real_digits

    def jittered(sigma):
        return np.stack(run(A.Compose([LatentJitter(models["vae"], sigma=sigma, p=1.0)], seed=0), images, labels)[0])

    reconstruction = jittered(0.0)
    near, far = (np.abs(jittered(s) - reconstruction).mean() for s in (0.05, 3.0))
    assert near < 0.5 and far > 4 * near
    with pytest.raises(ValueError, match="LatentJitter needs a family with an encoder"):
        LatentJitter(models["digits"])


def test_pipelines_pickle_small_and_reproduce_after_unpickling(models, real_digits):
    images, labels = real_digits
    pipeline = digits_pipeline(models, 4)
    run(pipeline, images[:3], labels[:3])  # a used pipeline holds a loaded model and a pool
    blob = pickle.dumps(pipeline)
    weights = (models["vae"] / "model.safetensors").stat().st_size
    assert len(blob) < 50_000 and len(blob) < weights / 10
    restored = pickle.loads(blob)
    restored.set_random_seed(4)
    assert same(run(restored, images, labels)[0], run(digits_pipeline(models, 4), images, labels)[0])


class Repeated(Dataset):
    """The same real digit at every index: any difference comes from the pipeline."""

    def __init__(self, pipeline: A.Compose, image: np.ndarray, label: int) -> None:
        self.pipeline, self.image, self.label = pipeline, image, label

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(self.pipeline(image=self.image, label=self.label)["image"])


def test_dataloader_workers_get_distinct_streams_that_reproduce(models, real_digits):
    image, label = real_digits[0][0], real_digits[1][0]

    def batches():  # no pool here: only the transform's own re-seeding can set the workers apart
        data = Repeated(A.Compose([LatentJitter(models["vae"], sigma=0.5, p=0.5)], seed=0), image, label)
        generator = torch.Generator().manual_seed(0)  # fixes the seeds torch gives the workers
        loader = DataLoader(data, batch_size=4, num_workers=2, multiprocessing_context="fork", generator=generator)
        return list(loader)  # batch 0 from worker 0, batch 1 from worker 1

    first, second = batches(), batches()
    assert not torch.equal(first[0], first[1])  # workers do not repeat each other
    assert all(torch.equal(a, b) for a, b in zip(first, second))  # and the same seeds reproduce them


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda m: SyntheticSwap(m["rgb"], p=1.5), ValueError, "p: expected a probability"),
        (lambda m: SyntheticSwap(m["rgb"], p=True), ValueError, "p: expected a probability"),
        (lambda m: LatentJitter(m["vae"], sigma=-1.0), ValueError, "sigma: expected"),
        (lambda m: SyntheticSwap(m["rgb"], balance="zipf"), ValueError, "balance: expected"),
        (lambda m: SyntheticSwap(m["rgb"], balance={"z": 1.0}), ValueError, "unknown class 'z'"),
        (lambda m: SyntheticSwap(m["rgb"], value_range=(1.0, 0.0)), ValueError, "value_range: expected"),
        (lambda m: SyntheticSwap(m["rgb"], value_range="0-1"), ValueError, "value_range: expected"),
        (lambda m: LatentJitter(m["vae"], value_range=(0.0, float("nan"))), ValueError, "value_range: expected"),
        (lambda m: SyntheticSwap(m["rgb"], label_key="image"), ValueError, "label_key: 'image'"),
        (lambda m: SyntheticSwap(m["rgb"], label_key=3), TypeError, "label_key: expected"),
        (lambda m: SyntheticSwap(m["rgb"], batch_size=0), ValueError, "batch_size: expected a positive integer"),
        (lambda m: SyntheticSwap(42), TypeError, "model: expected a model folder"),
        (lambda m: LatentJitter(42), TypeError, "model: expected a model folder"),
    ],
)
def test_bad_arguments_are_refused_naming_the_argument(models, make, error, match):
    with pytest.raises(error, match=match):
        make(models)
