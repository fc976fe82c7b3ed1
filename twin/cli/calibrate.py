"""`twin calibrate LIVE_RUN... [--out FILE]`: what live runs measured, as simulator parameters.

Theory of operation
-------------------
Each LIVE_RUN is a `twin live --out` folder: its results.json (engine "live": the footage
bytes and camera-seconds written, CPU per part, every fault with when it was detected and
when its cameras were recorded again, the deployment the run recorded), its segments.csv
(every segment's span and size), faults.csv (every fault, times from the run's start) and
camera_faults.csv (one row per camera per fault that cost it footage: when it was moved,
connected, recorded again). From them:

- `bytes_per_nominal_mbps[<profile>]`: footage bytes written / camera-seconds recorded /
  the profile's nominal Mbps (B/s per Mbps; 125,000 is exactly nominal): the real encoder
  rate and the container's overhead, measured; `*` carries it to every other profile, as
  an assumption (said so in its note);
- `segment_s_as_cut`: the median length of the segments a recorder cut on its own (each
  one followed by the next of its camera on the same recorder), i.e. cut at the first
  keyframe after `segment_s`;
- `failover_detect_s`: a recorder's kill to the heartbeats declaring it lost, mean over the
  scripted recorder crashes;
- the failover curve, from camera_faults.csv: the cameras one recorder kill moved onto one
  recorder are ranked by when they were recorded again there (k = 1..n); y = that time less
  the detection. A straight line y = a + b k fitted by least squares over every such camera
  of every run gives `failover_reassign_s` = a (detection to the plan taking effect) and
  `failover_reconnect_s_per_camera` = b (each further camera one recorder takes costs b:
  its connections are opened one after another). Runs moving few and many cameras per kill
  (12, 50, 100, 150) pin both down; one run at one N cannot tell them apart well (its R^2
  says so). A run without camera_faults.csv (an older twin) counts for detection only; with
  no run having it, `failover_reassign_s` is the mean of detection to the last camera
  recorded again, as before the curve, and the per-camera term is left out;
- `relay_recovery_s`: a killed relay (scripted `relay_down`) to its first camera recorded
  again (camera_faults.csv; to the relay serving again for a run without it), less the time
  a scripted outage kept it down on purpose: the simulator's cameras record again this long
  after a relay outage ends, the k-th of a recorder k x the per-camera term later;
- `power_reconnect_s`: power back on to the first camera recorded again, per moment power
  came back (a district's sets together; camera_faults.csv), mean: the simulator's
  `failover.power_reconnect_s` (the cameras after the first follow the per-camera term);
- `recorder_fragment_s`: how much of the segment under way a recorder crash cuts off. Measured
  from segments.csv: for each camera of a killed recorder, the last segment it was writing
  there ends short of the kill (its file plays up to its last whole fragment); the largest
  such shortfall within a second of the kill. Without one, the muxer's setting
  (twin/live/mux.py: an MP4 fragment is at most 0.2 s; MPEG-TS one frame), as assumed;
- `recorder_cpu_pct_per_stream`, `recorder_cpu_pct_per_mbps` (of what the streams really
  carry) over the steady window, and what they extrapolate to on one core
  (`recorder_streams_per_core`, `recorder_mbps_per_core`; bench/bench_recorder.py measures
  that directly, without extrapolation); the same of the relay (MediaMTX):
  `relay_cpu_pct_per_stream`, `relay_streams_per_core`, `relay_mbps_per_core`;
- `analyser_cpu_ms_per_frame` at the analyser's width.

Several runs are pooled: footage weighted by camera-seconds, times over all their faults,
CPU averaged over the runs. A value resting on more than one sample carries its `spread`
(n, min, max, sd); a single run's single sample has none, so the file of one run reads as it
did. The simulator uses `bytes_per_nominal_mbps`, `failover_reassign_s`,
`failover_reconnect_s_per_camera`, `relay_recovery_s` and `recorder_fragment_s`
(`used_by_simulator`); the rest is for sizing (`twin simulate` shows the cores and recorder
processes a city needs from them). Output: JSON, keys sorted, 6 decimals, so the same runs
give the same file.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from twin.errors import ScenarioError
from twin.live.mux import EXT, fragment_s
from twin.model.results import CAMERA_FAULT_COLUMNS, Results, read_live_results
from twin.scenario.calibration import (
    NOMINAL_BYTES_PER_MBPS,
    CalibratedValue,
    Calibration,
    CalibrationRun,
    Spread,
    load_calibration,
)

__all__ = [
    "calibrate",
    "register",
    "cmd_calibrate",
    "fit_line",
    "LineFit",
    "CAMERA_FAULTS",
    "onto",
]

CAMERA_FAULTS = "camera_faults.csv"
#: A killed recorder's last segment counts as cut by the crash when it ends this close to the
#: kill (s): further back, the camera was not being recorded there when the recorder died.
FRAGMENT_WINDOW_S = 1.0
#: Segment ends are the stream's own timestamps on the run clock: one may read a little after
#: the kill (the wall-clock anchor's jitter); such a segment lost nothing.
FRAGMENT_SLACK_S = 0.05


#: How calibrate() makes a measured value: (value, unit, note, used_by_simulator, spread).
_Measured = Callable[..., CalibratedValue]


def _r(x: float) -> float:
    return float(round(x, 6))


@dataclass(frozen=True, slots=True)
class _Run:
    folder: Path
    res: Results
    dep: dict[str, Any]
    segments: list[dict[str, str]]
    faults: list[dict[str, str]]
    camera_faults: list[dict[str, Any]] | None  # None: the run has no camera_faults.csv


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _num(v: str | None) -> float | None:
    return None if v is None or v.strip() == "" else float(v)


_CAMERA_FAULT_TIMES = tuple(c for c in CAMERA_FAULT_COLUMNS if c.endswith("_s"))


def _camera_faults(path: Path) -> list[dict[str, Any]]:
    """camera_faults.csv with its times as floats (None: empty) and recorded_again a bool."""
    out = []
    for row in _csv(path):
        r: dict[str, Any] = dict(row)
        for k in _CAMERA_FAULT_TIMES:
            r[k] = _num(row.get(k))
        r["recorded_again"] = (row.get("recorded_again") or "").strip().lower() == "true"
        out.append(r)
    return out


def _run(folder: Path, accept_invalid: bool = False) -> _Run:
    p = folder / "results.json"
    try:
        res = read_live_results(folder, accept_invalid, "`twin calibrate`")
    except ValueError as err:
        raise ScenarioError(str(err)) from None
    dep = next((e for e in res.events if e.get("kind") == "live_deployment"), None)
    if dep is None:
        raise ScenarioError(
            f"{p}: no live_deployment event (a run of an older twin); run it again with `twin live`"
        )
    seg, flt, cam = folder / "segments.csv", folder / "faults.csv", folder / CAMERA_FAULTS
    try:
        return _Run(
            folder,
            res,
            dep,
            _csv(seg) if seg.is_file() else [],
            _csv(flt) if flt.is_file() else [],
            _camera_faults(cam) if cam.is_file() else None,
        )
    except (ValueError, KeyError) as err:
        raise ScenarioError(
            f"{folder}: a CSV `twin calibrate` reads is not as `twin live` writes it ({err}); "
            f"expected the run folder as written"
        ) from None


def _cut_lengths(rows: list[dict[str, str]]) -> list[float]:
    """Lengths of segments followed by their camera's next one on the same recorder."""
    by: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for r in rows:
        by.setdefault((r["camera"], r["recorder"]), []).append(
            (float(r["start_s"]), float(r["end_s"]))
        )
    out = []
    for spans in by.values():
        spans.sort()
        out += [b - a for (a, b), (c, _) in zip(spans, spans[1:]) if abs(c - b) < 0.05]
    return out


