"""Scenario files: YAML validated into typed, frozen pydantic models at the edge.

Engines never see raw dicts. Every figure of the programme (sets, cameras per set, bitrates,
retention) is scenario data, never a constant in code. A bad file raises ScenarioError naming
the file, the field path, the bad value and what was expected; nothing runs.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, field_validator, model_serializer,
                      model_validator)

from twin.compare.costs import Costs
from twin.errors import ScenarioError
from twin.live.settings import LiveSettings
from twin.metrics import METRICS
from twin.scenario_evidence import EvidenceSettings
from twin.scenario_faults import FAULT_TAGS, Failover, Faults, check_fault_targets

__all__ = [
    "Scenario",
    "District",
    "RolloutStep",
    "City",
    "CameraProfile",
    "Recording",
    "RecorderPool",
    "Recorders",
    "BalancedAssignment",
    "StaticAssignment",
    "Simulation",
    "Bound",
    "SiteKind",
    "load_scenario",
    "parse_scenario",
    "scenario_json_schema",
]

SiteKind = Literal["lamp_post", "smart_lamp_post", "government_building"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class District(_Model):
    name: str = Field(min_length=1, description="District name, e.g. 'Yau Tsim Mong'.")
    sets: int = Field(ge=0, description="Camera sets on line from the start of the run.")
    backhaul_mbps: float = Field(
        gt=0, description="Capacity of the district's backhaul link to the recorders, Mbps."
    )


class RolloutStep(_Model):
    month: str = Field(
        pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
        description="Calendar month the sets come on line (YYYY-MM), on its first day.",
    )
    sets: dict[str, Annotated[int, Field(ge=0)]] = Field(
        description="Sets added that month, by district name."
    )
    label: str = ""


class City(_Model):
    districts: list[District] = Field(min_length=1)
    rollout: list[RolloutStep] = Field(
        default_factory=list, description="Sets coming on line over time, in month order."
    )
    site_kinds: dict[SiteKind, Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: {"lamp_post": 0.5, "smart_lamp_post": 0.3, "government_building": 0.2},
        description="Relative weights of the kinds of site a set is mounted on.",
    )
    cameras_per_set: dict[Annotated[int, Field(ge=2, le=4)], Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: {2: 0.5, 3: 0.5},
        description="Relative weights of 2-, 3- (and 4-) camera sets.",
    )

    @field_validator("districts")
    @classmethod
    def _unique_names(cls, v: list[District]) -> list[District]:
        names = [d.name for d in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"district names must be unique; repeated: {dupes}")
        return v

    @field_validator("site_kinds", "cameras_per_set")
    @classmethod
    def _some_weight(cls, v: dict[Any, float]) -> dict[Any, float]:
        if not v or sum(v.values()) <= 0:
            raise ValueError("at least one weight must be > 0")
        return v

    @model_validator(mode="after")
    def _rollout_consistent(self) -> City:
        names = {d.name for d in self.districts}
        months = [s.month for s in self.rollout]
        if months != sorted(months):
            raise ValueError(f"rollout months must be in order; got {months}")
        for i, step in enumerate(self.rollout):
            unknown = sorted(set(step.sets) - names)
            if unknown:
                raise ValueError(
                    f"rollout[{i}] ({step.month}) names unknown districts {unknown}; "
                    f"expected one of the city's districts {sorted(names)}"
                )
        return self

    @property
    def total_sets(self) -> int:
        return sum(d.sets for d in self.districts) + sum(
            n for step in self.rollout for n in step.sets.values()
        )


class CameraProfile(_Model):
    name: str = Field(min_length=1)
    share: float = Field(default=1.0, gt=0, description="Relative weight among profiles.")
    width: int = Field(default=1920, ge=16)
    height: int = Field(default=1080, ge=16)
    fps: float = Field(default=15, gt=0)
    codec: Literal["h264", "h265"] = "h264"
    bitrate_mbps: float = Field(gt=0, description="Mean stream bitrate, Mbps.")
    bitrate_spread_pct: float = Field(
        default=0, ge=0, lt=100, description="Per-camera bitrate spread, +/- percent (uniform)."
    )
    recording: Literal["continuous", "motion"] = "continuous"
    motion_share: float = Field(
        default=1.0, gt=0, le=1, description="Share of time with motion (recording on motion)."
    )

    @property
    def effective_mbps(self) -> float:
        """Mean bitrate written to disk: motion recording writes only the motion share."""
        return self.bitrate_mbps * (self.motion_share if self.recording == "motion" else 1.0)


class Recording(_Model):
    segment_s: int = Field(default=60, ge=1, description="Segment length, seconds.")
    retention_days: float = Field(default=30, gt=0, description="Footage kept this long, days.")
    sweep_interval_s: int = Field(default=3600, ge=1, description="Retention sweep period, s.")
    sweep_batch_segments: int = Field(
        default=10_000_000, ge=1, description="Most segments one sweep may delete."
    )

    @property
    def retention_s(self) -> float:
        return self.retention_days * 86_400.0


class RecorderPool(_Model):
    name: str = Field(min_length=1)
    districts: list[str] | Literal["*"] = Field(
        description="Districts whose cameras this pool records, or '*' for a central pool."
    )
    recorders: int = Field(ge=1)
    ingest_mbps: float = Field(gt=0, description="Ingest limit of each recorder, Mbps.")
    disk_tb: float = Field(gt=0, description="Usable disk of each recorder, TB (10^12 bytes).")
    max_streams: int = Field(ge=1, description="Most camera streams each recorder takes.")


class BalancedAssignment(_Model):
    """Least-loaded placement within the camera's pool; never over a recorder's limits."""

    type: Literal["balanced"] = "balanced"


class StaticAssignment(_Model):
    """Round-robin split of a pool's cameras, blind to limits (a hand-made static plan).

    A recorder given more than it can take records the cameras that fit, in camera order,
    and drops the rest's segments, counted per camera.
    """

    type: Literal["static"] = "static"


Assignment = Annotated[Union[BalancedAssignment, StaticAssignment], Field(discriminator="type")]


class Recorders(_Model):
    pools: list[RecorderPool] = Field(min_length=1)
    assignment: Assignment = Field(default_factory=BalancedAssignment)


class Simulation(_Model):
    start_date: dt.date = Field(
        default=dt.date(2024, 3, 1), description="Calendar date of t=0 (for the roll-out)."
    )
    days: float = Field(default=35, gt=0, description="Simulated horizon, days.")
    tick_s: int = Field(
        default=60, ge=1, description="Accounting tick, s; a whole multiple of segment_s."
    )
    sample_s: int = Field(default=3600, ge=1, description="Time-series sample period, s.")


class Bound(_Model):
    min: float | None = None
    max: float | None = None
    stat: Literal["mean", "p5", "p50", "p95"] | None = Field(
        default=None,
        description="With `twin simulate --replications N`: the statistic of the metric's "
        "distribution over the replications that the bound applies to (default mean), e.g. "
        "{max: 10, stat: p95}. A single run judges its one value.",
    )

    @model_serializer(mode="wrap")
    def _omit_unset_stat(self, handler: Any) -> Any:
        # A target without `stat:` serialises as it did before the field existed, so the
        # scenario hash in every shipped results.json stays the same.
        out = handler(self)
        if self.stat is None:
            out.pop("stat", None)
        return out

    @model_validator(mode="after")
    def _one_side(self) -> Bound:
        if self.min is None and self.max is None:
            raise ValueError("a target needs 'min' or 'max' (or both)")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) must be <= max ({self.max})")
        return self


class Scenario(_Model):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seed: int = Field(ge=0, description="The one seed every random draw derives from.")
    city: City
    camera_profiles: list[CameraProfile] = Field(min_length=1)
    recording: Recording = Field(default_factory=Recording)
    recorders: Recorders
    simulation: Simulation = Field(default_factory=Simulation)
    targets: dict[str, Bound] = Field(
        default_factory=dict, description="Metric name -> bounds the run must meet."
    )
    faults: Faults = Field(
        default_factory=list, description="Faults injected into the run (twin.scenario_faults)."
    )
    failover: Failover = Field(
        default_factory=Failover, description="Heartbeats, standby policy and recovery times."
    )
    live: LiveSettings | None = Field(
        default=None, description="How `twin live` runs this scenario (twin/live/settings.py)."
    )
    evidence: EvidenceSettings | None = Field(
        default=None,
        description="Preservation and rank-approved access simulated beside the recording "
        "(twin/scenario_evidence.py).",
    )
    costs: Costs | None = Field(
        default=None, description="Unit prices (assumptions) for comparing deployments' cost."
    )

    @field_validator("targets")
    @classmethod
    def _known_metrics(cls, v: dict[str, Bound]) -> dict[str, Bound]:
        unknown = sorted(set(v) - set(METRICS))
        if unknown:
            raise ValueError(
                f"unknown target metric(s) {unknown}; expected names from: {sorted(METRICS)}"
            )
        return v

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        names = {d.name for d in self.city.districts}
        served: dict[str, str] = {}
        central = [p.name for p in self.recorders.pools if p.districts == "*"]
        if len(central) > 1:
            raise ValueError(f"at most one central pool (districts: '*'); got {central}")
        for p in self.recorders.pools:
            if p.districts == "*":
                continue
            for d in p.districts:
                if d not in names:
                    raise ValueError(
                        f"recorder pool {p.name!r} names unknown district {d!r}; "
                        f"expected one of {sorted(names)}"
                    )
                if d in served:
                    raise ValueError(f"district {d!r} is served by pools {served[d]!r} and {p.name!r}")
                served[d] = p.name
        orphans = sorted(names - set(served))
        if orphans and not central:
            raise ValueError(
                f"districts {orphans} have no recorder pool; add them to a pool or add a central "
                "pool with districts: '*'"
            )
        pool_names = [p.name for p in self.recorders.pools]
        if len(set(pool_names)) != len(pool_names):
            raise ValueError(f"recorder pool names must be unique; got {pool_names}")
        if self.simulation.tick_s % self.recording.segment_s:
            raise ValueError(
                f"simulation.tick_s ({self.simulation.tick_s}) must be a whole multiple of "
                f"recording.segment_s ({self.recording.segment_s})"
            )
        if self.recording.sweep_interval_s % self.simulation.tick_s:
            raise ValueError(
                f"recording.sweep_interval_s ({self.recording.sweep_interval_s}) must be a whole "
                f"multiple of simulation.tick_s ({self.simulation.tick_s})"
            )
        return self

    @model_validator(mode="after")
    def _fault_targets(self) -> Scenario:
        check_fault_targets(self)
        return self

    def canonical_json(self) -> str:
        """A stable JSON form, for hashing and for results.json."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _format_errors(source: str, err: ValidationError) -> str:
    lines = [f"{source}: {err.error_count()} problem(s) in the scenario:"]
    for e in err.errors():
        # Discriminated-union and model validators add their own tag to the path: keep the
        # field names a user can find in the file.
        loc = tuple(p for p in e["loc"] if p not in ("balanced", "static", *FAULT_TAGS))
        value = e.get("input")
        shown = json.dumps(value, default=str)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        lines.append(f"  - field {_loc(loc)}: got {shown}: {e['msg']}")
    lines.append("Fix the fields named above; `twin schema` prints the JSON Schema for editors.")
    return "\n".join(lines)


def parse_scenario(data: Any, source: str = "<scenario>") -> Scenario:
    """Validate an already-parsed mapping; errors name `source` and each field path."""
    if not isinstance(data, dict):
        raise ScenarioError(
            f"{source}: expected a mapping at the top level (name:, seed:, city: ...), "
            f"got {type(data).__name__}"
        )
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(_format_errors(source, err)) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read a YAML scenario file (safe loading) and validate it."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{p}: no such scenario file; check the path (see scenarios/)") from None
    except OSError as err:
        raise ScenarioError(f"{p}: cannot read the scenario file: {err.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ScenarioError(f"{p}: not valid YAML: {err}") from None
    return parse_scenario(data, str(p))


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file, for editors (yaml-language-server)."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "cctv-twin scenario"
    return schema
