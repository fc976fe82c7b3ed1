"""Faults and failover in the SimPy engine: the adapter between scenario faults and the core.

Theory of operation
-------------------
At attach time the scenario's faults are compiled into one heap of timed effects, ordered by
(time, sequence number) so equal times keep a fixed order. Random faults draw their up and
down times from their own numpy streams: SeedSequence(seed, spawn_key=(FAULT_SPAWN_KEY,))
(prefixed by the engine's `draw_key` for a replication, twin.model.draws) spawns one child per
fault entry, apart from the city generator's streams, so adding a
fault never moves the city, and adding a fault entry never moves the draws of the ones
before it. One SimPy process pops the heap at each effect's exact time.

The driver acts on the engine only through its seam (twin.sim.engine.Extension): it blocks
and unblocks causes for cameras, takes recorders down and up, fills and loses disks and
assigns cameras to recorders; it hears of cameras placed, stopped and resumed through the
engine's listeners. Blocks are counted by the engine, so overlapping faults add up:
- power (a set or a district): a site's battery (failover.ups_s by site kind) rides through
  the first seconds; the cameras are blocked from then to the end of the outage;
- backhaul cut: the district's cameras are blocked; with a backup path
  (failover.backhaul.backup_share) the cameras that fit in it, in camera order, come back
  `switch_s` after the cut, the rest at the repair;
- relay down: the district's (or every) camera is blocked; with a standby relay, until the
  loss is detected (heartbeats) plus `switch_s`, else until the relay serves again, its
  repair plus `relay.recovery_s` (whichever comes first with a standby).

The reconnection storm (`failover.reconnect_s_per_camera`, p): cameras do not all come back at
one instant. A site whose power comes back is reachable at once, but its cameras are recorded
again `failover.power_reconnect_s` later (the recorder's retry, the RTSP connection, the first
keyframe; a relay's `recovery_s` holds the same for its cameras). When a power cut or a relay
outage ends (that time included), the k-th camera (in camera order) of
each recorder among those it cut off records again k x p later; when a failover takes effect,
the k-th camera it moves onto one recorder (in the order it placed them) records again k x p
after the plan (`_reconnect`: a camera that a later command moved on meanwhile is that
command's). Each group due at one time is one effect of the heap. The `failover` and
`cameras_reconnected` events then carry `last_camera_s` (absent with p = 0, when every camera
comes back at the event's time). A backhaul cut's return is not spread.

Recorders: a crash or a failed disk stops the recorder at once (its cameras stop recording;
with `recording.fragment_s` a crash, not a failed disk, keeps each camera's segment under way
up to its last fragment: twin.sim.engine);
the failover core (twin.core.failover) hears no beats from it and declares it down
`missed_beats` intervals after its last beat; the standby policy's plan takes effect
`reassign_s` later. A recorder that comes back beats at the next beat time; its cameras go
back `reassign_s` later, each at a segment boundary of its run on the standby (no footage
lost). A failed disk's segments leave the catalog (RunCatalog.drop_recorder): counted as
footage lost, per camera, apart from footage never recorded.

Drop reasons: a camera whose recorder is down and that nothing has moved is
`recorder_down`, for as long as that lasts; `unassigned_after_failover` only once a
failover has run and found no recorder with room for it. With standby `none` no failover
can run: the cameras stay on their recorder (`recorder_down` for the whole outage) and
record again the moment it restarts, as a recorder reconnects its own cameras; the core
still hears the recorder return and confirms the cameras on it (`failback`, `reassign_s`
after the return beat), which moves nothing.

Standby policies: spread, N+1/N+M (1:1 takeover by a pool's standbys) and none are the
core's; dual recording places the chosen cameras' second copies up front (twin.sim.dual) and
spreads the rest of a lost recorder's cameras, never putting two copies on one recorder.

Each fault occurrence is an *incident*; its recovery time runs from its start to the moment
the last camera stream whose gap it started records again.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from twin.core.assignment import accept_within_limits
from twin.core.failover import (
    DOWN,
    HEALTH_NAMES,
    RETURNING,
    FailoverController,
    HealthEvent,
    HeartbeatMonitor,
    Reassign,
    detection_time,
)
from twin.core.fault_windows import FAULT_SPAWN_KEY, draw_windows
from twin.model.city import SITE_KINDS, set_names
from twin.model.results import write_csv
from twin.sim import drives, priority
from twin.sim.backfill import Backfill

if TYPE_CHECKING:
    import simpy

    from twin.scenario import Scenario
    from twin.sim.engine import CityEngine, DiskLoss, SimOutcome

__all__ = ["FaultDriver", "FAULT_SPAWN_KEY", "draw_windows"]


_POWER, _BACKHAUL, _RELAY = "power", "backhaul_cut", "relay_down"  # engine BLOCK_CAUSES
EVENT_LIST_MAX = 50  # camera names listed in one results event; the CSV lists all


def _rank_within(group: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
    """Each item's place (1, 2, ...) among the items of its group, in `order` (an argsort of
    the items; default: as given)."""
    n = group.size
    order = np.arange(n) if order is None else order
    g = group[order]
    by = np.argsort(g, kind="stable")  # within a group, still in `order`
    gs = g[by]
    first = np.r_[0, np.flatnonzero(gs[1:] != gs[:-1]) + 1] if n else np.zeros(0, dtype=np.int64)
    starts = np.repeat(first, np.diff(np.r_[first, n]))
    rank = np.empty(n, dtype=np.int64)
    rank[order[by]] = np.arange(n) - starts + 1
    return rank


class FaultDriver:
    """Applies a scenario's faults to a CityEngine and runs the failover core (module doc)."""

    name = "faults"

    def __init__(self, sc: Scenario) -> None:
        self.fo = sc.failover

    def _setup(self, engine: CityEngine) -> None:
        self.engine = engine
        city = engine.city
        fo = self.fo
        n, r = city.n_cameras, city.n_recorders
        self.monitor = HeartbeatMonitor(r, fo.heartbeat.interval_s, fo.heartbeat.missed_beats)
        policy = "n_plus_m" if fo.standby.type == "n_plus_1" else fo.standby.type
        if policy == "dual":  # the copies are placed up front; the rest spread on a loss
            policy = "spread"
        # Edge storage uploaded after a fault (twin.sim.backfill), when a profile has it.
        self.backfill = Backfill(engine) if Backfill.wanted(engine) else None
        self.cam_priority = priority.camera_priority(engine.sc, engine.base_city)
        stream_pr = (
            None if self.cam_priority is None else self.cam_priority[engine.stream_cam]
        )  # a copy goes as its camera
        self.ctrl = FailoverController(
            engine.loads,
            policy,
            city.cam_pool,
            city.cam_mbps,
            engine.standby,
            fo.reassign_s,
            partner=engine.partner,
            priority=stream_pr,
        )
        self._heap: list[tuple[float, int, str, tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self._checks: set[float] = set()
        self._blocked: dict[int, np.ndarray] = {}  # effect key -> cameras it blocks now
        self._keys = itertools.count()
        self._failbacks: dict[int, list[Any]] = {}  # id(cmd) -> [cmd, cameras left to switch]
        self.incidents: list[dict[str, Any]] = []
        self.inc_hit = np.zeros(0, dtype=np.int64)
        self.inc_open = np.zeros(0, dtype=np.int64)
        self.inc_last = np.zeros(0)
        self.disk_lost_s = np.zeros(engine.n_cams)  # per camera (a copy's loss counts if unique)
        self.disk_lost_segments = 0
        self.held_lost_segments = 0  # of those, segments under an evidence hold
        self.disk_lost_bytes = 0.0
        self.unassigned_ever = np.zeros(n, dtype=bool)
        self.declared_down = 0
        self.load_before: tuple[np.ndarray, np.ndarray] | None = None
        self.load_peak_mbps = np.zeros(r)
        self.load_peak_streams = np.zeros(r, dtype=np.int64)
        self.ledger_over = 0
        self.first_fault_s = math.inf
        self.cam_incident = np.full(n, -1, dtype=np.int64)  # per stream: the gap's incident
        self.incident = -1  # the incident whose effects are being applied
        engine.on_cameras(placed=self.placed, stopped=self.stopped, resumed=self.resumed)
        self.drive_failures = -1  # drive failures replayed (-1: the scenario has no drive fault)

    # ------------------------------------------------------------------ engine hooks
    def placed(self, cams: np.ndarray, t: float) -> None:
        self.ctrl.placed(cams, self.engine.cam_rec[cams])
        self.engine.refresh(cams, t)  # on line in the middle of a fault: stopped at once

    def stopped(self, cams: np.ndarray, t: float) -> None:
        inc = self.incident
        self.cam_incident[cams] = inc
        if inc >= 0:
            self.inc_hit[inc] += cams.size
            self.inc_open[inc] += cams.size

    def resumed(self, cams: np.ndarray, t: float) -> None:
        ids = self.cam_incident[cams]
        ok = ids >= 0
        if ok.any():
            np.maximum.at(self.inc_last, ids[ok], t)
            np.add.at(self.inc_open, ids[ok], -1)
        self.cam_incident[cams] = -1

    # ------------------------------------------------------------------ schedule
    def push(self, t: float, kind: str, *args: Any) -> None:
        """Schedule an effect (a handler of `_run` and its arguments) at `t`, if within the run."""
        if t < self.engine.end_s:
            heapq.heappush(self._heap, (float(t), next(self._seq), kind, args))

    def new_incident(self, kind: str, target: str, t0: float, t1: float, label: str) -> int:
        """A fault occurrence from `t0` to `t1` (inf: never repaired); returns its id."""
        self.incidents.append(
            {
                "id": len(self.incidents),
                "kind": kind,
                "target": target,
                "start_s": t0,
                "end_s": t1 if math.isfinite(t1) else None,
                "label": label,
            }
        )
        self.first_fault_s = min(self.first_fault_s, t0)
        return len(self.incidents) - 1

    def targets(self, mem: Any) -> list[tuple[str, Any]]:
        """(label, target) pairs of a fault entry; '*' expands to every target in order."""
        city = self.engine.city
        if hasattr(mem, "recorder"):
            names = city.rec_names if mem.recorder == "*" else (mem.recorder,)
            return [(nm, city.rec_names.index(nm)) for nm in names]
        if hasattr(mem, "district"):
            names = city.district_names if mem.district == "*" else (mem.district,)
            return [(nm, city.district_names.index(nm)) for nm in names]
        if hasattr(mem, "relay"):
            if mem.relay == "city":
                return [("city", -1)]
            names = city.district_names if mem.relay == "*" else (mem.relay,)
            return [(nm, city.district_names.index(nm)) for nm in names]
        if mem.camera_set == "*":
            return list(zip(set_names(city), range(city.n_sets)))
        s = mem.camera_set - 1
        return [(f"set{s + 1:05d}", s)]

    def _compile(self) -> None:
        e = self.engine
        end = e.end_s
        root = np.random.SeedSequence(e.sc.seed, spawn_key=e.draw_key + (FAULT_SPAWN_KEY,))
        children = root.spawn(len(e.sc.faults))
        drive_fails: dict[int, list[tuple[float, int, str]]] = {}
        for f, child in zip(e.sc.faults, children):
            if f.type == "drive_failure":  # RAID decides what they cost (twin.sim.drives)
                drives.collect(self, f, child, drive_fails)
                continue
            members = list(f.faults) if f.type == "group" else [f]
            if f.type == "group":
                units = [(f.name, None)]
            else:
                units = self.targets(f)
            if f.random:
                assert f.mtbf_h is not None and f.mttr_h is not None  # both or neither (schema)
                rng = np.random.default_rng(child)
                wins = draw_windows(
                    rng, len(units), f.mtbf_h * 3600, f.mttr_h * 3600, f.repair == "fixed", end
                )
            else:
                assert f.at_s is not None  # every fault is timed (the schema's _all_timed)
                t1 = f.at_s + f.duration_s if f.duration_s is not None else math.inf
                wins = [[(f.at_s, t1)] for _ in units]
            occ = sorted((w, i) for i, ws in enumerate(wins) for w in ws)
            for (t0, t1), i in occ:
                label, tgt = units[i]
                if t0 >= end:
                    continue
                inc = self.new_incident(f.type, label, t0, t1, f.label)
                self.push(t0, "log", inc, "fault_start")
                self.push(t1, "log", inc, "fault_end")
                for mem in members:
                    for lab, target in [(label, tgt)] if f.type != "group" else self.targets(mem):
                        self._schedule(mem, target, lab, t0, t1, inc)
        if drive_fails:
            self.drive_failures = drives.schedule(self, drive_fails)

    def _schedule(self, mem: Any, tgt: Any, label: str, t0: float, t1: float, inc: int) -> None:
        city = self.engine.city
        kind = mem.type
        if kind in ("recorder_crash", "disk_failure"):
            self.push(t0, "rec_down", tgt, inc, kind == "disk_failure")
            self.push(t1, "rec_up", tgt, inc)
        elif kind == "disk_fill":
            self.push(t0, "fill", tgt, mem.fill_pct / 100 * float(city.rec_disk_bytes[tgt]), inc)
            self.push(t1, "fill", tgt, -mem.fill_pct / 100 * float(city.rec_disk_bytes[tgt]), inc)
        elif kind in ("set_power", "district_power"):
            if kind == "set_power":
                sets = np.array([tgt])
            else:
                sets = np.flatnonzero(city.set_district == tgt)
            keys: list[int] = []  # with a reconnection storm, one unblock for all site kinds
            for k, site in enumerate(SITE_KINDS):
                ups = float(self.fo.ups_s.get(site, 0.0))
                if t1 - t0 <= ups:
                    continue  # the battery rides through
                s_k = sets[city.set_site_kind[sets] == k]
                cams = np.flatnonzero(np.isin(city.cam_set, s_k))
                if cams.size:
                    key = next(self._keys)
                    self.push(t0 + ups, "block", _POWER, cams, key, inc)
                    if self.fo.reconnect_s_per_camera == 0:
                        self.push(t1 + self.fo.power_reconnect_s, "unblock", _POWER, key, inc)
                    else:
                        keys.append(key)
            if keys:
                self.push(t1 + self.fo.power_reconnect_s, "unblock", _POWER, keys, inc)
        elif kind == "backhaul_cut":
            cams = np.flatnonzero(city.cam_district == tgt)
            key = next(self._keys)
            self.push(t0, "block", _BACKHAUL, cams, key, inc)
            bh = self.fo.backhaul
            if bh.backup_share > 0 and t0 + bh.switch_s < t1:
                self.push(t0 + bh.switch_s, "backup", tgt, key, inc)
            self.push(t1, "unblock", _BACKHAUL, key, inc)
        elif kind == "relay_down":
            cams = (
                np.arange(city.n_cameras) if tgt < 0 else np.flatnonzero(city.cam_district == tgt)
            )
            key = next(self._keys)
            self.push(t0, "block", _RELAY, cams, key, inc)
            rel = self.fo.relay
            hb = self.fo.heartbeat
            back = t1 + rel.recovery_s  # the relay serves again (its supervisor restarted it)
            off = (
                min(back, detection_time(t0, hb.interval_s, hb.missed_beats) + rel.switch_s)
                if rel.standby
                else back
            )
            self.push(off, "unblock", _RELAY, key, inc)

    # ------------------------------------------------------------------ SimPy glue
    def attach(self, engine: CityEngine) -> None:
        self._setup(engine)
        self._compile()
        n_inc = len(self.incidents)
        self.inc_hit = np.zeros(n_inc, dtype=np.int64)
        self.inc_open = np.zeros(n_inc, dtype=np.int64)
        self.inc_last = np.full(n_inc, -math.inf)
        engine.env.process(self._run())

    def _run(self) -> Generator[simpy.Event, Any, None]:
        env = self.engine.env
        handlers: dict[str, Callable[..., None]] = {
            "rec_down": self._rec_down,
            "rec_up": self._rec_up,
            "fill": self._fill,
            "block": self._block,
            "unblock": self._unblock,
            "backup": self._backup,
            "hb_check": self._hb_check,
            "hb_beat": self._hb_beat,
            "apply": self._apply,
            "failback": self._failback,
            "switch": self._switch,
            "reconnect": self._reconnect,
            "unblock_some": self._unblock_some,
            "log": self._log,
            "drive_ok": lambda t, *a: drives.drive_ok(self, t, *a),
            "drive_lost": lambda t, *a: drives.drive_lost(self, t, *a),
        }
        while self._heap:
            t = self._heap[0][0]
            if t > env.now:
                yield env.timeout(t - env.now)
            t, _seq, kind, args = heapq.heappop(self._heap)
            if self.load_before is None and t >= self.first_fault_s:
                e = self.engine
                self.load_before = (e.rec_phys_mbps.copy(), e.rec_phys_streams.copy())
            handlers[kind](t, *args)
            self.incident = -1
            self._track_loads()

    def _track_loads(self) -> None:
        e = self.engine
        np.maximum(self.load_peak_mbps, e.rec_phys_mbps, out=self.load_peak_mbps)
        np.maximum(self.load_peak_streams, e.rec_phys_streams, out=self.load_peak_streams)
        lo = e.loads
        if (lo.load_mbps > lo.ingest_limit * (1 + 1e-9)).any() or (
            lo.streams > lo.stream_limit
        ).any():
            self.ledger_over += 1

    def event(self, t: float, kind: str, **kw: Any) -> None:
        """A notable event at `t` for results.json."""
        self.engine.log_event({"t_s": round(float(t), 6), "kind": kind, **kw})

    def _log(self, t: float, inc: int, kind: str) -> None:
        i = self.incidents[inc]
        extra = {"label": i["label"]} if i["label"] else {}
        self.event(t, kind, fault=i["kind"], target=i["target"], incident=inc, **extra)

    def _names(self, cams: np.ndarray) -> list[str]:
        return [self.engine.city.camera_name(int(c)) for c in cams[:EVENT_LIST_MAX]]

    # ------------------------------------------------------------------ camera effects
    def _block(self, t: float, cause: str, cams: np.ndarray, key: int, inc: int) -> None:
        self.incident = inc
        self._blocked[key] = cams
        self.engine.block(cause, cams, t)
        self.event(t, "cameras_cut_off", incident=inc, cause=cause, cameras=int(cams.size))

    def _unblock(self, t: float, cause: str, key: int | list[int], inc: int) -> None:
        if isinstance(key, list):  # the blocks of a power cut's site kinds, lifted together
            cams = np.concatenate([self._blocked.pop(k) for k in key])
        else:
            cams = self._blocked.pop(key)
        per = self.fo.reconnect_s_per_camera
        if cause == _BACKHAUL or per == 0:
            self.engine.unblock(cause, cams, t)
            self.event(t, "cameras_reconnected", incident=inc, cause=cause, cameras=int(cams.size))
            return
        # The reconnection storm: the k-th camera of each recorder is back k x per camera later.
        e = self.engine
        rec = e.cam_rec[cams]
        on = (rec >= 0) & e.admitted[cams]
        k = np.zeros(cams.size, dtype=np.int64)
        k[on] = _rank_within(rec[on], np.argsort(cams[on], kind="stable"))  # camera order
        when = t + k * per
        last = float(when.max(initial=t))
        self._at_times(when, "unblock_some", cams, cause)
        self.event(
            t,
            "cameras_reconnected",
            incident=inc,
            cause=cause,
            cameras=int(cams.size),
            last_camera_s=round(last, 6),
        )

    def _at_times(self, when: np.ndarray, kind: str, cams: np.ndarray, *args: Any) -> None:
        """Schedule effect `kind` for each group of `cams` due at one time of `when` (an array
        argument per camera is split with them); a group due now runs at once."""
        now = float(self.engine.env.now)
        for w in np.unique(when):
            m = when == w
            part = [
                a[m] if isinstance(a, np.ndarray) and a.shape == cams.shape else a for a in args
            ]
            if w <= now:
                getattr(self, "_" + kind)(float(w), cams[m], *part)
            else:
                self.push(float(w), kind, cams[m], *part)

    def _unblock_some(self, t: float, cams: np.ndarray, cause: str) -> None:
        self.engine.unblock(cause, cams, t)

    def _backup(self, t: float, district: int, key: int, inc: int) -> None:
        """Routing converged onto the backup path: the cameras that fit in it come back."""
        e = self.engine
        cams = self._blocked[key]
        live = cams[e.admitted[cams] & (cams < e.n_cams)]  # a second copy rides with its camera
        cap = self.fo.backhaul.backup_share * float(e.city.district_backhaul_mbps[district])
        fit = accept_within_limits(
            np.zeros(live.size, dtype=np.int64),
            e.city.cam_mbps[live],
            np.array([cap]),
            np.array([1 << 62]),
        )
        carried = live[fit]
        copies = e.partner[carried]
        carried = np.union1d(carried, copies[(copies >= 0) & np.isin(copies, cams)])
        self._blocked[key] = np.setdiff1d(cams, carried)
        e.unblock(_BACKHAUL, carried, t)
        self.event(
            t,
            "backhaul_backup",
            district=e.city.district_names[district],
            incident=inc,
            cameras_carried=int(fit.sum()),
            cameras_left_out=int(live.size - fit.sum()),
        )

    def _fill(self, t: float, r: int, nbytes: float, inc: int) -> None:
        self.engine.fill_disk(r, nbytes)

    # ------------------------------------------------------------------ recorders
    def _rec_down(self, t: float, r: int, inc: int, disk: bool) -> None:
        e = self.engine
        name = e.city.rec_names[r]
        self.incident = inc
        hb = self.fo.heartbeat
        last = math.floor(t / hb.interval_s + 1e-9) * hb.interval_s
        if e.recorder_down(r, t, keeps_fragments=not disk):
            # Its beats were implicit while it ran: the last one was due at or before t.
            self._health(self.monitor.beat(np.array([r]), last))
        if disk:
            loss = e.lose_disk(r, t)
            self.book_disk_loss(loss)
            self.event(
                t,
                "disk_lost",
                recorder=name,
                segments=loss.segments,
                bytes=round(loss.bytes),
                cameras=int((loss.stream_s > 0).sum()),
                held_segments=loss.held_segments,
            )
        for j in range(1, hb.missed_beats + 1):
            c = last + j * hb.interval_s
            if c not in self._checks:
                self._checks.add(c)
                self.push(c, "hb_check")

    def book_disk_loss(self, loss: DiskLoss) -> None:
        """Count footage a failed disk or drive took with it (per camera, segments, bytes)."""
        self.held_lost_segments += loss.held_segments
        np.add.at(self.disk_lost_s, self.engine.stream_cam, loss.stream_s)
        self.disk_lost_segments += loss.segments
        self.disk_lost_bytes += loss.bytes

    def _rec_up(self, t: float, r: int, inc: int) -> None:
        if self.engine.recorder_up(r, t):  # cameras still planned on it reconnect
            iv = self.fo.heartbeat.interval_s
            self.push(math.ceil(t / iv - 1e-9) * iv, "hb_beat", r)

    def _health(self, changes: list[HealthEvent]) -> None:
        for h in changes:
            self.event(
                h.at_s,
                "recorder_health",
                **{**h.as_dict(), "recorder": self.engine.city.rec_names[h.recorder]},
            )
            if h.to_state == DOWN:
                self.declared_down += 1
                cmd = self.ctrl.recorder_down(h.recorder, h.at_s)
                if self.ctrl.policy == "none":  # nothing to move: the cameras wait for it
                    waiting = cmd.cameras[cmd.cameras < self.engine.n_cams]
                    self.event(
                        h.at_s,
                        "no_failover",
                        standby="none",
                        recorder=self.engine.city.rec_names[h.recorder],
                        cameras_waiting=int(waiting.size),
                    )
                    continue
                self.push(cmd.at_s, "apply", cmd)
            elif h.to_state == RETURNING:
                cmd = self.ctrl.recorder_returned(h.recorder, h.at_s)
                self.push(cmd.at_s, "failback", cmd)

    def _hb_check(self, t: float) -> None:
        self._checks.discard(t)
        alive = self.engine.recorders_up()
        self._health(self.monitor.beat(alive, t) + self.monitor.check(t))

    def _hb_beat(self, t: float, r: int) -> None:
        if self.engine.is_up(r):
            self._health(self.monitor.beat(np.array([r]), t))

    # ------------------------------------------------------------------ moves
    def _apply(self, t: float, cmd: Reassign) -> None:
        e = self.engine
        cams = self.ctrl.apply(cmd)
        to = cmd.to[np.isin(cmd.cameras, cams)]
        self.unassigned_ever[cams[to < 0]] = True
        per = self.fo.reconnect_s_per_camera
        extra: dict[str, Any] = {}
        if per == 0:
            e.assign(cams, to, t)
        else:
            # The reconnection storm: the k-th camera moved onto one recorder (in the order
            # the failover placed them) records again k x per camera after the plan.
            moved = to >= 0
            e.assign(cams[~moved], to[~moved], t)
            k = np.zeros(cams.size, dtype=np.int64)
            k[moved] = _rank_within(to[moved], self._placing_order(cams[moved]))
            when = t + k * per
            self._at_times(when[moved], "reconnect", cams[moved], to[moved], cmd)
            extra["last_camera_s"] = round(float(when.max(initial=t)), 6)
        left = cams[to < 0]
        self.event(
            t,
            cmd.kind,
            recorder=e.city.rec_names[cmd.recorder] if cmd.recorder >= 0 else "",
            cameras_moved=int((to >= 0).sum()),
            cameras_unassigned=int(left.size),
            unassigned=self._names(left),
            to={e.city.rec_names[int(x)]: int((to == x).sum()) for x in np.unique(to[to >= 0])},
            **extra,
        )

    def _placing_order(self, cams: np.ndarray) -> np.ndarray:
        """The order a failover places `cams` in: by priority, then camera order."""
        if self.ctrl.priority is None:
            return np.argsort(cams, kind="stable")
        return np.lexsort((cams, self.ctrl.priority[cams]))

    def _reconnect(self, t: float, cams: np.ndarray, to: np.ndarray, cmd: Reassign) -> None:
        """Moved cameras reach their new recorder; those a later command has moved on since
        (their recorder back, or their new one lost) are that command's."""
        idx = np.searchsorted(cmd.cameras, cams)
        ok = self.ctrl.epoch[cams] == cmd.epochs[idx]
        self.engine.assign(cams[ok], to[ok], t)

    def _failback(self, t: float, cmd: Reassign) -> None:
        """Cameras go home: those recording elsewhere at their run's next segment boundary."""
        e = self.engine
        cams = cmd.cameras[self.ctrl.epoch[cmd.cameras] == cmd.epochs]
        rec = e.recording_elsewhere(cams, cmd.recorder)
        now = np.setdiff1d(cams, rec)
        self._failbacks[id(cmd)] = [cmd, int(rec.size)]
        self._switch(t, cmd, now, count=False)
        if rec.size:
            b = e.next_boundary(rec, t)
            for when in np.unique(b):
                self.push(float(when), "switch", cmd, rec[b == when])
        self.event(
            t,
            "failback",
            recorder=e.city.rec_names[cmd.recorder],
            cameras=int(cams.size),
            at_segment_boundary=int(rec.size),
        )
        self._failback_progress(t, cmd)

    def _switch(self, t: float, cmd: Reassign, cams: np.ndarray, count: bool = True) -> None:
        e = self.engine
        done = self.ctrl.apply(cmd, cams)
        e.assign(done, cmd.recorder, t)
        if count:
            self._failbacks[id(cmd)][1] -= int(cams.size)
            self._failback_progress(t, cmd)

    def _failback_progress(self, t: float, cmd: Reassign) -> None:
        entry = self._failbacks.get(id(cmd))
        if entry is None or entry[1] > 0:
            return
        del self._failbacks[id(cmd)]
        if self.monitor.state[cmd.recorder] == RETURNING:
            self._health(self.monitor.failback_done(cmd.recorder, t))
        again = self.ctrl.retry(t)
        if again is not None:
            self.push(again.at_s, "apply", again)

    # ------------------------------------------------------------------ outputs
    def recovery_s(self) -> np.ndarray:
        """Per incident: from its start until the last camera it stopped records again
        (nan: it stopped none; inf: some were still unrecorded at the end)."""
        start = np.array([i["start_s"] for i in self.incidents])
        out = np.where(self.inc_hit > 0, self.inc_last - start, np.nan)
        out[(self.inc_hit > 0) & (self.inc_open > 0)] = np.inf
        return out

    def cam_unassigned(self) -> np.ndarray:
        """Per camera: failover once found no recorder for it (or for its second copy)."""
        e = self.engine
        out = self.unassigned_ever[: e.n_cams].copy()
        out[e.stream_cam[e.n_cams :][self.unassigned_ever[e.n_cams :]]] = True
        return out

    def finish(self, engine: CityEngine) -> dict[str, float]:
        e = engine
        adm = e.cam_admitted
        lost = e.cam_lost_s * adm
        if self.backfill is not None:  # footage pulled back from the cards is not lost
            lost = np.maximum(lost - self.backfill.recovered_s, 0.0)
        total = lost + self.disk_lost_s
        rec = self.recovery_s()
        done = rec[np.isfinite(rec)]
        series = np.array(e.unrecorded_series, dtype=np.float64)
        return {
            "camera_minutes_lost": float(total.sum() / 60),
            "camera_minutes_unrecorded": float(lost.sum() / 60),
            "camera_minutes_lost_disk": float(self.disk_lost_s.sum() / 60),
            "max_camera_minutes_lost": float(total.max(initial=0) / 60),
            "max_gap_s": float((e.cam_gap_max * adm).max(initial=0)),
            "cameras_affected": float(((e.cam_gap_max * adm > 0) | (self.disk_lost_s > 0)).sum()),
            "cameras_unrecorded_max": float(series[:, 1].max(initial=0)),
            "cameras_unrecorded_end": float(e.unrecorded),
            "cameras_unassigned_after_failover": float(self.cam_unassigned().sum()),
            "recovery_s_max": float(done.max(initial=0)),
            "incidents": float(len(self.incidents)),
            "incidents_unrecovered": float(np.isinf(rec).sum()),
            "recorders_declared_down": float(self.declared_down),
            "segments_lost_disk": float(self.disk_lost_segments),
            "segments_lost_disk_held": float(self.held_lost_segments),
            "footage_lost_disk_tb": self.disk_lost_bytes / 1e12,
            "no_recorder_over_limit": float(e.over_limit == 0 and self.ledger_over == 0),
            **({"drive_failures": float(self.drive_failures)} if self.drive_failures >= 0 else {}),
            **(
                {
                    "segments_partial_kept": float(e.cam_partials.sum()),
                    "camera_minutes_partial_kept": float(e.kept_s.sum() / 60),
                }
                if e.fragment_s is not None
                else {}
            ),
            **priority.lost_by_priority(self.cam_priority, total),
            **(self.backfill.metrics() if self.backfill is not None else {}),
        }

    def per_district(self, o: SimOutcome) -> list[dict[str, Any]]:
        city = o.city
        lost = o.lost_s * o.admitted
        gap = o.gap_max_s * o.admitted
        out = []
        for d in range(len(city.district_names)):
            m = city.cam_district == d
            out.append(
                {
                    "camera_minutes_lost": round(
                        float((lost[m] + self.disk_lost_s[m]).sum() / 60), 6
                    ),
                    "camera_minutes_unrecorded": round(float(lost[m].sum() / 60), 6),
                    "camera_minutes_lost_disk": round(float(self.disk_lost_s[m].sum() / 60), 6),
                    "max_gap_s": round(float(gap[m].max(initial=0)), 6),
                    "cameras_affected": int(((gap[m] > 0) | (self.disk_lost_s[m] > 0)).sum()),
                    "cameras_unassigned_after_failover": int(self.cam_unassigned()[m].sum()),
                }
            )
        return out

    def tables(self, o: SimOutcome, out: Path) -> dict[str, str]:
        e = self.engine
        city = o.city
        lost = o.lost_s * o.admitted
        gap = o.gap_max_s * o.admitted
        ua = self.cam_unassigned()
        hit = np.flatnonzero((gap > 0) | (self.disk_lost_s > 0) | ua)
        rows = [
            [
                city.camera_name(int(c)),
                city.district_names[int(city.cam_district[c])],
                city.rec_names[int(self.ctrl.home[c])] if self.ctrl.home[c] >= 0 else "",
                city.rec_names[int(e.cam_rec[c])] if e.cam_rec[c] >= 0 else "",
                float(lost[c]),
                float(gap[c]),
                float(self.disk_lost_s[c]),
                int(ua[c]),
            ]
            for c in hit
        ]
        write_csv(
            out / "fault_cameras.csv",
            [
                "camera",
                "district",
                "home_recorder",
                "recorder_end",
                "unrecorded_s",
                "max_gap_s",
                "lost_with_disk_s",
                "unassigned_after_failover",
            ],
            rows,
        )
        write_csv(
            out / "cameras_unrecorded.csv",
            ["t_s", "cameras_unrecorded"],
            [[float(t), int(n)] for t, n in e.unrecorded_series] + [[o.end_s, e.unrecorded]],
        )
        rec = self.recovery_s()
        write_csv(
            out / "fault_incidents.csv",
            ["incident", "kind", "target", "start_s", "end_s", "cameras_stopped", "recovery_s"],
            [
                [
                    i["id"],
                    i["kind"],
                    i["target"],
                    i["start_s"],
                    "" if i["end_s"] is None else i["end_s"],
                    int(self.inc_hit[k]),
                    ""
                    if np.isnan(rec[k])
                    else ("unrecovered" if np.isinf(rec[k]) else float(rec[k])),
                ]
                for k, i in enumerate(self.incidents)
            ],
        )
        before = self.load_before or (
            np.zeros(city.n_recorders),
            np.zeros(city.n_recorders, dtype=int),
        )
        write_csv(
            out / "recorder_load_faults.csv",
            [
                "recorder",
                "standby",
                "ingest_limit_mbps",
                "stream_limit",
                "mbps_before",
                "streams_before",
                "mbps_peak",
                "streams_peak",
                "mbps_end",
                "streams_end",
                "health_end",
            ],
            [
                [
                    city.rec_names[r],
                    int(e.standby[r]),
                    float(city.rec_ingest_mbps[r]),
                    int(city.rec_max_streams[r]),
                    round(float(before[0][r]), 4),
                    int(before[1][r]),
                    round(float(self.load_peak_mbps[r]), 4),
                    int(self.load_peak_streams[r]),
                    round(float(e.rec_phys_mbps[r]), 4),
                    int(e.rec_phys_streams[r]),
                    HEALTH_NAMES[int(self.monitor.state[r])],
                ]
                for r in range(city.n_recorders)
            ],
        )
        return {
            "fault_cameras": "fault_cameras.csv",
            "cameras_unrecorded": "cameras_unrecorded.csv",
            "fault_incidents": "fault_incidents.csv",
            "recorder_load_faults": "recorder_load_faults.csv",
        }
