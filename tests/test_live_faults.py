"""Faults nobody scripted, done to a real `twin live` from outside, as an operator would.

`twin live` runs as its own process; the test reads `live/parts.json` for the PIDs of the
parts and `kill -9`s them at set times: MediaMTX, a recorder's worker, a camera set's worker,
the sweeper's and the analyser's. Then the results are held against the files: each fault
found and its part running again, every camera recording again, each camera's gap as the
segment files (read by ffprobe) show it, catalog and disk in agreement, nothing left running.
Also: SIGTERM ends a run cleanly, and RAY_ADDRESS fails fast with the fix when nothing
answers there (joining a cluster started with `ray start`, and a wrong token refused:
tests/test_live_cluster.py, on its three nodes).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from tests.bench_smoke import bench, positive
from tests.ray_cluster import free_port
from tests.test_live_recorder import ffprobe

pytestmark = pytest.mark.live

HB_INTERVAL_S, HB_TIMEOUT_S = 0.5, 2.0
SCENARIO = {
    "name": "live-chaos-test",
    "seed": 11,
    "city": {
        "districts": [{"name": "Mong Kok", "sets": 2, "backhaul_mbps": 1000}],
        "cameras_per_set": {3: 1.0},
    },
    "recorders": {
        "pools": [
            {
                "name": "p",
                "districts": "*",
                "recorders": 3,
                "ingest_mbps": 100,
                "disk_tb": 1,
                "max_streams": 6,
            }
        ]
    },
    # One deployment: 3 s segments, 30 days compressed to 600 s, swept every 3 s.
    "recording": {"segment_s": 3, "sweep_interval_s": 3},
    "simulation": {"tick_s": 3},
    "camera_profiles": [{"name": "hd", "width": 640, "height": 360, "bitrate_mbps": 0.5}],
    "live": {
        "duration_s": 56,
        "time_compression": 4320,
        "heartbeat_interval_s": HB_INTERVAL_S,
        "heartbeat_timeout_s": HB_TIMEOUT_S,
        "clip": {"clip_s": 10, "scenes": 1, "collision_at_s": 4},
        "analyser": {"cameras": 2, "width": 320},
    },
}
# (seconds after recording started, part to kill -9)
KILLS = [
    (8.0, "relay:mediamtx"),
    (18.0, "recorder"),
    (28.0, "set:set00002"),
    (36.0, "sweeper"),
    (42.0, "analyser"),
]


def _twin(*args: str, env: dict | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "twin.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        **kw,
    )


@contextlib.contextmanager
def _reaped(proc: subprocess.Popen):
    """The test's `twin live` process is never left running, whatever the test does."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _parts(run: Path, timeout_s: float = 120.0) -> dict:
    path = run / "live" / "parts.json"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            try:
                return json.loads(path.read_text())
            except json.JSONDecodeError:
                pass
        time.sleep(0.2)
    raise AssertionError(f"{path} did not appear within {timeout_s} s")


def _leftovers(info: dict) -> list[str]:
    """Processes of this run still alive: anything whose command line names its folders."""
    marks = [m for m in (info.get("ray_temp_dir"), info.get("mediamtx_dir")) if m]
    out = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if any(m in cmd for m in marks):
            out.append(f"{p.info['pid']}: {cmd[:120]}")
    return out


