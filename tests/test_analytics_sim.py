"""Analyser queues, admission and alert latency (twin/core/analysis_queue.py,
twin/sim/analytics.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import scenario
from twin.core.analysis_queue import FluidQueues, admit, fifo_waits, mgc_wait_s
from twin.model.city import generate_city
from twin.scenario import Scenario
from twin.sim.analytics import simulate_analytics
from twin.sim.engine import CityEngine
from twin.sim.extensions import extensions_for
from twin.sim.results import sim_metrics

DAY = 86_400.0


def analytics(
    pool: dict[str, Any], workloads: list[dict[str, Any]] | None = None, **kw: Any
) -> dict[str, Any]:
    return {
        "workloads": workloads
        or [
            {"kind": "motion", "fps": 1.0, "cpu_ms": 6.7, "source": "measured"},
            {"kind": "people_vehicles", "fps": 1.0, "cpu_ms": 0.7, "source": "measured"},
        ],
        "pool": pool,
        **kw,
    }


def one_analyser(
    sets: int, workloads: list[dict[str, Any]], days: float = 2.0, **kw: Any
) -> Scenario:
    """`sets` 3-camera sets in one district, all on line from the start, one analyser of 1 core."""
    return scenario(
        **{
            "city.districts": [{"name": "Yau Tsim Mong", "sets": sets, "backhaul_mbps": 100_000}],
            "city.cameras_per_set": {3: 1.0},
            "simulation.days": days,
            "analytics": analytics(
                {"type": "central", "analysers": 1, "units": 1, "max_util_pct": 99}, workloads, **kw
            ),
        }
    )


@pytest.mark.parametrize("scv", [0.0, 1.0])
def test_one_server_formula_matches_the_fifo_queue_job_by_job(scv: float) -> None:
    """M/D/1 (scv 0) and M/M/1 (scv 1): Pollaczek-Khinchine against the FIFO recursion."""
    rng = np.random.default_rng(1)
    lam, s, n = 70.0, 0.01, 400_000  # rho 0.7
    arrivals = np.cumsum(rng.exponential(1 / lam, n))
    service = np.full(n, s) if scv == 0 else rng.exponential(s, n)
    measured = fifo_waits(arrivals, service)[n // 10 :].mean()
    formula = mgc_wait_s(lam, s, scv, 1)
    assert formula == pytest.approx(0.7 * s * (1 + scv) / (2 * 0.3))
    assert measured == pytest.approx(formula, rel=0.05)


def test_many_servers_erlang_c_matches_the_fifo_queue() -> None:
    rng = np.random.default_rng(2)
    lam, s, c, n = 300.0, 0.01, 4, 400_000  # rho 0.75 on 4 servers, exponential: M/M/4
    arrivals = np.cumsum(rng.exponential(1 / lam, n))
    measured = fifo_waits(arrivals, rng.exponential(s, n), c)[n // 10 :].mean()
    assert measured == pytest.approx(mgc_wait_s(lam, s, 1.0, c), rel=0.05)


def test_a_single_analyser_queue_in_the_simulation_matches_a_frame_by_frame_queue() -> None:
    """The engine's steady wait for a mix of workloads (two costs per frame) against frames
    queued one by one at the same rate with the same mix (Poisson arrivals: M/G/1)."""
    workloads = [
        {"kind": "motion", "fps": 1.0, "cpu_ms": 6.7, "source": "measured"},
        {"kind": "plates", "fps": 2.0, "cpu_ms": 15.0, "source": "assumed"},
        {"kind": "people_vehicles", "fps": 1.0, "cpu_ms": 0.7, "source": "measured"},
    ]
    sc = one_analyser(6, workloads, incidents={"per_camera_day": 500})  # 18 cameras
    city = generate_city(sc)
    assert sc.analytics is not None
    o = simulate_analytics(sc.analytics, city, sc.simulation.days * DAY, sc.seed)
    assert o.metrics["analytics_cameras_analysed"] == 18
    rho = 18 * (6.7 + 30.0 + 0.7) / 1000
    assert o.metrics["analytics_util_pct_max"] == pytest.approx(100 * rho)
    # The same analyser, frame by frame.
    rng = np.random.default_rng(3)
    per_s = 18 * np.array([1.0, 2.0, 1.0])
    costs = np.array([0.0067, 0.015, 0.0007])
    n = 600_000
    arrivals = np.cumsum(rng.exponential(1 / per_s.sum(), n))
    service = rng.choice(costs, size=n, p=per_s / per_s.sum())
    measured = fifo_waits(arrivals, service)[n // 10 :].mean()
    assert o.wait_s.size > 10_000
    assert np.ptp(o.wait_s) == pytest.approx(0.0, abs=1e-12)  # steady: one level all along
    assert float(o.wait_s.mean()) == pytest.approx(measured, rel=0.05)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(0.01, 5.0), min_size=1, max_size=60),
    st.lists(st.integers(0, 2), min_size=60, max_size=60),
    st.lists(st.floats(0.5, 8.0), min_size=1, max_size=6),
    st.lists(st.integers(0, 2), min_size=6, max_size=6),
)
def test_admission_never_puts_an_analyser_over_capacity(
    demand: list[float], group: list[int], limit: list[float], an_group: list[int]
) -> None:
    d = np.array(demand)
    g = np.array(group[: d.size])
    lim = np.array(limit)
    ag = np.array(an_group[: lim.size])
    placed, used = admit(d, g, ag, lim)
    assert (used <= lim).all()
    for a in range(lim.size):
        assert used[a] == pytest.approx(d[placed == a].sum())
    for k in np.flatnonzero(placed >= 0):
        assert ag[placed[k]] == g[k]
    # A camera is refused only if no analyser of its group has room for it (rooms only shrink).
    for k in np.flatnonzero(placed < 0):
        mine = np.flatnonzero(ag == g[k])
        assert all(used[a] + d[k] > lim[a] for a in mine)


def test_fluid_backlog_grows_sheds_and_drains() -> None:
    inf = np.inf
    q = FluidQueues.of(
        np.array([[0.0, 10.0, 20.0], [5.0, inf, inf]]),
        np.array([[0.5, 1.5, 0.5], [0.9, 0.0, 0.0]]),
        1.0,
        4.0,
    )
    t = np.array([5.0, 14.0, 20.0, 24.0, 28.0, 50.0])
    b, load, shedding = q.at(np.zeros(t.size, dtype=np.int64), t)
    assert b == pytest.approx([0.0, 2.0, 4.0, 2.0, 0.0, 0.0])
    assert load.tolist() == [0.5, 1.5, 0.5, 0.5, 0.5, 0.5]
    assert q.shed.tolist() == pytest.approx([1.0, 0.0])  # at the cap from 18 s to 20 s
    _, _, sh = q.at(np.zeros(3, dtype=np.int64), np.array([12.0, 19.0, 22.0]))
    assert sh.tolist() == [False, True, False]
    b1, l1, _ = q.at(np.array([1, 1]), np.array([1.0, 100.0]))
    assert b1.tolist() == [0.0, 0.0] and l1.tolist() == [-1.0, 0.9]


def test_a_burst_raises_p95_alert_latency_as_the_hand_calculation_says() -> None:
    """One analyser of one core at half load; a crowd event triples the work for 600 s.

    By hand: the backlog grows at 3 x 0.5 - 1 = 0.5 core-s per s, so an incident t s into
    the event waits 0.5 t s; incidents come uniformly through the event, so the 95th
    percentile waits 0.5 x 0.95 x 600 = 285 s. On top: the frames (an offset within a 1 s
    interval, one more frame to confirm: 1.0-2.0 s), the steady wait at the cap (99 %:
    0.99 x E[S] x (1 + cs2) / (2 x 0.01)) and the frame's own 7 ms.
    """
    wl = [{"kind": "people_vehicles", "fps": 1.0, "cpu_ms": 10.0, "source": "assumed"}]
    base: dict[str, Any] = {"incidents": {"per_camera_day": 0.0}, "max_lag_s": 3600}
    calm = one_analyser(17, wl, **base)  # 51 cameras x 10 ms/s = 0.51 of the core
    burst = one_analyser(
        17,
        wl,
        bursts={"at_s": [DAY], "duration_s": 600, "load_factor": 3.0, "incidents_per_camera": 40},
        **base,
    )
    calm_calm = one_analyser(17, wl, incidents={"per_camera_day": 50.0}, max_lag_s=3600)
    for sc in (calm, burst, calm_calm):
        assert sc.analytics is not None
    city = generate_city(burst)
    end = 2 * DAY
    quiet = simulate_analytics(calm_calm.analytics, city, end, 7).metrics  # type: ignore[arg-type]
    hit = simulate_analytics(burst.analytics, city, end, 7)  # type: ignore[arg-type]
    assert (
        simulate_analytics(calm.analytics, city, end, 7).metrics[  # type: ignore[arg-type]
            "analytics_incidents"
        ]
        == 0
    )
    rho0 = 51 * 0.010
    growth = 3 * rho0 - 1  # core-s of backlog per s
    steady_cap = 0.99 * 0.010 / (2 * 0.01)
    hand_p95 = growth * 0.95 * 600 + steady_cap + 0.010 + 1.0 + 0.5  # + the offset's mean
    assert quiet["analytics_alert_latency_s_p95"] < 2.1
    assert hit.metrics["analytics_alert_latency_s_p95"] == pytest.approx(hand_p95, rel=0.02)
    assert hit.metrics["analytics_frames_dropped"] == 0  # max_lag_s an hour: nothing shed


def test_analytics_leave_the_recording_unchanged_and_report_their_metrics() -> None:
    sc = scenario(**{"simulation.days": 3})
    on = scenario(
        **{
            "simulation.days": 3,
            "analytics": analytics(
                {"type": "district", "analysers": 1, "units": 1, "max_util_pct": 50},
                bursts={"per_district_day": 1.0},
            ),
        }
    )
    off_m = sim_metrics(CityEngine(sc, generate_city(sc), extensions=extensions_for(sc)).run())
    on_m = sim_metrics(CityEngine(on, generate_city(on), extensions=extensions_for(on)).run())
    assert {k: v for k, v in on_m.items() if not k.startswith("analytics_")} == off_m
    # 1 core per district at 50 %: 0.5 / 0.0074 = 67 cameras each; the rest not analysed.
    cams = generate_city(on)
    per_district = np.bincount(cams.cam_district)
    assert on_m["analytics_cameras_analysed"] == sum(min(int(n), 67) for n in per_district)
    assert on_m["analytics_cameras_not_analysed"] == sum(max(0, int(n) - 67) for n in per_district)
    assert on_m["analytics_incidents_unalerted"] > 0
    assert on_m["analytics_compute_needed"] == pytest.approx(
        cams.n_cameras * 0.0074 / 0.5, rel=1e-5
    )
