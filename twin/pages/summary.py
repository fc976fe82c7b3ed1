"""The answer first: what a report opens on, read from a `Results` alone (either engine).

Sans-IO: plain data in (a Results), frozen value objects out; no files, no clock. The page
templates only lay these out, so every figure on a page comes from results.json and the
tests can hold the page to it.

- `Miss`: a failed target and how far it missed (over a max, short of a min, not measured).
- `Limit`: one resource against its limit: a pool's disk, a district's backhaul, a
  recorder's ingest, disk or streams, the machine's CPU in a live run. `limits()` returns
  the tightest of each kind, tightest first; the first is what binds first.
- `Drill`: what a fault drill cost: footage lost, the longest gap, the time to recover.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twin.compare.verdict import failed_targets, judged_targets, live_only
from twin.metrics import METRICS
from twin.results import Results, TargetVerdict

__all__ = ["Miss", "Limit", "Drill", "Storage", "Summary", "summarise", "misses", "limits",
           "storage", "drill", "fmt", "bound_text", "when"]


def fmt(v: float | None, unit: str = "") -> str:
    """A number for people: thousands separated, at most 3 decimals, unit after it."""
    if v is None:
        return "not measured"
    if v == int(v) or abs(v) >= 1e4:
        s = f"{v:,.0f}"
    elif abs(v) >= 100:
        s = f"{v:,.1f}"
    else:
        s = f"{v:,.3g}" if abs(v) < 1 else f"{v:,.2f}"
    if not unit:
        return s
    return f"{s} %" if unit == "%" else f"{s} {unit}"


def when(t_s: float) -> str:
    """A time into the run in the unit a person would use: s, then h, then days."""
    if t_s < 3600:
        return f"{t_s:,.0f} s"
    if t_s < 2 * 86_400:
        return f"{t_s / 3600:,.1f} h"
    return f"day {t_s / 86_400:,.1f}"


def bound_text(t: TargetVerdict) -> str:
    parts = [f">= {fmt(t.min)}" if t.min is not None else "",
             f"<= {fmt(t.max)}" if t.max is not None else ""]
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
        return f"{self.metric} = {fmt(self.value, self.unit)}: {word} {by}{rel} (target {self.bound})"


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
        out.append(Miss(t.metric, t.unit, bound_text(t), t.value, by,
                        None if ref == 0 else 100 * by / abs(ref), side))
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

    @property
    def headroom_pct(self) -> float:
        return 100.0 - self.util_pct

    @property
    def text(self) -> str:
        grp = f" (pool {self.group})" if self.group else ""
        return (f"{self.what} {self.name}{grp}: {fmt(self.used, self.unit)} of "
                f"{fmt(self.limit, self.unit)}, {self.util_pct:.1f} % used, "
                f"{self.headroom_pct:.1f} % headroom")


def _num(row: dict[str, Any], key: str) -> float | None:
    v = row.get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def pool_limits(res: Results) -> list[Limit]:
    """Every pool's peak footage against its disk, tightest first."""
    out = []
    for row in res.per_pool:
        used, disk = _num(row, "peak_used_tb"), _num(row, "disk_tb")
        if used is not None and disk:
            out.append(Limit("pool-disk", "disk of pool", str(row.get("pool")), used, disk, "TB",
                             100 * used / disk))
    return sorted(out, key=lambda x: (-x.util_pct, x.name))


def district_limits(res: Results) -> list[Limit]:
    """Every district's backhaul load against its capacity, tightest first."""
    out = []
    for row in res.per_district:
        util, cap = _num(row, "backhaul_util_pct"), _num(row, "backhaul_mbps")
        if util is not None and cap:
            out.append(Limit("district-backhaul", "backhaul of district", str(row.get("district")),
                             util * cap / 100, cap, "Mbps", util))
    return sorted(out, key=lambda x: (-x.util_pct, x.name))


def recorder_limits(res: Results) -> dict[str, list[Limit]]:
    """Per recorder: peak ingest, peak disk and most streams against their limits."""
    out: dict[str, list[Limit]] = {"recorder-ingest": [], "recorder-disk": [],
                                   "recorder-streams": []}
    for row in res.per_recorder:
        name, pool = str(row.get("recorder")), str(row.get("pool") or "")
        lim, util = _num(row, "ingest_limit_mbps"), _num(row, "ingest_util_pct_max")
        if lim and util is not None:
            out["recorder-ingest"].append(Limit("recorder-ingest", "ingest of recorder", name,
                                                util * lim / 100, lim, "Mbps", util, pool))
        disk, used = _num(row, "disk_tb"), _num(row, "peak_used_tb")
        if disk and used is not None:
            out["recorder-disk"].append(Limit("recorder-disk", "disk of recorder", name, used,
                                              disk, "TB", 100 * used / disk, pool))
        smax, slim = _num(row, "streams_max"), _num(row, "stream_limit")
        if slim and smax is not None:
            out["recorder-streams"].append(Limit("recorder-streams", "streams of recorder", name,
                                                 smax, slim, "streams", 100 * smax / slim, pool))
    return {k: sorted(v, key=lambda x: (-x.util_pct, x.name)) for k, v in out.items()}


