"""The `live:` section of a scenario: how the live twin runs a scenario on the wall clock.

Kept apart from twin/scenario/model.py (which only adds one optional field of this type, and
imports this module) so the simulator's schema stays readable; like all of twin.scenario it
imports no engine, so it loads without Ray, PyAV or OpenCV.

Times are wall-clock seconds from the start of the run. Retention in a live scenario is minutes,
not days: the scenario's `recording.retention_days` divided by `time_compression` (a 30-day
rule at a compression of 43,200 is 60 s), in both engines. Everything both engines have (the
cameras and their profile, segments, recorders and their limits, retention, faults) is the
scenario's and is written once; fields of the old section that moved are refused with the
fix (`_MOVED`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import Field, model_serializer, model_validator

from twin.scenario.numbers import ScenarioModel

MAX_LIVE_S = 86_400.0  # a live run is a trial on one machine: a day at most

__all__ = [
    "LiveClip",
    "LiveProfile",
    "LiveRecorders",
    "LiveAnalyser",
    "ManagedMediaMTX",
    "ExternalMediaMTX",
    "LiveSettings",
]


_Model = ScenarioModel


class LiveClip(_Model):
    """How the synthetic cameras' clips are drawn and encoded (encoded once, replayed).

    Resolution, frame rate and nominal bitrate are the deployment's: the scenario's camera
    profile. Only what a synthetic camera adds is here.
    """

    keyframe_s: float = Field(
        default=1.0, gt=0, le=60, description="Keyframe interval, seconds (at most a minute)."
    )
    clip_s: float = Field(
        default=20.0,
        gt=0,
        le=600,
        description="Length of the looped clip, seconds (at most 10 minutes: "
        "it is encoded once, in memory).",
    )
    scenes: int = Field(
        default=3, ge=1, le=20, description="Distinct scenes; camera k shows scene k mod scenes."
    )
    collision_at_s: float | None = Field(
        default=14.0,
        ge=0,
        le=600,
        description="A rear-end collision this far into each loop (None: none). "
        "Keep it late: the crashed cars stay until the loop ends, and a background model that "
        "sees them most of the time learns them as background.",
    )
    people: int = Field(
        default=5, ge=0, le=200, description="Moving people per scene (at most 200: a crowd)."
    )
    vehicles: int = Field(
        default=4, ge=0, le=200, description="Moving vehicles per scene (at most 200)."
    )
    night_depth: float = Field(
        default=0.15, ge=0, lt=1, description="Brightness swing over one loop (0: none)."
    )
    encoder_bitrate_mbps: float | None = Field(
        default=None,
        gt=0,
        le=100,
        description="Encoder bitrate cap of the synthetic cameras, Mbps (at most 100). Default: "
        "the camera profile's nominal bitrate. Set it to rehearse cameras that do not send what "
        "the plan says: `twin compare` then shows the difference as a fidelity miss.",
    )


class LiveProfile(_Model):
    """What every synthetic camera publishes, resolved from the camera profile and
    `live.clip` (twin.live.run_settings); not a section of the scenario file."""

    width: int = Field(
        default=1280,
        ge=64,
        le=3840,
        description="Frame width, pixels (even; at most 4K, 3,840: every camera "
        "is encoded on this machine).",
    )
    height: int = Field(
        default=720, ge=64, le=2160, description="Frame height, pixels (even; at most 2,160)."
    )
    fps: int = Field(
        default=15,
        ge=1,
        le=60,
        description="Frames per second (1 to 60, what CCTV encoders offer).",
    )
    bitrate_mbps: float = Field(
        default=1.0, gt=0, le=100, description="Encoder bitrate cap, Mbps (at most 100)."
    )
    keyframe_s: float = 1.0
    clip_s: float = 20.0
    scenes: int = 3
    collision_at_s: float | None = 14.0
    people: int = 5
    vehicles: int = 4
    night_depth: float = 0.15

    @property
    def gop_frames(self) -> int:
        return max(1, round(self.keyframe_s * self.fps))


class LiveRecorders(_Model):
    """How the live recorders write (their number and limits are the scenario's pools)."""

    container: Literal["mp4", "mpegts"] = Field(
        default="mp4", description="Segment file format (stream copy either way)."
    )
    reconnect_max_s: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description="Longest pause between reconnection attempts, s (at most an hour).",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_limits_here(cls, data: Any) -> Any:
        if isinstance(data, dict):
            old = [k for k in ("count", "max_streams", "ingest_mbps") if k in data]
            if old:
                raise ValueError(
                    f"live.recorders.{old[0]} is gone: the live run records with the scenario's "
                    f"own recorders (every recorder of recorders.pools, named <pool>-rNN, with "
                    f"the pool's max_streams and ingest_mbps), so both engines run one "
                    f"deployment; set recorders.pools[].recorders / max_streams / ingest_mbps "
                    f"instead and remove live.recorders.{', live.recorders.'.join(old)}"
                )
        return data


class LiveAnalyser(_Model):
    """The analyser actor: keyframe decoding, motion, people/vehicles, incidents."""

    enabled: bool = True
    cameras: int | None = Field(
        default=None, ge=1, le=100_000, description="Analyse the first N cameras (None: all)."
    )
    width: int = Field(
        default=640, ge=64, le=3840, description="Frames are scaled to this width (at most 3,840)."
    )
    min_interval_s: float = Field(
        default=0.9,
        ge=0,
        le=3600,
        description="Analyse at most one keyframe per camera this often (at most an hour).",
    )
    actors: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Analyser actors (a pool; at most 64, each is a process).",
    )
    cpu_per_actor: float | None = Field(
        default=None,
        gt=0,
        le=256,
        description="Cores each analyser actor may use (None: no admission, every camera is "
        "analysed however late). With it, each actor measures what a frame costs it when it "
        "starts and takes cameras while their frames fit in max_util_pct of these cores; the "
        "rest are reported as not analysed (at most 256).",
    )
    max_util_pct: float = Field(
        default=80.0,
        gt=0,
        lt=100,
        description="Admit cameras to an analyser up to this share of its "
        "cores (below 100: a queue at 100 % grows without bound).",
    )

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


