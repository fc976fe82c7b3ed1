"""Items as Ray tasks, in order; the driver works while a local Ray instance starts."""

from __future__ import annotations

import os

import pytest

from twin.errors import TwinError
from twin.ray.tasks import run_ordered


def _make_where():
    """An item function defined here, so Ray ships it by value (tests/ is not importable on
    a worker)."""

    def where(offset: int, item: int) -> tuple[int, int]:
        import os
        import time

        import ray

        # From the third item on, an item waits for Ray to be up (in the driver; on a worker
        # it is up by definition): the driver runs the first items while Ray starts, however
        # slow the start is on a loaded machine.
        while item >= 2 and not ray.is_initialized():
            time.sleep(0.02)
        time.sleep(0.1)
        return offset + item, os.getpid()

    return where


def test_the_driver_runs_items_while_ray_starts_and_ray_runs_the_rest_in_order():
    timings: dict[str, float] = {}
    out = run_ordered(_make_where(), (100,), list(range(12)), "ray", timings=timings)
    assert [v for v, _ in out] == [100 + i for i in range(12)]  # item order, whoever ran them
    mine = [i for i, (_, pid) in enumerate(out) if pid == os.getpid()]
    theirs = [i for i, (_, pid) in enumerate(out) if pid != os.getpid()]
    assert len(mine) in (3, 4) and theirs, "both the driver and the Ray workers ran items"
    assert mine == list(range(len(mine)))  # the driver took the first items, in order
    assert timings["driver_items"] == len(mine) and timings["ray_init_s"] > 0
    assert "ray_shutdown_s" in timings  # the instance it started is stopped again


def test_the_local_backend_runs_in_this_process_and_a_bad_backend_is_refused():
    out = run_ordered(_make_where(), (0,), [1, 0], "local")  # items < 2: no wait for Ray
    assert out == [(1, os.getpid()), (0, os.getpid())]
    with pytest.raises(TwinError, match="backend 'dask': expected 'ray' or 'local'"):
        run_ordered(_make_where(), (0,), [1], "dask")


def _make_raylet_killer():
    def kill_my_raylet(item: int) -> int:
        import os
        import signal
        import time

        if item == 1:  # a Ray worker's parent is its node's raylet
            os.kill(os.getppid(), signal.SIGKILL)
        time.sleep(0.5)  # items still waiting when the raylet died can no longer be placed
        return item

    return kill_my_raylet


def test_ray_lost_under_a_command_is_its_own_error_and_the_work_s_errors_stay_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """kill -9 of the raylet under a running item: an error saying Ray lost a part and to run
    again (exit 3), not a crash report; nothing of that Ray is left running. An item that
    raises still raises its own error."""
    import psutil

    from tests.test_ray_pool import _make_failing  # item 1 raises ValueError
    from twin.ray.session import RayUnavailable

    # The driver learns its raylet is dead from the GCS, which calls a node dead after failed
    # health checks (~15 s by default): checked every 0.5 s here, so the test takes seconds.
    for k, v in {
        "RAY_health_check_period_ms": "500",
        "RAY_health_check_timeout_ms": "500",
        "RAY_health_check_failure_threshold": "2",
        "RAY_health_check_initial_delay_ms": "0",
    }.items():
        monkeypatch.setenv(k, v)
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(RayUnavailable, match="lost a part it needs while running 8 items") as ei:
        run_ordered(_make_raylet_killer(), (), list(range(8)), "ray", overlap=False)
    assert ei.value.exit_code == 3 and "run the command again" in str(ei.value)
    left = [
        p
        for p in psutil.Process().children(recursive=True)
        if p.pid not in before and p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    ]
    assert left == [], [" ".join(p.cmdline())[:80] for p in left]
    with pytest.raises(ValueError, match="item 1 is bad"):
        run_ordered(_make_failing(), (), [0, 1, 2], "ray", overlap=False)