@dataclass(frozen=True, slots=True)
class LineFit:
    """y = a + b k by least squares, with what it rests on."""

    a: float
    b: float
    n: int
    r2: float | None  # None when y does not vary
    residuals: tuple[float, ...]
    sd: float  # residual standard error, sqrt(SS_res / (n - 2))
    se_a: float
    se_b: float


def fit_line(
    k: Sequence[float], y: Sequence[float], weights: Sequence[float] | None = None
) -> LineFit | None:
    """Least squares y = a + b k (each point weighted by `weights`, default 1); None with
    fewer than 3 points or one value of k (a line needs two, and its residuals one more to say
    anything about the noise). R^2, the residuals' sd and the standard errors are those of
    the points unweighted (approximate for a weighted fit)."""
    kk, yy = np.asarray(k, dtype=float), np.asarray(y, dtype=float)
    n = int(kk.size)
    if n < 3 or np.ptp(kk) == 0:
        return None
    w = None if weights is None else np.sqrt(np.asarray(weights, dtype=float))
    b, a = (float(c) for c in np.polyfit(kk, yy, 1, w=w))
    res = yy - (a + b * kk)
    ss_res = float(res @ res)
    ss_tot = float(((yy - yy.mean()) ** 2).sum())
    sd = math.sqrt(ss_res / (n - 2))
    sxx = float(((kk - kk.mean()) ** 2).sum())
    return LineFit(
        a=a,
        b=b,
        n=n,
        r2=None if ss_tot == 0 else 1.0 - ss_res / ss_tot,
        residuals=tuple(float(x) for x in res),
        sd=sd,
        se_a=sd * math.sqrt(1.0 / n + float(kk.mean()) ** 2 / sxx),
        se_b=sd / math.sqrt(sxx),
    )


