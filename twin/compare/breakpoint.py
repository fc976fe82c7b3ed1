"""Where a deployment breaks first: grow its load until a target fails, name what binds.

Theory of operation
-------------------
A growth turns the scenario into a ladder of load levels (`grow(base, growth, level)`, on the
raw mapping, validated like a sweep's variants):

- sets: level m is m months of the roll-out continued at `sets_per_year` (2,000-2,500 a
  year for the programme) from `from_month` on (default: the month after the scenario's
  last roll-out step), spread over the districts in proportion to their sets (largest
  remainder, ties to the earlier district); the new sets are on line for the whole run, so
  level m is the city as it stands at the end of month from_month + m - 1;
- bitrate: level L multiplies every camera profile's bitrate by 1 + L * step_pct / 100;
- cameras_per_set: level L moves the mean cameras per set up by L * step_cameras (between
  the two nearest whole sizes, up to 4 cameras a set).

Every level is a full simulation of the scenario (its faults and evidence too, on its own
seed), judged on its targets. The search assumes a failed target stays failed as load
grows. It first runs a geometric ladder of levels (0, 1, 2, 4, 8, ... up to `max_level`) as
Ray tasks (twin.ray.tasks), then bisects between the last passing and the first
failing rung, in this process. The ladder's verdicts are checked for monotonicity; a pass
after a fail is reported, since the bisection's answer then is a break, not the first.

What binds: each resource's demand as a share of its capacity, in closed form from the
level's city (what the cameras ask for, before any is refused): disk (footage kept for
retention against the pool's usable disk), recorder ingest (Mbps) and recorder streams, per
pool over its active (non-standby) recorders, and backhaul per district. The binding resource
is the most loaded resource of the kinds the failed targets point to (a segments_dropped
target points to the reasons its segments were dropped for); with no such kind, the most
loaded resource overall. Analyser compute is not grown here (the simulation of a scenario's
`analytics:` section reports it at one load; `twin live` measures it): it is named as not
grown, never guessed.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twin.errors import ScenarioError
from twin.model.city import generate_city
from twin.model.results import Results
from twin.model.verdict import failed_targets
from twin.ray.tasks import run_ordered
from twin.scenario import Scenario, parse_scenario
from twin.scenario.model import scenario_data
from twin.sim.run import run_scenario

__all__ = [
    "GROWTHS",
    "Growth",
    "LevelResult",
    "Breakpoint",
    "grow",
    "demand",
    "find_breakpoint",
    "add_months",
    "RESOURCE_KINDS",
]

GROWTHS = ("sets", "bitrate", "cameras_per_set")
RESOURCE_KINDS = ("disk", "recorder_ingest", "recorder_streams", "backhaul")
NOT_MODELLED = (
    "analyser compute: not grown here (`twin simulate` of a scenario with an "
    "`analytics:` section reports it; `twin live` measures it)",
)
MAX_CAMERAS_PER_SET = 4

# Target metric -> the resource kinds it measures (segments_dropped: by its drop reasons).
TARGET_KINDS: dict[str, tuple[str, ...]] = {
    "storage_headroom_pct": ("disk",),
    "storage_headroom_pct_min": ("disk",),
    "storage_needed_tb": ("disk",),
    "segments_dropped_disk_full": ("disk",),
    "retention_max_age_days": ("disk",),
    "disks_needed": ("disk",),
    "recorder_ingest_util_pct_max": ("recorder_ingest",),
    "ingest_total_mbps": ("recorder_ingest",),
    "segments_dropped_ingest_limit": ("recorder_ingest", "recorder_streams"),
    "recorder_streams_util_pct_max": ("recorder_streams",),
    "cameras_unplaced": ("recorder_ingest", "recorder_streams"),
    "segments_dropped_unplaced": ("recorder_ingest", "recorder_streams"),
    "recorders_needed": ("recorder_ingest", "recorder_streams"),
    "backhaul_util_pct_max": ("backhaul",),
    "segments_dropped_backhaul": ("backhaul",),
}
DROP_REASON_METRICS = (
    "segments_dropped_disk_full",
    "segments_dropped_ingest_limit",
    "segments_dropped_unplaced",
    "segments_dropped_backhaul",
)


@dataclass(frozen=True, slots=True)
class Growth:
    kind: str
    sets_per_year: float = 2250.0
    from_month: str | None = None
    step_pct: float = 1.0
    step_cameras: float = 0.05
    max_level: int = 120

    def __post_init__(self) -> None:
        if self.kind not in GROWTHS:
            raise ScenarioError(f"--grow {self.kind!r}: expected one of {GROWTHS}")
        if self.kind == "sets" and not 0 < self.sets_per_year <= 100_000:
            raise ScenarioError(
                f"--sets-per-year {self.sets_per_year:g}: expected a rate > 0, "
                "e.g. 2250 (the programme adds 2,000-2,500 sets a year)"
            )
        if self.step_pct <= 0 or self.step_cameras <= 0:
            raise ScenarioError(
                f"--step-pct {self.step_pct:g} / --step-cameras "
                f"{self.step_cameras:g}: steps must be > 0, e.g. 1 and 0.05"
            )
        if self.max_level < 1:
            raise ScenarioError(f"--max-level {self.max_level}: expected >= 1, e.g. 120")
        if self.from_month is not None:
            try:
                dt.date.fromisoformat(self.from_month + "-01")
            except ValueError:
                raise ScenarioError(
                    f"--from-month {self.from_month!r}: expected YYYY-MM, e.g. 2028-01"
                ) from None


def add_months(month: str, k: int) -> str:
    y, m = (int(x) for x in month.split("-"))
    i = y * 12 + (m - 1) + k
    return f"{i // 12:04d}-{i % 12 + 1:02d}"


def first_month(base: dict[str, Any], growth: Growth, source: str) -> str:
    """The first month of growth: --from-month, else the month after the last roll-out step."""
    if growth.from_month is not None:
        return growth.from_month
    rollout = (base.get("city") or {}).get("rollout") or []
    if not rollout:
        raise ScenarioError(
            f"{source}: the scenario has no city.rollout, so it cannot say when "
            "its roll-out ends; give the first month of growth, e.g. "
            "--from-month 2028-01 (the month after the programme's 7,000 sets)"
        )
    return add_months(str(rollout[-1]["month"]), 1)


def _split(total: int, weights: list[int]) -> list[int]:
    """Largest-remainder split of `total` in proportion to `weights` (ties: earlier first)."""
    w = np.asarray(weights, dtype=np.float64)
    if w.sum() <= 0:
        w = np.ones_like(w)
    exact = total * w / w.sum()
    out = np.floor(exact).astype(int)
    left = total - int(out.sum())
    order = sorted(range(len(w)), key=lambda i: (-(exact[i] - out[i]), i))
    for i in order[:left]:
        out[i] += 1
    return [int(n) for n in out]


def _mean_cameras(weights: dict[Any, float]) -> float:
    tot = sum(weights.values())
    return sum(int(k) * v for k, v in weights.items()) / tot


def level_count(base_sc: Scenario, growth: Growth) -> int:
    """The highest level this growth can reach (cameras per set stops at 4)."""
    if growth.kind == "cameras_per_set":
        room = MAX_CAMERAS_PER_SET - _mean_cameras(base_sc.city.cameras_per_set)
        return max(0, min(growth.max_level, int(np.floor(room / growth.step_cameras + 1e-9))))
    return growth.max_level


def grow(base: dict[str, Any], growth: Growth, level: int) -> dict[str, Any]:
    """The scenario mapping at `level` of `growth` (module docstring); level 0 is `base`."""
    data = copy.deepcopy(base)
    if level == 0:
        return data
    if growth.kind == "sets":
        added = int(round(growth.sets_per_year * level / 12))
        districts = data["city"]["districts"]
        final = [int(d["sets"]) for d in districts]
        names = [d["name"] for d in districts]
        for step in data["city"].get("rollout") or []:
            for name, k in step["sets"].items():
                final[names.index(name)] += int(k)
        for d, extra in zip(districts, _split(added, final)):
            d["sets"] = int(d["sets"]) + extra
    elif growth.kind == "bitrate":
        f = 1 + level * growth.step_pct / 100
        for p in data["camera_profiles"]:
            p["bitrate_mbps"] = float(p["bitrate_mbps"]) * f
    else:
        w = data["city"].get("cameras_per_set") or {2: 0.5, 3: 0.5}
        mu = _mean_cameras({int(k): float(v) for k, v in w.items()}) + level * growth.step_cameras
        lo = int(np.floor(mu + 1e-9))
        frac = mu - lo
        if lo >= MAX_CAMERAS_PER_SET:
            data["city"]["cameras_per_set"] = {MAX_CAMERAS_PER_SET: 1.0}
        else:
            data["city"]["cameras_per_set"] = (
                {lo: 1 - frac, lo + 1: frac} if frac > 1e-9 else {lo: 1.0}
            )
    return data


def label(growth: Growth, level: int, month0: str | None, base_sc: Scenario) -> str:
    """What a level means to a reader: a month, a bitrate factor, cameras per set."""
    if growth.kind == "sets":
        sets = base_sc.city.total_sets + int(round(growth.sets_per_year * level / 12))
        when = "as given" if level == 0 else f"end of {add_months(month0 or '', level - 1)}"
        return f"{when}: {sets:,} sets"
    if growth.kind == "bitrate":
        return f"bitrate x{1 + level * growth.step_pct / 100:.3g}"
    mu = _mean_cameras(base_sc.city.cameras_per_set) + level * growth.step_cameras
    return f"{mu:.3g} cameras per set"


def demand(sc: Scenario) -> dict[str, dict[str, float]]:
    """Each resource's demand as % of its capacity, in closed form from the scenario's city:
    {kind: {pool or district: %}} (module docstring)."""
    city = generate_city(sc)
    active = np.ones(city.n_recorders, dtype=bool)
    m = sc.failover.standby_per_pool
    if m:
        for p in range(len(city.pool_names)):
            active[np.flatnonzero(city.rec_pool == p)[-m:]] = False
    out: dict[str, dict[str, float]] = {k: {} for k in RESOURCE_KINDS}
    keep_bytes = city.cam_effective_mbps * 1e6 / 8 * sc.recording.retention_s
    for p, name in enumerate(city.pool_names):
        cams = city.cam_pool == p
        recs = (city.rec_pool == p) & active
        out["disk"][name] = (
            100 * float(keep_bytes[cams].sum()) / float(city.rec_disk_bytes[recs].sum())
        )
        out["recorder_ingest"][name] = (
            100 * float(city.cam_mbps[cams].sum()) / float(city.rec_ingest_mbps[recs].sum())
        )
        out["recorder_streams"][name] = (
            100 * float(cams.sum()) / float(city.rec_max_streams[recs].sum())
        )
    for d, name in enumerate(city.district_names):
        out["backhaul"][name] = (
            100
            * float(city.cam_mbps[city.cam_district == d].sum())
            / float(city.district_backhaul_mbps[d])
        )
    return {k: {n: round(v, 6) for n, v in vals.items()} for k, vals in out.items()}


def evaluate(item: tuple[Scenario, str, float | None]) -> dict[str, Any]:
    """Simulate one level; a Ray task's body: {"results": results.json dict, "demand": ...}."""
    sc, source, days = item
    return {"results": run_scenario(sc, source, days).model_dump(mode="json"), "demand": demand(sc)}


