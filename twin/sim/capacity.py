"""Daily bitrate curves and the overwrite_oldest full-disk policy in the SimPy engine.

Theory of operation
-------------------
The engine calls this module only when its city has a daily curve or a pool overwrites
(`Capacity.wanted`); otherwise it runs its own flat, drop_new code, so every scenario that
uses neither is bit for bit what it was.

Curves. Each recorder keeps, per curve, the bytes a second (at factor 1) of the cameras it
records (`rate_g`, recorder x curve), changed only when a camera changes state. A writer
tick from t charges `rate_g @ (F(t + tick) - F(t))` (twin.core.curves: the exact integral
of the piecewise-constant factors), the quiet ticks a run of those at once, and a closed run
is credited back the difference between what was charged and the integral over its whole
segments, so the recorders' bytes stay exact. The catalog's rows carry their curve, so
the footage on disk, what a sweep frees and what a lost disk held are integrals too.

Overwrite. When a recorder of an `overwrite_oldest` pool is about to turn full, every such
recorder that would be full within `room_ahead_s` of writing makes that room at once by
deleting its oldest unheld footage (twin.core.overwrite), so the work is one catalog pass
per top-up for the whole city, not per recorder or per tick. A recorder whose unheld footage
is not enough stays full and drops new footage (`disk_full`), counted. Each top-up measures
what each recorder still holds: its achieved retention is the shortest span from its oldest
unheld footage to now just after a top-up (the retention period if it never overwrote).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import simpy

from twin.core.catalog import RunCatalog
from twin.model.city import CityModel
from twin.scenario import Scenario
from twin.scenario.capacity import OverwriteOldest

__all__ = ["Capacity", "recorder_columns"]


# What this module uses of the engine (twin.sim.engine imports this module, so it names its
# collaborators by what they offer: CityEngine, DiskLedger and SimOutcome each fit).
class EngineView(Protocol):
    """The engine's settings and read-only views Capacity reads."""

    @property
    def city(self) -> CityModel: ...
    @property
    def sc(self) -> Scenario: ...
    @property
    def env(self) -> simpy.Environment: ...
    @property
    def progress(self) -> Callable[[float, float], None] | None: ...
    @property
    def catalog(self) -> RunCatalog: ...
    @property
    def seg_s(self) -> float: ...
    @property
    def tick_s(self) -> float: ...
    @property
    def k(self) -> int: ...
    @property
    def end_s(self) -> float: ...
    @property
    def stream_cam(self) -> np.ndarray: ...
    @property
    def cam_bps(self) -> np.ndarray: ...
    @property
    def run_start(self) -> np.ndarray: ...
    @property
    def charge_from(self) -> np.ndarray: ...
    @property
    def rec_ncams(self) -> np.ndarray: ...
    @property
    def rec_full(self) -> np.ndarray: ...
    @property
    def rec_fill(self) -> np.ndarray: ...
    @property
    def rec_used(self) -> np.ndarray: ...
    @property
    def rec_peak(self) -> np.ndarray: ...


class Ledger(Protocol):
    """The one write path to the recorders' disks (DiskLedger)."""

    def charge(self, add: np.ndarray, segments: int, through: float) -> None: ...
    def free(self, freed: np.ndarray) -> None: ...


class OutcomeView(Protocol):
    """What recorder_columns reads of a run's outcome (SimOutcome)."""

    @property
    def scenario(self) -> Scenario: ...
    @property
    def city(self) -> CityModel: ...
    @property
    def capacity(self) -> Capacity | None: ...


