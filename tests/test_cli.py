from __future__ import annotations

import json

import pytest
import yaml

from tests.helpers import scenario
from twin.cli.main import main


def _write(tmp_path, sc, name="s.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(sc.model_dump(mode="json")))
    return p


def test_simulate_writes_results_plots_report_and_exits_0_when_targets_pass(tmp_path):
    sc = scenario(
        **{"simulation.days": 2, "recording.retention_days": 1},
        targets={"segments_dropped": {"max": 0}, "storage_headroom_pct_min": {"min": 20}},
    )
    out = tmp_path / "out"
    assert main(["simulate", str(_write(tmp_path, sc)), "--out", str(out), "--quiet"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["passed"] is True and res["engine"] == "simulate"
    assert [t["metric"] for t in res["targets"]] == ["segments_dropped", "storage_headroom_pct_min"]
    for f in (
        "storage_by_pool.png",
        "ingest_by_district.png",
        "recorder_utilisation.png",
        "segments.png",
        "report.md",
        "timeseries.csv",
        "cameras.csv",
    ):
        assert (out / f).stat().st_size > 0, f
    assert (out / "storage_by_pool.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    assert "| `segments_dropped` | <= 0 segments | 0 | PASS |" in report
    assert "![storage_by_pool](storage_by_pool.png)" in report


def test_simulate_exits_1_when_a_target_fails_and_says_what_would_fix_it(tmp_path, capsys):
    sc = scenario(**{"simulation.days": 1}, targets={"storage_headroom_pct_min": {"min": 99.9}})
    out = tmp_path / "out"
    assert main(["simulate", str(_write(tmp_path, sc)), "--out", str(out), "--quiet"]) == 1
    res = json.loads((out / "results.json").read_text())
    assert res["passed"] is False
    assert res["targets"][0]["passed"] is False
    printed = capsys.readouterr().out
    assert "What would fix it:\n- Disk: about " in printed
    assert "of usable disk to keep 99.9 % free at the peak" in printed


def test_bad_scenario_exits_2_and_runs_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nseed: -1\n")
    out = tmp_path / "out"
    assert main(["simulate", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "field seed: got -1" in err and "field city" in err
    assert not out.exists()


def test_validate_reports_each_file(tmp_path, capsys):
    good = _write(tmp_path, scenario(), "good.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    assert main(["validate", str(good), str(bad)]) == 2
    out = capsys.readouterr().out  # the verdict per file is the answer: stdout
    assert f"ok {good}: unit, 60 sets" in out and f"invalid {bad}: 4 problem(s)" in out
    assert "line 1, column 1: field recorders: missing; add it" in out


# -- the answer on stdout (issue 27) -------------------------------------------------------------
def test_simulate_redirected_to_a_file_holds_the_verdict_table_and_progress_stays_on_stderr(
    tmp_path,
):
    import subprocess
    import sys
    from pathlib import Path

    twin = Path(sys.executable).parent / "twin"
    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "out"
    with (tmp_path / "out.txt").open("w") as stdout:
        proc = subprocess.run(
            [str(twin), "simulate", "scenarios/trial-15.yaml", "--out", str(out)],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            cwd=root,
            timeout=300,
        )
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "out.txt").read_text()
    assert "trial-15: PASS" in text
    rows = {line.split("│")[1].strip(): line for line in text.splitlines() if line.count("│") == 5}
    assert sorted(rows) == [
        "backhaul_util_pct_max",
        "recorder_ingest_util_pct_max",
        "retention_max_age_days",
        "segments_dropped",
        "storage_headroom_pct_min",
    ]
    assert all("PASS" in row for row in rows.values())
    assert "results:" not in text and "results:" in proc.stderr  # where the files are: stderr


def test_json_prints_the_summary_of_results_json_and_nothing_else(tmp_path, capsys):
    sc = scenario(
        **{"simulation.days": 1},
        targets={"segments_dropped": {"max": 0}, "storage_headroom_pct_min": {"min": 99.9}},
    )
    out = tmp_path / "out"
    assert (
        main(["simulate", str(_write(tmp_path, sc)), "--out", str(out), "--quiet", "--json"]) == 1
    )
    summary = json.loads(capsys.readouterr().out)  # stdout is one JSON document
    res = json.loads((out / "results.json").read_text())
    for key in ("engine", "scenario", "horizon_s", "passed", "targets", "metrics"):
        assert summary[key] == res[key], key
    assert summary["passed"] is False and summary["files"]["results"] == str(out / "results.json")
    assert summary["schema_name"] == "cctv-twin/summary"


def test_a_wide_table_is_not_wrapped_when_stdout_is_not_a_terminal(tmp_path, capsys):
    long = "segments_dropped_unassigned_after_failover"
    sc = scenario(
        **{"simulation.days": 1},
        targets={long: {"max": 0}, "recorder_streams_util_pct_max": {"max": 100}},
    )
    assert (
        main(["simulate", str(_write(tmp_path, sc)), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    )
    lines = capsys.readouterr().out.splitlines()
    row = next(line for line in lines if long in line)
    assert "<= 0 segments" in row and "PASS" in row  # one line, whatever its width
    assert max(map(len, lines)) > 80


def test_json_with_replications_prints_what_replications_json_holds(tmp_path, capsys):
    sc = scenario(**{"simulation.days": 1}, targets={"segments_dropped": {"max": 0}})
    out = tmp_path / "rep"
    assert (
        main(
            [
                "simulate",
                str(_write(tmp_path, sc)),
                "--out",
                str(out),
                "--quiet",
                "--replications",
                "3",
                "--backend",
                "local",
                "--json",
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    written = json.loads((out / "replications.json").read_text())
    assert printed == written and printed["replications"] == 3


def test_a_drills_answer_on_stdout_names_the_recorders_and_the_recovery(
    tmp_path, capsys, monkeypatch
):
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    assert (
        main(
            [
                "simulate",
                "scenarios/drill-recorder-lost-7000.yaml",
                "--out",
                str(tmp_path / "drill"),
                "--quiet",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    # By hand, from the measured curve the drill names: the crash lands on a whole minute
    # (nothing of the segment under way to keep); 198 cameras onto the standby, the k-th at
    # 15 s (3 missed 5 s beats) + a + k b.
    cal = json.loads(Path("scenarios/calibration/failover-storm.json").read_text())
    a = cal["failover_reassign_s"]["value"]
    b = cal["failover_reconnect_s_per_camera"]["value"]
    lost_min = sum(15 + a + k * b for k in range(1, 199)) / 60
    last_s = 15 + a + 198 * b
    assert (lost_min, last_s) == (pytest.approx(55.43, abs=0.005), pytest.approx(17.84, abs=0.005))
    assert (
        "Drill: recorder_crash yau-tsim-mong-r01 (NVR power supply failure) at day 2.0\n"
        "- recorders that failed: yau-tsim-mong-r01\n"
        "- recorders that took their cameras: yau-tsim-mong-r08 (198 cameras)\n"
        "- footage lost: 55.43 camera-min\n"
    ) in out
    assert "- time to recover (longest): 17.84 s" in out


def test_the_default_scenario_of_make_run_is_found() -> None:
    """`make run` is `twin simulate` with no file: its scenario must be where the command looks
    (a module moved a folder deeper once pointed it into twin/)."""
    from twin.cli.main import DEFAULT_SCENARIO, SCENARIOS_DIR

    assert (SCENARIOS_DIR / DEFAULT_SCENARIO).is_file(), SCENARIOS_DIR
