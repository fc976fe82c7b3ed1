"""The answer first: what a report opens on, read from a `Results` alone (either engine).

Sans-IO: plain data in (a Results), frozen value objects out; no files, no clock. The page
templates only lay these out, so every figure on a page comes from results.json and the
tests can hold the page to it.

- `Miss`: a failed target and how far it missed (over a max, short of a min, not measured).
- `Limit`: one resource against its limit: a pool's disk, a district's backhaul, a
  recorder's ingest, disk or streams, the machine's CPU in a live run. `limits()` returns
  the tightest of each kind, tightest first; the first is what binds first. Where the
  scenario sets a target on that resource (`backhaul_util_pct_max: {max: 70}`,
  `storage_headroom_pct_min: {min: 20}`, i.e. 80 % used), the Limit carries it as a share of
  the limit (`resource_targets`), and says the margin to the target beside the headroom to
  the limit: a planner works to the target, the hardware fails at the limit.
- `Drill`: what a fault drill cost: footage lost, the longest gap, the time to recover; the
  recorders that failed and those that took their cameras, named; the drill's time line in
  words, timed from the first fault. A drill's page leads with it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from twin.metrics import METRICS
from twin.model.results import Results, TargetVerdict
from twin.model.verdict import failed_targets, judged_targets, live_only
from twin.output.pages.fixes import fixes
from twin.output.pages.numbers import fmt, when

__all__ = [
    "Miss",
    "Limit",
    "Drill",
    "Storage",
    "Summary",
    "TargetLine",
    "summarise",
    "misses",
    "limits",
    "storage",
    "drill",
    "fmt",
    "bound_text",
    "when",
    "resource_targets",
    "plot_targets",
    "PLOT_RESOURCES",
]


def bound_text(t: TargetVerdict) -> str:
    parts = [
        f">= {fmt(t.min)}" if t.min is not None else "",
        f"<= {fmt(t.max)}" if t.max is not None else "",
    ]
    return " and ".join(p for p in parts if p) + (f" {t.unit}" if t.unit else "")


@dataclass(frozen=True, slots=True)
class Miss:
    metric: str
    unit: str
    bound: str
    value: float | None
    by: float | None  # how far past the bound, in the metric's unit (None: not measured)
    by_pct: float | None  # the same, relative to the bound (None when the bound is 0)
    side: str  # "over", "short" or "not measured"

    @property
    def text(self) -> str:
        if self.by is None:
            return f"{self.metric}: not measured (target {self.bound})"
        word = "over by" if self.side == "over" else "short by"
        if self.unit == "%":  # a difference of percentages is in points, not relative
            by, rel = f"{fmt(self.by)} percentage points", ""
        else:
            by = fmt(self.by, self.unit)
            rel = "" if self.by_pct is None else f", {self.by_pct:.1f} % of the bound"
        return (
            f"{self.metric} = {fmt(self.value, self.unit)}: {word} {by}{rel} (target {self.bound})"
        )


def misses(res: Results, skip_live: bool = True) -> list[Miss]:
    """Each failed target with how far it missed; `skip_live` leaves out `live_*` targets
    of a simulated run (as check and compare judge it; `twin simulate` counts them)."""
    out = []
    failed = failed_targets(res) if skip_live else [t for t in res.targets if not t.passed]
    for t in failed:
        if t.value is None:
            out.append(Miss(t.metric, t.unit, bound_text(t), None, None, None, "not measured"))
            continue
        if t.max is not None and t.value > t.max:
            by, ref, side = t.value - t.max, t.max, "over"
        else:
            assert t.min is not None
            by, ref, side = t.min - t.value, t.min, "short"
        out.append(
            Miss(
                t.metric,
                t.unit,
                bound_text(t),
                t.value,
                by,
                None if ref == 0 else 100 * by / abs(ref),
                side,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class TargetLine:
    """A scenario's target on a kind of resource, as a share of its limit."""

    pct: float  # % of the limit the resource may use
    metric: str  # the target's metric
    bound: str  # the target as written, e.g. "<= 70 %"


