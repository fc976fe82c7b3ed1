"""twin compare: variants side by side, a failing under-provisioned variant, fidelity."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
import yaml

from tests.helpers import scenario
from twin.cli.main import main
from twin.cli.runs import resolve_input
from twin.compare.compare import compare
from twin.errors import ScenarioError
from twin.model.results import read_results

# 60 sets x 2 cameras x 4 Mbps (no spread) = 480 Mbps; 1 day of footage = 5.184 TB.
SMALL = {
    "city.cameras_per_set": {2: 1.0},
    "camera_profiles": [{"name": "fhd", "bitrate_mbps": 4.0, "bitrate_spread_pct": 0}],
    "recording.retention_days": 1,
    "simulation.days": 2,
}
TARGETS = {"segments_dropped": {"max": 0}, "storage_headroom_pct_min": {"min": 20}}
PRICES = {
    "recorder_hkd": 100_000,
    "disk_hkd_per_tb": 1_000,
    "backhaul_hkd_per_gbps": 10,
    "drive_tb": 0.5,
}


def _write(tmp_path, name, **overrides):
    sc = scenario(**{**SMALL, **overrides}, name=name, targets=TARGETS, costs=PRICES)
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(sc.model_dump(mode="json")))
    return p


def _csv(path):
    with path.open() as f:
        return {row[0]: row for row in csv.reader(f)}


def test_variant_with_fewer_disks_than_it_needs_fails_its_targets_in_the_comparison(
    tmp_path, capsys
):
    ok = _write(tmp_path, "enough")  # 2 recorders x 400 TB
    pool = {
        "name": "central",
        "districts": "*",
        "recorders": 2,
        "ingest_mbps": 1000,
        "disk_tb": 2.5,
        "max_streams": 200,
    }
    short = _write(tmp_path, "short", **{"recorders.pools": [pool]})  # 5 TB < 5.184 TB
    out = tmp_path / "cmp"
    assert main(["compare", str(ok), str(short), "--out", str(out), "--quiet"]) == 1
    # The answer (the tables) is on stdout, whole and unwrapped; messages on stderr.
    said = capsys.readouterr()
    assert "Comparison: each against enough" in said.out and "disks_needed" in said.out
    assert "Comparison" not in said.err and "report:" in said.err
    assert not re.search(r"\de-\d\d", said.out)  # no exponent in front of a person

    rows = _csv(out / "comparison.csv")
    assert rows["metric"][3:5] == ["enough", "short"]
    assert rows["targets_passed"][3:5] == ["1", "0"]
    # drives of 0.5 TB: provisioned 2 x 800 and 2 x 5; needed ceil(5.184 / 0.5) = 11 in both
    assert rows["disks"][3:5] == ["1600", "10"]
    assert rows["disks_needed"][3:5] == ["11", "11"]
    assert rows["recorders_needed"][3:5] == ["1", "3"]  # 5.184 TB on 2.5 TB recorders
    # 2 recorders x 100,000 + TB x 1,000 + 200 Gbps of backhaul x 10
    assert rows["cost_total_hkd"][3:5] == ["1.002e+06", "207000"]
    assert float(rows["segments_dropped"][4]) > 0 and rows["segments_dropped"][3] == "0"

    md = (out / "comparison.md").read_text()
    assert "| enough | simulate | " in md and "| PASS |" in md
    assert "| short | simulate | " in md
    assert "**FAIL**: `segments_dropped`, `storage_headroom_pct_min` |" in md
    assert (
        "- Analyser compute: none of these runs has an `analytics:` section, so it is left out "
        "(no figures invented)."
    ) in md
    for f in ("metrics.png", "districts.png", "districts.csv", "runs/short/results.json"):
        assert (out / f).stat().st_size > 0, f


def test_live_and_simulated_runs_of_one_deployment_give_fidelity_per_metric(tmp_path):
    """The comparison code on a simulated run of the trial and a copy of it relabelled live
    with 10 % more footage bytes on one recorder (the real live runs: test_fidelity_live.py)."""
    trial = "scenarios/live-trial-15.yaml"
    sim_dir = tmp_path / "sim"
    main(["simulate", trial, "--out", str(sim_dir), "--quiet"])
    live = json.loads((sim_dir / "results.json").read_text())
    live["engine"] = "live"
    extra = live["per_recorder"][1]["bytes"] * 0.10
    live["per_recorder"][1]["bytes"] += extra
    live["metrics"]["footage_bytes_written"] += extra
    live_dir = tmp_path / "live"
    live_dir.mkdir()
    (live_dir / "results.json").write_text(json.dumps(live))

    c = compare([read_results(sim_dir / "results.json"), resolve_input(live_dir, tmp_path)])
    assert c.fidelity == ((0, 1),)
    ((table, note),) = c.fidelity_tables()
    assert note == "" and table.same_scenario
    rows = {r.metric: r for r in table.rows}
    r02 = rows["ingest_mbps_per_recorder[yau-tsim-mong-r02]"]
    assert r02.rel_pct == pytest.approx(100 * (1 / 1.10 - 1))  # simulate - live, of live
    assert r02.target is not None and r02.passed is False
    assert rows["ingest_mbps_per_recorder[yau-tsim-mong-r01]"].passed is True
    assert rows["cameras_placed[yau-tsim-mong-r01]"].diff == 0
    assert rows["segments_written"].diff == 0 and rows["segments_written"].passed
    crash = rows["recovery_s.recorder_crash"]  # the copy has no live fault records
    # detection (4 missed beats of 0.5 s) + the calibration's reassignment time
    reassign = json.loads(Path("scenarios/calibration/trial-15.json").read_text())[
        "failover_reassign_s"
    ]["value"]
    assert crash.simulate == pytest.approx(2.0 + reassign)
    assert crash.live is None and crash.passed is False
    failures = table.failure_lines()
    assert (
        "fidelity recovery_s.recorder_crash: not measured by live; expected within 1 s of "
        "the live run"
    ) in failures
    assert any(
        f.startswith("fidelity ingest_mbps_per_recorder[yau-tsim-mong-r02]: simulate")
        for f in failures
    ), failures

    out = tmp_path / "cmp"
    assert main(["compare", str(live_dir), str(sim_dir), "--out", str(out), "--quiet"]) == 1
    md = (out / "comparison.md").read_text()
    assert "## Fidelity: live-trial-15 live against simulated" in md
    assert "| `ingest_mbps_per_recorder[yau-tsim-mong-r02]` | Mbps |" in md
    assert "Fidelity targets: **FAIL**" in md
    html = (out / "report.html").read_text()
    assert 'id="fidelity"' in html and "ingest_mbps_per_recorder[yau-tsim-mong-r02]" in html
    assert (out / "fidelity.csv").read_text().startswith("metric,unit,live,simulate,")


def test_inputs_that_are_not_runs_are_refused_with_the_fix(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        ScenarioError, match=r"empty: a folder without results\.json; pass a run folder"
    ):
        resolve_input(tmp_path / "empty", tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(
        ScenarioError, match=r"notes\.txt: expected a scenario \(\.yaml\), a run folder"
    ):
        resolve_input(tmp_path / "notes.txt", tmp_path)


def test_fidelity_pairs_runs_by_name_when_the_hash_differs_and_says_so(tmp_path):
    sim_dir = tmp_path / "sim"
    assert main(["simulate", str(_write(tmp_path, "same")), "--out", str(sim_dir), "--quiet"]) == 0
    sim = read_results(sim_dir / "results.json")
    live = sim.model_copy(
        update={
            "engine": "live",
            "scenario": sim.scenario.model_copy(update={"sha256": "0" * 64}),
            "targets": [],
            "metrics": {**sim.metrics, "live_gap_max_s": 3.0},
        }
    )
    c = compare([sim, live])
    assert c.fidelity == ((0, 1),)
    out = tmp_path / "cmp"
    out.mkdir()
    from twin.compare.compare import write_markdown

    md = write_markdown(c, out, {}).read_text()
    assert (
        "**The scenario SHA-256 differs** (the file or the schema changed between the runs)" in md
    )
    assert "| `live_gap_max_s` |" not in md.split("## Fidelity")[1]  # fidelity metrics only
    assert "| `segments_written` |" in md.split("## Fidelity")[1]
