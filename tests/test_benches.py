"""Every bench of bench/ at its smoke size, so a bench that breaks fails `make test`.

`make bench` runs the benches at their full sizes (minutes each) and nothing else runs them,
so they rotted: an engine that came to refuse faults without its extension, a scenario built
without its calibration, a child process's error nobody saw. Here each one runs the same
code at the size bench/sizes.py calls smoke (seconds; `pytest bench --smoke` runs the same),
and the test checks it measured something: the figure and the ratio it prints are there,
finite and positive, not only that it did not crash.

Simulation benches run their own test function (with the real `benchmark` fixture); the two
sides of a bench that compares sides (sweep, replications) run in order, as in bench/, and
share one standing Ray head (RAY_ADDRESS) instead of each starting a Ray of its own. The live
benches (MediaMTX, Ray, video) are marked `live`; bench_live, bench_analytics_live and
bench_chaos's quiet baseline read one shared live run.
"""

from __future__ import annotations

import importlib
import json
import math
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
if str(BENCH) not in sys.path:
    sys.path.append(str(BENCH))  # the benches import each other (and naive.py) by name


def bench(name: str) -> ModuleType:
    """A bench module of bench/ (imported when its test runs, not when tests are collected)."""
    return importlib.import_module(name)


def numbers(pattern: str, text: str) -> list[float]:
    """Every group of every match of `pattern` in `text`, as numbers ("1,132" is 1132)."""
    found = [g for m in re.finditer(pattern, text) for g in m.groups()]
    assert found, f"nothing printed matches {pattern!r}; printed:\n{text[-3000:]}"
    return [float(g.replace(",", "")) for g in found]


def positive(pattern: str, text: str) -> list[float]:
    """The printed figures `pattern` captures; each must be finite and above zero."""
    got = numbers(pattern, text)
    assert all(math.isfinite(x) and x > 0 for x in got), (pattern, got)
    return got


SMOKE = bench("sizes").SMOKE


# -- simulation benches: a second or two each -----------------------------------------------

def test_bench_city_smoke(benchmark: Any, capsys: pytest.CaptureFixture[str]) -> None:
    bench("bench_city").test_city_simulation_vs_naive_simpy(benchmark, SMOKE)
    out = capsys.readouterr().out
    positive(r"twin engine\s*:\s*([\d.]+) s", out)
    positive(r"ratio\s*:\s*([\d,.]+)x", out)
    positive(r"peak RSS\s*:\s*([\d,.]+) MiB", out)


def test_bench_faults_smoke(benchmark: Any, capsys: pytest.CaptureFixture[str]) -> None:
    bench("bench_faults").test_month_of_random_faults_vs_naive_simpy(benchmark, SMOKE)
    out = capsys.readouterr().out
    positive(r"([\d,]+) fault incidents", out)
    positive(r"twin engine\s*:\s*([\d.]+) s", out)
    positive(r"ratio\s*:\s*([\d,.]+)x", out)


def test_bench_capacity_smoke(benchmark: Any, capsys: pytest.CaptureFixture[str]) -> None:
    bench("bench_capacity").test_curves_and_overwrite_cost_at_most_twice_constant_bitrate(
        benchmark, SMOKE)
    out = capsys.readouterr().out
    positive(r"constant bitrate, drop_new\s*:\s*([\d.]+) s", out)
    positive(r"day/night curve, overwrite_oldest:\s*([\d.]+) s", out)
    positive(r"ratio \(median of the pairs' ratios\): x([\d.]+)", out)


def test_bench_analytics_smoke(benchmark: Any, capsys: pytest.CaptureFixture[str]) -> None:
    bench("bench_analytics").test_analytics_cost_at_most_twice_the_recording_run(
        benchmark, "edge", SMOKE)
    out = capsys.readouterr().out
    positive(r"without analytics ([\d.]+) s, with ([\d.]+) s", out)
    positive(r"\): x([\d.]+) \(target <= 2\)", out)
    positive(r"([\d,]+) incidents", out)


def test_bench_control_plane_smoke(benchmark: Any, capsys: pytest.CaptureFixture[str]) -> None:
    bench("bench_control_plane").test_bench_supervision_round(benchmark, SMOKE)
    out = capsys.readouterr().out
    positive(r"recorders: ([\d.]+) ms \(trial size ([\d.]+) ms, x([\d.]+);", out)
    positive(r"with its round: ([\d.]+) ms", out)


