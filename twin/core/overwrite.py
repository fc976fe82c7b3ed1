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
# cumulative(rows, t): each catalog row's factor-seconds from 0 to t (t itself on a flat row;
# twin.core.curves), so a row's segments [lo, hi) weigh per_s * (F(end of hi) - F(start of lo)).
Cumulative = Callable[[IntArray, FloatArray], FloatArray]
_MAX_STEPS = 60  # bracket doublings and halvings together: 2^-60 of any horizon


@dataclass(frozen=True, slots=True)
class OverwritePlan:
    plan: SweepPlan
    cutoff_s: FloatArray  # per recorder: footage ending by this goes (nan: nothing asked)
    short: npt.NDArray[np.bool_]  # per recorder: its unheld footage could not free enough


def _uniform_groups(
    groups: tuple[IntArray, IntArray] | None,
    rows: IntArray,
    every: bool,
    written: IntArray,
    first: IntArray,
) -> tuple[IntArray, IntArray] | None:
    """(one row of each group among `rows`, each row's index in it) if every group's rows
    share their first and written segments; None otherwise (or without groups). `written`
    and `first` are the rows' own (of all the rows if `every`)."""
    if groups is None:
        return None
    ids, rep = groups
    n = rep.size
    if every:  # every group is there, and rows are row numbers
        one, lid = rep, ids
    else:
        g = ids[rows]
        at = np.full(n, -1, dtype=np.int64)
        at[g] = np.arange(g.size)  # a row of each group (the last)
        present = at >= 0
        one = at[present]
        idx = np.zeros(n, dtype=np.int64)
        idx[present] = np.arange(one.size)
        lid = idx[g]
    if one.size * 2 > lid.size:  # hardly any rows share: per row is cheaper
        return None
    if not ((written == written[one][lid]).all() and (first == first[one][lid]).all()):
        return None
    return one, lid


