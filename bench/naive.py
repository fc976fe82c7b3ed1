"""The plain SimPy model the twin is measured against: one process per camera, one event
per segment, a sweeper that pops expired segments camera by camera.

It does the same accounting as the twin's engine (bytes per recorder, segments on disk,
retention deletions), the straightforward way. Its cost grows with camera-seconds.
"""

from __future__ import annotations

import time
from collections import deque

import simpy

from twin.city import CityModel
from twin.scenario import Scenario


def run_naive(city: CityModel, segment_s: float, retention_s: float, sweep_s: float,
              horizon_s: float) -> dict[str, float]:
    env = simpy.Environment()
    n = city.n_cameras
    rec_of = [i % city.n_recorders for i in range(n)]
    seg_bytes = [float(m) * 1e6 / 8 * segment_s for m in city.cam_effective_mbps]
    used = [0.0] * city.n_recorders
    disk = [deque() for _ in range(n)]
    stats = {"written": 0, "deleted": 0}

    def camera(c: int):
        r, b, q = rec_of[c], seg_bytes[c], disk[c]
        while True:
            yield env.timeout(segment_s)
            q.append(env.now)
            used[r] += b
            stats["written"] += 1

    def sweeper():
        while True:
            yield env.timeout(sweep_s)
            cutoff = env.now - retention_s
            for c in range(n):
                q = disk[c]
                while q and q[0] <= cutoff:
                    q.popleft()
                    used[rec_of[c]] -= seg_bytes[c]
                    stats["deleted"] += 1

    for c in range(n):
        env.process(camera(c))
    env.process(sweeper())
    env.run(until=horizon_s)
    return {**stats, "stored_bytes": sum(used)}


def time_naive(sc: Scenario, city: CityModel, horizon_s: float) -> tuple[dict[str, float], float, float]:
    """Run the naive model over `horizon_s` of the scenario and scale its wall time to the
    scenario's whole horizon. Returns (its counts, seconds measured, seconds scaled)."""
    t0 = time.perf_counter()
    counts = run_naive(city, sc.recording.segment_s, sc.recording.retention_s,
                       sc.recording.sweep_interval_s, horizon_s)
    measured = time.perf_counter() - t0
    return counts, measured, measured * sc.simulation.days * 86_400 / horizon_s
