"""The docs promise commands; these tests keep the promise and the CI script in step."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_readme_gives_two_quick_start_commands():
    commands = quick_start_commands()
    assert len(commands) == 2
    install_and_run, tests = commands
    assert "pip install" in install_and_run and install_and_run.endswith("genaug run")
    assert "pytest" in tests


def test_ci_runs_exactly_the_readme_commands():
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    for command in quick_start_commands():
        assert command in ci_lines, command


def test_every_family_is_documented():
    import genaug

    readme = (ROOT / "README.md").read_text()
    for family in genaug.families():
        assert f"`{family}`" in readme, family


def test_readme_recipe_example_is_a_valid_recipe():
    """The annotated recipe in README's Recipes section loads as written (every field it shows exists)."""
    import yaml

    from genaug.recipes import load_recipe

    readme = (ROOT / "README.md").read_text()
    (example,) = [block for block in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "variants:" in block]
    recipe = load_recipe(yaml.safe_load(example))
    assert {v: recipe.fitted_by(v) for v in recipe.arm_variants()} == {None: None, "gmm": "gmm", "kept": None, "cold": None}
