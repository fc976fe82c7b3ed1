"""Loading a scenario file: read, merged with its bases, `--set` applied, validated, and
checked to fit in memory (twin.scenario.memory, which reads the validated Scenario: so this
sits above both the schema and the estimate, and neither imports the other's caller)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from twin.scenario.memory import check_fits
from twin.scenario.model import Scenario, parse_scenario, scenario_data

__all__ = ["load_scenario"]


def load_scenario(
    path: str | Path, check_memory: bool = True, sets: Sequence[str] = ()
) -> Scenario:
    """Read a YAML scenario file (bounded, strict safe loading: twin/scenario/loader.py), its
    chain of bases merged in when it names one (`base:`, twin/scenario/overlay.py), each
    `--set PATH=VALUE` of `sets` applied, and validate it; with `check_memory`, also refuse a
    city that would not fit in memory."""
    data, source = scenario_data(path, sets)
    sc = parse_scenario(data, source, Path(path).parent)
    if check_memory:
        check_fits(sc, str(path))
    return sc