def _ranked(rows: list[dict[str, Any]], since: str) -> list[tuple[int, float, Any]]:
    """(k, y, fault id) of cameras recorded again: ranked per (fault, recorder_to) by their
    first keyframe there, y = first keyframe - the row's `since` time."""
    by: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        by.setdefault((str(r["fault_id"]), str(r["recorder_to"])), []).append(r)
    out = []
    for (fid, _), group in sorted(by.items(), key=lambda kv: (len(kv[0][0]), kv[0])):
        group.sort(key=lambda r: (r["first_keyframe_s"], str(r["camera"])))
        out += [(k, r["first_keyframe_s"] - r[since], fid) for k, r in enumerate(group, 1)]
    return out


def _spread(xs: Sequence[float]) -> Spread | None:
    """The samples' spread; None for fewer than two (a lone sample's is the value itself)."""
    if len(xs) < 2:
        return None
    return Spread(n=len(xs), min=_r(min(xs)), max=_r(max(xs)), sd=_r(statistics.stdev(xs)))


def _container(rows: list[dict[str, str]]) -> str | None:
    """The run's container, from its segment files' extension (results.json does not say)."""
    by_ext = {ext: c for c, ext in EXT.items()}
    for r in rows:
        ext = r.get("key", "").rpartition(".")[2]
        if ext in by_ext:
            return by_ext[ext]
    return None


def _fragment_shortfalls(run: _Run) -> list[float]:
    """For every scripted recorder kill: how far short of the kill each of the killed
    recorder's cameras' last segment there ends (those ending within FRAGMENT_WINDOW_S)."""
    out = []
    for f in run.faults:
        if f.get("kind") != "recorder_crash" or f.get("scripted", "").lower() != "true":
            continue
        kill = _num(f.get("happened_s"))
        rec = f.get("part", "").partition(":")[2]
        if kill is None or not rec:
            continue
        last: dict[str, float] = {}
        for s in run.segments:
            if s["recorder"] == rec and float(s["start_s"]) < kill:
                last[s["camera"]] = max(last.get(s["camera"], -math.inf), float(s["end_s"]))
        for end in last.values():
            if -FRAGMENT_SLACK_S <= kill - end <= FRAGMENT_WINDOW_S:
                out.append(max(0.0, kill - end))
    return out


def _say(msg: str) -> None:
    print(f"twin calibrate: {msg}", file=sys.stderr)


