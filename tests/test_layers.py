"""The import graph obeys the layers, has no cycles, and every public class has one home.

Layers, lowest first: utils <- nn <- modalities <- data <- models <- train <- inject <- evaluate <-
recipes <- cli. A module may import its own layer and the ones below it, never one above, not
even lazily inside a function (``if TYPE_CHECKING:`` blocks excepted: they never run). The graph
is read from the source with `ast`, without importing anything.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "genaug"

LAYERS = ("utils", "nn", "modalities", "data", "models", "train", "inject", "evaluate", "recipes", "cli")
# module prefix -> layer; the longest matching prefix wins, so "genaug" alone is the package root
PREFIXES = {
    "genaug.utils": "utils",
    "genaug.nn": "nn",
    "genaug.modalities": "modalities",
    "genaug.data": "data",
    "genaug.models": "models",
    "genaug.train": "train",
    "genaug.inject": "inject",
    "genaug.transforms": "inject",
    "genaug.albumentations": "inject",
    "genaug.hf": "inject",
    "genaug.evaluate": "evaluate",
    "genaug.detect": "evaluate",
    "genaug.recipes": "recipes",
    "genaug.cli": "cli",
    "genaug.__main__": "cli",
    "genaug": "cli",  # the package root (genaug/__init__.py): the public face, on top of everything
}
PUBLIC_HOMES = ("genaug.transforms", "genaug.albumentations", "genaug.hf", "genaug.detect")


def module_files() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name, for its __init__.py)."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def layer_of(module: str) -> str | None:
    for prefix in sorted(PREFIXES, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return PREFIXES[prefix]
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST):
    """Every Import / ImportFrom under ``node``, at any depth, skipping ``if TYPE_CHECKING:`` bodies."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _import_nodes(ast.Module(body=[other], type_ignores=[]))
            continue
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        yield from _import_nodes(child)


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The genaug modules ``module`` imports: ``from a import b`` counts as ``a.b`` when that is a module."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:  # relative: resolved against the importing module's package
            anchor = package.split(".")
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join(anchor + ([base] if base else []))
        for alias in node.names:
            found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {name for name in found if name == "genaug" or name.startswith("genaug.")} - {module}


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {module: imports_of(module, path, modules) for module, path in modules.items()}


def test_every_module_has_a_layer():
    assert [module for module in module_files() if layer_of(module) is None] == []


def test_no_import_reaches_up_a_layer():
    offences = []
    for module, targets in sorted(import_graph().items()):
        here = layer_of(module)
        for target in sorted(targets):
            there = layer_of(target)
            if here is None or there is None:
                continue  # test_every_module_has_a_layer names them
            root = target == "genaug" and here != "cli"  # e.g. `from genaug import __version__` below the top
            if root or LAYERS.index(there) > LAYERS.index(here):
                offences.append(f"{module} ({here}) -> {target} ({there})")
    assert offences == [], "imports against the layer order:\n" + "\n".join(offences)


def test_no_import_cycles():
    graph = import_graph()
    cycles: dict[frozenset[str], list[str]] = {}
    state: dict[str, int] = {}  # 1: on the DFS stack, 2: done
    for start in sorted(graph):
        if start in state:
            continue
        stack, path = [(start, iter(sorted(graph[start] & graph.keys())))], [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop(), path.pop()
                state[node] = 2
            elif state.get(child) == 1:  # a back edge closes a cycle
                cycle = path[path.index(child) :] + [child]
                cycles.setdefault(frozenset(cycle), cycle)
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(sorted(graph[child] & graph.keys()))))
                path.append(child)
    found = sorted(" -> ".join(cycle) for cycle in cycles.values())
    assert found == [], "import cycles:\n" + "\n".join(found)


def _inject_class_names() -> dict[str, str]:
    names = {}
    for path in sorted((PACKAGE / "inject").rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef):
                names[node.name] = str(path.relative_to(PACKAGE.parent))
    return names


@pytest.mark.parametrize("home", PUBLIC_HOMES)
def test_public_classes_live_at_their_documented_path(home):
    module = importlib.import_module(home)
    classes = {name: getattr(module, name) for name in module.__all__ if inspect.isclass(getattr(module, name))}
    assert classes, f"{home}.__all__ names no class"
    elsewhere = {name: cls.__module__ for name, cls in classes.items() if not (cls.__module__ + ".").startswith(home + ".")}
    assert elsewhere == {}, f"{home} re-exports classes defined elsewhere"
    shadowed = {name: where for name, where in _inject_class_names().items() if name in classes}
    assert shadowed == {}, f"genaug.inject defines classes of the same name as {home}'s"
