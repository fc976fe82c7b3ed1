"""Dual recording in the simulation: a chosen camera's second copy as a stream of its own.

A camera chosen by `failover.standby: {type: dual}` gets a second stream (its copy) that the
engine runs like any camera: placed on another recorder of the pool, in the catalog under
`<camera>~copy2`, stopped by the same faults, moved by failover. Footage is lost only where
neither copy has it, so the camera's loss is the overlap of its two streams' gaps, and
footage lost with a disk counts only the part the other copy does not hold.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from typing import Any

import numpy as np

from twin.core.catalog import RunCatalog
from twin.model.city import SITE_KINDS, CityModel

__all__ = ["COPY_SUFFIX", "chosen_cameras", "with_copies", "overlap_gaps", "uncovered_s"]

COPY_SUFFIX = "~copy2"
_CAM_FIELDS = (
    "cam_set",
    "cam_index_in_set",
    "cam_district",
    "cam_profile",
    "cam_mbps",
    "cam_effective_mbps",
    "cam_online_s",
    "cam_pool",
)


def chosen_cameras(policy: Any, city: CityModel) -> np.ndarray:
    """Cameras the dual policy records twice, in camera order."""
    kinds = [SITE_KINDS.index(k) for k in policy.site_kinds]
    dists = [city.district_names.index(d) for d in policy.districts]
    pick = np.isin(city.set_site_kind[city.cam_set], kinds) | np.isin(city.cam_district, dists)
    return np.flatnonzero(pick)


def with_copies(city: CityModel, copy_of: np.ndarray) -> CityModel:
    """The city with one more stream per chosen camera (same set, district, pool, bitrate)."""
    columns: dict[str, Any] = {
        f: np.concatenate([getattr(city, f), getattr(city, f)[copy_of]]) for f in _CAM_FIELDS
    }
    return dataclasses.replace(city, **columns)


def _intersect(
    a: list[tuple[float, float]], b: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    a, b = sorted(a), sorted(b)
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if hi > lo:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def overlap_gaps(
    log: list[tuple[np.ndarray, np.ndarray, np.ndarray]], copy_of: np.ndarray, n_cams: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per chosen camera: seconds when neither stream recorded, and the longest such gap.

    `log` holds (streams, gap starts, gap ends) of the chosen cameras' streams.
    """
    gaps: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for streams, starts, ends in log:
        for si, ai, bi in zip(streams.tolist(), starts.tolist(), ends.tolist()):
            if bi > ai:
                gaps[si].append((ai, bi))
    lost = np.zeros(copy_of.size)
    longest = np.zeros(copy_of.size)
    for k, cam in enumerate(copy_of.tolist()):
        both = _intersect(gaps.get(cam, []), gaps.get(n_cams + k, []))
        if not both:
            continue
        lost[k] = sum(b - a for a, b in both)
        run_a, run_b, best = both[0][0], both[0][1], 0.0
        for a, b in both[1:]:
            if a <= run_b + 1e-9:
                run_b = max(run_b, b)
            else:
                best, run_a, run_b = max(best, run_b - run_a), a, b
        longest[k] = max(best, run_b - run_a)
    return lost, longest


def _footage(
    catalog: RunCatalog, stream: int, now_s: float, recorder: int | None, exclude: int | None
) -> list[tuple[float, float]]:
    c = {k: catalog.col(k) for k in ("camera", "recorder", "start_s", "seg_s", "first")}
    w = catalog.written(now_s)
    sel = c["camera"] == stream
    if recorder is not None:
        sel &= c["recorder"] == recorder
    if exclude is not None:
        sel &= c["recorder"] != exclude
    out = []
    for r in np.flatnonzero(sel & (w > c["first"])):
        s0, sg = float(c["start_s"][r]), float(c["seg_s"][r])
        out.append((s0 + int(c["first"][r]) * sg, s0 + int(w[r]) * sg))
    return out


def uncovered_s(
    catalog: RunCatalog, stream: int, partner: int, recorder: int, now_s: float
) -> float:
    """Seconds of `stream`'s footage on `recorder` that its partner's copy does not hold."""
    mine = _footage(catalog, stream, now_s, recorder, None)
    total = sum(b - a for a, b in mine)
    if partner < 0 or total == 0:
        return total
    other = _footage(catalog, partner, now_s, None, recorder)
    covered = sum(b - a for a, b in _intersect(mine, other))
    return max(total - covered, 0.0) if math.isfinite(total) else total
