"""The harness's verdict on itself (twin.live.harness), from counters made here: a run whose
publishers, relay or driver fell behind is invalid and says which first and what to do; the
lateness histogram's quantiles; results.json keeps the verdict and refuses an invalid run
for fidelity and calibration."""

from __future__ import annotations

import pytest

from synthetic_streams.publish import LATE_EDGES_S, PublisherStats, late_quantile
from twin.errors import InvalidRun
from twin.live.harness import BOUNDS, MachineSample, harness_metrics, validity
from twin.model.results import refuse_invalid, validity_line, validity_markdown


def _hist(*lates: float) -> tuple[int, ...]:
    import bisect

    h = [0] * (len(LATE_EDGES_S) + 1)
    for x in lates:
        h[bisect.bisect_left(LATE_EDGES_S, x)] += 1
    return tuple(h)


def _pub(sent: int, planned: int, lates: list[float], stall: float = 0.0) -> PublisherStats:
    return PublisherStats(
        len(lates),
        sent,
        1,
        1,
        0,
        0,
        True,
        None,
        len(lates),
        planned,
        _hist(*lates),
        max([stall, *lates]),
        0.001,
    )


def _ok_pubs() -> dict[str, PublisherStats]:
    return {f"cam{i}": _pub(1_000_000, 1_000_000, [0.002] * 990 + [0.04] * 10) for i in range(4)}


MACHINE = [MachineSample(1.0, 55.0, 0.0, 1.2), MachineSample(3.0, 60.0, 0.5, 1.4)]


def _verdict(
    pubs,
    lag=None,
    lag_at=None,
    faults_late=(),
    relay=None,
    behind=None,
    machine=MACHINE,
    analyser_late=None,
):
    lag = lag if lag is not None else {"heartbeat": [0.01] * 200}
    lag_at = lag_at if lag_at is not None else {"heartbeat": [0.5 * i for i in range(200)]}
    return validity(
        pubs,
        lag,
        lag_at,
        list(faults_late),
        relay or {},
        machine,
        behind or {},
        20.0,
        2,
        analyser_late,
    )


def test_lateness_quantiles_read_the_bucket_edge_above() -> None:
    h = _hist(*([0.003] * 98 + [0.7, 2.5]))
    assert late_quantile(h, 0.5) == pytest.approx(min(e for e in LATE_EDGES_S if e >= 0.003))
    p99 = late_quantile(h, 0.99)
    assert 0.7 <= p99 <= 0.7 * 1.25
    assert late_quantile(h, 1.0) >= 2.5
    assert late_quantile((), 0.99) == 0.0


def test_a_harness_that_kept_its_plan_is_valid_and_says_so() -> None:
    v = _verdict(_ok_pubs(), relay={f"cam{i}": 1.004 for i in range(4)})
    assert v["valid"] and v["first_behind"] is None and all(c["passed"] for c in v["checks"])
    assert {c["check"] for c in v["checks"]} == set(BOUNDS) - {"fault_late_max_s"}
    assert validity_line(v).startswith("VALID run")


def test_publishers_held_back_make_the_run_invalid_naming_the_cameras_and_the_fix() -> None:
    pubs = _ok_pubs()
    # cam2 stalled 3 s (45 frames late by up to 3 s) and ended 4 % short of its plan.
    pubs["cam2"] = _pub(
        960_000, 1_000_000, [0.002] * 900 + [3.0 - 0.066 * k for k in range(45)], stall=3.0
    )
    v = _verdict(
        pubs,
        behind={"cam2": 12.5},
        analyser_late={"cam2": 30, "cam0": 4},
        machine=[MachineSample(1.0, 97.0, 0.0, 6.0)],
    )
    assert not v["valid"] and v["first_behind"] == "publishers" and v["first_behind_s"] == 12.5
    failed = {c["check"]: c for c in v["checks"] if not c["passed"]}
    assert set(failed) == {"offered_ratio_min", "publish_late_p99_s", "publish_stall_max_s"}
    assert all(c["concerns"] == ["cam2"] for c in failed.values())
    assert failed["offered_ratio_min"]["value"] == pytest.approx(0.96)
    assert "fewer cameras per node" in v["advice"] and "97 % busy" in v["advice"]
    # The analyser's late frames on the held-back camera are the harness's, the rest its own.
    assert v["analyser_frames_dropped_late"]["harness"] == 30
    assert v["analyser_frames_dropped_late"]["deployment"] == 4
    line = validity_line(v)
    assert line.startswith("INVALID run") and "cam2" in line and "not judged" in line
    assert any("**BEHIND**" in x for x in validity_markdown(v))