def calibrate(folders: list[Path], accept_invalid: bool = False) -> Calibration:
    """Pool what the live runs in `folders` measured (see the module docstring). A run whose
    harness did not keep its plan is refused (InvalidRun) unless `accept_invalid`. What a run
    could not give (an older run without camera_faults.csv) is said on stderr."""
    if not folders:
        raise ScenarioError("twin calibrate: give at least one live run folder")
    runs = [_run(f, accept_invalid) for f in folders]
    invalid = [r.folder.name for r in runs if r.res.invalid]
    cmd = "twin calibrate " + " ".join(str(f) for f in folders)
    if invalid:
        cmd += " --accept-invalid"
    how = "; ".join(f"`twin live {r.res.scenario.source} --out {r.folder}`" for r in runs)
    made = f"measured by {how}, then `{cmd}`" + (
        f" (the harness did not keep its plan in {', '.join(invalid)}: its figures include "
        f"the load generator falling behind on the same machine)"
        if invalid
        else ""
    )
    by_profile: dict[str, list[float]] = {}  # bytes, camera-s, nominal
    prof_note: dict[str, str] = {}
    cuts: list[float] = []
    detect: list[float] = []
    reassign: list[float] = []
    cpu_stream: list[float] = []
    cpu_mbps: list[float] = []
    mbps_stream: list[float] = []
    relay_stream: list[float] = []
    relay_mbps: list[float] = []
    relay_rate: list[float] = []
    relay_rec: list[float] = []  # kill to serving again, less a scripted hold
    relay_held: list[float] = []  # the scripted holds
    relay_to_camera: list[bool] = []  # measured to its first camera recorded again
    power_back: list[float] = []  # per power cut: power on to its first camera recorded again
    relay_restart: list[float] = []  # restart to serving again
    an_ms: list[float] = []
    an_width: set[int] = set()
    curve: list[tuple[int, float]] = []  # (k, y) of every camera a recorder kill moved
    moved_per_kill: list[tuple[str, list[int]]] = []  # (run folder's name, moved per kill)
    stayed = 0  # recorded again on the recorder they had (not moved): not on the curve
    relay_curve: list[tuple[int, float]] = []
    shortfalls: list[float] = []
    containers: set[str] = set()
    fps: set[float] = set()
    for run in runs:
        res, dep, m = run.res, run.dep, run.res.metrics
        b, s = m.get("footage_bytes_written"), m.get("footage_camera_s_recorded")
        name = dep["profile"]
        if b and s:
            acc = by_profile.setdefault(name, [0.0, 0.0, dep["nominal_mbps"]])
            acc[0] += b
            acc[1] += s
            prof_note[name] = (
                f"{dep['width']}x{dep['height']} {dep['fps']} fps, keyframe every "
                f"{dep['keyframe_s']:g} s, encoder cap {dep['encoder_bitrate_mbps']:g} "
                f"Mbps, nominal {dep['nominal_mbps']:g} Mbps"
            )
            rate = b * 8 / 1e6 / s  # Mbps a camera really writes
            if "live_cpu_pct_record_per_camera" in m:
                cpu_stream.append(m["live_cpu_pct_record_per_camera"])
                cpu_mbps.append(m["live_cpu_pct_record_per_camera"] / rate)
                mbps_stream.append(rate)
            if "live_cpu_pct_relay_per_camera" in m:
                relay_stream.append(m["live_cpu_pct_relay_per_camera"])
                relay_mbps.append(m["live_cpu_pct_relay_per_camera"] / rate)
                relay_rate.append(rate)
        cuts += _cut_lengths(run.segments)
        for e in res.events:
            if e.get("kind") != "fault" or not e.get("scripted"):
                continue
            if e.get("fault_kind") == "recorder_crash":
                if e.get("detect_s") is not None:
                    detect.append(e["detect_s"])
                if e.get("recorded_again_s") is not None and e.get("detected_s") is not None:
                    reassign.append(e["recorded_again_s"] - e["detected_s"])
            elif e.get("fault_kind") == "relay_down" and e.get("restore_s") is not None:
                hold = 0.0
                if e.get("ended_s") is not None and e.get("happened_s") is not None:
                    hold = max(0.0, e["ended_s"] - e["happened_s"])
                # To its first camera recorded again when the run says (camera_faults.csv),
                # else to the relay serving again: counted from the end of a scripted hold.
                firsts = [
                    r["first_keyframe_s"] - r["fault_s"]
                    for r in run.camera_faults or []
                    if str(r["fault_id"]) == str(e.get("id"))
                    and r["fault_kind"] == "relay_down"
                    and r["first_keyframe_s"] is not None
                    and r["fault_s"] is not None
                ]
                relay_rec.append((min(firsts) if firsts else e["restore_s"]) - hold)
                relay_to_camera.append(bool(firsts))
                relay_held.append(hold)
                if e.get("restarted_s") is not None and e.get("restored_s") is not None:
                    relay_restart.append(e["restored_s"] - e["restarted_s"])
        if run.camera_faults is not None:
            again = [
                r
                for r in run.camera_faults
                if r["recorded_again"]
                and r["first_keyframe_s"] is not None
                and r["detected_s"] is not None
            ]
            moved = [
                r
                for r in again
                if r["fault_kind"] == "recorder_crash" and r["recorder_to"] != r["recorder_from"]
            ]
            stayed += sum(
                1
                for r in again
                if r["fault_kind"] == "recorder_crash" and r["recorder_to"] == r["recorder_from"]
            )
            ranked = _ranked(moved, "detected_s")
            curve += [(k, y) for k, y, _ in ranked]
            per_kill: dict[Any, int] = {}
            for _, _, fid in ranked:
                per_kill[fid] = per_kill.get(fid, 0) + 1
            if per_kill:
                moved_per_kill.append((run.folder.name, list(per_kill.values())))
            relay = [
                r
                for r in run.camera_faults
                if r["fault_kind"] == "relay_down"
                and r["recorded_again"]
                and r["first_keyframe_s"] is not None
                and r["restored_s"] is not None
            ]
            relay_curve += [(k, y) for k, y, _ in _ranked(relay, "restored_s")]
            cut_first: dict[Any, float] = {}  # per power cut: power on to its first camera back
            for r in run.camera_faults:
                if (
                    r["fault_kind"] in ("district_power", "set_power")
                    and r["recorded_again"]
                    and r["first_keyframe_s"] is not None
                    and r["restored_s"] is not None
                ):
                    y = r["first_keyframe_s"] - r["restored_s"]
                    # one storm per moment the power came back (a district's sets together)
                    fid = (run.folder.name, round(r["restored_s"], 1))
                    cut_first[fid] = min(cut_first.get(fid, y), y)
            power_back += list(cut_first.values())
        shortfalls += _fragment_shortfalls(run)
        c = _container(run.segments)
        if c is not None:
            containers.add(c)
        fps.add(float(dep["fps"]))
        if "live_analyser_cpu_ms_per_frame" in m:
            an_ms.append(m["live_analyser_cpu_ms_per_frame"])
            if dep.get("analyser_width"):
                an_width.add(int(dep["analyser_width"]))

    def measured(
        v: float, unit: str, note: str, used: bool = False, spread: Spread | None = None
    ) -> CalibratedValue:
        return CalibratedValue(
            value=_r(v),
            unit=unit,
            source="measured",
            command=made,
            note=note,
            used_by_simulator=used,
            spread=spread,
        )

    bpm: dict[str, CalibratedValue] = {}
    for name, (b, s, nominal) in sorted(by_profile.items()):
        bpm[name] = measured(
            b / s / nominal,
            "B/s per nominal Mbps",
            f"{prof_note[name]}; {s:,.0f} camera-s, {b:,.0f} B "
            f"({b / s / nominal / NOMINAL_BYTES_PER_MBPS:.4f} x nominal)",
            True,
        )
    if bpm:
        first = next(iter(bpm))
        bpm["*"] = CalibratedValue(
            value=bpm[first].value,
            unit="B/s per nominal Mbps",
            source="assumed",
            note=f"every other profile is assumed to write what {first} wrote per nominal Mbps "
            f"(its encoder and container, on synthetic street scenes); measure a run of "
            f"the profile itself to replace it",
            used_by_simulator=True,
        )

    # The failover curve (module docstring); the old mean when no run can give it.
    without = [r.folder for r in runs if r.camera_faults is None]
    if without:
        _say(
            f"no {CAMERA_FAULTS} in {', '.join(map(str, without))} (a run of an older twin): "
            f"its recorder kills count for failover_detect_s only, not for the reconnection "
            f"curve"
        )
    # Each kill weighs the same: a storm of 150 cameras must not outvote one of 12 in the
    # intercept (the first cameras of every storm are back as soon as a keyframe comes).
    kill_sizes = [n for _, ns in moved_per_kill for n in ns]
    weights = [1.0 / n for n in kill_sizes for _ in range(n)]
    fit = fit_line(
        [k for k, _ in curve],
        [y for _, y in curve],
        weights if len(weights) == len(curve) else None,
    )
    reassign_v: CalibratedValue | None = None
    reconnect_v: CalibratedValue | None = None
    if fit is not None:
        reassign_v, reconnect_v = _curve_values(fit, curve, moved_per_kill, stayed, measured)
    else:
        if curve:
            _say(
                f"{len(curve)} camera(s) moved by recorder kills are too few, or all the same "
                f"rank, to fit the reconnection curve; failover_reassign_s is the mean of "
                f"detection to the cameras recorded again, failover_reconnect_s_per_camera is "
                f"left out: run kills that move more cameras (e.g. 12 and 50 per kill)"
            )
        elif len(without) < len(runs):
            _say(
                f"no camera moved by a recorder kill was recorded again in {CAMERA_FAULTS}: "
                f"failover_reconnect_s_per_camera is left out"
            )
        elif runs:
            _say(
                "failover_reassign_s is the mean of detection to the cameras recorded again "
                "(no reconnection curve); failover_reconnect_s_per_camera is left out"
            )
        if reassign:
            reassign_v = measured(
                statistics.fmean(reassign),
                "s",
                f"detection to the cameras recorded again elsewhere, "
                f"mean of {len(reassign)} (max {max(reassign):.3f}); the simulator's reassign_s",
                True,
                _spread(reassign),
            )

    relay_note = ""
    relay_fit = fit_line([k for k, _ in relay_curve], [y for _, y in relay_curve])
    if relay_fit is not None:
        relay_note = (
            f"; after it served again, its cameras were recorded again at "
            f"{relay_fit.a:.3f} + {relay_fit.b:.4f} k s (k-th camera back on its recorder, "
            f"{relay_fit.n} cameras, R^2 {_r2(relay_fit)}): a curve of its own, not pooled "
            f"into the failover curve; the simulator uses the failover's per-camera term"
        )
    relay_v = None
    if relay_rec:
        held = sum(1 for h in relay_held if h > 0)
        relay_v = measured(
            statistics.fmean(relay_rec),
            "s",
            (
                "a killed relay (scripted relay_down) to its first camera recorded again "
                "(what the simulator adds to an outage's end before its cameras reconnect), "
                if all(relay_to_camera)
                else f"a killed relay (scripted relay_down) to its first camera recorded again "
                f"({sum(relay_to_camera)} kill(s); the others, of runs without "
                f"camera_faults.csv, to the relay serving again), "
            )
            + f"mean of {len(relay_rec)} kill(s) (max {max(relay_rec):.3f})"
            + (
                f"; {held} of them scripted with a duration_s that kept the relay down on "
                f"purpose (mean {statistics.fmean(h for h in relay_held if h > 0):.3f} s): "
                f"counted from the end of that hold (kill to serving again with it: mean "
                f"{statistics.fmean(r + h for r, h in zip(relay_rec, relay_held)):.3f} s)"
                if held
                else ""
            )
            + (
                f"; its restart to serving again {statistics.fmean(relay_restart):.3f} s"
                if relay_restart
                else ""
            )
            + relay_note,
            True,
            _spread(relay_rec),
        )
    elif relay_fit is not None:
        _say("relay cameras were recorded again but no relay kill was restored: no recovery")

    fragment_v = _fragment_value(shortfalls, containers, fps, measured)
    power_v = (
        None
        if not power_back
        else measured(
            statistics.fmean(power_back),
            "s",
            f"a camera set's power back on to its first camera recorded again (the recorder's "
            f"retry, the RTSP connection, the first keyframe; the synthetic cameras boot at "
            f"once), mean of {len(power_back)} power return(s), each the first camera of all "
            f"the sets it powered (max {max(power_back):.3f}); the "
            f"simulator's failover.power_reconnect_s",
            True,
            _spread(power_back),
        )
    )

    cal = Calibration(
        measured_on=[
            CalibrationRun(
                scenario=r.res.scenario.name,
                scenario_sha256=r.res.scenario.sha256,
                started_at=r.res.run.started_at,
                horizon_s=_r(r.res.horizon_s),
                cameras=int(r.res.metrics.get("cameras", 0)),
                recorders=int(r.res.metrics.get("recorders", 0)),
            )
            for r in runs
        ],
        bytes_per_nominal_mbps=bpm,
        segment_s_as_cut=None
        if not cuts
        else measured(
            statistics.median(cuts),
            "s",
            f"median of {len(cuts):,} segments cut on the first "
            f"keyframe after segment_s (min {min(cuts):.3f}, max {max(cuts):.3f})",
        ),
        failover_detect_s=None
        if not detect
        else measured(
            statistics.fmean(detect),
            "s",
            f"mean of {len(detect)} recorder kill(s) (max "
            f"{max(detect):.3f}); the simulation's detection comes from the heartbeat settings",
            spread=_spread(detect),
        ),
        failover_reassign_s=reassign_v,
        failover_reconnect_s_per_camera=reconnect_v,
        relay_recovery_s=relay_v,
        recorder_fragment_s=fragment_v,
        power_reconnect_s=power_v,
        recorder_cpu_pct_per_stream=None
        if not cpu_stream
        else measured(
            statistics.fmean(cpu_stream),
            "% of a core",
            "recorder processes' CPU over the steady window / cameras recorded"
            + (f"; mean of {len(cpu_stream)} runs" if len(cpu_stream) > 1 else ""),
            spread=_spread(cpu_stream),
        ),
        recorder_cpu_pct_per_mbps=None
        if not cpu_mbps
        else measured(
            statistics.fmean(cpu_mbps),
            "% of a core per Mbps",
            f"per Mbps the streams really carried ({statistics.fmean(mbps_stream):.3f} Mbps each)",
            spread=_spread(cpu_mbps),
        ),
        recorder_streams_per_core=None
        if not cpu_stream
        else measured(
            100 / statistics.fmean(cpu_stream),
            "streams",
            "one core / CPU per stream "
            "(extrapolated; bench/bench_recorder.py measures it without extrapolating). Not "
            "applied to the city's pools, which keep the vendor's stream limits",
        ),
        recorder_mbps_per_core=None
        if not cpu_mbps
        else measured(
            100 / statistics.fmean(cpu_mbps), "Mbps", "one core / CPU per Mbps (extrapolated)"
        ),
        relay_cpu_pct_per_stream=None
        if not relay_stream
        else measured(
            statistics.fmean(relay_stream),
            "% of a core",
            f"the relay's (MediaMTX) CPU over the steady window / cameras it relayed, mean of "
            f"{len(relay_stream)} run(s); each camera is published once and read by its "
            f"recorder (and the analyser, if on)",
            spread=_spread(relay_stream),
        ),
        relay_streams_per_core=None
        if not relay_stream
        else measured(
            100 / statistics.fmean(relay_stream),
            "streams",
            "one core / the relay's CPU per stream (extrapolated)",
        ),
        relay_mbps_per_core=None
        if not relay_mbps
        else measured(
            100 / statistics.fmean(relay_mbps),
            "Mbps",
            f"one core / the relay's CPU per Mbps the streams really carried "
            f"({statistics.fmean(relay_rate):.3f} Mbps each; extrapolated)",
        ),
        analyser_cpu_ms_per_frame=None
        if not an_ms
        else measured(
            statistics.fmean(an_ms),
            "ms",
            f"analyser CPU per keyframe analysed at width "
            f"{sorted(an_width)} px (decode, scale, motion, people, vehicles); not simulated",
        ),
    )
    return cal