#: Fields of the old `live:` section that are now the deployment's, with the fix for each.
_MOVED: dict[str, str] = {
    "drills": "live.drills is gone: a live run carries out the scenario's own `faults:` (the "
    "simulation's vocabulary, times in seconds from the start of recording); write "
    "`kill_recorder` as `{type: recorder_crash, recorder: <pool>-r01, at_s: 60, "
    "duration_s: 30}` and `restart_mediamtx` as `{type: relay_down, relay: city, "
    "at_s: 100, duration_s: 1}` under the top-level `faults:`",
    "segment_s": "live.segment_s is gone: both engines cut segments of recording.segment_s "
    "(whole seconds); move the value there and remove live.segment_s",
    "retention_s": "live.retention_s is gone: both engines keep footage recording.retention_days "
    "divided by live.time_compression; set live.time_compression to "
    "retention_days x 86,400 / the seconds wanted and remove live.retention_s",
    "sweep_interval_s": "live.sweep_interval_s is gone: both engines sweep every "
    "recording.sweep_interval_s (whole seconds, a multiple of "
    "simulation.tick_s); move the value there",
    "sweep_batch_segments": "live.sweep_batch_segments is gone: both engines use "
    "recording.sweep_batch_segments; move the value there",
    "profile": "live.profile is gone: resolution, fps and bitrate are the scenario's camera "
    "profile (camera_profiles[0]); keyframe_s, clip_s, scenes, collision_at_s, "
    "people, vehicles and night_depth move to live.clip",
}


class LiveSettings(_Model):
    """How `twin live` runs this scenario on the wall clock (see twin/live/run.py).

    The deployment (cameras and their profile, segment length, recorders and their limits,
    retention, faults) is the scenario's own, shared with `twin simulate`; only how to run it
    live is here.
    """

    duration_s: float = Field(
        default=150.0,
        gt=0,
        le=MAX_LIVE_S,
        description="Recording time, seconds (at most a day: a live run "
        "is a trial on one machine, not an operation). `twin simulate` of "
        "this scenario simulates the same time.",
    )
    time_compression: float = Field(
        default=1.0,
        ge=1,
        le=10_000_000,
        description="recording.retention_days is divided by this factor in both engines (at "
        "most 10^7): a 30-day rule at 43,200 keeps footage 60 s.",
    )
    heartbeat_interval_s: float = Field(
        default=0.5,
        ge=0.1,
        le=60,
        description="Recorders beat this often, s (0.1 s to a "
        "minute); the simulation of this scenario beats the same.",
    )
    heartbeat_timeout_s: float = Field(
        default=2.0,
        gt=0,
        le=600,
        description="A recorder silent this long is declared lost (a whole number of beats; at "
        "most 10 minutes).",
    )
    startup_timeout_s: float = Field(
        default=60.0, gt=0, le=3600, description="Longest wait for the actors and server, s."
    )
    publisher_actors: int | None = Field(
        default=None,
        ge=1,
        le=10_000,
        description="Most camera-set actors; sets share actors round-robin "
        "beyond it (None: one actor per set). Each actor costs ~84 MB and ~1 % of a core idle.",
    )
    clip: LiveClip = Field(default_factory=LiveClip)
    recorders: LiveRecorders = Field(default_factory=LiveRecorders)
    analyser: LiveAnalyser = Field(default_factory=LiveAnalyser)
    mediamtx: MediaMTXChoice = Field(default_factory=ManagedMediaMTX)

    @model_validator(mode="before")
    @classmethod
    def _moved_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, fix in _MOVED.items():
                if key in data:
                    raise ValueError(fix)
        return data

    @model_validator(mode="after")
    def _checks(self) -> LiveSettings:
        c = self.clip
        if c.collision_at_s is not None and not 0 < c.collision_at_s < c.clip_s:
            raise ValueError(
                f"live.clip.collision_at_s ({c.collision_at_s}) must be inside the clip "
                f"(0, {c.clip_s})"
            )
        if self.heartbeat_timeout_s <= self.heartbeat_interval_s:
            raise ValueError(
                f"live.heartbeat_timeout_s ({self.heartbeat_timeout_s}) must be longer than "
                f"live.heartbeat_interval_s ({self.heartbeat_interval_s})"
            )
        beats = self.heartbeat_timeout_s / self.heartbeat_interval_s
        if abs(beats - round(beats)) > 1e-6:
            raise ValueError(
                f"live.heartbeat_timeout_s ({self.heartbeat_timeout_s}) must be a whole number "
                f"of live.heartbeat_interval_s ({self.heartbeat_interval_s}): the simulation of "
                f"this scenario declares a recorder lost after that many missed beats"
            )
        return self

    @property
    def missed_beats(self) -> int:
        return max(1, round(self.heartbeat_timeout_s / self.heartbeat_interval_s))

    def retention_for(self, retention_days: float) -> float:
        """Retention of this scenario's runs (both engines), seconds."""
        return retention_days * 86_400.0 / self.time_compression
