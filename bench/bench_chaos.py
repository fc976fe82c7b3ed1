"""Chaos: the live trial with seeded random `kill -9` of every kind of part, about one every 30 s.

Run:  .venv/bin/python bench/bench_chaos.py --minutes 10
  or: .venv/bin/pytest bench/bench_chaos.py --benchmark-only -s   (3 minutes)
  (--smoke, as a script or to pytest: 2 sets for 30 s, two kills, against 20 s quiet)

`twin live scenarios/live-trial-15.yaml` (35 cameras, 3 recorders, analyser) runs as its own
process with its scripted faults removed; this script is the operator nobody told: it reads
`live/parts.json` and kills the real OS process of a part drawn at random (MediaMTX, a
recorder, a camera set, the sweeper, the analyser), at seeded random times 20-40 s apart. A
quiet run of the same scenario (no kills) is the baseline measured in the same run.

Printed: faults injected, detected and running again, per kind; detection and restart time
per kind (from results.json, against the kill times this script logged); camera-seconds lost
per kind; the largest gap; unexplained gaps and camera-seconds (must be 0); catalog/disk
consistency; and camera-seconds unrecorded per camera-hour, chaos against quiet.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from sizes import SMOKE as SMOKE_SIZE  # noqa: E402
from sizes import sizes  # noqa: E402

KINDS = ("relay", "recorder", "set", "sweeper", "analyser")


SCENARIO = ROOT / "scenarios" / "live-trial-15.yaml"
PARTS_TIMEOUT_S = 300.0  # the scenario's startup_timeout_s (180) and Ray's start, with room


class ChildFailed(RuntimeError):
    """The `twin live` child stopped (or never started recording): its stderr is the reason."""


def scenario_copy(minutes: float, tmp: Path, sets: int | None = None) -> Path:
    """The trial, `minutes` long (`sets` of it), with nothing scripted, written into `tmp`."""
    data = yaml.safe_load(SCENARIO.read_text())
    data["name"] = "chaos-trial"
    data["faults"] = []  # nothing scripted: every fault comes from outside
    data["targets"] = {
        k: v for k, v in data["targets"].items() if not k.startswith("live_recorder_kill")
    }
    data["live"]["duration_s"] = minutes * 60
    data["live"]["startup_timeout_s"] = 180
    if sets is not None:
        data["city"]["districts"][0]["sets"] = sets
    if data.get("calibration"):  # named relative to the scenario's folder, not the copy's
        data["calibration"] = str((SCENARIO.parent / data["calibration"]).resolve())
    path = tmp / f"chaos-{minutes:g}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except FileNotFoundError:
        return ""


def _parts(
    run: Path, proc: subprocess.Popen, stderr: Path, timeout_s: float = PARTS_TIMEOUT_S
) -> dict:
    """live/parts.json once the child writes it; fails with the child's stderr if the child
    exits first or `timeout_s` passes (the child is then killed)."""
    path = run / "live" / "parts.json"
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        if proc.poll() is not None:
            raise ChildFailed(
                f"twin live exited {proc.returncode} before {path} was written:\n{_tail(stderr)}"
            )
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise ChildFailed(
                f"no {path} within {timeout_s:g} s; twin live killed. Its stderr:\n{_tail(stderr)}"
            )
        time.sleep(0.2)


def run_chaos(
    minutes: float,
    seed: int,
    tmp: Path,
    kills: bool = True,
    sets: int | None = None,
    first_s: float = 20.0,
    gap_s: tuple[float, float] = (20.0, 40.0),
    tail_s: float = 25.0,
    kinds: tuple[str, ...] = KINDS,
    scenario: Path | None = None,
    schedule: list[tuple[float, str]] | None = None,
) -> dict:
    """One live run with (or without) random kills; returns what was injected and measured.

    Kills start `first_s` into recording, `gap_s` apart (uniform), and stop `tail_s` before
    the end so the last one is detected and restarted within the run; each picks a kind of
    `kinds` at random, then a part of that kind. `scenario` runs that file instead of the
    trial's copy, and `schedule` kills the parts it names at the times it gives (seconds
    after recording started) instead of at random (tests/test_live_faults.py's chaos run)."""
    sc = scenario if scenario is not None else scenario_copy(minutes, tmp, sets)
    run = tmp / ("chaos" if kills else "quiet")
    # The child's output goes to files: a pipe nobody reads while the run goes on fills up
    # and stops the child; and a failure shows their tail.
    stdout, stderr = tmp / f"{run.name}.stdout", tmp / f"{run.name}.stderr"
    with open(stdout, "w") as out, open(stderr, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "twin.cli", "live", str(sc), "--out", str(run)],
            stdout=out,
            stderr=err,
            text=True,
            cwd=ROOT,
        )
    rng = np.random.default_rng(seed)
    injected: list[dict] = []

    def kill(part: str, kind: str, parts: dict, t_rec: float) -> None:
        try:
            os.kill(parts[part]["pid"], signal.SIGKILL)
            injected.append(
                {
                    "at_s": round(time.monotonic() - t_rec, 2),
                    "part": part,
                    "kind": kind,
                    "pid": parts[part]["pid"],
                    "wall": time.time(),
                }
            )
        except ProcessLookupError:
            pass

    try:
        info = _parts(run, proc, stderr)
        t_rec = time.monotonic()  # parts.json is first written when recording starts
        for at, part in (schedule or []) if kills else []:
            time.sleep(max(0.0, t_rec + at - time.monotonic()))
            kill(part, part.split(":")[0], _parts(run, proc, stderr)["parts"], t_rec)
        t = first_s
        while kills and schedule is None and t < minutes * 60 - tail_s:
            time.sleep(max(0.0, t_rec + t - time.monotonic()))
            parts = _parts(run, proc, stderr)["parts"]
            kind = kinds[int(rng.integers(len(kinds)))]
            names = sorted(p for p in parts if p.split(":")[0] == kind)
            if names:
                kill(names[int(rng.integers(len(names)))], kind, parts, t_rec)
            t += float(rng.uniform(*gap_s))
        proc.wait(timeout=minutes * 60 + 600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if not (run / "results.json").exists():
        raise ChildFailed(
            f"twin live exited {proc.returncode} without {run / 'results.json'}:\n{_tail(stderr)}"
        )
    res = json.loads((run / "results.json").read_text())
    return {
        "rc": proc.returncode,
        "injected": injected,
        "results": res,
        "run": run,
        "info": info,
        "stdout": _tail(stdout, 10**6),
        "stderr": _tail(stderr, 10**6),
    }


def summary(chaos: dict, quiet: dict) -> dict:
    res = chaos["results"]
    m = res["metrics"]
    faults = [e for e in res["events"] if e["kind"] == "fault"]
    per: dict[str, dict] = {}
    for k in KINDS:
        mine = [f for f in faults if f["part"].split(":")[0] == k]
        det = [f["detect_s"] for f in mine if f["detect_s"] is not None]
        back = [f["restore_s"] for f in mine if f["restore_s"] is not None]
        per[k] = {
            "injected": sum(1 for i in chaos["injected"] if i["kind"] == k),
            "detected": sum(1 for f in mine if f["detected_s"] is not None),
            "running_again": sum(1 for f in mine if f["restored_s"] is not None),
            "detect_s_max": round(max(det), 3) if det else None,
            "detect_s_p50": round(float(np.median(det)), 3) if det else None,
            "restart_s_max": round(max(back), 3) if back else None,
            "camera_s_lost": round(sum(f["camera_s_lost"] for f in mine), 1),
            "gap_max_s": round(max((f["gap_max_s"] for f in mine), default=0.0), 3),
        }
    hours = m["cameras"] * m["live_duration_s"] / 3600
    qm = quiet["results"]["metrics"]
    qhours = qm["cameras"] * qm["live_duration_s"] / 3600
    return {
        "per_kind": per,
        "faults_injected": len(chaos["injected"]),
        "faults_found": len(faults),
        "faults_unscripted": m.get("live_faults_unscripted"),
        "gap_max_s": m.get("live_fault_gap_max_s"),
        "gaps_unexplained": m.get("live_gaps_unexplained"),
        "unrecorded_unexplained_s": m.get("live_unrecorded_unexplained_s"),
        "catalog_mismatches": m.get("live_catalog_mismatches"),
        "segments_unreadable": m.get("live_segments_unreadable"),
        "partials_recovered": m.get("live_partials_recovered"),
        "unrecorded_s_per_camera_hour": round(m["live_unrecorded_s"] / hours, 1),
        "quiet_unrecorded_s_per_camera_hour": round(qm["live_unrecorded_s"] / qhours, 1),
        # None when the quiet run lost nothing: no ratio to take (not a billion-fold one)
        "ratio_vs_quiet": (
            round((m["live_unrecorded_s"] / hours) / (qm["live_unrecorded_s"] / qhours), 2)
            if qm["live_unrecorded_s"] > 0
            else None
        ),
    }


#: The smoke size: 2 sets (~5 cameras) for 30 s, a recorder and then the relay killed 5-8 s
#: apart from 5 s after recording starts (each found and running again within the 15 s left),
#: against a quiet run of 20 s: every step of the bench (the child, parts.json, kills,
#: results, the summary) in well under a minute.
SMOKE_MINUTES, SMOKE_QUIET_MINUTES, SMOKE_SETS = 0.5, 1 / 3, 2
SMOKE_KILLS = {"first_s": 5.0, "gap_s": (5.0, 8.0), "tail_s": 15.0, "kinds": ("recorder", "relay")}


def quiet_of(run: Path) -> dict:
    """A quiet run that already ran (its folder), as run_chaos returns one."""
    return {
        "rc": 0,
        "injected": [],
        "results": json.loads((run / "results.json").read_text()),
        "stderr": "",
    }


def report(
    minutes: float,
    seed: int,
    smoke: bool = False,
    out: Path | None = None,
    quiet_run: Path | None = None,
) -> dict:
    """Both runs are kept under `out` (default out/bench-chaos/; results, faults.csv, the
    kills logged). `quiet_run`: the folder of a quiet run of the same scenario and size
    (`_scenario`, no kills) that already ran, read instead of running one."""
    tmp = (out or ROOT / "out" / "bench-chaos") / time.strftime("%Y%m%d-%H%M%S")
    tmp.mkdir(parents=True, exist_ok=True)
    if smoke:
        minutes = SMOKE_MINUTES
        quiet = (
            quiet_of(quiet_run)
            if quiet_run is not None
            else run_chaos(SMOKE_QUIET_MINUTES, seed, tmp, kills=False, sets=SMOKE_SETS)
        )
        chaos = run_chaos(minutes, seed, tmp, sets=SMOKE_SETS, **SMOKE_KILLS)
    else:
        quiet = (
            quiet_of(quiet_run)
            if quiet_run is not None
            else run_chaos(min(minutes, 2.0), seed, tmp, kills=False)
        )
        chaos = run_chaos(minutes, seed, tmp)
    (tmp / "kills.json").write_text(json.dumps(chaos["injected"], indent=1))
    s = summary(chaos, quiet)
    show(s, f"{minutes:g} min of the live trial, seed {seed}", tmp)
    return s


def show(s: dict, what: str, kept: Path) -> None:
    print(f"\nchaos, {what}, load average {os.getloadavg()[0]:.2f}; runs kept in {kept}")
    print(json.dumps(s, indent=1))


@pytest.mark.live
@pytest.mark.parametrize("size", sizes("large"))
def test_bench_chaos(benchmark, size: str) -> None:
    s = benchmark.pedantic(report, args=(3.0, 2026, size == SMOKE_SIZE), rounds=1, iterations=1)
    assert s["faults_found"] >= s["faults_injected"] > 0
    assert s["gaps_unexplained"] == 0 and s["unrecorded_unexplained_s"] == 0
    assert s["catalog_mismatches"] == 0 and s["segments_unreadable"] == 0
    for k, v in s["per_kind"].items():
        assert v["detected"] >= v["injected"] and v["running_again"] >= v["injected"], k


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="2 sets, 30 s, two kills, against 20 s quiet (the bench's code path)",
    )
    a = ap.parse_args()
    report(a.minutes, a.seed, a.smoke)
