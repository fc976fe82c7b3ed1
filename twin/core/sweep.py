"""One retention sweep, as both engines run it: plan, carry out, apply, audit.

Theory of operation
-------------------
`RetentionSweep` is the use-case the simulation's sweeper process and the live sweeper share
(so the sequence exists once):

1. plan: the catalog's retention plan at `now` (oldest due first, bounded, never a held
   segment), with the age of the oldest unheld footage just before it;
2. carry out: an adapter's `delete` port gets the exact segments the plan removes (the live
   sweeper unlinks their files; the simulation has no files and passes no port);
3. apply: the plan goes into the catalog, which frees the bytes per recorder;
4. audit: one DELETION entry per sweep that deleted anything, with the count and bytes the
   catalog booked since the last audit.

The audit step is `audit(trail, now)` and is also called on its own: in the simulation the
trail belongs to the evidence extension, whose process runs it just after each sweep (at the
same simulated instant, after the access desk's expiries of that instant, as it always has).
The live sweeper passes its trail to `sweep` and gets the entry at once. No clock, no files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from twin.core.audit import AuditEntry, AuditKind, AuditTrail
from twin.core.catalog import RunCatalog
from twin.core.retention import SweepPlan
from twin.core.types import SegmentRef

__all__ = ["SweepOutcome", "RetentionSweep"]

DeletePort = Callable[[Sequence[SegmentRef]], Any]


@dataclass(frozen=True, slots=True)
class SweepOutcome:
    """What one sweep did. `deleted` lists the segments only when a delete port was given
    (a city-wide simulated sweep would be a million refs); `carried_out` is the port's answer."""

    plan: SweepPlan
    freed_by_recorder: np.ndarray
    oldest_age_s: float  # age of the oldest unheld footage just before the sweep (inf: none)
    deleted: tuple[SegmentRef, ...]
    carried_out: Any
    audit: AuditEntry | None


class RetentionSweep:
    """Retention of one catalog: `retention_s` and at most `max_segments` per sweep."""

    __slots__ = (
        "catalog",
        "retention_s",
        "max_segments",
        "actor",
        "_audited_segments",
        "_audited_bytes",
    )

    def __init__(
        self, catalog: RunCatalog, retention_s: float, max_segments: int, actor: str = "sweeper"
    ) -> None:
        self.catalog = catalog
        self.retention_s = float(retention_s)
        self.max_segments = int(max_segments)
        self.actor = actor
        self._audited_segments = catalog.deleted_segments
        self._audited_bytes = catalog.deleted_bytes

    def sweep(
        self,
        now_s: float,
        *,
        delete: DeletePort | None = None,
        trail: AuditTrail | None = None,
        written: np.ndarray | None = None,
        audit_at_s: float | None = None,
        **audit_extra: Any,
    ) -> SweepOutcome:
        """Plan, carry out (`delete`, if given, before the catalog changes), apply and (with
        `trail`) audit one sweep at `now_s`. `written` may pass `catalog.written(now_s)`.

        The DELETION entry is stamped `audit_at_s` (default `now_s`: an adapter whose trail
        runs on another clock passes that clock's time) and carries `audit_extra` and, if the
        port answers with a mapping (e.g. files already gone), that mapping too."""
        cat = self.catalog
        w = cat.written(now_s) if written is None else written
        oldest_age_s = now_s - cat.oldest_unheld_start(now_s, w)
        plan = cat.plan_sweep(now_s, self.retention_s, self.max_segments, w)
        deleted: tuple[SegmentRef, ...] = ()
        carried = None
        if delete is not None:
            deleted = tuple(cat.deleted_refs(plan))
            carried = delete(deleted)
        freed = cat.apply(plan)
        entry = None
        if trail is not None:
            extra = dict(carried) if isinstance(carried, Mapping) else {}
            extra.update(audit_extra)
            entry = self.audit(trail, now_s if audit_at_s is None else audit_at_s, **extra)
        return SweepOutcome(plan, freed, float(oldest_age_s), deleted, carried, entry)

    def audit(self, trail: AuditTrail, now_s: float, **extra: Any) -> AuditEntry | None:
        """One DELETION entry for what the catalog deleted since the last audit (None if
        nothing): segments, bytes, the retention rule, and `extra` details."""
        cat = self.catalog
        n = cat.deleted_segments - self._audited_segments
        b = cat.deleted_bytes - self._audited_bytes
        self._audited_segments, self._audited_bytes = cat.deleted_segments, cat.deleted_bytes
        if not n:
            return None
        details: dict[str, Any] = {
            "what": "footage past retention",
            "segments": int(n),
            "bytes": int(b),
            "retention_s": self.retention_s,
        }
        details.update(extra)
        return trail.append(float(now_s), AuditKind.DELETION, self.actor, "retention", details)
