"""The live run's health endpoint (twin.live.health) on stand-ins for the driver and its parts:
what a scrape shows, counters that never go down, missing fields left out, and the server's
life cycle on loopback. A real run scraped by a real Prometheus: test_live_run.py."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from twin.live.health import METRICS, PREFIX, HealthServer, RunHealth


@dataclass(frozen=True)
class _Stream:
    camera: str
    bytes: int
    recording: bool
    discontinuities: int = 0


@dataclass(frozen=True)
class _Status:
    streams: tuple[_Stream, ...]


@dataclass(frozen=True)
class _OldPub:  # PublisherStats before lateness and planned bytes
    bytes_sent: int
    reconnects: int = 0


@dataclass(frozen=True)
class _NewPub:
    bytes_sent: int
    reconnects: int = 0
    planned_bytes: int = 0
    late_p99_s: float = 0.004
    late_max_s: float = 0.05


class _Sup:
    recorders = ["r1", "r2"]

    def __init__(self) -> None:
        self.where: dict[str, str | None] = {"c1": "r1", "c2": "r2"}

    def assignment(self) -> dict[str, str | None]:
        return dict(self.where)

    def cameras_of_recorder(self, r: str) -> list[str]:
        return [c for c, x in self.where.items() if x == r]


@dataclass
class _Parts:
    latest: dict[str, Any] = field(default_factory=dict)
    dead_stats: dict[str, list[Any]] = field(default_factory=dict)
    publishers: dict[str, tuple[dict[str, Any], float]] = field(default_factory=dict)

    def relay_parts(self) -> list[str]:
        return ["relay:mediamtx"]


def _driver(sup: _Sup, **kw: Any) -> Any:
    return SimpleNamespace(
        sup=sup, down=set(), restarting=set(), log=SimpleNamespace(records=[]), samples=[{}], **kw
    )


def _scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    text = httpx.get(url, timeout=5).text
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def _one(got: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    vals = [v for lab, v in got[PREFIX + name] if all(lab.get(k) == x for k, x in labels.items())]
    assert len(vals) == 1, (name, labels, got.get(PREFIX + name))
    return vals[0]


def test_a_scrape_shows_the_last_sample() -> None:
    sup = _Sup()
    parts = _Parts(
        latest={
            "r1": _Status((_Stream("c1", 1000, True),)),
            "r2": _Status((_Stream("c2", 500, False, 2),)),
        },
        publishers={"set:s1": ({"c1": _OldPub(4000), "c2": _OldPub(3000, 1)}, 0.0)},
    )
    health = RunHealth(0, "demo", ["c1", "c2"])
    try:
        url = health.start("run-1", {"c1": "relay:mediamtx", "c2": "relay:mediamtx"})
        assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics")
        # Before the first sample: what the run is, nothing made up.
        got = _scrape(url)
        assert _one(got, "cameras") == 2 and _one(got, "info", scenario="demo") == 1
        assert PREFIX + "camera_recording" not in got
        driver = _driver(sup, lag={"sample": [0.01, 0.2], "heartbeat": [0.05]})
        driver.log.records = [{"kind": "recorder_crash", "part": "recorder:r2", "restored_s": None}]
        health.sample(driver, parts, 5.0)
        got = _scrape(url)
        assert (
            _one(got, "camera_recording", camera="c1", recorder="r1", relay="relay:mediamtx") == 1
        )
        assert _one(got, "camera_recording", camera="c2") == 0
        assert _one(got, "camera_bytes_offered_total", camera="c1") == 4000
        assert _one(got, "camera_bytes_received_total", camera="c2") == 500
        assert _one(got, "camera_discontinuities_total", camera="c2") == 2
        assert _one(got, "camera_publisher_reconnects_total", camera="c2") == 1
        assert _one(got, "faults_open", kind="recorder_crash") == 1
        assert _one(got, "relay_up", relay="relay:mediamtx") == 1
        assert _one(got, "driver_lag_seconds") == pytest.approx(0.2)
        assert 0 <= _one(got, "machine_cpu_percent") <= 100
        # In a live run the machine is sampled once, by the harness: its figures are served.
        from twin.live.harness import MachineSample

        health.sample(driver, parts, 7.0, machine=MachineSample(7.0, 42.5, 0.0, 3.25))
        got = _scrape(url)
        assert _one(got, "machine_cpu_percent") == 42.5 and _one(got, "machine_load1") == 3.25
        # Old publisher stats have no lateness or plan: those series are left out, not 0.
        assert PREFIX + "camera_publisher_late_p99_seconds" not in got
        assert PREFIX + "camera_bytes_planned_total" not in got
        assert health.errors == 0
    finally:
        health.close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)
    health.close()  # twice is fine


def test_counters_survive_restarts_and_gaps_are_counted() -> None:
    sup = _Sup()
    parts = _Parts(
        latest={"r1": _Status((_Stream("c1", 1000, True),))},
        publishers={"set:s1": ({"c1": _NewPub(9000, planned_bytes=9100)}, 0.0)},
    )
    health = RunHealth(0, "demo", ["c1", "c2"])
    url = health.start("run-1", {})
    try:
        driver = _driver(sup)
        health.sample(driver, parts, 4.0)
        # r1 dies (its last heartbeat kept as dead stats), the set actor is started again
        # (its publisher counts from 0), c1 stops recording for two samples.
        parts.dead_stats = {"r1": [parts.latest.pop("r1")]}
        parts.publishers = {"set:s1": ({"c1": _NewPub(200, 1, 250)}, 0.0)}
        health.sample(driver, parts, 6.0)
        health.sample(driver, parts, 8.0)
        parts.latest = {"r2": _Status((_Stream("c1", 300, True),))}
        sup.where["c1"] = "r2"
        health.sample(driver, parts, 10.0)
        got = _scrape(url)
        assert _one(got, "camera_bytes_offered_total", camera="c1") == 9200
        assert _one(got, "camera_bytes_planned_total", camera="c1") == 9350
        assert _one(got, "camera_publisher_reconnects_total", camera="c1") == 1
        assert _one(got, "camera_bytes_received_total", camera="c1") == 1300
        assert _one(got, "camera_gaps_total", camera="c1") == 1
        assert _one(got, "camera_unrecorded_seconds_total", camera="c1") == pytest.approx(4.0)
        assert _one(got, "camera_recording", camera="c1", recorder="r2") == 1
        # c2 never recorded after start-up: no gap (it never stopped), all of it unrecorded.
        assert _one(got, "camera_gaps_total", camera="c2") == 0
        assert _one(got, "camera_unrecorded_seconds_total", camera="c2") == pytest.approx(6.0)
        assert _one(got, "camera_publisher_late_p99_seconds", camera="c1") == 0.004
        # No lag measure on the driver and no real-time environment: no lag series.
        assert PREFIX + "driver_lag_seconds" not in got
    finally:
        health.close()


def test_a_broken_sample_is_counted_not_raised() -> None:
    health = RunHealth(0, "demo", ["c1"])
    health.start("run-1", {})
    try:
        health.sample(
            SimpleNamespace(sup=None), SimpleNamespace(latest={"r": object()}, publishers=None), 1.0
        )
        health.sample(SimpleNamespace(sup=object()), _Parts(), 1.0)  # no assignment()
        assert health.errors == 1 and "AttributeError" in health.last_error
    finally:
        health.close()


def test_a_taken_port_is_an_os_error_and_every_metric_is_documented() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        server = HealthServer(s.getsockname()[1])
        with pytest.raises(OSError):
            server.start()
        server.close()
    assert all(name.islower() and " " not in name for name in METRICS)


def test_a_relays_count_is_carried_over_its_restart() -> None:
    from twin.live.health import _Carried

    c = _Carried()
    assert c.get("c1") is None  # never read: no series, rather than a made-up 0
    for v in (100.0, 250.0, 40.0, 90.0):  # MediaMTX restarted after 250
        c.take("c1", v)
    assert c.get("c1") == 340.0


def test_twin_live_metrics_port_reaches_the_run_and_a_bad_one_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--metrics-port N` is the port the run serves on (the live run itself is stood in for
    here: tests/test_live_run.py scrapes a real one); a port out of range is a usage error
    naming the flag and an example."""
    import twin.cli.live as live_cli
    from twin.cli.main import main

    got: dict[str, Any] = {}

    def fake_live_to(path: Any, out: Any, duration: Any, quiet: bool, metrics_port: int) -> Any:
        got["port"] = metrics_port
        raise SystemExit(0)

    monkeypatch.setattr(live_cli, "live_to", fake_live_to)
    with pytest.raises(SystemExit):
        main(["live", "scenarios/live-trial-15.yaml", "--metrics-port", "9464"])
    assert got == {"port": 9464}
    got.clear()
    with pytest.raises(SystemExit):
        main(["live", "scenarios/live-trial-15.yaml"])
    assert got == {"port": 0}  # the default: any free port
    with pytest.raises(SystemExit) as bad:
        main(["live", "scenarios/live-trial-15.yaml", "--metrics-port", "70000"])
    assert bad.value.code == 2
    err = capsys.readouterr().err
    assert "--metrics-port" in err and "9464" in err, err
