"""Virtual try-on: accessories, face detection, the try_on core, TryOn in v2, albumentations, DataLoaders, the CLI."""

from __future__ import annotations

import pickle

import albumentations as A
import numpy as np
import PIL.Image
import pytest
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

import genaug.albumentations as GA
from genaug.cli import main
from genaug.data.accessories import ACCESSORIES, Accessory, Anchor, load_accessory
from genaug.data.facedetect import FaceBox, _merge, detect_faces, search_scale
from genaug.transforms import TryOn
from genaug.transforms._image2image import read_image
from genaug.transforms._tryon import try_on

skimage_data = pytest.importorskip("skimage.data", reason="face detection needs genaug[images] (scikit-image)")


@pytest.fixture(scope="module")
def lfw() -> np.ndarray:
    """scikit-image's lfw_subset: (200, 25, 25) float64 in [0, 1], 100 faces then 100 non-faces."""
    return skimage_data.lfw_subset()


@pytest.fixture(scope="module")
def face(lfw) -> np.ndarray:
    """One face, uint8 RGB (50, 50, 3) (upsampled 2x: the cascade still upsamples it to 100)."""
    gray = PIL.Image.fromarray(np.rint(lfw[0] * 255).astype(np.uint8)).resize((50, 50), PIL.Image.Resampling.BICUBIC)
    return np.repeat(np.asarray(gray)[..., None], 3, axis=2).copy()


class Darken:
    """A fake harmonizer of the promised interface: halves the composite under the alpha (last channel)."""

    def __init__(self, in_channels: int = 4, everywhere: bool = False) -> None:
        self.in_channels, self.everywhere, self.calls = in_channels, everywhere, 0

    def apply(self, images: torch.Tensor, *, value_range: tuple[float, float]) -> torch.Tensor:
        self.calls += 1
        image, alpha = images[:, :-1], images[:, -1:]
        lo, _ = value_range
        dark = lo + (image - lo) * 0.5
        return dark if self.everywhere else torch.where(alpha > lo, dark, image)


# ---------------------------------------------------------------------------------------- accessories
@pytest.mark.parametrize("name", ACCESSORIES)
def test_shipped_accessories_are_antialiased_rgba_pictures(name):
    rgba, anchor = load_accessory(name)
    assert rgba.dtype == np.uint8 and rgba.ndim == 3 and rgba.shape[2] == 4 and min(rgba.shape[:2]) >= 40
    alpha = rgba[..., 3]
    assert (alpha == 0).any() and (alpha == 255).any()
    assert ((alpha > 0) & (alpha < 255)).sum() > 0.01 * alpha.size  # soft edges: drawn large and reduced
    assert isinstance(anchor, Anchor) and not rgba.flags.writeable  # shared: read-only
    assert load_accessory(name).rgba is rgba  # drawn once


def test_anchors_place_accessories_by_the_face_geometry():
    face = (100.0, 50.0, 80.0, 80.0)  # row, col, height, width

    def rows(name: str) -> tuple[float, float]:
        rgba, anchor = load_accessory(name)
        top, _, height, _ = anchor.place(face, rgba.shape[:2])
        return (top - face[0]) / face[2], (top + height - face[0]) / face[2]

    assert rows("sunglasses") == pytest.approx((0.255, 0.505), abs=0.01)  # the eye line
    assert rows("hat")[1] < 0.2 and rows("hat")[0] < -0.5  # on top of the box, mostly above it
    assert 0.4 < rows("mask")[0] < 0.55 and rows("mask")[1] > 1.0  # the lower half
    rgba, anchor = load_accessory("sunglasses")
    assert anchor.place(face, rgba.shape[:2])[1::2] == (50.0, 80.0)  # centred, one box wide


