"""The end of a live run's driven phase: parts stopped in order, their figures merged.

Recorders stop first (each closes its segment in progress, so footage runs to the end); each
recording node then recovers the `.part` files its dead recorders left and checks its catalog
against its files, on that node (twin.live.cluster); then the publishers and analysers stop,
the sweep under way is waited for and the sweepers close. What every part observed goes into
the outcome, merged over the processes each part ran in (twin.live.outcome). Everything is
bounded by timeouts; twin.live.lifecycle.teardown kills what is left afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import cast

import ray

from twin.live.cluster import finish_node
from twin.live.driver import ANALYSER, LiveDriver
from twin.live.failover import Supervisor
from twin.live.lifecycle import Running, cpu_snapshot
from twin.live.outcome import (
    LiveOutcome,
    book_node_report,
    cpu_window,
    merge_analyser,
    merge_status,
    nodes_event,
)
from twin.live.run_state import save_state

__all__ = ["stop"]


def stop(
    run: Running, driver: LiveDriver, sup: Supervisor, cpu_marks: dict[str, dict[str, float]]
) -> None:
    """Stop recorders first (footage runs to the end), recover what dead ones left, stop the
    rest; the outcome gets what each part observed."""
    o, parts, now, event = run.o, run.parts, run.now, run.event
    duration = run.duration
    o.t_end = now()
    save_state(o, "stopping", driver=driver, sup=sup, parts=parts)
    for r, rec in parts.recovered:  # files crashed recorders left, kept by their successors
        o.recovered_partials += len(rec.recovered)
        o.removed_partials += len(rec.removed)
        event(
            "partials_recovered",
            recorder=r,
            recovered=len(rec.recovered),
            removed=len(rec.removed),
            seconds=round(rec.seconds, 3),
            by="restarted recorder",
        )
    if "steady_to" not in cpu_marks and "steady_from" in cpu_marks:
        cpu_marks["steady_to"] = cpu_snapshot(parts)
        cpu_marks["steady_to"]["t"] = now()
    if "steady_from" in cpu_marks and "steady_to" in cpu_marks:
        event(
            "cpu_window",
            **cpu_window(o, cpu_marks["steady_from"], cpu_marks["steady_to"], driver.log.records),
        )
    run.say(duration, duration, "stopping recorders")
    running = [r for r in o.recorders if r not in driver.down or r in driver.restarting]
    o.recorder_stats = parts.stop_recorders(running, 60)
    for r, stats in parts.dead_stats.items():  # what dead processes had recorded
        if r in o.recorder_stats:
            o.recorder_stats[r] = merge_status(stats + [o.recorder_stats[r]])
        else:
            o.recorder_stats[r] = merge_status(stats)
    # Recorders that died and did not run again left `.part` files: keep their footage. Each
    # node recovers its own, then reads its catalog and checks it against its files.
    run.say(duration, duration, "recovering and checking each node's files, on that node")
    unreadable = _finish_nodes(o, event, lost=set(parts.lost()))
    for rec in driver.log.records:  # what a lost node held is lost with it, from the start
        if rec["kind"] == "node_lost" and rec["part"].split(":", 1)[1] in unreadable:
            rec["storage_lost"] = True
    run.say(duration, duration, "stopping publishers")
    stopped = parts.call_all("stop", 60)
    o.publisher_stats = {
        c: s for p, v in stopped.items() if p.startswith("set:") for c, s in v[0].items()
    }
    snaps = list(parts.analyser_done)
    for p in sorted(set(stopped) | set(parts.analyser_snapshots)):
        if p.split(":", 1)[0] != ANALYSER:
            continue
        if p in stopped:
            snaps.append(stopped[p])
        elif p in parts.analyser_snapshots:
            snaps.append(parts.analyser_snapshots[p])
    o.analyser = merge_analyser(snaps) if snaps else {}
    if parts.sweep_pending():
        rep = parts.sweep_poll()
        deadline = time.monotonic() + 30
        while rep is None and time.monotonic() < deadline:
            time.sleep(0.1)
            rep = parts.sweep_poll()
        if rep:
            driver.sweeps.append(rep)
    parts.close_sweepers(30)
    o.sweeps = list(driver.sweeps)
    o.samples = driver.samples
    o.faults = driver.log.records
    o.final_assignment = sup.assignment()
    o.parts = {"history": parts.pid_history, "mediamtx_pids": list(o.mediamtx_pids)}
    o.events.append(
        {"t_s": round(now(), 3), "kind": "cluster", **nodes_event(o, parts.part_nodes())}
    )
    o.events.extend(
        {
            "t_s": round(cast(float, e["t_s"]), 3),
            "kind": "recorder_health",
            **{k: v for k, v in e.items() if k != "t_s"},
        }
        for e in sup.health_events
    )
    o.events.sort(key=lambda e: e["t_s"])
    event("stopped")


def _finish_nodes(o: LiveOutcome, event: Callable[..., None], lost: set[str]) -> set[str]:
    """On each recording node: recover the `.part` files dead recorders left, read the catalog
    and check it against the files (PyAV); the driver gets rows and counts, no path. Returns
    the labels of the nodes whose files could not be read (lost)."""
    unreadable: set[str] = set()
    refs = {
        n: finish_node(
            n,
            o.run_key,
            str(o.run_dir.resolve()),
            o.driver_node,
            [r for r in o.recorders if o.placement.pool_node[o.recorder_pool[r]] == n],
        )
        for n in o.storage_nodes
        if n not in lost
    }
    for n in sorted(lost & set(o.storage_nodes), key=o.placement.label):
        event("node_unreadable", node=o.placement.label(n), error="the node was lost")
        unreadable.add(o.placement.label(n))
    for n, ref in refs.items():
        try:
            rep = ray.get(ref, timeout=300)
        except ray.exceptions.RayError as exc:
            event("node_unreadable", node=o.placement.label(n), error=str(exc)[:300])
            unreadable.add(o.placement.label(n))
            continue
        book_node_report(o, n, rep, event)
    return unreadable
