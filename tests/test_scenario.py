from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import BASE, scenario
from twin.errors import ScenarioError
from twin.scenario import load_scenario, parse_scenario

SCENARIOS = sorted((Path(__file__).parent.parent / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_every_shipped_scenario_validates(path):
    sc = load_scenario(path)
    assert sc.city.total_sets > 0
    assert sc.recording.retention_days == 30


def test_shipped_scenarios_cover_the_programme_stages():
    sets = {load_scenario(p).city.total_sets for p in SCENARIOS}
    assert {15, 615, 2000, 4000, 7000} <= sets


def test_bad_value_names_file_field_value_and_expectation(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text(
        "name: bad\nseed: 1\ncity:\n  districts:\n    - {name: A, sets: -5, backhaul_mbps: 10}\n"
        "camera_profiles: [{name: p, bitrate_mbps: 4}]\n"
        "recorders: {pools: [{name: c, districts: '*', recorders: 1, ingest_mbps: 1, disk_tb: 1, "
        "max_streams: 1}]}\n"
    )
    with pytest.raises(
        ScenarioError,
        match=(
            r"bad\.yaml.*\n.*field city\.districts\[0\]\.sets: got -5: "
            r".*greater than or equal to 0"
        ),
    ):
        load_scenario(f)


def test_unknown_field_is_refused_not_ignored_and_the_near_one_named():
    with pytest.raises(
        ScenarioError,
        match=r"field recording\.retention: unknown field; did you "
        r"mean retention_days\?",
    ):
        scenario(**{"recording.retention": 31})


def test_unknown_target_metric_names_the_near_one_not_every_metric():
    with pytest.raises(
        ScenarioError,
        match=r"field targets\.storage_headrom: not a metric the "
        r"twin reports; did you mean storage_headroom_pct\?",
    ) as err:
        scenario(targets={"storage_headrom": {"min": 20}})
    assert "segments_dropped" not in str(err.value)  # one name, not the ~190 of them


def test_pool_naming_an_unknown_district_is_refused():
    pools = [
        {
            "name": "p",
            "districts": ["Mong Kok"],
            "recorders": 1,
            "ingest_mbps": 1,
            "disk_tb": 1,
            "max_streams": 1,
        }
    ]
    with pytest.raises(ScenarioError, match=r"unknown district 'Mong Kok'"):
        scenario(**{"recorders.pools": pools})


def test_tick_must_be_whole_segments():
    with pytest.raises(
        ScenarioError, match=r"tick_s \(90\) must be a whole multiple of recording.segment_s \(60\)"
    ):
        scenario(**{"simulation.tick_s": 90})


def test_a_roll_out_needs_segments_that_divide_a_day():
    rollout = [{"month": "2024-05", "sets": {"Wan Chai": 1}}]
    with pytest.raises(
        ScenarioError,
        match=r"recording.segment_s \(7\) must divide a day \(86,400 s\) "
        r"when city.rollout .* use e.g. 60",
    ):
        scenario(
            **{
                "city.rollout": rollout,
                "recording.segment_s": 7,
                "simulation.tick_s": 7,
                "recording.sweep_interval_s": 3598,
            }
        )
    assert (
        scenario(
            **{"recording.segment_s": 7, "simulation.tick_s": 7, "recording.sweep_interval_s": 3598}
        ).recording.segment_s
        == 7
    )


def test_yaml_syntax_error_and_missing_file_name_the_file(tmp_path):
    f = tmp_path / "broken.yaml"
    f.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"broken\.yaml: not valid YAML"):
        load_scenario(f)
    with pytest.raises(ScenarioError, match=r"nope\.yaml: no such scenario file"):
        load_scenario(tmp_path / "nope.yaml")


def test_top_level_must_be_a_mapping():
    with pytest.raises(ScenarioError, match=r"<x>: expected a mapping at the top level"):
        parse_scenario([1, 2], "<x>")


def test_schema_file_in_scenarios_is_current():
    import json

    from twin.scenario import scenario_json_schema

    shipped = json.loads(
        (Path(__file__).parent.parent / "scenarios/scenario.schema.json").read_text()
    )
    assert shipped == json.loads(json.dumps(scenario_json_schema())), (
        "run: twin schema > scenarios/scenario.schema.json"
    )


def test_base_is_valid():
    assert parse_scenario(BASE).name == "unit"
