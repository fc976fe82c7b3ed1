"""Evidence preservation: copy a case's footage out of the 30-day cycle, and prove the copy.

Theory of operation
-------------------
A `PreservationRequest` names a case, cameras and a window [t0, t1). The catalog (someone
else's module) hands over its segments for that window; `plan_preservation` decides, without
I/O, which segments to copy (every segment overlapping the window, sorted by camera then
start; whole segments, since copies are stream copies and are never trimmed) and, per camera,
exactly which parts of the window are not there any more: the window minus the union of the
segments' spans. Covered and missing intervals partition the window exactly.

An `EvidenceLocker` tracks each case through `CASE_TRANSITIONS`:

    open  --copy (some)-->  open          open  --release-->  released  --purge-->  purged
    open  --copy (last)-->  preserved     preserved  --release-->  released

While a case is open, `holds()` lists the spans (camera, Interval) of the segments still to
be copied: the catalog must not delete a segment overlapping a hold, so retention cannot
race the copy. The catalog takes holds by id; `hold_changes(catalog.holds)` says which holds
to place and which to release so that the catalog holds exactly what the locker wants.
Once a segment's copy is marked (with the copy's SHA-256 and its evidence key), its hold is
lifted and the original goes on its normal 30-day way; the copy is kept until the case is
released and its copies purged. When the last copy is marked, the case gets a
manifest (`build_manifest`): a canonical JSON-able dict listing every file with its hash and
the missing intervals, sealed by a hash over its content; `verify_manifest` checks a set of
stored files against it.

The locker has no clock and does no I/O: `release` returns the evidence keys the adapter may
now delete, and `mark_purged` records that it did. Every step is on the audit trail.

Errors: `EvidenceError` for a step inconsistent with the cases (unknown or closed case, a copy
not in the plan, a copy whose hash disagrees with the source); `CatalogError` for catalog input
that contradicts itself (duplicate keys, a segment ending before it starts); ValueError for a
malformed request.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from twin.core.audit import AuditKind, AuditTrail, canonical_json
from twin.core.types import Interval, SegmentRef
from twin.errors import CatalogError, EvidenceError

__all__ = [
    "MANIFEST_FORMAT",
    "HOLD_PREFIX",
    "PreservationRequest",
    "CameraCoverage",
    "PreservationPlan",
    "plan_preservation",
    "merge_intervals",
    "EvidenceCopy",
    "build_manifest",
    "ManifestCheck",
    "verify_manifest",
    "CaseState",
    "CaseEvent",
    "CASE_TRANSITIONS",
    "EvidenceCase",
    "EvidenceLocker",
]

MANIFEST_FORMAT = "cctv-twin/evidence-manifest/1"
HOLD_PREFIX = "evidence:"
"""Prefix of the catalog hold ids the locker owns (see `EvidenceLocker.hold_changes`)."""
_HEX64 = re.compile(r"[0-9a-f]{64}")


# -- planning ----------------------------------------------------------------------------------


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


def _segment_order(seg: SegmentRef) -> tuple[str, float, float, str]:
    return (seg.camera, seg.start_s, seg.end_s, seg.key)


def plan_preservation(request: PreservationRequest, segments: Iterable[SegmentRef]) -> PreservationPlan:
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
    chosen.sort(key=_segment_order)

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


# -- manifests ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EvidenceCopy:
    """One evidence copy: the source segment, the SHA-256 of the copy's bytes (as the adapter
    read them back) and where the copy is kept."""

    segment: SegmentRef
    sha256: str
    evidence_key: str
    copied_at_s: float = 0.0


def _check_copy(case_id: str, seg: SegmentRef, sha256: str, evidence_key: str) -> None:
    if not _HEX64.fullmatch(sha256):
        raise EvidenceError(
            f"the copy of segment {seg.key!r} for case {case_id!r} has sha256 {sha256!r}: "
            "expected 64 lowercase hex digits, as from hashlib.sha256(data).hexdigest()"
        )
    if seg.sha256 and seg.sha256 != sha256:
        raise EvidenceError(
            f"the copy {evidence_key!r} of segment {seg.key!r} for case {case_id!r} hashes to "
            f"{sha256[:16]}... but the source was recorded as {seg.sha256[:16]}...: the copy is "
            "corrupt; copy the segment again and mark the new copy"
        )
    if not evidence_key:
        raise EvidenceError(f"the copy of segment {seg.key!r} for case {case_id!r} has no evidence key")


def build_manifest(
    case_id: str,
    copies: Iterable[tuple[SegmentRef, str, str]],
    *,
    missing: Iterable[tuple[str, Interval]] = (),
) -> dict[str, Any]:
    """A deterministic manifest of a case's evidence copies.

    `copies` are (source segment, SHA-256 of the copy, evidence key); `missing` the
    (camera, interval) parts of the request that were already gone. Files are listed by
    camera, start, end, source key. `manifest_sha256` is the SHA-256 of the canonical JSON of
    every other field, so any edit to the manifest shows. Raises EvidenceError for a malformed
    hash, a copy whose hash disagrees with the source's recorded hash, or a repeated key.
    """
    files: list[dict[str, Any]] = []
    source_keys: set[str] = set()
    evidence_keys: set[str] = set()
    for seg, sha256, evidence_key in sorted(copies, key=lambda c: _segment_order(c[0])):
        _check_copy(case_id, seg, sha256, evidence_key)
        for key, seen, what in (
            (seg.key, source_keys, "segment"),
            (evidence_key, evidence_keys, "evidence key"),
        ):
            if key in seen:
                raise EvidenceError(
                    f"{what} {key!r} appears twice in the manifest of case {case_id!r}: "
                    "list each copy once, each under its own evidence key"
                )
            seen.add(key)
        files.append(
            {
                "camera": seg.camera,
                "start_s": float(seg.start_s),
                "end_s": float(seg.end_s),
                "bytes": seg.bytes,
                "source_key": seg.key,
                "recorder": seg.recorder,
                "sha256": sha256,
                "evidence_key": evidence_key,
            }
        )
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "case_id": case_id,
        "files": files,
        "file_count": len(files),
        "total_bytes": sum(f["bytes"] for f in files),
        "missing": [
            {"camera": cam, "start_s": float(iv.start_s), "end_s": float(iv.end_s)}
            for cam, iv in sorted(missing, key=lambda m: (m[0], m[1].start_s, m[1].end_s))
        ],
    }
    manifest["manifest_sha256"] = _manifest_hash(manifest)
    return manifest


def _manifest_hash(manifest: Mapping[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(canonical_json(body).encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class ManifestCheck:
    """What `verify_manifest` found. `ok` means the manifest is unchanged and every file it
    lists is present with its recorded hash; `unexpected` files (present, not listed) are
    reported but do not make it fail."""

    manifest_intact: bool
    missing: tuple[str, ...]
    mismatched: tuple[tuple[str, str, str], ...]  # (evidence key, expected, found)
    unexpected: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.manifest_intact and not self.missing and not self.mismatched


def verify_manifest(manifest: Mapping[str, Any], hashes_by_key: Mapping[str, str]) -> ManifestCheck:
    """Check stored evidence files (their SHA-256 by evidence key, as the adapter computed
    them) against `manifest`. Raises EvidenceError only if the manifest is not a manifest."""
    files = manifest.get("files")
    if manifest.get("format") != MANIFEST_FORMAT or not isinstance(files, list):
        raise EvidenceError(
            f"not an evidence manifest: expected format {MANIFEST_FORMAT!r} with a 'files' list, "
            f"got format {manifest.get('format')!r}"
        )
    try:
        intact = _manifest_hash(manifest) == manifest.get("manifest_sha256")
    except ValueError:
        intact = False
    missing: list[str] = []
    mismatched: list[tuple[str, str, str]] = []
    listed: set[str] = set()
    for entry in files:
        if not isinstance(entry, Mapping) or not {"evidence_key", "sha256"} <= entry.keys():
            raise EvidenceError(f"manifest file entry {entry!r} lacks 'evidence_key' or 'sha256'")
        key, expected = str(entry["evidence_key"]), str(entry["sha256"])
        listed.add(key)
        found = hashes_by_key.get(key)
        if found is None:
            missing.append(key)
        elif found != expected:
            mismatched.append((key, expected, found))
    return ManifestCheck(
        manifest_intact=intact,
        missing=tuple(sorted(missing)),
        mismatched=tuple(sorted(mismatched)),
        unexpected=tuple(sorted(set(hashes_by_key) - listed)),
    )


# -- the locker --------------------------------------------------------------------------------


class CaseState(StrEnum):
    """Where a preservation case is: copies pending, all copied, closed, copies deleted."""

    OPEN = "open"
    PRESERVED = "preserved"
    RELEASED = "released"
    PURGED = "purged"


class CaseEvent(StrEnum):
    """What can happen to a case."""

    COPY = "copy"  # some copies marked, some still pending
    COMPLETE = "complete"  # the last pending copy marked
    RELEASE = "release"
    PURGE = "purge"


_C, _V = CaseState, CaseEvent
CASE_TRANSITIONS: Mapping[tuple[CaseState, CaseEvent], CaseState] = MappingProxyType(
    {
        (_C.OPEN, _V.COPY): _C.OPEN,
        (_C.OPEN, _V.COMPLETE): _C.PRESERVED,
        (_C.OPEN, _V.RELEASE): _C.RELEASED,
        (_C.PRESERVED, _V.RELEASE): _C.RELEASED,
        (_C.RELEASED, _V.PURGE): _C.PURGED,
    }
)
"""The whole case state machine: (state, event) -> next state."""


def _case_next(case_id: str, state: CaseState, event: CaseEvent) -> CaseState:
    try:
        return CASE_TRANSITIONS[(state, event)]
    except KeyError:
        raise EvidenceError(
            f"evidence case {case_id!r} is {state.value}, so it cannot {event.value}: allowed "
            f"from {state.value}: {[e.value for (s, e) in CASE_TRANSITIONS if s is state] or 'nothing'}"
        ) from None


@dataclass(frozen=True, slots=True)
class EvidenceCase:
    """A snapshot of one case. `manifest_json` is the canonical manifest once preserved
    (read it with `manifest`); `pending` are the planned segments not yet copied."""

    case_id: str
    state: CaseState
    plan: PreservationPlan
    opened_at_s: float
    copies: tuple[EvidenceCopy, ...]
    pending: tuple[SegmentRef, ...]
    bytes_held: int
    manifest_json: str = ""
    closed_at_s: float | None = None

    @property
    def manifest(self) -> dict[str, Any] | None:
        return json.loads(self.manifest_json) if self.manifest_json else None


class _Case:
    """Mutable bookkeeping behind an EvidenceCase snapshot."""

    __slots__ = ("plan", "state", "opened_at_s", "copies", "manifest_json", "closed_at_s", "bytes_held")

    def __init__(self, plan: PreservationPlan, now: float) -> None:
        self.plan = plan
        self.state = CaseState.OPEN
        self.opened_at_s = now
        self.copies: dict[str, EvidenceCopy] = {}  # by source key
        self.manifest_json = ""
        self.closed_at_s: float | None = None
        self.bytes_held = 0

    def pending(self) -> tuple[SegmentRef, ...]:
        return tuple(s for s in self.plan.segments if s.key not in self.copies)

    def snapshot(self, case_id: str) -> EvidenceCase:
        return EvidenceCase(
            case_id=case_id,
            state=self.state,
            plan=self.plan,
            opened_at_s=self.opened_at_s,
            copies=tuple(sorted(self.copies.values(), key=lambda c: _segment_order(c.segment))),
            pending=self.pending(),
            bytes_held=self.bytes_held,
            manifest_json=self.manifest_json,
            closed_at_s=self.closed_at_s,
        )


def _missing_json(plan: PreservationPlan) -> list[list[Any]]:
    return [[cam, float(iv.start_s), float(iv.end_s)] for cam, iv in plan.missing()]


class EvidenceLocker:
    """Tracks preservation cases by id, tells the catalog what it must hold, and audits
    every step. Times must not go backwards (the trail enforces it)."""

    __slots__ = ("trail", "_cases", "_evidence_keys", "_bytes_held", "_series", "_holds", "_case_holds")

    def __init__(self, trail: AuditTrail) -> None:
        self.trail = trail
        self._cases: dict[str, _Case] = {}  # in opening order
        self._evidence_keys: dict[str, str] = {}  # evidence key -> case id, until purged
        self._bytes_held = 0
        self._series: list[tuple[float, int]] = []
        self._holds: tuple[tuple[str, Interval], ...] | None = ()
        # Per open case, its holds by id; rebuilt only when that case changes (a city's run
        # asks for the holds after every request, over a thousand cases).
        self._case_holds: dict[str, dict[str, tuple[str, Interval]]] = {}

    # -- queries -----------------------------------------------------------------------------

    def case(self, case_id: str) -> EvidenceCase:
        """A snapshot of `case_id`; EvidenceError if there is no such case."""
        return self._get(case_id).snapshot(case_id)

    def cases(self) -> tuple[EvidenceCase, ...]:
        """Snapshots of every case, in the order they were opened."""
        return tuple(c.snapshot(cid) for cid, c in self._cases.items())

    def holds(self) -> tuple[tuple[str, Interval], ...]:
        """(camera, span) that the catalog must not delete from: the merged spans of every
        segment whose evidence copy is still pending, by camera then start. A catalog segment
        overlapping a hold is held."""
        if self._holds is None:
            spans: dict[str, list[Interval]] = {}
            for case in self._cases.values():
                if case.state is CaseState.OPEN:
                    for seg in case.pending():
                        spans.setdefault(seg.camera, []).append(Interval(seg.start_s, seg.end_s))
            self._holds = tuple(
                (cam, iv) for cam in sorted(spans) for iv in merge_intervals(spans[cam])
            )
        return self._holds

    def holds_by_id(self) -> dict[str, tuple[str, Interval]]:
        """The same spans as `holds()`, but per case and keyed by a hold id made from their
        content (`HOLD_PREFIX` + JSON of case, camera, start, end), by case (in opening order),
        camera, start. An unchanged hold keeps its id, so an adapter can reconcile the catalog
        with `hold_changes`."""
        wanted: dict[str, tuple[str, Interval]] = {}
        for cid, case in self._cases.items():
            if case.state is not CaseState.OPEN:
                continue
            mine = self._case_holds.get(cid)
            if mine is None:
                mine = {}
                spans: dict[str, list[Interval]] = {}
                for seg in case.pending():
                    spans.setdefault(seg.camera, []).append(Interval(seg.start_s, seg.end_s))
                for cam in sorted(spans):
                    for iv in merge_intervals(spans[cam]):
                        key = canonical_json([cid, cam, float(iv.start_s), float(iv.end_s)])
                        mine[HOLD_PREFIX + key] = (cam, iv)
                self._case_holds[cid] = mine
            wanted.update(mine)
        return wanted

    def hold_changes(
        self, current: Mapping[str, object]
    ) -> tuple[tuple[tuple[str, str, Interval], ...], tuple[str, ...]]:
        """What the catalog must do to hold exactly `holds_by_id()`: (holds to place as
        (hold id, camera, window) in `holds_by_id` order, hold ids to release, sorted). `current` is the
        catalog's holds by id (e.g. `RunCatalog.holds`); ids without `HOLD_PREFIX` belong to
        someone else and are left alone. Place before releasing, so nothing is ever unheld."""
        wanted = self.holds_by_id()
        place = tuple((hid, cam, iv) for hid, (cam, iv) in wanted.items() if hid not in current)
        release = tuple(sorted(h for h in current if h.startswith(HOLD_PREFIX) and h not in wanted))
        return place, release

    def bytes_held(self) -> int:
        """Bytes of evidence copies made and not yet purged."""
        return self._bytes_held

    def bytes_held_series(self) -> tuple[tuple[float, int], ...]:
        """(at_s, bytes held from then on) at every change, in time order; one point per time."""
        return tuple(self._series)

    # -- transitions -------------------------------------------------------------------------

    def open_case(self, plan: PreservationPlan, now: float,
                  extra: Mapping[str, Any] | None = None) -> EvidenceCase:
        """Open a case for `plan` at `now`; its pending segments are held from now on. A plan
        with nothing to copy (everything already gone) is preserved at once, with a manifest
        that lists only what is missing. Audited as PRESERVATION by the requester, with
        `extra` details added after the plan's own."""
        request = plan.request
        cid = request.case_id
        if cid in self._cases:
            raise EvidenceError(
                f"evidence case {cid!r} is already open (state {self._cases[cid].state.value}): "
                "give the new preservation its own case id"
            )
        case = _Case(plan, now)
        # Audit first, then change state, throughout: if the trail refuses an entry (a time
        # going backwards), the locker is left as it was, so no step goes unaudited.
        self.trail.append(
            now,
            AuditKind.PRESERVATION,
            request.requested_by,
            cid,
            {
                "cameras": list(request.cameras),
                "window": [float(request.window.start_s), float(request.window.end_s)],
                "requested_at_s": float(request.requested_at_s),
                "segments": len(plan.segments),
                "bytes_to_copy": plan.bytes_to_copy,
                "requested_s": plan.requested_s,
                "available_s": plan.available_s,
                "lost_s": plan.lost_s,
                "missing": _missing_json(plan),
                **(extra or {}),  # an adapter's own facts (e.g. the live plan file's hash)
            },
        )
        self._cases[cid] = case
        self._holds = None
        self._case_holds.pop(cid, None)
        if not plan.segments:
            self._complete(cid, case, now, request.requested_by)
        return case.snapshot(cid)

    def mark_copied(
        self,
        case_id: str,
        copies: Iterable[tuple[SegmentRef, str, str]],
        now: float,
        *,
        actor: str,
    ) -> EvidenceCase:
        """Record evidence copies made for an open case: (source segment, SHA-256 of the copy,
        evidence key). Their holds are lifted. When no copy is pending any more, the case is
        preserved and gets its manifest.

        The whole batch is checked before anything changes; EvidenceError if the case is not
        open, a segment is not in its plan, a hash is malformed or disagrees with the source's
        recorded hash, or an evidence key is already used. Marking the same copy again (same
        hash, same key) is accepted and counted as a repeat in the audit entry.
        """
        case = self._get(case_id)
        _case_next(case_id, case.state, CaseEvent.COPY)  # a closed case takes no copies
        planned = {s.key: s for s in case.plan.segments}
        new: list[EvidenceCopy] = []
        new_keys: set[str] = set()
        repeats = 0
        for seg, sha256, evidence_key in copies:
            source = planned.get(seg.key)
            if source is None or (source.camera, source.start_s, source.end_s) != (
                seg.camera,
                seg.start_s,
                seg.end_s,
            ):
                raise EvidenceError(
                    f"segment {seg.key!r} is not in the plan of case {case_id!r}: copy only "
                    "the plan's segments (case.plan.segments)"
                )
            _check_copy(case_id, source, sha256, evidence_key)
            _check_copy(case_id, seg, sha256, evidence_key)
            done = case.copies.get(seg.key)
            if done is not None:
                if (done.sha256, done.evidence_key) == (sha256, evidence_key):
                    repeats += 1
                    continue
                raise EvidenceError(
                    f"segment {seg.key!r} of case {case_id!r} was already copied to "
                    f"{done.evidence_key!r} (sha256 {done.sha256[:16]}...): a copy is marked once"
                )
            owner = self._evidence_keys.get(evidence_key)
            if owner is not None or evidence_key in new_keys:
                raise EvidenceError(
                    f"evidence key {evidence_key!r} is already used (by case "
                    f"{owner or case_id!r}): give every copy its own key"
                )
            new_keys.add(evidence_key)
            new.append(EvidenceCopy(source, sha256, evidence_key, now))

        if new:
            self.trail.record_segment_batch(
                now,
                AuditKind.COPY,
                actor,
                (c.segment for c in new),
                subject=case_id,
                repeats=repeats,
                pending=len(planned) - len(case.copies) - len(new),
            )
        elif repeats:
            self.trail.append(now, AuditKind.COPY, actor, case_id, {"count": 0, "repeats": repeats})
        for copy in new:
            case.copies[copy.segment.key] = copy
            self._evidence_keys[copy.evidence_key] = case_id
            case.bytes_held += copy.segment.bytes
        if new:
            self._holds = None
            self._case_holds.pop(case_id, None)
            self._bytes_changed(now, sum(c.segment.bytes for c in new))
            if len(case.copies) == len(planned):
                self._complete(case_id, case, now, actor)
        return case.snapshot(case_id)

    def release(self, case_id: str, now: float, *, actor: str, reason: str) -> tuple[str, ...]:
        """Close a case: its holds are dropped and its evidence copies may be deleted. Returns
        their evidence keys (sorted) for the adapter to delete, then `mark_purged`."""
        case = self._get(case_id)
        state = _case_next(case_id, case.state, CaseEvent.RELEASE)
        keys = tuple(sorted(c.evidence_key for c in case.copies.values()))
        self.trail.append(
            now,
            AuditKind.RELEASE,
            actor,
            case_id,
            {
                "reason": reason,
                "copies": len(keys),
                "bytes": case.bytes_held,
                "pending_abandoned": len(case.pending()),
            },
        )
        case.state = state
        case.closed_at_s = now
        self._holds = None
        self._case_holds.pop(case_id, None)
        return keys

    def mark_purged(self, case_id: str, now: float, *, actor: str) -> EvidenceCase:
        """Record that a released case's evidence copies were deleted (one DELETION entry)."""
        case = self._get(case_id)
        state = _case_next(case_id, case.state, CaseEvent.PURGE)
        if case.copies:
            self.trail.record_segment_batch(
                now,
                AuditKind.DELETION,
                actor,
                (c.segment for c in case.copies.values()),
                subject=case_id,
                what="evidence copies",
            )
        else:
            details = {"what": "evidence copies", "count": 0, "bytes": 0}
            self.trail.append(now, AuditKind.DELETION, actor, case_id, details)
        case.state = state
        freed = case.bytes_held
        for copy in case.copies.values():
            self._evidence_keys.pop(copy.evidence_key, None)
        case.bytes_held = 0
        self._bytes_changed(now, -freed)
        return case.snapshot(case_id)

    # -- internals ---------------------------------------------------------------------------

    def _get(self, case_id: str) -> _Case:
        case = self._cases.get(case_id)
        if case is None:
            raise EvidenceError(f"there is no evidence case {case_id!r}: open it with open_case first")
        return case

    def _complete(self, case_id: str, case: _Case, now: float, actor: str) -> None:
        state = _case_next(case_id, case.state, CaseEvent.COMPLETE)
        manifest = build_manifest(
            case_id,
            ((c.segment, c.sha256, c.evidence_key) for c in case.copies.values()),
            missing=case.plan.missing(),
        )
        self.trail.append(
            now,
            AuditKind.COPY,
            actor,
            case_id,
            {
                "complete": True,
                "manifest_sha256": manifest["manifest_sha256"],
                "file_count": manifest["file_count"],
                "total_bytes": manifest["total_bytes"],
                "lost_s": case.plan.lost_s,
            },
        )
        case.state = state
        case.manifest_json = canonical_json(manifest)

    def _bytes_changed(self, now: float, delta: int) -> None:
        if delta == 0:
            return
        self._bytes_held += delta
        point = (float(now), self._bytes_held)
        if self._series and self._series[-1][0] == point[0]:
            self._series[-1] = point
        else:
            self._series.append(point)
