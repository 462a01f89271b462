"""Colorization by `palette` at several input-guidance scales (issue 19, acceptance 2).

Fits the default colorize `palette` as `bench_image2image.py` does (4,000 patches of the five training
photos, seed 0) and saves it to OUT (or, with ``{"load": true}``, loads it from OUT), then scores each
sampling setting on the held-out photos (chelsea, coffee) with `evaluate_colorize`: colour PSNR,
colourfulness against the truth's, and the difference of two seeds. One JSON line per setting.

    python benchmarks/bench_palette_guidance.py '{}' /tmp/pal_guid '[{}, {"guidance": 2.0}, {"guidance": 3.0}]'
    python benchmarks/bench_palette_guidance.py '{"load": true}' /tmp/pal_guid '[{"guidance": 5.0}, {"guidance": 7.0}]'

The first argument holds config fields for the fit (and ``train``: TrainConfig fields); each setting
is applied over ``sample_steps=20, eta=0, guidance=1`` (``{}``: no guidance).
"""

import json
import sys
import time

import genaug
from genaug.data.images import read_images
from genaug.data.pairs import task_data
from genaug.evaluate.image2image import evaluate_colorize

try:
    from bench_image2image import HELD_OUT, TRAIN
except ImportError:  # run as a module
    from benchmarks.bench_image2image import HELD_OUT, TRAIN


def main() -> None:
    args = json.loads(sys.argv[1])
    out = sys.argv[2]
    settings = json.loads(sys.argv[3]) if len(sys.argv) > 3 else [{}]
    train = args.pop("train", {})
    held = read_images(HELD_OUT)
    if args.pop("load", False):
        model = genaug.load(out)
    else:
        data = task_data(read_images(TRAIN), "colorize", seed=0)
        t = time.perf_counter()
        model = genaug.fit(data, "palette", seed=0, train={"progress": False, "checkpoint_every": 0, **train}, **args)
        print("fit", round(time.perf_counter() - t), flush=True)
        model.save_pretrained(out)
    for opts in settings:
        model.configure_sampling(**{"sample_steps": 20, "eta": 0.0, "guidance": 1.0, **opts})
        t = time.perf_counter()
        m = evaluate_colorize(model, held, seeds=(0, 1))["mean"]
        print(json.dumps({"opts": opts, "t": round(time.perf_counter() - t), **{k: round(v, 2) for k, v in m.items() if k != "image"}}), flush=True)


if __name__ == "__main__":
    main()
