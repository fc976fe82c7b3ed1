"""Running a scenario on the simulator in-process, to Results.

The one pipeline every tool uses, so `twin simulate`, `twin compare`, `twin sweep`,
`twin check` and `twin breakpoint` agree on a run: `run_scenario` runs the engine with the
scenario's extensions (the deployment `simulated_scenario` makes of it) and returns the
results.json model only, no plots or CSVs (a 7,000-set variant costs about a second); Ray
workers are given the Scenario parsed on the driver (its calibration already read).
Writing a run folder is the command line's (twin.cli.runs.simulate_to), which runs this
engine and then the output layer: the simulator imports nothing above it.
"""

from __future__ import annotations

import datetime as dt
import time

from twin.model.city import generate_city
from twin.model.results import Results, run_info
from twin.scenario import Scenario
from twin.sim.engine import CityEngine
from twin.sim.extensions import extensions_for
from twin.sim.results import results_from_sim
from twin.sim.simulated_scenario import simulated_scenario

__all__ = ["run_scenario", "as_run"]


def run_scenario(
    sc: Scenario, source: str, days: float | None = None, detect_shift_s: float = 0.0
) -> Results:
    """Simulate one scenario in this process and return its Results (nothing written); with
    `detect_shift_s`, as a live run that detected crashes that much later ran it
    (twin.sim.simulated_scenario)."""
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    # The same deployment and extensions as `twin simulate` (a live scenario's terms, the
    # calibration, faults, evidence...), so results agree with it.
    run = simulated_scenario(sc, detect_shift_s)
    outcome = CityEngine(run, generate_city(run), extensions=extensions_for(run)).run(days)
    res = results_from_sim(outcome, source, run_info(started, time.perf_counter() - t0), sc)
    return as_run(res, run, detect_shift_s)


def as_run(res: Results, run: Scenario, shift: float, live: str = "") -> Results:
    """Say in the results that they simulate a live run's timing, not the plan's."""
    if shift:
        res.events.insert(
            0,
            {
                "t_s": 0.0,
                "kind": "as_live_run",
                "detect_shift_s": shift,
                "reassign_s": run.failover.reassign_s,
                **({"live_run": live} if live else {}),
            },
        )
    return res
