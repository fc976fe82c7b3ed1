"""`twin calibrate` over several live runs: the failover curve, relay recovery, the recorder's
fragment and the relay's throughput, on synthetic run folders (nothing runs live).

Each folder is what `twin live --out` writes, as far as calibrate reads it: results.json
(engine live, the run's metrics and fault events, its live_deployment), segments.csv,
faults.csv and camera_faults.csv. The cameras a kill moved are recorded again at
detection + A + B k (k-th onto its recorder) plus seeded noise, at N = 12, 50 and 100
cameras moved per kill; the fit must find A and B back, its spread be the residuals', and a
run of an older twin (no camera_faults.csv) fall back to the mean as before.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tests.helpers import BASE
from twin.cli.calibrate import CAMERA_FAULTS, calibrate, calibration_json, fit_line
from twin.cli.main import main
from twin.model.results import (
    CAMERA_FAULT_COLUMNS,
    Results,
    RunInfo,
    ScenarioInfo,
    write_csv,
    write_results,
)

A, B, NOISE = 1.2, 0.05, 0.02  # s, s per camera, sd of the noise (s)
T0 = 1000.0  # the run clock at the run's start: events are on it, the CSVs from the start

FAULT_COLUMNS = ["id", "kind", "part", "scripted", "label", "pid", "happened_s", "detected_s"]
SEGMENT_COLUMNS = ["id", "camera", "recorder", "start_s", "end_s", "size_bytes", "packets", "key"]


def _deployment(fps: float = 15.0) -> dict[str, Any]:
    return {
        "t_s": 0.0,
        "kind": "live_deployment",
        "profile": "hd-h264-live",
        "nominal_mbps": 1.0,
        "encoder_bitrate_mbps": 1.0,
        "width": 1280,
        "height": 720,
        "fps": fps,
        "keyframe_s": 1.0,
        "segment_s": 6.0,
        "recorders": 3,
    }


def write_run(
    folder: Path,
    *,
    cameras: int = 35,
    metrics: dict[str, float] | None = None,
    events: list[dict[str, Any]] | None = None,
    camera_faults: list[list[Any]] | None = None,
    faults: list[list[Any]] | None = None,
    segments: list[list[Any]] | None = None,
    fps: float = 15.0,
) -> Path:
    """A live run folder as calibrate reads it; camera_faults None: an older run without it."""
    folder.mkdir(parents=True)
    m = {
        "cameras": float(cameras),
        "recorders": 3.0,
        "footage_bytes_written": 125_000.0 * cameras * 100,  # exactly nominal: 1 Mbps
        "footage_camera_s_recorded": 100.0 * cameras,
        **(metrics or {}),
    }
    res = Results(
        engine="live",
        scenario=ScenarioInfo(name="trial", source="scenarios/trial.yaml", sha256="0" * 64, seed=1),
        horizon_s=100.0,
        metrics=m,
        targets=[],
        passed=True,
        events=[*(events or []), _deployment(fps)],
        run=RunInfo(
            started_at="2026-12-01T00:00:00+00:00",
            wall_s=100.0,
            twin_version="0",
            python="3",
            host_cpus=2,
        ),
    )
    write_results(res, folder)
    write_csv(folder / "segments.csv", SEGMENT_COLUMNS, segments or [])
    write_csv(folder / "faults.csv", FAULT_COLUMNS, faults or [])
    if camera_faults is not None:
        write_csv(folder / CAMERA_FAULTS, CAMERA_FAULT_COLUMNS, camera_faults)
    return folder


def kill_rows(
    fault_id: int, n_moved: int, onto: list[str], rng: np.random.Generator, b: float = B
) -> list[list[Any]]:
    """camera_faults.csv rows of one recorder kill at 20 s, detected at 22 s, that moved
    `n_moved` cameras round-robin onto the recorders `onto`: the k-th onto one recorder is
    recorded again at 22 + A + b k + noise."""
    fault_s, detected_s = 20.0, 22.0
    rows = []
    for i in range(n_moved):
        to = onto[i % len(onto)]
        k = i // len(onto) + 1
        first = detected_s + A + b * k + float(rng.normal(0, NOISE))
        rows.append(
            [
                fault_id,
                "recorder_crash",
                f"cam{fault_id:02d}{i:04d}",
                "r01",
                to,
                fault_s,
                detected_s,
                "",
                round(detected_s + 0.9, 3),
                round(first - 0.5, 3),
                round(first, 3),
                round(fault_s - 0.1, 3),
                round(first - fault_s + 0.1, 3),
                "true",
            ]
        )
    return rows


def crash_event(detect_s: float, again_s: float, fid: int = 1) -> dict[str, Any]:
    """A scripted recorder kill in results.json's events (times on the run clock)."""
    return {
        "t_s": T0 + 20.0,
        "kind": "fault",
        "fault_kind": "recorder_crash",
        "id": fid,
        "part": "recorder:r01",
        "scripted": True,
        "happened_s": T0 + 20.0,
        "detected_s": T0 + 20.0 + detect_s,
        "detect_s": detect_s,
        "recorded_again_s": T0 + 20.0 + detect_s + again_s,
    }


