"""The import graph of twin/, actors/ and synthetic_streams/: no circle, arrows pointing down.

The graph is read from the source with `ast` (nothing is imported): every `import` and
`from ... import` is an arrow, at module level, inside a function or under
`if TYPE_CHECKING:` alike (a deferred import or a type-only one still couples the two
modules: a circle through one is a circle), relative imports resolved; `from pkg import name`
points at `pkg.name` when that is a module.

The layers (docs/architecture.md), bottom to top; a module imports its own layer or lower:

- leaves: twin/__init__.py, errors, suggest, metrics (the metric registry every layer names);
- twin.core: sans-IO logic both engines run;
- twin.scenario: the scenario schema, its loading and memory estimate;
- twin.model: the city, provisioning, results.json, verdicts, draws, statistics;
- services: twin.storage (live catalog, audit trail, keys), twin.ray (session, tasks, warm
  pool), synthetic_streams (the cameras and MediaMTX, standing on their own);
- engines: twin.sim, and twin.live with its actors; neither imports the other;
- twin.compare (comparisons, sweeps, checks over engine runs) and twin.desk (the evidence
  desk of a run folder), which import neither each other;
- twin.output: results folders, reports, pages, figures and every plot;
- twin.cli: the command line, which runs an engine and then writes its output.

Imports inside functions are for the command line only, where start-up time needs them (each
with a comment saying why), and for the few files FUNCTION_IMPORTS_ALLOWED names with the
measured reason the command line cannot defer it: anywhere else they hide an arrow from a reader.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("twin", "actors", "synthetic_streams")

# Bottom to top: (layer, the module prefixes in it, groups inside it that must not import each
# other). A module may import its own layer and the layers below it, nothing above.
LAYERS: list[tuple[str, tuple[str, ...], tuple[tuple[str, ...], ...]]] = [
    ("leaves", ("twin", "twin.errors", "twin.suggest", "twin.metrics"), ()),
    ("core", ("twin.core",), ()),
    ("scenario", ("twin.scenario",), ()),
    ("model", ("twin.model",), ()),
    (
        "services",
        ("twin.storage", "twin.ray", "synthetic_streams"),
        (("twin.storage",), ("twin.ray",), ("synthetic_streams",)),
    ),
    ("engines", ("twin.sim", "twin.live", "actors"), (("twin.sim",), ("twin.live", "actors"))),
    ("consumers", ("twin.compare", "twin.desk"), (("twin.compare",), ("twin.desk",))),
    ("output", ("twin.output",), ()),
    ("cli", ("twin.cli",), ()),
]
# Third-party packages a layer never imports: the bottom runs no engine and draws nothing;
# an engine draws nothing either (its plots are the output layer's).
BANNED_THIRD_PARTY: list[tuple[tuple[str, ...], tuple[str, ...], str]] = [
    (
        ("twin.core", "twin.scenario", "twin.model", "twin.errors", "twin.suggest", "twin.metrics"),
        ("simpy", "ray", "matplotlib"),
        "the bottom of the house runs no engine and draws nothing",
    ),
    (
        ("twin.sim", "twin.live", "actors"),
        ("matplotlib",),
        "an engine draws nothing: its plots are in twin/output/, called by the command line",
    ),
]

# Circles that remain in files other work is rewriting at the same time: each is named with
# the reason it is still here, and goes when that work lands (the test fails on any other).
# None is left: a lower module names its caller by a Protocol of what it uses.
KNOWN_CIRCLES: dict[tuple[str, ...], str] = {}

# Files allowed imports inside functions outside twin/cli/, each with why: only where measuring
# shows the start-up cost matters to a command and the command line cannot defer it instead.
# Each such import still has its comment saying why, as in the command line.
FUNCTION_IMPORTS_ALLOWED: dict[str, str] = {
    **{
        path: "Ray on first use, not at import: Ray reads its settings (RAY_AUTH_MODE, "
        "RAY_AUTH_TOKEN) from the environment when imported, and these modules are imported "
        "before a command or a caller starts or joins Ray (twin/ray/session.py says more)"
        for path in (
            "twin/ray/session.py",
            "twin/ray/tasks.py",
            "twin/ray/pool.py",
            "twin/live/cluster.py",
            "twin/live/health.py",
        )
    },
    "twin/model/stats.py": (
        "scipy.stats takes ~0.6 s to import, and every Ray worker that runs replications imports "
        "this module (with twin.compare.replications, whose run_draws it runs) but never needs "
        "scipy: a worker does not start from the command line, so it cannot defer it there"
    ),
}
# Files that still import inside functions, left from before the layers were enforced: the
# list only shrinks (a test fails when a file listed has none left). Each says what keeps it.
# None is left: every such import moved to the top of its module, or is the command line's.
FUNCTION_IMPORTS_NOT_YET_MOVED: dict[str, str] = {}
MAX_TOP_LEVEL_MODULES = 5


@dataclass(frozen=True)
class Arrow:
    src: str
    dst: str
    line: int
    type_only: bool
    in_function: bool = False


def within(name: str, prefixes: Iterable[str]) -> bool:
    """`name` is one of `prefixes` or inside one (twin.cli.main is inside twin.cli)."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def layer_of(name: str) -> tuple[int, str] | None:
    """(rank, group) of a project module: the layer of its longest matching prefix."""
    best: tuple[int, str, int] | None = None
    for rank, (_, prefixes, groups) in enumerate(LAYERS):
        for p in prefixes:
            if within(name, (p,)) and (best is None or len(p) > best[2]):
                group = next((g[0] for g in groups if within(name, g)), p if groups else "")
                best = (rank, group, len(p))
    return None if best is None else (best[0], best[1])


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _kinds(tree: ast.Module) -> dict[int, tuple[bool, bool]]:
    """id of every import node -> (under TYPE_CHECKING, inside a function)."""
    out: dict[int, tuple[bool, bool]] = {}

    def visit(node: ast.AST, typed: bool, in_fn: bool) -> None:
        for child in ast.iter_child_nodes(node):
            t = typed
            if isinstance(node, ast.If) and child in node.body:
                test = node.test
                name = (
                    test.id
                    if isinstance(test, ast.Name)
                    else (test.attr if isinstance(test, ast.Attribute) else "")
                )
                t = t or name == "TYPE_CHECKING"
            f = in_fn or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                out[id(child)] = (t, in_fn)
            visit(child, t, f)

    visit(tree, False, False)
    return out