def test_bench_accuracy_smoke(benchmark: Any, capsys: pytest.CaptureFixture[str]) -> None:
    bench("bench_accuracy").test_accuracy_stability(benchmark, SMOKE)
    out = capsys.readouterr().out
    positive(r"([\d,]+) frames scored once", out)
    precision = positive(r"person precision ([\d.]+) sd", out)
    recall = positive(r"recall ([\d.]+) sd", out)
    assert max(precision + recall) <= 1.0


# -- the sides of sweep and replications, on one standing Ray head -------------------------

@pytest.fixture(scope="class")
def standing_ray() -> Iterator[str]:
    """One Ray head (`ray start`) for every Ray side below, stopped by PID after the class
    (before the live benches, which start Ray of their own). The sweep's standing side asks
    for it by this name, as in bench/bench_sweep.py."""
    from tests.ray_cluster import ray_head

    with ray_head("127.0.0.2") as address:
        yield address


@pytest.fixture
def on_standing_ray(standing_ray: str, monkeypatch: pytest.MonkeyPatch) -> str:
    from tests.ray_cluster import AUTH_ENV

    monkeypatch.setenv("RAY_ADDRESS", standing_ray)
    for k, v in AUTH_ENV.items():
        monkeypatch.setenv(k, v)
    return standing_ray


@pytest.fixture(scope="class")
def fresh_sides() -> None:
    """The sides a bench compares are kept in its module between its tests: start empty."""
    bench("bench_replications").TIMES.clear()
    sweep = bench("bench_sweep")
    sweep.TIMES.clear()
    sweep.SERIAL.clear()