def _file_spans(root: Path, rows) -> dict[str, list[tuple[float, float]]]:
    """Each camera's footage as the files say: start (from the name) + ffprobe's duration."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        if r.state != "stored":
            continue
        info = ffprobe(root / r.recorder / r.key)
        start = int(r.key.rsplit("-", 1)[1].split(".")[0]) / 1000
        spans.setdefault(r.camera, []).append((start, start + float(info["format"]["duration"])))
    return {c: sorted(v) for c, v in spans.items()}


@pytest.fixture(scope="module")
def chaos_run(tmp_path_factory):
    """The kills of KILLS done by bench/bench_chaos.py's own runner (its schedule instead of
    its random draws), so the chaos bench's code path runs here too (its smoke: below)."""
    chaos = bench("bench_chaos")
    tmp = tmp_path_factory.mktemp("chaos")
    sc = tmp / "chaos.yaml"
    sc.write_text(yaml.safe_dump(SCENARIO))
    # 6 cameras over 3 recorders: p-r01 records two
    schedule = [(at, "recorder:p-r01" if what == "recorder" else what) for at, what in KILLS]
    got = chaos.run_chaos(
        SCENARIO["live"]["duration_s"] / 60, 0, tmp, scenario=sc, schedule=schedule
    )
    assert [k["part"] for k in got["injected"]] == [part for _, part in schedule]
    return {
        "rc": got["rc"],
        "out": got["stdout"],
        "err": got["stderr"],
        "run": got["run"],
        "killed": got["injected"],
        "info": got["info"],
        "bench": got,
    }


def test_every_unscripted_kill_is_found_restarted_and_counted(chaos_run) -> None:
    from twin.model.results import read_results
    from twin.storage.live_catalog import LiveStore

    run, killed = chaos_run["run"], chaos_run["killed"]
    assert chaos_run["rc"] in (0, 1), chaos_run["err"][-3000:]
    assert "Traceback" not in chaos_run["err"] and "Traceback" not in chaos_run["out"]
    res = read_results(run / "results.json")
    m = res.metrics
    faults = {e["part"]: e for e in res.events if e["kind"] == "fault"}
    assert set(faults) == {k["part"] for k in killed}, faults.keys()
    assert m["live_faults_unscripted"] == len(KILLS) and m["live_faults_undetected"] == 0
    assert m["live_faults_unrestored"] == 0
    for k in killed:
        f = faults[k["part"]]
        assert (
            not f["scripted"]
            and f["fault_kind"]
            == {
                "relay": "relay_down",
                "recorder": "recorder_crash",
                "set": "publisher_crash",
                "sweeper": "sweeper_crash",
                "analyser": "analyser_crash",
            }[k["part"].split(":")[0]]
        )
        assert f["detected_s"] is not None and f["restored_s"] is not None, f
    # MediaMTX: detected within a beat or two, running again within detection + 2 s.
    relay = faults["relay:mediamtx"]
    assert (
        relay["detect_s"] <= 2 * HB_INTERVAL_S + 0.5
        and relay["restore_s"] <= relay["detect_s"] + 2.0
    )
    # Every camera recorded again; nothing unexplained; catalog and disk agree, files play.
    assert m["live_cameras_without_footage"] == 0 and m["live_unrecorded_unexplained_s"] == 0
    assert all(f["cameras_never_back"] == 0 for f in faults.values())
    assert m["live_catalog_mismatches"] == 0 and m["live_segments_unreadable"] == 0
    assert m["live_partial_segments_lost"] == 0
    # The recorder's cameras moved, and what it had received before the kill was kept.
    rec = faults["recorder:p-r01"]
    assert rec["cameras_hit"] >= 1 and m["live_partials_recovered"] >= 1
    assert m["live_recorder_kill_gap_s_max"] <= rec["detect_s"] + 2.0
    # The set's cameras have a gap counted against its fault; the sweeper swept again after.
    assert faults["set:set00002"]["cameras_hit"] == 3
    sweeps = [
        float(line.split(",")[0]) for line in (run / "sweeps.csv").read_text().splitlines()[1:]
    ]
    assert any(t > faults["sweeper"]["restored_s"] for t in sweeps)

    # Each camera's gaps, as the files (ffprobe) show them, match the reported ones within 1 s.
    store = LiveStore(run / "live" / "catalog.sqlite")
    rows = store.rows()
    store.close()
    spans = _file_spans(run / "live" / "segments", rows)
    reported = [e for e in res.events if e["kind"] == "fault_gap"]
    assert reported
    by_cam: dict[str, list[tuple[float, float]]] = {}
    for cam, sp in spans.items():
        merged: list[list[float]] = []
        for a, b in sp:
            if merged and a <= merged[-1][1] + 0.05:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        by_cam[cam] = [(x[1], y[0]) for x, y in zip(merged, merged[1:])]
    for e in reported:
        holes = by_cam[e["camera"]]
        near = [b - a for a, b in holes if abs(a - e["from_s"]) < 1.5]
        assert near and abs(near[0] - e["gap_s"]) <= 1.0, (e, holes)


