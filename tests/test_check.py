"""twin check: targets and baseline regressions, JUnit XML, and the --update-baseline path."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
import yaml

from tests.helpers import scenario
from twin.cli.main import main
from twin.compare.check import load_baseline, regressions
from twin.errors import ScenarioError

POOL = {
    "name": "central",
    "districts": "*",
    "recorders": 2,
    "ingest_mbps": 1000,
    "disk_tb": 400,
    "max_streams": 200,
}


def _write(folder, name, disk_tb=400.0, **targets):
    sc = scenario(
        **{
            "city.cameras_per_set": {2: 1.0},
            "recording.retention_days": 1,
            "simulation.days": 2,
            "recorders.pools": [dict(POOL, disk_tb=disk_tb)],
        },
        name=name,
        targets=targets or {"segments_dropped": {"max": 0}},
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(sc.model_dump(mode="json")))


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "scenarios"
    _write(d, "alpha")
    _write(d, "beta", storage_headroom_pct_min={"min": 20})
    _write(d / "variants", "broken", disk_tb=0.5)  # fails, but check never reads variants/
    return d


def test_update_baseline_then_an_unchanged_folder_passes(folder, tmp_path):
    # default --jobs: two worker processes; the other tests run in-process (--jobs 1)
    out = tmp_path / "out"
    assert main(["check", str(folder), "--out", str(out), "--update-baseline", "--quiet"]) == 0
    base = load_baseline(folder / "baseline.json")
    assert sorted(base) == ["alpha", "beta"]
    assert base["alpha"]["metrics"]["segments_dropped"] == 0.0
    assert main(["check", str(folder), "--out", str(out), "--quiet"]) == 0
    suites = ET.parse(out / "junit.xml").getroot()
    assert suites.get("tests") == "4" and suites.get("failures") == "0"
    assert [(s.get("name"), [c.get("name") for c in s]) for s in suites] == [
        ("alpha", ["target segments_dropped <= 0 segments", "baseline"]),
        ("beta", ["target storage_headroom_pct_min >= 20 %", "baseline"]),
    ]
    assert (
        "| `alpha.yaml` (alpha) | 1/1 met | no regression | PASS |"
        in (out / "summary.md").read_text()
    )


def test_a_worsened_metric_fails_with_scenario_metric_baseline_and_value(folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(
            ["check", str(folder), "--out", str(out), "--update-baseline", "--quiet", "--jobs", "1"]
        )
        == 0
    )
    before = load_baseline(folder / "baseline.json")["beta"]["metrics"]["storage_headroom_pct_min"]
    _write(folder, "beta", disk_tb=10.0, storage_headroom_pct_min={"min": 20})  # 1 day on 20 TB
    assert main(["check", str(folder), "--out", str(out), "--quiet", "--jobs", "1"]) == 1
    now = json.loads((out / "beta/results.json").read_text())["metrics"]["storage_headroom_pct_min"]
    assert now < before * 0.98
    msg = (
        f"beta: storage_headroom_pct_min worsened: baseline {before:g} %, now {now:g} % "
        f"(higher is better, {100 * (now - before) / before:+.2f} %; tolerance 2 %)"
    )
    assert f"REGRESSION {msg}" in capsys.readouterr().err.replace("\n", "")  # rich wraps

    suites = ET.parse(out / "junit.xml").getroot()
    assert suites.get("failures") == "1"
    beta = suites.find("testsuite[@name='beta']")
    failure = beta.find("testcase[@name='baseline']/failure")
    # less disk: also disk_total_tb and storage_headroom_pct, one line each, in name order
    assert failure.get("type") == "Regression"
    assert failure.text.splitlines()[0].startswith(
        "beta: disk_total_tb worsened: baseline 800 TB, now 20 TB"
    )
    assert failure.text.splitlines()[2] == msg
    assert beta.find("testcase[@name='target storage_headroom_pct_min >= 20 %']/failure") is None
    assert (
        "| `beta.yaml` (beta) | 1/1 met | 3 worse (scenario changed) | **FAIL** |"
        in (out / "summary.md").read_text()
    )
    # within a looser tolerance the same change passes
    assert (
        main(
            [
                "check",
                str(folder),
                "--out",
                str(out),
                "--tolerance-pct",
                "98",
                "--quiet",
                "--jobs",
                "1",
            ]
        )
        == 0
    )


def test_a_failed_target_is_a_junit_failure_and_exit_1(tmp_path):
    folder = tmp_path / "scenarios"
    _write(folder, "tight", storage_headroom_pct_min={"min": 99.9})
    out = tmp_path / "out"
    assert main(["check", str(folder), "--out", str(out), "--quiet", "--jobs", "1"]) == 1
    case = (
        ET.parse(out / "junit.xml")
        .getroot()
        .find("testsuite/testcase[@name='target storage_headroom_pct_min >= 99.9 %']")
    )
    assert (
        case.find("failure")
        .get("message")
        .startswith("tight: target storage_headroom_pct_min >= 99.9 %: measured ")
    )
    assert case.find("failure").get("type") == "TargetFailed"
    skipped = (
        ET.parse(out / "junit.xml").getroot().find("testsuite/testcase[@name='baseline']/skipped")
    )
    assert (
        skipped.get("message")
        == "tight: no baseline; run `twin check --update-baseline` to record one"
    )


def test_regression_rule_uses_the_metric_direction_and_treats_zero_baselines_absolutely():
    base = {"segments_dropped": 0.0, "storage_headroom_pct_min": 30.0, "cameras": 100.0}
    assert (
        regressions(
            "s", {"segments_dropped": 0.0, "storage_headroom_pct_min": 29.5, "cameras": 150.0}, base
        )
        == []
    )  # 1.7 % worse, within 2 %
    got = regressions(
        "s", {"segments_dropped": 1.0, "storage_headroom_pct_min": 40.0, "cameras": 97.0}, base
    )
    assert [(r.metric, r.baseline, r.value) for r in got] == [
        ("cameras", 100.0, 97.0),
        ("segments_dropped", 0.0, 1.0),
    ]
    assert got[1].message == (
        "s: segments_dropped worsened: baseline 0 segments, now 1 segments "
        "(lower is better; tolerance 2 %)"
    )
    gone = regressions("s", {}, {"segments_dropped": 0.0})
    assert gone[0].message.startswith(
        "s: segments_dropped is no longer reported (baseline 0 segments)"
    )


def test_a_folder_without_scenarios_or_a_broken_baseline_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScenarioError, match=r"empty: no scenario files \(\*\.yaml\) in it"):
        from twin.compare.check import scenario_files

        scenario_files(tmp_path / "empty")
    (tmp_path / "baseline.json").write_text("{")
    with pytest.raises(
        ScenarioError, match=r"baseline\.json: not valid JSON .*run `twin check --update-baseline`"
    ):
        load_baseline(tmp_path / "baseline.json")


def test_live_only_targets_are_skipped_on_a_simulated_run(tmp_path):
    folder = tmp_path / "scenarios"
    _write(folder, "livey", live_gap_max_s={"max": 0}, segments_dropped={"max": 0})
    out = tmp_path / "out"
    assert main(["check", str(folder), "--out", str(out), "--quiet", "--jobs", "1"]) == 0
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite.get("skipped") == "2" and suite.get("failures") == "0"  # live target, baseline
    skipped = suite.find("testcase[@name='target live_gap_max_s <= 0 s']/skipped")
    assert (
        skipped.get("message")
        == "live_gap_max_s is measured by `twin live` only; this run was simulated"
    )
    assert (
        "| `livey.yaml` (livey) | 1/1 met (1 live-only, skipped) | none yet | PASS |"
        in (out / "summary.md").read_text()
    )
