"""Issue 18, acceptance 3: few-shot gender from a first name, with the n-gram and the char-CNN classifiers.

Runs (or continues) the shipped recipes ``fewshot-names`` (character n-gram logistic regression) and
``fewshot-names-charcnn`` (character CNN) with ``genaug run RECIPE --out OUT -q``, then reads their
``metrics.json`` and ``timings.json``. The goal: the ``generative`` arm beats ``none`` by at least +2
points at k = 10 (paired over the seeds, 95% interval of the mean difference). Every arm's numbers are
printed with the wall time of each run.

Usage:
    python benchmarks/bench_fewshot_names.py [--out runs] [--write]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _report import command, machine, write_section
from bench_fewshot import accuracies, compare

from genaug.recipes.report import render_summary_text

RECIPES = {"fewshot-names": "character n-gram logistic regression", "fewshot-names-charcnn": "character CNN"}
GOAL_POINTS, GOAL_SHOTS = 2.0, 10


def _generator_lines(metrics: dict) -> list[str]:
    """Per k, means over the seeds of what the generators were: held-out vs training bits/char, copies, filtered share."""
    lines = ["| k | held-out bits/char | training bits/char | class agreement | exact copies of a labelled name | dropped by near_copy |", "|---|---:|---:|---:|---:|---:|"]
    mean = lambda values: sum(values) / len(values) if values else float("nan")
    for k in sorted({g["shots"] for g in metrics["generators"]}, key=str):
        evals = [g["evaluation"] for g in metrics["generators"] if g["shots"] == k and g.get("evaluation")]
        dropped = [r["filters"][0]["dropped_share"] for r in metrics["results"] if r["shots"] == k and r["arm"] == "generative" and r.get("filters")]
        lines.append(
            f"| {k} | {mean([e['likelihood']['bits_per_dim'] for e in evals]):.2f} | {mean([e['likelihood']['train_bits_per_dim'] for e in evals]):.2f} "
            f"| {mean([e['class_agreement']['accuracy'] for e in evals]):.2f} | {mean([e['memorization']['edit']['exact_copy_share'] for e in evals]):.1%} "
            f"| {mean(dropped):.1%} |"
        )
    return ["Generators (means over the seeds; `genaug.evaluate` against the test names):", "", *lines]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs", help="folder of the run folders (a run already there is continued)")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    lines = [
        "## Few-shot gender from a first name, issue 18 acceptance 3 (`bench_fewshot_names.py`)",
        "",
        f"Command: `{command()}`  ",
        f"Machine: {machine()}",
        "",
        "The recipes `fewshot-names` and `fewshot-names-charcnn` (their headers give the protocol): census names split in half "
        "by sex, k labelled names per sex drawn per seed, 5 seeds, arms paired by seed; accuracy on the 2,582 test names "
        "(78% female). Goal: `generative` at least +2 points over `none` at k = 10.",
        "",
    ]
    for name, model in RECIPES.items():
        out = Path(args.out) / name
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "genaug.cli", "run", name, "--out", str(out), "-q"], check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        metrics = json.loads((out / "metrics.json").read_text())
        timings = json.loads((out / "timings.json").read_text())
        d = compare(accuracies(metrics), GOAL_SHOTS, "generative", "none")
        met = d is not None and d["mean"] >= GOAL_POINTS
        shown = "not measured" if d is None else f"{d['mean']:+.1f} points (95% CI {d['ci'][0]:+.1f} to {d['ci'][1]:+.1f}), {d['wins']}/{d['n']} seeds better"
        significant = d is not None and d["ci"] is not None and d["ci"][0] > 0
        lines += [
            f"### `{name}`: {model}",
            "",
            f"Wall time: {timings['total_seconds'] / 60:.1f} minutes of unit work (`timings.json`); this invocation {wall / 60:.1f} minutes.",
            f"Goal (generative vs none at k = {GOAL_SHOTS}, mean >= +{GOAL_POINTS:g}): {shown}: **{'met' if met else 'not met'}** "
            f"on the mean; the gain is {'' if significant else 'not '}significant (the interval {'excludes' if significant else 'reaches'} 0).",
            "",
            *_generator_lines(metrics),
            "",
            "```",
            render_summary_text(metrics),
            "```",
            "",
        ]
        print("\n".join(lines[-8:]), flush=True)
    body = "\n".join(lines).rstrip() + "\n"
    print(body)
    if args.write:
        write_section("bench_fewshot_names", body)


if __name__ == "__main__":
    main()
