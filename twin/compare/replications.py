"""Replications: a scenario's random parts drawn N times, each metric reported as a distribution.

Theory of operation
-------------------
A run's faults, incidents, evidence and access requests are random (seeded). One run is one
sample. `run_replications(sc, n)` runs replication k = 0..n-1 with the draw key of
twin.model.draws (SeedSequence(seed, spawn_key=(REPLICATION_SPAWN_KEY, k))): the city and its
recorders stay fixed, so the city is generated once, in the driver, put in Ray's object store
once, and every Ray task runs a few replications against it (twin.ray.tasks). Each
replication returns its scalar metrics only (no events, no per-camera tables), so little
crosses process boundaries.

Every metric gets mean, standard deviation, min, p5/p50/p95, max and a 95 % confidence
interval of the mean (twin.model.stats: Student t-interval). A scenario target is judged on the
statistic its `stat:` names (mean by default; e.g. `{max: 10, stat: p95}`), `live_*` targets
skipped as in every simulated run. The output is deterministic for a seed and n: the
draws are collected in replication order, whichever task finished first, and written with
every digit (`draws.csv`), so the same seed gives the same distribution byte for byte; only
`run` (wall time, host) in replications.json differs between two runs.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from twin.errors import ScenarioError
from twin.metrics import METRICS
from twin.model.city import CityModel, generate_city
from twin.model.draws import REPLICATION_SPAWN_KEY, replication_key
from twin.model.results import ScenarioInfo, scenario_info
from twin.model.stats import CI_METHOD, Difference, Summary, difference, summarise
from twin.model.verdict import live_only
from twin.ray.tasks import local_cpus, run_ordered
from twin.scenario import Scenario
from twin.sim.engine import CityEngine, PlacementMemo
from twin.sim.extensions import extensions_for
from twin.sim.results import sim_metrics

__all__ = [
    "MetricDistribution",
    "ReplicatedTarget",
    "ReplicationRun",
    "ReplicationResults",
    "run_draws",
    "run_replications",
    "summarise_draws",
    "write_replications_markdown",
    "read_replications",
    "chunk_size",
    "draws_matrix",
    "read_draws",
    "DiffRow",
    "compare_draws",
    "Draws",
]

SCHEMA_VERSION = 1
PERCENTILE_METHOD = "numpy percentile, linear interpolation between order statistics"
# Sweeps and replications reach Ray as a few items per task: enough to spread the tail over
# both cores, few enough that task overhead (a few ms) is nothing against a run (~1 s).
MAX_PER_TASK = 4
# The first roll-out step's placement, per process (a Ray worker runs many replications of
# the same city): twin.sim.engine.PlacementMemo.
_PLACEMENTS: dict[str, PlacementMemo] = {}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MetricDistribution(_Model):
    unit: str
    n: int
    mean: float
    sd: float = Field(description="Sample standard deviation (ddof=1).")
    min: float
    p5: float
    p50: float
    p95: float
    max: float
    ci_low: float = Field(
        description="95 % interval of the mean (the file's ci_method), low "
        "end; within what the metric can measure; = mean if all draws equal."
    )
    ci_high: float = Field(description="95 % interval of the mean, high end.")


class ReplicatedTarget(_Model):
    metric: str
    unit: str
    stat: Literal["mean", "p5", "p50", "p95"]
    min: float | None = None
    max: float | None = None
    value: float | None = Field(description="The statistic measured; null if not measured.")
    passed: bool


class ReplicationRun(_Model):
    """Timing and host: the only section that differs between two runs of the same seed."""

    started_at: str
    wall_s: float
    replications_per_s: float
    backend: str
    cpus: int
    python: str


class ReplicationResults(_Model):
    schema_name: Literal["cctv-twin/replications"] = "cctv-twin/replications"
    schema_version: int = SCHEMA_VERSION
    scenario: ScenarioInfo
    replications: int
    horizon_days: float
    seed_method: str
    ci_method: str = CI_METHOD
    percentile_method: str = PERCENTILE_METHOD
    metrics: dict[str, MetricDistribution]
    targets: list[ReplicatedTarget]
    passed: bool
    files: dict[str, str] = Field(default_factory=dict)
    run: ReplicationRun

    def draws_file(self, folder: Path) -> Path:
        return folder / self.files.get("draws", "draws.csv")


def _r(x: float) -> float:
    return float(round(float(x), 6)) if math.isfinite(x) else float(x)


def chunk_size(n: int, cpus: int) -> int:
    """Replications per Ray task: ~8 tasks per CPU, at most MAX_PER_TASK each."""
    return max(1, min(MAX_PER_TASK, n // max(1, 8 * cpus)))


def run_draws(
    sc: Scenario, city: CityModel, item: tuple[tuple[int, ...], float | None]
) -> list[dict[str, float]]:
    """The metrics of replications `item[0]` over `item[1]` days (None: the scenario's),
    against the one city; a Ray task's body."""
    ks, days = item
    key = sc.canonical_json()
    if key not in _PLACEMENTS:  # one city per process at a time: the last one's placement
        _PLACEMENTS.clear()
        _PLACEMENTS[key] = PlacementMemo()
    out = []
    for k in ks:
        engine = CityEngine(
            sc,
            city,
            extensions=extensions_for(sc),
            draw_key=replication_key(k),
            sample=False,
            placement=_PLACEMENTS[key],
        )
        out.append(sim_metrics(engine.run(days)))
    return out


@dataclass(frozen=True, slots=True)
class Draws:
    """Replication k's metrics at index k."""

    metrics: tuple[dict[str, float], ...]
    wall_s: float
    started_at: str
    backend: str


def run_replications(
    sc: Scenario,
    n: int,
    backend: str = "ray",
    days: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    timings: dict[str, float] | None = None,
    overlap: bool = True,
) -> Draws:
    """Run replications 0..n-1 of `sc` (module docstring), the city built once."""
    if n < 1:
        raise ScenarioError(
            f"--replications {n}: expected a whole number >= 1, e.g. --replications 100"
        )
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    city = generate_city(sc)
    size = chunk_size(n, local_cpus())
    items = [(tuple(range(i, min(n, i + size))), days) for i in range(0, n, size)]

    def chunk_done(chunks_done: int, _: int) -> None:
        if progress:
            progress(min(n, chunks_done * size), n)

    chunks = run_ordered(
        run_draws, (sc, city), items, backend, chunk_done, overlap=overlap, timings=timings
    )
    metrics = tuple(m for chunk in chunks for m in chunk)
    return Draws(metrics, time.perf_counter() - t0, started, backend)


def draws_matrix(draws: Draws) -> tuple[list[str], list[list[float]]]:
    """(metric names, one row of values per replication); a metric some draw lacks is NaN."""
    names = sorted({k for m in draws.metrics for k in m})
    return names, [[m.get(k, math.nan) for k in names] for m in draws.metrics]


def summarise_draws(
    sc: Scenario, source: str, draws: Draws, days: float | None = None
) -> ReplicationResults:
    """Distributions of every metric, and the targets judged on their `stat:`."""
    names, rows = draws_matrix(draws)
    dist: dict[str, MetricDistribution] = {}
    summaries: dict[str, Summary] = {}
    for j, name in enumerate(names):
        col = [r[j] for r in rows if not math.isnan(r[j])]
        if not col:
            continue
        info = METRICS.get(name)
        s = summarise(col, info.lo, info.hi) if info else summarise(col)
        summaries[name] = s
        unit = METRICS[name].unit if name in METRICS else ""
        dist[name] = MetricDistribution.model_validate(
            {
                "unit": unit,
                **{k: _r(v) if isinstance(v, float) else v for k, v in s.as_dict().items()},
            }
        )
    targets = []
    for name in sorted(sc.targets):
        if live_only(name, "simulate"):
            continue
        b = sc.targets[name]
        stat = b.stat or "mean"
        v = summaries[name].stat(stat) if name in summaries else None
        ok = v is not None and (b.min is None or v >= b.min) and (b.max is None or v <= b.max)
        targets.append(
            ReplicatedTarget(
                metric=name,
                unit=METRICS[name].unit,
                stat=stat,
                min=b.min,
                max=b.max,
                value=None if v is None else _r(v),
                passed=bool(ok),
            )
        )
    n = len(draws.metrics)
    return ReplicationResults(
        scenario=scenario_info(sc, source),
        replications=n,
        horizon_days=sc.simulation.days if days is None else days,
        seed_method=(
            f"replication k draws from SeedSequence({sc.seed}, spawn_key="
            f"({REPLICATION_SPAWN_KEY:#x}, k)); the city from SeedSequence({sc.seed})"
        ),
        metrics=dist,
        targets=targets,
        passed=all(t.passed for t in targets),
        run=ReplicationRun(
            started_at=draws.started_at,
            wall_s=round(draws.wall_s, 3),
            replications_per_s=round(n / draws.wall_s, 3) if draws.wall_s else 0.0,
            backend=draws.backend,
            cpus=local_cpus(),
            python=platform.python_version(),
        ),
    )


def write_draws_csv(draws: Draws, path: Path) -> None:
    """One row per replication, every metric with all its digits (repr of the float)."""
    names, rows = draws_matrix(draws)
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["replication", *names])
        for k, row in enumerate(rows):
            w.writerow([k, *[repr(v) for v in row]])