def test_nothing_is_left_running_after_the_chaos(chaos_run) -> None:
    info = chaos_run["info"]
    assert info["ray_temp_dir"] and info["mediamtx_dir"]
    time.sleep(1.0)
    assert _leftovers(info) == []
    assert not Path(info["ray_temp_dir"]).exists() and not Path(info["mediamtx_dir"]).exists()


@pytest.fixture(scope="module")
def sigterm_run(tmp_path_factory):
    """The chaos scenario without kills, stopped by SIGTERM 6 s into recording."""
    tmp = tmp_path_factory.mktemp("sigterm")
    sc = tmp / "term.yaml"
    data = {
        **SCENARIO,
        "live": {**SCENARIO["live"], "duration_s": 120, "analyser": {"enabled": False}},
    }
    sc.write_text(yaml.safe_dump(data))
    run = tmp / "out"
    with _reaped(_twin("live", str(sc), "--out", str(run))) as proc:
        info = _parts(run)
        time.sleep(6.0)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=90)
    time.sleep(1.0)
    return {"rc": proc.returncode, "out": out, "err": err, "run": run, "left": _leftovers(info)}


def test_sigterm_stops_a_run_cleanly_and_keeps_what_was_recorded(sigterm_run) -> None:
    from twin.model.results import read_results

    rc, out, err, run = (sigterm_run[k] for k in ("rc", "out", "err", "run"))
    assert rc == 3, err[-2000:]
    assert "stopped early by SIGTERM" in err and "Traceback" not in err + out
    res = read_results(run / "results.json")
    assert any(e["kind"] == "interrupted" for e in res.events)
    assert 3.0 <= res.metrics["live_duration_s"] < 30
    assert res.metrics["segments_written"] > 0 and res.metrics["live_catalog_mismatches"] == 0
    assert sigterm_run["left"] == []


def test_bench_chaos_smoke(chaos_run, sigterm_run, capsys: pytest.CaptureFixture[str]) -> None:
    """bench/bench_chaos.py at its smoke size, on this module's runs: its runner made the
    chaos run above; the same scenario stopped by SIGTERM, nothing killed, is its quiet
    baseline."""
    chaos = bench("bench_chaos")
    s = chaos.summary(chaos_run["bench"], chaos.quiet_of(sigterm_run["run"]))
    chaos.show(s, "smoke: the chaos test's run", chaos_run["run"].parent)
    out = capsys.readouterr().out
    assert json.loads(out[out.index("{") :]) == json.loads(json.dumps(s))
    assert s["faults_found"] >= s["faults_injected"] == len(KILLS), out
    assert s["gaps_unexplained"] == 0 and s["catalog_mismatches"] == 0, out
    killed = [k for k, v in s["per_kind"].items() if v["injected"]]
    assert len(killed) == len(KILLS) and all(
        s["per_kind"][k]["detected"] >= s["per_kind"][k]["injected"] for k in killed
    ), out
    detect = [s["per_kind"][k]["detect_s_max"] for k in killed]
    assert all(d is not None and math.isfinite(d) and d > 0 for d in detect), out
    positive(r'"unrecorded_s_per_camera_hour": ([\d.]+)', out)  # the kills cost footage
    if s["quiet_unrecorded_s_per_camera_hour"] > 0:
        assert math.isfinite(s["ratio_vs_quiet"]) and s["ratio_vs_quiet"] > 0, out
    else:  # a quiet run that lost nothing gives no ratio, and says so
        assert s["ratio_vs_quiet"] is None, out


