"""The scenario model (twin.scenario re-exports it): YAML validated into typed, frozen pydantic
models at the edge.

Engines never see raw dicts. Every figure of the programme (sets, cameras per set, bitrates,
retention) is scenario data, never a constant in code. A bad file raises ScenarioError naming
the file, the field path, the bad value and what was expected; nothing runs.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from twin.core.raid import RaidLayout
from twin.errors import ScenarioError
from twin.metrics import METRICS
from twin.scenario.analytics import AnalyticsSettings
from twin.scenario.calibration import LoadedCalibration, load_calibration
from twin.scenario.capacity import Drives, DropNew, EdgeBackfill, FullDisk, HourSteps, omit_unset
from twin.scenario.costs import Costs
from twin.scenario.evidence import EvidenceSettings
from twin.scenario.faults import Failover, Faults, check_fault_targets
from twin.scenario.fidelity import FidelityTarget, check_fidelity_names
from twin.scenario.live import LiveSettings
from twin.scenario.numbers import ScenarioModel
from twin.scenario.overlay import apply_sets, compose
from twin.scenario.problems import format_problems
from twin.suggest import did_you_mean, near_note

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
    "MAX_DAYS",
    "parse_scenario",
    "scenario_data",
    "scenario_json_schema",
]

SiteKind = Literal["lamp_post", "smart_lamp_post", "government_building"]
_SITE_KIND_WEIGHTS: dict[SiteKind, float] = {
    "lamp_post": 0.5,
    "smart_lamp_post": 0.3,
    "government_building": 0.2,
}


_Model = ScenarioModel


# Upper bounds shared by several fields. Each is past anything a real deployment has, so a
# shipped or plausible scenario never meets it; what it catches is a typo (an extra three
# zeros, a value in the wrong unit) before it becomes an hour of simulation or a MemoryError.
MAX_SETS_PER_DISTRICT = 1_000_000  # Hong Kong plans 7,000 sets city-wide; 1e6 is past any city
MAX_DAYS = 3650  # ten years: past any roll-out or retention horizon a plan is judged over
MAX_WEIGHT = 1e6  # relative weights: a ratio of 10^6 between two shares is already "none"


class District(_Model):
    name: str = Field(min_length=1, description="District name, e.g. 'Yau Tsim Mong'.")
    sets: int = Field(
        ge=0,
        le=MAX_SETS_PER_DISTRICT,
        description="Camera sets on line from the start of the run (at most 1,000,000: a "
        "district of the largest city has tens of thousands).",
    )
    backhaul_mbps: float = Field(
        gt=0,
        le=10_000_000,
        description="Capacity of the district's backhaul link to the recorders, Mbps (at most "
        "10,000,000 = 10 Tb/s, past any metro network's district link).",
    )


class RolloutStep(_Model):
    month: str = Field(
        pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
        description="Calendar month the sets come on line (YYYY-MM), on its first day.",
    )
    sets: dict[str, Annotated[int, Field(ge=0, le=MAX_SETS_PER_DISTRICT)]] = Field(
        description="Sets added that month, by district name (at most 1,000,000 each)."
    )
    label: str = ""


class City(_Model):
    districts: list[District] = Field(min_length=1)
    rollout: list[RolloutStep] = Field(
        default_factory=list, description="Sets coming on line over time, in month order."
    )
    site_kinds: dict[SiteKind, Annotated[float, Field(ge=0, le=MAX_WEIGHT)]] = Field(
        default_factory=lambda: _SITE_KIND_WEIGHTS.copy(),
        description="Relative weights of the kinds of site a set is mounted on (0 to 10^6).",
    )
    cameras_per_set: dict[
        Annotated[int, Field(ge=2, le=4)], Annotated[float, Field(ge=0, le=MAX_WEIGHT)]
    ] = Field(
        default_factory=lambda: {2: 0.5, 3: 0.5},
        description="Relative weights of 2-, 3- (and 4-) camera sets (0 to 10^6).",
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
                    f"rollout[{i}] ({step.month}) names unknown districts {unknown}"
                    f"{near_note(unknown[0], names)}; expected one of the city's districts "
                    f"{sorted(names)}"
                )
        if self.total_sets == 0:
            raise ValueError(
                "the city has no camera sets: every district has sets: 0 and the roll-out adds "
                "none; give a district some sets, or add a roll-out step that brings them"
            )
        return self

    @property
    def total_sets(self) -> int:
        return sum(d.sets for d in self.districts) + sum(
            n for step in self.rollout for n in step.sets.values()
        )


class CameraProfile(_Model):
    name: str = Field(min_length=1)
    share: float = Field(
        default=1.0, gt=0, le=MAX_WEIGHT, description="Relative weight among profiles (up to 10^6)."
    )
    width: int = Field(
        default=1920,
        ge=16,
        le=16_384,
        description="Frame width, pixels (16K, 15,360, is the widest sensor made).",
    )
    height: int = Field(default=1080, ge=16, le=16_384, description="Frame height, pixels.")
    fps: float = Field(
        default=15,
        gt=0,
        le=240,
        description="Frames per second (CCTV runs 1-60; 240 is high-speed video).",
    )
    codec: Literal["h264", "h265"] = "h264"
    bitrate_mbps: float = Field(
        gt=0,
        le=1000,
        description="Mean stream bitrate, Mbps (an 8K H.264 stream is ~100 Mbps; 1,000 is past "
        "any camera's network port share).",
    )
    bitrate_spread_pct: float = Field(
        default=0, ge=0, lt=100, description="Per-camera bitrate spread, +/- percent (uniform)."
    )
    recording: Literal["continuous", "motion"] = "continuous"
    motion_share: float = Field(
        default=1.0, gt=0, le=1, description="Share of time with motion (recording on motion)."
    )
    # Daily curves and scene (twin/scenario/capacity.py); left out of the canonical JSON unset.
    light_curve: HourSteps | None = Field(
        default=None,
        description="Bitrate factor by hour of day, {hour: factor} (each holds to the next "
        "hour given), for light and activity: ingest, backhaul and disk follow it (0 to 100).",
    )
    motion_curve: HourSteps | None = Field(
        default=None,
        description="With recording: motion, a factor on motion_share by hour of day (event "
        "recording's own curve); motion_share x factor must stay <= 1 (0 to 100).",
    )
    scene_factor: dict[SiteKind, Annotated[float, Field(gt=0, le=100)]] | None = Field(
        default=None,
        description="Bitrate factor per site kind for scene complexity (missing kinds 1.0; "
        "above 0, at most 100).",
    )

    backfill: EdgeBackfill | None = Field(
        default=None,
        description="Edge storage on the camera, uploaded after a fault "
        "(twin/sim/backfill.py); none when not given.",
    )

    @model_serializer(mode="wrap")
    def _omit_unset_curves(self, handler: Any) -> Any:
        return omit_unset(
            handler(self), self, ("light_curve", "motion_curve", "scene_factor", "backfill")
        )

    @model_validator(mode="after")
    def _motion_curve_fits(self) -> CameraProfile:
        if self.motion_curve:
            peak = self.motion_share * max(self.motion_curve.values())
            if peak > 1 + 1e-12:
                raise ValueError(
                    f"motion_share ({self.motion_share}) x the motion_curve's largest factor "
                    f"({max(self.motion_curve.values())}) is {peak:g}: more than all of the "
                    "time; lower the curve or the share"
                )
        return self

    @property
    def effective_mbps(self) -> float:
        """Mean bitrate written to disk: motion recording writes only the motion share."""
        return self.bitrate_mbps * (self.motion_share if self.recording == "motion" else 1.0)


class Recording(_Model):
    segment_s: int = Field(
        default=60, ge=1, le=86_400, description="Segment length, seconds (at most a day)."
    )
    fragment_s: float | None = Field(
        default=None,
        gt=0,
        le=3600,
        description="The recorders write fragmented segment files, a fragment at least this "
        "often, flushed, s (fragmented MP4: 0.2; at most an hour): a crashed recorder keeps "
        "each camera's segment under way up to its last fragment. Unset: a crash loses the "
        "segment under way.",
    )
    retention_days: float = Field(
        default=30,
        gt=0,
        le=MAX_DAYS,
        description="Footage kept this long, days (at most ten years).",
    )
    sweep_interval_s: int = Field(
        default=3600,
        ge=1,
        le=31 * 86_400,
        description="Retention sweep period, s (at most a month).",
    )
    sweep_batch_segments: int = Field(
        default=10_000_000,
        ge=1,
        le=10**12,
        description="Most segments one sweep may delete (10^12 is past every segment a city "
        "holds: 50 million cameras x 10 years of minutes is ~2.6 x 10^14; a sweep is never asked "
        "for that).",
    )

    @model_serializer(mode="wrap")
    def _omit_unset_fragment(self, handler: Any) -> Any:
        return omit_unset(handler(self), self, ("fragment_s",))

    @property
    def retention_s(self) -> float:
        return self.retention_days * 86_400.0


class RecorderPool(_Model):
    name: str = Field(min_length=1)
    districts: list[str] | Literal["*"] = Field(
        description="Districts whose cameras this pool records, or '*' for a central pool."
    )
    recorders: int = Field(
        ge=1,
        le=100_000,
        description="Recorders in the pool (at most 100,000: a city of 20,000 cameras needs "
        "about a hundred).",
    )
    ingest_mbps: float = Field(
        gt=0,
        le=1_000_000,
        description="Ingest limit of each recorder, Mbps (at most 1,000,000 = 1 Tb/s, past any "
        "server's network cards).",
    )
    disk_tb: float | None = Field(
        default=None,
        gt=0,
        le=100_000,
        description="Usable disk of each recorder, TB (10^12 bytes) (at most 100,000 TB = 100 PB, "
        "past any storage server); or give `drives:` instead.",
    )
    max_streams: int = Field(
        ge=1,
        le=100_000,
        description="Most camera streams each recorder takes (at most 100,000; real ones take "
        "a few hundred).",
    )
    full_disk: FullDisk = Field(
        default_factory=DropNew,
        description="What a full disk does, by type: drop_new (refuse new footage) or "
        "overwrite_oldest (delete the oldest unheld footage to make room).",
    )
    drives: Drives | None = Field(
        default=None,
        description="The recorder's drives and RAID level (usable TB), instead of disk_tb.",
    )

    @model_serializer(mode="wrap")
    def _omit_unset_capacity(self, handler: Any) -> Any:
        return omit_unset(handler(self), self, ("full_disk", "drives", "disk_tb"))

    @model_validator(mode="after")
    def _one_disk(self) -> RecorderPool:
        if (self.disk_tb is None) == (self.drives is None):
            raise ValueError(
                f"recorder pool {self.name!r}: give either disk_tb (usable TB) or "
                "drives: (size_tb, count, raid, hot_spares), exactly one"
            )
        return self

    @property
    def usable_tb(self) -> float:
        """Usable TB per recorder: disk_tb, or what the drives' RAID level leaves."""
        if self.drives is None:
            assert self.disk_tb is not None
            return self.disk_tb
        d = self.drives
        return RaidLayout(d.size_tb, d.count, d.raid, d.hot_spares).usable_tb


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
    days: float = Field(
        default=35,
        gt=0,
        le=MAX_DAYS,
        description="Simulated horizon, days (at most 3,650: ten years).",
    )
    tick_s: int = Field(
        default=60,
        ge=1,
        le=86_400,
        description="Accounting tick, s; a whole multiple of segment_s (at most a day).",
    )
    sample_s: int = Field(
        default=3600,
        ge=1,
        le=31 * 86_400,
        description="Time-series sample period, s (at most a month).",
    )


