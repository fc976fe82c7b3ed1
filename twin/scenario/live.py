"""The `live:` section of a scenario: how the live twin runs a scenario on the wall clock.

Kept apart from twin/scenario/model.py (which only adds one optional field of this type, and
imports this module) so the simulator's schema stays readable; like all of twin.scenario it
imports no engine, so it loads without Ray, PyAV or OpenCV.

Times are wall-clock seconds from the start of the run. Retention in a live run is minutes, not
days: either `retention_s` directly, or the scenario's `recording.retention_days` divided by
`time_compression` (a 30-day rule at a compression of 43,200 is 60 s).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

from twin.scenario.numbers import refuse_non_numbers

MAX_LIVE_S = 86_400.0  # a live run is a trial on one machine: a day at most

__all__ = [
    "LiveProfile",
    "LiveRecorders",
    "LiveAnalyser",
    "ManagedMediaMTX",
    "ExternalMediaMTX",
    "LiveSettings",
]


class _Model(BaseModel):
    # No `.inf` / `.nan`: no real figure is infinite (and results.json must stay JSON).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _numbers_are_numbers(cls, data: Any) -> Any:
        return refuse_non_numbers(cls, data)


class LiveProfile(_Model):
    """What every synthetic camera publishes. Clips are encoded once and replayed."""

    width: int = Field(default=1280, ge=64, le=3840,
                       description="Frame width, pixels (even; at most 4K, 3,840: every camera "
                       "is encoded on this machine).")
    height: int = Field(default=720, ge=64, le=2160,
                        description="Frame height, pixels (even; at most 2,160).")
    fps: int = Field(default=15, ge=1, le=60,
                     description="Frames per second (1 to 60, what CCTV encoders offer).")
    bitrate_mbps: float = Field(default=1.0, gt=0, le=100,
                                description="Encoder bitrate cap, Mbps (at most 100).")
    keyframe_s: float = Field(default=1.0, gt=0, le=60,
                              description="Keyframe interval, seconds (at most a minute).")
    clip_s: float = Field(default=20.0, gt=0, le=600,
                          description="Length of the looped clip, seconds (at most 10 minutes: "
                          "it is encoded once, in memory).")
    scenes: int = Field(default=3, ge=1, le=20,
                        description="Distinct scenes; camera k shows scene k mod scenes.")
    collision_at_s: float | None = Field(
        default=14.0, ge=0, le=600, description="A rear-end collision this far into each loop (None: none). "
        "Keep it late: the crashed cars stay until the loop ends, and a background model that "
        "sees them most of the time learns them as background.")
    people: int = Field(default=5, ge=0, le=200,
                        description="Moving people per scene (at most 200: a crowd).")
    vehicles: int = Field(default=4, ge=0, le=200,
                          description="Moving vehicles per scene (at most 200).")
    night_depth: float = Field(default=0.15, ge=0, lt=1,
                               description="Brightness swing over one loop (0: none).")

    @property
    def gop_frames(self) -> int:
        return max(1, round(self.keyframe_s * self.fps))


class LiveRecorders(_Model):
    """Recorder actors: each records many cameras, one thread per stream."""

    count: int = Field(default=3, ge=1, le=256,
                       description="Recorder actors (at most 256: each is a process here).")
    max_streams: int = Field(default=30, ge=1, le=10_000,
                             description="Most streams one recorder takes (at most 10,000).")
    ingest_mbps: float = Field(default=100.0, gt=0, le=1_000_000,
                               description="Ingest limit per recorder, Mbps (at most 1 Tb/s).")
    container: Literal["mp4", "mpegts"] = Field(
        default="mp4", description="Segment file format (stream copy either way).")
    reconnect_max_s: float = Field(default=1.0, gt=0, le=3600,
                                   description="Longest pause between reconnection attempts, s "
                                   "(at most an hour).")


class LiveAnalyser(_Model):
    """The analyser actor: keyframe decoding, motion, people/vehicles, incidents."""

    enabled: bool = True
    cameras: int | None = Field(default=None, ge=1, le=100_000,
                                description="Analyse the first N cameras (None: all).")
    width: int = Field(default=640, ge=64, le=3840,
                       description="Frames are scaled to this width (at most 3,840).")
    min_interval_s: float = Field(default=0.9, ge=0, le=3600,
                                  description="Analyse at most one keyframe per camera this often "
                                  "(at most an hour).")
    actors: int = Field(default=1, ge=1, le=64,
                        description="Analyser actors (a pool; at most 64, each is a process).")
    cpu_per_actor: float | None = Field(
        default=None, gt=0, le=256,
        description="Cores each analyser actor may use (None: no admission, every camera is "
        "analysed however late). With it, each actor measures what a frame costs it when it "
        "starts and takes cameras while their frames fit in max_util_pct of these cores; the "
        "rest are reported as not analysed (at most 256).")
    max_util_pct: float = Field(default=80.0, gt=0, lt=100,
                                description="Admit cameras to an analyser up to this share of its "
                                "cores (below 100: a queue at 100 % grows without bound).")

    @model_serializer(mode="wrap")
    def _omit_pool_defaults(self, handler: Any) -> Any:
        # The pool's fields at their defaults serialise as before they existed, so the hash
        # of every shipped scenario (in its results.json) stays the same.
        out = handler(self)
        if isinstance(out, dict):
            for k, default in (("actors", 1), ("cpu_per_actor", None), ("max_util_pct", 80.0)):
                if k in out and out[k] == default:
                    out.pop(k)
        return out


class ManagedMediaMTX(_Model):
    """The twin builds (`make mediamtx`), configures and starts MediaMTX itself."""

    type: Literal["managed"] = "managed"
    log_level: Literal["error", "warn", "info", "debug"] = "warn"


class ExternalMediaMTX(_Model):
    """A MediaMTX the user runs (e.g. the official container) with a config the twin reads.

    `config` is that server's mediamtx.yml: the twin takes its users (one publisher per camera
    path, `recorder`, `analyser`, `admin`) from it. The twin never starts or stops it, so the
    restart drill is refused.
    """

    type: Literal["external"] = "external"
    host: str = "127.0.0.1"
    rtsp_port: int = Field(default=8554, ge=1, le=65535, description="RTSP port (a TCP port).")
    api_port: int = Field(default=9997, ge=1, le=65535, description="Control API port.")
    metrics_port: int = Field(default=9998, ge=1, le=65535, description="Metrics port.")
    config: Path


MediaMTXChoice = Annotated[Union[ManagedMediaMTX, ExternalMediaMTX], Field(discriminator="type")]


class LiveSettings(_Model):
    """How `twin live` runs this scenario for real (see twin/live/run.py)."""

    duration_s: float = Field(default=150.0, gt=0, le=MAX_LIVE_S,
                              description="Recording time, seconds (at most a day: a live run "
                              "is a trial on one machine, not an operation).")
    segment_s: float = Field(default=6.0, gt=0, le=3600,
                             description="Segment length; cut at the first keyframe after it "
                             "(at most an hour).")
    retention_s: float | None = Field(
        default=None, gt=0, le=MAX_LIVE_S,
        description="Retention override, seconds (wins over compression; at most a day).")
    time_compression: float = Field(
        default=1.0, ge=1, le=10_000_000,
        description="recording.retention_days is divided by this factor (at most 10^7).")
    sweep_interval_s: float = Field(default=5.0, gt=0, le=3600,
                                    description="Retention sweep period, s (at most an hour).")
    sweep_batch_segments: int = Field(default=1000, ge=1, le=10_000_000,
                                      description="Most segments one sweep deletes.")
    heartbeat_interval_s: float = Field(default=0.5, ge=0.01, le=60,
                                        description="Recorders beat this often, s (10 ms to a "
                                        "minute).")
    heartbeat_timeout_s: float = Field(
        default=2.0, gt=0, le=600,
        description="A recorder silent this long is declared lost (at most 10 minutes).")
    startup_timeout_s: float = Field(default=60.0, gt=0, le=3600,
                                     description="Longest wait for the actors and server, s.")
    publisher_actors: int | None = Field(
        default=None, ge=1, le=10_000, description="Most camera-set actors; sets share actors round-robin "
        "beyond it (None: one actor per set). Each actor costs ~84 MB and ~1 % of a core idle.")
    profile: LiveProfile = Field(default_factory=LiveProfile)
    recorders: LiveRecorders = Field(default_factory=LiveRecorders)
    analyser: LiveAnalyser = Field(default_factory=LiveAnalyser)
    mediamtx: MediaMTXChoice = Field(default_factory=ManagedMediaMTX)

    @model_validator(mode="before")
    @classmethod
    def _no_drills(cls, data: Any) -> Any:
        if isinstance(data, dict) and "drills" in data:
            raise ValueError(
                "live.drills is gone: a live run carries out the scenario's own `faults:` (the "
                "simulation's vocabulary, times in seconds from the start of recording); write "
                "`kill_recorder` as `{type: recorder_crash, recorder: <pool>-r01, at_s: 60, "
                "duration_s: 30}` and `restart_mediamtx` as `{type: relay_down, relay: city, "
                "at_s: 100, duration_s: 1}` under the top-level `faults:`")
        return data

    @model_validator(mode="after")
    def _checks(self) -> LiveSettings:
        p = self.profile
        if p.width % 2 or p.height % 2:
            raise ValueError(f"live.profile width x height ({p.width}x{p.height}) must be even")
        if p.collision_at_s is not None and not 0 < p.collision_at_s < p.clip_s:
            raise ValueError(
                f"live.profile.collision_at_s ({p.collision_at_s}) must be inside the clip "
                f"(0, {p.clip_s})")
        if self.segment_s < p.keyframe_s:
            raise ValueError(
                f"live.segment_s ({self.segment_s}) must be >= live.profile.keyframe_s "
                f"({p.keyframe_s}): segments are cut on keyframes")
        if self.heartbeat_timeout_s <= self.heartbeat_interval_s:
            raise ValueError(
                f"live.heartbeat_timeout_s ({self.heartbeat_timeout_s}) must be longer than "
                f"live.heartbeat_interval_s ({self.heartbeat_interval_s})")
        return self

    def retention_for(self, retention_days: float) -> float:
        """Retention of this live run, seconds."""
        if self.retention_s is not None:
            return self.retention_s
        return retention_days * 86_400.0 / self.time_compression
