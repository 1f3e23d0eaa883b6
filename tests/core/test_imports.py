"""The import rule: no module of the installed package imports itself back, even through functions.

The graph is read from the source of every module of the installed `reasonkit` (its packages as
pyproject.toml lists them, found where Python imports them from). Every `import` statement counts, also one
inside a function (it runs when the function is called, and a cycle through it is still a cycle); one under
`if TYPE_CHECKING:` does not, since it never runs. grimp would build this graph, but it walks one folder per
top-level package and cannot follow pyproject's package-dir mapping (lm/, strategies/, benchmarks/ become
reasonkit.*) in an editable install, so the statements are read with ast here.
"""

from __future__ import annotations

import ast
import importlib.util
import pkgutil
import sys
import tomllib
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[2]
STUDIES = "reasonkit.benchmarks.studies"
CLIENT_SIDE = {
    "reasonkit.client",
    "reasonkit.microbatch",
    "reasonkit.cache",
    "reasonkit.protocol",
    "reasonkit.types",
}


def package_modules() -> dict[str, Path]:
    """Every module of the installed package: name -> source file."""
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    modules: dict[str, Path] = {}
    for package in packages:
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.origin is not None and spec.submodule_search_locations is not None
        modules[package] = Path(spec.origin)
        for info in pkgutil.iter_modules(spec.submodule_search_locations):
            if not info.ispkg:
                folder = Path(info.module_finder.path)  # type: ignore[union-attr]
                modules[f"{package}.{info.name}"] = folder / f"{info.name}.py"
    return modules


def _type_checking_only(tree: ast.Module) -> set[int]:
    """ids of the nodes under `if TYPE_CHECKING:` (never run)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for statement in node.body for inner in ast.walk(statement))
    return skipped


def imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that `name` imports anywhere in its body (the deepest module each names)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped = _type_checking_only(tree)
    targets: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name if path.name == "__init__.py" else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            targets.update(
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                for alias in node.names
            )
    found = set()
    for target in targets:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)
    return found


@pytest.fixture(scope="module")
def graph() -> nx.DiGraph:
    modules = package_modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        graph.add_edges_from((name, target) for target in imported(name, path, modules))
    return graph


def test_the_graph_covers_every_mapped_package(graph: nx.DiGraph) -> None:
    for module in (
        "reasonkit.driver",
        "reasonkit.lm.model",
        "reasonkit.strategies.direct",
        "reasonkit.benchmarks.runner",
    ):
        assert module in graph
    assert graph.has_edge("reasonkit.benchmarks.runner", "reasonkit.driver")


def test_no_import_cycle_anywhere(graph: nx.DiGraph) -> None:
    cycles = [" -> ".join([*cycle, cycle[0]]) for cycle in nx.simple_cycles(graph)]
    assert not cycles, "import cycles:\n" + "\n".join(sorted(cycles))


def test_the_library_never_imports_the_studies(graph: nx.DiGraph) -> None:
    bad = sorted(
        f"{source} -> {target}"
        for source, target in graph.edges
        if target.startswith(STUDIES) and not source.startswith(STUDIES)
    )
    assert not bad, bad


def test_strategies_call_the_client_never_the_driver(graph: nx.DiGraph) -> None:
    """Layers: types/protocol <- client <- driver <- strategy <- strategies <- benchmarks/commands. The driver
    runs strategies but names `Strategy` only for type checking, so `Strategy.run` can call it."""
    client_reaches = nx.descendants(graph, "reasonkit.client")
    assert not client_reaches & {"reasonkit.driver", "reasonkit.strategy"}, client_reaches
    driver_reaches = nx.descendants(graph, "reasonkit.driver")
    assert driver_reaches <= CLIENT_SIDE, driver_reaches
    composites = [m for m in graph if m.startswith("reasonkit.strategies.")]
    bad = sorted(f"{m} -> reasonkit.driver" for m in composites if graph.has_edge(m, "reasonkit.driver"))
    assert not bad, bad


def test_the_old_batching_module_still_imports_and_says_where_things_went() -> None:
    import reasonkit.client
    import reasonkit.driver

    sys.modules.pop("reasonkit.batching", None)
    with pytest.warns(DeprecationWarning, match="reasonkit.client .* reasonkit.driver"):
        old = importlib.import_module("reasonkit.batching")
    assert old.BatchingClient is reasonkit.client.BatchingClient
    assert old.solve_traced is reasonkit.client.solve_traced
    assert old.run_questions is reasonkit.driver.run_questions
    assert old.QuestionError is reasonkit.driver.QuestionError
