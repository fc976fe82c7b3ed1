"""How many synthetic cameras this machine records live with zero dropped segments.

Run:  .venv/bin/python bench/bench_live.py --cameras 39 60 81 99 --minutes 5
  or: .venv/bin/pytest bench/bench_live.py --benchmark-only -s   (small: 12 cameras, 1 min;
      large: the steps above, 5 min each; with --smoke, or --smoke as a script: 3 cameras, 30 s)

Each step is a whole `twin live` run (MediaMTX, Ray actors, files, SQLite, sweeps, analyser on
every camera) of N cameras at 1280x720, 15 fps, ~1 Mbps, keyframe every second, in 3-camera
sets. A step passes when no camera lost footage: no gap between segments outside drills (there
are none here), no packet loss inside a connection, every camera with footage from its first
keyframe to the end, every stored segment readable, catalog and disk in step. Steps run in
order and stop at the first failure; the last step that passed is what the machine sustains.

A step whose harness did not keep its plan (results.json `validity`: the synthetic cameras,
the relay's witness or the driver fell behind) fails too, since its figures are the load
generator's, not the deployment's; the step that fails names what gave out first: the
harness's part, or the deployment's (recorders dropping segments, the relay's streams
breaking, cameras without footage).

Printed per step: the harness's own figures (offered/planned of the worst camera, packet
lateness p99, the longest stall, the driver's lag p99, the relay's received/offered), then
cameras, pass/fail and why, CPU per camera (% of one core) for publishing,
the MediaMTX relay, recording and analysis (from each process's own CPU time over the steady
window, so other load on the machine does not count), the machine's total, and the
incident-to-alert latency. The machine may be shared: its load average is printed too.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from twin.scenario import Scenario, parse_scenario  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from sizes import SMOKE, sizes  # noqa: E402

SEGMENT_S = 6.0
# 30 s: a few segments and sweeps. Not shorter: `twin live` counts its duration from before
# its start-up calls (recorders, the analyser's cost measurement), which take ~10-25 s on a
# loaded 2-core machine, and a run whose start-up outlasts its duration stops with an error.
SMOKE_MINUTES = 0.5


def bench_scenario(cameras: int, minutes: float, analyse_interval_s: float = 0.9) -> Scenario:
    """`cameras` (rounded up to a multiple of 3) in 3-camera sets, recording `minutes`."""
    sets = math.ceil(cameras / 3)
    n = sets * 3
    recorders = max(2, math.ceil(n / 30))
    return parse_scenario(
        {
            "name": f"bench-live-{n}",
            "description": f"Live capacity step: {n} cameras, {minutes:g} min.",
            "seed": 7,
            "city": {
                "districts": [{"name": "Mong Kok", "sets": sets, "backhaul_mbps": 10_000}],
                "cameras_per_set": {3: 1.0},
            },
            "camera_profiles": [{"name": "hd", "width": 1280, "height": 720, "bitrate_mbps": 1.0}],
            "recorders": {
                "pools": [
                    {
                        "name": "p",
                        "districts": "*",
                        "recorders": recorders,
                        "ingest_mbps": 1000,
                        "disk_tb": 10,
                        "max_streams": 40,
                    }
                ]
            },
            # One deployment: 6 s segments, 30 days compressed to 120 s, swept every 12 s.
            "recording": {"segment_s": int(SEGMENT_S), "sweep_interval_s": 2 * int(SEGMENT_S)},
            "simulation": {"tick_s": int(SEGMENT_S)},
            "live": {
                "duration_s": minutes * 60,
                "time_compression": 21_600,
                "startup_timeout_s": 180,
                # Capacity, not failover, is measured here: a slow answer is not a lost recorder.
                "heartbeat_interval_s": 1.0,
                "heartbeat_timeout_s": 5.0,
                "publisher_actors": min(sets, 16),
                "analyser": {"enabled": True, "width": 640, "min_interval_s": analyse_interval_s},
            },
            "targets": {
                "segments_dropped": {"max": 0},
                "live_gap_max_s": {"max": 0},
                "live_cameras_without_footage": {"max": 0},
                "live_segments_unreadable": {"max": 0},
                "live_catalog_mismatches": {"max": 0},
                "live_stream_discontinuities": {"max": 0},
                "live_double_recorded_s": {"max": 0},
            },
        },
        f"<bench {n}>",
    )


def run_live(sc: Scenario, out: Path) -> tuple[Any, Any, float]:
    """Write `sc` to `out` (only the fields it sets: a full dump carries fields a live
    scenario refuses) and run it live into `out/<name>`; returns the results, the measures
    and the 1-min load average before the run."""
    import yaml

    from twin.cli.live import live_to

    path = out / f"{sc.name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        yaml.safe_dump(sc.model_dump(mode="json", exclude_none=True, exclude_unset=True))
    )
    load0 = os.getloadavg()[0]
    res, m = live_to(path, out / sc.name, quiet=True)
    return res, m, load0


def run_step(cameras: int, minutes: float, out: Path, analyse_interval_s: float = 0.9) -> dict:
    """One step; returns its figures (and whether it passed)."""
    sc = bench_scenario(cameras, minutes, analyse_interval_s)
    return step_figures(*run_live(sc, out))


def step_figures(res: Any, m: Any, load0: float) -> dict:
    """A step's figures from its live run's results and measures (and whether it passed)."""
    mm = res.metrics
    failed = [v.metric for v in res.targets if not v.passed]
    lost = [e["recorder"] for e in res.events if e["kind"] == "recorder_lost"]
    if lost:
        failed.append(f"recorders declared lost under load: {lost}")
    # Every camera must cover the run: first segment near the start, last one at the end.
    expected = (mm["live_duration_s"] - mm.get("live_start_delay_s_max", 0)) / SEGMENT_S - 1
    short = [c for c, f in m.cameras.items() if f.segments < expected]
    if short:
        failed.append(f"{len(short)} cameras with fewer than {expected:.0f} segments")
    v = res.validity or {}
    if res.invalid:
        failed.insert(0, "the harness did not keep its plan")
    return {
        "valid": not res.invalid,
        "gave_out": gave_out(res, failed),
        "offered_min": mm.get("live_harness_offered_ratio_min"),
        "late_p99": mm.get("live_harness_publish_late_p99_s_max"),
        "stall": mm.get("live_harness_publish_stall_s_max"),
        "driver_lag_p99": mm.get("live_harness_driver_lag_p99_s"),
        "relay_received": mm.get("live_harness_relay_received_ratio_min"),
        "machine_busy_max": (v.get("machine") or {}).get("cpu_busy_pct_max"),
        "cameras": int(mm["cameras"]),
        "passed": not failed,
        "failed": failed,
        "segments": int(mm["segments_written"]),
        "dropped": int(mm["segments_dropped"]),
        "publish": mm.get("live_cpu_pct_publish_per_camera"),
        "relay": mm.get("live_cpu_pct_relay_per_camera"),
        "record": mm.get("live_cpu_pct_record_per_camera"),
        "analyse": mm.get("live_cpu_pct_analyse_per_camera"),
        "machine": mm.get("live_cpu_pct_machine"),
        "latency_p50": mm.get("live_alert_latency_s_p50"),
        "latency_max": mm.get("live_alert_latency_s_max"),
        "incident_recall": mm.get("live_incident_recall"),
        "analysed_fps": (
            mm.get("live_frames_analysed", 0.0) / mm["cameras"] / mm["live_duration_s"]
        ),
        "dropped_late": int(mm.get("live_frames_dropped_late", 0)),
        "recall_person": mm.get("live_detection_recall_person"),
        "actor_start_s": mm.get("live_actor_start_s"),
        "load_before": round(load0, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "wall_s": res.run.wall_s,
    }


def gave_out(res: Any, failed: list[str]) -> str:
    """What gave out first at a failed step: the harness's part that fell behind first (its
    figures are then not the deployment's), else the deployment's part its targets point to."""
    if not failed:
        return ""
    v = res.validity or {}
    if res.invalid:
        at = v.get("first_behind_s")
        return (
            f"the harness's {v.get('first_behind')}"
            + (f" (from {at:.0f} s)" if at else "")
            + f": {v.get('advice', '')}"
        )
    names = " ".join(failed)
    if "live_stream_discontinuities" in names:
        return "the deployment's relay: streams broke between MediaMTX and the recorders"
    if any(
        k in names
        for k in ("segments_dropped", "live_gap_max_s", "fewer than", "recorders declared lost")
    ):
        return "the deployment's recorders: footage dropped with the harness on plan"
    return "the deployment: " + ", ".join(failed)


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.2f}"


def print_step(r: dict) -> None:
    print(
        f"{r['cameras']:4d} cameras  harness {'on plan' if r['valid'] else 'BEHIND'}: "
        f"offered/planned {_fmt(r['offered_min'])}, lateness p99 {_fmt(r['late_p99'])} s, "
        f"longest stall {_fmt(r['stall'])} s, driver lag p99 {_fmt(r['driver_lag_p99'])} s, "
        f"relay received/offered {_fmt(r['relay_received'])}, machine busy "
        f"{_fmt(r['machine_busy_max'])} %",
        flush=True,
    )
    print(
        f"{r['cameras']:4d} cameras  {'PASS' if r['passed'] else 'FAIL'}  "
        f"segments {r['segments']} dropped {r['dropped']}  CPU % of a core per camera: "
        f"publish {_fmt(r['publish'])} relay {_fmt(r['relay'])} record {_fmt(r['record'])} "
        f"analyse {_fmt(r['analyse'])}; machine {_fmt(r['machine'])} %  "
        f"alert latency p50 {_fmt(r['latency_p50'])} s max {_fmt(r['latency_max'])} s  "
        f"(analysed {r['analysed_fps']:.2f} frames/camera/s, {r['dropped_late']} dropped late, "
        f"person recall {_fmt(r['recall_person'])}, "
        f"incident recall {_fmt(r['incident_recall'])}; actors up in "
        f"{_fmt(r['actor_start_s'])} s; load {r['load_before']} -> {r['load_after']})"
        + ("" if r["passed"] else f"  failed: {r['failed']}"),
        flush=True,
    )
    if not r["passed"]:
        print(f"     gave out first: {r['gave_out']}", flush=True)


def capacity(
    steps: list[int], minutes: float, out: Path, analyse_interval_s: float = 0.9
) -> tuple[int, list[dict]]:
    """Run the steps in order until one fails; returns (cameras sustained, every step)."""
    done: list[dict] = []
    sustained = 0
    for n in steps:
        r = run_step(n, minutes, out, analyse_interval_s)
        print_step(r)
        done.append(r)
        if not r["passed"]:
            break
        sustained = r["cameras"]
    return sustained, done


def summary(sustained: int, steps: list[dict], minutes: float) -> None:
    print(
        f"\nsustained: {sustained} cameras (1280x720, 15 fps, ~1 Mbps) for {minutes:g} min "
        f"with zero dropped segments, analyser on every camera"
    )
    ok = [s for s in steps if s["passed"]] or steps
    last = ok[-1]
    per_cam = sum(last[k] or 0.0 for k in ("publish", "relay", "record", "analyse"))
    print(
        f"CPU per camera at {last['cameras']} cameras: publish {_fmt(last['publish'])} + relay "
        f"{_fmt(last['relay'])} + record {_fmt(last['record'])} + analyse "
        f"{_fmt(last['analyse'])} = {per_cam:.2f} % of a core; "
        f"{os.cpu_count()} cores => at most ~{int(100 * (os.cpu_count() or 1) / per_cam)} "
        f"cameras if nothing else ran"
    )


#: cameras at each step and minutes each, per size (the smoke size: its code path in seconds)
STEPS = {"small": ([12], 1.0), "large": ([39, 60, 81, 99], 5.0), SMOKE: ([3], SMOKE_MINUTES)}


@pytest.mark.live
@pytest.mark.parametrize("size", sizes("small", "large"))
def test_live_capacity(benchmark, size: str, tmp_path: Path) -> None:
    steps, minutes = STEPS[size]
    result: dict = {}

    def run() -> None:
        result["sustained"], result["steps"] = capacity(steps, minutes, tmp_path)

    benchmark.pedantic(run, rounds=1, iterations=1)
    summary(result["sustained"], result["steps"], minutes)
    benchmark.extra_info.update(
        {"sustained_cameras": result["sustained"], "steps": result["steps"]}
    )
    assert result["sustained"] >= (39 if size == "large" else steps[0])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cameras", type=int, nargs="+", default=[39, 60, 81, 99])
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument(
        "--analyse-interval",
        type=float,
        default=0.9,
        help="seconds between analysed keyframes per camera",
    )
    p.add_argument("--out", type=Path, help="where runs go (default: a temporary folder)")
    p.add_argument(
        "--smoke",
        action="store_true",
        help=f"one step of 3 cameras for {SMOKE_MINUTES * 60:g} s (its code path)",
    )
    args = p.parse_args(argv)
    cameras, minutes = STEPS[SMOKE] if args.smoke else (args.cameras, args.minutes)
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-live-"))
    t0 = time.time()
    sustained, steps = capacity(cameras, minutes, out, args.analyse_interval)
    summary(sustained, steps, minutes)
    print(f"({time.time() - t0:.0f} s; runs in {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
