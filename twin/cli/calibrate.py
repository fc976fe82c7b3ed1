"""`twin calibrate LIVE_RUN... [--out FILE]`: what live runs measured, as simulator parameters.

Theory of operation
-------------------
Each LIVE_RUN is a `twin live --out` folder: its results.json (engine "live": the footage
bytes and camera-seconds written, CPU per part, every fault with when it was detected and
when its cameras were recorded again, the deployment the run recorded) and its
segments.csv (every segment's span and size). From them:

- `bytes_per_nominal_mbps[<profile>]`: footage bytes written / camera-seconds recorded /
  the profile's nominal Mbps (B/s per Mbps; 125,000 is exactly nominal): the real encoder
  rate and the container's overhead, measured; `*` carries it to every other profile, as
  an assumption (said so in its note);
- `segment_s_as_cut`: the median length of the segments a recorder cut on its own (each
  one followed by the next of its camera on the same recorder), i.e. cut at the first
  keyframe after `segment_s`;
- `failover_detect_s` (a recorder's kill to the heartbeats declaring it lost) and
  `failover_reassign_s` (detection to its cameras recorded again elsewhere: connect and the
  first keyframe), means over the scripted recorder crashes;
- `recorder_cpu_pct_per_stream`, `recorder_cpu_pct_per_mbps` (of what the streams really
  carry) over the steady window, and what they extrapolate to on one core
  (`recorder_streams_per_core`, `recorder_mbps_per_core`; bench/bench_recorder.py measures
  that directly, without extrapolation);
- `analyser_cpu_ms_per_frame` at the analyser's width.

Several runs are pooled: footage weighted by camera-seconds, times over all their faults,
CPU averaged. The simulator uses `bytes_per_nominal_mbps` and `failover_reassign_s`
(`used_by_simulator`); the rest is for sizing. Output: JSON, keys sorted, 6 decimals, so the
same runs give the same file.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from twin.errors import ScenarioError
from twin.model.results import Results, read_live_results
from twin.scenario.calibration import (
    NOMINAL_BYTES_PER_MBPS,
    CalibratedValue,
    Calibration,
    CalibrationRun,
)

__all__ = ["calibrate", "register", "cmd_calibrate"]


def _r(x: float) -> float:
    return float(round(x, 6))


def _run(
    folder: Path, accept_invalid: bool = False
) -> tuple[Results, dict[str, Any], list[dict[str, str]]]:
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
    seg = folder / "segments.csv"
    rows = list(csv.DictReader(seg.open())) if seg.is_file() else []
    return res, dep, rows


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


def calibrate(folders: list[Path], accept_invalid: bool = False) -> Calibration:
    """Pool what the live runs in `folders` measured (see the module docstring). A run whose
    harness did not keep its plan is refused (InvalidRun) unless `accept_invalid`."""
    if not folders:
        raise ScenarioError("twin calibrate: give at least one live run folder")
    runs = [_run(f, accept_invalid) for f in folders]
    cmd = "twin calibrate " + " ".join(str(f) for f in folders)
    how = "; ".join(
        f"`twin live {r.scenario.source} --out {f}`" for f, (r, _, _) in zip(folders, runs)
    )
    made = f"measured by {how}, then `{cmd}`"
    by_profile: dict[str, list[float]] = {}  # bytes, camera-s, nominal
    prof_note: dict[str, str] = {}
    cuts: list[float] = []
    detect: list[float] = []
    reassign: list[float] = []
    cpu_stream: list[float] = []
    cpu_mbps: list[float] = []
    mbps_stream: list[float] = []
    an_ms: list[float] = []
    an_width: set[int] = set()
    for res, dep, rows in runs:
        m = res.metrics
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
        cuts += _cut_lengths(rows)
        for e in res.events:
            if (
                e.get("kind") == "fault"
                and e.get("scripted")
                and e.get("fault_kind") == "recorder_crash"
            ):
                if e.get("detect_s") is not None:
                    detect.append(e["detect_s"])
                if e.get("recorded_again_s") is not None and e.get("detected_s") is not None:
                    reassign.append(e["recorded_again_s"] - e["detected_s"])
        if "live_analyser_cpu_ms_per_frame" in m:
            an_ms.append(m["live_analyser_cpu_ms_per_frame"])
            if dep.get("analyser_width"):
                an_width.add(int(dep["analyser_width"]))

    def measured(v: float, unit: str, note: str, used: bool = False) -> CalibratedValue:
        return CalibratedValue(
            value=_r(v),
            unit=unit,
            source="measured",
            command=made,
            note=note,
            used_by_simulator=used,
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
    cal = Calibration(
        measured_on=[
            CalibrationRun(
                scenario=r.scenario.name,
                scenario_sha256=r.scenario.sha256,
                started_at=r.run.started_at,
                horizon_s=_r(r.horizon_s),
                cameras=int(r.metrics.get("cameras", 0)),
                recorders=int(r.metrics.get("recorders", 0)),
            )
            for r, _, _ in runs
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
        ),
        failover_reassign_s=None
        if not reassign
        else measured(
            statistics.fmean(reassign),
            "s",
            f"detection to the cameras recorded again elsewhere, "
            f"mean of {len(reassign)} (max {max(reassign):.3f}); the simulator's reassign_s",
            True,
        ),
        recorder_cpu_pct_per_stream=None
        if not cpu_stream
        else measured(
            statistics.fmean(cpu_stream),
            "% of a core",
            "recorder processes' CPU over the steady window / cameras recorded",
        ),
        recorder_cpu_pct_per_mbps=None
        if not cpu_mbps
        else measured(
            statistics.fmean(cpu_mbps),
            "% of a core per Mbps",
            f"per Mbps the streams really carried ({statistics.fmean(mbps_stream):.3f} Mbps each)",
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
    p.set_defaults(fn=cmd_calibrate)


def cmd_calibrate(args: argparse.Namespace) -> int:
    cal = calibrate([Path(r) for r in args.runs], args.accept_invalid)
    text = calibration_json(cal)
    t = Table(title="calibration")
    for col in ("parameter", "value", "unit", "source", "simulator"):
        t.add_column(col)
    for key, v in cal:
        items = v.items() if isinstance(v, dict) else [("", v)]
        for sub, x in items:
            if isinstance(x, CalibratedValue):
                t.add_row(
                    key + (f"[{sub}]" if sub else ""),
                    f"{x.value:.6g}",
                    x.unit,
                    x.source,
                    "used" if x.used_by_simulator else "-",
                )
    Console(stderr=True).print(t)
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
