"""`twin live SCENARIO`: run a scenario for real (MediaMTX, Ray actors, files, SQLite).

Progress goes to stderr: a progress bar on a terminal, plain timestamped lines otherwise (CI,
a log file). The results table goes to stdout. Ray's own log lines go to the run folder.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from twin.cli.support import bounded_int_arg, checked_output, positive_seconds_arg, targets_table
from twin.errors import InvalidRun, UsageError
from twin.live.outcome import LiveInterrupted, LiveOutcome
from twin.model.results import Results, run_info, validity_line
from twin.scenario import Scenario, load_scenario
from twin.scenario.live import MAX_LIVE_S

if TYPE_CHECKING:
    from twin.live.measure import LiveMeasures

__all__ = ["register", "cmd_live", "live_to"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "live", help="run a scenario live: real RTSP streams, recorders, retention, faults"
    )
    p.add_argument(
        "scenario",
        nargs="?",
        help="scenario YAML with a `live:` section (e.g. scenarios/live-trial-15.yaml)",
    )
    p.add_argument(
        "--duration",
        type=positive_seconds_arg(MAX_LIVE_S, "--duration 60"),
        help="recording seconds, up to 86,400 (default: live.duration_s)",
    )
    p.add_argument(
        "--out",
        help="output folder (default out/<scenario file stem>); checked "
        "first, written as the run goes",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument(
        "--recover",
        metavar="RUN_DIR",
        help="instead of a run: finish the folder of a run whose `twin live` died "
        "(recover its partial segments, check catalog against files, write "
        "results.json for the time recorded, marked cut short)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="with --recover: write results.json again over one already there",
    )
    p.add_argument(
        "--metrics-port",
        type=bounded_int_arg(0, 65535, "--metrics-port 9464"),
        default=0,
        help="serve the run's health as Prometheus metrics on "
        "127.0.0.1 at this port (default 0: any free port; the URL is printed "
        "and in live/parts.json)",
    )
    p.set_defaults(fn=cmd_live)


@contextmanager
def _progress(
    title: str, total: float, quiet: bool
) -> Iterator[Callable[[float, float, str], None]]:
    """A progress callback: a rich bar on a terminal, plain lines on stderr otherwise."""
    if quiet:
        yield lambda t, total, msg: None
        return
    if not sys.stderr.isatty():
        last = [""]

        def line(t: float, tot: float, msg: str) -> None:
            if msg != last[0]:
                print(
                    f"[{time.strftime('%H:%M:%S')} {max(0.0, t):6.1f}/{tot:.0f} s] {msg}",
                    file=sys.stderr,
                    flush=True,
                )
                last[0] = msg

        yield line
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as prog:
        task = prog.add_task(title, total=total)

        def bar(t: float, tot: float, msg: str) -> None:
            prog.update(task, completed=max(0.0, t), total=tot, description=msg)

        yield bar


def live_to(
    path: Path, out: Path, duration: float | None = None, quiet: bool = False, metrics_port: int = 0
) -> tuple[Results, LiveMeasures]:
    """Load, run live, measure and write everything; returns (Results, LiveMeasures).

    A run stopped early by SIGINT/SIGTERM is still measured and written; then
    LiveInterrupted (exit 3) says so. `out` is checked before anything starts and written in
    place: `live/parts.json` and the catalog are read while the run goes on.
    """
    with checked_output(out):
        res, m, sc, outcome = _live_into(path, out, duration, quiet, metrics_port)
    if outcome.interrupted:
        raise LiveInterrupted(
            f"live run of {sc.name} stopped early by {outcome.interrupted} after "
            f"{outcome.t_end - outcome.t0:.1f} s of recording; what was recorded is measured "
            f"in {out / 'results.json'}; expected the run to reach its end: run it again"
        )
    return res, m


def _live_into(
    path: Path, out: Path, duration: float | None, quiet: bool, metrics_port: int = 0
) -> tuple[Results, LiveMeasures, Scenario, LiveOutcome]:
    sc = load_scenario(path)
    # start-up time: the plan loads PyAV (~0.2 s); only this command needs it
    from twin.live.plan import plan_run
    from twin.live.run_settings import live_run_settings

    settings = live_run_settings(sc)
    plan_run(
        sc, settings, float(duration if duration is not None else settings.duration_s), out
    )  # run_live plans again; a refusal here loads no Ray, actors or plots
    # start-up time: the run loads Ray, PyAV and the actors, its folder matplotlib (~1.5 s
    # together): only once the scenario and its plan are accepted
    from twin.live.measure import measure
    from twin.live.run import run_live, started_at
    from twin.output.live_run import write_live_outputs

    started = started_at()
    t0 = time.perf_counter()
    total = duration or (sc.live.duration_s if sc.live else 150.0)
    with _progress(f"live {sc.name}", total, quiet) as progress:
        outcome = run_live(
            sc,
            out,
            duration_s=duration,
            progress=progress,
            metrics_port=metrics_port,
            source=str(path),
        )
        progress(total, total, "measuring footage, files and detections")
        m = measure(outcome)
    res = write_live_outputs(
        outcome, m, str(path), run_info(started, time.perf_counter() - t0), out
    )
    return res, m, sc, outcome


def cmd_live(args: argparse.Namespace) -> int:
    if args.recover:
        return cmd_recover(args)
    if not args.scenario:
        raise UsageError(
            "twin live: no scenario; expected `twin live SCENARIO` (e.g. "
            "scenarios/live-trial-15.yaml), or `twin live --recover RUN_DIR`"
        )
    path = Path(args.scenario)
    out = Path(args.out) if args.out else Path("out") / path.stem
    res, m = live_to(path, out, args.duration, args.quiet, args.metrics_port)
    console = Console()  # stdout: the answer, apart from progress and logs on stderr
    if res.validity is not None:  # first: whether the figures below are the deployment's
        console.print(
            ("[red]" if res.invalid else "[green]") + validity_line(res.validity) + "[/]",
            highlight=False,
        )
    console.print(targets_table(res))
    keys = [
        "cameras",
        "segments_written",
        "segments_deleted",
        "live_unrecorded_s",
        "live_unrecorded_unexplained_s",
        "live_gap_max_s",
        "live_faults",
        "live_faults_unscripted",
        "live_fault_gap_max_s",
        "live_recovery_s_max",
        "live_segments_unreadable",
        "live_catalog_mismatches",
        "live_detection_recall_person",
        "live_detection_recall_vehicle",
        "live_incident_recall",
        "live_alert_latency_s_p50",
        "live_cpu_pct_machine",
        "live_harness_offered_ratio_min",
        "live_harness_publish_late_p99_s",
        "live_harness_driver_lag_p99_s",
        "live_machine_cpu_busy_pct_max",
    ]
    console.print("  ".join(f"{k}={res.metrics[k]:g}" for k in keys if k in res.metrics))
    console.print(
        f"results: {out / 'results.json'}   report: {out / 'report.md'}   ({res.run.wall_s:.1f} s)"
    )
    if res.invalid:
        return InvalidRun.exit_code  # the targets above are not the deployment's PASS or FAIL
    return 0 if res.passed else 1


def cmd_recover(args: argparse.Namespace) -> int:
    """`twin live --recover RUN_DIR`: the run recovered (twin.live.recover), then its folder
    written (twin.output.live_run) and its answer printed."""
    # start-up time: the live twin and its plots (Ray, PyAV, matplotlib: seconds) load only
    # for this command
    from twin.live.recover import DRIVER_LOST, recover_run
    from twin.output.live_run import write_recovered_run

    r = recover_run(Path(args.recover), force=args.force)
    res = write_recovered_run(r)
    m, o, out = r.measures, r.outcome, r.out
    console = Console()
    console.print(targets_table(res))
    console.print(
        f"cut short ({DRIVER_LOST}) after {m.metrics.get('live_duration_s', 0):.1f} "
        f"s judged; segments_written={m.metrics.get('segments_written', 0):g} "
        f"live_partials_recovered={o.recovered_partials} "
        f"live_catalog_mismatches={m.metrics.get('live_catalog_mismatches', 0):g}"
    )
    console.print(f"results: {out / 'results.json'}   report: {out / 'report.md'}")
    return 0 if res.passed else 1
