"""The failover curve: the reconnection storm (`failover.reconnect_s_per_camera`), a relay's
recovery (`failover.relay.recovery_s`) and what a crashed recorder keeps of its segments under
way (`recording.fragment_s`), worked by hand; where a calibration or a live scenario's
container sets them; and that leaving them at their defaults changes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tests.helpers import scenario, small_live
from twin.compare.fidelity import engine_values
from twin.model.city import generate_city
from twin.model.results import run_info
from twin.scenario import Scenario, load_scenario, parse_scenario
from twin.sim.engine import DROP_REASONS, CityEngine, SimOutcome
from twin.sim.extensions import extensions_for
from twin.sim.results import results_from_sim, sim_metrics
from twin.sim.run import run_scenario
from twin.sim.simulated_scenario import failover_curve, simulated_scenario

ROOT = Path(__file__).resolve().parent.parent
HB = {"heartbeat": {"interval_s": 5, "missed_beats": 3}, "reassign_s": 30}
DETECT = 15.0  # a crash on a beat is declared down 3 missed 5 s beats later
DOWN = DROP_REASONS.index("recorder_down")


def pool(recorders: int, streams: int = 200) -> list[dict[str, Any]]:
    return [
        {
            "name": "c",
            "districts": "*",
            "recorders": recorders,
            "ingest_mbps": 1000,
            "disk_tb": 400,
            "max_streams": streams,
        }
    ]


def small(faults: list[dict[str, Any]], failover: dict[str, Any], **over: Any) -> Scenario:
    """BASE's 60 sets on `c-r01..`, a fifth of a day, nothing deleted (1-day retention)."""
    over = {"simulation.days": 0.2, "recording.retention_days": 1, **over}
    over.setdefault("recorders.pools", pool(2))
    return scenario(**over, faults=faults, failover={**HB, **failover})


def run(sc: Scenario) -> tuple[CityEngine, SimOutcome]:
    e = CityEngine(sc, generate_city(sc), extensions=extensions_for(sc))
    return e, e.run()


def fidelity(sc: Scenario, o: SimOutcome) -> dict[str, float]:
    return engine_values(results_from_sim(o, "<test>", run_info("", 0.0)))


# ------------------------------------------------------------------ the fragment rule
def test_a_crashed_recorder_keeps_each_cameras_segment_under_way_up_to_its_last_fragment():
    # Recorder c-r01 crashes 30.3 s into a segment (3,630.3) and restarts an hour later;
    # standby none, so its cameras wait for it. Fragments of 0.2 s: each keeps 3,600-3,630.2.
    crash = 3_630.3
    sc = small(
        [{"type": "recorder_crash", "recorder": "c-r01", "at_s": crash, "duration_s": 3_600}],
        {"standby": {"type": "none"}},
        **{"recording.fragment_s": 0.2},
    )
    e, o = run(sc)
    city = o.city
    mine = np.flatnonzero(o.cam_recorder == 0)
    rest = np.flatnonzero(o.cam_recorder == 1)
    n = mine.size
    assert n > 50 and (city.cam_online_s == 0).all()
    np.testing.assert_allclose(o.cam_kept_s[mine], 30.2, atol=1e-9)
    assert o.cam_partials[mine].tolist() == [1] * n
    assert o.cam_partials[rest].sum() == 0 and o.cam_kept_s[rest].sum() == 0
    # The gap starts at the last fragment, 3,630.2, and ends at the restart, 7,230.3.
    np.testing.assert_allclose(o.gap_max_s[mine], 3_600.1, atol=1e-9)
    np.testing.assert_allclose(o.lost_s[mine], 3_600.1, atol=1e-9)
    # 17,280 s on line = 288 slots. Whole segments: 60 before the crash, then from 7,230.3 to
    # the end 167 (the last 9.7 s are a segment still being written). Dropped: the partial's
    # slot and the gap's, ceil((30.2 + 3,600.1) / 60) = 61. 60 + 167 + 61 = 288.
    assert o.cam_written[mine].tolist() == [60 + 167] * n
    assert o.dropped[DOWN, mine].tolist() == [61] * n
    assert (o.cam_written + o.dropped.sum(axis=0)).tolist() == [288] * city.n_cameras
    # Segment files: whole ones and one partial per camera of the crashed recorder.
    assert o.written_segments == int(o.cam_written.sum()) + n
    assert sim_metrics(o)["segments_written"] == o.written_segments
    assert o.written_segments == o.stored_segments_end  # nothing deleted, nothing lost
    # Its bytes: 30.2 s of each camera's rate on c-r01's disk, in the catalog and the ledger.
    per_s = e.cam_bps / 60
    expect = float((per_s[mine] * (60 * o.cam_written[mine] + 30.2)).sum())
    assert o.stored_bytes_end[0] == pytest.approx(expect, rel=1e-12)
    assert e.rec_used[0] == pytest.approx(expect, rel=1e-12)
    part = e.catalog.col("seg_s") != 60
    assert part.sum() == n and np.allclose(e.catalog.col("seg_s")[part], 30.2)
    np.testing.assert_allclose(e.catalog.col("start_s")[part], 3_600.0)
    # Unrecorded camera-minutes and the recovery time see the gap from the last fragment.
    m = sim_metrics(o)
    assert m["camera_minutes_unrecorded"] == pytest.approx(n * 3_600.1 / 60, abs=1e-5)
    assert m["recovery_s_max"] == pytest.approx(3_600.0)


