"""Did the harness keep its plan? The validity verdict of a live run, apart from its targets.

Theory of operation
-------------------
A live run is a load test of the production code paths: its figures are the deployment's only
if the load generator kept to the plan. Three parts of the twin are the harness, not the
system under test, and each is measured at its source:

- the synthetic cameras (camera-set actors' publishers, synthetic_streams.publish): per camera,
  bytes offered against bytes planned while a session was up, and how late packets went out
  against the clip's clock (p50, p99 from a histogram; the longest stall);
- the relay's own counters (MediaMTX's `paths_bytes_received`), at the end of the steady
  window before the first fault: what reached it of all the cameras had offered;
- the driver: how late its processes woke against SimPy's wall-clock schedule (heartbeats,
  samples, sweeps) and how late each scripted fault was carried out.

The machine's CPU (busy and steal, all cores) and load are sampled beside them: not a check
(another program may use a core and the run still keep its plan), but the first thing to
read when a check failed.

Each check has a stated bound (`BOUNDS`). The run is valid when every check passes; if not,
the verdict names the check that fell behind first (by the time its part first crossed its
bound), the cameras it concerns, and what to do. An invalid run's targets are shown but not
judged as the deployment's PASS or FAIL; `twin compare`, `twin check --live` and `twin
calibrate` refuse it (exit 4) unless told `--accept-invalid`.

This module is pure: it reads no clock and starts nothing; twin.live.run feeds it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import psutil

from synthetic_streams.publish import LATE_EDGES_S, late_quantile

__all__ = ["BOUNDS", "Bound", "MachineSample", "validity", "harness_metrics", "merge_hist"]


@dataclass(frozen=True, slots=True)
class Bound:
    part: str  # "publishers" | "relay" | "driver": what falls behind when it fails
    what: str
    op: str  # ">=" or "<="
    limit: float
    unit: str

    def ok(self, v: float) -> bool:
        return v >= self.limit - 1e-12 if self.op == ">=" else v <= self.limit + 1e-12

    @property
    def text(self) -> str:
        return f"{self.op} {self.limit:g}{'' if self.unit == 'ratio' else ' ' + self.unit}"


#: The checks and their bounds. Offered/planned leaves 2 % for a stall caught up late at
#: the end of a run; a p99 of 0.5 s is 7-8 frames at 15 fps, past which the analyser's
#: scoring and the recorders' segment cuts see another stream than the plan's; a stall of
#: 2 s is a keyframe interval or more; the driver's heartbeats decide failover, so a p99
#: lag of 0.5 s (a quarter of the trial's 2 s detection) is the most it may add.
BOUNDS: dict[str, Bound] = {
    "offered_ratio_min": Bound(
        "publishers", "bytes offered / planned, the worst camera", ">=", 0.98, "ratio"
    ),
    "publish_late_p99_s": Bound(
        "publishers", "packet lateness p99, the worst camera", "<=", 0.5, "s"
    ),
    "publish_stall_max_s": Bound(
        "publishers", "longest a packet waited past its time", "<=", 2.0, "s"
    ),
    "relay_received_ratio_min": Bound(
        "relay",
        "bytes the relay received / offered, at the end of the steady window, the worst camera",
        ">=",
        0.98,
        "ratio",
    ),
    "driver_lag_p99_s": Bound(
        "driver", "driver wake-up lag p99 (heartbeats, samples, sweeps)", "<=", 0.5, "s"
    ),
    "fault_late_max_s": Bound(
        "driver", "a scripted fault carried out after its time", "<=", 0.5, "s"
    ),
}

_ADVICE = {
    "publishers": "the synthetic cameras could not keep to their clips' clock on this "
    "machine: run fewer cameras per node (fewer sets, or the same sets over more "
    "nodes with RAY_ADDRESS), or stop what else is using its cores",
    "relay": "the relay (MediaMTX) did not take in what the cameras offered: put fewer "
    "cameras on each node's relay (more nodes), or give its node more cores",
    "driver": "the driver ran behind its own schedule (heartbeats, faults): give the driver's "
    "machine a free core (fewer cameras on the driver's node), or stop what else "
    "is using it",
}


@dataclass(frozen=True, slots=True)
class MachineSample:
    t_s: float  # run clock
    busy_pct: float  # all cores, 0-100 (user + nice + system + irq + softirq + steal)
    steal_pct: float
    load1: float


def merge_hist(hists: Iterable[Iterable[int]]) -> list[int]:
    out = [0] * (len(LATE_EDGES_S) + 1)
    for h in hists:
        for k, n in enumerate(h):
            out[k] += n
    return out


def _q(xs: list[float], q: float) -> float:
    if not xs:
        return 0.0
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def harness_metrics(
    publishers: Mapping[str, Any],
    lag: Mapping[str, list[float]],
    faults_late: list[float],
    relay_ratio: Mapping[str, float],
    machine: list[MachineSample],
) -> dict[str, float]:
    """The harness's own figures as results metrics (`live_harness_*`, `live_machine_*`)."""
    m: dict[str, float] = {}
    ratios = [
        r for r in (getattr(s, "offered_ratio", None) for s in publishers.values()) if r is not None
    ]
    if publishers:
        m["live_harness_offered_ratio_min"] = min(ratios) if ratios else 0.0
        planned = sum(s.planned_bytes for s in publishers.values())
        if planned:
            m["live_harness_offered_fraction"] = (
                sum(s.bytes_sent for s in publishers.values()) / planned
            )
        hist = merge_hist(s.late_hist for s in publishers.values())
        m["live_harness_publish_late_p50_s"] = late_quantile(hist, 0.5)
        m["live_harness_publish_late_p99_s"] = late_quantile(hist, 0.99)
        m["live_harness_publish_late_p99_s_max"] = max(
            (late_quantile(s.late_hist, 0.99) for s in publishers.values()), default=0.0
        )
        m["live_harness_publish_stall_s_max"] = max(
            (s.late_max_s for s in publishers.values()), default=0.0
        )
        m["live_harness_publish_write_s_max"] = max(
            (s.write_max_s for s in publishers.values()), default=0.0
        )
    every = [x for xs in lag.values() for x in xs]
    if every:
        m["live_harness_driver_lag_p99_s"] = _q(every, 0.99)
        m["live_harness_driver_lag_s_max"] = max(every)
    if faults_late:
        m["live_harness_fault_late_s_max"] = max(faults_late)
    if relay_ratio:
        m["live_harness_relay_received_ratio_min"] = min(relay_ratio.values())
    if machine:
        m["live_machine_cpu_busy_pct_max"] = max(x.busy_pct for x in machine)
        m["live_machine_cpu_busy_pct_mean"] = sum(x.busy_pct for x in machine) / len(machine)
        m["live_machine_cpu_steal_pct_max"] = max(x.steal_pct for x in machine)
        m["live_machine_load1_max"] = max(x.load1 for x in machine)
    return {k: round(float(v), 6) for k, v in m.items()}


