"""`twin live --recover RUN_DIR`: finish the folder of a live run whose driver died.

Theory of operation
-------------------
A `twin live` process killed outright (`kill -9`, the machine's OOM killer) writes nothing
at its end. What it leaves in its `--out` folder is enough to finish the run without it:

- `live/run-state.json` (twin.live.run_state), the driver's own account as of its last
  second: the scenario, the clock, the placement, the faults, samples, sweeps, events;
- `live/watchdog.json` (twin.live.watchdog), when the driver was lost and what of its run
  the watchdog killed (a run on a Ray of its own);
- the catalog and the segment files, with a `.part` file for every segment under way (each
  plays up to its last fragment: twin.live.recorder).

This command checks that nothing of the run is still running (the driver, its watchdog,
its parts), recovers the partial files into the catalog and checks catalog against files
(the same `finish_folder` the run's end uses, twin.live.cluster), rebuilds the run's outcome
from the state and measures it (twin.live.measure) over the time recorded: from `t0` to
when the driver was lost less `CUT_SLACK_S` (its parts were dying around that moment; the
footage is kept, but no gap is judged there). The command line (`twin live --recover`,
twin.cli.live) then writes results.json and the usual report (twin.output.live_run),
marked cut short: `interrupted: "driver lost"` in results.json, a `driver_lost` and an
`interrupted` event, and a paragraph at the top of the report.

A folder that is not a live run's, a run that died before recording, or one that already has
its results.json (unless `--force`) is refused with exit 2, naming the file and the fix.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from twin.errors import UsageError
from twin.live.cluster import NodeInfo, Placement, finish_folder
from twin.live.measure import LiveMeasures, measure
from twin.live.outcome import LiveOutcome, book_node_report, merge_analyser, merge_status
from twin.live.recorder import RecorderStatus, StreamStats
from twin.live.run_settings import live_run_settings
from twin.live.run_state import _NOT_KEPT, STATE_FILE, STATE_SCHEMA
from twin.live.watchdog import WATCHDOG_FILE
from twin.scenario.model import parse_scenario

__all__ = ["CUT_SLACK_S", "DRIVER_LOST", "RecoveredRun", "recover_run"]

#: The seconds before the driver was lost that are not judged for gaps: its parts were dying.
CUT_SLACK_S = 2.0
DRIVER_LOST = "driver lost"


def _folders(folder: Path) -> tuple[Path, Path]:
    """(the run's --out folder, its live/ folder), from either."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(
            f"--recover {folder}: no such folder; expected the --out folder of a "
            f"`twin live` run (the one holding live/run-state.json)"
        )
    if (folder / "live").is_dir():
        return folder, folder / "live"
    if folder.name == "live" and (folder / "catalog.sqlite").exists():
        return folder.parent, folder
    raise UsageError(
        f"--recover {folder}: not a live run folder (no {folder / 'live'}); "
        f"expected the --out folder of a `twin live` run"
    )


def _state(live: Path) -> dict[str, Any]:
    path = live / STATE_FILE
    if not path.is_file():
        raise UsageError(
            f"--recover: {path} is missing; expected a live run folder written by this version "
            f"of `twin live` (it keeps its state there as it runs): this folder cannot be "
            f"recovered; run the scenario again"
        )
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"--recover: {path}: cannot read it ({exc}); expected the run state `twin live` writes"
        ) from None
    if not isinstance(state, dict) or state.get("schema") != STATE_SCHEMA:
        raise UsageError(
            f"--recover: {path}: not a {STATE_SCHEMA} file; expected the run "
            f"state `twin live` writes"
        )
    return state


