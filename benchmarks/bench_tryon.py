"""Virtual try-on (issue 20): face detection on scikit-image's lfw_subset, and the time per image of `TryOn`.

- Detection (acceptance 3): `genaug.data.facedetect.detect_faces` on the 100 faces and 100 non-faces
  of ``skimage.data.lfw_subset()`` (25 x 25, gray): an image counts as found when it gives at least
  one box. At 25 x 25 the images are upsampled inside (bicubic, x3: `search_scale`); the rows at
  50 and 100 pixels are the same images upsampled beforehand by the caller (bicubic, uint8), which
  the detector then takes as they are (the 50-pixel ones upsampled again, x2).
- Time per image (acceptance 4): `TryOn("sunglasses")` called on one image at a time (detection,
  placement, compositing, conversion back) on one torch thread, as a DataLoader worker runs it, on
  the 100 faces at 25 x 25 (gray uint8) and upsampled to 128 x 128 (RGB uint8), the mean over the
  100; then the throughput of a DataLoader with ``--workers`` workers (default 2: 2 CPU cores) over
  the 128 x 128 faces, worker start-up included. With ``--harmonizer MODEL`` (a ``harmonize`` model
  folder) each is measured with that harmonizer too.
- Harmonization on faces (acceptance 3, last part; ``--harmonize-faces``): a ``harmonize`` rescnn
  fitted with its defaults on pairs made from faces 0-49 of the set (upsampled to ``--face-size``,
  bicubic) and scored on faces 50-99. A drawn accessory on a face has no real counterpart to compare
  with, so the held-out composite is built the way the harmonization literature does (iHarmony4,
  DoveNet): the region an accessory covers, placed by `TryOn`'s own detector and geometry, is cut from
  the real face and re-lit (`genaug.data.pairs.relight`, ``--relights`` draws per face and accessory);
  the real face is the truth. Harmonized (`TryOn`'s own blending code with the model) and the plain
  composite are compared with it inside the region (fMSE, 0..255 values, lower is closer) and over the
  accessory's box grown by half its size (SSIM, a perceptual similarity; higher is closer).

    python benchmarks/bench_tryon.py [--harmonizer runs/harmonize] [--workers 2] [--harmonize-faces] [--write]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from genaug.data.facedetect import detect_faces, search_scale
from genaug.transforms import TryOn

try:
    from _report import command, machine, write_section
except ImportError:  # run as a module
    from benchmarks._report import command, machine, write_section


def _lfw() -> np.ndarray:
    import skimage.data

    return np.rint(skimage.data.lfw_subset() * 255).astype(np.uint8)  # (200, 25, 25): 100 faces, then 100 non-faces


def _resized(images: np.ndarray, size: int) -> list[np.ndarray]:
    return [np.asarray(Image.fromarray(a).resize((size, size), Image.Resampling.BICUBIC)) for a in images]


def detection(images: np.ndarray) -> list[str]:
    lines = [
        "| input size | resized inside (`search_scale`) | faces found (of 100) | non-faces with a detection (of 100) | ms per image |",
        "|---|---|---|---|---|",
    ]
    for size in (25, 50, 100):
        batch = list(images) if size == 25 else _resized(images, size)
        start = time.perf_counter()
        found = np.array([len(detect_faces(a)) > 0 for a in batch])
        ms = (time.perf_counter() - start) / len(batch) * 1000
        lines.append(
            f"| {size} x {size} | x{search_scale(size, size):g} | {found[:100].sum()} | {found[100:].sum()} | {ms:.1f} |"
        )
        print(lines[-1], flush=True)
    return lines


def _time(tryon: TryOn, batch: list[np.ndarray]) -> float:
    """Milliseconds per image, one call per image (the cascade and the harmonizer loaded beforehand)."""
    start = time.perf_counter()
    for a in batch:
        tryon(a)
    return (time.perf_counter() - start) / len(batch) * 1000


def speed(faces: list[np.ndarray], harmonizer: Path | None) -> list[str]:
    """One image per call on one thread, as in a DataLoader worker (torch gives each worker one thread)."""
    torch.set_num_threads(1)
    sizes = {
        "25 x 25 gray": faces,
        "128 x 128 RGB": [np.repeat(a[..., None], 3, axis=2) for a in _resized(np.stack(faces), 128)],
    }
    detect_faces(faces[0])  # loads the cascade
    lines = ["| images | blending | ms per image (1 thread) | images changed (of 100) |", "|---|---|---|---|"]
    for name, batch in sizes.items():
        for blending, model in [("alpha compositing", None)] + (
            [(f"harmonizer `{harmonizer}`", harmonizer)] if harmonizer else []
        ):
            tryon = TryOn("sunglasses", harmonizer=model)
            if model is not None and tryon.harmonizer_model.in_channels != (1 if batch[0].ndim == 2 else 3) + 1:
                continue  # a colour harmonizer takes colour images only
            ms = _time(tryon, batch)
            lines.append(f"| {name} | {blending} | {ms:.2f} | {tryon.report()['changed']} |")
            print(lines[-1], flush=True)
    return lines


class _Faces(Dataset):
    """The faces as (3, size, size) uint8 tensors through a transform, ``repeat`` times over."""

    def __init__(self, faces: list[np.ndarray], size: int, transform: TryOn, repeat: int) -> None:
        rgb = [np.repeat(a[..., None], 3, axis=2) for a in _resized(np.stack(faces), size)]
        self.images = [torch.from_numpy(a).permute(2, 0, 1).contiguous() for a in rgb]
        self.transform, self.repeat = transform, repeat

    def __len__(self) -> int:
        return len(self.images) * self.repeat

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.transform(self.images[i % len(self.images)])


def loader(faces: list[np.ndarray], harmonizer: Path | None, workers: int) -> list[str]:
    """Images per second through a DataLoader with ``workers`` worker processes (their start included)."""
    lines = ["| images | blending | DataLoader workers | images per second | ms per image |", "|---|---|---|---|---|"]
    for blending, model in [("alpha compositing", None)] + (
        [(f"harmonizer `{harmonizer}`", harmonizer)] if harmonizer else []
    ):
        tryon = TryOn("sunglasses", harmonizer=model)
        if model is not None and tryon.harmonizer_model.in_channels != 4:
            continue
        data = _Faces(faces, 128, tryon, repeat=2)
        start = time.perf_counter()
        n = sum(len(x) for x in DataLoader(data, batch_size=16, num_workers=workers))
        seconds = time.perf_counter() - start
        lines.append(f"| {n} x 128 x 128 RGB | {blending} | {workers} | {n / seconds:.0f} | {seconds / n * 1000:.2f} |")
        print(lines[-1], flush=True)
    return lines


def harmonize_faces(images: np.ndarray, size: int, relights: int, seed: int) -> list[str]:
    """Fit a harmonizer on faces 0-49 (upsampled), score it on re-lit accessory regions of faces 50-99."""
    from torchmetrics.functional.image import structural_similarity_index_measure as ssim

    import genaug
    from genaug.data.images import NamedImage
    from genaug.data.pairs import relight, task_data
    from genaug.evaluate.image2image import fmse
    from genaug.transforms._tryon import _harmonize, context_window, try_on

    faces = _resized(images[:100], size)
    train = [NamedImage(f"face{i}", a) for i, a in enumerate(faces[:50])]
    data = task_data(train, "harmonize", size=min(64, size), seed=seed)
    start = time.perf_counter()
    model = genaug.fit(data, "rescnn", seed=seed, train={"progress": False, "checkpoint_every": 0})
    fit_s = time.perf_counter() - start
    rows, skipped = {}, 0
    generator = torch.Generator().manual_seed(seed)
    for index, face in enumerate(faces[50:], start=50):
        boxes = detect_faces(face)
        if not boxes:
            skipped += 1
            continue
        truth = torch.tensor(face, dtype=torch.float32)[None] / 255
        for accessory in ("sunglasses", "hat", "mask"):
            alpha = try_on(truth, accessory, boxes)[1][None]  # (1, H, W)
            if not (alpha > 0).any():
                continue
            box = context_window(alpha)  # the window the harmonizer sees
            for _ in range(relights):
                composite = alpha * relight(truth[None], generator=generator)[0] + (1 - alpha) * truth
                composite = torch.round(composite * 255) / 255
                harmonized = _harmonize(model, composite, alpha)
                row = rows.setdefault(accessory, {"n": 0, "fmse": 0.0, "composite_fmse": 0.0, "ssim": 0.0, "composite_ssim": 0.0})
                row["n"] += 1
                for key, out in (("", harmonized), ("composite_", composite)):
                    row[key + "fmse"] += fmse(out, truth, alpha)
                    row[key + "ssim"] += float(ssim(out[box][None], truth[box][None], data_range=1.0))
    lines = [
        f"**Harmonization on faces** (`--harmonize-faces`): `rescnn` harmonize model, defaults, fitted on {len(data)} patches of "
        f"{min(64, size)} x {min(64, size)} cut from faces 0-49 upsampled to {size} x {size} (fit {fit_s:.0f} s); scored on faces "
        f"50-99 at {size} x {size} ({50 - skipped} with a detected face), each accessory's region re-lit {relights} times:",
        "",
        "| accessory | composites | fMSE harmonized | fMSE plain compositing | ratio | SSIM harmonized | SSIM plain compositing |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    total = {"n": 0, "fmse": 0.0, "composite_fmse": 0.0, "ssim": 0.0, "composite_ssim": 0.0}
    for accessory, row in [*rows.items(), ("all", total)]:
        if accessory != "all":
            for k in total:
                total[k] += row[k]
        n = row["n"]
        lines.append(
            f"| {accessory} | {n} | {row['fmse'] / n:.1f} | {row['composite_fmse'] / n:.1f} | {row['fmse'] / row['composite_fmse']:.2f}x "
            f"| {row['ssim'] / n:.4f} | {row['composite_ssim'] / n:.4f} |"
        )
    closer = total["fmse"] < total["composite_fmse"] and total["ssim"] > total["composite_ssim"]
    lines += [
        "",
        f"Harmonized closer to the real face than plain compositing by both measures: **{'yes' if closer else 'no'}**.",
    ]
    print("\n".join(lines), flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--harmonizer", type=Path, default=None, help="a harmonize model folder to time as well")
    parser.add_argument(
        "--workers", type=int, default=2, help="DataLoader workers (default 2: the 2 CPU cores of the goal)"
    )
    parser.add_argument("--harmonize-faces", action="store_true", help="only fit and score a harmonizer on the faces")
    parser.add_argument("--face-size", type=int, default=100, help="--harmonize-faces: the faces' side after upsampling")
    parser.add_argument("--relights", type=int, default=4, help="--harmonize-faces: re-lit composites per face and accessory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    args = parser.parse_args()
    images = _lfw()
    if args.harmonize_faces:
        body = [f"Command: `{command()}`", "", f"Machine: {machine()}.", "", *harmonize_faces(images, args.face_size, args.relights, args.seed)]
        if args.write:
            write_section("tryon-harmonize-faces", "\n".join(body))
        return
    faces = list(images[:100])
    body = [
        f"Command: `{command()}`",
        "",
        f"Machine: {machine()}.",
        "",
        (
            "**Detection** (scikit-image's LBP frontal-face cascade, `genaug.data.facedetect.detect_faces` defaults) on "
            "scikit-image's `lfw_subset`; goal: at least 65 of the 100 faces, none of the 100 non-faces:"
        ),
        "",
        *detection(images),
        "",
        '**`TryOn("sunglasses")`**, one image per call on one thread (as in a DataLoader worker), mean over the 100 faces:',
        "",
        *speed(faces, args.harmonizer),
        "",
        f"**In a DataLoader** with {args.workers} workers (one thread each), the 100 faces twice, batches of 16:",
        "",
        *loader(faces, args.harmonizer, args.workers),
    ]
    if args.write:
        write_section("tryon", "\n".join(body))


if __name__ == "__main__":
    main()