def test_a_users_rgba_file_is_an_accessory(tmp_path):
    rgba = np.zeros((10, 20, 4), np.uint8)
    rgba[2:8, 3:17] = (200, 10, 10, 255)
    PIL.Image.fromarray(rgba).save(tmp_path / "star.png")
    loaded, anchor = load_accessory(tmp_path / "star.png")
    assert np.array_equal(loaded, rgba) and anchor == load_accessory("sunglasses").anchor
    assert load_accessory(str(tmp_path / "star.png"), anchor="hat").anchor == load_accessory("hat").anchor
    assert load_accessory(tmp_path / "star.png", anchor=(0.1, 0.5, 2.0, 1.0)).anchor == Anchor(0.1, 0.5, 2.0, 1.0)
    PIL.Image.fromarray(rgba[..., 3]).convert("LA").save(tmp_path / "gray.png")
    assert load_accessory(tmp_path / "gray.png").rgba.shape == (10, 20, 4)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda p: load_accessory("monocle"),
            ValueError,
            r"'monocle' is neither a shipped accessory \['sunglasses', 'hat', 'mask'\]",
        ),
        (lambda p: load_accessory(p / "rgb.png"), ValueError, r"rgb.png' has no alpha channel \(mode 'RGB'\)"),
        (lambda p: load_accessory(p / "clear.png"), ValueError, "transparent everywhere"),
        (lambda p: load_accessory(p / "junk.png"), ValueError, "junk.png' is not a readable image"),
        (lambda p: load_accessory(3), TypeError, "accessory: expected a name"),
        (lambda p: load_accessory("hat", anchor="cape"), ValueError, "anchor: unknown accessory 'cape'"),
        (lambda p: load_accessory("hat", anchor=(0, 0, -1, 0.5)), ValueError, "width > 0"),
        (
            lambda p: load_accessory(Accessory(np.zeros((4, 4, 3), np.uint8), Anchor(0, 0, 1, 0))),
            ValueError,
            r"\(H, W, 4\)",
        ),
        (lambda p: TryOn("scarf"), ValueError, "'scarf' is neither a shipped accessory"),
        (lambda p: TryOn(p / "rgb.png"), ValueError, "has no alpha channel"),
        (lambda p: TryOn(p=1.5), ValueError, r"p: expected a probability in \[0, 1\]"),
        (lambda p: TryOn(min_face=0), ValueError, "min_face: expected the smallest face's side"),
        (lambda p: TryOn(harmonizer=Darken(in_channels=5)), ValueError, "in_channels 2 or 4"),
        (lambda p: TryOn(harmonizer=object()), TypeError, "harmonizer: expected a model folder"),
        (
            lambda p: TryOn()(np.zeros((8, 8, 4), np.uint8)),
            ValueError,
            "TryOn image: expected a gray .* got 4 channels",
        ),
        (lambda p: TryOn()(np.zeros((8, 8, 3), np.int32)), ValueError, "expected uint8"),
        (lambda p: detect_faces(np.zeros((8, 8, 2))), ValueError, "C = 1, 3 or 4"),
        (
            lambda p: detect_faces(np.zeros((8, 8)), scale_factor=1.0),
            ValueError,
            "scale_factor: expected a number above 1",
        ),
    ],
)
def test_bad_input_gives_one_clear_error(tmp_path, call, error, match):
    PIL.Image.new("RGB", (4, 4)).save(tmp_path / "rgb.png")
    PIL.Image.new("RGBA", (4, 4), (9, 9, 9, 0)).save(tmp_path / "clear.png")
    (tmp_path / "junk.png").write_bytes(b"not a png")
    with pytest.raises(error, match=match):
        call(tmp_path)


def test_a_model_of_another_task_is_refused_as_harmonizer(digits):
    import genaug

    with pytest.raises(ValueError, match="harmonizer: expected a 'harmonize' image-to-image model .* another kind"):
        TryOn(harmonizer=genaug.create("gmm", digits.spec))


def test_a_harmonizer_of_other_channels_than_the_image_is_refused(face):
    with pytest.raises(
        ValueError, match=r"takes 1-channel images plus alpha \(in_channels=2\), the image has 3 channel"
    ):
        TryOn(harmonizer=Darken(in_channels=2))(face)


