"""Getting Results for a variant: run a scenario in-process, or read a run already made.

`run_scenario` is the one function every comparing tool runs, locally or as a Ray task:
the engine and the results.json model only, no plots or CSVs, so a 7,000-set variant costs
about a second. `resolve_input` turns a command-line argument (scenario file, run folder or
results.json) into Results.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

from twin.errors import ScenarioError
from twin.results import Results, read_results, results_from_sim, run_info
from twin.scenario import Scenario, parse_scenario

__all__ = ["run_scenario", "run_scenario_data", "resolve_input", "is_scenario_file"]

SCENARIO_SUFFIXES = (".yaml", ".yml")


def run_scenario(sc: Scenario, source: str, days: float | None = None) -> Results:
    """Simulate one scenario in this process and return its Results (nothing written)."""
    from twin.city import generate_city
    from twin.sim.engine import CityEngine
    from twin.sim.extensions import extensions_for

    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    # The same extensions as `twin simulate` (faults, evidence...), so results agree with it.
    outcome = CityEngine(sc, generate_city(sc), extensions=extensions_for(sc)).run(days)
    return results_from_sim(outcome, source, run_info(started, time.perf_counter() - t0))


def run_scenario_data(data: dict[str, Any], source: str, days: float | None = None) -> dict:
    """`run_scenario` on a raw mapping, returning results.json as a dict: cheap to ship
    to and from Ray workers (plain data, validated where it runs)."""
    return run_scenario(parse_scenario(data, source), source, days).model_dump(mode="json")


def is_scenario_file(path: Path) -> bool:
    return path.suffix.lower() in SCENARIO_SUFFIXES


def resolve_input(arg: str | Path, out: Path, days: float | None = None,
                  quiet: bool = True) -> Results:
    """A scenario file is simulated into `out/<stem>` (results, report, plots); a run folder
    or a results.json is read as it is."""
    p = Path(arg)
    if p.is_dir():
        p = p / "results.json"
        if not p.exists():
            raise ScenarioError(f"{arg}: a folder without results.json; pass a run folder "
                                "(`twin simulate --out DIR`), a results.json or a scenario YAML")
    if p.suffix.lower() == ".json":
        if not p.exists():
            raise ScenarioError(f"{p}: no such results file")
        try:
            return read_results(p)
        except ValueError as err:
            raise ScenarioError(f"{p}: not a cctv-twin results.json: {err}") from None
    if not is_scenario_file(p):
        raise ScenarioError(f"{arg}: expected a scenario (.yaml), a run folder or a results.json")
    from twin.cli import simulate_to

    return simulate_to(p, out / p.stem, days, quiet=quiet)
