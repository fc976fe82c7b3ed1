"""The simulator's state is the engine's own (issue 28): no module of twin/sim but engine.py
writes an attribute of the engine or of anything it got from the engine, nor calls another
object's private (underscore) method. Extensions change the engine only through its seam
(twin.sim.engine.Extension) and read it through read-only views.

The check reads the source (ast), so it catches a write before any run could: an assignment
or augmented assignment to an attribute or item (`e.x = ...`, `e.x[i] += ...`), an in-place
numpy write (`np.add.at(e.x, ...)`, `out=e.x`), a mutating method of a list or array
(`e.events.append(...)`), or `setattr`, on anything rooted at the engine: a parameter named
`engine` or typed with an engine part, an attribute that holds the engine (`self.e`,
`driver.engine`, ...), or a name or `self` attribute assigned from one of those.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from twin.model.city import generate_city
from twin.scenario import load_scenario
from twin.sim.engine import CityEngine

ROOT = Path(__file__).resolve().parent.parent
SIM = ROOT / "twin" / "sim"

# Attributes that hold the engine, on whatever object (self.e, self.engine, driver.engine).
ENGINE_ATTRS = {"e", "engine", "_engine"}
# Annotations that mark a parameter as the engine or one of its parts.
ENGINE_TYPES = {"CityEngine", "Cameras", "Recorders", "DiskLedger", "Series"}
# The SimPy environment is shared with extensions by the seam (they add processes and events).
SHARED = {"env"}
# Methods whose result is a fresh object, not the engine's own.
FRESH = {"copy", "tolist", "astype"}
MUTATORS = {
    "append",
    "extend",
    "insert",
    "pop",
    "remove",
    "clear",
    "update",
    "setdefault",
    "popitem",
    "add",
    "discard",
    "fill",
    "sort",
    "put",
    "itemset",
    "resize",
    "__setitem__",
    "__iadd__",
}


def _annotation_names(node: ast.expr | None) -> set[str]:
    if node is None:
        return set()
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            node = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return set()
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
    }


class _Seam:
    """Finds the writes to engine state in one module's source."""

    def __init__(self, source: str, path: str) -> None:
        self.tree = ast.parse(source, path)
        self.path = path
        self.found: list[str] = []

    # ---------------------------------------------------------------- what is the engine's
    def _rooted(self, node: ast.expr, names: set[str], self_attrs: set[str]) -> bool:
        """True if `node` is the engine, a part of it, or an attribute, item or method result
        reached from one."""
        while True:
            if isinstance(node, ast.Name):
                return node.id in names
            if isinstance(node, ast.Attribute):
                if node.attr in SHARED:
                    return False
                if node.attr in ENGINE_ATTRS:
                    return True
                if (
                    isinstance(node.value, ast.Name)
                    and node.value.id == "self"
                    and node.attr in self_attrs
                ):
                    return True
                node = node.value
            elif isinstance(node, ast.Subscript):
                node = node.value
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in FRESH:
                    return False
                node = node.func.value
            elif isinstance(node, ast.Starred):
                node = node.value
            else:
                return False

    def _bind(
        self, target: ast.expr, value: ast.expr | None, names: set[str], self_attrs: set[str]
    ) -> None:
        """Follow an assignment: a name or self attribute given engine state is the engine's."""
        if value is None:
            return
        if isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)):
            for t, v in zip(target.elts, value.elts):
                self._bind(t, v, names, self_attrs)
            return
        if not self._rooted(value, names, self_attrs):
            return
        if isinstance(target, ast.Name):
            names.add(target.id)
        elif (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and target.value.id == "self"
        ):
            self_attrs.add(target.attr)

    @staticmethod
    def _params(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
        a = fn.args
        out = set()
        for p in [*a.posonlyargs, *a.args, *a.kwonlyargs]:
            if p.arg == "engine" or _annotation_names(p.annotation) & ENGINE_TYPES:
                out.add(p.arg)
        return out

    # ---------------------------------------------------------------- the writes
    def _report(self, node: ast.AST, what: str) -> None:
        self.found.append(f"{self.path}:{getattr(node, 'lineno', '?')}: {what}")

    def _check_target(self, target: ast.expr, names: set[str], self_attrs: set[str]) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                self._check_target(t, names, self_attrs)
        elif isinstance(target, ast.Starred):
            self._check_target(target.value, names, self_attrs)
        elif isinstance(target, (ast.Attribute, ast.Subscript)):
            if self._rooted(target.value, names, self_attrs):
                self._report(target, f"writes engine state `{ast.unparse(target)}`")

    def _check_call(self, call: ast.Call, names: set[str], self_attrs: set[str]) -> None:
        f = call.func
        text = ast.unparse(f)
        if isinstance(f, ast.Attribute):
            private = f.attr.startswith("_") and not f.attr.startswith("__")
            if private and not (isinstance(f.value, ast.Name) and f.value.id in ("self", "cls")):
                self._report(call, f"calls another object's private method `{text}`")
            if f.attr in MUTATORS and self._rooted(f.value, names, self_attrs):
                self._report(call, f"mutates engine state with `{text}(...)`")
            # numpy's in-place ufunc methods: np.add.at(x, ...), np.maximum.at(x, ...)
            if f.attr == "at" and call.args and self._rooted(call.args[0], names, self_attrs):
                self._report(call, f"writes engine state in place with `{text}`")
        if (
            isinstance(f, ast.Name)
            and f.id == "setattr"
            and call.args
            and self._rooted(call.args[0], names, self_attrs)
        ):
            self._report(call, "sets an engine attribute with setattr")
        for kw in call.keywords:
            if kw.arg == "out" and any(
                self._rooted(x, names, self_attrs)
                for x in (kw.value.elts if isinstance(kw.value, ast.Tuple) else [kw.value])
            ):
                self._report(call, f"writes engine state through out= in `{text}`")

    def _body(self, nodes: list[ast.stmt], names: set[str], self_attrs: set[str]) -> None:
        """Walk statements in order, learning which names hold engine state as it goes."""
        for stmt in nodes:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._function(stmt, names, self_attrs)
                continue
            for node in _walk_skipping_defs(stmt):
                if isinstance(node, ast.Assign):
                    for t in node.targets:
                        self._check_target(t, names, self_attrs)
                elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                    self._check_target(node.target, names, self_attrs)
                elif isinstance(node, ast.Delete):
                    for t in node.targets:
                        self._check_target(t, names, self_attrs)
                elif isinstance(node, ast.Call):
                    self._check_call(node, names, self_attrs)
            for node in _walk_skipping_defs(stmt):
                if isinstance(node, ast.Assign):
                    for t in node.targets:
                        self._bind(t, node.value, names, self_attrs)
                elif isinstance(node, ast.AnnAssign):
                    self._bind(node.target, node.value, names, self_attrs)
                elif isinstance(node, ast.NamedExpr):
                    self._bind(node.target, node.value, names, self_attrs)
                elif isinstance(node, (ast.For, ast.comprehension)):
                    self._bind(node.target, node.iter, names, self_attrs)
            for fn in _defs_in(stmt):
                self._function(fn, names, self_attrs)

    def _function(
        self,
        fn: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda,
        outer: set[str],
        self_attrs: set[str],
    ) -> None:
        names = set(outer)
        if not isinstance(fn, ast.Lambda):
            names |= self._params(fn)
            self._body(fn.body, names, self_attrs)
        else:
            self._body([ast.Expr(fn.body)], names, self_attrs)

    def run(self) -> list[str]:
        for node in self.tree.body:
            if isinstance(node, ast.ClassDef):
                # A class's self attributes that hold engine state, from all its methods, before
                # any method is checked (attach may bind what a later method writes).
                attrs: set[str] = set()
                for _ in range(2):
                    for fn in (
                        n
                        for n in ast.walk(node)
                        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                    ):
                        names = self._params(fn)
                        for sub in ast.walk(fn):
                            if isinstance(sub, ast.Assign):
                                for t in sub.targets:
                                    self._bind(t, sub.value, names, attrs)
                            elif isinstance(sub, ast.AnnAssign):
                                self._bind(sub.target, sub.value, names, attrs)
                for fn in (
                    n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                ):
                    self._function(fn, set(), attrs)
            else:
                self._body([node], set(), set())
        return self.found


def _walk_skipping_defs(node: ast.AST) -> Iterator[ast.AST]:
    """ast.walk that does not go into nested functions, lambdas or classes (checked apart,
    with their own names)."""
    todo = [node]
    while todo:
        n = todo.pop()
        yield n
        for child in ast.iter_child_nodes(n):
            if not isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
            ):
                todo.append(child)


