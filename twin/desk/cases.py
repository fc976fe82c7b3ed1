"""Preservation of a live run's footage: the simulation's cases, on the live catalog.

The core EvidenceLocker plans the case (`preserve_case`), its holds become rows of the live
catalog's `holds` table (which the live sweeper obeys, across restarts), the copies are made
with their SHA-256 under `evidence/cases/<case>/` (`copy_case`), their holds are released,
and the case is closed and its copies purged (`release_case`), each step signed on the
desk's trail. The locker is rebuilt from the trail for each command (`case_locker`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from twin.core.access import Officer
from twin.core.audit import AuditEntry, AuditKind, AuditTrail, canonical_json
from twin.core.cases import CaseState
from twin.core.evidence import HOLD_PREFIX, EvidenceLocker
from twin.core.preservation import PreservationPlan, PreservationRequest, plan_preservation
from twin.core.types import Interval, SegmentRef
from twin.desk.desk import CASES, Desk
from twin.desk.export import sha256_file
from twin.errors import EvidenceError
from twin.storage.live_catalog import LiveStore, stored_segments

__all__ = ["case_locker", "preserve_case", "copy_case", "release_case"]


def _case_dir(d: Desk, case_id: str) -> Path:
    if not case_id or "/" in case_id or case_id.startswith("."):
        raise EvidenceError(f"case id {case_id!r} must be a plain name (no '/', not hidden)")
    return d.folder / CASES / case_id


def _plan_json(request: PreservationRequest, segments: list[SegmentRef]) -> str:
    return canonical_json(
        {
            "case_id": request.case_id,
            "cameras": list(request.cameras),
            "window": [request.window.start_s, request.window.end_s],
            "requested_at_s": request.requested_at_s,
            "requested_by": request.requested_by,
            "segments": [
                [s.camera, s.start_s, s.end_s, s.bytes, s.key, s.recorder, s.sha256]
                for s in segments
            ],
        }
    )


def _load_plan(d: Desk, case_id: str, entry: AuditEntry) -> tuple[PreservationPlan, str]:
    path = _case_dir(d, case_id) / "plan.json"
    if not path.exists():
        raise EvidenceError(f"{path}: the plan of case {case_id!r} is gone; restore it")
    text = path.read_text(encoding="ascii")
    if hashlib.sha256(text.encode("ascii")).hexdigest() != entry.details.get("plan_sha256"):
        raise EvidenceError(
            f"{path}: does not hash to the plan_sha256 on the trail (seq "
            f"{entry.seq}): the plan was edited; restore it"
        )
    raw = json.loads(text)
    request = PreservationRequest(
        raw["case_id"],
        tuple(raw["cameras"]),
        Interval(*raw["window"]),
        raw["requested_at_s"],
        raw["requested_by"],
    )
    segs = [SegmentRef(c, a, b, n, k, r, h) for c, a, b, n, k, r, h in raw["segments"]]
    return plan_preservation(request, segs), text


def case_locker(d: Desk, case_id: str) -> EvidenceLocker:
    """The case's EvidenceLocker, rebuilt by replaying the trail's entries about it with the
    case's files (plan, copies); each replayed entry must equal the one on the trail."""
    scratch = AuditTrail()
    locker = EvidenceLocker(scratch)
    mine = [
        e
        for e in d.trail.entries
        if e.subject == case_id
        and e.kind
        in (AuditKind.PRESERVATION, AuditKind.COPY, AuditKind.RELEASE, AuditKind.DELETION)
    ]
    if not mine or mine[0].kind is not AuditKind.PRESERVATION:
        raise EvidenceError(
            f"there is no preservation case {case_id!r} on the trail of "
            f"{d.run_dir}: open it with `twin evidence preserve`"
        )
    copies_path = _case_dir(d, case_id) / "copies.json"
    batches = json.loads(copies_path.read_text()) if copies_path.exists() else []
    batch = 0
    for e in mine:
        if len(scratch) > 0 and scratch.entries[-1].at_s > e.at_s:
            raise EvidenceError(f"case {case_id!r}: entries out of time order at seq {e.seq}")
        n0 = len(scratch)
        if e.kind is AuditKind.PRESERVATION:
            plan, _ = _load_plan(d, case_id, e)
            locker.open_case(
                plan,
                e.at_s,
                extra={k: e.details[k] for k in ("plan_sha256", "holds") if k in e.details},
            )
        elif e.kind is AuditKind.COPY and "complete" in e.details:
            continue  # made by the batch before it
        elif e.kind is AuditKind.COPY:
            if batch >= len(batches):
                raise EvidenceError(f"{copies_path}: lacks the copies of seq {e.seq}; restore it")
            plan = locker.case(case_id).plan
            by_key = {s.key: s for s in plan.segments}
            locker.mark_copied(
                case_id, [(by_key[k], h, ek) for k, h, ek in batches[batch]], e.at_s, actor=e.actor
            )
            batch += 1
        elif e.kind is AuditKind.RELEASE:
            locker.release(case_id, e.at_s, actor=e.actor, reason=e.details["reason"])
        else:
            locker.mark_purged(case_id, e.at_s, actor=e.actor)
        for got in scratch.entries[n0:]:
            real = next(
                (
                    x
                    for x in mine
                    if x.at_s == got.at_s
                    and x.kind is got.kind
                    and x.details_json == got.details_json
                ),
                None,
            )
            if real is None:
                raise EvidenceError(
                    f"case {case_id!r}: replaying its files does not give the "
                    f"trail's {got.kind.value} entry at t={got.at_s:g}: "
                    f"{copies_path} or the plan was edited; restore them"
                )
    locker.trail = d.trail
    return locker