def test_what_fell_behind_first_is_judged_by_time() -> None:
    pubs = _ok_pubs()
    pubs["cam1"] = _pub(900_000, 1_000_000, [0.002] * 100)
    lag = {"heartbeat": [0.01] * 50 + [0.9] * 10}
    lag_at = {"heartbeat": [float(i) for i in range(60)]}  # late from t = 50 s on
    early_driver = _verdict(pubs, lag, lag_at, behind={"cam1": 55.0})
    assert early_driver["behind"] == ["driver", "publishers"]
    assert early_driver["first_behind"] == "driver" and early_driver["first_behind_s"] == 50.0
    early_pub = _verdict(pubs, lag, lag_at, behind={"cam1": 5.0})
    assert early_pub["first_behind"] == "publishers"


def test_a_relay_that_took_in_less_than_offered_is_named() -> None:
    v = _verdict(_ok_pubs(), relay={"cam0": 1.003, "cam1": 0.91, "cam2": 1.0, "cam3": 0.5})
    relay = next(c for c in v["checks"] if c["check"] == "relay_received_ratio_min")
    assert not relay["passed"] and relay["concerns"] == ["cam3", "cam1"]
    assert v["first_behind"] == "relay" and "relay (MediaMTX)" in v["advice"]


def test_a_late_fault_and_a_lagging_driver_fail_the_driver_checks() -> None:
    v = _verdict(_ok_pubs(), faults_late=[0.1, 0.8])
    assert [c["check"] for c in v["checks"] if not c["passed"]] == ["fault_late_max_s"]
    assert v["first_behind"] == "driver"
    m = harness_metrics(_ok_pubs(), {"heartbeat": [0.01, 0.02, 0.6]}, [0.8], {"cam0": 1.0}, MACHINE)
    assert m["live_harness_driver_lag_s_max"] == 0.6
    assert m["live_harness_fault_late_s_max"] == 0.8
    assert m["live_machine_cpu_busy_pct_max"] == 60.0
    assert m["live_harness_offered_ratio_min"] == 1.0


def test_an_invalid_run_is_refused_with_exit_4_naming_the_run_and_the_way_out() -> None:
    from twin.model.results import Results, RunInfo, ScenarioInfo

    pubs = _ok_pubs()
    pubs["cam3"] = _pub(500_000, 1_000_000, [0.002] * 10)
    res = Results(
        engine="live",
        scenario=ScenarioInfo(name="t", source="t.yaml", sha256="x", seed=1),
        horizon_s=10.0,
        metrics={},
        targets=[],
        passed=True,
        validity=_verdict(pubs),
        run=RunInfo(started_at="", wall_s=1.0, twin_version="0", python="3", host_cpus=2),
    )
    assert res.invalid
    with pytest.raises(InvalidRun) as err:
        refuse_invalid(res, "out/run", "`twin calibrate`")
    assert err.value.exit_code == 4
    msg = str(err.value)
    assert "out/run" in msg and "cam3" in msg and "--accept-invalid" in msg
    # results.json keeps the verdict; a simulation's has none (written as before).
    again = Results.model_validate_json(res.model_dump_json())
    assert again.validity == res.validity
    assert "validity" not in res.model_copy(update={"validity": None}).model_dump()
