"""Colorization by `palette` at several sampling settings (issue 19, acceptance 2).

Fits the default colorize `palette` as `bench_image2image.py` does (4,000 patches of the five training
photos, seed 0) and saves it to OUT (or, with ``{"load": true}``, loads it from OUT), then scores each
sampling setting on the held-out photos (chelsea, coffee) with `evaluate_colorize`: colour PSNR,
colourfulness against the truth's, and the difference of two seeds. One JSON line per setting, with
the per-photo colourfulness and colour PSNR.

    python benchmarks/bench_palette_guidance.py '{}' /tmp/pal_guid '[{}, {"guidance": 2.0}, {"guidance": 3.0}]'
    python benchmarks/bench_palette_guidance.py '{"load": true}' /tmp/pal_guid '[{"guidance": 5.0}, {"guidance": 7.0, "eta": 1.0}]'

The first argument holds config fields for the fit, ``train`` (TrainConfig fields), and optionally
``photos`` / ``held_out`` (other photo sets, e.g. a development split that leaves the held-out photos
unused: ``{"photos": "photos:china,flower,rocket", "held_out": "photos:astronaut,motorcycle"}``). Each
setting is applied over ``sample_steps=20, eta=0, guidance=1`` (``{}``: no guidance); ``"tile": N``
colorizes each photo as separate N x N tiles (the size the network trained on) instead of whole.
"""

import json
import sys
import time

import torch

import genaug
from genaug.data.images import NamedImage, read_images
from genaug.data.pairs import task_data
from genaug.evaluate.image2image import evaluate_colorize

try:
    from bench_image2image import HELD_OUT, TRAIN
except ImportError:  # run as a module
    from benchmarks.bench_image2image import HELD_OUT, TRAIN


def tiled(apply, tile: int):
    """``apply`` run on non-overlapping ``tile`` x ``tile`` tiles of each image (the last row and column shifted inside)."""

    def run(gray: torch.Tensor, *, generator: torch.Generator, **kwargs) -> torch.Tensor:
        (n, _, h, w) = gray.shape
        spots = [(min(y, max(h - tile, 0)), min(x, max(w - tile, 0))) for y in range(0, h, tile) for x in range(0, w, tile)]
        out = torch.zeros(n, 3, h, w, dtype=gray.dtype)
        for i in range(n):
            tiles = torch.cat([gray[i : i + 1, :, y : y + tile, x : x + tile] for y, x in spots])
            for (y, x), o in zip(spots, apply(tiles, generator=generator, batch_size=32, **kwargs)):
                out[i, :, y : y + tile, x : x + tile] = o
        return out

    return run


def main() -> None:
    args = json.loads(sys.argv[1])
    out = sys.argv[2]
    settings = json.loads(sys.argv[3]) if len(sys.argv) > 3 else [{}]
    train = args.pop("train", {})
    photos, held_out = args.pop("photos", TRAIN), args.pop("held_out", HELD_OUT)
    held: list[NamedImage] = read_images(held_out)
    if args.pop("load", False):
        model = genaug.load(out)
    else:
        data = task_data(read_images(photos), "colorize", seed=0)
        t = time.perf_counter()
        model = genaug.fit(data, "palette", seed=0, train={"progress": False, "checkpoint_every": 0, **train}, **args)
        print("fit", round(time.perf_counter() - t), flush=True)
        model.save_pretrained(out)
    for opts in settings:
        tile = opts.get("tile")
        model.configure_sampling(**{"sample_steps": 20, "eta": 0.0, "guidance": 1.0, **{k: v for k, v in opts.items() if k != "tile"}})
        t = time.perf_counter()
        if tile is not None:
            model.apply = tiled(type(model).apply.__get__(model), tile)  # this instance only, until deleted below
        report = evaluate_colorize(model, held, seeds=(0, 1))
        if tile is not None:
            del model.apply
        rows = {r["image"]: [round(r["colourfulness"], 1), round(r["true_colourfulness"], 1), round(r["chroma_psnr"], 2)] for r in report["rows"]}
        mean = {k: round(v, 2) for k, v in report["mean"].items() if k != "image"}
        print(json.dumps({"opts": opts, "t": round(time.perf_counter() - t), **mean, "photos": rows}), flush=True)


if __name__ == "__main__":
    main()