def test_ray_address_to_a_dead_address_fails_fast_with_the_fix(tmp_path: Path) -> None:
    sc = tmp_path / "dead.yaml"
    sc.write_text(yaml.safe_dump(SCENARIO))
    port = free_port("127.0.0.2")
    t = time.monotonic()
    proc = _twin(
        "live", str(sc), "--out", str(tmp_path / "out"), env={"RAY_ADDRESS": f"127.0.0.2:{port}"}
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3 and time.monotonic() - t < 30
    assert f"RAY_ADDRESS=127.0.0.2:{port}: no Ray cluster answers there" in err
    assert "ray start --head" in err and "Traceback" not in err + out


def test_a_start_up_longer_than_the_run_stops_it_cleanly_and_says_why(tmp_path: Path) -> None:
    """The run's clock starts when recording does; the analysers' cost measurement comes
    after. A run shorter than that start-up (as a loaded machine makes it) has nothing left
    to drive: it stops with an event and a line saying why, not with SimPy's error about an
    end in its past, and keeps its results."""
    sc = tmp_path / "short.yaml"
    sc.write_text(yaml.safe_dump(SCENARIO))
    proc = _twin("live", str(sc), "--out", str(tmp_path / "out"), "--duration", "0.2")
    out, err = proc.communicate(timeout=180)
    assert "Traceback" not in out + err and proc.returncode in (0, 1), err[-3000:]
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    (ev,) = [e for e in res["events"] if e["kind"] == "startup_outlasted_run"]
    assert ev["startup_s"] >= ev["duration_s"] == 0.2
    assert "give the run a longer duration" in out + err


def test_sigterm_during_start_up_leaves_nothing_running(tmp_path: Path) -> None:
    sc = tmp_path / "early.yaml"
    sc.write_text(yaml.safe_dump(SCENARIO))
    with _reaped(_twin("live", str(sc), "--out", str(tmp_path / "out"))) as proc:
        tree: dict[int, psutil.Process] = {}
        deadline = time.monotonic() + 60

        # Wait until MediaMTX runs and Ray is starting (its GCS and raylet), then stop it.
        def names() -> str:
            return " ".join(" ".join(p.cmdline()) for p in tree.values() if p.is_running())

        # Ray's per-node agents start last and once outlived an interrupted ray.init.
        while time.monotonic() < deadline and not (
            "mediamtx" in names() and "raylet" in names() and "Agent" in names()
        ):
            try:
                for c in psutil.Process(proc.pid).children(recursive=True):
                    tree[c.pid] = c
            except psutil.NoSuchProcess:
                break
            time.sleep(0.1)
        assert "raylet" in names(), "twin live started no Ray"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=90)
    assert proc.returncode == 3, err[-2000:]
    assert "stopped by SIGTERM" in err and "Traceback" not in err + out
    time.sleep(2.0)
    alive = [p for p in tree.values() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], [" ".join(p.cmdline())[:100] for p in alive]


def test_a_hung_mediamtx_is_found_and_restarted(mediamtx_binary_path: Path) -> None:
    """SIGSTOP: the process is there but its Control API is silent; the watch calls it hung,
    and a restart brings a new process up on the same ports."""
    from synthetic_streams.mediamtx import MediaMTXServer
    from twin.live.parts import RelayWatch

    pids: list[int] = []
    with MediaMTXServer(["hung-a"], binary=mediamtx_binary_path) as server:
        watch = RelayWatch(server, interval_s=0.2, hung_after_s=1.0, on_pid=pids.append)
        try:
            time.sleep(0.5)
            assert watch.state() == "up"
            old, port = server.pid, server.endpoints.rtsp_port
            os.kill(old, signal.SIGSTOP)
            t = time.monotonic()
            while watch.state() != "hung":
                assert time.monotonic() - t < 3.0, watch.state()
                time.sleep(0.05)
            watch.restart()
            while watch.state() != "up":
                assert time.monotonic() - t < 15.0, watch.state()
                time.sleep(0.05)
            assert pids and pids[-1] == server.pid != old and server.endpoints.rtsp_port == port
            assert not psutil.pid_exists(old) or psutil.Process(old).status() == "zombie"
        finally:
            watch.close()
