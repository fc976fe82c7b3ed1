"""One deployment per scenario: what both engines have is written once, and `twin simulate`
of a live scenario simulates exactly what `twin live` records (no Ray, no MediaMTX here)."""

from __future__ import annotations

import pytest

from tests.helpers import scenario
from twin.cli.main import main
from twin.errors import ScenarioError
from twin.live.run_settings import live_run_settings
from twin.model.results import read_results
from twin.scenario import load_scenario
from twin.sim.simulated_scenario import simulated_scenario

TRIAL = "scenarios/live-trial-15.yaml"


def test_the_trial_is_one_deployment_for_both_engines() -> None:
    sc = load_scenario(TRIAL)
    live = live_run_settings(sc)
    sim = simulated_scenario(sc)
    pool = sc.recorders.pools[0]
    # Recorders, limits, segments, retention: the scenario's own, in both engines.
    recs = live.recorders.names
    assert (
        (
            live.recorders.count,
            live.recorders.max_streams_of(recs),
            live.recorders.ingest_mbps_of(recs),
        )
        == (pool.recorders, [pool.max_streams] * 3, [pool.ingest_mbps] * 3)
        == (3, [20] * 3, [100.0] * 3)
    )
    assert live.segment_s == sim.recording.segment_s == 6
    assert live.retention_s == pytest.approx(60.0) == sim.recording.retention_s
    assert live.sweep_interval_s == sim.recording.sweep_interval_s == 6
    # Over the live duration, with the live heartbeat, and the same faults.
    assert sim.simulation.days * 86_400 == pytest.approx(live.duration_s) == 150
    hb = sim.failover.heartbeat
    assert (hb.interval_s, hb.timeout_s) == (live.heartbeat_interval_s, live.heartbeat_timeout_s)
    assert sim.faults == sc.faults
    # The cameras publish the camera profile.
    p = sc.camera_profiles[0]
    assert (
        live.profile.width,
        live.profile.height,
        live.profile.fps,
        live.profile.bitrate_mbps,
    ) == (p.width, p.height, p.fps, p.bitrate_mbps)


def test_simulating_a_live_scenario_runs_the_live_horizon_and_names_the_same_scenario(tmp_path):
    out = tmp_path / "sim"
    main(["simulate", TRIAL, "--out", str(out), "--quiet"])
    res = read_results(out / "results.json")
    sc = load_scenario(TRIAL)
    assert res.horizon_s == 150.0
    from twin.model.results import scenario_info

    assert res.scenario.sha256 == scenario_info(sc, TRIAL).sha256  # the file's, as live names it
    # 35 cameras x 150 s, less the crash's 2 s detection + the calibrated reassignment for 12
    # cameras and the relay's 1 s for all 35: what the footage ledger integrates.
    reassign = sc.loaded_calibration.calibration.failover_reassign_s.value
    assert res.metrics["footage_camera_s_recorded"] == pytest.approx(
        35 * 150 - 12 * (2 + reassign) - 35 * 1
    )
    # What each fault cost: the crash at 60 s lands on a segment boundary (nothing under way
    # to keep); the relay at 100-101 s stops every stream upstream of recorders that stay up,
    # and the trial's recorders write fragmented MP4 (live.recorders.container), so each
    # keeps its segment under way to the cut (96-100 s, a partial) and loses the 1 s.
    costs = {e["incident"]: e for e in res.events if e["kind"] == "fault_cost"}
    assert costs[0]["cameras_hit"] == 12
    assert costs[0]["camera_s_lost"] == pytest.approx(12 * (2 + reassign))
    assert costs[1]["cameras_hit"] == 35
    assert costs[1]["camera_s_lost"] == pytest.approx(35 * 1)
    assert res.metrics["segments_partial_kept"] == 35
    assert sorted(r["cameras_initial"] for r in res.per_recorder) == [11, 12, 12]
    # Compressed retention: footage is swept after a minute, not 30 days.
    assert res.metrics["segments_deleted"] > 0
    assert res.metrics["retention_max_age_days"] * 86_400 < 60 + 2 * 6


