"""The package's import graph, read from the source with ast: no module imports itself back through others
(function-local imports included: one that only dodges a cycle is still a cycle; imports under
``if TYPE_CHECKING:`` are not, they only name types), and no module reaches into another's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[2] / "chaos"


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text(encoding="utf-8"))
    return found


def type_only(module: ast.Module) -> set[int]:
    """The ids of the nodes under ``if TYPE_CHECKING:``: names for annotations, never imported at run time."""
    guarded = [node for node in ast.walk(module) if isinstance(node, ast.If)
               and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING"]
    return {id(inner) for guard in guarded for child in guard.body for inner in ast.walk(child)}


def imported(module: ast.Module, known: set[str]) -> set[str]:
    """The chaos modules one module imports at run time, anywhere in it (type-only imports are not).
    ``from chaos.report import html`` is an import of chaos.report.html (a parent package importing its
    children is how packages work)."""
    names, skipped = set(), type_only(module)
    for node in ast.walk(module):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("chaos"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("chaos"):
            children = {f"{node.module}.{a.name}" for a in node.names} & known
            names.update(children if len(children) == len(node.names) else children | {node.module})
    return names


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, found, counter = {}, {}, [], [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    parsed = modules()
    known = set(parsed)
    graph = {name: {m for m in imported(tree, known) if m in known and m != name} for name, tree in parsed.items()}
    assert cycles(graph) == []


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_private_names_across_modules():
    reached = set()
    for name, tree in modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("chaos"):
                reached |= {(name, f"{node.module}.{a.name}") for a in node.names
                            if a.name.startswith("_") and not a.name.startswith("__")}
    assert reached == set()
