"""`twin live SCENARIO`: run a scenario for real (MediaMTX, Ray actors, files, SQLite)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

__all__ = ["register", "cmd_live"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "live", help="run a scenario live: real RTSP streams, recorders, retention, drills")
    p.add_argument("scenario", help="scenario YAML with a `live:` section (e.g. "
                                    "scenarios/live-trial-15.yaml)")
    p.add_argument("--duration", type=float, help="recording seconds (default: live.duration_s)")
    p.add_argument("--out", help="output folder (default out/<scenario file stem>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(fn=cmd_live)


def live_to(path: Path, out: Path, duration: float | None = None, quiet: bool = False):
    """Load, run live, measure and write everything; returns (Results, LiveMeasures)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from twin.live.measure import measure
    from twin.live.results import write_live_outputs
    from twin.live.run import run_live, started_at
    from twin.results import run_info
    from twin.scenario import load_scenario

    sc = load_scenario(path)
    started = started_at()
    t0 = time.perf_counter()
    console = Console(stderr=True)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("{task.completed:.0f}/{task.total:.0f} s"), TimeElapsedColumn(),
                  console=console, disable=quiet, transient=True) as prog:
        task = prog.add_task(f"live {sc.name}", total=duration or (sc.live.duration_s
                                                                   if sc.live else 150))

        def progress(t: float, total: float, msg: str) -> None:
            prog.update(task, completed=max(0.0, t), total=total, description=msg)

        outcome = run_live(sc, out, duration_s=duration, progress=progress)
        prog.update(task, description="measuring footage, files and detections")
        m = measure(outcome)
    res = write_live_outputs(outcome, m, str(path), run_info(started, time.perf_counter() - t0),
                             out)
    return res, m


def cmd_live(args: argparse.Namespace) -> int:
    from twin.cli import _targets_table, console

    path = Path(args.scenario)
    out = Path(args.out) if args.out else Path("out") / path.stem
    res, m = live_to(path, out, args.duration, args.quiet)
    console.print(_targets_table(res))
    keys = ["cameras", "segments_written", "segments_deleted", "live_gap_max_s",
            "live_fault_gap_max_s", "live_recovery_s_max", "live_segments_unreadable",
            "live_catalog_mismatches", "live_detection_recall_person",
            "live_detection_recall_vehicle", "live_incident_recall",
            "live_alert_latency_s_p50", "live_cpu_pct_machine"]
    console.print("  ".join(f"{k}={res.metrics[k]:g}" for k in keys if k in res.metrics))
    console.print(f"results: {out / 'results.json'}   report: {out / 'report.md'}   "
                  f"({res.run.wall_s:.1f} s)")
    return 0 if res.passed else 1
