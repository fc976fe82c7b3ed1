"""The live sweeper: the core's retention sweep, carried out on real files, on the run's trail.

Theory of operation. The sweeper keeps its own :class:`~twin.core.catalog.RunCatalog` (the very
object the simulation sweeps) and, before each sweep, feeds it the segments the recorders have
added to the SQLite store since the last one and the evidence holds as the store lists them
now (placed by `twin evidence preserve`, released when the case is copied or closed). Then it
runs the core's :class:`~twin.core.sweep.RetentionSweep`, the same plan, carry-out, apply and
audit sequence as the simulation, whose carry-out step here is one call to the store
(:meth:`LiveStore.delete`:

1. marks the plan's segments `deleting` in SQLite (one transaction),
2. unlinks their files,
3. marks them `deleted` (one transaction));

and whose audit step appends one DELETION entry (segments, bytes, files already gone) to the
run's desk trail (`evidence/audit.jsonl`), MAC'd with the audit key, under the desk's lock,
with the keyed anchor moved after it. A sweep is one session of the trail: opened and
verified under the lock before anything is deleted (a trail that does not verify stops the
sweep: no deletion goes unaudited), saved once with its one entry when the sweep is done.

The path of one deletion in a live run is thus: the driver (twin.live.driver) asks the parts
(twin.live.parts.RayParts.sweep_start) to sweep; each node's sweeper actor
(actors.sweeper.SweeperActor) calls `Sweeper.sweep` here, which opens the trail, takes in the
store's new rows and holds, has the core plan, delete (through the store) and apply the
sweep, and saves the trail with the sweep's DELETION entry.

Holds live in SQLite, not in this object: a sweeper restarted (or killed with `kill -9` and
started again) reads them back before its first sweep, so held footage is never due. With a
desk trail, the rows are checked against it: a case the trail has open keeps all its hold
rows, even one marked released in the file, and a case with hold rows missing stops the
sweep, so an edit of catalog.sqlite cannot lift a hold the desk did not lift.

A stop between 1 and 3 leaves rows in `deleting`; :meth:`LiveStore.recover` (run when a
sweeper starts) finishes them and the sweeper audits them as one DELETION entry of their own, so the
store never lists a file that is gone as stored, and never loses track of a file it has not deleted.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.core.audit import AuditKind, AuditTrail
from twin.core.catalog import RunCatalog
from twin.core.officers import check_trail
from twin.core.signing import mac_entry
from twin.core.sweep import RetentionSweep
from twin.core.types import Interval, SegmentRef
from twin.errors import EvidenceError
from twin.storage.keys import audit_key
from twin.storage.live_catalog import HoldRow, LiveStore
from twin.storage.trail import locked, open_trail, save

__all__ = ["SweepReport", "Sweeper"]


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What one sweep did."""

    now_s: float
    cutoff_s: float
    deleted_keys: tuple[str, ...]
    deleted_bytes: int
    overdue_after: int
    oldest_age_s: float  # age of the oldest unheld footage just before the sweep (inf: none)
    missing_files: int  # planned deletions whose file was already gone
    held_segments: int = 0  # segments under an evidence hold at the sweep
    audit_seq: int | None = None  # the DELETION entry on the desk trail (None: nothing deleted)


