"""The command line runs an engine, then writes its output: a simulated run folder, a
replications folder, or the Results of a variant argument.

`simulate_to` loads and checks the scenario before the engine and matplotlib are even
imported (a bad scenario is refused in a fraction of a second), runs the simulator with a
progress bar, and writes the run folder (twin.output.sim_plots.write_sim_run) into a staged
folder moved into `out` at the end: a run that fails leaves nothing there.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from pathlib import Path

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from twin.cli.support import console, staged_output
from twin.compare.replications import Draws, ReplicationResults, run_replications, summarise_draws
from twin.compare.runs import is_scenario_file
from twin.errors import ScenarioError, UsageError
from twin.model.results import Results, read_live_results, read_results, run_info
from twin.scenario import load_scenario
from twin.scenario.memory import check_fits
from twin.scenario.overlay import set_source
from twin.sim.simulated_scenario import live_detect_shift, simulated_scenario

__all__ = ["simulate_to", "replicate_to", "resolve_input"]


def simulate_to(
    path: Path,
    out: Path,
    days: float | None = None,
    quiet: bool = False,
    sets: Sequence[str] = (),
    as_run: Path | None = None,
    accept_invalid: bool = False,
) -> Results:
    """Load, simulate and write everything for one scenario (each `--set PATH=VALUE` of
    `sets` applied); returns the Results. `as_run`: with the timing that live run had (one
    whose harness fell behind is refused unless `accept_invalid`).

    `out` is checked before the scenario is read, the files are written to a temporary
    folder beside it and moved into it at the end: a run that fails leaves nothing there."""
    with staged_output(out) as tmp:
        return _simulate_into(path, tmp, days, quiet, sets, as_run, accept_invalid)


def _simulate_into(
    path: Path,
    out: Path,
    days: float | None,
    quiet: bool,
    sets: Sequence[str] = (),
    as_run: Path | None = None,
    accept_invalid: bool = False,
) -> Results:
    named = load_scenario(path, check_memory=False, sets=sets)
    shift = 0.0
    if as_run is not None:  # the timing a live run of it really had (its crash detection)
        try:
            live = read_live_results(as_run, accept_invalid, use="`twin simulate --as-run`")
        except ValueError as err:
            raise UsageError(f"--as-run {err}") from None
        shift = live_detect_shift(named, live)
    sc = simulated_scenario(named, shift)  # a live scenario's terms, its calibration
    check_fits(sc, str(path), days)

    # start-up time: the engine, numpy's city and matplotlib (~1 s) load only once the
    # scenario is known to be good, so a bad one is refused at once.
    from twin.model.city import generate_city
    from twin.output.sim_plots import write_sim_run
    from twin.sim.engine import CityEngine
    from twin.sim.extensions import extensions_for
    from twin.sim.results import results_from_sim
    from twin.sim.run import as_run as as_live_run

    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    city = generate_city(sc)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("day {task.completed:.0f}/{task.total:.0f}"),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
        transient=True,
    ) as prog:
        total_days = sc.simulation.days if days is None else days
        task = prog.add_task(f"simulating {sc.name}: {city.n_cameras:,} cameras", total=total_days)
        engine = CityEngine(
            sc,
            city,
            progress=lambda t, end: prog.update(task, completed=t / 86_400),
            extensions=extensions_for(sc),
        )
        outcome = engine.run(days)
        prog.update(task, completed=total_days)
    wall = time.perf_counter() - t0
    res = results_from_sim(outcome, set_source(path, sets), run_info(started, wall), named)
    res = as_live_run(res, sc, shift, str(as_run or ""))
    write_sim_run(res, outcome, out)
    return res


def replicate_to(
    path: Path,
    out: Path,
    n: int,
    backend: str = "ray",
    days: float | None = None,
    quiet: bool = False,
    sets: Sequence[str] = (),
) -> tuple[ReplicationResults, Draws]:
    """N replications of a scenario's random parts (each `--set PATH=VALUE` of `sets`
    applied), summarised and written into `out`, with a progress bar on the terminal;
    returns (ReplicationResults, Draws)."""
    # start-up time: the distribution plots load matplotlib (~0.5 s); only this command needs it
    from twin.output.replications import write_replications

    sc = load_scenario(path, sets=sets)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f}"),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
        transient=True,
    ) as prog:
        task = prog.add_task(f"{n} replications of {sc.name} ({backend})", total=n)
        draws = run_replications(
            sc, n, backend, days, lambda done, total: prog.update(task, completed=done)
        )
    res = summarise_draws(sc, set_source(path, sets), draws, days)
    write_replications(res, draws, out)
    return res, draws


def resolve_input(
    arg: str | Path,
    out: Path,
    days: float | None = None,
    quiet: bool = True,
    sets: Sequence[str] = (),
) -> Results:
    """A scenario file is simulated into `out/<stem>` (results, report, plots), each
    `--set PATH=VALUE` of `sets` applied; a run folder or a results.json is read as it is."""
    p = Path(arg)
    if p.is_dir():
        p = p / "results.json"
        if not p.exists():
            raise ScenarioError(
                f"{arg}: a folder without results.json; pass a run folder "
                "(`twin simulate --out DIR`), a results.json or a scenario YAML"
            )
    if p.suffix.lower() == ".json":
        if not p.exists():
            raise ScenarioError(f"{p}: no such results file")
        try:
            return read_results(p)
        except ValueError as err:
            raise ScenarioError(f"{p}: not a cctv-twin results.json: {err}") from None
    if not is_scenario_file(p):
        raise ScenarioError(f"{arg}: expected a scenario (.yaml), a run folder or a results.json")
    return simulate_to(p, out / p.stem, days, quiet=quiet, sets=sets)
