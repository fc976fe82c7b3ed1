"""The plain SimPy model the twin is measured against: one process per camera, one event
per segment, a sweeper that pops expired segments camera by camera.

It does the twin's work the straightforward way:
- placement: cameras come on line at their roll-out time and go through the same core calls
  as the engine's (`twin.core.assignment`): the district backhaul check in camera order, then
  the scenario's assignment policy (balanced over the non-standby recorders, or static with
  its ingest and stream limits);
- writing: every segment of every camera is one SimPy event that checks its recorder's disk
  and writes it (one timestamp kept per stored segment, bytes added to the recorder), or
  drops it when the disk is full (counted); a refused camera drops every segment;
- retention: every sweep interval a sweeper pops, camera by camera, each segment that ended
  at or before now - retention (the core's rule) and frees its bytes.

Its cost grows with camera-seconds and it keeps one timestamp per stored segment, so it
cannot run a city's 30-day retention (21,000 cameras x 43,200 segments: ~900 M timestamps).
`time_naive` runs it over a short window with retention cut to one sweep interval, so the
window holds both sweeps with nothing due and steady-state sweeps that delete a whole sweep
interval of every camera (what each sweep of the full run deletes once retention is
reached), times each part on its own, and scales each part by how often the full run does
it. It checks its counts against the twin's engine over the same window.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import simpy

from twin.core.assignment import RecorderLoads, accept_within_limits
from twin.model.city import CityModel
from twin.scenario import Scenario, StaticAssignment, parse_scenario


def standby_recorders(sc: Scenario, city: CityModel) -> np.ndarray:
    """The last `standby_per_pool` recorders of each pool take no cameras (as the engine)."""
    standby = np.zeros(city.n_recorders, dtype=bool)
    m = sc.failover.standby_per_pool
    if m:
        for p in range(len(city.pool_names)):
            standby[np.flatnonzero(city.rec_pool == p)[-m:]] = True
    return standby


class Placement:
    """Backhaul check and assignment through the core, in the order the engine calls them."""

    def __init__(self, sc: Scenario, city: CityModel) -> None:
        self.sc, self.city = sc, city
        self.loads = RecorderLoads(city.rec_pool, city.rec_ingest_mbps, city.rec_max_streams)
        self.backhaul = np.zeros(len(city.district_names))
        self.counters: dict[int, int] = {}
        self.standby = standby_recorders(sc, city)

    def place(self, cams: np.ndarray) -> np.ndarray:
        """Recorder of each camera, -1 if refused (backhaul, limits or no room)."""
        city = self.city
        out = np.full(cams.size, -1, dtype=np.int64)
        mbps = city.cam_mbps[cams]
        dist = city.cam_district[cams]
        room = city.district_backhaul_mbps - self.backhaul
        fits = accept_within_limits(dist, mbps, room, np.full(room.size, 1 << 62))
        np.add.at(self.backhaul, dist[fits], mbps[fits])
        idx = np.flatnonzero(fits)
        pool = city.cam_pool[cams[idx]]
        if isinstance(self.sc.recorders.assignment, StaticAssignment):
            rec = self.loads.place_static(pool, self.counters)
            ok = accept_within_limits(
                rec,
                mbps[idx],
                self.loads.ingest_limit - self.loads.load_mbps,
                self.loads.stream_limit - self.loads.streams,
            )
            for r, m in zip(rec[ok], mbps[idx][ok]):
                self.loads.add(int(r), float(m))
            out[idx[ok]] = rec[ok]
        else:
            out[idx] = self.loads.place_balanced(mbps[idx], pool, ~self.standby)
        return out


@dataclass
class NaiveRun:
    """What one naive run did and how long each part took (wall seconds)."""

    horizon_s: float
    retention_s: float
    recorder: np.ndarray  # per camera, -1 refused
    written: int = 0
    dropped: int = 0
    deleted: int = 0
    stored_bytes: np.ndarray = field(default_factory=lambda: np.zeros(0))
    place_s: float = 0.0
    run_s: float = 0.0  # env.run: segment events, their disk checks and the sweeps
    sweep_s: list[float] = field(default_factory=list)  # each sweep's own time
    sweep_deleted: list[int] = field(default_factory=list)

    @property
    def segment_events(self) -> int:
        return self.written + self.dropped

    @property
    def write_s(self) -> float:
        return self.run_s - sum(self.sweep_s)


def run_naive(sc: Scenario, city: CityModel, horizon_s: float, retention_s: float) -> NaiveRun:
    seg = float(sc.recording.segment_s)
    sweep_every = float(sc.recording.sweep_interval_s)
    env = simpy.Environment()
    n = city.n_cameras
    seg_bytes = (city.cam_effective_mbps * 1e6 / 8 * seg).tolist()
    disk = city.rec_disk_bytes.astype(float).tolist()
    used = [0.0] * city.n_recorders
    stored: list[deque] = [deque() for _ in range(n)]
    res = NaiveRun(horizon_s, retention_s, np.full(n, -1, dtype=np.int64))
    placement = Placement(sc, city)
    on_disk: list[int] = []  # cameras with a recorder, in the order they came on line

    def camera(c: int, r: int):
        b, q = seg_bytes[c], stored[c]
        while True:
            yield env.timeout(seg)
            if r >= 0 and used[r] + b <= disk[r]:
                q.append(env.now)
                used[r] += b
                res.written += 1
            else:
                res.dropped += 1

    def rollout():
        online = city.cam_online_s
        for t in np.unique(online):
            if t > horizon_s:
                break
            if t > env.now:
                yield env.timeout(t - env.now)
            cams = np.flatnonzero(online == t)
            t0 = time.perf_counter()
            rec = placement.place(cams)
            res.place_s += time.perf_counter() - t0
            res.recorder[cams] = rec
            for c, r in zip(cams.tolist(), rec.tolist()):
                env.process(camera(c, r))
                if r >= 0:
                    on_disk.append(c)

    def sweeper():
        rec_of = res.recorder
        while True:
            yield env.timeout(sweep_every)
            if env.now >= horizon_s:  # the twin's run ends before a sweep due at its end
                return
            t0 = time.perf_counter()
            cutoff = env.now - retention_s + 1e-9
            deleted = 0
            for c in on_disk:
                q = stored[c]
                r = int(rec_of[c])
                while q and q[0] <= cutoff:
                    q.popleft()
                    used[r] -= seg_bytes[c]
                    deleted += 1
            res.deleted += deleted
            res.sweep_deleted.append(deleted)
            res.sweep_s.append(time.perf_counter() - t0)

    env.process(rollout())
    env.process(sweeper())
    t0 = time.perf_counter()
    env.run(until=horizon_s + seg / 2)  # the segments ending at the horizon are written too
    res.run_s = time.perf_counter() - t0 - res.place_s
    res.stored_bytes = np.array(used)
    return res


@dataclass
class NaiveTiming:
    """The naive model timed over a window and scaled, part by part, to a whole run."""

    window: NaiveRun
    events_full: int  # segment events of the whole run (every slot of every camera on line)
    sweeps_full: int
    deleting_sweeps_full: int
    write_s_per_event: float
    idle_sweep_s: float  # a sweep with nothing due (before retention is reached)
    steady_sweep_s: float  # a sweep deleting a whole sweep interval of every camera
    full_s: float

    @property
    def events_per_s(self) -> float:
        """Window events (segments written or dropped, segments deleted) per second of
        the timed run, sweeps included."""
        w = self.window
        return (w.segment_events + w.deleted) / (w.run_s + w.place_s)

    def describe(self) -> str:
        w = self.window
        idle = [s for s, d in zip(w.sweep_s, w.sweep_deleted) if d == 0]
        steady = [s for s, d in zip(w.sweep_s, w.sweep_deleted) if d > 0]
        return (
            f"  naive SimPy, timed over {w.horizon_s / 3600:g} h "
            f"with {w.retention_s / 3600:g} h retention:\n"
            f"    placement (backhaul check + core assignment): {w.place_s:7.2f} s\n"
            f"    {w.segment_events:,} segment events with disk checks: {w.write_s:7.2f} s "
            f"({w.write_s / w.segment_events * 1e6:.2f} us each)\n"
            f"    {len(idle)} sweep(s) with nothing due: {sum(idle):.2f} s; {len(steady)} steady "
            f"sweep(s) deleting {sum(d for d in w.sweep_deleted if d):,} segments: "
            f"{sum(steady):.2f} s\n"
            f"    events per second, sweeps included: {self.events_per_s:,.0f} "
            f"({w.segment_events + w.deleted:,} events in {w.run_s + w.place_s:.2f} s)\n"
            f"  scaled to the whole run: {self.events_full:,} segment events, "
            f"{self.sweeps_full:,} sweeps "
            f"({self.deleting_sweeps_full:,} deleting) -> {self.full_s:,.0f} s"
        )


def time_naive(sc: Scenario, city: CityModel, window_s: float, full_events: int) -> NaiveTiming:
    """Time the naive model over `window_s` (retention cut to one sweep interval) and scale
    each part to the scenario's whole run, whose segment events (written + dropped, from the
    twin's own run) are `full_events`."""
    sweep = float(sc.recording.sweep_interval_s)
    seg = float(sc.recording.segment_s)
    w = run_naive(sc, city, window_s, retention_s=sweep)
    idle = [s for s, d in zip(w.sweep_s, w.sweep_deleted) if d == 0]
    steady = [s for s, d in zip(w.sweep_s, w.sweep_deleted) if d > 0]
    if not idle or not steady:
        raise ValueError(
            f"window {window_s} s must hold a sweep with nothing due and one that "
            f"deletes (sweep interval {sweep} s): make it at least 2 sweeps long"
        )
    end = float(np.ceil(sc.simulation.days * 86_400 / sc.simulation.tick_s) * sc.simulation.tick_s)
    sweeps_full = int(np.ceil(end / sweep) - 1)  # sweeps at k x interval before the end
    first_deleting = int(np.ceil((sc.recording.retention_s + seg) / sweep - 1e-9))
    deleting_full = max(0, sweeps_full - first_deleting + 1)
    per_event = w.write_s / w.segment_events
    idle_s, steady_s = float(np.mean(idle)), float(np.mean(steady))
    full_s = (
        w.place_s
        + per_event * full_events
        + idle_s * (sweeps_full - deleting_full)
        + steady_s * deleting_full
    )
    return NaiveTiming(
        w, full_events, sweeps_full, deleting_full, per_event, idle_s, steady_s, full_s
    )


def same_work_as_twin(sc: Scenario, city: CityModel, t: NaiveTiming) -> None:
    """The twin's engine over the naive window (same retention) places the same cameras and
    writes, drops and deletes the same segments."""
    from twin.sim.engine import CityEngine
    from twin.sim.extensions import extensions_for

    w = t.window
    data = sc.model_dump()
    data["recording"]["retention_days"] = w.retention_s / 86_400
    data["faults"] = []
    # Validated like a file of scenarios/ (its calibration, if any, read from there).
    short = parse_scenario(
        data, str(Path(__file__).resolve().parent.parent / "scenarios" / "naive.yaml")
    )
    # The engine as `twin simulate` builds it: standby recorders (kept, as the naive model
    # keeps them empty) need the fault extension even with no faults left to inject.
    o = CityEngine(short, city, extensions=extensions_for(short)).run(days=w.horizon_s / 86_400)
    assert (o.cam_recorder == w.recorder).all(), "the naive model placed cameras differently"
    assert (o.written_segments, int(o.dropped.sum()), o.deleted_segments) == (
        w.written,
        w.dropped,
        w.deleted,
    ), "the naive model did different work"
    np.testing.assert_allclose(o.stored_bytes_end, w.stored_bytes, rtol=1e-9)
