"""Overlays: a scenario naming a base and giving only what differs (twin/scenario/overlay.py)."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import BASE
from twin.cli.main import main
from twin.errors import ScenarioError
from twin.model.results import Results
from twin.scenario import load_scenario
from twin.scenario.loader import read_yaml
from twin.scenario.overlay import compose, differences, merge

ROOT = Path(__file__).resolve().parent.parent


def _write(path: Path, data: Any, text: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text is not None else yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture()
def base(tmp_path: Path) -> Path:
    data = copy.deepcopy(BASE)
    data["recorders"]["pools"] = [
        {
            "name": "ytm",
            "districts": ["Yau Tsim Mong"],
            "recorders": 2,
            "ingest_mbps": 1000,
            "disk_tb": 400,
            "max_streams": 200,
        },
        {
            "name": "wc",
            "districts": ["Wan Chai"],
            "recorders": 1,
            "ingest_mbps": 1000,
            "disk_tb": 400,
            "max_streams": 200,
        },
    ]
    data["targets"] = {"segments_dropped": {"max": 0}, "storage_headroom_pct_min": {"min": 20}}
    return _write(tmp_path / "base" / "city.yaml", data)


# ------------------------------------------------------------------ the merge rule
def test_a_list_of_named_things_merges_by_name(base: Path, tmp_path: Path) -> None:
    over = _write(
        tmp_path / "o.yaml",
        None,
        """\
base: base/city.yaml
name: bigger-wan-chai
city:
  districts:
  - {name: Wan Chai, sets: 33}         # one field of one district
  - {name: Eastern, sets: 5, backhaul_mbps: 1000}   # a new one, added at the end
recorders:
  pools:
  - {name: wc, recorders: 3, districts: [Wan Chai, Eastern]}
""",
    )
    sc = load_scenario(over)
    assert [(d.name, d.sets) for d in sc.city.districts] == [
        ("Yau Tsim Mong", 40),
        ("Wan Chai", 33),
        ("Eastern", 5),
    ]
    wc = next(p for p in sc.recorders.pools if p.name == "wc")
    assert (wc.recorders, wc.districts, wc.disk_tb) == (3, ["Wan Chai", "Eastern"], 400)
    assert sc.name == "bigger-wan-chai" and sc.seed == 7  # the rest is the base's


def test_delete_removes_a_named_item_and_a_field_and_replace_gives_a_list_whole(
    base: Path, tmp_path: Path
) -> None:
    over = _write(
        tmp_path / "o.yaml",
        None,
        """\
base: base/city.yaml
city:
  districts:
  - !delete Wan Chai
recorders:
  pools:
  - !delete wc
targets:
  segments_dropped: !delete
""",
    )
    sc = load_scenario(over)
    assert [d.name for d in sc.city.districts] == ["Yau Tsim Mong"]
    assert [p.name for p in sc.recorders.pools] == ["ytm"]
    assert list(sc.targets) == ["storage_headroom_pct_min"]
    central = _write(
        tmp_path / "c.yaml",
        None,
        """\
base: base/city.yaml
recorders:
  pools: !replace
  - {name: central, districts: '*', recorders: 2, ingest_mbps: 900, disk_tb: 300, max_streams: 150}
""",
    )
    pools = load_scenario(central).recorders.pools
    assert [(p.name, p.districts, p.ingest_mbps) for p in pools] == [("central", "*", 900)]


def test_an_item_named_star_changes_every_item(base: Path, tmp_path: Path) -> None:
    over = _write(
        tmp_path / "o.yaml",
        None,
        """\
base: base/city.yaml
recorders:
  pools:
  - {name: '*', disk_tb: 250}
""",
    )
    assert [p.disk_tb for p in load_scenario(over).recorders.pools] == [250, 250]


def test_a_chain_of_two_bases_merges_in_order_and_keeps_paths_relative_to_their_files(
    base: Path, tmp_path: Path
) -> None:
    cal = json.loads((ROOT / "scenarios" / "calibration" / "trial-15.json").read_text())
    _write(tmp_path / "base" / "cal" / "c.json", None, json.dumps(cal))
    data = read_yaml(base)
    data["calibration"] = "cal/c.json"  # relative to base/
    _write(base, data)
    _write(
        tmp_path / "mid" / "mid.yaml",
        None,
        """\
base: ../base/city.yaml
name: mid
recording: {retention_days: 20}
""",
    )
    top = _write(
        tmp_path / "top" / "deep" / "top.yaml",
        None,
        """\