def _alive(pid: int, started: float | None) -> bool:
    try:
        p = psutil.Process(pid)
        if started is not None and abs(p.create_time() - started) > 0.05:
            return False  # its PID, another process
        return bool(p.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _still_running(state: dict[str, Any]) -> list[str]:
    """What of the run is still running on this machine: its driver, its watchdog, its
    parts (a PID of parts.json that is still a Ray worker or a MediaMTX started before the
    state was last written)."""
    drv = state["driver"]
    out = []
    if _alive(int(drv["pid"]), float(drv["create_time"])):
        out.append(f"the driver, `twin live` (PID {drv['pid']})")
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = p.info["cmdline"] or []
        if "twin.live.watchdog" in cmd and str(drv["pid"]) in cmd:
            out.append(f"its watchdog (PID {p.pid})")
    saved = float(state["saved_at"])
    for part, where in sorted((state.get("live") or {}).get("parts", {}).items()):
        try:
            p = psutil.Process(int(where["pid"]))
            if (
                p.create_time() < saved
                and p.status() != psutil.STATUS_ZOMBIE
                and (p.name().startswith("ray::") or p.name() == "mediamtx")
            ):
                out.append(f"{part} (PID {p.pid}, {p.name()})")
        except psutil.Error:
            continue
    return out


def _scenario(state: dict[str, Any], source: str) -> Any:
    """The scenario as run (with the calibration it had, written where it is looked for)."""
    cal = state.get("calibration")
    if not cal:
        return parse_scenario(state["scenario"], source or "<run-state>", base_dir=".")
    with tempfile.TemporaryDirectory(prefix="twin-recover-") as tmp:
        named = Path(cal["named"])
        target = Path(tmp) / (named.name if named.is_absolute() else named)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(cal["data"]))
        data = dict(state["scenario"])
        if named.is_absolute():
            data["calibration"] = str(target)
        return parse_scenario(data, source or "<run-state>", base_dir=tmp)


def _outcome(state: dict[str, Any], live: Path) -> LiveOutcome:
    """The run's outcome as the driver had it at its last state."""
    st = state["outcome"]
    sc = _scenario(state, st.get("source", ""))
    names = {f.name for f in dataclasses.fields(LiveOutcome)} - _NOT_KEPT
    o = LiveOutcome(
        scenario=sc,
        settings=live_run_settings(sc),
        run_dir=live,
        store_path=live / "catalog.sqlite",
        segments_root=live / "segments",
        **{k: v for k, v in st.items() if k in names},
    )
    pl = st.get("placement")
    if pl:
        o.placement = Placement(
            [NodeInfo(**n) for n in pl["nodes"]],
            pl["district_node"],
            pl["pool_node"],
            pl.get("claimed", {}),
            pl.get("analyser_node", {}),
        )
    lv = state.get("live") or {}
    beats: dict[str, list[Any]] = {}
    for r, ss in (lv.get("dead_heartbeats") or {}).items():
        beats.setdefault(r, []).extend(_status(s) for s in ss)
    for r, s in (lv.get("heartbeats") or {}).items():
        beats.setdefault(r, []).append(_status(s))
    o.recorder_stats = {r: merge_status(ss) for r, ss in beats.items() if ss}
    snaps = lv.get("analyser_snapshots") or []
    o.analyser = merge_analyser(snaps) if snaps else {}
    o.parts = {"history": lv.get("pid_history", []), "mediamtx_pids": list(o.mediamtx_pids)}
    for r, rec in lv.get("recovered") or []:  # files crashed recorders left, kept by successors
        o.recovered_partials += len(rec["recovered"])
        o.removed_partials += len(rec["removed"])
        o.events.append(
            {
                "t_s": o.t0,
                "kind": "partials_recovered",
                "recorder": r,
                "recovered": len(rec["recovered"]),
                "removed": len(rec["removed"]),
                "seconds": round(rec["seconds"], 3),
                "by": "restarted recorder",
            }
        )
    return o


def _status(s: dict[str, Any]) -> Any:
    return RecorderStatus(
        s["name"],
        s["at_s"],
        tuple(s["cameras"]),
        tuple(StreamStats(**x) for x in s["streams"]),
        s["cpu_s"],
    )


def _watchdog(live: Path) -> dict[str, Any]:
    try:
        got = json.loads((live / WATCHDOG_FILE).read_text())
        return got if isinstance(got, dict) else {}
    except (OSError, ValueError):
        return {}


#: What an earlier --recover of the folder recovered (a second one finds those partials
#: already in the catalog, and counts them from here).
RECOVERY_FILE = "recovery.json"


