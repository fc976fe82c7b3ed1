"""What a live run observed (`LiveOutcome`), and how the pieces of it are merged at its end.

This module is the live run's record and nothing else: no Ray, no clock, no process. The life
cycle (twin.live.lifecycle, twin.live.stopping) fills a `LiveOutcome` as the run goes;
twin.live.measure turns it into results, and `twin live --recover` (twin.live.recover)
rebuilds one from `live/run-state.json`. The merges below are shared by both ends: a part
that ran in several processes (a recorder or analyser killed and started again) leaves one
figure per process, and results count each part once.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.errors import TwinError
from twin.live.run_settings import LiveRun
from twin.scenario import Scenario

if TYPE_CHECKING:  # for types only: twin.live.recorder loads PyAV, which a record needs not
    from twin.live.recorder import RecorderStatus

__all__ = [
    "LiveError",
    "LiveInterrupted",
    "LiveOutcome",
    "merge_status",
    "merge_analyser",
    "cpu_window",
    "nodes_event",
    "book_node_report",
]


class LiveError(TwinError):
    """A part of the live twin (Ray, an actor, MediaMTX) could not run."""


class LiveInterrupted(TwinError):
    """SIGINT or SIGTERM stopped the run (what was recorded is measured and written)."""


@dataclass
class LiveOutcome:
    """Everything the live run observed; twin.live.measure turns it into results."""

    scenario: Scenario
    settings: LiveRun
    run_dir: Path
    store_path: Path
    segments_root: Path
    epoch: float
    t0: float  # recording asked to start (run clock)
    t_end: float  # recording asked to stop (run clock)
    cameras: list[str]
    camera_set: dict[str, str]
    camera_scene: dict[str, int]
    recorders: list[str]
    initial_assignment: dict[str, str | None]
    final_assignment: dict[str, str | None]
    retention_s: float
    faults: list[dict[str, Any]] = field(default_factory=list)  # one per fault, any cause
    interrupted: str | None = None  # the signal that ended the run early
    source: str = ""  # the scenario file, as given (live/run-state.json keeps it)
    parts: dict[str, Any] = field(default_factory=dict)  # part -> PIDs and nodes, in order
    recovered_partials: int = 0
    removed_partials: int = 0
    clip_origins: dict[str, float] = field(default_factory=dict)  # run clock
    clip_truth_paths: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    sweeps: list[dict[str, Any]] = field(default_factory=list)
    samples: list[dict[str, float]] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # seconds over the steady window
    cpu_window_s: float = 0.0
    publisher_stats: dict[str, Any] = field(default_factory=dict)
    recorder_stats: dict[str, Any] = field(default_factory=dict)
    analyser: dict[str, Any] = field(default_factory=dict)
    # The analyser pool (twin.live.analysis_pool): cost per frame each actor measured, the
    # cameras each took, those not analysed.
    analysis: dict[str, Any] = field(default_factory=dict)
    mediamtx_pids: list[int] = field(default_factory=list)
    ray_address: str = ""
    actors_started_s: float = 0.0
    # The cluster (twin.live.cluster): where each part runs and each node keeps its files.
    placement: Any = None
    driver_node: str = ""
    run_key: str = ""
    camera_district: dict[str, str] = field(default_factory=dict)
    recorder_pool: dict[str, str] = field(default_factory=dict)
    homes: dict[str, list[str]] = field(default_factory=dict)
    standby: list[str] = field(default_factory=list)
    storage_nodes: list[str] = field(default_factory=list)
    storage_kind: dict[str, str] = field(default_factory=dict)  # "run folder" | "node folder"
    relay_dirs: list[str] = field(default_factory=list)
    node_reports: dict[str, Any] = field(default_factory=dict)  # node id -> rows, file checks
    driver_cpu_s: float = 0.0
    # The harness's own figures (twin.live.harness): the driver's lag, the machine, when each
    # publisher fell behind, what the relay received of what was offered (steady window).
    harness: dict[str, Any] = field(default_factory=dict)


def merge_status(statuses: list[RecorderStatus]) -> RecorderStatus:
    """One recorder's final counters over the processes it ran in."""
    last = statuses[-1]
    return dataclasses.replace(
        last,
        cameras=(),
        streams=tuple(st for s in statuses for st in s.streams),
        cpu_s=sum(s.cpu_s for s in statuses),
    )


