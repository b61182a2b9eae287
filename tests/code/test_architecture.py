"""The package layering, read from the source with `ast`: imports run downward only
(core <- features <- synthetic, training <- serving, monitoring <- reports, and the `leadscore`
command on top), every package of the project has a floor, and no module imports itself in a
circle, counting imports inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# the floors: a package imports only from lower floors (and from itself); packages on one floor
# do not import each other. The synthetic CRM talks to the service over HTTP only; monitoring reads
# the store and the model versions' profiles, and the service runs it in a subprocess for its gauges.
LAYERS = {
    "core": 0,
    "features": 1,
    "synthetic": 2,
    "training": 2,
    "serving": 3,
    "monitoring": 3,
    "reports": 4,
    "leadscore_cli": 5,
}


def packages() -> set[str]:
    """The project's top-level packages as setuptools installs them (pyproject.toml), and every
    folder beside them that holds an `__init__.py` (tests and benchmarks aside)."""
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"]
    folders = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "benchmarks", "notebooks"}
    return {name.split(".")[0] for name in declared} | folders


def modules() -> dict[str, Path]:
    """Every product module by dotted name."""
    out = {"leadscore_cli": ROOT / "leadscore_cli.py"}
    for package in set(LAYERS) - {"leadscore_cli"}:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The product modules `path` imports, anywhere in the file (`from training import registry`
    counts as training.registry)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name in known}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, known) - {name} for name, path in known.items()}


def test_every_package_has_a_floor():
    assert packages() | {"leadscore_cli"} == set(LAYERS), "a package without a floor in LAYERS, or a floor for none"


def test_the_walk_sees_the_packages_and_their_imports():
    edges = graph()
    assert {"core.schema", "features.build", "training.model", "serving.service", "reports.compare"} <= set(edges)
    assert "core.schema" in edges["serving.schemas"]  # a real import, found


def test_imports_run_downward_only():
    wrong = []
    for module, targets in graph().items():
        for target in targets:
            mine, theirs = module.split(".")[0], target.split(".")[0]
            if LAYERS[theirs] > LAYERS[mine] or (LAYERS[theirs] == LAYERS[mine] and theirs != mine):
                wrong.append(f"{module} imports {target}")
    assert not wrong, "imports against the layering (LAYERS):\n" + "\n".join(sorted(wrong))


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles():
    assert not cycles(graph()), f"import circles: {cycles(graph())}"


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),  # a circle through a function-level import is still one
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ],
)
def test_cycle_finder(edges, expected):
    assert cycles(edges) == expected