class Bound(_Model):
    min: float | None = Field(default=None, description="The metric must be >= this.")
    max: float | None = Field(default=None, description="The metric must be <= this.")
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


def _known_metric(name: str) -> str:
    if name not in METRICS:
        raise PydanticCustomError(
            "unknown_metric",
            "not a metric the twin reports{hint}",
            {
                "hint": did_you_mean(name, METRICS)
                or "; every metric is listed in twin/metrics.py "
                "(with its unit and meaning; docs/results.md groups them)"
            },
        )
    return name


# A target's key, checked on its own, so an unknown one is named with its line and the near name.
MetricName = Annotated[str, AfterValidator(_known_metric)]


class Scenario(_Model):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seed: int = Field(
        ge=0,
        le=2**64 - 1,
        description="The one seed every random draw derives from (0 to 2^64 - 1).",
    )
    city: City
    camera_profiles: list[CameraProfile] = Field(min_length=1)
    recording: Recording = Field(default_factory=Recording)
    recorders: Recorders
    simulation: Simulation = Field(default_factory=Simulation)
    targets: dict[MetricName, Bound] = Field(
        default_factory=dict, description="Metric name -> bounds the run must meet."
    )
    faults: Faults = Field(
        default_factory=list, description="Faults injected into the run (twin.scenario.faults)."
    )
    failover: Failover = Field(
        default_factory=Failover, description="Heartbeats, standby policy and recovery times."
    )
    live: LiveSettings | None = Field(
        default=None, description="How `twin live` runs this scenario (twin/scenario/live.py)."
    )
    evidence: EvidenceSettings | None = Field(
        default=None,
        description="Preservation and rank-approved access simulated beside the recording "
        "(twin/scenario/evidence.py).",
    )
    costs: Costs | None = Field(
        default=None, description="Unit prices (assumptions) for comparing deployments' cost."
    )
    analytics: AnalyticsSettings | None = Field(
        default=None,
        description="Analysers, workloads, incidents and bursts simulated beside the recording "
        "(twin/scenario/analytics.py; none: analytics not modelled).",
    )

    calibration: str | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="A calibration file written by `twin calibrate` (relative to this file): "
        "the simulator takes the bytes cameras really write and the reassignment time from it "
        "(twin/scenario/calibration.py); results.json names it with its SHA-256.",
    )
    fidelity: dict[str, FidelityTarget] | None = Field(
        default=None,
        description="How close `twin simulate` must come to `twin live` of this scenario, per "
        "fidelity metric (twin/scenario/fidelity.py), e.g. stored_bytes_per_camera_hour: "
        "{max_pct: 5}; judged by `twin check --live RUN` and shown by `twin compare`.",
    )
    _calibration: LoadedCalibration | None = PrivateAttr(default=None)

    @model_serializer(mode="wrap")
    def _omit_unset_new_sections(self, handler: Any) -> Any:
        # A scenario without `analytics:`, a calibration or fidelity targets serialises as
        # before these sections existed, so the scenario hash in every shipped results.json
        # stays the same.
        out = handler(self)
        if isinstance(out, dict):
            for key in ("analytics", "calibration", "fidelity"):
                if out.get(key) is None:
                    out.pop(key, None)
        return out

    @property
    def loaded_calibration(self) -> LoadedCalibration | None:
        """The calibration file this scenario names, read when it was loaded."""
        return self._calibration

    def storage_factor(self, profile: str) -> float:
        """Bytes on disk per nominal byte of a profile: 1 without a calibration."""
        cal = self._calibration
        if cal is None and self.calibration is not None:
            raise ScenarioError(
                f"calibration: {self.calibration}: the scenario names a calibration file that was "
                f"never read; expected the scenario to come from load_scenario or "
                f"parse_scenario(data, source), which read it relative to the scenario file"
            )
        return 1.0 if cal is None else cal.calibration.storage_factor(profile)

    @field_validator("fidelity")
    @classmethod
    def _known_fidelity(
        cls, v: dict[str, FidelityTarget] | None
    ) -> dict[str, FidelityTarget] | None:
        if v is not None:
            check_fidelity_names(v)
        return v

    @field_validator("targets")
    @classmethod
    def _known_metrics(cls, v: dict[str, Bound]) -> dict[str, Bound]:
        for name, bound in v.items():
            m = METRICS[name]
            for side, x in (("min", bound.min), ("max", bound.max)):
                if x is not None and not m.lo <= x <= m.hi:
                    never = (side == "min" and x > m.hi) or (side == "max" and x < m.lo)
                    raise ValueError(
                        f"targets.{name}.{side} ({x:g}) is outside what {name} can measure "
                        f"({m.domain} {m.unit}), so the target would "
                        f"{'never' if never else 'always'} pass; give a bound within {m.domain}"
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
                        f"recorder pool {p.name!r} names unknown district {d!r}"
                        f"{near_note(d, names)}; expected one of {sorted(names)}"
                    )
                if d in served:
                    raise ValueError(
                        f"district {d!r} is served by pools {served[d]!r} and {p.name!r}"
                    )
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
        if self.city.rollout and 86_400 % self.recording.segment_s:
            raise ValueError(
                f"recording.segment_s ({self.recording.segment_s}) must divide a day (86,400 s) "
                "when city.rollout brings sets on line at midnight, so every camera's time on "
                "line is whole segments (written + dropped = its segment slots); use e.g. 60"
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

    @model_validator(mode="after")
    def _analytics_districts(self) -> Scenario:
        a = self.analytics
        if a is not None and a.bursts.district is not None:
            names = [d.name for d in self.city.districts]
            if a.bursts.district not in names:
                raise ValueError(
                    f"analytics.bursts.district ({a.bursts.district!r}) is not a "
                    f"district of the city; expected one of {sorted(names)}"
                )
        return self

    @model_validator(mode="after")
    def _one_deployment(self) -> Scenario:
        """A live scenario is one deployment that both engines run: what `twin live` cannot
        record as written is refused here, naming the field and the fix."""
        lv = self.live
        if lv is None:
            if self.fidelity is not None:
                raise ValueError(
                    "fidelity: targets compare a live run with its simulation; "
                    "expected a live: section, or remove fidelity:"
                )
            return self
        if len(self.camera_profiles) != 1:
            raise ValueError(
                f"camera_profiles: a live scenario has one camera profile (its clips are encoded "
                f"once); got {len(self.camera_profiles)}: keep one, or run the mix with `twin "
                f"simulate` only (remove live:)"
            )
        p = self.camera_profiles[0]
        checks = [
            (
                p.width % 2 == 0 and p.height % 2 == 0,
                "width x height",
                f"{p.width}x{p.height}",
                "even numbers (H.264 4:2:0)",
            ),
            (
                p.width <= 3840 and p.height <= 2160 and p.width >= 64 and p.height >= 64,
                "width x height",
                f"{p.width}x{p.height}",
                "64x64 to 3840x2160: every live camera is encoded on this machine",
            ),
            (
                float(p.fps).is_integer() and 1 <= p.fps <= 60,
                "fps",
                f"{p.fps:g}",
                "a whole number from 1 to 60 (what the synthetic encoder offers)",
            ),
            (p.bitrate_mbps <= 100, "bitrate_mbps", f"{p.bitrate_mbps:g}", "at most 100"),
            (
                p.bitrate_spread_pct == 0,
                "bitrate_spread_pct",
                f"{p.bitrate_spread_pct:g}",
                "0: every live camera publishes the one clip at the profile's bitrate",
            ),
            (
                p.recording == "continuous",
                "recording",
                p.recording,
                "continuous: live recorders record all the time",
            ),
        ]
        for ok, field, got, want in checks:
            if not ok:
                raise ValueError(
                    f"camera_profiles[0].{field}: {got} cannot be recorded live; expected {want}"
                )
        if self.recording.segment_s < lv.clip.keyframe_s:
            raise ValueError(
                f"recording.segment_s ({self.recording.segment_s}) must be >= "
                f"live.clip.keyframe_s ({lv.clip.keyframe_s}): segments are cut on keyframes"
            )
        # Several pools run live as the deployment has them: a district's pool records its
        # district; a central pool (districts: '*') records the districts no pool names, or,
        # when every district has its own pool, is the standby of all of them (twin.live.run).
        pools = self.recorders.pools
        total = sum(p.recorders for p in pools)
        if total > 256:
            raise ValueError(
                f"recorders.pools: {total} recorders in all, each a recorder process of the "
                f"live run; expected at most 256"
            )
        if self.recorders.assignment.type != "balanced":
            raise ValueError(
                "recorders.assignment.type: a live run places balanced; expected "
                "balanced in a live scenario"
            )
        if self.failover.standby.type not in ("spread", "n_plus_1", "n_plus_m"):
            raise ValueError(
                f"failover.standby.type: {self.failover.standby.type} is not carried out live; "
                f"expected spread (a lost recorder's cameras move to the survivors), n_plus_1 "
                f"or n_plus_m (each pool's last recorders stand by, recording nothing until a "
                f"failover)"
            )
        if "heartbeat" in self.failover.model_fields_set:
            raise ValueError(
                "failover.heartbeat: a live scenario beats on the wall clock; set "
                "live.heartbeat_interval_s and live.heartbeat_timeout_s instead (its simulation "
                "uses them) and remove failover.heartbeat"
            )
        if "days" in self.simulation.model_fields_set:
            raise ValueError(
                f"simulation.days: a live scenario is simulated over live.duration_s "
                f"({lv.duration_s:g} s), the time `twin live` records; remove simulation.days"
            )
        return self

    def canonical_json(self) -> str:
        """A stable JSON form, for hashing and for results.json."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def parse_scenario(
    data: Any, source: str = "<scenario>", base_dir: str | Path | None = None
) -> Scenario:
    """Validate an already-parsed mapping; errors name `source` and each field path.

    A calibration file is read relative to `base_dir`, else to the folder of the file
    `source` names (up to a `#`); the parsed Scenario carries it, so a worker that runs it
    (a Ray task, on any node) needs neither the file nor the driver's working directory."""
    if not isinstance(data, dict):
        raise ScenarioError(
            f"{source}: expected a mapping at the top level (name:, seed:, city: ...), "
            f"got {type(data).__name__}"
        )
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(format_problems(source, err, Scenario)) from None
    if sc.calibration is not None:
        named = Path(sc.calibration)
        base = Path(base_dir) if base_dir is not None else Path(source.partition("#")[0]).parent
        path = named if named.is_absolute() else base / named
        sc._calibration = load_calibration(path, sc.calibration, source)
    return sc


def scenario_data(path: str | Path, sets: Sequence[str] = ()) -> tuple[Any, str]:
    """(the scenario's data with its bases merged and `sets` applied, not validated; the name
    errors give it: the file, and its bases when it has any)."""
    composed = compose(path)
    data = composed.data
    if sets and isinstance(data, dict):
        data = apply_sets(data, sets, str(path), Scenario)
    return data, composed.source


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file, for editors (yaml-language-server)."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "cctv-twin scenario"
    return schema