def _r2(fit: LineFit) -> str:
    return "undefined (y does not vary)" if fit.r2 is None else f"{fit.r2:.4f}"


def _curve_values(
    fit: LineFit,
    curve: list[tuple[int, float]],
    moved_per_kill: list[tuple[str, list[int]]],
    stayed: int,
    measured: _Measured,
) -> tuple[CalibratedValue, CalibratedValue]:
    """failover_reassign_s and failover_reconnect_s_per_camera from the fitted curve."""
    a, b, sd, clipped = fit.a, fit.b, fit.sd, ""
    residuals = list(fit.residuals)
    if b < 0:  # fewer seconds per further camera is noise: the line is flat
        ys = [y for _, y in curve]
        a, b = statistics.fmean(ys), 0.0
        residuals = [y - a for y in ys]
        sd = statistics.stdev(ys)
        clipped = (
            f"; the fitted slope was {fit.b:.4f} s per camera (negative: no cost per camera "
            f"measurable), clipped at 0, so the intercept is the mean of y and the spread's sd "
            f"that of y"
        )
    elif a < 0:  # a camera cannot be back before the plan: the line goes through the origin
        ks, ys = [float(k) for k, _ in curve], [y for _, y in curve]
        a, b = 0.0, sum(k * y for k, y in zip(ks, ys)) / sum(k * k for k in ks)
        residuals = [y - b * k for k, y in zip(ks, ys)]
        sd = math.sqrt(sum(r * r for r in residuals) / max(1, len(residuals) - 1))
        clipped = (
            f"; the fitted intercept was {fit.a:.4f} s (negative: a camera back before the plan "
            f"took effect, which the cameras' keyframe waves can suggest in one small kill), "
            f"clipped at 0, the slope fitted through the origin"
        )
    spread = Spread(n=fit.n, min=_r(min(residuals)), max=_r(max(residuals)), sd=_r(sd))
    kills = sum(len(v) for _, v in moved_per_kill)
    per = "; ".join(f"{name}: {', '.join(str(n) for n in ns)}" for name, ns in moved_per_kill)
    basis = (
        f"y = a + b k by least squares, each kill weighing the same (its cameras 1/n each), "
        f"over {fit.n} cameras moved by {kills} recorder kill(s) "
        f"in {len(moved_per_kill)} run(s) (cameras moved per kill: {per}); y = the camera's "
        f"first keyframe on the recorder it was moved to - the kill's detection, k = its rank "
        f"among the cameras that kill moved onto that recorder; R^2 {_r2(fit)}; spread: n "
        f"cameras, min and max of the residuals, sd the residual standard error "
        f"(sqrt(SS/(n-2)))"
        + (
            f"; {stayed} camera(s) recorded again by their own recorder's restart are left out "
            f"(the restart's time, not the failover's)"
            if stayed
            else ""
        )
        + clipped
    )
    return (
        measured(
            a,
            "s",
            f"a: detection to the failover's plan taking effect (the simulator's reassign_s); "
            f"standard error {fit.se_a:.4f} s; {basis}",
            True,
            spread,
        ),
        measured(
            b,
            "s per camera",
            f"b: each further camera one recorder takes is recorded again this much later "
            f"(the k-th at reassign_s + k b); standard error {fit.se_b:.6f} s; {basis}",
            True,
            spread,
        ),
    )


