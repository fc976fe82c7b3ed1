"""City-scale simulation speed and memory against a naive per-camera SimPy model.

Run: make bench   (or: .venv/bin/pytest bench/bench_city.py --benchmark-only -s)

Target (issue 2): the 7,000-set city with 3 cameras a set (21,000 cameras), 60-second
segments, 35 simulated days, at least 300x faster than the naive model, with peak memory
under 4 GiB.

The naive model (naive.py) does the same work: it places cameras through the core's
assignment as the engine does, checks disks on every segment and sweeps. It cannot hold 30
days of timestamps, so it is timed in the same run over a 3-hour window with retention cut
to one sweep interval (a sweep with nothing due, then a sweep deleting a whole hour of every
camera), checked against the twin's engine over that window (same placement, same segments
written and deleted), and each timed part is scaled by how often the whole run does it.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
from pathlib import Path

import pytest

from naive import same_work_as_twin, time_naive
from sizes import SMOKE, sizes
from twin.model.city import generate_city
from twin.scenario import Scenario, load_scenario, parse_scenario
from twin.sim.engine import CityEngine
from twin.sim.extensions import extensions_for

ROOT = Path(__file__).resolve().parent.parent
CITY_7000 = ROOT / "scenarios" / "city-7000.yaml"
DAYS = 35
NAIVE_WINDOW_S = 3 * 3600.0  # 180 segments a camera, 2 sweeps: ~3.8 M events at 21,000 cameras


def city_21000(days: float = DAYS, retention_days: float | None = None) -> Scenario:
    """scenarios/city-7000.yaml with every set at 3 cameras and one central pool to hold them
    (smoke sizes run it for fewer days, with a retention to match)."""
    base = load_scenario(CITY_7000).model_dump()
    base["city"]["cameras_per_set"] = {3: 1.0}
    base["recorders"]["pools"] = [
        {
            "name": "central",
            "districts": "*",
            "recorders": 100,
            "ingest_mbps": 1200,
            "disk_tb": 420,
            "max_streams": 250,
        }
    ]
    base["simulation"]["days"] = days
    if retention_days is not None:
        base["recording"]["retention_days"] = retention_days
    return parse_scenario(base, str(CITY_7000))  # reads its calibration


def city_of(size: str) -> Scenario:
    """large: city_21000; small: the phase-1 city (615 sets); smoke: the phase-1 city for 2
    days with 1 day of retention (a retention cycle and its deletions, in a second)."""
    if size == "large":
        return city_21000()
    sc = load_scenario(ROOT / "scenarios/phase1-615.yaml")
    if size != SMOKE:
        return sc
    d = sc.model_dump()
    d["simulation"]["days"] = 2
    d["recording"]["retention_days"] = 1
    return parse_scenario(d, str(ROOT / "scenarios/phase1-615.yaml"))


def _run(sc: Scenario):
    return CityEngine(sc, generate_city(sc), extensions=extensions_for(sc)).run()


def _peak_rss_child(sc_json: str, q) -> None:
    import json

    sc = parse_scenario(json.loads(sc_json), str(ROOT / "scenarios" / "city.yaml"))
    o = _run(sc)
    q.put((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, int(o.dropped.sum())))


def peak_rss_bytes(sc: Scenario) -> tuple[int, int]:
    """Peak RSS of a fresh process that generates the city and runs it (interpreter included)."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_peak_rss_child, args=(sc.model_dump_json(), q))
    p.start()
    out = q.get(timeout=600)
    p.join()
    return out


@pytest.mark.parametrize("size", sizes("small", "large"))
def test_city_simulation_vs_naive_simpy(benchmark, size):
    sc = city_of(size)
    city = generate_city(sc)
    horizon = sc.simulation.days * 86_400
    rounds = 1 if size == SMOKE else 3

    outcome = benchmark.pedantic(_run, args=(sc,), rounds=rounds, iterations=1)
    twin_s = benchmark.stats.stats.median
    events = outcome.written_segments + int(outcome.dropped.sum())
    naive = time_naive(sc, city, NAIVE_WINDOW_S, events)
    same_work_as_twin(sc, city, naive)
    rss, dropped = peak_rss_bytes(sc)
    ratio = naive.full_s / twin_s
    expected = int(city.n_cameras * horizon / sc.recording.segment_s)
    benchmark.extra_info.update(
        cameras=city.n_cameras,
        days=sc.simulation.days,
        naive_events_per_s=naive.events_per_s,
        naive_full_s=naive.full_s,
        ratio=ratio,
        peak_rss_mib=rss / 2**20,
    )
    print(
        f"\n[{size}] {city.n_cameras:,} cameras x {sc.simulation.days:g} days of "
        f"{sc.recording.segment_s} s segments ({expected:,} segments, "
        f"{outcome.deleted_segments:,} deleted)\n"
        f"  twin engine     : {twin_s:8.2f} s (median of {rounds}; "
        f"the whole run: placement, writing,\n"
        f"                    {naive.sweeps_full:,} sweeps, sampling)\n"
        f"{naive.describe()}\n"
        f"    (checked: over the window the twin places the same cameras and writes and\n"
        f"     deletes the same {naive.window.written:,} / {naive.window.deleted:,} segments)\n"
        f"  ratio           : {ratio:,.0f}x (target >= 300x)\n"
        f"  peak RSS        : {rss / 2**20:,.0f} MiB (target < 4096 MiB)"
    )
    assert outcome.written_segments == expected and dropped == 0
    assert outcome.deleted_segments > 0  # a full retention cycle and its deletions ran
    if size == "large":
        assert ratio >= 300
        assert rss < 4 * 2**30