def validity(
    publishers: Mapping[str, Any],
    lag: Mapping[str, list[float]],
    lag_times: Mapping[str, list[float]],
    faults_late: list[float],
    relay_ratio: Mapping[str, float],
    machine: list[MachineSample],
    publisher_behind_s: Mapping[str, float],
    relay_checked_s: float | None,
    cpus: int,
    analyser_late: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The verdict (module docstring), as results.json's `validity` section.

    `publishers`: camera -> PublisherStats (the final counters); `lag`/`lag_times`: per kind
    of driver process, each wake-up's lateness and when (run clock); `publisher_behind_s`:
    camera -> when its publisher was first seen past the lateness bound (run clock);
    `relay_ratio`: camera -> relay bytes received / offered over the steady window, checked
    at `relay_checked_s`; `analyser_late`: camera -> frames the analyser dropped late.
    """
    checks: list[dict[str, Any]] = []
    first_at: dict[str, float] = {}
    late_cams: set[str] = set()  # cameras a failed publisher check names

    def check(name: str, value: float, worst: list[str], at: float | None) -> None:
        b = BOUNDS[name]
        ok = b.ok(value)
        if not ok and b.part == "publishers":
            late_cams.update(worst)
        checks.append(
            {
                "check": name,
                "part": b.part,
                "what": b.what,
                "value": round(value, 6),
                "bound": b.text,
                "passed": ok,
                **({} if ok else {"concerns": worst[:20], "concerns_count": len(worst)}),
            }
        )
        if not ok and at is not None and math.isfinite(at):
            first_at[b.part] = min(first_at.get(b.part, math.inf), at)

    if publishers:
        b = BOUNDS["offered_ratio_min"]
        ratio = {
            c: (s.offered_ratio if s.offered_ratio is not None else 0.0)
            for c, s in publishers.items()
        }
        low = sorted((c for c, r in ratio.items() if not b.ok(r)), key=lambda c: ratio[c])
        check(
            "offered_ratio_min",
            min(ratio.values()),
            low,
            min((publisher_behind_s.get(c, math.inf) for c in low), default=None),
        )
        p99 = {c: late_quantile(s.late_hist, 0.99) for c, s in publishers.items()}
        b = BOUNDS["publish_late_p99_s"]
        late = sorted((c for c, v in p99.items() if not b.ok(v)), key=lambda c: -p99[c])
        check(
            "publish_late_p99_s",
            max(p99.values()),
            late,
            min((publisher_behind_s.get(c, math.inf) for c in late), default=None),
        )
        stall = {c: s.late_max_s for c, s in publishers.items()}
        b = BOUNDS["publish_stall_max_s"]
        stalled = sorted((c for c, v in stall.items() if not b.ok(v)), key=lambda c: -stall[c])
        check(
            "publish_stall_max_s",
            max(stall.values()),
            stalled,
            min((publisher_behind_s.get(c, math.inf) for c in stalled), default=None),
        )
    if relay_ratio:
        b = BOUNDS["relay_received_ratio_min"]
        short = sorted(
            (c for c, r in relay_ratio.items() if not b.ok(r)), key=lambda c: relay_ratio[c]
        )
        check("relay_received_ratio_min", min(relay_ratio.values()), short, relay_checked_s)
    every = [(x, t) for k in lag for x, t in zip(lag[k], lag_times.get(k, []))]
    if every:
        b = BOUNDS["driver_lag_p99_s"]
        p = _q([x for x, _ in every], 0.99)
        over = [t for x, t in every if not b.ok(x)]
        check("driver_lag_p99_s", p, [], min(over) if over else None)
    if faults_late:
        check("fault_late_max_s", max(faults_late), [], None)
    failed = [c for c in checks if not c["passed"]]
    by_kind = {
        k: {"wakeups": len(xs), "p99_s": round(_q(xs, 0.99), 3), "max_s": round(max(xs), 3)}
        for k, xs in sorted(lag.items())
        if xs
    }
    parts = sorted(
        {c["part"] for c in failed},
        key=lambda p: (first_at.get(p, math.inf), ["publishers", "relay", "driver"].index(p)),
    )
    first = parts[0] if parts else None
    busy = max((x.busy_pct for x in machine), default=0.0)
    out: dict[str, Any] = {
        "valid": not failed,
        "checks": checks,
        "first_behind": first,
        "first_behind_s": (
            None if first is None or first not in first_at else round(first_at[first], 3)
        ),
        "behind": parts,
        "driver_lag": by_kind,
        "machine": {
            "cpus": cpus,
            "cpu_busy_pct_max": round(busy, 1),
            "cpu_busy_pct_mean": round(sum(x.busy_pct for x in machine) / len(machine), 1)
            if machine
            else None,
            "cpu_steal_pct_max": round(max((x.steal_pct for x in machine), default=0.0), 1),
            "load1_max": round(max((x.load1 for x in machine), default=0.0), 2),
            "saturated": busy >= 90.0,
        },
    }
    if first is not None:
        advice = _ADVICE[first]
        if busy >= 90.0:
            advice += (
                f"; the machine's {cpus} cores were {busy:.0f} % busy at the worst "
                f"(load {out['machine']['load1_max']:g}): it was the limit"
            )
        out["advice"] = advice
    if analyser_late:
        out["analyser_frames_dropped_late"] = {
            "harness": sum(n for c, n in analyser_late.items() if c in late_cams),
            "deployment": sum(n for c, n in analyser_late.items() if c not in late_cams),
            "rule": "a camera whose publisher broke a publisher check: its late frames are "
            "the harness's; any other camera's are the analyser's own (the deployment)",
        }
    return out


class HarnessWatch:
    """What the driver's sampler notes of the harness as the run goes (twin.live.run calls
    `sample` at every driver sample): the machine's CPU since the last sample and its load,
    and when each camera's publisher was first seen past a publisher bound."""

    def __init__(self, cpus: int, min_planned_s: float = 10.0) -> None:
        self.cpus = cpus
        self.machine: list[MachineSample] = []
        self.publisher_behind_s: dict[str, float] = {}
        self._min_planned_s = min_planned_s
        self._last = psutil.cpu_times()

    def sample(self, t_s: float, publishers: Mapping[str, Any], bitrate_bps: float) -> None:
        """`publishers`: camera -> PublisherStats (the latest counters, maybe a sample old)."""
        now = psutil.cpu_times()
        d = {k: getattr(now, k) - getattr(self._last, k) for k in now._fields}
        self._last = now
        total = sum(d.values())
        if total > 0:
            idle = d.get("idle", 0.0) + d.get("iowait", 0.0)
            self.machine.append(
                MachineSample(
                    round(t_s, 3),
                    100 * (total - idle) / total,
                    100 * d.get("steal", 0.0) / total,
                    os.getloadavg()[0],
                )
            )
        late_b = BOUNDS["publish_late_p99_s"]
        stall_b = BOUNDS["publish_stall_max_s"]
        ratio_b = BOUNDS["offered_ratio_min"]
        enough = bitrate_bps / 8 * self._min_planned_s
        for cam, st in publishers.items():
            if cam in self.publisher_behind_s:
                continue
            ratio = st.offered_ratio
            if (
                not late_b.ok(late_quantile(st.late_hist, 0.99))
                or not stall_b.ok(st.late_max_s)
                or (ratio is not None and st.planned_bytes >= enough and not ratio_b.ok(ratio))
            ):
                self.publisher_behind_s[cam] = round(t_s, 3)

    def latest(self) -> MachineSample | None:
        return self.machine[-1] if self.machine else None


__all__ += ["HarnessWatch"]
