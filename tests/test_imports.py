"""Import hygiene: the import graph of ``society`` and ``analysis``, read from the source.

Every import counts: at module level, inside functions, under ``if TYPE_CHECKING:``.
Relative imports are resolved; ``from package import module`` is an edge to the module,
``from package import name`` (or ``import package``) an edge to the package's
``__init__``. The rules (docs/architecture.md, "Import directions"):

- no cycle among modules;
- the simulation packages (``society.sim``, ``lm``, ``metrics``, ``run``, ``corpora``,
  ``config``) import neither ``analysis`` nor the front ends (``society.app``);
- ``analysis`` imports nothing of ``society`` but the run-directory contract,
  ``society.run.layout``, which imports nothing of ``society`` (nor do the packages that
  importing it runs: ``society``, ``society.run``);
- at most 6 modules at the top of ``society/``.
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("society", "analysis")
SIMULATION = tuple(f"society.{p}" for p in ("sim", "lm", "metrics", "run", "corpora", "config"))
FRONT_ENDS = ("society.app",)
CONTRACT = "society.run.layout"


def modules(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Every module under ``packages``: dotted name -> file (a package is its ``__init__``)."""
    out = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _known(name: str, known: dict[str, Path]) -> str | None:
    """``name`` if it is a module of ours, else its longest prefix that is (None: external)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of ours that module ``name`` (at ``path``) imports, anywhere in its body."""
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            targets = [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"]
            targets = [t if t in known else base for t in targets] or [base]
        else:
            continue
        out |= {found for t in targets if (found := _known(t, known)) and found != name}
    return out


def import_graph(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    """Module -> the modules of ours it imports."""
    known = modules(root, packages)
    return {name: imports_of(name, path, known) for name, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[tuple[list[str], list[str]]]:
    """Every group of modules that import each other, with one shortest cycle through it.

    Returns:
        ``(cycle, members)`` per group: the cycle as ``[a, b, ..., a]`` from the group's
        alphabetically first module, and all the group's modules, sorted.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted((_shortest_cycle(graph, group), sorted(group)) for group in groups)


def _shortest_cycle(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest cycle from the group's first module back to it (breadth first, in group)."""
    start = min(group)
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if start in graph[node]:
            path = [node]
            while path[0] != start:
                path.insert(0, parent[path[0]])
            return [*path, start]
        for nxt in sorted(graph[node] & group):
            if nxt not in parent and nxt != start:
                parent[nxt] = node
                queue.append(nxt)
    raise AssertionError(f"no cycle through {start}")  # a strongly connected group has one


def describe(found: list[tuple[list[str], list[str]]]) -> str:
    """The cycles as numbered lines, each followed by every module of its group."""
    lines = [f"{len(found)} import cycle(s) (modules that import each other):"]
    for i, (cycle, members) in enumerate(found, 1):
        lines.append(f"  {i}. {' -> '.join(cycle)}")
        lines.append(f"     group of {len(members)}: {', '.join(members)}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_the_graph_sees_every_kind_of_import(tmp_path):
    """Relative, ``from package import module``, in functions and under TYPE_CHECKING."""
    pkg = tmp_path / "society"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .a import thing\n")
    (pkg / "sub" / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "import numpy\n"
        "from . import b\n"
        "from .. import top\n"
        "if TYPE_CHECKING:\n    from society.sub.c import C\n"
        "def f():\n    import society.sub\n    from society.top import name\n"
    )
    for leaf in ("b.py", "c.py"):
        (pkg / "sub" / leaf).write_text("")
    (pkg / "top.py").write_text("from society.sub import a\n")
    (tmp_path / "analysis").mkdir()
    (tmp_path / "analysis" / "__init__.py").write_text("from society import sub\n")
    found = import_graph(tmp_path)
    assert found["society.sub.a"] == {
        "society.sub.b",
        "society.sub.c",
        "society.top",
        "society.sub",
    }
    assert found["society.sub"] == {"society.sub.a"}
    assert found["analysis"] == {"society.sub"}
    group = ["society.sub", "society.sub.a", "society.top"]
    assert cycles(found) == [(["society.sub", "society.sub.a", "society.sub"], group)]


def test_cycles_are_found_and_named_readably():
    graph = {"a": {"b"}, "b": {"c", "x"}, "c": {"a", "d"}, "d": set(), "x": {"b"}, "y": set()}
    assert cycles(graph) == [(["a", "b", "c", "a"], ["a", "b", "c", "x"])]
    assert describe(cycles(graph)) == (
        "1 import cycle(s) (modules that import each other):\n"
        "  1. a -> b -> c -> a\n"
        "     group of 4: a, b, c, x"
    )


def test_the_source_graph_is_complete(graph):
    assert len(graph) > 60
    assert "society.config" in graph["society.sim.model"]  # a package: its __init__
    assert "society.run.layout" in graph["analysis.runs"]
    assert "analysis.report" in graph["society.app.cli"]  # imported inside a function


def test_no_import_cycles(graph):
    found = cycles(graph)
    assert not found, describe(found)


@pytest.mark.parametrize("package", SIMULATION)
def test_the_simulation_imports_neither_analysis_nor_front_ends(graph, package):
    bad = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        if _within(module, package)
        for target in targets
        if _within(target, "analysis") or any(_within(target, f) for f in FRONT_ENDS)
    )
    assert not bad, "\n".join(bad)


def test_analysis_imports_only_the_run_directory_contract(graph):
    bad = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        if _within(module, "analysis")
        for target in targets
        if _within(target, "society") and target != CONTRACT
    )
    assert not bad, "\n".join(bad)


def test_the_contract_imports_nothing_of_society(graph):
    runs_on_import = (CONTRACT, "society.run", "society")  # importing it runs these too
    assert {m: graph[m] for m in runs_on_import} == {m: set() for m in runs_on_import}


def test_few_modules_at_the_top_of_society():
    top = sorted(p.name for p in (ROOT / "society").glob("*.py"))
    assert len(top) <= 6, top
