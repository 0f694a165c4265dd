"""The code's shape, checked: no import cycle, the arrows between the rooms, small modules.

Imports are read with ``ast`` from every ``.py`` under the four rooms, wherever they sit (top level,
inside functions, under ``if TYPE_CHECKING``), relative ones resolved against their package. An
import edge goes to the module named: ``import a.b.c`` and ``from a.b import c`` (``c`` a module)
point at ``a.b.c`` only, not at the packages above it, so a package ``__init__`` that imports its own
submodules is not a cycle by itself; ``from a.b import name`` points at ``a.b`` (its ``__init__``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest


def _repo_root() -> Path:
    for folder in Path(__file__).resolve().parents:
        if (folder / "pyproject.toml").is_file():
            return folder
    raise RuntimeError("no pyproject.toml above the tests")


ROOT = _repo_root()
MAX_LINES = 450


@dataclass(frozen=True)
class Room:
    """A top-level package and what of ours it may import besides itself (dotted module prefixes)."""

    name: str
    may_import: tuple[str, ...]
    max_lines: int = MAX_LINES


ROOMS: tuple[Room, ...] = (
    Room("models", ()),
    Room("vision", ("models",)),
    Room("evidence", ("models.strict",)),
    Room("pipelines", ("models", "vision", "evidence")),
)
ROOM_NAMES = tuple(room.name for room in ROOMS)


@dataclass(frozen=True)
class Module:
    name: str  # dotted; a package's __init__ carries the package's name
    path: Path
    is_package: bool


@dataclass(frozen=True)
class Edge:
    """One import statement of ours: ``source`` imports ``target`` at ``path:line``."""

    source: str
    target: str
    path: Path
    line: int

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


# ---------------------------------------------------------------------------------------------
# reading the tree


def module_of(path: Path, root: Path = ROOT) -> Module:
    parts = path.relative_to(root).with_suffix("").parts
    is_package = parts[-1] == "__init__"
    return Module(".".join(parts[:-1] if is_package else parts), path, is_package)


def discover(root: Path = ROOT, rooms: Iterable[str] = ROOM_NAMES) -> dict[str, Module]:
    modules = {}
    for room in rooms:
        for path in sorted((root / room).rglob("*.py")):
            module = module_of(path, root)
            modules[module.name] = module
    return modules


def _ours(name: str, rooms: Iterable[str]) -> bool:
    return name.split(".", 1)[0] in rooms


def import_edges(module: Module, source: str, known: set[str], rooms: Iterable[str] = ROOM_NAMES) -> tuple[list[Edge], list[str]]:
    """(edges to our modules, imports of ours that name no module) for one module's source text."""
    rooms = tuple(rooms)
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    edges: list[Edge] = []
    unresolved: list[str] = []

    def add(target: str | None, line: int, text: str) -> None:
        if target is None:
            unresolved.append(f"{module.path.name}:{line} {text}")
        elif target != module.name:
            edges.append(Edge(module.name, target, module.path, line))

    for node in ast.walk(ast.parse(source, filename=str(module.path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _ours(alias.name, rooms):
                    add(alias.name if alias.name in known else None, node.lineno, f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                up = package.split(".")
                if node.level - 1 >= len(up):
                    add(None, node.lineno, f"from {'.' * node.level}{node.module or ''} (above the top level)")
                    continue
                base = ".".join(up[: len(up) - (node.level - 1)])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            if not _ours(base, rooms):
                continue
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in known:
                    add(submodule, node.lineno, f"from {base} import {alias.name}")
                else:
                    add(base if base in known else None, node.lineno, f"from {base} import {alias.name}")
    return edges, unresolved


@cache
def graph() -> tuple[dict[str, Module], tuple[Edge, ...], tuple[str, ...]]:
    modules = discover()
    known = set(modules)
    edges: list[Edge] = []
    unresolved: list[str] = []
    for module in modules.values():
        found, missing = import_edges(module, module.path.read_text(encoding="utf-8"), known)
        edges += found
        unresolved += [f"{module.path.relative_to(ROOT).parent}/{text}" for text in missing]
    return modules, tuple(edges), tuple(unresolved)


# ---------------------------------------------------------------------------------------------
# cycles


def cycles(nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Concrete cycles (first node repeated at the end) covering every module caught in one: per strongly
    connected component, a shortest cycle through its first member not yet on a listed cycle."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
        succ.setdefault(b, [])
    for targets in succ.values():
        targets.sort()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    for start in sorted(succ):  # Tarjan, iterative: deep import chains must not hit the recursion limit
        if start in index:
            continue
        work = [(start, iter(succ[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            child = next(it, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(succ[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in succ[node]:
                    components.append(sorted(component))

    found = []
    for component in sorted(components):
        members, covered = set(component), set()
        for member in component:
            if member not in covered:
                cycle = _cycle_through(member, members, succ)
                covered.update(cycle)
                found.append(cycle)
    return found


def _cycle_through(start: str, members: set[str], succ: dict[str, list[str]]) -> list[str]:
    """A shortest path from ``start`` back to itself inside one component (breadth first)."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in succ[node]:
                if child not in members:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start] if node != start else [start, start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"{start} is in a cycle but no path leads back to it")


def _describe(cycle: list[str], edges: tuple[Edge, ...]) -> str:
    where = {}
    for edge in edges:
        where.setdefault((edge.source, edge.target), edge.where())
    steps = [f"{a} -> {b} ({where[(a, b)]})" for a, b in zip(cycle, cycle[1:])]
    return " -> ".join(cycle) + "\n      " + "\n      ".join(steps)


# ---------------------------------------------------------------------------------------------
# the walker itself, on a synthetic tree

_SYNTHETIC = {
    "a/__init__.py": "from a.b import c\nfrom . import d\n",
    "a/b/__init__.py": "from .c import thing\n",
    "a/b/c.py": "import os\nthing = 1\n",
    "a/d.py": "def late():\n    from .b import c\n    from ..z import q\n    import a.b.c\n    from a.b import thing\n    from a import nothing_here\n",
    "a/e.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from a.d import late\nimport a.missing\n",
}


@pytest.mark.parametrize(
    "path,edges,unresolved",
    [
        ("a/__init__.py", [("a.b.c", 1), ("a.d", 2)], []),  # a package importing its own submodules
        ("a/b/__init__.py", [("a.b.c", 1)], []),  # relative, from a package __init__
        ("a/b/c.py", [], []),  # stdlib only
        # inside a function; relative one and two levels up; a module vs a name from a package
        ("a/d.py", [("a.b.c", 2), ("a.b.c", 4), ("a.b", 5), ("a", 6)], ["d.py:3 from ..z (above the top level)"]),
        ("a/e.py", [("a.d", 3)], ["e.py:4 import a.missing"]),  # TYPE_CHECKING counts; a missing module is reported
    ],
)
def test_synthetic_import_walker(tmp_path: Path, path: str, edges: list[tuple[str, int]], unresolved: list[str]) -> None:
    for name, text in _SYNTHETIC.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    modules = discover(tmp_path, ["a"])
    assert set(modules) == {"a", "a.b", "a.b.c", "a.d", "a.e"}
    module = module_of(tmp_path / path, tmp_path)
    found, missing = import_edges(module, (tmp_path / path).read_text(), set(modules), ["a"])
    assert [(e.target, e.line) for e in found] == edges
    assert missing == unresolved


@pytest.mark.parametrize(
    "edges,expected",
    [
        ([("a", "b"), ("b", "c")], []),
        ([("a", "b"), ("b", "a")], [["a", "b", "a"]]),
        ([("a", "a")], [["a", "a"]]),
        ([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "e"), ("e", "d")], [["a", "b", "c", "a"], ["d", "e", "d"]]),
        # one component: shortest loops until every member is on one
        ([("x", "y"), ("y", "z"), ("z", "y"), ("y", "x")], [["x", "y", "x"], ["z", "y", "z"]]),
        ([("h", "r1"), ("r1", "h"), ("h", "r2"), ("r2", "h"), ("r2", "r3"), ("r3", "r2")], [["h", "r1", "h"], ["r2", "h", "r2"], ["r3", "r2", "r3"]]),
    ],
)
def test_synthetic_cycle_finder(edges: list[tuple[str, str]], expected: list[list[str]]) -> None:
    assert cycles([], edges) == expected


# ---------------------------------------------------------------------------------------------
# the project


def test_every_import_of_ours_names_a_module() -> None:
    _, _, unresolved = graph()
    assert not unresolved, "imports of our packages that name no module:\n  " + "\n  ".join(unresolved)


@pytest.mark.parametrize("room", ROOM_NAMES)
def test_no_import_cycle(room: str) -> None:
    """No cycle through any module of ``room`` (a cycle across rooms fails for each room it touches)."""
    modules, edges, _ = graph()
    found = [c for c in cycles(modules, [(e.source, e.target) for e in edges]) if any(_ours(m, [room]) for m in c)]
    assert not found, f"{len(found)} import cycle(s) through {room}/:\n  " + "\n  ".join(_describe(c, edges) for c in found)


@pytest.mark.parametrize("room", ROOMS, ids=ROOM_NAMES)
def test_room_imports_only_what_its_arrows_allow(room: Room) -> None:
    _, edges, _ = graph()
    allowed = (room.name, *room.may_import)
    bad = [
        f"{e.where()} {e.source} imports {e.target}"
        for e in edges
        if _ours(e.source, [room.name]) and not any(e.target == a or e.target.startswith(f"{a}.") for a in allowed)
    ]
    others = ", ".join(room.may_import) or "nothing of ours"
    assert not bad, f"{room.name}/ may import only {others}; found:\n  " + "\n  ".join(bad)


@pytest.mark.parametrize("room", ROOMS, ids=ROOM_NAMES)
def test_no_module_over_the_line_limit(room: Room) -> None:
    modules, _, _ = graph()
    long = []
    for module in modules.values():
        if _ours(module.name, [room.name]):
            lines = len(module.path.read_text(encoding="utf-8").splitlines())
            if lines > room.max_lines:
                long.append(f"{module.path.relative_to(ROOT)}: {lines} lines")
    assert not long, f"modules in {room.name}/ over {room.max_lines} lines:\n  " + "\n  ".join(sorted(long))
