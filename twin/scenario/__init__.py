"""The scenario schema, whole: what a scenario file may say, validated at the edge.

Every section is a frozen pydantic model; engines and tools never see raw dicts.

- :mod:`.model`: the scenario and its city, recording, recorders and simulation sections,
  targets, `load_scenario` / `parse_scenario` and the JSON Schema;
- :mod:`.faults`: the `faults:` and `failover:` sections;
- :mod:`.evidence`: the `evidence:` section (preservation and access requests);
- :mod:`.analytics`: the `analytics:` section (analysers, workloads, incidents, bursts);
- :mod:`.live`: the `live:` section (how the live twin runs a scenario on the wall clock);
- :mod:`.costs`: the `costs:` section (unit prices, assumptions);
- :mod:`.capacity`: daily curves, a pool's full-disk policy and drives (issue 15);
- :mod:`.numbers`: numbers are numbers (no `yes` where a count goes);
- :mod:`.loader`: bounded, strict YAML reading.

This package imports no engine (twin.sim, twin.live, SimPy, Ray) and no consumer
(twin.compare, twin.cli, twin.output.pages, twin.output.report): arrows point to it, never from it
(tests/test_import_graph.py checks it).
"""

from __future__ import annotations

from twin.scenario.load import load_scenario
from twin.scenario.model import (
    MAX_DAYS,
    BalancedAssignment,
    Bound,
    CameraProfile,
    City,
    District,
    RecorderPool,
    Recorders,
    Recording,
    RolloutStep,
    Scenario,
    Simulation,
    SiteKind,
    StaticAssignment,
    parse_scenario,
    scenario_json_schema,
)

__all__ = [
    "Scenario",
    "District",
    "RolloutStep",
    "City",
    "CameraProfile",
    "Recording",
    "RecorderPool",
    "Recorders",
    "BalancedAssignment",
    "StaticAssignment",
    "Simulation",
    "Bound",
    "SiteKind",
    "MAX_DAYS",
    "load_scenario",
    "parse_scenario",
    "scenario_json_schema",
]
