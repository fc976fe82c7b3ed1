"""Daily bitrate curves with overwrite_oldest against constant bitrate, on the 21,000-camera
city for 35 days, both measured in the same run:

    .venv/bin/pytest bench/bench_capacity.py --benchmark-only -s

Target (issue 15): the curved, overwriting run takes at most twice the constant-bitrate run.

The curved city is bench_city's 21,000 cameras (7,000 sets of 3, one central pool of 100
recorders) with a day/night light curve (x1.6 from 19:00 to 07:00: low light, sensor gain),
government buildings' scenes x1.2, ingest and backhaul raised to carry the peak hour, and
every disk 10 % short of the 30 days the curve needs, with `full_disk: overwrite_oldest`:
from day ~27 every recorder overwrites its oldest footage, about once an hour. The baseline
is bench_city's constant-bitrate city. Times are CPU seconds of this process (the machine is
shared; CPU time is what the change costs), run as back-to-back pairs so both sides see the
same load, the ratio the median of the pairs' ratios, with the 1-minute load average.
The smoke size is the same city for 12 days with 10 days of retention, one pair.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from bench_city import CITY_7000, city_21000
from sizes import SMOKE, sizes
from twin.model.city import generate_city
from twin.scenario import Scenario, parse_scenario
from twin.sim.engine import CityEngine
from twin.sim.extensions import extensions_for
from twin.sim.results import sim_metrics

ROUNDS = 5
NIGHT = {0: 1.6, 7: 1.0, 19: 1.6}  # ASSUMPTION: low light raises H.264 bitrate ~1.6x


def constant_city(size: str) -> Scenario:
    return city_21000(days=12, retention_days=10) if size == SMOKE else city_21000()


def curved_city(size: str) -> Scenario:
    d = constant_city(size).model_dump()
    prof = d["camera_profiles"][0]
    prof["light_curve"] = NIGHT
    prof["scene_factor"] = {"government_building": 1.2}
    pool = d["recorders"]["pools"][0]
    pool["full_disk"] = {"type": "overwrite_oldest"}
    pool["ingest_mbps"] = 2000.0  # the peak hour is 1.6 x 1.2 x 4 Mbps a camera
    for dist in d["city"]["districts"]:
        dist["backhaul_mbps"] = 20_000.0
    # Validated as load_scenario validates city-7000.yaml: its calibration read from its folder.
    sc = parse_scenario(d, str(CITY_7000))
    city = generate_city(sc)
    need_tb = float(city.cam_mean_effective_mbps.sum()) * 1e6 / 8 * sc.recording.retention_s / 1e12
    pool["disk_tb"] = round(0.9 * need_tb / pool["recorders"], 1)  # 10 % short
    return parse_scenario(d, str(CITY_7000))


def _cpu_run(sc: Scenario) -> tuple[float, dict[str, float]]:
    t0 = time.process_time()
    o = CityEngine(sc, generate_city(sc), extensions=extensions_for(sc)).run()
    return time.process_time() - t0, sim_metrics(o)


@pytest.mark.parametrize("size", sizes("large"))
def test_curves_and_overwrite_cost_at_most_twice_constant_bitrate(
    benchmark: Any, size: str
) -> None:
    constant, curved = constant_city(size), curved_city(size)
    rounds = 1 if size == SMOKE else ROUNDS
    pairs: list[tuple[float, float]] = []
    metrics: dict[str, float] = {}
    loads: list[float] = []

    def run() -> None:
        # One pair of runs back to back, so both sides see the same load on this shared
        # machine; the ratio is taken pair by pair.
        a, m0 = _cpu_run(constant)
        b, m = _cpu_run(curved)
        pairs.append((a, b))
        loads.append(os.getloadavg()[0])
        assert m0["segments_dropped"] == 0
        metrics.update(m)

    benchmark.pedantic(run, rounds=rounds, iterations=1)
    ratios = sorted(b / a for a, b in pairs)
    ratio = ratios[len(ratios) // 2]
    const_s = sorted(a for a, _b in pairs)[len(pairs) // 2]
    curved_s = sorted(b for _a, b in pairs)[len(pairs) // 2]
    benchmark.extra_info.update(ratio=ratio, constant_s=const_s, curved_s=curved_s)
    days, retention = constant.simulation.days, constant.recording.retention_days
    print(
        f"\n21,000 cameras x {days:g} days, CPU s (median of {rounds} back-to-back pairs; load "
        f"{min(loads):.1f}-{max(loads):.1f}):\n"
        f"  constant bitrate, drop_new       : {const_s:.2f} s\n"
        f"  day/night curve, overwrite_oldest: {curved_s:.2f} s\n"
        f"  achieved retention min / p5 / median: "
        f"{metrics['retention_achieved_days_min']:.2f} / "
        f"{metrics['retention_achieved_days_p5']:.2f} / "
        f"{metrics['retention_achieved_days_median']:.2f} days; deleted early "
        f"{metrics['footage_deleted_early_tb']:,.0f} TB; "
        f"dropped {metrics['segments_dropped']:,.0f}\n"
        f"  ratio (median of the pairs' ratios): x{ratio:.2f} (target <= 2); pairs "
        + ", ".join(f"x{r:.2f}" for r in ratios)
    )
    assert metrics["segments_dropped"] == 0
    # 10 % short of the retention: 26-27.1 days of 30
    assert retention * 26.0 / 30 < metrics["retention_achieved_days_min"] < retention * 27.1 / 30
    if size != SMOKE:  # a target of the full size; the smoke size only shows the figures
        assert ratio <= 2.0
