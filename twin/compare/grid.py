"""Parameter sweeps: a grid of scenario variants, run as Ray tasks, smallest passing one named.

Theory of operation
-------------------
`--param recorders.pools.0.recorders=60,70,80` names a dotted path into the scenario file
(list items by index, or by their `name`) and the values to try (each parsed as YAML, so
`60` is a number and `h265` a string). The grid is the product of every parameter's values,
in the order given; each point is the base scenario with those values set, validated before
anything runs, so a bad path or value stops the sweep with the path and the fix.

Points run as Ray tasks, each given its variant parsed on the driver (its calibration file
already read, so a worker needs neither the file nor the driver's working directory) and
returning its results.json as a plain dict: on a local Ray instance by default, on the
cluster at RAY_ADDRESS when it is set (twin.ray.tasks; while a local instance starts,
the driver runs the first points itself). `backend="local"` runs them one after another in
this process (unit tests, and the sequential side of the benchmark).

"Smallest" deployment: the passing point with the lowest `cost_total_hkd` when every point
has prices, else the fewest recorders, then the least disk; ties go to the earlier point
in grid order, so the answer does not depend on which task finished first.
"""

from __future__ import annotations

import copy
import difflib
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from twin.errors import ScenarioError
from twin.model.results import Results, shared_source
from twin.model.verdict import failed_targets, passed
from twin.ray.tasks import run_ordered
from twin.scenario import Scenario, parse_scenario
from twin.scenario.memory import check_fits
from twin.scenario.model import scenario_data
from twin.sim.run import run_scenario

__all__ = [
    "Param",
    "Variant",
    "SweepPoint",
    "SweepResult",
    "parse_param",
    "set_path",
    "expand",
    "run_variants",
    "sweep",
]


@dataclass(frozen=True, slots=True)
class Param:
    path: str
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    values: dict[str, Any]
    data: dict[str, Any]
    scenario: Scenario  # `data` parsed, calibration loaded (what a worker runs)


@dataclass(frozen=True, slots=True)
class SweepPoint:
    name: str
    values: dict[str, Any]
    results: Results

    @property
    def passed(self) -> bool:
        return passed(self.results)

    @property
    def failed(self) -> list[str]:
        return [t.metric for t in failed_targets(self.results)]

    def size_key(self, by_cost: bool) -> tuple[float, ...]:
        m = self.results.metrics
        if by_cost:
            return (m["cost_total_hkd"],)
        return (m.get("recorders", float("inf")), m.get("disk_total_tb", float("inf")))


@dataclass(frozen=True, slots=True)
class SweepResult:
    base: str
    params: tuple[Param, ...]
    points: tuple[SweepPoint, ...]

    @property
    def by_cost(self) -> bool:
        return bool(self.points) and all("cost_total_hkd" in p.results.metrics for p in self.points)

    def smallest(self) -> SweepPoint | None:
        """The smallest point that meets every target, or None if none does."""
        ok = [(p.size_key(self.by_cost), i, p) for i, p in enumerate(self.points) if p.passed]
        return min(ok, key=lambda t: (t[0], t[1]))[2] if ok else None


