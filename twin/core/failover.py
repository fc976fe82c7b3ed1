"""Failover: recorder health from heartbeats, and where a lost recorder's cameras go.

Theory of operation
-------------------
Sans-IO, like the rest of the core: no clock, no SimPy, no I/O. Callers pass `now` and carry
out the commands returned (the SimPy engine on virtual time; the live supervisor on the
wall clock).

Health (`HeartbeatMonitor`). Every recorder beats every `interval_s`. `beat(recorders, now)`
records beats; `check(now)` counts the whole intervals since each recorder's last beat: one
or more is a *miss* (SUSPECT), `missed_beats` or more a *timeout* (DOWN). A DOWN recorder
that beats again is RETURNING until its cameras are back (`failback_done`), then UP. The
states and the only legal moves between them are the table HEALTH_TRANSITIONS; anything
else raises. A recorder that crashes at t on a beat grid of phase 0 sent its last beat at
`floor(t / interval) * interval` and is declared down `missed_beats * interval` after it
(`detection_time`).

Placement (`FailoverController`). Each camera has a *home* (the recorder the initial plan
gave it), the recorder it is on now (`rec_of`) and, while a move is under way, a reserved
target (`pending`). The shared `RecorderLoads` ledger holds both the current and the
reserved load of a camera, so a recorder is never over a limit, not even while cameras are
in transit; a recorder that goes down holds nothing.

- `recorder_down(r, now)`: the cameras whose target was r are placed by the standby policy
  (`type:` in the scenario: spread over the pool's surviving active recorders, a 1:1
  takeover by the pool's standbys (N+1, N+M), or none). The command takes effect
  `reassign_s` later; cameras nobody can take are in the command with target -1 (counted
  and listed by the caller, never dropped silently).
- `recorder_returned(r, now)`: every camera whose home is r is reserved on r and moved back
  `reassign_s` later (fail-back). The caller confirms each camera's move with `apply`, which
  releases its old holding; `failback_done(r)` then marks r UP, and `retry` places cameras
  still without a recorder on capacity that has freed up.

Commands carry a per-camera epoch: a later plan for a camera supersedes an earlier one that
has not taken effect yet (`apply` ignores stale cameras).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from twin.core.assignment import RecorderLoads
from twin.core.states import StateTable
from twin.errors import TwinError

__all__ = [
    "UP",
    "SUSPECT",
    "DOWN",
    "RETURNING",
    "HEALTH_NAMES",
    "HEALTH_TRANSITIONS",
    "HealthEvent",
    "Reassign",
    "HeartbeatMonitor",
    "FailoverController",
    "FailoverError",
    "detection_time",
    "STANDBY_POLICIES",
]

UP, SUSPECT, DOWN, RETURNING = 0, 1, 2, 3
HEALTH_NAMES: tuple[str, ...] = ("up", "suspect", "down", "returning")

# (state, event) -> state. Events: beat, miss (>= 1 interval silent), timeout (>= missed_beats
# intervals silent), failback_done (the returning recorder has its cameras back).
HEALTH_TRANSITIONS: StateTable[int, str] = StateTable(
    {
        (UP, "beat"): UP,
        (UP, "miss"): SUSPECT,
        (UP, "timeout"): DOWN,
        (SUSPECT, "beat"): UP,
        (SUSPECT, "miss"): SUSPECT,
        (SUSPECT, "timeout"): DOWN,
        (DOWN, "miss"): DOWN,
        (DOWN, "timeout"): DOWN,
        (DOWN, "beat"): RETURNING,
        (RETURNING, "beat"): RETURNING,
        (RETURNING, "miss"): RETURNING,
        (RETURNING, "timeout"): DOWN,
        (RETURNING, "failback_done"): UP,
    }
)

STANDBY_POLICIES: tuple[str, ...] = ("spread", "n_plus_1", "n_plus_m", "none")


class FailoverError(TwinError):
    """The failover core was driven out of its state table (a bug in the caller)."""


def detection_time(fault_s: float, interval_s: float, missed_beats: int) -> float:
    """When a recorder silent from `fault_s` is declared down (beat grid of phase 0).

    A beat due exactly at `fault_s` is sent (the recorder fails just after it).
    """
    last = math.floor(fault_s / interval_s + 1e-9) * interval_s
    return last + missed_beats * interval_s


@dataclass(frozen=True, slots=True)
class HealthEvent:
    at_s: float
    recorder: int
    from_state: int
    to_state: int

    def as_dict(self) -> dict[str, object]:
        return {
            "t_s": self.at_s,
            "recorder": self.recorder,
            "from": HEALTH_NAMES[self.from_state],
            "to": HEALTH_NAMES[self.to_state],
        }


@dataclass(frozen=True, slots=True, eq=False)
class Reassign:
    """Move `cameras` to `to` (-1: nobody can take it) at `at_s` (failover/failback/retry)."""

    at_s: float
    kind: Literal["failover", "failback", "retry"]
    recorder: int  # the recorder lost (failover), returning (failback), or -1 (retry)
    cameras: np.ndarray  # int64, in camera order
    to: np.ndarray  # int64
    epochs: np.ndarray  # int64, the cameras' plan epochs when this was planned

    @property
    def unplaced(self) -> np.ndarray:
        return self.cameras[self.to < 0]


class HeartbeatMonitor:
    """Recorder health from heartbeats (see the module docstring)."""

    def __init__(self, n_recorders: int, interval_s: float, missed_beats: int, now: float = 0.0):
        if interval_s <= 0 or missed_beats < 1:
            raise FailoverError(
                f"heartbeat interval_s ({interval_s}) must be > 0 "
                f"and missed_beats ({missed_beats}) "
                ">= 1; fix failover.heartbeat in the scenario"
            )
        self.interval_s = float(interval_s)
        self.missed_beats = int(missed_beats)
        self.state = np.full(n_recorders, UP, dtype=np.int8)
        self.last_beat = np.full(n_recorders, float(now))

    def _step(self, recs: np.ndarray, event: str, now: float) -> list[HealthEvent]:
        out = []
        for r in recs:
            s = int(self.state[r])

            def refuse(s: int, e: str, ok: list[str], r: int = int(r)) -> FailoverError:
                return FailoverError(
                    f"recorder {r} is {HEALTH_NAMES[s]}: event {e!r} is not "
                    f"allowed; allowed: {sorted(ok)}"
                )

            to = HEALTH_TRANSITIONS.next(s, event, refuse)
            if to != s:
                out.append(HealthEvent(now, int(r), s, to))
                self.state[r] = to
        return out

    def beat(self, recorders: np.ndarray, now: float) -> list[HealthEvent]:
        """Beats from `recorders` at `now`; returns the state changes (SUSPECT->UP,
        DOWN->RETURNING)."""
        recs = np.asarray(recorders, dtype=np.int64)
        self.last_beat[recs] = now
        return self._step(recs, "beat", now)

    def check(self, now: float) -> list[HealthEvent]:
        """Judge silence at `now`; returns the state changes, in recorder order."""
        missed = np.floor((now - self.last_beat) / self.interval_s + 1e-9)
        out = self._step(np.flatnonzero(missed >= self.missed_beats), "timeout", now)
        out += self._step(np.flatnonzero((missed >= 1) & (missed < self.missed_beats)), "miss", now)
        out.sort(key=lambda e: e.recorder)
        return out

    def failback_done(self, recorder: int, now: float) -> list[HealthEvent]:
        return self._step(np.array([recorder]), "failback_done", now)


class FailoverController:
    """Which recorder records which camera, through losses and returns (module docstring)."""

    def __init__(
        self,
        loads: RecorderLoads,
        policy: str,
        cam_pool: np.ndarray,
        cam_mbps: np.ndarray,
        standby: np.ndarray,
        reassign_s: float,
        partner: np.ndarray | None = None,
        priority: np.ndarray | None = None,
    ) -> None:
        if policy not in STANDBY_POLICIES:
            raise FailoverError(
                f"unknown standby policy {policy!r}; expected one of {STANDBY_POLICIES}"
            )
        self.loads = loads
        self.policy = policy
        self.cam_pool = np.asarray(cam_pool, dtype=np.int64)
        self.cam_mbps = np.asarray(cam_mbps, dtype=np.float64)
        self.standby = np.asarray(standby, dtype=bool)
        self.reassign_s = float(reassign_s)
        n = self.cam_pool.size
        # Dual recording: the other copy of the same camera, kept on another recorder.
        self.partner = np.full(n, -1, dtype=np.int64) if partner is None else np.asarray(partner)
        self.home = np.full(n, -1, dtype=np.int64)
        self.rec_of = np.full(n, -1, dtype=np.int64)
        self.pending = np.full(n, -1, dtype=np.int64)
        self.epoch = np.zeros(n, dtype=np.int64)
        # Failover priority per camera (0 high, 1 normal, 2 low, 3 none: never moved); None:
        # every camera normal, placed in camera order.
        self.priority = None if priority is None else np.asarray(priority, dtype=np.int8)

    # ------------------------------------------------------------------ placement
    def placed(self, cameras: np.ndarray, recorders: np.ndarray) -> None:
        """Cameras the initial plan placed (already in the loads): that recorder is their home."""
        cameras = np.asarray(cameras, dtype=np.int64)
        self.home[cameras] = recorders
        self.rec_of[cameras] = recorders

    def _target(self) -> np.ndarray:
        return np.where(self.pending >= 0, self.pending, self.rec_of)

    def _place(self, cams: np.ndarray) -> np.ndarray:
        """Targets for `cams` under the standby policy (-1: none fits); reserves their load.

        A camera's second copy (dual recording) never joins its other copy on one recorder.
        """
        out = self._place_all(cams)
        tgt = self._target()
        p = self.partner[cams]
        clash = np.flatnonzero((out >= 0) & (p >= 0) & (out == np.where(p >= 0, tgt[p], -2)))
        for i in clash.tolist():
            c, r = int(cams[i]), int(out[i])
            self.loads.remove(np.array([r]), self.cam_mbps[[c]])
            was, self.loads.up[r] = bool(self.loads.up[r]), False
            out[i] = self._place_all(cams[i : i + 1])[0]
            self.loads.up[r] = was
        return out

    def _place_all(self, cams: np.ndarray) -> np.ndarray:
        if self.priority is None or cams.size == 0:
            return self._place_in_order(cams)
        # Higher priority first (stable: camera order within a priority); `none` never moves.
        pr = self.priority[cams]
        order = np.argsort(pr, kind="stable")
        order = order[pr[order] < 3]
        out = np.full(cams.size, -1, dtype=np.int64)
        out[order] = self._place_in_order(cams[order])
        return out

    def _place_in_order(self, cams: np.ndarray) -> np.ndarray:
        out = np.full(cams.size, -1, dtype=np.int64)
        if cams.size == 0 or self.policy == "none":
            return out
        loads = self.loads
        if self.policy == "spread":
            return loads.place_balanced(self.cam_mbps[cams], self.cam_pool[cams], ~self.standby)
        # N+1 / N+M: a 1:1 takeover. Idle standbys first, in recorder order, each filled
        # before the next; then standbys with room left.
        for p in np.unique(self.cam_pool[cams]):
            mine = np.flatnonzero(self.cam_pool[cams] == p)
            sb = np.flatnonzero(self.standby & (loads.rec_pool == p) & loads.up)
            order = sorted(sb.tolist(), key=lambda r: (loads.streams[r] > 0, r))
            for r in order:
                if mine.size == 0:
                    break
                only = np.zeros(loads.rec_pool.size, dtype=bool)
                only[r] = True
                got = loads.place_balanced(
                    self.cam_mbps[cams[mine]], self.cam_pool[cams[mine]], only
                )
                out[mine] = got
                mine = mine[got < 0]
        return out

    def _command(
        self,
        at_s: float,
        kind: Literal["failover", "failback", "retry"],
        r: int,
        cams: np.ndarray,
        to: np.ndarray,
    ) -> Reassign:
        self.epoch[cams] += 1
        return Reassign(at_s, kind, r, cams, to, self.epoch[cams].copy())

    def recorder_down(self, r: int, now: float) -> Reassign:
        """Recorder r was declared down at `now`: plan its cameras' new homes."""
        loads = self.loads
        tgt = self._target()
        cams = np.flatnonzero(tgt == r)
        # A down recorder holds nothing: its cameras and any reservations on it are gone.
        loads.up[r] = False
        loads.load_mbps[r] = 0.0
        loads.streams[r] = 0
        self.rec_of[self.rec_of == r] = -1
        self.pending[self.pending == r] = -1
        # A camera on its way to r (a fail-back) from a live recorder simply stays there.
        stay = self.rec_of[cams] >= 0
        to = self.rec_of[cams].copy()
        to[~stay] = self._place(cams[~stay])
        self.pending[cams[~stay]] = to[~stay]
        return self._command(now + self.reassign_s, "failover", r, cams, to)

    def recorder_returned(self, r: int, now: float) -> Reassign:
        """Recorder r beats again after being down: reserve its home cameras on it (fail-back)."""
        loads = self.loads
        cams = np.flatnonzero(self.home == r)
        held = self.pending[cams]
        loads.remove(held, np.where(held >= 0, self.cam_mbps[cams], 0.0))
        loads.up[r] = True
        for c in cams:
            loads.add(r, float(self.cam_mbps[c]))  # fits: r holds nothing but its own cameras
        self.pending[cams] = r
        return self._command(now + self.reassign_s, "failback", r, cams, np.full(cams.size, r))

    def apply(self, cmd: Reassign, cameras: np.ndarray | None = None) -> np.ndarray:
        """The move of `cameras` (default: all of cmd's) took effect; returns those not stale.

        Releases each camera's old holding; a camera with target -1 is left without a
        recorder (unassigned after failover).
        """
        idx = (
            np.arange(cmd.cameras.size)
            if cameras is None
            else np.flatnonzero(np.isin(cmd.cameras, cameras))
        )
        cams: np.ndarray = cmd.cameras[idx]
        to: np.ndarray = cmd.to[idx]
        live = self.epoch[cams] == cmd.epochs[idx]
        cams, to = cams[live], to[live]
        old = self.rec_of[cams]
        moving = (old >= 0) & (old != to)
        self.loads.remove(old[moving], self.cam_mbps[cams[moving]])
        self.rec_of[cams] = to
        self.pending[cams] = -1
        return cams

    def retry(self, now: float) -> Reassign | None:
        """Place cameras that have no recorder and none coming, if capacity has freed up."""
        waiting = np.flatnonzero((self.rec_of < 0) & (self.pending < 0) & (self.home >= 0))
        if waiting.size == 0 or self.policy == "none":
            return None
        to = self._place(waiting)
        got = to >= 0
        if not got.any():
            return None
        self.pending[waiting[got]] = to[got]
        return self._command(now + self.reassign_s, "retry", -1, waiting[got], to[got])

    def unassigned(self) -> np.ndarray:
        """Cameras placed once that now have no recorder and no move under way."""
        return np.flatnonzero((self.rec_of < 0) & (self.pending < 0) & (self.home >= 0))
