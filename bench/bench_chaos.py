"""Chaos: the live trial with seeded random `kill -9` of every kind of part, about one every 30 s.

Run:  .venv/bin/python bench/bench_chaos.py --minutes 10
  or: .venv/bin/pytest bench/bench_chaos.py --benchmark-only -s   (3 minutes)

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
KINDS = ("relay", "recorder", "set", "sweeper", "analyser")


def _scenario(minutes: float, tmp: Path) -> Path:
    data = yaml.safe_load((ROOT / "scenarios" / "live-trial-15.yaml").read_text())
    data["name"] = "chaos-trial"
    data["faults"] = []  # nothing scripted: every fault comes from outside
    data["targets"] = {k: v for k, v in data["targets"].items()
                       if not k.startswith("live_recorder_kill")}
    data["live"]["duration_s"] = minutes * 60
    data["live"]["startup_timeout_s"] = 180
    path = tmp / f"chaos-{minutes:g}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _parts(run: Path) -> dict:
    path = run / "live" / "parts.json"
    while True:
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            time.sleep(0.2)


def run_chaos(minutes: float, seed: int, tmp: Path, kills: bool = True) -> dict:
    """One live run with (or without) random kills; returns what was injected and measured."""
    sc = _scenario(minutes, tmp)
    run = tmp / ("chaos" if kills else "quiet")
    proc = subprocess.Popen([sys.executable, "-m", "twin.cli", "live", str(sc), "--out", str(run)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    rng = np.random.default_rng(seed)
    injected: list[dict] = []
    try:
        _parts(run)
        t_rec = time.monotonic()
        t = 20.0
        while kills and t < minutes * 60 - 25:
            time.sleep(max(0.0, t_rec + t - time.monotonic()))
            parts = _parts(run)["parts"]
            kind = KINDS[int(rng.integers(len(KINDS)))]
            names = sorted(p for p in parts if p.split(":")[0] == kind)
            if names:
                part = names[int(rng.integers(len(names)))]
                try:
                    os.kill(parts[part]["pid"], signal.SIGKILL)
                    injected.append({"at_s": round(time.monotonic() - t_rec, 2), "part": part,
                                     "kind": kind, "pid": parts[part]["pid"]})
                except ProcessLookupError:
                    pass
            t += float(rng.uniform(20, 40))
        out, err = proc.communicate(timeout=minutes * 60 + 600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    res = json.loads((run / "results.json").read_text())
    return {"rc": proc.returncode, "injected": injected, "results": res, "stderr": err}


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
        "faults_injected": len(chaos["injected"]), "faults_found": len(faults),
        "faults_unscripted": m.get("live_faults_unscripted"),
        "gap_max_s": m.get("live_fault_gap_max_s"),
        "gaps_unexplained": m.get("live_gaps_unexplained"),
        "unrecorded_unexplained_s": m.get("live_unrecorded_unexplained_s"),
        "catalog_mismatches": m.get("live_catalog_mismatches"),
        "segments_unreadable": m.get("live_segments_unreadable"),
        "partials_recovered": m.get("live_partials_recovered"),
        "unrecorded_s_per_camera_hour": round(m["live_unrecorded_s"] / hours, 1),
        "quiet_unrecorded_s_per_camera_hour": round(qm["live_unrecorded_s"] / qhours, 1),
        "ratio_vs_quiet": round((m["live_unrecorded_s"] / hours)
                                / max(qm["live_unrecorded_s"] / qhours, 1e-9), 2),
    }


def report(minutes: float, seed: int) -> dict:
    """Both runs are kept under out/bench-chaos/ (results, faults.csv, the kills logged)."""
    tmp = ROOT / "out" / "bench-chaos" / time.strftime("%Y%m%d-%H%M%S")
    tmp.mkdir(parents=True, exist_ok=True)
    quiet = run_chaos(min(minutes, 2.0), seed, tmp, kills=False)
    chaos = run_chaos(minutes, seed, tmp)
    (tmp / "kills.json").write_text(json.dumps(chaos["injected"], indent=1))
    s = summary(chaos, quiet)
    print(f"\nchaos, {minutes:g} min of the live trial, seed {seed}, load average "
          f"{os.getloadavg()[0]:.2f}; runs kept in {tmp.relative_to(ROOT)}")
    print(json.dumps(s, indent=1))
    return s


@pytest.mark.live
def test_bench_chaos(benchmark) -> None:
    s = benchmark.pedantic(report, args=(3.0, 2026), rounds=1, iterations=1)
    assert s["faults_found"] >= s["faults_injected"] > 0
    assert s["gaps_unexplained"] == 0 and s["unrecorded_unexplained_s"] == 0
    assert s["catalog_mismatches"] == 0 and s["segments_unreadable"] == 0
    for k, v in s["per_kind"].items():
        assert v["detected"] >= v["injected"] and v["running_again"] >= v["injected"], k


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=2026)
    a = ap.parse_args()
    report(a.minutes, a.seed)
