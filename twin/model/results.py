"""One results format for both engines: results.json plus CSV time series.

`Results` is the documented schema (docs/results.md; `twin schema --results` prints its JSON
Schema). Everything in it is deterministic for a scenario and seed, except the `run`
section, which records the run's own timing and host. Each engine translates its own run
into it: twin/sim/results.py and twin/output/live_run.py. This module imports no engine.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import platform
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_serializer

from twin import __version__
from twin.errors import InvalidRun
from twin.metrics import METRICS
from twin.scenario import Bound, Scenario

__all__ = [
    "CAMERA_FAULT_COLUMNS",
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
    "read_live_results",
    "refuse_invalid",
    "shared_source",
    "run_info",
    "validity_line",
    "validity_markdown",
]

#: camera_faults.csv of a live run folder: each camera's way back from each fault that cost it
#: footage (twin.live.measure.camera_fault_rows writes it, twin calibrate reads it).
CAMERA_FAULT_COLUMNS: tuple[str, ...] = (
    "fault_id",
    "fault_kind",
    "camera",
    "recorder_from",
    "recorder_to",
    "fault_s",
    "detected_s",
    "restored_s",
    "moved_s",
    "connected_s",
    "first_keyframe_s",
    "footage_end_s",
    "footage_lost_s",
    "recorded_again",
)

SCHEMA_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScenarioInfo(_Model):
    name: str
    description: str = ""
    source: str = Field(
        description="The scenario file, relative to where the command ran "
        "(never the machine's absolute path)."
    )
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
        default=None, description="The calibration file the simulator used (absent: none)."
    )
    failover_curve: dict[str, dict[str, Any]] | None = Field(
        default=None,
        description="The simulation's failover curve (reconnection per camera, relay recovery, "
        "the recorders' fragment): each term's `value` and `source` (the scenario, its "
        "calibration file or its live recorders' container); absent when every term is the "
        "scenario's default (twin.sim.simulated_scenario.failover_curve).",
    )
    validity: dict[str, Any] | None = Field(
        default=None,
        description="A live run's verdict on its own harness (twin.live.harness): "
        "`valid` false means the load generator, not the deployment, fell behind its plan, and "
        "the targets are not the deployment's PASS or FAIL. Absent for a simulation.",
    )
    sizing: dict[str, Any] | None = Field(
        default=None,
        description="A simulation of a scenario naming a calibration that measured CPU: the "
        "recorder processes and cores the city needs, extrapolated from the calibration "
        "(twin.model.sizing). Beside the metrics, not among them: it changes none. Absent "
        "otherwise.",
    )
    interrupted: str | None = Field(
        default=None,
        description="A live run cut short: why (`driver lost`: its `twin live` "
        "died and `twin live --recover` measured the time it had recorded). Absent otherwise.",
    )
    run: RunInfo

    @model_serializer(mode="wrap")
    def _omit_no_calibration(self, handler: Any) -> Any:
        # Runs without a calibration (or a validity verdict: every simulation; or a sizing:
        # every live run) write results.json as before the fields existed.
        out = handler(self)
        for key in ("calibration", "failover_curve", "validity", "sizing", "interrupted"):
            if out.get(key) is None:
                out.pop(key, None)
        return out

    @property
    def invalid(self) -> bool:
        """A live run whose harness did not keep its plan (its targets are not judged)."""
        return self.validity is not None and not self.validity.get("valid", True)


def judge(metrics: dict[str, float], targets: dict[str, Bound]) -> list[TargetVerdict]:
    """Each target with its measured value and PASS/FAIL (a metric not measured fails)."""
    out = []
    for name in sorted(targets):
        b = targets[name]
        v = metrics.get(name)
        ok = v is not None and (b.min is None or v >= b.min) and (b.max is None or v <= b.max)
        out.append(
            TargetVerdict(
                metric=name, unit=METRICS[name].unit, min=b.min, max=b.max, value=v, passed=bool(ok)
            )
        )
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
        name=sc.name,
        description=sc.description.strip(),
        source=shared_source(source),
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


def read_live_results(
    path: str | Path, accept_invalid: bool = False, use: str = "this command"
) -> Results:
    """The results of a `twin live --out` folder (or its results.json); ValueError, naming
    the file and what was expected, for a missing file, another format or a simulation;
    InvalidRun (exit 4) for a run whose harness did not keep its plan, unless
    `accept_invalid` (`use` says what the run was wanted for)."""
    p = Path(path)
    f = p / "results.json" if p.is_dir() else p
    if not f.is_file():
        raise ValueError(f"{p}: no results.json; expected a `twin live --out` folder")
    try:
        res = read_results(f)
    except ValueError as err:
        raise ValueError(f"{f}: not a cctv-twin results.json ({err})") from None
    if res.engine != "live":
        raise ValueError(
            f"{f}: engine {res.engine!r}; expected a live run (`twin live SCENARIO --out DIR`)"
        )
    if not accept_invalid:
        refuse_invalid(res, f, use)
    return res


def refuse_invalid(res: Results, where: str | Path, use: str) -> None:
    """InvalidRun (exit 4) naming the run, what fell behind and the fix, if the run's harness
    did not keep its plan; nothing for a valid run or a simulation."""
    if not res.invalid:
        return

    assert res.validity is not None
    raise InvalidRun(
        f"{where}: the live run of {res.scenario.name} is not valid: {validity_line(res.validity)}"
        f" Its figures are the harness's, not the deployment's, so {use} refuses it; expected a "
        f"valid run: run it again on a quieter machine or with fewer cameras per node, or pass "
        f"--accept-invalid to use it anyway"
    )


def run_info(started_at: str, wall_s: float) -> RunInfo:

    return RunInfo(
        started_at=started_at,
        wall_s=round(wall_s, 3),
        twin_version=__version__,
        python=platform.python_version(),
        host_cpus=os.cpu_count() or 1,
    )


def validity_line(v: dict[str, Any]) -> str:
    """One line for the terminal and the report's first screen."""
    if v["valid"]:
        m = v["machine"]
        return (
            f"VALID run: the harness kept its plan (every check within its bound; machine "
            f"{m['cpu_busy_pct_max']:.0f} % busy at the worst)"
        )
    failed = [c for c in v["checks"] if not c["passed"]]
    what = "; ".join(
        f"{c['check']} {c['value']:g} (bound {c['bound']})"
        + (
            f" on {', '.join(c['concerns'][:3])}"
            + (f" and {c['concerns_count'] - 3} more" if c["concerns_count"] > 3 else "")
            if c.get("concerns")
            else ""
        )
        for c in failed
    )
    return (
        f"INVALID run: the harness did not keep its plan ({v['first_behind']} fell behind "
        f"first): {what}. Targets are shown, not judged. What to do: {v.get('advice', '')}"
    )


def validity_markdown(v: dict[str, Any]) -> list[str]:
    """The verdict as the first lines of report.md."""
    m = v.get("machine", {})
    lines = [
        f"**{validity_line(v)}**",
        "",
        "| check | part | measured | bound | verdict | concerns |",
        "| --- | --- | ---: | --- | --- | --- |",
    ]
    for c in v["checks"]:
        names = ", ".join(c.get("concerns", [])[:5])
        more = c.get("concerns_count", 0) - 5
        lines.append(
            f"| `{c['check']}` {c['what']} | {c['part']} | {c['value']:g} | "
            f"{c['bound']} | {'ok' if c['passed'] else '**BEHIND**'} | "
            f"{names}{f' and {more} more' if more > 0 else ''} |"
        )
    lines += [
        "",
        f"Machine: {m.get('cpus')} cores, {m.get('cpu_busy_pct_max')} % busy at the "
        f"worst (mean {m.get('cpu_busy_pct_mean')} %), steal {m.get('cpu_steal_pct_max')} "
        f"%, load {m.get('load1_max')}.",
    ]
    return lines
