"""Whole-run behaviour of the SimPy engine on small cities."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers import scenario
from twin.model.city import generate_city
from twin.sim.engine import DROP_REASONS, CityEngine
from twin.sim.extensions import extensions_for
from twin.sim.results import sim_metrics


def run(sc, days=None):
    return CityEngine(sc, generate_city(sc), extensions=extensions_for(sc)).run(days)


def segments_offered(o) -> int:
    """Every camera-segment from each camera's on-line time to the end of the run."""
    seg = o.scenario.recording.segment_s
    return int(np.floor((o.end_s - o.city.cam_online_s) / seg).clip(0).sum())


def test_steady_state_storage_is_cameras_x_bitrate_x_retention_within_1pct():
    o = run(scenario())
    cams = o.city.n_cameras
    model = o.city.cam_effective_mbps.sum() * 1e6 / 8 * 30 * 86_400
    stored = o.stored_bytes_end.sum()
    assert cams > 100
    assert abs(stored / model - 1) < 0.01
    # Every segment is accounted for: written = deleted + on disk, and nothing dropped.
    assert o.written_segments == o.deleted_segments + o.stored_segments_end
    assert o.dropped.sum() == 0
    assert o.written_segments == segments_offered(o)


def test_motion_recording_writes_only_the_motion_share():
    o = run(
        scenario(
            camera_profiles=[
                {"name": "m", "bitrate_mbps": 4.0, "recording": "motion", "motion_share": 0.25}
            ]
        )
    )
    model = o.city.n_cameras * 1.0e6 / 8 * 30 * 86_400
    assert abs(o.stored_bytes_end.sum() / model - 1) < 0.01


def test_recorder_over_its_ingest_limit_drops_and_counts_every_segment():
    # 4 Mbps cameras, one 100 Mbps recorder under a blind static plan: 25 fit, the rest drop.
    sc = scenario(
        **{
            "camera_profiles": [{"name": "p", "bitrate_mbps": 4.0}],
            "recorders.pools": [
                {
                    "name": "c",
                    "districts": "*",
                    "recorders": 1,
                    "ingest_mbps": 100,
                    "disk_tb": 1000,
                    "max_streams": 1000,
                }
            ],
            "recorders.assignment": {"type": "static"},
            "recording.retention_days": 1,
            "simulation.days": 2,
        }
    )
    o = run(sc)
    per_cam = int(2 * 86_400 / 60)
    over = o.city.n_cameras - 25
    ingest = o.dropped[DROP_REASONS.index("ingest_limit")]
    assert (ingest > 0).sum() == over
    assert ingest.sum() == over * per_cam
    assert np.flatnonzero(ingest).min() == 25  # the cameras after the first 25, in order
    assert o.written_segments + o.dropped.sum() == segments_offered(o)
    m = sim_metrics(o)
    assert m["segments_dropped_ingest_limit"] == over * per_cam
    assert m["recorder_ingest_util_pct_max"] == 100.0


def test_balanced_placement_reports_cameras_no_recorder_can_take():
    sc = scenario(
        **{
            "recorders.pools": [
                {
                    "name": "c",
                    "districts": "*",
                    "recorders": 2,
                    "ingest_mbps": 1000,
                    "disk_tb": 1000,
                    "max_streams": 30,
                }
            ],
            "simulation.days": 1,
        }
    )
    o = run(sc)
    m = sim_metrics(o)
    assert m["cameras_unplaced"] == o.city.n_cameras - 60
    assert m["segments_dropped_unplaced"] == (o.city.n_cameras - 60) * 1440
    assert m["recorder_streams_util_pct_max"] == 100.0


def test_full_disk_drops_until_the_sweeper_frees_space_and_counts_it():
    sc = scenario(
        **{
            "recorders.pools": [
                {
                    "name": "c",
                    "districts": "*",
                    "recorders": 1,
                    "ingest_mbps": 10_000,
                    "disk_tb": 10,
                    "max_streams": 1000,
                }
            ],
            "recording.retention_days": 2,
            "simulation.days": 4,
        }
    )
    o = run(sc)
    full = o.dropped[DROP_REASONS.index("disk_full")].sum()
    assert full > 0
    assert o.dropped.sum() == full
    assert o.written_segments + full == segments_offered(o)
    assert o.rec_peak_bytes[0] <= 10e12
    assert o.written_segments == o.deleted_segments + o.stored_segments_end


def test_a_district_backhaul_too_small_drops_its_cameras_beyond_capacity():
    sc = scenario(
        **{
            "city.districts": [
                {"name": "Yau Tsim Mong", "sets": 40, "backhaul_mbps": 50},
                {"name": "Wan Chai", "sets": 20, "backhaul_mbps": 100_000},
            ],
            "camera_profiles": [{"name": "p", "bitrate_mbps": 4.0}],
            "simulation.days": 1,
        }
    )
    o = run(sc)
    ytm = o.city.cam_district == 0
    bh = o.dropped[DROP_REASONS.index("backhaul")]
    assert (bh[ytm] > 0).sum() == ytm.sum() - 12  # 12 x 4 Mbps fit in 50 Mbps
    assert bh[~ytm].sum() == 0


def test_retention_keeps_footage_no_longer_than_retention_plus_one_sweep():
    o = run(scenario(**{"recording.retention_days": 2, "simulation.days": 5}))
    assert 2.0 < o.max_age_s / 86_400 <= 2.0 + (3600 + 60) / 86_400


def test_same_seed_gives_the_same_results_json_byte_for_byte(tmp_path):
    from twin.cli.runs import simulate_to

    src = tmp_path / "s.yaml"
    import yaml

    sc = scenario(**{"simulation.days": 3, "recording.retention_days": 1})
    src.write_text(yaml.safe_dump(sc.model_dump(mode="json")))
    outs = []
    for name in ("a", "b"):
        simulate_to(src, tmp_path / name, quiet=True)
        data = json.loads((tmp_path / name / "results.json").read_text())
        assert data.pop("run")["wall_s"] >= 0
        outs.append(json.dumps(data, sort_keys=True))
        for f in ("timeseries.csv", "cameras.csv", "recorder_stored_bytes.csv"):
            assert (tmp_path / name / f).stat().st_size > 0
    assert outs[0] == outs[1]
    for f in ("timeseries.csv", "cameras.csv", "recorder_ingest_mbps.csv"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()


@pytest.mark.parametrize("days", [0.5, 2])
def test_roll_out_brings_cameras_on_line_and_none_before(days):
    sc = scenario(
        **{"city.rollout": [{"month": "2024-03", "sets": {"Wan Chai": 5}}], "simulation.days": days}
    )
    o = run(sc)
    assert int((o.cam_state != 0).sum()) == o.city.n_cameras
