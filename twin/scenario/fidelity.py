"""The `fidelity:` section of a scenario: how close a live run and its simulation must be.

A fidelity metric is measured the same way from a live run's and a simulated run's
results.json (twin.compare.fidelity computes each); the names here are the registry a
scenario's `fidelity:` targets are checked against, with no engine imported. A family ending
in `.<fault kind>` (e.g. `recovery_s.recorder_crash`) is one value per kind of fault the
scenario scripts; a family judged per recorder (`per_recorder`) has one row per recorder, and
a target on it holds for every row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from twin.scenario.numbers import refuse_non_numbers
from twin.suggest import near_note

__all__ = [
    "FidelityMetric",
    "FIDELITY_METRICS",
    "FidelityTarget",
    "fidelity_family",
    "check_fidelity_names",
]

FAULT_KINDS = ("recorder_crash", "relay_down", "set_power", "district_power")


@dataclass(frozen=True, slots=True)
class FidelityMetric:
    unit: str
    description: str
    per_recorder: bool = False
    per_fault_kind: bool = False


FIDELITY_METRICS: dict[str, FidelityMetric] = {
    "stored_bytes_per_camera_hour": FidelityMetric(
        "B", "footage bytes written per camera-hour recorded (encoder rate and container)"
    ),
    "ingest_mbps_per_camera": FidelityMetric(
        "Mbps", "footage written per camera over the whole run, gaps included"
    ),
    "ingest_mbps_per_recorder": FidelityMetric(
        "Mbps", "footage written by each recorder over the whole run", per_recorder=True
    ),
    "cameras_placed": FidelityMetric(
        "cameras", "cameras each recorder was given at the start of recording", per_recorder=True
    ),
    "segments_written": FidelityMetric("segments", "segments written, all cameras"),
    "segments_deleted": FidelityMetric("segments", "segments deleted by retention"),
    "retention_max_age_s": FidelityMetric("s", "oldest unheld footage on disk before a sweep"),
    "camera_s_unrecorded": FidelityMetric(
        "camera-s", "camera-seconds not recorded, start-up and faults included"
    ),
    "failover_detect_s": FidelityMetric(
        "s", "a fault to its detection by the heartbeats (recorder faults)", per_fault_kind=True
    ),
    "recovery_s": FidelityMetric(
        "s", "a fault to the last camera it stopped recording again", per_fault_kind=True
    ),
    "footage_lost_s_per_camera": FidelityMetric(
        "s", "camera-seconds a fault cost, per camera it hit", per_fault_kind=True
    ),
}


def fidelity_family(name: str) -> str:
    """`recovery_s.recorder_crash` -> `recovery_s`; `ingest_mbps_per_recorder[r01]` -> ..."""
    return name.split("[", 1)[0].split(".", 1)[0]


class FidelityTarget(BaseModel):
    """How far a simulated value may be from the live one: relative (%, of the live value)
    and/or absolute (in the metric's unit)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    max_pct: float | None = Field(
        default=None,
        ge=0,
        le=1000,
        description="Largest |simulate - live| / |live|, percent (0 to 1,000).",
    )
    max_abs: float | None = Field(
        default=None, ge=0, le=1e15, description="Largest |simulate - live|, in the metric's unit."
    )

    @model_validator(mode="before")
    @classmethod
    def _numbers_are_numbers(cls, data: Any) -> Any:
        return refuse_non_numbers(cls, data)

    @model_validator(mode="after")
    def _one_side(self) -> FidelityTarget:
        if self.max_pct is None and self.max_abs is None:
            raise ValueError("a fidelity target needs max_pct or max_abs (or both)")
        return self


def check_fidelity_names(targets: dict[str, FidelityTarget]) -> None:
    """Each target names a fidelity metric (and a fault kind where the family has them)."""
    for name in targets:
        fam, _, kind = name.partition(".")
        info = FIDELITY_METRICS.get(fam)
        if info is None or "[" in name:
            raise ValueError(
                f"fidelity.{name}: not a fidelity metric{near_note(fam, FIDELITY_METRICS)}; "
                f"expected one of "
                f"{sorted(FIDELITY_METRICS)} (per fault kind: <name>.<kind>, e.g. "
                f"recovery_s.recorder_crash)"
            )
        if info.per_fault_kind and kind not in FAULT_KINDS:
            raise ValueError(
                f"fidelity.{name}: {fam} is judged per kind of fault"
                f"{near_note(kind, FAULT_KINDS) if kind else ''}; expected "
                f"{fam}.<kind> with kind one of {list(FAULT_KINDS)}"
            )
        if not info.per_fault_kind and kind:
            raise ValueError(f"fidelity.{name}: {fam} has no kinds; expected plain {fam}")
