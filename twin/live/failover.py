"""The live supervisor's bookkeeping: the core failover objects, keyed by names.

Theory of operation. The live driver polls every recorder actor for a heartbeat each
`heartbeat_interval_s` and reports the ones that answered (`beat`); `check(now)` asks the
core :class:`~twin.core.failover.HeartbeatMonitor` who has been silent for `missed_beats` intervals
and, for each recorder newly DOWN, the core :class:`~twin.core.failover.FailoverController`
(standby policy "spread") where its cameras go: the least-loaded survivors, never over a
survivor's stream or ingest limit (cameras nobody can take come back with no target). The
driver carries the moves out and confirms them with `applied`. No clock and no I/O here: `now`
comes from the caller.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from twin.core.assignment import RecorderLoads
from twin.core.failover import (
    DOWN,
    HEALTH_NAMES,
    RETURNING,
    FailoverController,
    HeartbeatMonitor,
    Reassign,
)

__all__ = ["Move", "Supervisor"]


@dataclass(frozen=True, slots=True)
class Move:
    """Camera `camera` leaves `from_recorder` for `to_recorder` (None: no survivor can take it)."""

    camera: str
    from_recorder: str
    to_recorder: str | None
    at_s: float


class Supervisor:
    """Which recorder records which camera, and what to do when a recorder goes silent."""

    def __init__(
        self,
        recorders: list[str],
        max_streams: int | Sequence[int],
        ingest_mbps: float | Sequence[float],
        camera_mbps: dict[str, float],
        interval_s: float,
        timeout_s: float,
        now_s: float = 0.0,
        *,
        homes: dict[str, list[str]] | None = None,
        standby: list[str] | None = None,
    ) -> None:
        """`max_streams`, `ingest_mbps`: every recorder's limits, one for all or one per
        recorder (in `recorders`' order: each recorder's pool's own); `homes`: the recorders each
        camera may be placed on at first (its district's pool; default: any); `standby`: recorders
        that take no camera until a failure (a central standby pool): with them the core's N+M
        policy moves a lost recorder's cameras onto idle standbys first, one after another
        (default: none, and "spread" over survivors)."""
        self.recorders = list(recorders)
        self.cameras = sorted(camera_mbps)
        self.homes = homes
        n = len(self.recorders)
        sb = np.array([r in set(standby or ()) for r in self.recorders], dtype=bool)
        self.mbps = np.array([camera_mbps[c] for c in self.cameras])
        ingest = np.broadcast_to(np.asarray(ingest_mbps, dtype=np.float64), (n,)).copy()
        streams = np.broadcast_to(np.asarray(max_streams, dtype=np.int64), (n,)).copy()
        self.loads = RecorderLoads(np.zeros(n, dtype=np.int64), ingest, streams)
        self.missed_beats = max(1, math.ceil(timeout_s / interval_s - 1e-9))
        self.monitor = HeartbeatMonitor(n, interval_s, self.missed_beats, now_s)
        self.control = FailoverController(
            self.loads,
            "n_plus_m" if sb.any() else "spread",
            np.zeros(len(self.cameras), dtype=np.int64),
            self.mbps,
            sb,
            reassign_s=0.0,
        )
        self._pending: list[Reassign] = []
        self.health_events: list[dict[str, object]] = []
        self.lost: list[str] = []  # recorders declared down by the last `check`, in order

    def place_all(self) -> dict[str, str | None]:
        """Initial placement of every camera; returns {camera: recorder or None}."""
        pool0 = np.zeros(len(self.cameras), dtype=np.int64)
        if self.homes is None and not self.control.standby.any():
            rec = self.loads.place_balanced(self.mbps, pool0)
        else:  # each camera within its home recorders, never on a standby
            rec = np.full(len(self.cameras), -1, dtype=np.int64)
            groups: dict[tuple[str, ...], list[int]] = {}
            for i, c in enumerate(self.cameras):
                home = self.homes.get(c, self.recorders) if self.homes else self.recorders
                groups.setdefault(tuple(home), []).append(i)
            for group, idx in groups.items():
                allowed = np.array([r in group for r in self.recorders]) & ~self.control.standby
                ix = np.array(idx, dtype=np.int64)
                rec[ix] = self.loads.place_balanced(self.mbps[ix], pool0[ix], allowed)
        ok = np.flatnonzero(rec >= 0)
        self.control.placed(ok, rec[ok])
        return self.assignment()

    def assignment(self) -> dict[str, str | None]:
        return {
            c: (self.recorders[r] if r >= 0 else None)
            for c, r in zip(self.cameras, self.control.rec_of)
        }

    def beat(self, recorders: list[str], now_s: float) -> None:
        """These recorders answered a heartbeat at `now_s`."""
        idx = np.array([self.recorders.index(r) for r in recorders], dtype=np.int64)
        for e in self.monitor.beat(idx, now_s):
            self.health_events.append({**e.as_dict(), "recorder": self.recorders[e.recorder]})

    def check(self, now_s: float) -> list[Move]:
        """Moves to carry out now: the cameras of every recorder declared down by `now_s`."""
        moves: list[Move] = []
        self.lost = []
        for e in self.monitor.check(now_s):
            self.health_events.append({**e.as_dict(), "recorder": self.recorders[e.recorder]})
            if e.to_state != DOWN or HEALTH_NAMES[e.from_state] == "down":
                continue
            cmd = self.control.recorder_down(e.recorder, now_s)
            self._pending.append(cmd)
            lost = self.recorders[e.recorder]
            self.lost.append(lost)  # with or without cameras: a spare recorder dies too
            for c, to in zip(cmd.cameras, cmd.to):
                moves.append(
                    Move(self.cameras[c], lost, self.recorders[to] if to >= 0 else None, now_s)
                )
        return moves

    def applied(self) -> None:
        """The moves returned by `check` have been carried out."""
        for cmd in self._pending:
            self.control.apply(cmd)
        self._pending.clear()

    def last_beat(self, recorder: str) -> float:
        """When `recorder` last answered a heartbeat (run clock)."""
        return float(self.monitor.last_beat[self.recorders.index(recorder)])

    def rejoin(self, recorder: str, now_s: float) -> list[Move]:
        """A recorder declared down runs again (a new process, holding no cameras): it takes
        cameras again. Returns the moves that place cameras left without a recorder on the
        capacity now free (the core's `retry`); the caller carries them out and calls
        `applied`. Its former cameras stay where failover put them (no fail-back): moving
        them back would cost each one a second gap."""
        r = self.recorders.index(recorder)
        self.health_events += [
            {**e.as_dict(), "recorder": recorder} for e in self.monitor.beat(np.array([r]), now_s)
        ]
        if self.monitor.state[r] == RETURNING:
            self.health_events += [
                {**e.as_dict(), "recorder": recorder} for e in self.monitor.failback_done(r, now_s)
            ]
        self.loads.up[r] = True
        cmd = self.control.retry(now_s)
        if cmd is None:
            return []
        self._pending.append(cmd)
        return [
            Move(self.cameras[c], "(none)", self.recorders[to], now_s)
            for c, to in zip(cmd.cameras, cmd.to)
            if to >= 0
        ]

    def cameras_of_recorder(self, recorder: str) -> list[str]:
        """The cameras now on `recorder`, in name order."""
        return [c for c, r in self.assignment().items() if r == recorder]

    def state(self, recorder: str) -> str:
        return HEALTH_NAMES[int(self.monitor.state[self.recorders.index(recorder)])]
