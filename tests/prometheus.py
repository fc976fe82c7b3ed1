"""A real Prometheus (Debian's `prometheus`, installed by `make tools`) watching a live run.

`PrometheusWatch` is a thread started beside a live run: once the run's live/parts.json names
its metrics URL, it starts its own Prometheus binary (its own configuration, data folder and
loopback port: never a system service) scraping that URL every second, and follows the run
through Prometheus' HTTP API: every camera recording with no fault open, then a recorder's
crash (the fault open, the recorder down), then every camera recording again. At that moment,
while the run still serves (a target gone down makes its series stale), it asks Prometheus
what it stored and keeps the answers for the test to judge. Prometheus is stopped by its PID.
The run itself goes on in the main thread (it installs signal handlers, which only the main
thread may), so one live run serves the live tests and this one.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from synthetic_streams.mediamtx_config import free_ports

ROOT = Path(__file__).resolve().parent.parent

#: The series followed once a second (sums over cameras, and the crashed recorder's state).
ROW = {
    "recording": "sum(cctv_twin_live_camera_recording)",
    "offered": "sum(cctv_twin_live_camera_bytes_offered_total)",
    "received": "sum(cctv_twin_live_camera_bytes_received_total)",
    "relayed": "sum(cctv_twin_live_camera_bytes_relayed_total)",
    "faults_open": "sum(cctv_twin_live_faults_open)",
    "down_up": 'cctv_twin_live_recorder_up{recorder="%s"}',
    "gaps": "sum(cctv_twin_live_camera_gaps_total)",
}


def query(api: str, expr: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{api}/api/v1/query", params={"query": expr}, timeout=5)
    r.raise_for_status()
    body = r.json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def value(api: str, expr: str) -> float | None:
    res = query(api, expr)
    return float(res[0]["value"][1]) if res else None


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query of the shipped Grafana dashboard, Grafana's
    variables filled in."""
    board = json.loads((ROOT / "docs" / "grafana" / "cctv-twin-live.json").read_text())
    grafana = {"$__rate_interval": "5s", "$mediamtx_job": "mediamtx", "$camera": ".*", "$job": ".*"}
    out = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for var, val in grafana.items():
                expr = expr.replace(var, val)
            out.append((panel["title"], expr))
    return out


