"""Wall time and results of a recipe run from scratch (default: `genaug run`'s quick recipe, target < 10 minutes on 2 cores).

Runs ``genaug run RECIPE --out TMP -q`` in a fresh process (import included) into an empty folder,
then a second time into the same folder (every unit is found done: the cost of a rerun), and
writes the wall times with the run's own summary table (`render_summary_text`) to BENCHMARKS.md,
and every arm with a generator paired against ``classic`` when the recipe has that arm (issue 17,
acceptance 2: a generative arm above classic alone, its 95% interval above zero).

Usage:
    python benchmarks/bench_recipe.py [--recipe quick] [--write]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import command, machine, write_section
from bench_fewshot import _diff, accuracies, compare

from genaug.recipes.report import render_summary_text
from genaug.recipes.schema import arm_base


def run(recipe: str, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "genaug.cli", "run", recipe, "--out", str(out), "-q"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="quick", help="a shipped recipe name or a YAML path")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        first = run(args.recipe, out)
        again = run(args.recipe, out)
        metrics = json.loads((out / "metrics.json").read_text())
        units = json.loads((out / "timings.json").read_text())["units"]
    stages: dict[str, float] = {}
    for name, seconds in units.items():
        stage = name.rsplit("/", 1)[-1]
        stages[stage] = stages.get(stage, 0.0) + seconds
    name = Path(args.recipe).stem
    table = accuracies(metrics)
    pairs = [
        (arm, k, compare(table, k, arm, "classic"))
        for k in metrics["shots"]
        for arm in metrics["arms"]
        if "classic" in metrics["arms"] and arm_base(arm) in ("generative", "classic+generative")
    ]
    against_classic = []
    if pairs:
        above = [arm for arm, _, d in pairs if d is not None and d["ci"] is not None and d["ci"][0] > 0]
        against_classic = [
            "Against classic alone (points, paired over seeds: mean (95% CI), seeds better / seeds):",
            "",
            *(f"- `{arm}` vs classic at k={k}: {_diff(d)}" for arm, k, d in pairs),
            "",
            f"A generative arm above classic with its 95% interval above zero: **{'yes: ' + ', '.join(above) if above else 'no'}**.",
        ]
    body = "\n".join(
        [
            f"## Recipe `{name}` from scratch (`bench_recipe.py`)",
            "",
            f"Command: `{command()}`  ",
            f"Machine: {machine()}",
            "",
            f"`genaug run {args.recipe}` into an empty folder, in a fresh process: **{first / 60:.1f} minutes** "
            f"({first:.0f} s); run again into the same folder (every unit found done): {again:.1f} s.",
            "",
            "Seconds per stage, summed over shots and seeds:",
            "",
            "| stage | seconds |",
            "|---|---:|",
            *(f"| {stage} | {seconds:.1f} |" for stage, seconds in stages.items()),
            "",
            "The run's summary (`metrics.json`; test accuracy on the held-out digits, paired over seeds):",
            "",
            "```",
            render_summary_text(metrics),
            "```",
            "",
            *against_classic,
        ]
    )
    print(body)
    if args.write:
        write_section(f"bench_recipe_{name}", body)


if __name__ == "__main__":
    main()
