"""The live analyser pool: which cameras each analyser actor takes, and what the simulation
of the same deployment predicts for it.

Theory of operation. Each analyser actor measures what a frame costs it when it starts
(twin.live.frame_cost: CPU ms of one core to decode a keyframe and analyse it). An actor may
use `live.analyser.cpu_per_actor` cores, and takes cameras while their frames (one keyframe
every `analysed_interval_s`) fit in `max_util_pct` of them: the core's `admit`, with demand
in frames per second and each actor's limit in frames per second (its cores x the share /
its own cost per frame), so an actor that measured a dearer frame takes fewer cameras.
Cameras no actor can take are not analysed, and reported as such, so that the analysed ones
keep up (an analyser behind drops frames and loses incidents).

Without `cpu_per_actor` there is no admission: cameras are dealt round-robin to the actors.

`predicted` runs twin.model.city_analysis (what the simulator runs) on the live scenario's own city
with the same cost per frame (the mean the actors measured), the same actors and the same admission
limit: the number of cameras it admits and the alert latency it expects, for results.json beside
what the run measured. An actor is a process that runs each frame at a core's full speed when it
gets the CPU, so it is simulated as whole cores admitting up to its share, not as a core
slowed down to its share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from twin.core.analysis_queue import admit
from twin.model.city import generate_city
from twin.model.city_analysis import simulate_analytics
from twin.scenario.analytics import AnalyticsSettings

if TYPE_CHECKING:
    from twin.live.run_settings import LiveRun
    from twin.scenario import Scenario

__all__ = [
    "ANALYSER_PREFIX",
    "analyser_parts",
    "analysed_interval_s",
    "PoolPlan",
    "plan_pool",
    "predicted",
]

ANALYSER_PREFIX = "analyser"


def analyser_parts(actors: int) -> list[str]:
    """Part names of the pool: `analyser` (so a one-actor run is named as before), then
    `analyser:2`, `analyser:3`, ..."""
    return [ANALYSER_PREFIX] + [f"{ANALYSER_PREFIX}:{k}" for k in range(2, actors + 1)]


def analysed_interval_s(settings: LiveRun) -> float:
    """Seconds between a camera's analysed frames: the first keyframe at least
    `min_interval_s` after the last one analysed."""
    k = settings.profile.keyframe_s
    return k * max(1, math.ceil(settings.analyser.min_interval_s / k - 1e-9))


@dataclass(frozen=True, slots=True)
class PoolPlan:
    """Cameras per analyser part; those none could take; each part's cost and limit."""

    cameras_of: dict[str, list[str]]
    not_analysed: list[str]
    cost_ms: dict[str, float] = field(default_factory=dict)
    limit_fps: dict[str, float] = field(default_factory=dict)  # frames/s each part may take


def plan_pool(
    cameras: list[str],
    parts: list[str],
    cost_ms: dict[str, float],
    interval_s: float,
    cpu_per_actor: float | None,
    max_util_pct: float,
) -> PoolPlan:
    """Admit `cameras` (in order) to the analyser `parts` (module docstring)."""
    if cpu_per_actor is None:
        rr = {
            p: [c for i, c in enumerate(cameras) if i % len(parts) == k]
            for k, p in enumerate(parts)
        }
        return PoolPlan(rr, [], dict(cost_ms), {})
    fps = 1.0 / interval_s
    limit = np.array([cpu_per_actor * max_util_pct / 100.0 / (cost_ms[p] / 1000.0) for p in parts])
    placed, _ = admit(
        np.full(len(cameras), fps),
        np.zeros(len(cameras), dtype=np.int64),
        np.zeros(len(parts), dtype=np.int64),
        limit,
    )
    cams_of = {
        p: [c for c, a in zip(cameras, placed.tolist()) if a == k] for k, p in enumerate(parts)
    }
    rest = [c for c, a in zip(cameras, placed.tolist()) if a < 0]
    return PoolPlan(cams_of, rest, dict(cost_ms), {p: float(x) for p, x in zip(parts, limit)})


def predicted(
    sc: Scenario, settings: LiveRun, cost_ms: float, duration_s: float, incidents_per_loop: int
) -> dict[str, float]:
    """The simulation of this live deployment (module docstring): cameras analysed and not,
    and the alert latency p50 / p95 it predicts."""
    an = settings.analyser
    assert an.cpu_per_actor is not None
    interval = analysed_interval_s(settings)
    per_day = incidents_per_loop * 86_400.0 / settings.profile.clip_s
    units = max(1.0, float(math.ceil(an.cpu_per_actor)))
    a = AnalyticsSettings.model_validate(
        {
            "workloads": [
                {
                    "kind": "people_vehicles",
                    "fps": 1.0 / interval,
                    "cpu_ms": cost_ms,
                    "source": "measured",
                }
            ],
            # An actor runs a frame at a core's full speed whenever it gets the CPU; its share
            # of the cores is what bounds admission. So: whole cores, admitting up to the share.
            "pool": {
                "type": "central",
                "device": "cpu",
                "analysers": an.actors,
                "units": units,
                "max_util_pct": an.max_util_pct * an.cpu_per_actor / units,
            },
            "max_lag_s": 2.0,
            "incidents": {
                "per_camera_day": per_day,
                "workload": "people_vehicles",
                "confirm_frames": 2,
            },
        }
    )
    o = simulate_analytics(a, generate_city(sc), duration_s, sc.seed)
    m = o.metrics
    out = {
        "live_predicted_cameras_analysed": m["analytics_cameras_analysed"],
        "live_predicted_cameras_not_analysed": m["analytics_cameras_not_analysed"],
    }
    if "analytics_alert_latency_s_p50" in m:
        out["live_predicted_alert_latency_s_p50"] = m["analytics_alert_latency_s_p50"]
        out["live_predicted_alert_latency_s_p95"] = m["analytics_alert_latency_s_p95"]
    return out