def arrows_of(module: str, path: Path, known: set[str]) -> list[Arrow]:
    """Every import in one file, as arrows to a project module or a top-level package."""
    tree = ast.parse(path.read_text(), filename=str(path))
    kinds = _kinds(tree)
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
        typed, in_fn = kinds[id(node)]
        for name in dict.fromkeys(names):
            dst = target(name)
            if dst != module and not module.startswith(dst + "."):  # not itself or its package
                out.append(Arrow(module, dst, node.lineno, typed, in_fn))
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


def all_edges(arrows: list[Arrow], known: set[str]) -> dict[str, set[str]]:
    """Every arrow between project modules: module level, in functions, type-only alike."""
    edges: dict[str, set[str]] = {}
    for a in arrows:
        if a.dst in known:
            edges.setdefault(a.src, set()).add(a.dst)
    return edges


def _where(a: Arrow) -> str:
    kind = " (type-only)" if a.type_only else (" (inside a function)" if a.in_function else "")
    return f"{a.src.replace('.', '/')}.py:{a.line} imports {a.dst}{kind}"


def broken_rules(arrows: list[Arrow], known: set[str] | None = None) -> list[str]:
    out = []
    for a in arrows:
        src = layer_of(a.src)
        dst = layer_of(a.dst) if known is None or a.dst in known else None
        if src is not None and dst is not None:
            if dst[0] > src[0]:
                out.append(
                    f"{_where(a)}: an arrow up, from {LAYERS[src[0]][0]} to "
                    f"{LAYERS[dst[0]][0]}: move the code down, or the call up into "
                    "the caller (an engine never imports output or the command line)"
                )
            elif dst[0] == src[0] and src[1] and dst[1] and src[1] != dst[1]:
                out.append(
                    f"{_where(a)}: {src[1]} and {dst[1]} share a layer and never import each other"
                )
        for sources, banned, why in BANNED_THIRD_PARTY:
            if within(a.src, sources) and within(a.dst, banned):
                out.append(f"{_where(a)}: {why}")
    return out


def _comment_before(lines: list[str], lineno: int) -> bool:
    """An import inside a function says why: a comment on its line, or on the line above it
    or above the run of imports it belongs to."""
    if "#" in lines[lineno - 1]:
        return True
    k = lineno - 2
    while k >= 0:
        s = lines[k].strip()
        if s.startswith("#"):
            return True
        if (
            s.startswith(("from ", "import "))
            or s.endswith(",")
            or s.endswith(")")
            and not s.startswith(("def ", "return", "if ", "for ", "with "))
            and "=" not in s
        ):
            k -= 1
            continue
        return False
    return False


def function_imports(root: Path = ROOT) -> list[str]:
    """Imports inside functions that the rules do not allow, as `file:line`."""
    out = []
    for module, path in project_modules(root).items():
        rel = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text())
        lines = path.read_text().split("\n")
        kinds = _kinds(tree)
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or not kinds[id(node)][1]:
                continue
            if rel in FUNCTION_IMPORTS_NOT_YET_MOVED:
                continue
            if not within(module, ("twin.cli",)) and rel not in FUNCTION_IMPORTS_ALLOWED:
                out.append(
                    f"{rel}:{node.lineno}: an import inside a function outside the command "
                    "line: import it at the top of the module"
                )
            elif not _comment_before(lines, node.lineno):
                out.append(
                    f"{rel}:{node.lineno}: an import inside a function "
                    "without a comment saying why (start-up time)"
                )
    return out


@pytest.fixture(scope="module")
def graph() -> list[Arrow]:
    return import_graph()


