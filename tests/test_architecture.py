"""The package's shape, read from its source with ast: no private names imported across modules,
and imports that flow one way (../shared/STYLE.md, "The shape"; docs/architecture.md)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "graphanim"

#: package -> the packages it must not import (eagerly or inside a function).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "graph": ("capture", "layout", "scene", "backends", "io", "cli", "frames", "explorer"),
    "layout": ("scene", "backends", "io", "cli", "explorer"),
    "frames": ("capture", "layout", "scene", "backends", "io", "cli", "explorer"),
    "scene": ("backends", "io", "cli", "explorer"),
    "backends": ("io", "cli", "explorer"),
    "explorer": ("io", "cli"),  # the HTML backend (STYLE.md), in a package of its own
}

#: Top-level modules kept for old imports, by the package whose names they re-export: importing
#: one is importing that package.
SHIMS = {"graphanim.writers": "io", "graphanim.expr": "cli", "graphanim.modules": "graph"}

#: Known exceptions to FORBIDDEN: (importing module, imported package) -> why it is allowed for
#: now. Each is in a file another change owns; the lead is told of each.
LAYER_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("graphanim.graph.collapse", "layout"):
        "CollapsedGraph.layout() caches its layout as TorchGraph.layout() does, and scene reads"
        " graph.layout(); lazy, so graph/ loads without layout/ (move with the scene's caller)",
    ("graphanim.explorer", "io"):
        "Explorer.save() writes its page with io's atomic_path and output-path check (lazily);"
        " the saving belongs in io/ or the facade",
}

#: Known private imports across modules: (importing module, imported module, name) -> why.
PRIVATE_EXCEPTIONS: dict[tuple[str, str, str], str] = {
}


@dataclass(frozen=True)
class Import:
    """One import statement's target, as seen from the module that makes it."""

    module: str  # the importing module, dotted ("graphanim.frames.captions")
    target: str  # the imported module, dotted ("graphanim.graph")
    names: tuple[str, ...]  # the names taken from it (``from target import a, b``); () for import
    lazy: bool  # inside a function (or class body) rather than at module level
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(dotted: str) -> bool:
    """Whether ``dotted`` names a module or package of graphanim (not a name inside one)."""
    path = ROOT.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _imports(path: Path, source: str | None = None) -> list[Import]:
    """The graphanim imports of the module at ``path`` (its text, or ``source`` in its place)."""
    module = _module_name(path)
    is_package = path.name == "__init__.py"
    text = path.read_text(encoding="utf-8") if source is None else source
    tree = ast.parse(text, filename=str(path))
    eager = {id(n) for n in tree.body}
    eager |= {id(n) for top in tree.body if isinstance(top, ast.If | ast.Try)
              for n in ast.walk(top)}  # TYPE_CHECKING blocks and optional imports
    found: list[Import] = []
    for node in ast.walk(tree):
        lazy = id(node) not in eager
        if isinstance(node, ast.Import):
            found += [Import(module, a.name, (), lazy, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, is_package, node)
            names = tuple(a.name for a in node.names)
            found.append(Import(module, target, names, lazy, node.lineno))
            # ``from .. import frames`` imports the module graphanim.frames
            found += [Import(module, f"{target}.{n}", (), lazy, node.lineno)
                      for n in names if _is_module(f"{target}.{n}")]
    return [i for i in found if i.target == "graphanim" or i.target.startswith("graphanim.")]


MODULES = sorted(ROOT.rglob("*.py"))
IMPORTS = [i for path in MODULES for i in _imports(path)]


def _package(dotted: str) -> str:
    """The subpackage a module belongs to (``"graph"``), or the one a shim stands for."""
    if dotted in SHIMS:
        return SHIMS[dotted]
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_scan_sees_the_package() -> None:
    """The scan finds the modules and both eager and lazy imports (a guard for the tests below)."""
    assert len(MODULES) > 50
    seen = {(i.module, i.target, i.lazy) for i in IMPORTS}
    assert ("graphanim.frames.captions", "graphanim.ops", False) in seen
    assert any(lazy for _, _, lazy in seen)


def test_no_private_names_imported_across_modules() -> None:
    found = {
        (i.module, i.target, name): i.line
        for i in IMPORTS
        for name in i.names
        if name.startswith("_") and not name.startswith("__") and i.target != i.module
    }
    unexpected = {k: line for k, line in found.items() if k not in PRIVATE_EXCEPTIONS}
    assert not unexpected, "make these public in their module: " + "; ".join(
        f"{m}:{line} imports {name} from {t}" for (m, t, name), line in sorted(unexpected.items()))
    stale = sorted(set(PRIVATE_EXCEPTIONS) - set(found))
    assert not stale, f"exceptions no longer needed, remove them: {stale}"


def _layer_violations() -> dict[tuple[str, str], tuple[str, int]]:
    """(module, package it must not import) -> (the module it imports there, line)."""
    found: dict[tuple[str, str], tuple[str, int]] = {}
    for i in IMPORTS:
        forbidden = FORBIDDEN.get(_package(i.module), ())
        if _package(i.target) in forbidden and _package(i.module) != _package(i.target):
            found.setdefault((i.module, _package(i.target)), (i.target, i.line))
    return found


def test_imports_flow_one_way() -> None:
    found = _layer_violations()
    unexpected = {k: where for k, where in found.items() if k not in LAYER_EXCEPTIONS}
    assert not unexpected, "imports against the flow: " + "; ".join(
        f"{m}:{line} imports {t}" for (m, _), (t, line) in sorted(unexpected.items()))
    stale = sorted(set(LAYER_EXCEPTIONS) - set(found))
    assert not stale, f"exceptions no longer needed, remove them: {stale}"


@pytest.mark.parametrize(("source", "expected"), [
    ("from ._x import _y\n", [("graphanim.graph._x", ("_y",), False)]),
    ("from ..scene import Scene\n", [("graphanim.scene", ("Scene",), False)]),
    ("def f():\n    from .. import backends\n",
     [("graphanim", ("backends",), True), ("graphanim.backends", (), True)]),
    ("import graphanim.io\n", [("graphanim.io", (), False)]),
])
def test_the_scan_resolves_relative_lazy_and_absolute_imports(
    source: str, expected: list[object]
) -> None:
    found = _imports(ROOT / "graph" / "model.py", source)
    assert [(i.target, i.names, i.lazy) for i in found] == expected