@pytest.mark.usefixtures("fresh_sides")
class TestSidesOnOneRayHead:
    """Each bench's sides in order (the last one prints the ratio against the first)."""

    def test_bench_replications_smoke_one_after_another(
            self, benchmark: Any, capsys: pytest.CaptureFixture[str]) -> None:
        bench("bench_replications").test_100_replications_of_a_month_of_random_faults(
            benchmark, "local", SMOKE)
        positive(r"\[local\] \d+ replications in ([\d.]+) s", capsys.readouterr().out)

    def test_bench_replications_smoke_on_ray(
            self, on_standing_ray: str, benchmark: Any,
            capsys: pytest.CaptureFixture[str]) -> None:
        bench("bench_replications").test_100_replications_of_a_month_of_random_faults(
            benchmark, "ray", SMOKE)
        out = capsys.readouterr().out
        positive(r"\[ray\] \d+ replications in ([\d.]+) s", out)
        positive(r"one after another ([\d.]+) s .*speed-up x([\d.]+)", out)

    def test_bench_sweep_smoke_one_after_another(
            self, benchmark: Any, request: pytest.FixtureRequest,
            monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        bench("bench_sweep").test_sweep_16_variants(benchmark, "local", SMOKE, request,
                                                    monkeypatch)
        positive(r"\[smoke/local\] ([\d.]+) s", capsys.readouterr().out)

    def test_bench_sweep_smoke_on_ray(
            self, on_standing_ray: str, benchmark: Any, request: pytest.FixtureRequest,
            monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        bench("bench_sweep").test_sweep_16_variants(benchmark, "ray", SMOKE, request,
                                                    monkeypatch)
        out = capsys.readouterr().out
        positive(r"\[smoke/ray\] ([\d.]+) s", out)
        positive(r"one after another ([\d.]+) s; Ray .* speed-up x([\d.]+)", out)

    def test_bench_sweep_smoke_standing(
            self, benchmark: Any, request: pytest.FixtureRequest,
            monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)  # the bench joins the head itself
        bench("bench_sweep").test_sweep_16_variants(benchmark, "standing", SMOKE, request,
                                                    monkeypatch)
        out = capsys.readouterr().out
        positive(r"\[smoke/standing\] first command \(starts the pool\): ([\d.]+) s", out)
        positive(r"one after another ([\d.]+) s; Ray \(a standing Ray.* speed-up x([\d.]+)",
                 out)


# -- live benches: the smallest size that still runs their code path ------------------------

@pytest.fixture(scope="module")
def live_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, float, Path]:
    """One live run that three benches read: bench_chaos's quiet trial at its smoke size (2
    sets, 30 s, the analyser on, nothing killed) is the chaos bench's quiet baseline, and
    bench_live's step figures and bench_analytics_live's pool figures are read from it too
    (their code path; their own full-size scenarios differ only in size and targets)."""
    import os

    from twin.cli.live import live_to

    chaos = bench("bench_chaos")
    tmp = tmp_path_factory.mktemp("bench-live")
    path = chaos.scenario_copy(chaos.SMOKE_QUIET_MINUTES, tmp, chaos.SMOKE_SETS)
    load0 = os.getloadavg()[0]
    res, m = live_to(path, tmp / "quiet", quiet=True)
    return res, m, load0, tmp / "quiet"


@pytest.mark.live
def test_bench_live_smoke(live_run: tuple[Any, Any, float, Path],
                          capsys: pytest.CaptureFixture[str]) -> None:
    live = bench("bench_live")
    res, m, load0, _ = live_run
    r = live.step_figures(res, m, load0)
    live.print_step(r)
    live.summary(r["cameras"], [r], live.SMOKE_MINUTES)
    out = capsys.readouterr().out
    # The trial's targets (recall, latency over a few incidents) are not this bench's: the
    # recording must be whole, as a capacity step requires.
    assert r["dropped"] == 0 and r["segments"] > 0, out
    positive(r"publish ([\d.]+) relay ([\d.]+) record ([\d.]+) analyse ([\d.]+); machine", out)
    positive(r"= ([\d.]+) % of a core; \d+ cores => at most ~(\d+) cameras", out)


@pytest.mark.live
def test_bench_analytics_live_smoke(live_run: tuple[Any, Any, float, Path],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    pool = bench("bench_analytics_live")
    res, _, load0, _ = live_run
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


@pytest.mark.live
def test_bench_recorder_smoke(benchmark: Any, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    bench("bench_recorder").test_recorder_capacity(benchmark, SMOKE, tmp_path)
    out = capsys.readouterr().out
    positive(r"recorder CPU ([\d.]+) % of its core \(([\d.]+) % per stream", out)
    positive(r"zero packets lost: (\d+) streams, ([\d.]+) Mbps", out)
    positive(r"measured/vendor: streams x([\d.]+), Mbps x([\d.]+)", out)


@pytest.mark.live
def test_bench_chaos_smoke(live_run: tuple[Any, Any, float, Path], tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    s = bench("bench_chaos").report(3.0, 2026, smoke=True, out=tmp_path,
                                    quiet_run=live_run[3])
    out = capsys.readouterr().out
    printed = json.loads(out[out.index("{"):])
    assert printed == json.loads(json.dumps(s))
    assert s["faults_found"] >= s["faults_injected"] > 0, out
    assert s["gaps_unexplained"] == 0 and s["catalog_mismatches"] == 0, out
    killed = [k for k, v in s["per_kind"].items() if v["injected"]]
    assert killed and all(s["per_kind"][k]["detected"] >= s["per_kind"][k]["injected"]
                          for k in killed), out
    detect = [s["per_kind"][k]["detect_s_max"] for k in killed]
    assert all(d is not None and math.isfinite(d) and d > 0 for d in detect), out
    positive(r'"unrecorded_s_per_camera_hour": ([\d.]+)', out)  # the kills cost footage
    if s["quiet_unrecorded_s_per_camera_hour"] > 0:
        assert math.isfinite(s["ratio_vs_quiet"]) and s["ratio_vs_quiet"] > 0, out
    else:  # a quiet run that lost nothing gives no ratio, and says so
        assert s["ratio_vs_quiet"] is None, out


def test_bench_chaos_shows_the_childs_error_when_twin_live_stops_early(tmp_path: Path) -> None:
    """A child that exits before recording fails the bench at once (no wait for a parts.json
    that never comes), with the child's own error: here a scenario with no camera sets."""
    chaos = bench("bench_chaos")
    with pytest.raises(chaos.ChildFailed, match=r"(?s)exited 2 before .*the city has no camera sets"):
        chaos.run_chaos(0.2, 1, tmp_path, kills=False, sets=0)


@pytest.mark.live
def test_bench_cluster_smoke(benchmark: Any, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    bench("bench_cluster").test_live_cluster_one_node_and_three(benchmark, tmp_path, SMOKE)
    out = capsys.readouterr().out
    positive(r"driver CPU ([\d.]+) % of a core \(([\d.]+) per camera\)", out)
    positive(r"3 nodes / 1 node: x([\d.]+)", out)
