"""Full-disk policy `overwrite_oldest`: which footage to delete early to make room.

Theory of operation
-------------------
A recorder whose disk cannot take what its cameras will write next deletes its oldest
footage that no hold covers, across all its cameras, until the room is there (recording
servers do this instead of refusing new footage; what a short disk costs is retention).
Per recorder the planner finds the earliest cutoff time `c` such that deleting every unheld
segment ending by `c` frees at least the bytes asked for: a bisection on `c` between the
start of the recorder's oldest unheld segment and `now`, vectorised over every recorder that
needs room (a cutoff per row, from its recorder). Held rows are never in a plan. A recorder
whose unheld footage is not enough gets all of it deleted and is reported short: the engine
then drops new footage on it (counted as `disk_full`) as with `drop_new`.

Sans-IO: the catalog's columns come in, a `SweepPlan` (twin.core.retention) goes out; the
bytes of a row's segments come from a callable, so the catalog's daily curves apply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from twin.core.retention import SweepPlan

__all__ = ["OverwritePlan", "plan_overwrite"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
# bytes_of(rows, lo, hi): bytes of segments [lo, hi) of each of the catalog rows `rows`.
BytesOf = Callable[[IntArray, IntArray, IntArray], FloatArray]
_ITERATIONS = 26  # halvings of [oldest, now]: 10 years / 2^26 is ~5 s, under any segment


@dataclass(frozen=True, slots=True)
class OverwritePlan:
    plan: SweepPlan
    cutoff_s: FloatArray  # per recorder: footage ending by this goes (nan: nothing asked)
    short: npt.NDArray[np.bool_]  # per recorder: its unheld footage could not free enough


def plan_overwrite(
    start_s: FloatArray, seg_s: FloatArray, written: IntArray, first: IntArray,
    held: npt.NDArray[np.int32], recorder: npt.NDArray[np.int32], need_bytes: FloatArray,
    now_s: float, bytes_of: BytesOf,
) -> OverwritePlan:
    """Delete the oldest unheld footage of each recorder with `need_bytes[r] > 0`."""
    n_rec = need_bytes.size
    cutoff = np.full(n_rec, np.nan)
    want = need_bytes > 0
    rows = np.flatnonzero(want[recorder] & (held == 0) & (written > first))
    empty = np.zeros(0, dtype=np.int64)
    if rows.size == 0:
        return OverwritePlan(SweepPlan(now_s, now_s, empty, empty, empty, 0, 0.0, 0), cutoff,
                             want.copy())
    st, sg, wr, fs = start_s[rows], seg_s[rows], written[rows], first[rows]
    rec = recorder[rows].astype(np.int64)

    def freed(cut_by_rec: FloatArray) -> tuple[FloatArray, IntArray]:
        k = np.floor((cut_by_rec[rec] - st) / sg + 1e-9)
        upto = np.maximum(np.clip(k, 0, wr).astype(np.int64), fs)
        b = bytes_of(rows, fs, upto)
        return np.bincount(rec, weights=b, minlength=n_rec), upto

    oldest = np.full(n_rec, np.inf)
    np.minimum.at(oldest, rec, st + fs * sg)
    lo = np.where(np.isfinite(oldest), oldest, now_s)
    hi = np.full(n_rec, float(now_s))
    got_all, upto = freed(hi)
    short = want & (got_all < need_bytes)
    for _ in range(_ITERATIONS):
        mid = (lo + hi) / 2
        got, _u = freed(mid)
        enough = got >= need_bytes
        hi = np.where(enough, mid, hi)
        lo = np.where(enough, lo, mid)
    cut = np.where(want, hi, -np.inf)
    _g, upto = freed(cut)
    take = upto - fs
    sel = take > 0
    r_sel = rows[sel]
    nbytes = float(bytes_of(r_sel, fs[sel], upto[sel]).sum())
    cutoff[want] = hi[want]
    plan = SweepPlan(now_s=now_s, cutoff_s=float(np.nanmax(cutoff)), rows=r_sel.astype(np.int64),
                     old_first=fs[sel].astype(np.int64), new_first=upto[sel].astype(np.int64),
                     segments=int(take[sel].sum()), bytes=nbytes, overdue_after=0)
    return OverwritePlan(plan, cutoff, short)
