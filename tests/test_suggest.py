"""Errors that suggest the fix: the near name for a typo, the line it is on, `twin --version`.

A newcomer's first scenario has typos in it. Each test writes the typo a user makes and
checks the one line that comes back: its place in the file (line, column), the field path,
and the name that was meant (issue 27).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from twin.cli.main import main
from twin.errors import ScenarioError
from twin.scenario import load_scenario
from twin.suggest import closest, did_you_mean

ROOT = Path(__file__).resolve().parent.parent
TWIN = Path(sys.executable).parent / "twin"

# A first scenario, as the README writes it, with nothing wrong in it.
FIRST = """\
name: my-first
seed: 1
city:
  districts:
    - {name: Mong Kok, sets: 20, backhaul_mbps: 1000}
camera_profiles:
  - name: hd
    bitrate_mbps: 4
recorders:
  pools:
    - {name: local, districts: [Mong Kok], recorders: 1, ingest_mbps: 1000, disk_tb: 100,
       max_streams: 100}
targets:
  storage_headroom_pct_min: {min: 20}
"""


def write(tmp_path: Path, text: str, name: str = "first.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def problems(path: Path) -> list[str]:
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    return [line.strip() for line in str(err.value).splitlines()[1:-1]]


def test_the_first_scenario_as_written_is_valid(tmp_path):
    assert load_scenario(write(tmp_path, FIRST)).city.total_sets == 20


def test_a_typo_in_a_field_is_one_problem_with_its_line_and_the_near_name(tmp_path):
    p = write(tmp_path, FIRST.replace("bitrate_mbps: 4", "bitrate_mpbs: 4"))
    # Line 8 is `    bitrate_mpbs: 4`: the key starts in column 5. pydantic's own "Field
    # required" for bitrate_mbps is folded into it, and the profile is not dumped.
    assert problems(p) == [
        "- line 8, column 5: field camera_profiles[0].bitrate_mpbs: unknown "
        "field; did you mean bitrate_mbps? (bitrate_mbps is required and not "
        "given)"
    ]


def test_a_typo_in_a_target_names_the_near_metric_and_its_line(tmp_path):
    p = write(tmp_path, FIRST.replace("storage_headroom_pct_min:", "storage_headroom_pct_mn:"))
    assert problems(p) == [
        "- line 14, column 3: field targets.storage_headroom_pct_mn: not a "
        "metric the twin reports; did you mean storage_headroom_pct_min?"
    ]


def test_a_target_name_nothing_like_a_metric_points_to_the_list_not_190_names(tmp_path):
    p = write(tmp_path, FIRST.replace("storage_headroom_pct_min:", "happiness:"))
    (line,) = problems(p)
    assert line.startswith("- line 14, column 3: field targets.happiness: not a metric")
    assert "twin/metrics.py" in line and "did you mean" not in line and len(line) < 200


def test_an_unknown_field_without_a_near_name_lists_its_sections_fields(tmp_path):
    p = write(tmp_path, FIRST + "recording:\n  colour: red\n")
    assert problems(p) == [
        "- line 16, column 3: field recording.colour: unknown field; expected "
        "one of: fragment_s, retention_days, segment_s, sweep_batch_segments, "
        "sweep_interval_s"
    ]


def test_a_missing_field_is_named_with_what_it_is_not_the_mapping_dumped(tmp_path):
    p = write(tmp_path, FIRST.replace(" max_streams: 100", ""))
    (line,) = problems(p)
    # the pool's mapping starts on line 11, column 7 (after `    - `)
    assert line.startswith(
        "- line 11, column 7: field recorders.pools[0].max_streams: missing; "
        "add it (Most camera streams each recorder takes"
    )
    assert "ingest_mbps" not in line


def test_a_value_out_of_range_and_a_wrong_tag_carry_their_line(tmp_path):
    text = FIRST.replace("bitrate_mbps: 4", "bitrate_mbps: -4\n    codec: h256")
    text += "failover:\n  standby: {type: n_plus1}\n"
    lines = problems(write(tmp_path, text))
    assert lines[0].startswith(
        "- line 8, column 19: field camera_profiles[0].bitrate_mbps: got "
        "-4: Input should be greater than 0 (Mean stream bitrate, Mbps"
    )
    assert lines[1] == (
        '- line 9, column 12: field camera_profiles[0].codec: got "h256": Input '
        "should be 'h264' or 'h265'; did you mean h265?"
    )
    assert lines[2].startswith("- line 17, column 12: field failover.standby: ")
    assert lines[2].endswith("did you mean n_plus_1?")


def test_a_misspelt_scenario_file_names_the_one_meant(tmp_path, capsys):
    code = main(["simulate", "scenarios/city7000.yaml", "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert (
        "scenarios/city7000.yaml: no such scenario file; did you mean scenarios/city-7000.yaml?"
        in err
    )
    write(tmp_path, FIRST, "my-first.yaml")
    with pytest.raises(
        ScenarioError,
        match=r"my_frist\.yaml: no such scenario file; did you mean "
        r".*my-first\.yaml\?",
    ):
        load_scenario(tmp_path / "my_frist.yaml")
    with pytest.raises(ScenarioError, match=r"no such scenario file; check the path"):
        load_scenario(tmp_path / "elsewhere" / "x.yaml")


def test_closest_is_a_near_name_or_none_never_a_guess():
    assert closest("bitrate_mpbs", ["bitrate_mbps", "bitrate_spread_pct", "fps"]) == "bitrate_mbps"
    assert closest("CITY-7000.yaml", ["city-7000.yaml"]) == "city-7000.yaml"
    assert closest("disk_tb", ["cameras", "recorders"]) is None
    assert did_you_mean("segmnt_s", ["segment_s"]) == "; did you mean segment_s?"
    assert did_you_mean("zzz", ["segment_s"]) == ""


def test_version_exits_0_and_prints_the_version():
    proc = subprocess.run(
        [str(TWIN), "--version"], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("twin 0.") and proc.stderr == ""


def test_a_cross_check_names_its_field_and_line_and_the_near_name_not_the_scenario_dumped(tmp_path):
    text = FIRST + (
        "faults:\n  - {type: recorder_crash, recorder: local-r1, at_s: 60, duration_s: 60}\n"
    )
    (line,) = problems(write(tmp_path, text))
    # faults[0].recorder's value starts on line 16, column 38
    # (after "  - {type: recorder_crash, recorder: ")
    assert line == (
        "- line 16, column 38: faults[0].recorder: 'local-r1' is not a recorder (did "
        "you mean local-r01?); expected '*' or one of ['local-r01'] (<pool>-rNN)"
    )
    p = write(tmp_path, FIRST.replace("districts: [Mong Kok]", "districts: [Mong Kong]"))
    (line,) = problems(p)
    assert "unknown district 'Mong Kong' (did you mean Mong Kok?)" in line
    assert '"seed"' not in line  # the scenario is not dumped


def test_an_overlays_typo_is_placed_in_the_overlay_and_said_once_for_every_item(tmp_path):
    (tmp_path / "base.yaml").write_text(
        FIRST.replace(
            "    - {name: local, districts: [Mong Kok], recorders: 1, ingest_mbps: 1000, "
            "disk_tb: 100,\n"
            "       max_streams: 100}\n",
            "    - {name: a, districts: [Mong Kok], recorders: 1, ingest_mbps: 1000, "
            "disk_tb: 100,\n"
            "       max_streams: 100}\n"
            "    - {name: b, districts: '*', recorders: 1, ingest_mbps: 1000, disk_tb: 100,\n"
            "       max_streams: 100}\n",
        )
    )
    assert load_scenario(tmp_path / "base.yaml").recorders.pools[1].name == "b"
    p = write(
        tmp_path,
        "base: base.yaml\nname: variant\nrecorders:\n  pools:\n    - {name: '*', disk_tbb: 500}\n",
        "variant.yaml",
    )
    # the '*' item gives both pools the typo: one problem, placed where the overlay wrote it
    assert problems(p) == [
        "- line 5, column 19: field recorders.pools[0].disk_tbb: unknown "
        "field; did you mean disk_tb? (the same in 1 more item)"
    ]
