"""The live driver's control plane at city scale, on virtual time, without Ray.

Run:  .venv/bin/pytest bench/bench_control_plane.py --benchmark-only -s

17,500 cameras on 150 recorders (the 7,000-set programme as one live cluster would run it),
heartbeats every second: how long one supervision round of the driver (twin.live.driver)
takes, and how long the failover plan for a lost recorder takes (the core's placement of its
~117 cameras on the survivors, within their limits). The parts answer at once (a stand-in
for twin.live.parts.RayParts: every heartbeat answered, MediaMTX up), so what is timed is the
driver's own logic. The target: a round well under 50 ms, so 1 s heartbeats hold at city
scale. The baseline measured in the same run is the same round at the trial's size (35
cameras, 3 recorders): the ratio says how the round grows with the city. The smoke size is
the small one, 20 rounds timed once.
"""

from __future__ import annotations

import os
import time

import pytest
import simpy

from sizes import SMOKE, sizes
from twin.live.driver import DriverConfig, LiveDriver
from twin.live.failover import Supervisor


class _AnsweringParts:
    """Every recorder answers every heartbeat; nothing else happens."""

    def __init__(self, recorders: list[str]) -> None:
        self.recorders = recorders
        self.silent: set[str] = set()
        self.moves = 0

    def poll_recorders(self, alive):
        return [r for r in alive if r not in self.silent], []

    def record(self, recorder, cameras):
        self.moves += len(cameras)

    def start_recorder(self, recorder):
        pass

    def relay_state(self, part="relay:mediamtx"):
        return "up"

    def restart_relay(self, part="relay:mediamtx"):
        pass

    def poll_actors(self):
        return [], [], []

    def restart_actor(self, part):
        pass

    def kill(self, part):
        return None

    def power(self, camera_set, on):
        return []

    def sweep_start(self, now_s):
        return False

    def sweep_poll(self):
        return None

    def sample(self):
        return {}

    def cameras_of(self, part):
        return []


def _driver(cameras: int, recorders: int, max_streams: int):
    names = [f"p-r{k + 1:03d}" for k in range(recorders)]
    env = simpy.Environment(initial_time=0.0)
    parts = _AnsweringParts(names)
    sup = Supervisor(
        names,
        max_streams,
        ingest_mbps=10_000.0,
        camera_mbps={f"cam{i:05d}": 4.0 for i in range(cameras)},
        interval_s=1.0,
        timeout_s=3.0,
        now_s=0.0,
    )
    sup.place_all()
    d = LiveDriver(env, parts, sup, DriverConfig(0.0, 1e9, 1.0, 60.0), [])
    return env, parts, sup, d


def _round_ms(cameras: int, recorders: int, max_streams: int, rounds: int = 200) -> float:
    env, _, _, d = _driver(cameras, recorders, max_streams)
    t = time.perf_counter()
    for k in range(rounds):
        env._now = float(k)  # virtual time: one round per heartbeat interval
        d.round()
    return (time.perf_counter() - t) / rounds * 1e3


def _failover_ms(cameras: int, recorders: int, max_streams: int) -> tuple[float, int]:
    env, parts, sup, d = _driver(cameras, recorders, max_streams)
    for k in range(3):
        env._now = float(k)
        d.round()
    parts.silent.add("p-r001")
    lost = len(sup.cameras_of_recorder("p-r001"))
    for k in (3, 4):  # silent, not yet declared down
        env._now = float(k)
        d.round()
    env._now = 5.0  # 3 s of silence: declared down in this round, its cameras moved
    t = time.perf_counter()
    d.round()
    ms = (time.perf_counter() - t) * 1e3
    assert parts.moves == lost and not d.unplaced
    return ms, lost


@pytest.mark.parametrize("size", sizes("small", "large"))
def test_bench_supervision_round(benchmark, size: str) -> None:
    cams, recs, streams = (17_500, 150, 130) if size == "large" else (35, 3, 20)
    timed = 20 if size == SMOKE else 200
    base = _round_ms(35, 3, 20, timed)
    ms = benchmark.pedantic(
        _round_ms, args=(cams, recs, streams, timed), rounds=1 if size == SMOKE else 3, iterations=1
    )
    fo, lost = _failover_ms(cams, recs, streams)
    print(
        f"\nsupervision round, {cams:,} cameras on {recs} recorders: {ms:.3f} ms "
        f"(trial size {base:.3f} ms, x{ms / base:.1f}; target < 50 ms); failover plan for "
        f"{lost} cameras of a lost recorder, with its round: {fo:.2f} ms; load average "
        f"{os.getloadavg()[0]:.2f}"
    )
    assert ms < 50.0 and fo < 500.0
