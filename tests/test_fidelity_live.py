"""Fidelity on equal terms, live: the trial deployment (shortened) run by both engines, and
the calibration round trip. (A clip whose bitrate is not the plan's, caught as a fidelity
failure: tests/test_live_validity.py, on its run.)

Real MediaMTX, Ray actors and segment files, as every live test. The trial's 35 cameras run
60 s with the analyser off (CI has 2 cores); its recorder r01 is killed 30 s into recording
and stays down, so its cameras move to the two others. The simulation of the same file runs
the same deployment with the trial's shipped calibration (scenarios/calibration/trial-15.json):
its stored bytes per camera-hour, ingest per recorder and segments written must be within
5 % of what the files say, its recovery from the crash within 1 s.

On equal terms, also on a loaded machine: the live run must say its harness kept its plan
(results.json `validity`), the live ingest is compared with what its cameras offered, and
the simulation is run as the live run ran it (`--as-run`: the crash detection the live run
really had, which a busy machine delays) so each recorder's ingest compares like with like.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from twin.cli.live import live_to
from twin.cli.main import main
from twin.compare.fidelity import fidelity_table
from twin.model.results import read_results
from twin.scenario import load_scenario

pytestmark = [pytest.mark.live, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
TRIAL = ROOT / "scenarios" / "live-trial-15.yaml"
CALIBRATION = ROOT / "scenarios" / "calibration" / "trial-15.json"
KILL_AT_S, DURATION_S = 30.0, 60.0


def _write(data: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _shortened_trial(folder: Path) -> Path:
    data = yaml.safe_load(TRIAL.read_text())
    data["calibration"] = str(CALIBRATION)
    data["live"]["duration_s"] = DURATION_S
    data["live"]["analyser"] = {"enabled": False}
    data["faults"] = [
        {
            "type": "recorder_crash",
            "recorder": "yau-tsim-mong-r01",
            "at_s": KILL_AT_S,
            "label": "CI drill",
        }
    ]
    data["targets"] = {
        "live_gap_max_s": {"max": 0},
        "live_segments_unreadable": {"max": 0},
        "live_faults_undetected": {"max": 0},
    }
    folder.mkdir(parents=True, exist_ok=True)
    return _write(data, folder / "live-trial-15.yaml")


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(scenario file, live run folder, simulated run folder) of the shortened trial."""
    tmp = tmp_path_factory.mktemp("fidelity")
    path = _shortened_trial(tmp / "scenarios")
    live_to(path, tmp / "live", quiet=True)
    main(
        ["simulate", str(path), "--out", str(tmp / "sim"), "--quiet", "--as-run", str(tmp / "live")]
    )
    return path, tmp / "live", tmp / "sim"


def test_the_trial_live_and_simulated_agree_within_its_fidelity_targets(trial) -> None:
    path, live_dir, sim_dir = trial
    live, sim = read_results(live_dir / "results.json"), read_results(sim_dir / "results.json")
    sc = load_scenario(path)
    assert live.scenario.sha256 == sim.scenario.sha256  # one deployment, one scenario
    assert sim.horizon_s == DURATION_S and abs(live.horizon_s - DURATION_S) < 1.0
    # The harness kept its plan (else its figures would be its own, not the deployment's).
    assert live.validity is not None and live.validity["valid"], live.validity
    assert live.metrics["live_harness_offered_ratio_min"] >= 0.98
    # The simulation moved the crashed recorder's cameras when the live run did: the live
    # detection in excess of the plan's 4 x 0.5 s heartbeats was added to its reassignment.
    detect = next(
        e["detect_s"]
        for e in live.events
        if e.get("kind") == "fault" and e.get("fault_kind") == "recorder_crash"
    )
    as_run = [e for e in sim.events if e["kind"] == "as_live_run"]
    shift = round(detect - 2.0, 3)
    assert [e["detect_shift_s"] for e in as_run] == ([shift] if shift else [])
    t = fidelity_table(live, sim, sc.fidelity)
    rows = {r.metric: r for r in t.rows}
    for name in (
        "stored_bytes_per_camera_hour",
        "segments_written",
        *[f"ingest_mbps_per_recorder[yau-tsim-mong-r0{k}]" for k in (1, 2, 3)],
    ):
        r = rows[name]
        assert r.live and r.simulate and abs(r.rel_pct) <= 5.0, (name, r)
    crash = rows["recovery_s.recorder_crash"]
    assert crash.live is not None and crash.simulate is not None
    assert abs(crash.diff) <= 1.0, crash
    # The cameras were placed alike, and the whole table passes the scenario's targets.
    assert all(rows[f"cameras_placed[yau-tsim-mong-r0{k}]"].diff == 0 for k in (1, 2, 3))
    assert t.passed, t.failure_lines()
    # `twin check --live` judges the same and passes; `twin compare` puts the table in the report.
    assert (
        main(
            [
                "check",
                str(path.parent),
                "--out",
                str(path.parent.parent / "check"),
                "--live",
                str(live_dir),
                "--quiet",
                "--jobs",
                "1",
            ]
        )
        == 0
    )
    junit = (path.parent.parent / "check" / "junit.xml").read_text()
    assert 'name="fidelity stored_bytes_per_camera_hour within 5 %"' in junit
    out = path.parent.parent / "cmp"
    assert main(["compare", str(live_dir), str(sim_dir), "--out", str(out), "--quiet"]) in (0, 1)
    html = (out / "report.html").read_text()
    assert 'id="fidelity"' in html and "recovery_s.recorder_crash" in html


def test_calibrating_from_the_live_run_moves_city_7000_storage_by_the_measured_ratio(
    trial, tmp_path: Path
) -> None:
    _, live_dir, _ = trial
    cal_path = tmp_path / "calibration.json"
    assert main(["calibrate", str(live_dir), "--out", str(cal_path)]) == 0
    cal = json.loads(cal_path.read_text())
    measured = cal["bytes_per_nominal_mbps"]["hd-h264-live"]
    assert measured["source"] == "measured" and "twin calibrate" in measured["command"]
    assert cal["bytes_per_nominal_mbps"]["*"]["source"] == "assumed"
    factor = measured["value"] / 125_000
    res = read_results(live_dir / "results.json")
    assert factor == pytest.approx(
        res.metrics["footage_bytes_written"] / res.metrics["footage_camera_s_recorded"] / 125_000,
        rel=1e-6,
    )
    assert 0 < cal["failover_reassign_s"]["value"] < 5

    city = yaml.safe_load((ROOT / "scenarios" / "city-7000.yaml").read_text())
    city.pop("calibration", None)
    plain = _write(city, tmp_path / "plain.yaml")
    calibrated = _write({**city, "calibration": str(cal_path)}, tmp_path / "calibrated.yaml")
    main(["simulate", str(plain), "--out", str(tmp_path / "plain"), "--quiet"])
    main(["simulate", str(calibrated), "--out", str(tmp_path / "cal"), "--quiet"])
    a = read_results(tmp_path / "plain" / "results.json")
    b = read_results(tmp_path / "cal" / "results.json")
    assert a.calibration is None
    assert b.calibration is not None and b.calibration.path == str(cal_path)
    assert b.calibration.sha256 == hashlib.sha256(cal_path.read_bytes()).hexdigest()
    for m in ("storage_model_tb", "storage_needed_tb"):
        assert b.metrics[m] == pytest.approx(a.metrics[m] * factor, rel=1e-6), m
    assert b.metrics["ingest_total_mbps"] == a.metrics["ingest_total_mbps"]  # streams as planned