base: ../../mid/mid.yaml
name: top
recording: {sweep_interval_s: 7200}
""",
    )
    composed = compose(top)
    assert [f.name for f in composed.files] == ["top.yaml", "mid.yaml", "city.yaml"]
    sc = load_scenario(top)
    assert (sc.name, sc.recording.retention_days, sc.recording.sweep_interval_s) == (
        "top",
        20,
        7200,
    )
    assert sc.calibration == "../../base/cal/c.json"  # the base's file, named from top/deep/
    assert sc.loaded_calibration is not None


def test_merge_leaves_its_inputs_alone() -> None:
    a = {"x": {"y": 1}, "l": [{"name": "p", "v": 1}]}
    b = {"x": {"z": 2}, "l": [{"name": "p", "v": 2}]}
    before = copy.deepcopy((a, b))
    assert merge(a, b) == {"x": {"y": 1, "z": 2}, "l": [{"name": "p", "v": 2}]}
    assert (a, b) == before


def test_a_list_of_unnamed_things_is_replaced_whole(base: Path, tmp_path: Path) -> None:
    data = read_yaml(base)
    data["faults"] = [
        {"type": "recorder_crash", "recorder": "ytm-r01", "at_s": 100.0, "duration_s": 60.0}
    ]
    _write(base, data)
    over = _write(
        tmp_path / "o.yaml",
        None,
        """\
base: base/city.yaml
faults:
- {type: recorder_crash, recorder: wc-r01, at_s: 200.0, duration_s: 60.0}
""",
    )
    faults = load_scenario(over).faults
    assert [(f.recorder, f.at_s) for f in faults] == [("wc-r01", 200.0)]  # type: ignore[union-attr]


# ------------------------------------------------------------------ bad overlays: exit 2
def _exit_2(argv: list[str], capsys: Any) -> str:
    assert main(argv) == 2
    cap = capsys.readouterr()
    return " ".join((cap.out + cap.err).split())


def test_a_missing_base_is_exit_2_naming_both_files(tmp_path: Path, capsys: Any) -> None:
    over = _write(tmp_path / "o.yaml", None, "base: ../nowhere/city.yaml\nname: x\n")
    msg = _exit_2(["validate", str(over)], capsys)
    assert str(over) in msg and "../nowhere/city.yaml" in msg and "base" in msg
    assert "no such base scenario" in msg


def test_a_loop_of_bases_is_exit_2_naming_both_files(tmp_path: Path, capsys: Any) -> None:
    a = _write(tmp_path / "a.yaml", None, "base: b.yaml\nname: a\n")
    b = _write(tmp_path / "b.yaml", None, "base: a.yaml\nname: b\n")
    msg = _exit_2(["simulate", str(a), "--out", str(tmp_path / "out"), "--quiet"], capsys)
    assert str(a) in msg and str(b) in msg and "loop of bases" in msg
    assert not (tmp_path / "out").exists()
    itself = _write(tmp_path / "self.yaml", None, "base: self.yaml\n")
    assert "loop of bases" in _exit_2(["validate", str(itself)], capsys)


def test_an_unknown_key_in_an_overlay_is_exit_2_naming_the_file_and_the_field(
    base: Path, tmp_path: Path, capsys: Any
) -> None:
    over = _write(
        tmp_path / "o.yaml",
        None,
        """\
base: base/city.yaml
recording:
  retention_dayz: 31
