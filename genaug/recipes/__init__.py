"""Recipes: one YAML file runs fit -> check -> augment -> downstream training over seeds -> a report.

Example:
    >>> from genaug.recipes import load_recipe
    >>> load_recipe({"name": "demo", "data": {"source": "wine"}, "seeds": [0]}).downstream.model
    'auto'
"""

from genaug.recipes.runner import labelled_subset, run
from genaug.recipes.schema import ARMS, Recipe, RecipeError, load_recipe

__all__ = ["ARMS", "Recipe", "RecipeError", "labelled_subset", "load_recipe", "run", "shipped_recipe"]


def shipped_recipe(name: str = "quick") -> str:
    """The path of a recipe shipped in the repository's ``recipes/`` folder (``quick``: `genaug run`'s default)."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "recipes"
    path = folder / f"{name}.yaml"
    if not path.is_file():
        shipped = sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
        raise FileNotFoundError(f"recipe: no shipped recipe {name!r} in {folder}; shipped: {shipped or 'none (not a source checkout)'}")
    return str(path)
