"""The `analytics:` section of a scenario: analyser pools, workloads, incidents and bursts.

Kept apart from twin/scenario/model.py (which only adds one optional field of this type), and it
must not import twin.scenario. Every figure is scenario data: each workload's cost per frame
says where it comes from (`source`: measured by the live analyser, or assumed), and the shipped
files mark the assumed ones. The queueing and admission rules live in
twin/core/analysis_queue.py; the simulation of them in twin/sim/analytics.py.

Where analysis runs is chosen by `pool.type`:

- `edge`: in the camera itself, one small device each (`units` per camera);
- `district`: `analysers` machines per district, each of `units`;
- `central`: `analysers` machines for the whole city, each of `units`.

`device` says what a unit is (`cpu`: a core; `gpu`: a GPU), and so which cost per frame of a
workload applies.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from twin.scenario.numbers import ScenarioModel

__all__ = [
    "WORKLOAD_KINDS",
    "Workload",
    "EdgePool",
    "DistrictPool",
    "CentralPool",
    "Incidents",
    "Bursts",
    "AnalyticsSettings",
]

#: The workloads the programme names (motion, people and vehicles, number plates, crowd
#: counting); each has its own compute metric (twin/metrics.py).
WORKLOAD_KINDS: tuple[str, ...] = ("motion", "people_vehicles", "plates", "crowd")
MAX_UNITS = 100_000  # cores or GPUs in one pool machine or in all: past any data centre


_Model = ScenarioModel


class Workload(_Model):
    """One analysis every camera runs: frames per second analysed, cost of a frame."""

    kind: Literal["motion", "people_vehicles", "plates", "crowd"]
    fps: float = Field(
        gt=0,
        le=60,
        description="Frames analysed per second per camera "
        "(at most 60: a camera's own frame rate).",
    )
    cpu_ms: float = Field(
        gt=0,
        le=10_000,
        description="Milliseconds of one core per frame "
        "(at most 10 s: past any model on one frame).",
    )
    gpu_ms: float | None = Field(
        default=None,
        gt=0,
        le=10_000,
        description="Milliseconds of one GPU per frame (None: the "
        "workload does not run on a GPU; at most 10 s).",
    )
    service_scv: float = Field(
        default=0.0,
        ge=0,
        le=100,
        description="Squared coefficient of variation of a frame's cost "
        "(0: every frame costs the same; 1: exponential; at most 100).",
    )
    source: Literal["measured", "assumed"] = Field(
        description="Where the cost comes from: measured (the live analyser, bench/) or assumed."
    )

    def cost_s(self, device: str) -> float:
        ms = self.cpu_ms if device == "cpu" else self.gpu_ms
        assert ms is not None
        return ms / 1000.0


class _Pool(_Model):
    device: Literal["cpu", "gpu"] = Field(
        default="cpu", description="What a unit is: a core (cpu) or a GPU (gpu)."
    )
    units: float = Field(
        gt=0, le=MAX_UNITS, description="Cores or GPUs of one analyser (at most 100,000)."
    )
    max_util_pct: float = Field(
        default=80.0,
        gt=0,
        lt=100,
        description="Cameras are admitted while an analyser's load stays "
        "at or under this share of its units (below 100: a queue at "
        "100 % grows without bound).",
    )


class EdgePool(_Pool):
    """Analysis in the camera: one device of `units` per camera."""

    type: Literal["edge"] = "edge"


class DistrictPool(_Pool):
    """`analysers` machines in each district, serving that district's cameras."""

    type: Literal["district"] = "district"
    analysers: int = Field(
        ge=1, le=MAX_UNITS, description="Analyser machines per district (at most 100,000)."
    )


class CentralPool(_Pool):
    """`analysers` machines serving the whole city."""

    type: Literal["central"] = "central"
    analysers: int = Field(ge=1, le=MAX_UNITS, description="Analyser machines (at most 100,000).")


AnalyserPool = Annotated[Union[EdgePool, DistrictPool, CentralPool], Field(discriminator="type")]


class Incidents(_Model):
    """Incidents the analysis must alert on (a collision, a fight, a crowd forming)."""

    per_camera_day: float = Field(
        default=0.2,
        ge=0,
        le=100_000,
        description="Incidents per camera per day outside bursts "
        "(Poisson; at most 100,000: a live clip with a collision in "
        "each 10 s loop has 8,640).",
    )
    workload: Literal["motion", "people_vehicles", "plates", "crowd"] = Field(
        default="people_vehicles", description="The workload whose frames reveal an incident."
    )
    confirm_frames: int = Field(
        default=2,
        ge=1,
        le=100,
        description="Frames showing the incident before it is alerted "
        "(the live analyser needs a stopped vehicle seen twice: 2).",
    )


class Bursts(_Model):
    """Crowd events: a district's cameras at once, more work and more incidents for a while."""

    per_district_day: float = Field(
        default=0.0,
        ge=0,
        le=100,
        description="Crowd events per district per day (Poisson; at most 100).",
    )
    at_s: list[Annotated[float, Field(ge=0, le=3650 * 86_400.0)]] = Field(
        default_factory=list,
        description="Crowd events at set times, seconds from the start "
        "(each in `district`, or in every district if none is named).",
    )
    district: str | None = Field(
        default=None, description="The district of the events at `at_s` (None: every district)."
    )
    duration_s: float = Field(
        default=1800.0,
        gt=0,
        le=7 * 86_400.0,
        description="How long a crowd event lasts, seconds (at most a week).",
    )
    load_factor: float = Field(
        default=2.0,
        ge=1,
        le=100,
        description="Each camera of the district asks this many times "
        "its usual analysis work during the event (at most 100).",
    )
    incidents_per_camera: float = Field(
        default=0.5,
        ge=0,
        le=1000,
        description="Incidents per camera of the district during "
        "one event (Poisson; at most 1,000).",
    )


class AnalyticsSettings(_Model):
    """Analytics on every camera: workloads, where they run, incidents and their alerts."""

    workloads: list[Workload] = Field(min_length=1)
    pool: AnalyserPool
    max_lag_s: float = Field(
        default=2.0,
        gt=0,
        le=3600,
        description="Frames that would be analysed more than this late are "
        "shed (counted as dropped), seconds (at most an hour).",
    )
    incidents: Incidents = Field(default_factory=Incidents)
    bursts: Bursts = Field(default_factory=Bursts)

    @model_validator(mode="after")
    def _checks(self) -> AnalyticsSettings:
        kinds = [w.kind for w in self.workloads]
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"analytics.workloads: each kind at most once; got {kinds}")
        if self.incidents.workload not in kinds:
            raise ValueError(
                f"analytics.incidents.workload ({self.incidents.workload!r}) is "
                f"not among analytics.workloads {kinds}; add it or name one of them"
            )
        if self.pool.device == "gpu":
            missing = [w.kind for w in self.workloads if w.gpu_ms is None]
            if missing:
                raise ValueError(
                    f"analytics.pool.device is gpu but workloads {missing} have no "
                    f"gpu_ms; give each a GPU cost per frame or use device: cpu"
                )
        return self