# ---------------------------------------------------------------------------------------- detection
def test_the_cascade_finds_lfw_faces_and_nothing_on_the_non_faces(lfw):
    assert search_scale(25, 25) == 3 and search_scale(100, 100) == 1 and search_scale(1024, 1024) == 0.375
    found = [detect_faces(lfw[i]) for i in range(10)]
    assert sum(len(boxes) == 1 for boxes in found) >= 7  # 8 of the first 10 today; 83 of all 100 (bench_tryon.py)
    assert all(len(detect_faces(lfw[i])) == 0 for i in range(100, 110))
    for box in (boxes[0] for boxes in found if boxes):  # in the 25 x 25 image's own pixels
        assert isinstance(box, FaceBox) and box.height == box.width and 12 <= box.height <= 25
        assert -1 <= box.row and box.row + box.height <= 26 and -1 <= box.col and box.col + box.width <= 26
    assert detect_faces(lfw[0]) == found[0]  # deterministic
    eight_bit = detect_faces((lfw[0] * 255).round().astype(np.uint8))  # uint8 or float: the same face
    assert len(eight_bit) == 1 and np.allclose(eight_bit[0], found[0][0], atol=1)
    assert len(detect_faces(np.repeat(lfw[0][..., None], 3, axis=2))) == 1  # colour: BT.601 gray


def test_a_large_photo_is_searched_downscaled_and_its_box_mapped_back():
    boxes = detect_faces(skimage_data.astronaut())  # 512 x 512, searched at 384 x 384
    assert len(boxes) == 1
    row, col, height, width = boxes[0]
    assert 40 < row < 100 and 140 < col < 200 and 80 < height == width < 130  # the face, in the photo's pixels


def test_overlapping_detections_are_merged_into_one_box_per_face():
    big, inner, apart = FaceBox(0, 0, 20, 20), FaceBox(6, 6, 12, 12), FaceBox(0, 40, 20, 20)
    assert _merge([inner, apart, big]) == [big, apart]


# ---------------------------------------------------------------------------------------- the core
@pytest.mark.parametrize("name", ACCESSORIES)
def test_pixels_change_only_under_the_accessory(face, name):
    image = torch.from_numpy(face).permute(2, 0, 1).float() / 255
    boxes = detect_faces(face)
    out, alpha = try_on(image, name, boxes)
    assert alpha.shape == (50, 50) and (alpha > 0).sum() > 20
    assert torch.equal(out[:, alpha == 0], image[:, alpha == 0])  # exactly the input outside
    assert (out != image).any(dim=0)[alpha > 0.5].float().mean() > 0.9  # changed inside
    dressed = TryOn(name)(face)
    outside = (alpha == 0).numpy()
    assert np.array_equal(dressed[outside], face[outside]) and not np.array_equal(dressed, face)


def test_float64_and_other_value_ranges_keep_the_input_exactly_outside(face):
    wide = face.astype(np.float64) / 255 * 2 - 1 + 1e-9  # values no float32 round trip returns exactly
    out = TryOn("mask", value_range=(-1, 1))(wide)
    unit = read_image(wide, float_range=(-1, 1))[0][0]  # as TryOn reads it
    alpha = try_on(unit, "mask", detect_faces(unit.permute(1, 2, 0).numpy()))[1]
    assert out.dtype == np.float64 and np.array_equal(out[(alpha == 0).numpy()], wide[(alpha == 0).numpy()])
    assert not np.array_equal(out, wide) and -1 <= out.min() and out.max() <= 1


def test_gray_images_get_a_gray_accessory(face):
    gray = face[..., 0].copy()
    out = TryOn("sunglasses")(gray)
    assert out.shape == gray.shape and out.dtype == np.uint8 and not np.array_equal(out, gray)
    colour = TryOn("sunglasses")(face)
    luma = np.rint(colour.astype(np.float64) @ [0.299, 0.587, 0.114])
    assert np.abs(luma - out).max() <= 2  # the colour result's gray, up to rounding


