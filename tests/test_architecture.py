"""The package's import graph has no cycles (beyond one known cycle, allow-listed below).

Every ``import`` and ``from … import`` of a crossbound module counts, at any depth: a function-
level import that only dodges a cycle is still an edge. ``from package import name`` is an
edge to the package (its ``__init__`` runs) and to ``package.name`` where that is a module.
A function-level import of a crossbound module must also say why it is there (it defers a
heavy import): a ``# lazy:`` comment, or a module docstring that declares ``Lazy imports:``.
"""

from __future__ import annotations

import ast
import re
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
    assert "crossbound.parties" in graph["crossbound.bench.shared"]


def test_the_import_graph_has_no_cycle_outside_the_allow_list():
    graph = import_graph()
    assert len(graph) > 100, "the package's modules were not found"
    bad = [c for c in cycles(graph) if not set(c) <= ALLOWED_CYCLE]
    report = "\n".join(f"cycle of {len(c)}: {', '.join(c)}" for c in bad)
    assert not bad, (
        f"import cycles (every import counts, function-level ones too):\n{report}\n"
        "Break them by moving what both sides need into a lower module; a function-level "
        "import that only hides the cycle does not count as breaking it.")


# ---------------------------------------------------------------- layers

# The package's layers, lowest first: a module may import from its own layer and the ones
# below, never from one above. A unit is a top-level module or subpackage of crossbound ("" is
# the package root, a lazy facade over everything). No import reaches up.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"naming", "defaults", "result", "config_checks"}),  # plain values and checks
    frozenset({"tasks"}),
    frozenset({"models"}),
    frozenset({"boundary"}),  # messages, contracts, transcripts: it imports no other unit
    frozenset({"training", "evaluate", "privacy"}),  # the parties' tools; they use each other
    frozenset({"parties"}),  # the model party and its operations
    frozenset({"strategy"}),  # the strategy kit: configs, RunContext, registries
    frozenset({"baselines", "downward", "upward", "inference", "split"}),  # the families
    frozenset({"catalog"}),  # every strategy, by name
    frozenset({"runner"}),  # runs any strategy of the catalogue
    frozenset({"bench", "federation", "service"}),
    frozenset({"cli", ""}),
)
RANK = {unit: rank for rank, layer in enumerate(LAYERS) for unit in layer}

def unit_of(module: str) -> str:
    """The top-level unit a crossbound module belongs to ("" for the package root)."""
    return module.split(".")[1] if "." in module else ""


