"""`twin live --recover` refuses what it cannot finish, before touching anything (exit 2).

The recovery itself runs on a real killed run in test_live_driver_kill.py; these are the
refusals, on folders made here: a run whose driver is still running (its recorders would
write under the recovery), one that died before recording, one already measured.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import psutil
import pytest

from twin.errors import UsageError
from twin.live.recover import recover_run
from twin.live.run_state import STATE_FILE, STATE_SCHEMA


def _folder(
    tmp_path: Path, *, phase: str = "recording", t0: float = 5.0, driver: dict | None = None
) -> Path:
    live = tmp_path / "run" / "live"
    (live / "segments").mkdir(parents=True)
    dead = {"pid": 2**22 + 1, "create_time": 1.0}  # above the kernel's PID limit: never alive
    state = {
        "schema": STATE_SCHEMA,
        "phase": phase,
        "saved_at": time.time(),
        "driver": driver or dead,
        "ray": "own",
        "scenario": {},
        "calibration": None,
        "outcome": {"t0": t0, "epoch": time.time() - 10},
        "live": {},
    }
    (live / STATE_FILE).write_text(json.dumps(state))
    return tmp_path / "run"


def test_a_run_whose_driver_still_runs_is_refused(tmp_path) -> None:
    me = psutil.Process()
    run = _folder(tmp_path, driver={"pid": os.getpid(), "create_time": me.create_time()})
    with pytest.raises(UsageError, match=rf"still running: the driver.*PID {os.getpid()}"):
        recover_run(run)
    assert not (run / "results.json").exists()


def test_a_run_that_died_before_recording_is_refused(tmp_path) -> None:
    run = _folder(tmp_path, phase="starting", t0=0.0)
    with pytest.raises(UsageError, match="before recording began.*run the scenario again"):
        recover_run(run)


def test_a_measured_run_is_refused_without_force(tmp_path) -> None:
    run = _folder(tmp_path)
    (run / "results.json").write_text("{}")
    with pytest.raises(UsageError, match=r"results\.json exists.*--force"):
        recover_run(run)


def test_a_folder_without_run_state_is_refused(tmp_path) -> None:
    (tmp_path / "live").mkdir()
    with pytest.raises(UsageError, match="run-state.json is missing"):
        recover_run(tmp_path)