def limits(res: Results) -> list[Limit]:
    """The tightest resource of each kind, tightest first (the first binds first)."""
    tops = [lst[0] for lst in (pool_limits(res), district_limits(res),
                               *recorder_limits(res).values()) if lst]
    cpu = res.metrics.get("live_cpu_pct_machine")
    if cpu is not None and res.run.host_cpus:
        cores = float(res.run.host_cpus)
        tops.append(Limit("machine-cpu", "CPU of the", "machine (every process on it)",
                          cpu / 100, cores, "cores", cpu / cores))
    return sorted(tops, key=lambda x: -x.util_pct)


@dataclass(frozen=True, slots=True)
class Storage:
    needed_tb: float
    disk_tb: float
    headroom_pct: float | None
    model_tb: float | None

    @property
    def text(self) -> str:
        head = "" if self.headroom_pct is None else f", {self.headroom_pct:.1f} % headroom city-wide"
        model = "" if self.model_tb is None else f" (closed form: {fmt(self.model_tb, 'TB')})"
        return (f"{fmt(self.needed_tb, 'TB')} of footage at the peak{model} on "
                f"{fmt(self.disk_tb, 'TB')} of disk{head}")


def storage(res: Results) -> Storage | None:
    m = res.metrics
    if "storage_needed_tb" not in m or "disk_total_tb" not in m:
        return None
    return Storage(m["storage_needed_tb"], m["disk_total_tb"], m.get("storage_headroom_pct"),
                   m.get("storage_model_tb"))


@dataclass(frozen=True, slots=True)
class Drill:
    facts: tuple[tuple[str, str], ...]  # (what, value with unit), in reading order
    faults: tuple[str, ...]  # the faults injected, in words


_SIM_DRILL = (("footage lost", "camera_minutes_lost"), ("footage lost with failed disks",
              "camera_minutes_lost_disk"), ("time to recover (longest)", "recovery_s_max"),
              ("longest gap of a camera", "max_gap_s"), ("cameras affected", "cameras_affected"),
              ("most cameras unrecorded at once", "cameras_unrecorded_max"),
              ("cameras without a recorder after failover", "cameras_unassigned_after_failover"),
              ("faults not recovered by the end", "incidents_unrecovered"))
_LIVE_DRILL = (("camera time unrecorded, start to end", "live_unrecorded_s"),
               ("longest gap a fault caused", "live_fault_gap_max_s"),
               ("time to recover (longest)", "live_recovery_s_max"),
               ("time to detect a fault (longest)", "live_detect_s_max"),
               ("time to detect a lost recorder", "live_failover_detect_s_max"),
               ("time to restore the part (longest)", "live_restore_s_max"),
               ("faults not restored by the end", "live_faults_unrestored"),
               ("segments in progress lost", "live_partial_segments_lost"),
               ("segments a crashed recorder left, kept", "live_partials_recovered"),
               ("empty segment stubs a crashed recorder left, removed", "live_partials_removed"),
               ("camera-seconds recorded twice", "live_double_recorded_s"))


def _live_fault_words(e: dict[str, Any]) -> str:
    if e.get("kind") == "fault":  # one event per fault seen, scripted or not
        what = " ".join(str(x) for x in (e.get("fault_kind"), e.get("part")) if x)
        return what + ("" if e.get("scripted", True) else " (unscripted)")
    return (str(e["kind"])[len("drill_"):].replace("_", " ")  # runs before `faults:`
            + (f" {e['recorder']}" if e.get("recorder") else ""))


def drill(res: Results) -> Drill | None:
    """What the run's faults cost, or None when no fault was injected."""
    m = res.metrics
    if res.engine == "live":
        faults = [e for e in res.events if e.get("kind") == "fault"
                  or str(e.get("kind", "")).startswith("drill_")]
        if not faults:
            return None
        gaps = [e for e in res.events if e.get("kind") == "fault_gap"]
        lost = sum(float(e.get("gap_s") or 0) for e in gaps)
        facts = [("footage lost to the faults", f"{fmt(lost, 's')} of camera time in "
                                                f"{len(gaps)} gaps")]
        facts += [(w, fmt(m[k], METRICS[k].unit)) for w, k in _LIVE_DRILL if k in m]
        return Drill(tuple(facts), tuple(_live_fault_words(e) for e in faults[:8]))
    if not m.get("incidents"):
        return None
    facts = [(w, fmt(m[k], METRICS[k].unit)) for w, k in _SIM_DRILL if k in m]
    words = []
    for e in [e for e in res.events if e.get("kind") == "fault_start"][:8]:
        what = " ".join(str(x) for x in (e.get("fault"), e.get("target")) if x)
        label = f" ({e['label']})" if e.get("label") else ""
        words.append(f"{what}{label} at {when(float(e.get('t_s', 0)))}")
    return Drill(tuple(facts), tuple(words))


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
        verdict = (f"{name}: FAIL: {len(bad)} of {len(judged)} targets missed "
                   f"({', '.join(b.metric for b in bad)})")
    else:
        verdict = f"{name}: PASS: all {len(judged)} targets met"
    return Summary(verdict, not bad, len(judged), skipped, tuple(bad), tuple(limits(res)),
                   storage(res), drill(res))
