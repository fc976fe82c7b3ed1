"""docs/grafana/: the Grafana dashboard of a live run and the Prometheus configuration beside it.

The dashboard must import into Grafana 10/11 (a Prometheus data-source variable that every
panel and query variable uses, unique panel ids, a 24-column grid) and every query must name
only metrics that exist: the twin's own, as twin.live.health really serves them (rendered
from a snapshot with every field filled), or MediaMTX's, as a real MediaMTX serves them (the
live test below reads a running server's /metrics).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from twin.live.health import METRICS, PREFIX, CameraHealth, HealthServer, HealthSnapshot

DOCS = Path(__file__).resolve().parent.parent / "docs" / "grafana"
DASHBOARD = DOCS / "cctv-twin-live.json"

#: The MediaMTX metrics the dashboard may use (MediaMTX v1.15, internal/metrics/metrics.go;
#: served without a prefix). test_mediamtx_serves_the_dashboards_metrics checks them on a
#: running server.
MEDIAMTX_METRICS = {
    "paths",
    "paths_bytes_received",
    "paths_bytes_sent",
    "paths_readers",
    "rtsp_conns",
    "rtsp_conns_bytes_received",
    "rtsp_conns_bytes_sent",
    "rtsp_sessions",
    "rtsp_sessions_bytes_received",
    "rtsp_sessions_bytes_sent",
    "rtsp_sessions_rtp_packets_received",
    "rtsp_sessions_rtp_packets_sent",
    "rtsp_sessions_rtp_packets_lost",
    "rtsp_sessions_rtp_packets_in_error",
    "rtsp_sessions_rtp_packets_jitter",
}

#: PromQL's functions, aggregations and keywords (what else an expression may name).
PROMQL_WORDS = {
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "deriv",
    "changes",
    "resets",
    "abs",
    "ceil",
    "floor",
    "round",
    "clamp",
    "clamp_min",
    "clamp_max",
    "vector",
    "scalar",
    "time",
    "timestamp",
    "absent",
    "sort",
    "sort_desc",
    "label_replace",
    "label_join",
    "histogram_quantile",
    "max_over_time",
    "min_over_time",
    "avg_over_time",
    "sum_over_time",
    "count_over_time",
    "last_over_time",
    "quantile_over_time",
    "present_over_time",
}


def _twin_metric_names() -> set[str]:
    """Every sample name the twin serves, from a scrape of a snapshot with every field set."""
    server = HealthServer(0, scenario="s", run_key="k", cameras=1)
    server.update(
        HealthSnapshot(
            taken=0.0,
            run_s=1.0,
            cameras=(
                CameraHealth(
                    "c1",
                    recorder="r1",
                    relay="relay:mediamtx",
                    recording=True,
                    bytes_offered=1.0,
                    bytes_planned=2.0,
                    bytes_received=3.0,
                    bytes_relayed=4.0,
                    gaps=1,
                    unrecorded_s=1.0,
                    discontinuities=1,
                    reconnects=1,
                    late_p99_s=0.01,
                    late_max_s=0.1,
                ),
            ),
            recorders_up={"r1": True},
            recorder_cameras={"r1": 1},
            relays_up={"relay:mediamtx": True},
            faults_open={"recorder_crash": 1},
            faults={"recorder_crash": 1},
            segments_written=1.0,
            segments_deleted=1.0,
            driver_lag_s=0.1,
            driver_lag_max_s=0.2,
            machine_cpu_pct=50.0,
            load1=1.0,
        )
    )
    names = set()
    for fam in text_string_to_metric_families(generate_latest(server.registry).decode()):
        names |= {s.name for s in fam.samples}
    return names


def _metric_names(expr: str) -> set[str]:
    """The metric names an expression uses (strings, label matchers, ranges, grouping labels,
    Grafana variables and numbers taken out first)."""
    e = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", "", e)
    e = re.sub(r"\[[^\]]*\]", "", e)
    e = re.sub(r"\$\w+", "", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    e = re.sub(r"(?<![\w.])\d+(\.\d+)?([eE][+-]?\d+)?", "", e)
    return {t for t in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", e) if t not in PROMQL_WORDS}


def _panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in dash["panels"]:
        out.append(p)
        out.extend(p.get("panels") or [])  # a collapsed row holds its panels
    return out


def _exprs(dash: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in _panels(dash) for t in p.get("targets", [])]
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            q = v["query"]
            exprs.append(
                re.sub(
                    r"^label_values\((.*),\s*\w+\)$",
                    r"\1",
                    q["query"] if isinstance(q, dict) else q,
                )
            )
    return exprs


def test_the_dashboard_imports_and_names_real_metrics() -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] and dash["title"] and dash["schemaVersion"] >= 36 and dash["id"] is None
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ds = {"type": "prometheus", "uid": "${datasource}"}
    panels = _panels(dash)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for p in panels:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        if p["type"] == "row":
            continue
        assert p["datasource"] == ds and p["targets"], p["title"]
        for t in p["targets"]:
            assert t["expr"].strip() and t.get("datasource", ds) == ds, p["title"]
    for v in variables.values():
        if v["type"] == "query":
            assert v["datasource"] == ds, v["name"]

    twin = _twin_metric_names()
    used: set[str] = set()
    for expr in _exprs(dash):
        names = _metric_names(expr)
        assert names, expr
        for n in names:
            assert n in twin or n in MEDIAMTX_METRICS, f"{n} in {expr!r}: no such metric"
        used |= names
    # What the board is for: each of these is on it.
    for name in [
        "camera_recording",
        "camera_bytes_offered_total",
        "camera_bytes_received_total",
        "camera_gaps_total",
        "faults_open",
        "camera_publisher_late_p99_seconds",
        "driver_lag_seconds",
        "machine_cpu_percent",
    ]:
        assert PREFIX + name in used, name
    assert {"paths", "paths_bytes_received", "rtsp_sessions"} <= used
    assert {"MediaMTX" in p["title"] for p in panels if p["type"] == "row"} == {False, True}


def test_the_extraction_of_metric_names() -> None:
    assert _metric_names(
        'sum by (camera) (rate(a_total{job=~"$job", x="y z"}[$__rate_interval]))'
        " * 8 / 1e6 + max(b) or vector(0)"
    ) == {"a_total", "b"}


def test_every_served_metric_is_listed_with_its_help() -> None:
    names = _twin_metric_names()
    for name, (kind, _, doc) in METRICS.items():
        assert (PREFIX + name + ("_total" if kind == "counter" else "")) in names, name
        assert doc.endswith(".")
    assert all(n.startswith(PREFIX) for n in names)


def test_the_prometheus_example_scrapes_the_twin_and_mediamtx() -> None:
    conf = yaml.safe_load((DOCS / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in conf["scrape_configs"]}
    assert set(jobs) == {"cctv-twin", "mediamtx"}
    mediamtx_job = next(
        v
        for v in json.loads(DASHBOARD.read_text())["templating"]["list"]
        if v["name"] == "mediamtx_job"
    )
    assert mediamtx_job["current"]["value"] == "mediamtx"
    assert jobs["mediamtx"]["basic_auth"]["username"] == "admin"
    assert "password" not in jobs["mediamtx"]["basic_auth"]  # a file, never in the config
    for j in jobs.values():
        for sc in j["static_configs"]:
            assert all(t.startswith("127.0.0.1:") for t in sc["targets"])


def test_promtool_accepts_the_prometheus_example() -> None:
    exe = shutil.which("promtool")
    if exe is None:
        pytest.fail("promtool is missing: run `make tools` (apt package `prometheus`)")
    got = subprocess.run(
        [exe, "check", "config", str(DOCS / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert got.returncode == 0, got.stdout + got.stderr


@pytest.mark.live
def test_mediamtx_serves_the_dashboards_metrics(mediamtx_server: Any) -> None:
    served = set(mediamtx_server.metrics())
    used = set().union(*(_metric_names(e) for e in _exprs(json.loads(DASHBOARD.read_text()))))
    missing = (used - {n for n in used if n.startswith(PREFIX)}) - served
    assert not missing, f"MediaMTX does not serve {sorted(missing)}"
    assert MEDIAMTX_METRICS <= served
