"""Retention: which segments are due for deletion at `now`, in bounded batches.

Theory of operation
-------------------
Footage is deleted `retention_s` after it was recorded: a segment is due once its *end*
is at least `retention_s` in the past (its whole span is older than the retention period).
Held segments (evidence) are never due. A sweep deletes at most `max_segments`, oldest
first; whatever is left over is counted as overdue and taken by the next sweep.

The functions work on the catalog's run columns (numpy arrays), so one sweep over 21,000
cameras is a handful of vector operations. A run is `written` consecutive segments of
`seg_s` seconds from `start_s`, of which the first `first` are already deleted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SweepPlan", "ended_by", "due_counts", "plan_sweep"]

# Times are sums of whole seconds; the tolerance only absorbs float rounding of divisions.
_EPS = 1e-9


def ended_by(
    start_s: np.ndarray, seg_s: np.ndarray, written: np.ndarray, cutoff_s: float
) -> np.ndarray:
    """Per run: how many of its first `written` segments have ended at or before `cutoff_s`."""
    k = np.floor((cutoff_s - start_s) / seg_s + _EPS)
    n: np.ndarray = np.clip(k, 0, written).astype(np.int64)
    return n


def due_counts(
    start_s: np.ndarray,
    seg_s: np.ndarray,
    written: np.ndarray,
    first: np.ndarray,
    held: np.ndarray,
    cutoff_s: float,
) -> np.ndarray:
    """Per run: segments past retention (ended by `cutoff_s`), not yet deleted, not held."""
    due: np.ndarray = ended_by(start_s, seg_s, written, cutoff_s) - first
    due[held > 0] = 0
    counts: np.ndarray = np.maximum(due, 0)
    return counts


@dataclass(frozen=True, slots=True)
class SweepPlan:
    """What one sweep deletes: for each listed run, segments [old_first, new_first)."""

    now_s: float
    cutoff_s: float
    rows: np.ndarray  # int64 row numbers in the catalog at planning time
    old_first: np.ndarray
    new_first: np.ndarray
    segments: int
    bytes: float
    overdue_after: int  # due segments the batch bound left for the next sweep
    row_bytes: np.ndarray | None = None  # bytes each listed run frees, if the planner knew them

    @property
    def deleted_per_row(self) -> np.ndarray:
        n: np.ndarray = self.new_first - self.old_first
        return n


def _oldest_due(
    start_s: np.ndarray,
    seg_s: np.ndarray,
    written: np.ndarray,
    first: np.ndarray,
    held: np.ndarray,
    cutoff: float,
    due: np.ndarray,
    limit: int,
) -> np.ndarray:
    """The `limit` oldest due segments across all runs (by end time, then row).

    Bisects a time threshold until no run gains more than one segment between the two
    bounds, then hands the remainder to the runs whose next segment ends first.
    """
    lo = float((start_s + (first + 1) * seg_s)[due > 0].min()) - 1.0
    hi = cutoff
    half_seg = float(seg_s[due > 0].min()) / 2
    d_lo = np.zeros_like(due)
    while hi - lo > half_seg:
        mid = (lo + hi) / 2
        d_mid = due_counts(start_s, seg_s, written, first, held, mid)
        if d_mid.sum() <= limit:
            lo, d_lo = mid, d_mid
        else:
            hi = mid
    d_hi = due_counts(start_s, seg_s, written, first, held, hi)
    extra = np.flatnonzero(d_hi > d_lo)
    room = limit - int(d_lo.sum())
    if room > 0 and extra.size:
        next_end = start_s[extra] + (first[extra] + d_lo[extra] + 1) * seg_s[extra]
        pick = extra[np.lexsort((extra, next_end))][:room]
        d_lo = d_lo.copy()
        d_lo[pick] += 1
    return d_lo


def plan_sweep(
    start_s: np.ndarray,
    seg_s: np.ndarray,
    written: np.ndarray,
    first: np.ndarray,
    held: np.ndarray,
    bytes_per_seg: np.ndarray,
    now_s: float,
    retention_s: float,
    max_segments: int,
) -> SweepPlan:
    """Plan one sweep at `now_s`: the oldest due segments, at most `max_segments` of them.

    When the bound bites, the oldest segments across all runs go first (by end time, then
    row), so the plan is the same for the same catalog whatever the machine.
    """
    if max_segments < 1:
        raise ValueError(f"max_segments ({max_segments}) must be >= 1")
    cutoff = now_s - retention_s
    due = due_counts(start_s, seg_s, written, first, held, cutoff)
    rows = np.flatnonzero(due)
    total_due = int(due[rows].sum())
    if rows.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return SweepPlan(now_s, cutoff, empty, empty, empty, 0, 0.0, 0)
    if total_due > max_segments:
        due = _oldest_due(start_s, seg_s, written, first, held, cutoff, due, max_segments)
        rows = np.flatnonzero(due)
    take = due[rows]
    old_first = first[rows].astype(np.int64)
    n = int(take.sum())
    return SweepPlan(
        now_s=now_s,
        cutoff_s=cutoff,
        rows=rows.astype(np.int64),
        old_first=old_first,
        new_first=old_first + take,
        segments=n,
        bytes=float((take * bytes_per_seg[rows]).sum()),
        overdue_after=total_due - n,
    )
