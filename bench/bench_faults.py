"""A month of random faults at city scale against the naive per-camera SimPy model.

Run: make bench   (or: .venv/bin/pytest bench/bench_faults.py --benchmark-only -s)

Target (issue 3): scenarios/drill-random-month.yaml (7,000 sets, ~17,500 cameras, 31 days of
random recorder crashes, disk losses, power and backhaul cuts, relay losses, with N+1
failover) runs at least 100x faster than the naive model without any faults (naive.py: the
same placement, disk checks and sweeps, timed in the same run over a 3-hour window with
retention cut to one sweep interval, each part scaled to the whole run). The small size is
the same fault model on the phase-1 city (615 sets); the smoke size is the small one, timed
once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from naive import same_work_as_twin, time_naive
from sizes import SMOKE, sizes
from twin.model.city import generate_city
from twin.scenario import Scenario, load_scenario, parse_scenario
from twin.sim.engine import CityEngine
from twin.sim.extensions import extensions_for
from twin.sim.results import sim_metrics

ROOT = Path(__file__).resolve().parent.parent
NAIVE_WINDOW_S = 3 * 3600.0


def month_of_faults(size: str) -> Scenario:
    month = load_scenario(ROOT / "scenarios/drill-random-month.yaml")
    if size == "large":
        return month
    base = load_scenario(ROOT / "scenarios/phase1-615.yaml").model_dump()
    for p in base["recorders"]["pools"]:
        p["recorders"] += 1  # the N+1 standby
    base["simulation"]["days"] = month.simulation.days
    base["faults"] = [f.model_dump() for f in month.faults]
    base["failover"] = month.failover.model_dump()
    base["targets"] = {}
    return parse_scenario(base, str(ROOT / "scenarios/phase1-615.yaml"))  # reads its calibration


def _run(sc: Scenario):
    return CityEngine(sc, generate_city(sc), extensions=extensions_for(sc)).run()


@pytest.mark.parametrize("size", sizes("small", "large"))
def test_month_of_random_faults_vs_naive_simpy(benchmark, size):
    sc = month_of_faults(size)
    city = generate_city(sc)
    rounds = 1 if size == SMOKE else 3

    outcome = benchmark.pedantic(_run, args=(sc,), rounds=rounds, iterations=1)
    twin_s = benchmark.stats.stats.median
    # The naive model has no faults: it writes every segment slot of every camera on line.
    slots = int(((outcome.end_s - city.cam_online_s) // sc.recording.segment_s).sum())
    naive = time_naive(sc, city, NAIVE_WINDOW_S, slots)
    same_work_as_twin(sc, city, naive)
    naive_full_s = naive.full_s
    ratio = naive_full_s / twin_s
    m = sim_metrics(outcome)
    benchmark.extra_info.update(
        cameras=city.n_cameras,
        days=sc.simulation.days,
        incidents=m["incidents"],
        naive_full_s=naive_full_s,
        ratio=ratio,
    )
    print(
        f"\n[{size}] {city.n_cameras:,} cameras x {sc.simulation.days:g} days, "
        f"{m['incidents']:,.0f} fault incidents, {m['recorders_declared_down']:,.0f} failovers, "
        f"{len(outcome.events):,} events\n"
        f"  twin engine     : {twin_s:8.2f} s (median of {rounds})\n"
        f"{naive.describe()}\n"
        f"  ratio           : {ratio:,.0f}x (target >= 100x)"
    )
    assert m["incidents"] > 0 and m["no_recorder_over_limit"] == 1.0
    if size == "large":
        assert ratio >= 100
