"""The live analyser pool, small: 4 sets (12 cameras), 2 analyser actors with room for a few
cameras each. Each actor measures its cost per frame; the cameras it takes fit in its cores;
the rest are reported as not analysed and never opened; the analysed ones keep up; the
simulation of the same deployment admits about as many. The 99-camera run:
bench/bench_analytics_live.py."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

import pytest

from tests.bench_smoke import bench, numbers, positive
from twin.cli.live import live_to
from twin.live.analysis_pool import analyser_parts, plan_pool
from twin.model.results import Results
from twin.scenario import parse_scenario

pytestmark = pytest.mark.live

# Each actor's share of a core: 0.05 x 80 % = 40 ms of analysis a second, so a cost per frame
# from 6.7 to 40 ms admits 1 to 5 cameras an actor (some analysed, some not, of 12). Measured
# here: 10-13 ms on a quiet machine, 16 ms and more on a busy one (OpenCV's second thread
# then runs less beside the measuring one; frame_cost counts the measuring thread's CPU).
# At 0.02 (16 ms) a busy run admitted none.
CPU_PER_ACTOR = 0.05
SCENARIO: dict[str, Any] = {
    "name": "live-pool-test",
    "seed": 5,
    "city": {
        "districts": [{"name": "Mong Kok", "sets": 4, "backhaul_mbps": 1000}],
        "cameras_per_set": {3: 1.0},
    },
    "camera_profiles": [{"name": "hd", "width": 640, "height": 360, "bitrate_mbps": 0.5}],
    "recorders": {
        "pools": [
            {
                "name": "p",
                "districts": "*",
                "recorders": 2,
                "ingest_mbps": 100,
                "disk_tb": 1,
                "max_streams": 12,
            }
        ]
    },
    # One deployment: 3 s segments, 30 days compressed to 60 s, swept every 3 s.
    "recording": {"segment_s": 3, "sweep_interval_s": 3},
    "simulation": {"tick_s": 3},
    "live": {
        "duration_s": 30,
        "time_compression": 43_200,
        "clip": {"clip_s": 10, "scenes": 2, "collision_at_s": 6},
        "analyser": {"width": 320, "actors": 2, "cpu_per_actor": CPU_PER_ACTOR, "max_util_pct": 80},
    },
}


def test_plan_never_gives_an_actor_more_frames_than_its_cores_take() -> None:
    cams = [f"c{i}" for i in range(20)]
    parts = analyser_parts(3)
    assert parts == ["analyser", "analyser:2", "analyser:3"]
    plan = plan_pool(
        cams, parts, {"analyser": 5.0, "analyser:2": 10.0, "analyser:3": 2.5}, 1.0, 0.02, 80
    )
    # 0.016 cores / cost: 3.2, 1.6 and 6.4 frames/s: 3, 1 and 6 cameras at 1 fps.
    assert [len(plan.cameras_of[p]) for p in parts] == [3, 1, 6]
    assert len(plan.not_analysed) == 10
    assert sorted(sum(plan.cameras_of.values(), []) + plan.not_analysed) == sorted(cams)
    everyone = plan_pool(cams, parts, {}, 1.0, None, 80)
    assert [len(everyone.cameras_of[p]) for p in parts] == [7, 7, 6] and not everyone.not_analysed


@pytest.fixture(scope="module")
def pool_measured(tmp_path_factory: pytest.TempPathFactory) -> tuple[Results, Any, float, Path]:
    """(results, measures, load average at the start, run folder) of the pool's run; the
    live benches' smoke sizes read it too (below)."""
    import yaml

    tmp = tmp_path_factory.mktemp("pool")
    path = tmp / "live-pool-test.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    parse_scenario(SCENARIO, "<test>")
    load0 = os.getloadavg()[0]
    res, m = live_to(path, tmp / "out", quiet=True)
    return res, m, load0, tmp / "out"


