"""Faults and failover in the SimPy engine: gaps, losses and placements, with exact numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import fault_specs, scenario
from twin.errors import ScenarioError
from twin.model.city import SITE_KINDS, generate_city
from twin.scenario import load_scenario
from twin.sim.engine import DROP_REASONS, CityEngine
from twin.sim.extensions import extensions_for
from twin.sim.results import sim_metrics

HB = {"heartbeat": {"interval_s": 5, "missed_beats": 3}, "reassign_s": 30}
POOL = {
    "name": "c",
    "districts": "*",
    "recorders": 3,
    "ingest_mbps": 1000,
    "disk_tb": 400,
    "max_streams": 200,
}


def run(faults, failover=None, pool=None, **over):
    sc = scenario(
        **{
            "simulation.days": 1,
            "recording.retention_days": 1,
            "recorders.pools": [{**POOL, **(pool or {})}],
            **over,
        },
        faults=faults,
        failover={**HB, **(failover or {})},
    )
    e = CityEngine(sc, generate_city(sc), extensions=extensions_for(sc))
    return e, e.run()


def offered(o) -> int:
    return int(np.floor((o.end_s - o.city.cam_online_s) / 60).clip(0).sum())


def crash(at_s, duration_s=7200, rec="c-r01"):
    return [{"type": "recorder_crash", "recorder": rec, "at_s": at_s, "duration_s": duration_s}]


@pytest.mark.parametrize(
    "at_s, gap_s",
    [
        (3600, 45.0),  # on a beat and a segment boundary: detection 3 x 5 s, then 30 s to move
        (3607, 50.0),  # last beat 3605 -> down at 3620, moved at 3650; footage ends at 3600
    ],
)
def test_gap_after_a_recorder_loss_is_detection_plus_reassignment_per_camera(at_s, gap_s):
    e, o = run(crash(at_s))
    lost = e.faults.ctrl.home == 0
    assert lost.sum() == 48
    # Every camera of the lost recorder: one gap, from its last whole segment to the move.
    assert o.gap_max_s[lost].tolist() == [gap_s] * 48
    assert o.lost_s[lost].tolist() == [gap_s] * 48
    assert (o.gap_max_s[~lost] == 0).all() and (o.lost_s[~lost] == 0).all()
    assert o.dropped[DROP_REASONS.index("recorder_down")].sum() == 48  # round(gap / 60 s) each
    m = sim_metrics(o)
    # Recovery runs from the fault itself to the cameras recording again.
    assert m["max_gap_s"] == gap_s and m["recovery_s_max"] == 3600 + gap_s - at_s
    assert m["camera_minutes_lost"] == 48 * gap_s / 60
    assert m["no_recorder_over_limit"] == 1.0
    # Every segment is accounted for, exactly.
    assert o.written_segments + o.dropped.sum() == offered(o)
    assert o.written_segments == o.deleted_segments + o.stored_segments_end
    np.testing.assert_allclose(e.rec_used, e.catalog.stored_bytes_by_recorder(o.end_s), rtol=1e-9)


def test_a_blip_shorter_than_detection_is_ridden_out_on_the_same_recorder():
    e, o = run(crash(3600, duration_s=10))
    lost = e.faults.ctrl.home == 0
    assert o.lost_s[lost].tolist() == [10.0] * 48  # they reconnect as it comes back
    assert [(ev["t_s"], ev["to"]) for ev in o.events if ev["kind"] == "recorder_health"] == [
        (3605.0, "suspect"),
        (3610.0, "up"),
    ]
    assert sim_metrics(o)["recorders_declared_down"] == 0


def test_the_failover_trace_from_loss_to_fail_back():
    e, o = run(crash(3600))
    trace = [
        (ev["t_s"], ev["kind"], ev.get("to") if ev["kind"] == "recorder_health" else None)
        for ev in o.events
    ]
    assert trace == [
        (3600.0, "fault_start", None),
        (3605.0, "recorder_health", "suspect"),
        (3615.0, "recorder_health", "down"),
        (3645.0, "failover", None),
        (10800.0, "fault_end", None),
        (10800.0, "recorder_health", "returning"),
        (10830.0, "failback", None),
        (10845.0, "recorder_health", "up"),  # each camera switched at its run's segment boundary
    ]
    assert o.events[3]["to"] == {"c-r02": 24, "c-r03": 24}


def test_with_standby_short_by_k_streams_exactly_k_cameras_are_reported_unrecorded():
    # 143 cameras on 3 recorders of 60 streams: 48/48/47. Losing r01 leaves 12 + 13 free: K = 23.
    e, o = run(crash(3600), pool={"max_streams": 60})
    m = sim_metrics(o)
    assert m["cameras_unassigned_after_failover"] == 23
    ev = next(x for x in o.events if x["kind"] == "failover")
    assert (ev["cameras_moved"], ev["cameras_unassigned"], len(ev["unassigned"])) == (25, 23, 23)
    left = e.faults.unassigned_ever
    assert ev["unassigned"] == [o.city.camera_name(int(c)) for c in np.flatnonzero(left)]
    # They wait, unrecorded, until their recorder is back and takes them home at 10830.
    assert o.gap_max_s[left].tolist() == [10830.0 - 3600.0] * 23
    assert m["cameras_unrecorded_max"] == 48
    # Booked per reason as it changes: 45 s down before the failover ran (1 slot), then
    # unassigned until 10830: the gap is 120.5 segments, 121 slots (the half slot is the one
    # the shifted run leaves unfinished at the end), so 120 more.
    assert o.dropped[DROP_REASONS.index("recorder_down")][left].tolist() == [1] * 23
    assert o.dropped[DROP_REASONS.index("unassigned_after_failover")][left].tolist() == [120] * 23
    assert (o.cam_written[left] + o.dropped[:, left].sum(axis=0)).tolist() == [1440] * 23
    assert m["no_recorder_over_limit"] == 1.0 and m["recorder_streams_util_pct_max"] == 100.0


def test_fail_back_restores_the_original_assignment_without_losing_footage():
    e, o = run(crash(3600), failover={"standby": {"type": "n_plus_1"}})
    home = e.faults.ctrl.home
    assert np.bincount(home, minlength=3).tolist() == [72, 71, 0]  # r03 is the standby
    assert (o.cam_recorder == home).all()
    assert o.lost_s.max() == 45.0  # the loss only: fail-back itself is seamless
    assert o.rec_streams_max.tolist() == [72, 71, 72]
    assert e.rec_phys_streams.tolist() == [72, 71, 0]
    # The footage recorded on the standby during the outage stays there, in the catalog.
    rows = e.catalog.col("recorder") == 2
    assert rows.sum() == 72
    assert (e.catalog.col("n")[rows] == (10845 - 3645) // 60).all()


def test_a_failed_disk_loses_its_footage_and_its_segments_leave_the_catalog():
    e, o = run(
        [{"type": "disk_failure", "recorder": "c-r01", "at_s": 7200, "duration_s": 3600}],
        failover={"standby": {"type": "n_plus_1"}},
    )
    m = sim_metrics(o)
    # 72 cameras recorded 2 h (120 segments each) onto r01: all of it is gone.
    assert m["segments_lost_disk"] == 72 * 120
    assert m["camera_minutes_lost_disk"] == 72 * 120
    assert e.catalog.lost_segments == 72 * 120
    assert m["footage_lost_disk_tb"] == pytest.approx(
        o.city.cam_effective_mbps[e.faults.ctrl.home == 0].sum() * 1e6 / 8 * 7200 / 1e12, abs=1e-6
    )
    assert m["camera_minutes_unrecorded"] == 72 * 45 / 60
    # What r01 holds now was all recorded after it came back.
    rows = e.catalog.col("recorder") == 0
    assert (e.catalog.col("start_s")[rows] >= 10845).all()
    assert (
        o.written_segments == o.deleted_segments + o.stored_segments_end + e.catalog.lost_segments
    )
    np.testing.assert_allclose(e.rec_used, e.catalog.stored_bytes_by_recorder(o.end_s), rtol=1e-9)


def test_a_filled_disk_stops_its_cameras_from_the_next_tick_to_the_tick_after_it_is_freed():
    # Foreign data takes the whole disk at 3630 s for 1800 s; the writer sees it at its
    # minute ticks: full at 3660, room again at 5460. Failover does not move cameras off a
    # full disk (the recorder still beats): they drop, counted as disk_full.
    e, o = run(
        [
            {
                "type": "disk_fill",
                "recorder": "c-r02",
                "at_s": 3630,
                "duration_s": 1800,
                "fill_pct": 100,
            }
        ]
    )
    on = e.faults.ctrl.home == 1
    assert on.sum() == 48
    assert o.lost_s[on].tolist() == [1800.0] * 48 and (o.lost_s[~on] == 0).all()
    assert o.dropped[DROP_REASONS.index("disk_full")].sum() == 48 * 30
    assert sim_metrics(o)["recorders_declared_down"] == 0


def test_held_footage_on_a_failed_disk_is_counted_apart():
    from twin.core.types import Interval

    sc = scenario(
        **{"simulation.days": 1, "recording.retention_days": 1, "recorders.pools": [POOL]},
        faults=[{"type": "disk_failure", "recorder": "c-r01", "at_s": 7200}],
        failover=HB,
    )
    e = CityEngine(sc, generate_city(sc), extensions=extensions_for(sc))

    def hold():
        yield e.env.timeout(3600)
        c = int(np.flatnonzero(e.cam_rec == 0)[0])
        e.catalog.hold("case-1", c, Interval(600.0, 1800.0), 3600.0)

    e.env.process(hold())
    o = e.run()
    m = sim_metrics(o)
    assert m["segments_lost_disk_held"] == 20  # 600-1800 s of one of r01's cameras: 20 segments
    assert next(x for x in o.events if x["kind"] == "disk_lost")["held_segments"] == 20


def test_district_power_is_ridden_through_by_site_batteries_shorter_than_the_outage():
    ups = {"government_building": 7200, "smart_lamp_post": 600}
    e, o = run(
        [{"type": "district_power", "district": "Wan Chai", "at_s": 3600, "duration_s": 1800}],
        failover={"ups_s": ups},
    )
    city = o.city
    kind = city.set_site_kind[city.cam_set]
    wc = city.cam_district == 1
    lamp = wc & (kind == SITE_KINDS.index("lamp_post"))
    smart = wc & (kind == SITE_KINDS.index("smart_lamp_post"))
    assert lamp.sum() > 0 and smart.sum() > 0
    assert (o.lost_s[lamp] == 1800).all()
    assert (o.lost_s[smart] == 1200).all()  # the battery covers the first 600 s
    assert (o.lost_s[~(lamp | smart)] == 0).all()
    assert o.dropped[DROP_REASONS.index("power")].sum() == 30 * lamp.sum() + 20 * smart.sum()


def test_a_backhaul_cut_moves_the_cameras_that_fit_onto_the_backup_path():
    # Wan Chai's 100 Gbps link; a backup of 0.02 % = 20 Mbps carries the first cameras that fit.
    e, o = run(
        [{"type": "backhaul_cut", "district": "Wan Chai", "at_s": 3600, "duration_s": 3600}],
        failover={"backhaul": {"backup_share": 0.0002, "switch_s": 60}},
    )
    city = o.city
    wc = np.flatnonzero(city.cam_district == 1)
    fits = np.cumsum(city.cam_mbps[wc]) <= 20.0
    assert 0 < fits.sum() < wc.size
    assert (o.lost_s[wc[fits]] == 60).all()
    assert (o.lost_s[wc[~fits]] == 3600).all()
    ev = next(x for x in o.events if x["kind"] == "backhaul_backup")
    assert (ev["cameras_carried"], ev["cameras_left_out"]) == (fits.sum(), (~fits).sum())


@pytest.mark.parametrize("standby, lost_s", [(True, 15.0 + 10.0), (False, 600.0)])
def test_the_city_relay_going_down_stops_every_camera_until_its_standby_takes_over(standby, lost_s):
    e, o = run(
        [{"type": "relay_down", "relay": "city", "at_s": 3600, "duration_s": 600}],
        failover={"relay": {"standby": standby, "switch_s": 10}},
    )
    assert o.lost_s.tolist() == [lost_s] * o.city.n_cameras
    assert sim_metrics(o)["cameras_unrecorded_max"] == o.city.n_cameras


def test_a_correlated_group_starts_its_faults_together_and_n_plus_1_cannot_cover_two_losses():
    group = [
        {
            "type": "group",
            "name": "rack",
            "at_s": 3600,
            "duration_s": 3600,
            "faults": [
                {"type": "recorder_crash", "recorder": "c-r01"},
                {"type": "recorder_crash", "recorder": "c-r02"},
            ],
        }
    ]
    e, o = run(group, failover={"standby": {"type": "n_plus_1"}}, pool={"max_streams": 72})
    m = sim_metrics(o)
    # r03 (standby, 72 streams) takes r01's 72 cameras; r02's 71 have nowhere to go.
    assert m["cameras_unassigned_after_failover"] == 71
    assert m["incidents"] == 1 and m["recorders_declared_down"] == 2
    assert m["max_gap_s"] == 7230.0 - 3600.0 and m["no_recorder_over_limit"] == 1.0


def test_cameras_nobody_could_take_are_placed_once_a_fail_back_frees_the_standby():
    faults = crash(3600, 1800, "c-r01") + crash(3600, 7200, "c-r02")
    e, o = run(faults, failover={"standby": {"type": "n_plus_1"}}, pool={"max_streams": 72})
    home = e.faults.ctrl.home
    # r01's 72 go to the standby at 3645; r02's 71 wait. r01 is back at 5400, its cameras go
    # home at their runs' next boundary after 5430 (3645 + 30 min = 5445), and the standby,
    # free again, takes r02's cameras 30 s later.
    assert o.gap_max_s[home == 0].tolist() == [45.0] * 72
    assert o.gap_max_s[home == 1].tolist() == [5475.0 - 3600.0] * 71
    kinds = [
        (ev["t_s"], ev["kind"])
        for ev in o.events
        if ev["kind"] in ("failover", "failback", "retry")
    ]
    assert kinds == [
        (3645.0, "failover"),
        (3645.0, "failover"),
        (5430.0, "failback"),
        (5475.0, "retry"),
        (10830.0, "failback"),
    ]
    assert (o.cam_recorder == home).all()
    assert sim_metrics(o)["no_recorder_over_limit"] == 1.0


def test_a_district_relay_without_standby_stops_its_district_until_repaired():
    e, o = run([{"type": "relay_down", "relay": "Wan Chai", "at_s": 3600, "duration_s": 900}])
    wc = o.city.cam_district == 1
    assert (o.lost_s[wc] == 900).all() and (o.lost_s[~wc] == 0).all()
    assert o.dropped[DROP_REASONS.index("relay_down")].sum() == 15 * wc.sum()


def test_cameras_coming_on_line_during_a_power_cut_wait_for_the_power():
    at = 31 * 86_400.0  # the April roll-out step, 2024-04-01
    e, o = run(
        [{"type": "district_power", "district": "Wan Chai", "at_s": at - 1800, "duration_s": 5400}],
        **{
            "simulation.days": 31.5,
            "recording.retention_days": 30,
            "city.rollout": [{"month": "2024-04", "sets": {"Wan Chai": 5}}],
        },
    )
    new = o.city.cam_online_s == at
    assert new.sum() > 0
    assert (o.lost_s[new] == 3600).all()  # from coming on line to the power's return
    assert (o.lost_s[(o.city.cam_district == 1) & ~new] == 5400).all()


def test_one_set_losing_power_stops_only_its_cameras():
    e, o = run([{"type": "set_power", "camera_set": 12, "at_s": 600, "duration_s": 120}])
    mine = o.city.cam_set == 11
    assert (o.lost_s[mine] == 120).all() and (o.lost_s[~mine] == 0).all()
    assert sim_metrics(o)["cameras_affected"] == mine.sum()


def test_dual_recorded_cameras_lose_nothing_when_one_copy_and_its_disk_are_lost():
    e, o = run(
        [{"type": "disk_failure", "recorder": "c-r01", "at_s": 7200, "duration_s": 3600}],
        failover={"standby": {"type": "dual", "site_kinds": ["government_building"]}},
    )
    city = o.city
    gov = city.set_site_kind[city.cam_set] == SITE_KINDS.index("government_building")
    assert e.copy_of.tolist() == np.flatnonzero(gov).tolist()
    home = e.faults.ctrl.home
    on = home[: city.n_cameras] == 0
    copy_on = np.zeros(city.n_cameras, dtype=bool)
    copy_on[e.copy_of[home[city.n_cameras :] == 0]] = True
    assert (on & gov).sum() == 9 and copy_on.sum() == 10
    # Single cameras of r01 lose their 2 h on its disk and the 45 s to failover; a camera
    # recorded twice loses nothing, whichever of its copies was on r01.
    assert o.lost_s[on & ~gov].tolist() == [45.0] * 39
    assert e.faults.disk_lost_s[on & ~gov].tolist() == [7200.0] * 39
    assert (o.lost_s[gov] == 0).all() and (e.faults.disk_lost_s[gov] == 0).all()
    m = sim_metrics(o)
    assert m["camera_minutes_lost_disk"] == 39 * 120 and m["segments_lost_disk"] == (48 + 10) * 120
    assert m["cameras"] == city.n_cameras and m["cameras_unrecorded_max"] == 39
    # The copies stay off their cameras' recorders, also after failover and fail-back.
    assert (e.cam_rec[city.n_cameras :] != e.cam_rec[e.copy_of]).all()
    assert m["no_recorder_over_limit"] == 1.0


def test_random_faults_are_seeded_and_leave_the_city_untouched():
    faults = [
        {"type": "recorder_crash", "recorder": "*", "mtbf_h": 12, "mttr_h": 1},
        {"type": "set_power", "camera_set": "*", "mtbf_h": 200, "mttr_h": 0.5, "repair": "fixed"},
    ]
    e1, o1 = run(faults, **{"simulation.days": 2, "recording.retention_days": 3})
    e2, o2 = run(faults, **{"simulation.days": 2, "recording.retention_days": 3})
    assert o1.events == o2.events and len(o1.events) > 10
    assert (o1.lost_s == o2.lost_s).all()
    plain = generate_city(scenario())
    assert (o1.city.cam_mbps == plain.cam_mbps).all() and (
        o1.city.cam_profile == plain.cam_profile
    ).all()
    # Every second of every camera is recorded (on disk), lost, or in the segment still being
    # written at the end: exact, even though resumes start new segments off the old grid.
    cat = e1.catalog
    live = (cat.written(o1.end_s) - cat.col("first")) * cat.col("seg_s")
    on_disk = np.bincount(cat.col("camera"), weights=live, minlength=o1.city.n_cameras)
    tail = np.where(e1.run_rec >= 0, (o1.end_s - e1.run_start) % 60, 0.0)
    np.testing.assert_allclose(on_disk + o1.lost_s + tail, o1.end_s - o1.city.cam_online_s)
    assert o1.deleted_segments == 0
    assert sim_metrics(o1)["no_recorder_over_limit"] == 1.0


def test_fault_targets_and_policies_are_checked_when_the_scenario_is_loaded():
    with pytest.raises(
        ScenarioError, match=r"faults\[0\]\.recorder: 'central-r09' is not a recorder"
    ):
        scenario(faults=crash(10, rec="central-r09"))
    with pytest.raises(
        ScenarioError, match=r"faults\[0\]\.faults\[0\]\.district: 'Mong Kok' is not a district"
    ):
        scenario(
            faults=[
                {
                    "type": "group",
                    "name": "g",
                    "at_s": 1,
                    "faults": [{"type": "district_power", "district": "Mong Kok"}],
                }
            ]
        )
    with pytest.raises(ScenarioError, match=r"members of a group start and end with the group"):
        scenario(
            faults=[
                {
                    "type": "group",
                    "name": "g",
                    "at_s": 1,
                    "faults": [{"type": "district_power", "district": "Wan Chai", "at_s": 5}],
                }
            ]
        )
    with pytest.raises(ScenarioError, match=r"field faults\[0\]\.fill_pct: got 120"):
        scenario(faults=[{"type": "disk_fill", "recorder": "*", "at_s": 1, "fill_pct": 120}])
    with pytest.raises(ScenarioError, match=r"needs recorders\.assignment type: balanced"):
        scenario(
            **{"recorders.assignment": {"type": "static"}},
            failover={"standby": {"type": "n_plus_1"}},
        )


DRILLS = sorted((Path(__file__).parent.parent / "scenarios").glob("drill-*.yaml"))


@pytest.mark.parametrize("path", DRILLS, ids=lambda p: p.name)
def test_every_shipped_drill_has_standby_capacity_and_meets_its_targets(path, tmp_path):
    from twin.cli.runs import simulate_to

    sc = load_scenario(path)
    assert sc.faults and sc.targets
    res = simulate_to(path, tmp_path, quiet=True)
    failed = [(v.metric, v.value) for v in res.targets if not v.passed]
    assert failed == []
    assert res.metrics["no_recorder_over_limit"] == 1.0
    assert {"camera_minutes_lost", "max_gap_s"} <= set(res.per_district[0])
    for f in (
        "cameras_unrecorded.png",
        "gap_distribution.png",
        "recorder_load_faults.png",
        "fault_cameras.csv",
        "cameras_unrecorded.csv",
        "fault_incidents.csv",
    ):
        assert (tmp_path / f).stat().st_size > 0, f


FAULT_KINDS = [
    "recorder_crash",
    "disk_failure",
    "relay_down",
    "district_power",
    "backhaul_cut",
    "set_power",
    "disk_fill",
]


@settings(max_examples=40, deadline=None)
@given(
    n_rec=st.integers(2, 5),
    streams=st.integers(20, 90),
    policy=st.sampled_from(["spread", "n_plus_1", "none", "dual"]),
    faults=st.lists(
        st.tuples(
            st.sampled_from(FAULT_KINDS),
            st.integers(0, 4),
            st.floats(0, 20_000),
            st.floats(1, 10_000),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_any_faults_keep_recorders_within_limits_and_account_for_every_second(
    n_rec, streams, policy, faults
):
    spec = fault_specs(faults, n_rec)
    standby = {"type": policy} if policy != "dual" else {"type": "dual", "districts": ["Wan Chai"]}
    e, o = run(
        spec,
        failover={"standby": standby, "backhaul": {"backup_share": 0.0005}},
        pool={"recorders": n_rec, "max_streams": streams, "ingest_mbps": 4.4 * streams},
        **{"simulation.days": 0.3},
    )
    m = sim_metrics(o)
    assert m["no_recorder_over_limit"] == 1.0
    assert (e.rec_phys_streams <= streams).all()
    # Every second of every stream: on disk, lost with a disk, never recorded, or in the
    # segment under way at the end.
    cat = e.catalog
    on_disk = ((cat.written(o.end_s) - cat.col("first")) * cat.col("seg_s")).sum()
    tail = np.where(e.run_rec >= 0, (o.end_s - e.run_start) % 60, 0.0).sum()
    total = on_disk + cat.lost_segments * 60 + e.lost_s.sum() + tail
    assert total == pytest.approx((o.end_s - e.city.cam_online_s).sum(), rel=1e-9)
    assert o.written_segments == o.deleted_segments + o.stored_segments_end + cat.lost_segments


def test_an_engine_given_a_scenario_with_faults_but_no_fault_extension_refuses_to_run():
    sc = scenario(
        **{"simulation.days": 1, "recording.retention_days": 1, "recorders.pools": [POOL]},
        faults=crash(3600),
        failover=HB,
    )
    with pytest.raises(TypeError, match="extensions_for"):
        CityEngine(sc, generate_city(sc))
    assert CityEngine(sc, generate_city(sc), extensions=extensions_for(sc)).faults is not None
