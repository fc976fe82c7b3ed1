"""Analytics of a whole city over a run: admission, queues, bursts and alert latency.

Theory of operation
-------------------
Sans-IO and clock-free: the city (when each camera comes on line, its district), the
scenario's `analytics:` section and the run's end in; metrics and per-incident latencies out.
The simulator runs it at the end of a run (twin.sim.analytics); the live twin runs it on its
own deployment to say what the simulation predicts (twin.live.analysis_pool). Every figure
comes from the scenario; the queueing rules from core.analysis_queue. A frame is never an
event, nor is an incident: everything is vectorised, at a cost that follows cameras, bursts
and incidents (not frames).

1. Demand. Each camera runs every workload: sum of fps x seconds of one unit per frame (the
   pool's device: a core or a GPU) is its demand, in units.
2. Admission. Cameras in the order they come on line (then camera order) go to an analyser
   of their group (`edge`: the camera's own device; `district`: the district's machines;
   `central`: every machine) within `max_util_pct` of its units (core.analysis_queue.admit).
   The rest are not analysed: their incidents get no alert.
3. Steady queue. An analyser of `units` units is c = max(1, floor(units)) servers of speed
   units / c. Its frames (many cameras out of phase, merged: taken as Poisson) wait the
   M/G/c mean (core.analysis_queue.mgc_wait_s) at its load at the time, the load capped at
   99 % of its units (beyond, the backlog below dominates).
4. Bursts. A crowd event in a district (Poisson per district per day, or at set times)
   multiplies that district's cameras' work by `load_factor` for `duration_s` and brings
   `incidents_per_camera` incidents each. An analyser pushed over its units builds a fluid
   backlog (core.analysis_queue.FluidQueues, piecewise linear between the moments its load
   changes; the load inside a burst is that of the cameras admitted at its start), capped at
   `max_lag_s` of work: frames beyond are shed, counted as dropped.
5. Alerts. An incident is seen by the next frame of its workload (a uniform offset within
   the frame interval) and alerted after `confirm_frames` frames showing it; a shed frame is
   lost (each frame survives with probability capacity / load while shedding), so more frames
   are needed; the last one waits the backlog's time to drain plus the steady wait and is
   processed. Latency = offset + frames + wait + processing, per incident.

Draws come from SeedSequence(seed, spawn_key=draw_key + SPAWN_KEY), this extension's own
branch, so analytics on or off leaves the city and the recording as they were.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from twin.core.analysis_queue import FluidQueues, admit, mgc_wait_s

if TYPE_CHECKING:
    from twin.model.city import CityModel
    from twin.scenario.analytics import AnalyticsSettings

__all__ = ["SPAWN_KEY", "AnalyticsOutcome", "simulate_analytics"]

SPAWN_KEY = (0x414E4C59,)  # "ANLY"
RHO_CAP = 0.99


@dataclass
class AnalyticsOutcome:
    """What the analysis of one run measured (metrics, and what the plot needs)."""

    metrics: dict[str, float]
    latency_s: np.ndarray  # per alerted incident
    wait_s: np.ndarray  # of those, the time the incident's last frame waited in the queue
    in_burst: np.ndarray  # bool per alerted incident
    analyser_util_pct: np.ndarray  # per analyser, outside bursts, at the end
    bursts: list[tuple[int, float]] = field(default_factory=list)  # (district, start s)


def _poisson_points(
    rng: np.random.Generator, start_s: np.ndarray, end_s: float, per_day: float
) -> tuple[np.ndarray, np.ndarray]:
    span = np.clip(end_s - start_s, 0.0, None)
    counts = rng.poisson(per_day * span / 86_400.0)
    cams = np.repeat(np.arange(start_s.size, dtype=np.int64), counts)
    times = start_s[cams] + rng.random(cams.size) * span[cams]
    return times, cams


def _bursts(
    a: AnalyticsSettings,
    rng: np.random.Generator,
    n_districts: int,
    district_names: tuple[str, ...],
    end_s: float,
) -> list[tuple[int, float]]:
    b = a.bursts
    out: list[tuple[int, float]] = []
    for t in b.at_s:
        if t >= end_s:
            continue
        ds = range(n_districts) if b.district is None else [district_names.index(b.district)]
        out += [(d, float(t)) for d in ds]
    if b.per_district_day > 0:
        counts = rng.poisson(b.per_district_day * end_s / 86_400.0, size=n_districts)
        for d in range(n_districts):
            out += [(d, float(t)) for t in np.sort(rng.random(int(counts[d])) * end_s)]
    return sorted(out, key=lambda x: (x[1], x[0]))


def simulate_analytics(
    a: AnalyticsSettings, city: CityModel, end_s: float, seed: int, draw_key: tuple[int, ...] = ()
) -> AnalyticsOutcome:
    """The analysis of `city` over [0, end_s) (module docstring)."""
    rng_inc, rng_burst, rng_lat = [
        np.random.default_rng(s)
        for s in np.random.SeedSequence(seed, spawn_key=draw_key + SPAWN_KEY).spawn(3)
    ]
    pool = a.pool
    dev = pool.device
    fps = np.array([w.fps for w in a.workloads])
    cost = np.array([w.cost_s(dev) for w in a.workloads])
    scv = np.array([w.service_scv for w in a.workloads])
    demand = float((fps * cost).sum())  # units per camera
    lam_cam = float(fps.sum())  # frames per second per camera
    s_mean = demand / lam_cam
    s2 = float((fps * cost**2 * (1 + scv)).sum()) / lam_cam
    cs2 = max(0.0, s2 / s_mean**2 - 1.0)
    servers = max(1, int(math.floor(pool.units)))
    speed = pool.units / servers

    n = city.n_cameras
    online = np.asarray(city.cam_online_s, dtype=np.float64)
    on = online < end_s
    dist = np.asarray(city.cam_district, dtype=np.int64)
    nd = len(city.district_names)
    # -- analysers and admission ---------------------------------------------------------------
    if pool.type == "edge":
        n_an = n
        cam_group = np.arange(n, dtype=np.int64)
        an_group = np.arange(n, dtype=np.int64)
    elif pool.type == "district":
        n_an = pool.analysers * nd
        cam_group = dist
        an_group = np.repeat(np.arange(nd, dtype=np.int64), pool.analysers)
    else:
        n_an = pool.analysers
        cam_group = np.zeros(n, dtype=np.int64)
        an_group = np.zeros(n_an, dtype=np.int64)
    limit_units = pool.units * pool.max_util_pct / 100.0
    order = np.lexsort((np.arange(n), online))
    order = order[on[order]]
    cam_an = np.full(n, -1, dtype=np.int64)
    if pool.type == "edge":  # each camera its own device: it fits or not
        cam_an[order] = np.where(demand <= limit_units, order, -1)
    else:
        placed, _ = admit(
            np.full(order.size, demand), cam_group[order], an_group, np.full(n_an, limit_units)
        )
        cam_an[order] = placed
    analysed = cam_an >= 0
    # Base load of each analyser at any time: its admitted cameras on line by then.
    adm = np.flatnonzero(analysed)
    key_order = np.lexsort((online[adm], cam_an[adm]))
    adm_sorted = adm[key_order]
    adm_an = cam_an[adm_sorted]
    adm_t = online[adm_sorted]
    first_of = np.searchsorted(adm_an, np.arange(n_an), side="left")

    span = end_s + 1.0
    adm_key = adm_an * span + adm_t  # ascending: by analyser, then time on line

    def cams_by(an: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Admitted cameras on line at `t` on analyser `an` (vectorised)."""
        return np.asarray(
            np.searchsorted(adm_key, an * span + np.minimum(t, end_s), side="right") - first_of[an],
            dtype=np.int64,
        )

    # -- incidents and bursts ------------------------------------------------------------------
    t_inc, c_inc = _poisson_points(
        rng_inc, np.where(on, online, end_s), end_s, a.incidents.per_camera_day
    )
    burst_flag = [np.zeros(t_inc.size, dtype=bool)]
    t_all, c_all = [t_inc], [c_inc]
    bursts = _bursts(a, rng_burst, nd, city.district_names, end_s)
    b = a.bursts
    # Extra work of the bursts: (analyser, start, end, units) pieces, as arrays.
    p_an: list[np.ndarray] = []
    p_se: list[tuple[float, float, np.ndarray]] = []
    extra_frames = 0.0
    for d, t0 in bursts:
        t1 = min(t0 + b.duration_s, end_s)
        cams = np.flatnonzero((dist == d) & on & (online <= t0))
        k = rng_burst.poisson(b.incidents_per_camera, size=cams.size)
        ci = np.repeat(cams, k)
        t_all.append(t0 + rng_burst.random(ci.size) * (t1 - t0))
        c_all.append(ci)
        burst_flag.append(np.ones(ci.size, dtype=bool))
        mine = cams[analysed[cams]]
        if mine.size == 0 or b.load_factor == 1.0:
            continue
        add = np.bincount(cam_an[mine], minlength=n_an) * (b.load_factor - 1.0) * demand
        extra_frames += mine.size * (b.load_factor - 1.0) * lam_cam * (t1 - t0)
        hit_an = np.flatnonzero(add)
        p_an.append(hit_an)
        p_se.append((t0, t1, add[hit_an]))
    t_i = np.concatenate(t_all)
    c_i = np.concatenate(c_all)
    in_b = np.concatenate(burst_flag)
    srt = np.lexsort((c_i, t_i))
    t_i, c_i, in_b = t_i[srt], c_i[srt], in_b[srt]
    a_i = cam_an[c_i]
    seen = a_i >= 0
    t_s, a_s, b_s = t_i[seen], a_i[seen], in_b[seen]

    # -- queue state at each incident --------------------------------------------------------
    cams_on = cams_by(a_s, t_s) if a_s.size else np.zeros(0, dtype=np.int64)
    base_units = cams_on * demand
    load_units = base_units.copy()
    backlog = np.zeros(t_s.size)
    keep_p = np.ones(t_s.size)
    shed_units = 0.0
    cap = pool.units
    if sum(x.size for x in p_an):
        q, touched = _burst_queues(p_an, p_se, cams_by, demand, cap, a.max_lag_s * cap)
        shed_units = float(q.shed.sum())
        pos = np.searchsorted(touched, a_s)
        hit = (pos < touched.size) & (touched[np.minimum(pos, touched.size - 1)] == a_s)
        b_h, l_h, sh = q.at(pos[hit], t_s[hit])
        backlog[hit] = b_h
        load_units[hit] = np.where(l_h >= 0, l_h, load_units[hit])
        keep_p[hit] = np.where(sh, np.minimum(1.0, cap / np.maximum(l_h, 1e-12)), 1.0)
    rho = np.minimum(load_units / cap, RHO_CAP)
    lam = rho * cap / s_mean  # frames per second into the analyser
    wait = _waits_by_level(lam, s_mean / speed, cs2, servers)
    inc_w = a.incidents.workload
    w_inc = next(w for w in a.workloads if w.kind == inc_w)
    confirm = a.incidents.confirm_frames
    extra_frames_needed = (
        np.where(keep_p < 1.0, rng_lat.negative_binomial(confirm, np.clip(keep_p, 1e-9, 1.0)), 0)
        if t_s.size
        else np.zeros(0)
    )
    offset = rng_lat.random(t_s.size) / w_inc.fps
    latency = (
        offset
        + (confirm - 1 + extra_frames_needed) / w_inc.fps
        + backlog / cap
        + wait
        + w_inc.cost_s(dev) / speed
    )

    # -- metrics -------------------------------------------------------------------------------
    n_on = int(on.sum())
    m: dict[str, float] = {}
    share = pool.max_util_pct / 100.0
    for w in a.workloads:
        m[f"analytics_compute_needed_{w.kind}"] = n_on * w.fps * w.cost_s(dev) / share
    m["analytics_compute_needed"] = n_on * demand / share
    m["analytics_compute_provisioned"] = float(n_an) * pool.units
    an_load = np.bincount(cam_an[analysed], minlength=n_an) * demand
    util = 100.0 * an_load / pool.units
    m["analytics_util_pct_max"] = float(util.max()) if util.size else 0.0
    m["analytics_cameras_analysed"] = float(int((analysed & on).sum()))
    m["analytics_cameras_not_analysed"] = float(n_on - int((analysed & on).sum()))
    offered = float((np.clip(end_s - online[analysed], 0, None)).sum()) * lam_cam + extra_frames
    dropped = shed_units / s_mean
    m["analytics_frames_dropped"] = float(round(dropped))
    m["analytics_frames_dropped_pct"] = 100.0 * dropped / offered if offered > 0 else 0.0
    m["analytics_incidents"] = float(t_i.size)
    m["analytics_incidents_unalerted"] = float(int((~seen).sum()))
    m["analytics_bursts"] = float(len(bursts))
    if latency.size:
        p50, p95, p99 = np.percentile(latency, [50, 95, 99])
        m["analytics_alert_latency_s_p50"] = float(p50)
        m["analytics_alert_latency_s_p95"] = float(p95)
        m["analytics_alert_latency_s_p99"] = float(p99)
        m["analytics_alert_latency_s_max"] = float(latency.max())
    return AnalyticsOutcome(m, latency, backlog / cap + wait, b_s, util, bursts)