@pytest.mark.parametrize(
    ("live", "message"),
    [
        (
            {"segment_s": 6},
            r"live.segment_s is gone: both engines cut segments of recording.segment_s",
        ),
        ({"retention_s": 60}, r"live.retention_s is gone.*set live.time_compression"),
        ({"sweep_interval_s": 5}, r"live.sweep_interval_s is gone.*recording.sweep_interval_s"),
        (
            {"profile": {"width": 640}},
            r"live.profile is gone: resolution, fps and bitrate are the "
            r"scenario's camera profile",
        ),
        ({"recorders": {"count": 3}}, r"live.recorders.count is gone.*recorders.pools"),
        ({"recorders": {"max_streams": 20}}, r"live.recorders.max_streams is gone"),
        ({"drills": []}, r"live.drills is gone"),
    ],
)
def test_old_style_live_sections_are_refused_naming_file_field_and_fix(tmp_path, live, message):
    import yaml

    path = tmp_path / "old.yaml"
    data = scenario(live={"duration_s": 30}).model_dump(mode="json")
    data["live"] = {"duration_s": 30, **live}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError, match=message) as err:
        load_scenario(path)
    assert str(path) in str(err.value) and "field live" in str(err.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"camera_profiles": [{"name": "a", "bitrate_mbps": 1, "bitrate_spread_pct": 10}]},
            r"camera_profiles\[0\].bitrate_spread_pct: 10 cannot be recorded live; expected 0",
        ),
        (
            {
                "camera_profiles": [
                    {"name": "a", "bitrate_mbps": 1},
                    {"name": "b", "bitrate_mbps": 2},
                ]
            },
            r"camera_profiles: a live scenario has one camera profile",
        ),
        (
            {"camera_profiles": [{"name": "a", "bitrate_mbps": 1, "width": 1921}]},
            r"width x height: 1921x1080 cannot be recorded live",
        ),
        (
            {"failover": {"heartbeat": {"interval_s": 1}}},
            r"failover.heartbeat: a live scenario beats on the wall clock; "
            r"set live.heartbeat_interval_s",
        ),
        (
            {"simulation": {"days": 2}},
            r"simulation.days: a live scenario is simulated over "
            r"live.duration_s",
        ),
        (
            {"fidelity": {"recovery_s": {"max_abs": 1}}},
            r"fidelity.recovery_s: recovery_s is judged per kind of fault",
        ),
        ({"fidelity": {"storage": {"max_pct": 1}}}, r"fidelity.storage: not a fidelity metric"),
        (
            {"failover": {"standby": {"type": "dual", "districts": ["Wan Chai"]}}},
            r"failover.standby.type: dual is not carried out live; expected spread .*n_plus_1 "
            r"or n_plus_m",
        ),
    ],
)
def test_a_live_deployment_one_machine_cannot_record_is_refused(overrides, message):
    base = {"camera_profiles": [{"name": "a", "bitrate_mbps": 1}], "live": {"duration_s": 30}}
    with pytest.raises(ScenarioError, match=message):
        scenario(**{**base, **overrides})


def test_fidelity_targets_need_a_live_section():
    with pytest.raises(ScenarioError, match=r"fidelity: targets compare a live run"):
        scenario(fidelity={"segments_written": {"max_pct": 5}})


def test_a_live_scenario_of_several_pools_records_with_each_pools_own_recorders_and_limits() -> (
    None
):
    """The live-cluster scenario: a pool per district and a central one, one deployment."""
    sc = load_scenario("scenarios/live-cluster-2-districts.yaml")
    live = live_run_settings(sc)
    assert [(p.name, p.districts, len(p.recorders)) for p in live.recorders.pools] == [
        ("yau-tsim-mong", ("Yau Tsim Mong",), 2),
        ("wan-chai", ("Wan Chai",), 2),
        ("central", None, 1),
    ]
    assert live.recorders.names == [
        f"{p.name}-r{j + 1:02d}" for p in sc.recorders.pools for j in range(p.recorders)
    ]
    assert live.recorders.max_streams_of(live.recorders.names) == [
        p.max_streams for p in sc.recorders.pools for _ in range(p.recorders)
    ]
    assert live.segment_s == sc.recording.segment_s == 6


def test_the_live_supervisor_keeps_each_recorders_own_limits() -> None:
    from twin.live.failover import Supervisor

    cams = {f"c{i:02d}": 1.0 for i in range(5)}
    sup = Supervisor(["a-r01", "b-r01"], [1, 10], [100.0, 3.0], cams, 0.5, 2.0)
    placed = sup.place_all()
    # a-r01 takes one stream, b-r01 three Mbps: the fifth camera fits nowhere.
    assert sorted(r or "-" for r in placed.values()) == ["-", "a-r01", "b-r01", "b-r01", "b-r01"]


@pytest.mark.parametrize(
    "standby", [{"type": "n_plus_1"}, {"type": "n_plus_m", "standby_recorders": 1}]
)
def test_a_live_deployment_keeps_n_plus_m_standbys_as_the_simulation_does(standby):
    """N+1 / N+M run live on one machine: the same scenario, with the pool's last recorders
    standing by, is what both engines run (bench/bench_failover.py and its live test)."""
    sc = scenario(
        camera_profiles=[{"name": "a", "bitrate_mbps": 1}],
        live={"duration_s": 30},
        failover={"standby": standby},
    )
    assert sc.failover.standby_per_pool == 1 and sc.live is not None