def read_replications(path: str | Path) -> ReplicationResults:
    return ReplicationResults.model_validate_json(Path(path).read_text())


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:,.6g}"


def write_replications_markdown(res: ReplicationResults, out: Path, png: str) -> None:
    sc = res.scenario
    lines = [
        f"# {sc.name}: {res.replications} replications: {'PASS' if res.passed else 'FAIL'}",
        "",
        f"Scenario `{sc.source}` (seed {sc.seed}), {res.horizon_days:g} simulated days each. "
        f"{res.seed_method}.",
        "",
        f"Confidence interval: {res.ci_method}. Percentiles: {res.percentile_method}.",
        "",
        "## Targets",
        "",
        "| target | statistic | bound | measured | verdict |",
        "| --- | --- | --- | --- | --- |",
    ]
    for t in res.targets:
        bound = " ".join(
            x
            for x in (
                f">= {t.min:g}" if t.min is not None else "",
                f"<= {t.max:g}" if t.max is not None else "",
            )
            if x
        )
        lines.append(
            f"| {t.metric} | {t.stat} | {bound} {t.unit} | {_fmt(t.value)} | "
            f"{'PASS' if t.passed else 'FAIL'} |"
        )
    lines += [
        "",
        "## Distributions",
        "",
        "| metric | unit | mean | 95 % CI | sd | p5 | p50 | p95 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, d in res.metrics.items():
        ci = "all draws equal" if d.min == d.max else f"[{_fmt(d.ci_low)}, {_fmt(d.ci_high)}]"
        lines.append(
            f"| {name} | {d.unit} | {_fmt(d.mean)} | {ci} | {_fmt(d.sd)} | "
            f"{_fmt(d.p5)} | {_fmt(d.p50)} | {_fmt(d.p95)} |"
        )
    lines += ["", f"![distributions]({png})", ""]
    (out / "replications.md").write_text("\n".join(lines))


def read_draws(folder: Path) -> Draws:
    """The draws of a replications run folder (draws.csv, every digit)."""
    path = folder / "draws.csv"
    if not path.exists():
        raise ScenarioError(
            f"{folder}: no draws.csv; pass a folder written by "
            "`twin simulate --replications N --out DIR`, or a scenario YAML"
        )
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    names = rows[0][1:]
    metrics = tuple({k: float(v) for k, v in zip(names, r[1:]) if v != "nan"} for r in rows[1:])
    return Draws(metrics, 0.0, "", "read")


@dataclass(frozen=True, slots=True)
class DiffRow:
    metric: str
    unit: str
    better: str
    diff: Difference

    @property
    def verdict(self) -> str:
        """'better' / 'worse' beyond the noise, 'within noise', or 'same' (no spread, equal)."""
        d = self.diff
        if d.diff == 0 and d.ci_low == d.ci_high:
            return "same"
        if not d.beyond_noise:
            return "within noise"
        return "better" if (d.diff < 0) == (self.better == "lower") else "worse"


def compare_draws(a: Draws, b: Draws) -> list[DiffRow]:
    """Every metric both measured, b against a (Welch, twin.model.stats.difference)."""
    na, nb = set(draws_matrix(a)[0]), set(draws_matrix(b)[0])
    out = []
    for name in sorted(na & nb):
        xa = [m[name] for m in a.metrics if name in m]
        xb = [m[name] for m in b.metrics if name in m]
        info = METRICS.get(name)
        out.append(
            DiffRow(
                name,
                info.unit if info else "",
                info.better if info else "lower",
                difference(xa, xb),
            )
        )
    return out
