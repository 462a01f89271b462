"""Issue 20's faces benchmark: run (or continue) the shipped `faces` and `fewshot-faces` recipes and judge their goals.

Runs ``genaug run RECIPE --out RUNS/RECIPE -q`` for each (a finished run is only read again; an interrupted
one continues), then reads ``metrics.json`` and ``timings.json``. Needs ``pip install 'genaug[images]'``
(scikit-image ships the faces).

1. ``faces``: every image family fitted on the 100 training faces and non-faces; per family, its memorization
   ratio (median distance of a sample to its closest training record relative to that record's distance
   to its own closest neighbour, in pixels) at least 0.8, zero near-copies among the samples the
   near-copy filter keeps (what the arms inject; the filter is on by default for faces), and class
   fidelity (the share of samples asked for as face / non-face that the feature space's classifier,
   trained on the real training images, labels so) at least 85%.
2. ``fewshot-faces``: face / non-face with k = 5 and 10 labelled images per class, 5 seeds: the generative
   arm beats ``none`` (mean paired difference above zero; its 95% interval is printed); every arm reported.

Usage:
    python benchmarks/bench_faces.py [--runs runs] [--recipes faces fewshot-faces] [--write]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from _report import command, machine, write_section
from bench_fewshot import _diff, accuracies, compare, mean_sd
from bench_fewshot_series import run_recipe

RATIO, FIDELITY = 0.8, 0.85  # goals of acceptance 1


def _num(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def faces_section(metrics: dict[str, Any], timings: dict[str, Any], wall: float) -> tuple[list[str], bool]:
    rows, met = [], True
    for g in metrics["generators"]:
        e = g["evaluation"]
        memo, fid = e["memorization"], e["fidelity"]
        after = memo.get("after_filter") or {}
        ratio, kept_near = memo["pixel"]["ratio"], (after.get("pixel") or {}).get("near_copy_share")
        cf = fid["class_fidelity"]
        ok = ratio >= RATIO and kept_near == 0 and cf["accuracy"] >= FIDELITY
        met &= ok
        per_class = ", ".join(f"{name} {100 * v:.0f}%" for name, v in cf["per_class"].items())
        rows.append(
            f"| {g['variant'] or e['family']} | {_num(ratio)} | {_num(memo['feature']['ratio'])} | {100 * memo['pixel']['near_copy_share']:.1f}% "
            f"| {after.get('dropped', '–')} of {after.get('seen', '–')} | {'–' if kept_near is None else f'{100 * kept_near:.1f}%'} "
            f"| {100 * cf['accuracy']:.1f}% ({per_class}) | {_num(fid['c2st']['accuracy'])} | {_num(fid['frechet_distance'], 2)} | {'yes' if ok else 'no'} |"
        )
    units = timings.get("units", {})
    fit_times = ", ".join(f"{name.split('/')[-1].removeprefix('fit:')} {seconds:.0f} s" for name, seconds in units.items() if "/fit" in name)
    lines = [
        "**`genaug run faces`** (`recipes/faces.yaml`): each image family fitted on the 100 training images (50 faces, 50 "
        "non-faces; the other 100 are the test part), 100 samples per class scored against the test part in the feature "
        "space of a small CNN trained on the training images, and for memorization against the training images. The "
        "near-copy filter (threshold 0.1) is on by default for this source; *dropped* counts what it removed of the "
        "200 samples of the evaluation, *near-copies kept* what remains among the samples it kept.",
        "",
        "| family | memorization ratio (pixels) | memorization ratio (features) | near-copies drawn | dropped by the filter | near-copies kept "
        "| class fidelity | C2ST | Fréchet distance | goals met |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---|",
        *rows,
        "",
        f"Goal (every family: memorization ratio ≥ {RATIO}, zero near-copies kept, class fidelity ≥ {100 * FIDELITY:.0f}%): "
        f"**{'met' if met else 'not met'}**. Fit times: {fit_times}; the run's units took {timings['total_seconds'] / 60:.1f} minutes "
        f"(this invocation {wall / 60:.1f} minutes; 0 when the run was only read again).",
    ]
    return lines, met


def fewshot_section(metrics: dict[str, Any], timings: dict[str, Any], wall: float) -> tuple[list[str], bool]:
    table, arms = accuracies(metrics), metrics["arms"]
    rows, diffs, met, clear = [], [], True, True
    for k in metrics["shots"]:
        rows.append(f"| {k} | " + " | ".join(mean_sd(list(table.get((k, arm), {}).values())) for arm in arms) + " |")
        for arm in arms:
            if arm != "none":
                d = compare(table, k, arm, "none")
                diffs.append(f"| {k} | `{arm}` | {_diff(d)} |")
                if arm.split(":")[0] == "generative":
                    met &= d is not None and d["mean"] > 0
                    clear &= d is not None and d["ci"] is not None and d["ci"][0] > 0
    dropped = [f for r in metrics["results"] for f in r.get("filters") or [] if f.get("filter") == "near_copy"]
    seen, gone = sum(f.get("seen", 0) for f in dropped), sum(f.get("dropped", 0) for f in dropped)
    lines = [
        "**`genaug run fewshot-faces`** (`recipes/fewshot-faces.yaml`): k labelled images per class from the training half, "
        "a small CNN (500 Adam steps) scored on the 100 test images; mean test accuracy (%) ± standard deviation over 5 seeds:",
        "",
        "| k | " + " | ".join(arms) + " |",
        "|---:|" + "---:|" * len(arms),
        *rows,
        "",
        "Paired differences against `none` in points: mean (95% CI), seeds better / seeds:",
        "",
        "| k | arm | vs none |",
        "|---:|---|---|",
        *diffs,
        "",
        f"Goal (the generative arm beats none at k = 5 and 10, by its mean paired difference): **{'met' if met else 'not met'}**; "
        f"its 95% intervals {'lie above 0 at both k' if clear else 'include 0: 5 seeds do not show a clear gain'}. The near-copy filter saw "
        f"{seen:,} samples drawn for training and dropped {gone:,}. The run's units took {timings['total_seconds'] / 60:.1f} minutes "
        f"(this invocation {wall / 60:.1f} minutes).",
    ]
    return lines, met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="runs", help="the folder of the run folders (continued if they hold runs)")
    parser.add_argument("--recipes", nargs="*", default=["faces", "fewshot-faces"], choices=["faces", "fewshot-faces"])
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    lines = [f"Command: `{command()}`  ", f"Machine: {machine()}", ""]
    for recipe in args.recipes:
        metrics, timings, wall = run_recipe(recipe, Path(args.runs))
        part, _ = (faces_section if recipe == "faces" else fewshot_section)(metrics, timings, wall)
        lines += [*part, ""]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("faces", text)


if __name__ == "__main__":
    main()