def _burst_queues(
    p_an: list[np.ndarray],
    p_se: list[tuple[float, float, np.ndarray]],
    cams_by: Callable[[np.ndarray, np.ndarray], np.ndarray],
    demand: float,
    cap: float,
    max_backlog: float,
) -> tuple[FluidQueues, np.ndarray]:
    """One fluid queue per analyser a burst touched: its load changes at each burst's start
    and end (base load there + the bursts under way). Returns the queues and their analysers
    (ascending; row i is analyser touched[i])."""
    an = np.concatenate(p_an + p_an)
    t = np.concatenate(
        [np.full(x.size, s0) for x, (s0, _, _) in zip(p_an, p_se)]
        + [np.full(x.size, e0) for x, (_, e0, _) in zip(p_an, p_se)]
    )
    d = np.concatenate([u for _, _, u in p_se] + [-u for _, _, u in p_se])
    o = np.lexsort((t, an))
    an, t, d = an[o], t[o], d[o]
    new = np.r_[True, (np.diff(an) != 0) | (np.diff(t) != 0)]
    gid = np.cumsum(new) - 1
    g_an, g_t = an[new], t[new]
    g_d = np.bincount(gid, weights=d)
    first = np.r_[True, np.diff(g_an) != 0]
    block = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    cs = np.cumsum(g_d)
    within = cs - (cs[starts] - g_d[starts])[block]  # extra work after each change
    col = np.arange(g_an.size) - starts[block]
    touched = g_an[starts]
    times = np.full((touched.size, int(col.max()) + 1), np.inf)
    load = np.zeros_like(times)
    times[block, col] = g_t
    load[block, col] = cams_by(g_an, g_t) * demand + np.maximum(within, 0.0)
    return FluidQueues.of(times, load, cap, max_backlog), touched


def _waits_by_level(lam: np.ndarray, s: float, cs2: float, servers: int) -> np.ndarray:
    """mgc_wait_s for many arrival rates: computed once per distinct rate."""
    levels, inv = np.unique(lam, return_inverse=True)
    w = np.array([mgc_wait_s(float(x), s, cs2, servers) if x > 0 else 0.0 for x in levels])
    return w[inv]