def test_without_fragments_or_with_a_failed_disk_the_segment_under_way_is_lost():
    crash = 3_630.3
    fault = {"recorder": "c-r01", "at_s": crash, "duration_s": 3_600}
    plain = small([{"type": "recorder_crash", **fault}], {"standby": {"type": "none"}})
    disk = small(
        [{"type": "disk_failure", **fault}],
        {"standby": {"type": "none"}},
        **{"recording.fragment_s": 0.2},
    )
    for sc in (plain, disk):
        _, o = run(sc)
        mine = o.cam_recorder == 0
        assert o.cam_partials.sum() == 0 and o.cam_kept_s.sum() == 0
        np.testing.assert_allclose(o.gap_max_s[mine], 3_630.3, atol=1e-9)


def test_retention_deletes_a_partial_segment_like_any_other():
    # A crash 30 s into a segment of the first hour, a 1-hour retention over 0.2 days.
    sc = small(
        [{"type": "recorder_crash", "recorder": "c-r01", "at_s": 1_830.0, "duration_s": 600}],
        {"standby": {"type": "none"}},
        **{"recording.fragment_s": 0.2, "recording.retention_days": 1 / 24},
    )
    e, o = run(sc)
    assert o.cam_partials.sum() > 0
    part = e.catalog.col("seg_s") != 60
    assert (e.catalog.col("first")[part] >= e.catalog.col("n")[part]).all()  # all swept
    assert o.written_segments == o.deleted_segments + o.stored_segments_end


# ------------------------------------------------------------------ the reconnection storm
@pytest.mark.parametrize("per", [0.5, 0.25])
def test_the_kth_camera_moved_onto_a_standby_records_again_k_per_camera_later(per):
    # N+1: 3 recorders, the last a standby. c-r01 crashes on a beat and a segment boundary
    # (3,600); declared down 15 s later; the plan takes effect 30 s after that; its N cameras
    # go onto c-r03 in camera order, camera k at 3,645 + k x per.
    sc = small(
        [{"type": "recorder_crash", "recorder": "c-r01", "at_s": 3_600, "duration_s": 7_200}],
        {"standby": {"type": "n_plus_1"}, "reconnect_s_per_camera": per},
        **{"recorders.pools": pool(3)},
    )
    e, o = run(sc)
    mine = np.flatnonzero(e.faults.ctrl.home == 0)
    n = mine.size
    assert n > 50
    k = np.arange(1, n + 1)
    np.testing.assert_allclose(o.gap_max_s[mine], DETECT + 30 + k * per, atol=1e-9)
    ev = next(x for x in o.events if x["kind"] == "failover")
    assert ev["t_s"] == 3_645.0 and ev["to"] == {"c-r03": n}
    assert ev["last_camera_s"] == pytest.approx(3_645.0 + n * per)
    assert e.faults.recovery_s()[0] == pytest.approx(DETECT + 30 + n * per)
    assert fidelity(sc, o)["recovery_s.recorder_crash"] == pytest.approx(DETECT + 30 + n * per)
    # Each still records again: 1 + ceil(gap / 60) slots dropped, the rest whole segments.
    assert (o.cam_written + o.dropped.sum(axis=0)).tolist() == [288] * o.city.n_cameras


def test_without_a_reconnection_term_every_moved_camera_records_at_the_plan():
    sc = small(
        [{"type": "recorder_crash", "recorder": "c-r01", "at_s": 3_600, "duration_s": 7_200}],
        {"standby": {"type": "n_plus_1"}},
        **{"recorders.pools": pool(3)},
    )
    e, o = run(sc)
    mine = e.faults.ctrl.home == 0
    np.testing.assert_allclose(o.gap_max_s[mine], DETECT + 30)
    ev = next(x for x in o.events if x["kind"] == "failover")
    assert "last_camera_s" not in ev
    assert fidelity(sc, o)["recovery_s.recorder_crash"] == DETECT + 30