def parse_param(text: str) -> Param:
    """'a.b.0.c=1,2,3' -> Param('a.b.0.c', (1, 2, 3))."""
    path, sep, values = text.partition("=")
    path = path.strip()
    if not sep or not path or not values.strip():
        raise ScenarioError(
            f"--param {text!r}: expected PATH=V1,V2,... "
            "e.g. --param recorders.pools.0.recorders=60,70,80"
        )
    parsed = []
    for v in values.split(","):
        try:
            parsed.append(yaml.safe_load(v.strip()))
        except yaml.YAMLError:
            raise ScenarioError(f"--param {path}: value {v!r} is not valid YAML") from None
    return Param(path, tuple(parsed))


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set `value` at dotted `path` in a scenario mapping, in place; list items by index or
    by `name`. Errors name the path, what is there, and the fix."""
    parts = path.split(".")
    node: Any = data
    for depth, part in enumerate(parts):
        here = ".".join(parts[:depth]) or "(top level)"
        last = depth == len(parts) - 1
        if isinstance(node, list):
            if re.fullmatch(r"-?\d+", part):
                i = int(part)
                if not 0 <= i < len(node):
                    raise ScenarioError(
                        f"--param {path}: index {i} is out of range: {here} has "
                        f"{len(node)} item(s), use 0..{len(node) - 1}"
                    )
            else:
                named = [
                    j
                    for j, item in enumerate(node)
                    if isinstance(item, dict) and item.get("name") == part
                ]
                if not named:
                    names = [item.get("name") for item in node if isinstance(item, dict)]
                    raise ScenarioError(
                        f"--param {path}: {here} is a list; {part!r} is neither an "
                        f"index (0..{len(node) - 1}) nor the name of an item "
                        f"{names}"
                    )
                i = named[0]
            if last:
                node[i] = value
                return
            node = node[i]
        elif isinstance(node, dict):
            if part not in node:
                close = difflib.get_close_matches(part, [str(k) for k in node], n=1, cutoff=0.75)
                if close:
                    raise ScenarioError(
                        f"--param {path}: no field {part!r} in {here}; did you mean "
                        f"{close[0]!r}? fields there: {sorted(map(str, node))}"
                    )
                if not last:
                    node[part] = {}
            if last:
                node[part] = value
                return
            node = node[part]
        else:
            raise ScenarioError(
                f"--param {path}: {here} is a value ({node!r}), not a section; "
                f"end the path at {here}"
            )


def _slug(values: dict[str, Any]) -> str:
    parts = [f"{p.rsplit('.', 1)[-1]}-{v}" for p, v in values.items()]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "_".join(parts))[:80]


def expand(
    base: dict[str, Any], params: list[Param], source: str, days: float | None = None
) -> list[Variant]:
    """Every point of the grid, validated (and each checked to fit in memory over `days`);
    a bad path or value raises before anything runs."""
    if not params:
        raise ScenarioError("twin sweep needs at least one --param PATH=V1,V2,...")
    seen = [p.path for p in params]
    if len(set(seen)) != len(seen):
        raise ScenarioError(f"--param given twice for the same path: {seen}")
    out = []
    for i, combo in enumerate(itertools.product(*(p.values for p in params))):
        values = dict(zip(seen, combo))
        data = copy.deepcopy(base)
        for path, v in values.items():
            set_path(data, path, v)
        name = f"{base.get('name', 'sweep')}.{i:02d}.{_slug(values)}"
        data["name"] = name
        label = ", ".join(f"{k}={v}" for k, v in values.items())
        try:
            sc = parse_scenario(data, f"{source} with {label}", Path(source).parent)
            check_fits(sc, f"{source} with {label}", days)
        except ScenarioError as err:
            raise ScenarioError(
                f"{err}\n(--param values make this variant invalid: change them or the path)"
            ) from None
        out.append(Variant(name, values, data, sc))
    return out


def run_variants(
    variants: list[Variant],
    source: str,
    backend: str = "ray",
    days: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    timings: dict[str, float] | None = None,
) -> list[Results]:
    """Results of each variant, in the variants' order (twin.ray.tasks: Ray tasks,
    the driver helping while a local Ray instance starts)."""
    items = [(v.scenario, f"{source}#{v.name}", days) for v in variants]
    dicts = run_ordered(_run_item, (), items, backend, progress, timings=timings)
    return [Results.model_validate(d) for d in dicts]


def _run_item(item: tuple[Scenario, str, float | None]) -> dict[str, Any]:
    sc, source, days = item
    return run_scenario(sc, source, days).model_dump(mode="json")


def sweep(
    scenario_path: str | Path,
    params: list[Param],
    backend: str = "ray",
    days: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Run the grid of `params` over the scenario file and return every point's results."""
    p = Path(scenario_path)
    # Bounded, strict YAML (twin/scenario/loader.py), its bases merged in (an overlay).
    base, where = scenario_data(p)
    parse_scenario(base, where, p.parent)  # the base itself must be valid before any --param
    variants = expand(base, params, str(p), days)
    results = run_variants(variants, shared_source(p), backend, days, progress)
    points = tuple(SweepPoint(v.name, v.values, r) for v, r in zip(variants, results))
    return SweepResult(shared_source(p), tuple(params), points)
