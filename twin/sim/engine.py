"""The SimPy engine: the whole city on virtual time, driving the production core.

Theory of operation
-------------------
Four SimPy processes share one environment (equal-time events run in SimPy's fixed
(time, priority, seq) order, so a run is deterministic):

- roll-out: at each time some sets come on line, their cameras go through the district
  backhaul check and the assignment policy (core.assignment), and the ones placed start an
  open run in the catalog (core.catalog).
- writer: every tick (a whole number of segments) each recorder either takes the tick's
  segments of all its cameras or, if its disk cannot hold them, drops them all (counted per
  camera). Only recorder-sized arrays are touched per tick; a camera is touched only when it
  changes state (starts, stops, starts or stops dropping).
- sweeper: every sweep interval the core's retention plan runs on the catalog and the
  recorders' disks are credited with what it freed.
- sampler: time series for plots and the report.

A camera is in one state at a time (the transition table is CAMERA_TRANSITIONS): off line,
recording (an open run), or dropping for a reason (segments counted, never written). The
segments a camera drops are `(t_resume - t_drop) / segment_s`, booked when it resumes or at
the end of the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import simpy

from twin.city import CityModel
from twin.core.assignment import RecorderLoads, accept_within_limits
from twin.core.catalog import RunCatalog
from twin.scenario import Scenario, StaticAssignment

__all__ = ["DROP_REASONS", "CAMERA_TRANSITIONS", "SimOutcome", "CityEngine", "Extension"]

OFFLINE, RECORDING, DROPPING = 0, 1, 2
DROP_REASONS: tuple[str, ...] = ("disk_full", "ingest_limit", "unplaced", "backhaul")

# (from state, event) -> to state. Anything else is a bug in the engine.
CAMERA_TRANSITIONS: dict[tuple[int, str], int] = {
    (OFFLINE, "placed"): RECORDING,
    (OFFLINE, "refused"): DROPPING,
    (RECORDING, "drop"): DROPPING,
    (DROPPING, "resume"): RECORDING,
}


class Extension(Protocol):
    """A part of the programme simulated beside the recording core (evidence, faults, ...).

    `attach` runs before the simulation starts and may add SimPy processes to `engine.env`
    and read or change the engine's state through its public attributes (catalog, loads,
    cam_* and rec_* arrays). `finish` runs after it ends and returns scalar metrics (names
    registered in twin.metrics). `plot` writes PNGs and returns {role: file name}.
    """

    name: str

    def attach(self, engine: CityEngine) -> None: ...

    def finish(self, engine: CityEngine) -> dict[str, float]: ...

    def plot(self, outcome: SimOutcome, out: Path) -> dict[str, str]: ...


@dataclass
class SimOutcome:
    """Everything a run measured, for results.py to turn into results.json, CSVs and plots."""

    scenario: Scenario
    city: CityModel
    end_s: float
    cam_recorder: np.ndarray
    cam_state: np.ndarray
    dropped: np.ndarray  # int64 [reason, camera]
    rec_peak_bytes: np.ndarray
    rec_load_mbps_max: np.ndarray
    rec_streams_max: np.ndarray
    backhaul_mbps: np.ndarray
    written_segments: int
    deleted_segments: int
    stored_bytes_end: np.ndarray  # per recorder
    stored_segments_end: int
    overdue_max: int
    total_peak_bytes: float
    series: dict[str, np.ndarray] = field(default_factory=dict)
    rec_series_bytes: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    rec_series_load: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    max_age_s: float = 0.0
    cam_reason: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8))
    rec_load_mbps_end: np.ndarray = field(default_factory=lambda: np.zeros(0))
    extra_metrics: dict[str, float] = field(default_factory=dict)
    extensions: list[Extension] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)


class CityEngine:
    """Runs one scenario on SimPy virtual time. Use `run()` once."""

    def __init__(
        self,
        sc: Scenario,
        city: CityModel,
        progress: Callable[[float, float], None] | None = None,
        extensions: list[Extension] | None = None,
    ) -> None:
        self.sc = sc
        self.city = city
        self.progress = progress
        self.env = simpy.Environment()
        self.extensions = list(extensions or [])
        self.events: list[dict] = []  # notable events, in time order, for results.json
        self.seg_s = float(sc.recording.segment_s)
        self.tick_s = float(sc.simulation.tick_s)
        self.k = int(sc.simulation.tick_s // sc.recording.segment_s)  # segments per tick
        n, r = city.n_cameras, city.n_recorders
        names = [city.camera_name(i) for i in range(n)]
        self.catalog = RunCatalog(names, city.rec_names, capacity=max(1024, 2 * n))
        self.loads = RecorderLoads(city.rec_pool, city.rec_ingest_mbps, city.rec_max_streams)
        self.cam_bps = city.cam_effective_mbps * 1e6 / 8.0 * self.seg_s  # bytes per segment
        self.cam_rec = np.full(n, -1, dtype=np.int64)
        self.cam_state = np.zeros(n, dtype=np.int8)
        self.cam_reason = np.full(n, -1, dtype=np.int8)
        self.cam_since = np.zeros(n)
        self.dropped = np.zeros((len(DROP_REASONS), n), dtype=np.int64)
        self.rec_rate = np.zeros(r)  # bytes per tick of the cameras a recorder records
        self.rec_ncams = np.zeros(r, dtype=np.int64)
        self.rec_used = np.zeros(r)
        self.rec_full = np.zeros(r, dtype=bool)
        self.rec_peak = np.zeros(r)
        self.rec_load_max = np.zeros(r)
        self.rec_streams_max = np.zeros(r, dtype=np.int64)
        self.backhaul = np.zeros(len(city.district_names))
        self.static_counters: dict[int, int] = {}
        self.written = 0
        self.overdue_max = 0
        self.total_peak = 0.0
        self.max_age_s = 0.0
        self._samples: list[tuple] = []
        self._rec_bytes: list[np.ndarray] = []
        self._rec_load: list[np.ndarray] = []

    # ------------------------------------------------------------ camera states
    def _move(self, cams: np.ndarray, event: str) -> None:
        to = {CAMERA_TRANSITIONS[(int(s), event)] for s in np.unique(self.cam_state[cams])}
        assert len(to) == 1, f"cameras in mixed states for event {event!r}"
        self.cam_state[cams] = to.pop()

    def _start_dropping(self, cams: np.ndarray, reason: str, t: float, event: str = "drop") -> None:
        if cams.size == 0:
            return
        self._move(cams, event)
        self.cam_reason[cams] = DROP_REASONS.index(reason)
        self.cam_since[cams] = t

    def _book_drops(self, cams: np.ndarray, t: float) -> None:
        segs = np.rint((t - self.cam_since[cams]) / self.seg_s).astype(np.int64)
        np.add.at(self.dropped, (self.cam_reason[cams].astype(np.int64), cams), segs)
        self.cam_since[cams] = t

    def _resume(self, cams: np.ndarray, t: float) -> None:
        if cams.size == 0:
            return
        self._book_drops(cams, t)
        self._move(cams, "resume")
        self.cam_reason[cams] = -1
        self.catalog.open_runs(cams, self.cam_rec[cams], t, self.seg_s, self.cam_bps[cams])

    # ------------------------------------------------------------ processes
    def _activate(self, cams: np.ndarray, t: float) -> None:
        city = self.city
        mbps = city.cam_mbps[cams]
        # Backhaul: the district's link carries its cameras in camera order until it is full.
        dist = city.cam_district[cams]
        room = city.district_backhaul_mbps - self.backhaul
        over_bh = ~accept_within_limits(dist, mbps, room, np.full(room.size, 1 << 62))
        np.add.at(self.backhaul, dist[~over_bh], mbps[~over_bh])
        self._start_dropping(cams[over_bh], "backhaul", t, "refused")
        cams, mbps = cams[~over_bh], mbps[~over_bh]
        pool = city.cam_pool[cams]
        if isinstance(self.sc.recorders.assignment, StaticAssignment):
            rec = self.loads.place_static(pool, self.static_counters)
            self.cam_rec[cams] = rec
            room_in = self.loads.ingest_limit - self.loads.load_mbps
            room_st = self.loads.stream_limit - self.loads.streams
            ok = accept_within_limits(rec, mbps, room_in, room_st)
            for c, r, m in zip(cams[ok], rec[ok], mbps[ok]):
                self.loads.add(int(r), float(m))
            self._start_dropping(cams[~ok], "ingest_limit", t, "refused")
        else:
            rec = self.loads.place_balanced(mbps, pool)
            self.cam_rec[cams] = rec
            ok = rec >= 0
            self._start_dropping(cams[~ok], "unplaced", t, "refused")
        placed = cams[ok]
        if placed.size:
            self._move(placed, "placed")
            self.catalog.open_runs(placed, self.cam_rec[placed], t, self.seg_s, self.cam_bps[placed])
            np.add.at(self.rec_rate, self.cam_rec[placed], self.cam_bps[placed] * self.k)
            np.add.at(self.rec_ncams, self.cam_rec[placed], 1)
        np.maximum(self.rec_load_max, self.loads.load_mbps, out=self.rec_load_max)
        np.maximum(self.rec_streams_max, self.loads.streams, out=self.rec_streams_max)

    def _rollout(self):
        online = self.city.cam_online_s
        for t in np.unique(online):
            if t >= self.end_s:
                break
            if t > self.env.now:
                yield self.env.timeout(t - self.env.now)
            self._activate(np.flatnonzero(online == t), float(self.env.now))

    def _writer(self):
        disk = self.city.rec_disk_bytes
        every = max(1, int(86_400 // self.tick_s))
        tick = 0
        while True:
            t = float(self.env.now)
            full = (self.rec_used + self.rec_rate > disk) & (self.rec_rate > 0)
            changed = full != self.rec_full
            if changed.any():
                now_full = np.flatnonzero(changed & full)
                now_ok = np.flatnonzero(changed & ~full)
                if now_full.size:
                    cams = np.flatnonzero(np.isin(self.cam_rec, now_full) & (self.cam_state == RECORDING))
                    self.catalog.close_runs(cams, t)
                    self._start_dropping(cams, "disk_full", t)
                if now_ok.size:
                    cams = np.flatnonzero(np.isin(self.cam_rec, now_ok) & (self.cam_state == DROPPING)
                                          & (self.cam_reason == DROP_REASONS.index("disk_full")))
                    self._resume(cams, t)
                self.rec_full = full
            taking = ~full
            self.rec_used += self.rec_rate * taking
            self.written += int(self.rec_ncams[taking].sum()) * self.k
            np.maximum(self.rec_peak, self.rec_used, out=self.rec_peak)
            total = float(self.rec_used.sum())
            if total > self.total_peak:
                self.total_peak = total
            tick += 1
            if self.progress is not None and tick % every == 0:
                self.progress(t, self.end_s)
            yield self.env.timeout(self.tick_s)

    def _sweeper(self):
        rec = self.sc.recording
        while True:
            yield self.env.timeout(rec.sweep_interval_s)
            t = float(self.env.now)
            # The oldest footage is oldest just before a sweep: that is the age retention allows.
            age = t - self.catalog.oldest_unheld_start(t)
            if np.isfinite(age):
                self.max_age_s = max(self.max_age_s, age)
            plan = self.catalog.plan_sweep(t, rec.retention_s, rec.sweep_batch_segments)
            freed = self.catalog.apply(plan)
            self.rec_used -= freed
            self.overdue_max = max(self.overdue_max, plan.overdue_after)

    def _sampler(self):
        pool = self.city.rec_pool
        npool = len(self.city.pool_names)
        while True:
            t = float(self.env.now)
            stored = self.catalog.stored_bytes_by_recorder(t)
            self._rec_bytes.append(stored)
            self._rec_load.append(self.loads.load_mbps.copy())
            dropped_now = int(self.dropped.sum()) + int(
                np.rint((t - self.cam_since[self.cam_state == DROPPING]) / self.seg_s).sum()
            )
            self._samples.append((
                t, self.written, self.catalog.deleted_segments, dropped_now,
                int((self.cam_state != OFFLINE).sum()), int((self.cam_state == RECORDING).sum()),
                *np.bincount(pool, weights=stored, minlength=npool),
            ))
            yield self.env.timeout(self.sc.simulation.sample_s)

    # ------------------------------------------------------------ run
    def run(self, days: float | None = None) -> SimOutcome:
        days = self.sc.simulation.days if days is None else days
        self.end_s = float(np.ceil(days * 86_400 / self.tick_s) * self.tick_s)
        env = self.env
        env.process(self._rollout())
        env.process(self._writer())
        env.process(self._sweeper())
        env.process(self._sampler())
        for ext in self.extensions:
            ext.attach(self)
        env.run(until=self.end_s)
        end = self.end_s
        dropping = np.flatnonzero(self.cam_state == DROPPING)
        self._book_drops(dropping, end)
        cols = ["t_s", "written", "deleted", "dropped", "cameras_online", "cameras_recording"]
        cols += [f"stored_bytes:{p}" for p in self.city.pool_names]
        arr = np.array(self._samples, dtype=np.float64)
        extra: dict[str, float] = {}
        for ext in self.extensions:
            extra.update(ext.finish(self))
        return SimOutcome(
            scenario=self.sc, city=self.city, end_s=end, cam_recorder=self.cam_rec,
            cam_state=self.cam_state, dropped=self.dropped, rec_peak_bytes=self.rec_peak,
            rec_load_mbps_max=self.rec_load_max, rec_streams_max=self.rec_streams_max,
            backhaul_mbps=self.backhaul, written_segments=self.written,
            deleted_segments=self.catalog.deleted_segments,
            stored_bytes_end=self.catalog.stored_bytes_by_recorder(end),
            stored_segments_end=self.catalog.stored_segments(end),
            overdue_max=self.overdue_max, total_peak_bytes=self.total_peak,
            series={c: arr[:, i] for i, c in enumerate(cols)},
            rec_series_bytes=np.array(self._rec_bytes), rec_series_load=np.array(self._rec_load),
            max_age_s=self.max_age_s, cam_reason=self.cam_reason,
            rec_load_mbps_end=self.loads.load_mbps.copy(),
            extra_metrics=extra, extensions=self.extensions, events=self.events,
        )