def _defs_in(node: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda]:
    """The functions and lambdas directly inside `node` (not those nested in them)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield child
        elif not isinstance(child, ast.ClassDef):
            yield from _defs_in(child)


def seam_violations(source: str, path: str = "<source>") -> list[str]:
    return _Seam(source, path).run()


def test_no_module_but_the_engine_writes_engine_state() -> None:
    modules = sorted(p for p in SIM.glob("*.py") if p.name != "engine.py")
    assert modules, "twin/sim has no modules to check"
    found = [v for p in modules for v in seam_violations(p.read_text(), str(p.relative_to(ROOT)))]
    assert not found, "engine state written outside twin/sim/engine.py:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "plant",
    [
        "def f(engine):\n    engine.written += 1\n",
        "def f(engine):\n    engine.rec_used[0] = 0.0\n",
        "def f(engine):\n    e = engine\n    e.cam_rec[3] = -1\n",
        "def f(engine):\n    import numpy as np\n    np.add.at(engine.rec_used, [0], 1.0)\n",
        "def f(engine):\n    used = engine.rec_used\n    used[:] = 0\n",
        "def f(engine):\n    engine.events.append({})\n",
        "def f(engine):\n    np.maximum(x, y, out=engine.rec_peak)\n",
        "class X:\n    def __init__(self, engine):\n        self.e = engine\n"
        "    def g(self):\n        self.e.charged_through = 0.0\n",
        "class X:\n    def attach(self, engine: CityEngine):\n        self.cat = engine.catalog\n"
        "    def g(self):\n        self.cat.curves = None\n",
        "def f(driver):\n    driver._push(0.0, 'log')\n",
        "def f(driver):\n    driver.engine._refresh([], 0.0)\n",
        "def f(disk: DiskLedger):\n    disk.used -= 1\n",
    ],
)
def test_the_check_catches_a_planted_write(plant: str) -> None:
    assert seam_violations(plant), f"not caught:\n{plant}"


@pytest.mark.parametrize(
    "fine",
    [
        "def f(engine):\n    engine.block('power', cams, 0.0)\n",
        "def f(engine):\n    x = engine.rec_used + 1\n    x[0] = 2\n",
        "def f(engine):\n    taking = ~engine.rec_full\n    taking[0] = False\n",
        "class X:\n    def g(self):\n        self.count += 1\n        self._helper()\n",
        "def f(engine):\n    engine.log_event({'t_s': 0.0, 'kind': 'x'})\n",
        "def f(engine):\n    peak = engine.backhaul.copy()\n    peak[0] = 1.0\n",
        "def f(engine):\n    ev = engine.env.timeout(1)\n    ev.callbacks.append(print)\n",
    ],
)
def test_the_check_lets_reads_and_the_seam_through(fine: str) -> None:
    assert not seam_violations(fine)


def test_the_planted_write_in_a_real_module_is_caught() -> None:
    """The check fails on twin/sim/capacity.py as it was before the ledger's seam."""
    src = (SIM / "capacity.py").read_text()
    planted = src.replace("self.disk.free(cat.apply(plan))", "e.rec_used -= cat.apply(plan)")
    assert planted != src
    assert seam_violations(src) == []
    assert any("e.rec_used" in v for v in seam_violations(planted))


def test_the_engine_s_arrays_are_read_only_to_readers() -> None:
    sc = load_scenario(ROOT / "scenarios/phase1-615.yaml")
    e = CityEngine(sc, generate_city(sc))
    e.run(1)
    for name in (
        "cam_rec",
        "cam_state",
        "dropped",
        "lost_s",
        "rec_used",
        "rec_full",
        "rec_rate",
        "rec_ncams",
        "rec_peak",
        "stream_cam",
        "partner",
        "cam_bps",
        "standby",
        "backhaul",
    ):
        arr = getattr(e, name)
        assert isinstance(arr, np.ndarray)
        with pytest.raises(ValueError, match="read-only"):
            arr[...] = 0
    with pytest.raises(AttributeError):
        e.written = 0
