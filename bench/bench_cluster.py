"""The live-cluster scenario on one node and on three: cameras per node and the driver's CPU.

Run:  .venv/bin/pytest bench/bench_cluster.py --benchmark-only -s
  or: .venv/bin/python bench/bench_cluster.py [--duration 60]
  (--smoke, as a script or to pytest: 10 s of recording a run, before the scripted recorder
  kill; the code path, not the figures)

The same scenario (scenarios/live-cluster-2-districts.yaml: two districts, a recorder pool
each and a central standby, ~20 cameras, a recorder killed mid-run) runs twice: on a Ray of
the twin's own (one node: every district, relay and pool on it), then on a 3-node cluster
started with `ray start` on loopback addresses (tests/test_live_cluster.LocalCluster: its own
temp and storage folder per node, stopped by PID). Printed for each: the nodes used, cameras
published and relayed per node, recorders per node, the driver's own CPU (supervision,
placement, polling: % of one core over the steady window, and per camera), the relays' CPU
per camera, and whether every target passed. The 1-node run is the baseline measured in the
same run: the ratio of the driver's CPU per camera (3 nodes / 1 node) says whether spreading
the twin costs the driver anything. Everything runs on this one machine, so the machine's
total CPU is the same work either way; what a cluster buys is cameras per node: size one by
dividing the programme's cameras by the cameras per core bench/bench_live.py measures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sizes import SMOKE, sizes  # noqa: E402

SMOKE_DURATION_S = 10.0
SCENARIO = ROOT / "scenarios" / "live-cluster-2-districts.yaml"


def run_once(out: Path, env: dict[str, str], duration: float | None) -> dict:
    """One `twin live` of the scenario; its figures from results.json."""
    args = [sys.executable, "-m", "twin.cli", "live", str(SCENARIO), "--out", str(out), "--quiet"]
    if duration:
        args += ["--duration", str(duration)]
    t = time.monotonic()
    done = subprocess.run(
        args, env={**os.environ, **env}, capture_output=True, text=True, timeout=900, cwd=ROOT
    )
    wall = time.monotonic() - t
    if not (out / "results.json").exists():
        raise RuntimeError(f"twin live failed (exit {done.returncode}): {done.stderr[-2000:]}")
    return figures(out, wall, done.returncode)


def figures(out: Path, wall: float | None = None, rc: int | None = None) -> dict:
    """A finished run's figures (its folder: results.json and cameras.csv)."""
    res = json.loads((out / "results.json").read_text())
    m = res["metrics"]
    (cluster,) = [e for e in res["events"] if e["kind"] == "cluster"]
    with open(out / "cameras.csv") as f:
        cams = list(csv.DictReader(f))
    parts = cluster["parts"]
    per_node: dict[str, int] = {}
    for c in cams:
        node = parts.get(f"set:{c['set']}", "?")
        per_node[node] = per_node.get(node, 0) + 1
    recorders: dict[str, int] = {}
    for r in res["per_recorder"]:
        recorders[r["node"]] = recorders.get(r["node"], 0) + 1
    n = m["cameras"]
    return {
        "nodes": [f"{x['node']}={x['address']}" for x in cluster["nodes"]],
        "cameras": int(n),
        "cameras_per_node": per_node,
        "recorders_per_node": recorders,
        "driver_cpu_pct": m.get("live_cpu_pct_driver"),
        "driver_cpu_pct_per_camera": (
            m["live_cpu_pct_driver"] / n if "live_cpu_pct_driver" in m else None
        ),
        "relay_cpu_pct_per_camera": m.get("live_cpu_pct_relay_per_camera"),
        "machine_cpu_pct": m.get("live_cpu_pct_machine"),
        "passed": res["passed"],
        "failed": [t["metric"] for t in res["targets"] if not t["passed"]],
        "wall_s": None if wall is None else round(wall, 1),
        "rc": rc,
    }


def compare(out: Path, duration: float | None) -> tuple[dict, dict]:
    from tests.test_live_cluster import LocalCluster

    one = run_once(out / "one-node", {"RAY_ADDRESS": ""}, duration)
    cluster = LocalCluster(out)
    try:
        cluster.start()
        three = run_once(
            out / "three-nodes",
            {"RAY_ADDRESS": cluster.address, "RAY_AUTH_MODE": "token"},
            duration,
        )
    finally:
        cluster.stop()
    return one, three


def report(one: dict, three: dict) -> float:
    for name, r in (("1 node ", one), ("3 nodes", three)):
        print(
            f"{name}: {len(r['nodes'])} node(s) {r['nodes']}; cameras per node "
            f"{r['cameras_per_node']}, recorders per node {r['recorders_per_node']}; driver "
            f"CPU {r['driver_cpu_pct']:.2f} % of a core ({r['driver_cpu_pct_per_camera']:.3f} "
            f"per camera), relay {r['relay_cpu_pct_per_camera']:.2f} % per camera, machine "
            f"{r['machine_cpu_pct']:.0f} %; {'PASS' if r['passed'] else 'FAIL ' + str(r['failed'])}"
            f" ({r['wall_s']} s)",
            flush=True,
        )
    ratio = three["driver_cpu_pct_per_camera"] / one["driver_cpu_pct_per_camera"]
    print(
        f"driver CPU per camera, 3 nodes / 1 node: x{ratio:.2f}; at "
        f"{three['driver_cpu_pct_per_camera']:.3f} % of a core per camera one driver core "
        f"supervises ~{int(100 / three['driver_cpu_pct_per_camera']):,} cameras",
        flush=True,
    )
    return ratio


@pytest.mark.live
@pytest.mark.parametrize("size", sizes("large"))
def test_live_cluster_one_node_and_three(benchmark, tmp_path: Path, size: str) -> None:
    got: dict = {}

    def run() -> None:
        got["one"], got["three"] = compare(tmp_path, SMOKE_DURATION_S if size == SMOKE else None)

    benchmark.pedantic(run, rounds=1, iterations=1)
    ratio = report(got["one"], got["three"])
    benchmark.extra_info.update(
        {"one_node": got["one"], "three_nodes": got["three"], "driver_cpu_per_camera_ratio": ratio}
    )
    assert len(got["one"]["nodes"]) == 1 and len(got["three"]["nodes"]) == 3
    if size != SMOKE:  # the smoke size stops before the scripted kill its targets judge
        assert got["one"]["passed"] and got["three"]["passed"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, help="recording seconds (default: the scenario's)")
    p.add_argument(
        "--smoke",
        action="store_true",
        help=f"{SMOKE_DURATION_S:g} s of recording a run (the code path)",
    )
    args = p.parse_args(argv)
    out = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    one, three = compare(out, SMOKE_DURATION_S if args.smoke else args.duration)
    report(one, three)
    print(f"(runs in {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