@pytest.fixture(scope="module")
def pool_run(pool_measured: tuple[Results, Any, float, Path]) -> tuple[Results, Path]:
    return pool_measured[0], pool_measured[3]


def test_cameras_are_admitted_within_each_actors_measured_capacity(
    pool_run: tuple[Results, Path],
) -> None:
    res, out = pool_run
    m = res.metrics
    [adm] = [e for e in res.events if e["kind"] == "analysis_admitted"]
    assert set(adm["cost_ms"]) == {"analyser", "analyser:2"}
    for part, n in adm["cameras"].items():
        cap = math.floor(CPU_PER_ACTOR * 0.8 / (adm["cost_ms"][part] / 1000.0) + 1e-9)
        assert n == min(cap, 12), (part, n, adm["cost_ms"][part])
    assert m["live_cameras_analysed"] + m["live_cameras_not_analysed"] == 12
    assert m["live_cameras_not_analysed"] == adm["not_analysed"] > 0
    with open(out / "cameras.csv") as f:
        rows = list(csv.DictReader(f))
    analysed = [r for r in rows if r["analysed_by"] != "not analysed"]
    left = [r for r in rows if r["analysed_by"] == "not analysed"]
    assert len(analysed) == m["live_cameras_analysed"] and len(left) == adm["not_analysed"]
    assert all(int(r["frames_analysed"]) == 0 for r in left)  # never opened
    # The analysed cameras keep up: about a frame a second each over the run, none late.
    assert all(int(r["frames_analysed"]) >= 0.7 * 30 for r in analysed), analysed
    assert m["live_frames_dropped_late"] == 0
    # The simulation of the same deployment, with the mean cost the actors measured.
    assert abs(m["live_predicted_cameras_analysed"] - m["live_cameras_analysed"]) <= 1
    assert m["live_predicted_alert_latency_s_p50"] == pytest.approx(1.5, abs=0.25)
    assert m["live_frames_scored"] > 0 and "live_detection_recall_person_ci95" in m


# -- bench_live and bench_analytics_live at their smoke size, on this module's run -----------
# (the benches' own scenarios differ only in size and targets; tests/test_benches.py has the
# other benches)


def test_bench_live_smoke(
    pool_measured: tuple[Results, Any, float, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    live = bench("bench_live")
    res, m, load0, _ = pool_measured
    r = live.step_figures(res, m, load0)
    live.print_step(r)
    live.summary(r["cameras"], [r], live.SMOKE_MINUTES)
    out = capsys.readouterr().out
    # The figures of a step, read from the run (whether this run's recording was whole is the
    # pool tests' to judge above, not the smoke's: a loaded CI machine may drop a segment).
    assert r["segments"] > 0 and r["dropped"] >= 0 and r["cameras"] == 12, out
    assert r["passed"] == (not r["failed"]), out
    positive(r"publish ([\d.]+) relay ([\d.]+) record ([\d.]+) analyse ([\d.]+); machine", out)
    positive(r"= ([\d.]+) % of a core; \d+ cores => at most ~(\d+) cameras", out)


def test_bench_analytics_live_smoke(
    pool_measured: tuple[Results, Any, float, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    pool = bench("bench_analytics_live")
    res, _, load0, _ = pool_measured
    r = pool.pool_figures(res, load0)
    pool.show(r)
    out = capsys.readouterr().out
    assert r["analysed"] + r["not_analysed"] == r["cameras"] > 0, out
    positive(r"(\d+) cameras: (\d+) analysed", out)
    positive(r"person recall ([\d.]+) \+-", out)
    positive(r"over ([\d.]+) frames scored", out)
    positive(r"analyser CPU ([\d.]+) % of a core per analysed camera", out)
    # the simulation of the same deployment, against the live pool: a ratio that exists
    numbers(r"admits (\d+) \(([\d.]+) % off\)", out)
    assert math.isfinite(r["predicted_err_pct"])