@dataclass(frozen=True, slots=True)
class LevelResult:
    level: int
    label: str
    results: Results
    demand: dict[str, dict[str, float]]

    @property
    def failed(self) -> list[str]:
        return [t.metric for t in failed_targets(self.results)]

    @property
    def passed(self) -> bool:
        return not self.failed

    def top(self, kinds: tuple[str, ...] = RESOURCE_KINDS) -> tuple[str, str, float]:
        """(kind, where, %) of the most loaded resource among `kinds` (ties: earlier)."""
        best = ("", "", -1.0)
        for k in kinds:
            for where, v in self.demand[k].items():
                if v > best[2]:
                    best = (k, where, v)
        return best


@dataclass(frozen=True, slots=True)
class Breakpoint:
    scenario: str
    growth: Growth
    month0: str | None
    levels: tuple[LevelResult, ...]  # every level simulated, in level order
    last_pass: LevelResult | None
    first_fail: LevelResult | None
    monotone: bool
    not_modelled: tuple[str, ...] = NOT_MODELLED
    notes: tuple[str, ...] = field(default_factory=tuple)

    def binding(self) -> tuple[str, str, float] | None:
        """(resource kind, pool or district, demand %) that binds at the first failure."""
        f = self.first_fail
        if f is None:
            return None
        kinds: list[str] = []
        for name in f.failed:
            if name == "segments_dropped":
                for reason in DROP_REASON_METRICS:
                    if f.results.metrics.get(reason, 0) > 0:
                        kinds += TARGET_KINDS[reason]
            kinds += TARGET_KINDS.get(name, ())
        chosen = tuple(k for k in RESOURCE_KINDS if k in kinds) or RESOURCE_KINDS
        return f.top(chosen)

    def when(self) -> str:
        f = self.first_fail
        if f is None:
            return ""
        if self.growth.kind == "sets" and f.level > 0:
            return add_months(self.month0 or "", f.level - 1)
        return f.label


