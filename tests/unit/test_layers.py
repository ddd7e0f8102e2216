"""The package's layering, checked on every `make lint` (and in the suite): read from the
source with `ast`, function-level imports included, so a cycle cannot hide in a function.

Layers, lowest first: kubetfx.errors; kubetfx.components (stages and their shared modules)
and kubetfx.serving (the model server, its own environment); kubetfx.pipelines; then
kubetfx.runners and kubetfx.cli. A module imports only its own layer or lower ones, and no
two modules import each other, directly or round a longer cycle.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "kubetfx"
LAYERS = {
    "kubetfx.errors": 0,
    "kubetfx.components": 1,
    "kubetfx.serving": 1,
    "kubetfx.pipelines": 2,
    "kubetfx.runners": 3,
    "kubetfx.cli": 3,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST):
    """Every node, except under `if TYPE_CHECKING:` (imports for annotations only)."""
    pending = [tree]
    while pending:
        node = pending.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and getattr(child.test, "id", "") == "TYPE_CHECKING":
                pending.extend(child.orelse)
                continue
            pending.append(child)


def import_graph() -> dict[str, set[str]]:
    """module -> the kubetfx modules it imports (`from a import b` counts a.b when it is one)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = set()
        for node in _runtime_nodes(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found |= {f"{node.module}.{a.name}" for a in node.names}
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def layer(module: str) -> int:
    return max(v for k, v in LAYERS.items() if module == k or module.startswith(k + "."))


def upward_imports(graph) -> list[str]:
    return sorted(
        f"{a} -> {b}"
        for a, targets in graph.items()
        for b in targets
        if a != "kubetfx" and b != "kubetfx" and layer(b) > layer(a)
    )


def cycles(graph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    sys.setrecursionlimit(10_000)
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


# Stages read each other's outputs through kubetfx.components.contracts (file names and
# readers) and the shared modules beside the stages, never through another stage's modules.


def cross_stage_imports(graph) -> list[str]:
    """A stage's module importing a module of another stage (not a shared one)."""
    found = []
    for a, targets in graph.items():
        for b in targets:
            pa, pb = a.split("."), b.split(".")
            stages = len(pa) > 3 and len(pb) > 3 and pa[1] == pb[1] == "components"
            if stages and pa[2] != pb[2]:
                found.append(f"{a} -> {b}")
    return sorted(found)


def _logic_graph() -> dict[str, set[str]]:
    """The import graph without a package's __init__ importing its own submodules."""
    return {a: {b for b in bs if not b.startswith(a + ".")} for a, bs in import_graph().items()}


def problems(graph) -> list[str]:
    found = [f"upward import: {p}" for p in upward_imports(graph)]
    found += [f"import cycle: {' <-> '.join(c)}" for c in cycles(graph)]
    found += [
        f"cross-stage import (use kubetfx.components.contracts or a shared module): {edge}"
        for edge in cross_stage_imports(graph)
    ]
    return found


def test_no_upward_import_cycle_or_cross_stage_import():
    assert problems(_logic_graph()) == []


def test_the_checks_catch_what_they_are_for():
    graph = {
        "kubetfx.components.a": {"kubetfx.components.b", "kubetfx.pipelines.x"},
        "kubetfx.components.b": {"kubetfx.components.a"},
    }
    assert upward_imports(graph) == ["kubetfx.components.a -> kubetfx.pipelines.x"]
    assert cycles(graph) == [["kubetfx.components.a", "kubetfx.components.b"]]
    stages = {
        "kubetfx.components.evaluate.core": {
            "kubetfx.components.train.export",
            "kubetfx.components.contracts",
            "kubetfx.components.evaluate.results",
        }
    }
    assert cross_stage_imports(stages) == [
        "kubetfx.components.evaluate.core -> kubetfx.components.train.export"
    ]


if __name__ == "__main__":  # `make lint`: print what is wrong, exit 1
    found = problems(_logic_graph())
    print("\n".join(found) or "layers: no upward import, no cycle, no cross-stage import")
    sys.exit(1 if found else 0)
