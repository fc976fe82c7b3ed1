"""What a live run measured, from the catalog and the files (not from what actors said).

- Footage gaps per camera: the camera's segment rows (every state: a segment retention
  deleted still counts as recorded) sorted by start; a hole between two segments longer than
  `GAP_TOLERANCE_S` is a gap. A gap that spans a drill's fault time, on a camera the drill hit,
  is the drill's (its length and the time from the fault to the first new segment, the
  recovery, are reported); any other gap is unexplained and counts against the run.
- Files: every row still `stored` must have its file, of the recorded size, opening with PyAV
  and starting on a keyframe; no `deleted` row may have a file; no segment file may lack a
  row. `.part` files (segments in progress when a recorder was killed) are counted as lost
  and removed, so disk and catalog agree at the end.
- Detection: the analyser's per-camera counts, and incidents matched to the truth's
  incident times (origin + n * clip + start) within `ALERT_WINDOW_S`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import av.error
import numpy as np

from twin.live.run import LiveOutcome
from twin.live.store import LiveStore, SegmentRow

__all__ = ["GAP_TOLERANCE_S", "ALERT_WINDOW_S", "CameraFootage", "LiveMeasures", "measure",
           "check_files"]

GAP_TOLERANCE_S = 0.05
ALERT_WINDOW_S = 10.0
_FAULT_SLACK_S = 2.0  # a broken connection may close its segment a little after the fault


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
    tail_s: float = 0.0
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
    drills: list[dict[str, Any]]
    latencies: list[float]
    alerts: dict[str, Any]


def _faults(o: LiveOutcome) -> list[tuple[float, str, set[str]]]:
    out = []
    for e in o.events:
        if e["kind"] == "drill_kill_recorder":
            out.append((e["t_s"], f"kill {e['recorder']}", set(e.get("cameras") or [])))
        elif e["kind"] == "drill_restart_mediamtx":
            out.append((e["t_s"], "restart mediamtx", set(o.cameras)))
    return out


def footage(o: LiveOutcome, rows: list[SegmentRow]) -> dict[str, CameraFootage]:
    """Per-camera coverage and gaps (see the module docstring)."""
    by_cam: dict[str, list[SegmentRow]] = {c: [] for c in o.cameras}
    for r in rows:
        by_cam.setdefault(r.camera, []).append(r)
    faults = _faults(o)
    out: dict[str, CameraFootage] = {}
    for cam, segs in by_cam.items():
        segs.sort(key=lambda r: (r.start_s, r.id))
        f = CameraFootage(cam, len(segs), sum(r.size_bytes for r in segs))
        f.recorders = sorted({r.recorder for r in segs})
        if segs:
            f.first_start_s, f.last_end_s = segs[0].start_s, max(r.end_s for r in segs)
            f.tail_s = max(0.0, o.t_end - f.last_end_s)
        covered = segs[0].end_s if segs else None
        for r in segs[1:]:
            assert covered is not None
            if covered - r.start_s > GAP_TOLERANCE_S:  # two recorders had the camera at once
                f.double_s += min(covered, r.end_s) - r.start_s
            if r.start_s - covered > GAP_TOLERANCE_S:
                gap = (covered, r.start_s)
                hit = [(t, what) for t, what, cams in faults
                       if cam in cams and gap[0] <= t + _FAULT_SLACK_S and gap[1] >= t]
                if hit:
                    t, what = hit[0]
                    f.fault_gaps.append({"fault": what, "fault_s": round(t, 3),
                                         "gap_s": round(gap[1] - gap[0], 3),
                                         "recovery_s": round(gap[1] - t, 3),
                                         "from_s": round(gap[0], 3), "to_s": round(gap[1], 3)})
                else:
                    f.gaps.append(gap)
            covered = max(covered, r.end_s)
        out[cam] = f
    return out


def check_files(root: Path, rows: list[SegmentRow], *, remove_partials: bool = True
                ) -> dict[str, int]:
    """Catalog against disk (see the module docstring); returns counts of each finding."""
    stored = {(r.recorder, r.key): r for r in rows if r.state == "stored"}
    gone = {(r.recorder, r.key) for r in rows if r.state != "stored"}
    res = {"stored": len(stored), "missing": 0, "wrong_size": 0, "unreadable": 0,
           "deleted_but_present": 0, "orphans": 0, "partials": 0}
    on_disk: set[tuple[str, str]] = set()
    for p in sorted(root.rglob("*")) if root.exists() else []:
        if not p.is_file():
            continue
        rel = p.relative_to(root)
        rec, key = rel.parts[0], "/".join(rel.parts[1:])
        if p.name.endswith(".part"):
            res["partials"] += 1
            if remove_partials:
                p.unlink()
            continue
        on_disk.add((rec, key))
        if (rec, key) in gone:
            res["deleted_but_present"] += 1
        elif (rec, key) not in stored:
            res["orphans"] += 1
    for (rec, key), r in stored.items():
        p = root / rec / key
        if (rec, key) not in on_disk:
            res["missing"] += 1
            continue
        if p.stat().st_size != r.size_bytes:
            res["wrong_size"] += 1
        if not _readable(p, r.packets):
            res["unreadable"] += 1
    return res


def _readable(path: Path, packets: int) -> bool:
    """Opens, is H.264, starts on a keyframe and holds the packets the recorder wrote."""
    try:
        with av.open(str(path)) as f:
            s = f.streams.video[0]
            if s.codec_context.name != "h264":
                return False
            n, first_key = 0, None
            for p in f.demux(s):
                if not p.size:
                    continue
                if first_key is None:
                    first_key = bool(p.is_keyframe)
                n += 1
            return bool(first_key) and n == packets
    except (av.error.FFmpegError, OSError, IndexError):
        return False


def _incidents(o: LiveOutcome) -> tuple[list[float], dict[str, Any]]:
    """Alert latencies (s) and counts, from the analyser's alerts and the scenes' truth."""
    from synthetic_streams.scene import SceneTruth

    cams = (o.analyser or {}).get("cameras") or []
    truths = [SceneTruth.from_json(Path(p).read_text()) for p in o.clip_truth_paths]
    latencies: list[float] = []
    expected = detected = false_alerts = 0
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
        for t in sorted(times):
            expected += 1
            for k, a in enumerate(alerts):
                if k not in used and t - 0.5 <= a <= t + ALERT_WINDOW_S:
                    used.add(k)
                    detected += 1
                    latencies.append(a - t)
                    break
        false_alerts += sum(1 for k, a in enumerate(alerts) if k not in used and lo <= a <= hi)
    return latencies, {"expected": expected, "detected": detected, "false_alerts": false_alerts}


def measure(o: LiveOutcome) -> LiveMeasures:
    store = LiveStore(o.store_path)
    try:
        rows = store.rows()
    finally:
        store.close()
    cams = footage(o, rows)
    files = check_files(o.segments_root, rows)
    s = o.settings
    n = len(o.cameras)
    all_gaps = [g for f in cams.values() for g in f.gaps]
    fault = [g for f in cams.values() for g in f.fault_gaps]
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
        "live_catalog_mismatches": float(files["missing"] + files["wrong_size"]
                                         + files["deleted_but_present"] + files["orphans"]),
        "live_partial_segments_lost": float(files["partials"]),
        "live_actor_start_s": o.actors_started_s,
    }
    m["live_stream_discontinuities"] = float(sum(
        st.discontinuities for rs in o.recorder_stats.values() for st in rs.streams))
    lost = [e for e in o.events if e["kind"] == "recorder_lost"]
    if lost:
        m["live_failover_detect_s_max"] = max(e["detected_after_s"] for e in lost)
    ages = [x["oldest_age_s"] for x in o.sweeps if x["oldest_age_s"] is not None]
    if ages:
        m["live_retention_max_age_s"] = max(ages)
    stored = [r for r in rows if r.state == "stored"]
    m["live_stored_mb_end"] = sum(r.size_bytes for r in stored) / 1e6
    if o.cpu and o.cpu_window_s > 0:
        w = o.cpu_window_s
        m["live_cpu_pct_publish_per_camera"] = 100 * o.cpu.get("publish", 0.0) / w / n
        m["live_cpu_pct_record_per_camera"] = 100 * o.cpu.get("record", 0.0) / w / n
        if "relay" in o.cpu:
            m["live_cpu_pct_relay_per_camera"] = 100 * o.cpu["relay"] / w / n
        m["live_cpu_pct_machine"] = 100 * o.cpu.get("machine", 0.0) / w
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
            m["live_alert_latency_s_max"] = float(max(latencies))
    m = {k: float(round(v, 6)) for k, v in sorted(m.items()) if not math.isnan(v)}
    return LiveMeasures(cams, rows, files, m, [g for g in fault], latencies, inc)
