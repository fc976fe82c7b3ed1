"""`kill -9` of `twin live` itself (the driver), then `twin live --recover` on its folder.

A real `twin live` runs as its own process on a Ray of its own (real MediaMTX, real actors,
real files). Once it records, the test notes every process of the run (the driver's
descendants, by PID and start time; anything whose command line names the run's Ray or
MediaMTX folder; the PIDs live/parts.json names), kills the driver with SIGKILL and checks
that within 10 s none of them is left, Ray's agents (`ray::DashboardAgent`,
`ray::RuntimeEnvAgent`) included, and that the segments under way were left as `.part`
files. `twin live --recover` then writes results.json for the time recorded, marked cut
short, and it agrees with the folder: segments in the results == rows in the catalog ==
files on disk, each of which opens; every partial recovered; nothing left over.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from tests.helpers import small_live
from twin.storage.live_catalog import LiveStore

pytestmark = [pytest.mark.live, pytest.mark.slow]

RECORD_S = 7.0  # recording before the kill: two 3 s segments done, one under way per camera
GONE_WITHIN_S = 10.0
SCENARIO = small_live(  # 120 s is never reached: the driver dies
    "live-driver-kill",
    7,
    120,
    targets={"live_segments_unreadable": {"max": 0}, "live_catalog_mismatches": {"max": 0}},
)


def _twin(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "twin.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _recording(run: Path, proc: subprocess.Popen[str], timeout_s: float = 120.0) -> dict:
    """live/parts.json once recording has started (it is first written then)."""
    path = run / "live" / "parts.json"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"twin live ended early: {proc.communicate()[1][-3000:]}")
        with contextlib.suppress(OSError, ValueError):
            return dict(json.loads(path.read_text()))
        time.sleep(0.2)
    raise AssertionError(f"{path} did not appear within {timeout_s} s")


def _of_the_run(driver: int, info: dict) -> dict[int, tuple[float, str]]:
    """Every process of the run now: {PID: (start time, name)}."""
    found: dict[int, tuple[float, str]] = {}
    with contextlib.suppress(psutil.Error):
        for p in psutil.Process(driver).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                found[p.pid] = (p.create_time(), p.name())
    marks = [m for m in (info.get("ray_temp_dir"), *info.get("mediamtx_dirs", [])) if m]
    for p in psutil.process_iter(["pid", "cmdline", "create_time", "name"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if any(m in cmd for m in marks):
            found[p.pid] = (p.info["create_time"], p.info["name"])
    for part in info["parts"].values():
        with contextlib.suppress(psutil.Error):
            p = psutil.Process(part["pid"])
            found[p.pid] = (p.create_time(), p.name())
    return found


def _running(pid: int, started: float) -> bool:
    try:
        p = psutil.Process(pid)
        return abs(p.create_time() - started) < 0.05 and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("driver-kill")
    sc = tmp / "kill.yaml"
    sc.write_text(yaml.safe_dump(SCENARIO))
    run = tmp / "out"
    proc = _twin("live", str(sc), "--out", str(run), "--quiet")
    try:
        info = _recording(run, proc)
        time.sleep(RECORD_S)
        before = _of_the_run(proc.pid, info)
        info = json.loads((run / "live" / "parts.json").read_text())
        os.kill(proc.pid, signal.SIGKILL)
        t_kill = time.monotonic()
        proc.communicate(timeout=30)  # the driver is the test's child: reap it
        left = dict(before)
        while left and time.monotonic() - t_kill < GONE_WITHIN_S:
            left = {pid: v for pid, v in left.items() if _running(pid, v[0])}
            time.sleep(0.1)
        gone_s = time.monotonic() - t_kill
        # What the run's own marks find now (a process started after the snapshot included).
        left.update(
            {pid: v for pid, v in _of_the_run(proc.pid, info).items() if _running(pid, v[0])}
        )
        # What the kill left for recovery: the segments in progress (`.part`), and finished
        # files whose row was never written (a recorder killed between its rename and its
        # insert, as likely as not when every camera cuts a segment at the same moment).
        root = run / "live" / "segments"
        store = LiveStore(run / "live" / "catalog.sqlite")
        try:
            known = {(r.recorder, r.key) for r in store.rows()}
        finally:
            store.close()
        partials = sorted(
            p.relative_to(run)
            for p in root.rglob("*")
            if p.is_file()
            and (
                p.name.endswith(".part")
                or (p.relative_to(root).parts[0], "/".join(p.relative_to(root).parts[1:]))
                not in known
            )
        )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return {
        "run": run,
        "before": before,
        "left": left,
        "gone_s": gone_s,
        "info": info,
        "partials": partials,
    }


def test_nothing_of_the_run_is_left_after_the_driver_is_killed(killed) -> None:
    before, left = killed["before"], killed["left"]
    names = {name for _, name in before.values()}
    # The snapshot did see the run: Ray's agents (the ones that outlived a killed driver),
    # its workers, MediaMTX and the watchdog.
    assert {"ray::DashboardAgent", "ray::RuntimeEnvAgent", "mediamtx"} <= names, names
    assert any(n.startswith("ray::RecorderActor") for n in names), names
    assert not left, f"still running {killed['gone_s']:.1f} s after kill -9 of the driver: {left}"
    dog = json.loads((killed["run"] / "live" / "watchdog.json").read_text())
    assert dog["left"] == [] and dog["killed"]
    assert {k["pid"] for k in dog["killed"]} <= set(before)  # nothing outside the run
    for d in dog["removed_dirs"]:
        assert not Path(d).exists()
    # The segments under way were kept as partial files, one per camera at most.
    assert 0 < len(killed["partials"]) <= 6, killed["partials"]


def test_recover_writes_results_that_match_the_files(killed) -> None:
    import av

    from twin.model.results import read_results

    run = killed["run"]
    rec = _twin("live", "--recover", str(run))
    out, err = rec.communicate(timeout=120)
    assert rec.returncode in (0, 1), err[-3000:]
    assert "Traceback" not in err and "Traceback" not in out
    res = read_results(run / "results.json")
    assert rec.returncode == (0 if res.passed else 1)
    assert res.engine == "live" and res.interrupted == "driver lost"
    kinds = {e["kind"] for e in res.events}
    assert {"driver_lost", "interrupted"} <= kinds
    assert "Cut short: driver lost" in (run / "report.md").read_text()
    m = res.metrics

    store = LiveStore(run / "live" / "catalog.sqlite")
    try:
        rows = store.rows()
    finally:
        store.close()
    root = run / "live" / "segments"
    files = sorted(p for p in root.rglob("*") if p.is_file())
    assert not [p for p in files if p.name.endswith(".part")]
    assert m["segments_written"] == len(rows) == len(files) > 0
    assert {(r.recorder, r.key) for r in rows} == {
        (p.relative_to(root).parts[0], "/".join(p.relative_to(root).parts[1:])) for p in files
    }
    for p in files:  # every file opens and holds video
        with av.open(str(p)) as f:
            assert f.streams.video and f.streams.video[0].codec_context.name == "h264"
    # Everything the kill left is in the catalog now (or removed as an empty stub).
    assert m["live_partials_recovered"] + m["live_partials_removed"] == len(killed["partials"])
    assert m["live_partials_recovered"] > 0
    assert any(str(p).endswith(".part") for p in killed["partials"])
    assert m["live_catalog_mismatches"] == 0 == m["live_segments_unreadable"]
    assert m["live_partial_segments_lost"] == 0
    # The time recorded: up to the loss, less the slack in which the parts were dying.
    cut = next(e for e in res.events if e["kind"] == "interrupted")
    assert cut["recorded_s"] >= 6.0 and res.horizon_s == pytest.approx(cut["judged_s"], abs=1e-3)

    # Done once: a second recovery is refused, naming the file and the fix.
    again = _twin("live", "--recover", str(run))
    _, err = again.communicate(timeout=60)
    assert again.returncode == 2 and "results.json exists" in err and "--force" in err


def test_recover_refuses_a_folder_that_is_not_a_live_run(tmp_path) -> None:
    (tmp_path / "live").mkdir()
    p = _twin("live", "--recover", str(tmp_path))
    _, err = p.communicate(timeout=60)
    assert p.returncode == 2 and "run-state.json" in err