# Which target bounds which resource: (metric, side). A headroom target of at least H %
# free is a use of at most 100 - H % of the disk.
_RESOURCE_TARGETS = {
    "pool-disk": ("storage_headroom_pct_min", "min"),
    "recorder-disk": ("storage_headroom_pct_min", "min"),
    "district-backhaul": ("backhaul_util_pct_max", "max"),
    "recorder-ingest": ("recorder_ingest_util_pct_max", "max"),
    "recorder-streams": ("recorder_streams_util_pct_max", "max"),
}


#: The kinds of resource each headroom chart draws (twin.output.pages.charts), for its caption.
PLOT_RESOURCES = {
    "pool_headroom": ("pool-disk",),
    "district_headroom": ("district-backhaul",),
    "recorder_headroom": ("recorder-ingest", "recorder-disk", "recorder-streams"),
}


def plot_targets(res: Results, role: str) -> list[TargetLine]:
    """The scenario's targets a headroom chart draws, one per kind of resource in it."""
    targets = resource_targets(res)
    return [targets[k] for k in PLOT_RESOURCES.get(role, ()) if k in targets]


def resource_targets(res: Results) -> dict[str, TargetLine]:
    """The scenario's own target for each kind of resource it bounds, as % of the limit."""
    by_metric = {t.metric: t for t in res.targets}
    out = {}
    for kind, (metric, side) in _RESOURCE_TARGETS.items():
        t = by_metric.get(metric)
        if t is None:
            continue
        if side == "min" and t.min is not None:
            out[kind] = TargetLine(100.0 - t.min, metric, bound_text(t))
        elif side == "max" and t.max is not None:
            out[kind] = TargetLine(t.max, metric, bound_text(t))
    return out


@dataclass(frozen=True, slots=True)
class Limit:
    kind: str  # a stable key: pool-disk, district-backhaul, recorder-ingest, ...
    what: str  # in words: "disk of pool", "backhaul of district", ...
    name: str
    used: float
    limit: float
    unit: str
    util_pct: float
    group: str = ""  # e.g. the recorder's pool
    target_pct: float | None = None  # the scenario's target, % of the limit (None: none set)

    @property
    def headroom_pct(self) -> float:
        return 100.0 - self.util_pct

    @property
    def margin_pct(self) -> float | None:
        """Percentage points left before the target (negative: past it); None without one."""
        return None if self.target_pct is None else self.target_pct - self.util_pct

    @property
    def over_target(self) -> bool:
        return self.target_pct is not None and self.util_pct > self.target_pct + 1e-9

    @property
    def text(self) -> str:
        grp = f" (pool {self.group})" if self.group else ""
        margin = ""
        if self.margin_pct is not None:
            m = self.margin_pct
            margin = (
                f"{m:.1f} points of margin to the {self.target_pct:g} % target, "
                if m >= 0
                else f"{-m:.1f} points past the {self.target_pct:g} % target, "
            )
        return (
            f"{self.what} {self.name}{grp}: {fmt(self.used, self.unit)} of "
            f"{fmt(self.limit, self.unit)}, {self.util_pct:.1f} % used, "
            f"{margin}{self.headroom_pct:.1f} % headroom to the limit"
        )

    def with_target(self, targets: dict[str, TargetLine]) -> Limit:
        t = targets.get(self.kind)
        return self if t is None else replace(self, target_pct=t.pct)


def _num(row: dict[str, Any], key: str) -> float | None:
    v = row.get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def pool_limits(res: Results) -> list[Limit]:
    """Every pool's peak footage against its disk, tightest first."""
    out = []
    for row in res.per_pool:
        used, disk = _num(row, "peak_used_tb"), _num(row, "disk_tb")
        if used is not None and disk:
            out.append(
                Limit(
                    "pool-disk",
                    "disk of pool",
                    str(row.get("pool")),
                    used,
                    disk,
                    "TB",
                    100 * used / disk,
                )
            )
    targets = resource_targets(res)
    return sorted((x.with_target(targets) for x in out), key=lambda x: (-x.util_pct, x.name))


