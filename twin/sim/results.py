"""A simulated run into the results format: results.json's metrics and tables, and the CSVs.

The engine-neutral schema is twin/model/results.py; this is the simulator's side of it, as
twin/output/live_run.py is the live twin's. Plots of a run are in twin/output/sim_plots.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from twin.model.city import SITE_KINDS
from twin.model.provisioning import deployment_metrics
from twin.model.results import CalibrationInfo, Results, RunInfo, judge, scenario_info, write_csv
from twin.model.sizing import city_needs
from twin.scenario import Scenario
from twin.sim.capacity import recorder_columns
from twin.sim.engine import DROP_REASONS, DROPPING, OFFLINE, SERIES_COUNTS, SimOutcome
from twin.sim.simulated_scenario import failover_curve_record

__all__ = ["sim_metrics", "results_from_sim", "write_sim_tables"]


def _r(x: float, nd: int = 6) -> float:
    """Round for output: stable across BLAS/summation-order noise, plenty for capacity work."""
    return float(round(float(x), nd))


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
        "storage_model_tb": (
            eff_online if city.curves is None else city.cam_mean_effective_mbps[online].sum()
        )
        * 1e6
        / 8
        * sc.recording.retention_s
        / 1e12,
        "disk_total_tb": disk.sum() / 1e12,
        "storage_headroom_pct": 100 * (1 - o.total_peak_bytes / disk.sum()),
        "storage_headroom_pct_min": float(100 * (1 - o.rec_peak_bytes / disk).min()),
        "recorder_ingest_util_pct_max": float(
            100 * (o.rec_load_mbps_max / city.rec_ingest_mbps).max()
        ),
        "recorder_streams_util_pct_max": float(
            100 * (o.rec_streams_max / city.rec_max_streams).max()
        ),
        "backhaul_util_pct_max": float(100 * (o.backhaul_mbps / city.district_backhaul_mbps).max()),
        "cameras_unplaced": float(
            ((o.cam_state == DROPPING) & (o.cam_reason == DROP_REASONS.index("unplaced"))).sum()
        ),
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


def results_from_sim(
    o: SimOutcome, source: str, run: RunInfo, scenario: Scenario | None = None
) -> Results:
    """Results of a simulated run; `scenario` is the file's scenario when the engine ran its
    simulated form (twin.sim.simulated_scenario: a live scenario's terms), so both engines' results
    name the same scenario and hash."""
    city, sc = o.city, o.scenario
    named = scenario or sc
    metrics = sim_metrics(o)
    verdicts = judge(metrics, named.targets)
    online = o.cam_state != OFFLINE
    per_district = []
    for d, name in enumerate(city.district_names):
        cams = online & (city.cam_district == d)
        per_district.append(
            {
                "district": name,
                "sets": int(np.unique(city.cam_set[cams]).size),
                "cameras": int(cams.sum()),
                "ingest_mbps": _r(city.cam_mbps[cams].sum()),
                "backhaul_mbps": _r(city.district_backhaul_mbps[d]),
                "backhaul_util_pct": _r(100 * o.backhaul_mbps[d] / city.district_backhaul_mbps[d]),
                "segments_dropped": int(o.dropped[:, city.cam_district == d].sum()),
                "storage_model_tb": _r(
                    city.cam_mean_effective_mbps[cams].sum()
                    * 1e6
                    / 8
                    * sc.recording.retention_s
                    / 1e12
                ),
            }
        )
    if o.faults is not None:  # footage lost, gaps and failover, per district
        for row, extra in zip(per_district, o.faults.per_district(o)):
            row.update(extra)
    per_recorder = []
    for r, name in enumerate(city.rec_names):
        mine = o.cam_recorder == r
        per_recorder.append(
            {
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
            }
        )
    for row, extra in zip(per_recorder, recorder_columns(o)):  # drives, achieved retention
        row.update(extra)
    ledger = next((x for x in o.extensions if x.name == "footage"), None)
    if ledger is not None:  # a live scenario: footage per recorder as the live run counts it
        for row, extra in zip(per_recorder, ledger.per_recorder()):  # type: ignore[attr-defined]
            row.update(extra)
    per_pool = []
    for p, name in enumerate(city.pool_names):
        recs = city.rec_pool == p
        per_pool.append(
            {
                "pool": name,
                "recorders": int(recs.sum()),
                "disk_tb": _r(city.rec_disk_bytes[recs].sum() / 1e12),
                "peak_used_tb": _r(o.rec_peak_bytes[recs].sum() / 1e12),
                "ingest_mbps": _r(o.rec_load_mbps_end[recs].sum()),
            }
        )
    cal = named.loaded_calibration
    res = Results(
        engine="simulate",
        scenario=scenario_info(named, source),
        calibration=None if cal is None else CalibrationInfo(path=cal.path, sha256=cal.sha256),
        failover_curve=failover_curve_record(named),
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
    if cal is not None:  # the cores and processes the city needs, beside the metrics
        res.sizing = city_needs(res, cal.calibration, cal.path)
    return res


def write_sim_tables(o: SimOutcome, out: Path) -> dict[str, str]:
    """CSV time series and per-camera table beside results.json; returns their names.

    Every time-series row says why it was taken (`sample`: periodic, before_sweep,
    after_sweep, before_disk_loss, after_disk_loss, end); see docs/results.md.
    """
    cols = list(o.series)
    kinds = o.series_kind or ["periodic"] * len(o.series["t_s"])
    columns = [
        o.series[c].astype(np.int64).tolist() if c in SERIES_COUNTS else o.series[c].tolist()
        for c in cols
    ]
    write_csv(
        out / "timeseries.csv",
        ["t_s", "sample", *cols[1:]],
        [[row[0], k, *row[1:]] for k, row in zip(kinds, zip(*columns))],
    )
    city = o.city
    t = o.series["t_s"].tolist()
    write_csv(
        out / "recorder_stored_bytes.csv",
        ["t_s", "sample", *city.rec_names],
        [[ti, k, *row] for ti, k, row in zip(t, kinds, o.rec_series_bytes.tolist())],
    )
    write_csv(
        out / "recorder_ingest_mbps.csv",
        ["t_s", "sample", *city.rec_names],
        [[ti, k, *row] for ti, k, row in zip(t, kinds, o.rec_series_load.tolist())],
    )
    state_names = ("offline", "recording", "dropping")
    on_line_s = np.where(o.cam_state != OFFLINE, o.end_s - city.cam_online_s, 0.0)
    written = o.cam_written if o.cam_written.size else np.zeros(city.n_cameras, dtype=np.int64)
    # A crashed recorder's partial segments (recording.fragment_s): columns of their own, so
    # segments_written + dropped stays the camera's slots on line.
    partials = o.scenario.recording.fragment_s is not None and o.cam_partials.size > 0
    cam_rows = []
    for c in range(city.n_cameras):
        r = int(o.cam_recorder[c])
        reason = int(o.cam_reason[c]) if o.cam_reason.size else -1
        cam_rows.append(
            [
                city.camera_name(c),
                city.district_names[int(city.cam_district[c])],
                SITE_KINDS[int(city.set_site_kind[city.cam_set[c]])],
                o.scenario.camera_profiles[int(city.cam_profile[c])].name,
                round(float(city.cam_mbps[c]), 4),
                city.rec_names[r] if r >= 0 else "",
                state_names[int(o.cam_state[c])],
                DROP_REASONS[reason] if o.cam_state[c] == DROPPING and reason >= 0 else "",
                float(on_line_s[c]),
                int(written[c]),
                *[int(x) for x in o.dropped[:, c]],
                *([int(o.cam_partials[c]), float(o.cam_kept_s[c])] if partials else []),
            ]
        )
    write_csv(
        out / "cameras.csv",
        [
            "camera",
            "district",
            "site_kind",
            "profile",
            "mbps",
            "recorder",
            "state",
            "reason",
            "on_line_s",
            "segments_written",
            *[f"dropped_{r}" for r in DROP_REASONS],
            *(["partial_segments", "partial_s"] if partials else []),
        ],
        cam_rows,
    )
    files = {
        "timeseries": "timeseries.csv",
        "recorder_stored_bytes": "recorder_stored_bytes.csv",
        "recorder_ingest_mbps": "recorder_ingest_mbps.csv",
        "cameras": "cameras.csv",
    }
    if o.faults is not None:  # per-camera gaps, unrecorded cameras over time, incidents
        files.update(o.faults.tables(o, out))
    return files