def merge_analyser(snaps: list[dict[str, Any]]) -> dict[str, Any]:
    """The analyser's scores over every process it ran in (the last snapshot of a dead one)."""
    by_cam: dict[str, dict[str, Any]] = {}
    for snap in snaps:
        for c in snap.get("cameras") or []:
            m = by_cam.get(c["camera"])
            if m is None:
                by_cam[c["camera"]] = {
                    **c,
                    "tp": dict(c["tp"]),
                    "detections": dict(c["detections"]),
                    "truths": dict(c["truths"]),
                    "alerts": list(c["alerts"]),
                }
                continue
            for k in ("frames", "frames_scored", "connects", "failures", "dropped_late"):
                m[k] = m.get(k, 0) + c.get(k, 0)
            m["process_s"] = m.get("process_s", 0.0) + c.get("process_s", 0.0)
            for k in ("tp", "detections", "truths"):
                for cls, v in c[k].items():
                    m[k][cls] = m[k].get(cls, 0) + v
            m["alerts"] += c["alerts"]
            firsts = [x for x in (m["first_frame_s"], c["first_frame_s"]) if x is not None]
            lasts = [x for x in (m["last_frame_s"], c["last_frame_s"]) if x is not None]
            m["first_frame_s"] = min(firsts) if firsts else None
            m["last_frame_s"] = max(lasts) if lasts else None
    return {
        "cameras": [by_cam[c] for c in sorted(by_cam)],
        "cpu_s": sum(s.get("cpu_s", 0.0) for s in snaps),
        "processes": len(snaps),
    }


def cpu_window(
    o: LiveOutcome, a: dict[str, float], b: dict[str, float], fault_records: list[dict[str, Any]]
) -> dict[str, Any]:
    """The steady window's CPU per part from its two snapshots `a` and `b` (into `o.cpu`), and
    the relay's witness; returns the details of the `cpu_window` event."""
    o.cpu_window_s = b["t"] - a["t"]
    o.cpu = {k: b[k] - a[k] for k in b if k != "t" and k in a and ":" not in k}
    # The relay's witness: what reached MediaMTX of all each camera had offered, at the
    # end of the steady window (before the first fault: a relay restarted would have
    # reset its count). Totals, not the window's differences: the relay is read just
    # after the publishers, so a total can only be ahead, while a difference of two
    # readings taken seconds apart on a loaded machine is off by those seconds.
    # Only if no relay went down before the reading: a restarted MediaMTX (a fault nobody
    # scripted, which does not end the window) counts from zero again.
    ratio = {}
    first_only = not any(
        r["part"].startswith("relay")
        and min(
            (x for x in (r["injected_s"], r["last_seen_s"], r["detected_s"]) if x is not None),
            default=math.inf,
        )
        < b["t"]
        for r in fault_records
    )
    for k in b:
        cam = k.partition(":")[2]
        if first_only and k.startswith("sent:") and b[k] > 0 and f"relay:{cam}" in b:
            ratio[cam] = b[f"relay:{cam}"] / b[k]
    if ratio:
        o.harness["relay_ratio"] = ratio
        o.harness["relay_checked_s"] = b["t"]
    return {
        "from_s": round(a["t"], 3),
        "to_s": round(b["t"], 3),
        "cpu_s": {k: round(v, 3) for k, v in sorted(o.cpu.items())},
        "snapshot_keys": sorted(k for k in set(a) | set(b) if ":" not in k),
    }


def nodes_event(o: LiveOutcome, part_nodes: dict[str, str]) -> dict[str, Any]:
    """The nodes used and the node of every part (`part_nodes`: part -> node id), by label."""
    pl = o.placement
    nodes = []
    for nid in pl.used() or [o.driver_node]:
        nodes.append(
            {
                "node": pl.label(nid),
                "address": pl.address(nid),
                "node_id": nid,
                "driver": nid == o.driver_node,
                "districts": sorted(d for d, n in pl.district_node.items() if n == nid),
                "pools": sorted(p for p, n in pl.pool_node.items() if n == nid),
                "analysers": sorted(p for p, n in pl.analyser_node.items() if n == nid),
                "storage": o.storage_kind.get(nid),
            }
        )
    where = {p: pl.label(node) for p, node in sorted(part_nodes.items())}
    return {
        "nodes": nodes,
        "run_key": o.run_key,
        "parts": dict(sorted(where.items())),
        "placed_by": dict(sorted(pl.claimed.items())),
        "standby": list(o.standby),
    }


def book_node_report(
    o: LiveOutcome, node: str, rep: dict[str, Any], event: Callable[..., None], **extra: Any
) -> None:
    """A node's end-of-run report (twin.live.cluster.finish_node or finish_folder: its rows,
    file checks and the partials its recorders left) into the outcome, with one
    `partials_recovered` event a recorder; `extra` goes on each event (who recovered them)."""
    o.node_reports[node] = rep
    for rec in rep["recovered"]:
        o.recovered_partials += rec["recovered"]
        o.removed_partials += rec["removed"]
        event(
            "partials_recovered",
            recorder=rec["recorder"],
            recovered=rec["recovered"],
            removed=rec["removed"],
            seconds=round(rec["seconds"], 3),
            **extra,
        )