def district_limits(res: Results) -> list[Limit]:
    """Every district's backhaul load against its capacity, tightest first."""
    out = []
    for row in res.per_district:
        util, cap = _num(row, "backhaul_util_pct"), _num(row, "backhaul_mbps")
        if util is not None and cap:
            out.append(
                Limit(
                    "district-backhaul",
                    "backhaul of district",
                    str(row.get("district")),
                    util * cap / 100,
                    cap,
                    "Mbps",
                    util,
                )
            )
    targets = resource_targets(res)
    return sorted((x.with_target(targets) for x in out), key=lambda x: (-x.util_pct, x.name))


def recorder_limits(res: Results) -> dict[str, list[Limit]]:
    """Per recorder: peak ingest, peak disk and most streams against their limits."""
    out: dict[str, list[Limit]] = {
        "recorder-ingest": [],
        "recorder-disk": [],
        "recorder-streams": [],
    }
    for row in res.per_recorder:
        name, pool = str(row.get("recorder")), str(row.get("pool") or "")
        lim, util = _num(row, "ingest_limit_mbps"), _num(row, "ingest_util_pct_max")
        if lim and util is not None:
            out["recorder-ingest"].append(
                Limit(
                    "recorder-ingest",
                    "ingest of recorder",
                    name,
                    util * lim / 100,
                    lim,
                    "Mbps",
                    util,
                    pool,
                )
            )
        disk, used = _num(row, "disk_tb"), _num(row, "peak_used_tb")
        if disk and used is not None:
            out["recorder-disk"].append(
                Limit(
                    "recorder-disk",
                    "disk of recorder",
                    name,
                    used,
                    disk,
                    "TB",
                    100 * used / disk,
                    pool,
                )
            )
        smax, slim = _num(row, "streams_max"), _num(row, "stream_limit")
        if slim and smax is not None:
            out["recorder-streams"].append(
                Limit(
                    "recorder-streams",
                    "streams of recorder",
                    name,
                    smax,
                    slim,
                    "streams",
                    100 * smax / slim,
                    pool,
                )
            )
    targets = resource_targets(res)
    return {
        k: sorted((x.with_target(targets) for x in v), key=lambda x: (-x.util_pct, x.name))
        for k, v in out.items()
    }


def limits(res: Results) -> list[Limit]:
    """The tightest resource of each kind, tightest first (the first binds first)."""
    tops = [
        lst[0]
        for lst in (pool_limits(res), district_limits(res), *recorder_limits(res).values())
        if lst
    ]
    cpu = res.metrics.get("live_cpu_pct_machine")
    if cpu is not None and res.run.host_cpus:
        cores = float(res.run.host_cpus)
        tops.append(
            Limit(
                "machine-cpu",
                "CPU of the",
                "machine (every process on it)",
                cpu / 100,
                cores,
                "cores",
                cpu / cores,
            )
        )
    return sorted(tops, key=lambda x: -x.util_pct)


@dataclass(frozen=True, slots=True)
class Storage:
    needed_tb: float
    disk_tb: float
    headroom_pct: float | None
    model_tb: float | None

    @property
    def text(self) -> str:
        head = (
            "" if self.headroom_pct is None else f", {self.headroom_pct:.1f} % headroom city-wide"
        )
        model = "" if self.model_tb is None else f" (closed form: {fmt(self.model_tb, 'TB')})"
        short = ""
        if self.model_tb is not None and self.needed_tb < 0.5 * self.model_tb:
            short = (
                "; this run is shorter than the retention period, so its disks never "
                "filled as they will: the closed form is the steady state"
            )
        return (
            f"{fmt(self.needed_tb, 'TB')} of footage at the peak{model} on "
            f"{fmt(self.disk_tb, 'TB')} of disk{head}{short}"
        )


