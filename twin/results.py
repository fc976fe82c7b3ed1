"""One results format for both engines: results.json plus CSV time series.

`Results` is the documented schema (docs/results.md; `twin schema --results` prints its JSON
Schema). Everything in it is deterministic for a scenario and seed, except the `run`
section, which records the run's own timing and host. Each engine translates its own run
into it: twin/sim/results.py and twin/live/results.py. This module imports no engine.
"""

from __future__ import annotations

import csv
import hashlib
import json
import platform
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_serializer

from twin.metrics import METRICS
from twin.scenario import Bound, Scenario

__all__ = [
    "SCHEMA_VERSION",
    "ScenarioInfo",
    "CalibrationInfo",
    "TargetVerdict",
    "RunInfo",
    "Results",
    "judge",
    "scenario_info",
    "write_csv",
    "write_results",
    "read_results",
    "shared_source",
    "run_info",
]

SCHEMA_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScenarioInfo(_Model):
    name: str
    description: str = ""
    source: str = Field(description="The scenario file, relative to where the command ran "
                        "(never the machine's absolute path).")
    sha256: str = Field(description="SHA-256 of the scenario's canonical JSON.")
    seed: int


class TargetVerdict(_Model):
    metric: str
    unit: str
    min: float | None = None
    max: float | None = None
    value: float | None = Field(description="Measured value; null if the run did not measure it.")
    passed: bool


class RunInfo(_Model):
    """The run's own timing and host: the only fields that differ between identical runs."""

    started_at: str
    wall_s: float
    twin_version: str
    python: str
    host_cpus: int


class CalibrationInfo(_Model):
    path: str = Field(description="The calibration file as the scenario names it (relative to it).")
    sha256: str = Field(description="SHA-256 of the file's bytes.")


class Results(_Model):
    schema_name: Literal["cctv-twin/results"] = "cctv-twin/results"
    schema_version: int = SCHEMA_VERSION
    engine: Literal["simulate", "live"]
    scenario: ScenarioInfo
    horizon_s: float = Field(description="Virtual (simulate) or wall (live) seconds covered.")
    metrics: dict[str, float] = Field(description="Scalar metrics; names in twin.metrics.METRICS.")
    targets: list[TargetVerdict]
    passed: bool = Field(description="True when every target passed.")
    per_district: list[dict[str, Any]] = Field(default_factory=list)
    per_recorder: list[dict[str, Any]] = Field(default_factory=list)
    per_pool: list[dict[str, Any]] = Field(default_factory=list)
    events: list[dict[str, Any]] = Field(default_factory=list)
    files: dict[str, str] = Field(default_factory=dict, description="Other outputs, by role.")
    calibration: CalibrationInfo | None = Field(
        default=None, description="The calibration file the simulator used (absent: none).")
    run: RunInfo

    @model_serializer(mode="wrap")
    def _omit_no_calibration(self, handler: Any) -> Any:
        # Runs without a calibration write results.json as before the field existed.
        out = handler(self)
        if out.get("calibration") is None:
            out.pop("calibration", None)
        return out


def judge(metrics: dict[str, float], targets: dict[str, Bound]) -> list[TargetVerdict]:
    """Each target with its measured value and PASS/FAIL (a metric not measured fails)."""
    out = []
    for name in sorted(targets):
        b = targets[name]
        v = metrics.get(name)
        ok = v is not None and (b.min is None or v >= b.min) and (b.max is None or v <= b.max)
        out.append(TargetVerdict(metric=name, unit=METRICS[name].unit, min=b.min, max=b.max,
                                 value=v, passed=bool(ok)))
    return out


def shared_source(source: str | Path) -> str:
    """A file as named in anything meant to be shared (results, reports): no machine path.

    A relative name is kept as given; an absolute one inside the working directory becomes
    relative to it (`scenarios/city-7000.yaml`), and one outside it is named by the file
    alone (its content is pinned by the scenario's SHA-256 anyway). A `#variant` suffix (a
    sweep point) is kept.
    """
    text = str(source)
    path, sep, tail = text.partition("#")
    p = Path(path)
    if p.is_absolute():
        try:
            p = p.relative_to(Path.cwd())
        except ValueError:
            p = Path(p.name)
    return p.as_posix() + sep + tail


def scenario_info(sc: Scenario, source: str) -> ScenarioInfo:
    return ScenarioInfo(
        name=sc.name, description=sc.description.strip(), source=shared_source(source),
        seed=sc.seed,
        sha256=hashlib.sha256(sc.canonical_json().encode()).hexdigest(),
    )


def _cell(x: Any) -> Any:
    """Integers as integers, floats as the shortest text that reads back to the same float."""
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return repr(float(x))
    return x


def write_csv(path: Path, header: list[str], rows: list[list[Any]] | np.ndarray) -> None:
    """A CSV file; numbers keep every digit, so metrics can be recomputed from it."""
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow([_cell(x) for x in row])


def write_results(res: Results, out: Path) -> Path:
    path = out / "results.json"
    path.write_text(json.dumps(res.model_dump(mode="json"), indent=2, sort_keys=True) + "\n")
    return path


def read_results(path: str | Path) -> Results:
    return Results.model_validate_json(Path(path).read_text())


def read_live_results(path: str | Path) -> Results:
    """The results of a `twin live --out` folder (or its results.json); ValueError, naming
    the file and what was expected, for a missing file, another format or a simulation."""
    p = Path(path)
    f = p / "results.json" if p.is_dir() else p
    if not f.is_file():
        raise ValueError(f"{p}: no results.json; expected a `twin live --out` folder")
    try:
        res = read_results(f)
    except ValueError as err:
        raise ValueError(f"{f}: not a cctv-twin results.json ({err})") from None
    if res.engine != "live":
        raise ValueError(f"{f}: engine {res.engine!r}; expected a live run (`twin live "
                         "SCENARIO --out DIR`)")
    return res


def run_info(started_at: str, wall_s: float) -> RunInfo:
    import os

    from twin import __version__

    return RunInfo(started_at=started_at, wall_s=round(wall_s, 3), twin_version=__version__,
                   python=platform.python_version(), host_cpus=os.cpu_count() or 1)
