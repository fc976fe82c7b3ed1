"""twin sweep: the grid, dotted paths with clear errors, and the smallest passing deployment."""

from __future__ import annotations

import csv

import pytest
import yaml

from tests.helpers import scenario
from twin.cli.main import main
from twin.compare.grid import Param, expand, parse_param, set_path, sweep
from twin.errors import ScenarioError

# 60 sets x 2 cameras = 120 cameras at 4 Mbps; each recorder takes at most 25 streams, so by
# hand the pool needs ceil(120 / 25) = 5 recorders; with 4, 20 cameras are unplaced.
POOL = {
    "name": "central",
    "districts": "*",
    "recorders": 2,
    "ingest_mbps": 1000,
    "disk_tb": 400,
    "max_streams": 25,
}


def _scenario_file(tmp_path):
    sc = scenario(
        **{
            "city.cameras_per_set": {2: 1.0},
            "recording.retention_days": 1,
            "simulation.days": 1,
            "recorders.pools": [POOL],
        },
        targets={"segments_dropped": {"max": 0}},
    )
    p = tmp_path / "grid.yaml"
    p.write_text(yaml.safe_dump(sc.model_dump(mode="json")))
    return p


def test_sweep_names_the_smallest_recorder_count_that_meets_the_targets(tmp_path):
    s = sweep(
        _scenario_file(tmp_path),
        [parse_param("recorders.pools.0.recorders=3,4,5,6")],
        backend="local",
    )
    assert [p.values for p in s.points] == [
        {"recorders.pools.0.recorders": n} for n in (3, 4, 5, 6)
    ]
    assert [p.results.passed for p in s.points] == [False, False, True, True]
    assert [p.results.metrics["cameras_unplaced"] for p in s.points] == [45.0, 20.0, 0.0, 0.0]
    # unplaced cameras drop every segment of the day: 20 cameras x 1,440 one-minute segments
    assert s.points[1].results.metrics["segments_dropped"] == 20 * 1440
    best = s.smallest()
    assert best is not None and best.values == {"recorders.pools.0.recorders": 5}
    assert best.name == "unit.02.recorders-5"


def test_sweep_on_ray_gives_the_same_answer_and_writes_table_and_plot(tmp_path):
    out = tmp_path / "out"
    code = main(
        [
            "sweep",
            str(_scenario_file(tmp_path)),
            "--param",
            "recorders.pools.central.recorders=4,5",
            "--param",
            "recording.retention_days=1,2",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    with (out / "sweep.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [
        (r["recorders.pools.central.recorders"], r["recording.retention_days"], r["passed"])
        for r in rows
    ] == [("4", "1", "0"), ("4", "2", "0"), ("5", "1", "1"), ("5", "2", "1")]
    assert rows[0]["failed_targets"] == "segments_dropped"
    md = (out / "sweep.md").read_text()
    assert (
        "Smallest deployment meeting every target: **unit.02.recorders-5_retention_days-1**" in md
    )
    assert (out / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "variants/unit.03.recorders-5_retention_days-2/results.json").exists()


def test_no_passing_point_means_no_smallest_and_exit_1(tmp_path):
    out = tmp_path / "out"
    assert (
        main(
            [
                "sweep",
                str(_scenario_file(tmp_path)),
                "--param",
                "recorders.pools.0.recorders=1,2",
                "--backend",
                "local",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 1
    )
    assert "**none**: no point of the grid meets every target" in (out / "sweep.md").read_text()


def test_bad_paths_name_the_path_and_the_fix():
    data = {"recorders": {"pools": [dict(POOL)]}, "recording": {"retention_days": 30}}
    with pytest.raises(
        ScenarioError,
        match=r"--param recorders\.pools\.0\.recorderz: no field "
        r"'recorderz' in recorders\.pools\.0; did you mean 'recorders'\?",
    ):
        set_path(data, "recorders.pools.0.recorderz", 3)
    with pytest.raises(
        ScenarioError,
        match=r"--param recorders\.pools\.3\.recorders: index 3 is out "
        r"of range: recorders\.pools has 1 item\(s\), use 0\.\.0",
    ):
        set_path(data, "recorders.pools.3.recorders", 3)
    with pytest.raises(
        ScenarioError,
        match=r"recorders\.pools is a list; 'north' is neither an index "
        r"\(0\.\.0\) nor the name of an item \['central'\]",
    ):
        set_path(data, "recorders.pools.north.recorders", 3)
    with pytest.raises(
        ScenarioError,
        match=r"recording\.retention_days is a value \(30\), not a "
        r"section; end the path at recording\.retention_days",
    ):
        set_path(data, "recording.retention_days.x", 3)
    with pytest.raises(
        ScenarioError,
        match=r"--param 'recorders\.pools\.0\.recorders': expected "
        r"PATH=V1,V2,\.\.\.",
    ):
        parse_param("recorders.pools.0.recorders")


def test_values_that_make_a_variant_invalid_stop_the_sweep_before_it_runs(tmp_path):
    base = yaml.safe_load(_scenario_file(tmp_path).read_text())
    with pytest.raises(
        ScenarioError,
        match=r"(?s)grid\.yaml with recorders\.pools\.0\.recorders=0: "
        r"1 problem.*field recorders\.pools\[0\]\.recorders: got 0",
    ):
        expand(base, [Param("recorders.pools.0.recorders", (2, 0))], str(tmp_path / "grid.yaml"))


def test_set_path_sets_by_index_and_by_name():
    data = {"recorders": {"pools": [dict(POOL), dict(POOL, name="north")]}}
    set_path(data, "recorders.pools.north.max_streams", 99)
    set_path(data, "recorders.pools.0.disk_tb", 1.5)
    assert [(p["name"], p["max_streams"], p["disk_tb"]) for p in data["recorders"]["pools"]] == [
        ("central", 25, 1.5),
        ("north", 99, 400),
    ]
    assert parse_param("camera_profiles.0.codec=h264,h265").values == ("h264", "h265")


def test_a_sweeps_points_run_without_the_drivers_files_or_folder(tmp_path, monkeypatch):
    """Each point goes to its worker parsed, its calibration read on the driver: a worker in
    another folder (a Ray node started elsewhere, another machine) that has neither the
    scenario nor its calibration file runs it all the same, to the same results."""
    import shutil
    from pathlib import Path

    from twin.compare.grid import run_variants
    from twin.scenario.loader import read_yaml

    root = Path(__file__).resolve().parent.parent
    here = tmp_path / "project"
    (here / "calibration").mkdir(parents=True)
    shutil.copy(root / "scenarios" / "calibration" / "trial-15.json", here / "calibration")
    data = yaml.safe_load(_scenario_file(tmp_path).read_text())
    data["calibration"] = "calibration/trial-15.json"
    (here / "grid.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.chdir(here)  # a relative path, as a user types it
    variants = expand(
        read_yaml("grid.yaml"), [parse_param("recorders.pools.0.recorders=5,6")], "grid.yaml"
    )
    want = run_variants(variants, "grid.yaml", "local")
    assert all(
        r.calibration is not None and r.calibration.path == "calibration/trial-15.json"
        for r in want
    )
    away = tmp_path / "elsewhere"
    away.mkdir()
    monkeypatch.chdir(away)
    (here / "calibration" / "trial-15.json").unlink()
    (here / "grid.yaml").unlink()
    got = run_variants(variants, "grid.yaml", "local")
    assert [r.model_dump(exclude={"run"}) for r in got] == [
        r.model_dump(exclude={"run"}) for r in want
    ]
