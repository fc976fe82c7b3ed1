"""One results format for both engines: results.json plus CSV time series.

`Results` is the documented schema (docs/results.md; `twin schema --results` prints its JSON
Schema). Everything in it is deterministic for a scenario and seed, except the `run`
section, which records the run's own timing and host.
"""

from __future__ import annotations

import csv
import hashlib
import json
import platform
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from twin.city import SITE_KINDS
from twin.compare.deployment import deployment_metrics
from twin.metrics import METRICS
from twin.scenario import Bound, Scenario
from twin.sim.engine import DROP_REASONS, DROPPING, OFFLINE, SERIES_COUNTS, SimOutcome

__all__ = [
    "SCHEMA_VERSION",
    "ScenarioInfo",
    "TargetVerdict",
    "RunInfo",
    "Results",
    "judge",
    "results_from_sim",
    "write_results",
    "read_results",
    "shared_source",
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
    run: RunInfo


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


def _r(x: float, nd: int = 6) -> float:
    """Round for output: stable across BLAS/summation-order noise, plenty for capacity work."""
    return float(round(float(x), nd))


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


def sim_metrics(o: SimOutcome) -> dict[str, float]:
    """The scalar metrics of a simulated run."""
    city, sc = o.city, o.scenario
    online = o.cam_state != OFFLINE
    disk = city.rec_disk_bytes
    eff_online = city.cam_effective_mbps[online].sum()
    dropped = o.dropped.sum(axis=1)
    m: dict[str, float] = {
        "sets": float(np.unique(city.cam_set[online]).size),
        "cameras": float(online.sum()),
        "recorders": float(city.n_recorders),
        "ingest_total_mbps": float(o.rec_load_mbps_end.sum()),
        "storage_needed_tb": o.total_peak_bytes / 1e12,
        "storage_model_tb": eff_online * 1e6 / 8 * sc.recording.retention_s / 1e12,
        "disk_total_tb": disk.sum() / 1e12,
        "storage_headroom_pct": 100 * (1 - o.total_peak_bytes / disk.sum()),
        "storage_headroom_pct_min": float(100 * (1 - o.rec_peak_bytes / disk).min()),
        "recorder_ingest_util_pct_max": float(100 * (o.rec_load_mbps_max / city.rec_ingest_mbps).max()),
        "recorder_streams_util_pct_max": float(100 * (o.rec_streams_max / city.rec_max_streams).max()),
        "backhaul_util_pct_max": float(100 * (o.backhaul_mbps / city.district_backhaul_mbps).max()),
        "cameras_unplaced": float(((o.cam_state == DROPPING)
                                   & (o.cam_reason == DROP_REASONS.index("unplaced"))).sum()),
        "segments_written": float(o.written_segments),
        "segments_deleted": float(o.deleted_segments),
        "segments_dropped": float(dropped.sum()),
        "segments_overdue_max": float(o.overdue_max),
        "retention_max_age_days": o.max_age_s / 86_400,
    }
    for i, reason in enumerate(DROP_REASONS):
        m[f"segments_dropped_{reason}"] = float(dropped[i])
    m.update(o.extra_metrics)
    m.update(deployment_metrics(sc, city))
    return {k: _r(v) for k, v in sorted(m.items())}


def results_from_sim(o: SimOutcome, source: str, run: RunInfo) -> Results:
    city, sc = o.city, o.scenario
    metrics = sim_metrics(o)
    verdicts = judge(metrics, sc.targets)
    online = o.cam_state != OFFLINE
    per_district = []
    for d, name in enumerate(city.district_names):
        cams = online & (city.cam_district == d)
        per_district.append({
            "district": name,
            "sets": int(np.unique(city.cam_set[cams]).size),
            "cameras": int(cams.sum()),
            "ingest_mbps": _r(city.cam_mbps[cams].sum()),
            "backhaul_mbps": _r(city.district_backhaul_mbps[d]),
            "backhaul_util_pct": _r(100 * o.backhaul_mbps[d] / city.district_backhaul_mbps[d]),
            "segments_dropped": int(o.dropped[:, city.cam_district == d].sum()),
            "storage_model_tb": _r(city.cam_effective_mbps[cams].sum() * 1e6 / 8
                                   * sc.recording.retention_s / 1e12),
        })
    if o.faults is not None:  # footage lost, gaps and failover, per district
        for row, extra in zip(per_district, o.faults.per_district(o)):
            row.update(extra)
    per_recorder = []
    for r, name in enumerate(city.rec_names):
        mine = o.cam_recorder == r
        per_recorder.append({
            "recorder": name,
            "pool": city.pool_names[int(city.rec_pool[r])],
            "cameras": int((mine & online).sum()),
            "ingest_mbps": _r(o.rec_load_mbps_end[r]),
            "ingest_limit_mbps": _r(city.rec_ingest_mbps[r]),
            "ingest_util_pct_max": _r(100 * o.rec_load_mbps_max[r] / city.rec_ingest_mbps[r]),
            "streams_max": int(o.rec_streams_max[r]),
            "stream_limit": int(city.rec_max_streams[r]),
            "disk_tb": _r(city.rec_disk_bytes[r] / 1e12),
            "peak_used_tb": _r(o.rec_peak_bytes[r] / 1e12),
            "peak_disk_util_pct": _r(100 * o.rec_peak_bytes[r] / city.rec_disk_bytes[r]),
            "segments_dropped": int(o.dropped[:, mine].sum()),
        })
    per_pool = []
    for p, name in enumerate(city.pool_names):
        recs = city.rec_pool == p
        per_pool.append({
            "pool": name,
            "recorders": int(recs.sum()),
            "disk_tb": _r(city.rec_disk_bytes[recs].sum() / 1e12),
            "peak_used_tb": _r(o.rec_peak_bytes[recs].sum() / 1e12),
            "ingest_mbps": _r(o.rec_load_mbps_end[recs].sum()),
        })
    return Results(
        engine="simulate",
        scenario=scenario_info(sc, source),
        horizon_s=o.end_s,
        metrics=metrics,
        targets=verdicts,
        passed=all(v.passed for v in verdicts),
        per_district=per_district,
        per_recorder=per_recorder,
        per_pool=per_pool,
        events=o.events,
        run=run,
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


def write_sim_tables(o: SimOutcome, out: Path) -> dict[str, str]:
    """CSV time series and per-camera table beside results.json; returns their names.

    Every time-series row says why it was taken (`sample`: periodic, before_sweep,
    after_sweep, before_disk_loss, after_disk_loss, end); see docs/results.md.
    """
    cols = list(o.series)
    kinds = o.series_kind or ["periodic"] * len(o.series["t_s"])
    columns = [o.series[c].astype(np.int64).tolist() if c in SERIES_COUNTS else o.series[c].tolist()
               for c in cols]
    write_csv(out / "timeseries.csv", ["t_s", "sample", *cols[1:]],
              [[row[0], k, *row[1:]] for k, row in zip(kinds, zip(*columns))])
    city = o.city
    t = o.series["t_s"].tolist()
    write_csv(out / "recorder_stored_bytes.csv", ["t_s", "sample", *city.rec_names],
              [[ti, k, *row] for ti, k, row in zip(t, kinds, o.rec_series_bytes.tolist())])
    write_csv(out / "recorder_ingest_mbps.csv", ["t_s", "sample", *city.rec_names],
              [[ti, k, *row] for ti, k, row in zip(t, kinds, o.rec_series_load.tolist())])
    state_names = ("offline", "recording", "dropping")
    on_line_s = np.where(o.cam_state != OFFLINE, o.end_s - city.cam_online_s, 0.0)
    written = o.cam_written if o.cam_written.size else np.zeros(city.n_cameras, dtype=np.int64)
    cam_rows = []
    for c in range(city.n_cameras):
        r = int(o.cam_recorder[c])
        reason = int(o.cam_reason[c]) if o.cam_reason.size else -1
        cam_rows.append([
            city.camera_name(c), city.district_names[int(city.cam_district[c])],
            SITE_KINDS[int(city.set_site_kind[city.cam_set[c]])],
            o.scenario.camera_profiles[int(city.cam_profile[c])].name,
            round(float(city.cam_mbps[c]), 4), city.rec_names[r] if r >= 0 else "",
            state_names[int(o.cam_state[c])],
            DROP_REASONS[reason] if o.cam_state[c] == DROPPING and reason >= 0 else "",
            float(on_line_s[c]), int(written[c]), *[int(x) for x in o.dropped[:, c]],
        ])
    write_csv(out / "cameras.csv",
              ["camera", "district", "site_kind", "profile", "mbps", "recorder", "state",
               "reason", "on_line_s", "segments_written",
               *[f"dropped_{r}" for r in DROP_REASONS]], cam_rows)
    files = {"timeseries": "timeseries.csv", "recorder_stored_bytes": "recorder_stored_bytes.csv",
             "recorder_ingest_mbps": "recorder_ingest_mbps.csv", "cameras": "cameras.csv"}
    if o.faults is not None:  # per-camera gaps, unrecorded cameras over time, incidents
        files.update(o.faults.tables(o, out))
    return files


def write_results(res: Results, out: Path) -> Path:
    path = out / "results.json"
    path.write_text(json.dumps(res.model_dump(mode="json"), indent=2, sort_keys=True) + "\n")
    return path


def read_results(path: str | Path) -> Results:
    return Results.model_validate_json(Path(path).read_text())


def run_info(started_at: str, wall_s: float) -> RunInfo:
    import os

    from twin import __version__

    return RunInfo(started_at=started_at, wall_s=round(wall_s, 3), twin_version=__version__,
                   python=platform.python_version(), host_cpus=os.cpu_count() or 1)
