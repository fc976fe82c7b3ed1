"""A real Prometheus (Debian's `prometheus`, installed by `make tools`) scrapes a live run.

`twin live` runs in a subprocess with `--metrics-port`; this test starts its own Prometheus
binary (its own configuration, data folder and loopback port: never a system service),
scraping the run every second, and asks Prometheus' HTTP API what it stored: every camera
recording while the run is healthy, then a recorder's crash as it happens (a fault open, the
recorder down, its cameras' gaps) and every camera recording again once they failed over;
bytes offered, relayed and received growing, the driver's lag and the machine's CPU sane.
Then Prometheus is stopped by its PID, and the run, once ended, has closed its endpoint.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.helpers import small_live
from twin.scenario import parse_scenario

pytestmark = [pytest.mark.live, pytest.mark.slow]

CAMERAS = 6
CRASH_AT_S = 15
# p-r01 crashes and stays down: its cameras fail over to p-r02 (6 streams fit).
SCENARIO: dict[str, Any] = small_live(
    "live-prometheus",
    7,
    28,
    faults=[{"type": "recorder_crash", "recorder": "p-r01", "at_s": CRASH_AT_S}],
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes], sig: int, wait_s: float) -> None:
    """Signal a process this test started (by its PID), kill it if it does not end."""
    if proc.poll() is not None:
        return
    os.kill(proc.pid, sig)
    try:
        proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _query(api: str, expr: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{api}/api/v1/query", params={"query": expr}, timeout=5)
    r.raise_for_status()
    body = r.json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _value(api: str, expr: str) -> float | None:
    res = _query(api, expr)
    return float(res[0]["value"][1]) if res else None


def test_prometheus_scrapes_a_live_run(tmp_path: Path) -> None:
    prom_exe = shutil.which("prometheus")
    if prom_exe is None:
        pytest.fail("prometheus is missing: run `make tools` (apt package `prometheus`)")
    twin_exe = Path(sys.executable).with_name("twin")
    assert twin_exe.exists(), twin_exe
    parse_scenario(SCENARIO, "<test>")
    scenario = tmp_path / "live-prometheus.yaml"
    scenario.write_text(yaml.safe_dump(SCENARIO))
    out = tmp_path / "out"
    log = (tmp_path / "twin.log").open("wb")
    t_start = time.monotonic()
    # Port 0: the run takes a free port itself and says which (a port chosen here could be
    # taken by one of Ray's processes before the run binds it).
    twin = subprocess.Popen(
        [str(twin_exe), "live", str(scenario), "--out", str(out), "--metrics-port", "0"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    prom: subprocess.Popen[bytes] | None = None
    prom_log = (tmp_path / "prometheus.log").open("wb")
    rows: list[dict[str, float]] = []

    def twin_log(tail: int = 3000) -> str:
        return (tmp_path / "twin.log").read_text(errors="replace")[-tail:]

    def phases() -> tuple[int, int, int]:
        """Rows: first healthy (every camera recording, no fault), first with the recorder
        crash open and p-r01 down, first after it with every camera recording again (-1:
        not yet)."""
        healthy = next(
            (
                i
                for i, r in enumerate(rows)
                if r["recording"] == CAMERAS and r["faults_open"] == 0 and r["r01_up"] == 1
            ),
            -1,
        )
        crashed = next(
            (
                i
                for i, r in enumerate(rows)
                if i > healthy >= 0 and r["faults_open"] == 1 and r["r01_up"] == 0
            ),
            -1,
        )
        back = next(
            (i for i, r in enumerate(rows) if i > crashed >= 0 and r["recording"] == CAMERAS), -1
        )
        return healthy, crashed, back

    try:
        found = None
        deadline = time.monotonic() + 60
        while found is None and time.monotonic() < deadline and twin.poll() is None:
            time.sleep(0.2)
            found = re.search(r"metrics: (http://127\.0\.0\.1:(\d+)/metrics)", twin_log(10**6))
        assert found, f"the run did not say where it serves its metrics\n{twin_log()}"
        url, metrics_port = found.group(1), int(found.group(2))
        prom_port = _free_port()
        (tmp_path / "prometheus.yml").write_text(
            yaml.safe_dump(
                {
                    "global": {
                        "scrape_interval": "1s",
                        "scrape_timeout": "1s",
                        "evaluation_interval": "1s",
                    },
                    "scrape_configs": [
                        {
                            "job_name": "cctv-twin",
                            "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}],
                        }
                    ],
                }
            )
        )
        prom = subprocess.Popen(
            [
                prom_exe,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=prom_log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        api = f"http://127.0.0.1:{prom_port}"
        deadline = time.monotonic() + 70
        while time.monotonic() < deadline:
            if twin.poll() is not None:
                break
            time.sleep(1.0)
            try:
                up = _value(api, 'up{job="cctv-twin"}')
            except httpx.HTTPError:
                continue  # Prometheus still starting
            if not up:
                continue
            row = {
                k: _value(api, q)
                for k, q in {
                    "recording": "sum(cctv_twin_live_camera_recording)",
                    "offered": "sum(cctv_twin_live_camera_bytes_offered_total)",
                    "received": "sum(cctv_twin_live_camera_bytes_received_total)",
                    "relayed": "sum(cctv_twin_live_camera_bytes_relayed_total)",
                    "faults_open": "sum(cctv_twin_live_faults_open)",
                    "r01_up": 'cctv_twin_live_recorder_up{recorder="p-r01"}',
                    "gaps": "sum(cctv_twin_live_camera_gaps_total)",
                }.items()
            }
            if row["recording"] is None or row["r01_up"] is None:
                continue  # no sample of the driver yet
            rows.append({k: (v or 0.0) for k, v in row.items()})
            if phases()[2] >= 0 and rows[-1]["received"] > 0 and rows[-1]["relayed"] > 0:
                break
        else:
            pytest.fail(f"Prometheus did not see the run through within 70 s: {rows}\n{twin_log()}")
        healthy, crashed, back = phases()
        assert back >= 0, f"the run ended before Prometheus saw it through: {rows}\n{twin_log()}"
        assert twin.poll() is None, twin_log()

        # The run says where it serves in live/parts.json too.
        assert json.loads((out / "live" / "parts.json").read_text())["metrics_url"] == url

        # While healthy: every camera recording, both recorders, bytes offered growing.
        assert rows[healthy]["gaps"] == 0
        offered = [r["offered"] for r in rows if r["offered"] > 0]  # 0 until the sets answer
        assert offered == sorted(offered) and offered[-1] > offered[0], rows
        # The crash shows: a fault open, p-r01 down, its cameras stopped (each once) and then
        # recorded by p-r02, so every camera records again while the fault stays open.
        assert rows[back]["faults_open"] == 1 and rows[back]["r01_up"] == 0
        gaps = _query(api, "cctv_twin_live_camera_gaps_total > 0")
        assert 1 <= len(gaps) <= CAMERAS // 2 and all(float(g["value"][1]) == 1 for g in gaps)
        unrecorded = {
            s["metric"]["camera"]
            for s in _query(api, "cctv_twin_live_camera_unrecorded_seconds_total > 0")
        }
        assert {g["metric"]["camera"] for g in gaps} <= unrecorded
        assert {
            s["metric"]["recorder"] for s in _query(api, "cctv_twin_live_camera_recording == 1")
        } == {"p-r02"}
        assert _value(api, 'cctv_twin_live_faults_total{kind="recorder_crash"}') == 1

        cams = _query(api, "cctv_twin_live_camera_bytes_offered_total")
        assert len({s["metric"]["camera"] for s in cams}) == CAMERAS
        assert _value(api, "cctv_twin_live_cameras") == CAMERAS
        assert _value(api, "count(cctv_twin_live_camera_recording)") == CAMERAS
        lag = _value(api, "max_over_time(cctv_twin_live_driver_lag_seconds[1m])")
        assert lag is not None and 0 <= lag < 5, lag
        cpu = _value(api, "cctv_twin_live_machine_cpu_percent")
        assert cpu is not None and 0 <= cpu <= 100, cpu
        # Offered at ~0.5 Mbps a camera (the clip's own rate, within a wide margin: the
        # encoder does not hit its target exactly on a 10 s clip).
        mbps = _value(api, "sum(rate(cctv_twin_live_camera_bytes_offered_total[10s])) * 8 / 1e6")
        assert mbps is not None and 0.2 * CAMERAS * 0.5 < mbps < 3 * CAMERAS * 0.5, mbps
        assert _query(api, 'cctv_twin_live_info{scenario="live-prometheus"}')
        # Every query of the Grafana dashboard is valid PromQL to this Prometheus, and each
        # one on the twin's own metrics finds series (those on MediaMTX's need its job).
        board = json.loads(
            (
                Path(__file__).resolve().parent.parent / "docs" / "grafana" / "cctv-twin-live.json"
            ).read_text()
        )
        grafana = {
            "$__rate_interval": "5s",
            "$mediamtx_job": "mediamtx",
            "$camera": ".*",
            "$job": ".*",
        }
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"]
                for var, value in grafana.items():
                    expr = expr.replace(var, value)
                got = _query(api, expr)
                assert got or "mediamtx" in expr, (panel["title"], expr)
        # What MediaMTX counted on each path (read by its relay actor, up to two samples
        # behind; RTP headers included) is of the order of what the cameras offered.
        relayed = {
            s["metric"]["camera"]: float(s["value"][1])
            for s in _query(api, "cctv_twin_live_camera_bytes_relayed_total")
        }
        sent = {s["metric"]["camera"]: float(s["value"][1]) for s in cams}
        assert set(relayed) == set(sent)
        assert sum(relayed.values()) > 0.5 * sum(sent.values()), (relayed, sent)
    except BaseException:
        _stop(twin, signal.SIGTERM, 60)  # a failed test leaves no run behind
        raise
    finally:
        if prom is not None:
            _stop(prom, signal.SIGTERM, 15)
        prom_log.close()
    assert prom is not None and prom.returncode is not None

    # The run ends on its own; its endpoint goes with it.
    try:
        rc = twin.wait(max(5.0, 110 - (time.monotonic() - t_start)))
    except subprocess.TimeoutExpired:
        _stop(twin, signal.SIGTERM, 60)
        pytest.fail(f"the live run did not end in time\n{twin_log()}")
    finally:
        log.close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2)
    # 0 or 1: its targets passed or not; 4: on a machine too busy for the run its harness
    # fell behind (results.json says so). Either way it ran to its end and wrote results.
    assert rc in (0, 1, 4), twin_log()
    assert "metrics_served" in (out / "results.json").read_text()
