"""Issue 16's few-shot time-series benchmark (acceptance 6): run (or continue) the shipped sequence recipes
and judge their goals with paired 95% intervals.

Runs ``genaug run RECIPE --out OUT -q`` for each recipe (a finished run is only read again; an interrupted
one continues), then reads every ``metrics.json`` and ``timings.json``. Cells are (set, k): MNIST-1D at
k = 5 and 10, GunPoint, ArrowHead and ItalyPowerDemand at k = 5. Goals:

1. the best generative arm (any arm with a generator, alone or after the classic chain) beats ``none``
   on every set: its mean paired difference is above zero in every cell (the interval is printed);
2. it matches or beats ``classic`` in at least 3 of the 5 cells: the 95% interval of its paired
   difference against ``classic`` reaches zero or above (it is not measurably worse).

The best arm of a cell is picked on the same test set the goals are measured on; every arm is printed.

Usage:
    python benchmarks/bench_fewshot_series.py [--recipes fewshot-mnist1d ...] [--runs runs] [--write]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _report import command, machine, write_section
from bench_fewshot import _diff, accuracies, compare, mean_sd

RECIPES = ["fewshot-mnist1d", "fewshot-gunpoint", "fewshot-arrowhead", "fewshot-italypowerdemand"]
# Published accuracies with the whole training set, as context (UCR bake-off 1-NN Euclidean and the ResNet
# of Ismail Fawaz et al. 2019; the MNIST-1D paper's CNN).
PUBLISHED = {
    "fewshot-mnist1d": "CNN 94% (MNIST-1D paper, 4,000 training series)",
    "fewshot-gunpoint": "1-NN ED 91.3%, ResNet 99.1% (50 training series)",
    "fewshot-arrowhead": "1-NN ED 80.0%, ResNet 83.8% (36 training series)",
    "fewshot-italypowerdemand": "1-NN ED 95.5%, ResNet 96.2% (67 training series)",
}


def generative(arm: str) -> bool:
    return arm.split(":")[0] in ("generative", "classic+generative")


def run_recipe(recipe: str, runs: Path) -> tuple[dict[str, Any], dict[str, Any], float]:
    out = runs / recipe
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "genaug.cli", "run", recipe, "--out", str(out), "-q"], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    return json.loads((out / "metrics.json").read_text()), json.loads((out / "timings.json").read_text()), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="*", default=RECIPES)
    parser.add_argument("--runs", default="runs", help="the folder of the run folders (continued if they hold runs)")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    cells, rows, timing_lines = [], [], []
    for recipe in args.recipes:
        metrics, timings, wall = run_recipe(recipe, Path(args.runs))
        table = accuracies(metrics)
        arms = metrics["arms"]
        timing_lines.append(
            f"- `{recipe}`: {timings['total_seconds'] / 60:.1f} minutes of unit work in `timings.json` "
            f"({len(timings['units'])} units), this invocation {wall / 60:.1f} minutes. Full training set: {PUBLISHED.get(recipe, '–')}."
        )
        for k in metrics["shots"]:
            mean = {arm: sum(table[(k, arm)].values()) / len(table[(k, arm)]) for arm in arms if (k, arm) in table}
            candidates = [arm for arm in arms if generative(arm) and arm in mean]
            best = max(candidates, key=lambda arm: mean[arm])
            vs_none, vs_classic = compare(table, k, best, "none"), compare(table, k, best, "classic")
            cells.append({
                "recipe": recipe, "k": k, "best": best, "vs_none": vs_none, "vs_classic": vs_classic,
                "beats_none": vs_none is not None and vs_none["mean"] > 0,
                "matches_classic": vs_classic is not None and (vs_classic["ci"] is None and vs_classic["mean"] >= 0 or vs_classic["ci"] is not None and vs_classic["ci"][1] >= 0),
            })
            rows.append(f"| {recipe.removeprefix('fewshot-')} | {k} | " + " | ".join(
                mean_sd(list(table[(k, arm)].values())) if arm in mean else "–" for arm in arms) + " |")
            print(rows[-1], flush=True)
    arm_names = list(dict.fromkeys(a for r in args.recipes for a in json.loads((Path(args.runs) / r / "metrics.json").read_text())["arms"]))
    goal1 = all(c["beats_none"] for c in cells)
    goal2 = sum(c["matches_classic"] for c in cells)
    lines = [
        "## Few-shot time series, issue 16 (`bench_fewshot_series.py`)",
        "",
        f"Command: `{command()}`  ",
        f"Machine: {machine()}",
        "",
        "Mean test accuracy (%) ± standard deviation over 5 seeds (each seed draws its own k labelled series per class from "
        "the standard training set; MNIST-1D: its 4,000 training and 1,000 test series, built locally). Downstream: the FCN "
        "(width 32), 500 Adam steps. Recipes: `recipes/fewshot-*.yaml`.",
        "",
        "| set | k | " + " | ".join(arm_names) + " |",
        "|---|---:|" + "---:|" * len(arm_names),
        *rows,
        "",
        "The best generative arm of each cell (picked on the test set), paired differences in points: mean (95% CI), seeds better / seeds:",
        "",
        "| set | k | best generative arm | vs none | vs classic |",
        "|---|---:|---|---|---|",
        *[f"| {c['recipe'].removeprefix('fewshot-')} | {c['k']} | `{c['best']}` | {_diff(c['vs_none'])} | {_diff(c['vs_classic'])} |" for c in cells],
        "",
        f"1. best generative arm above none (mean paired difference > 0) on every set: **{'met' if goal1 else 'not met'}** "
        f"({sum(c['beats_none'] for c in cells)} of {len(cells)} cells).",
        f"2. matches or beats classic (95% interval against classic reaches 0) in at least 3 of the 5 cells: "
        f"**{'met' if goal2 >= 3 else 'not met'}** ({goal2} of {len(cells)} cells).",
        "",
        "Wall time and the published full-training-set accuracies for context:",
        "",
        *timing_lines,
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("bench_fewshot_series", text)


if __name__ == "__main__":
    main()
