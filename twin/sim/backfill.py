"""Backfill from edge storage: footage a camera held on its own card during a fault is
uploaded once it reconnects (issue 15, item 4). Run by the fault driver (twin.sim.faults).

Theory of operation
-------------------
A camera whose profile has `backfill:` keeps recording to its card (the last `edge_hours`
of footage, the oldest overwritten) while it cannot deliver: its backhaul is cut, its
relay is down, its recorder is down or it has none after a failover. A power cut stops the
card too, so a gap during which the camera lost power (its `power` drops grew) is not
backfilled. When the camera records again at t after a gap from b, the card's whole
segments of [max(b, t - edge_s), t) go to the recorder it now records on (one closed run
in the catalog, through the engine's seam), so footage lost falls by them. The upload runs
from t at `share x link_mbps` per camera, for footage_bytes / rate seconds, on top of the
district's backhaul: each district's peak with the uploads is the admitted streams' load
plus the most uploads under way at once (a sweep over the upload intervals), measured as
`backfill_backhaul_mbps_max` (and its utilisation) beside the run's `backhaul_util_pct_max`.
The footage is credited to the recorder at t (its disk and retention see it then).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from twin.sim.engine import DROP_REASONS

if TYPE_CHECKING:
    from twin.sim.engine import CityEngine

__all__ = ["Backfill"]


class Backfill:
    """Edge-storage backfill for one engine (module docstring)."""

    def __init__(self, engine: CityEngine) -> None:
        self.e = engine
        profiles = engine.sc.camera_profiles
        city = engine.base_city
        prof = city.cam_profile
        edge = np.array([p.backfill.edge_hours * 3600.0 if p.backfill else 0.0 for p in profiles])
        rate = np.array(
            [p.backfill.share * p.backfill.link_mbps if p.backfill else 0.0 for p in profiles]
        )
        self.edge_s = edge[prof][engine.stream_cam]  # per stream
        self.up_mbps = rate[prof][engine.stream_cam]
        self._power = DROP_REASONS.index("power")
        n = engine.stream_cam.size
        self._power_at_stop = np.zeros(n, dtype=np.int64)
        self.recovered_s = np.zeros(engine.n_cams)  # per camera
        self.segments = 0
        self.bytes = 0.0
        # Uploads: (district, start, end, Mbps) per camera and gap.
        self._uploads: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        engine.on_cameras(stopped=self._stopped, resumed=self._resumed)

    @staticmethod
    def wanted(engine: CityEngine) -> bool:
        return any(p.backfill is not None for p in engine.sc.camera_profiles)

    def _stopped(self, cams: np.ndarray, t: float) -> None:
        self._power_at_stop[cams] = self.e.dropped[self._power, cams]

    def _resumed(self, cams: np.ndarray, t: float) -> None:
        e = self.e
        ok = (self.edge_s[cams] > 0) & (e.dropped[self._power, cams] == self._power_at_stop[cams])
        cams = cams[ok]
        if cams.size == 0:
            return
        b = e.gap_start[cams]
        a0 = np.maximum(b, t - self.edge_s[cams])
        n = np.floor((t - a0) / e.seg_s + 1e-9).astype(np.int64)
        a = t - n * e.seg_s  # the card's whole segments, ending where the new run starts
        keep = n > 0
        cams, a, n = cams[keep], a[keep], n[keep]
        if cams.size == 0:
            return
        nbytes = e.add_footage(cams, a, n, t)
        secs = n * e.seg_s
        np.add.at(self.recovered_s, e.stream_cam[cams], secs)
        self.segments += int(n.sum())
        self.bytes += float(nbytes.sum())
        rate = self.up_mbps[cams]
        dur = nbytes * 8 / 1e6 / rate
        self._uploads.append((e.city.cam_district[cams], np.full(cams.size, t), t + dur, rate))

    def metrics(self) -> dict[str, float]:
        e = self.e
        city = e.city
        base = e.backhaul  # the admitted streams' load per district
        peak = base.copy()
        if self._uploads:
            dist = np.concatenate([u[0] for u in self._uploads])
            t0 = np.concatenate([u[1] for u in self._uploads])
            t1 = np.concatenate([u[2] for u in self._uploads])
            mbps = np.concatenate([u[3] for u in self._uploads])
            for d in np.unique(dist):
                m = dist == d
                times = np.concatenate([t0[m], t1[m]])
                steps = np.concatenate([mbps[m], -mbps[m]])
                order = np.lexsort((steps, times))  # at equal times, ends before starts
                peak[d] = base[d] + max(0.0, float(np.cumsum(steps[order]).max()))
        util = 100 * peak / city.district_backhaul_mbps
        return {
            "camera_minutes_backfilled": float(self.recovered_s.sum() / 60),
            "backfill_tb": self.bytes / 1e12,
            "backfill_backhaul_mbps_max": float(peak.max()),
            "backfill_backhaul_util_pct_max": float(util.max()),
        }