def test_an_image_without_a_face_passes_unchanged_and_is_counted(face):
    tryon = TryOn("hat")
    blank = np.full((40, 40, 3), 128, np.uint8)
    assert tryon(blank) is blank
    out, label = tryon(face, 4)
    assert label == 4 and out is not face
    assert TryOn("hat", p=0.0)(face) is face
    assert tryon.report() == {"seen": 2, "tried": 2, "changed": 1, "faces": 1}
    assert (tryon.seen, tryon.changed) == (2, 1)


def test_overlapping_accessories_stack(face):
    image = torch.from_numpy(face).permute(2, 0, 1).float() / 255
    boxes = detect_faces(face)
    both, alpha = try_on(image, "sunglasses", boxes * 2)
    _, alpha_one = try_on(image, "sunglasses", boxes)
    assert (alpha >= alpha_one).all() and torch.equal(both[:, alpha == 0], image[:, alpha == 0])


# ---------------------------------------------------------------------------------------- every input type
def forms(face: np.ndarray) -> dict[str, object]:
    chw = torch.from_numpy(face).permute(2, 0, 1).contiguous()
    return {
        "tensor-uint8": chw.clone(),
        "tensor-float": chw.float() / 255,
        "tensor-gray-hw": chw[0].float() / 255,
        "tensor-batch": torch.stack([chw, torch.full_like(chw, 128)]),
        "tv-image": tv_tensors.Image(chw.clone()),
        "pil-rgb": PIL.Image.fromarray(face),
        "pil-gray": PIL.Image.fromarray(face[..., 0]),
        "numpy-uint8": face.copy(),
        "numpy-float32": face.astype(np.float32) / 255,
        "numpy-gray-hw1": face[..., :1].copy(),
    }


@pytest.mark.parametrize("kind", list(forms(np.zeros((2, 2, 3), np.uint8))))
def test_every_input_type_keeps_its_container_dtype_and_layout(face, kind):
    image = forms(face)[kind]
    tryon = TryOn("sunglasses")
    out = tryon(image)
    assert type(out) is type(image)
    if isinstance(image, PIL.Image.Image):
        assert out.mode == image.mode and out.size == image.size
        before, after = np.asarray(image), np.asarray(out)
    else:
        assert out.dtype == image.dtype and out.shape == image.shape
        before, after = np.asarray(image), np.asarray(out)
    assert not np.array_equal(before, after)
    if kind == "tensor-batch":
        assert torch.equal(out[1], image[1]) and tryon.report() == {"seen": 2, "tried": 2, "changed": 1, "faces": 1}


# ---------------------------------------------------------------------------------------- harmonizer
def test_a_harmonizer_reworks_only_the_pasted_pixels(face):
    image = torch.from_numpy(face).permute(2, 0, 1).float() / 255
    boxes = detect_faces(face)
    plain, alpha = try_on(image, "mask", boxes)
    dark, _ = try_on(image, "mask", boxes, Darken())
    assert torch.allclose(dark[:, alpha > 0], plain[:, alpha > 0] * 0.5)
    greedy = Darken(everywhere=True)  # breaks its promise: changes every pixel it is given
    out = TryOn("mask", harmonizer=greedy)(face)
    outside = (alpha == 0).numpy()
    assert greedy.calls == 1 and np.array_equal(out[outside], face[outside])
    assert (out[~outside].astype(int) <= np.asarray(TryOn("mask")(face))[~outside].astype(int) + 1).all()


def test_a_fitted_harmonize_model_blends_the_accessory(face, tmp_path):
    import genaug
    from genaug.data.images import image_patches, read_images
    from genaug.data.pairs import TASKS, make_pairs

    if "harmonize" not in TASKS:
        pytest.skip("the harmonize task is not in genaug.data.pairs yet")
    torch.manual_seed(0)
    patches = image_patches(read_images("photos:china"), size=16, count=32)
    model = genaug.fit(
        make_pairs(patches, "harmonize"), "rescnn", steps=3, channels=8, blocks=1, train={"progress": False}
    )
    model.save_pretrained(tmp_path / "harmonizer")
    tryon = TryOn("sunglasses", harmonizer=tmp_path / "harmonizer")
    out = tryon(face)
    alpha = try_on(torch.from_numpy(face).permute(2, 0, 1).float() / 255, "sunglasses", detect_faces(face))[1]
    outside = (alpha == 0).numpy()
    assert np.array_equal(out[outside], face[outside]) and not np.array_equal(out[~outside], face[~outside])
    assert len(pickle.dumps(tryon)) < 100_000  # the harmonizer travels as its folder
    assert np.array_equal(pickle.loads(pickle.dumps(tryon))(face), out)
    with pytest.raises(ValueError, match="takes 3-channel images plus alpha"):
        tryon(face[..., 0])


