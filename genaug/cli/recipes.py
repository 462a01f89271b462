"""The sub-command ``run``: a recipe, shipped or from a file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    """The sub-commands of this module, on the parser's ``add_subparsers`` object."""
    p = sub.add_parser("run", help="run a recipe: fit, evaluate, augment, train downstream models over seeds, write a report",
                       description="Run a recipe YAML (or a shipped recipe's name). With no argument: the shipped quick recipe on digits. "
                       "Writes OUTPUT/metrics.json, report.html and PNGs; a rerun skips finished units.")
    p.add_argument("recipe", nargs="?", default=None, help="RECIPE.yaml or a shipped recipe name (default: quick)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: the recipe's output)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    from genaug.recipes import load_recipe, run, shipped_recipe
    from genaug.recipes.report import render_summary_text

    if args.recipe is None:
        path = shipped_recipe("quick")
    else:
        path = args.recipe if Path(args.recipe).exists() else _shipped_or_path(args.recipe)
    recipe = load_recipe(path)
    if args.out is not None:
        recipe = recipe.model_copy(update={"output": str(args.out)})
    metrics = run(recipe, progress=not args.quiet)
    print(render_summary_text(metrics))
    print(f"report: {Path(recipe.output) / 'report.html'}")
    return 0


def _shipped_or_path(text: str) -> str:
    """A recipe path, or the name of a shipped recipe (``genaug run fewshot``)."""
    from genaug.recipes import shipped_recipe

    if Path(text).suffix in (".yaml", ".yml") or "/" in text:
        return text
    return shipped_recipe(text)
