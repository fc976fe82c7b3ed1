"""City generator: districts -> sites -> camera sets -> cameras -> recorder pools.

Deterministic for a seed: one numpy SeedSequence from the scenario's seed is split into
independent streams (site kinds, cameras per set, profiles, bitrate spread), so changing one
draw does not shift the others, and PCG64 gives the same city on any machine.

The city is columnar (numpy arrays indexed by set, camera, recorder): cheap at 21,000
cameras and what the vectorised engine works on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from twin.core.curves import CurveSet, DailyCurve
from twin.scenario import Scenario, SiteKind

__all__ = [
    "CityModel",
    "SITE_KINDS",
    "generate_city",
    "month_offset_s",
    "camera_names",
    "set_names",
]

SITE_KINDS: tuple[SiteKind, ...] = ("lamp_post", "smart_lamp_post", "government_building")
K = TypeVar("K")


def month_offset_s(start: dt.date, month: str) -> float:
    """Seconds from `start` to the first day of `month` (YYYY-MM); 0 if before the start."""
    y, m = (int(x) for x in month.split("-"))
    days = (dt.date(y, m, 1) - start).days
    return float(max(days, 0) * 86_400)


@dataclass(frozen=True, slots=True)
class CityModel:
    """The generated city. Arrays are indexed by set, camera or recorder number."""

    district_names: tuple[str, ...]
    district_backhaul_mbps: np.ndarray  # float64 [district]
    # sets
    set_district: np.ndarray  # int32 [set]
    set_site_kind: np.ndarray  # int8 [set], index into SITE_KINDS
    set_cameras: np.ndarray  # int8 [set], 2 or 3
    set_online_s: np.ndarray  # float64 [set]
    # cameras
    cam_set: np.ndarray  # int32 [camera]
    cam_index_in_set: np.ndarray  # int8 [camera], 1-based
    cam_district: np.ndarray  # int32 [camera]
    cam_profile: np.ndarray  # int32 [camera], index into scenario.camera_profiles
    cam_mbps: np.ndarray  # float64 [camera], stream bitrate after the per-camera spread
    cam_effective_mbps: np.ndarray  # float64 [camera], what reaches disk (motion share)
    cam_online_s: np.ndarray  # float64 [camera]
    cam_pool: np.ndarray  # int32 [camera], index into pool_names
    # recorders
    pool_names: tuple[str, ...]
    rec_pool: np.ndarray  # int32 [recorder]
    rec_ingest_mbps: np.ndarray  # float64 [recorder]
    rec_disk_bytes: np.ndarray  # float64 [recorder]
    rec_max_streams: np.ndarray  # int64 [recorder]
    rec_names: tuple[str, ...]
    # Daily curves (twin.core.curves): each camera's curve of what reaches disk (0: flat) and
    # of its stream; None when every profile is flat (the engine then runs as it always did).
    # cam_mbps is then the stream's peak-hour bitrate (what limits and links must carry) and
    # cam_effective_mbps what reaches disk at factor 1 (scene factor included).
    curves: CurveSet | None = None
    cam_curve: np.ndarray | None = None  # int16 [camera]

    @property
    def cam_mean_effective_mbps(self) -> np.ndarray:
        """Mean bitrate to disk over a day (cam_effective_mbps on flat curves)."""
        if self.curves is None or self.cam_curve is None:
            return self.cam_effective_mbps
        out: np.ndarray = self.cam_effective_mbps * self.curves.mean[self.cam_curve]
        return out

    @property
    def n_sets(self) -> int:
        return int(self.set_district.size)

    @property
    def n_cameras(self) -> int:
        return int(self.cam_set.size)

    @property
    def n_recorders(self) -> int:
        return int(self.rec_pool.size)

    def camera_name(self, cam: int) -> str:
        """A stable camera id, also its RTSP path in the live twin: set00012-cam2."""
        return f"set{int(self.cam_set[cam]) + 1:05d}-cam{int(self.cam_index_in_set[cam])}"


# Names are a pure function of the city; replications run many engines on one city object,
# so the last city's names are kept (keyed by identity, holding the city so the id stays its).
_NAMES: dict[str, tuple[CityModel, tuple[str, ...]]] = {}


def _names_of(kind: str, city: CityModel) -> tuple[str, ...]:
    hit = _NAMES.get(kind)
    if hit is not None and hit[0] is city:
        return hit[1]
    if kind == "camera":
        names = tuple(city.camera_name(i) for i in range(city.n_cameras))
    else:
        names = tuple(f"set{s + 1:05d}" for s in range(city.n_sets))
    _NAMES[kind] = (city, names)
    return names


def camera_names(city: CityModel) -> tuple[str, ...]:
    """Every camera's name (CityModel.camera_name), in camera order."""
    return _names_of("camera", city)


def set_names(city: CityModel) -> tuple[str, ...]:
    """Every set's name (set00001...), in set order."""
    return _names_of("set", city)


def _weights(mapping: Mapping[K, float], keys: tuple[K, ...]) -> np.ndarray:
    w = np.array([float(mapping.get(k, 0.0)) for k in keys])
    share: np.ndarray = w / w.sum()
    return share