def plan_overwrite(
    start_s: FloatArray,
    seg_s: FloatArray,
    written: IntArray,
    first: IntArray,
    held: npt.NDArray[np.int32],
    recorder: npt.NDArray[np.int32],
    per_s: FloatArray,
    need_bytes: FloatArray,
    now_s: float,
    cumulative: Cumulative,
    curve: npt.NDArray[np.int16] | None = None,
    cumulative_of: Callable[[IntArray, FloatArray], FloatArray] | None = None,
    factor: Callable[[IntArray, FloatArray], FloatArray] | None = None,
    f_first: FloatArray | None = None,
    groups: tuple[IntArray, IntArray] | None = None,
) -> OverwritePlan:
    """Delete the oldest unheld footage of each recorder with `need_bytes[r] > 0`.

    The cutoff is bracketed from the recorder's oldest footage by its rate (doubling until
    enough, or now), narrowed to under a segment, and the last segments are taken oldest
    end first: the plan deletes the fewest whole oldest segments that free the room.

    `groups` (optional: an id per row, and a row of each id) says which rows share their
    recorder, start, segment length and curve. Where the rows of each group also share
    their first and written segments (cameras that started together and were cut together),
    a cutoff takes every row of a group to the same segment, so each probe works out the
    segment and its F once per group, not once per row; the bytes are the same to the bit.
    """
    n_rec = need_bytes.size
    cutoff = np.full(n_rec, np.nan)
    want = need_bytes > 0
    rows = np.flatnonzero(want[recorder] & (held == 0) & (written > first))
    empty = np.zeros(0, dtype=np.int64)
    if rows.size == 0:
        return OverwritePlan(
            SweepPlan(now_s, now_s, empty, empty, empty, 0, 0.0, 0), cutoff, want.copy()
        )
    every = rows.size == start_s.size  # every row takes part: views, not copies
    if every:
        st, sg, wr, fs = start_s, seg_s, written, first
        rec = recorder.astype(np.int64)
        w = per_s
        f_lo = cumulative(rows, st + fs * sg) if f_first is None else f_first
    else:
        st, sg, wr, fs = start_s[rows], seg_s[rows], written[rows], first[rows]
        rec = recorder[rows].astype(np.int64)
        w = per_s[rows]
        # F at each row's first segment: the caller may know it (the catalog keeps it).
        f_lo = cumulative(rows, st + fs * sg) if f_first is None else f_first[rows]
    # One row per group (`g_*`) and each row's group (`lid`), where groups are uniform.
    grouped = _uniform_groups(groups, rows, every, wr, fs)
    lid: IntArray | None = None
    if grouped is None:
        g_rows, g_st, g_sg, g_wr, g_fs, g_rec = rows, st, sg, wr, fs, rec
    else:
        one, lid = grouped
        g_rows, g_st, g_sg, g_wr, g_fs, g_rec = (
            rows[one],
            st[one],
            sg[one],
            wr[one],
            fs[one],
            rec[one],
        )
    # cumulative() picks its method from the size of what it is given (twin.core.curves):
    # a group's rows repeated up to the rows' size class make it pick the same, so the same F.
    pad = 0 if lid is None or (rows.size > 64) == (g_rows.size > 64) else 65 - g_rows.size

    def g_upto(cut_by_rec: FloatArray) -> IntArray:
        k = np.floor((cut_by_rec[g_rec] - g_st) / g_sg + 1e-9)
        out: IntArray = np.maximum(np.clip(k, 0, g_wr).astype(np.int64), g_fs)
        return out

    def upto(cut_by_rec: FloatArray) -> IntArray:
        up = g_upto(cut_by_rec)
        return up if lid is None else up[lid]

    last: list[FloatArray] = [np.zeros(0)]  # per-row bytes of the latest evaluation
    last_up: list[IntArray] = [empty]  # segments kept from, of the latest evaluation

    def freed(cut_by_rec: FloatArray) -> FloatArray:
        up = g_upto(cut_by_rec)
        t = g_st + up * g_sg
        if pad:
            f = cumulative(np.resize(g_rows, 65), np.resize(t, 65))[: g_rows.size]
        else:
            f = cumulative(g_rows, t)
        b = w * ((f if lid is None else f[lid]) - f_lo)
        last[0], last_up[0] = b, up  # up: per group where grouped (upto() spreads it)
        out: FloatArray = np.bincount(rec, weights=b, minlength=n_rec).astype(np.float64)
        return out

    oldest = np.full(n_rec, np.inf)
    np.minimum.at(oldest, g_rec, g_st + g_fs * g_sg)  # a group's rows: one first segment
    lo = np.where(np.isfinite(oldest), oldest, now_s)
    f_at_lo = np.zeros(n_rec)  # nothing ends by the oldest segment's start
    rate = np.bincount(rec, weights=w, minlength=n_rec)
    step = np.where(rate > 0, need_bytes / np.maximum(rate, 1e-300), now_s - lo)
    hi = np.minimum(lo + np.maximum(step * 1.25, float(sg.max())), now_s)
    # Newton on the recorders' continuous freed bytes (rows summed per recorder and curve,
    # piecewise linear in the cutoff, so exact in a few steps), then two exact probes that
    # bracket the first segment end at or after it.
    if factor is not None and curve is not None and cumulative_of is not None:
        cv = curve[rows].astype(np.int64)
        n_cv = int(cv.max()) + 1
        key = rec * n_cv + cv
        p_w = np.bincount(key, weights=w, minlength=n_rec * n_cv)
        p_l = np.bincount(key, weights=w * f_lo, minlength=n_rec * n_cv)
        pair = np.flatnonzero(p_w)
        p_rec, p_cv, p_w, p_l = pair // n_cv, pair % n_cv, p_w[pair], p_l[pair]
        c_est = np.clip(lo + step, lo, now_s)
        for _ in range(8):
            cont = np.bincount(
                p_rec, weights=p_w * cumulative_of(p_cv, c_est[p_rec]) - p_l, minlength=n_rec
            )
            slope = np.bincount(p_rec, weights=p_w * factor(p_cv, c_est[p_rec]), minlength=n_rec)
            nxt = np.clip(c_est - (cont - need_bytes) / np.maximum(slope, 1e-300), lo, now_s)
            done = np.abs(nxt - c_est) < 1e-3
            c_est = nxt
            if done.all():
                break
        seg_max = float(sg.max())
        p_lo = np.clip(c_est - 1e-3 * seg_max, lo, now_s)
        p_hi = np.clip(c_est + 0.999 * seg_max, lo, now_s)
        f_plo = freed(p_lo)
        f_phi = freed(p_hi)
        b_phi, up_phi = last[0], last_up[0]
        ok = want & (f_plo < need_bytes) & (f_phi >= need_bytes)
        lo, f_at_lo = np.where(ok, p_lo, lo), np.where(ok, f_plo, f_at_lo)
        hi = np.where(ok, p_hi, hi)
        got = np.where(ok, f_phi, freed(hi) if (~ok & want).any() else f_phi)
    else:
        got = freed(hi)
    steps = 0
    while ((got < need_bytes) & want & (hi < now_s)).any() and steps < _MAX_STEPS:
        more = (got < need_bytes) & (hi < now_s)
        lo = np.where(more, hi, lo)
        f_at_lo = np.where(more, got, f_at_lo)
        hi = np.where(more, np.minimum(lo + 2 * (hi - lo), now_s), hi)
        got = freed(hi)
        steps += 1
    short = want & (got < need_bytes)
    f_at_hi = got
    # Narrow [lo, hi] (freed(lo) < need <= freed(hi)) to under a segment: by interpolation
    # (freed is nearly linear in the cutoff), halving whenever that does not halve the gap.
    seg_min = float(sg.min())
    live = want & ~short
    rounds = 0
    while ((hi - lo > seg_min) & live).any() and steps < _MAX_STEPS:
        frac = (need_bytes - f_at_lo) / np.maximum(f_at_hi - f_at_lo, 1e-300)
        guess = lo + np.clip(frac, 0.0, 1.0) * (hi - lo)
        rounds += 1
        if rounds > 3:  # interpolation has not closed in: halve from here on
            probes = [(lo + hi) / 2]
        else:  # probe half a segment either side of the guess: usually brackets at once
            probes = [
                np.clip(guess - 0.49 * seg_min, lo, hi),
                np.clip(guess + 0.49 * seg_min, lo, hi),
            ]
        for mid in probes:
            f_mid = freed(mid)
            inside = live & (mid > lo) & (mid < hi)
            enough = (f_mid >= need_bytes) & inside
            low = (f_mid < need_bytes) & inside
            hi, f_at_hi = np.where(enough, mid, hi), np.where(enough, f_mid, f_at_hi)
            lo, f_at_lo = np.where(low, mid, lo), np.where(low, f_mid, f_at_lo)
        steps += 1
    # Within [lo, hi] each row gains at most one segment: the cutoff is hi, the first
    # segment end (per row) by which the room is there.
    cut = np.where(want, hi, -np.inf)
    if factor is not None and curve is not None and cumulative_of is not None and ok[want].all():
        f_cut, last[0] = f_phi, b_phi  # the probes bracketed every recorder: hi is p_hi
    else:
        f_cut = freed(cut)
    # Every row's recorder wants room: where the cutoff is the probe's, so are the segments.
    if (
        factor is not None
        and curve is not None
        and cumulative_of is not None
        and (hi[want] == p_hi[want]).all()
    ):
        up = up_phi if lid is None else up_phi[lid]
    else:
        up = upto(cut)
    take = up - fs
    sel = take > 0
    r_sel = rows[sel]
    row_b = last[0][sel]
    nbytes = float(f_cut[want].sum())
    cutoff[want] = hi[want]
    plan = SweepPlan(
        now_s=now_s,
        cutoff_s=float(np.nanmax(cutoff)),
        rows=r_sel.astype(np.int64, copy=False),
        old_first=fs[sel].astype(np.int64, copy=False),
        new_first=up[sel].astype(np.int64, copy=False),
        segments=int(take[sel].sum()),
        bytes=nbytes,
        overdue_after=0,
        row_bytes=row_b,
    )
    return OverwritePlan(plan, cutoff, short)
