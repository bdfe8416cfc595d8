"""The package's import graph has no cycles (beyond one known cycle, allow-listed below).

Every ``import`` and ``from … import`` of a crossbound module counts, at any depth: a function-
level import that only dodges a cycle is still an edge. ``from package import name`` is an
edge to the package (its ``__init__`` runs) and to ``package.name`` where that is a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import crossbound

PACKAGE = "crossbound"
ROOT = Path(crossbound.__file__).parent

# No cycle is allowed: the strategy families register into their own registry modules and the
# catalogue (crossbound.catalog) sits above them, so nothing reaches back.
ALLOWED_CYCLE: frozenset[str] = frozenset()


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (packages by __init__)."""
    modules = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = (PACKAGE, *path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The dotted names an import statement in ``module`` may load."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: from the module's package, one level up per extra dot
        package = module if is_package else module.rpartition(".")[0]
        parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
        base = ".".join([*parts, *([node.module] if node.module else [])])
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (anywhere in its source)."""
    modules = _modules()

    def resolve(name: str) -> str | None:  # the module a dotted name lives in
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges = graph.setdefault(module, set())
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for name in _imported(node, module, path.name == "__init__.py"):
                    if name == PACKAGE or name.startswith(PACKAGE + "."):
                        target = resolve(name)
                        if target is not None and target != module:
                            edges.add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycles_and_edges_are_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"d"}, "f": {"f"}}
    assert cycles(graph) == [["a", "b", "c"]]
    tree = ast.parse("from . import x\nfrom ..y import z\nimport crossbound.p.q as q\n")
    found = [_imported(n, "crossbound.p.m", False) for n in tree.body
             if isinstance(n, ast.Import | ast.ImportFrom)]
    assert found == [["crossbound.p", "crossbound.p.x"], ["crossbound.y", "crossbound.y.z"],
                     ["crossbound.p.q"]]
    assert _imported(tree.body[0], "crossbound.p", True) == ["crossbound.p", "crossbound.p.x"]
    # In the package: function-level imports count (federation's lazy __getattr__), and
    # `from package import name` reaches the package (parties) or the module (config).
    graph = import_graph()
    assert {"crossbound.federation.config", "crossbound.federation.run"} <= graph[
        "crossbound.federation"]
    assert "crossbound.parties" in graph["crossbound.evaluate.served"]


def test_the_import_graph_has_no_cycle_outside_the_allow_list():
    graph = import_graph()
    assert len(graph) > 100, "the package's modules were not found"
    bad = [c for c in cycles(graph) if not set(c) <= ALLOWED_CYCLE]
    report = "\n".join(f"cycle of {len(c)}: {', '.join(c)}" for c in bad)
    assert not bad, (
        f"import cycles (every import counts, function-level ones too):\n{report}\n"
        "Break them by moving what both sides need into a lower module; a function-level "
        "import that only hides the cycle does not count as breaking it.")
