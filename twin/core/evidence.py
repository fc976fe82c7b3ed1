"""Evidence locker: keep a case's footage out of the 30-day cycle until it is copied, and
prove the copy.

Theory of operation
-------------------
A case is opened from a preservation plan (core/preservation.py) and moves through the case
state machine (core/cases.py). While a case is open, `holds()` lists the spans (camera,
Interval) of the segments still to be copied: the catalog must not delete a segment
overlapping a hold, so retention cannot race the copy. The catalog takes holds by id;
`hold_changes(catalog.holds)` says which holds to place and which to release so that the
catalog holds exactly what the locker wants. Once a segment's copy is marked (with the
copy's SHA-256 and its evidence key), its hold is lifted and the original goes on its normal
30-day way; the copy is kept until the case is released and its copies purged. When the
last copy is marked, the case gets a manifest (core/manifest.py).

The locker has no clock and does no I/O: `release` returns the evidence keys the adapter may
now delete, and `mark_purged` records that it did. Every step is on the audit trail.

Errors: `EvidenceError` for a step inconsistent with the cases (unknown or closed case, a copy
not in the plan, a copy whose hash disagrees with the source).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from twin.core.audit import AuditKind, AuditTrail, canonical_json
from twin.core.cases import CaseEvent, CaseState, EvidenceCase, case_next
from twin.core.manifest import EvidenceCopy, build_manifest, check_copy
from twin.core.preservation import PreservationPlan, merge_intervals, segment_order
from twin.core.types import Interval, SegmentRef
from twin.errors import EvidenceError

__all__ = ["HOLD_PREFIX", "EvidenceLocker"]

HOLD_PREFIX = "evidence:"
"""Prefix of the catalog hold ids the locker owns (see `EvidenceLocker.hold_changes`)."""


class _Case:
    """Mutable bookkeeping behind an EvidenceCase snapshot."""

    __slots__ = (
        "plan",
        "state",
        "opened_at_s",
        "copies",
        "manifest_json",
        "closed_at_s",
        "bytes_held",
    )

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
            copies=tuple(sorted(self.copies.values(), key=lambda c: segment_order(c.segment))),
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

    __slots__ = (
        "trail",
        "_cases",
        "_evidence_keys",
        "_bytes_held",
        "_series",
        "_holds",
        "_case_holds",
    )

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
        (hold id, camera, window) in `holds_by_id` order, hold ids to release, sorted). `current` is
        the catalog's holds by id (e.g. `RunCatalog.holds`); ids without `HOLD_PREFIX` belong to
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

    def open_case(
        self, plan: PreservationPlan, now: float, extra: Mapping[str, Any] | None = None
    ) -> EvidenceCase:
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
        case_next(case_id, case.state, CaseEvent.COPY)  # a closed case takes no copies
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
            check_copy(case_id, source, sha256, evidence_key)
            check_copy(case_id, seg, sha256, evidence_key)
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
        state = case_next(case_id, case.state, CaseEvent.RELEASE)
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
        state = case_next(case_id, case.state, CaseEvent.PURGE)
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
            raise EvidenceError(
                f"there is no evidence case {case_id!r}: open it with open_case first"
            )
        return case

    def _complete(self, case_id: str, case: _Case, now: float, actor: str) -> None:
        state = case_next(case_id, case.state, CaseEvent.COMPLETE)
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
