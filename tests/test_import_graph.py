"""The package's modules import each other without circles.

Every module of ``multilevel`` is imported (``pkgutil.walk_packages``) and its source read
with ``ast``. An edge ``A -> B`` is drawn when ``A`` imports module ``B`` or a name from ``B``,
at module level or inside a function; importing from a package (``from ..formula import x``)
is an edge to that package (its ``__init__``). A package ``__init__`` that exports names lazily
(a dict from relative module names, ``{".submodule": (names, ...)}``, see ``multilevel._lazy``)
has an edge to each of those modules. Imports under ``if TYPE_CHECKING:`` are not executed and
draw no edge.

Function-level imports of the package's own modules are allowed only as lazy imports of heavy
modules: those that load JAX, NumPyro, ArviZ, matplotlib or formulaic when imported (formulaic
takes about half a second to import; ``brma`` without moderators does not need it).
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path

import pytest

import multilevel

HEAVY = ("jax", "numpyro", "arviz", "matplotlib", "formulaic")


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    lineno: int
    lazy: bool  # inside a function


def _modules() -> dict[str, tuple[Path, bool]]:
    """Every module of the package, imported: name -> (file, is a package)."""
    out = {"multilevel": (Path(multilevel.__file__), True)}
    for info in pkgutil.walk_packages(multilevel.__path__, prefix="multilevel."):
        module = importlib.import_module(info.name)
        out[info.name] = (Path(module.__file__), info.ispkg)
    return out


def _scopes(tree: ast.AST) -> tuple[set[int], set[int]]:
    """ids of the nodes inside functions and inside ``if TYPE_CHECKING:`` blocks."""
    in_function, type_checking = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            in_function |= {id(n) for n in ast.walk(node)}
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_checking |= {id(n) for b in node.body for n in ast.walk(b)}
    return in_function, type_checking


def _base(name: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = name.split(".") if is_package else name.split(".")[:-1]
    parts = parts[:len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def _targets(node: ast.AST, name: str, is_package: bool, modules) -> list[str]:
    if isinstance(node, ast.ImportFrom):
        base = _base(name, is_package, node)
        return [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    return []


def _third_party(node: ast.AST, name: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.ImportFrom):
        return [_base(name, is_package, node)]
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    return []


def build_graph() -> tuple[dict[str, tuple[Path, bool]], list[Edge], set[str]]:
    """The modules, the intra-package import edges and the modules importing a heavy dependency."""
    modules = _modules()
    edges: list[Edge] = []
    heavy: set[str] = set()
    for name, (path, is_package) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        in_function, type_checking = _scopes(tree)
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or id(node) in type_checking:
                continue
            lazy = id(node) in in_function
            if not lazy and any(t.split(".")[0] in HEAVY for t in _third_party(node, name, is_package)):
                heavy.add(name)
            for target in _targets(node, name, is_package, modules):
                if target in modules and target != name:
                    edges.append(Edge(name, target, node.lineno, lazy))
        if is_package:
            edges += [Edge(name, f"{name}{key}", line, False) for key, line in _lazy_exports(tree, in_function)]
    return modules, edges, heavy


def _lazy_exports(tree: ast.AST, in_function: set[int]) -> list[tuple[str, int]]:
    """Relative module names (".x") that are the keys of a dict literal at module level."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict) and id(node) not in in_function and node.keys and all(
                isinstance(k, ast.Constant) and isinstance(k.value, str) and k.value.startswith(".")
                for k in node.keys):
            out += [(k.value, k.lineno) for k in node.keys]
    return out


def find_cycles(nodes, edges: list[Edge]) -> list[list[str]]:
    """One circle (a list of modules, the first repeated at the end) per strongly connected component."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for e in edges:
        succ[e.source].append(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(comp)

    for v in sorted(succ):
        if v not in index:
            visit(v)
    return [_circle_in(sorted(comp), succ) for comp in components]


def _circle_in(component: list[str], succ: dict[str, list[str]]) -> list[str]:
    """A shortest circle through the first module of a strongly connected component (breadth first)."""
    members, start = set(component), component[0]
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in succ[v]:
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if w in members and w not in parent:
                    parent[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no circle found in {component}")  # pragma: no cover


def _describe(circle: list[str], edges: list[Edge]) -> str:
    steps = []
    for a, b in zip(circle, circle[1:]):
        where = [e for e in edges if e.source == a and e.target == b]
        lines = ", ".join(f"line {e.lineno}{' (in a function)' if e.lazy else ''}" for e in where)
        steps.append(f"  {a} -> {b}  [{lines}]")
    return "\n".join(steps)


@pytest.fixture(scope="module")
def graph():
    return build_graph()


def test_every_module_is_imported(graph):
    modules, _, _ = graph
    assert "multilevel.formula._design" in modules and "multilevel.meta.shared._input" in modules
    assert len(modules) > 80


def test_no_import_circles(graph):
    modules, edges, _ = graph
    cycles = find_cycles(modules, edges)
    assert not cycles, "import circles:\n" + "\n\n".join(_describe(c, edges) for c in cycles)


def test_lazy_imports_are_of_heavy_modules(graph):
    """A function-level import of a package module is deferred only because that module is heavy."""
    modules, edges, direct = graph
    eager: dict[str, set[str]] = {}
    for e in edges:
        if not e.lazy:
            eager.setdefault(e.source, set()).add(e.target)

    def is_heavy(name: str, seen: set[str]) -> bool:
        seen.add(name)
        return name in direct or any(is_heavy(t, seen) for t in eager.get(name, ()) if t not in seen)

    light = [e for e in edges if e.lazy and not is_heavy(e.target, set())]
    assert not light, "function-level imports of light modules (import them at module level):\n" + "\n".join(
        f"  {e.source} line {e.lineno} -> {e.target}" for e in light)


def test_lazy_exports_are_edges(graph):
    _, edges, _ = graph
    assert any(e.source == "multilevel" and e.target == "multilevel.bayes" for e in edges)
    assert any(e.source == "multilevel.formula" and e.target == "multilevel.formula._build" for e in edges)


def test_circle_finder_reports_a_circle():
    edges = [Edge("a", "b", 1, False), Edge("b", "c", 2, True), Edge("c", "a", 3, False), Edge("c", "d", 4, False)]
    assert find_cycles(["a", "b", "c", "d"], edges) == [["a", "b", "c", "a"]]
    assert find_cycles(["a", "b"], [Edge("a", "b", 1, False)]) == []
