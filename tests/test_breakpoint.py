"""Where a deployment breaks first: the search finds the limit a hand calculation gives."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from twin.cli.main import main
from twin.compare.breakpoint import Growth, demand, find_breakpoint, grow
from twin.errors import ScenarioError
from twin.scenario import parse_scenario

# Two districts; every set has 2 cameras at exactly 4 Mbps, so a set is 8 Mbps. The recorders,
# the disks and Big's backhaul are far larger than needed: Small's backhaul (1,010 Mbps) is
# clearly the smallest resource, and it binds when Small carries more than 1,010 / 8 = 126
# sets, i.e. 1,010 / 800 = x1.2625 of today's bitrate.
HAND: dict = {
    "name": "hand",
    "seed": 3,
    "city": {
        "districts": [
            {"name": "Big", "sets": 900, "backhaul_mbps": 1_000_000},
            {"name": "Small", "sets": 100, "backhaul_mbps": 1010},
        ],
        "cameras_per_set": {2: 1.0},
    },
    "camera_profiles": [{"name": "fhd", "bitrate_mbps": 4.0}],
    "recording": {"segment_s": 60, "retention_days": 1, "sweep_interval_s": 3600},
    "recorders": {
        "pools": [
            {
                "name": "all",
                "districts": "*",
                "recorders": 20,
                "ingest_mbps": 10_000,
                "disk_tb": 1000,
                "max_streams": 2000,
            }
        ]
    },
    "simulation": {"days": 1, "tick_s": 3600, "sample_s": 3600},
    "targets": {"segments_dropped": {"max": 0}, "storage_headroom_pct_min": {"min": 10}},
}


def _file(tmp_path: Path, data: dict) -> Path:
    p = tmp_path / "hand.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_growing_sets_breaks_in_the_month_the_hand_calculation_gives(tmp_path):
    # 2,400 sets a year = 200 a month, 10 % of them (Small's share of the sets) in Small:
    # 100 + 20 m sets > 126 first at m = 2, the second month of growth.
    g = Growth("sets", sets_per_year=2400, from_month="2028-01", max_level=60)
    bp = find_breakpoint(_file(tmp_path, HAND), g, backend="local")
    assert (bp.last_pass.level, bp.first_fail.level, bp.when()) == (1, 2, "2028-02")
    assert bp.first_fail.failed == ["segments_dropped"]
    assert bp.first_fail.results.metrics["segments_dropped_backhaul"] > 0
    kind, where, pct = bp.binding()
    assert (kind, where) == ("backhaul", "Small")
    assert pct == pytest.approx(100 * 140 * 8 / 1010)
    assert bp.monotone and bp.first_fail.label == "end of 2028-02: 1,400 sets"
    # only what the search needed: the ladder 0,1,2,4,...,60, no bisection left (1 passes, 2 fails)
    assert [lv.level for lv in bp.levels] == [0, 1, 2, 4, 8, 16, 32, 60]


def test_growing_bitrate_bisects_to_the_hand_calculated_factor(tmp_path):
    # x(1 + L/100) > 1.2625 first at L = 27; the ladder brackets it in 16..32, bisection ends it.
    bp = find_breakpoint(
        _file(tmp_path, HAND), Growth("bitrate", step_pct=1.0, max_level=100), backend="local"
    )
    assert (bp.last_pass.level, bp.first_fail.level) == (26, 27)
    assert bp.binding()[:2] == ("backhaul", "Small")
    assert bp.when() == "bitrate x1.27"


def test_when_disk_is_clearly_the_smallest_it_binds_at_the_hand_calculated_load(tmp_path):
    # 1,000 sets x 2 cameras x 4 Mbps kept 1 day = 86.4 TB on 20 x 7.2 TB = 144 TB: 60 % used.
    # Headroom >= 10 % fails once use passes 90 %, at x1.5 the bitrate (L = 51 with 1 % steps);
    # the backhaul is raised out of the way.
    data = copy.deepcopy(HAND)
    data["city"]["districts"][1]["backhaul_mbps"] = 1_000_000
    data["recorders"]["pools"][0]["disk_tb"] = 7.2
    sc = parse_scenario(data)
    assert demand(sc)["disk"]["all"] == pytest.approx(60.0)
    bp = find_breakpoint(_file(tmp_path, data), Growth("bitrate", max_level=100), backend="local")
    assert bp.first_fail.level == 51 and bp.first_fail.failed == ["storage_headroom_pct_min"]
    assert bp.binding() == ("disk", "all", pytest.approx(60.0 * 1.51))


def test_breakpoint_command_writes_its_report_and_plot(tmp_path):
    out = tmp_path / "bp"
    rc = main(
        [
            "breakpoint",
            str(_file(tmp_path, HAND)),
            "--grow",
            "sets",
            "--sets-per-year",
            "2400",
            "--from-month",
            "2028-01",
            "--max-level",
            "8",
            "--backend",
            "local",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert rc == 0
    summary = json.loads((out / "breakpoint.json").read_text())
    assert summary["first_fail"]["when"] == "2028-02"
    assert summary["binding"]["resource"] == "backhaul" and summary["binding"]["where"] == "Small"
    assert any("analyser compute" in n for n in summary["not_modelled"])
    assert (out / "breakpoint.png").stat().st_size > 10_000
    rows = (out / "breakpoint.csv").read_text().splitlines()
    assert rows[0] == "level,label,passed,failed_targets,resource,where,demand_pct"
    assert len(rows) == 1 + 5 * (3 + 2)  # 5 levels x (3 pool resources + 2 districts)


def test_growth_steps_and_bad_input(tmp_path):
    d = grow(HAND, Growth("sets", sets_per_year=2400, from_month="2028-01"), 3)
    assert [x["sets"] for x in d["city"]["districts"]] == [900 + 540, 100 + 60]
    d = grow(HAND, Growth("cameras_per_set", step_cameras=0.25), 5)
    assert d["city"]["cameras_per_set"] == {3: 0.75, 4: 0.25}
    assert parse_scenario(d).city.cameras_per_set == {3: 0.75, 4: 0.25}
    with pytest.raises(ScenarioError, match="--grow 'disks': expected one of"):
        Growth("disks")
    with pytest.raises(ScenarioError, match=r"--from-month '2028-13': expected YYYY-MM"):
        Growth("sets", from_month="2028-13")
    with pytest.raises(ScenarioError, match=r"no city.rollout.*--from-month 2028-01"):
        find_breakpoint(_file(tmp_path, HAND), Growth("sets"), backend="local")
