from __future__ import annotations

import json

import yaml

from tests.helpers import scenario
from twin.cli import main


def _write(tmp_path, sc, name="s.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(sc.model_dump(mode="json")))
    return p


def test_simulate_writes_results_plots_report_and_exits_0_when_targets_pass(tmp_path):
    sc = scenario(**{"simulation.days": 2, "recording.retention_days": 1},
                  targets={"segments_dropped": {"max": 0}, "storage_headroom_pct_min": {"min": 20}})
    out = tmp_path / "out"
    assert main(["simulate", str(_write(tmp_path, sc)), "--out", str(out), "--quiet"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["passed"] is True and res["engine"] == "simulate"
    assert [t["metric"] for t in res["targets"]] == ["segments_dropped", "storage_headroom_pct_min"]
    for f in ("storage_by_pool.png", "ingest_by_district.png", "recorder_utilisation.png",
              "segments.png", "report.md", "timeseries.csv", "cameras.csv"):
        assert (out / f).stat().st_size > 0, f
    assert (out / "storage_by_pool.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    assert "| `segments_dropped` | <= 0 segments | 0 | PASS |" in report
    assert "![storage_by_pool](storage_by_pool.png)" in report


def test_simulate_exits_1_when_a_target_fails(tmp_path):
    sc = scenario(**{"simulation.days": 1}, targets={"storage_headroom_pct_min": {"min": 99.9}})
    out = tmp_path / "out"
    assert main(["simulate", str(_write(tmp_path, sc)), "--out", str(out), "--quiet"]) == 1
    res = json.loads((out / "results.json").read_text())
    assert res["passed"] is False
    assert res["targets"][0]["passed"] is False


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
    err = capsys.readouterr().err
    assert "ok" in err and "invalid" in err
