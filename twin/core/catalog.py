"""The segment catalog: which segments exist for which camera, their span, size and holds.

Theory of operation
-------------------
The catalog stores *runs*: `n` consecutive segments of one camera on one recorder, each
`seg_s` long and `bytes_per_seg` big, from `start_s`. Of a run's segments the first `first`
are deleted. The live twin records one real segment per run (n=1, its real size and file
key); the simulation opens one run per camera per stretch of unbroken recording, and an
*open* run's segment count is derived from `now` (`floor((now - start) / seg)`), so a
camera that simply keeps recording costs nothing per segment. Cost follows state changes:
a camera starting or stopping, a hold, a sweep.

Holds (evidence) are placed per camera over a time window: the runs they touch are split on
segment boundaries so each run is either wholly held or wholly free, and a held run is never
due for deletion. A hold covers footage already recorded; an open run's segment still being
written is not covered (footage still to come needs a later hold).

Daily curves (twin.core.curves): a row may follow a curve (`curve` > 0); its
`bytes_per_seg` is then the segment's size at factor 1 and a span of its segments weighs
`bytes_per_seg / seg_s * (F(t1) - F(t0))`, exact for any span. Without a `CurveSet` every
byte sum is the plain `segments * bytes_per_seg` it always was.

The catalog is sans-IO: it never reads the clock or touches files. Adapters persist it
(SQLite in the live twin) and carry out the deletions a SweepPlan lists.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from twin.core.curves import CurveSet
from twin.core.overwrite import OverwritePlan, plan_overwrite
from twin.core.retention import SweepPlan, plan_sweep
from twin.core.types import Interval, SegmentRef
from twin.errors import CatalogError

__all__ = ["RunCatalog"]

_COLUMNS: dict[str, type] = {
    "run_id": np.int64,
    "camera": np.int32,
    "recorder": np.int32,
    "start_s": np.float64,
    "seg_s": np.float64,
    "n": np.int64,  # segments written; for an open run, the count when it was last closed (0)
    "first": np.int64,  # segments deleted from the front
    "bytes_per_seg": np.float64,
    "held": np.int32,  # number of holds covering the run
    "open": np.bool_,
    "curve": np.int16,  # daily curve of the row's bytes (0: flat; twin.core.curves)
}


def _first_ending_after(start: float, seg: float, t: float) -> int:
    """Index of a run's first segment that ends after `t` (exact, whatever the float noise)."""
    i = math.floor((t - start) / seg)
    while i > 0 and start + i * seg > t:
        i -= 1
    while start + (i + 1) * seg <= t:
        i += 1
    return i


def _count_starting_before(start: float, seg: float, t: float) -> int:
    """How many of a run's segments start before `t` (exact, whatever the float noise)."""
    i = math.ceil((t - start) / seg)
    while i > 0 and start + (i - 1) * seg >= t:
        i -= 1
    while start + i * seg < t:
        i += 1
    return i


