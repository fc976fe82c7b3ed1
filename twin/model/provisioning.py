"""What a deployment provisions and needs, and what it costs: closed-form metrics.

These come from the scenario and the generated city alone (no simulation), so they are the
same for both engines: recorders needed pool by pool, drives provisioned and needed, and
the capital cost from the scenario's unit prices (`costs:`, assumptions stated there).
Analyser compute comes from the simulation of a scenario's `analytics:` section
(twin/sim/analytics.py), not from here.
"""

from __future__ import annotations

import math

import numpy as np

from twin.model.city import CityModel
from twin.scenario import Scenario

__all__ = ["deployment_metrics"]


def deployment_metrics(sc: Scenario, city: CityModel) -> dict[str, float]:
    """`recorders_needed` always; drive counts and costs when the scenario has `costs:`.

    A pool needs enough recorders for the largest of its three demands at 100 % of each
    recorder's limit: stream bitrate (ingest), streams, and footage over the retention
    period (every camera the scenario brings on line, roll-out included).
    """
    retention_s = sc.recording.retention_s
    pools = sc.recorders.pools
    needed = 0
    demand_tb = np.zeros(len(pools))
    for p, pool in enumerate(pools):
        cams = city.cam_pool == p
        ingest = float(city.cam_mbps[cams].sum())
        demand_tb[p] = (
            float(city.cam_mean_effective_mbps[cams].sum()) * 1e6 / 8 * retention_s / 1e12
        )
        if not cams.any():
            continue
        needed += max(
            math.ceil(ingest / pool.ingest_mbps - 1e-9),
            math.ceil(int(cams.sum()) / pool.max_streams),
            math.ceil(demand_tb[p] / pool.usable_tb - 1e-9),
        )
    m = {"recorders_needed": float(needed)}
    if any(p.drives is not None for p in pools):  # usable is not raw (twin/core/raid.py)
        m["drives_total"] = float(
            sum(p.recorders * p.drives.count for p in pools if p.drives is not None)
        )
        m["disk_raw_tb"] = sum(
            p.recorders
            * (p.drives.size_tb * p.drives.count if p.drives is not None else p.usable_tb)
            for p in pools
        )
    c = sc.costs
    if c is None:
        return m
    # A pool with `drives:` counts its drives and pays for their raw TB (RAID parity, mirrors
    # and hot spares included); one with disk_tb counts usable TB in costs.drive_tb drives.
    disks = sum(
        p.recorders
        * (p.drives.count if p.drives is not None else math.ceil(p.usable_tb / c.drive_tb - 1e-9))
        for p in pools
    )
    disks_needed = sum(math.ceil(t / c.drive_tb - 1e-9) for t in demand_tb)
    disk_tb = sum(
        p.recorders * (p.drives.size_tb * p.drives.count if p.drives is not None else p.usable_tb)
        for p in pools
    )
    backhaul_gbps = sum(d.backhaul_mbps for d in sc.city.districts) / 1e3
    recorders = sum(p.recorders for p in pools)
    m["disks"] = float(disks)
    m["disks_needed"] = float(disks_needed)
    m["cost_recorders_hkd"] = recorders * c.recorder_hkd
    m["cost_disk_hkd"] = disk_tb * c.disk_hkd_per_tb
    m["cost_backhaul_hkd"] = backhaul_gbps * c.backhaul_hkd_per_gbps
    m["cost_total_hkd"] = m["cost_recorders_hkd"] + m["cost_disk_hkd"] + m["cost_backhaul_hkd"]
    return m
