"""A live run's start-up, once its parts are wired: actors up, cameras on the air, recording.

`start_parts` starts every actor (twin.live.parts), serves the run's health and has every
camera set publish until each camera path is on the air on its relay; `start_recording` has
the supervisor (twin.live.failover) place the cameras on recorders within each pool's limits,
starts recording at `t0` on the run clock and admits the analyser pool's cameras within each
analyser's measured cost (twin.live.analysis_pool). Both block, bounded by
`live.startup_timeout_s`; the driven phase (twin.live.lifecycle.drive) follows.
"""

from __future__ import annotations

import time

import ray

from twin.live.analysis_pool import analysed_interval_s, plan_pool
from twin.live.driver import ANALYSER
from twin.live.failover import Supervisor
from twin.live.lifecycle import Running
from twin.live.outcome import LiveError
from twin.live.parts import ActorRelay, RayParts

__all__ = ["start_parts", "start_recording"]


def start_parts(run: Running) -> None:
    """Every actor started, the health served, every camera publishing and on the air."""
    o, settings, parts = run.o, run.settings, run.parts
    run.say(0, run.duration, "starting actors")
    t_actors = time.monotonic()
    parts.start_all(o.recorders, settings.startup_timeout_s)
    o.actors_started_s = time.monotonic() - t_actors
    run.event(
        "actors_started",
        actors=len(parts.where),
        seconds=round(o.actors_started_s, 2),
        nodes=sorted({n for _, n in parts.where.values()}),
    )
    _serve_health(run)
    run.say(0, run.duration, "publishing")
    o.clip_origins = {c: t - o.epoch for c, t in parts.publish(settings.startup_timeout_s).items()}
    deadline = time.monotonic() + settings.startup_timeout_s
    while True:
        ready = _ready_paths(parts)
        if ready >= set(o.cameras):
            break
        if time.monotonic() > deadline:
            raise LiveError(
                f"{len(set(o.cameras) - ready)} camera paths were not published within "
                f"{settings.startup_timeout_s} s (e.g. {sorted(set(o.cameras) - ready)[:3]}); "
                f"see the MediaMTX logs {o.relay_dirs or 'of the external server'}"
            )
        time.sleep(0.2)
    run.event("published", cameras=len(o.cameras))


def _serve_health(run: Running) -> None:
    """Serve the run's health on loopback (twin.live.health) now that its parts are up."""
    relay_of = {c: p for p, r in run.parts.relays.items() for c in r.cameras}
    port = run.health.server.port
    try:
        url = run.health.start(run.o.run_key, relay_of)
    except OSError as exc:
        raise LiveError(
            f"--metrics-port {port}: cannot serve metrics on 127.0.0.1:{port} ({exc}); "
            f"expected a free port: pass another, or 0 for any free one"
        ) from None
    run.event("metrics_served", url=url)
    run.say(0, run.duration, f"metrics: {url}")


def _ready_paths(parts: RayParts) -> set[str]:
    """Camera paths on the air, over every relay."""
    ready: set[str] = set()
    for relay in parts.relays.values():
        if isinstance(relay, ActorRelay):
            ready |= set(relay.ready_paths(30))
        else:
            ready |= {p.name for p in relay.watch.server.paths() if p.ready}
    return ready


def start_recording(run: Running) -> Supervisor:
    """The supervisor places the cameras on recorders (twin.live.failover), recording starts
    at `t0`, and the analyser pool is admitted and started; returns the supervisor."""
    o, settings, parts, now = run.o, run.settings, run.parts, run.now
    mbps = {c: settings.nominal_mbps for c in o.cameras}  # what the plan says they send
    sup = Supervisor(
        o.recorders,
        settings.recorders.max_streams_of(o.recorders),
        settings.recorders.ingest_mbps_of(o.recorders),
        mbps,
        settings.heartbeat_interval_s,
        settings.heartbeat_timeout_s,
        now(),
        homes=o.homes or None,
        standby=o.standby,
    )
    assignment = sup.place_all()
    o.initial_assignment = dict(assignment)
    unplaced = sorted(c for c, r in assignment.items() if r is None)
    if unplaced:
        run.event("cameras_unplaced", cameras=unplaced)
    o.t0 = now()
    ray.get(
        [
            parts.recorders[r].record.remote({c: parts.url(c) for c in sup.cameras_of_recorder(r)})
            for r in o.recorders
        ],
        timeout=settings.startup_timeout_s,
    )
    an_parts = [p for p in parts.actors if p.split(":", 1)[0] == ANALYSER]
    if an_parts:
        _admit_analysis(run, an_parts)
        ray.get(
            [
                parts.actors[p].start.remote(parts.origins, parts.analysis_assigned[p])
                for p in an_parts
            ],
            timeout=settings.startup_timeout_s,
        )
    run.event(
        "recording_started", assignment={r: len(sup.cameras_of_recorder(r)) for r in o.recorders}
    )
    # Each recorder answered `record`: alive as of now. Beat only here, after every blocking
    # start-up call (starting 99 analyser threads took > 5 s under load).
    sup.beat(o.recorders, now())
    return sup


def _admit_analysis(run: Running, an_parts: list[str]) -> None:
    """Each analyser measures its cost per frame; cameras are admitted within its cores
    (twin.live.analysis_pool); the rest are reported as not analysed."""
    o, parts, an = run.o, run.parts, run.settings.analyser
    run.say(0, run.duration, f"measuring the cost of a frame on {len(an_parts)} analyser(s)")
    costs = ray.get(
        [
            parts.actors[p].frame_cost.remote([str(c) for c in parts.clip_paths], an.width)
            for p in an_parts
        ],
        timeout=run.settings.startup_timeout_s,
    )
    cost_ms = dict(zip(an_parts, (float(c) for c in costs)))
    plan = plan_pool(
        list(parts.analysis_candidates),
        an_parts,
        cost_ms,
        analysed_interval_s(run.settings),
        an.cpu_per_actor,
        an.max_util_pct,
    )
    parts.assign_analysis(plan.cameras_of)
    o.analysis = {
        "cost_ms": {p: round(x, 4) for p, x in cost_ms.items()},
        "limit_fps": {p: round(x, 4) for p, x in plan.limit_fps.items()},
        "cameras_of": plan.cameras_of,
        "not_analysed": plan.not_analysed,
        "candidates": len(parts.analysis_candidates),
        "cpu_per_actor": an.cpu_per_actor,
        "max_util_pct": an.max_util_pct,
    }
    run.event(
        "analysis_admitted",
        cost_ms=o.analysis["cost_ms"],
        cameras={p: len(c) for p, c in plan.cameras_of.items()},
        not_analysed=len(plan.not_analysed),
    )
