"""Getting Results for a variant: a scenario simulated, or a run already made.

What a variant argument is: a scenario file (simulated into a run folder by the command
line, twin.cli.runs.resolve_input) or a run folder / results.json read as it is.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["is_scenario_file"]

SCENARIO_SUFFIXES = (".yaml", ".yml")


def is_scenario_file(path: Path) -> bool:
    return path.suffix.lower() in SCENARIO_SUFFIXES