def preserve_case(
    d: Desk,
    officer: Officer,
    case_id: str,
    cameras: tuple[str, ...],
    window: Interval,
    now: float,
    db: Path,
) -> tuple[Any, int]:
    """Open a case: plan it from the live catalog, hold its footage (rows in the catalog's
    `holds`, placed before the trail says so), and audit it. Returns (case, holds placed)."""
    if any(e.subject == case_id and e.kind is AuditKind.PRESERVATION for e in d.trail.entries):
        raise EvidenceError(f"case {case_id!r} exists already on this desk: give a new case id")
    request = PreservationRequest(
        case_id, cameras, window, max(now, window.end_s), officer.officer_id
    )
    plan = plan_preservation(request, stored_segments(db, cameras, window))
    text = _plan_json(request, list(plan.segments))
    folder = _case_dir(d, case_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plan.json").write_text(text, encoding="ascii")
    locker = EvidenceLocker(d.trail)
    store = LiveStore(db)
    try:
        # The holds go into the catalog first, so the sweeper keeps the footage from now on.
        scratch = EvidenceLocker(AuditTrail())
        scratch.open_case(plan, now)
        place, _ = scratch.hold_changes({})
        placed = store.place_holds(
            case_id, [(h, cam, iv.start_s, iv.end_s) for h, cam, iv in place], now
        )
        case = locker.open_case(
            plan,
            now,
            extra={
                "plan_sha256": hashlib.sha256(text.encode("ascii")).hexdigest(),
                "holds": placed,
            },
        )
    finally:
        store.close()
    d.save()
    return case, placed


def copy_case(d: Desk, officer: Officer, case_id: str, now: float, db: Path, root: Path) -> Any:
    """Copy an open case's pending segments under evidence/cases/<case>/, each hashed as read
    back; mark them copied (signed), write the manifest when complete, release their holds."""
    locker = case_locker(d, case_id)
    case = locker.case(case_id)
    if case.state is not CaseState.OPEN:
        raise EvidenceError(f"case {case_id!r} is {case.state.value}: nothing left to copy")
    folder = _case_dir(d, case_id)
    copies: list[tuple[SegmentRef, str, str]] = []
    for seg in case.pending:
        out = folder / "copies" / seg.key
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(root / seg.key, out)
        except FileNotFoundError:
            continue  # its hold should have kept it: left pending, and reported
        copies.append((seg, sha256_file(out), f"{CASES}/{case_id}/copies/{seg.key}"))
    if copies:
        path = folder / "copies.json"
        batches = json.loads(path.read_text()) if path.exists() else []
        batches.append([[s.key, h, k] for s, h, k in copies])
        path.write_text(json.dumps(batches) + "\n")
        case = locker.mark_copied(case_id, copies, now, actor=officer.officer_id)
        if case.manifest_json:
            (folder / "manifest.json").write_text(case.manifest_json + "\n", encoding="ascii")
    d.save()
    _sync_holds(locker, case_id, db, now)
    return case


def _sync_holds(locker: EvidenceLocker, case_id: str, db: Path, now: float) -> None:

    store = LiveStore(db)
    try:
        current = {h.hold_id: h for h in store.holds(case_id=case_id)}
        wanted = {
            h: v
            for h, v in locker.holds_by_id().items()
            if h.startswith(HOLD_PREFIX) and json.loads(h[len(HOLD_PREFIX) :])[0] == case_id
        }
        # Place before releasing (what is still pending after a partial copy), so nothing is
        # ever unheld.
        store.place_holds(
            case_id,
            [(h, cam, iv.start_s, iv.end_s) for h, (cam, iv) in wanted.items() if h not in current],
            now,
        )
        store.release_holds([h for h in current if h not in wanted], now)
    finally:
        store.close()


def release_case(d: Desk, officer: Officer, case_id: str, now: float, db: Path, reason: str) -> Any:
    """Close a case: its holds go, its copies are deleted, both audited (RELEASE, DELETION)."""
    locker = case_locker(d, case_id)
    keys = locker.release(case_id, now, actor=officer.officer_id, reason=reason)
    d.save()
    _sync_holds(locker, case_id, db, now)
    for k in keys:
        (d.folder / k).unlink(missing_ok=True)
    case = locker.mark_purged(case_id, now, actor=officer.officer_id)
    d.save()
    return case