class Sweeper:
    """Retention for one live run: `sweep(now_s)` deletes what is due (see module docstring).

    `desk_dir` is the run's `evidence/` folder, whose trail gets the DELETION entries; None
    only in tests of retention alone.
    """

    def __init__(
        self,
        store_path: Path,
        root: Path,
        camera_names: list[str],
        recorder_names: list[str],
        retention_s: float,
        batch_segments: int,
        *,
        desk_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = LiveStore(store_path)
        self.root = Path(root)
        self.catalog = RunCatalog(camera_names, recorder_names)
        self.retention = RetentionSweep(self.catalog, retention_s, batch_segments)
        self._cam = {c: i for i, c in enumerate(camera_names)}
        self._rec = {r: i for i, r in enumerate(recorder_names)}
        self.retention_s = retention_s
        self.batch_segments = batch_segments
        self.desk_dir = Path(desk_dir) if desk_dir is not None else None
        # The desk trail runs on the desk's clock (UNIX seconds), not on the run clock.
        self._clock = clock
        self._key = audit_key(create=True) if self.desk_dir is not None else None
        self._last_id = 0
        self.recovered = self._recover()

    def _recover(self) -> int:
        rows = self.store.recover(self.root)
        if rows and self.desk_dir is not None:
            with self._trail() as trail:
                trail.append(
                    self._at(trail),
                    AuditKind.DELETION,
                    "sweeper",
                    "retention",
                    {
                        "what": "footage past retention, finished after a restart",
                        "segments": len(rows),
                        "bytes": int(sum(r.size_bytes for r in rows)),
                        "retention_s": self.retention_s,
                    },
                )
        return len(rows)

    @contextlib.contextmanager
    def _trail(self) -> Iterator[AuditTrail]:
        """The desk trail, verified, under the desk's lock; saved (with its keyed anchor) if
        the step completes."""
        assert self.desk_dir is not None and self._key is not None
        key = self._key
        with locked(self.desk_dir):
            trail, written = open_trail(
                self.desk_dir, key, lambda e: mac_entry(key, e), repair=True
            )
            check_trail(trail.entries, key)  # every entry vouched for, or no sweep at all
            yield trail
            save(self.desk_dir, trail, written, key)

    def _at(self, trail: AuditTrail) -> float:
        now = float(self._clock())
        return max(now, trail.entries[-1].at_s) if len(trail) else now

    def sync(self, trail: AuditTrail | None = None) -> None:
        """Take in the segments recorded since the last call, and the holds as stored now
        (checked against the desk `trail`, if given: `_holds_per_trail`)."""
        self._last_id, _ = self.store.sync_into(self.catalog, self._cam, self._rec, self._last_id)
        wanted = (
            self._holds_per_trail(trail)
            if trail is not None
            else {h.hold_id: h for h in self.store.holds()}
        )
        current = self.catalog.holds
        for hid, h in wanted.items():  # place before releasing, so nothing is ever unheld
            if hid not in current and h.camera in self._cam:
                # A live run has no open runs: a hold covers exactly the rows it overlaps,
                # those recorded after it too (math.inf: never clipped to a sweep's time).
                self.catalog.hold(hid, self._cam[h.camera], Interval(h.start_s, h.end_s), math.inf)
        for hid in current:
            if hid not in wanted:
                self.catalog.release(hid)

    def _holds_per_trail(self, trail: AuditTrail) -> dict[str, HoldRow]:
        """The store's holds, unless the trail says otherwise: every hold row of a case the
        trail has open (preserved, not yet copied or released) is kept, released or not, and a
        case whose hold rows are fewer than its PRESERVATION entry placed stops the sweep. So
        an edit of catalog.sqlite cannot lift a hold the desk did not lift."""
        cases: dict[str, int] = {}
        for e in trail.entries:
            if e.kind is AuditKind.PRESERVATION and "holds" in e.details:
                cases[e.subject] = int(e.details["holds"])
            elif (
                e.kind is AuditKind.COPY and e.details.get("complete")
            ) or e.kind is AuditKind.RELEASE:
                cases.pop(e.subject, None)
        wanted = {h.hold_id: h for h in self.store.holds()}
        for case_id, placed in cases.items():
            rows = self.store.holds(case_id=case_id, active=False)
            if len(rows) < placed:
                raise EvidenceError(
                    f"{self.store.path}: case {case_id!r} has {len(rows)} hold row(s) but the "
                    f"desk placed {placed}: rows were deleted from the catalog; nothing is swept "
                    "until they are restored from a trusted copy"
                )
            wanted.update((h.hold_id, h) for h in rows)
        return wanted

    def hold(self, hold_id: str, camera: str, start_s: float, end_s: float, now_s: float) -> int:
        """Hold a camera's footage in [start_s, end_s) from deletion: a row in the store (so
        it outlives this process), taken in at once; returns the segments held now."""
        self.store.place_holds(hold_id, [(hold_id, camera, start_s, end_s)], now_s)
        self.sync()
        segs = self.catalog.segments(
            math.inf, camera=self._cam[camera], window=Interval(start_s, end_s)
        )
        return len(segs)

    def release(self, hold_id: str, now_s: float = 0.0) -> None:
        self.store.release_holds([hold_id], now_s)
        self.sync()

    def _delete(self, refs: Sequence[SegmentRef]) -> dict[str, Any]:
        """The core's delete port: the store deletes the plan's segments, rows and files."""
        return {"missing_files": self.store.delete(self.root, [(r.recorder, r.key) for r in refs])}

    def sweep(self, now_s: float) -> SweepReport:
        """Delete every segment due at `now_s` (run clock; up to the batch bound), audited."""
        if self.desk_dir is None:
            self.sync()
            held = self._held()
            done = self.retention.sweep(now_s, delete=self._delete)
        else:
            with self._trail() as trail:
                self.sync(trail)
                held = self._held()
                done = self.retention.sweep(
                    now_s,
                    delete=self._delete,
                    trail=trail,
                    audit_at_s=self._at(trail),
                    run_clock_s=float(now_s),
                )
        plan, refs = done.plan, done.deleted
        return SweepReport(
            now_s,
            plan.cutoff_s,
            tuple(r.key for r in refs),
            int(sum(r.bytes for r in refs)),
            plan.overdue_after,
            done.oldest_age_s,
            done.carried_out["missing_files"],
            held,
            done.audit.seq if done.audit is not None else None,
        )

    def _held(self) -> int:
        c = self.catalog
        return int(((c.col("held") > 0) & (c.col("first") < c.col("n"))).sum())

    def close(self) -> None:
        self.store.close()
