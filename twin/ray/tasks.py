"""Running a list of independent items as Ray tasks, results in the items' order.

Theory of operation
-------------------
`run_ordered(fn, shared, items)` returns [fn(*shared, item) for item in items]. With the
"ray" backend each item is a Ray task on the cluster at RAY_ADDRESS, or on a local Ray
instance started for the call and stopped after it. `shared` (the scenario, the city) is put in
Ray's object store once (`ray.put`) and handed to every task by reference, so nothing that stays the
same between items is shipped or rebuilt per task. The Ray is the session the live twin uses too
(twin.ray.session):
RAY_ADDRESS checked before joining, or a Ray of our own advertised and bound on 127.0.0.1
with its own temp folder; Ray's log lines go to a file (`ray_log_path()`).

Starting a local Ray instance takes ~2.5-4.5 s on this 2-core machine, most of it waiting for
Ray's processes to register, not computing. While it starts, the driver runs items itself,
in a thread, in the items' order; once Ray is up it hands every item not yet begun to Ray
and finishes only the one it is on. Stopping it is quick (twin.ray.session: the driver
disconnects, the processes its Ray started are killed by PID). On a cluster (RAY_ADDRESS)
connecting is quick and every item runs on the cluster, on its pool of warm workers
(twin.ray.pool: detached actors with the twin imported, kept between commands, an item
whose actor dies run again on a new one), or as plain Ray tasks with TWIN_RAY_POOL=0.
`backend="local"` runs them one after another in this process (unit tests, and the
sequential side of the benchmarks).

Results are put in the items' order whichever finished first, so the output does not
depend on scheduling; `ray.wait` serves the progress callback only.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from twin.errors import TwinError
from twin.ray.pool import ensure_pool, pool_wanted, run_on_pool
from twin.ray.session import RayUnavailable, start_ray

__all__ = ["ray_init", "local_cpus", "run_ordered"]

T = TypeVar("T")
R = TypeVar("R")


def local_cpus() -> int:
    """CPUs the local Ray gets here: the machine's cores (this one has 2, shared)."""
    return os.cpu_count() or 1


def ray_log_path() -> Path:
    """Where Ray's own log lines go (its C++ core writes to stderr): not into the output."""
    return Path(tempfile.gettempdir()) / "cctv-twin" / f"ray-{os.getpid()}.log"


def ray_init() -> Any:
    """Join RAY_ADDRESS, else start a Ray of our own on 127.0.0.1 (twin.ray.session:
    loopback only, its own temp folder, errors naming the fix). Returns the session, whose
    `close()` stops what was started here, or None if Ray was already up."""
    # Ray on first use: importing it fixes its RAY_AUTH_* settings (twin/ray/session.py)
    import ray

    if ray.is_initialized():
        return None
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage reports leave the machine
    return start_ray(ray_log_path())


def _ray_lost(err: BaseException, n: int) -> TwinError:
    """The error for Ray itself failing under a command (a raylet or node lost): not a bug
    of the twin's, and not the user's input."""
    address = os.environ.get("RAY_ADDRESS", "").strip()
    where = (
        f"the Ray cluster at RAY_ADDRESS={address}"
        if address
        else "the Ray this command started on this machine"
    )
    return RayUnavailable(
        f"{where} lost a part it needs while running {n} items ({type(err).__name__}: "
        f"{str(err)[:200]}); no results of this command were kept. Expected its processes to "
        f"stay up while it runs: run the command again"
        + (f" (check `ray status --address={address}`)" if address else "")
        + f"; Ray's log: {ray_log_path()}"
    )


def run_ordered(
    fn: Callable[..., R],
    shared: tuple[Any, ...],
    items: Sequence[T],
    backend: str = "ray",
    progress: Callable[[int, int], None] | None = None,
    overlap: bool = True,
    timings: dict[str, float] | None = None,
) -> list[R]:
    """[fn(*shared, item) for item in items], as Ray tasks (module docstring).

    `timings`, if given, receives how the wall time went: `ray_init_s`, `ray_shutdown_s`,
    `driver_items` (items the driver ran while Ray started) and, on a cluster, `pool_s`
    (finding or starting the pool of warm workers, twin.ray.pool)."""
    clock = time.perf_counter
    timings = {} if timings is None else timings
    n = len(items)
    results: list[Any] = [None] * n
    done = 0
    lock = threading.Lock()

    def tick() -> None:
        nonlocal done
        with lock:
            done += 1
            now = done
        if progress:
            progress(now, n)

    if backend == "local":
        for i, item in enumerate(items):
            results[i] = fn(*shared, item)
            tick()
        return results
    if backend != "ray":
        raise TwinError(f"backend {backend!r}: expected 'ray' or 'local'")
    # Ray on first use: importing it fixes its RAY_AUTH_* settings (twin/ray/session.py)
    import ray

    pending = deque(range(n))
    stop = threading.Event()
    errors: list[BaseException] = []

    def driver_lane() -> None:
        while not stop.is_set():
            with lock:
                if not pending:
                    return
                i = pending.popleft()
            try:
                results[i] = fn(*shared, items[i])
            except BaseException as err:  # re-raised in the caller's thread below
                errors.append(err)
                return
            tick()

    lane = None
    if overlap and not ray.is_initialized() and not os.environ.get("RAY_ADDRESS"):
        lane = threading.Thread(target=driver_lane, name="twin-driver-lane", daemon=True)
        lane.start()
    session = None
    switch = sys.getswitchinterval()
    try:
        try:
            t0 = clock()
            if lane is not None:
                # Ray's start-up is many short steps in this (main) thread, each waiting for the
                # GIL the driver lane holds: hand it over every 0.5 ms, not every 5 ms.
                sys.setswitchinterval(5e-4)
            session = ray_init()
            timings["ray_init_s"] = clock() - t0
        finally:
            sys.setswitchinterval(switch)
            stop.set()
        with lock:
            rest = list(pending)
            pending.clear()
        timings["driver_items"] = float(n - len(rest))
        refs = []
        handles: dict[int, Any] = {}
        if rest and pool_wanted(session is not None and session.started_here):
            t1 = clock()
            handles = ensure_pool(warm=fn)
            timings["pool_s"] = clock() - t1
        try:
            if rest and handles:
                run_on_pool(fn, shared, items, rest, results, tick, handles)
                rest = []
            elif rest:
                task = ray.remote(num_cpus=1)(fn)
                shared_refs = [ray.put(s) for s in shared]
                refs = [task.remote(*shared_refs, items[i]) for i in rest]
                waiting = list(refs)
                while waiting:  # for progress only: results are collected in order below
                    _, waiting = ray.wait(waiting, num_returns=1)
                    tick()
            if lane is not None:
                lane.join()
            if errors:
                raise errors[0]
            for i, value in zip(rest, ray.get(refs)):
                results[i] = value
        except ray.exceptions.RayError as err:
            if isinstance(err, ray.exceptions.RayTaskError):
                raise  # the work itself raised: its own error, as with --backend local
            raise _ray_lost(err, n) from None
        return results
    finally:
        stop.set()
        if lane is not None:
            lane.join()
        if session is not None:
            t0 = clock()
            session.close()
            timings["ray_shutdown_s"] = clock() - t0