@pytest.fixture
def three_runs(tmp_path: Path) -> list[Path]:
    """Runs moving 12, 50 (onto two recorders) and 100 cameras per kill."""
    rng = np.random.default_rng(20261202)
    out = []
    for i, (n, onto) in enumerate(((12, ["r02"]), (50, ["r02", "r03"]), (100, ["r02"]))):
        out.append(
            write_run(
                tmp_path / f"n{n}",
                cameras=n + 10,
                events=[crash_event(2.0 + 0.1 * i, A + B * n)],
                camera_faults=kill_rows(1, n, onto, rng),
            )
        )
    return out


def _truth(runs: list[Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(k, y, weight) of every moved camera, computed here from the files, independently: each
    run's one kill weighs the same, its cameras 1/n each."""
    ks, ys, ws = [], [], []
    for run in runs:
        rows = (run / CAMERA_FAULTS).read_text().splitlines()[1:]
        by: dict[str, list[float]] = {}
        for line in rows:
            c = line.split(",")
            by.setdefault(c[4], []).append(float(c[10]) - float(c[6]))
        for firsts in by.values():
            for k, y in enumerate(sorted(firsts), 1):
                ks.append(k)
                ys.append(y)
                ws.append(1.0 / len(rows))
    return np.array(ks, dtype=float), np.array(ys), np.array(ws)


def test_the_fit_over_three_n_finds_the_reassignment_and_the_cost_per_camera(
    three_runs: list[Path],
) -> None:
    cal = calibrate(three_runs)
    a, b = cal.failover_reassign_s, cal.failover_reconnect_s_per_camera
    assert a is not None and b is not None
    assert a.used_by_simulator and b.used_by_simulator
    assert a.source == b.source == "measured"
    assert a.value == pytest.approx(A, abs=0.02)
    assert b.value == pytest.approx(B, abs=0.001)
    assert b.unit == "s per camera"
    # The note says the runs' N and the fit's R^2.
    assert "(cameras moved per kill: n12: 12; n50: 50; n100: 100)" in a.note
    assert "R^2 0.99" in a.note and "162 cameras moved by 3 recorder kill(s)" in b.note


def test_the_fit_s_spread_is_its_residuals(three_runs: list[Path]) -> None:
    cal = calibrate(three_runs)
    k, y, w = _truth(three_runs)
    slope, icept = np.polyfit(k, y, 1, w=np.sqrt(w))
    res = y - (icept + slope * k)
    for v in (cal.failover_reassign_s, cal.failover_reconnect_s_per_camera):
        assert v is not None and v.spread is not None
        assert v.spread.n == 162 == k.size
        assert v.spread.min == pytest.approx(res.min(), abs=1e-6)
        assert v.spread.max == pytest.approx(res.max(), abs=1e-6)
        assert v.spread.sd == pytest.approx(math.sqrt(res @ res / (k.size - 2)), abs=1e-6)
        assert v.spread.sd == pytest.approx(NOISE, rel=0.25)  # the noise put in
        assert "residuals" in v.note
    assert cal.failover_reassign_s.value == pytest.approx(icept, abs=1e-6)


def test_a_camera_recorded_again_by_its_own_recorder_is_not_on_the_curve(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rows = kill_rows(1, 12, ["r02"], rng) + kill_rows(2, 30, ["r03"], rng)
    stayed = list(rows[0])
    stayed[2], stayed[4], stayed[10] = "cam-stayed", "r01", 99.0  # back after the restart
    run = write_run(tmp_path / "run", events=[crash_event(2.0, 1.0)], camera_faults=[*rows, stayed])
    cal = calibrate([run])
    b = cal.failover_reconnect_s_per_camera
    assert b is not None and b.spread is not None and b.spread.n == 42
    assert "1 camera(s) recorded again by their own recorder's restart are left out" in b.note
    assert "run: 12, 30" in b.note  # two kills of one run


def test_a_negative_slope_is_clipped_at_zero_and_said(tmp_path: Path) -> None:
    """Within one kill y rises with k (k is the rank by time); across kills it need not: a kill
    that moved 3 cameras slowly and one that moved 30 quickly slope the line down."""
    rows = []
    for fid, n, base in ((1, 3, 5.0), (2, 30, 1.0)):
        for k in range(1, n + 1):
            first = 22.0 + base + 0.001 * k
            rows.append(
                [fid, "recorder_crash", f"c{fid}-{k:03d}", "r01", "r02", 20.0, 22.0, "", 22.9,
                 first - 0.5, first, 19.9, first - 19.9, "true"]
            )  # fmt: skip
    run = write_run(tmp_path / "run", events=[crash_event(2.0, 1.0)], camera_faults=rows)
    cal = calibrate([run])
    a, b = cal.failover_reassign_s, cal.failover_reconnect_s_per_camera
    assert a is not None and b is not None
    assert b.value == 0.0 and "clipped at 0" in b.note and "clipped at 0" in a.note
    _, y, _ = _truth([run])
    assert a.value == pytest.approx(float(y.mean()), abs=1e-6)
    assert a.spread is not None and a.spread.sd == pytest.approx(float(y.std(ddof=1)), abs=1e-6)


def test_an_older_run_without_camera_faults_falls_back_to_the_mean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = write_run(
        tmp_path / "old",
        events=[crash_event(2.4, 1.1), crash_event(2.6, 1.3, fid=2)],
    )
    cal = calibrate([old])
    err = capsys.readouterr().err
    assert CAMERA_FAULTS in err and str(old) in err
    assert "failover_reconnect_s_per_camera is left out" in err
    assert cal.failover_reconnect_s_per_camera is None
    a = cal.failover_reassign_s
    assert a is not None and a.value == pytest.approx(1.2) and "mean of 2" in a.note
    assert a.spread is not None and a.spread.n == 2 and a.spread.min == pytest.approx(1.1)
    d = cal.failover_detect_s
    assert d is not None and d.value == pytest.approx(2.5) and d.spread is not None
    assert d.spread.sd == pytest.approx(math.sqrt(0.02), abs=1e-6)


def test_an_older_run_beside_new_ones_counts_for_detection_only(
    three_runs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = write_run(tmp_path / "old", events=[crash_event(9.0, 50.0)])
    cal = calibrate([*three_runs, old])
    assert str(old) in capsys.readouterr().err
    a = cal.failover_reassign_s
    assert a is not None and a.value == pytest.approx(A, abs=0.02)  # not the old run's 50 s
    d = cal.failover_detect_s
    assert d is not None and d.spread is not None and d.spread.n == 4 and d.spread.max == 9.0


def test_one_older_run_writes_the_file_it_always_did(tmp_path: Path) -> None:
    """A single run of an older twin: no spread, no new value, the notes as before."""
    old = write_run(
        tmp_path / "old",
        events=[crash_event(2.44, 1.126356)],
        segments=[_seg(1, "c1", "r02", 0.0, 6.0), _seg(2, "c1", "r02", 6.0, 12.0)],
    )
    data = json.loads(calibration_json(calibrate([old])))
    assert "spread" not in json.dumps(data)
    assert set(data) == {
        "bytes_per_nominal_mbps",
        "failover_detect_s",
        "failover_reassign_s",
        "measured_on",
        "recorder_fragment_s",  # the muxer's setting, assumed: segments.csv says mp4
        "schema_name",
        "segment_s_as_cut",
        "version",
    }
    assert data["failover_reassign_s"]["note"] == (
        "detection to the cameras recorded again elsewhere, mean of 1 (max 1.126); "
        "the simulator's reassign_s"
    )


def relay_event(fid: int, happened: float, restored: float, hold: float | None) -> dict[str, Any]:
    """A scripted relay kill, held down `hold` s on purpose (None: restarted at once)."""
    ended = None if hold is None else T0 + happened + hold
    restarted = T0 + happened + (0.5 if hold is None else hold)
    return {
        "t_s": T0 + happened,
        "kind": "fault",
        "fault_kind": "relay_down",
        "id": fid,
        "part": "relay:mediamtx",
        "scripted": True,
        "happened_s": T0 + happened,
        "ended_s": ended,
        "restarted_s": restarted,
        "restored_s": T0 + restored,
        "restore_s": restored - happened,
    }


def test_relay_recovery_is_kill_to_serving_again_less_a_scripted_hold(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", events=[relay_event(1, 30.0, 33.0, None)])
    b = write_run(tmp_path / "b", events=[relay_event(1, 30.0, 42.5, 10.0)])
    cal = calibrate([a, b])
    v = cal.relay_recovery_s
    assert v is not None and v.used_by_simulator and v.unit == "s"
    assert v.value == pytest.approx((3.0 + 2.5) / 2)
    assert v.spread is not None and (v.spread.n, v.spread.min, v.spread.max) == (2, 2.5, 3.0)
    assert "1 of them scripted with a duration_s" in v.note
    assert "with it: mean 7.750 s" in v.note  # (3 + 12.5) / 2: the hold included


def test_relay_cameras_back_after_a_restart_are_a_curve_of_their_own(tmp_path: Path) -> None:
    rows = []
    for k in range(1, 21):
        first = 33.0 + 0.4 + 0.02 * k
        rows.append(
            ["1", "relay_down", f"c{k:03d}", "r01", "r01", 30.0, 30.5, 33.0, "", "", first, 30.0,
             first - 30.0, "true"]
        )  # fmt: skip
    run = write_run(tmp_path / "run", events=[relay_event(1, 30.0, 33.0, None)], camera_faults=rows)
    cal = calibrate([run])
    v = cal.relay_recovery_s
    assert v is not None and "0.400 + 0.0200 k s" in v.note and "20 cameras" in v.note
    assert cal.failover_reconnect_s_per_camera is None  # not pooled into the failover curve
    # With the cameras' rows, the relay's recovery runs from the kill to its first camera
    # recorded again (33.42 - 30), what the simulator adds before the cameras reconnect.
    assert v.value == pytest.approx(3.42) and "to its first camera recorded again" in v.note


def test_power_back_to_the_first_camera_recorded_again_is_the_power_reconnect(
    tmp_path: Path,
) -> None:
    rows = []
    # Two power returns: sets 3 and 4 together at 80 s (one storm: its first camera is back
    # 1.07 s after), set 5 alone at 120 s (1.2 s after).
    for fid, on, back in ((3, 80.0, 1.07), (4, 80.0, 1.15), (5, 120.0, 1.2)):
        for k in range(3):
            first = on + back + 0.01 * k
            rows.append(
                [str(fid), "district_power", f"s{fid}-c{k}", "r02", "r02", on - 5, "", on, "",
                 on + 0.6, first, on - 4.9, first - on + 4.9, "True"]
            )  # fmt: skip
    cal = calibrate([write_run(tmp_path / "run", camera_faults=rows)])
    v = cal.power_reconnect_s
    assert v is not None and v.used_by_simulator and v.value == pytest.approx((1.07 + 1.2) / 2)
    assert v.spread is not None and (v.spread.n, v.spread.min, v.spread.max) == (2, 1.07, 1.2)


def _kill(rec: str, at: float) -> list[Any]:
    return [1, "recorder_crash", f"recorder:{rec}", True, "", 4242, at, at + 2.0]


def _seg(i: int, cam: str, rec: str, start: float, end: float, ext: str = "mp4") -> list[Any]:
    return [i, cam, rec, start, end, 1000, 90, f"{cam}/{cam}-{round(start * 1000):010d}.{ext}"]


def test_the_fragment_a_crash_cut_off_is_measured_from_the_killed_recorder_s_segments(
    tmp_path: Path,
) -> None:
    segs = [
        _seg(1, "c1", "r01", 12.0, 18.0),  # finished before the kill: not the crash's
        _seg(2, "c1", "r01", 18.0, 19.95),  # the partial: 0.05 s short of the kill at 20
        _seg(3, "c2", "r01", 18.0, 19.82),  # 0.18 s short
        _seg(4, "c3", "r01", 18.0, 19.88),
        _seg(5, "c4", "r01", 10.0, 16.0),  # its partial was an empty stub: 4 s back, left out
        _seg(6, "c5", "r02", 18.0, 19.5),  # another recorder's
        _seg(7, "c1", "r02", 23.0, 29.0),  # after the move
    ]
    run = write_run(tmp_path / "run", faults=[_kill("r01", 20.0)], segments=segs)
    v = calibrate([run]).recorder_fragment_s
    assert v is not None and v.source == "measured" and v.used_by_simulator
    assert v.value == pytest.approx(0.18)
    assert v.spread is not None and v.spread.n == 3 and v.spread.min == pytest.approx(0.05)
    assert "the muxer's setting is 0.200 s" in v.note


@pytest.mark.parametrize(("ext", "expected"), [("mp4", 0.2), ("ts", 1 / 15)])
def test_without_a_kill_the_fragment_is_the_muxer_s_setting_assumed(
    tmp_path: Path, ext: str, expected: float
) -> None:
    run = write_run(tmp_path / "run", segments=[_seg(1, "c1", "r01", 0.0, 6.0, ext)])
    v = calibrate([run]).recorder_fragment_s
    assert v is not None and v.source == "assumed" and v.used_by_simulator
    assert v.value == pytest.approx(expected, abs=1e-6)
    assert "no scripted recorder kill" in v.note


def test_the_relay_s_throughput_is_averaged_over_the_runs(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", metrics={"live_cpu_pct_relay_per_camera": 0.2})
    b = write_run(
        tmp_path / "b",
        metrics={
            "live_cpu_pct_relay_per_camera": 0.3,
            "footage_bytes_written": 250_000.0 * 35 * 100,  # 2 Mbps a camera
        },
    )
    cal = calibrate([a, b])
    s, per_core, mbps = (
        cal.relay_cpu_pct_per_stream,
        cal.relay_streams_per_core,
        cal.relay_mbps_per_core,
    )
    assert s is not None and per_core is not None and mbps is not None
    assert s.value == pytest.approx(0.25) and s.unit == "% of a core"
    assert s.spread is not None and (s.spread.n, s.spread.min, s.spread.max) == (2, 0.2, 0.3)
    assert per_core.value == pytest.approx(400.0)
    # % per Mbps: 0.2 / 1 and 0.3 / 2, mean 0.175: a core carries 100 / 0.175 Mbps
    assert mbps.value == pytest.approx(100 / 0.175, abs=1e-4)
    assert not (s.used_by_simulator or per_core.used_by_simulator or mbps.used_by_simulator)


def test_fit_line_needs_two_ranks_and_a_third_point() -> None:
    assert fit_line([1, 1, 1], [1.0, 2.0, 3.0]) is None
    assert fit_line([1, 2], [1.0, 2.0]) is None
    f = fit_line([1, 2, 3, 4], [1.1, 1.2, 1.3, 1.4])
    assert f is not None and f.a == pytest.approx(1.0) and f.b == pytest.approx(0.1)
    assert f.r2 == pytest.approx(1.0) and f.sd == pytest.approx(0.0, abs=1e-9)


def test_the_command_shows_the_fit_with_its_spread(
    three_runs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cal.json"
    assert main(["calibrate", *map(str, three_runs), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "failover curve" in err and "R^2" in err and "162" in err
    data = json.loads(out.read_text())
    assert data["failover_reconnect_s_per_camera"]["spread"]["n"] == 162
    assert out.read_text() == calibration_json(calibrate(three_runs))  # deterministic


# -- the compute a city needs, from its calibration (twin.model.sizing) --------------------------
def _value(v: float, unit: str) -> dict[str, Any]:
    return {"value": v, "unit": unit, "source": "measured", "command": "by hand"}


def _tiny_city(tmp_path: Path, calibrated: bool) -> Path:
    """120 cameras (60 sets of 2) at exactly 4 Mbps on 2 recorders of 200 streams and
    1,000 Mbps, a day simulated; with a calibration measuring 0.5 % of a core a recorder
    stream, 0.1 % per Mbps, 0.25 % a relayed stream."""
    data = json.loads(json.dumps(BASE))
    data["city"]["cameras_per_set"] = {2: 1.0}
    data["camera_profiles"][0]["bitrate_spread_pct"] = 0
    data["simulation"]["days"] = 1
    data["recording"]["retention_days"] = 1
    if calibrated:
        cal = {
            "schema_name": "cctv-twin/calibration",
            "version": 1,
            "recorder_cpu_pct_per_stream": _value(0.5, "% of a core"),
            "recorder_cpu_pct_per_mbps": _value(0.1, "% of a core per Mbps"),
            "relay_cpu_pct_per_stream": _value(0.25, "% of a core"),
        }
        (tmp_path / "cal.json").write_text(json.dumps(cal))
        data["calibration"] = "cal.json"
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_the_city_s_cores_and_recorder_processes_worked_by_hand(tmp_path: Path) -> None:
    out = tmp_path / "out"
    main(["simulate", str(_tiny_city(tmp_path, True)), "--out", str(out), "--quiet"])
    res = json.loads((out / "results.json").read_text())
    s = res["sizing"]
    assert res["metrics"]["cameras"] == 120 and res["metrics"]["ingest_total_mbps"] == 480
    assert s["calibration"] == "cal.json" and "one machine" in s["caveat"]
    assert s["recorder_processes"] == 2
    assert s["recording_cores_by_streams"] == pytest.approx(0.6)  # 120 x 0.5 / 100
    assert s["recording_cores_by_mbps"] == pytest.approx(0.48)  # 480 x 0.1 / 100
    assert s["recording_cores"] == pytest.approx(0.6)  # the larger
    assert s["relay_cores"] == pytest.approx(0.3)  # 120 x 0.25 / 100
    assert s["cores"] == pytest.approx(0.9)
    assert s["recorder_streams_per_core"] == pytest.approx(200.0)  # 100 / 0.5
    (pool,) = s["pools"]
    busiest = max(r["streams_max"] for r in res["per_recorder"])
    assert (pool["pool"], pool["recorder_processes"], pool["cameras"]) == ("central", 2, 120)
    assert (pool["max_streams"], pool["ingest_mbps"], pool["streams_busiest"]) == (
        200,
        1000,
        busiest,
    )
    # each recorder: the larger of streams x 0.5 and Mbps (4 a stream) x 0.1, the streams'
    assert pool["cores_per_process_busiest"] == pytest.approx(busiest * 0.5 / 100)
    assert pool["cores"] == pytest.approx(0.6)
    # filled to its 200 streams: 1.0 core; its 1,000 Mbps are not reached (200 x 4 = 800
    # Mbps, 0.8 core by Mbps)
    assert pool["cores_per_process_at_limit"] == pytest.approx(1.0)
    # Beside the metrics, not among them; the report and the page say it, as extrapolated.
    assert not any("core" in k for k in res["metrics"])
    md = (out / "report.md").read_text()
    assert "## Compute the city needs (from the calibration)" in md
    assert "| relay cores | 0.300 cores | 120 cameras x 0.25 % of a core each |" in md
    html = (out / "report.html").read_text()
    assert 'id="sizing-table"' in html and "one machine" in html


def test_a_city_without_a_calibration_has_no_sizing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    main(["simulate", str(_tiny_city(tmp_path, False)), "--out", str(out), "--quiet"])
    assert "sizing" not in json.loads((out / "results.json").read_text())
    assert "Compute the city needs" not in (out / "report.md").read_text()


def test_onto_keeps_what_the_runs_do_not_measure_and_replaces_what_they_do(
    three_runs: list[Path],
) -> None:
    """--onto: a failover calibration built on the trial's keeps the trial's storage (the runs
    only assume '*' for other profiles) and takes the runs' measured failover values."""
    from twin.cli.calibrate import onto
    from twin.scenario.calibration import Calibration

    base = Calibration.model_validate_json(
        (Path(__file__).parent.parent / "scenarios/calibration/trial-15.json").read_text()
    )
    cal = calibrate(three_runs)
    merged = onto(base, cal)
    assert cal.bytes_per_nominal_mbps["*"].source == "assumed"
    assert merged.bytes_per_nominal_mbps["*"] == base.bytes_per_nominal_mbps["*"]
    assert (
        merged.bytes_per_nominal_mbps["hd-h264-live"] == cal.bytes_per_nominal_mbps["hd-h264-live"]
    )  # measured by the runs (their profile is the trial's): theirs
    assert merged.analyser_cpu_ms_per_frame == base.analyser_cpu_ms_per_frame  # not measured
    assert merged.failover_reconnect_s_per_camera == cal.failover_reconnect_s_per_camera
    assert merged.failover_reassign_s == cal.failover_reassign_s
    assert merged.measured_on == [*base.measured_on, *cal.measured_on]


def test_a_negative_intercept_is_clipped_at_zero_and_said(tmp_path: Path) -> None:
    """One small kill whose cameras came back in keyframe waves can fit a line starting below
    0; a camera cannot be back before the plan, so the line goes through the origin."""
    rows = []
    for k, y in enumerate([0.2, 0.2, 0.2, 1.2, 1.2, 1.2], 1):  # two waves a keyframe apart
        rows.append(
            ["1", "recorder_crash", f"c{k:03d}", "r01", "r02", 20.0, 22.0, "", 22.0, 22.1,
             22.0 + y, 20.0, 2.0 + y, "true"]
        )  # fmt: skip
    run = write_run(tmp_path / "run", events=[crash_event(2.0, 1.0)], camera_faults=rows)
    cal = calibrate([run])
    a, b = cal.failover_reassign_s, cal.failover_reconnect_s_per_camera
    assert a is not None and b is not None and a.value == 0.0
    ks, ys = range(1, 7), [0.2, 0.2, 0.2, 1.2, 1.2, 1.2]
    assert b.value == pytest.approx(sum(k * y for k, y in zip(ks, ys)) / sum(k * k for k in ks))
    assert "intercept was" in a.note and "clipped at 0" in a.note
