"""Fidelity on equal terms: a live run and the simulation of the same deployment, per metric.

Theory of operation
-------------------
Both engines write results.json; for a live scenario both also measure the footage the same
way (bytes and camera-seconds written, per recorder and in all: the live run from its
catalog, the simulation with its footage ledger, twin.sim.simulated_scenario). From the two Results
this module computes each fidelity metric of twin.scenario.fidelity for both engines:

- `stored_bytes_per_camera_hour`: bytes written / camera-hours recorded;
- `ingest_mbps_per_camera`: bytes written over cameras x the run; per recorder
  (`ingest_mbps_per_recorder[<recorder>]`) the recorder's bytes over the run. A live run's
  ingest is compared with what its cameras offered, not with the plan: its bytes are divided
  by the fraction of the planned bytes the publishers really sent
  (`live_harness_offered_fraction`, twin.live.harness), so a load generator that fell a little
  behind is not read as a recorder that lost footage;
- `cameras_placed[<recorder>]`: the cameras each recorder was given at the start;
- `segments_written` (live: the segments begun before the run's end; its recorders go on a
  moment while it stops, and what they begin then is not the run's), `segments_deleted`,
  `retention_max_age_s`, `camera_s_unrecorded` (live: without each camera's start-up, the
  seconds before its first keyframe, since the simulated cameras record from the start);
- per kind of scripted fault: `failover_detect_s.<kind>` (the fault to the heartbeats
  declaring the recorder lost), `recovery_s.<kind>` (the fault to its cameras recording
  again: the last of them, when they reconnect one after another; a relay's includes its
  recovery), `footage_lost_s_per_camera.<kind>` (camera-seconds it cost per camera it hit).

Each row has both values, the difference (simulate - live) and the relative difference (of
the live value: the live run is what happened). A scenario's `fidelity:` targets bound the
difference (`max_pct`, `max_abs`); a target on a per-recorder family holds for every recorder.
A metric one engine does not measure is shown with "-", never filled in.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.errors import ScenarioError
from twin.model.results import Results, scenario_info
from twin.scenario import load_scenario
from twin.scenario.fidelity import FIDELITY_METRICS, FidelityTarget, fidelity_family

__all__ = [
    "FidelityRow",
    "FidelityTable",
    "fidelity_table",
    "engine_values",
    "write_fidelity_csv",
    "fidelity_markdown",
]


@dataclass(frozen=True, slots=True)
class FidelityRow:
    metric: str
    unit: str
    live: float | None
    simulate: float | None
    target: FidelityTarget | None = None

    @property
    def diff(self) -> float | None:
        if self.live is None or self.simulate is None:
            return None
        return self.simulate - self.live

    @property
    def rel_pct(self) -> float | None:
        d = self.diff
        if d is None or self.live is None or self.live == 0:
            return None
        return 100.0 * d / abs(self.live)

    @property
    def passed(self) -> bool | None:
        """None without a target; False when a side is not measured or a bound is missed."""
        t = self.target
        if t is None:
            return None
        d = self.diff
        if d is None:
            return False
        ok = True
        if t.max_abs is not None:
            ok &= abs(d) <= t.max_abs + 1e-9
        if t.max_pct is not None:
            rel = self.rel_pct
            ok &= (abs(d) <= 1e-12) if rel is None else abs(rel) <= t.max_pct + 1e-9
        return bool(ok)

    @property
    def bound(self) -> str:
        t = self.target
        if t is None:
            return ""
        parts = ([f"within {t.max_pct:g} %"] if t.max_pct is not None else []) + (
            [f"within {t.max_abs:g} {self.unit}"] if t.max_abs is not None else []
        )
        return " and ".join(parts)


@dataclass(frozen=True, slots=True)
class FidelityTable:
    live: Results
    simulate: Results
    rows: tuple[FidelityRow, ...]

    @property
    def judged(self) -> list[FidelityRow]:
        return [r for r in self.rows if r.target is not None]

    @property
    def failed(self) -> list[FidelityRow]:
        return [r for r in self.judged if not r.passed]

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def detect_shift_s(self) -> float:
        """How much later than planned the live run detected its crashes, when the simulation
        compared was run with that detection (0: the plan's)."""
        ev = next((e for e in self.simulate.events if e.get("kind") == "as_live_run"), None)
        return float(ev["detect_shift_s"]) if ev else 0.0

    def timing_note(self) -> str:
        """What the timing-dependent rows were compared against, in a sentence."""
        s = self.detect_shift_s
        if not s:
            return ""
        return (
            f"The live run detected its recorder crash {s:+.2f} s against the heartbeat "
            f"plan; the simulation compared here moved the cameras when the live run did "
            f"(its reassignment {s:+.2f} s), so ingest, footage lost and recovery are "
            f"compared on equal terms, and failover_detect_s states both detections."
        )

    @property
    def same_scenario(self) -> bool:
        return self.live.scenario.sha256 == self.simulate.scenario.sha256

    def failure_lines(self) -> list[str]:
        out = []
        for r in self.failed:
            if r.diff is None:
                side = "live" if r.live is None else "simulate"
                out.append(
                    f"fidelity {r.metric}: not measured by {side}; expected "
                    f"{r.bound} of the live run"
                )
            else:
                rel = "" if r.rel_pct is None else f" ({r.rel_pct:+.2f} %)"
                out.append(
                    f"fidelity {r.metric}: simulate {_g(r.simulate)} vs live "
                    f"{_g(r.live)} {r.unit}: off by {_g(r.diff)}{rel}; expected {r.bound}"
                )
        return out


def _g(v: float | None) -> str:
    return "-" if v is None else f"{v:.6g}"


def _faults(res: Results) -> dict[str, dict[str, list[float]]]:
    """Per fault kind: detection, recovery and per-camera loss of each scripted fault."""
    out: dict[str, dict[str, list[float]]] = {}

    def add(kind: str, key: str, v: float | None) -> None:
        if v is not None and math.isfinite(v):
            out.setdefault(kind, {}).setdefault(key, []).append(float(v))

    ev = res.events
    if res.engine == "live":
        for e in ev:
            if e.get("kind") != "fault" or not e.get("scripted"):
                continue
            kind = e.get("fault_kind", "")
            add(kind, "failover_detect_s", e.get("detect_s") if kind == "recorder_crash" else None)
            if e.get("recorded_again_s") is not None and e.get("happened_s") is not None:
                add(kind, "recovery_s", e["recorded_again_s"] - e["happened_s"])
            if e.get("cameras_hit"):
                add(kind, "footage_lost_s_per_camera", e["camera_s_lost"] / e["cameras_hit"])
        return out
    for k, e in enumerate(ev):
        if e.get("kind") != "fault_start":
            continue
        kind, start, target, inc = e.get("fault", ""), e["t_s"], e.get("target"), e.get("incident")
        later = ev[k + 1 :]
        if kind == "recorder_crash":
            down = next(
                (
                    x["t_s"]
                    for x in later
                    if x.get("kind") == "recorder_health"
                    and x.get("recorder") == target
                    and x.get("to") == "down"
                ),
                None,
            )
            add(kind, "failover_detect_s", None if down is None else down - start)
            # Until the last moved camera records again (the reconnection storm; without
            # one, `last_camera_s` is absent: they all move at the failover's time).
            moved = next(
                (
                    x.get("last_camera_s", x["t_s"])
                    for x in later
                    if x.get("kind") == "failover" and x.get("recorder") == target
                ),
                None,
            )
            add(kind, "recovery_s", None if moved is None else moved - start)
        else:
            back = next(
                (
                    x.get("last_camera_s", x["t_s"])
                    for x in later
                    if x.get("kind") == "cameras_reconnected" and x.get("incident") == inc
                ),
                None,
            )
            add(kind, "recovery_s", None if back is None else back - start)
        cost = next(
            (x for x in later if x.get("kind") == "fault_cost" and x.get("incident") == inc), None
        )
        if cost is not None and cost["cameras_hit"]:
            add(kind, "footage_lost_s_per_camera", cost["camera_s_lost"] / cost["cameras_hit"])
    return out


def engine_values(res: Results) -> dict[str, float]:
    """Every fidelity metric one run measures (see the module docstring)."""
    m = res.metrics
    out: dict[str, float] = {}
    b, s = m.get("footage_bytes_written"), m.get("footage_camera_s_recorded")
    h = res.horizon_s
    cams = m.get("cameras")
    # Live: ingest as if the cameras had offered the plan (what they sent is what reached it).
    offered = m.get("live_harness_offered_fraction") or 1.0
    if b is not None and s:
        out["stored_bytes_per_camera_hour"] = b / s * 3600.0
    if b is not None and cams and h > 0:
        out["ingest_mbps_per_camera"] = b * 8 / 1e6 / (cams * h) / offered
    for r in res.per_recorder:
        if "bytes" in r and h > 0:
            out[f"ingest_mbps_per_recorder[{r['recorder']}]"] = r["bytes"] * 8 / 1e6 / h / offered
        if "cameras_initial" in r:
            out[f"cameras_placed[{r['recorder']}]"] = float(r["cameras_initial"])
    for name in ("segments_written", "segments_deleted"):
        if name in m:
            out[name] = m[name]
    if "segments_written" in out:  # live: the segments begun within the run's horizon
        out["segments_written"] -= m.get("live_segments_after_end", 0.0)
    if res.engine == "live":
        if "live_retention_max_age_s" in m:
            out["retention_max_age_s"] = m["live_retention_max_age_s"]
        if "live_unrecorded_s" in m:  # the simulated cameras record from the first second
            out["camera_s_unrecorded"] = m["live_unrecorded_s"] - m.get(
                "live_startup_unrecorded_s", 0.0
            )
    else:
        if "retention_max_age_days" in m:
            out["retention_max_age_s"] = m["retention_max_age_days"] * 86_400
        out["camera_s_unrecorded"] = m.get("camera_minutes_unrecorded", 0.0) * 60
    for kind, vals in _faults(res).items():
        for fam, xs in vals.items():
            out[f"{fam}.{kind}"] = (
                max(xs) if fam != "footage_lost_s_per_camera" else sum(xs) / len(xs)
            )
    return out


def _order(name: str) -> tuple[int, str]:
    fam = fidelity_family(name)
    keys = list(FIDELITY_METRICS)
    return (keys.index(fam) if fam in keys else len(keys), name)


def _target(name: str, targets: dict[str, FidelityTarget]) -> FidelityTarget | None:
    if name in targets:
        return targets[name]
    fam = fidelity_family(name)
    if "[" in name and fam in targets:
        return targets[fam]
    return None


def fidelity_table(
    live: Results, simulate: Results, targets: dict[str, FidelityTarget] | None = None
) -> FidelityTable:
    """Both engines' value of every fidelity metric either measures, with the targets."""
    tg = dict(targets or {})
    a, b = engine_values(live), engine_values(simulate)
    names = set(a) | set(b)
    for t in tg:  # a target on a metric neither measured is a row too (it fails)
        if "[" not in t and FIDELITY_METRICS[fidelity_family(t)].per_recorder is False:
            names.add(t)
    rows = []
    for n in sorted(names, key=_order):
        fam = fidelity_family(n)
        info = FIDELITY_METRICS.get(fam)
        rows.append(FidelityRow(n, info.unit if info else "", a.get(n), b.get(n), _target(n, tg)))
    return FidelityTable(live, simulate, tuple(rows))


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if v == int(v) and abs(v) < 1e15:
        return f"{v:,.0f}"
    return f"{v:,.4g}" if abs(v) >= 1000 else f"{v:.4g}"


def fidelity_markdown(t: FidelityTable) -> list[str]:
    lines = [t.timing_note(), ""] if t.timing_note() else []
    lines += [
        "| metric | unit | live | simulate | simulate - live | relative | target | verdict |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in t.rows:
        rel = "-" if r.rel_pct is None else f"{r.rel_pct:+.2f} %"
        verdict = "" if r.passed is None else ("PASS" if r.passed else "**FAIL**")
        lines.append(
            f"| `{r.metric}` | {r.unit} | {_fmt(r.live)} | {_fmt(r.simulate)} | "
            f"{_fmt(r.diff)} | {rel} | {r.bound} | {verdict} |"
        )
    return lines


def fidelity_rows_for_html(t: FidelityTable) -> list[dict[str, Any]]:
    return [
        {
            "metric": r.metric,
            "unit": r.unit,
            "live": _fmt(r.live),
            "sim": _fmt(r.simulate),
            "diff": _fmt(r.diff),
            "rel": "-" if r.rel_pct is None else f"{r.rel_pct:+.2f} %",
            "bound": r.bound,
            "passed": r.passed,
        }
        for r in t.rows
    ]


def write_fidelity_csv(t: FidelityTable, path: Path) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(
            [
                "metric",
                "unit",
                "live",
                "simulate",
                "simulate_minus_live",
                "relative_pct",
                "target",
                "passed",
            ]
        )
        for r in t.rows:
            w.writerow(
                [
                    r.metric,
                    r.unit,
                    "" if r.live is None else f"{r.live:.9g}",
                    "" if r.simulate is None else f"{r.simulate:.9g}",
                    "" if r.diff is None else f"{r.diff:.9g}",
                    "" if r.rel_pct is None else f"{r.rel_pct:.4g}",
                    r.bound,
                    "" if r.passed is None else int(r.passed),
                ]
            )
    return path


def scenario_fidelity_targets(res: Results) -> tuple[dict[str, FidelityTarget] | None, str]:
    """The `fidelity:` targets of the scenario a run names, if its file is where the run says
    and unchanged (same SHA-256); else None and why."""
    src = Path(res.scenario.source.partition("#")[0])
    if not src.is_file():
        return None, f"the scenario file {src} is not here, so its fidelity: targets are not judged"
    try:
        sc = load_scenario(src, check_memory=False)
    except ScenarioError as err:
        return None, f"{src} does not load ({str(err).splitlines()[0]})"
    if scenario_info(sc, str(src)).sha256 != res.scenario.sha256:
        return None, (
            f"{src} changed since the runs (SHA-256 differs), so its fidelity: targets "
            "are not judged"
        )
    return (sc.fidelity or {}), ""


__all__ += ["fidelity_rows_for_html", "scenario_fidelity_targets"]