def _ladder(top: int) -> list[int]:
    out, k = [0], 1
    while k < top:
        out.append(k)
        k *= 2
    if top not in out:
        out.append(top)
    return out


def find_breakpoint(
    scenario_path: str | Path,
    growth: Growth,
    backend: str = "ray",
    days: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> Breakpoint:
    """Grow the scenario's load until its first target fails (module docstring)."""
    p = Path(scenario_path)
    # Bounded, strict YAML (twin/scenario/loader.py), its bases merged in (an overlay).
    base, where = scenario_data(p)
    base_sc = parse_scenario(base, where, p.parent)
    if not base_sc.targets:
        raise ScenarioError(
            f"{p}: the scenario has no targets, so nothing can fail; add "
            "targets: (e.g. storage_headroom_pct_min: {min: 20})"
        )
    month0 = first_month(base, growth, str(p)) if growth.kind == "sets" else None
    top = level_count(base_sc, growth)
    if top < 1:
        raise ScenarioError(
            f"{p}: cameras per set are already at {MAX_CAMERAS_PER_SET}; grow "
            "sets or bitrate instead"
        )
    done: dict[int, LevelResult] = {}

    def item(level: int) -> tuple[Scenario, str, float | None]:
        # Parsed here, its calibration read relative to the scenario file: a bad level stops
        # the search before anything runs, and a worker needs no file of the driver's.
        src = f"{p} at {growth.kind} level {level}"
        return parse_scenario(grow(base, growth, level), src, p.parent), src, days

    def keep(level: int, out: dict[str, Any]) -> None:
        done[level] = LevelResult(
            level,
            label(growth, level, month0, base_sc),
            Results.model_validate(out["results"]),
            out["demand"],
        )

    rungs = _ladder(top)
    if progress:
        progress(f"ladder of {len(rungs)} levels {rungs}")
    for level, out in zip(rungs, run_ordered(evaluate, (), [item(r) for r in rungs], backend)):
        keep(level, out)
    verdicts = [done[r].passed for r in rungs]
    monotone = all(a or not b for a, b in zip(verdicts, verdicts[1:]))  # no pass after a fail
    notes: list[str] = []
    if not monotone:
        notes.append(
            "a level passed after a lower one failed: the load is not monotone in "
            "this growth; the level found is a break, maybe not the first"
        )
    if not verdicts[0]:
        f = done[0]
        return Breakpoint(
            str(p),
            growth,
            month0,
            tuple(done.values()),
            None,
            f,
            monotone,
            notes=(*notes, "the scenario fails its targets before any growth"),
        )
    if all(verdicts):
        return Breakpoint(
            str(p),
            growth,
            month0,
            tuple(sorted(done.values(), key=lambda r: r.level)),
            done[top],
            None,
            monotone,
            notes=(
                *notes,
                f"no target fails up to level {top} ({done[top].label}); raise --max-level",
            ),
        )
    hi = rungs[verdicts.index(False)]
    lo = max(r for r in rungs if r < hi and done[r].passed)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if progress:
            progress(f"bisecting {lo}..{hi}: level {mid}")
        keep(mid, evaluate(item(mid)))
        if done[mid].passed:
            lo = mid
        else:
            hi = mid
    levels = tuple(sorted(done.values(), key=lambda r: r.level))
    return Breakpoint(
        str(p), growth, month0, levels, done[lo], done[hi], monotone, notes=tuple(notes)
    )
