"""Running a scenario on the simulator: into a folder, or in-process to Results.

The one pipeline every tool uses, so `twin simulate`, `twin compare`, `twin sweep`,
`twin check` and `twin breakpoint` agree on a run:

- `run_scenario`: the engine with the scenario's extensions and the results.json model only,
  no plots or CSVs (a 7,000-set variant costs about a second); Ray workers are given the
  Scenario parsed on the driver (its calibration already read);
- `simulate_to`: load, simulate and write everything (results.json, CSVs, plots, report.md,
  report.html) into a folder, staged so a failed run leaves nothing there.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from pathlib import Path

from twin.results import Results, run_info
from twin.scenario import Scenario

__all__ = ["run_scenario", "simulate_to"]


def run_scenario(sc: Scenario, source: str, days: float | None = None,
                 detect_shift_s: float = 0.0) -> Results:
    """Simulate one scenario in this process and return its Results (nothing written); with
    `detect_shift_s`, as a live run that detected crashes that much later ran it
    (twin.sim.deployment)."""
    from twin.city import generate_city
    from twin.sim.engine import CityEngine
    from twin.sim.extensions import extensions_for
    from twin.sim.results import results_from_sim

    from twin.sim.deployment import simulated_scenario

    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    # The same deployment and extensions as `twin simulate` (a live scenario's terms, the
    # calibration, faults, evidence...), so results agree with it.
    run = simulated_scenario(sc, detect_shift_s)
    outcome = CityEngine(run, generate_city(run), extensions=extensions_for(run)).run(days)
    res = results_from_sim(outcome, source, run_info(started, time.perf_counter() - t0), sc)
    return _as_run(res, run, detect_shift_s)


def _as_run(res: Results, run: Scenario, shift: float, live: str = "") -> Results:
    """Say in the results that they simulate a live run's timing, not the plan's."""
    if shift:
        res.events.insert(0, {"t_s": 0.0, "kind": "as_live_run", "detect_shift_s": shift,
                              "reassign_s": run.failover.reassign_s,
                              **({"live_run": live} if live else {})})
    return res


def simulate_to(path: Path, out: Path, days: float | None = None, quiet: bool = False,
                sets: Sequence[str] = (), as_run: Path | None = None) -> Results:
    """Load, simulate and write everything for one scenario (each `--set PATH=VALUE` of
    `sets` applied); returns the Results.

    `out` is checked before the scenario is read, the files are written to a temporary
    folder beside it and moved into it at the end: a run that fails leaves nothing there."""
    from twin.cli_support import staged_output

    with staged_output(out) as tmp:
        return _simulate_into(path, tmp, days, quiet, sets, as_run)


def _simulate_into(path: Path, out: Path, days: float | None, quiet: bool,
                   sets: Sequence[str] = (), as_run: Path | None = None) -> Results:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from twin.cli_support import console
    from twin.memory import check_fits
    from twin.scenario import load_scenario

    # The scenario is checked before the engine and matplotlib are even imported: a bad one
    # is refused in a fraction of a second.
    from twin.sim.deployment import simulated_scenario

    named = load_scenario(path, check_memory=False, sets=sets)
    shift = 0.0
    if as_run is not None:  # the timing a live run of it really had (its crash detection)
        from twin.errors import UsageError
        from twin.results import read_live_results
        from twin.sim.deployment import live_detect_shift

        try:
            live = read_live_results(as_run, use="`twin simulate --as-run`")
        except ValueError as err:
            raise UsageError(f"--as-run {err}") from None
        shift = live_detect_shift(named, live)
    sc = simulated_scenario(named, shift)  # a live scenario's terms, its calibration
    check_fits(sc, str(path), days)

    from twin.city import generate_city
    from twin.pages.charts import headroom_charts
    from twin.pages.render import HTML_NAME, write_run_html
    from twin.report import write_report
    from twin.results import write_results
    from twin.sim.engine import CityEngine
    from twin.sim.extensions import extensions_for
    from twin.sim.plots import plot_sim
    from twin.sim.results import results_from_sim, write_sim_tables

    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    city = generate_city(sc)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("day {task.completed:.0f}/{task.total:.0f}"), TimeElapsedColumn(),
                  console=console, disable=quiet, transient=True) as prog:
        total_days = sc.simulation.days if days is None else days
        task = prog.add_task(f"simulating {sc.name}: {city.n_cameras:,} cameras", total=total_days)
        engine = CityEngine(sc, city, progress=lambda t, end: prog.update(task, completed=t / 86_400),
                            extensions=extensions_for(sc))
        outcome = engine.run(days)
        prog.update(task, completed=total_days)
    wall = time.perf_counter() - t0
    from twin.scenario.overlay import set_source

    res = results_from_sim(outcome, set_source(path, sets), run_info(started, wall), named)
    res = _as_run(res, sc, shift, str(as_run or ""))
    files = write_sim_tables(outcome, out)
    plots = {**headroom_charts(res, out), **plot_sim(outcome, out)}
    res.files = {**files, **{f"plot:{k}": v for k, v in plots.items()}, "report": "report.md",
                 "report_html": HTML_NAME}
    write_results(res, out)
    write_report(res, plots, out)
    write_run_html(res, plots, out)
    return res