def storage(res: Results) -> Storage | None:
    m = res.metrics
    if "storage_needed_tb" not in m or "disk_total_tb" not in m:
        return None
    return Storage(
        m["storage_needed_tb"],
        m["disk_total_tb"],
        m.get("storage_headroom_pct"),
        m.get("storage_model_tb"),
    )


@dataclass(frozen=True, slots=True)
class Drill:
    facts: tuple[tuple[str, str], ...]  # (what, value with unit), in reading order
    faults: tuple[str, ...]  # the faults injected, in words
    failed: tuple[str, ...] = ()  # recorders that went down and lost their cameras
    took: tuple[tuple[str, int], ...] = ()  # recorders that took cameras, with how many
    timeline: tuple[tuple[str, str], ...] = ()  # (time from the first fault, what happened)
    timeline_more: int = 0  # events left out of `timeline` (all are in results.json)
    first_at: str = ""  # when the first fault started, in words
    n_faults: int = 0  # faults injected in all (`faults` lists the first few)


_SIM_DRILL = (
    ("footage lost", "camera_minutes_lost"),
    ("footage lost with failed disks", "camera_minutes_lost_disk"),
    ("time to recover (longest)", "recovery_s_max"),
    ("longest gap of a camera", "max_gap_s"),
    ("cameras affected", "cameras_affected"),
    ("most cameras unrecorded at once", "cameras_unrecorded_max"),
    ("cameras without a recorder after failover", "cameras_unassigned_after_failover"),
    ("faults not recovered by the end", "incidents_unrecovered"),
)
_LIVE_DRILL = (
    ("camera time unrecorded, start to end", "live_unrecorded_s"),
    ("longest gap a fault caused", "live_fault_gap_max_s"),
    ("time to recover (longest)", "live_recovery_s_max"),
    ("time to detect a fault (longest)", "live_detect_s_max"),
    ("time to detect a lost recorder", "live_failover_detect_s_max"),
    ("time to restore the part (longest)", "live_restore_s_max"),
    ("faults not restored by the end", "live_faults_unrestored"),
    ("segments in progress lost", "live_partial_segments_lost"),
    ("segments a crashed recorder left, kept", "live_partials_recovered"),
    ("empty segment stubs a crashed recorder left, removed", "live_partials_removed"),
    ("camera-seconds recorded twice", "live_double_recorded_s"),
)


def _live_fault_words(e: dict[str, Any]) -> str:
    if e.get("kind") == "fault":  # one event per fault seen, scripted or not
        what = " ".join(str(x) for x in (e.get("fault_kind"), e.get("part")) if x)
        return what + ("" if e.get("scripted", True) else " (unscripted)")
    return (
        str(e["kind"])[len("drill_") :].replace("_", " ")  # runs before `faults:`
        + (f" {e['recorder']}" if e.get("recorder") else "")
    )


#: Time-line rows a drill's page shows (the rest are in results.json and its events table).
TIMELINE_ROWS = 12


def _span(dt_s: float) -> str:
    """A time after the first fault: +45 s, +2.5 h, +3.0 days."""
    if dt_s < 120:
        return f"+{dt_s:,.0f} s"
    if dt_s < 2 * 3600:
        return f"+{dt_s / 60:,.1f} min"
    if dt_s < 2 * 86_400:
        return f"+{dt_s / 3600:,.1f} h"
    return f"+{dt_s / 86_400:,.1f} days"


def _storm_words(e: dict[str, Any]) -> str:
    """', the last N s later' for an event whose cameras came back one after another (the
    failover curve's reconnection term: `last_camera_s`)."""
    last, t = e.get("last_camera_s"), e.get("t_s")
    if last is None or t is None or float(last) - float(t) < 0.05:
        return ""
    return f", the last of them recording again {float(last) - float(t):.1f} s later"