def generate_city(sc: Scenario) -> CityModel:
    """Build the city a scenario describes; the same scenario gives the same city."""
    districts = sc.city.districts
    dindex = {d.name: i for i, d in enumerate(districts)}
    ss = np.random.SeedSequence(sc.seed)
    rng_site, rng_size, rng_profile, rng_spread = (np.random.default_rng(s) for s in ss.spawn(4))

    # Sets: the initial ones district by district, then each roll-out step in order.
    set_district: list[int] = []
    set_online: list[float] = []
    for d in districts:
        set_district += [dindex[d.name]] * d.sets
        set_online += [0.0] * d.sets
    for step in sc.city.rollout:
        at = month_offset_s(sc.simulation.start_date, step.month)
        for name in sorted(step.sets, key=dindex.__getitem__):
            set_district += [dindex[name]] * step.sets[name]
            set_online += [at] * step.sets[name]
    n_sets = len(set_district)
    s_district = np.asarray(set_district, dtype=np.int32)
    s_online = np.asarray(set_online, dtype=np.float64)
    s_site = rng_site.choice(
        len(SITE_KINDS), size=n_sets, p=_weights(sc.city.site_kinds, SITE_KINDS)
    )
    # (2, 3) unless a 4-camera set is asked for: the draws of every 2/3 city stay as they were.
    sizes = (2, 3) if max(sc.city.cameras_per_set) <= 3 else (2, 3, 4)
    s_cams = rng_size.choice(
        np.array(sizes), size=n_sets, p=_weights(sc.city.cameras_per_set, sizes)
    ).astype(np.int8)

    # Cameras: set k's cameras are consecutive, numbered from 1 within the set.
    cam_set = np.repeat(np.arange(n_sets, dtype=np.int32), s_cams)
    starts = np.cumsum(s_cams) - s_cams
    cam_idx = (np.arange(cam_set.size) - np.repeat(starts, s_cams) + 1).astype(np.int8)
    profiles = sc.camera_profiles
    p_weights = np.array([p.share for p in profiles])
    cam_profile = rng_profile.choice(
        len(profiles), size=cam_set.size, p=p_weights / p_weights.sum()
    )
    base = np.array([p.bitrate_mbps for p in profiles])[cam_profile]
    spread = np.array([p.bitrate_spread_pct for p in profiles])[cam_profile] / 100.0
    u = rng_spread.uniform(-1.0, 1.0, size=cam_set.size)
    cam_mbps = base * (1.0 + spread * u)
    share = np.array([p.motion_share if p.recording == "motion" else 1.0 for p in profiles])
    # What reaches disk: the motion share, and what a calibration measured cameras really
    # write per nominal Mbps (1 without one: every uncalibrated city is as it was).
    factor = np.array([sc.storage_factor(p.name) for p in profiles])
    cam_eff = cam_mbps * share[cam_profile]
    curves, cam_curve = None, None
    if any(p.light_curve or p.motion_curve or p.scene_factor for p in profiles):
        # Scene complexity per site kind scales the stream; the light curve scales it by
        # hour (stream and disk); the motion curve scales the recorded share (disk only).
        scene = np.array(
            [[(p.scene_factor or {}).get(k, 1.0) for k in SITE_KINDS] for p in profiles]
        )
        s_factor = scene[cam_profile, s_site[cam_set]]
        light = [DailyCurve.from_steps(p.light_curve) for p in profiles]
        disk = [
            lc.times(DailyCurve.from_steps(p.motion_curve if p.recording == "motion" else None))
            for p, lc in zip(profiles, light)
        ]
        curves = CurveSet(disk)
        cam_curve = (cam_profile + 1).astype(np.int16)
        cam_eff = cam_eff * s_factor
        cam_mbps = cam_mbps * s_factor * np.array([lc.peak for lc in light])[cam_profile]
    if (factor != 1.0).any():
        cam_eff = cam_eff * factor[cam_profile]

    # Recorder pools: a district's own pool, else the central one.
    pools = sc.recorders.pools
    pool_of_district = np.full(len(districts), -1, dtype=np.int32)
    central = -1
    for pi, p in enumerate(pools):
        if p.districts == "*":
            central = pi
        else:
            for name in p.districts:
                pool_of_district[dindex[name]] = pi
    pool_of_district[pool_of_district < 0] = central
    cam_district = s_district[cam_set]
    rec_pool = np.repeat(np.arange(len(pools), dtype=np.int32), [p.recorders for p in pools])
    rec_names = tuple(f"{p.name}-r{j + 1:02d}" for p in pools for j in range(p.recorders))

    return CityModel(
        district_names=tuple(d.name for d in districts),
        district_backhaul_mbps=np.array([d.backhaul_mbps for d in districts], dtype=np.float64),
        set_district=s_district,
        set_site_kind=s_site.astype(np.int8),
        set_cameras=s_cams,
        set_online_s=s_online,
        cam_set=cam_set,
        cam_index_in_set=cam_idx,
        cam_district=cam_district,
        cam_profile=cam_profile.astype(np.int32),
        cam_mbps=cam_mbps,
        cam_effective_mbps=cam_eff,
        cam_online_s=s_online[cam_set],
        cam_pool=pool_of_district[cam_district],
        pool_names=tuple(p.name for p in pools),
        rec_pool=rec_pool,
        rec_ingest_mbps=np.array([pools[i].ingest_mbps for i in rec_pool], dtype=np.float64),
        rec_disk_bytes=np.array([pools[i].usable_tb * 1e12 for i in rec_pool], dtype=np.float64),
        rec_max_streams=np.array([pools[i].max_streams for i in rec_pool], dtype=np.int64),
        rec_names=rec_names,
        curves=curves,
        cam_curve=cam_curve,
    )
