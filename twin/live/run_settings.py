"""The live run of a scenario: its one deployment (cameras, profile, segments, recorders,
retention: the scenario's own, as `twin simulate` runs it) with the `live:` section's
wall-clock settings, resolved into what the live engine reads.

`twin live` records what the scenario says, not a second description of it: the recorders
are every recorder of the scenario's pools, named `<pool>-rNN` as in the simulation, each with
its own pool's stream and ingest limits (a district's pool records its district; a central
pool, `districts: '*'`, records the districts no pool names, or is the standby of all of them
when every district has its pool: twin.live.run); segments are `recording.segment_s`; retention is
`recording.retention_days` compressed by `live.time_compression`; the cameras publish the
camera profile's resolution, frame rate and bitrate (or `live.clip.encoder_bitrate_mbps`).
"""

from __future__ import annotations

from dataclasses import dataclass

from twin.scenario import Scenario
from twin.scenario.live import (
    LiveAnalyser,
    LiveProfile,
    LiveSettings,
    ManagedMediaMTX,
    MediaMTXChoice,
)

__all__ = ["LivePool", "LiveRecorderPlan", "LiveRun", "live_run_settings"]


@dataclass(frozen=True, slots=True)
class LivePool:
    """One recorder pool as the live run records it: its recorders' names and limits."""

    name: str
    districts: tuple[str, ...] | None  # None: a central pool (districts: '*')
    recorders: tuple[str, ...]
    max_streams: int
    ingest_mbps: float


@dataclass(frozen=True, slots=True)
class LiveRecorderPlan:
    pools: tuple[LivePool, ...]
    container: str
    reconnect_max_s: float

    @property
    def names(self) -> list[str]:
        """Every live recorder, pool by pool (`<pool>-rNN`, the simulation's names)."""
        return [r for p in self.pools for r in p.recorders]

    @property
    def count(self) -> int:
        return sum(len(p.recorders) for p in self.pools)

    def pool_of(self, recorder: str) -> LivePool:
        return next(p for p in self.pools if recorder in p.recorders)

    def max_streams_of(self, recorders: list[str]) -> list[int]:
        return [self.pool_of(r).max_streams for r in recorders]

    def ingest_mbps_of(self, recorders: list[str]) -> list[float]:
        return [self.pool_of(r).ingest_mbps for r in recorders]


@dataclass(frozen=True, slots=True)
class LiveRun:
    """Everything the live engine needs to run one scenario (see the module docstring)."""

    duration_s: float
    segment_s: float
    retention_s: float
    sweep_interval_s: float
    sweep_batch_segments: int
    heartbeat_interval_s: float
    heartbeat_timeout_s: float
    startup_timeout_s: float
    publisher_actors: int | None
    profile: LiveProfile
    profile_name: str
    nominal_mbps: float
    recorders: LiveRecorderPlan
    analyser: LiveAnalyser
    mediamtx: MediaMTXChoice

    def retention_for(self, retention_days: float) -> float:
        del retention_days  # the scenario's, already compressed into retention_s
        return self.retention_s


def live_run_settings(sc: Scenario) -> LiveRun:
    """The live run of `sc` (a scenario without `live:` runs with the section's defaults)."""
    lv = sc.live or LiveSettings()
    p = sc.camera_profiles[0]
    c = lv.clip
    pools = tuple(
        LivePool(
            p.name,
            None if p.districts == "*" else tuple(p.districts),
            tuple(f"{p.name}-r{j + 1:02d}" for j in range(p.recorders)),
            p.max_streams,
            p.ingest_mbps,
        )
        for p in sc.recorders.pools
    )
    profile = LiveProfile(
        width=p.width,
        height=p.height,
        fps=int(p.fps),
        bitrate_mbps=c.encoder_bitrate_mbps or p.bitrate_mbps,
        keyframe_s=c.keyframe_s,
        clip_s=c.clip_s,
        scenes=c.scenes,
        collision_at_s=c.collision_at_s,
        people=c.people,
        vehicles=c.vehicles,
        night_depth=c.night_depth,
    )
    rec = sc.recording
    return LiveRun(
        duration_s=lv.duration_s,
        segment_s=float(rec.segment_s),
        retention_s=lv.retention_for(rec.retention_days),
        sweep_interval_s=float(rec.sweep_interval_s),
        sweep_batch_segments=rec.sweep_batch_segments,
        heartbeat_interval_s=lv.heartbeat_interval_s,
        heartbeat_timeout_s=lv.heartbeat_timeout_s,
        startup_timeout_s=lv.startup_timeout_s,
        publisher_actors=lv.publisher_actors,
        profile=profile,
        profile_name=p.name,
        nominal_mbps=p.bitrate_mbps,
        recorders=LiveRecorderPlan(pools, lv.recorders.container, lv.recorders.reconnect_max_s),
        analyser=lv.analyser,
        mediamtx=lv.mediamtx if sc.live else ManagedMediaMTX(),
    )
