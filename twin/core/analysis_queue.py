"""Analyser capacity: admission of cameras within capacity, and queueing of their frames.

Theory of operation
-------------------
An analyser is `servers` units of compute (cores, or GPUs) fed by the frames of the cameras
admitted to it. A camera asks `demand` units (the sum over its workloads of frames per second
x seconds of one unit per frame). Both engines use the same three pieces:

- `admit`: cameras, in the order given, go to the analyser of their group (an edge device,
  a district's analysers, the central pool) with the most room left, if their demand fits
  under `limit` (capacity x the admission utilisation); otherwise they are not analysed
  (-1). No analyser is ever put over its limit, and a camera is refused only when no
  analyser of its group has room for it.
- waiting time of a frame in steady state: M/G/c (`mgc_wait_s`), Poisson frame arrivals
  (many cameras' frames, out of phase, merged), general service; exact Pollaczek-Khinchine
  for one server (M/D/1 and M/M/1 are its two ends), the Allen-Cunneen approximation beyond.
- overload (a burst of work above capacity): a fluid backlog (`FluidQueues`), piecewise
  linear between the moments the load changes, capped where the analyser sheds frames that
  would be more than `max_lag_s` late (as a real-time analyser must); the work shed is
  counted.

A frame is never an event: waiting times come from the queue's state when an incident's
frame arrives. `fifo_waits` is the per-frame FIFO queue (Kiefer-Wolfowitz recursion) these
formulas are checked against in the tests. Sans-IO: numbers and numpy arrays in and out.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["admit", "erlang_c", "mgc_wait_s", "FluidQueues", "fifo_waits"]


def admit(
    demand: np.ndarray,
    group: np.ndarray,
    analyser_group: np.ndarray,
    limit: np.ndarray,
    load: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Place cameras on analysers within `limit`; returns (analyser per camera or -1, load).

    `demand[k]` units for camera k of group `group[k]`; analyser a serves group
    `analyser_group[a]` and may carry at most `limit[a]` units (`load` is what it carries
    already). Cameras are taken in the order given, each to the analyser of its group with the
    most room (ties: the lower index), and only if it fits there.
    """
    demand = np.asarray(demand, dtype=np.float64)
    group = np.asarray(group, dtype=np.int64)
    ag = np.asarray(analyser_group, dtype=np.int64)
    limit = np.asarray(limit, dtype=np.float64)
    used = np.zeros(ag.size) if load is None else np.asarray(load, dtype=np.float64).copy()
    out = np.full(demand.size, -1, dtype=np.int64)
    heaps: dict[int, list[tuple[float, int]]] = {}
    for a in range(ag.size):
        heaps.setdefault(int(ag[a]), []).append((-(float(limit[a]) - float(used[a])), a))
    for h in heaps.values():
        heapq.heapify(h)
    for k in range(demand.size):
        hp = heaps.get(int(group[k]))
        if not hp:
            continue
        _, a = hp[0]
        d = float(demand[k])
        if used[a] + d > limit[a]:
            continue  # the roomiest analyser cannot take it: none can
        used[a] += d
        out[k] = a
        heapq.heapreplace(hp, (-(float(limit[a]) - float(used[a])), a))
    return out, used


def erlang_c(servers: int, offered: float) -> float:
    """Probability that an arrival waits in M/M/c with `offered` = lambda / mu < servers."""
    if offered <= 0:
        return 0.0
    if offered >= servers:
        return 1.0
    b = 1.0  # Erlang B by its stable recurrence
    for k in range(1, servers + 1):
        b = offered * b / (k + offered * b)
    rho = offered / servers
    return b / (1.0 - rho * (1.0 - b))


