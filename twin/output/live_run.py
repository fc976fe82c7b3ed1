"""results.json (engine "live"), CSVs, plots and report of a live run: the simulate format."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from twin.live.measure import LiveMeasures, bytes_in_window  # noqa: E402
from twin.live.outcome import LiveOutcome  # noqa: E402
from twin.live.recover import CUT_SLACK_S, DRIVER_LOST, RecoveredRun  # noqa: E402
from twin.model.results import (  # noqa: E402
    CAMERA_FAULT_COLUMNS,
    Results,
    RunInfo,
    judge,
    run_info,
    scenario_info,
    write_csv,
    write_results,
)
from twin.output.figures import save_figure  # noqa: E402
from twin.output.pages.charts import headroom_charts  # noqa: E402
from twin.output.run_folder import write_run_folder  # noqa: E402
from twin.storage.live_catalog import SegmentRow  # noqa: E402

__all__ = ["live_results", "write_live_outputs", "write_recovered_run"]


def _one(limits: list[float] | list[int]) -> float | int | None:
    """A limit every live recorder shares, or None when the pools' limits differ (each pool's
    are under `pools`)."""
    return limits[0] if limits and all(v == limits[0] for v in limits) else None


def live_results(o: LiveOutcome, m: LiveMeasures, source: str, run: RunInfo) -> Results:
    verdicts = judge(m.metrics, o.scenario.targets)
    per_recorder = []
    for r in o.recorders:
        mine = [row for row in m.rows if row.recorder == r]
        st = o.recorder_stats.get(r)
        per_recorder.append(
            {
                "recorder": r,
                **(
                    {
                        "node": o.placement.label(o.placement.pool_node[o.recorder_pool[r]]),
                        "pool": o.recorder_pool[r],
                        "standby": r in o.standby,
                    }
                    if o.placement is not None and r in o.recorder_pool
                    else {}
                ),
                "cameras_initial": sum(1 for v in o.initial_assignment.values() if v == r),
                "cameras_final": sum(1 for v in o.final_assignment.values() if v == r),
                "segments": len(mine),
                "bytes": round(bytes_in_window(mine, o.t0, o.t_end)),  # the run's window
                "killed": any(f["part"] == f"recorder:{r}" for f in m.faults),
                "reconnects": (sum(max(0, s.connects - 1) for s in st.streams) if st else None),
            }
        )
    # One event per fault, scripted or not: kind, part, when it happened, was detected, ran
    # again, and when its cameras were recorded again (from the files).
    faults = [
        {
            "t_s": f["happened_s"] if f["happened_s"] is not None else f["detected_s"],
            "kind": "fault",
            "fault_kind": f["kind"],
            **{k: v for k, v in f.items() if k not in ("cameras", "kind")},
            "cameras": f["cameras"][:50],
        }
        for f in m.faults
    ]
    st = o.settings
    deployment = {  # what `twin calibrate` reads: the deployment as this run recorded it
        "t_s": 0.0,
        "kind": "live_deployment",
        "profile": st.profile_name,
        "nominal_mbps": st.nominal_mbps,
        "encoder_bitrate_mbps": st.profile.bitrate_mbps,
        "width": st.profile.width,
        "height": st.profile.height,
        "fps": st.profile.fps,
        "keyframe_s": st.profile.keyframe_s,
        "segment_s": st.segment_s,
        "retention_s": o.retention_s,
        "recorders": len(o.recorders),
        "max_streams": _one(st.recorders.max_streams_of(o.recorders)),
        "ingest_mbps": _one(st.recorders.ingest_mbps_of(o.recorders)),
        "pools": [
            {
                "pool": p.name,
                "recorders": len(p.recorders),
                "max_streams": p.max_streams,
                "ingest_mbps": p.ingest_mbps,
            }
            for p in st.recorders.pools
        ],
        "analyser_width": st.analyser.width if st.analyser.enabled else None,
        "heartbeat_interval_s": st.heartbeat_interval_s,
        "heartbeat_timeout_s": st.heartbeat_timeout_s,
    }
    events = (
        [e for e in o.events if e["kind"] != "fault_injected"]
        + faults
        + [deployment]
        + [{"t_s": g["fault_s"], "kind": "fault_gap", **g} for g in m.drills]
    )
    events.sort(key=lambda e: (e["t_s"] if e["t_s"] is not None else math.inf, e["kind"]))
    return Results(
        engine="live",
        scenario=scenario_info(o.scenario, source),
        horizon_s=o.t_end - o.t0,
        metrics=m.metrics,
        targets=verdicts,
        passed=all(v.passed for v in verdicts),
        per_recorder=per_recorder,
        events=events,
        run=run,
        validity=m.validity,
    )


def _tables(o: LiveOutcome, m: LiveMeasures, out: Path) -> dict[str, str]:
    an = {c["camera"]: c for c in (o.analyser or {}).get("cameras") or []}
    analysed_by = {
        c: p for p, cams in (o.analysis or {}).get("cameras_of", {}).items() for c in cams
    }
    rows = []
    for cam in o.cameras:
        f = m.cameras[cam]
        a = an.get(cam, {})
        rows.append(
            [
                cam,
                o.camera_set[cam],
                o.camera_scene[cam],
                o.initial_assignment.get(cam) or "",
                o.final_assignment.get(cam) or "",
                f.segments,
                f.bytes,
                None if f.first_start_s is None else round(f.first_start_s - o.t0, 3),
                round(f.unrecorded_s, 3),
                len(f.gaps),
                round(f.gap_max_s, 3),
                len(f.fault_gaps),
                round(max((g["gap_s"] for g in f.fault_gaps), default=0.0), 3),
                round(max((g["recovery_s"] for g in f.fault_gaps), default=0.0), 3),
                a.get("frames", 0),
                len(a.get("alerts", [])),
                getattr(o.publisher_stats.get(cam), "reconnects", ""),
                sum(
                    max(0, st.connects - 1)
                    for rs in o.recorder_stats.values()
                    for st in rs.streams
                    if st.camera == cam
                ),
                analysed_by.get(cam, "not analysed" if o.analysis else ""),
                a.get("tp", {}).get("person", 0),
                a.get("detections", {}).get("person", 0),
                a.get("truths", {}).get("person", 0),
            ]
        )
    write_csv(
        out / "cameras.csv",
        [
            "camera",
            "set",
            "scene",
            "recorder_initial",
            "recorder_final",
            "segments",
            "bytes",
            "first_segment_after_s",
            "unrecorded_s",
            "gaps_unexplained",
            "gap_max_s",
            "fault_gaps",
            "fault_gap_max_s",
            "recovery_s_max",
            "frames_analysed",
            "alerts",
            "publisher_reconnects",
            "recorder_reconnects",
            "analysed_by",
            "person_hits",
            "person_detections",
            "person_scored",
        ],
        rows,
    )
    write_csv(
        out / "segments.csv",
        [
            "id",
            "camera",
            "recorder",
            "start_s",
            "end_s",
            "size_bytes",
            "packets",
            "key",
            "sha256",
            "state",
        ],
        [
            [
                r.id,
                r.camera,
                r.recorder,
                round(r.start_s - o.t0, 3),
                round(r.end_s - o.t0, 3),
                r.size_bytes,
                r.packets,
                r.key,
                r.sha256,
                r.state,
            ]
            for r in m.rows
        ],
    )
    cols = ["t_s", "cameras_recording", "segments_written", "segments_deleted", "recorders_up"]
    write_csv(out / "timeseries.csv", cols, [[s[c] for c in cols] for s in o.samples])
    scols = [
        "t_s",
        "cutoff_s",
        "deleted",
        "deleted_bytes",
        "overdue_after",
        "oldest_age_s",
        "missing_files",
    ]
    write_csv(out / "sweeps.csv", scols, [[s[c] for c in scols] for s in o.sweeps])
    fcols = [
        "id",
        "kind",
        "part",
        "scripted",
        "label",
        "pid",
        "happened_s",
        "detected_s",
        "restored_s",
        "detect_s",
        "restore_s",
        "cameras_hit",
        "camera_s_lost",
        "gap_max_s",
        "recorded_again_s",
        "cameras_never_back",
    ]

    def rel(v: float | None) -> float | None:
        return None if v is None else round(v - o.t0, 3)

    write_csv(
        out / "faults.csv",
        fcols,
        [
            [
                f["id"],
                f["kind"],
                f["part"],
                f["scripted"],
                f["label"],
                f["pid"],
                rel(f["happened_s"]),
                rel(f["detected_s"]),
                rel(f["restored_s"]),
                f["detect_s"],
                f["restore_s"],
                f["cameras_hit"],
                f["camera_s_lost"],
                f["gap_max_s"],
                rel(f["recorded_again_s"]),
                f["cameras_never_back"],
            ]
            for f in m.faults
        ],
    )
    write_csv(
        out / "camera_faults.csv",
        list(CAMERA_FAULT_COLUMNS),
        [[r[c] for c in CAMERA_FAULT_COLUMNS] for r in m.camera_faults],
    )
    return {
        "cameras": "cameras.csv",
        "segments": "segments.csv",
        "timeseries": "timeseries.csv",
        "sweeps": "sweeps.csv",
        "faults": "faults.csv",
        "camera_faults": "camera_faults.csv",
    }


def _plots(o: LiveOutcome, m: LiveMeasures, out: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    colors = {r: plt.cm.tab10(i % 10) for i, r in enumerate(o.recorders)}
    fig, ax = plt.subplots(figsize=(11, max(4.0, 0.18 * len(o.cameras) + 1.5)))
    by_cam: dict[str, list[SegmentRow]] = {}
    for r in m.rows:
        by_cam.setdefault(r.camera, []).append(r)
    for y, cam in enumerate(o.cameras):
        for rec in o.recorders:
            spans = [
                (r.start_s - o.t0, r.end_s - r.start_s)
                for r in by_cam.get(cam, [])
                if r.recorder == rec
            ]
            if spans:
                ax.broken_barh(spans, (y - 0.4, 0.8), color=colors[rec], lw=0)
    for f in m.faults:
        t = f["happened_s"] if f["happened_s"] is not None else f["detected_s"]
        if t is None:
            continue
        ax.axvline(t - o.t0, color="crimson" if f["scripted"] else "darkorange", ls="--", lw=1)
        ax.text(
            t - o.t0,
            len(o.cameras),
            f"{f['kind']} {f['part'].split(':')[-1]}",
            color="crimson",
            fontsize=6,
            rotation=30,
        )
    ax.set_yticks(range(len(o.cameras)), o.cameras, fontsize=5)
    ax.set(
        xlabel="seconds from the start of recording",
        title="Footage recorded per camera (colour: recorder; dashed: faults, red scripted, "
        "orange unscripted)",
    )
    ax.legend(
        handles=[Rectangle((0, 0), 1, 1, color=c) for c in colors.values()],
        labels=list(colors),
        fontsize=7,
        loc="lower right",
    )
    files["coverage"] = save_figure(fig, out / "coverage.png")

    if o.samples:
        fig, ax = plt.subplots(figsize=(9, 4))
        t = [s["t_s"] for s in o.samples]
        ax.plot(t, [s["segments_written"] for s in o.samples], label="written")
        ax.plot(t, [s["segments_deleted"] for s in o.samples], label="deleted by retention")
        ax2 = ax.twinx()
        ax2.plot(
            t,
            [s["cameras_recording"] for s in o.samples],
            color="grey",
            lw=0.8,
            label="cameras recording",
        )
        ax.set(
            xlabel="seconds from the start of recording",
            ylabel="segments (cumulative)",
            title="Segments written and swept",
        )
        ax2.set_ylabel("cameras recording")
        ax.legend(loc="upper left")
        files["segments"] = save_figure(fig, out / "segments.png")

    cpu = {
        k[len("live_cpu_pct_") : -len("_per_camera")]: v
        for k, v in m.metrics.items()
        if k.startswith("live_cpu_pct_") and k.endswith("_per_camera")
    }
    if cpu:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.bar(list(cpu), list(cpu.values()))
        ax.set(ylabel="% of one core per camera", title="CPU per camera, by part")
        files["cpu_per_camera"] = save_figure(fig, out / "cpu_per_camera.png")
    return files


def _live_section(o: LiveOutcome, m: LiveMeasures) -> str:
    lines = [
        "",
        "## Live run",
        "",
        f"{len(o.cameras)} cameras in {len(set(o.camera_set.values()))} sets, "
        f"{len(o.recorders)} recorders, {o.t_end - o.t0:.0f} s of recording, segments of "
        f"{o.settings.segment_s:g} s, retention {o.retention_s:g} s.",
        "",
        "Files against the catalog: " + ", ".join(f"{k} {v}" for k, v in m.files.items()),
        "",
    ]
    if m.faults:
        lines += [
            "### Faults: what happened and what it cost (from the files)",
            "",
            "| # | kind | part | scripted | at (s) | detected after (s) | running again after (s) "
            "| cameras hit | camera-s lost | largest gap (s) | never recorded again |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for f in m.faults:
            at = "" if f["happened_s"] is None else f"{f['happened_s'] - o.t0:.1f}"
            det = "" if f["detect_s"] is None else f"{f['detect_s']:.2f}"
            back = "" if f["restore_s"] is None else f"{f['restore_s']:.2f}"
            lines.append(
                f"| {f['id']} | {f['kind']} | {f['part']} | {'yes' if f['scripted'] else 'no'} | "
                f"{at} | {det} | {back} | "
                f"{f['cameras_hit']} | {f['camera_s_lost']:.1f} | {f['gap_max_s']:.2f} | "
                f"{f['cameras_never_back']} |"
            )
        lines.append("")
    bad = [(c, f) for c, f in m.cameras.items() if f.gaps]
    lines += [
        f"Unrecorded: {m.metrics.get('live_unrecorded_s', 0):.1f} camera-s in all, "
        f"{m.metrics.get('live_unrecorded_unexplained_s', 0):.1f} outside start-up and "
        f"faults.",
        "",
        "### Gaps outside start-up and faults",
        "",
    ]
    if bad:
        lines += ["| camera | gaps | longest (s) |", "| --- | --- | --- |"]
        lines += [f"| {c} | {len(f.gaps)} | {f.gap_max_s:.2f} |" for c, f in bad]
    else:
        lines.append(
            "None: every camera is on disk from its start-up to the end of the run, "
            "but for the faults above."
        )
    lines += ["", "### Events", ""]
    for e in o.events:
        if e["kind"] in ("recorder_health",):
            continue
        detail = {k: v for k, v in e.items() if k not in ("t_s", "kind", "cameras")}
        lines.append(f"- {e['t_s'] - o.t0:8.2f} s  {e['kind']}  {detail if detail else ''}")
    return "\n".join(lines) + "\n"


def write_live_outputs(
    o: LiveOutcome, m: LiveMeasures, source: str, run: RunInfo, out: Path
) -> Results:
    out.mkdir(parents=True, exist_ok=True)
    res = live_results(o, m, source, run)
    files = _tables(o, m, out)
    plots = _plots(o, m, out)
    plots = {**headroom_charts(res, out), **plots}
    path = write_run_folder(
        res, files, plots, out, {"catalog": "live/catalog.sqlite", "segments_root": "live/segments"}
    )
    text = path.read_text().replace(
        f"{res.horizon_s / 86_400:.1f} days;", f"{res.horizon_s:.0f} s of wall-clock recording;"
    )
    path.write_text(text + _live_section(o, m))
    return res


def write_recovered_run(r: RecoveredRun) -> Results:
    """The run folder of a run whose driver died (twin.live.recover): written as any live
    run's, marked interrupted, with a paragraph at the top of its report saying so."""
    o = r.outcome
    res = write_live_outputs(
        o, r.measures, o.source or "<run-state>", run_info(r.started, r.cut), r.out
    )
    res.interrupted = DRIVER_LOST
    write_results(res, r.out)
    _mark_report(r.out / "report.md", o, r.cut, r.watchdog, r.planned_s)
    return res


def _mark_report(
    path: Path, o: LiveOutcome, cut: float, dog: dict[str, Any], planned_s: float | None
) -> None:
    """A paragraph at the top of the report: this run was cut short, and what that means."""
    try:
        text = path.read_text()
    except OSError:
        return
    killed = (
        f" Its watchdog killed the {len(dog.get('killed', []))} process(es) of the run "
        f"still running, within {dog.get('cleared_s', 0):.2f} s of noticing."
        if dog
        else ""
    )
    note = (
        f"\n> **Cut short: driver lost.** `twin live` died {cut - o.t0:.1f} s into "
        f"recording (planned {planned_s or o.settings.duration_s:g} s).{killed} "
        f"`twin live --recover` "
        f"recovered {o.recovered_partials} partial segment(s) ({o.removed_partials} empty "
        f"stub(s) removed), checked the catalog against the files and measured the "
        f"{o.t_end - o.t0:.1f} s up to {CUT_SLACK_S:g} s before the loss"
        + ("; analyser figures are from its last snapshots" if o.analyser else "")
        + ".\n"
    )
    head, sep, rest = text.partition("\n")
    path.write_text(head + sep + note + rest)