class RunCatalog:
    """Columnar, run-length catalog of recorded segments (see the module docstring)."""

    def __init__(
        self,
        camera_names: Sequence[str],
        recorder_names: Sequence[str],
        capacity: int = 1024,
    ) -> None:
        self.camera_names = tuple(camera_names)
        self.recorder_names = tuple(recorder_names)
        self._size = 0
        self._cap = max(16, capacity)
        self._col: dict[str, np.ndarray] = {
            k: np.zeros(self._cap, dtype=t) for k, t in _COLUMNS.items()
        }
        self._next_id = 0
        self.open_row = np.full(len(self.camera_names), -1, dtype=np.int64)
        self.keys: dict[int, tuple[str, str]] = {}  # run_id -> (key, sha256), live segments
        self._holds: dict[str, tuple[int, float, float]] = {}
        self.deleted_segments = 0
        self.deleted_bytes = 0.0
        self.lost_segments = 0  # segments lost with a failed disk (drop_recorder)
        self.lost_bytes = 0.0
        self.curves: CurveSet | None = None  # set before any run with a curve is opened
        self._mut = 0  # bumped whenever a row's start or first changes (or rows move)
        self._rows = 0  # bumped as _mut, except when only rows' first changes (a sweep's apply)
        self._f_first: tuple[int, np.ndarray] = (-1, np.zeros(0))  # (at _mut, F at first)
        self._f_written: tuple[tuple[int, int], np.ndarray] = ((-1, -1), np.zeros(0))
        self._single: tuple[int, int | None] = (-1, None)
        self._per_s: tuple[int, np.ndarray] = (-1, np.zeros(0))  # (at _rows, bytes a second)
        self._grp: tuple[int, tuple[np.ndarray, np.ndarray]] = (
            -1,
            (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)),
        )
        self._live: tuple[object, np.ndarray] = (None, np.zeros(0))  # live_bytes' last answer
        self._plan_rows = -1  # _rows at the last overwrite plan

    # ----------------------------------------------------------------- columns
    def col(self, name: str) -> np.ndarray:
        """A read-only view of one column over the live rows."""
        v = self._col[name][: self._size]
        v.flags.writeable = False
        return v

    def __len__(self) -> int:
        return self._size

    def _grow(self, extra: int) -> None:
        need = self._size + extra
        if need <= self._cap:
            return
        while self._cap < need:
            self._cap *= 2
        for k, a in self._col.items():
            b = np.zeros(self._cap, dtype=a.dtype)
            b[: self._size] = a[: self._size]
            self._col[k] = b

    def _append(self, **cols: np.ndarray) -> np.ndarray:
        m = len(cols["camera"])
        self._grow(m)
        rows = np.arange(self._size, self._size + m)
        for k in _COLUMNS:
            if k == "run_id":
                continue
            self._col[k][rows] = cols.get(k, 0)
        self._col["run_id"][rows] = np.arange(self._next_id, self._next_id + m)
        self._next_id += m
        self._mut += 1
        self._rows += 1
        self._size += m
        return rows

    def written(self, now_s: float) -> np.ndarray:
        """Segments written per row at `now_s` (open runs: whole segments completed by now)."""
        c = self._col
        s = self._size
        w: np.ndarray = c["n"][:s].copy()
        o = c["open"][:s]
        if o.any():
            w[o] = np.floor((now_s - c["start_s"][:s][o]) / c["seg_s"][:s][o] + 1e-9).astype(
                np.int64
            )
        return w

    def _written_at(self, rows: np.ndarray, now_s: float) -> np.ndarray:
        """written() for some rows only: per-camera queries must not scan the whole table."""
        c = self._col
        w: np.ndarray = c["n"][rows].copy()
        o = c["open"][rows]
        if o.any():
            r = rows[o]
            w[o] = np.floor((now_s - c["start_s"][r]) / c["seg_s"][r] + 1e-9).astype(np.int64)
        return w

    def span_bytes(self, rows: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Bytes of segments [lo, hi) of each row (curve rows: the exact integral)."""
        c = self._col
        bps = c["bytes_per_seg"][rows]
        out: np.ndarray = (hi - lo) * bps
        if self.curves is None:
            return out
        cv = c["curve"][rows].astype(np.int64)
        on = cv > 0
        if on.any():
            r = rows[on]
            st, sg = c["start_s"][r], c["seg_s"][r]
            out[on] = (
                bps[on] / sg * self.curves.integral(cv[on], st + lo[on] * sg, st + hi[on] * sg)
            )
        return out

    def live_bytes(self, written: np.ndarray) -> np.ndarray:
        """Bytes on disk per row, given `written(now)` for every row."""
        s = self._size
        c = self._col
        if self.curves is None:
            flat: np.ndarray = (written - c["first"][:s]) * c["bytes_per_seg"][:s]
            return flat
        f_first = self._first_f()
        assert f_first is not None
        # The same rows (a sweep moves only their first), written as far: the same F.
        key = (self._rows, int(written.sum()))
        if self._f_written[0] != key:
            st, sg, cv = c["start_s"][:s], c["seg_s"][:s], c["curve"][:s].astype(np.int64)
            self._f_written = (
                key,
                self.curves.cumulative(cv, st + written * sg, self._one_curve()),
            )
        if self._per_s[0] != self._rows:  # bytes a second at factor 1, fixed per row
            self._per_s = (self._rows, c["bytes_per_seg"][:s] / c["seg_s"][:s])
        # A sweep that deleted nothing leaves both F as they were: the same bytes (read-only).
        if self._live[0] != (key, self._f_first[0]):
            out: np.ndarray = self._per_s[1] * (self._f_written[1] - f_first)
            out.flags.writeable = False
            self._live = ((key, self._f_first[0]), out)
        return self._live[1]

    # ----------------------------------------------------------------- writing
    def open_runs(
        self,
        cameras: np.ndarray,
        recorders: np.ndarray,
        start_s: float,
        seg_s: float,
        bytes_per_seg: np.ndarray,
        curve: np.ndarray | None = None,
    ) -> None:
        """Cameras start recording at `start_s` onto `recorders` (one open run each); `curve`
        gives each run's daily curve (default flat)."""
        cameras = np.asarray(cameras, dtype=np.int64)
        if cameras.size == 0:
            return
        busy = cameras[self.open_row[cameras] >= 0]
        if busy.size:
            raise CatalogError(
                f"camera {self.camera_names[int(busy[0])]!r} already has an open run; "
                "close it before opening another"
            )
        rows = self._append(
            camera=cameras,
            recorder=np.asarray(recorders),
            start_s=np.full(cameras.size, start_s),
            seg_s=np.full(cameras.size, seg_s),
            bytes_per_seg=np.asarray(bytes_per_seg, dtype=np.float64),
            open=np.ones(cameras.size, dtype=bool),
            curve=np.zeros(cameras.size, dtype=np.int16) if curve is None else np.asarray(curve),
        )
        self.open_row[cameras] = rows

    def add_runs(
        self,
        cameras: np.ndarray,
        recorders: np.ndarray,
        start_s: np.ndarray,
        seg_s: float | np.ndarray,
        n: np.ndarray,
        bytes_per_seg: np.ndarray,
        curve: np.ndarray | None = None,
    ) -> np.ndarray:
        """Closed runs of `n` finished segments each (footage that arrives whole, e.g. from a
        camera's own storage, or a crashed recorder's partial segment: one segment of its own
        length); `seg_s` is one length for all or one per run; returns their rows."""
        cameras = np.asarray(cameras, dtype=np.int64)
        seg = np.broadcast_to(np.asarray(seg_s, dtype=np.float64), cameras.shape)
        rows = self._append(
            camera=cameras,
            recorder=np.asarray(recorders),
            start_s=np.asarray(start_s, dtype=float),
            seg_s=seg,
            n=np.asarray(n, dtype=np.int64),
            bytes_per_seg=np.asarray(bytes_per_seg, dtype=np.float64),
            curve=np.zeros(cameras.size, dtype=np.int16) if curve is None else np.asarray(curve),
        )
        # A hold placed earlier on that window covers the footage that arrives (as add_segment).
        for _hid, (cam, h0, h1) in self._holds.items():
            hit = rows[
                (cameras == cam)
                & (np.asarray(start_s) < h1)
                & (np.asarray(start_s) + np.asarray(n) * seg > h0)
            ]
            self._col["held"][hit] += 1
        return rows

    def close_runs(self, cameras: np.ndarray, at_s: float) -> int:
        """Cameras stop recording at `at_s`; a segment in progress is not written.

        Returns the number of segments the closed runs hold in all.
        """
        cameras = np.asarray(cameras, dtype=np.int64)
        rows = self.open_row[cameras]
        rows = rows[rows >= 0]
        if rows.size == 0:
            return 0
        c = self._col
        n = np.floor((at_s - c["start_s"][rows]) / c["seg_s"][rows] + 1e-9).astype(np.int64)
        c["n"][rows] = np.maximum(n, 0)
        c["open"][rows] = False
        self.open_row[c["camera"][rows]] = -1
        return int(n.sum())

    def add_segment(
        self,
        camera: int,
        recorder: int,
        start_s: float,
        end_s: float,
        size_bytes: int,
        key: str,
        sha256: str = "",
    ) -> int:
        """Record one finished segment (the live twin); returns its run id."""
        if not end_s > start_s:
            raise CatalogError(
                f"segment {key!r}: end ({end_s}) must be after start ({start_s}); check the "
                "recorder's clock and segment boundaries"
            )
        rows = self._append(
            camera=np.array([camera]),
            recorder=np.array([recorder]),
            start_s=np.array([start_s]),
            seg_s=np.array([end_s - start_s]),
            n=np.array([1]),
            bytes_per_seg=np.array([float(size_bytes)]),
        )
        rid = int(self._col["run_id"][rows[0]])
        self.keys[rid] = (key, sha256)
        # A live segment can arrive after a hold on its window was placed.
        for _hid, (cam, h0, h1) in self._holds.items():
            if cam == camera and start_s < h1 and end_s > h0:
                self._col["held"][rows[0]] += 1
        return rid

    # ----------------------------------------------------------------- queries
    def stored_bytes_by_recorder(self, now_s: float) -> np.ndarray:
        s = self._size
        live = self.live_bytes(self.written(now_s))
        return np.bincount(
            self._col["recorder"][:s], weights=live, minlength=len(self.recorder_names)
        )

    def stored_segments(self, now_s: float) -> int:
        return int((self.written(now_s) - self._col["first"][: self._size]).sum())

    def oldest_unheld_start(self, now_s: float, written: np.ndarray | None = None) -> float:
        """Start of the oldest segment on disk that no hold covers (inf if none).

        `written` may pass `written(now_s)` when the caller has it already.
        """
        s = self._size
        c = self._col
        w = self.written(now_s) if written is None else written
        live = (w > c["first"][:s]) & (c["held"][:s] == 0)
        if not live.any():
            return math.inf
        return float((c["start_s"][:s] + c["first"][:s] * c["seg_s"][:s])[live].min())

    def segments(
        self, now_s: float, camera: int | None = None, window: Interval | None = None
    ) -> list[SegmentRef]:
        """The segments on disk (optionally of one camera, overlapping a window), in order."""
        c = self._col
        s = self._size
        if camera is not None:
            rows = np.flatnonzero(c["camera"][:s] == camera)
        else:
            rows = np.arange(s)
        w = np.zeros(s, dtype=np.int64)
        w[rows] = self._written_at(rows, now_s)
        rows = rows[w[rows] > c["first"][rows]]
        out: list[SegmentRef] = []
        for r in rows:
            start, seg = float(c["start_s"][r]), float(c["seg_s"][r])
            lo, hi = int(c["first"][r]), int(w[r])
            if window is not None:
                lo = max(lo, _first_ending_after(start, seg, window.start_s))
                hi = min(hi, _count_starting_before(start, seg, window.end_s))
            rid = int(c["run_id"][r])
            cam, rec = int(c["camera"][r]), int(c["recorder"][r])
            key, sha = self.keys.get(rid, ("", ""))
            cv = int(c["curve"][r])
            for i in range(lo, hi):
                a = start + i * seg
                size = c["bytes_per_seg"][r]
                if cv and self.curves is not None:
                    size = size / seg * float(self.curves.integral(cv, a, a + seg))
                out.append(
                    SegmentRef(
                        camera=self.camera_names[cam],
                        start_s=a,
                        end_s=a + seg,
                        bytes=int(size),
                        key=key or f"{self.camera_names[cam]}/{a:.0f}",
                        recorder=self.recorder_names[rec],
                        sha256=sha,
                    )
                )
        out.sort(key=lambda x: (x.camera, x.start_s, x.key))
        return out

    # ----------------------------------------------------------------- holds
    def hold(self, hold_id: str, camera: int, window: Interval, now_s: float) -> int:
        """Hold a camera's recorded segments overlapping `window`; returns segments held."""
        if hold_id in self._holds:
            raise CatalogError(f"hold {hold_id!r} exists already; use a new id per hold")
        c = self._col
        h0, h1 = window.start_s, min(window.end_s, now_s)
        orow = int(self.open_row[camera])
        if orow >= 0 and c["start_s"][orow] < h1:
            covered_end = (
                c["start_s"][orow] + self._written_at(np.array([orow]), now_s)[0] * c["seg_s"][orow]
            )
            h1 = min(h1, float(covered_end))
        self._holds[hold_id] = (camera, h0, h1)
        if h1 <= h0:
            return 0
        mine = np.flatnonzero(c["camera"][: self._size] == camera)
        held_total = 0
        for row, n_written in zip(mine, self._written_at(mine, now_s)):
            r, wr = int(row), int(n_written)
            start, seg = float(c["start_s"][r]), float(c["seg_s"][r])
            fst = int(c["first"][r])
            i0 = max(fst, _first_ending_after(start, seg, h0))
            i1 = min(wr, _count_starting_before(start, seg, h1))
            if i0 >= i1:
                continue
            held_total += i1 - i0
            r = self._split(r, i0, wr)
            r = self._split_tail(r, i1 - i0, now_s)
            c["held"][r] += 1
        return held_total

    def _split(self, r: int, i: int, written: int) -> int:
        """Split row r before its segment i; return the row holding segments i.. ."""
        c = self._col
        if i == 0:
            return r
        new = self._append(
            camera=c["camera"][r : r + 1],
            recorder=c["recorder"][r : r + 1],
            start_s=c["start_s"][r : r + 1] + i * c["seg_s"][r],
            seg_s=c["seg_s"][r : r + 1],
            n=np.array([written - i]),
            first=np.array([max(int(c["first"][r]) - i, 0)]),
            bytes_per_seg=c["bytes_per_seg"][r : r + 1],
            held=c["held"][r : r + 1],
            open=c["open"][r : r + 1],
            curve=c["curve"][r : r + 1],
        )[0]
        if c["open"][r]:
            c["open"][r] = False
            self.open_row[c["camera"][r]] = new
        c["n"][r] = i
        c["first"][r] = min(int(c["first"][r]), i)
        self._mut += 1
        self._rows += 1
        return int(new)

    def _split_tail(self, r: int, k: int, now_s: float) -> int:
        """Keep the first k segments in row r, moving the rest (or the open tail) to a new row."""
        c = self._col
        w = int(self._written_at(np.array([r]), now_s)[0])
        if k < w or c["open"][r]:
            self._split(r, k, w)
        return r

    def release(self, hold_id: str) -> None:
        """Release a hold; its segments are swept as usual once no other hold covers them."""
        try:
            cam, h0, h1 = self._holds.pop(hold_id)
        except KeyError:
            raise CatalogError(f"no hold {hold_id!r}; holds are: {sorted(self._holds)}") from None
        c = self._col
        rows = np.flatnonzero(c["camera"][: self._size] == cam)
        end = c["start_s"][rows] + np.maximum(c["n"][rows], 1) * c["seg_s"][rows]
        sel = rows[(c["held"][rows] > 0) & (c["start_s"][rows] < h1) & (end > h0)]
        c["held"][sel] -= 1

    @property
    def holds(self) -> dict[str, tuple[str, Interval]]:
        return {
            h: (self.camera_names[c], Interval(a, b))
            for h, (c, a, b) in sorted(self._holds.items())
        }

    # ----------------------------------------------------------------- sweeping
    def plan_sweep(
        self, now_s: float, retention_s: float, max_segments: int, written: np.ndarray | None = None
    ) -> SweepPlan:
        """The core's retention plan at `now_s` (see twin.core.retention.plan_sweep)."""
        s = self._size
        c = self._col
        w = self.written(now_s) if written is None else written
        plan = plan_sweep(
            c["start_s"][:s],
            c["seg_s"][:s],
            w,
            c["first"][:s],
            c["held"][:s],
            c["bytes_per_seg"][:s],
            now_s,
            retention_s,
            max_segments,
        )
        if self.curves is not None and plan.rows.size:
            nbytes = float(self.span_bytes(plan.rows, plan.old_first, plan.new_first).sum())
            plan = SweepPlan(
                plan.now_s,
                plan.cutoff_s,
                plan.rows,
                plan.old_first,
                plan.new_first,
                plan.segments,
                nbytes,
                plan.overdue_after,
            )
        return plan

    def plan_overwrite(
        self, now_s: float, need_bytes: np.ndarray, written: np.ndarray | None = None
    ) -> OverwritePlan:
        """Oldest unheld footage to delete early so each recorder frees `need_bytes[r]`
        (twin.core.overwrite); carry it out with `apply(result.plan)`."""
        s = self._size
        c = self._col
        w = self.written(now_s) if written is None else written
        if self._per_s[0] != self._rows:  # bytes a second at factor 1, fixed per row
            self._per_s = (self._rows, c["bytes_per_seg"][:s] / c["seg_s"][:s])
        # The groups cost a sort: found for rows that did not change since the last plan.
        stable = self._grp[0] == self._rows or self._plan_rows == self._rows
        self._plan_rows = self._rows
        return plan_overwrite(
            c["start_s"][:s],
            c["seg_s"][:s],
            w,
            c["first"][:s],
            c["held"][:s],
            c["recorder"][:s],
            self._per_s[1],
            np.asarray(need_bytes, dtype=float),
            now_s,
            self._cumulative,
            c["curve"][:s],
            self._curve_cumulative,
            self._curve_factor,
            self._first_f(),
            self._groups() if stable else None,
        )

    def _groups(self) -> tuple[np.ndarray, np.ndarray]:
        """Per row, an id shared by the rows of one recorder with the same start, segment
        length and curve, and a row of each id (kept until rows change)."""
        if self._grp[0] != self._rows:
            s = self._size
            c = self._col
            cols = (c["curve"][:s], c["seg_s"][:s], c["start_s"][:s], c["recorder"][:s])
            order = np.lexsort(cols)
            new = np.zeros(s, dtype=bool)
            new[:1] = True
            for a in cols:
                v = a[order]
                new[1:] |= v[1:] != v[:-1]
            ids = np.empty(s, dtype=np.int64)
            ids[order] = np.cumsum(new) - 1
            self._grp = (self._rows, (ids, order[new]))
        return self._grp[1]

    def _one_curve(self) -> int | None:
        """The curve every row follows, if they all follow one (kept until rows change)."""
        if self._single[0] != self._rows:
            cv = self._col["curve"][: self._size]
            one = int(cv[0]) if cv.size and int(cv.min()) == int(cv.max()) else None
            self._single = (self._rows, one)
        return self._single[1]

    def _first_f(self) -> np.ndarray | None:
        """F at each row's first segment (curves only), kept until a row's first moves."""
        if self.curves is None:
            return None
        s = self._size
        c = self._col
        if self._f_first[0] != self._mut:
            cv, st, sg = c["curve"][:s].astype(np.int64), c["start_s"][:s], c["seg_s"][:s]
            self._f_first = (
                self._mut,
                self.curves.cumulative(cv, st + c["first"][:s] * sg, self._one_curve()),
            )
        return self._f_first[1]

    def _curve_cumulative(self, curve: np.ndarray, t: np.ndarray) -> np.ndarray:
        if self.curves is None:
            return np.asarray(t, dtype=np.float64)
        return self.curves.cumulative(curve, t)

    def _curve_factor(self, curve: np.ndarray, t: np.ndarray) -> np.ndarray:
        if self.curves is None:
            return np.ones(np.shape(t))
        return self.curves.factor_at(curve, t)

    def _cumulative(self, rows: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Factor-seconds of each row's curve from 0 to t (t itself without curves)."""
        if self.curves is None:
            return np.asarray(t, dtype=np.float64)
        one = self._one_curve()
        if one is not None:
            return self.curves.cumulative(one, t, one)
        return self.curves.cumulative(self._col["curve"][rows].astype(np.int64), t)

    def deleted_refs(self, plan: SweepPlan) -> list[SegmentRef]:
        """The segments a plan deletes (for adapters that remove files); call before apply()."""
        c = self._col
        out = []
        for r, a, b in zip(plan.rows, plan.old_first, plan.new_first):
            rid = int(c["run_id"][r])
            key, sha = self.keys.get(rid, ("", ""))
            cam = self.camera_names[int(c["camera"][r])]
            for i in range(int(a), int(b)):
                t = float(c["start_s"][r] + i * c["seg_s"][r])
                out.append(
                    SegmentRef(
                        cam,
                        t,
                        t + float(c["seg_s"][r]),
                        int(c["bytes_per_seg"][r]),
                        key or f"{cam}/{t:.0f}",
                        self.recorder_names[int(c["recorder"][r])],
                        sha,
                    )
                )
        return out

    def apply(self, plan: SweepPlan) -> np.ndarray:
        """Carry out a plan; returns the bytes it freed per recorder."""
        c = self._col
        if plan.rows.size and (c["first"][plan.rows] != plan.old_first).any():
            raise CatalogError(
                "sweep plan is stale: the catalog changed since it was made; plan again"
            )
        if self.curves is None and plan.row_bytes is None:
            weights = plan.deleted_per_row * c["bytes_per_seg"][plan.rows]
        elif plan.row_bytes is not None:
            weights = plan.row_bytes
        else:
            weights = self.span_bytes(plan.rows, plan.old_first, plan.new_first)
        freed = np.bincount(
            c["recorder"][plan.rows], weights=weights, minlength=len(self.recorder_names)
        )
        c["first"][plan.rows] = plan.new_first
        if plan.rows.size:
            self._mut += 1
        self.deleted_segments += plan.segments
        self.deleted_bytes += plan.bytes
        gone = plan.rows[(~c["open"][plan.rows]) & (plan.new_first >= c["n"][plan.rows])]
        for rid in c["run_id"][gone]:
            self.keys.pop(int(rid), None)
        self._compact()
        return freed

    def _compact(self) -> None:
        """Drop closed runs with nothing left on disk, once they are half the table."""
        s = self._size
        c = self._col
        dead = (~c["open"][:s]) & (c["first"][:s] >= c["n"][:s])
        if s < 1024 or dead.sum() * 2 < s:
            return
        self._keep_rows(np.flatnonzero(~dead))

    def _keep_rows(self, keep: np.ndarray) -> None:
        """Keep only rows `keep` (in order) and re-point the open-run index."""
        c = self._col
        for k in _COLUMNS:
            c[k][: keep.size] = c[k][keep]
        self._size = int(keep.size)
        self._mut += 1
        self._rows += 1
        self.open_row[:] = -1
        o = np.flatnonzero(c["open"][: self._size])
        self.open_row[c["camera"][o]] = o

    # ----------------------------------------------------------------- loss
    def footage_s_by_camera(self, now_s: float, recorder: int) -> np.ndarray:
        """Seconds of footage each camera has on `recorder` at `now_s` (length: cameras)."""
        s = self._size
        c = self._col
        on = c["recorder"][:s] == recorder
        secs = (self.written(now_s)[on] - c["first"][:s][on]) * c["seg_s"][:s][on]
        return np.bincount(c["camera"][:s][on], weights=secs, minlength=len(self.camera_names))

    def drop_window(
        self, recorder: int, window: Interval, now_s: float
    ) -> tuple[np.ndarray, int, float, int]:
        """The footage a recorder holds from `window` is lost (one failed drive of a JBOD
        that fills its drives in turn holds one stretch of time), held footage too.

        Rows are split on segment boundaries like a hold's, so the cameras keep recording
        into their open runs. Returns (seconds lost per camera, segments, bytes, segments
        that were held); segments and bytes are added to `lost_segments`, `lost_bytes`.
        """
        c = self._col
        mine = np.flatnonzero(c["recorder"][: self._size] == recorder)
        secs = np.zeros(len(self.camera_names))
        segs, held = 0, 0
        nbytes = 0.0
        for r, wr in zip(mine, self._written_at(mine, now_s)):
            start, seg = float(c["start_s"][r]), float(c["seg_s"][r])
            fst, wr = int(c["first"][r]), int(wr)
            i0 = max(fst, _first_ending_after(start, seg, window.start_s))
            i1 = min(wr, _count_starting_before(start, seg, window.end_s))
            if i0 >= i1:
                continue
            k = i1 - i0
            nbytes += float(self.span_bytes(np.array([r]), np.array([i0]), np.array([i1]))[0])
            r2 = self._split(int(r), i0, wr)
            r2 = self._split_tail(r2, k, now_s)
            c["first"][r2] = c["n"][r2]
            self._mut += 1
            self._rows += 1
            secs[int(c["camera"][r2])] += k * seg
            segs += k
            held += k if c["held"][r2] > 0 else 0
        self.lost_segments += segs
        self.lost_bytes += nbytes
        return secs, segs, nbytes, held

    def drop_recorder(self, recorder: int, now_s: float) -> tuple[int, float]:
        """A recorder's disk is lost: its segments leave the catalog, held ones too.

        Its cameras' runs must be closed first (a camera still recording onto a dead disk is
        a bug in the caller). Returns (segments, bytes) lost; they are also added to
        `lost_segments` and `lost_bytes` (apart from what retention deleted).
        """
        s = self._size
        c = self._col
        on = c["recorder"][:s] == recorder
        if (on & c["open"][:s]).any():
            cam = int(c["camera"][:s][on & c["open"][:s]][0])
            raise CatalogError(
                f"recorder {self.recorder_names[recorder]!r} still has an open run (camera "
                f"{self.camera_names[cam]!r}); close its cameras' runs before dropping its disk"
            )
        w = self.written(now_s)
        live = w[on] - c["first"][:s][on]
        segs = int(live.sum())
        if self.curves is None:
            nbytes = float((live * c["bytes_per_seg"][:s][on]).sum())
        else:
            nbytes = float(self.live_bytes(w)[on].sum())
        for rid in c["run_id"][:s][on]:
            self.keys.pop(int(rid), None)
        self._keep_rows(np.flatnonzero(~on))
        self.lost_segments += segs
        self.lost_bytes += nbytes
        return segs, nbytes
