"""The import graph of the product packages: no cycles, and the layers of ARCHITECTURE.md as contracts.

The contracts are ``[tool.importlinter]`` in pyproject.toml; ``lint-imports`` (import-linter) checks them
and is run here, so the suite fails on a new cycle or an import that goes up a layer. Function-level
(late) imports count like any other.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from copy import deepcopy
from pathlib import Path
from typing import Any

import grimp
import pytest
from importlinter.api import read_configuration
from importlinter.contracts.acyclic_siblings import AcyclicSiblingsContract
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.contracts.independence import IndependenceContract
from importlinter.contracts.layers import LayersContract

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("automcu", "agents", "api", "search_spaces")
CONTRACT_TYPES: dict[str, Any] = {
    "layers": LayersContract,
    "forbidden": ForbiddenContract,
    "independence": IndependenceContract,
    "acyclic_siblings": AcyclicSiblingsContract,
}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    for start in sorted(graph.modules):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = []

        def visit(m: str, work: list[tuple[str, Iterator[str]]]) -> None:
            index[m] = low[m] = len(index)
            stack.append(m)
            on_stack.add(m)
            work.append((m, iter(sorted(graph.find_modules_directly_imported_by(m)))))

        visit(start, work)
        while work:
            m, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    visit(child, work)
                elif child in on_stack:
                    low[m] = min(low[m], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[m])
            if low[m] == index[m]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == m:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def describe(graph: grimp.ImportGraph, component: list[str]) -> str:
    lines = []
    for a in component:
        for b in sorted(graph.find_modules_directly_imported_by(a) & set(component)):
            at = [d["line_number"] for d in graph.get_import_details(importer=a, imported=b)]
            lines.append(f"  {a} -> {b} (line {', '.join(map(str, at))})")
    return "\n".join(lines)


def broken_contracts(graph: grimp.ImportGraph) -> list[str]:
    """Names of the pyproject contracts that ``graph`` breaks (the checks ``lint-imports`` runs)."""
    config = read_configuration(str(ROOT / "pyproject.toml"))
    broken = []
    for contract_options in config["contracts_options"]:
        contract = CONTRACT_TYPES[contract_options["type"]](
            name=contract_options["name"], session_options=config["session_options"],
            contract_options=contract_options)
        if not contract.check(deepcopy(graph), verbose=False).kept:
            broken.append(contract_options["id"])
    return broken


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    cycles = import_cycles(graph)
    assert not cycles, "import cycles (move the shared piece into the lower module):\n" + "\n".join(
        describe(graph, c) for c in cycles)


def test_lint_imports_keeps_every_contract() -> None:
    exe = Path(sys.executable).parent / "lint-imports"  # the venv's console script
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
                                                                  "lint_imports_command()"]
    proc = subprocess.run([*cmd, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_the_contracts_hold_and_name_each_kind_of_break(graph: grimp.ImportGraph) -> None:
    """The check is not vacuous: one added import of each kind breaks the contracts that say so."""
    assert broken_contracts(graph) == []
    cases = {
        # an upward import: the hardware model reaching into the job loop
        ("automcu.hardware.spec", "automcu.engine.planner"): {"layers", "acyclic"},
        # the API reaching into the CLI
        ("api.routes.jobs", "automcu.cli.common"): {"layers", "api-not-cli"},
        # a cycle inside a package: the NB201 cell importing the module built on it
        ("search_spaces.nb201.cell", "search_spaces.nb201.space"): {"nb201-layers", "acyclic"},
        # a cycle between sibling modules no layers contract orders (catalog imports spec)
        ("automcu.hardware.spec", "automcu.hardware.catalog"): {"acyclic"},
    }
    for (importer, imported), expected in cases.items():
        g = deepcopy(graph)
        g.add_import(importer=importer, imported=imported)
        assert expected <= set(broken_contracts(g)), (importer, imported, broken_contracts(g))
    g = deepcopy(graph)
    g.add_import(importer="automcu.hardware.spec", imported="automcu.hardware.catalog")
    assert import_cycles(g) == [["automcu.hardware.catalog", "automcu.hardware.spec"]]


def test_architecture_md_draws_the_contracted_layers() -> None:
    config = read_configuration(str(ROOT / "pyproject.toml"))
    layers = next(c for c in config["contracts_options"] if c["id"] == "layers")["layers"]
    text = (ROOT / "ARCHITECTURE.md").read_text()
    for layer in layers:
        for module in layer.replace(":", "|").split("|"):
            assert module.strip() in text, f"ARCHITECTURE.md does not draw the layer {module.strip()}"