def mgc_wait_s(
    arrival_per_s: float, mean_service_s: float, scv_service: float, servers: int
) -> float:
    """Mean wait in queue of M/G/c, seconds (inf at or over capacity).

    One server: Pollaczek-Khinchine, exact: W = rho * E[S] * (1 + cs^2) / (2 (1 - rho))
    (cs^2 = 0: M/D/1; 1: M/M/1). More: Allen-Cunneen, W = C(c, a) / (c mu - lambda) *
    (1 + cs^2) / 2, with C the Erlang C probability of waiting.
    """
    if arrival_per_s <= 0 or mean_service_s <= 0:
        return 0.0
    offered = arrival_per_s * mean_service_s
    if offered >= servers:
        return math.inf
    mu = 1.0 / mean_service_s
    return erlang_c(servers, offered) / (servers * mu - arrival_per_s) * (1.0 + scv_service) / 2.0


@dataclass(frozen=True, slots=True)
class FluidQueues:
    """Backlogs of work (unit-seconds) of many analysers under piecewise-constant loads.

    Row i is one analyser: its load changes at `times[i, j]` (ascending; rows padded with
    +inf), and is `load[i, j]` units of work per second from `times[i, j]` to the next
    change; before `times[i, 0]` it has no backlog. Each serves `capacity` units per second
    and holds at most `max_backlog` unit-seconds (work beyond is shed, as frames that would be
    too late). Built by `FluidQueues.of`; one step per column, vectorised over rows.
    """

    times: np.ndarray  # (rows, K)
    load: np.ndarray  # (rows, K)
    capacity: float
    max_backlog: float
    backlog: np.ndarray  # (rows, K): at each change
    shed: np.ndarray  # (rows,): unit-seconds shed over the horizon

    @staticmethod
    def of(times: np.ndarray, load: np.ndarray, capacity: float, max_backlog: float) -> FluidQueues:
        times = np.asarray(times, dtype=np.float64)
        load = np.asarray(load, dtype=np.float64)
        rows, k = times.shape
        b = np.zeros(rows)
        shed = np.zeros(rows)
        out = np.zeros((rows, k))
        for j in range(k - 1):
            with np.errstate(invalid="ignore"):  # inf - inf: padding, not a piece
                dt = times[:, j + 1] - times[:, j]
            live = np.isfinite(dt)
            nb = b + np.where(live, (load[:, j] - capacity) * np.where(live, dt, 0.0), 0.0)
            # The backlog grows linearly within a piece: what passes the cap is shed.
            shed += np.maximum(nb - max_backlog, 0.0)
            b = np.clip(nb, 0.0, max_backlog)
            out[:, j + 1] = b
        return FluidQueues(times, load, capacity, max_backlog, out, shed)

    def _piece(self, row: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Index of the piece of `row` holding `t` (-1: before the first change)."""
        k = self.times.shape[1]
        j = np.zeros(row.size, dtype=np.int64)
        for c in range(k):  # K is small (a few changes per row): a comparison per column
            j += self.times[row, c] <= t
        return j - 1

    def at(self, row: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(backlog, load, shedding) of analyser `row[n]` at `t[n]` (before its first
        change: no backlog, load -1 meaning "as before the changes", not shedding)."""
        row = np.asarray(row, dtype=np.int64)
        t = np.asarray(t, dtype=np.float64)
        j = self._piece(row, t)
        ok = j >= 0
        jj = np.maximum(j, 0)
        load = self.load[row, jj]
        b = self.backlog[row, jj] + (load - self.capacity) * (t - self.times[row, jj])
        b = np.where(ok, np.clip(b, 0.0, self.max_backlog), 0.0)
        shedding = ok & (load > self.capacity) & (b >= self.max_backlog * (1 - 1e-12))
        return b, np.where(ok, load, -1.0), shedding


def fifo_waits(arrival_s: np.ndarray, service_s: np.ndarray, servers: int = 1) -> np.ndarray:
    """Waiting time of each job of a FIFO queue with `servers` servers (Kiefer-Wolfowitz).

    Jobs in arrival order; the reference, job by job, that the formulas are tested against.
    """
    free = [0.0] * servers  # when each server is next free (a heap)
    out = np.empty(len(arrival_s))
    for i, (a, s) in enumerate(zip(np.asarray(arrival_s).tolist(), np.asarray(service_s).tolist())):
        f = heapq.heappop(free)
        start = a if a > f else f
        out[i] = start - a
        heapq.heappush(free, start + s)
    return out
