"""What a live run measured, from the catalog and the files (not from what actors said).

- Coverage per camera: the camera is expected on disk from the start of recording (`t0`) to
  the end of the run (`t_end`). Its segment rows (every state: a segment retention deleted
  still counts as recorded) are merged into covered spans; every hole longer than
  `GAP_TOLERANCE_S`, before the first segment, between two, or after the last, is a gap. A
  camera with no segment at all has one gap, the whole run.
- Attribution: a gap before the first segment no longer than the start-up allowance
  (connect, then the first keyframe) is start-up; any other gap that began while a fault
  touching that camera was active (from its injection, or from when its part was last seen
  working, to when the part ran again, with `FAULT_SLACK_S` either side) is that fault's;
  the rest is unexplained and counts against the run. Each fault then gets when its cameras
  were recorded again (the end of their gaps) and the camera-seconds it cost.
- Files: every row still `stored` must have its file, of the recorded size, opening with PyAV
  and starting on a keyframe; no `deleted` row may have a file; no segment file may lack a
  row. `.part` files should not be left (the run recovers them); any still there are counted
  as lost and removed, so disk and catalog agree at the end.
- Detection: the analyser's per-camera counts, and incidents matched to the truth's
  incident times (origin + n * clip + start) within `ALERT_WINDOW_S`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synthetic_streams.scene import SceneTruth
from twin.live.analysis_pool import predicted
from twin.live.files import check_files
from twin.live.harness import harness_metrics, validity
from twin.live.outcome import LiveOutcome
from twin.storage.live_catalog import LiveStore, SegmentRow

__all__ = [
    "GAP_TOLERANCE_S",
    "ALERT_WINDOW_S",
    "FAULT_SLACK_S",
    "CameraFootage",
    "LiveMeasures",
    "measure",
    "footage",
    "bytes_in_window",
    "check_files",
    "fault_windows",
    "camera_fault_rows",
]

GAP_TOLERANCE_S = 0.05
ALERT_WINDOW_S = 10.0
FAULT_SLACK_S = 2.0  # a broken connection may close its segment a little after the fault
STARTUP_SLACK_S = 2.0  # start-up allowance: connect + this + one keyframe interval


@dataclass
class CameraFootage:
    camera: str
    segments: int = 0
    bytes: int = 0
    recorders: list[str] = field(default_factory=list)
    first_start_s: float | None = None
    last_end_s: float | None = None
    gaps: list[tuple[float, float]] = field(default_factory=list)  # unexplained
    fault_gaps: list[dict[str, Any]] = field(default_factory=list)
    startup_s: float = 0.0  # head gap within the start-up allowance
    tail_s: float = 0.0
    unrecorded_s: float = 0.0  # every gap in [t0, t_end]
    double_s: float = 0.0  # footage recorded twice (two recorders on the camera at once)

    @property
    def gap_max_s(self) -> float:
        return max((b - a for a, b in self.gaps), default=0.0)


@dataclass
class LiveMeasures:
    cameras: dict[str, CameraFootage]
    rows: list[SegmentRow]
    files: dict[str, int]
    metrics: dict[str, float]
    drills: list[dict[str, Any]]  # every fault gap (camera, fault, span, recovery)
    latencies: list[float]
    alerts: dict[str, Any]
    faults: list[dict[str, Any]] = field(default_factory=list)  # per fault, with its cost
    validity: dict[str, Any] | None = None  # the harness's verdict (twin.live.harness)
    camera_faults: list[dict[str, Any]] = field(default_factory=list)  # camera_fault_rows


def fault_windows(o: LiveOutcome) -> list[tuple[float, float, dict[str, Any]]]:
    """(from, to, record) of every fault: when it may have started a gap."""
    out = []
    for rec in o.faults:
        start = rec["injected_s"]
        if rec.get("storage_lost"):  # a lost node's footage is lost with it, from the start
            start = o.t0 + FAULT_SLACK_S
        if start is None:
            start = (
                rec["last_seen_s"]
                if rec["last_seen_s"] is not None
                else ((rec["detected_s"] or o.t_end) - o.settings.heartbeat_interval_s)
            )
        end = rec["restored_s"] or rec.get("ended_s") or o.t_end
        if rec["part"].startswith("recorder:") and rec["detected_s"] is not None:
            # A lost recorder's cameras stop when it dies and are moved once it is detected:
            # a gap starting later (a recorder that stays down to the end) is not its.
            end = min(end, rec["detected_s"])
        out.append((start - FAULT_SLACK_S, max(end, rec["detected_s"] or end) + FAULT_SLACK_S, rec))
    return out


def bytes_in_window(rows: list[SegmentRow], t0: float, t_end: float) -> float:
    """The bytes of `rows` recorded in [t0, t_end]: a segment straddling an end counts for the
    share of its time inside (its bytes spread evenly over its time, as a constant-bitrate
    stream's are), one wholly outside counts nothing."""
    total = 0.0
    for r in rows:
        span = r.end_s - r.start_s
        inside = min(r.end_s, t_end) - max(r.start_s, t0)
        if span <= 0:
            total += r.size_bytes if t0 <= r.start_s < t_end else 0.0
        elif inside > 0:
            total += r.size_bytes * min(1.0, inside / span)
    return total


def footage(o: LiveOutcome, rows: list[SegmentRow]) -> dict[str, CameraFootage]:
    """Per-camera coverage and gaps (see the module docstring)."""
    by_cam: dict[str, list[SegmentRow]] = {c: [] for c in o.cameras}
    for r in rows:
        by_cam.setdefault(r.camera, []).append(r)
    windows = fault_windows(o)
    startup_allow = o.t0 + o.settings.profile.keyframe_s + STARTUP_SLACK_S
    out: dict[str, CameraFootage] = {}
    for cam, segs in by_cam.items():
        segs.sort(key=lambda r: (r.start_s, r.id))
        f = CameraFootage(cam, len(segs), sum(r.size_bytes for r in segs))
        f.recorders = sorted({r.recorder for r in segs})
        holes: list[tuple[float, float]] = []
        covered = o.t0
        if segs:
            f.first_start_s, f.last_end_s = segs[0].start_s, max(r.end_s for r in segs)
            f.tail_s = max(0.0, o.t_end - f.last_end_s)
        prev_end: float | None = None
        for r in segs:
            if prev_end is not None and prev_end - r.start_s > GAP_TOLERANCE_S:
                f.double_s += min(prev_end, r.end_s) - r.start_s
            if r.start_s - covered > GAP_TOLERANCE_S and covered < o.t_end:
                holes.append((covered, min(r.start_s, o.t_end)))
            covered = max(covered, r.end_s)
            prev_end = covered
        if o.t_end - covered > GAP_TOLERANCE_S:
            holes.append((covered, o.t_end))
        for a, b in holes:
            f.unrecorded_s += b - a
            if a == o.t0 and segs and b <= startup_allow and b == segs[0].start_s:
                f.startup_s = b - a
                continue
            hit = [rec for lo, hi, rec in windows if (cam in rec["cameras"]) and lo <= a <= hi]
            hit.sort(key=lambda rec: rec["kind"] != "node_lost")  # a lost node's, first
            if hit:
                rec = hit[0]
                t = rec["injected_s"] if rec["injected_s"] is not None else a
                f.fault_gaps.append(
                    {
                        "camera": cam,
                        "fault": f"{rec['kind']} {rec['part']}",
                        "fault_id": rec["id"],
                        "fault_s": round(t, 3),
                        "gap_s": round(b - a, 3),
                        "recovery_s": round(b - t, 3),
                        "from_s": round(a, 3),
                        "to_s": round(b, 3),
                        "recorded_again": b < o.t_end,
                    }
                )
            else:
                f.gaps.append((a, b))
        out[cam] = f
    return out


def _fault_costs(o: LiveOutcome, cams: dict[str, CameraFootage]) -> list[dict[str, Any]]:
    """Each fault record with what the files say it cost: gaps, when recorded again."""
    out = []
    for rec in o.faults:
        gaps = [g for f in cams.values() for g in f.fault_gaps if g["fault_id"] == rec["id"]]
        start = rec["injected_s"] if rec["injected_s"] is not None else rec["last_seen_s"]
        again = [g["to_s"] for g in gaps if g["recorded_again"]]
        out.append(
            {
                **rec,
                "happened_s": None if start is None else round(start, 3),
                "detect_s": (
                    None
                    if rec["detected_s"] is None or start is None
                    else round(rec["detected_s"] - start, 3)
                ),
                "restore_s": (
                    None
                    if rec["restored_s"] is None or start is None
                    else round(rec["restored_s"] - start, 3)
                ),
                "cameras_hit": len(gaps),
                "camera_s_lost": round(sum(g["gap_s"] for g in gaps), 3),
                "gap_max_s": round(max((g["gap_s"] for g in gaps), default=0.0), 3),
                "recorded_again_s": round(max(again), 3) if again else None,
                "cameras_never_back": sum(1 for g in gaps if not g["recorded_again"]),
            }
        )
    return out


def _incidents(o: LiveOutcome) -> tuple[list[float], dict[str, Any]]:
    """Alert latencies (s) and counts, from the analyser's alerts and the scenes' truth."""
    cams = (o.analyser or {}).get("cameras") or []
    truths = [SceneTruth.from_json(Path(p).read_text()) for p in o.clip_truth_paths]
    latencies: list[float] = []
    expected = detected = false_alerts = 0
    per_camera: list[tuple[int, int]] = []  # (expected, detected) per analysed camera
    for c in cams:
        cam = c["camera"]
        if c["first_frame_s"] is None:
            continue
        truth = truths[o.camera_scene[cam]]
        clip_s = truth.config.frame_count / truth.config.fps
        origin = o.clip_origins[cam]
        # Incidents the analyser had a fair chance at: after its warm-up, not too near the end.
        lo, hi = c["first_frame_s"] + 5.0, min(c["last_frame_s"], o.t_end) - ALERT_WINDOW_S
        times = []
        for inc in truth.incidents:
            n0 = max(0, math.ceil((lo - origin - inc.start_s) / clip_s))
            t = origin + n0 * clip_s + inc.start_s
            while t <= hi:
                times.append(t)
                t += clip_s
        alerts = sorted(a[0] for a in c["alerts"])
        used: set[int] = set()
        e0, d0 = expected, detected
        for t in sorted(times):
            expected += 1
            for k, a in enumerate(alerts):
                if k not in used and t - 0.5 <= a <= t + ALERT_WINDOW_S:
                    used.add(k)
                    detected += 1
                    latencies.append(a - t)
                    break
        false_alerts += sum(1 for k, a in enumerate(alerts) if k not in used and lo <= a <= hi)
        per_camera.append((expected - e0, detected - d0))
    per_loop = len(truths[0].incidents) if truths else 0
    return latencies, {
        "expected": expected,
        "detected": detected,
        "false_alerts": false_alerts,
        "per_camera": per_camera,
        "per_loop": per_loop,
    }


def ci95(num: np.ndarray, den: np.ndarray, resamples: int = 2000) -> float:
    """Half-width of the 95 % bootstrap interval of sum(num) / sum(den), resampling cameras
    (frames of one camera are not independent: cameras are); seeded, so reruns agree."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    if num.size < 2 or den.sum() <= 0:
        return float("nan")
    idx = np.random.default_rng(0).integers(0, num.size, size=(resamples, num.size))
    d = den[idx].sum(axis=1)
    r = num[idx].sum(axis=1)[d > 0] / d[d > 0]
    lo, hi = np.percentile(r, [2.5, 97.5])
    return float(hi - lo) / 2.0


def measure(o: LiveOutcome) -> LiveMeasures:
    """The run's measures. Each node's rows and file checks came from that node (a Ray task
    at the end of the run: twin.live.cluster.finish_node); without them (a run measured from
    its folder), from the run folder's catalog and files."""
    if o.node_reports:
        rows = sorted(
            (r for rep in o.node_reports.values() for r in rep["rows"]),
            key=lambda r: (r.start_s, r.recorder, r.id),
        )
        files: dict[str, int] = {}
        for rep in o.node_reports.values():
            for k, v in rep["files"].items():
                files[k] = files.get(k, 0) + int(v)
    else:
        store = LiveStore(o.store_path)
        try:
            rows = store.rows()
        finally:
            store.close()
        files = check_files(o.segments_root, rows)
    cams = footage(o, rows)
    s = o.settings
    n = len(o.cameras)
    all_gaps = [g for f in cams.values() for g in f.gaps]
    fault = [g for f in cams.values() for g in f.fault_gaps]
    costs = _fault_costs(o, cams)
    dropped = sum(math.ceil((b - a) / s.segment_s - 1e-9) for a, b in all_gaps)
    dropped += sum(math.ceil(g["gap_s"] / s.segment_s - 1e-9) for g in fault)
    starts = [f.first_start_s - o.t0 for f in cams.values() if f.first_start_s is not None]
    m: dict[str, float] = {
        "sets": float(len(set(o.camera_set.values()))),
        "cameras": float(n),
        "recorders": float(len(o.recorders)),
        "segments_written": float(len(rows)),
        "segments_deleted": float(sum(1 for r in rows if r.state == "deleted")),
        "segments_dropped": float(dropped),
        "live_duration_s": o.t_end - o.t0,
        "live_segment_s": s.segment_s,
        "live_retention_s": o.retention_s,
        "live_cameras_without_footage": float(sum(1 for f in cams.values() if not f.segments)),
        "live_start_delay_s_max": max(starts, default=float("nan")),
        "live_gaps_unexplained": float(len(all_gaps)),
        "live_gap_max_s": max((b - a for a, b in all_gaps), default=0.0),
        "live_tail_s_max": max((f.tail_s for f in cams.values()), default=0.0),
        "live_double_recorded_s": sum(f.double_s for f in cams.values()),
        "live_fault_gap_max_s": max((g["gap_s"] for g in fault), default=0.0),
        "live_recovery_s_max": max((g["recovery_s"] for g in fault), default=0.0),
        "live_segments_unreadable": float(files["unreadable"]),
        "live_catalog_mismatches": float(
            files["missing"] + files["wrong_size"] + files["deleted_but_present"] + files["orphans"]
        ),
        "live_partial_segments_lost": float(files["partials"]),
        "live_actor_start_s": o.actors_started_s,
        "live_unrecorded_s": sum(f.unrecorded_s for f in cams.values()),
        "live_unrecorded_s_max": max((f.unrecorded_s for f in cams.values()), default=0.0),
        "live_unrecorded_unexplained_s": sum(b - a for a, b in all_gaps),
        "live_startup_unrecorded_s_max": max((f.startup_s for f in cams.values()), default=0.0),
        "live_startup_unrecorded_s": sum(f.startup_s for f in cams.values()),
        "live_faults": float(len(costs)),
        "live_faults_unscripted": float(sum(1 for c in costs if not c["scripted"])),
        "live_faults_undetected": float(
            sum(1 for c in costs if c["pid"] and c["detected_s"] is None)
        ),
        "live_faults_unrestored": float(
            sum(
                1
                for c in costs
                if c["restored_s"] is None and (c.get("ended_s") is not None or not c["scripted"])
            )
        ),
        "live_detect_s_max": max(
            (c["detect_s"] for c in costs if c["detect_s"] is not None), default=0.0
        ),
        "live_restore_s_max": max(
            (c["restore_s"] for c in costs if c["restore_s"] is not None), default=0.0
        ),
        "live_recorder_kill_gap_s_max": max(
            (c["gap_max_s"] for c in costs if c["part"].startswith("recorder:")), default=0.0
        ),
        "live_partials_recovered": float(o.recovered_partials),
        "live_partials_removed": float(o.removed_partials),
    }
    if o.placement is not None:
        pl = o.placement
        m["live_nodes"] = float(len(pl.used()))
        per = [
            sum(1 for c in o.cameras if pl.district_node[o.camera_district[c]] == n)
            for n in pl.used()
        ]
        m["live_cameras_per_node_max"] = float(max(per, default=0))
    m["live_stream_discontinuities"] = float(
        sum(st.discontinuities for rs in o.recorder_stats.values() for st in rs.streams)
    )
    lost = [
        c["detect_s"]
        for c in costs
        if c["part"].startswith("recorder:") and c["detect_s"] is not None
    ]
    if lost:
        m["live_failover_detect_s_max"] = max(lost)
    ages = [x["oldest_age_s"] for x in o.sweeps if x["oldest_age_s"] is not None]
    if ages:
        m["live_retention_max_age_s"] = max(ages)
    stored = [r for r in rows if r.state == "stored"]
    m["live_stored_mb_end"] = sum(r.size_bytes for r in stored) / 1e6
    # Measured the same way as the simulation's (twin.sim.fidelity), for `twin compare`.
    # Bytes of the run's window only, as its camera-seconds are: the recorders keep writing
    # while the run stops, and a segment cut at the end counts for its part before `t_end`.
    m["footage_bytes_written"] = bytes_in_window(rows, o.t0, o.t_end)
    m["live_segments_after_end"] = float(sum(1 for r in rows if r.start_s >= o.t_end))
    m["footage_camera_s_recorded"] = max(0.0, n * (o.t_end - o.t0) - m["live_unrecorded_s"])
    an_cpu = (o.analyser or {}).get("cpu_s")
    an_frames = sum(c.get("frames", 0) for c in (o.analyser or {}).get("cameras") or [])
    if an_cpu and an_frames:
        m["live_analyser_cpu_ms_per_frame"] = 1000.0 * an_cpu / an_frames
    if o.cpu and o.cpu_window_s > 0:
        w = o.cpu_window_s
        m["live_cpu_pct_publish_per_camera"] = 100 * o.cpu.get("publish", 0.0) / w / n
        m["live_cpu_pct_record_per_camera"] = 100 * o.cpu.get("record", 0.0) / w / n
        if "relay" in o.cpu:
            m["live_cpu_pct_relay_per_camera"] = 100 * o.cpu["relay"] / w / n
        m["live_cpu_pct_machine"] = 100 * o.cpu.get("machine", 0.0) / w
        if "driver" in o.cpu:
            m["live_cpu_pct_driver"] = 100 * o.cpu["driver"] / w
        analysed = len((o.analyser or {}).get("cameras") or [])
        if analysed and "analyser" in o.cpu:
            m["live_cpu_pct_analyse_per_camera"] = 100 * o.cpu["analyser"] / w / analysed
    latencies, inc = _incidents(o)
    an = (o.analyser or {}).get("cameras") or []
    if an:
        for cls in ("person", "vehicle"):
            tp = sum(c["tp"].get(cls, 0) for c in an)
            det = sum(c["detections"].get(cls, 0) for c in an)
            tru = sum(c["truths"].get(cls, 0) for c in an)
            if det:
                m[f"live_detection_precision_{cls}"] = tp / det
            if tru:
                m[f"live_detection_recall_{cls}"] = tp / tru
        m["live_frames_analysed"] = float(sum(c["frames"] for c in an))
        m["live_frames_dropped_late"] = float(sum(c.get("dropped_late", 0) for c in an))
        m["live_incidents_expected"] = float(inc["expected"])
        if inc["expected"]:
            m["live_incident_recall"] = inc["detected"] / inc["expected"]
        m["live_false_alerts"] = float(inc["false_alerts"])
        if latencies:
            m["live_alert_latency_s_p50"] = float(np.median(latencies))
            m["live_alert_latency_s_p95"] = float(np.percentile(latencies, 95))
            m["live_alert_latency_s_max"] = float(max(latencies))
        # How far the figures can be trusted: frames scored, and bootstrap intervals.
        m["live_frames_scored"] = float(sum(c["frames_scored"] for c in an))
        tp = np.array([c["tp"].get("person", 0) for c in an])
        m["live_detection_precision_person_ci95"] = ci95(
            tp, np.array([c["detections"].get("person", 0) for c in an])
        )
        m["live_detection_recall_person_ci95"] = ci95(
            tp, np.array([c["truths"].get("person", 0) for c in an])
        )
        if inc["per_camera"]:
            e, d = np.array(inc["per_camera"]).T
            m["live_incident_recall_ci95"] = ci95(d, e)
    pool = o.analysis or {}
    if pool:
        m["live_cameras_analysed"] = float(sum(len(v) for v in pool["cameras_of"].values()))
        m["live_cameras_not_analysed"] = float(len(pool["not_analysed"]))
        cost = float(np.mean(list(pool["cost_ms"].values())))
        m["live_analyser_frame_ms"] = cost
        if s.analyser.cpu_per_actor is not None:
            m.update(predicted(o.scenario, s, cost, o.t_end - o.t0, inc["per_loop"]))
    verdict = None
    if o.harness:
        m.update(_harness(o))
        verdict = _validity(o)
    m = {k: float(round(v, 6)) for k, v in sorted(m.items()) if not math.isnan(v)}
    per_camera = camera_fault_rows(o, rows, costs, [g for g in fault])
    return LiveMeasures(
        cams, rows, files, m, [g for g in fault], latencies, inc, costs, verdict, per_camera
    )


def camera_fault_rows(
    o: LiveOutcome,
    rows: list[SegmentRow],
    costs: list[dict[str, Any]],
    gaps: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Per camera per fault that cost it footage, the steps of its recovery, on the run
    clock: the fault, its detection (heartbeats for a recorder; the supervisor seeing the relay
    down), the relay or power back (`restored_s`), the driver telling the camera's new recorder
    to take it (`moved_s`), that recorder's RTSP session opening (`connected_s`), its first
    segment there starting on a keyframe (`first_keyframe_s`: recorded again), where the
    footage before the fault ends and what was lost between (`footage_lost_s`). A step that
    does not apply, or was not seen, is None."""
    by_id = {c["id"]: c for c in costs}
    ends: dict[tuple[str, float], str] = {}
    starts: dict[tuple[str, float], str] = {}
    for r in rows:
        ends.setdefault((r.camera, round(r.end_s, 3)), r.recorder)
        starts.setdefault((r.camera, round(r.start_s, 3)), r.recorder)
    moved: dict[tuple[str, str], list[float]] = {}
    for e in o.events:
        if e.get("kind") == "cameras_moved":
            for c in e.get("cameras") or []:
                moved.setdefault((c, e["to_recorder"]), []).append(float(e["t_s"]))
    sessions: dict[tuple[str, str], list[tuple[float, float | None]]] = {}
    for rname, rs in o.recorder_stats.items():
        for st in getattr(rs, "streams", ()):
            key = (st.camera, rname)
            sessions.setdefault(key, []).extend(
                (float(a), None if b is None else float(b)) for a, b in (st.sessions or ())
            )
    out = []
    for g in sorted(gaps, key=lambda g: (g["fault_id"], g["camera"])):
        c = by_id.get(g["fault_id"])
        if c is None:
            continue
        cam, t = g["camera"], g["fault_s"]
        back = bool(g["recorded_again"])
        r_from = ends.get((cam, round(g["from_s"], 3)))
        r_to = starts.get((cam, round(g["to_s"], 3))) if back else None
        mv = [x for x in moved.get((cam, r_to or ""), []) if x >= t - 1e-6]
        opened = sorted(
            a for a, _ in sessions.get((cam, r_to or ""), []) if a >= (mv[0] if mv else t) - 1e-6
        )

        def rel(v: float | None) -> float | None:
            return None if v is None else round(v - o.t0, 3)

        out.append(
            {
                "fault_id": g["fault_id"],
                "fault_kind": c["kind"],
                "camera": cam,
                "recorder_from": r_from,
                "recorder_to": r_to,
                "fault_s": rel(t),
                "detected_s": rel(c["detected_s"]),
                "restored_s": rel(c["restored_s"]),
                "moved_s": rel(mv[0]) if mv else None,
                "connected_s": rel(opened[0]) if opened and back else None,
                "first_keyframe_s": rel(g["to_s"]) if back else None,
                "footage_end_s": rel(g["from_s"]),
                "footage_lost_s": g["gap_s"],
                "recorded_again": back,
            }
        )
    return out


def _harness(o: LiveOutcome) -> dict[str, float]:
    h = o.harness
    return harness_metrics(
        o.publisher_stats,
        h.get("lag", {}),
        h.get("faults_late", []),
        h.get("relay_ratio", {}),
        h.get("machine", []),
    )


def _validity(o: LiveOutcome) -> dict[str, Any]:
    """The harness's verdict, its times on the run's own axis (seconds from t0)."""
    h = o.harness
    late = {
        c["camera"]: int(c.get("dropped_late", 0)) for c in (o.analyser or {}).get("cameras") or []
    }
    v = validity(
        o.publisher_stats,
        h.get("lag", {}),
        {k: [t - o.t0 for t in ts] for k, ts in h.get("lag_at", {}).items()},
        h.get("faults_late", []),
        h.get("relay_ratio", {}),
        h.get("machine", []),
        {c: t - o.t0 for c, t in h.get("publisher_behind_s", {}).items()},
        None if h.get("relay_checked_s") is None else h["relay_checked_s"] - o.t0,
        int(h.get("cpus", 1)),
        late or None,
    )
    return v