def _event_words(e: dict[str, Any]) -> str | None:
    """A simulated drill's event in words; None for an event that is not part of one."""
    k = e.get("kind")
    label = f" ({e['label']})" if e.get("label") else ""
    if k == "fault_start":
        return f"{e.get('fault')} {e.get('target')}{label} starts"
    if k == "fault_end":
        return f"{e.get('fault')} {e.get('target')} ends"
    if k == "recorder_health":
        to = e.get("to")
        return f"{e.get('recorder')} " + ("declared down" if to == "down" else f"now {to}")
    if k == "failover":
        to = e.get("to") or {}
        moved = ", ".join(
            f"{n} ({c:,})" for n, c in sorted(to.items(), key=lambda x: (-x[1], x[0]))
        )
        left = int(e.get("cameras_unassigned") or 0)
        return (
            f"{e.get('recorder')}'s {int(e.get('cameras_moved') or 0):,} cameras moved to "
            f"{moved or 'no recorder'}"
            + (f"; {left:,} found no room" if left else "")
            + _storm_words(e)
        )
    if k == "failback":
        return f"{int(e.get('cameras') or 0):,} cameras back on {e.get('recorder')}"
    if k == "cameras_cut_off":
        return f"{int(e.get('cameras') or 0):,} cameras cut off ({e.get('cause')})"
    if k == "cameras_reconnected":
        return (
            f"{int(e.get('cameras') or 0):,} cameras recording again ({e.get('cause')})"
            + _storm_words(e)
        )
    if k == "disk_lost":
        return (
            f"{e.get('recorder')} lost its disk: {int(e.get('segments') or 0):,} segments of "
            f"{int(e.get('cameras') or 0):,} cameras"
        )
    return None


def _sim_drill_parts(
    res: Results,
) -> tuple[tuple[str, ...], tuple[tuple[str, int], ...], tuple[tuple[str, str], ...], int, str]:
    events = [e for e in res.events if _event_words(e) is not None]
    starts = [float(e.get("t_s", 0)) for e in events if e.get("kind") == "fault_start"]
    t0 = min(starts) if starts else 0.0
    failed: list[str] = []
    took: dict[str, int] = {}
    for e in events:
        if e.get("kind") in ("failover", "disk_lost") and e.get("recorder") not in failed:
            failed.append(str(e.get("recorder")))
        if e.get("kind") == "failover":
            for name, n in (e.get("to") or {}).items():
                took[str(name)] = took.get(str(name), 0) + int(n)
    rows = [(_span(float(e.get("t_s", 0)) - t0), str(_event_words(e))) for e in events]
    return (
        tuple(failed),
        tuple(sorted(took.items(), key=lambda x: (-x[1], x[0]))),
        tuple(rows[:TIMELINE_ROWS]),
        max(0, len(rows) - TIMELINE_ROWS),
        when(t0),
    )


_LIVE_STEPS = (
    ("happened_s", "happens"),
    ("detected_s", "detected"),
    ("restarted_s", "started again"),
    ("restored_s", "restored"),
)


def _live_drill_parts(
    res: Results, faults: list[dict[str, Any]]
) -> tuple[tuple[str, ...], tuple[tuple[str, int], ...], tuple[tuple[str, str], ...], int, str]:
    """A live drill's recorders (killed; those that ended with more cameras than they
    started with, and how many more) and its faults' steps timed from the first."""
    failed = tuple(str(r["recorder"]) for r in res.per_recorder if r.get("killed"))
    gained = [
        (str(r["recorder"]), int(r.get("cameras_final", 0)) - int(r.get("cameras_initial", 0)))
        for r in res.per_recorder
    ]
    took = tuple(sorted(((n, g) for n, g in gained if g > 0), key=lambda x: (-x[1], x[0])))
    steps = sorted(
        (float(f[key]), f"{_live_fault_words(f)} {word}")
        for f in faults
        for key, word in _LIVE_STEPS
        if isinstance(f.get(key), (int, float))
    )
    if not steps:
        return failed, took, (), 0, ""
    t0 = steps[0][0]
    rows = [(_span(t - t0), what) for t, what in steps]
    return (
        failed,
        took,
        tuple(rows[:TIMELINE_ROWS]),
        max(0, len(rows) - TIMELINE_ROWS),
        f"{t0:,.0f} s into the run",
    )


