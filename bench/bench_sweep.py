"""Sweep throughput: 16 variants of the 7,000-set city on Ray (both cores) against one after
another in this process. Out of the default test run (bench/ is not in testpaths):

    .venv/bin/pytest bench/bench_sweep.py --benchmark-only -s

Both sides run the same 16 variants (recorders per pool x retention days); the speed-up is
reported as a ratio measured in the same session, since the machine is shared. The Ray side
includes starting and stopping the local Ray instance, as a user's `twin sweep` pays it
(the driver runs variants while Ray starts: twin/compare/parallel.py). Target (issue 17):
x1.7 at city size on 2 cores. With RAY_ADDRESS set the Ray side runs on that cluster.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import yaml

from twin.compare.parallel import local_cpus
from twin.compare.sweep import expand, parse_param, run_variants

CITY = Path(__file__).resolve().parent.parent / "scenarios" / "city-7000.yaml"
SMALL = Path(__file__).resolve().parent.parent / "scenarios" / "phase1-615.yaml"
# 4 x 4 = 16 variants; the Yau Tsim Mong pool is the one sized closest to its limits.
PARAMS = ["recorders.pools.yau-tsim-mong.recorders=6,7,8,9",
          "recording.retention_days=28,29,30,31"]
TIMES: dict[str, dict[str, float]] = {}


def _variants(path: Path):
    base = yaml.safe_load(path.read_text())
    return expand(base, [parse_param(p) for p in PARAMS], str(path))


@pytest.mark.parametrize("size,path", [("small", SMALL), ("city", CITY)], ids=["small", "city"])
@pytest.mark.parametrize("backend", ["local", "ray"])
def test_sweep_16_variants(benchmark, backend, size, path):
    variants = _variants(path)
    assert len(variants) == 16
    t: dict[str, float] = {}

    def run():
        t["load_before"] = os.getloadavg()[0]
        t0 = time.perf_counter()
        # The Ray side starts (and stops) its local Ray instance inside run_variants, as a
        # user's `twin sweep` does: the driver runs the first variants while Ray starts.
        res = run_variants(variants, str(path), backend, timings=t)
        t["wall"] = time.perf_counter() - t0
        t["load_after"] = os.getloadavg()[0]
        return res

    res = benchmark.pedantic(run, rounds=1, iterations=1)
    assert [r.scenario.name for r in res] == [v.name for v in variants]
    TIMES.setdefault(size, {})[backend] = t["wall"]
    if backend == "ray":
        TIMES[size]["ray_to_results"] = t["wall"] - t.get("ray_shutdown_s", 0.0)
        print(f"\n[{size}/ray] Ray start {t.get('ray_init_s', 0):.1f} s (the driver ran "
              f"{t.get('driver_items', 0):.0f} variants meanwhile), shut-down "
              f"{t.get('ray_shutdown_s', 0):.1f} s")
    # The machine is shared: a ratio is only worth something if the load stayed put.
    print(f"\n[{size}/{backend}] {t['wall']:.1f} s, 1-min load average "
          f"{t['load_before']:.1f} -> {t['load_after']:.1f}")
    got = TIMES[size]
    if "local" in got and "ray" in got:
        where = os.environ.get("RAY_ADDRESS") or f"local Ray, {local_cpus()} CPUs"
        ratio = got["local"] / got["ray"]
        print(f"\n[{size}] 16 variants: one after another {got['local']:.1f} s; "
              f"Ray ({where}) {got['ray']:.1f} s incl. start-up and shut-down, "
              f"{got['ray_to_results']:.1f} s to the results (start-up included); speed-up "
              f"x{ratio:.2f} (x{got['local'] / got['ray_to_results']:.2f} to the results; "
              "target >= 1.7 at city size)")
        benchmark.extra_info.update(speedup=ratio)
