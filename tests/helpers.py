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
    "recorders": {
        "pools": [
            {
                "name": "central",
                "districts": "*",
                "recorders": 2,
                "ingest_mbps": 1000,
                "disk_tb": 400,
                "max_streams": 200,
            }
        ]
    },
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


def small_live(name: str, seed: int, duration_s: float, **extra: Any) -> dict[str, Any]:
    """The smallest live deployment the live tests run as a real `twin live`: 2 sets of 3
    cameras (640x360, 0.5 Mbps) on 2 recorders of 6 streams, 3 s segments swept every 3 s,
    30 days compressed to 9 s, heartbeats every 0.5 s (down after 2 s), analyser off. `extra`
    adds or replaces top-level sections (faults, targets, fidelity...)."""
    return {
        "name": name,
        "seed": seed,
        "city": {
            "districts": [{"name": "Mong Kok", "sets": 2, "backhaul_mbps": 1000}],
            "cameras_per_set": {3: 1.0},
        },
        "camera_profiles": [{"name": "hd", "width": 640, "height": 360, "bitrate_mbps": 0.5}],
        "recorders": {
            "pools": [
                {
                    "name": "p",
                    "districts": "*",
                    "recorders": 2,
                    "ingest_mbps": 100,
                    "disk_tb": 1,
                    "max_streams": 6,
                }
            ]
        },
        "recording": {"segment_s": 3, "sweep_interval_s": 3},
        "simulation": {"tick_s": 3},
        "live": {
            "duration_s": duration_s,
            "time_compression": 288_000,
            "heartbeat_interval_s": 0.5,
            "heartbeat_timeout_s": 2.0,
            "clip": {"clip_s": 10, "scenes": 1, "collision_at_s": 4},
            "analyser": {"enabled": False},
        },
        **extra,
    }


def fault_specs(faults: list[tuple[str, int, float, float]], n_rec: int) -> list[dict[str, Any]]:
    """Scenario `faults:` entries from drawn (kind, k, at_s, duration_s) tuples, each aimed at
    a recorder `c-rNN`, a district, a relay or a camera set of BASE picked by k."""
    spec = []
    for kind, k, at, dur in faults:
        f: dict[str, Any] = {"type": kind, "at_s": at, "duration_s": dur}
        if kind in ("recorder_crash", "disk_failure", "disk_fill"):
            f["recorder"] = f"c-r{k % n_rec + 1:02d}"
        if kind == "disk_fill":
            f["fill_pct"] = 100.0
        if kind in ("district_power", "backhaul_cut"):
            f["district"] = ["Yau Tsim Mong", "Wan Chai"][k % 2]
        if kind == "relay_down":
            f["relay"] = ["Yau Tsim Mong", "Wan Chai", "city"][k % 3]
        if kind == "set_power":
            f["camera_set"] = k + 1
        spec.append(f)
    return spec
