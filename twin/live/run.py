"""The live engine: one scenario run for real, on the wall clock, on Ray.

Theory of operation
-------------------
This module runs the steps below in order, each done by a module of its job: the plan
(twin.live.plan), the wiring of the Ray parts (twin.live.wiring), the life cycle
(twin.live.lifecycle: signals, Ray, the driven phase on `simpy.rt.RealtimeEnvironment`,
teardown; twin.live.startup; twin.live.stopping) and the outcome (twin.live.outcome). The
driver's processes (twin.live.driver) reach the real parts through twin.live.parts.

1. Before anything starts, the scenario's faults are compiled for the live run
   (twin.live.faults: bad ones are refused here), each distinct scene is encoded once
   (cached), an external MediaMTX is attached if the scenario names one, and Ray is started
   or joined (twin.ray.session). Districts and recorder pools are placed on Ray's nodes
   (twin.live.cluster: by node resources, or spread), each recording node's folder is made
   on that node, and each node hosting camera sets gets a relay actor running its MediaMTX
   (on the node's address, one publisher login per camera, authentication on).
2. Actors, each pinned to its node: camera-set actors publishing to their district's relay,
   every recorder of the scenario's pools (`<pool>-rNN`, the names `faults:` uses; each with
   its pool's stream and ingest limits) on their pool's node, a sweeper per recording node and the
   analyser pool's actors in turn over the nodes (the first on the driver's node). All ask for no
   CPU: they are I/O bound, and a 2-core machine must place ~20 of them.
3. The supervisor (twin.live.failover over the core failover objects) places the cameras on
   recorders within each recorder's own pool's limits: a district's cameras on its district's
   pool, a central pool that every district's own pool covers kept as their standby; recording
   starts at `t0` on the run clock.
4. The driver's processes supervise every part, carry out the scripted faults, sweep and
   sample until `t0 + duration`. SIGINT or SIGTERM ends this phase early: what was recorded
   is measured and written, and the run exits 3.
5. At the end, recorders stop first (each closes its segment in progress), a task on each
   recording node recovers the files its dead recorders left and checks its catalog against
   its files, then publishers, analyser and sweepers stop; each relay stops its MediaMTX,
   every actor is killed, and Ray is shut down if this process started it. Whatever fails on
   the way, step 5 runs, and a second signal only hurries it. Footage gaps and the rest are
   then measured from the nodes' catalog rows and file checks (twin.live.measure).
6. If this process dies outright (`kill -9`), step 5 never runs. So before it starts a Ray
   of its own it starts a watchdog (twin.live.watchdog) that kills every process of the run
   the moment this one is gone, and from the start it keeps `live/run-state.json`
   (twin.live.run_state, every second while recording), from which `twin live --recover`
   (twin.live.recover) finishes the folder: partials recovered, catalog checked, results
   written for the time recorded, marked cut short.

Times in results are seconds on the run clock: `time.time() - epoch`, with `epoch` the
wall time the driver started; `t0` is when recording was asked to start.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.live.health import RunHealth
from twin.live.lifecycle import Running, Signals, drive, join_ray, own_watchdog, teardown
from twin.live.outcome import LiveError, LiveInterrupted, LiveOutcome
from twin.live.plan import (
    MAX_LIVE_CAMERAS,
    external_credentials,
    live_recorder_names,
    plan_run,
    prepare_folder,
)
from twin.live.run_settings import live_run_settings
from twin.live.run_state import save_state
from twin.live.startup import start_parts, start_recording
from twin.live.stopping import stop
from twin.live.wiring import PartsWiring, place, start_external_server
from twin.scenario import Scenario
from twin.scenario.live import ExternalMediaMTX

if TYPE_CHECKING:
    from synthetic_streams.mediamtx import MediaMTXServer
    from twin.live.parts import RayParts
    from twin.ray.session import RaySession

# LiveOutcome, the errors, external_credentials and live_recorder_names live in the modules
# of their job; they are named here too, where the live run's callers have always found them.
__all__ = [
    "LiveError",
    "LiveInterrupted",
    "LiveOutcome",
    "run_live",
    "external_credentials",
    "live_recorder_names",
    "started_at",
    "MAX_LIVE_CAMERAS",
]


def run_live(
    sc: Scenario,
    out: Path,
    *,
    duration_s: float | None = None,
    progress: Callable[[float, float, str], None] | None = None,
    metrics_port: int = 0,
    source: str = "",
) -> LiveOutcome:
    """Run `sc` live for `duration_s` (default: live.duration_s); files go under `out/live`.

    Its health is served as Prometheus metrics on 127.0.0.1:`metrics_port` (0: any free
    port) while it runs (twin.live.health); the URL is in progress and `live/parts.json`.

    A SIGINT or SIGTERM during recording ends it early and the outcome says so
    (`interrupted`); during start-up or shut-down it aborts, cleaning up all the same.
    """
    settings = live_run_settings(sc)
    duration = float(duration_s if duration_s is not None else settings.duration_s)
    say = progress or (lambda t, total, msg: None)
    epoch = time.time()

    def now() -> float:
        return time.time() - epoch

    plan = plan_run(sc, settings, duration, out)  # checked before anything runs
    say(
        0,
        duration,
        f"encoding {settings.profile.scenes} scene clip(s) (cached after the first run)",
    )
    outcome, clips = prepare_folder(sc, settings, plan, out, epoch, source)
    save_state(outcome, "starting")  # a live run folder from now on (twin live --recover)

    def event(kind: str, **kw: Any) -> None:
        outcome.events.append({"t_s": round(now(), 3), "kind": kind, **kw})

    server: MediaMTXServer | None = None
    session: RaySession | None = None
    parts: RayParts | None = None
    health = RunHealth(metrics_port, sc.name, plan.cameras)
    with Signals() as signals:
        watchdog = None
        try:
            if isinstance(settings.mediamtx, ExternalMediaMTX):
                say(0, duration, "attaching to the external MediaMTX")
                server = start_external_server(settings, plan.cameras)
                event("mediamtx_started", pid=server.pid, managed=server.managed)
            watchdog = own_watchdog(outcome.run_dir)  # before Ray: every process of it is new
            say(0, duration, "starting Ray")
            session = join_ray(outcome.run_dir, signals)
            if watchdog is not None and not session.started_here:
                watchdog.close()  # a Ray already there is not this run's to kill
                watchdog = None
            if watchdog is not None:
                watchdog.tell_dirs(session.temp_dir)
            outcome.ray_address = session.address
            say(0, duration, "placing districts and pools on Ray's nodes")
            place(outcome, sc, settings, plan.city, plan.faults)
            say(0, duration, "starting the media relays (MediaMTX on each node with cameras)")
            parts = PartsWiring(outcome, settings, server, clips, plan.set_names, event).parts(
                session.temp_dir
            )
            if watchdog is not None:
                watchdog.tell_dirs(*outcome.relay_dirs)
            run = Running(outcome, settings, parts, health, duration, now, event, say)
            start_parts(run)
            sup = start_recording(run)
            driver, cpu_marks = drive(run, sup, plan.faults, signals)
            stop(run, driver, sup, cpu_marks)
            return outcome
        except (LiveInterrupted, SystemError) as exc:
            # A signal that lands inside Ray's compiled ray.get (waiting for the actors to
            # start) comes out as a SystemError around our LiveInterrupted.
            why = exc.__cause__ or exc.__context__
            if isinstance(exc, SystemError) and not (
                signals.got and isinstance(why, LiveInterrupted)
            ):
                raise
            raise LiveInterrupted(
                f"live run of {sc.name} stopped by {signals.got or exc} during start-up; "
                f"expected it to run to the end: nothing was recorded, and nothing is left "
                f"running"
            ) from None
        except TimeoutError as exc:
            raise LiveError(
                f"{exc} (live.startup_timeout_s = {settings.startup_timeout_s} s); expected a "
                f"Ray cluster with room for them: raise the timeout or lower the number of "
                f"sets"
            ) from None
        finally:
            health.close()
            teardown(parts, session, server)
            if watchdog is not None:
                watchdog.close()  # after the teardown: a kill -9 during it is still caught


def started_at() -> str:
    """Now, as the run's start stamp (UTC, ISO 8601, to the second)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