class Capacity:
    """Curved writing and overwrite_oldest for one engine (module docstring).

    It reads the engine's state through its read-only views and charges and frees disk bytes
    only through the ledger the engine hands it (`DiskLedger.charge`, `DiskLedger.free`).
    """

    def __init__(self, engine: EngineView, disk: Ledger, quiet_ticks_max: int) -> None:
        self.e = engine
        self.disk = disk
        self.quiet_ticks_max = quiet_ticks_max  # the engine's bound on ticks charged at once
        city, sc = engine.city, engine.sc
        self.curves = city.curves
        n, r = city.n_cameras, city.n_recorders
        self.cam_curve = (
            np.zeros(n, dtype=np.int64)
            if city.cam_curve is None
            else np.asarray(city.cam_curve, dtype=np.int64)
        )
        g = 1 if self.curves is None else len(self.curves)
        self.rate_g = np.zeros((r, g))  # bytes/s at factor 1, per recorder and curve
        pools = sc.recorders.pools
        self.overwrite = np.array(
            [isinstance(pools[p].full_disk, OverwriteOldest) for p in city.rec_pool], dtype=bool
        )
        self.ahead_s = np.array(
            [getattr(pools[p].full_disk, "room_ahead_s", 0.0) for p in city.rec_pool]
        )
        # The overwriting recorders by how far ahead they make room (fixed for the run).
        self._ahead = [
            (float(s), self.overwrite & (self.ahead_s == s))
            for s in np.unique(self.ahead_s[self.overwrite])
        ]
        self.retention_s = sc.recording.retention_s
        self.achieved_s = np.full(r, np.inf)  # shortest span held just after a top-up
        self.early_segments = 0
        self.early_bytes = 0.0
        self.topups = 0
        self._tick_df: dict[float, np.ndarray] = {}

    @staticmethod
    def wanted(engine: EngineView) -> bool:
        pools = engine.sc.recorders.pools
        return engine.city.curves is not None or any(
            isinstance(p.full_disk, OverwriteOldest) for p in pools
        )

    # ------------------------------------------------------------------ curves
    def curve_of(self, cams: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.cam_curve[self.e.stream_cam[cams]].astype(np.int16)
        return out

    def contribute(self, cams: np.ndarray, recs: np.ndarray, sign: int) -> None:
        """Cameras start (+1) or stop (-1) counting in their recorder's rate."""
        e = self.e
        np.add.at(
            self.rate_g,
            (recs, self.cam_curve[e.stream_cam[cams]]),
            sign * e.cam_bps[cams] / e.seg_s,
        )
        self.rate_g[e.rec_ncams == 0] = 0.0

    def _dF(self, t0: np.ndarray | float, t1: np.ndarray | float) -> np.ndarray:
        """Factor-seconds of every curve over [t0, t1] (rows: times; columns: curves)."""
        if self.curves is not None and np.ndim(t0) == 0:  # the writer's ticks: one start
            return self.curves.integral_every(float(t0), np.atleast_1d(t1))
        a = np.atleast_1d(np.asarray(t0, dtype=np.float64))[:, None]
        b = np.atleast_1d(np.asarray(t1, dtype=np.float64))[:, None]
        if self.curves is None:
            out: np.ndarray = b - a
            return out
        g = np.arange(len(self.curves))[None, :]
        return self.curves.integral(g, a, b)

    def tick_add(self, t: float) -> np.ndarray:
        """Bytes each recorder's cameras write over the tick from t (the curves' factor-
        seconds of a tick depend only on its time of day: kept per time of day)."""
        key = t % 86_400.0
        df = self._tick_df.get(key)
        if df is None:
            df = self._tick_df[key] = self._dF(key, key + self.e.tick_s)[0]
        out: np.ndarray = self.rate_g @ df
        return out

    def quiet_ticks(self, t: float, tick: int, every: int) -> tuple[float, int]:
        """The engine's _quiet_ticks with the curves' tick sizes (see the engine)."""
        e = self.e
        horizon = e.env.peek()
        if not horizon > t:
            return t, tick
        m = min(self.quiet_ticks_max, int(np.ceil((horizon - t) / e.tick_s)))
        times = t + e.tick_s * np.arange(m + 1)
        m = int(np.count_nonzero(times[:m] < horizon))
        if m == 0:
            return t, tick
        times = times[: m + 1]
        taking = ~e.rec_full
        cum = self._dF(times[0], times) @ self.rate_g.T  # [tick, recorder] since t
        adds = np.diff(cum, axis=0)
        used = e.rec_used + cum[:m] * taking
        room = e.city.rec_disk_bytes - e.rec_fill
        full = (used + adds > room) & (adds > 0)
        same = (full == e.rec_full).all(axis=1)
        n = m if same.all() else int(np.argmin(same))
        if n == 0:
            return t, tick
        self.disk.charge(cum[n] * taking, n * int(e.rec_ncams[taking].sum()) * e.k, float(times[n]))
        if e.progress is not None:
            for j in range(n):
                if (tick + j + 1) % every == 0:
                    e.progress(float(times[j]), e.end_s)
        return float(times[n]), tick + n

    def credit(self, cams: np.ndarray, whole: np.ndarray, charged_to: float) -> np.ndarray:
        """Bytes to add back to each camera's recorder: its whole segments' integral less
        what the writer charged it from `charge_from` to `charged_to`."""
        e = self.e
        cv = self.cam_curve[e.stream_cam[cams]]
        per_s = e.cam_bps[cams] / e.seg_s
        a = e.run_start[cams]
        held = self._integral(cv, a, a + whole * e.seg_s)
        cf = e.charge_from[cams]
        charged = np.where(charged_to > cf, self._integral(cv, cf, np.maximum(charged_to, cf)), 0.0)
        out: np.ndarray = per_s * (held - charged)
        return out

    def _integral(self, cv: np.ndarray, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
        if self.curves is None:
            out: np.ndarray = t1 - t0
            return out
        return self.curves.integral(cv, t0, t1)

    # ------------------------------------------------------------------ overwrite
    def make_room(self, t: float, full: np.ndarray, rate: np.ndarray) -> np.ndarray:
        """Overwrite pools' recorders about to turn full make room (module docstring);
        returns the recorders still full."""
        e = self.e
        if not (full & self.overwrite & ~e.rec_full).any():
            return full
        room = e.city.rec_disk_bytes - e.rec_fill
        ahead = np.zeros(self.overwrite.size)
        for s, m in self._ahead:
            ahead[m] = self.rate_g[m] @ self._dF(t, t + s)[0]
        need = np.where(self.overwrite, e.rec_used + np.maximum(ahead, rate) - room, 0.0)
        need[need < 0] = 0.0
        cat = e.catalog
        written = cat.written(t)
        res = cat.plan_overwrite(t, need, written)
        plan = res.plan
        if plan.rows.size:
            st, sg = cat.col("start_s"), cat.col("seg_s")
            if plan.rows.size != st.size:  # else the plan lists every row, in order
                st, sg = st[plan.rows], sg[plan.rows]
            due = np.floor((t - self.retention_s - st) / sg + 1e-9).astype(np.int64)
            lo = np.clip(np.maximum(due, plan.old_first), plan.old_first, plan.new_first)
            self.early_segments += int((plan.new_first - lo).sum())
            if (lo == plan.old_first).all():  # nothing it deleted was due yet: all early
                self.early_bytes += plan.bytes
            else:
                self.early_bytes += float(cat.span_bytes(plan.rows, lo, plan.new_first).sum())
            self.disk.free(cat.apply(plan))
        self.topups += 1
        # What each recorder topped up still holds, back from now.
        first = cat.col("first")
        if len(cat) != written.size:  # apply compacted the table
            written = cat.written(t)
        live = (written > first) & (cat.col("held") == 0)
        oldest = np.full(self.overwrite.size, t)
        rec = cat.col("recorder")[live].astype(np.int64)
        np.minimum.at(oldest, rec, (cat.col("start_s") + first * cat.col("seg_s"))[live])
        asked = need > 0
        self.achieved_s[asked] = np.minimum(self.achieved_s[asked], t - oldest[asked])
        out: np.ndarray = (e.rec_used + rate > room) & (rate > 0)
        return out

    def achieved_days(self) -> np.ndarray:
        """Per recorder: the retention it achieved, days (the retention period if it never
        had to overwrite)."""
        out: np.ndarray = np.minimum(self.achieved_s, self.retention_s) / 86_400
        return out

    def metrics(self) -> dict[str, float]:
        """Achieved retention over the recorders that recorded, and footage deleted early
        (only with an overwrite pool, so other runs' metrics are unchanged)."""
        if not self.overwrite.any():
            return {}
        e = self.e
        used = e.rec_peak > 0
        days = self.achieved_days()[used] if used.any() else np.array([self.retention_s / 86_400])
        return {
            "retention_achieved_days_min": float(days.min()),
            "retention_achieved_days_p5": float(np.percentile(days, 5)),
            "retention_achieved_days_median": float(np.median(days)),
            "segments_deleted_early": float(self.early_segments),
            "footage_deleted_early_tb": self.early_bytes / 1e12,
        }


def recorder_columns(o: OutcomeView) -> list[dict[str, object]]:
    """Per recorder, the results.json columns of issue 15's features where they are used:
    achieved retention (overwrite pools), drives, RAID level, raw and usable TB (pools with
    drives:). Empty dicts otherwise, so other runs' results are unchanged."""
    city, sc = o.city, o.scenario
    cap = o.capacity
    out: list[dict[str, object]] = []
    achieved = cap.achieved_days() if cap is not None and cap.overwrite.any() else None
    for r in range(city.n_recorders):
        row: dict[str, object] = {}
        pool = sc.recorders.pools[int(city.rec_pool[r])]
        if achieved is not None and cap is not None and cap.overwrite[r]:
            row["retention_achieved_days"] = round(float(achieved[r]), 6)
            row["full_disk"] = "overwrite_oldest"
        if pool.drives is not None:
            d = pool.drives
            row.update(
                drives=d.count,
                drive_tb=d.size_tb,
                raid=d.raid,
                hot_spares=d.hot_spares,
                raw_tb=round(d.size_tb * d.count, 6),
            )
        out.append(row)
    return out
