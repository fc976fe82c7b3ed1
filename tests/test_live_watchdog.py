"""The live run's watchdog (twin.live.watchdog) on real processes, without Ray.

A stand-in driver (a Python process) starts the watchdog, then a tree of processes as a run
would: a child, a grandchild, one that ignores SIGTERM, and one re-parented to init a second
later (as Ray's agents are once their raylet dies). Killed with SIGKILL, the driver leaves
nothing of those behind; a process it had before it started the watchdog, and one the test
started, are not the run's and are left alone. At a normal end (`stop`) nothing is killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

DRIVER = textwrap.dedent("""
    import json, subprocess, sys, time
    from pathlib import Path
    from twin.live.watchdog import start_watchdog

    run_dir, mode = Path(sys.argv[1]), sys.argv[2]
    old = subprocess.Popen(["sleep", "300"])  # before the run: not the run's
    dog = start_watchdog(run_dir)
    kids = [subprocess.Popen(["sleep", "301"]),
            subprocess.Popen(["sh", "-c", "sleep 302 & wait"]),
            subprocess.Popen([sys.executable, "-c",
                              "import signal, time; signal.signal(signal.SIGTERM, "
                              "signal.SIG_IGN); time.sleep(300)"]),
            subprocess.Popen(["sh", "-c", "sleep 303 & sleep 1.5"])]  # orphans its sleep
    time.sleep(2.5)  # the watchdog has noted them all; `sleep 303` is init's now
    if mode == "stop":
        dog.close()
    print(json.dumps({"old": old.pid, "watchdog": dog.pid, "kids": [k.pid for k in kids]}),
          flush=True)
    time.sleep(300)
""")


def _procs(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            out[pid] = psutil.Process(pid).create_time()
    return out


def _alive(pid: int, started: float) -> bool:
    try:
        p = psutil.Process(pid)
        return p.create_time() == started and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _tree(root: int) -> dict[int, float]:
    with contextlib.suppress(psutil.Error):
        return {p.pid: p.create_time() for p in psutil.Process(root).children(recursive=True)}
    return {}


def _orphan(driver: subprocess.Popen[str]) -> dict[int, float]:
    """The stand-in driver's `sleep 303`, re-parented to init (started after the driver)."""
    t = psutil.Process(driver.pid).create_time()
    return {
        p.pid: p.info["create_time"]
        for p in psutil.process_iter(["cmdline", "create_time"])
        if (p.info["cmdline"] or [])[:2] == ["sleep", "303"] and p.info["create_time"] >= t
    }


def _start(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[str], dict]:
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(tmp_path), mode],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert driver.stdout is not None
    info = json.loads(driver.stdout.readline())
    return driver, info


def _kill(pids: dict[int, float]) -> None:
    for pid, t in pids.items():
        if _alive(pid, t):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_killed_driver_leaves_nothing_of_its_run(tmp_path) -> None:
    bystander = subprocess.Popen(["sleep", "304"])  # the test's own: not the run's
    driver, info = _start(tmp_path, "kill")
    run = _tree(driver.pid)
    orphan = list(_orphan(driver))
    run.update(_procs(orphan))
    old = _procs([info["old"]])
    run = {pid: t for pid, t in run.items() if pid not in old}
    try:
        assert len(orphan) == 1 and psutil.Process(orphan[0]).ppid() != driver.pid
        assert set(info["kids"]) <= set(run) and info["watchdog"] in run
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(10)
        t = time.monotonic()
        left = dict(run)
        while left and time.monotonic() - t < 5:
            left = {pid: s for pid, s in left.items() if _alive(pid, s)}
            time.sleep(0.05)
        assert not left, left
        assert all(_alive(pid, s) for pid, s in old.items())  # not the run's
        assert bystander.poll() is None
        dog = json.loads((tmp_path / "watchdog.json").read_text())
        killed = {k["pid"] for k in dog["killed"]}
        assert set(info["kids"][:3]) | set(orphan) <= killed and info["old"] not in killed
        assert dog["left"] == [] and dog["detected_by"] == "its pipe to the watchdog closed"
    finally:
        _kill({**run, **old})
        bystander.kill()
        bystander.wait()
        if driver.poll() is None:
            driver.kill()
            driver.wait()


def test_a_stopped_watchdog_kills_nothing(tmp_path) -> None:
    driver, info = _start(tmp_path, "stop")
    run = {**_tree(driver.pid), **_orphan(driver)}
    try:
        with pytest.raises(psutil.NoSuchProcess):
            psutil.Process(info["watchdog"]).status()
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(10)
        time.sleep(1.0)
        assert all(_alive(pid, s) for pid, s in run.items() if pid in info["kids"][:3])
        assert not (tmp_path / "watchdog.json").exists()
        assert len(run) >= 7  # the run's processes, the orphan among them
    finally:
        _kill(run)
