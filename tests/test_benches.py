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
benches (MediaMTX, Ray, video) are marked `live`. Four live benches read runs a live test
already makes, in that test's module: bench_live and bench_analytics_live the analyser pool's
run (tests/test_live_analyser_pool.py), bench_cluster's three-node side the cluster run
(tests/test_live_cluster.py), bench_chaos the chaos run its own runner makes for
tests/test_live_faults.py (with the SIGTERM test's run as its quiet baseline).

The module runs in the suite's serial phase (`serial`): pytest-benchmark keeps no statistics
under parallel workers, and the Ray head its sides share must not meet another test's head.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bench_smoke import bench, positive

pytestmark = pytest.mark.serial

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
        benchmark, SMOKE
    )
    out = capsys.readouterr().out
    positive(r"constant bitrate, drop_new\s*:\s*([\d.]+) s", out)
    positive(r"day/night curve, overwrite_oldest:\s*([\d.]+) s", out)
    positive(r"ratio \(median of the pairs' ratios\): x([\d.]+)", out)


def test_bench_analytics_smoke(benchmark: Any, capsys: pytest.CaptureFixture[str]) -> None:
    bench("bench_analytics").test_analytics_cost_at_most_twice_the_recording_run(
        benchmark, "edge", SMOKE
    )
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
        self, benchmark: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        bench("bench_replications").test_100_replications_of_a_month_of_random_faults(
            benchmark, "local", SMOKE
        )
        positive(r"\[local\] \d+ replications in ([\d.]+) s", capsys.readouterr().out)

    def test_bench_replications_smoke_on_ray(
        self, on_standing_ray: str, benchmark: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        bench("bench_replications").test_100_replications_of_a_month_of_random_faults(
            benchmark, "ray", SMOKE
        )
        out = capsys.readouterr().out
        positive(r"\[ray\] \d+ replications in ([\d.]+) s", out)
        positive(r"one after another ([\d.]+) s .*speed-up x([\d.]+)", out)

    def test_bench_sweep_smoke_one_after_another(
        self,
        benchmark: Any,
        request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        bench("bench_sweep").test_sweep_16_variants(benchmark, "local", SMOKE, request, monkeypatch)
        positive(r"\[smoke/local\] ([\d.]+) s", capsys.readouterr().out)

    def test_bench_sweep_smoke_on_ray(
        self,
        on_standing_ray: str,
        benchmark: Any,
        request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        bench("bench_sweep").test_sweep_16_variants(benchmark, "ray", SMOKE, request, monkeypatch)
        out = capsys.readouterr().out
        positive(r"\[smoke/ray\] ([\d.]+) s", out)
        positive(r"one after another ([\d.]+) s; Ray .* speed-up x([\d.]+)", out)

    def test_bench_sweep_smoke_standing(
        self,
        benchmark: Any,
        request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)  # the bench joins the head itself
        bench("bench_sweep").test_sweep_16_variants(
            benchmark, "standing", SMOKE, request, monkeypatch
        )
        out = capsys.readouterr().out
        positive(r"\[smoke/standing\] first command \(starts the pool\): ([\d.]+) s", out)
        positive(r"one after another ([\d.]+) s; Ray \(a standing Ray.* speed-up x([\d.]+)", out)


# -- live benches: the smallest size that still runs their code path ------------------------


@pytest.mark.live
def test_bench_recorder_smoke(
    benchmark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench("bench_recorder").test_recorder_capacity(benchmark, SMOKE, tmp_path)
    out = capsys.readouterr().out
    positive(r"recorder CPU ([\d.]+) % of its core \(([\d.]+) % per stream", out)
    positive(r"zero packets lost: (\d+) streams, ([\d.]+) Mbps", out)
    positive(r"measured/vendor: streams x([\d.]+), Mbps x([\d.]+)", out)
    positive(r"relay \(MediaMTX\) CPU ([\d.]+) % of a core \(([\d.]+) % per stream", out)
    positive(r"one relay .*: ([\d.]+) % of a core per stream, ~(\d+) streams and ~(\d+) Mbps", out)


def test_bench_chaos_shows_the_childs_error_when_twin_live_stops_early(tmp_path: Path) -> None:
    """A child that exits before recording fails the bench at once (no wait for a parts.json
    that never comes), with the child's own error: here a scenario with no camera sets."""
    chaos = bench("bench_chaos")
    with pytest.raises(
        chaos.ChildFailed, match=r"(?s)exited 2 before .*the city has no camera sets"
    ):
        chaos.run_chaos(0.2, 1, tmp_path, kills=False, sets=0)
