"""Image-to-image models on the photos that ship inside scikit-learn and scikit-image (issue 19).

Held out by photo: the models are fitted on patches of five photos (china, flower, astronaut,
rocket, motorcycle) and scored on two others, whole (chelsea, coffee). Every fit uses the family's
defaults and `genaug.data.pairs.task_data` (4,000 patches: 64 x 64, superres 32 x scale; as
``genaug fit --task`` does).

- ``superres``: per held-out photo, PSNR and SSIM on luminance (Y of BT.601 YCbCr, ``scale`` border
  pixels cropped) of the model's output and of bicubic upsampling of the same low-resolution input
  (acceptance 1: the best model beats bicubic by 1.5 dB at x2 and 1.0 dB at x4, with higher SSIM).
- ``colorize``: colour-channel (Cb, Cr) PSNR against copying the gray input, colourfulness (Hasler &
  Suesstrunk) of the outputs and of the truth, and the mean absolute difference of two seeds' outputs
  (acceptance 2).
- ``translate``: cyclegan between two textures, grass (A) and brick (B), fitted on the left 320
  columns of each and scored on the right 192 (acceptance 3: Frechet distance of translated A->B to
  real B at most half of A's own, in the features of a classifier trained to tell A from B patches),
  with the cycle-reconstruction PSNR.
- ``harmonize`` (issue 20, what `TryOn` blends accessories with): rescnn fitted on re-lit-region pairs of
  the five training photos, scored on 16 re-lit patches of each held-out photo: the error inside the
  region (fMSE, 0..255 values) and the PSNR of the harmonized patch against the real one, next to the
  composite's (plain compositing).

Also the wall time of each default fit (acceptance 5: within 10 minutes on 2 CPU cores) and the time
per 64 x 64 image through `ImageToImage.apply`, one image at a time and in batches of 32
(acceptance 4). Strips (input, output, truth, bicubic) go to ``--out``.

    python benchmarks/bench_image2image.py --tasks superres colorize translate harmonize [--families rescnn palette] [--write]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import genaug
from genaug.data.images import NamedImage, read_images
from genaug.data.pairs import task_data
from genaug.evaluate.image2image import evaluate_colorize, evaluate_harmonize, evaluate_superres, evaluate_translate, save_strips

try:
    from _report import command, machine, write_section
except ImportError:  # run as a module
    from benchmarks._report import command, machine, write_section

TRAIN = "photos:china,flower,astronaut,rocket,motorcycle"
HELD_OUT = "photos:chelsea,coffee"


def _fit(data: genaug.ArraySet, family: str, seed: int) -> tuple[genaug.Generator, float]:
    start = time.perf_counter()
    model = genaug.fit(data, family, seed=seed, train={"progress": False, "checkpoint_every": 0})
    return model, time.perf_counter() - start


def _speed(model: genaug.Generator, seed: int) -> tuple[float, float]:
    """Seconds per 64x64 output image, one at a time (16 calls) and in a batch of 32."""
    size = 64 // model.scale
    x = torch.randint(0, 256, (32, model.in_channels, size, size), dtype=torch.uint8)
    g = torch.Generator().manual_seed(seed)
    model.apply(x[:1], generator=g)  # warm-up
    start = time.perf_counter()
    for i in range(16):
        model.apply(x[i : i + 1], generator=g)
    single = (time.perf_counter() - start) / 16
    start = time.perf_counter()
    model.apply(x, generator=g, batch_size=32)
    return single, (time.perf_counter() - start) / 32


def _fmt(rows: list[dict], keys: list[str]) -> list[str]:
    lines = ["| photo | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for r in rows:
        lines.append(f"| {r['image']} | " + " | ".join(f"{r[k]:.3f}" if "ssim" in k else f"{r[k]:.2f}" for k in keys) + " |")
    return lines


def superres(families: list[str], scales: list[int], seed: int, out: Path) -> list[str]:
    train, held_out = read_images(TRAIN), read_images(HELD_OUT)
    lines = []
    for scale in scales:
        data = task_data(train, "superres", scale=scale, seed=seed)
        for family in families:
            model, seconds = _fit(data, family, seed)
            report = evaluate_superres(model, held_out, seed=seed)
            single, batched = _speed(model, seed)
            save_strips(model, held_out, out / f"superres-x{scale}-{family}.png")
            m = report["mean"]
            extra = []
            if family == "rescnn":
                ensemble = evaluate_superres(model, held_out, seed=seed, self_ensemble=True)["mean"]
                extra = [f"With `self_ensemble=True` (8 flips/rotations averaged): PSNR-Y {ensemble['psnr']:.2f} dB "
                         f"(**{ensemble['psnr'] - m['bicubic_psnr']:+.2f} dB** over bicubic), SSIM {ensemble['ssim']:.4f}.", ""]
            lines += [
                f"**x{scale}, `{family}`** ({len(data)} patches of {data.spec.shape[1]}x{data.spec.shape[2]}; fit {seconds:.0f} s; "
                f"{single * 1000:.1f} ms per 64x64 output one at a time, {batched * 1000:.1f} ms in batches of 32): "
                f"PSNR-Y {m['psnr']:.2f} dB vs bicubic {m['bicubic_psnr']:.2f} (**{m['psnr'] - m['bicubic_psnr']:+.2f} dB**), "
                f"SSIM {m['ssim']:.4f} vs {m['bicubic_ssim']:.4f}.",
                "",
                *_fmt(report["rows"] + [m], ["psnr", "bicubic_psnr", "ssim", "bicubic_ssim"]),
                "",
                *extra,
            ]
            print("\n".join(lines[-len(report["rows"]) - 8 :]), flush=True)
    return lines


def colorize(families: list[str], seed: int, out: Path) -> list[str]:
    train, held_out = read_images(TRAIN), read_images(HELD_OUT)
    data = task_data(train, "colorize", seed=seed)
    lines = []
    for family in families:
        model, seconds = _fit(data, family, seed)
        report = evaluate_colorize(model, held_out, seeds=(seed, seed + 1))
        single, batched = _speed(model, seed)
        save_strips(model, held_out, out / f"colorize-{family}.png")
        m = report["mean"]
        lines += [
            f"**`{family}`** (fit {seconds:.0f} s; {single * 1000:.1f} ms per 64x64 image one at a time, {batched * 1000:.1f} ms in batches "
            f"of 32): colour PSNR {m['chroma_psnr']:.2f} dB vs {m['gray_chroma_psnr']:.2f} for the gray copy; colourfulness "
            f"{m['colourfulness']:.1f} (truth {m['true_colourfulness']:.1f}); two seeds differ by {m['seed_difference']:.2f} / 255 on average.",
            "",
            *_fmt(report["rows"] + [m], ["chroma_psnr", "gray_chroma_psnr", "colourfulness", "true_colourfulness", "seed_difference"]),
            "",
        ]
        print("\n".join(lines[-len(report["rows"]) - 6 :]), flush=True)
    return lines


def translate(seed: int, out: Path) -> list[str]:
    a, b = read_images("textures:grass")[0], read_images("textures:brick")[0]

    def part(image: NamedImage, train: bool) -> NamedImage:
        return NamedImage(image.name, image.array[:, :320] if train else image.array[:, 320:])

    data = task_data([part(a, True)], "translate", source_b=[part(b, True)], seed=seed)
    model, seconds = _fit(data, "cyclegan", seed)
    report = evaluate_translate(model, [part(a, False)], [part(b, False)], seed=seed)
    single, batched = _speed(model, seed)
    save_strips(model, [part(a, False)], out / "translate-cyclegan.png")
    r = report
    lines = [
        f"**`cyclegan`**, grass (A) -> brick (B) ({len(data)} patches; fit {seconds:.0f} s; {single * 1000:.1f} ms per 64x64 image one at a "
        f"time, {batched * 1000:.1f} ms in batches of 32), on {r['patches']} held-out patches per domain:",
        "",
        "| Frechet distance to real B | value |",
        "|---|---|",
        f"| translated A -> B | {r['frechet_translated_to_b']:.2f} |",
        f"| A itself | {r['frechet_a_to_b']:.2f} |",
        f"| two halves of real B (the floor) | {r['frechet_b_halves']:.2f} |",
        "",
        f"Ratio translated / A: **{r['frechet_translated_to_b'] / r['frechet_a_to_b']:.3f}** (goal <= 0.5). The domain classifier "
        f"({r['domain_classifier_val_accuracy']:.3f} held-out accuracy) calls {r['translated_classified_b']:.1%} of the translated patches B. "
        f"Cycle reconstruction A -> B -> A: {r['cycle_psnr']:.2f} dB PSNR.",
        "",
    ]
    print("\n".join(lines), flush=True)
    return lines


def harmonize(seed: int) -> list[str]:
    data = task_data(read_images(TRAIN), "harmonize", seed=seed)
    model, seconds = _fit(data, "rescnn", seed)
    report = evaluate_harmonize(model, read_images(HELD_OUT), seed=seed)
    single, batched = _speed(model, seed)
    m = report["mean"]
    lines = [
        f"**`rescnn`, harmonize** ({len(data)} patches of 64x64; fit {seconds:.0f} s; {single * 1000:.1f} ms per 64x64 image one at a "
        f"time, {batched * 1000:.1f} ms in batches of 32): error inside the re-lit region (fMSE) {m['fmse']:.1f} vs "
        f"{m['composite_fmse']:.1f} for plain compositing (**{m['fmse'] / m['composite_fmse']:.2f}x**); PSNR {m['psnr']:.2f} dB vs "
        f"{m['composite_psnr']:.2f}.",
        "",
        *_fmt(report["rows"] + [m], ["fmse", "composite_fmse", "psnr", "composite_psnr"]),
        "",
    ]
    print("\n".join(lines), flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    tasks = ["superres", "colorize", "translate", "harmonize"]
    parser.add_argument("--tasks", nargs="+", default=tasks, choices=tasks)
    parser.add_argument("--families", nargs="+", default=["rescnn"], help="superres and colorize families (default rescnn)")
    parser.add_argument("--scales", nargs="+", type=int, default=[2, 4])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-image2image"), help="strip PNGs (not committed)")
    parser.add_argument("--write", action="store_true", help="write the sections into BENCHMARKS.md")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    header = [f"Command: `{command()}`", "", f"Machine: {machine()}.", ""]
    for task in args.tasks:
        if task == "superres":
            for scale in args.scales:  # a section per scale
                body = superres(args.families, [scale], args.seed, args.out)
                if args.write:
                    write_section(f"image2image-superres-x{scale}-" + "-".join(args.families), "\n".join(header + body))
            continue
        if task == "colorize":
            body = colorize(args.families, args.seed, args.out)
        elif task == "harmonize":
            body = harmonize(args.seed)
        else:
            body = translate(args.seed, args.out)
        if args.write:
            name = f"image2image-{task}" + ("" if task in ("translate", "harmonize") else "-" + "-".join(args.families))
            write_section(name, "\n".join(header + body))


if __name__ == "__main__":
    main()
