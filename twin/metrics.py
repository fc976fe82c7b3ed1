"""The registry of scalar metrics a run reports, and that scenario targets may bound.

One table, so a target naming a metric that no engine computes is refused when the
scenario is validated, not silently ignored when the run is judged. Each metric knows its
domain, the values it can take ([lo, hi]: every metric is a count, a size, a duration, a
share or a flag, so lo is 0; shares of a whole are at most 100 %, ratios and flags at most 1),
so a target bound outside it, one that could never or would always pass, is refused too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["MetricInfo", "METRICS"]


@dataclass(frozen=True, slots=True)
class MetricInfo:
    unit: str
    description: str
    better: str = "lower"  # "lower" or "higher": used by regression checks
    lo: float = 0.0  # the smallest value the metric can take
    hi: float = math.inf  # the largest (inf: no upper end)

    @property
    def domain(self) -> str:
        """The domain in words, for error messages: "0 to 100", ">= 0"."""
        return f">= {self.lo:g}" if math.isinf(self.hi) else f"{self.lo:g} to {self.hi:g}"


_M = MetricInfo

METRICS: dict[str, MetricInfo] = {
    # City and capacity
    "sets": _M("sets", "camera sets on line at the end of the run", "higher"),
    "cameras": _M("cameras", "camera streams on line at the end of the run", "higher"),
    "recorders": _M("recorders", "recorders in all pools"),
    "ingest_total_mbps": _M("Mbps", "total stream bitrate into the recorders at the end"),
    "storage_needed_tb": _M(
        "TB", "peak footage on disk, all recorders (just before a sweep, a disk loss or the end)"
    ),
    "storage_model_tb": _M("TB", "cameras x effective bitrate x retention (closed form)"),
    "disk_total_tb": _M("TB", "usable disk of all recorders", "higher"),
    "storage_headroom_pct": _M("%", "free disk at the peak, city-wide", "higher", hi=100),
    "storage_headroom_pct_min": _M("%", "free disk at the peak, worst recorder", "higher", hi=100),
    "recorder_ingest_util_pct_max": _M("%", "highest recorder ingest / ingest limit"),
    "recorder_streams_util_pct_max": _M("%", "highest recorder streams / stream limit"),
    "backhaul_util_pct_max": _M("%", "highest district backhaul load / capacity"),
    "cameras_unplaced": _M("cameras", "cameras no recorder could take"),
    # Segments
    "segments_written": _M("segments", "segments written to recorders", "higher"),
    "segments_deleted": _M("segments", "segments deleted by retention sweeps"),
    "segments_dropped": _M(
        "segments", "segment slots never written, all reasons (a slot partly unrecorded counts)"
    ),
    "segments_dropped_disk_full": _M("segments", "dropped: recorder disk full"),
    "segments_dropped_ingest_limit": _M("segments", "dropped: recorder over ingest/stream limit"),
    "segments_dropped_unplaced": _M("segments", "dropped: no recorder could take the camera"),
    "segments_dropped_backhaul": _M("segments", "dropped: district backhaul over capacity"),
    "segments_overdue_max": _M("segments", "largest retention backlog after a sweep"),
    "retention_max_age_days": _M("days", "oldest unheld footage on disk at any sample"),
    # Capacity as recorders store footage (issue 15; only with the feature in use)
    "retention_achieved_days_min": _M(
        "days", "overwrite_oldest: shortest retention a recorder achieved", "higher"
    ),
    "retention_achieved_days_p5": _M(
        "days", "overwrite_oldest: 5th percentile of recorders' achieved retention", "higher"
    ),
    "retention_achieved_days_median": _M(
        "days", "overwrite_oldest: median of recorders' achieved retention", "higher"
    ),
    "segments_deleted_early": _M(
        "segments", "overwrite_oldest: segments deleted before their retention ran out"
    ),
    "footage_deleted_early_tb": _M(
        "TB", "overwrite_oldest: footage deleted before its retention ran out"
    ),
    "disk_raw_tb": _M(
        "TB", "raw TB of every recorder's drives (pools with drives:; disk_tb counts as raw)"
    ),
    "drives_total": _M("drives", "drives of every recorder (pools with drives:)"),
    "drive_failures": _M("failures", "drive failures in the run (drive_failure faults)"),
    "camera_minutes_backfilled": _M(
        "camera-min",
        "footage uploaded from cameras' edge storage after faults (not lost)",
        "higher",
    ),
    "backfill_tb": _M("TB", "footage uploaded from cameras' edge storage after faults", "higher"),
    "backfill_backhaul_mbps_max": _M(
        "Mbps", "highest district backhaul load with backfill uploads on top of the streams"
    ),
    "backfill_backhaul_util_pct_max": _M(
        "%", "highest district backhaul utilisation with backfill uploads"
    ),
    "camera_minutes_lost_high": _M(
        "camera-min", "footage lost by cameras of failover priority high"
    ),
    "camera_minutes_lost_normal": _M(
        "camera-min", "footage lost by cameras of failover priority normal"
    ),
    "camera_minutes_lost_low": _M("camera-min", "footage lost by cameras of failover priority low"),
    "camera_minutes_lost_none": _M(
        "camera-min", "footage lost by cameras of failover priority none"
    ),
    # Deployment (closed form, twin.model.provisioning); drives and costs only with `costs:`
    "recorders_needed": _M("recorders", "fewest recorders for the load at 100 % of each limit"),
    "disks": _M("drives", "drives provisioned (costs.drive_tb each)", "higher"),
    "disks_needed": _M("drives", "drives the retained footage needs (costs.drive_tb each)"),
    "cost_recorders_hkd": _M("HKD", "recorders x costs.recorder_hkd (assumed price)"),
    "cost_disk_hkd": _M("HKD", "disk TB x costs.disk_hkd_per_tb (assumed price)"),
    "cost_backhaul_hkd": _M("HKD", "backhaul Gbps x costs.backhaul_hkd_per_gbps (assumed price)"),
    "cost_total_hkd": _M("HKD", "recorders + disk + backhaul (assumed prices)"),
    # Evidence and access (twin.sim.evidence, with an `evidence:` section)
    "evidence_requests": _M(
        "requests", "preservation requests planned against the catalog", "higher"
    ),
    "evidence_copies_complete": _M("cases", "preservation requests whose copy completed", "higher"),
    "evidence_copy_missing": _M(
        "segments", "planned segments gone before the copy (a hold failed, a disk was lost)"
    ),
    "evidence_cases_released": _M("cases", "cases closed and their copies purged", "higher"),
    "evidence_requested_s": _M("s", "camera-seconds of footage asked for", "higher"),
    "evidence_lost_to_retention_s": _M(
        "s", "camera-seconds asked for but already deleted by retention"
    ),
    "evidence_lost_to_retention_pct": _M(
        "%", "footage asked for but already deleted by retention", hi=100
    ),
    "evidence_lost_other_s": _M("s", "camera-seconds asked for but never recorded"),
    "evidence_storage_tb_max": _M("TB", "most evidence copies held at any time"),
    "evidence_storage_tb_end": _M("TB", "evidence copies held at the end of the run"),
    "access_requests": _M("requests", "access requests (view or export) submitted", "higher"),
    "access_approved": _M("requests", "access requests approved", "higher"),
    "access_refused": _M("requests", "access requests refused by a senior enough officer"),
    "access_denied_rank": _M(
        "attempts", "approvals attempted by an officer below the rank required"
    ),
    "access_expired": _M("requests", "access requests that expired before a decision"),
    "access_served": _M("uses", "views and exports served under an approval", "higher"),
    "access_served_hours": _M("h", "camera-hours of footage served under approvals", "higher"),
    "access_attempts_refused": _M("attempts", "uses attempted without a valid approval, refused"),
    "unapproved_access": _M("uses", "uses served without a valid approval (must be 0)"),
    "approval_time_s_p50": _M("s", "median time from an access request to its approval"),
    "approval_time_s_p95": _M("s", "95th percentile time from an access request to its approval"),
    "audit_entries": _M("entries", "entries on the run's audit trail", "higher"),
    "audit_verified": _M("bool", "1 if the run's audit trail verifies end to end", "higher", hi=1),
}

# The live twin (`twin live`, twin/live/measure.py): measured on the wall clock.
METRICS.update(
    {
        "footage_bytes_written": _M(
            "B",
            (
                "footage bytes written by every recorder over the run (retention-deleted included; "
                "live: the share recorded before the run's end)"
            ),
            "higher",
        ),
        "footage_camera_s_recorded": _M(
            "camera-s", "camera-seconds of footage written over the run", "higher"
        ),
        "live_analyser_cpu_ms_per_frame": _M(
            "ms", "analyser CPU per analysed frame, at its analysis width"
        ),
        "live_duration_s": _M("s", "recording time of the live run", "higher"),
        "live_segment_s": _M("s", "live segment length (cut on the first keyframe after it)"),
        "live_retention_s": _M("s", "retention in the live run (compressed)"),
        "live_cameras_without_footage": _M("cameras", "cameras with no segment at all"),
        "live_start_delay_s_max": _M(
            "s", "longest time from the start of recording to a camera's first segment"
        ),
        "live_gaps_unexplained": _M("gaps", "footage gaps outside any injected fault"),
        "live_gap_max_s": _M("s", "longest footage gap of any camera outside injected faults"),
        "live_tail_s_max": _M(
            "s", "longest time from a camera's last segment to the end of the run"
        ),
        "live_fault_gap_max_s": _M("s", "longest footage gap caused by a drill"),
        "live_recovery_s_max": _M(
            "s", "longest time from a drill's fault to the camera recording again"
        ),
        "live_failover_detect_s_max": _M(
            "s", "longest time from a recorder's loss to its detection"
        ),
        "live_segments_unreadable": _M(
            "segments", "stored segment files that do not open or miss packets"
        ),
        "live_catalog_mismatches": _M(
            "files", "catalog rows without a file, files without a row, size mismatches"
        ),
        "live_partial_segments_lost": _M(
            "segments", "segments in progress lost with a killed recorder"
        ),
        "live_double_recorded_s": _M(
            "s", "camera-seconds recorded by two recorders at once (a false failover)"
        ),
        "live_stream_discontinuities": _M(
            "cuts", "packets lost inside a recorder's connection (segment cut short)"
        ),
        "live_actor_start_s": _M("s", "time for every Ray actor to start"),
        "live_retention_max_age_s": _M("s", "oldest unheld footage on disk before any sweep"),
        "live_stored_mb_end": _M("MB", "footage on disk at the end of the live run"),
        "live_cpu_pct_publish_per_camera": _M(
            "% of a core", "publisher CPU per camera (stream copy)"
        ),
        "live_cpu_pct_relay_per_camera": _M("% of a core", "MediaMTX CPU per camera"),
        "live_cpu_pct_record_per_camera": _M(
            "% of a core", "recorder CPU per camera (stream copy to segments)"
        ),
        "live_cpu_pct_analyse_per_camera": _M("% of a core", "analyser CPU per analysed camera"),
        "live_nodes": _M(
            "nodes", "Ray nodes the live run used (districts, relays, recorder pools)"
        ),
        "live_cameras_per_node_max": _M("cameras", "most cameras one node publishes and relays"),
        "live_cpu_pct_driver": _M(
            "% of a core", "the driver's own CPU (supervision, placement) during the steady window"
        ),
        "live_cpu_pct_machine": _M(
            "% of a core",
            "whole machine CPU during the steady window (every process, the twin's or not)",
        ),
        "live_detection_precision_person": _M(
            "ratio", "person detections matching a true moving person (IoU >= 0.3)", "higher", hi=1
        ),
        "live_detection_recall_person": _M(
            "ratio", "true moving people detected (IoU >= 0.3)", "higher", hi=1
        ),
        "live_detection_precision_vehicle": _M(
            "ratio", "vehicle detections matching a true moving vehicle", "higher", hi=1
        ),
        "live_detection_recall_vehicle": _M(
            "ratio", "true moving vehicles detected (stopped ones: incidents)", "higher", hi=1
        ),
        "live_frames_analysed": _M("frames", "frames decoded and analysed", "higher"),
        "live_frames_dropped_late": _M(
            "frames", "keyframes the analyser skipped to catch up (over 2 s behind)"
        ),
        "live_incidents_expected": _M("incidents", "truth incidents the analyser could see"),
        "live_incident_recall": _M("ratio", "truth incidents alerted within 10 s", "higher", hi=1),
        "live_false_alerts": _M("alerts", "alerts matching no truth incident"),
        "live_alert_latency_s_p50": _M("s", "median incident-to-alert latency"),
        "live_alert_latency_s_max": _M("s", "longest incident-to-alert latency"),
    }
)

# Faults and failover (twin/sim/faults.py; scenario `faults:` and `failover:`).
METRICS.update(
    {
        "camera_minutes_lost": _M(
            "camera-min", "footage lost: never recorded plus lost with failed disks"
        ),
        "camera_minutes_unrecorded": _M(
            "camera-min", "footage never recorded by cameras a recorder took"
        ),
        "camera_minutes_lost_disk": _M(
            "camera-min", "footage recorded, then lost with a failed disk"
        ),
        "max_camera_minutes_lost": _M("min", "most footage lost by any one camera"),
        "max_gap_s": _M(
            "s", "longest gap in any camera's footage (last segment end to next start)"
        ),
        "cameras_affected": _M("cameras", "cameras with any gap or footage lost with a disk"),
        "cameras_unrecorded_max": _M("cameras", "most cameras unrecorded at the same time"),
        "cameras_unrecorded_end": _M(
            "cameras", "cameras a recorder took that are unrecorded at the end"
        ),
        "cameras_unassigned_after_failover": _M(
            "cameras", "cameras failover found no recorder for"
        ),
        "recovery_s_max": _M("s", "longest fault start to last stopped camera recording again"),
        "incidents": _M("incidents", "fault occurrences injected"),
        "incidents_unrecovered": _M("incidents", "faults with cameras still unrecorded at the end"),
        "recorders_declared_down": _M("recorders", "times heartbeats declared a recorder down"),
        "segments_lost_disk": _M("segments", "segments lost with failed disks"),
        "segments_lost_disk_held": _M("segments", "of those, segments under an evidence hold"),
        "segments_partial_kept": _M(
            "segments",
            "partial segments crashed recorders kept, up to their last fragment (in "
            "segments_written; recording.fragment_s)",
        ),
        "camera_minutes_partial_kept": _M(
            "camera-min", "footage in those partial segments (recorded, not lost)", "higher"
        ),
        "footage_lost_disk_tb": _M("TB", "footage lost with failed disks"),
        "no_recorder_over_limit": _M(
            "bool", "1 if no recorder was ever over its ingest or stream limit", "higher", hi=1
        ),
        "segments_dropped_recorder_down": _M(
            "segments",
            "dropped: recorder down, cameras not moved (the whole outage with standby none)",
        ),
        "segments_dropped_power": _M("segments", "dropped: camera site without power"),
        "segments_dropped_backhaul_cut": _M("segments", "dropped: district backhaul cut"),
        "segments_dropped_relay_down": _M("segments", "dropped: RTSP relay (media server) down"),
        "segments_dropped_unassigned_after_failover": _M(
            "segments", "dropped: a failover ran and found no recorder with room for the camera"
        ),
    }
)

# The live twin's coverage and faults (twin/live/measure.py): every second each camera should
# be on disk, from the start of recording to the end of the run, against what is.
METRICS.update(
    {
        "live_unrecorded_s": _M(
            "camera-s",
            "camera-seconds not covered by any stored segment, start of recording to the end",
        ),
        "live_unrecorded_s_max": _M("s", "most seconds unrecorded by any one camera"),
        "live_unrecorded_unexplained_s": _M(
            "camera-s", "unrecorded camera-seconds outside start-up and every fault"
        ),
        "live_startup_unrecorded_s_max": _M(
            "s", "longest time a camera took to its first segment (within the start-up allowance)"
        ),
        "live_startup_unrecorded_s": _M(
            "camera-s", "seconds the cameras took to their first segments, all cameras (start-up)"
        ),
        "live_faults": _M("faults", "faults seen, scripted or not (kills, relay down, power)"),
        "live_faults_unscripted": _M(
            "faults", "faults no scenario entry caused (found by the supervisor)"
        ),
        "live_faults_undetected": _M("faults", "process kills the supervisor never noticed"),
        "live_faults_unrestored": _M(
            "faults", "faults whose part was not running again by the end"
        ),
        "live_detect_s_max": _M("s", "longest time from a fault to its detection (any part)"),
        "live_restore_s_max": _M("s", "longest time from a fault to its part running again"),
        "live_recorder_kill_gap_s_max": _M(
            "s", "most footage one camera lost to a recorder's crash"
        ),
        "live_segments_after_end": _M(
            "segments",
            (
                "segments the recorders began after the run's end, while it stopped "
                "(in segments_written, not in its fidelity)"
            ),
        ),
        "live_partials_recovered": _M(
            "segments", "segments a crashed recorder left that were kept (played up to the crash)"
        ),
        "live_partials_removed": _M(
            "segments",
            (
                "segment stubs a crashed recorder had just opened, with no whole fragment yet "
                "(under 0.3 s of video), removed"
            ),
        ),
        # The harness's own figures (twin.live.harness): did the load generator keep its plan?
        "live_harness_offered_ratio_min": _M(
            "ratio",
            (
                "bytes a camera's publisher sent / bytes its clip planned while connected, "
                "the worst camera (never above 1: a packet goes out only once due)"
            ),
            "higher",
            hi=1,
        ),
        "live_harness_offered_fraction": _M(
            "ratio",
            (
                "bytes every publisher sent / bytes their clips planned while connected, "
                "all cameras together (fidelity compares ingest with what was offered)"
            ),
            "higher",
            hi=1,
        ),
        "live_harness_publish_late_p50_s": _M(
            "s",
            (
                "how late packets went out against the clip's clock, "
                "median over every camera's packets"
            ),
        ),
        "live_harness_publish_late_p99_s": _M(
            "s",
            (
                "how late packets went out against the clip's clock, "
                "99th percentile over every camera's packets"
            ),
        ),
        "live_harness_publish_late_p99_s_max": _M(
            "s", "the worst camera's 99th percentile of packet lateness"
        ),
        "live_harness_publish_stall_s_max": _M(
            "s", "the longest any packet waited past its time (a publisher's longest stall)"
        ),
        "live_harness_publish_write_s_max": _M(
            "s",
            "the longest single write of a packet to the relay (a socket the relay did not drain)",
        ),
        "live_harness_relay_received_ratio_min": _M(
            "x",
            (
                "bytes the relay (MediaMTX) received / bytes offered, "
                "totals at the end of the steady window, the worst camera "
                "(MediaMTX counts RTP payload: ~1.007 when all arrived)"
            ),
            "higher",
        ),
        "live_harness_driver_lag_p99_s": _M(
            "s", "how late the driver's processes woke against their schedule, 99th percentile"
        ),
        "live_harness_driver_lag_s_max": _M("s", "the driver's longest wake-up lag"),
        "live_harness_fault_late_s_max": _M(
            "s", "the latest a scripted fault was carried out after its planned time"
        ),
        "live_machine_cpu_busy_pct_max": _M(
            "%",
            (
                "the machine's CPU busy, all cores, the busiest sample interval "
                "(every process, the twin's or not)"
            ),
            hi=100,
        ),
        "live_machine_cpu_busy_pct_mean": _M(
            "%", "the machine's CPU busy, all cores, mean over the run's samples", hi=100
        ),
        "live_machine_cpu_steal_pct_max": _M(
            "%", "CPU time the hypervisor took from this machine, the worst sample interval", hi=100
        ),
        "live_machine_load1_max": _M(
            "processes", "the machine's 1-minute load average, the highest sampled"
        ),
    }
)

# Analytics at city scale (twin/sim/analytics.py; scenario `analytics:`). Compute is in the
# pool's units: cores (device cpu) or GPUs (device gpu).
METRICS.update(
    {
        "analytics_compute_needed": _M(
            "units",
            "cores or GPUs every camera's analysis needs, at the pool's admission utilisation",
        ),
        "analytics_compute_needed_motion": _M(
            "units",
            "cores or GPUs motion detection needs (all cameras, at the admission utilisation)",
        ),
        "analytics_compute_needed_people_vehicles": _M(
            "units", "cores or GPUs people and vehicle detection needs"
        ),
        "analytics_compute_needed_plates": _M("units", "cores or GPUs number-plate reading needs"),
        "analytics_compute_needed_crowd": _M("units", "cores or GPUs crowd counting needs"),
        "analytics_compute_provisioned": _M("units", "cores or GPUs of every analyser", "higher"),
        "analytics_util_pct_max": _M("%", "highest analyser load outside bursts / its units"),
        "analytics_cameras_analysed": _M("cameras", "cameras admitted to an analyser", "higher"),
        "analytics_cameras_not_analysed": _M("cameras", "cameras no analyser had room for"),
        "analytics_frames_dropped": _M(
            "frames", "frames shed by overloaded analysers (over max_lag_s late)"
        ),
        "analytics_frames_dropped_pct": _M(
            "%", "frames shed / frames offered to the analysers", hi=100
        ),
        "analytics_incidents": _M("incidents", "incidents on cameras on line", "higher"),
        "analytics_incidents_unalerted": _M(
            "incidents", "incidents on cameras not analysed (no alert)"
        ),
        "analytics_alert_latency_s_p50": _M(
            "s", "median incident-to-alert latency (analysed cameras)"
        ),
        "analytics_alert_latency_s_p95": _M("s", "95th percentile incident-to-alert latency"),
        "analytics_alert_latency_s_p99": _M("s", "99th percentile incident-to-alert latency"),
        "analytics_alert_latency_s_max": _M("s", "longest incident-to-alert latency"),
        "analytics_bursts": _M("events", "crowd events (bursts) simulated"),
    }
)

# The live analyser pool (twin/live/analysis_pool.py) and how far its accuracy can be trusted.
METRICS.update(
    {
        "live_cameras_analysed": _M(
            "cameras", "cameras an analyser actor took (within its measured capacity)", "higher"
        ),
        "live_cameras_not_analysed": _M(
            "cameras", "cameras no analyser actor had room for (reported, not analysed)"
        ),
        "live_analyser_frame_ms": _M(
            "ms", "CPU of one core per analysed frame, as the actors measured it (mean)"
        ),
        "live_predicted_cameras_analysed": _M(
            "cameras", "cameras the simulation of this deployment admits", "higher"
        ),
        "live_predicted_cameras_not_analysed": _M(
            "cameras", "cameras the simulation of this deployment leaves out"
        ),
        "live_predicted_alert_latency_s_p50": _M(
            "s", "median alert latency the simulation of this deployment predicts"
        ),
        "live_predicted_alert_latency_s_p95": _M(
            "s", "95th percentile alert latency the simulation predicts"
        ),
        "live_alert_latency_s_p95": _M("s", "95th percentile incident-to-alert latency"),
        "live_frames_scored": _M(
            "frames", "analysed frames scored against the truth (after warm-up)", "higher"
        ),
        "live_detection_precision_person_ci95": _M(
            "ratio",
            "half-width of the 95 % interval of person precision (bootstrap over cameras)",
            hi=1,
        ),
        "live_detection_recall_person_ci95": _M(
            "ratio",
            "half-width of the 95 % interval of person recall (bootstrap over cameras)",
            hi=1,
        ),
        "live_incident_recall_ci95": _M(
            "ratio",
            "half-width of the 95 % interval of incident recall (bootstrap over cameras)",
            hi=1,
        ),
    }
)
