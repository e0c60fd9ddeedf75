"""The shape of the code, as a maintainer relies on it: the core and the adapters import one another
without a cycle, so a module can be read (and tested) knowing only what it imports."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "adapters")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def _imported_names(tree: ast.Module) -> Iterator[str]:
    """Every module name an import statement can load, lazy imports inside functions and imports
    for type checking included: both are a dependency a reader has to follow."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imported = _imported_names(ast.parse(path.read_text(encoding="utf-8")))
        # `from bot.results import charts` depends on bot.results.charts, not only on the package.
        graph[name] = {dep for dep in imported if dep in modules and dep != name}
        parents = {name.rpartition(".")[0]}
        graph[name] -= parents  # a module's own package is loaded first by Python anyway
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each in import order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for dep in sorted(graph[node]):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            group = [stack.pop()]
            while group[-1] != node:
                group.append(stack.pop())
            if len(group) > 1 or node in graph[node]:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_core_and_the_adapters_import_one_another_without_a_cycle() -> None:
    graph = import_graph()
    assert not cycles(graph), "\n".join(
        " <-> ".join(group) + "\n  " + "\n  ".join(f"{m} -> {sorted(graph[m] & set(group))}" for m in group)
        for group in cycles(graph)
    )


def test_the_cycle_check_sees_a_cycle_through_a_lazy_import() -> None:
    # The check itself, on a made-up graph: engine -> commands, and commands back to the engine.
    graph = {"bot.engine": {"bot.commands"}, "bot.commands": {"bot.engine"}, "bot.clock": set()}
    assert cycles(graph) == [["bot.commands", "bot.engine"]]
    assert "bot.engine" in import_graph()["bot.runtime"]
