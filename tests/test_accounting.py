"""Accounting a reader can trust: drop reasons, per-camera conservation, peaks in the time
series, and every metric recomputed from the CSV files beside results.json."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import fault_specs, scenario
from twin.cli.runs import simulate_to
from twin.model.city import generate_city
from twin.model.results import read_results
from twin.scenario import Scenario, load_scenario
from twin.sim.engine import DROP_REASONS, OFFLINE, CityEngine
from twin.sim.extensions import extensions_for
from twin.sim.results import sim_metrics

ROOT = Path(__file__).resolve().parent.parent
DOWN, UNASSIGNED = (
    DROP_REASONS.index("recorder_down"),
    DROP_REASONS.index("unassigned_after_failover"),
)
HB = {"heartbeat": {"interval_s": 5, "missed_beats": 3}, "reassign_s": 30}


def trial_15_crash(at_s: float, standby: str = "none") -> Scenario:
    """The Mong Kok trial (one recorder) with that recorder crashed for 4 hours."""
    data = load_scenario(ROOT / "scenarios/trial-15.yaml").model_dump(mode="json")
    data["faults"] = [
        {
            "type": "recorder_crash",
            "recorder": "yau-tsim-mong-r01",
            "at_s": at_s,
            "duration_s": 4 * 3600,
        }
    ]
    data["failover"] = {**HB, "standby": {"type": standby}}
    return Scenario.model_validate(data)


@pytest.mark.parametrize(
    "at_s, slots",
    [
        (172_800.0, 240),  # on a segment boundary: 14,400 s unrecorded, 240 slots
        (172_830.0, 241),  # 30 s into a segment: footage ends at 172,800, 14,430 s = 240.5 -> 241
    ],
)
def test_a_recorder_down_with_no_standby_is_recorder_down_for_the_whole_outage(at_s, slots):
    sc = trial_15_crash(at_s)
    e = CityEngine(sc, generate_city(sc), extensions=extensions_for(sc))
    o = e.run()
    n = o.city.n_cameras
    assert n == 35
    # No failover could run: every segment of the outage is `recorder_down`, none unassigned.
    assert o.dropped[DOWN].tolist() == [slots] * n
    assert o.dropped[UNASSIGNED].sum() == 0 and o.dropped.sum() == slots * n
    m = sim_metrics(o)
    assert m["segments_dropped_recorder_down"] == slots * n
    assert m["segments_dropped_unassigned_after_failover"] == 0
    assert m["cameras_unassigned_after_failover"] == 0
    # The cameras record again the moment their recorder restarts (it reconnects its own
    # cameras), not reassign_s later.
    restart = at_s + 4 * 3600
    assert o.gap_max_s.tolist() == [restart - 172_800.0] * n
    assert m["recovery_s_max"] == 4 * 3600
    kinds = [ev["kind"] for ev in o.events]
    assert "failover" not in kinds
    ev = next(ev for ev in o.events if ev["kind"] == "no_failover")
    assert (ev["recorder"], ev["cameras_waiting"], ev["standby"]) == (
        "yau-tsim-mong-r01",
        35,
        "none",
    )
    # Conservation, per camera: 35 days of 60 s segments are 50,400 slots.
    assert (o.cam_written + o.dropped.sum(axis=0)).tolist() == [50_400] * n
    assert o.cam_written.tolist() == [50_400 - slots] * n
    assert int(o.cam_written.sum()) == o.written_segments


def test_a_failover_that_finds_no_room_is_unassigned_after_failover_from_the_moment_it_ran():
    # Spread over no other recorder: the failover runs 45 s after the crash and finds no room.
    sc = trial_15_crash(172_800.0, standby="spread")
    o = CityEngine(sc, generate_city(sc), extensions=extensions_for(sc)).run()
    n = o.city.n_cameras
    # 45 s down before the failover ran (1 slot); then without a recorder until it is back
    # and takes them home reassign_s after its first beat: 14,430 s in all, 241 slots.
    assert o.dropped[DOWN].tolist() == [1] * n
    assert o.dropped[UNASSIGNED].tolist() == [240] * n
    assert sim_metrics(o)["cameras_unassigned_after_failover"] == n
    assert (o.cam_written + o.dropped.sum(axis=0)).tolist() == [50_400] * n


FAULT_KINDS = [
    "recorder_crash",
    "disk_failure",
    "relay_down",
    "district_power",
    "backhaul_cut",
    "set_power",
    "disk_fill",
]
ON_OR_OFF = st.one_of(st.integers(0, 400).map(lambda k: 60.0 * k), st.floats(0, 25_000))
LENGTH = st.one_of(st.integers(1, 200).map(lambda k: 60.0 * k), st.floats(1, 12_000))


@settings(max_examples=40, deadline=None)
@given(
    n_rec=st.integers(2, 4),
    streams=st.integers(30, 90),
    policy=st.sampled_from(["spread", "n_plus_1", "none", "dual"]),
    faults=st.lists(
        st.tuples(st.sampled_from(FAULT_KINDS), st.integers(0, 4), ON_OR_OFF, LENGTH),
        min_size=1,
        max_size=5,
    ),
    fragment=st.sampled_from([None, 0.2, 7.3]),
    per_camera=st.sampled_from([0.0, 0.5, 2.0]),
    relay_recovery=st.sampled_from([0.0, 45.0]),
)
def test_written_plus_dropped_is_every_segment_slot_of_every_camera_whatever_the_fault_times(
    n_rec, streams, policy, faults, fragment, per_camera, relay_recovery
):
    spec = fault_specs(faults, n_rec)
    standby = {"type": policy} if policy != "dual" else {"type": "dual", "districts": ["Wan Chai"]}
    sc = scenario(
        **{
            "simulation.days": 0.3,
            "recording.retention_days": 0.1,
            "recorders.pools": [
                {
                    "name": "c",
                    "districts": "*",
                    "recorders": n_rec,
                    "ingest_mbps": 4.4 * streams,
                    "disk_tb": 400,
                    "max_streams": streams,
                }
            ],
        },
        faults=spec,
        failover={
            **HB,
            "standby": standby,
            "backhaul": {"backup_share": 0.0005},
            "reconnect_s_per_camera": per_camera,
            "relay": {"recovery_s": relay_recovery},
        },
        **({"recording.fragment_s": fragment} if fragment is not None else {}),
    )
    e = CityEngine(sc, generate_city(sc), extensions=extensions_for(sc))
    o = e.run()
    # Per stream (a dual camera's second copy too): whole segments written + dropped = slots
    # on line (a crashed recorder's partial segment is not a whole one: its slot is dropped).
    on = e.cam_state != OFFLINE
    on_s = np.where(on, o.end_s - e.city.cam_online_s, 0.0)
    slots = on_s / 60
    assert (slots == np.round(slots)).all()
    np.testing.assert_array_equal(e.cam_written + e.dropped.sum(axis=0), slots.astype(np.int64))
    # Per camera in the outcome (what results.json and cameras.csv report), and in all.
    np.testing.assert_array_equal(o.cam_written + o.dropped.sum(axis=0), slots[: o.city.n_cameras])
    # Segment files: the whole ones and the partials kept, each in the catalog until deleted.
    assert int(e.cam_written.sum() + e.cam_partials.sum()) == o.written_segments
    assert (
        o.written_segments == o.deleted_segments + o.stored_segments_end + e.catalog.lost_segments
    )
    assert (e.cam_partials == 0).all() if fragment is None else True
    # Seconds, per stream: whole segments + partials kept + unrecorded + the segment still
    # being written at the end = the time on line.
    run_at_end = e.run_rec >= 0
    tail = np.where(run_at_end, (o.end_s - e.run_start) % 60, 0.0)
    tail[np.isclose(tail, 60)] = 0.0
    np.testing.assert_allclose(
        60 * e.cam_written + e.kept_s + e.lost_s + tail, on_s, rtol=0, atol=1e-6
    )
    # The disks hold what the catalog holds (partials' bytes too).
    np.testing.assert_allclose(e.rec_used, o.stored_bytes_end, rtol=1e-9, atol=1)
    # The time series ends at the end with the same totals.
    assert o.series_kind[-1] == "end" and o.series["t_s"][-1] == o.end_s
    assert o.series["written"][-1] == o.written_segments
    assert o.series["dropped"][-1] == o.dropped.sum()


# ------------------------------------------------------------------ metrics from the CSVs
def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def _write(sc: Scenario, path: Path) -> Path:
    path.write_text(yaml.safe_dump(sc.model_dump(mode="json"), sort_keys=False))
    return path


# Faults: a recorder lost with its disk, one crashed with too little room to spread its
# cameras, a relay lost off a segment boundary; retention short enough to delete.
FAULTS_CASE: dict[str, Any] = dict(
    overrides={
        "simulation.days": 2,
        "recording.retention_days": 0.5,
        "recorders.pools": [
            {
                "name": "c",
                "districts": "*",
                "recorders": 3,
                "ingest_mbps": 1000,
                "disk_tb": 400,
                "max_streams": 60,
            }
        ],
    },
    faults=[
        {"type": "disk_failure", "recorder": "c-r02", "at_s": 50_000, "duration_s": 3_000},
        {"type": "recorder_crash", "recorder": "c-r01", "at_s": 90_017, "duration_s": 7_200},
        {"type": "relay_down", "relay": "Wan Chai", "at_s": 120_031.5, "duration_s": 900},
    ],
    failover={**HB, "standby": {"type": "spread"}},
)

CSV_CASES = {
    "faults": FAULTS_CASE,
    # The same faults with the failover curve: crashed recorders keep their segments under way
    # up to the last 0.2 s fragment, moved cameras reconnect one after another, the relay
    # serves again a minute after its outage.
    "fragments": dict(
        overrides={**FAULTS_CASE["overrides"], "recording.fragment_s": 0.2},
        faults=FAULTS_CASE["faults"],
        failover={
            **HB,
            "standby": {"type": "spread"},
            "reconnect_s_per_camera": 0.5,
            "relay": {"recovery_s": 60},
        },
    ),
    # No faults: a roll-out step and disks too small, so the sweeps and disk_full show.
    "disk_full": dict(
        overrides={
            "simulation.days": 3,
            "recording.retention_days": 1.5,
            "simulation.start_date": "2024-03-31",
            "city.rollout": [{"month": "2024-04", "sets": {"Wan Chai": 10}}],
            "recorders.pools": [
                {
                    "name": "a",
                    "districts": ["Yau Tsim Mong"],
                    "recorders": 2,
                    "ingest_mbps": 1000,
                    "disk_tb": 2.5,
                    "max_streams": 200,
                },
                {
                    "name": "b",
                    "districts": ["Wan Chai"],
                    "recorders": 1,
                    "ingest_mbps": 1000,
                    "disk_tb": 400,
                    "max_streams": 200,
                },
            ],
        },
        faults=None,
        failover=None,
    ),
    # Samples once a day, sweeps every hour: the peak falls between samples.
    "coarse_samples": dict(
        overrides={
            "simulation.days": 2.5,
            "recording.retention_days": 1,
            "simulation.sample_s": 86_400,
        },
        faults=None,
        failover=None,
    ),
}


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_every_metric_a_reader_can_recompute_from_the_csv_files_matches_results_json(
    case, tmp_path
):
    spec = CSV_CASES[case]
    extra = {k: spec[k] for k in ("faults", "failover") if spec[k] is not None}
    sc = scenario(**spec["overrides"], **extra)
    res = simulate_to(_write(sc, tmp_path / "sc.yaml"), tmp_path / "out", quiet=True)
    m = read_results(tmp_path / "out" / "results.json").metrics
    assert m == res.metrics
    out = tmp_path / "out"
    city = generate_city(sc)

    def same(recomputed: float, metric: str) -> None:  # metrics are rounded to 6 decimals
        assert abs(round(recomputed, 6) - m[metric]) <= 1e-6, (metric, recomputed, m[metric])

    ts = _rows(out / "timeseries.csv")
    pools = [c for c in ts[0] if c.startswith("stored_bytes:")]
    last = ts[-1]
    assert last["sample"] == "end" and float(last["t_s"]) == res.horizon_s
    for col, metric in (
        ("written", "segments_written"),
        ("deleted", "segments_deleted"),
        ("dropped", "segments_dropped"),
        ("cameras_online", "cameras"),
    ):
        assert int(last[col]) == m[metric], col  # integers written as integers
    # Storage peaks: a row just before and after every sweep at a sample time, and a `peak`
    # row at any other sweep where footage peaked, make the series' maximum the peak.
    sweep_s, sample_s = sc.recording.sweep_interval_s, sc.simulation.sample_s
    every = sweep_s * sample_s // np.gcd(sweep_s, sample_s)
    sweeps = [float(r["t_s"]) for r in ts if r["sample"] == "before_sweep"]
    assert sweeps == [float(every * k) for k in range(1, int(np.ceil(res.horizon_s / every)))]
    assert [float(r["t_s"]) for r in ts if r["sample"] == "after_sweep"] == sweeps
    peaks = [float(r["t_s"]) for r in ts if r["sample"] == "peak"]
    assert all(t % sweep_s == 0 and t % sample_s for t in peaks)
    assert (len(peaks) > 0) == (case == "coarse_samples")
    totals = []
    for r in ts:
        t = 0.0
        for p in pools:
            t += float(r[p])
        totals.append(t)
    assert round(max(totals) / 1e12, 6) == m["storage_needed_tb"]
    assert (
        round(100 * (1 - max(totals) / city.rec_disk_bytes.sum()), 6) == m["storage_headroom_pct"]
    )
    rec = _rows(out / "recorder_stored_bytes.csv")
    assert [r["sample"] for r in rec] == [r["sample"] for r in ts]
    peak = np.array([max(float(r[nm]) for r in rec) for nm in city.rec_names])
    assert (
        round(float((100 * (1 - peak / city.rec_disk_bytes)).min()), 6)
        == m["storage_headroom_pct_min"]
    )
    for r, row in enumerate(res.per_recorder):
        assert round(peak[r] / 1e12, 6) == row["peak_used_tb"]
    ingest = _rows(out / "recorder_ingest_mbps.csv")[-1]
    same(sum(float(ingest[nm]) for nm in city.rec_names), "ingest_total_mbps")
    # Per camera: drops by reason, and written + dropped = the slots of its time on line.
    cams = _rows(out / "cameras.csv")
    for reason in DROP_REASONS:
        assert sum(int(c[f"dropped_{reason}"]) for c in cams) == m[f"segments_dropped_{reason}"]
    dropped = [sum(int(c[f"dropped_{x}"]) for x in DROP_REASONS) for c in cams]
    assert sum(dropped) == m["segments_dropped"]
    # Segment files: the whole ones, and with fragments the partials crashed recorders kept.
    partials = [int(c.get("partial_segments", 0)) for c in cams]
    assert ("partial_segments" in cams[0]) == (case == "fragments")
    assert sum(int(c["segments_written"]) for c in cams) + sum(partials) == m["segments_written"]
    for c, d in zip(cams, dropped):
        assert int(c["segments_written"]) + d == float(c["on_line_s"]) / sc.recording.segment_s, c
    if case == "fragments":
        assert sum(partials) == m["segments_partial_kept"] > 0
        same(sum(float(c["partial_s"]) for c in cams) / 60, "camera_minutes_partial_kept")
    assert sum(c["state"] != "offline" for c in cams) == m["cameras"]
    assert sum(c["reason"] == "unplaced" for c in cams) == m["cameras_unplaced"]
    for row in res.per_recorder:
        assert (
            sum(d for c, d in zip(cams, dropped) if c["recorder"] == row["recorder"])
            == row["segments_dropped"]
        )
    if case not in ("faults", "fragments"):
        assert m["segments_deleted"] > 0
        assert (m["segments_dropped_disk_full"] > 0) == (case == "disk_full")
        assert "fault_cameras.csv" not in {p.name for p in out.iterdir()}
        return
    # Faults: footage lost per camera, the unrecorded count over time, incidents.
    fc = _rows(out / "fault_cameras.csv")
    unrec = [float(c["unrecorded_s"]) for c in fc]
    disk = [float(c["lost_with_disk_s"]) for c in fc]
    same(sum(unrec) / 60, "camera_minutes_unrecorded")
    same(sum(disk) / 60, "camera_minutes_lost_disk")
    same(sum(unrec + disk) / 60, "camera_minutes_lost")
    same(max(u + d for u, d in zip(unrec, disk)) / 60, "max_camera_minutes_lost")
    same(max(float(c["max_gap_s"]) for c in fc), "max_gap_s")
    assert (
        sum(float(c["max_gap_s"]) > 0 or float(c["lost_with_disk_s"]) > 0 for c in fc)
        == m["cameras_affected"]
    )
    assert (
        sum(int(c["unassigned_after_failover"]) for c in fc)
        == m["cameras_unassigned_after_failover"]
    )
    cu = _rows(out / "cameras_unrecorded.csv")
    assert max(int(r["cameras_unrecorded"]) for r in cu) == m["cameras_unrecorded_max"]
    assert float(cu[-1]["t_s"]) == res.horizon_s
    assert int(cu[-1]["cameras_unrecorded"]) == m["cameras_unrecorded_end"]
    inc = _rows(out / "fault_incidents.csv")
    assert len(inc) == m["incidents"]
    assert sum(r["recovery_s"] == "unrecovered" for r in inc) == m["incidents_unrecovered"]
    same(
        max(float(r["recovery_s"]) for r in inc if r["recovery_s"] not in ("", "unrecovered")),
        "recovery_s_max",
    )
    # A lost disk: the rows just before and after it differ by the footage lost.
    before = [t for t, r in zip(totals, ts) if r["sample"] == "before_disk_loss"]
    after = [t for t, r in zip(totals, ts) if r["sample"] == "after_disk_loss"]
    assert len(before) == len(after) == 1
    same((before[0] - after[0]) / 1e12, "footage_lost_disk_tb")
    # The checks above saw real losses of each kind.
    assert (
        m["segments_dropped_recorder_down"] > 0
        and m["segments_dropped_unassigned_after_failover"] > 0
    )
    assert m["segments_dropped_relay_down"] > 0 and m["segments_lost_disk"] > 0
