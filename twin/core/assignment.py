"""Assignment of cameras to recorders within their limits.

Theory of operation
-------------------
Each recorder has an ingest limit (Mbps) and a stream limit. `RecorderLoads` holds what is
placed on each recorder and answers two questions:

- `place_balanced`: put cameras, in the order given, on the least-loaded recorder of their
  pool that can still take them (load = the larger of ingest and stream utilisation; ties go
  to the lower recorder number). It never puts a recorder over a limit: a camera no recorder
  can take is returned as unplaced (-1), for the caller to report.
- `place_static` + `accept_within_limits`: a hand-made plan that splits a pool's cameras
  round-robin, blind to limits; each recorder then records the cameras that fit, in the
  order they were given, and the rest are over the limit (their segments are dropped).

Sans-IO and deterministic: numpy arrays in, numpy arrays out.
"""

from __future__ import annotations

import heapq

import numpy as np

from twin.errors import CapacityError

__all__ = ["RecorderLoads", "accept_within_limits"]


class RecorderLoads:
    """Placed load per recorder, against its limits."""

    def __init__(
        self, rec_pool: np.ndarray, ingest_limit_mbps: np.ndarray, stream_limit: np.ndarray
    ):
        self.rec_pool = np.asarray(rec_pool, dtype=np.int64)
        self.ingest_limit = np.asarray(ingest_limit_mbps, dtype=np.float64)
        self.stream_limit = np.asarray(stream_limit, dtype=np.int64)
        self.load_mbps = np.zeros(self.rec_pool.size)
        self.streams = np.zeros(self.rec_pool.size, dtype=np.int64)
        self.up = np.ones(self.rec_pool.size, dtype=bool)

    def _key(self, r: int) -> float:
        return float(
            max(self.load_mbps[r] / self.ingest_limit[r], self.streams[r] / self.stream_limit[r])
        )

    def fits(self, r: int, mbps: float) -> bool:
        return bool(
            self.up[r]
            and self.streams[r] + 1 <= self.stream_limit[r]
            and self.load_mbps[r] + mbps <= self.ingest_limit[r] * (1 + 1e-12)
        )

    def add(self, r: int, mbps: float) -> None:
        if not self.fits(r, mbps):
            raise CapacityError(
                f"recorder {r} cannot take {mbps:.3f} Mbps more: load {self.load_mbps[r]:.3f} of "
                f"{self.ingest_limit[r]:.3f} Mbps, streams {self.streams[r]} of "
                f"{self.stream_limit[r]} (up={bool(self.up[r])}); place it elsewhere"
            )
        self.load_mbps[r] += mbps
        self.streams[r] += 1

    def remove(self, recorders: np.ndarray, mbps: np.ndarray) -> None:
        recorders = np.asarray(recorders, dtype=np.int64)
        ok = recorders >= 0
        np.subtract.at(self.load_mbps, recorders[ok], np.asarray(mbps, dtype=np.float64)[ok])
        np.subtract.at(self.streams, recorders[ok], 1)
        self.load_mbps[self.load_mbps < 1e-9] = 0.0

    def place_balanced(
        self, cam_mbps: np.ndarray, cam_pool: np.ndarray, candidates: np.ndarray | None = None
    ) -> np.ndarray:
        """Place cameras in the given order; returns the recorder of each, or -1 if none fits.

        `candidates` (bool per recorder) narrows where cameras may go (default: every
        recorder that is up, within the camera's pool).
        """
        cam_mbps = np.asarray(cam_mbps, dtype=np.float64)
        cam_pool = np.asarray(cam_pool, dtype=np.int64)
        out = np.full(cam_mbps.size, -1, dtype=np.int64)
        allowed = self.up.copy() if candidates is None else (np.asarray(candidates) & self.up)
        heaps: dict[int, list[tuple[float, int]]] = {}
        for p in np.unique(cam_pool):
            recs = np.flatnonzero((self.rec_pool == p) & allowed)
            h = [(self._key(int(r)), int(r)) for r in recs]
            heapq.heapify(h)
            heaps[int(p)] = h
        for i in range(cam_mbps.size):
            h = heaps[int(cam_pool[i])]
            skipped = []
            while h:
                key, r = heapq.heappop(h)
                if self.fits(r, cam_mbps[i]):
                    self.add(r, float(cam_mbps[i]))
                    out[i] = r
                    heapq.heappush(h, (self._key(r), r))
                    break
                skipped.append((key, r))
            for item in skipped:
                heapq.heappush(h, item)
        return out

    def place_static(self, cam_pool: np.ndarray, counters: dict[int, int]) -> np.ndarray:
        """Round-robin within each pool, blind to limits; `counters` carries on between calls."""
        cam_pool = np.asarray(cam_pool, dtype=np.int64)
        out = np.empty(cam_pool.size, dtype=np.int64)
        for i, p in enumerate(cam_pool):
            recs = np.flatnonzero(self.rec_pool == p)
            k = counters.get(int(p), 0)
            out[i] = recs[k % recs.size]
            counters[int(p)] = k + 1
        return out


def accept_within_limits(
    assigned: np.ndarray,
    cam_mbps: np.ndarray,
    ingest_limit_mbps: np.ndarray,
    stream_limit: np.ndarray,
) -> np.ndarray:
    """Which cameras a recorder records when given more than it can take.

    Cameras are taken in the order given, per recorder, while both the cumulative Mbps and
    the count stay within the recorder's limits. Returns a bool mask over cameras
    (unassigned cameras, -1, are never accepted).
    """
    assigned = np.asarray(assigned, dtype=np.int64)
    accepted = np.zeros(assigned.size, dtype=bool)
    ok = np.flatnonzero(assigned >= 0)
    if ok.size == 0:
        return accepted
    rec = assigned[ok]
    order = np.argsort(rec, kind="stable")
    rec_sorted = rec[order]
    mbps_sorted = np.asarray(cam_mbps, dtype=np.float64)[ok][order]
    bounds = np.flatnonzero(np.r_[True, rec_sorted[1:] != rec_sorted[:-1]])
    group_start = np.repeat(bounds, np.diff(np.r_[bounds, rec_sorted.size]))
    cum = np.cumsum(mbps_sorted)
    cum_in_group = cum - (cum[group_start] - mbps_sorted[group_start])
    rank = np.arange(rec_sorted.size) - group_start + 1
    fit = (cum_in_group <= ingest_limit_mbps[rec_sorted] * (1 + 1e-12)) & (
        rank <= stream_limit[rec_sorted]
    )
    # A camera after one that did not fit does not fit either: the recorder is full.
    fit = _prefix_and(fit, bounds)
    accepted[ok[order]] = fit
    return accepted


def _prefix_and(mask: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    out = mask.copy()
    ends = np.r_[bounds[1:], mask.size]
    for a, b in zip(bounds, ends):
        bad = np.flatnonzero(~mask[a:b])
        if bad.size:
            out[a + bad[0] : b] = False
    return out
