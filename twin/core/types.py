"""Value objects shared by the core modules and their adapters."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SegmentRef", "Interval"]


@dataclass(frozen=True, slots=True)
class Interval:
    """A half-open time interval [start_s, end_s) in seconds on the scenario clock."""

    start_s: float
    end_s: float

    def __post_init__(self) -> None:
        if not self.end_s >= self.start_s:
            raise ValueError(f"interval end ({self.end_s}) must be >= its start ({self.start_s})")

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class SegmentRef:
    """One recorded segment as the catalog knows it.

    `key` identifies the segment in its store: a file path relative to the recorder's root in
    the live twin, a synthetic name in the simulation. `sha256` is filled in by the adapter that
    read the bytes (the core never reads files); it may be empty where nobody hashed it yet.
    """

    camera: str
    start_s: float
    end_s: float
    bytes: int
    key: str
    recorder: str = ""
    sha256: str = ""