def test_the_graph_is_read_from_the_source(graph):
    known = set(project_modules())
    assert len(known) > 80
    pairs = {(a.src, a.dst) for a in graph}
    # arrows the code is known to have, absolute and relative, type-only ones too
    assert ("twin.sim.engine", "twin.core.catalog") in pairs
    assert ("twin.sim.engine", "simpy") in pairs
    assert ("twin.sim.run", "twin.sim.engine") in pairs
    assert ("synthetic_streams.encode", "synthetic_streams.scene") in pairs  # relative
    assert any(
        a.src == "twin.sim.faults" and a.dst == "twin.sim.engine" and a.type_only for a in graph
    )
    assert any(a.src.startswith("twin.cli.") and a.in_function for a in graph)


def test_a_relative_type_only_import_of_a_package_is_read(tmp_path):
    pkg = tmp_path / "synthetic_streams"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from typing import TYPE_CHECKING\n\n"
        "if TYPE_CHECKING:\n    from .encode import EncodedClip\n"
    )
    (pkg / "encode.py").write_text("EncodedClip = object\n")
    assert Arrow("synthetic_streams", "synthetic_streams.encode", 4, True) in import_graph(tmp_path)


def test_no_import_circle_counting_every_import(graph):
    known = set(project_modules())
    found = [c for c in circles(all_edges(graph, known)) if tuple(c) not in KNOWN_CIRCLES]
    assert found == [], (
        "import circles, imports inside functions and under TYPE_CHECKING "
        "included (break each by moving code down a layer):\n"
        + "\n".join(" -> ".join(c) for c in found)
    )


def test_the_known_circles_are_still_there(graph):
    # An exemption that is no longer needed is removed, so it cannot hide a new circle later.
    found = {tuple(c) for c in circles(all_edges(graph, set(project_modules())))}
    assert [c for c in KNOWN_CIRCLES if c not in found] == []


def test_arrows_point_down(graph):
    bad = broken_rules(graph, set(project_modules()))
    assert bad == [], "\n".join(bad)


def test_imports_inside_functions_only_in_the_command_line():
    bad = function_imports()
    assert bad == [], "\n".join(bad)


def test_the_files_not_yet_moved_still_need_it():
    # A file that no longer imports inside functions leaves the list, so the list shrinks.
    have = set()
    for path in project_modules().values():
        kinds = _kinds(ast.parse(path.read_text()))
        if any(in_fn for _, in_fn in kinds.values()):
            have.add(path.relative_to(ROOT).as_posix())
    assert sorted(set(FUNCTION_IMPORTS_NOT_YET_MOVED) - have) == []
    assert sorted(set(FUNCTION_IMPORTS_ALLOWED) - have) == []
    assert not any(p.startswith("twin/cli/") for p in FUNCTION_IMPORTS_ALLOWED)  # allowed there


def test_few_modules_directly_in_twin():
    top = sorted(p.name for p in (ROOT / "twin").glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, f"twin/ holds {top}: put each in its layer's folder"


def test_the_checks_find_what_they_look_for(tmp_path):
    # A circle of three and a self-contained pair are found; a chain is not a circle.
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"e"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": {"c"}}) == []
    # Arrows up are named with their file and line, a type-only one and a lazy one included;
    # the two engines never import each other; an arrow down is fine.
    up = [
        Arrow("twin.core.catalog", "twin.sim.engine", 7, False),
        Arrow("twin.sim.run", "twin.output.report", 3, True),
        Arrow("twin.live.recover", "twin.cli.support", 9, False, True),
        Arrow("twin.output.pages.render", "twin.cli.main", 4, False),
        Arrow("twin.sim.engine", "twin.live.run", 5, False),
        Arrow("twin.sim.analytics", "matplotlib", 6, False),
        Arrow("twin.cli.main", "twin.sim.run", 1, False),
        Arrow("twin.output.sim_plots", "twin.sim.engine", 2, False),
    ]
    found = broken_rules(up)
    assert [f.split(" imports")[0] for f in found] == [
        "twin/core/catalog.py:7",
        "twin/sim/run.py:3",
        "twin/live/recover.py:9",
        "twin/output/pages/render.py:4",
        "twin/sim/engine.py:5",
        "twin/sim/analytics.py:6",
    ]
    assert "(type-only)" in found[1] and "(inside a function)" in found[2]
    assert layer_of("twin.cli.support") == layer_of("twin.cli")
    assert layer_of("twin.metrics")[0] < layer_of("twin.model.results")[0]
    # A function-level import is found outside the command line, and one in it without a
    # comment; the same with a comment passes.
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "twin" / "cli").mkdir()
    (tmp_path / "twin" / "cli" / "__init__.py").write_text("")
    (tmp_path / "twin" / "lazy.py").write_text("def f():\n    import json\n")
    (tmp_path / "twin" / "cli" / "bare.py").write_text("def f():\n    x = 1\n    import json\n")
    (tmp_path / "twin" / "cli" / "said.py").write_text(
        "def f():\n    # start-up time: json is slow\n    import json\n    import csv\n"
    )
    bad = function_imports(tmp_path)
    assert [b.split(": ")[0] for b in bad] == ["twin/cli/bare.py:3", "twin/lazy.py:2"]