class PrometheusWatch(threading.Thread):
    """Follows a live run (folder `out`, `cameras` cameras, recorder `crashed` killed and kept
    down) through a real Prometheus; `seen` holds what it asked once the run was seen through,
    `error` what went wrong (judged by the test, not raised in the thread)."""

    def __init__(self, out: Path, work: Path, cameras: int, crashed: str) -> None:
        super().__init__(name="prometheus-watch", daemon=True)
        self.out, self.work, self.cameras, self.crashed = out, work, cameras, crashed
        self.rows: list[dict[str, float]] = []
        self.seen: dict[str, Any] = {}
        self.url = ""
        self.error: BaseException | None = None
        self.stopped = threading.Event()  # set by the main thread once the run has ended
        self.prom_returncode: int | None = None
        self.endpoint_closed: bool | None = None  # judged by the main thread after the run

    def phases(self) -> tuple[int, int, int]:
        """Rows: first healthy (every camera recording, no fault), first with the crash open
        and the recorder down, first after it with every camera recording again (-1: not
        yet)."""
        rows = self.rows
        healthy = next(
            (
                i
                for i, r in enumerate(rows)
                if r["recording"] == self.cameras and r["faults_open"] == 0 and r["down_up"] == 1
            ),
            -1,
        )
        crashed = next(
            (
                i
                for i, r in enumerate(rows)
                if i > healthy >= 0 and r["faults_open"] == 1 and r["down_up"] == 0
            ),
            -1,
        )
        back = next(
            (i for i, r in enumerate(rows) if i > crashed >= 0 and r["recording"] == self.cameras),
            -1,
        )
        return healthy, crashed, back

    def run(self) -> None:
        try:
            self._watch()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            self.error = e

    def _metrics_url(self) -> str:
        parts = self.out / "live" / "parts.json"
        while not self.stopped.is_set():
            try:
                url = str(json.loads(parts.read_text()).get("metrics_url") or "")
            except (OSError, ValueError):
                url = ""
            if url:
                return url
            time.sleep(0.2)
        raise AssertionError("the run ended before live/parts.json named its metrics URL")

    def _watch(self) -> None:
        exe = shutil.which("prometheus")
        if exe is None:
            raise AssertionError("prometheus is missing: run `make tools` (apt package)")
        self.url = self._metrics_url()
        target = self.url.removeprefix("http://").split("/", 1)[0]
        (prom_port,) = free_ports(1)
        config = self.work / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "global": {
                        "scrape_interval": "1s",
                        "scrape_timeout": "1s",
                        "evaluation_interval": "1s",
                    },
                    "scrape_configs": [
                        {"job_name": "cctv-twin", "static_configs": [{"targets": [target]}]}
                    ],
                }
            )
        )
        with (self.work / "prometheus.log").open("wb") as log:
            prom = subprocess.Popen(
                [
                    exe,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.work / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            try:
                self._follow(f"http://127.0.0.1:{prom_port}")
            finally:
                if prom.poll() is None:
                    os.kill(prom.pid, signal.SIGTERM)
                    try:
                        prom.wait(15)
                    except subprocess.TimeoutExpired:
                        os.kill(prom.pid, signal.SIGKILL)
                        prom.wait(10)
                self.prom_returncode = prom.returncode

    def _follow(self, api: str) -> None:
        row_q = {k: (q % self.crashed if "%s" in q else q) for k, q in ROW.items()}
        while not self.stopped.is_set():
            time.sleep(1.0)
            try:
                up = value(api, 'up{job="cctv-twin"}')
            except httpx.HTTPError:
                continue  # Prometheus still starting
            if not up:
                continue
            row = {k: value(api, q) for k, q in row_q.items()}
            if row["recording"] is None or row["down_up"] is None:
                continue  # no sample of the driver yet
            self.rows.append({k: (v or 0.0) for k, v in row.items()})
            if self.phases()[2] >= 0 and self.rows[-1]["received"] > 0:
                if self.rows[-1]["relayed"] > 0:
                    break
        else:
            raise AssertionError(f"the run ended before Prometheus saw it through: {self.rows}")
        # Seen through, the run still serving: what Prometheus stored, asked now.
        s = self.seen
        s["gaps"] = query(api, "cctv_twin_live_camera_gaps_total > 0")
        s["unrecorded"] = query(api, "cctv_twin_live_camera_unrecorded_seconds_total > 0")
        s["recording_on"] = query(api, "cctv_twin_live_camera_recording == 1")
        s["crashes"] = value(api, 'cctv_twin_live_faults_total{kind="recorder_crash"}')
        s["offered"] = query(api, "cctv_twin_live_camera_bytes_offered_total")
        s["relayed"] = query(api, "cctv_twin_live_camera_bytes_relayed_total")
        s["cameras"] = value(api, "cctv_twin_live_cameras")
        s["cameras_with_state"] = value(api, "count(cctv_twin_live_camera_recording)")
        s["lag"] = value(api, "max_over_time(cctv_twin_live_driver_lag_seconds[1m])")
        s["cpu"] = value(api, "cctv_twin_live_machine_cpu_percent")
        s["mbps"] = value(
            api, "sum(rate(cctv_twin_live_camera_bytes_offered_total[10s])) * 8 / 1e6"
        )
        s["info"] = query(api, "cctv_twin_live_info")
        s["dashboard"] = [(t, e, query(api, e)) for t, e in dashboard_queries()]
        s["still_running"] = not self.stopped.is_set()