def _fragment_value(
    shortfalls: list[float], containers: set[str], fps: set[float], measured: _Measured
) -> CalibratedValue | None:
    """recorder_fragment_s: measured from the killed recorders' last segments, else the
    muxer's setting for the runs' container (assumed); None if the runs disagree on it."""
    if len(containers) > 1:
        _say(
            f"the runs wrote different containers ({sorted(containers)}): recorder_fragment_s "
            f"is left out; calibrate runs of one container together"
        )
        return None
    container = next(iter(containers), None)
    setting = ""
    if container is not None and len(fps) == 1:
        setting = f"; the muxer's setting is {fragment_s(container, next(iter(fps))):.3f} s"
    if shortfalls:
        return measured(
            max(shortfalls),
            "s",
            f"the largest shortfall of a killed recorder's last segment from the kill, over "
            f"{len(shortfalls)} camera(s) whose segment ended within {FRAGMENT_WINDOW_S:g} s of "
            f"it (median {statistics.median(shortfalls):.3f} s); {container or 'container'} "
            f"segments play up to their last whole fragment" + setting,
            True,
            _spread(shortfalls),
        )
    if container is None or len(fps) != 1:
        return None
    fr = next(iter(fps))
    return CalibratedValue(
        value=_r(fragment_s(container, fr)),
        unit="s",
        source="assumed",
        note=(
            "no scripted recorder kill cut a segment in these runs, so the muxer's setting: "
            + (
                "an MP4 fragment is at most 0.2 s (frag_duration, twin/live/mux.py), and a "
                "killed recorder's file plays up to its last whole fragment"
                if container == "mp4"
                else f"MPEG-TS is written packet by packet, so one frame at {fr:g} fps"
            )
        ),
        used_by_simulator=True,
    )


