"""Small scenario builders shared by the tests (plain dicts, validated like a file would be)."""

from __future__ import annotations

import copy
from typing import Any

from twin.scenario import Scenario, parse_scenario

BASE: dict[str, Any] = {
    "name": "unit",
    "seed": 7,
    "city": {
        "districts": [
            {"name": "Yau Tsim Mong", "sets": 40, "backhaul_mbps": 100_000},
            {"name": "Wan Chai", "sets": 20, "backhaul_mbps": 100_000},
        ],
        "cameras_per_set": {2: 0.5, 3: 0.5},
    },
    "camera_profiles": [{"name": "fhd", "bitrate_mbps": 4.0, "bitrate_spread_pct": 10}],
    "recording": {"segment_s": 60, "retention_days": 30, "sweep_interval_s": 3600},
    "recorders": {"pools": [{"name": "central", "districts": "*", "recorders": 2,
                             "ingest_mbps": 1000, "disk_tb": 400, "max_streams": 200}]},
    "simulation": {"days": 35, "tick_s": 60, "sample_s": 3600},
}


def scenario(**overrides: Any) -> Scenario:
    """BASE with dotted-path overrides, e.g. scenario(**{"recording.retention_days": 2})."""
    data = copy.deepcopy(BASE)
    if "live" in overrides:  # one deployment: what a live run records (no spread, its horizon)
        data["camera_profiles"][0]["bitrate_spread_pct"] = 0
        del data["simulation"]["days"]
    for path, value in overrides.items():
        node = data
        *parents, leaf = path.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return parse_scenario(data, "<test>")