def test_a_camera_whose_recorder_returns_before_its_turn_goes_home():
    # 2 s per camera: the storm outlasts the outage (back at 3,700, beats at once, fail-back
    # 30 s later); the cameras not yet moved record on their own recorder again, none is
    # moved away from it afterwards.
    sc = small(
        [{"type": "recorder_crash", "recorder": "c-r01", "at_s": 3_600, "duration_s": 100}],
        {"standby": {"type": "n_plus_1"}, "reconnect_s_per_camera": 2.0},
        **{"recorders.pools": pool(3)},
    )
    e, o = run(sc)
    home = e.faults.ctrl.home
    assert (o.cam_recorder[home == 0] == 0).all()
    assert (o.cam_written + o.dropped.sum(axis=0)).tolist() == [288] * o.city.n_cameras


# ------------------------------------------------------------------ relays and power
def _rank_per_recorder(rec: np.ndarray) -> np.ndarray:
    k = np.zeros(rec.size)
    for r in np.unique(rec):
        on = np.flatnonzero(rec == r)
        k[on] = np.arange(1, on.size + 1)
    return k


def test_a_relay_serves_again_recovery_s_after_its_outage_and_its_cameras_reconnect_in_turn():
    # The city relay is down 3,600-4,200, serves again 30 s later; no standby relay. The k-th
    # camera of each recorder is back at 4,230 + k x 0.5.
    sc = small(
        [{"type": "relay_down", "relay": "city", "at_s": 3_600, "duration_s": 600}],
        {"relay": {"recovery_s": 30}, "reconnect_s_per_camera": 0.5},
    )
    e, o = run(sc)
    k = _rank_per_recorder(o.cam_recorder)
    np.testing.assert_allclose(o.gap_max_s, 630 + 0.5 * k, atol=1e-9)
    ev = next(x for x in o.events if x["kind"] == "cameras_reconnected")
    assert ev["t_s"] == 4_230.0 and ev["last_camera_s"] == pytest.approx(4_230 + 0.5 * k.max())
    assert fidelity(sc, o)["recovery_s.relay_down"] == pytest.approx(630 + 0.5 * k.max())
    assert e.faults.recovery_s()[0] == pytest.approx(630 + 0.5 * k.max())


def test_relay_recovery_alone_delays_every_camera_by_it():
    sc = small(
        [{"type": "relay_down", "relay": "city", "at_s": 3_600, "duration_s": 600}],
        {"relay": {"recovery_s": 30}},
    )
    _, o = run(sc)
    np.testing.assert_allclose(o.gap_max_s, 630)
    ev = next(x for x in o.events if x["kind"] == "cameras_reconnected")
    assert ev["t_s"] == 4_230.0 and "last_camera_s" not in ev
    assert fidelity(sc, o)["recovery_s.relay_down"] == 630


def test_a_standby_relay_takes_over_unless_the_relay_serves_again_first():
    # Standby relay: detection at 3,615, switch 10 s -> 3,625; the relay's own return (a 5 s
    # outage + 30 s recovery = 3,635) comes later, so the standby's switch ends the gap.
    sc = small(
        [{"type": "relay_down", "relay": "city", "at_s": 3_600, "duration_s": 5}],
        {"relay": {"standby": True, "recovery_s": 30}},
    )
    _, o = run(sc)
    np.testing.assert_allclose(o.gap_max_s, 25)
    # With a 1 s recovery the relay is back at 3,606, before the standby could switch.
    sc = small(
        [{"type": "relay_down", "relay": "city", "at_s": 3_600, "duration_s": 5}],
        {"relay": {"standby": True, "recovery_s": 1}},
    )
    _, o = run(sc)
    np.testing.assert_allclose(o.gap_max_s, 6)


def test_cameras_come_back_from_a_power_cut_one_after_another_per_recorder():
    # Wan Chai's power is off 3,600-4,200 (no UPS): its k-th camera on each recorder is back
    # at 4,200 + k x 1.5; Yau Tsim Mong's cameras never stopped.
    sc = small(
        [{"type": "district_power", "district": "Wan Chai", "at_s": 3_600, "duration_s": 600}],
        {"reconnect_s_per_camera": 1.5},
    )
    _, o = run(sc)
    wc = o.city.cam_district == o.city.district_names.index("Wan Chai")
    k = _rank_per_recorder(o.cam_recorder[wc])
    np.testing.assert_allclose(o.gap_max_s[wc], 600 + 1.5 * k, atol=1e-9)
    assert (o.gap_max_s[~wc] == 0).all()
    assert fidelity(sc, o)["recovery_s.district_power"] == pytest.approx(600 + 1.5 * k.max())


