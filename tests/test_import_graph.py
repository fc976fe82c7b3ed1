"""The import graph of twin/, actors/ and synthetic_streams/: no circle, arrows pointing down.

The graph is read from the source with `ast` (nothing is imported): every `import` and
`from ... import` at module level or inside a function is an arrow, relative imports
resolved; `from pkg import name` points at `pkg.name` when that is a module. Imports under
`if TYPE_CHECKING:` are never run, so they cannot close a circle at import time; they still
count for layering (a type from an engine is still an arrow up into it).

Layers (docs/architecture.md): the core, the scenario schema, the results format and the
other leaves at the bottom import no engine (twin.sim, twin.live, actors, SimPy, Ray) and no
consumer (the command lines, compare, pages, reports, plots); neither engine imports the
other, nor compare or the command line; synthetic_streams stands on its own.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("twin", "actors", "synthetic_streams")

ENGINES = ("twin.sim", "twin.live", "actors", "twin.ray_session", "simpy", "ray")
CONSUMERS = ("twin.compare", "twin.cli", "twin.cli_support", "twin.pages", "twin.report",
             "twin.evidence_cli", "twin.evidence_desk", "twin.desk_trail", "twin.figures",
             "twin.stats", "matplotlib")
# The bottom of the house: everything above may import these, they import nothing above.
LOWER = ("twin.core", "twin.scenario", "twin.results", "twin.deployment", "twin.city",
         "twin.metrics", "twin.errors", "twin.memory", "twin.draws")
RULES: list[tuple[tuple[str, ...], tuple[str, ...], str]] = [
    (LOWER, ENGINES + CONSUMERS, "the core, the scenario schema and the results format import "
     "no engine and no consumer: move the code down, or the import up into its caller"),
    (("twin.sim",), ("twin.live", "actors", "ray", "twin.ray_session", "twin.compare", "twin.cli"),
     "the simulator imports neither the live twin, nor compare, nor the command line"),
    (("twin.live", "actors"), ("twin.sim", "twin.compare", "twin.cli"),
     "the live twin imports neither the simulator, nor compare, nor the command line"),
    (("synthetic_streams",), ("twin", "actors"), "synthetic_streams imports nothing of the twin"),
]


@dataclass(frozen=True)
class Arrow:
    src: str
    dst: str
    line: int
    type_only: bool


def within(name: str, prefixes: Iterable[str]) -> bool:
    """`name` is one of `prefixes` or inside one (twin.cli_support is not inside twin.cli)."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    """ids of the import nodes inside `if TYPE_CHECKING:` blocks."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else (
                test.attr if isinstance(test, ast.Attribute) else "")
            if name == "TYPE_CHECKING":
                for stmt in node.body:
                    out.update(id(n) for n in ast.walk(stmt))
    return out


def arrows_of(module: str, path: Path, known: set[str]) -> list[Arrow]:
    """Every import in one file, as arrows to a project module or a top-level package."""
    tree = ast.parse(path.read_text(), filename=str(path))
    typed = _type_checking_nodes(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def target(name: str) -> str:
        if name in known:
            return name
        parts = name.split(".")
        for k in range(len(parts) - 1, 0, -1):  # the deepest project module it names
            if ".".join(parts[:k]) in known:
                return ".".join(parts[:k])
        return parts[0]  # a third-party or standard package, by its top-level name

    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
        else:
            continue
        for name in dict.fromkeys(names):
            dst = target(name)
            if dst != module and not module.startswith(dst + "."):  # not itself or its package
                out.append(Arrow(module, dst, node.lineno, id(node) in typed))
    return out


def import_graph(root: Path = ROOT) -> list[Arrow]:
    mods = project_modules(root)
    return [a for m, p in mods.items() for a in arrows_of(m, p, set(mods))]


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    nodes = sorted(set(edges) | {d for ds in edges.values() for d in ds})
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    x = stack.pop()
                    on.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def runtime_edges(arrows: list[Arrow], known: set[str]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for a in arrows:
        if not a.type_only and a.dst in known:
            edges.setdefault(a.src, set()).add(a.dst)
    return edges


def broken_rules(arrows: list[Arrow]) -> list[str]:
    out = []
    for a in arrows:
        for sources, banned, why in RULES:
            if within(a.src, sources) and within(a.dst, banned):
                kind = " (type-only)" if a.type_only else ""
                out.append(f"{a.src.replace('.', '/')}.py:{a.line} imports {a.dst}{kind}: {why}")
    return out


@pytest.fixture(scope="module")
def graph() -> list[Arrow]:
    return import_graph()


def test_the_graph_is_read_from_the_source(graph):
    known = set(project_modules())
    assert len(known) > 80
    pairs = {(a.src, a.dst) for a in graph}
    # arrows the code is known to have, module level and lazy, absolute and relative
    assert ("twin.sim.engine", "twin.core.catalog") in pairs
    assert ("twin.sim.engine", "simpy") in pairs
    assert ("twin.sim.run", "twin.sim.engine") in pairs  # inside a function
    assert ("synthetic_streams.encode", "synthetic_streams.scene") in pairs  # relative
    assert any(a.src == "twin.sim.faults" and a.dst == "twin.sim.engine" and a.type_only
               for a in graph)


def test_a_relative_type_only_import_of_a_package_is_read(tmp_path):
    # The shipped packages import nothing relative under TYPE_CHECKING from an __init__.py
    # any more (synthetic_streams' lazy re-exports are gone): a package made here has one.
    pkg = tmp_path / "synthetic_streams"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from .encode import EncodedClip\n")
    (pkg / "encode.py").write_text("EncodedClip = object\n")
    assert Arrow("synthetic_streams", "synthetic_streams.encode", 4, True) in import_graph(tmp_path)


def test_no_import_circle(graph):
    known = set(project_modules())
    found = circles(runtime_edges(graph, known))
    assert found == [], "import circles (break each by moving code down a layer):\n" + "\n".join(
        " -> ".join(c) for c in found)


def test_arrows_point_down(graph):
    bad = broken_rules(graph)
    assert bad == [], "\n".join(bad)


def test_the_checks_find_what_they_look_for():
    # A circle of three and a self-contained pair are found; a chain is not a circle.
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"e"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": {"c"}}) == []
    # An arrow up from the core or the schema is named with its file and line.
    up = [Arrow("twin.core.catalog", "twin.sim.engine", 7, False),
          Arrow("twin.scenario.model", "twin.compare.costs", 3, True),
          Arrow("twin.cli", "twin.cli_support", 1, False),
          Arrow("twin.scenario.model", "twin.cli_support", 9, False)]
    found = broken_rules(up)
    assert [f.split(":")[0] + ":" + f.split(":")[1].split()[0] for f in found] == [
        "twin/core/catalog.py:7", "twin/scenario/model.py:3", "twin/scenario/model.py:9"]
    assert "(type-only)" in found[1]
    assert not within("twin.cli_support", ("twin.cli",))