def calibration_json(cal: Calibration) -> str:
    return (
        json.dumps(cal.model_dump(mode="json", exclude_none=True), indent=2, sort_keys=True) + "\n"
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "calibrate",
        help="turn what live runs measured into simulator parameters (a "
        "calibration file a scenario can name)",
    )
    p.add_argument("runs", nargs="+", help="`twin live --out` folders")
    p.add_argument("--out", help="calibration file to write (default: print it)")
    p.add_argument(
        "--accept-invalid",
        action="store_true",
        help="use a live run whose harness did not keep its plan (refused, exit 4, without this)",
    )
    p.add_argument(
        "--onto",
        metavar="FILE",
        help="an earlier calibration to build on: every value these runs measure replaces "
        "its, every other value (and what they only assume) is kept from it",
    )
    p.set_defaults(fn=cmd_calibrate)


def onto(base: Calibration, new: Calibration) -> Calibration:
    """`new` laid onto `base`: a value `new` measured replaces base's; a value `new` does not
    have, or only assumes where base has one, is base's; the runs measured on are both's."""

    def pick(b: CalibratedValue | None, n: CalibratedValue | None) -> CalibratedValue | None:
        if n is None or (n.source == "assumed" and b is not None):
            return b
        return n

    fields: dict[str, Any] = {}
    for name in Calibration.model_fields:
        b, n = getattr(base, name), getattr(new, name)
        if name == "measured_on":
            fields[name] = [*b, *(r for r in n if r not in b)]
        elif name == "bytes_per_nominal_mbps":
            fields[name] = {
                k: v for k in sorted(set(b) | set(n)) if (v := pick(b.get(k), n.get(k)))
            }
        elif isinstance(n, CalibratedValue) or isinstance(b, CalibratedValue):
            fields[name] = pick(b, n)
    return Calibration(**fields)


