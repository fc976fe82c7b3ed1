"""A live run whose synthetic cameras are held back on purpose is marked invalid, naming them.

`twin live` runs as a real process on a small deployment (2 sets, 6 cameras, 2 recorders,
analyser off). Some seconds into recording the test freezes one camera-set actor's real OS
process (SIGSTOP, then SIGCONT 4 s later): its publishers fall behind their clips' clock, as
an overloaded load generator does. The run must say that its harness did not keep its plan:
results.json's `validity` is false, the publishers fell behind first, the held cameras (and
only they) are named with their lateness, and the command exits 4. Fidelity and calibration
refuse the run (exit 4) unless told `--accept-invalid`. The same deployment unhindered is
valid: tests/test_fidelity_live.py checks that on its own run.

The same run also has its cameras' encoders capped at a quarter of the plan's bitrate (0.125
against 0.5 Mbps), so that, judged anyway (`--accept-invalid`), its fidelity fails on
stored bytes per camera-hour, naming the metric: one live run for both facts.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers import small_live
from twin.cli.main import main

pytestmark = [pytest.mark.live, pytest.mark.slow]

HOLD_S = 4.0
SCENARIO = small_live(
    "live-held-back",
    11,
    26,
    fidelity={"stored_bytes_per_camera_hour": {"max_pct": 5}},
    targets={"live_segments_unreadable": {"max": 0}},
)
# The plan says 0.5 Mbps; the cameras' encoders are capped at 0.125.
SCENARIO["live"]["clip"]["encoder_bitrate_mbps"] = 0.125


def _parts(run: Path) -> dict[str, dict[str, int]]:
    try:
        return dict(json.loads((run / "live" / "parts.json").read_text())["parts"])
    except (OSError, ValueError, KeyError):
        return {}


@pytest.fixture(scope="module")
def held_back(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int, str]:
    """(scenario file, run folder, exit code, the camera set held back)."""
    tmp = tmp_path_factory.mktemp("held")
    folder = tmp / "scenarios"
    folder.mkdir()
    path = folder / "held.yaml"
    path.write_text(yaml.safe_dump(SCENARIO, sort_keys=False))
    run = tmp / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "twin.cli", "live", str(path), "--out", str(run), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    held = ""
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            sets = sorted(p for p in _parts(run) if p.startswith("set:"))
            if sets:  # parts.json is written by the driver's sampler: recording has begun
                break
            time.sleep(0.2)
        assert sets, f"the run never wrote live/parts.json:\n{proc.communicate()[0][-3000:]}"
        time.sleep(6.0)  # into steady recording
        held = sets[0]
        pid = int(_parts(run)[held]["pid"])
        os.kill(pid, signal.SIGSTOP)  # the real camera-set process, frozen
        try:
            time.sleep(HOLD_S)
        finally:
            os.kill(pid, signal.SIGCONT)
        out, _ = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(out[-2000:])
    return path, run, proc.returncode, held.split(":", 1)[1]


def test_a_run_with_its_publishers_held_back_is_invalid_and_names_them(held_back) -> None:
    _, run, rc, held = held_back
    assert rc == 4, "an invalid run exits 4: its targets are not the deployment's verdict"
    res = json.loads((run / "results.json").read_text())
    v = res["validity"]
    assert v["valid"] is False and v["first_behind"] == "publishers"
    with (run / "cameras.csv").open() as f:
        cams_of_held = sorted(r["camera"] for r in csv.DictReader(f) if r["set"] == held)
    assert len(cams_of_held) == 3
    stall = next(c for c in v["checks"] if c["check"] == "publish_stall_max_s")
    assert not stall["passed"] and stall["value"] >= HOLD_S - 1.0
    assert sorted(stall["concerns"]) == cams_of_held  # the held cameras, and only they
    assert res["metrics"]["live_harness_publish_stall_s_max"] >= HOLD_S - 1.0
    # The held-back cameras are named in the report's first lines, targets not judged.
    report = (run / "report.md").read_text().splitlines()
    assert report[0].endswith("INVALID (targets not judged)")
    assert "INVALID run" in report[2] and cams_of_held[0] in report[2]
    assert "not judged" in (run / "report.html").read_text()


def test_fidelity_and_calibration_refuse_an_invalid_run_unless_told(
    held_back, tmp_path, capsys
) -> None:
    path, run, _, _ = held_back
    assert main(["calibrate", str(run), "--out", str(tmp_path / "cal.json")]) == 4
    err = capsys.readouterr().err
    assert "not valid" in err and "--accept-invalid" in err and str(run) in err
    assert not (tmp_path / "cal.json").exists()
    assert (
        main(["calibrate", str(run), "--out", str(tmp_path / "cal.json"), "--accept-invalid"]) == 0
    )
    assert (
        main(
            [
                "check",
                str(path.parent),
                "--out",
                str(tmp_path / "check"),
                "--live",
                str(run),
                "--quiet",
                "--jobs",
                "1",
            ]
        )
        == 4
    )
    # Judged anyway, the clip sent below the plan's bitrate is a fidelity failure naming the
    # metric (the simulation stores ~4x what the files hold).
    out = tmp_path / "check"
    assert (
        main(
            [
                "check",
                str(path.parent),
                "--out",
                str(out),
                "--live",
                str(run),
                "--quiet",
                "--jobs",
                "1",
                "--accept-invalid",
            ]
        )
        == 1
    )
    summary = (out / "summary.md").read_text()
    assert "live-held-back: fidelity stored_bytes_per_camera_hour: simulate" in summary
    junit = (out / "junit.xml").read_text()
    assert 'type="FidelityFailed"' in junit and "stored_bytes_per_camera_hour" in junit
    from twin.compare.fidelity import fidelity_table
    from twin.model.results import read_results
    from twin.scenario import load_scenario

    live = read_results(run / "results.json")
    sim = read_results(out / "held" / "results.json")
    row = next(
        r
        for r in fidelity_table(live, sim, load_scenario(path).fidelity).rows
        if r.metric == "stored_bytes_per_camera_hour"
    )
    assert row.passed is False and row.rel_pct is not None and row.rel_pct > 100
    sim = tmp_path / "sim"
    main(["simulate", str(path), "--out", str(sim), "--quiet"])
    assert main(["compare", str(run), str(sim), "--out", str(tmp_path / "cmp"), "--quiet"]) == 4
    assert not (tmp_path / "cmp").exists()  # refused before anything was written