def _recover_files(o: LiveOutcome, event: Any) -> None:
    """Each recording folder of the run that is on this machine: partials recovered, catalog
    checked against the files (twin.live.cluster.finish_folder, as at a run's end)."""
    path = o.run_dir / RECOVERY_FILE
    try:
        before = json.loads(path.read_text())
    except (OSError, ValueError):
        before = {"recovered": 0, "removed": 0, "events": []}
    o.recovered_partials += int(before["recovered"])
    o.removed_partials += int(before["removed"])
    o.events.extend(before["events"])
    mine: list[dict[str, Any]] = []
    pl = o.placement
    for n in o.storage_nodes:
        if o.storage_kind.get(n) != "run folder":
            event(
                "node_unreadable",
                node=pl.label(n),
                error="its files are in that node's own folder (CCTV_TWIN_STORAGE), not "
                "in this run folder: recover them there",
            )
            continue
        recs = [r for r in o.recorders if pl.pool_node[o.recorder_pool[r]] == n]
        rep = finish_folder(o.run_dir, recs)
        n_events = len(o.events)
        book_node_report(o, n, rep, event, by="twin live --recover")
        mine.extend(o.events[n_events:])  # this recovery's events, kept for a second one
    if mine:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {
                    "recovered": o.recovered_partials,
                    "removed": o.removed_partials,
                    "events": before["events"] + mine,
                },
                indent=1,
            )
        )
        tmp.replace(path)


@dataclass
class RecoveredRun:
    """A run whose driver died, recovered and measured up to the cut: what its run folder
    is written from (twin.output.live_run.write_recovered_run)."""

    outcome: LiveOutcome
    measures: LiveMeasures
    out: Path  # the --out folder
    started: str  # when its driver started (ISO)
    cut: float  # run clock when the driver was lost
    watchdog: dict[str, Any]
    planned_s: float | None


def recover_run(folder: Path, *, force: bool = False) -> RecoveredRun:
    """Finish a run folder whose driver died (the module docstring): its files recovered,
    the catalog checked and the run measured up to the cut; nothing written but the state.
    UsageError for a folder that cannot be."""

    out, live = _folders(Path(folder))
    if (out / "results.json").exists() and not force:
        raise UsageError(
            f"--recover {folder}: {out / 'results.json'} exists: this run was measured and "
            f"written already; expected a run folder whose `twin live` died before writing "
            f"it: pass --force to recover and write it again"
        )
    state = _state(live)
    if state.get("phase") == "starting" or float(state["outcome"].get("t0") or 0) <= 0:
        raise UsageError(
            f"--recover {folder}: its `twin live` died during start-up, before recording "
            f"began ({live / 'run-state.json'}: phase {state.get('phase')!r}); nothing was "
            f"recorded to recover: run the scenario again"
        )
    left = _still_running(state)
    if left:
        joined = state.get("ray") == "joined"
        raise UsageError(
            f"--recover {folder}: parts of this run are still running: {', '.join(left)}; "
            f"expected none (a recorder still running would write under the recovery): "
            + (
                "a joined cluster's Ray ends a dead driver's actors itself; wait for it"
                if joined
                else "wait a few seconds for the run's watchdog"
            )
            + ", then run this again"
        )
    o = _outcome(state, live)
    dog = _watchdog(live)
    lost_at = float(dog.get("driver_lost_at") or state["saved_at"])
    cut = lost_at - o.epoch  # run clock

    def event(kind: str, **kw: Any) -> None:
        o.events.append({"t_s": round(cut, 3), "kind": kind, **kw})

    event(
        "driver_lost",
        detected_by=dog.get("detected_by", "run-state.json last written"),
        watchdog=bool(dog),
        killed=len(dog.get("killed", [])),
        left=dog.get("left", []),
        cleared_s=dog.get("cleared_s"),
        ray=state.get("ray"),
    )
    if state.get("phase") != "stopping":  # it stopped while recording: judge up to the cut
        o.t_end = max(o.t0, cut - CUT_SLACK_S)
    o.interrupted = DRIVER_LOST
    event(
        "interrupted",
        reason=DRIVER_LOST,
        recorded_s=round(cut - o.t0, 3),
        judged_s=round(o.t_end - o.t0, 3),
        phase=state.get("phase"),
    )
    _recover_files(o, event)
    o.events.sort(key=lambda e: e["t_s"])
    m = measure(o)
    # The run's own timing: from when its driver started to when it was lost.
    started = dt.datetime.fromtimestamp(o.epoch, dt.timezone.utc).isoformat(timespec="seconds")
    return RecoveredRun(o, m, out, started, cut, dog, state.get("planned_s"))
