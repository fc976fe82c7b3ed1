"""What analytics on every camera cost the simulation of the city.

Run: .venv/bin/pytest bench/bench_analytics.py --benchmark-only -s   (or make bench)

Target (issue 16): the 7,000-set city with analytics on every camera for 35 days costs at
most twice the run without. Both are timed in the same run, on the same city (21,000
cameras: every set of 3, as bench_city.py), median of 3 each; the analytics are those of
scenarios/variants/analytics-*.yaml (four workloads, incidents, crowd-event bursts), with the
analysers at the edge (one per camera: the most analysers), per district and central. The
recording metrics must be the same with analytics as without (checked). The smoke size is
the edge variant on the same city for 2 days, one round each.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from bench_city import CITY_7000, city_21000
from sizes import SMOKE, smoke
from twin.model.city import generate_city
from twin.scenario import Scenario, load_scenario, parse_scenario
from twin.sim.engine import CityEngine
from twin.sim.extensions import extensions_for
from twin.sim.results import sim_metrics

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 3


def with_analytics(sc: Scenario, variant: str) -> Scenario:
    a = load_scenario(ROOT / f"scenarios/variants/analytics-{variant}.yaml").analytics
    assert a is not None
    data = sc.model_dump()
    data["analytics"] = a.model_dump()
    return parse_scenario(data, str(CITY_7000))  # reads its calibration


def timed(sc: Scenario) -> tuple[float, dict[str, float]]:
    city = generate_city(sc)
    t = time.perf_counter()
    o = CityEngine(sc, city, extensions=extensions_for(sc)).run()
    return time.perf_counter() - t, sim_metrics(o)


@pytest.mark.parametrize("size", [SMOKE] if smoke() else ["large"])
@pytest.mark.parametrize("variant", ["edge"] if smoke() else ["central", "district", "edge"])
def test_analytics_cost_at_most_twice_the_recording_run(
    benchmark: Any, variant: str, size: str
) -> None:
    base = city_21000(days=2) if size == SMOKE else city_21000()
    rounds = 1 if size == SMOKE else ROUNDS
    sc = with_analytics(base, variant)
    plain: list[float] = []
    on: list[float] = []
    m_off: dict[str, float] = {}
    m_on: dict[str, float] = {}
    for _ in range(rounds):  # interleaved, so a change of load on the machine hits both
        s, m_off = timed(base)
        plain.append(s)
        s, m_on = timed(sc)
        on.append(s)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    ratio = statistics.median(on) / statistics.median(plain)
    recording = {k: v for k, v in m_on.items() if not k.startswith("analytics_")}
    assert recording == m_off
    print(
        f"\n[{variant}] 21,000 cameras x {base.simulation.days:g} days: without analytics "
        f"{statistics.median(plain):.2f} s, with {statistics.median(on):.2f} s (medians of "
        f"{rounds}): x{ratio:.2f} (target <= 2)\n"
        f"  {int(m_on['analytics_incidents']):,} incidents, "
        f"{int(m_on['analytics_bursts'])} crowd events, compute needed "
        f"{m_on['analytics_compute_needed']:,.0f} cores, "
        f"{int(m_on['analytics_cameras_not_analysed']):,} cameras not analysed, alert latency "
        f"p95 {m_on['analytics_alert_latency_s_p95']:.2f} s"
    )
    benchmark.extra_info.update(
        variant=variant,
        without_s=statistics.median(plain),
        with_s=statistics.median(on),
        ratio=ratio,
    )
    if size != SMOKE:  # a target of the full size; the smoke size only shows the figures
        assert ratio <= 2.0
