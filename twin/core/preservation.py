"""Evidence preservation, planning: which segments a case copies, and what is gone already.

A `PreservationRequest` names a case, cameras and a window [t0, t1). The catalog (someone
else's module) hands over its segments for that window; `plan_preservation` decides, without
I/O, which segments to copy (every segment overlapping the window, sorted by camera then
start; whole segments, since copies are stream copies and are never trimmed) and, per camera,
exactly which parts of the window are not there any more: the window minus the union of the
segments' spans. Covered and missing intervals partition the window exactly.

Errors: `CatalogError` for catalog input that contradicts itself (duplicate keys, a segment
ending before it starts); ValueError for a malformed request. The case that follows a plan
is core/cases.py, its manifest core/manifest.py, the locker that keeps it core/evidence.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from twin.core.types import Interval, SegmentRef
from twin.errors import CatalogError

__all__ = [
    "PreservationRequest",
    "CameraCoverage",
    "PreservationPlan",
    "plan_preservation",
    "merge_intervals",
    "segment_order",
]


@dataclass(frozen=True, slots=True)
class PreservationRequest:
    """Preserve the footage of `cameras` over `window` [t0, t1) for `case_id`, as asked by
    `requested_by` (an officer id) at `requested_at_s`. Cameras are kept sorted and unique.
    The window must have ended by the time of the request: footage not yet recorded cannot be
    planned."""

    case_id: str
    cameras: tuple[str, ...]
    window: Interval
    requested_at_s: float
    requested_by: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "cameras", tuple(sorted(set(self.cameras))))
        if not self.cameras:
            raise ValueError(f"preservation request for case {self.case_id!r} names no cameras")
        if not self.window.duration_s > 0:
            raise ValueError(
                f"preservation window {self.window} for case {self.case_id!r} is empty: "
                "give end_s > start_s"
            )
        if self.window.end_s > self.requested_at_s:
            raise ValueError(
                f"preservation window {self.window} for case {self.case_id!r} ends after the "
                f"request at {self.requested_at_s}: footage not yet recorded cannot be "
                "planned; request it again once it has been recorded"
            )


@dataclass(frozen=True, slots=True)
class CameraCoverage:
    """For one camera: the parts of the window the catalog still holds and the parts that
    are gone. Both are merged, sorted, and together exactly the window."""

    camera: str
    covered: tuple[Interval, ...]
    missing: tuple[Interval, ...]

    @property
    def available_s(self) -> float:
        return math.fsum(i.duration_s for i in self.covered)

    @property
    def lost_s(self) -> float:
        return math.fsum(i.duration_s for i in self.missing)


@dataclass(frozen=True, slots=True)
class PreservationPlan:
    """What `plan_preservation` decided: the segments to copy, coverage per requested camera
    (sorted by camera), and totals. `bytes_to_copy` counts whole segments, including their
    parts outside the window."""

    request: PreservationRequest
    segments: tuple[SegmentRef, ...]
    coverage: tuple[CameraCoverage, ...]
    requested_s: float
    available_s: float
    lost_s: float
    bytes_to_copy: int

    @property
    def complete(self) -> bool:
        """True when no part of the window is missing on any camera."""
        return all(not c.missing for c in self.coverage)

    def missing(self) -> tuple[tuple[str, Interval], ...]:
        """Every (camera, interval) that is gone, by camera then start."""
        return tuple((c.camera, i) for c in self.coverage for i in c.missing)


def merge_intervals(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    """Sorted union of `intervals`; overlapping and touching ones are merged, empty ones
    dropped."""
    merged: list[Interval] = []
    for iv in sorted(intervals, key=lambda i: (i.start_s, i.end_s)):
        if iv.end_s <= iv.start_s:
            continue
        if merged and iv.start_s <= merged[-1].end_s:
            if iv.end_s > merged[-1].end_s:
                merged[-1] = Interval(merged[-1].start_s, iv.end_s)
        else:
            merged.append(iv)
    return tuple(merged)


def segment_order(seg: SegmentRef) -> tuple[str, float, float, str]:
    return (seg.camera, seg.start_s, seg.end_s, seg.key)


def plan_preservation(
    request: PreservationRequest, segments: Iterable[SegmentRef]
) -> PreservationPlan:
    """Plan the copy of `request`'s footage from the catalog's `segments`.

    Segments of other cameras, or not overlapping the window by a positive length, are
    ignored. Raises CatalogError if two segments share a key or a segment ends before it
    starts (the catalog contradicts itself; fix the catalog).
    """
    t0, t1 = request.window.start_s, request.window.end_s
    wanted = set(request.cameras)
    seen: set[str] = set()
    chosen: list[SegmentRef] = []
    for seg in segments:
        if seg.key in seen:
            raise CatalogError(
                f"segment key {seg.key!r} was handed over twice for case {request.case_id!r}: "
                "the catalog must list each segment once"
            )
        seen.add(seg.key)
        if seg.end_s < seg.start_s:
            raise CatalogError(
                f"segment {seg.key!r} ends at {seg.end_s}, before its start {seg.start_s}: "
                "fix the catalog entry"
            )
        if seg.camera in wanted and max(seg.start_s, t0) < min(seg.end_s, t1):
            chosen.append(seg)
    chosen.sort(key=segment_order)

    spans: dict[str, list[Interval]] = {cam: [] for cam in request.cameras}
    for seg in chosen:
        spans[seg.camera].append(Interval(max(seg.start_s, t0), min(seg.end_s, t1)))
    coverage: list[CameraCoverage] = []
    for cam in request.cameras:
        covered = merge_intervals(spans[cam])
        missing: list[Interval] = []
        cursor = t0
        for iv in covered:
            if iv.start_s > cursor:
                missing.append(Interval(cursor, iv.start_s))
            cursor = iv.end_s
        if cursor < t1:
            missing.append(Interval(cursor, t1))
        coverage.append(CameraCoverage(cam, covered, tuple(missing)))
    return PreservationPlan(
        request=request,
        segments=tuple(chosen),
        coverage=tuple(coverage),
        requested_s=float(request.window.duration_s * len(request.cameras)),
        available_s=math.fsum(c.available_s for c in coverage),
        lost_s=math.fsum(c.lost_s for c in coverage),
        bytes_to_copy=sum(seg.bytes for seg in chosen),
    )
