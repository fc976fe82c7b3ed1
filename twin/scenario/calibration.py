"""Calibration files: simulator parameters measured by live runs (`twin calibrate`).

A scenario may name one (`calibration: calibration/trial-15.json`, relative to the scenario
file). The simulator then uses what it models of it: the bytes a camera really writes per
nominal Mbps (per profile, or `*` for every other profile) scale the footage on disk;
`failover_reassign_s` replaces `failover.reassign_s`, `failover_reconnect_s_per_camera` the
reconnection term of a failover (the k-th camera moved onto one recorder records again k times
that after the reassignment), `relay_recovery_s` the time a killed relay takes to serve again,
`power_reconnect_s` the time a camera whose power came back takes to be recorded again,
and `recorder_fragment_s` what a crashed recorder keeps of its segment under way (up to its
last fragment). The other values (segment length as cut, detection, CPU per stream of a
recorder and of a relay, streams per core, analyser CPU per frame) are recorded for the people
sizing the city; the simulator has no CPU model, and says so. Each value is marked `measured`
(with the command that measured it) or `assumed` (with why); a value fitted over several runs
carries its `spread`.

This module is schema only: no engine, no clock; it reads the one file it is given.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from twin.errors import ScenarioError

__all__ = [
    "CALIBRATION_SCHEMA",
    "NOMINAL_BYTES_PER_MBPS",
    "CalibratedValue",
    "CalibrationRun",
    "Calibration",
    "Spread",
    "LoadedCalibration",
    "load_calibration",
]

CALIBRATION_SCHEMA: Literal["cctv-twin/calibration"] = "cctv-twin/calibration"
NOMINAL_BYTES_PER_MBPS = 1e6 / 8  # bytes a second one nominal Mbps is, exactly


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Spread(_Model):
    """How far the samples behind a fitted value spread: their number, range and standard
    deviation (of the samples, or of a fit's residuals)."""

    n: int = Field(ge=1, description="Samples the value rests on.")
    min: float
    max: float
    sd: float = Field(ge=0, description="Standard deviation of the samples (or residuals).")


class CalibratedValue(_Model):
    value: float
    unit: str
    source: Literal["measured", "assumed"]
    command: str = Field(default="", description="The command that measured it (measured).")
    note: str = Field(default="", description="What it rests on, or why it is assumed.")
    used_by_simulator: bool = Field(
        default=False, description="Whether `twin simulate` applies it (else it is for sizing)."
    )
    spread: Spread | None = Field(
        default=None, description="The samples behind it, when it rests on more than one."
    )


class CalibrationRun(_Model):
    scenario: str
    scenario_sha256: str
    started_at: str
    horizon_s: float
    cameras: int
    recorders: int


class Calibration(_Model):
    schema_name: Literal["cctv-twin/calibration"] = CALIBRATION_SCHEMA
    version: Literal[1] = 1
    measured_on: list[CalibrationRun] = Field(default_factory=list)
    bytes_per_nominal_mbps: dict[str, CalibratedValue] = Field(
        default_factory=dict,
        description="Per camera profile (or '*' for every other profile): footage bytes on disk "
        "per second per nominal Mbps (125,000 is exactly the nominal rate).",
    )
    segment_s_as_cut: CalibratedValue | None = None
    failover_detect_s: CalibratedValue | None = None
    failover_reassign_s: CalibratedValue | None = None
    failover_reconnect_s_per_camera: CalibratedValue | None = None
    relay_recovery_s: CalibratedValue | None = None
    power_reconnect_s: CalibratedValue | None = None
    recorder_fragment_s: CalibratedValue | None = None
    recorder_cpu_pct_per_stream: CalibratedValue | None = None
    recorder_cpu_pct_per_mbps: CalibratedValue | None = None
    recorder_streams_per_core: CalibratedValue | None = None
    recorder_mbps_per_core: CalibratedValue | None = None
    relay_cpu_pct_per_stream: CalibratedValue | None = None
    relay_streams_per_core: CalibratedValue | None = None
    relay_mbps_per_core: CalibratedValue | None = None
    analyser_cpu_ms_per_frame: CalibratedValue | None = None

    def storage_factor(self, profile: str) -> float:
        """Footage on disk per nominal byte for a camera profile (1.0 if not calibrated)."""
        v = self.bytes_per_nominal_mbps.get(profile) or self.bytes_per_nominal_mbps.get("*")
        return 1.0 if v is None else v.value / NOMINAL_BYTES_PER_MBPS


@dataclass(frozen=True, slots=True)
class LoadedCalibration:
    path: str  # as the scenario names it, relative to the scenario file
    sha256: str
    calibration: Calibration


def load_calibration(path: Path, named: str, where: str) -> LoadedCalibration:
    """Read a calibration file; errors name `where` (the scenario file and field) and the fix."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(
            f"{where}: calibration: {named}: cannot read {path} ({exc.strerror}); expected a file "
            f"written by `twin calibrate LIVE_RUN --out FILE`, relative to the scenario file"
        ) from None
    try:
        cal = Calibration.model_validate(json.loads(data))
    except (ValueError, ValidationError) as exc:
        first = str(exc).splitlines()[:3]
        raise ScenarioError(
            f"{where}: calibration: {named}: not a cctv-twin calibration ({' '.join(first)}); "
            f"expected the JSON `twin calibrate` writes (schema_name {CALIBRATION_SCHEMA!r})"
        ) from None
    return LoadedCalibration(named, hashlib.sha256(data).hexdigest(), cal)