def drill(res: Results) -> Drill | None:
    """What the run's faults cost, or None when no fault was injected."""
    m = res.metrics
    if res.engine == "live":
        faults = [
            e
            for e in res.events
            if e.get("kind") == "fault" or str(e.get("kind", "")).startswith("drill_")
        ]
        if not faults:
            return None
        gaps = [e for e in res.events if e.get("kind") == "fault_gap"]
        lost = sum(float(e.get("gap_s") or 0) for e in gaps)
        facts = [
            ("footage lost to the faults", f"{fmt(lost, 's')} of camera time in {len(gaps)} gaps")
        ]
        facts += [(w, fmt(m[k], METRICS[k].unit)) for w, k in _LIVE_DRILL if k in m]
        failed, took, timeline, more, first_at = _live_drill_parts(res, faults)
        return Drill(
            tuple(facts),
            tuple(_live_fault_words(e) for e in faults[:8]),
            failed,
            took,
            timeline,
            more,
            first_at,
            len(faults),
        )
    if not m.get("incidents"):
        return None
    facts = [(w, fmt(m[k], METRICS[k].unit)) for w, k in _SIM_DRILL if k in m]
    words = []
    started = [e for e in res.events if e.get("kind") == "fault_start"]
    for e in started[:8]:
        what = " ".join(str(x) for x in (e.get("fault"), e.get("target")) if x)
        label = f" ({e['label']})" if e.get("label") else ""
        words.append(f"{what}{label} at {when(float(e.get('t_s', 0)))}")
    failed, took, timeline, more, first_at = _sim_drill_parts(res)
    return Drill(tuple(facts), tuple(words), failed, took, timeline, more, first_at, len(started))


@dataclass(frozen=True, slots=True)
class Summary:
    verdict: str  # the line a page opens on
    passed: bool
    judged: int
    skipped_live: int
    misses: tuple[Miss, ...]
    limits: tuple[Limit, ...]
    storage: Storage | None
    drill: Drill | None
    fixes: tuple[str, ...] = ()  # what would fix the failed targets, where the twin knows


def summarise(res: Results, skip_live: bool = False) -> Summary:
    """The facts a page opens on. `skip_live`: judge as `twin check` and `twin compare` do
    (a simulated run's `live_*` targets skipped); else as the run's own command did."""
    judged = judged_targets(res) if skip_live else list(res.targets)
    bad = misses(res, skip_live)
    skipped = sum(1 for t in res.targets if live_only(t.metric, res.engine)) if skip_live else 0
    name = res.scenario.name
    if not res.targets:
        verdict = f"{name}: PASS: no targets set"
    elif not judged:
        verdict = f"{name}: PASS: no target this engine measures ({skipped} live-only, skipped)"
    elif bad:
        verdict = (
            f"{name}: FAIL: {len(bad)} of {len(judged)} targets missed "
            f"({', '.join(b.metric for b in bad)})"
        )
    else:
        verdict = f"{name}: PASS: all {len(judged)} targets met"
    # A live run whose harness fell behind has its targets shown, not judged: no fix for them.
    fix = tuple(f.text for f in fixes(res)) if bad and not res.invalid else ()
    return Summary(
        verdict,
        not bad,
        len(judged),
        skipped,
        tuple(bad),
        tuple(limits(res)),
        storage(res),
        drill(res),
        fix,
    )
