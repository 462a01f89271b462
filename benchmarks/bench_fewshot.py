"""Issue 7's few-shot digits benchmark: run (or continue) the recipe, compare the anchors with the
issue's table and mark each goal met or not, with the paired numbers.

Runs ``genaug run RECIPE --out OUT -q`` (a finished run is only read again; an interrupted one
continues), then reads ``metrics.json`` and ``timings.json``. Goals, at k = 5 and 10 over the seeds:

1. the best generative arm without unlabelled data gains >= +3 points over ``none``;
2. a ``classic+generative`` arm gains >= +1 point over ``classic``, better on >= 4 of 5 seeds;
3. (k = 5) a generative arm whose generator learns from the unlabelled rest of the training half gains
   >= +5 points over ``none``.

Which arm is "best" is read off the same test split the goals are measured on, so goals 1 and 2
are judged on the most favourable of the recipe's arms; every arm's numbers are printed.

Usage:
    python benchmarks/bench_fewshot.py [--recipe fewshot-digits] [--out runs/fewshot-digits] [--write]
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

from genaug.recipes.report import render_summary_text
from genaug.recipes.schema import arm_base, arm_variant, load_recipe
from genaug.recipes.stats import paired_difference

# The issue's table: the anchors measured by the issue's author (5 draws; none, classic affine, SMOTE, KDE).
ISSUE = {5: {"none": 87.4, "classic": 91.2, "smote": 87.5, "kde": 87.7}, 10: {"none": 90.7, "classic": 94.8, "smote": 90.6, "kde": 91.1},
         20: {"none": 94.1, "classic": 97.0, "smote": 93.8, "kde": 95.1}}


def accuracies(metrics: dict[str, Any]) -> dict[tuple[Any, str], dict[int, float]]:
    """(shots, arm) -> {seed: test accuracy in %}."""
    table: dict[tuple[Any, str], dict[int, float]] = {}
    for r in metrics["results"]:
        table.setdefault((r["shots"], r["arm"]), {})[r["seed"]] = 100 * r["accuracy"]
    return table


def compare(table: dict, shots: Any, arm: str, against: str) -> dict[str, Any] | None:
    """The paired difference (points) of ``arm`` against ``against`` at ``shots``, over their common seeds."""
    a, b = table.get((shots, arm)), table.get((shots, against))
    if not a or not b:
        return None
    seeds = sorted(set(a) & set(b))
    return paired_difference([a[s] for s in seeds], [b[s] for s in seeds])


def goals(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal: its statement, the candidate arms with their paired differences, the best, met or not.

    Example:
        >>> results = [{"shots": k, "seed": s, "arm": a, "accuracy": acc}
        ...            for k in (5, 10) for s in range(5)
        ...            for a, acc in [("none", 0.87), ("classic", 0.90), ("generative", 0.905 + s / 1000),
        ...                           ("classic+generative", 0.911 + s / 1000)]]
        >>> recipe = {"name": "x", "data": {"source": "digits"}, "classic": {"transforms": [{"RandomAffine": {"degrees": 10}}]},
        ...           "arms": ["none", "classic", "generative", "classic+generative"]}
        >>> [(g["goal"], g["met"]) for g in goals({"recipe": recipe, "results": results})]
        [(1, True), (2, True), (3, None)]
    """
    recipe, table = load_recipe(metrics["recipe"]), accuracies(metrics)

    def learns_unlabelled(arm: str) -> bool:
        return recipe.generator_of(recipe.fitted_by(arm_variant(arm))).unlabelled != "ignore"

    alone = [a for a in recipe.arms if arm_base(a) == "generative" and not learns_unlabelled(a)]
    both = [a for a in recipe.arms if arm_base(a) == "classic+generative" and not learns_unlabelled(a)]
    unlabelled = [a for a in recipe.arms if arm_base(a) == "generative" and learns_unlabelled(a)]
    specs = [
        (1, "best generative arm >= +3 points over none at k=5 and k=10", alone, "none", (5, 10), 3.0, 0),
        (2, "classic+generative >= +1 point over classic at k=5 and k=10, better on >= 4 of 5 seeds", both, "classic", (5, 10), 1.0, 4),
        (3, "with the unlabelled rest of the training half: generative >= +5 points over none at k=5", unlabelled, "none", (5,), 5.0, 0),
    ]
    out = []
    for number, text, arms, against, shots, points, wins in specs:
        rows = {arm: {k: compare(table, k, arm, against) for k in shots} for arm in arms}

        def passes(arm: str) -> bool:
            return all(d is not None and d["mean"] >= points and d["wins"] >= wins for d in rows[arm].values())

        scored = [a for a in arms if all(d is not None for d in rows[a].values())]
        best = max(scored, key=lambda a: (passes(a), min(d["mean"] for d in rows[a].values())), default=None)
        out.append({"goal": number, "text": text, "against": against, "shots": shots, "rows": rows, "best": best,
                    "met": None if best is None else passes(best)})
    return out