# ------------------------------------------------------------------ where the terms come from
def _calibrated(tmp_path: Path, **values: float) -> Scenario:
    cal = json.loads((ROOT / "scenarios/calibration/trial-15.json").read_text())
    for name, v in values.items():
        cal[name] = {"value": v, "unit": "s", "source": "measured", "used_by_simulator": True}
    (tmp_path / "cal.json").write_text(json.dumps(cal))
    data = load_scenario(ROOT / "scenarios/trial-15.yaml").model_dump(mode="json")
    data["calibration"] = "cal.json"
    data["failover"] = {"reconnect_s_per_camera": 3.0, "relay": {"recovery_s": 9.0}}
    data["recording"]["fragment_s"] = 5.0
    (tmp_path / "sc.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return load_scenario(tmp_path / "sc.yaml")


def test_a_calibration_replaces_the_failover_curve_it_measured(tmp_path):
    sc = _calibrated(
        tmp_path,
        failover_reconnect_s_per_camera=0.04,
        relay_recovery_s=1.3,
        recorder_fragment_s=0.2,
        power_reconnect_s=1.07,
    )
    sim = simulated_scenario(sc)
    assert sim.failover.reconnect_s_per_camera == 0.04
    assert sim.failover.relay.recovery_s == 1.3
    assert sim.failover.power_reconnect_s == 1.07
    assert sim.recording.fragment_s == 0.2
    assert sim.failover.reassign_s == sc.loaded_calibration.calibration.failover_reassign_s.value
    assert {k: v[1] for k, v in failover_curve(sc).items()} == {
        "failover.reconnect_s_per_camera": "calibration cal.json",
        "failover.relay.recovery_s": "calibration cal.json",
        "failover.power_reconnect_s": "calibration cal.json",
        "recording.fragment_s": "calibration cal.json",
    }
    res = run_scenario(sc, "sc.yaml", days=0.01)
    assert res.failover_curve == {
        "failover.reconnect_s_per_camera": {"value": 0.04, "source": "calibration cal.json"},
        "failover.relay.recovery_s": {"value": 1.3, "source": "calibration cal.json"},
        "failover.power_reconnect_s": {"value": 1.07, "source": "calibration cal.json"},
        "recording.fragment_s": {"value": 0.2, "source": "calibration cal.json"},
    }


def test_a_calibration_without_them_leaves_the_scenarios_own(tmp_path):
    sc = _calibrated(tmp_path, relay_recovery_s=1.3)
    sim = simulated_scenario(sc)
    assert (sim.failover.reconnect_s_per_camera, sim.failover.relay.recovery_s) == (3.0, 1.3)
    assert sim.recording.fragment_s == 5.0
    curve = failover_curve(sc)
    assert curve["failover.reconnect_s_per_camera"] == (3.0, "scenario")
    assert curve["recording.fragment_s"] == (5.0, "scenario")


@pytest.mark.parametrize(
    "container, fragment, fps",
    [("mp4", 0.2, 15.0), ("mpegts", 1 / 15, 15.0), ("mpegts", 1 / 25, 25.0)],
)
def test_a_live_scenario_keeps_what_its_recorders_container_keeps_of_a_crash(
    container, fragment, fps
):
    data = small_live("frag", 1, 30)
    data["live"]["recorders"] = {"container": container}
    data["camera_profiles"][0]["fps"] = fps
    sc = parse_scenario(data, "<test>")
    assert simulated_scenario(sc).recording.fragment_s == pytest.approx(fragment)
    assert failover_curve(sc)["recording.fragment_s"] == (
        pytest.approx(fragment),
        f"live.recorders.container {container}",
    )
    # Set in the scenario, the scenario's own value stands.
    data["recording"]["fragment_s"] = 1.0
    assert simulated_scenario(parse_scenario(data, "<test>")).recording.fragment_s == 1.0


def test_leaving_the_terms_at_their_defaults_changes_nothing_in_the_results():
    faults = [
        {"type": "recorder_crash", "recorder": "c-r01", "at_s": 3_630.3, "duration_s": 3_000},
        {"type": "relay_down", "relay": "Wan Chai", "at_s": 9_031.5, "duration_s": 900},
        {"type": "district_power", "district": "Yau Tsim Mong", "at_s": 12_000, "duration_s": 60},
    ]
    plain = small(faults, {"standby": {"type": "n_plus_1"}}, **{"recorders.pools": pool(3)})
    data = plain.model_dump(mode="json")
    data["failover"]["reconnect_s_per_camera"] = 0.0
    data["failover"]["relay"]["recovery_s"] = 0.0
    data["recording"]["fragment_s"] = None
    explicit = Scenario.model_validate(data)
    assert explicit.model_dump(mode="json") == plain.model_dump(mode="json")

    def dump(sc: Scenario) -> dict[str, Any]:
        out = run_scenario(sc, "sc.yaml").model_dump(mode="json")
        out.pop("run")
        return out

    a, b = dump(plain), dump(explicit)
    assert a == b and "failover_curve" not in a
    assert any(x["kind"] == "failover" for x in a["events"])
    assert not any("last_camera_s" in x for x in a["events"])


def test_a_shipped_scenario_reads_the_same_with_its_defaults_spelled_out():
    # evidence-7000: a city scenario that names no calibration, with its defaults spelled out
    path = ROOT / "scenarios/evidence-7000.yaml"
    sc = load_scenario(path)
    assert sc.calibration is None
    data = sc.model_dump(mode="json")
    data["failover"]["reconnect_s_per_camera"] = 0.0
    data["failover"]["power_reconnect_s"] = 0.0
    data["failover"]["relay"]["recovery_s"] = 0.0
    explicit = Scenario.model_validate(data)
    a = run_scenario(sc, "x", days=1).model_dump(mode="json")
    b = run_scenario(explicit, "x", days=1).model_dump(mode="json")
    a.pop("run"), b.pop("run")
    assert a == b


def test_a_stream_cut_upstream_keeps_all_its_segment_under_way_when_recorders_write_fragments():
    # The city relay goes down 30.5 s into a segment (3,630.5) for 600 s. The recorders stay
    # up: each sees its streams end and closes the file there (as the live recorder does), so
    # with fragment_s set every camera keeps 3,600-3,630.5 as a partial and its gap runs from
    # 3,630.5; without it, from the segment's start, 3,600.
    at = 3_630.5
    faults = [{"type": "relay_down", "relay": "city", "at_s": at, "duration_s": 600}]
    _, frag = run(small(faults, {}, **{"recording.fragment_s": 0.2}))
    _, plain = run(small(faults, {}))
    n = frag.city.n_cameras
    np.testing.assert_allclose(frag.cam_kept_s, 30.5, atol=1e-9)
    assert frag.cam_partials.tolist() == [1] * n
    np.testing.assert_allclose(frag.gap_max_s, 600.0, atol=1e-9)
    np.testing.assert_allclose(plain.gap_max_s, 630.5, atol=1e-9)
    assert plain.cam_partials.sum() == 0
    # The partial's slot is booked to the stop's own reason, and the slots still add up.
    relay = DROP_REASONS.index("relay_down")
    assert frag.dropped[DOWN].sum() == 0 and (frag.dropped[relay] == 11).all()
    assert (frag.cam_written + frag.dropped.sum(axis=0)).tolist() == (
        plain.cam_written + plain.dropped.sum(axis=0)
    ).tolist()
    assert frag.written_segments == int(frag.cam_written.sum()) + n
    m = sim_metrics(frag)
    assert m["camera_minutes_unrecorded"] == pytest.approx(n * 600.0 / 60, abs=1e-5)


def test_cameras_whose_power_came_back_are_recorded_again_power_reconnect_s_later():
    # Wan Chai's power is off 3,600-4,200: its cameras are back at 4,201.07 (the recorder's
    # retry, the connection, the first keyframe), the k-th of a recorder 0.5 k s after that.
    cut = [{"type": "district_power", "district": "Wan Chai", "at_s": 3_600, "duration_s": 600}]
    _, o = run(small(cut, {"power_reconnect_s": 1.07}))
    wc = o.city.cam_district == o.city.district_names.index("Wan Chai")
    np.testing.assert_allclose(o.gap_max_s[wc], 601.07, atol=1e-9)
    sc = small(cut, {"power_reconnect_s": 1.07, "reconnect_s_per_camera": 0.5})
    _, o = run(sc)
    k = _rank_per_recorder(o.cam_recorder[wc])
    np.testing.assert_allclose(o.gap_max_s[wc], 601.07 + 0.5 * k, atol=1e-9)
    assert fidelity(sc, o)["recovery_s.district_power"] == pytest.approx(601.07 + 0.5 * k.max())
