"""Failover priority per camera group (`failover.priority`), for the fault driver.

Each camera takes the priority of the first group that chooses it (by site kind or
district), else `normal`. The failover core (twin.core.failover) places a lost recorder's
cameras high first, then normal, then low, and never moves `none`; footage lost is
reported per priority (metrics `camera_minutes_lost_<priority>`), only for a scenario that
gives priority groups.
"""

from __future__ import annotations

import numpy as np

from twin.model.city import SITE_KINDS, CityModel
from twin.scenario import Scenario
from twin.scenario.faults import PRIORITIES

__all__ = ["camera_priority", "lost_by_priority"]


def camera_priority(sc: Scenario, city: CityModel) -> np.ndarray | None:
    """Per camera: the index of its priority in PRIORITIES (None: no groups given)."""
    groups = sc.failover.priority
    if not groups:
        return None
    out = np.full(city.n_cameras, -1, dtype=np.int8)
    site = city.set_site_kind[city.cam_set]
    for g in groups:
        kinds = [SITE_KINDS.index(k) for k in g.site_kinds]
        dists = [city.district_names.index(d) for d in g.districts]
        chosen = np.isin(site, kinds) | np.isin(city.cam_district, dists)
        out[chosen & (out < 0)] = PRIORITIES.index(g.priority)
    out[out < 0] = PRIORITIES.index("normal")
    return out


def lost_by_priority(priority: np.ndarray | None, lost_s: np.ndarray) -> dict[str, float]:
    """Camera-minutes lost per priority (all four, so a comparison lines them up)."""
    if priority is None:
        return {}
    return {
        f"camera_minutes_lost_{p}": float(lost_s[priority == i].sum() / 60)
        for i, p in enumerate(PRIORITIES)
    }
