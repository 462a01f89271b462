"""Fit every family on digits with its defaults through the CLI; time it and check its samples.

For each family: wall time of ``genaug fit --data digits --family F --out DIR`` (a fresh process,
import time included), then the share of 500 class-conditional samples (50 per class) that a
logistic regression trained on the real digits assigns to the asked class.

Usage:
    python benchmarks/bench_fit.py [--families vae gmm] [--write]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _report import command, machine, write_section
from sklearn.linear_model import LogisticRegression

import genaug


def classifier_accuracy(model: genaug.Generator, seed: int = 0) -> float:
    data = genaug.load_source("digits")
    clf = LogisticRegression(max_iter=3000).fit(data.user_x().reshape(len(data), -1).numpy(), data.y.numpy())
    labels = torch.arange(10).repeat_interleave(50)
    x = model.sample(500, labels=labels, generator=torch.Generator().manual_seed(seed))
    return float(np.mean(clf.predict(x.reshape(500, -1).numpy()) == labels.numpy()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="*", default=genaug.families())
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families:
            out = Path(tmp) / family
            cli = Path(sys.executable).with_name("genaug")
            start = time.perf_counter()
            subprocess.run([str(cli), "fit", "--data", "digits", "--family", family, "--out", str(out)], check=True, capture_output=True)
            seconds = time.perf_counter() - start
            model = genaug.load(out)
            steps = json.loads((out / "run.json").read_text())["train"]["steps"]
            rows.append((family, steps, seconds, classifier_accuracy(model)))
            print(f"{family}: {seconds:.1f} s, classifier accuracy {rows[-1][3]:.3f}", flush=True)
    table = ["| family | steps (default) | `genaug fit` wall time (s) | samples labelled as asked |", "|---|---|---|---|"]
    table += [f"| {f} | {s} | {t:.1f} | {a:.1%} |" for f, s, t, a in rows]
    body = "\n".join(
        [
            "## Default fits on digits (`bench_fit.py`)",
            "",
            f"Command: `{command()}`  ",
            f"Machine: {machine()}",
            "",
            "Wall time of `genaug fit --data digits --family F --out DIR` with the family's defaults (all 1797",
            "digits, 10% held out for validation where the family validates), and the share of 500",
            "class-conditional samples that a logistic regression trained on the real digits labels as asked.",
            "",
            *table,
        ]
    )
    print(body)
    if args.write:
        write_section("bench_fit", body)


if __name__ == "__main__":
    main()