# ---------------------------------------------------------------------------------------- pipelines
def test_inside_v2_compose_with_real_transforms(face):
    pipeline = v2.Compose(
        [v2.ToImage(), TryOn("hat"), v2.RandomHorizontalFlip(p=1.0), v2.ToDtype(torch.float32, scale=True)]
    )
    boxes = tv_tensors.BoundingBoxes([[5, 5, 20, 20]], format="XYXY", canvas_size=(50, 50))
    image, target = pipeline(PIL.Image.fromarray(face), {"boxes": boxes, "label": 3})
    assert type(image) is tv_tensors.Image and image.shape == (3, 50, 50) and image.dtype == torch.float32
    assert target["label"] == 3 and target["boxes"].tolist() == [[30, 5, 45, 20]]  # flipped by v2, untouched by TryOn
    plain = v2.Compose([v2.ToImage(), v2.RandomHorizontalFlip(p=1.0), v2.ToDtype(torch.float32, scale=True)])
    assert not torch.equal(image, plain(PIL.Image.fromarray(face)))


def test_inside_albumentations_compose_with_real_transforms(face, tmp_path):
    mask = np.zeros((50, 50), np.uint8)
    mask[10:40, 10:40] = 1
    tryon = GA.TryOn("sunglasses")
    pipeline = A.Compose(
        [tryon, A.HorizontalFlip(p=1.0)],
        bbox_params=A.BboxParams(format="pascal_voc", label_fields=["classes"]),
        seed=0,
    )
    out = pipeline(image=face, mask=mask, bboxes=[[5, 5, 20, 20]], classes=[1], label=2)
    assert out["image"].shape == face.shape and out["image"].dtype == np.uint8 and out["label"] == 2
    assert np.array_equal(out["mask"], mask[:, ::-1]) and np.allclose(out["bboxes"], [[30, 5, 45, 20]])
    assert np.array_equal(out["image"][:, ::-1], TryOn("sunglasses")(face))  # the torchvision transform's work
    assert tryon.report() == {"seen": 1, "tried": 1, "changed": 1, "faces": 1} and tryon.changed == 1
    gray = A.Compose([GA.TryOn("mask")], seed=0)(image=face[..., 0].astype(np.float32) / 255)["image"]
    assert gray.shape == (50, 50) and gray.dtype == np.float32
    half = A.Compose([GA.TryOn("hat", p=0.5), GA.TryOn("mask", p=0.5)], seed=3)
    restored = A.from_dict(A.to_dict(half))
    restored.set_random_seed(3)  # albumentations 2.0.8 does not serialize the seed
    outs = [half(image=face)["image"] for _ in range(6)]
    assert all(np.array_equal(a, restored(image=face)["image"]) for a in outs)
    assert len({a.tobytes() for a in outs}) > 1  # p decides, from albumentations' own stream
    with pytest.raises(ValueError, match="cannot serialize an accessory held in memory"):
        A.to_dict(A.Compose([GA.TryOn(load_accessory("hat"))]))
    with pytest.raises(ValueError, match="takes one image= per call"):
        tryon(image=face, images=[face])


class Faces(Dataset):
    """(image, label): a face and a blank image in turn, through a transform."""

    def __init__(self, face: np.ndarray, transform) -> None:
        self.face, self.transform = torch.from_numpy(face).permute(2, 0, 1).contiguous(), transform

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int):
        image = self.face if i % 2 == 0 else torch.full_like(self.face, 128)
        return self.transform(image), i


