"""Getting Results for a variant: a scenario simulated, or a run already made.

`resolve_input` turns a command-line argument (scenario file, run folder or results.json)
into Results; a scenario is run by the simulator's pipeline (twin.sim.run), the one every
comparing tool uses, locally or as a Ray task.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from twin.errors import ScenarioError
from twin.results import Results, read_results

__all__ = ["resolve_input", "is_scenario_file"]

SCENARIO_SUFFIXES = (".yaml", ".yml")


def is_scenario_file(path: Path) -> bool:
    return path.suffix.lower() in SCENARIO_SUFFIXES


def resolve_input(arg: str | Path, out: Path, days: float | None = None,
                  quiet: bool = True, sets: Sequence[str] = ()) -> Results:
    """A scenario file is simulated into `out/<stem>` (results, report, plots), each
    `--set PATH=VALUE` of `sets` applied; a run folder or a results.json is read as it is."""
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
    from twin.sim.run import simulate_to

    return simulate_to(p, out / p.stem, days, quiet=quiet, sets=sets)