def mean_sd(values: list[float]) -> str:
    """``"mean ± sd"`` (sample standard deviation, 0 for one value) to one decimal; "–" for none."""
    if not values:
        return "–"
    mean = sum(values) / len(values)
    sd = (sum((v - mean) ** 2 for v in values) / max(len(values) - 1, 1)) ** 0.5
    return f"{mean:.1f} ± {sd:.1f}"


def _diff(d: dict[str, Any] | None) -> str:
    if d is None:
        return "–"
    ci = "" if d["ci"] is None else f" ({d['ci'][0]:+.1f} to {d['ci'][1]:+.1f})"
    return f"{d['mean']:+.1f}{ci}, {d['wins']}/{d['n']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="fewshot-digits", help="a shipped recipe name or a YAML path")
    parser.add_argument("--out", default="runs/fewshot-digits", help="the run folder (continued if it holds a run)")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "genaug.cli", "run", args.recipe, "--out", args.out, "-q"], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    out = Path(args.out)
    metrics = json.loads((out / "metrics.json").read_text())
    timings = json.loads((out / "timings.json").read_text())
    table = accuracies(metrics)
    evaluations = 1 if metrics["recipe"]["evaluation"]["enabled"] else 0
    planned = len(metrics["results"]) + len(metrics["generators"]) * (1 + evaluations)
    mean = lambda k, arm: sum(table[(k, arm)].values()) / len(table[(k, arm)]) if (k, arm) in table else None
    anchors = ["| k | " + " | ".join(f"{a} (issue)" for a in ISSUE[5]) + " |", "|---|" + "---:|" * len(ISSUE[5])]
    for k, row in ISSUE.items():
        cells = [f"{mean(k, a):.1f} ({v})" if mean(k, a) is not None else f"– ({v})" for a, v in row.items()]
        anchors.append(f"| {k} | " + " | ".join(cells) + " |")
    name = metrics["recipe"]["name"]
    # the shipped fewshot-digits recipe keeps its section; another recipe (e.g. fewshot-digits-deep) gets its own
    section = "bench_fewshot" if name == "fewshot-digits" else f"bench_fewshot_{name.replace('-', '_')}"
    lines = [
        "## Few-shot digits, issue 7 (`bench_fewshot.py`)" if section == "bench_fewshot" else f"## Few-shot digits, recipe `{name}` (`bench_fewshot.py`)",
        "",
        f"Command: `{command()}`  ",
        f"Machine: {machine()}",
        "",
        f"`genaug run {args.recipe}`: {timings['total_seconds'] / 60:.1f} minutes of unit work recorded in `timings.json` "
        f"({len(timings['units'])} of {planned} units timed; summed over the invocations that ran them into this folder); "
        f"this invocation {wall / 60:.1f} minutes.",
        "",
        "Anchors, mean test accuracy (%) over the seeds, beside the issue's table (its own draws of the subsets):",
        "",
        *anchors,
        "",
        "Goals (paired differences in points, mean (95% CI), seeds better / seeds; the best arm is picked on the same test split):",
        "",
    ]
    for g in goals(metrics):
        status = {True: "**met**", False: "**not met**", None: "not measured (no such arm)"}[g["met"]]
        lines.append(f"{g['goal']}. {g['text']}: {status}" + (f" (best: `{g['best']}`)" if g["best"] else ""))
        for arm, by_shots in g["rows"].items():
            lines.append(f"   - `{arm}` vs {g['against']}: " + "; ".join(f"k={k}: {_diff(d)}" for k, d in by_shots.items()))
    lines.append("4. no test-set leakage: `tests/test_recipes.py::test_generators_and_filters_never_see_test_images` (labelled, classic and pseudo_label fits; filters and interpolation anchors).")
    lines += ["", "Every arm against `none` (`metrics.json`):", "", "```", render_summary_text(metrics), "```"]
    body = "\n".join(lines)
    print(body)
    if args.write:
        write_section(section, body)


if __name__ == "__main__":
    main()
