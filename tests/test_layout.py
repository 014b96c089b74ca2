"""The layout's rules, checked on the source: dependencies point one way (app.py -> ui -> model -> engine ->
numpy), nothing outside engine/ touches its private attributes, and functions and classes stay short."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from engine import Value
from model.paths import REPO_ROOT

PACKAGES = ("engine", "model", "ui", "bench", "tests")
# What each layer may import of ours, and which third-party packages it may import at all.
OURS_ALLOWED = {"engine": {"engine"}, "model": {"engine", "model"}, "ui": {"engine", "model", "ui"},
                "app.py": {"ui"}}
THIRD_PARTY_ALLOWED = {"engine": {"numpy"}, "model": {"numpy", "h5py", "PIL", "tqdm"},
                       "ui": {"numpy", "PIL", "threadpoolctl"}, "app.py": {"streamlit"}}

def private_names(cls) -> set[str]:
    """A class's own private attributes and methods (`_grad`, `_walk_backward`), read from the class itself."""
    return {name for name in [*getattr(cls, "__slots__", ()), *vars(cls)] if name[0] == "_" and name[:2] != "__"}


PRIVATE_ENGINE_NAMES = private_names(Value)
MAX_FUNCTION_LINES, MAX_CLASS_LINES = 60, 150
CLASSES_EXEMPT = {("engine/value.py", "Value")}  # the op table: every op beside its VJP, on purpose


def sources(*roots: str) -> list[Path]:
    files = []
    for root in roots:
        path = REPO_ROOT / root
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return files


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module `path` imports (relative imports count as its own package)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module.split(".")[0] if node.level == 0 and node.module else path.parent.name)
    return names


@pytest.mark.parametrize("layer", sorted(OURS_ALLOWED))
def test_dependencies_point_one_way(layer):
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    for path in sources(layer):
        imported = imported_modules(path) - stdlib
        ours = imported & set(PACKAGES) | ({"app"} & imported)
        assert ours <= OURS_ALLOWED[layer], f"{path.relative_to(REPO_ROOT)} imports {sorted(ours)}"
        third_party = imported - set(PACKAGES) - {"app"}
        assert third_party <= THIRD_PARTY_ALLOWED[layer], (
            f"{path.relative_to(REPO_ROOT)} imports {sorted(third_party - THIRD_PARTY_ALLOWED[layer])}")


def test_nothing_outside_the_engine_touches_its_private_attributes():
    for path in sources("model", "ui", "app.py", "bench", "tests"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr in PRIVATE_ENGINE_NAMES:
                pytest.fail(f"{path.relative_to(REPO_ROOT)}:{node.lineno} uses .{node.attr}")


def test_functions_and_classes_stay_short():
    too_long = []
    for path in sources("engine", "model", "ui", "app.py", "bench"):
        relative = path.relative_to(REPO_ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            lines = getattr(node, "end_lineno", 0) - getattr(node, "lineno", 0) + 1
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and lines > MAX_FUNCTION_LINES:
                too_long.append(f"{relative}: function {node.name} has {lines} lines")
            if (isinstance(node, ast.ClassDef) and lines > MAX_CLASS_LINES
                    and (relative, node.name) not in CLASSES_EXEMPT):
                too_long.append(f"{relative}: class {node.name} has {lines} lines")
    assert not too_long, "\n".join(too_long)