def test_tryon_pickles_and_runs_in_two_dataloader_workers(face):
    tryon = TryOn("sunglasses")
    assert np.array_equal(pickle.loads(pickle.dumps(tryon))(face), tryon(face))
    pipeline = v2.Compose([tryon, v2.RandomHorizontalFlip(), v2.ToDtype(torch.float32, scale=True)])
    loader = DataLoader(Faces(face, pipeline), batch_size=4, num_workers=2)
    batches = list(loader)
    assert [tuple(x.shape) for x, _ in batches] == [(4, 3, 50, 50)] * 2
    blank = torch.full((3, 50, 50), 128 / 255)
    for x, labels in batches:
        assert all(
            torch.allclose(x[k], blank) != (int(labels[k]) % 2 == 0) for k in range(4)
        )  # faces changed, blanks not
    assert tryon.report() == {
        "seen": 1,
        "tried": 1,
        "changed": 1,
        "faces": 1,
    }  # the workers counted in their own copies


# ---------------------------------------------------------------------------------------- CLI
def test_cli_applies_a_tryon_to_a_folder_and_writes_a_contact_sheet(face, tmp_path, capsys):
    (tmp_path / "in" / "deep").mkdir(parents=True)
    PIL.Image.fromarray(face).save(tmp_path / "in" / "a.png")
    PIL.Image.fromarray(face[..., 0]).save(tmp_path / "in" / "deep" / "b.png")
    PIL.Image.new("RGB", (30, 20), (90, 90, 90)).save(tmp_path / "in" / "c.jpg")
    assert main(["apply", "--tryon", "sunglasses", str(tmp_path / "in"), "--out", str(tmp_path / "out")]) == 0
    assert "changed 2 of 3 image(s)" in capsys.readouterr().out
    a, b = (
        np.asarray(PIL.Image.open(tmp_path / "out" / "a.png")),
        np.asarray(PIL.Image.open(tmp_path / "out" / "deep" / "b.png")),
    )
    assert np.array_equal(a, TryOn("sunglasses")(face)) and b.shape == (50, 50) and not np.array_equal(b, face[..., 0])
    assert PIL.Image.open(tmp_path / "out" / "c.jpg").size == (30, 20)
    sheet = PIL.Image.open(tmp_path / "out" / "contact_sheet.png")
    assert sheet.size[0] > 6 * 128 and sheet.size[1] > 128  # three pairs, input beside output
    assert main(["apply", "--tryon", "mask", str(tmp_path / "in" / "a.png"), "--out", str(tmp_path / "one")]) == 0
    assert (tmp_path / "one" / "a.png").is_file() and (tmp_path / "one" / "contact_sheet.png").is_file()


@pytest.mark.parametrize(
    "argv, match",
    [
        (["apply", "--tryon", "scarf", "{in}", "--out", "{out}"], "accessory: 'scarf' is neither a shipped accessory"),
        (["apply", "--tryon", "hat", "{in}", "--out", "{in}"], "would overwrite the input images"),
        (["apply", "--tryon", "hat", "{in}", "--out", "{in}/a.png"], "is a file; --tryon needs an output folder"),
        (["apply", "--tryon", "hat", "{in}/nothing", "--out", "{out}"], "input: no such image file or folder"),
        (["apply", "{in}", "{in}", "--tryon", "hat", "--out", "{out}"], "is not taken with --tryon"),
        (["apply", "{in}", "--harmonizer", "{in}", "--out", "{out}"], "--harmonizer: .* taken only with --tryon"),
        (["apply", "{in}", "--out", "{out}"], "model: expected MODEL INPUT"),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(face, tmp_path, capsys, argv, match):
    (tmp_path / "in").mkdir()
    PIL.Image.fromarray(face).save(tmp_path / "in" / "a.png")
    args = [a.format(**{"in": tmp_path / "in", "out": tmp_path / "out"}) for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("genaug apply: error: ")
    assert __import__("re").search(match, err), err