""",
    )
    msg = _exit_2(["validate", str(over)], capsys)
    assert str(over) in msg and "recording.retention_dayz" in msg


@pytest.mark.parametrize(
    "text, field",
    [
        ("base: base/city.yaml\ntargets:\n  recovery_s_max: !delete\n", "targets.recovery_s_max"),
        ("base: base/city.yaml\ncity:\n  districts:\n  - !delete Islands\n", "city.districts"),
        ("base: base/city.yaml\ncity:\n  districts:\n  - {sets: 3}\n", "city.districts[0]"),
        ("base: 7\n", "base"),
    ],
)
def test_a_bad_overlay_names_the_file_and_the_field(
    base: Path, tmp_path: Path, text: str, field: str
) -> None:
    over = _write(tmp_path / "o.yaml", None, text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(over)
    assert str(err.value).startswith(f"{over}: field {field}")


def test_delete_outside_an_overlay_is_refused(tmp_path: Path) -> None:
    data = copy.deepcopy(BASE)
    text = yaml.safe_dump(data) + "targets:\n  segments_dropped: !delete\n"
    with pytest.raises(ScenarioError, match="there is none here to remove"):
        load_scenario(_write(tmp_path / "s.yaml", None, text))


def test_an_error_in_the_base_names_the_base_and_whose_base_it_is(
    base: Path, tmp_path: Path
) -> None:
    data = read_yaml(base)
    data["recording"]["segment_s"] = -1
    _write(base, data)
    over = _write(tmp_path / "o.yaml", None, "base: base/city.yaml\nname: o\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(over)
    msg = str(err.value)
    assert msg.startswith(f"{over} (an overlay of {base})") and "recording.segment_s" in msg


# ------------------------------------------------------------------ --set and --show
def test_set_changes_one_field_for_one_run_and_the_results_say_so(
    base: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    argv = [
        "simulate",
        str(base),
        "--out",
        str(out),
        "--quiet",
        "--days",
        "1",
        "--set",
        "recorders.pools.wc.recorders=2",
        "--set",
        "recording.retention_days=0.5",
    ]
    assert main(argv) == 0
    res = Results.model_validate_json((out / "results.json").read_text())
    assert res.metrics["recorders"] == 4
    assert res.scenario.source.endswith(
        "city.yaml#set recorders.pools.wc.recorders=2; recording.retention_days=0.5"
    )
    plain = load_scenario(base)
    assert res.scenario.sha256 != hashlib.sha256(plain.canonical_json().encode()).hexdigest()


@pytest.mark.parametrize(
    "path, nearest",
    [
        ("recorders.pools.wc.recorder", "recorders.pools.wc.recorders"),
        ("recorders.pools.wcc.recorders", "recorders.pools.wc"),
        ("recording.retention_day", "recording.retention_days"),
        ("simulaton.days", "simulation"),
    ],
)
def test_set_of_a_path_that_does_not_exist_is_exit_2_with_the_nearest_valid_path(
    base: Path, tmp_path: Path, capsys: Any, path: str, nearest: str
) -> None:
    for cmd in (
        ["simulate", str(base), "--out", str(tmp_path / "o"), "--quiet"],
        ["compare", str(base), "--out", str(tmp_path / "c"), "--quiet"],
    ):
        msg = _exit_2([*cmd, "--set", f"{path}=3"], capsys)
        assert f"--set {path}" in msg and f"did you mean {nearest}?" in msg, msg
    assert not (tmp_path / "o").exists()


def test_check_applies_set_to_every_scenario_and_reports_a_bad_path(
    base: Path, tmp_path: Path, capsys: Any
) -> None:
    code = main(
        [
            "check",
            str(base.parent),
            "--out",
            str(tmp_path / "k"),
            "--quiet",
            "--jobs",
            "1",
            "--set",
            "recording.retention_day=3",
        ]
    )
    cap = capsys.readouterr()
    assert code == 2 and "did you mean recording.retention_days?" in " ".join(
        (cap.out + cap.err).split()
    )


def test_set_may_name_a_field_the_file_leaves_to_its_default(base: Path) -> None:
    sc = load_scenario(
        base, sets=["failover.standby.type=none", "recording.sweep_batch_segments=1000"]
    )
    assert sc.failover.standby.type == "none" and sc.recording.sweep_batch_segments == 1000


def test_validate_show_prints_the_merged_scenario_which_validates_the_same(
    base: Path, tmp_path: Path, capsys: Any
) -> None:
    over = _write(
        tmp_path / "o.yaml",
        None,
        "base: base/city.yaml\nname: o\nrecorders:\n  pools:\n  - {name: ytm, recorders: 5}\n",
    )
    assert main(["validate", "--show", str(over)]) == 0
    shown = capsys.readouterr().out
    assert "base:" not in shown and "recorders: 5" in shown
    full = _write(tmp_path / "full.yaml", None, shown)
    assert load_scenario(full).canonical_json() == load_scenario(over).canonical_json()


def test_differences_lists_only_what_differs_by_name() -> None:
    a: dict[str, Any] = {
        "name": "a",
        "recorders": {
            "pools": [{"name": "p", "recorders": 3, "disk_tb": 1}, {"name": "q", "recorders": 1}]
        },
    }
    b = copy.deepcopy(a)
    b["name"] = "b"
    b["recorders"]["pools"][1]["recorders"] = 2
    b["recorders"]["pools"].append({"name": "r", "recorders": 4})
    assert differences(a, b) == [
        ("recorders.pools.q.recorders", 1, 2),
        ("recorders.pools.r", None, {"name": "r", "recorders": 4}),
    ]


def test_set_of_a_marker_is_refused_like_a_bad_value(base: Path) -> None:
    with pytest.raises(
        ScenarioError,
        match="--set targets.segments_dropped: field targets.segments_dropped: !delete removes",
    ):
        load_scenario(base, sets=["targets.segments_dropped=!delete"])