def calibration_table(cal: Calibration) -> Table:
    """The terminal's view of a calibration: each value, its spread and what it rests on."""
    t = Table(title="calibration")
    for col in ("parameter", "value", "unit", "spread (min..max, sd)", "n", "source", "simulator"):
        t.add_column(col)
    for key, v in cal:
        items = v.items() if isinstance(v, dict) else [("", v)]
        for sub, x in items:
            if isinstance(x, CalibratedValue):
                sp = x.spread
                t.add_row(
                    key + (f"[{sub}]" if sub else ""),
                    f"{x.value:.6g}",
                    x.unit,
                    "" if sp is None else f"{sp.min:.4g}..{sp.max:.4g}, sd {sp.sd:.3g}",
                    "" if sp is None else str(sp.n),
                    x.source,
                    "used" if x.used_by_simulator else "-",
                )
    a, b = cal.failover_reassign_s, cal.failover_reconnect_s_per_camera
    if a is not None and b is not None:
        r2 = next((p for p in a.note.split("; ") if p.startswith("R^2")), "")
        t.caption = (
            f"failover curve: the k-th camera moved onto a recorder is recorded again "
            f"{a.value:.3f} + {b.value:.4f} k s after detection ({r2})"
        )
    return t


def cmd_calibrate(args: argparse.Namespace) -> int:
    cal = calibrate([Path(r) for r in args.runs], args.accept_invalid)
    if args.onto:
        path = Path(args.onto)
        cal = onto(load_calibration(path, str(path), "--onto").calibration, cal)
    text = calibration_json(cal)
    Console(stderr=True).print(calibration_table(cal))
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(out.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(out)
        print(f"calibration: {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