def upward_imports(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(importer, imported) pairs where the imported module sits in a higher layer."""
    return {(module, target) for module, targets in graph.items() for target in targets
            if RANK[unit_of(target)] > RANK[unit_of(module)]}


def test_upward_imports_are_found():
    graph = {"crossbound.tasks.base": {"crossbound.naming", "crossbound.cli.run"},
             "crossbound.cli.run": {"crossbound.tasks.base", "crossbound"},
             "crossbound.training.x": {"crossbound.evaluate.y"}, "crossbound": set()}
    assert upward_imports(graph) == {("crossbound.tasks.base", "crossbound.cli.run")}


def test_every_unit_of_the_package_has_a_layer():
    units = {unit_of(module) for module in import_graph()}
    unplaced = sorted(units - set(RANK))
    assert not unplaced, f"place these units of crossbound in LAYERS: {unplaced}"
    assert not set(RANK) - units, f"LAYERS names units that are gone: {set(RANK) - units}"


def test_no_module_imports_from_a_higher_layer():
    graph = import_graph()
    assert set(graph) and all(unit_of(m) in RANK for m in graph), "see the test above"
    new = sorted(upward_imports(graph))
    assert not new, (
        "imports from a higher layer (LAYERS, lowest first):\n"
        + "\n".join(f"{a} -> {b}" for a, b in new)
        + "\nMove what the lower module needs down (or the importer up); a function-level "
        "import counts too.")


# ---------------------------------------------------------------- function-level imports

# A crossbound import inside a function defers loading that module. That is only worth it for
# start-up speed (the CLI's `--help`, the package root, the Flower-free federation registry):
# such an import says so with a `# lazy: why` comment on its line or in the comment lines right
# above it (which also cover the imports that directly follow it), or its module's docstring
# declares it for every command ("Lazy imports: ..."). Anything else belongs at the top.
LAZY_COMMENT = re.compile(r"#\s*lazy:", re.IGNORECASE)
LAZY_DOCSTRING = "Lazy imports:"


def undeclared_lazy_imports(source: str, module: str,
                            is_package: bool = False) -> list[tuple[int, str]]:
    """(line, imported module) of each crossbound import inside a function of ``source`` that
    declares no reason to be there (see ``LAZY_COMMENT``)."""
    tree = ast.parse(source)
    if LAZY_DOCSTRING in (ast.get_docstring(tree) or ""):
        return []
    lines = source.splitlines()
    nodes = sorted({id(n): n for fn in ast.walk(tree)
                    if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
                    for n in ast.walk(fn) if isinstance(n, ast.Import | ast.ImportFrom)
                    }.values(), key=lambda n: n.lineno)
    covered_until = 0  # last line of a declared import: the one right after it is covered too
    found = []
    for node in nodes:
        first, last = node.lineno, node.end_lineno or node.lineno
        above = first - 1
        comments = []
        while above >= 1 and lines[above - 1].lstrip().startswith("#"):
            comments.append(lines[above - 1])
            above -= 1
        declared = (covered_until == first - 1
                    or any(LAZY_COMMENT.search(line) for line in lines[first - 1:last])
                    or any(LAZY_COMMENT.search(line) for line in comments))
        if declared:
            covered_until = last
        names = [n for n in _imported(node, module, is_package)
                 if n == PACKAGE or n.startswith(PACKAGE + ".")]
        if names and not declared:
            found.append((first, names[0]))
    return found


def test_undeclared_lazy_imports_are_found():
    source = (
        '"""A module."""\n'
        "import os\n"
        "from crossbound.naming import coerce\n"
        "def f():\n"
        "    from crossbound.tasks import base\n"  # 5: undeclared
        "    import json\n"  # not crossbound
        "def g():\n"
        "    # lazy: torch, only when asked\n"
        "    # (a second comment line)\n"
        "    from crossbound.models import loading\n"
        "    from crossbound.models import precision\n"  # follows a declared one
        "\n"
        "    from . import sibling\n"  # 13: a blank line ends the declared run
        "    from crossbound.result import Result  # lazy: why\n"
    )
    assert undeclared_lazy_imports(source, "crossbound.pkg.mod") == [
        (5, "crossbound.tasks"), (13, "crossbound.pkg")]
    declared = '"""A command.\n\nLazy imports: every command loads torch when it runs.\n"""\n'
    assert undeclared_lazy_imports(declared + "def f():\n    import crossbound.runner\n",
                                   "crossbound.cli.x") == []


def test_function_level_imports_declare_why():
    undeclared = []
    for module, path in _modules().items():
        found = undeclared_lazy_imports(path.read_text(encoding="utf-8"), module,
                                        path.name == "__init__.py")
        undeclared += [(module, line, name) for line, name in found]
    assert not undeclared, (
        "function-level imports of crossbound modules with no reason given:\n"
        + "\n".join(f"{m}:{line} imports {name}" for m, line, name in undeclared)
        + "\nMove each to the top of its module (an import cycle is broken by moving what both "
        "sides need into a lower module, not by hiding it in a function). Where it defers a "
        "heavy import (torch, transformers, Flower, Presidio) that the module otherwise does "
        "not load, for start-up speed, say so: `# lazy: why` on its line or the line above, or "
        "`Lazy imports: why` in the module docstring of a CLI module.")

