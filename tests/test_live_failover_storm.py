"""Failover at a recorder's size, live: 51 cameras on one recorder, `kill -9` of its process,
all of them taken by its N+1 standby (a real MediaMTX, real Ray actors, real files), and the
simulation of the same deployment, calibrated with the shipped failover curve, against it.

One run serves every test here (and bench_failover's smoke size): 32 s of recording, the kill
at 15 s, once the start-up has settled (bench/bench_failover.py builds the scenario)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from tests.bench_smoke import bench as bench_module
from twin.compare.fidelity import engine_values
from twin.model.results import read_results

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.live

CAMERAS, DURATION_S, KILL_AT_S = 51, 32.0, 15.0
CALIBRATION = ROOT / "scenarios" / "calibration" / "failover-storm.json"


@pytest.fixture(scope="module")
def storm(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    bf = bench_module("bench_failover")
    out = tmp_path_factory.mktemp("storm")
    step = bf.run_step(CAMERAS, out, DURATION_S, ("recorder_crash",), kill_at_s=KILL_AT_S)
    step["rows"] = list(csv.DictReader((step["folder"] / "camera_faults.csv").open()))
    step["segments"] = list(csv.DictReader((step["folder"] / "segments.csv").open()))
    return step


def _f(v: str) -> float:
    return float(v)


def _on_plan(storm: dict[str, Any]) -> None:
    """Timing is judged only on a run whose harness kept its plan: on a machine too busy for
    it, the publishers fall behind their clips and the footage's clock with them (issue 24's
    verdict, results.json `validity`); the run is the machine's measure, not the twin's."""
    if not storm["valid"]:
        res = read_results(storm["folder"] / "results.json")
        pytest.skip(f"the harness did not keep its plan on this machine: {res.validity}")


def test_every_camera_of_the_killed_recorder_is_recorded_again_by_the_standby(storm):
    rows = [r for r in storm["rows"] if r["fault_kind"] == "recorder_crash"]
    assert len(rows) == CAMERAS
    assert {r["recorder_from"] for r in rows} == {"p-r01"}
    assert {r["recorder_to"] for r in rows} == {"p-r02"}
    assert all(r["recorded_again"] == "True" for r in rows)
    for r in rows:
        fault, det, moved = _f(r["fault_s"]), _f(r["detected_s"]), _f(r["moved_s"])
        conn, key, end = _f(r["connected_s"]), _f(r["first_keyframe_s"]), _f(r["footage_end_s"])
        # The steps of a camera's recovery, in their order on the run's clock.
        assert fault < det <= moved + 1e-3 <= conn + 2e-3 <= key + 3e-3, r
        # What it lost runs from the end of its footage on p-r01 to its first keyframe on p-r02.
        assert abs(_f(r["footage_lost_s"]) - (key - end)) < 2e-3, r
    _on_plan(storm)
    for r in rows:
        conn, key, end = _f(r["connected_s"]), _f(r["first_keyframe_s"]), _f(r["footage_end_s"])
        fault = _f(r["fault_s"])
        # The keyframe comes at most one keyframe interval (1 s) and a frame after connecting.
        assert key - conn <= 1.0 + 0.1, r
        # The killed recorder kept the segment under way up to its last fragment (0.2 s) and
        # the frame in hand; its footage does not end at the segment's start.
        assert fault - 0.35 <= end <= fault + 0.1, r


def test_the_standby_recorded_nothing_until_the_failover(storm):
    kill = min(_f(r["fault_s"]) for r in storm["rows"])
    t0_rel = [s for s in storm["segments"] if s["recorder"] == "p-r02"]
    assert t0_rel, "the standby recorded nothing at all"
    first = min(_f(s["start_s"]) for s in t0_rel)
    r01 = [_f(s["start_s"]) for s in storm["segments"] if s["recorder"] == "p-r01"]
    # Segments are on the run clock; the kill in camera_faults.csv is from the run's start.
    start = min(r01)
    assert first - start >= kill - 1.0, (first, start, kill)


def test_the_simulation_with_the_shipped_curve_agrees_with_the_storm(storm, tmp_path):
    import yaml

    _on_plan(storm)  # fidelity refuses a run whose harness fell behind, as twin compare does

    from twin.cli.runs import simulate_to

    data = {**storm["data"], "calibration": str(CALIBRATION)}
    path = tmp_path / "storm.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    sim = simulate_to(path, tmp_path / "sim", quiet=True, as_run=storm["folder"])
    live = read_results(storm["folder"] / "results.json")
    a, b = engine_values(live), engine_values(sim)
    rec = "recovery_s.recorder_crash"
    assert abs(b[rec] - a[rec]) <= max(1.0, 0.10 * a[rec]), (a[rec], b[rec])
    for key in ("footage_lost_s_per_camera.recorder_crash", "camera_s_unrecorded"):
        assert abs(b[key] - a[key]) <= 0.10 * a[key], (key, a[key], b[key])


def test_bench_failover_smoke(storm):
    """bench_failover at its smoke size: its figures of this run, printed."""
    bf = bench_module("bench_failover")
    bf.print_step(storm)
    bf.print_vendors()
    crash = storm["faults"]["recorder_crash"]
    assert crash["back"] == crash["cameras"] == CAMERAS
    assert crash["first_s"] <= crash["last_s"] < 10.0
    assert storm["standby_cpu_peak"] is not None
